"""The demo's everyday practice records (issue 23): notices, surveys, operating logs, work
standards, the archive room's log, the archive staff's training, and the archive room's own
emergency plan (see demo/__init__.py).

Mixed into the demo builder (`_Demo`), whose `at`, `new`, `set`, `flush` and clock they use.
They draw from their own `random.Random(PRACTICE_SEED)` (and `_People(PRACTICE_SEED + 1)`),
never from the builder's, so the builder's own records are drawn the same with or without
them (some are committed earlier: see the notices). Every date is a function of the build day, so `dangan due` and `dangan gaps`
find nothing of theirs on any build day:

* Notices (TZ) are filed the day they are posted (filing deadline P3D): each notice event
  commits what is pending at once (`flush`), as the service desk would, instead of waiting
  for the end of the month like the rest of the simulated history.
* A water cut in 2棟1單元 two days before the build day, announced two days earlier
  (TZ, unit level), and a complaint "投訴停水未提前通知" from a flat of that unit on the
  day of the cut, answered with the filed notice (TS `refs` the TZ, plan §2.3 糾紛調解與
  證據保存). Also: a notice before each tank cleaning of a residential project (二次供水停水)
  and before each elevator drill of a commercial one.
* A satisfaction survey (MY) of each project every November (plan §3.2 滿意度調查).
* Operating logs (YX) of project A01's supply pumps, one per quarter (opened on its first
  day, a reading each month, completed on its last), and of the showcase elevator for the
  month of the showcase repair, whose door fault is its anomaly (plan §3 設備運行與維護類).
* The company's patrol standard (BZ): V1.0, in force before the vault began, superseded by
  V2.0 ten months into the history (plan §6.1 制定巡檢標準和流程); V2.0 is reviewed two
  years after it took effect, well after the build day.
* The log of the company's archive room (KF), one per quarter: opened on its third day, a
  round each month (temperature and humidity, fire, damp, pests), cleaning and disinfection
  near its end, closed on its last day; one July's damp reading is put right in three days
  (plan §5.1, §7.1).
* The archive staff's yearly training and written assessment (PX) each March (plan §5.1
  定期進行培訓和考核); the scores are encrypted.
* The archive room's emergency plan (AQ at company level, plan §7.3), effective before the
  vault began and due for review three years on.

Records are opened early in a month: the simulated history commits a month's new records at
the time of the last one, and a record opened on the 30th would make the others of its month
look filed late.
"""
from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path
from typing import Any

from dangan.demo.history import DEMO_ARCHIVIST, _at, _d, _t
from dangan.demo.people import _People
from dangan.model.codes import Location, parse_code

PRACTICE_SEED = 20245
HQ_ROOM = "安和物業總部檔案室"  # demo.HQ_ARCHIVE
ASPECTS = {"customer_service": "客戶服務", "repairs": "維修服務", "security": "秩序維護", "cleaning": "保潔",
           "greening": "綠化", "communication": "溝通與公告", "facilities": "設施設備", "parking": "停車管理"}
NOTICE_DAYS_BEFORE = 4  # the showcase water cut is announced this many days before the build day
CUT_DAYS_BEFORE = 2  # and happens this many days before it


def _quarters(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The calendar quarters that begin within first..last: (first day, last day)."""
    out = []
    year, month = first.year, (first.month - 1) // 3 * 3 + 1
    while True:
        start = dt.date(year, month, 1)
        nxt = dt.date(year + (month + 3 > 12), (month + 2) % 12 + 1, 1)
        if start > last:
            return out
        if start >= first:
            out.append((start, nxt - dt.timedelta(days=1)))
        year, month = nxt.year, nxt.month


SECRET_FILE_DAYS_BEFORE = 30  # the secret HR file is filed a month before the demo day


class PracticeMixin:
    """Everyday practice records; expects the attributes of demo._Demo."""

    def schedule_practice(self) -> None:
        self.practice_rng = random.Random(PRACTICE_SEED)
        self.practice_people = _People(PRACTICE_SEED + 1)
        self.damp_found = False  # one summer's damp reading in the archive room
        start, end = self.start, self.cutoff
        self.at(start + dt.timedelta(days=1, hours=11, minutes=10), self.archive_room_plan)
        self.at(start + dt.timedelta(days=1, hours=11, minutes=20), self.patrol_standard_v1)
        effective = (start + dt.timedelta(days=300)).date().replace(day=1) + dt.timedelta(days=31)
        self.at(_at(effective.replace(day=1), 9), self.patrol_standard_v2, effective.replace(day=1))
        for first, last in _quarters(start.date(), (end - dt.timedelta(days=1)).date()):
            self.at(_at(first + dt.timedelta(days=2), 9, 30), self.archive_room_log, first, last)
            if first >= self.activity_start.date():
                self.at(_at(first, 9), self.pump_log, self.projects[0], first, last)
        for year in range(start.year, end.year + 1):
            self.at(_at(dt.date(year, 3, 5), 14), self.archive_training, year)
            for p in self.projects:
                self.at(_at(dt.date(year, 11, 1), 9, 30), self.survey, p, year)
        a01 = self.projects[0]
        b2 = a01.buildings[min(1, len(a01.buildings) - 1)]
        self.at(_at((end - dt.timedelta(days=NOTICE_DAYS_BEFORE)).date(), 16), self.showcase_notice, a01, b2)
        self.at(_at((end - dt.timedelta(days=SECRET_FILE_DAYS_BEFORE)).date(), 15), self.secret_hr_file)
        repair_day = (end - dt.timedelta(days=6)).date()  # demo.schedule_showcase's elevator repair
        month = repair_day.replace(day=1)
        month_end = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        self.at(_at(month, 8, 10), self.lift_log, month, month_end)

    # ---------------------------------------------------------------- notices
    def _notice(self, loc: Location, fields: dict[str, Any], cut: tuple[dt.datetime, dt.datetime]) -> str:
        """A notice posted now, filed at once; it is taken down (expired) the day after the
        cut it announces."""
        code = self.new("TZ", loc, {
            "status": "posted",
            "opened": _d(self.now),
            **fields,
            "posted_at": _t(self.now),
            "affects_from": _t(cut[0]),
            "affects_to": _t(cut[1]),
            "until": _d(cut[1]),
        })
        self.at(_at(cut[1].date() + dt.timedelta(days=1), 9), self.set, code, {"status": "expired", "closed": _d(cut[1])})
        self.flush()  # the service desk files a notice the day it is posted
        return code

    def tank_notice(self, p: Any, when: dt.datetime) -> None:
        """The water cut of a tank cleaning (HJ, scheduled for `when`), announced two days before."""
        day = when.date()
        self._notice(p.loc, {
            "title": f"{p.name}{day.month}月{day.day}日二次供水水箱清洗停水通知",
            "notice_type": "water_outage",
            "scope": str(p.loc),
            "channels": ["notice_board", "elevator", "owners_group"],
            "content": f"尊敬的業主：{day.month}月{day.day}日8:00至18:00清洗消毒二次供水水箱，其間高區住戶"
                       "停水或水壓偏低，請提前儲水。清洗後水質檢測報告將張貼於各單元公告欄。",
            "issued_by": f"客服中心 {p.service}",
            "approved_by": p.manager,
            "postings": [{"place": f"{p.name}各單元大堂公告欄", "posted_at": _t(self.now)}],
        }, (_at(day, 8), _at(day, 18)))

    def drill_notice(self, p: Any, when: dt.datetime) -> None:
        """The elevator drill of a commercial project (AQ, at `when`), announced two days before."""
        day = when.date()
        self._notice(p.loc, {
            "title": f"{p.name}{day.month}月{day.day}日電梯應急救援演練通知",
            "notice_type": "elevator_stop",
            "scope": str(p.loc),
            "channels": ["notice_board", "elevator", "app"],
            "content": f"{day.month}月{day.day}日14:00至15:30進行電梯困人應急救援演練，1號樓1號客梯暫停使用，"
                       "請商戶及顧客使用其他電梯。",
            "issued_by": f"客服中心 {p.service}",
            "postings": [{"place": f"{p.name}1號樓各層電梯廳", "posted_at": _t(self.now)}],
        }, (when, when + dt.timedelta(minutes=90)))

    def showcase_notice(self, p: Any, b: Any) -> None:
        unit = Location((*b.loc.parts, "001"))
        cut = _at(self.now.date() + dt.timedelta(days=NOTICE_DAYS_BEFORE - CUT_DAYS_BEFORE), 8)
        where = p.place(b, "001")
        code = self._notice(unit, {
            "title": f"{where}停水通知（供水立管閥門更換）",
            "notice_type": "water_outage",
            "scope": str(unit),
            "channels": ["notice_board", "elevator", "owners_group"],
            "content": f"尊敬的業主：因{where}供水立管閥門老化需更換，{cut.month}月{cut.day}日8:00至12:00"
                       "該單元停止供水，請提前做好儲水準備。如有不便，敬請諒解。",
            "issued_by": f"客服中心 {p.service}",
            "approved_by": p.manager,
            "postings": [
                {"place": f"{where}大堂公告欄", "posted_at": _t(self.now)},
                {"place": f"{where}電梯轎廂", "posted_at": _t(self.now + dt.timedelta(minutes=10))},
            ],
        }, (cut, cut + dt.timedelta(hours=4)))
        self.examples["notice"] = code
        self.at(self.now + dt.timedelta(minutes=30), self.notice_photo, code)
        rooms = [r for r in b.rooms if r.loc.parts[2] == "001" and r.loc.parts[3] not in ("0301", "0401")]
        if rooms:
            self.at(cut + dt.timedelta(hours=1, minutes=40), self.notice_complaint, p, rooms[0], code)

    def notice_photo(self, code: str) -> None:
        """The posted notice photographed on the lobby board and attached to its record
        (plan §2.3: a notice is evidence that it was given), through the real core."""
        from dangan.demo import scans as demo_scans
        from dangan.services import attachments

        moment = self._pause()
        name, title = "公告欄張貼照片.png", "大堂公告欄張貼的停水通知"
        with tempfile.TemporaryDirectory(prefix="dangan-demo-") as folder:
            path = Path(folder) / name
            path.write_bytes(demo_scans.notice_photo(code))
            with self._dated(moment):
                attachments.attach(self.vault, parse_code(code), [path], by=DEMO_ARCHIVIST, at=moment, title=title)
        self._reload(code)
        self.scans.append({"code": code, "file": name, "title": title})
        self._resume(moment, 1)
        postings = [dict(posting) for posting in self.trees[code]["postings"]]
        postings[0]["photo"] = name  # the lobby's posting names its photo (categories.md, TZ)
        self.set(code, {"postings": postings})

    def notice_complaint(self, p: Any, room: Any, notice: str) -> None:
        """投訴停水未提前通知, answered with the filed notice."""
        where = p.place(room.building, room=room)
        handler = f"{p.service}（客服）"
        received = self.now
        code = self.new("TS", room.loc, {
            "title": f"{where}投訴停水未提前通知",
            "status": "open",
            "opened": _d(received),
            "kind": "complaint",
            "channel": "phone",
            "received_at": _t(received),
            "subject": "water_power",
            "description": "上午突然停水，事先未見通知。",
            "anonymous": False,
            "complainant": {"name": room.owner_name or self.practice_people.name(),
                            "phone": self.practice_people.phone()},
            "handler": handler,
            "deadline": _d(received + dt.timedelta(days=2)),
            "actions": [{"at": _t(received + dt.timedelta(minutes=10)), "by": handler, "step": "acknowledge",
                         "detail": "登記並調閱停水通知的歸檔記錄。"}],
            "refs": [room.fw, notice],
        })
        self.examples["notice_complaint"] = code
        replied = received + dt.timedelta(hours=3)
        self.at(replied, self.set, code, {
            "status": "resolved",
            "actions": _append({"at": _t(replied), "by": handler, "step": "reply",
                                "detail": f"出示已歸檔的停水通知{notice}及張貼記錄：通知已提前兩天在單元大堂公告欄、"
                                          "電梯轎廂張貼並在業主群發布。"}),
            "justified": False,
            "result": f"停水已按通知{notice}提前兩天公告，業主表示理解；建議今後停水前一天在業主群再次提醒。",
            "resolved_at": _t(replied),
        })

    # ---------------------------------------------------------------- surveys
    def survey(self, p: Any, year: int) -> None:
        rng = self.practice_rng
        start = self.now.date()
        code = self.new("MY", p.loc, {
            "title": f"{p.name}{year}年度{'業主' if p.kind == 'residential' else '商戶'}滿意度調查",
            "status": "in_progress",
            "opened": _d(start),
            "period_start": _d(start),
            "period_end": _d(start + dt.timedelta(days=14)),
            "method": "mixed",
            "conducted_by": f"客服中心 {p.service}",
        })
        aspects = ["customer_service", "repairs", "security", "cleaning", "greening", "communication"]
        if p.kind != "residential":
            aspects = ["customer_service", "repairs", "security", "cleaning", "facilities", "parking"]
        items = [{"aspect": a, "score": round(rng.uniform(78, 94), 1)} for a in aspects]
        overall = round(sum(i["score"] for i in items) / len(items), 1)
        population = sum(len(b.rooms) for b in p.buildings) or 40
        done = _at(start + dt.timedelta(days=24), 10)
        self.at(done, self.set, code, {
            "status": "completed",
            "closed": _d(done),
            "population": population,
            "issued": population,
            "sample": max(1, round(population * rng.uniform(0.55, 0.8))),
            "items": items,
            "overall": overall,
            "satisfied": round(min(99.0, overall + rng.uniform(0, 4)), 1),
            "findings": f"得分最低的是{ASPECTS[min(items, key=lambda i: i['score'])['aspect']]}。",
            "actions": "分項得分低於85分的由責任部門在一個月內提出整改措施。",
        })

    # ---------------------------------------------------------- operating logs
    def pump_log(self, p: Any, first: dt.date, last: dt.date) -> None:
        """A quarter's log of the supply pumps: opened on its first morning, a reading each
        month, completed on its last day."""
        pumps = p.equipment.get("water_pumps")
        if not pumps:
            return
        code = self.new("YX", p.loc, {
            "title": f"{p.name}二次供水泵組{first.year}年第{(first.month - 1) // 3 + 1}季度運行記錄",
            "status": "recording",
            "opened": _d(first),
            "equipment": pumps,
            "period_start": _d(first),
            "period_end": _d(last),
            "operator": "工程部值班組",
            "readings": [self._pump_reading(self.now)],
            "refs": [pumps],
        })
        for month in (1, 2):
            when = _at(dt.date(first.year, first.month + month, 1), 9)
            self.at(when, self.set, code, {"readings": _append(self._pump_reading(when))})
        self.at(_at(last, 17, 30), self.set, code, {
            "status": "completed",
            "closed": _d(last),
            "running_hours": round((last - first).days * 24 * self.practice_rng.uniform(0.9, 0.98)),
            "starts": self.practice_rng.randint(80, 120),
            "summary": "本季度運行正常。",
        })

    def _pump_reading(self, when: dt.datetime) -> dict[str, Any]:
        return {"at": _t(when), "parameter": "出水壓力", "value": round(self.practice_rng.uniform(0.58, 0.64), 2),
                "unit": "MPa", "normal": True}

    def lift_log(self, first: dt.date, last: dt.date) -> None:
        """The showcase elevator's log of the month of the showcase repair, whose door fault
        is its anomaly (added the morning the repair is filed)."""
        lift = self.examples.get("equipment")
        if not lift:
            return
        code = self.new("YX", parse_code(lift).location, {
            "title": f"{self.trees[lift]['title']}{first.year}年{first.month}月運行記錄",
            "status": "recording",
            "opened": _d(first),
            "equipment": lift,
            "period_start": _d(first),
            "period_end": _d(last),
            "operator": "工程部值班組",
            "readings": [self._lift_reading(self.now)],
            "refs": [lift],
        })
        self.examples["operating_log"] = code
        for days in (10, 20):
            when = _at(first + dt.timedelta(days=days), 9)
            if when.date() <= last:
                self.at(when, self.set, code, {"readings": _append(self._lift_reading(when))})
        self.at(self.cutoff - dt.timedelta(days=6) + dt.timedelta(hours=9), self._lift_anomaly, code)
        self.at(_at(last, 18), self.set, code, {"status": "completed", "closed": _d(last),
                                                "summary": "門機異響經維保單位調整後消除，其餘運行正常。"})

    def _lift_reading(self, when: dt.datetime) -> dict[str, Any]:
        return {"at": _t(when), "parameter": "曳引機溫度", "value": round(self.practice_rng.uniform(38, 45)),
                "unit": "℃", "normal": True}

    def _lift_anomaly(self, code: str) -> None:
        repair = self.examples.get("repair")
        if not repair:
            return
        self.set(code, {
            "anomalies": _append({"at": _t(self.now - dt.timedelta(minutes=20)), "description": "轎門開關時有明顯異響。",
                                  "action": "報修，維保單位當日處理。", "repair": repair}),
            "refs": [*self.trees[code]["refs"], repair],
        })

    # -------------------------------------------------------------- standards
    def patrol_standard_v1(self) -> None:
        effective = dt.date(self.start.year - 2, 3, 1)
        self.examples["old_standard"] = self.new("BZ", Location(), {
            "title": "秩序維護巡查標準（V1.0）",
            "status": "active",
            "opened": _d(effective),
            "standard_type": "patrol",
            "applies_to": "住宅及商業項目公共區域",
            "version": "V1.0",
            "approved_by": "陳立新",
            "effective": _d(effective),
            "content": "日間每三小時巡查一次公共區域，夜間每兩小時巡查一次，巡查情況記入巡檢記錄。",
            "tags": ["紙質檔案補錄"],
        })

    def patrol_standard_v2(self, effective: dt.date) -> None:
        old = self.examples["old_standard"]
        drafted = effective - dt.timedelta(days=20)
        new = self.new("BZ", Location(), {
            "title": "秩序維護巡查標準（V2.0）",
            "status": "active",
            "opened": _d(drafted),
            "standard_type": "patrol",
            "applies_to": "住宅及商業項目公共區域、地下車庫",
            "version": "V2.0",
            "drafted_by": "趙偉",
            "approved_by": "陳立新",
            "effective": _d(effective),
            "review_due": _d(effective.replace(year=effective.year + 2) - dt.timedelta(days=1)),
            "supersedes": old,
            "items": [
                {"item": "日間巡查", "requirement": "每兩小時巡查一次公共區域，記錄消防通道、門禁及可疑人員情況。",
                 "frequency": "每日6次", "check_method": "巡更點打卡記錄"},
                {"item": "夜間巡查", "requirement": "22:00至次日6:00每小時巡查一次，重點檢查地下車庫及單元門。",
                 "frequency": "每日8次", "check_method": "巡更點打卡記錄及監控抽查"},
            ],
            "refs": [old],
        })
        self.examples["standard"] = new
        ended = effective - dt.timedelta(days=1)
        self.set(old, {"status": "superseded", "closed": _d(ended), "superseded_by": new, "superseded_on": _d(ended)})

    # ------------------------------------------------------------ archive room
    def archive_room_log(self, first: dt.date, last: dt.date) -> None:
        """A quarter's log of the company's archive room: opened on its third day with the
        first month's round, a round each month, cleaning and disinfection near its end,
        closed on its last day. One July's damp reading is put right within three days."""
        code = self.new("KF", Location(), {
            "title": f"{HQ_ROOM}{first.year}年第{(first.month - 1) // 3 + 1}季度庫房管理記錄",
            "status": "open",
            "opened": _d(first),
            "room": HQ_ROOM,
            "period_start": _d(first),
            "period_end": _d(last),
            "keeper": DEMO_ARCHIVIST,
            **self._room_round(self.now.date()),
        })
        self.examples.setdefault("room_log", code)  # the one with the damp finding, once there is one
        if "findings" in self.trees[code]:
            self._rectify(code)
        for month in (1, 2):
            self.at(_at(dt.date(first.year, first.month + month, 3), 9, 30), self._room_round_done, code)
        tasks = [
            {"at": _t(_at(last - dt.timedelta(days=4), 15)), "check": "cleaning", "result": "done",
             "by": "蘇州潔美保潔服務有限公司"},
            {"at": _t(_at(last - dt.timedelta(days=4), 16)), "check": "disinfection", "result": "done",
             "by": "蘇州滅特有害生物防治有限公司", "detail": "庫房消毒，更換粘鼠板。"},
        ]
        self.at(_at(last, 17), self.set, code, {"status": "closed", "closed": _d(last), "checks": _append(*tasks)})

    def _room_round(self, day: dt.date) -> dict[str, Any]:
        """The monthly round of the archive room: temperature and humidity, fire, damp, pests."""
        rng = self.practice_rng
        humidity = round(rng.uniform(48, 58))
        damp = day.month == 7 and not self.damp_found
        if damp:
            humidity, self.damp_found = 66, True
        return {
            "readings": [{"at": _t(_at(day, 9)), "temperature": round(rng.uniform(18, 24), 1),
                          "humidity": humidity, "by": DEMO_ARCHIVIST}],
            "checks": [
                {"at": _t(_at(day, 9, 10)), "check": "fire", "result": "ok", "by": DEMO_ARCHIVIST},
                {"at": _t(_at(day, 9, 20)), "check": "damp", "result": "issue" if damp else "ok", "by": DEMO_ARCHIVIST},
                {"at": _t(_at(day, 9, 30)), "check": "pests", "result": "ok", "by": DEMO_ARCHIVIST},
            ],
            **({"findings": [{"description": f"{day.month}月{day.day}日相對濕度66%，超出45%-60%的要求。",
                              "action": "除濕機連續運行，三日後複測53%。"}]} if damp else {}),
        }

    def _room_round_done(self, code: str) -> None:
        found = self._room_round(self.now.date())
        self.set(code, {"readings": _append(*found["readings"]), "checks": _append(*found["checks"]),
                        **({"findings": found["findings"]} if "findings" in found else {})})
        if "findings" in found:
            self._rectify(code)

    def _rectify(self, code: str) -> None:
        """A finding to put right within a week (KF rectify_by, an obligation), done in three days."""
        day = self.now.date()
        self.set(code, {"status": "rectifying", "rectify_by": _d(day + dt.timedelta(days=7))})
        self.examples["room_log"] = code
        self.at(_at(day + dt.timedelta(days=3), 10), self.set, code, {
            "status": "open", "rectified_at": _d(day + dt.timedelta(days=3))})

    def archive_training(self, year: int) -> None:
        rng = self.practice_rng
        attendees = [DEMO_ARCHIVIST, "周敏", "林芳", "李海峰"]
        code = self.new("PX", Location(), {
            "title": f"{year}年度檔案管理人員培訓及考核",
            "status": "held",
            "opened": _d(self.now),
            "course": "物業服務檔案的收集、歸檔、借閱與保管",
            "topics": ["檔案分類編號與歸檔時限", "借閱登記與歸還檢查", "庫房溫濕度及防火、防潮、防蟲要求", "銷毀前鑒定"],
            "trainer": "蘇州市檔案學會 講師",
            "held_at": _t(self.now),
            "hours": 3,
            "place": "公司總部二樓會議室",
            "attendees": attendees,
            "assessment": {"method": "written", "held_on": _d(self.now + dt.timedelta(days=7)), "pass_mark": 60},
        })
        self.examples["training"] = code
        scores = [round(rng.uniform(72, 96)) for _ in attendees]
        self.at(self.now + dt.timedelta(days=7, hours=2), self.set, code, {
            "status": "completed",
            "closed": _d(self.now + dt.timedelta(days=7)),
            "results": [{"name": name, "result": "passed", "score": str(score)} for name, score in zip(attendees, scores)],
            "evaluation": "參訓人員全部合格；借閱歸還檢查的題目失分較多，下次培訓加強。",
        })

    def secret_hr_file(self) -> None:
        """A secret HR file (涉密檔案, plan §7.1): a staff member's failed assessment after an
        original went missing, readable by the approver alone (vault.yaml `readers`)."""
        day = self.now.date()
        self.examples["secret_file"] = self.new("PX", Location(), {
            "level": "secret",
            "title": "林芳 檔案管理崗位專項考核（不合格）及補考安排",
            "status": "completed",
            "opened": _d(day),
            "closed": _d(day),
            "course": "檔案借閱與原件保管專項考核",
            "trainer": "公司人事行政部",
            "held_at": _t(self.now - dt.timedelta(hours=5)),
            "attendees": ["林芳"],
            "assessment": {"method": "oral", "held_on": _d(day), "pass_mark": 60},
            "results": [{"name": "林芳", "result": "failed", "score": "48",
                         "remark": "原件外借未登記，導致一份業主檔案原件缺失；暫停借閱審批權限三個月，一個月後補考。"}],
            "notes": "人事檔案，僅限總經理閱。",
        })

    def archive_room_plan(self) -> None:
        effective = (self.start - dt.timedelta(days=200)).date()
        self.examples["room_plan"] = self.new("AQ", Location(), {
            "title": f"{HQ_ROOM}突發事件應急預案（{effective.year}版）",
            "status": "active",
            "opened": _d(effective - dt.timedelta(days=14)),
            "kind": "emergency_plan",
            "hazard": "fire",
            "place": HQ_ROOM,
            "plan_version": f"{effective.year}版",
            "effective": _d(effective),
            "review_due": _d(effective.replace(year=effective.year + 3, day=1)),
            "responsible": DEMO_ARCHIVIST,
            "notes": "火災、水浸及盜竊時先斷電、報警，按永久、長期、其他的順序轉移檔案至總部一樓會議室。",
            "tags": ["紙質檔案補錄"],
        })


def _append(*items: Any) -> Any:
    from dangan.demo import _Append  # the builder's marker: append to a list field

    return _Append(*items)
