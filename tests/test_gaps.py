"""`dangan gaps` and `dangan receive` (issue 21): late filings, missing expected records and
paper originals not received, on a vault with back-dated history, judged as of days before
and after each deadline, in text and --json. Every run passes --as-of: nothing here
depends on today's date."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import git, run_cli
from test_stats import commit_files, dated, record

from dangan.formats.yamlio import dump, load_text
from dangan.git import gitio
from dangan.model import expected
from dangan.services import gaps

FW = "FW-A01-02-001-0301-0001"
YZ = "YZ-A01-02-001-0301-0001"
SB = "SB-A01-02-0001"
HT = "HT-A01-0001"
WX_LATE, WX_ON_TIME = "WX-A01-02-0001", "WX-A01-02-0002"

CONFIG = {
    "departments": [
        {"name": "工程部", "responsible": "李建國", "files": [{"category": "WX"}, {"category": "SB"}, {"category": "HJ"}]},
        {"name": "客服部", "responsible": "周敏", "files": [{"category": "YZ"}, {"category": "FW"}, {"category": "HT"}]},
    ],
    "filing": {"WX": {"within": "P7D", "after": "finished"}},
    "expected": [
        {"name": "owner file", "each": "FW", "where": {"status": ["occupied", "rented"]},
         "needs": {"category": "YZ", "status": ["active"]}},
        {"name": "elevator inspection", "each": "SB", "where": {"system": ["elevator"]},
         "needs": {"valid": "inspection_expires"}},
        {"name": "monthly HJ", "every": "P1M", "category": "HJ", "per": "project", "date": "period_start",
         "grace": "P5D"},
    ],
    "originals": {"within": "P10D", "categories": ["HT"]},
}


def repair(code: str, finished: str) -> tuple[str, str]:
    return record("WX-private-repair.yaml", code, opened=finished[:10], reported_at=finished,
                  assigned_at=finished, started=finished, finished=finished, status="closed", closed=finished[:10])


def environment(code: str, day: str) -> tuple[str, str]:
    return record("HJ-tank-cleaning.yaml", code, opened=day, closed=day, period_start=day, period_end=day,
                  water_test={"tested_on": day, "passed": True})


def setup_vault(root: Path, config: dict[str, Any]) -> None:
    assert run_cli(["init", str(root), "--name", "缺漏測試"], env=dated("2024-12-31T09:00:00+08:00")).code == 0
    if config:
        settings = load_text((root / "vault.yaml").read_text("utf-8"))
        settings.update(config)
        (root / "vault.yaml").write_text(dump(settings), "utf-8")
        commit_files(root, [], "2024-12-31T10:00:00+08:00", "duties")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gaps") / "vault"
    setup_vault(root, CONFIG)
    commit_files(root, [
        record("XM-residential.yaml", "XM-A01-0001", opened="2025-01-01", management_start="2025-01-01"),
        record("FW-room.yaml", FW, opened="2025-01-02", status="occupied"),
        record("SB-elevator.yaml", SB, opened="2025-01-02", inspection_date="2024-04-01",
               inspection_expires="2025-03-31"),
        record("HT-subcontract.yaml", HT, opened="2025-01-01", signed="2025-01-01", start="2025-01-01",
               client_contact=None, custody=None),  # no archive room yet: not shelved
        environment("HJ-A01-0001", "2025-01-10"),
    ], "2025-01-02T12:00:00+08:00", "takeover")
    # WX_LATE finished 1 February, deadline 8 February, filed 20 February; WX_ON_TIME within a week
    commit_files(root, [repair(WX_LATE, "2025-02-01T10:00:00+08:00"),
                        repair(WX_ON_TIME, "2025-02-18T10:00:00+08:00")], "2025-02-20T12:00:00+08:00", "repairs")
    commit_files(root, [record("YZ-clear-part-only.yaml", YZ, opened="2025-03-01")],
                 "2025-03-05T12:00:00+08:00", "owner file")
    commit_files(root, [environment("HJ-A01-0002", "2025-03-08")], "2025-03-10T12:00:00+08:00", "march")
    return root


def judge(root: Path, day: str, *more: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(["-C", str(root), "gaps", "--as-of", day, "--json", "--exit-code", *more])
    assert result.code in (0, 1), result
    doc = json.loads(result.out)
    assert result.code == (1 if doc["gaps"] else 0)  # --exit-code: 1 exactly when a gap is listed
    return result.code, doc


def kinds(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(g["kind"], g.get("code") or g["location"]) for g in doc["gaps"]}


def test_before_any_record_nothing_is_missing(history: Path) -> None:
    code, doc = judge(history, "2024-12-31")
    assert code == 0 and doc["gaps"] == [] and doc["counts"]["total"] == 0
    assert run_cli(["-C", str(history), "gaps", "--as-of", "2024-12-31"]).code == 0


def test_as_of_february(history: Path) -> None:
    _, doc = judge(history, "2025-02-10")
    by_kind = {g["kind"]: g for g in doc["gaps"]}
    # the occupied room has no owner file since it was opened
    owner = next(g for g in doc["gaps"] if g.get("rule") == "owner file")
    assert owner["code"] == FW and owner["since"] == "2025-01-02" and owner["missing_category"] == "YZ"
    assert owner["department"] == "客服部" and owner["responsible"] == "周敏"
    # the contract's original was due 10 days after filing (2 January)
    original = by_kind["original"]
    assert original["code"] == HT and original["filed"] == "2025-01-02" and original["due"] == "2025-01-12"
    assert original["since"] == "2025-01-13"
    # the late repair is not committed yet; the elevator's inspection is valid; February is
    # not judged until five days after it ends
    assert "late" not in by_kind
    assert not any(g.get("rule") in ("elevator inspection", "monthly HJ") for g in doc["gaps"])
    assert doc["counts"] == {"late": 0, "missing": 1, "original": 1, "total": 2}


def test_as_of_march(history: Path) -> None:
    _, doc = judge(history, "2025-03-06")
    late = [g for g in doc["gaps"] if g["kind"] == "late"]
    assert [g["code"] for g in late] == [WX_LATE]  # WX_ON_TIME was filed two days after it finished
    assert late[0] | {"what": ""} == late[0] | {
        "what": "", "filed": "2025-02-20", "deadline": "2025-02-08", "days_late": 12, "since": "2025-02-09",
        "business_field": "finished", "business_date": "2025-02-01", "department": "工程部", "responsible": "李建國"}
    # the owner file came on 5 March: met
    assert not any(g.get("rule") == "owner file" for g in doc["gaps"])
    # February has no HJ record, judged from 6 March (28 February + P5D)
    monthly = [g for g in doc["gaps"] if g.get("rule") == "monthly HJ"]
    assert [(g["since"], g["periods"], g["location"]) for g in monthly] == [("2025-02-01", 1, "A01")]
    _, before = judge(history, "2025-03-05")
    assert not any(g.get("rule") == "monthly HJ" for g in before["gaps"])


def test_as_of_april_the_inspection_has_passed(history: Path) -> None:
    _, doc = judge(history, "2025-04-02")
    inspection = [g for g in doc["gaps"] if g.get("rule") == "elevator inspection"]
    assert [(g["code"], g["since"], g["value"]) for g in inspection] == [(SB, "2025-04-01", "2025-03-31")]
    _, on_the_day = judge(history, "2025-03-31")  # valid through its last day
    assert not any(g.get("rule") == "elevator inspection" for g in on_the_day["gaps"])


def test_department_filter_and_breakdown(history: Path) -> None:
    _, doc = judge(history, "2025-04-02", "--department", "工程部")
    assert doc["department"] == "工程部"
    assert {g["department"] for g in doc["gaps"]} == {"工程部"}
    assert kinds(doc) >= {("late", WX_LATE), ("missing", SB)}
    assert [d["name"] for d in doc["departments"]] == ["工程部"]
    assert doc["departments"][0]["late"] == 1 and doc["departments"][0]["responsible"] == "李建國"
    bad = run_cli(["-C", str(history), "gaps", "--as-of", "2025-04-02", "--department", "財務部"])
    assert bad.code == 2 and "dangan: error:" in bad.err and "財務部" in bad.err and "工程部" in bad.err


def test_text_output(history: Path) -> None:
    result = run_cli(["-C", str(history), "gaps", "--as-of", "2025-03-06"])
    assert result.code == 0, result  # a report; --exit-code makes gaps an exit status 1
    lines = result.out.splitlines()
    assert lines[0].startswith("gaps as of 2025-03-06 (Asia/Shanghai)") and "1 late, 1 missing, 1 originals" in lines[0]
    assert "工程部 (responsible: 李建國):" in lines and "客服部 (responsible: 周敏):" in lines
    late = next(line for line in lines if line.lstrip().startswith("late"))
    assert WX_LATE in late and "since 2025-02-09" in late and "12 d after its deadline 2025-02-08" in late
    # in Chinese: the late filing and the original not received worded from their fields
    hans = run_cli(["-C", str(history), "--lang", "zh-Hans", "gaps", "--as-of", "2025-03-06"]).out
    assert f"{WX_LATE} 于 " in hans and "归档，超过归档期限 2025-02-08 12 天" in hans and "纸质原件未接收" in hans
    hant = run_cli(["-C", str(history), "--lang", "zh-Hant", "gaps", "--as-of", "2025-03-06"]).out
    assert "超過歸檔期限 2025-02-08 12 天" in hant and "紙質原件未接收" in hant
    assert "A01 缺少 2025-02-01 起一期（P1M）的 HJ 记录" in hans and "no HJ record" not in hans


def test_receive_then_the_original_is_no_longer_missing(history: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(history, root, symlinks=True)
    env = dated("2025-03-12T12:00:00+08:00")
    refused = run_cli(["-C", str(root), "receive", HT, "--from", "保安部", "--pages", "8", "--by", "張敏"], env=env)
    assert refused.code == 2 and "not a department" in refused.err
    head = git(root, "rev-parse", "HEAD")
    done = run_cli(["-C", str(root), "receive", HT, "--from", "客服部", "--pages", "8", "--by", "張敏",
                    "--at", "2025-03-12T10:00:00+08:00", "--json"], env=env)
    assert done.code == 0, done
    assert git(root, "rev-parse", "HEAD^") == head  # one commit, through the hooks
    tree = load_text((root / "vault" / "A01" / "HT" / f"{HT}.yaml").read_text("utf-8"))
    assert tree["received"] == {"from": "客服部", "pages": 8, "by": "張敏", "at": "2025-03-12T10:00:00+08:00"}
    again = run_cli(["-C", str(root), "receive", HT, "--from", "客服部", "--pages", "8", "--by", "張敏"], env=env)
    assert again.code == 2 and "already received" in again.err
    _, before = judge(root, "2025-03-11")
    _, after = judge(root, "2025-03-12")
    assert ("original", HT) in kinds(before) and ("original", HT) not in kinds(after)


def test_the_cache_of_first_commits_gives_the_same_answer(history: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(history, root, symlinks=True)
    cache = root / ".git" / "dangan" / "cache"
    _, later = judge(root, "2025-04-02")  # fills the caches from the newest commit
    # written by a forked child (store/forked.py), done by the time the command ends
    assert json.loads((cache / "filed.json").read_bytes())["filed"]
    assert json.loads((cache / "gaps-fields.json").read_bytes())["trees"]
    _, earlier = judge(root, "2025-03-06")  # answered from them
    shutil.rmtree(cache)
    _, fresh = judge(root, "2025-03-06")
    assert earlier == fresh and later != earlier


def _commit(root: Path, when: int, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> str:
    for path in add:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(f"{path} {when}\n", "utf-8")
        git(root, "add", path)
    for path in remove:
        git(root, "rm", "-q", path)
    stamp = f"@{when} +0800"
    env = {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    subprocess.run(["git", "commit", "-q", "--allow-empty", "--no-verify", "-m", str(when)], cwd=root, check=True,
                   env=dict(os.environ, **env))
    return git(root, "rev-parse", "HEAD").strip()


def test_first_commits_beside_the_kept_tip_go_back_to_their_common_ancestor(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An amended commit, a rebase, a reset to another branch: the map kept for the old tip
    is taken back to the common ancestor and brought forward, never read again from the
    whole history, and equals a full pass (times back-dated, paths deleted and added again)."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@example.com")
    _commit(root, 1_000, add=("vault/a.yaml", "vault/x.yaml"))
    _commit(root, 2_000, remove=("vault/x.yaml",))
    _commit(root, 3_000, add=("vault/b.yaml", "vault/y.yaml"))
    base = _commit(root, 3_500, remove=("vault/y.yaml",))
    # x and y again, in a commit dated before them: the kept map holds its time for both
    tip = _commit(root, 200, add=("vault/c.yaml", "vault/x.yaml", "vault/d.yaml", "vault/y.yaml"))
    asked: list[list[str]] = []
    log_adds = gaps._log_adds

    def spy(where: Path, spec: list[str], paths: tuple[str, ...] = ("vault/",)) -> dict[str, int]:
        asked.append([*spec, "--", *paths])
        return log_adds(where, spec, paths)

    def full(commit: str) -> dict[str, int]:
        return log_adds(root, [commit])

    assert gaps.first_commits(root, tip) == full(tip)
    monkeypatch.setattr(gaps, "_log_adds", spy)
    # the tip amended: c kept, d dropped, e added, and back-dated before everything
    git(root, "reset", "-q", "--hard", base)
    git(root, "checkout", "-q", tip, "--", "vault/c.yaml")
    amended = _commit(root, 500, add=("vault/e.yaml",))
    asked.clear()
    assert gaps.first_commits(root, amended) == full(amended)
    assert [amended, "--", "vault/"] not in asked and asked  # no pass over the whole history
    assert any(spec[0] == base and "vault/x.yaml" in spec for spec in asked)  # x: asked of base's history
    assert gaps.first_commits(root, amended)["vault/x.yaml"] == 1_000
    # another branch from the first commit: b, c, e go; the kept map is the amended one's
    first = git(root, "rev-list", "--max-parents=0", "HEAD").strip()
    git(root, "reset", "-q", "--hard", first)
    other = _commit(root, 7_000, add=("vault/f.yaml",))
    asked.clear()
    assert gaps.first_commits(root, other) == full(other) == {"vault/a.yaml": 1_000, "vault/x.yaml": 1_000,
                                                              "vault/f.yaml": 7_000}
    assert [spec for spec in asked if spec[:1] == [other]] == []
    # unrelated histories: a full pass
    git(root, "checkout", "-q", "--orphan", "alone")
    git(root, "rm", "-q", "-r", "--cached", ".")
    alone = _commit(root, 8_000, add=("vault/g.yaml",))
    assert gaps.first_commits(root, alone) == full(alone) == {"vault/g.yaml": 8_000}


def test_defaults_apply_without_settings(tmp_path: Path) -> None:
    root = tmp_path / "vault"
    setup_vault(root, {})
    commit_files(root, [record("FW-room.yaml", FW, opened="2025-01-02", status="occupied"),
                        # a repair finished in January, filed in March: late by the default P7D
                        repair(WX_LATE, "2025-01-05T10:00:00+08:00"),
                        # finished (and due) before the vault existed: a backlog entered from paper
                        repair(WX_ON_TIME, "2024-06-01T10:00:00+08:00")], "2025-03-01T12:00:00+08:00", "records")
    _, doc = judge(root, "2025-03-02")
    assert ("missing", FW) in kinds(doc) and ("late", WX_LATE) in kinds(doc)
    assert ("late", WX_ON_TIME) not in kinds(doc)
    assert {g["department"] for g in doc["gaps"]} == {"unassigned"}
    # `expected: []` and `filing: {WX: false}` turn them off
    settings = load_text((root / "vault.yaml").read_text("utf-8"))
    settings.update(filing={"WX": {"within": "P7D", "after": "finished", "since": "2024-01-01"}})
    (root / "vault.yaml").write_text(dump(settings), "utf-8")
    commit_files(root, [], "2025-03-02T10:00:00+08:00", "judge the backlog too")
    _, backlog = judge(root, "2025-03-02")
    assert ("late", WX_ON_TIME) in kinds(backlog)
    settings.update(expected=[], filing={"WX": False})
    (root / "vault.yaml").write_text(dump(settings), "utf-8")
    commit_files(root, [], "2025-03-02T12:00:00+08:00", "no duties")
    code, off = judge(root, "2025-03-02")
    assert code == 0 and off["gaps"] == []
    _, still = judge(root, "2025-03-01")  # a past day is judged by the settings then in force
    assert ("missing", FW) in kinds(still)


def test_periods_are_calendar_periods() -> None:
    import datetime as dt

    day = dt.date(2025, 5, 14)  # a Wednesday
    assert expected.period_start(day, "P1D") == day
    assert expected.period_start(day, "P1W") == dt.date(2025, 5, 12)
    assert expected.period_start(day, "P1M") == dt.date(2025, 5, 1)
    assert expected.period_start(day, "P3M") == dt.date(2025, 4, 1)
    assert expected.period_start(day, "P1Y") == dt.date(2025, 1, 1)


def test_unmet_periodic_rule_collapses_a_run() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from dangan.model.codes import parse_code

    rule = expected.rules({"expected": [{"every": "P1M", "category": "HJ", "per": "project", "date": "period_start"}]})
    items = [expected.Item(parse_code("XM-A01-0001"), {"status": "active", "management_start": "2025-01-01"}),
             expected.Item(parse_code("HJ-A01-0001"), {"period_start": "2025-02-03"})]
    found = expected.unmet(rule, items, dt.date(2025, 7, 1), ZoneInfo("Asia/Shanghai"))
    assert [(m.since.isoformat(), m.periods) for m in found] == [("2025-01-01", 1), ("2025-03-01", 4)]
    # periods before the vault's first day are not judged, unless the rule's `since` says so
    later = expected.unmet(rule, items, dt.date(2025, 7, 1), ZoneInfo("Asia/Shanghai"), dt.date(2025, 4, 15))
    assert [(m.since.isoformat(), m.periods) for m in later] == [("2025-05-01", 2)]
    ruled = expected.rules({"expected": [{"every": "P1M", "category": "HJ", "per": "project",
                                          "date": "period_start", "since": "2025-01-01"}]})
    again = expected.unmet(ruled, items, dt.date(2025, 7, 1), ZoneInfo("Asia/Shanghai"), dt.date(2025, 4, 15))
    assert [(m.since.isoformat(), m.periods) for m in again] == [("2025-01-01", 1), ("2025-03-01", 4)]
    assert gaps.FORMAT == "dangan gaps 1"


def test_unknown_categories_in_the_duty_settings_are_named() -> None:
    config = {"filing": {"WX": {"within": "P7D"}, "QQ": False},
              "expected": [{"each": "FW", "needs": {"category": "ZZ"}}, {"every": "P1M", "category": "HJ"}],
              "originals": {"categories": ["HT", "XX"]}}
    assert expected.problems(config, ["WX", "FW", "HJ", "HT"]) == [
        "filing: unknown category 'QQ'",
        "expected[0]: needs.category names unknown category 'ZZ'",
        "originals: unknown category 'XX'",
    ]
    assert expected.problems(CONFIG, ["WX", "SB", "HJ", "YZ", "FW", "HT"]) == []


def test_a_malformed_duty_setting_is_refused_by_the_hook(tmp_path: Path) -> None:
    import os
    import subprocess

    root = tmp_path / "vault"
    setup_vault(root, {})
    settings = load_text((root / "vault.yaml").read_text("utf-8"))
    settings["filing"] = {"WX": {"within": "7 days"}}
    settings["expected"] = [{"every": "monthly", "category": "HJ"}]
    (root / "vault.yaml").write_text(dump(settings), "utf-8")
    git(root, "add", "vault.yaml")
    proc = subprocess.run(["git", "commit", "-q", "-m", "bad duties"], cwd=root, capture_output=True, text=True,
                          env=dict(os.environ, **dated("2025-01-05T12:00:00+08:00")), check=False)
    assert proc.returncode == 1 and "DG114" in proc.stderr, proc.stderr
    assert "filing" in proc.stderr and "expected" in proc.stderr


def test_fast_codes_agree_with_path_to_code() -> None:
    from dangan.errors import CodeError
    from dangan.model.codes import path_to_code

    paths = ["vault/A01/02/001/0301/FW/FW-A01-02-001-0301-0001.yaml",
             "vault/A01/02/001/0301/FW/FW-A01-02-001-0301-00001.yaml",  # not the spelling of its code
             "vault/A01/FW/FW-A01-0001.yaml", "vault/JY/JY-0012.yaml", "vault/A01/02/WX/WX-A01-02-12345.yaml",
             "vault/A01/02/WX/WX-A01-03-0001.yaml", "vault/A01/FW/WX-A01-0001.yaml", "vault/a/WX/WX-a-0001.yaml"]

    def slow(path: str) -> str | None:
        try:
            return str(path_to_code(path))
        except CodeError:
            return None

    from dangan.formats.fields import codes_of_paths

    fast = [str(code) if code else None for code in codes_of_paths(paths)]
    assert fast == [slow(p) for p in paths]
    assert fast.count(None) == 4


def _on_a_terminal(root: Path, *args: str) -> tuple[int, str, str]:
    from conftest import on_a_terminal

    return on_a_terminal(root, *args)


@pytest.mark.parametrize("command", ["gaps", "due"])
def test_a_cold_run_counts_the_records_it_reads_on_a_terminal(history: Path, tmp_path: Path,
                                                             command: str) -> None:
    """Issue 24 part 4: a cold `gaps` or `due` (every record read from git: seconds on a large
    vault) counts the records it has read on one stderr line on a terminal, cleared at the
    end; a warm run reads none, and a pipe sees nothing."""
    import re

    root = tmp_path / "vault"
    shutil.copytree(history, root)
    shutil.rmtree(root / ".git" / "dangan" / "cache", ignore_errors=True)  # cold: nothing read before
    piped = run_cli(["-C", str(root), command, "--as-of", "2025-03-31"])
    assert piped.code == 0 and piped.err == "", piped
    shutil.rmtree(root / ".git" / "dangan" / "cache")
    code, out, shown = _on_a_terminal(root, command, "--as-of", "2025-03-31")
    assert code == 0 and out == piped.out
    assert re.search(rf"\r{command}: [0-9,]+ records read…", shown), shown
    assert shown.endswith("\r"), shown  # the line is cleared at the end
    code, out, shown = _on_a_terminal(root, command, "--as-of", "2025-03-31")
    assert code == 0 and out == piped.out and "records read" not in shown  # warm: the cache has them


def test_another_day_of_the_same_commit_is_judged_from_the_groundwork(history: Path, tmp_path: Path) -> None:
    """What the day does not change (late filings, originals and their due days, what the
    expected-record rules read) is kept per commit: another day of that commit is judged
    from it, a marker planted in it shows through, and it judges as a cold run does."""
    root = tmp_path / "copy"
    shutil.copytree(history, root, symlinks=True)
    shutil.rmtree(root / ".git" / "dangan" / "cache", ignore_errors=True)
    _, first = judge(root, "2025-04-02")  # the last commit, of 10 March
    grounds = list((root / ".git" / "dangan" / "cache" / "answers").glob(f"{gaps.GROUND}-*.json"))
    assert len(grounds) == 1
    shutil.copytree(root, tmp_path / "cold", symlinks=True)
    doc = json.loads(grounds[0].read_bytes())
    assert doc["answer"]["format"] == gaps.GROUND_FORMAT and doc["answer"]["late"]
    doc["answer"]["late"][0]["what"] = "planted in the groundwork"
    grounds[0].write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    _, planted = judge(root, "2025-04-03")
    assert "planted in the groundwork" in {g["what"] for g in planted["gaps"]}
    assert planted["commit"] == first["commit"]
    # an older commit: its groundwork followed back from the kept one (they share history),
    # the late filing of February unchanged between them
    _, other = judge(root, "2025-03-06")
    assert other["commit"] != first["commit"] and "planted in the groundwork" in {g["what"] for g in other["gaps"]}
    # judged from the groundwork, as a run without it judges (the days around each deadline;
    # first the older commit, followed back from the groundwork of 10 March)
    cold = tmp_path / "cold"
    for day in ("2025-03-06", "2025-04-03", "2025-04-10", "2025-05-06", "2026-01-01"):
        _, warm = judge(cold, day)
        shutil.rmtree(cold / ".git" / "dangan" / "cache")
        _, fresh = judge(cold, day)
        assert warm == fresh, day
    assert len(list((cold / ".git" / "dangan" / "cache" / "answers").glob(f"{gaps.GROUND}-*.json"))) == 1


def test_what_the_expected_rules_read_judges_every_day_alike() -> None:
    """expected.prepare reads the records once, whatever the day, in JSON's types; judge()
    gives of it what unmet() gives, on days before, at and after each date that matters."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from dangan.model.codes import parse_code

    rules = expected.rules(CONFIG)
    tz = ZoneInfo("Asia/Shanghai")
    items = [expected.Item(parse_code(code), tree) for code, tree in [
        ("XM-A01-0001", {"status": "active", "management_start": "2025-01-01"}),
        ("FW-A01-02-001-0301-0001", {"status": "occupied", "opened": "2025-01-02"}),
        ("FW-A01-02-001-0302-0001", {"status": "rented"}),  # no `opened`: judged from the day
        ("FW-A01-02-001-0303-0001", {"status": "occupied", "opened": "2025-02-01"}),
        ("YZ-A01-02-001-0303-0001", {"status": "closed", "opened": "2025-02-01", "closed": "2025-03-15"}),
        ("FW-A01-02-001-0304-0001", {"status": "vacant", "opened": "2025-01-02"}),  # not in `where`
        ("SB-A01-02-0001", {"system": "elevator", "opened": "2025-01-02", "inspection_expires": "2025-03-31"}),
        ("SB-A01-02-0002", {"system": "elevator", "opened": "2025-01-02"}),
        ("HJ-A01-0001", {"period_start": "2025-02-03"}),
    ]]
    ready = json.loads(json.dumps(expected.prepare(rules, items, tz)))
    for day in ("2025-01-01", "2025-01-02", "2025-02-01", "2025-03-05", "2025-03-16",
                "2025-03-31", "2025-04-01", "2025-04-06", "2025-07-01"):
        when = dt.date.fromisoformat(day)
        for start in (None, dt.date(2025, 1, 1)):
            assert expected.judge(rules, ready, when, start) == expected.unmet(rules, items, when, tz, start), day
    found = expected.judge(rules, ready, dt.date(2025, 4, 6))
    assert {m.subject for m in found if m.subject} == {
        "FW-A01-02-001-0301-0001", "FW-A01-02-001-0302-0001", "FW-A01-02-001-0303-0001",
        "SB-A01-02-0001", "SB-A01-02-0002"}


def test_a_new_commit_follows_the_groundwork_of_the_last(history: Path, tmp_path: Path) -> None:
    """Issue 26: the groundwork of a commit is followed from that of an earlier one along
    the files changed (a room let, a room added without its owner file, a new month's HJ,
    a late repair, an original due, a record deleted): a marker planted in the earlier one
    shows through, and every day is judged as a run without any cache judges it. A changed
    vault.yaml lays it again from every record."""
    import os
    import subprocess

    followed = tmp_path / "followed"
    shutil.copytree(history, followed, symlinks=True)
    shutil.rmtree(followed / ".git" / "dangan" / "cache", ignore_errors=True)
    judge(followed, "2025-04-02")  # lays the groundwork of the commit of 10 March
    planted = tmp_path / "planted"
    shutil.copytree(followed, planted, symlinks=True)
    grounds = list((planted / ".git" / "dangan" / "cache" / "answers").glob(f"{gaps.GROUND}-*.json"))
    doc = json.loads(grounds[0].read_bytes())
    assert [g["code"] for g in doc["answer"]["late"]] == [WX_LATE]  # unchanged below: followed as it is
    doc["answer"]["late"][0]["what"] = "planted in the groundwork"
    grounds[0].write_text(json.dumps(doc, ensure_ascii=False), "utf-8")

    def change(root: Path) -> None:
        commit_files(root, [
            record("FW-room.yaml", FW, opened="2025-01-02", status="rented"),
            record("FW-room.yaml", "FW-A01-02-001-0302-0001", opened="2025-04-01", status="occupied"),
            environment("HJ-A01-0003", "2025-04-08"),
            repair("WX-A01-02-0003", "2025-03-20T10:00:00+08:00"),
            record("HT-subcontract.yaml", "HT-A01-0002", opened="2025-04-01", signed="2025-04-01",
                   start="2025-04-01", client_contact=None, custody=None),
        ], "2025-04-12T12:00:00+08:00", "april")
        git(root, "rm", "-q", "vault/A01/HJ/HJ-A01-0002.yaml")
        subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "march's HJ taken out"], cwd=root,
                       env=dict(os.environ, **dated("2025-04-13T12:00:00+08:00")), check=True)

    for root in (followed, planted):
        change(root)
    _, shown = judge(planted, "2025-04-20")
    assert "planted in the groundwork" in {g["what"] for g in shown["gaps"]}  # followed, not laid again
    warm = judged_as_cold(followed, tmp_path / "cold", ("2025-04-14", "2025-04-23", "2025-05-16", "2025-06-01"))
    assert {("missing", "FW-A01-02-001-0302-0001"), ("late", "WX-A01-02-0003"),
            ("original", "HT-A01-0002")} <= kinds(warm)
    # another vault.yaml: laid again from every record, the marker gone
    settings = load_text((planted / "vault.yaml").read_text("utf-8"))
    settings["originals"]["within"] = "P11D"
    (planted / "vault.yaml").write_text(dump(settings), "utf-8")
    commit_files(planted, [], "2025-04-14T12:00:00+08:00", "originals within 11 days")
    _, shown = judge(planted, "2025-04-20")
    assert "planted in the groundwork" not in {g["what"] for g in shown["gaps"]}


def judged_as_cold(followed: Path, cold: Path, days: tuple[str, ...]) -> dict[str, Any]:
    """Each day judged in `followed` (its caches as they are) as in a copy without any
    cache; the last day's answer."""
    shutil.copytree(followed, cold, symlinks=True)
    for day in days:
        _, warm = judge(followed, day)
        shutil.rmtree(cold / ".git" / "dangan" / "cache", ignore_errors=True)
        _, fresh = judge(cold, day)
        assert warm == fresh, day
    return warm


def amend(root: Path, files: list[tuple[str, str]], when: str) -> None:
    """`git commit --amend` of HEAD with `files` added, dated `when` (through the hooks)."""
    for rel, text in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    git(root, "add", "-A")
    subprocess.run(["git", "commit", "-q", "--amend", "--no-edit", "--reset-author"], cwd=root, check=True,
                   env=dict(os.environ, **dated(when)))


def test_an_amended_commit_follows_the_groundwork_of_the_one_it_replaced(history: Path, tmp_path: Path) -> None:
    """A commit beside the one whose groundwork is kept (an amended commit, a rebase) is
    followed too: the files that differ, and every record added on either side since their
    common ancestor (March's HJ, amended two weeks later, is filed late now). A planted
    marker shows through; every day is judged as a run without any cache judges it."""
    followed = tmp_path / "followed"
    shutil.copytree(history, followed, symlinks=True)
    shutil.rmtree(followed / ".git" / "dangan" / "cache", ignore_errors=True)
    _, before = judge(followed, "2025-04-02")  # lays the groundwork of the commit of 10 March
    assert ("late", "HJ-A01-0002") not in kinds(before)
    replaced = git(followed, "rev-parse", "HEAD").strip()
    planted = tmp_path / "planted"
    shutil.copytree(followed, planted, symlinks=True)
    grounds = list((planted / ".git" / "dangan" / "cache" / "answers").glob(f"{gaps.GROUND}-*.json"))
    doc = json.loads(grounds[0].read_bytes())
    doc["answer"]["late"][0]["what"] = "planted in the groundwork"
    grounds[0].write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    for root in (followed, planted):
        amend(root, [repair("WX-A01-02-0003", "2025-03-01T10:00:00+08:00")], "2025-03-25T12:00:00+08:00")
    assert not gitio.is_ancestor(followed, replaced, git(followed, "rev-parse", "HEAD").strip())
    _, shown = judge(planted, "2025-04-20")
    assert "planted in the groundwork" in {g["what"] for g in shown["gaps"]}  # followed, not laid again
    warm = judged_as_cold(followed, tmp_path / "cold", ("2025-03-26", "2025-04-02", "2025-04-20", "2025-06-01"))
    assert {("late", "HJ-A01-0002"), ("late", "WX-A01-02-0003")} <= kinds(warm)


def test_the_expected_rules_follow_a_change_as_they_read_it_afresh() -> None:
    """expected.follow on prepare() of a tree, with the records changed, deleted and added
    since, judges every day as prepare() of the new tree does: rounds of seeded random
    changes to owner files, rooms, lifts, monthly records and projects."""
    import datetime as dt
    import random
    from zoneinfo import ZoneInfo

    from dangan.model.codes import parse_code

    rules = expected.rules(CONFIG)
    tz = ZoneInfo("Asia/Shanghai")
    rng = random.Random(26)

    def one(code: str) -> dict[str, Any]:
        category = code[:2]
        day = f"2025-{rng.randint(1, 6):02d}-{rng.randint(1, 28):02d}"
        if category == "FW":
            return {"status": rng.choice(["occupied", "rented", "vacant"]), "opened": day}
        if category == "YZ":
            return {"status": rng.choice(["active", "closed"]), "opened": day,
                    **({"closed": day} if rng.random() < 0.5 else {})}
        if category == "SB":
            return {"system": rng.choice(["elevator", "pump"]), "opened": day,
                    **({"inspection_expires": day} if rng.random() < 0.7 else {})}
        if category == "HJ":
            return {"period_start": day}
        return {"status": "active", "management_start": day,
                **({"management_end": f"2025-{rng.randint(7, 12):02d}-01"} if rng.random() < 0.3 else {})}

    codes = ([f"FW-A0{p}-02-001-030{r}-0001" for p in (1, 2) for r in range(1, 6)]
             + [f"YZ-A0{p}-02-001-030{r}-0001" for p in (1, 2) for r in range(1, 6)]
             + [f"SB-A0{p}-02-000{n}" for p in (1, 2) for n in range(1, 4)]
             + [f"HJ-A0{p}-000{n}" for p in (1, 2) for n in range(1, 9)] + ["XM-A01-0001", "XM-A02-0001"])
    trees = {code: one(code) for code in codes if rng.random() < 0.7}
    for _ in range(30):
        ready = json.loads(json.dumps(expected.prepare(rules, [expected.Item(parse_code(c), t) for c, t in trees.items()], tz)))
        now = dict(trees)
        for code in rng.sample(codes, 4):
            if code in now and rng.random() < 0.3:
                del now[code]
            else:
                now[code] = one(code)
        touched = [c for c in codes if trees.get(c) != now.get(c)]
        before = [expected.Item(parse_code(c), trees[c]) for c in touched if c in trees]
        after = [expected.Item(parse_code(c), now[c]) for c in touched if c in now]
        around = expected.around(rules, [parse_code(c) for c in touched])
        near = [expected.Item(code, t) for c, t in now.items()
                if ((code := parse_code(c)).location, code.category) in around]
        got = expected.follow(rules, ready, before, after, near, tz)
        assert got is not None
        got = json.loads(json.dumps(got))
        fresh = expected.prepare(rules, [expected.Item(parse_code(c), t) for c, t in now.items()], tz)
        for day in ("2025-02-01", "2025-04-06", "2025-07-20", "2026-01-10"):
            when = dt.date.fromisoformat(day)
            assert (sorted(map(repr, expected.judge(rules, got, when, dt.date(2025, 1, 1))))
                    == sorted(map(repr, expected.judge(rules, fresh, when, dt.date(2025, 1, 1))))), day
        trees = now
    company = [*rules, expected.Rule("company HJ", "every", "HJ", every="P1M", per="company")]
    assert expected.follow(company, expected.prepare(company, [], tz), [], [], [], tz) is None
