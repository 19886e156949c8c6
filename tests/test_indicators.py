"""The indicators of plan §6.3 (satisfaction, work efficiency, the archive's own work) in
`dangan stats` and `dangan report`, against figures worked out by hand.

The vault (Asia/Shanghai, first commit 2025-01-01) is committed in back-dated commits: the
bulk on 2025-06-29 (and an attachment an hour later), more on 2025-07-20 (and a second
attachment). Stats are asked for as of 2025-06-30, 2025-07-20 and 2025-07-31. Every figure
below is worked out in the comments; nothing depends on today's date. MY (satisfaction
surveys) is not a category on this branch yet: its bucket is checked empty here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from test_stats import commit_files, complaint, dated, ok, record

from dangan.formats import agekeys
from dangan.formats.yamlio import dump, load_text

A, MID, B = "2025-06-30", "2025-07-20", "2025-07-31"
ROOM = "翠湖花園客服中心檔案室"
DEPARTMENTS = [
    {"name": "客服部", "responsible": "周敏", "files": [{"category": "TS"}]},
    {"name": "工程部", "responsible": "李建國", "files": [{"category": "WX"}]},
    {"name": "檔案室", "responsible": "張敏", "files": [{"category": "PD"}, {"category": "JY"}]},
]


def ts(code: str, received: str, closed: str | None, score: int | None, subject: str, handler: str,
       visited: str | None = None) -> tuple[str, str]:
    """A complaint; closed ones have a return visit on the closing day (or `visited`)."""
    if closed is None:
        return complaint(code, received, "open", subject=subject, handler=handler, custody=None)
    visit = {"visited_at": visited or f"{closed}T10:00:00+08:00", "visited_by": "周敏"}
    return complaint(code, received, "closed", closed, subject=subject, handler=handler, satisfaction=score,
                     resolved_at=f"{received[:10]}T16:00:00+08:00", return_visit=visit, custody=None)


def wx(code: str, kind: str, trade: str, assignee: str, reported: str, finished: str | None,
       score: int | None) -> tuple[str, str]:
    """A repair job reported at 10:00 and finished (and closed) on `finished` at 13:00."""
    extra: dict[str, Any] = {"kind": kind, "trade": trade, "assignee": assignee, "target": None, "scope": "common",
                             "reported_at": f"{reported}T10:00:00+08:00", "opened": reported,
                             "assigned_at": f"{reported}T10:00:00+08:00", "custody": None}
    if finished is None:
        extra.update(status="in_progress", closed=None, finished=None, started=None, result=None, satisfaction=None,
                     feedback=None, work_done=None, parts=None, labour_cost=None, cost=None, charged_to=None)
    else:
        extra.update(status="closed", closed=finished, started=f"{finished}T12:00:00+08:00",
                     finished=f"{finished}T13:00:00+08:00", satisfaction=score, charged_to=None)
    return record("WX-private-repair.yaml", code, **extra)


def loan(code: str, checkout: str, due: str, returned: str | None) -> tuple[str, str]:
    events: list[dict[str, Any]] = [
        {"at": f"{checkout}T09:00:00+08:00", "action": "request", "by": "趙偉", "days": 7},
        {"at": f"{checkout}T09:30:00+08:00", "action": "approve", "by": "陳立新"},
        {"at": f"{checkout}T09:45:00+08:00", "action": "checkout", "by": "張敏", "days": 7, "due": due},
    ]
    closing: dict[str, Any] = {}
    if returned:
        events.append({"at": f"{returned}T15:00:00+08:00", "action": "return", "by": "張敏", "condition": "intact"})
        closing = {"status": "closed", "closed": returned}
    return record("JY-loan-out.yaml", code, opened=checkout, records=["XM-A01-0001"], events=events, **closing)


def inventory(code: str, counted: str, status: str, results: dict[str, int]) -> tuple[str, str]:
    rows = [{"code": f"FW-A01-02-001-{n:04d}-0001", "result": result}
            for n, result in enumerate((r for r, k in results.items() for _ in range(k)), start=301)]
    return record("PD-inventory.yaml", code, status=status, counted_at=f"{counted}T10:00:00+08:00", opened=counted,
                  closed=counted if status == "completed" else None, results=rows, scope=None, actions=None)


def held(example: str, code: str, custody: dict[str, Any] | None) -> tuple[str, str]:
    return record(example, code, custody=custody)


FW, SB1, SB2, XM = "FW-A01-02-001-0301-0001", "SB-A01-02-0001", "SB-A01-02-0002", "XM-A01-0001"


def first() -> list[tuple[str, str]]:
    """The records committed on 2025-06-29 (filed that day: TS within 3 days of received_at,
    WX within 7 days of finished)."""
    return [
        # satisfaction (day of the return visit), efficiency (received -> closed), filing
        ts("TS-A01-02-0001", "2025-06-20T10:00:00+08:00", "2025-06-25", 4, "noise", "周敏"),  # 5 d, late
        ts("TS-A01-02-0002", "2025-05-01T10:00:00+08:00", "2025-05-11", 2, "noise", "周敏"),  # 10 d, late
        ts("TS-B01-0001", "2025-06-27T10:00:00+08:00", "2025-06-29", 5, "parking", "林芳"),  # 2 d, on time
        ts("TS-A01-02-0003", "2025-06-28T10:00:00+08:00", None, None, "noise", "周敏"),  # open, on time
        # before the vault's first day: a backlog, not judged for filing
        ts("TS-A01-02-0004", "2024-12-01T10:00:00+08:00", "2024-12-06", 3, "fees", "林芳"),  # 5 d
        wx("WX-A01-02-0001", "01", "plumbing", "李海峰", "2025-06-01", "2025-06-05", 5),  # 4 d, late
        wx("WX-A01-02-0002", "02", "electrical", "李海峰", "2025-06-20", "2025-06-22", 3),  # 2 d, on time
        wx("WX-A01-02-0003", "03", "elevator", "王建", "2025-06-10", "2025-06-10", 4),  # upkeep; late
        wx("WX-A01-02-0004", "01", "plumbing", "王建", "2025-06-25", None, None),  # open: no date to judge
        # loans: JY-0001 back on time, JY-0002 three days late, JY-0003 still out,
        # JY-0004 late but returned before the window
        loan("JY-0001", "2025-06-01", "2025-06-08", "2025-06-07"),
        loan("JY-0002", "2025-06-10", "2025-06-17", "2025-06-20"),
        loan("JY-0003", "2025-06-20", "2025-06-27", None),
        loan("JY-0004", "2024-05-01", "2024-05-08", "2024-05-20"),
        # inventories: only PD-0001 is completed and counted in the window
        inventory("PD-0001", "2025-06-28", "completed", {"found": 5, "missing": 1, "damaged": 1, "misplaced": 1}),
        inventory("PD-0002", "2024-06-15", "completed", {"missing": 2}),
        inventory("PD-0003", "2025-06-29", "in_progress", {"missing": 1}),
        # paper originals: FW (paper, scanned below), SB1 (both), SB2 (paper, no room), XM electronic
        held("FW-room.yaml", FW, {"form": "paper", "room": ROOM}),
        held("SB-elevator.yaml", SB1, {"form": "both", "room": ROOM, "cabinet": "04"}),
        held("SB-water-pumps.yaml", SB2, {"form": "paper"}),
        held("XM-residential.yaml", XM, {"form": "electronic"}),
    ]


def second() -> list[tuple[str, str]]:
    """Committed on 2025-07-20."""
    return [
        ts("TS-A01-02-0005", "2025-07-15T10:00:00+08:00", "2025-07-18", 2, "cleaning", "周敏"),  # 3 d, late
        # visited 23:30 UTC on 20 July = 21 July in Shanghai: counted from 21 July on
        ts("TS-A01-02-0006", "2025-07-19T10:00:00+08:00", "2025-07-21", 5, "noise", "林芳",
           visited="2025-07-20T23:30:00+00:00"),  # 2 d, on time
        loan("JY-0003", "2025-06-20", "2025-06-27", "2025-07-10"),  # back 13 days late
        inventory("PD-0004", "2025-07-15", "completed", {"found": 2}),
    ]


def attach(root: Path, code: str, when: str, tmp: Path) -> None:
    scan = tmp / f"{code}.pdf"
    scan.write_bytes(b"%PDF-1.4 scan of " + code.encode())
    ok(run_cli(["-C", str(root), "attach", code, str(scan), "--title", "掃描件", "--by", "張敏", "--at", when],
               env=dated(when)))


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("indicators")
    root = base / "vault"
    people = []
    for name in ("陳立新", "張敏"):  # approver and archivist of the loans
        people += ["--recipient", f"{name}={agekeys.generate_identity()[1]}"]
    ok(run_cli(["init", str(root), "--name", "指標測試", *people], env=dated("2025-01-01T09:00:00+08:00")))
    config = load_text((root / "vault.yaml").read_text("utf-8"))
    config["departments"] = DEPARTMENTS
    commit_files(root, [("vault.yaml", dump(config)), *first()], "2025-06-29T12:00:00+08:00", "records")
    attach(root, FW, "2025-06-29T13:00:00+08:00", base)
    commit_files(root, second(), "2025-07-20T12:00:00+08:00", "more records")
    attach(root, SB1, "2025-07-20T13:00:00+08:00", base)
    return root


def stats(root: Path, day: str) -> dict[str, Any]:
    return json.loads(ok(run_cli(["-C", str(root), "stats", "--as-of", day, "--json"])).out)


@pytest.fixture(scope="module")
def docs(vault: Path) -> dict[str, dict[str, Any]]:
    return {day: stats(vault, day) for day in (A, MID, B)}


def dist(*counts: int) -> dict[str, int]:
    return {str(score): n for score, n in zip(range(1, 6), counts, strict=True)}


def scores(count: int, mean: float | None, *distribution: int) -> dict[str, Any]:
    return {"count": count, "mean": mean, "distribution": dist(*distribution)}


def test_satisfaction_as_of_a(docs: dict[str, dict[str, Any]]) -> None:
    s = docs[A]["satisfaction"]
    # TS 4, 2, 5, 3 and WX 5, 3, 4 (upkeep is scored too): 7 scores, 26 / 7 = 3.714
    assert (s["count"], s["mean"], s["distribution"]) == (7, 3.71, dist(0, 1, 2, 2, 2))
    months = s["by_month"]
    assert list(months) == [f"2024-{m:02d}" for m in range(7, 13)] + [f"2025-{m:02d}" for m in range(1, 7)]
    # June: TS-0001 4, TS-B01 5, WX 5, 3, 4 = 21 / 5; May: TS-0002 2; December 2024: TS-0004 3
    assert months["2025-06"] == scores(5, 4.2, 0, 0, 1, 2, 2)
    assert months["2025-05"] == scores(1, 2.0, 0, 1, 0, 0, 0)
    assert months["2024-12"] == scores(1, 3.0, 0, 0, 1, 0, 0)
    assert months["2025-01"] == scores(0, None, 0, 0, 0, 0, 0)
    # A01: 4 2 3 5 3 4 = 21 / 6; B01: 5
    assert s["by_project"] == {"A01": scores(6, 3.5, 0, 1, 2, 2, 1), "B01": scores(1, 5.0, 0, 0, 0, 0, 1)}
    assert s["by_category"]["TS"] == scores(4, 3.5, 0, 1, 1, 1, 1)  # 14 / 4
    assert s["by_category"]["WX"] == scores(3, 4.0, 0, 0, 1, 1, 1)  # 12 / 3
    assert s["by_category"]["MY"] == {"surveys": 0, "scale": "0-100", "responses": 0, "mean": None, "last": None}
    assert s["by_subject"] == {
        "TS": {"fees": scores(1, 3.0, 0, 0, 1, 0, 0), "noise": scores(2, 3.0, 0, 1, 0, 1, 0),
               "parking": scores(1, 5.0, 0, 0, 0, 0, 1)},
        "WX": {"electrical": scores(1, 3.0, 0, 0, 1, 0, 0), "elevator": scores(1, 4.0, 0, 0, 0, 1, 0),
               "plumbing": scores(1, 5.0, 0, 0, 0, 0, 1)},
    }


def test_satisfaction_counts_a_score_from_its_day(docs: dict[str, dict[str, Any]]) -> None:
    # 20 July: TS-0005's 2 (visited 18 July) is in; TS-0006's 5 (visited 21 July, Shanghai) is not
    mid = docs[MID]["satisfaction"]
    assert (mid["count"], mid["mean"], mid["distribution"]) == (8, 3.5, dist(0, 2, 2, 2, 2))  # 28 / 8
    s = docs[B]["satisfaction"]
    assert (s["count"], s["mean"], s["distribution"]) == (9, 3.67, dist(0, 2, 2, 2, 3))  # 33 / 9 = 3.667
    assert s["by_month"]["2025-07"] == scores(2, 3.5, 0, 1, 0, 0, 1)
    assert list(s["by_month"])[0] == "2024-08" and len(s["by_month"]) == 12
    assert s["by_subject"]["TS"]["noise"] == scores(3, 3.67, 0, 1, 0, 1, 1)  # 4 2 5
    assert s["by_subject"]["TS"]["cleaning"] == scores(1, 2.0, 0, 1, 0, 0, 0)


def handlers(doc: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {h["handler"]: (h["closed"], h["mean_days_to_close"], h["median_days_to_close"], h["TS"], h["WX"])
            for h in doc["efficiency"]["by_handler"]}


def departments(doc: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {d["department"]: (d["responsible"], d["closed"], d["mean_days_to_close"], d["median_days_to_close"])
            for d in doc["efficiency"]["by_department"]}


def test_efficiency(docs: dict[str, dict[str, Any]]) -> None:
    a = docs[A]
    assert a["efficiency"]["since"] == "2024-07-01" and a["efficiency"]["window_days"] == 365
    # 周敏: 5 and 10 days; 林芳: 2 and 5; 李海峰: 4 and 2 (the upkeep job of 王建 is no repair,
    # his repair is open)
    assert handlers(a) == {"周敏": (2, 7.5, 7.5, 2, 0), "林芳": (2, 3.5, 3.5, 2, 0), "李海峰": (2, 3.0, 3.0, 0, 2)}
    # 客服部 (TS): 5 10 2 5 = 22 / 4, median 5; 工程部 (WX): 4 2; 檔案室 closes none
    assert departments(a) == {"客服部": ("周敏", 4, 5.5, 5.0), "工程部": ("李建國", 2, 3.0, 3.0),
                              "檔案室": ("張敏", 0, None, None)}
    b = docs[B]
    # + TS-0005 (周敏, 3 days), TS-0006 (林芳, 2 days)
    assert handlers(b)["周敏"] == (3, 6.0, 5.0, 3, 0)
    assert handlers(b)["林芳"] == (3, 3.0, 2.0, 3, 0)
    assert departments(b)["客服部"] == ("周敏", 6, 4.5, 4.0)  # 5 10 2 5 3 2 = 27 / 6


def test_archive_indicators(docs: dict[str, dict[str, Any]]) -> None:
    a = docs[A]["archive"]
    assert a["since"] == "2024-07-01"
    # judged: TS-0001, TS-0002, TS-B01, TS-0003, WX-0001, WX-0002, WX-0003 (7); on time: TS-B01,
    # TS-0003 (received 28 June, due 1 July), WX-0002 (finished 22 June, due 29 June)
    assert a["filing"] == {"judged": 7, "on_time": 3, "late": 4, "share_on_time": 0.429}
    # returned in the window: JY-0001 (on time), JY-0002 (late); JY-0003 is out
    assert a["loans"] == {"returned": 2, "late": 1, "share_late": 0.5}
    # PD-0001: 8 checked, 3 not found
    assert a["inventory"] == {"inventories": 1, "checked": 8, "missing": 1, "damaged": 1, "misplaced": 1,
                              "discrepancies": 3, "rate": 0.375}
    # paper or both: FW (scanned), SB1, SB2 (no room)
    assert a["originals"] == {"paper": 3, "scanned": 1, "share_scanned": 0.333, "no_location": 1,
                              "no_location_list": [SB2]}
    b = docs[B]["archive"]
    assert b["filing"] == {"judged": 9, "on_time": 4, "late": 5, "share_on_time": 0.444}  # + TS-0005 late, TS-0006
    assert b["loans"] == {"returned": 3, "late": 2, "share_late": 0.667}  # + JY-0003, back 10 July
    assert b["inventory"]["inventories"] == 2 and b["inventory"]["rate"] == 0.3  # 3 of 10
    assert b["originals"]["scanned"] == 2 and b["originals"]["share_scanned"] == 0.667


def test_agrees_with_gaps(vault: Path, docs: dict[str, dict[str, Any]]) -> None:
    """A late filing here is a late gap of `dangan gaps` filed in the window."""
    gaps = json.loads(ok(run_cli(["-C", str(vault), "gaps", "--as-of", B, "--json"])).out)
    late = [g for g in gaps["gaps"] if g["kind"] == "late" and g["filed"] >= docs[B]["archive"]["since"]]
    assert len(late) == docs[B]["archive"]["filing"]["late"] == 5


def test_text_output(vault: Path) -> None:
    out = " ".join(ok(run_cli(["-C", str(vault), "stats", "--as-of", A])).out.split())  # columns aligned
    for line in ("Satisfaction (TS, WX): 7 scores, mean 3.71", "1: 0, 2: 1, 3: 2, 4: 2, 5: 2",
                 "周敏  2 closed, mean 7.5 d, median 7.5 d", "客服部 周敏  4 closed, mean 5.5 d",
                 "filed on time  3 of 7 (42.9 %)", "loans returned late  1 of 2 (50.0 %)",
                 "inventory discrepancies  3 of 8 (37.5 %)", "paper originals scanned  1 of 3 (33.3 %)",
                 "paper originals without a room  1"):
        assert " ".join(line.split()) in out, line


def test_report(vault: Path, tmp_path: Path) -> None:
    from dangan.report import dashboard

    out = tmp_path / "report.html"
    ok(run_cli(["-C", str(vault), "report", "--out", str(out), "--as-of", A]))
    html = out.read_text("utf-8")
    for key in ("satisfaction", "efficiency", "archive"):
        assert f"<h2>{dashboard.HEADINGS[key]}</h2>" in html, key
    section = html[html.index('<section id="satisfaction">'):]
    section = section[:section.index("</section>")]
    assert "<svg" in section and "7 scores, mean 3.71" in section
    archive = html[html.index('<section id="archive">'):]
    archive = archive[:archive.index("</section>")]
    for cell in ("<td>3 of 7</td>", "<td>42.9 %</td>", "<td>1 of 2</td>", "<td>50.0 %</td>", "<td>3 of 8</td>",
                 "<td>37.5 %</td>", "<td>1 of 3</td>", "<td>33.3 %</td>", SB2):
        assert cell in archive, cell
    assert "周敏" in html and "7.5" in html


def test_fast_reader_agrees_with_the_full_reader(vault: Path) -> None:
    """The digest of every record read by the field reader equals the full reader's."""
    from dangan.formats import fields
    from dangan.formats.yamlio import tree_or_none
    from dangan.model import filing
    from dangan.services import indicators

    rules = filing.deadlines(load_text((vault / "vault.yaml").read_text("utf-8")))
    checked = fast = 0
    for path in sorted((vault / "vault").rglob("*.yaml")):
        category = path.name[:2]
        want = indicators.READ.get(category, frozenset()) | set(rules[category].after if category in rules else ())
        nested = indicators.NESTED.get(category, frozenset()) | {"custody"}
        content = path.read_bytes()
        full = tree_or_none(content)
        assert isinstance(full, dict)
        kept = {k: v for k, v in full.items() if k in want or k in nested or k == "results"}
        expected = indicators._digest(category, kept, bool(full.get("attachments")))
        assert indicators._read(category, content, frozenset(want), frozenset(nested)) == expected, path
        checked += 1
        fast += category != "PD" and fields.read(content, frozenset(want), frozenset(nested)) is not None
    assert checked == 23  # every record of the vault
    assert fast == 19  # all but the four PD (read in full) by the field reader
    assert indicators._attached(b"title: x\nattachments:\n  - file: a.pdf\n") is True
    assert indicators._attached(b"title: x\nattachments: []\n") is False
    assert indicators._attached(b"title: x\n") is False
    assert indicators._attached(b"attachments: [{file: a.pdf}]\n") is None  # flow style: the full reader


def test_surveys_are_kept_apart() -> None:
    """MY (satisfaction surveys): `overall` (0-100) weighted by `sample`, counted from
    `period_end` (else `closed`) when completed, in no other figure."""
    import datetime as dt
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from dangan.model.codes import parse_code
    from dangan.services import indicators

    surveys = [
        ("MY-A01-0001", {"status": "completed", "overall": 80.0, "sample": 100, "period_end": "2025-03-31"}),
        ("MY-A01-0002", {"overall": "92", "sample": 50, "closed": "2025-06-30"}),  # a string score
        ("MY-A01-0003", {"status": "completed", "overall": 60, "period_end": "2025-05-31"}),  # no sample: one
        ("MY-A01-0004", {"status": "completed", "overall": 40.0, "sample": 80, "period_end": "2025-07-31"}),  # after
        ("MY-A01-0005", {"status": "completed", "overall": 120, "sample": 80, "period_end": "2025-01-31"}),  # > 100
        ("MY-A01-0006", {"status": "completed", "overall": 70.0, "sample": 80}),  # no day
        ("MY-A01-0007", {"status": "in_progress", "overall": 10, "sample": 80, "period_end": "2025-04-30"}),
    ]
    snap = indicators.Snap({}, ZoneInfo("Asia/Shanghai"), None,
                           [(parse_code(code), "", tree) for code, tree in surveys])
    data = SimpleNamespace(as_of=dt.date(2025, 6, 30), _indicators=snap)
    s = indicators.satisfaction_section(data)
    # (80 * 100 + 92 * 50 + 60 * 1) / 151 = 12,660 / 151 = 83.841
    assert s["by_category"]["MY"] == {"surveys": 3, "scale": "0-100", "responses": 151, "mean": 83.84,
                                      "last": "2025-06-30"}
    assert s["count"] == 0 and s["by_project"] == {} and s["by_month"]["2025-06"]["count"] == 0
