"""Retention and destruction end to end (docs/retention.md, docs/cli.md).

One vault with back-dated records is built per module: HJ (P2Y after closed), XJ (P1M
after `finished_at`, a timestamp: the vault's timezone decides its day), CW (P10Y, review),
FW (permanent). Tests that change it work on a copy. Every change is a real commit through
the vault's hooks; refusals leave HEAD, the index and the work tree as they were.
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
from conftest import REPO, Result, git, run_cli, snapshot
from hypothesis import given
from hypothesis import strategies as st

from dangan.formats.agekeys import generate_identity
from dangan.formats.yamlio import dump, load_text
from dangan.model.disposal import add_duration

VALID = REPO / "tests" / "schema_examples" / "valid"
APPROVER, ARCHIVIST = "陳立新", "張敏"
WITNESSES = ("--witness", "錢芳", "--witness", "孫麗")


def dg(root: Path, *args: str) -> Result:
    return run_cli(["-C", str(root), *args])


def example(name: str, **changes: Any) -> dict[str, Any]:
    tree = load_text((VALID / name).read_text("utf-8"))
    for key in ("refs", "retention"):
        tree.pop(key, None)
    tree.update(changes)
    return tree


def hj(serial: int, closed: str | None, **changes: Any) -> dict[str, Any]:
    tree = example("HJ-tank-cleaning.yaml", code=f"HJ-A01-{serial:04d}", title=f"水箱清洗 {serial}", **changes)
    if closed is None:
        tree.pop("closed")
    else:
        tree["closed"] = closed
    return tree


def xj(code: str, finished_at: str) -> dict[str, Any]:
    return example("XJ-fire-inspection.yaml", code=code, title=f"巡檢 {code}",
                   started_at="2024-01-01T09:00:00+08:00", finished_at=finished_at)


def path_of(code: str) -> str:
    parts = code.split("-")
    return "/".join(["vault", *parts[1:-1], parts[0], f"{code}.yaml"])


def commit_files(root: Path, message: str, files: dict[str, dict[str, Any] | None], date: str | None = None,
                 verify: bool = True) -> subprocess.CompletedProcess[str]:
    """Write (or `git rm`) files and commit them through the hooks, optionally back-dated."""
    for rel, tree in files.items():
        if tree is None:
            git(root, "rm", "-q", "--", rel)
            continue
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump(tree), encoding="utf-8")
        git(root, "add", "--", rel)
    env = None
    if date:
        env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    args = ["git", "commit", "-q", "-m", message] + ([] if verify else ["--no-verify"])
    return subprocess.run(args, cwd=root, capture_output=True, text=True, env=env, check=False)


RECORDS: dict[str, tuple[str, dict[str, Any]]] = {  # code -> (commit date, tree)
    "CW-A01-0001": ("2016-03-01T10:00:00+08:00",
                    example("CW-annual.yaml", code="CW-A01-0001", status="audited", closed="2016-02-29")),
    "HJ-A01-0001": ("2022-04-01T10:00:00+08:00", hj(1, "2022-03-25")),
    "HJ-A01-0002": ("2022-04-01T10:00:00+08:00", hj(2, "2022-02-28")),
    "HJ-A01-0003": ("2022-04-01T10:00:00+08:00", hj(3, "2020-02-29")),
    "HJ-A01-0004": ("2022-04-01T10:00:00+08:00", hj(4, None, status="in_progress")),
    "HJ-A01-0005": ("2022-04-01T10:00:00+08:00",
                    hj(5, "2022-03-25", retention={"until": "2030-01-01", "reason": "審計抽查"})),
    # 17:30 UTC on 31 January is 1 February in Asia/Shanghai: due 1 March, not 29 February
    "XJ-A01-0001": ("2024-04-01T10:00:00+08:00", xj("XJ-A01-0001", "2024-01-31T17:30:00Z")),
    "XJ-A01-0002": ("2024-04-01T10:00:00+08:00", xj("XJ-A01-0002", "2024-01-31T08:00:00+08:00")),
    "XJ-A01-02-0001": ("2024-04-01T10:00:00+08:00", xj("XJ-A01-02-0001", "2024-03-31T10:00:00+08:00")),
    "FW-A01-01-002-1802-0001": ("2024-04-01T10:00:00+08:00", example("FW-room.yaml")),
}


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The back-dated vault: roles split between an approver and an archivist."""
    root = tmp_path_factory.mktemp("retention") / "vault"
    keys = [generate_identity()[1] for _ in range(2)]
    made = run_cli(["init", str(root), "--recipient", f"{APPROVER}={keys[0]}", "--recipient", f"{ARCHIVIST}={keys[1]}"])
    assert made.code == 0, made
    config = load_text((root / "vault.yaml").read_text("utf-8"))
    config["recipients"][0]["roles"] = ["approver"]
    config["recipients"][1]["roles"] = ["archivist"]
    config["retention"]["XJ"] = {"keep": "P1M", "after": "finished_at", "action": "destroy"}
    (root / "vault.yaml").write_text(dump(config), encoding="utf-8")
    git(root, "add", "vault.yaml")
    by_date: dict[str, dict[str, Any]] = {}
    for code, (date, tree) in RECORDS.items():
        by_date.setdefault(date, {})[path_of(code)] = tree
    first = True
    for date, files in sorted(by_date.items()):
        proc = commit_files(root, "records" + (" and roles" if first else ""), files, date)
        assert proc.returncode == 0, proc.stderr
        first = False
    return root


@pytest.fixture
def v(dated: Path, tmp_path: Path) -> Path:
    """A copy of the back-dated vault that a test may change."""
    target = tmp_path / "vault"
    shutil.copytree(dated, target, symlinks=True)
    return target


def plan(root: Path, as_of: str, *extra: str) -> dict[str, Any]:
    result = dg(root, "retention", "plan", "--as-of", as_of, "--json", *extra)
    assert result.code == 0, result
    return json.loads(result.out)


def due_codes(root: Path, as_of: str, *extra: str) -> list[str]:
    return [item["code"] for item in plan(root, as_of, *extra)["due"]]


def approve(root: Path, plan_file: Path, by: str = APPROVER) -> Result:
    return dg(root, "retention", "approve", str(plan_file), "--by", by)


def apply(root: Path, plan_file: Path, *extra: str, approver: str = APPROVER,
          witnesses: tuple[str, ...] = WITNESSES, by: str = ARCHIVIST) -> Result:
    """The approver approves the plan (`retention approve`), then the archivist applies it.
    A refused approval is the answer; when the apply is refused, the approval commit (which
    changes no file) is dropped again, so that the test sees the vault as it was."""
    head = git(root, "rev-parse", "HEAD").strip()
    approved = approve(root, plan_file, approver)
    if approved.code != 0:
        return approved
    done = dg(root, "retention", "apply", str(plan_file), *witnesses,
              "--method", "碎紙機粉碎", "--place", "總部檔案室", "--by", by, *extra)
    if done.code != 0:
        git(root, "reset", "-q", "--soft", head)
    return done


def appraise(root: Path, plan_file: Path, at: str) -> Result:
    """The appraisers record the plan's decisions (JD; test_appraisal.py)."""
    return dg(root, "retention", "appraise", str(plan_file), "--appraiser", ARCHIVIST, "--appraiser", "王建國",
              "--opinion", "已過保管期限，無保存價值", "--at", at)


def write_plan(root: Path, tmp_path: Path, as_of: str, *extra: str) -> Path:
    out = tmp_path / f"plan-{as_of[:10]}.yaml"
    made = dg(root, "retention", "plan", "--as-of", as_of, "--out", str(out), *extra)
    assert made.code == 0, made
    return out


def findings(stderr: str) -> set[tuple[str, str]]:
    found = set()
    for line in stderr.splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].startswith("DG"):
            found.add((parts[0][:-1], parts[1]))
    return found


# ------------------------------------------------------------------ date arithmetic

@pytest.mark.parametrize("start, keep, due", [
    ("2016-02-29", "P10Y", "2026-02-28"),  # no 29 February in 2026: the month's last day
    ("2016-02-29", "P8Y", "2024-02-29"),  # a leap year again: the same day
    ("2020-02-29", "P1Y", "2021-02-28"),
    ("2024-01-31", "P1M", "2024-02-29"),
    ("2023-01-31", "P1M", "2023-02-28"),
    ("2024-03-31", "P1M", "2024-04-30"),
    ("2024-08-31", "P6M", "2025-02-28"),
    ("2024-12-31", "P1Y2M", "2026-02-28"),
    ("2024-01-31", "P1M1D", "2024-03-01"),  # months first, then days
    ("2024-02-28", "P2W", "2024-03-13"),
    ("2024-02-28", "P1D", "2024-02-29"),
    ("2023-12-31", "P30Y", "2053-12-31"),
    ("2024-05-10", "P0D", "2024-05-10"),
    ("9000-01-01", "P2000Y", "9999-12-31"),  # beyond the calendar: never due
])
def test_due_date_arithmetic(start: str, keep: str, due: str) -> None:
    assert add_duration(dt.date.fromisoformat(start), keep).isoformat() == due


@given(st.dates(max_value=dt.date(8000, 12, 31)), st.integers(0, 100), st.integers(0, 40))
def test_due_date_is_the_same_day_or_the_month_end(start: dt.date, years: int, months: int) -> None:
    due = add_duration(start, f"P{years}Y{months}M")
    assert (due.year * 12 + due.month) - (start.year * 12 + start.month) == years * 12 + months
    nxt = due + dt.timedelta(days=1)
    assert due.day == start.day or (due.day < start.day and nxt.month != due.month)


# ------------------------------------------------------------------------ schedule

STANDARD = {  # docs/categories.md, retention column (PD: docs/decisions.md)
    **{c: {"keep": "permanent"} for c in ("QY", "XM", "LD", "FW", "XH", "BQ", "JD", "YJ")},
    "YZ": ("P10Y", "review"), "ZH": ("P5Y", "destroy"), "ZX": ("P10Y", "review"), "HT": ("P10Y", "review"),
    "TS": ("P3Y", "destroy"), "SB": ("P8Y", "destroy"), "WX": ("P5Y", "destroy"), "XJ": ("P3Y", "destroy"),
    "HJ": ("P2Y", "destroy"), "AQ": ("P10Y", "review"), "SF": ("P30Y", "review"), "CW": ("P10Y", "review"),
    "JY": ("P10Y", "destroy"), "PD": ("P10Y", "destroy"),
    # issue 23 (docs/retention.md §1, docs/decisions.md)
    "TZ": ("P5Y", "review"), "MY": ("P5Y", "destroy"), "YX": ("P3Y", "destroy"), "BZ": ("P10Y", "review"),
    "KF": ("P3Y", "destroy"), "PX": ("P10Y", "destroy"),
}


def test_init_writes_the_standard_schedule(cli) -> None:
    result = cli("retention", "schedule", "--json")
    assert result.code == 0, result
    rows = {row.pop("category"): row for row in json.loads(result.out)}
    assert set(rows) == set(STANDARD)
    for category, want in STANDARD.items():
        row = rows[category]
        assert row.pop("source") == "vault.yaml" and row.pop("name")
        expected = want if isinstance(want, dict) else {"keep": want[0], "after": "closed", "action": want[1]}
        assert row == expected, category
    text = cli("retention", "schedule")
    assert text.code == 0 and "HJ  環境綠化\tP2Y after closed, then destroy" in text.out


def test_a_category_without_a_rule_is_kept_permanently(vault: Path, cli) -> None:
    config = load_text((vault / "vault.yaml").read_text("utf-8"))
    del config["retention"]["HJ"]
    (vault / "vault.yaml").write_text(dump(config), encoding="utf-8")
    rows = {r["category"]: r for r in json.loads(cli("retention", "schedule", "--json").out)}
    assert rows["HJ"]["keep"] == "permanent" and rows["HJ"]["source"] == "none"


def test_an_invalid_rule_is_dg114(vault: Path, cli) -> None:
    config = load_text((vault / "vault.yaml").read_text("utf-8"))
    config["retention"]["HJ"] = {"keep": "2 years", "after": "closed"}
    config["retention"]["WX"] = {"keep": "P5Y", "action": "shred"}
    (vault / "vault.yaml").write_text(dump(config), encoding="utf-8")
    result = cli("check", "--all")
    assert result.code == 1
    assert "/retention/HJ" in result.out + result.err and "/retention/WX" in result.out + result.err
    assert ("vault.yaml", "DG114") in findings(result.out + result.err)
    rows = {r["category"]: r for r in json.loads(cli("retention", "schedule", "--json").out)}
    assert rows["HJ"]["keep"] == "permanent"  # never destroy on a rule nobody can read


# ---------------------------------------------------------------------------- plan

PLAN_AS_OF = [
    ("2022-02-27", []),
    ("2022-02-28", ["HJ-A01-0003"]),  # 2020-02-29 + P2Y
    ("2024-02-27", ["HJ-A01-0003"]),
    ("2024-02-28", ["HJ-A01-0002", "HJ-A01-0003"]),
    ("2024-02-29", ["HJ-A01-0002", "HJ-A01-0003", "XJ-A01-0002"]),  # 31 Jan + P1M in a leap year
    ("2024-02-29T15:59:59Z", ["HJ-A01-0002", "HJ-A01-0003", "XJ-A01-0002"]),  # 23:59:59 in Shanghai
    ("2024-02-29T16:00:00Z", ["HJ-A01-0002", "HJ-A01-0003", "XJ-A01-0001", "XJ-A01-0002"]),  # 1 March there
    ("2024-03-24", ["HJ-A01-0002", "HJ-A01-0003", "XJ-A01-0001", "XJ-A01-0002"]),
    ("2024-03-25", ["HJ-A01-0001", "HJ-A01-0002", "HJ-A01-0003", "XJ-A01-0001", "XJ-A01-0002"]),
    ("2024-04-29", ["HJ-A01-0001", "HJ-A01-0002", "HJ-A01-0003", "XJ-A01-0001", "XJ-A01-0002"]),
    ("2024-04-30", ["HJ-A01-0001", "HJ-A01-0002", "HJ-A01-0003", "XJ-A01-0001", "XJ-A01-0002", "XJ-A01-02-0001"]),
    ("2026-02-27", ["HJ-A01-0001", "HJ-A01-0002", "HJ-A01-0003", "XJ-A01-0001", "XJ-A01-0002", "XJ-A01-02-0001"]),
    ("2026-02-28", ["CW-A01-0001", "HJ-A01-0001", "HJ-A01-0002", "HJ-A01-0003", "XJ-A01-0001", "XJ-A01-0002",
                    "XJ-A01-02-0001"]),  # 2016-02-29 + P10Y
]


@pytest.mark.parametrize("as_of, expected", PLAN_AS_OF, ids=[p[0] for p in PLAN_AS_OF])
def test_plan_lists_exactly_the_records_due(dated: Path, as_of: str, expected: list[str]) -> None:
    assert due_codes(dated, as_of) == expected


def test_plan_entries_and_reasons(dated: Path) -> None:
    document = plan(dated, "2026-02-28")
    by_code = {item["code"]: item for item in document["due"]}
    assert by_code["XJ-A01-0001"] == {
        "code": "XJ-A01-0001", "category": "XJ", "title": "巡檢 XJ-A01-0001",
        "rule": {"keep": "P1M", "after": "finished_at", "action": "destroy"},
        "trigger": "2024-02-01", "due": "2024-03-01",
        "blob": git(dated, "rev-parse", f"HEAD:{path_of('XJ-A01-0001')}").strip(),
        "decision": "destroy",
    }
    assert by_code["CW-A01-0001"]["decision"] == "review"  # a person decides
    kept = {item["code"]: item for item in document["not_due"]}
    assert kept["HJ-A01-0004"]["reasons"] == ["no trigger date"]
    assert kept["HJ-A01-0005"]["reasons"] == ["override"] and kept["HJ-A01-0005"]["until"] == "2030-01-01"
    assert kept["FW-A01-01-002-1802-0001"]["reasons"] == ["permanent"]
    assert document["later"] == 0 and document["as_of"] == "2026-02-28"
    assert document["commit"] == git(dated, "rev-parse", "HEAD").strip()
    assert due_codes(dated, "2030-01-01", "--category", "HJ") == [f"HJ-A01-000{i}" for i in (1, 2, 3, 5)]
    assert plan(dated, "2024-03-01", "--category", "HJ")["later"] == 2  # HJ-A01-0001 and -0005


def test_plan_as_text_and_bad_input(dated: Path) -> None:
    text = dg(dated, "retention", "plan", "--as-of", "2024-03-25")
    assert text.code == 0, text
    assert "5 due" in text.out and "HJ-A01-0005\toverride\tuntil 2030-01-01" in text.out
    hans = dg(dated, "--lang", "zh-Hans", "retention", "plan", "--as-of", "2024-03-25").out
    assert "到期 5 份" in hans and "HJ-A01-0005\t延长保管\tuntil 2030-01-01" in hans and "\t销毁\t" in hans
    for args in (["--as-of", "2024-02-30"], ["--as-of", "yesterday"], ["--category", "ZZ"],
                 ["--out", str(dated / "vault" / "plan.yaml")]):
        bad = dg(dated, "retention", "plan", *args)
        assert bad.code == 2 and bad.err.startswith("dangan: error: "), (args, bad)
        assert "Traceback" not in bad.err
    assert not (dated / "vault" / "plan.yaml").exists()


DUE_2024_03_25 = ["HJ-A01-0001", "HJ-A01-0002", "HJ-A01-0003", "XJ-A01-0001", "XJ-A01-0002"]


@pytest.mark.parametrize("target, kept", [
    ("HJ-A01-0002", {"HJ-A01-0002"}),  # by code
    ("A01-02", set()),  # by location prefix: XJ-A01-02-0001 is not due yet on 2024-03-25...
    ("XJ", {"XJ-A01-0001", "XJ-A01-0002"}),  # by category
    ("A01", set(DUE_2024_03_25)),  # a project prefix holds everything under it
])
def test_holds_keep_records_out(v: Path, target: str, kept: set[str]) -> None:
    held = dg(v, "retention", "hold", target, "--reason", "業主訴訟，證據保全", "--by", APPROVER,
              "--case", "(2024)蘇0506民初1號", "--at", "2024-03-01T09:00:00+08:00")
    assert held.code == 0 and held.out == "BQ-0001\n", held
    assert git(v, "log", "-1", "--format=%s").startswith("dangan retention hold: BQ-0001")
    document = plan(v, "2024-03-25")
    assert [i["code"] for i in document["due"]] == [c for c in DUE_2024_03_25 if c not in kept]
    reasons = {i["code"]: i for i in document["not_due"] if "held" in i["reasons"]}
    assert set(reasons) & set(DUE_2024_03_25) == kept and all(r["holds"] == ["BQ-0001"] for r in reasons.values())
    if target == "A01":  # several reasons at once: extended and held
        assert reasons["HJ-A01-0005"]["reasons"] == ["override", "held"]
    if target == "A01-02":  # ...but it is held, and stays out once due
        assert "XJ-A01-02-0001" not in due_codes(v, "2024-05-01")
        assert "XJ-A01-0001" in due_codes(v, "2024-05-01")

    released = dg(v, "retention", "release", "BQ-0001", "--reason", "已結案", "--by", APPROVER)
    assert released.code == 0, released
    assert due_codes(v, "2024-03-25") == DUE_2024_03_25
    hold = load_text((v / "vault/BQ/BQ-0001.yaml").read_text("utf-8"))
    assert hold["status"] == "released" and [e["action"] for e in hold["events"]] == ["hold", "release"]
    again = dg(v, "retention", "release", "BQ-0001", "--reason", "再次", "--by", APPROVER)
    assert again.code == 1 and "already released" in again.err


def test_hold_bad_targets(v: Path) -> None:
    before = snapshot(v)
    for target in ("HJ-A01-0099", "ZZ", "A01-1", "hj-a01-0001", "A01/02"):
        result = dg(v, "retention", "hold", target, "--reason", "x", "--by", APPROVER)
        assert result.code == 2 and "Traceback" not in result.err, (target, result)
    bad_release = dg(v, "retention", "release", "HJ-A01-0001", "--reason", "x", "--by", APPROVER)
    assert bad_release.code == 2
    assert snapshot(v) == before


def loan(code: str, records: list[str], *, returned: bool = False) -> dict[str, Any]:
    tree = example("JY-loan-out.yaml", code=code, records=records, form="copy", opened="2024-03-04")
    tree["events"] = [
        {"at": "2024-03-04T09:00:00+08:00", "action": "request", "by": "趙偉", "days": 7},
        {"at": "2024-03-04T09:30:00+08:00", "action": "approve", "by": APPROVER},
        {"at": "2024-03-04T09:45:00+08:00", "action": "checkout", "by": ARCHIVIST, "days": 7, "due": "2024-03-11"},
    ]
    if returned:
        tree["events"].append({"at": "2024-03-08T16:00:00+08:00", "action": "return", "by": ARCHIVIST,
                               "condition": "intact"})
        tree["status"] = "closed"
        tree["closed"] = "2024-03-08"
    return tree


def test_a_loaned_record_is_kept_out(v: Path, tmp_path: Path) -> None:
    stale = write_plan(v, tmp_path, "2024-03-25", "--category", "HJ")  # made before the loan
    proc = commit_files(v, "loan", {"vault/JY/JY-0001.yaml": loan("JY-0001", ["HJ-A01-0001"])})
    assert proc.returncode == 0, proc.stderr
    document = plan(v, "2024-03-25")
    assert "HJ-A01-0001" not in [i["code"] for i in document["due"]]
    kept = {i["code"]: i for i in document["not_due"]}
    assert kept["HJ-A01-0001"]["reasons"] == ["on loan"] and kept["HJ-A01-0001"]["loans"] == ["JY-0001"]

    before = snapshot(v)
    refused = apply(v, stale, "--at", "2024-03-26T10:00:00+08:00")
    assert refused.code == 1 and "HJ-A01-0001 is on loan (JY-0001)" in refused.err, refused
    assert snapshot(v) == before

    proc = commit_files(v, "returned", {"vault/JY/JY-0001.yaml": loan("JY-0001", ["HJ-A01-0001"], returned=True)})
    assert proc.returncode == 0, proc.stderr
    assert "HJ-A01-0001" in due_codes(v, "2024-03-25")


def test_extend_keeps_a_record_longer(v: Path) -> None:
    result = dg(v, "retention", "extend", "HJ-A01-0001", "--until", "2031-06-30", "--reason", "保險理賠未結")
    assert result.code == 0, result
    assert git(v, "log", "-1", "--format=%s").strip() == "dangan retention extend: HJ-A01-0001 until 2031-06-30"
    kept = {i["code"]: i for i in plan(v, "2025-01-01")["not_due"]}
    assert kept["HJ-A01-0001"]["reasons"] == ["override"] and kept["HJ-A01-0001"]["until"] == "2031-06-30"
    assert "HJ-A01-0001" in due_codes(v, "2031-06-30")
    before = snapshot(v)
    shorter = dg(v, "retention", "extend", "HJ-A01-0001", "--until", "2030-01-01", "--reason", "x")
    assert shorter.code == 1 and "never shortens" in shorter.err
    missing = dg(v, "retention", "extend", "HJ-A01-0099", "--until", "2031-01-01", "--reason", "x")
    assert missing.code == 2
    assert snapshot(v) == before


# --------------------------------------------------------------------------- apply

def test_apply_destroys_in_one_commit_and_serials_are_never_reused(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2024-05-01", "--category", "XJ")
    parent = git(v, "rev-parse", "HEAD").strip()
    listed = ["XJ-A01-0001", "XJ-A01-0002", "XJ-A01-02-0001"]
    blobs = {c: git(v, "rev-parse", f"HEAD:{path_of(c)}").strip() for c in listed}

    result = apply(v, plan_file, "--at", "2024-05-06T15:00:00+08:00", "--json")

    assert result.code == 0, result
    out = json.loads(result.out)
    assert out["code"] == "XH-0001" and out["certificates"] == ["XH-0001"] and out["destroyed"] == listed
    # the approver's commit (it changes no file), then the destruction: one commit
    approval = git(v, "rev-parse", "HEAD~1").strip()
    assert git(v, "rev-parse", "HEAD~2").strip() == parent
    assert git(v, "show", "--name-only", "--format=", approval).strip() == ""
    message = git(v, "log", "-1", "--format=%B", approval)
    assert message.startswith("dangan retention approve: 3 record(s) as of 2024-05-01\n")
    assert all(f"{c} {blobs[c]}" in message for c in listed) and "Dangan-By: 陳立新" in message
    assert git(v, "log", "-1", "--format=%s").strip() == "dangan retention apply: XH-0001 (3 record(s) destroyed)"
    changed = git(v, "show", "--name-status", "--format=", "HEAD").split("\n")
    assert sorted(line for line in changed if line) == sorted(
        ["A\tvault/XH/XH-0001.yaml"] + [f"D\t{path_of(c)}" for c in listed])
    assert git(v, "status", "--porcelain") == ""
    certificate = load_text((v / "vault/XH/XH-0001.yaml").read_text("utf-8"))
    assert certificate["approved_by"] == APPROVER and certificate["witnesses"] == ["錢芳", "孫麗"]
    assert certificate["approval"] == approval
    assert certificate["carried_out_by"] == ARCHIVIST and certificate["method"] == "碎紙機粉碎"
    assert certificate["destroyed_at"] == "2024-05-06T15:00:00+08:00" and certificate["plan_as_of"] == "2024-05-01"
    assert [i["code"] for i in certificate["items"]] == listed
    first = certificate["items"][0]
    assert first == {"code": "XJ-A01-0001", "category": "XJ", "title": "巡檢 XJ-A01-0001",
                     "rule": {"keep": "P1M", "after": "finished_at", "action": "destroy"},
                     "trigger": "2024-02-01", "due": "2024-03-01", "blob": blobs["XJ-A01-0001"]}
    assert {i["code"]: i["blob"] for i in certificate["items"]} == blobs
    check = dg(v, "check", "--all")
    assert check.code == 0, check
    assert dg(v, "check", "--range", "HEAD~1..HEAD").code == 0

    # destroyed codes are never reused: the next serials continue after them
    fields = {k: val for k, val in xj("XJ-A01-0001", "2024-06-01T10:00:00+08:00").items() if k not in ("code", "category")}
    new_file = tmp_path / "xj.yaml"
    new_file.write_text(dump(fields), encoding="utf-8")
    assert dg(v, "new", "XJ", "A01", "--file", str(new_file)).out == "XJ-A01-0003\n"
    assert dg(v, "new", "XJ", "A01-02", "--file", str(new_file)).out == "XJ-A01-02-0002\n"
    # and the plan now shows the certificate as a permanent record
    kept = {i["code"]: i["reasons"] for i in plan(v, "2030-01-01")["not_due"]}
    assert kept["XH-0001"] == ["permanent"]


def test_apply_refuses_a_stale_plan(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2024-03-25", "--category", "HJ")
    changed = dg(v, "set", "HJ-A01-0002", "notes=補記：水箱編號2")
    assert changed.code == 0, changed
    before = snapshot(v)
    result = apply(v, plan_file, "--at", "2024-03-26T10:00:00+08:00")
    assert result.code == 1, result
    assert "stale" in result.err and "HJ-A01-0002 changed since the plan was made" in result.err
    assert snapshot(v) == before


def test_apply_refuses_a_record_held_after_the_plan(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2024-03-25", "--category", "HJ")
    assert dg(v, "retention", "hold", "HJ", "--reason", "稽查", "--by", APPROVER).code == 0
    before = snapshot(v)
    result = apply(v, plan_file, "--at", "2024-03-26T10:00:00+08:00")
    assert result.code == 1 and "is held by BQ-0001" in result.err, result
    assert snapshot(v) == before


def test_apply_refuses_uncommitted_changes_and_a_future_plan(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2024-03-25", "--category", "HJ")
    target = v / path_of("HJ-A01-0001")
    target.write_text(target.read_text("utf-8") + "notes: 未提交的修改\n", encoding="utf-8")
    before = snapshot(v)
    result = apply(v, plan_file, "--at", "2024-03-26T10:00:00+08:00")
    assert result.code == 1 and "uncommitted" in result.err, result
    assert snapshot(v) == before
    git(v, "checkout", "--", path_of("HJ-A01-0001"))
    early = apply(v, plan_file, "--at", "2024-03-20T10:00:00+08:00")
    assert early.code == 1 and "after the day of the destruction" in early.err, early


@pytest.mark.parametrize("people, message", [
    ({"approver": ARCHIVIST}, "張敏 does not have the approver role"),
    ({"witnesses": ("--witness", "錢芳", "--witness", APPROVER)}, "witness 陳立新 is the approver"),
    ({"witnesses": ("--witness", "錢芳")}, "two different witnesses"),
    ({"witnesses": ("--witness", "錢芳", "--witness", "錢芳")}, "two different witnesses"),
    ({"by": "路人甲"}, "路人甲 (carried out by) does not have the archivist role"),
])
def test_apply_refuses_people_who_do_not_fit(v: Path, tmp_path: Path, people: dict[str, Any], message: str) -> None:
    plan_file = write_plan(v, tmp_path, "2024-03-25", "--category", "HJ")
    before = snapshot(v)
    result = apply(v, plan_file, "--at", "2024-03-26T10:00:00+08:00", **people)
    assert result.code == 1 and message in result.err, result
    assert snapshot(v) == before


def test_review_records_need_a_decision(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2026-02-28", "--category", "CW")
    waiting = apply(v, plan_file, "--at", "2026-03-02T10:00:00+08:00")
    assert waiting.code == 1 and "await a decision: CW-A01-0001" in waiting.err, waiting
    document = load_text(plan_file.read_text("utf-8"))
    document["due"][0]["decision"] = "destroy"
    plan_file.write_text(dump(document), encoding="utf-8")
    unappraised = apply(v, plan_file, "--at", "2026-03-02T10:00:00+08:00")
    assert unappraised.code == 1 and "CW-A01-0001 must be appraised" in unappraised.err, unappraised
    assert appraise(v, plan_file, "2026-03-02T10:00:00+08:00").code == 0  # test_appraisal.py
    done = apply(v, plan_file, "--at", "2026-03-02T10:00:00+08:00")
    assert done.code == 0 and done.out == "XH-0001\n", done
    item = load_text((v / "vault/XH/XH-0001.yaml").read_text("utf-8"))["items"][0]
    assert item["rule"] == {"keep": "P10Y", "after": "closed", "action": "review"}
    assert (item["trigger"], item["due"]) == ("2016-02-29", "2026-02-28")


def test_apply_bad_input(v: Path, tmp_path: Path) -> None:
    before = snapshot(v)
    assert apply(v, tmp_path / "missing.yaml").code == 2
    (tmp_path / "junk.yaml").write_text("not: a plan\n", encoding="utf-8")
    assert apply(v, tmp_path / "junk.yaml").code == 2
    plan_file = write_plan(v, tmp_path, "2024-03-25", "--category", "HJ")
    document = load_text(plan_file.read_text("utf-8"))
    document["vault"] = "00000000-0000-4000-8000-000000000000"
    plan_file.write_text(dump(document), encoding="utf-8")
    other = apply(v, plan_file)
    assert other.code == 2 and "another vault" in other.err
    missing_option = dg(v, "retention", "apply", str(plan_file), "--approved-by", APPROVER)
    assert missing_option.code == 2
    assert snapshot(v) == before


# ------------------------------------------------------- the hooks: DG109, DG110, DG112

def test_git_rm_of_a_record_is_refused(v: Path) -> None:
    head = git(v, "rev-parse", "HEAD").strip()
    proc = commit_files(v, "tidy up", {path_of("HJ-A01-0003"): None})
    assert proc.returncode != 0
    assert (path_of("HJ-A01-0003"), "DG109") in findings(proc.stderr), proc.stderr
    assert git(v, "rev-parse", "HEAD").strip() == head


def test_certificates_and_holds_are_append_only(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2024-03-25", "--category", "HJ")
    assert apply(v, plan_file, "--at", "2024-03-26T10:00:00+08:00").code == 0
    assert dg(v, "retention", "hold", "CW", "--reason", "審計", "--by", APPROVER).code == 0
    head = git(v, "rev-parse", "HEAD").strip()
    xh_path, bq_path = "vault/XH/XH-0001.yaml", "vault/BQ/BQ-0001.yaml"
    certificate = load_text((v / xh_path).read_text("utf-8"))
    certificate["witnesses"] = ["錢芳", "周杰"]
    proc = commit_files(v, "fix witness", {xh_path: certificate})
    assert proc.returncode != 0 and (xh_path, "DG110") in findings(proc.stderr), proc.stderr
    git(v, "reset", "-q", "--hard", head)

    certificate = load_text((v / xh_path).read_text("utf-8"))
    certificate["items"].pop()
    proc = commit_files(v, "drop an item", {xh_path: certificate})
    assert proc.returncode != 0 and (xh_path, "DG110") in findings(proc.stderr), proc.stderr
    git(v, "reset", "-q", "--hard", head)

    hold = load_text((v / bq_path).read_text("utf-8"))
    hold["targets"] = ["HJ"]
    proc = commit_files(v, "narrow the hold", {bq_path: hold})
    assert proc.returncode != 0 and (bq_path, "DG110") in findings(proc.stderr), proc.stderr
    git(v, "reset", "-q", "--hard", head)

    proc = commit_files(v, "forget it", {xh_path: None, bq_path: None})
    assert proc.returncode != 0
    assert {(xh_path, "DG109"), (bq_path, "DG109")} <= findings(proc.stderr), proc.stderr
    assert git(v, "rev-parse", "HEAD").strip() == head


def handmade(root: Path, code: str, **changes: Any) -> dict[str, Any]:
    """The certificate `retention apply` would write for one record, made by hand."""
    rel = path_of(code)
    record = load_text((root / rel).read_text("utf-8"))
    tree = {
        "code": "XH-0001", "category": "XH", "title": "手工銷毀清冊", "status": "destroyed",
        "opened": "2024-04-01", "approved_by": APPROVER, "witnesses": ["錢芳", "孫麗"],
        "carried_out_by": ARCHIVIST, "method": "碎紙機粉碎", "place": "總部檔案室",
        "destroyed_at": "2024-04-01T10:00:00+08:00", "plan_as_of": "2024-04-01",
        "items": [{
            "code": code, "category": code[:2], "title": record["title"],
            "rule": {"keep": "P2Y", "after": "closed", "action": "destroy"},
            "trigger": record.get("closed", "2022-03-25"), "due": "2024-03-25",
            "blob": git(root, "rev-parse", f"HEAD:{rel}").strip(),
        }],
    }
    tree.update(changes)
    return tree


def _hold_first(root: Path) -> None:
    assert dg(root, "retention", "hold", "A01", "--reason", "訴訟", "--by", APPROVER).code == 0


def _loan_first(root: Path) -> None:
    assert commit_files(root, "loan", {"vault/JY/JY-0001.yaml": loan("JY-0001", ["HJ-A01-0001"])}).returncode == 0


HANDMADE = {  # case -> (prepare, certificate changes, the message DG112 gives)
    "held": (_hold_first, {}, "is held by BQ-0001"),
    "on-loan": (_loan_first, {}, "is on loan (JY-0001)"),
    "not-due": (None, {"destroyed_at": "2024-03-20T10:00:00+08:00", "plan_as_of": "2024-03-20"},
                "is not due until 2024-03-25"),
    "witness-is-approver": (None, {"witnesses": ["錢芳", APPROVER]}, "is the approver"),
    "approver-without-role": (None, {"approved_by": ARCHIVIST}, "does not have the approver role"),
    "wrong-due-date": (None, {"items": None}, "the certificate says trigger 2022-03-25, due 2023-01-01"),
}


@pytest.mark.parametrize("case", sorted(HANDMADE))
def test_handmade_disposal_breaking_the_rules_is_dg112(v: Path, case: str) -> None:
    prepare, changes, message = HANDMADE[case]
    if prepare:
        prepare(v)
    certificate = handmade(v, "HJ-A01-0001", **{k: val for k, val in changes.items() if k != "items"})
    if "items" in changes:
        certificate["items"][0]["due"] = "2023-01-01"
    head = git(v, "rev-parse", "HEAD").strip()
    proc = commit_files(v, f"by hand: {case}", {"vault/XH/XH-0001.yaml": certificate, path_of("HJ-A01-0001"): None})
    assert proc.returncode != 0, proc
    assert ("vault/XH/XH-0001.yaml", "DG112") in findings(proc.stderr), proc.stderr
    assert message in proc.stderr
    assert git(v, "rev-parse", "HEAD").strip() == head


def test_a_handmade_disposal_that_follows_the_rules_is_accepted(v: Path) -> None:
    certificate = handmade(v, "HJ-A01-0001")
    proc = commit_files(v, "by hand", {"vault/XH/XH-0001.yaml": certificate, path_of("HJ-A01-0001"): None})
    assert proc.returncode == 0, proc.stderr
    assert dg(v, "check", "--all").code == 0


def test_check_range_finds_a_disposal_that_skipped_the_hooks(v: Path) -> None:
    certificate = handmade(v, "HJ-A01-0005")  # kept until 2030 by retention.until
    proc = commit_files(v, "no hooks", {"vault/XH/XH-0001.yaml": certificate, path_of("HJ-A01-0005"): None},
                        verify=False)
    assert proc.returncode == 0, proc.stderr
    result = dg(v, "check", "--range", "HEAD~1..HEAD")
    assert result.code == 1
    assert ("vault/XH/XH-0001.yaml", "DG112") in findings(result.out + result.err), result
    assert "kept until 2030-01-01" in result.out + result.err


def test_an_encrypted_record_is_destroyed_without_a_key(v: Path, tmp_path: Path) -> None:
    """Plan and apply read only clear fields; the sensitive values leave the tree unread."""
    fields = {k: val for k, val in example("YZ-owner-file.yaml", status="closed", closed="2012-06-30").items()
              if k not in ("code", "category")}
    source = tmp_path / "yz.yaml"
    source.write_text(dump(fields), encoding="utf-8")
    made = dg(v, "new", "YZ", "A01-02-001-0301", "--file", str(source))
    assert made.code == 0, made
    code = made.out.strip()
    stored = (v / path_of(code)).read_text("utf-8")
    assert "sops:" in stored and "林曉東" not in stored
    plan_file = write_plan(v, tmp_path, "2024-03-25", "--category", "YZ")
    document = load_text(plan_file.read_text("utf-8"))
    assert [(i["code"], i["due"], i["decision"]) for i in document["due"]] == [(code, "2022-06-30", "review")]
    document["due"][0]["decision"] = "destroy"
    plan_file.write_text(dump(document), encoding="utf-8")
    assert appraise(v, plan_file, "2024-03-26T09:00:00+08:00").code == 0  # a review record: appraised first
    done = apply(v, plan_file, "--at", "2024-03-26T10:00:00+08:00")
    assert done.code == 0, done
    assert not (v / path_of(code)).exists()
    certificate = (v / "vault/XH/XH-0001.yaml").read_text("utf-8")
    assert code in certificate and "林曉東" not in certificate and "sops" not in certificate


def test_a_large_disposal_is_split_into_volumes(v: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A certificate is a record (at most 256 KiB): a long list takes several, one commit."""
    from dangan.services import retention

    monkeypatch.setattr(retention, "VOLUME_BYTES", 600)  # about two items a volume
    plan_file = write_plan(v, tmp_path, "2024-05-01")
    due = [i["code"] for i in load_text(plan_file.read_text("utf-8"))["due"] if i["decision"] == "destroy"]
    document = load_text(plan_file.read_text("utf-8"))
    document["due"] = [i for i in document["due"] if i["decision"] == "destroy"]
    plan_file.write_text(dump(document), encoding="utf-8")
    parent = git(v, "rev-parse", "HEAD").strip()
    result = apply(v, plan_file, "--at", "2024-05-02T10:00:00+08:00", "--json")
    assert result.code == 0, result
    out = json.loads(result.out)
    assert len(out["certificates"]) >= 3 and out["destroyed"] == due
    assert git(v, "rev-parse", "HEAD~2").strip() == parent  # the approval, then one commit
    volumes = [load_text((v / p).read_text("utf-8")) for p in out["paths"]]
    assert [i["code"] for vol in volumes for i in vol["items"]] == due
    assert all(f"共{len(volumes)}冊" in vol["title"] for vol in volumes)
    assert dg(v, "check", "--all").code == 0
