"""`dangan stats`: every figure against numbers worked out by hand on a small fixed vault.

The vault (Asia/Shanghai) is written file by file from the schema examples and committed
in back-dated commits: the bulk on 2025-06-29, one complaint added on 2025-07-20. Stats
are asked for as of 2025-06-30 unless a test says otherwise.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Result, git, run_cli

from dangan.formats import agekeys
from dangan.formats.yamlio import dump, load_text
from dangan.model.codes import parse_code
from dangan.services import stats
from dangan.store.vault import Vault

VALID = REPO / "tests" / "schema_examples" / "valid"
AS_OF = "2025-06-30"
SENSITIVE = frozenset({"complainant", "reporter", "contact", "parties"})


def dated(when: str) -> dict[str, str]:
    return {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}


def ok(result: Result) -> Result:
    assert result.code == 0, result
    return result


def record(example: str, code: str, **changes: Any) -> tuple[str, str]:
    """(path, text) of a schema example under a new code, without sensitive fields or refs."""
    tree = {k: v for k, v in load_text((VALID / example).read_text("utf-8")).items()
            if k not in SENSITIVE and k != "refs"}
    tree.update(code=code, category=code[:2], **changes)
    tree = {k: v for k, v in tree.items() if v is not None}
    parts = code.split("-")
    return "/".join(["vault", *parts[1:-1], parts[0], f"{code}.yaml"]), dump(tree)


def complaint(code: str, received: str, status: str, closed: str | None = None, kind: str = "complaint",
              **more: Any) -> tuple[str, str]:
    day = received[:10]
    extra: dict[str, Any] = {"kind": kind, "received_at": received, "status": status, "opened": day,
                             "closed": closed, "deadline": more.pop("deadline", None), **more}
    if status in ("open", "in_progress"):  # not resolved yet: no result, no return visit
        extra.update(resolved_at=None, return_visit=None, result=None, satisfaction=None, actions=None,
                     justified=None)
    return record("TS-complaint.yaml", code, **extra)


def repair(code: str, kind: str, target: str, reported: str, status: str, closed: str | None) -> tuple[str, str]:
    day = reported[:10]
    extra: dict[str, Any] = {"kind": kind, "target": target, "reported_at": reported, "status": status,
                             "opened": day, "closed": closed}
    if closed is None:
        extra.update(finished=None, started=None, result=None, satisfaction=None, feedback=None, work_done=None,
                     parts=None, labour_cost=None, cost=None, charged_to=None)
    else:
        extra.update(assigned_at=reported, started=f"{day}T12:00:00+08:00", finished=f"{day}T13:00:00+08:00")
    return record("WX-private-repair.yaml", code, **extra)


def loan(code: str, records: list[str], checkout: str, due: str) -> tuple[str, str]:
    day = checkout[:10]
    events = [
        {"at": f"{day}T09:00:00+08:00", "action": "request", "by": "趙偉", "days": 7},
        {"at": f"{day}T09:30:00+08:00", "action": "approve", "by": "陳立新"},
        {"at": f"{day}T09:45:00+08:00", "action": "checkout", "by": "張敏", "days": 7, "due": due},
    ]
    return record("JY-loan-out.yaml", code, opened=day, records=records, events=events)


SB1, SB2, SB3 = "SB-A01-02-0001", "SB-A01-02-0002", "SB-A01-0003"
HJ_DUE, HJ_SOON, HJ_HELD, HJ_LATER = "HJ-A01-0001", "HJ-A01-0002", "HJ-A01-0003", "HJ-A01-0004"


def bulk() -> list[tuple[str, str]]:
    hj = "HJ-tank-cleaning.yaml"
    return [
        record("XM-residential.yaml", "XM-A01-0001"),
        record("FW-room.yaml", "FW-A01-02-001-0301-0001"),
        # statutory inspections: SB1 expires in 20 days, SB2 expired 10 days ago, SB3 in 184 days
        record("SB-elevator.yaml", SB1, inspection_expires="2025-07-20"),
        record("SB-water-pumps.yaml", SB2, inspection_date="2024-06-20", inspection_expires="2025-06-20"),
        record("SB-elevator.yaml", SB3, inspection_expires="2025-12-31"),
        # repairs (kinds 01/02) and one scheduled upkeep (03)
        repair("WX-A01-02-0001", "01", SB1, "2025-06-01T10:00:00+08:00", "closed", "2025-06-05"),
        repair("WX-A01-02-0002", "02", SB1, "2025-06-10T10:00:00+08:00", "closed", "2025-06-12"),
        repair("WX-A01-02-0003", "01", SB2, "2025-06-20T10:00:00+08:00", "in_progress", None),
        repair("WX-A01-02-001-0301-0001", "01", "FW-A01-02-001-0301-0001", "2024-01-10T10:00:00+08:00",
               "closed", "2024-01-20"),
        repair("WX-A01-02-0004", "03", SB1, "2025-05-10T10:00:00+08:00", "closed", "2025-05-10"),
        # complaints
        complaint("TS-A01-02-001-0301-0001", "2025-06-20T10:00:00+08:00", "open", deadline="2025-06-25"),
        complaint("TS-A01-02-0002", "2025-03-01T10:00:00+08:00", "in_progress"),
        complaint("TS-A01-02-0003", "2025-05-01T10:00:00+08:00", "closed", "2025-05-11",
                  resolved_at="2025-05-02T10:00:00+08:00",
                  return_visit={"visited_at": "2025-05-11T10:00:00+08:00", "visited_by": "周敏"}),
        complaint("TS-A01-02-0004", "2025-06-01T10:00:00+08:00", "open", kind="suggestion"),
        # received 23:30 UTC on 2 June = 07:30 on 3 June in Shanghai
        complaint("TS-A01-02-0005", "2025-06-02T23:30:00+00:00", "closed", "2025-06-07",
                  resolved_at="2025-06-04T10:00:00+08:00",
                  return_visit={"visited_at": "2025-06-07T10:00:00+08:00", "visited_by": "周敏"}),
        complaint("TS-A01-02-0006", "2021-01-01T10:00:00+08:00", "closed", "2021-01-10",
                  resolved_at="2021-01-05T10:00:00+08:00",
                  return_visit={"visited_at": "2021-01-10T10:00:00+08:00", "visited_by": "周敏"}),
        # retention (HJ: P2Y after closed)
        record(hj, HJ_DUE, opened="2023-04-10", closed="2023-04-15", period_start="2023-04-10",
               period_end="2023-04-10", water_test={"tested_on": "2023-04-15", "passed": True}),
        record(hj, HJ_SOON, opened="2023-07-25", closed="2023-08-01", period_start="2023-07-25",
               period_end="2023-07-25", water_test={"tested_on": "2023-08-01", "passed": True}),
        record(hj, HJ_HELD, opened="2023-01-01", closed="2023-01-05", period_start="2023-01-01",
               period_end="2023-01-01", water_test={"tested_on": "2023-01-05", "passed": True}),
        record(hj, HJ_LATER, opened="2023-12-20", closed="2023-12-31", period_start="2023-12-20",
               period_end="2023-12-20", water_test={"tested_on": "2023-12-31", "passed": True}),
        record("BQ-hold.yaml", "BQ-0001", opened="2025-05-01", targets=[HJ_HELD, "A01-02-001"],
               events=[{"at": "2025-05-01T10:00:00+08:00", "action": "hold", "by": "陳立新", "reason": "收到法院傳票。"}]),
        # loans: one overdue since 2025-06-17, one due 2025-07-05
        loan("JY-0001", [SB1], "2025-06-10", "2025-06-17"),
        loan("JY-0002", [SB3], "2025-06-28", "2025-07-05"),
    ]


def commit_files(root: Path, files: list[tuple[str, str]], when: str, message: str) -> None:
    for rel, text in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    git(root, "add", "-A")
    proc = subprocess.run(["git", "commit", "-q", "-m", message], cwd=root, capture_output=True, text=True,
                          env=dict(os.environ, **dated(when)), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the hook checked every file


@pytest.fixture(scope="module")
def fixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stats") / "vault"
    people = []
    for name in ("陳立新", "張敏"):  # approver and archivist of the loans
        people += ["--recipient", f"{name}={agekeys.generate_identity()[1]}"]
    ok(run_cli(["init", str(root), "--name", "統計測試", *people], env=dated("2025-01-01T09:00:00+08:00")))
    assert Vault.open(root).config["timezone"] == "Asia/Shanghai"
    commit_files(root, bulk(), "2025-06-29T12:00:00+08:00", "records")  # after its last loan event (DG121)
    late = complaint("TS-A01-02-0007", "2025-07-15T10:00:00+08:00", "open")
    commit_files(root, [late], "2025-07-20T12:00:00+08:00", "a later complaint")
    return root


@pytest.fixture(scope="module")
def doc(fixed: Path) -> dict[str, Any]:
    result = ok(run_cli(["-C", str(fixed), "stats", "--as-of", AS_OF, "--json"]))
    return json.loads(result.out)


def test_records_per_category_class_project_status(doc: dict[str, Any]) -> None:
    rec = doc["records"]
    # XM 1, FW 1, SB 3, WX 5, TS 6, HJ 4, BQ 1, JY 2 = 23; TS-0007 came in a later commit
    assert rec["total"] == 23
    assert {k: v for k, v in rec["by_category"].items() if v} == {
        "XM": 1, "FW": 1, "SB": 3, "WX": 5, "TS": 6, "HJ": 4, "BQ": 1, "JY": 2}
    assert rec["by_category"]["QY"] == 0  # every category is listed
    # project: XM+FW; customer: TS; maintenance: SB+WX+HJ; ledger: BQ+JY
    assert rec["by_class"] == {"basics": 0, "project": 2, "customer": 6, "maintenance": 12, "safety": 0,
                               "finance": 0, "ledger": 3}
    assert rec["by_project"] == {"A01": 20, "company": 3}
    assert rec["project_names"] == {"A01": "翠湖花園項目概況"}
    assert rec["by_status"]["TS"] == {"closed": 3, "in_progress": 1, "open": 2}
    assert rec["by_status"]["WX"] == {"closed": 4, "in_progress": 1}
    assert rec["unreadable"] == []


def test_complaints(doc: dict[str, Any]) -> None:
    c = doc["complaints"]
    assert c["received"] == 5  # TS 1, 2, 3, 5, 6 (TS-0004 is a suggestion)
    assert c["open"] == 2
    # ages: 2025-06-30 - 2025-03-01 = 121 days, 2025-06-30 - 2025-06-20 = 10 days
    assert [(o["code"], o["age_days"]) for o in c["open_list"]] == [
        ("TS-A01-02-0002", 121), ("TS-A01-02-001-0301-0001", 10)]
    assert c["open_list"][1]["past_deadline"] is True  # deadline 2025-06-25
    assert c["open_age_days"] == {"mean": 65.5, "median": 65.5, "max": 121}
    assert c["open_by_age"] == {"0-7": 0, "8-30": 1, "31-90": 0, "91+": 1}
    # closed within 2024-07-01..2025-06-30: TS-0003 in 10 days; TS-0005 received 3 June
    # (Shanghai), closed 7 June: 4 days. TS-0006 (2021) is outside the window.
    assert c["closed_last_365_days"] == 2
    assert c["mean_days_to_close"] == 7.0
    assert c["median_days_to_close"] == 7.0
    assert c["by_month"]["2025-05"] == {"closed": 1, "mean_days_to_close": 10.0}
    assert c["by_month"]["2025-06"] == {"closed": 1, "mean_days_to_close": 4.0}
    assert list(c["by_month"])[0] == "2024-07" and len(c["by_month"]) == 12


def test_repairs(doc: dict[str, Any]) -> None:
    r = doc["repairs"]
    assert r["jobs_by_kind"] == {"01": 3, "02": 1, "03": 1}
    assert r["repairs"] == 4 and r["open"] == 1  # WX-0003 in progress
    # last 365 days: WX-0001 in 4 days, WX-0002 in 2; the room repair closed in 2024-01
    assert r["closed_last_365_days"] == 2 and r["mean_days_to_close"] == 3.0
    assert r["per_system"] == {"elevator": 2, "no equipment": 1, "water_supply": 1}
    assert [(e["code"], e["repairs"]) for e in r["per_equipment"]] == [(SB1, 2), (SB2, 1)]


def test_inspections(doc: dict[str, Any]) -> None:
    i = doc["inspections"]
    assert i["until"] == "2025-08-29"  # 2025-06-30 + 60 days
    assert [(e["code"], e["days_left"]) for e in i["list"]] == [(SB2, -10), (SB1, 20)]
    assert i["expired"] == 1 and i["expiring"] == 1


def test_loans(doc: dict[str, Any]) -> None:
    loans = doc["loans"]
    assert loans["out"] == 2 and loans["overdue"] == 1
    assert loans["overdue_list"] == [{"code": "JY-0001", "borrower": "趙偉", "department": "工程部",
                                      "due": "2025-06-17", "days_overdue": 13, "records": [SB1]}]


def test_retention_and_holds(doc: dict[str, Any]) -> None:
    ret = doc["retention"]
    assert ret["until"] == "2025-09-28"  # 2025-06-30 + 90 days
    # TS-0006 closed 2021-01-10 + P3Y; HJ-0001 closed 2023-04-15 + P2Y; HJ-0002 due 2025-08-01.
    # HJ-0003 (due 2025-01-05) is held; HJ-0004 is due 2025-12-31, after the window.
    assert [(e["code"], e["due"], e["overdue"]) for e in ret["list"]] == [
        ("TS-A01-02-0006", "2024-01-10", True), (HJ_DUE, "2025-04-15", True), (HJ_SOON, "2025-08-01", False)]
    assert ret["due"] == 3 and ret["due_already"] == 2
    assert ret["by_category"] == {"HJ": 2, "TS": 1} and ret["by_action"] == {"destroy": 3}
    assert ret["kept"] == {"held": 1, "on loan": 0, "override": 0}
    holds = doc["holds"]
    assert holds["active"] == 1
    # HJ-0003, and under A01-02-001: the room FW, its WX and its TS
    assert holds["list"][0]["records"] == 4 and holds["list"][0]["since"] == "2025-05-01"


def test_as_of_reads_the_commit_of_that_day(fixed: Path) -> None:
    vault = Vault.open(fixed)
    later = stats.compute(vault, dt.date(2025, 7, 20))
    assert later["records"]["total"] == 24 and later["complaints"]["open"] == 3
    before = stats.compute(vault, dt.date(2025, 5, 1))  # only the init commit
    assert before["records"]["total"] == 0 and before["loans"]["out"] == 0
    # the bulk commit of 2025-06-29 (dated after its last event, DG121): the hold placed on
    # 2025-05-01 is active that day, and not in the init commit that is all 2025-06-28 sees
    assert stats.compute(vault, dt.date(2025, 6, 29))["holds"]["active"] == 1
    assert stats.compute(vault, dt.date(2025, 6, 28))["holds"]["active"] == 0
    assert stats.compute(vault, dt.date(2024, 12, 31))["commit"] is None


def test_due_matches_retention_plan(fixed: Path) -> None:
    """`retention` lists exactly what `retention plan --as-of (as-of + 90 days)` lists as due."""
    today = stats.compute(Vault.open(fixed))
    plan = json.loads(ok(run_cli(["-C", str(fixed), "retention", "plan", "--as-of", today["retention"]["until"],
                                  "--json"])).out)
    assert sorted(e["code"] for e in plan["due"]) == sorted(e["code"] for e in today["retention"]["list"])


def test_fast_reader_agrees_with_the_full_reader(fixed: Path) -> None:
    names = frozenset({"title", "status", "opened", "closed", "kind", "received_at", "target", "system",
                       "inspection_expires", "deadline", "handler", "subject", "retention", "reported_at"})
    checked = 0
    for path in sorted((fixed / "vault").rglob("*.yaml")):
        data = path.read_bytes()
        fast = stats._fields(data, names)
        full = load_text(data.decode())
        if fast is None:
            continue
        assert fast == {k: full[k] for k in names if k in full}, path
        checked += 1
    assert checked >= 20
    # what it cannot be sure of, it declines: a nested override, a value going on, a comment
    assert stats._fields(b"title: x\nretention:\n  until: '2030-01-01'\n", names) is None
    assert stats._fields(b"title: 'it''s\n  going on'\n", names) is None
    assert stats._fields(b"title: x # note\n", names) is None
    assert stats._fields(b"title: 'it''s'\nstatus: open\n", names) == {"title": "it's", "status": "open"}


def test_text_output_and_errors(fixed: Path) -> None:
    result = ok(run_cli(["-C", str(fixed), "stats", "--as-of", AS_OF]))
    for line in ("Records: 23", "JY-0001", "TS-A01-02-0002", "Active legal holds: 1"):
        assert line in result.out
    bad = run_cli(["-C", str(fixed), "stats", "--as-of", "2025-02-30"])
    assert bad.code == 2 and bad.err.startswith("dangan: error:") and "Traceback" not in bad.err


def test_stats_shows_its_steps_on_a_terminal_and_nothing_to_a_pipe(tmp_path: Path) -> None:
    """Issue 24 part 4: `stats` and `report` take seconds on a large vault; on a terminal one
    line on stderr names the step, rewritten in place and cleared; a pipe sees nothing."""
    import os
    import pty
    import subprocess

    from conftest import DANGAN_BIN, drain_pty

    root = tmp_path / "vault"
    assert run_cli(["init", str(root), "--name", "步驟"]).code == 0
    main, side = pty.openpty()
    try:
        proc = subprocess.Popen([str(DANGAN_BIN), "-C", str(root), "stats"], stdout=subprocess.PIPE,
                                stderr=side, stdin=subprocess.DEVNULL)
        os.close(side)
        out, _ = proc.communicate(timeout=120)
        shown = drain_pty(main)
    finally:
        os.close(main)
    err = shown.decode("utf-8")
    # piped, the same again (from the answer the terminal's run kept: services/answers.py)
    piped = run_cli(["-C", str(root), "stats"])
    assert piped.code == 0 and piped.err == "", piped
    assert proc.returncode == 0 and out.decode("utf-8") == piped.out
    assert "stats: reading the records…" in err and "stats: gaps…" in err
    assert err.endswith("\r") and "\n" not in err  # one line, cleared at the end


def test_another_day_of_the_same_commit_is_judged_from_the_groundwork(fixed: Path, tmp_path: Path) -> None:
    """What no day changes (the counts of records, retention's due days, how many records
    each hold names, the filings judged, the paper originals, the records the sections read
    again) is kept per commit: another day of it is judged from that groundwork, a marker
    planted in it shows through, and each day judges as a run without it does."""
    root = cold_copy(fixed, tmp_path / "copy")
    cache = root / ".git" / "dangan" / "cache"

    first = judged(root, "2025-06-29")  # the bulk commit
    grounds = list((cache / "answers").glob(f"{stats.GROUND}-*.json"))
    assert len(grounds) == 1
    shutil.copytree(root, tmp_path / "cold", symlinks=True)
    kept = json.loads(grounds[0].read_bytes())
    assert kept["answer"]["records"]["total"] == first["records"]["total"] == 23
    kept["answer"]["records"]["total"] = -1
    grounds[0].write_text(json.dumps(kept, ensure_ascii=False), "utf-8")
    assert judged(root, AS_OF)["records"]["total"] == -1  # the same commit, another day
    # a later commit (one complaint added): its groundwork followed from that one (-1 + 1)
    assert judged(root, "2025-07-20")["records"]["total"] == 0
    cold = tmp_path / "cold"
    # the days around the loans' due days, the hold, the inspections and retention's dates,
    # on both commits: judged from the groundwork laid on another day, then from one laid
    # that day (no day may leak into it)
    days = (AS_OF, "2025-07-06", "2025-07-19", "2025-08-02", "2026-01-01")
    warm = {day: judged(cold, day) for day in days}
    for day in days:
        shutil.rmtree(cold / ".git" / "dangan" / "cache")
        assert warm[day] == judged(cold, day), day


def test_a_new_commit_follows_the_groundwork_of_the_last(fixed: Path, tmp_path: Path) -> None:
    """Issue 26: the groundwork of a commit is followed from that of its ancestor along the
    records changed (a complaint closed, a repair added, an inspection ledger deleted, a
    record taken under the hold's prefix, a record made unreadable): every section, every
    day, as a run without any cache gives it; a marker planted in the earlier groundwork
    shows through. A changed hold (BQ) lays it again from every record."""
    root = cold_copy(fixed, tmp_path / "followed")

    before = judged(root, "2025-07-21")  # lays the groundwork of the last commit
    planted = planted_copy(root, tmp_path / "planted")

    def change(where: Path) -> None:
        commit_files(where, [
            complaint("TS-A01-02-0002", "2025-03-01T10:00:00+08:00", "closed", "2025-07-22",
                      resolved_at="2025-07-21T10:00:00+08:00",
                      return_visit={"visited_at": "2025-07-22T10:00:00+08:00", "visited_by": "周敏"}),
            repair("WX-A01-02-0005", "01", SB3, "2025-07-22T10:00:00+08:00", "closed", "2025-07-23"),
            repair("WX-A01-02-001-0301-0002", "02", "FW-A01-02-001-0301-0001", "2023-05-01T10:00:00+08:00",
                   "closed", "2023-05-02"),  # under the hold's prefix, due for destruction
        ], "2025-07-23T12:00:00+08:00", "july")
        git(where, "rm", "-q", "--", parse_code(SB2).path)
        (where / parse_code(HJ_LATER).path).write_bytes(b"title: \xff\xfe\n")  # unreadable: not UTF-8
        git(where, "add", "-A")
        subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "taken out, broken"], cwd=where,
                       env=dict(os.environ, **dated("2025-07-24T12:00:00+08:00")), check=True)

    for where in (root, planted):
        change(where)
    assert judged(planted, "2025-07-25")["records"]["project_names"]["A01"] == "planted in the groundwork"
    cold = tmp_path / "cold"
    shutil.copytree(root, cold, symlinks=True)
    for day in ("2025-07-25", "2025-08-02", "2025-10-01", "2026-01-01"):
        warm = judged(root, day)
        shutil.rmtree(cold / ".git" / "dangan" / "cache", ignore_errors=True)
        assert warm == judged(cold, day), day
    assert warm["records"]["total"] == before["records"]["total"] + 2 - 2  # two added; one deleted, one unreadable
    assert warm["records"]["unreadable"] == [parse_code(HJ_LATER).path]
    # a hold changed: laid again from every record, the marker gone
    hold = planted / parse_code("BQ-0001").path
    hold.write_text(hold.read_text("utf-8").replace("A01-02-001", "A01-02-002"), "utf-8")
    git(planted, "add", "-A")
    subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "the hold's prefix"], cwd=planted,
                   env=dict(os.environ, **dated("2025-07-25T12:00:00+08:00")), check=True)
    assert "planted in the groundwork" not in judged(planted, "2025-07-26")["records"]["project_names"].values()


def test_an_amended_commit_follows_the_groundwork_of_the_one_it_replaced(fixed: Path, tmp_path: Path) -> None:
    """A commit beside the one whose groundwork is kept (`git commit --amend`, two months
    later, with a second repair): followed along the files that differ and the records
    added on either side since their common ancestor (July's repair, the same text, is filed
    late now); a marker shows through and every day is as a cold run gives it."""
    root = cold_copy(fixed, tmp_path / "followed")
    commit_files(root, [repair("WX-A01-02-0005", "01", SB3, "2025-07-22T10:00:00+08:00", "closed", "2025-07-23")],
                 "2025-07-24T12:00:00+08:00", "july")
    before = judged(root, "2025-07-25")  # lays the groundwork of that commit
    planted = planted_copy(root, tmp_path / "planted")
    for where in (root, planted):
        rel, text = repair("WX-A01-02-0006", "01", SB3, "2025-09-20T10:00:00+08:00", "closed", "2025-09-21")
        (where / rel).write_text(text, "utf-8")
        git(where, "add", "-A")
        subprocess.run(["git", "commit", "-q", "--amend", "--no-edit", "--reset-author"], cwd=where, check=True,
                       env=dict(os.environ, **dated("2025-09-30T12:00:00+08:00")))
    assert judged(planted, "2025-10-01")["records"]["project_names"]["A01"] == "planted in the groundwork"
    cold = tmp_path / "cold"
    shutil.copytree(root, cold, symlinks=True)
    # 2026-08-01: a year's window that holds the repair's filing day now (30 September)
    # but not its old one (24 July)
    for day in ("2025-10-01", "2026-01-01", "2026-08-01"):
        warm = judged(root, day)
        shutil.rmtree(cold / ".git" / "dangan" / "cache", ignore_errors=True)
        assert warm == judged(cold, day), day
    assert warm["archive"]["filing"]["judged"] >= 1
    assert before["records"]["total"] + 1 == warm["records"]["total"]


def planted_copy(root: Path, planted: Path) -> Path:
    """A copy of `root` whose groundwork holds a marker (A01's name): it shows through
    where the groundwork is followed, and goes where it is laid again."""
    shutil.copytree(root, planted, symlinks=True)
    ground = next((planted / ".git" / "dangan" / "cache" / "answers").glob(f"{stats.GROUND}-*.json"))
    doc = json.loads(ground.read_bytes())
    doc["answer"]["records"]["project_names"]["A01"] = "planted in the groundwork"
    ground.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    return planted


def cold_copy(source: Path, root: Path) -> Path:
    """A copy of a vault without dangan's caches."""
    shutil.copytree(source, root, symlinks=True)
    shutil.rmtree(root / ".git" / "dangan" / "cache", ignore_errors=True)
    return root


def judged(where: Path, day: str) -> dict[str, Any]:
    """`stats --as-of DAY --json` of a vault."""
    return json.loads(ok(run_cli(["-C", str(where), "stats", "--as-of", day, "--json"])).out)
