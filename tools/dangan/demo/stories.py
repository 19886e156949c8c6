"""The demo's workflow stories: loans, a legal hold, a retention sweep, an inventory and
scanned attachments (see demo/__init__.py).

Mixed into the demo builder (`_Demo`), whose `at`, `new`, `set`, `flush` and clock they use:

* Old paper archives (2-4 years old, filed during onboarding): hygiene records (HJ, kept
  2 years), a fire inspection round (XJ, 3 years) and two complaints (TS, 3 years). They
  are what the sweep finds due: the demo keeps the standard retention rules of vault.yaml,
  and two years of history alone would leave nothing due.
* Loans (JY) of project A01's files over the two years, every event made by lending's own
  `new_event`/`with_event` and checked with its DG111 rules as it is generated: closed
  loans (one renewed, one returned damaged), one rejected, one out and overdue today, one
  requested and awaiting approval.
* A legal hold (BQ) over one of the old complaints and its flat, a year before the sweep.
* The yearly retention sweep, a month before the build day, through the real core: the
  history written so far is finished, `retention.make_plan`, the approver's
  `approve_plan` (a commit of its own) and `apply_plan` write the disposal certificate
  XH-0001 and remove the records in one back-dated commit that runs the vault's hooks, then
  the history continues on top of them.
* An inventory (盤點) of A01's archive room, three weeks before the build day, the same way:
  `inventory.sheet` lists the room, the counter's results go to `inventory.record` (PD-0001;
  one room file's original missing, the contract stained on loan damaged, both flagged on
  their records), and that afternoon `attachments.attach` adds three scans (demo/scans.py)
  to their records, each encrypted to its category's recipients: the stained contract, an
  owner's ID-card copy (an encrypted record: the demo key re-seals it) and an elevator's
  inspection certificate. Four commits through the hooks (DG115-DG118 judge them).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from dangan.demo import scans as demo_scans
from dangan.demo.history import (
    DEMO_APPROVER,
    DEMO_ARCHIVIST,
    DEMO_KEY,
    _at,
    _d,
    _git_env,
    _History,
    _patched_env,
    _t,
)
from dangan.demo.people import _People
from dangan.formats import sops
from dangan.formats.yamlio import decode, load_text
from dangan.git import gitio
from dangan.model import loans
from dangan.model.codes import Location, parse_code
from dangan.model.sides import Side
from dangan.services import attachments, inventory, lending, retention
from dangan.store.sealing import Keyring

STORY_SEED = 20243
SWEEP_DAYS_BEFORE = 30  # the sweep is made this many days before the build day
INVENTORY_DAYS_BEFORE = 24  # the archive room of A01 is counted this many days before
WITNESSES = ["錢芳", "王磊"]  # 監銷人: two people, neither of them the approver


class StoriesMixin:
    """Loans, a hold and a sweep; expects the attributes of demo._Demo."""

    # ------------------------------------------------------------ scheduling
    def schedule_stories(self) -> None:
        self.story_rng = random.Random(STORY_SEED)
        self.story_people = _People(STORY_SEED + 1)
        self.destroyed: list[str] = []
        start, end = self.start, self.cutoff
        self.at(start + dt.timedelta(days=22, hours=9), self.old_archives, self.projects[0])
        self.at(start + dt.timedelta(days=120, hours=9, minutes=10), self.loan_for_inspection)
        self.at(start + dt.timedelta(days=250, hours=9, minutes=30), self.loan_for_audit)
        self.at(start + dt.timedelta(days=330, hours=10, minutes=15), self.legal_hold)
        self.at(start + dt.timedelta(days=380, hours=14), self.loan_damaged)
        self.at(start + dt.timedelta(days=470, hours=11), self.loan_rejected)
        self.at(start + dt.timedelta(days=600, hours=15), self.loan_fire_rounds)
        sweep = end - dt.timedelta(days=SWEEP_DAYS_BEFORE)
        self.at(_at(sweep.date(), 15), self.sweep)
        self.scans: list[dict[str, str]] = []
        self.counted: dict[str, Any] = {}
        counted = end - dt.timedelta(days=INVENTORY_DAYS_BEFORE)
        self.at(_at(counted.date(), 14), self.inventory_and_scans)
        self.at(_at((end - dt.timedelta(days=20)).date(), 9, 5), self.loan_overdue)
        self.at(_at((end - dt.timedelta(days=1)).date(), 16, 40), self.loan_requested)

    # ---------------------------------------------------------- old archives
    def old_archives(self, p: Any) -> None:
        """The paper archives of the years before the vault, filed during onboarding."""
        start = self.start.date()
        self.examples["old_pest_control"] = self._old_hygiene(p, start - dt.timedelta(days=400), "鼠類", "溴敵隆毒餌")
        self._old_hygiene(p, start - dt.timedelta(days=210), "蚊蠅", "高效氯氰菊酯")
        self._old_hygiene(p, start - dt.timedelta(days=15), "蚊蠅", "高效氯氰菊酯")  # due next
        self._old_round(p, start - dt.timedelta(days=450))
        rooms = [r for r in p.rooms if r.loc.parts[2:] != ("001", "0301")]
        first, second = rooms[0], rooms[min(3, len(rooms) - 1)]
        self.examples["held_complaint"] = self._old_complaint(p, first, start - dt.timedelta(days=520), "車庫滲水", "車庫滲水損壞車輛，要求賠償。")
        self.examples["held_room"] = first.fw
        self._old_complaint(p, second, start - dt.timedelta(days=480), "樓道燈損壞", "樓道感應燈損壞多日未修。")

    def _old_hygiene(self, p: Any, day: dt.date, pest: str, chemical: str) -> str:
        return self.new("HJ", p.loc, {
            "title": f"{day.year}年{day.month}月消殺（紙質檔案補錄）",
            "status": "closed",
            "opened": _d(day),
            "closed": _d(day),
            "work_type": "pest_control",
            "period_start": _d(day),
            "period_end": _d(day),
            "areas": ["綠化帶", "地下車庫", "垃圾分類亭"],
            "performed_by": "蘇州滅特有害生物防治有限公司",
            "tasks": ["投放藥劑", "張貼告示", "效果複查"],
            "chemicals": [{"chemical": chemical, "target_pest": pest, "dosage": 2, "unit": "kg", "notice_posted": True}],
            "checked_by": p.engineer,
        })

    def _old_round(self, p: Any, day: dt.date) -> str:
        started = _at(day, 9)
        finished = started + dt.timedelta(hours=2)
        points = ["消防泵房", "消防控制室"]
        return self.new("XJ", p.loc, {
            "title": f"{day.year}年{day.month}月消防設施定期檢查（紙質檔案補錄）",
            "status": "closed",
            "opened": _d(day),
            "closed": _d(day),
            "round_type": "fire_inspection",
            "route": "、".join(points),
            "started_at": _t(started),
            "finished_at": _t(finished),
            "inspector": f"{p.fire}（消防主管）",
            "reviewer": p.manager,
            "checkpoints": [{"point": point, "state": "normal"} for point in points],
        })

    def _old_complaint(self, p: Any, room: Any, day: dt.date, what: str, description: str) -> str:
        received = _at(day, 10)
        resolved = received + dt.timedelta(days=2, hours=5)
        closed = resolved + dt.timedelta(days=4)
        handler = f"{p.service}（客服）"
        return self.new("TS", room.loc, {
            "title": f"{p.place(room.building, room=room)}投訴{what}（紙質檔案補錄）",
            "status": "closed",
            "opened": _d(received),
            "closed": _d(closed),
            "kind": "complaint",
            "channel": "visit",
            "received_at": _t(received),
            "subject": "repair",
            "description": description,
            "anonymous": False,
            "complainant": {"name": self.story_people.name(), "phone": self.story_people.phone()},
            "handler": handler,
            "deadline": _d(received + dt.timedelta(days=2)),
            "actions": [
                {"at": _t(received + dt.timedelta(minutes=20)), "by": handler, "step": "acknowledge", "detail": "登記並告知處理時限。"},
                {"at": _t(resolved), "by": handler, "step": "reply", "detail": "向反映人回覆處理結果。"},
            ],
            "justified": True,
            "result": "已安排維修並回覆業主。",
            "resolved_at": _t(resolved),
            "return_visit": {"visited_at": _t(closed), "visited_by": handler, "visit_channel": "phone", "feedback": "對處理結果表示認可。"},
            "satisfaction": 4,
            "refs": [room.fw],
        })

    # ----------------------------------------------------------------- loans
    def _rules(self) -> loans.LendingRules:
        return loans.LendingRules.from_config(self.vault.config)

    def _side(self) -> Side:
        def records_of(category: str) -> list[tuple[str, dict[str, Any]]]:
            return [(parse_code(code).path, tree) for code, tree in self.trees.items() if code[:2] == category]
        return Side(records=records_of, blob=lambda _blob: None, config=self.vault.config)

    def _request(self, codes: list[str], borrower: str, department: str, purpose: str, form: str,
                 days: int, contact: str | None = None) -> str:
        rules = self._rules()
        more = f" 等{len(codes)}件" if len(codes) > 1 else ""
        person: dict[str, Any] = {"name": borrower, "department": department}
        if contact:
            person["contact"] = contact
        tree = {
            "title": f"借閱 {codes[0]}{more}（{lending.FORM_ZH[form]}）",
            "status": "requested",
            "opened": _d(self.now),
            "records": codes,
            "borrower": person,
            "purpose": purpose,
            "form": form,
            "events": [loans.new_event("request", self.now, borrower, rules, loans.LoanState(), days=days)],
        }
        problems = loans.loan_problems(tree, self.vault.config)
        if problems:
            raise RuntimeError(f"demo generator bug: a loan of {codes} breaks DG111: {problems}")
        return self.new("JY", Location(), tree)

    def _event(self, code: str, action: str, by: str, details: dict[str, Any]) -> None:
        """Append one event at the current moment, checked by lending's own rules."""
        rules = self._rules()
        tree = self.trees[code]
        state, _ = loans.replay(tree, rules)
        if action == "checkout" and "days" not in details:  # as `lend checkout`: the days asked for
            details = {**details, "days": state.requested_days or rules.loan_days}
        new = loans.with_event(tree, loans.new_event(action, self.now, by, rules, state, **details), rules)
        problems = loans.loan_problems(new, self.vault.config)
        problems += loans.loan_conflicts(parse_code(code).path, new, self._side(), tree)
        if problems:
            raise RuntimeError(f"demo generator bug: {action} of {code} breaks DG111: {problems}")
        self.set(code, {key: new[key] for key in ("status", "closed", "events") if key in new})

    def _loan(self, codes: list[str], borrower: str, department: str, purpose: str, form: str, days: int,
              steps: list[tuple[float, str, dict[str, Any]]], contact: str | None = None) -> str:
        """Request now; then each (hours later, action, details) as its own event."""
        code = self._request(codes, borrower, department, purpose, form, days, contact)
        when = self.now
        for hours, action, details in steps:
            when = when + dt.timedelta(hours=hours)
            by = DEMO_APPROVER if action in ("approve", "reject") else DEMO_ARCHIVIST
            self.at(when, self._event, code, action, by, details)
        return code

    def _of(self, category: str, prefix: str = "A01") -> list[str]:
        return [c for c in self.trees if c[:2] == category and c[3:].startswith(prefix)]

    def loan_for_inspection(self) -> None:
        p = self.projects[0]
        lift = self.examples["equipment"]
        repairs = [c for c in self._of("WX") if lift in (self.trees[c].get("refs") or [])][:1]
        self._loan([lift, *repairs], p.engineer, "工程部", "迎接特種設備年度檢驗，核對電梯維保及維修記錄。", "original", 7,
                   [(0.5, "approve", {}), (0.5, "checkout", {"days": 7}), (24 * 5 + 6, "return", {"condition": "intact"})])

    def loan_for_audit(self) -> None:
        reports = self._of("CW")[:2]
        if not reports:  # no financial report filed yet (the reports' months follow the build day)
            self.at(self.now + dt.timedelta(days=30), self.loan_for_audit)
            return
        self.examples["encrypted_loan"] = self._loan(
            reports, "沈會計", "蘇州正信會計師事務所", "年度審計，核對財務報告及收支預算。", "copy", 7,
            [(1, "approve", {}), (1, "checkout", {"days": 7}), (24 * 6, "renew", {"days": 7, "reason": "審計延期"}),
             (24 * 5, "return", {"condition": "intact"})],
            contact=self.story_people.phone())

    def loan_damaged(self) -> None:
        p = self.projects[0]
        contracts = [c for c in p.contracts.values() if c in self.trees][:1] or self._of("HT")[:1]
        self.examples["damaged_loan"] = self._loan(
            contracts, p.manager, "項目管理處", "續簽談判前核對原合同條款。", "original", 5,
            [(2, "approve", {}), (1, "checkout", {}),
             (24 * 4, "return", {"condition": "damaged", "note": "第3頁咖啡漬，已晾乾壓平並掃描存檔。"})])

    def loan_rejected(self) -> None:
        owners = self._of("YZ")[:1]
        if owners:
            self._loan(owners, self.projects[0].service, "客服部", "核對業主聯繫方式。", "copy", 3,
                       [(3, "reject", {"reason": "聯繫方式可在客服系統查詢，無需調閱業主檔案。"})])

    def loan_fire_rounds(self) -> None:
        p = self.projects[0]
        rounds = [c for c in self._of("XJ") if "補錄" not in self.trees[c]["title"]][-2:]
        if rounds:
            self._loan(rounds, p.fire, "工程部", "消防部門檢查，出示近期消防巡檢記錄。", "scan", 3,
                       [(1, "approve", {}), (0.5, "checkout", {}), (24 * 2, "return", {"condition": "intact"})])

    def loan_overdue(self) -> None:
        p = self.projects[0]
        equipment = [c for c in p.equipment.values() if c in self.trees and c != self.examples.get("equipment")][:1]
        self.examples["overdue_loan"] = self._loan(
            equipment or [self.examples["equipment"]], p.engineer, "工程部", "設備大修方案論證，核對原始技術資料。",
            "original", 7, [(0.5, "approve", {}), (0.5, "checkout", {"days": 7})])

    def loan_requested(self) -> None:
        p = self.projects[0]
        self.examples["requested_loan"] = self._loan(
            [self.examples["room"]], p.service, "客服部", "處理裝修噪音投訴，核對房屋基本信息。", "copy", 2, [])

    # ------------------------------------------------------------------- hold
    def legal_hold(self) -> None:
        """A lawsuit about the flat of an old complaint: its records must not be destroyed."""
        complaint, room = self.examples["held_complaint"], self.examples["held_room"]
        reason = "業主就車庫滲水損壞車輛起訴物業公司，相關投訴及房屋檔案須保全。"
        self.examples["hold"] = self.new("BQ", Location(), {
            "title": f"車庫滲水賠償訴訟證據保全（{self.trees[room]['title'][:16]}）",
            "status": "active",
            "opened": _d(self.now),
            "targets": [complaint, room],
            "reason": reason,
            "case": f"({self.now.year})蘇0506民初{self.story_rng.randint(100, 999)}號",
            "authority": "蘇州市吳中區人民法院",
            "parties": ["蘇州安和物業服務有限公司", self.trees[complaint]["complainant"]["name"]],
            "events": [{"at": _t(self.now), "action": "hold", "by": self.projects[0].manager, "reason": "收到法院傳票。"}],
        })

    # ------------------------------------------------------- real commands
    def _pause(self) -> dt.datetime:
        """Finish the history written so far, so that real commands can commit on top of it
        (through the vault's hooks); returns the first moment they may commit at."""
        assert self.history is not None
        self.flush()
        self.history.close()
        return max(self.now, self.last_commit + dt.timedelta(minutes=5))

    def _resume(self, last: dt.datetime, commits: int) -> None:
        """Continue the history on top of the `commits` real commits, the last made at `last`."""
        self.commits += commits
        self.last_commit = last
        head = gitio.run(["rev-parse", "HEAD"], self.vault.root).stdout.decode().strip()
        self.history = _History(self.vault.root, head)

    @staticmethod
    def _dated(moment: dt.datetime) -> _patched_env:
        """The environment of a real command whose commit is dated `moment`."""
        return _patched_env(_git_env(moment, str(Path(sys.executable).parent)))

    def _reload(self, code: str) -> None:
        """A record as a real command left it: the story goes on from there."""
        doc = load_text(decode(self.vault.path_of(parse_code(code)).read_bytes()))
        if "sops" in doc:
            self.docs[code] = doc
            doc = sops.decrypt_document(doc, self.identities)[0]
        self.trees[code] = doc

    # ------------------------------------------------------------------ sweep
    def sweep(self) -> None:
        """The yearly sweep through the real core (plan, certificate, removal, hooks)."""
        moment = self._pause()
        # the archivist's key: plan and apply verify the encrypted legal hold with it
        keyring, self.vault.keyring = self.vault.keyring, Keyring(self.vault.root / DEMO_KEY)
        try:
            with self._dated(moment):
                plan = retention.make_plan(self.vault, moment.date(), now=moment - dt.timedelta(hours=2)).document()
                # entries a person would review (action: review) are kept: none are due in the demo
                plan["due"] = [e for e in plan["due"] if e.get("decision") == "destroy"]
                retention.approve_plan(self.vault, plan, DEMO_APPROVER)  # the approver's own commit
                applied = retention.apply_plan(self.vault, plan, retention.Disposal(
                    approved_by=None, witnesses=list(WITNESSES), carried_out_by=DEMO_ARCHIVIST,
                    method="碎紙機粉碎", place="安和物業總部檔案室", at=moment,
                    title=f"{moment.year}年度到期檔案銷毀"))
        finally:
            self.vault.keyring = keyring
        for code in applied.destroyed:
            self.trees.pop(code, None)
            self.docs.pop(code, None)
        for code in applied.codes:
            self._reload(str(code))
        self.destroyed = applied.destroyed
        self.examples["certificate"] = str(applied.codes[0])
        self._resume(moment, 2)

    # ------------------------------------------------------ inventory, scans
    def inventory_and_scans(self) -> None:
        """The count of project A01's archive room through the real core (one original
        missing, the contract stained on loan damaged), then three scans attached that
        afternoon: the stained contract, an owner's ID-card copy, an elevator certificate."""
        start = self._pause()
        p = self.projects[0]
        room = f"{p.name}客服中心檔案室"
        damaged = self.trees[self.examples["damaged_loan"]]["records"][0]
        known = set(self.examples.values())
        keyring, self.vault.keyring = self.vault.keyring, Keyring(self.vault.root / DEMO_KEY)
        try:
            rows = inventory.sheet(self.vault, room)
            missing = next(r.code for r in rows if r.category == "FW" and r.code not in known)
            results = {
                damaged: ("damaged", "第3頁咖啡漬（借閱歸還時已登記），已晾乾壓平；已掃描，原件待送修復"),
                missing: ("missing", "卷盒內無此檔案原件，已報檔案主管，待查借閱及移交記錄"),
            }
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(inventory.SHEET_COLUMNS)
            for row in rows:  # an original out on loan is not on the shelf: not counted
                result, note = ("", "") if row.on_loan else results.get(row.code, ("found", ""))
                writer.writerow(row.cells()[:-2] + [result, note])
            with self._dated(start + dt.timedelta(minutes=90)):
                recorded = inventory.record(
                    self.vault, buffer.getvalue().encode(), "盤點表.csv", by=DEMO_ARCHIVIST, witness=p.manager,
                    at=_t(start), room=room, actions="缺失原件限期查找，損壞合同送修復並以掃描件備查。",
                    title=f"{room}盤點（{_d(start)}）")  # the service's words, in the demo's script
            owner = next(r for r in p.rooms if self._showcase_room(r)).owner
            lift = self.examples["equipment"]
            scans = [
                (damaged, "合同掃描件.pdf", "合同原件掃描件（第3頁污損）", demo_scans.contract_scan(damaged)),
                (owner, "身份證複印件.png", "業主身份證複印件（正反面）", demo_scans.id_card_copy(owner)),
                (lift, "定期檢驗報告.pdf", "電梯定期檢驗報告掃描件",
                 demo_scans.certificate_scan(lift, str(self.trees[lift]["inspection_certificate_no"]))),
            ]
            moment = start
            with tempfile.TemporaryDirectory(prefix="dangan-demo-") as folder:
                for n, (code, name, title, data) in enumerate(scans):
                    moment = start + dt.timedelta(hours=2, minutes=15 * n)
                    path = Path(folder) / name
                    path.write_bytes(data)
                    with self._dated(moment):
                        attachments.attach(self.vault, parse_code(code), [path], by=DEMO_ARCHIVIST, at=moment, title=title)
        finally:
            self.vault.keyring = keyring
        for code in {recorded.code, *recorded.flagged, *(scan[0] for scan in scans)}:
            self._reload(code)
        self.serials[("PD", Location())] = int(recorded.code.rsplit("-", 1)[1])
        self.examples.update(inventory=recorded.code, missing_original=missing, damaged_original=damaged)
        self.scans = [{"code": code, "file": name, "title": title} for code, name, title, _ in scans] + self.scans
        self.counted = {"code": recorded.code, "room": room, "day": _d(start), "missing": [missing], "damaged": [damaged]}
        self._resume(moment, 1 + len(scans))
