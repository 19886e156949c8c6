"""The six categories of issue 23 (TZ, MY, YX, BZ, KF, PX) and AQ at company level, beyond
what every category gets in test_cli_records (new, show, ls, set, edit, fmt at each level):
the levels refused, a hand-made record through the real pre-commit hook, import from CSV,
the filing deadlines, and the two new obligations (a standard's review, an archive-room
finding) in `dangan due`. The dates judged are pinned (`--as-of`), never today.
"""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import git
from test_cli_records import VALID, commit_by_hand, head, read_yaml, status

from dangan.formats.yamlio import dump
from dangan.model import filing

TZ = ZoneInfo("Asia/Shanghai")
NEW = ("TZ", "MY", "YX", "BZ", "KF", "PX")


def fields(example: str, **changes: Any) -> dict[str, Any]:
    """A valid example's fields without code, category, refs and the sensitive scores."""
    tree = {k: v for k, v in read_yaml(VALID / example).items() if k not in ("code", "category", "refs")}
    if "results" in tree:
        tree["results"] = [{k: v for k, v in r.items() if k not in ("score", "remark")} for r in tree["results"]]
    tree.update(changes)
    return {k: v for k, v in tree.items() if v is not None}


def new(cli, category: str, location: str | None, tree: dict[str, Any]) -> str:
    result = cli("new", category, *([location] if location else []), "--file", "-", input=dump(tree))
    assert result.code == 0, result
    return result.out.strip()


def test_the_registry_has_the_six_with_their_levels(cli) -> None:
    result = cli("retention", "schedule", "--json")
    assert result.code == 0, result
    rows = {row["category"]: row for row in json.loads(result.out)}
    assert set(NEW) <= set(rows)
    assert rows["TZ"]["name"] and rows["BZ"]["action"] == "review" and rows["KF"]["keep"] == "P3Y"


@pytest.mark.parametrize(("category", "location", "example"), [
    ("TZ", "A01-02-001-0301", "TZ-water-outage.yaml"),  # a notice is for a unit or more, not one flat
    ("TZ", None, "TZ-water-outage.yaml"),
    ("PX", "A01", "PX-archive-training.yaml"),  # the company trains its archive staff
    ("YX", None, "YX-water-pumps.yaml"),  # a log is of equipment somewhere
    ("KF", "A01-02", "KF-archive-room.yaml"),  # archive rooms: the company's, or a project's
    ("AQ", "A01-02-001", "AQ-archive-room-plan.yaml"),
])
def test_a_level_the_registry_does_not_allow_is_refused(vault: Path, cli, category: str, location: str | None,
                                                         example: str) -> None:
    before = head(vault)
    result = cli("new", category, *([location] if location else []), "--file", "-", input=dump(fields(example)))
    assert result.code == 2, result
    assert result.err.startswith("dangan: error: ") and "Traceback" not in result.err
    assert head(vault) == before and status(vault) == ""


def test_an_emergency_plan_for_the_archive_room_is_filed_at_company_level(vault: Path, cli) -> None:
    code = new(cli, "AQ", None, fields("AQ-archive-room-plan.yaml"))
    assert code == "AQ-0001"
    assert (vault / "vault" / "AQ" / "AQ-0001.yaml").is_file()
    assert cli("check", "--all").code == 0


def test_the_pre_commit_hook_judges_a_hand_made_notice(vault: Path, cli) -> None:
    tree = {"code": "TZ-A01-02-001-0001", "category": "TZ", **fields("TZ-water-outage.yaml")}
    rel = "vault/A01/02/001/TZ/TZ-A01-02-001-0001.yaml"
    bad = dict(tree, scope="2棟1單元")  # not a location prefix
    target = vault / rel
    target.parent.mkdir(parents=True)
    target.write_text(dump(bad), encoding="utf-8")
    git(vault, "add", rel)
    before = head(vault)
    refused = subprocess.run(["git", "commit", "-q", "-m", "hand-made notice"], cwd=vault, capture_output=True,
                             text=True, check=False)
    assert refused.returncode != 0 and "DG10" in refused.stdout + refused.stderr, refused
    assert head(vault) == before
    commit_by_hand(vault, rel, dump(tree), "hand-made notice", verify=True)
    assert head(vault) != before and status(vault) == ""


def test_import_files_notices_from_a_spreadsheet(vault: Path, cli, tmp_path: Path) -> None:
    sheet = tmp_path / "notices.csv"
    sheet.write_text(
        "location,title,status,opened,notice_type,scope,channels,content,posted_at\n"
        "A01-02,2棟電梯停運保養通知,posted,2025-03-03,elevator_stop,A01-02,\"notice_board, elevator\","
        "3月5日9:00至11:00 2棟電梯停運保養。,2025-03-03T10:00:00+08:00\n"
        "A01,小區綠化帶消殺通知,posted,2025-04-07,pest_control,A01,owners_group,"
        "4月9日上午綠化帶消殺，請看管好寵物。,2025-04-07T09:00:00+08:00\n",
        encoding="utf-8")
    result = cli("import", "TZ", str(sheet), "--json")
    assert result.code == 0, result
    assert read_yaml(vault / "vault/A01/02/TZ/TZ-A01-02-0001.yaml")["channels"] == ["notice_board", "elevator"]
    assert read_yaml(vault / "vault/A01/TZ/TZ-A01-0001.yaml")["notice_type"] == "pest_control"
    assert cli("check", "--all").code == 0 and status(vault) == ""


@pytest.mark.parametrize(("category", "tree", "filed", "late"), [
    ("TZ", {"posted_at": "2025-07-08T16:00:00+08:00"}, "2025-07-11", None),  # filed when posted
    ("TZ", {"posted_at": "2025-07-08T16:00:00+08:00"}, "2025-07-12", 1),
    ("TZ", {"opened": "2025-07-08"}, "2026-01-01", None),  # a draft is not judged
    ("KF", {"period_end": "2025-09-30"}, "2025-10-15", None),  # the quarter's log by the 15th
    ("KF", {"period_end": "2025-09-30"}, "2025-10-16", 1),
    ("YX", {"period_end": "2025-09-30"}, "2025-10-20", 5),
    ("MY", {"period_end": "2025-11-15"}, "2025-12-15", None),
    ("PX", {"held_at": "2025-03-14T14:00:00+08:00"}, "2025-04-14", 1),
    ("BZ", {"effective": "2025-06-01"}, "2025-07-01", None),
])
def test_filing_deadlines(category: str, tree: dict[str, str], filed: str, late: int | None) -> None:
    rule = filing.deadlines({})[category]
    found = filing.lateness(rule, tree, dt.date.fromisoformat(filed), TZ)
    assert (found.days_late if found else None) == late


def _due(cli, as_of: str) -> dict[str, str]:
    result = cli("due", "--as-of", as_of, "--json")
    assert result.code == 0, result
    return {o["subject"]: o["field"] for o in json.loads(result.out)["obligations"]}


def test_due_lists_a_standards_review_and_an_archive_rooms_finding(vault: Path, cli) -> None:
    standard = new(cli, "BZ", None, fields("BZ-patrol-standard.yaml", supersedes=None))
    finding = new(cli, "KF", None, fields("KF-archive-room.yaml", status="rectifying", closed=None,
                                           rectified_at=None))
    plan = new(cli, "AQ", None, fields("AQ-archive-room-plan.yaml"))
    # the other four owe nothing: a notice, a survey, a log and a training have no marked date
    new(cli, "TZ", "A01-02-001", fields("TZ-water-outage.yaml"))
    new(cli, "MY", "A01", fields("MY-yearly-survey.yaml"))
    new(cli, "YX", "A01", fields("YX-water-pumps.yaml", equipment="SB-A01-0001"))
    new(cli, "PX", None, fields("PX-archive-training.yaml"))
    assert _due(cli, "2090-01-01") == {standard: "review_due", finding: "rectify_by", plan: "review_due"}
    # a review moves the date on; the finding is put right; the plan is superseded
    assert cli("set", standard, "review_due=2095-05-31").code == 0
    assert cli("set", finding, "status=closed", "rectified_at=2025-08-04", "closed=2025-09-30").code == 0
    assert cli("set", plan, "status=superseded", "closed=2089-12-31").code == 0
    assert _due(cli, "2090-01-01") == {}


def test_a_company_may_expect_a_monthly_log_per_archive_room(vault: Path, cli) -> None:
    """No default expects KF (docs/duties.md); the rule docs/duties.md shows works as written."""
    assert not [g for g in json.loads(cli("gaps", "--as-of", "2090-01-01", "--json").out)["gaps"]
                if g.get("category") == "KF"]
    config = (vault / "vault.yaml").read_text("utf-8")
    config += ("expected:\n  - {name: archive room log, every: P1M, category: KF, per: company, date: period_start,\n"
               "     where: {room: [總部檔案室]}, grace: P15D}\n")
    (vault / "vault.yaml").write_text(config, encoding="utf-8")
    git(vault, "commit", "-q", "-am", "expect the archive room's monthly log")
    # the company's periods begin with its first record; a log of another room does not count
    new(cli, "KF", None, fields("KF-archive-room.yaml", room="地下室檔案庫"))
    assert cli("check", "--all").code == 0
    gaps = json.loads(cli("gaps", "--as-of", "2090-01-01", "--json").out)["gaps"]
    assert [g["rule"] for g in gaps if g.get("category") == "KF"] == ["archive room log"]


def test_a_notices_scope_lies_within_where_it_is_filed(vault: Path, cli) -> None:
    """TZ `scope` is a part of the location the notice is filed at (DG103): a notice to the
    whole project filed in one building is refused by new and by check, and named."""
    refused = cli("new", "TZ", "A01-02", "--file", "-", input=dump(fields("TZ-water-outage.yaml", scope="A01")))
    assert refused.code == 2 and "DG103" not in refused.err and not list((vault / "vault").rglob("TZ-*.yaml"))
    assert "scope A01 is not within A01-02, where the notice is filed" in refused.err
    code = new(cli, "TZ", "A01", fields("TZ-water-outage.yaml", scope="A01-02"))  # a building of the project
    rel = f"vault/A01/TZ/{code}.yaml"
    tree = read_yaml(vault / rel)
    commit_by_hand(vault, rel, dump(dict(tree, scope="B01")), "scope by hand", verify=False)
    check = cli("check", rel)
    assert check.code == 1 and f"{rel}: DG103 scope B01 is not within A01" in check.out
