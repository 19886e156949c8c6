"""Views, certified copies and the limit of open loans (issue 22 part 3; docs/lending.md §2).

Real vaults from tests/test_lending.py's `base` (張敏 archivist and approver, 陳立新 approver,
王芳 a reader; 趙偉 holds four open loans JY-0001..JY-0004), real commits through the
vault's pre-commit hook:

- a view of a personal file (whose original is never lent) and a certified copy and extract
  recorded: the JY file, the commit, `lend ls`, never out, never overdue, not loans in stats;
- a certifier without the archivist role, and the recipient certifying, refused;
- a borrower at `lending.max_open_loans` refused by `lend request` and by the hook, while
  views and copies for them still go through;
- hand-made malformed views refused by the hook (DG111) and by the rules directly.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import git, snapshot
from test_lending import (  # noqa: F401 (base, copy and keys are fixtures used here)
    APPROVER,
    ARCHIVIST,
    BORROWER,
    DESTROYED,
    FINDING,
    READER,
    SB1,
    YZ,
    _commit,
    base,
    copy,
    dg,
    keys,
    loan_file,
    ok,
    refused,
)

from dangan.formats.yamlio import dump, load_text
from dangan.model import loans
from dangan.services import lending
from dangan.store.vault import Vault

VIEWER = "周敏"
AT = "2025-03-04T10:00:00+08:00"


def view(root: Path, *codes: str, borrower: str = VIEWER, by: str = ARCHIVIST, at: str = AT,
         extra: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return dg(root, "lend", "view", *codes, "--borrower", borrower, "--department", "客服部",
              "--purpose", "核對產權資料。", "--by", by, "--at", at, *extra)


def copy_of(root: Path, *codes: str, given_to: str = VIEWER, certified_by: str = ARCHIVIST,
            form: str = "copy", pages: str = "3", at: str = AT, extra: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return dg(root, "lend", "copy", *codes, "--form", form, "--pages", pages, "--certified-by", certified_by,
              "--given-to", given_to, "--department", "客服部", "--purpose", "辦理產權變更。", "--by", ARCHIVIST,
              "--at", at, *extra)


def set_limit(root: Path, limit: int) -> None:
    config = load_text((root / "vault.yaml").read_text("utf-8"))
    config.setdefault("lending", {})["max_open_loans"] = limit
    (root / "vault.yaml").write_text(dump(config), "utf-8")
    git(root, "commit", "-q", "-am", "at most four open loans per borrower")  # through the hook


# ------------------------------------------------------------------- a view

def test_a_view_is_one_event_closed_at_once(copy: Path) -> None:  # noqa: F811
    root = copy
    # a personal file's original is never lent, but it may be viewed in the archive room
    config = load_text((root / "vault.yaml").read_text("utf-8"))
    assert "YZ" in config["lending"]["originals_not_lent"]
    answer = json.loads(ok(view(root, YZ, extra=("--json",))).out)
    assert answer == {"code": "JY-0005", "status": "viewed", "due": None, "path": "vault/JY/JY-0005.yaml",
                      "commit": git(root, "rev-parse", "HEAD").strip()}
    assert git(root, "log", "-1", "--format=%s").strip() == f"dangan lend view: JY-0005 {YZ}"
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["vault/JY/JY-0005.yaml"]
    stored = loan_file(root, "JY-0005")
    assert stored["events"] == [{"at": AT, "action": "view", "by": ARCHIVIST}]
    assert (stored["status"], stored["opened"], stored["closed"], stored["form"]) == (
        "viewed", "2025-03-04", "2025-03-04", "original")
    assert stored["borrower"] == {"name": VIEWER, "department": "客服部"}
    assert ok(dg(root, "check")).code == 0

    line = f"JY-0005\tviewed\t\t\t{VIEWER}\toriginal\t{YZ}\t"
    assert ok(dg(root, "lend", "ls", "--status", "viewed", "--as-of", "2025-03-04")).out.splitlines() == [line]
    listed = json.loads(ok(dg(root, "lend", "ls", "--record", YZ, "--as-of", "2025-03-04", "--json")).out)["loans"]
    assert [(r["code"], r["kind"], r["status"], r["recorded_by"], r["overdue"]) for r in listed] == [
        ("JY-0005", "view", "viewed", ARCHIVIST, False)]


def test_a_view_is_never_out_nor_overdue(copy: Path) -> None:  # noqa: F811
    ok(view(copy, SB1, borrower=BORROWER))
    vault = Vault.open(copy)
    for day in ("2025-03-04", "2025-04-30", "2027-01-01"):
        as_of = dt.date.fromisoformat(day)
        overdue = [r.code for r in lending.loans(vault, "overdue", as_of)]
        assert "JY-0005" not in overdue and "JY-0003" in overdue  # the loan out since 2024 is
        assert "JY-0005" not in [r.code for r in lending.loans(vault, "out", as_of)]
    counts = lending.summary(vault, dt.date.fromisoformat("2027-01-01"))
    assert (counts["viewed"], counts["out"], counts["overdue"], counts["closed"]) == (1, 1, 1, 0)
    stats = json.loads(ok(dg(copy, "stats", "--as-of", "2027-01-01", "--json")).out)["loans"]
    assert (stats["viewed"], stats["out"], stats["overdue"]) == (1, 1, 1)
    assert [o["code"] for o in stats["overdue_list"]] == ["JY-0003"]


def test_a_view_is_recorded_by_an_archivist(base: Path) -> None:  # noqa: F811
    before = snapshot(base)
    refused(view(base, SB1, by=READER), "王芳 does not have the archivist role")
    refused(view(base, SB1, borrower=ARCHIVIST), "is not its viewer")
    refused(view(base, DESTROYED), "a destroyed record cannot be lent")
    assert snapshot(base) == before


# ------------------------------------------------------------------- a copy

def test_a_certified_copy_and_an_extract_are_registered(copy: Path) -> None:  # noqa: F811
    root = copy
    answer = json.loads(ok(copy_of(root, YZ, extra=("--json",))).out)
    assert (answer["code"], answer["status"], answer["due"]) == ("JY-0005", "copied", None)
    assert git(root, "log", "-1", "--format=%s").strip() == f"dangan lend copy: JY-0005 {YZ}"
    stored = loan_file(root, "JY-0005")
    assert stored["events"] == [{"at": AT, "action": "copy", "by": ARCHIVIST, "pages": 3,
                                 "certified_by": ARCHIVIST}]
    assert (stored["status"], stored["closed"], stored["form"]) == ("copied", "2025-03-04", "copy")
    assert stored["title"] == f"復制 {YZ}（複印件）"

    ok(copy_of(root, SB1, form="extract", pages="1", given_to=READER))
    extract = loan_file(root, "JY-0006")
    assert (extract["form"], extract["status"], extract["borrower"]["name"]) == ("extract", "copied", READER)
    assert ok(dg(root, "check")).code == 0
    text = ok(dg(root, "lend", "ls", "--status", "copied", "--as-of", "2025-03-04")).out.splitlines()
    assert text == [f"JY-0005\tcopied\t\t\t{VIEWER}\tcopy\t{YZ}\t3 pages, certified by {ARCHIVIST}",
                    f"JY-0006\tcopied\t\t\t{READER}\textract\t{SB1}\t1 pages, certified by {ARCHIVIST}"]
    assert git(root, "status", "--porcelain") == ""


def test_a_copy_is_certified_by_an_archivist_who_is_not_the_recipient(base: Path) -> None:  # noqa: F811
    before = snapshot(base)
    refused(copy_of(base, SB1, certified_by=APPROVER), "the certifier 陳立新 does not have the archivist role")
    refused(copy_of(base, SB1, given_to=ARCHIVIST), "receives the copy and cannot certify it")
    bad = copy_of(base, SB1, pages="0")
    assert bad.code == 2 and "--pages" in bad.err, bad
    assert snapshot(base) == before


# --------------------------------------------------------- max_open_loans

def test_a_borrower_over_the_limit_is_refused(copy: Path) -> None:  # noqa: F811
    root = copy
    set_limit(root, 4)  # 趙偉 holds JY-0001..JY-0004
    before = snapshot(root)
    result = dg(root, "lend", "request", SB1, "--borrower", BORROWER, "--department", "工程部",
                "--purpose", "再借一次。", "--at", AT)
    refused(result, "趙偉 already holds 4 open loans (JY-0001, JY-0002, JY-0003, JY-0004); at most 4",
            f"hint: nothing was written; a loan must come back (or be rejected) first: `dangan lend ls --borrower {BORROWER}`")
    assert len(result.err.strip().splitlines()) == 2  # the error line and the hint
    assert snapshot(root) == before
    # views and copies are not loans; another borrower is under the limit
    assert ok(view(root, SB1, borrower=BORROWER)).out.strip() == "JY-0005"
    assert ok(copy_of(root, SB1, given_to=BORROWER)).out.strip() == "JY-0006"
    assert ok(dg(root, "lend", "request", SB1, "--borrower", VIEWER, "--department", "客服部",
                 "--purpose", "核對。", "--at", AT)).out.strip() == "JY-0007"
    # one loan back: 趙偉 may ask again
    ok(dg(root, "lend", "reject", "JY-0001", "--by", APPROVER, "--reason", "不再需要", "--at", AT))
    assert ok(dg(root, "lend", "request", SB1, "--borrower", BORROWER, "--department", "工程部",
                 "--purpose", "再借一次。", "--at", AT)).out.strip() == "JY-0008"


def test_a_request_over_the_limit_is_refused_by_the_hook(copy: Path) -> None:  # noqa: F811
    set_limit(copy, 4)
    head = git(copy, "rev-parse", "HEAD").strip()
    tree = {"code": "JY-0005", "category": "JY", "title": "借閱 SB-A01-01-0002（複印件）", "status": "requested",
            "opened": "2025-03-04", "records": ["SB-A01-01-0002"],
            "borrower": {"name": BORROWER, "department": "工程部"}, "purpose": "手填的申請。", "form": "copy",
            "events": [{"at": AT, "action": "request", "by": BORROWER}]}
    proc = _commit(copy, "JY-0005", tree)
    assert proc.returncode != 0, proc
    assert "lending.max_open_loans" in proc.stderr and "DG111" in proc.stderr, proc.stderr
    assert git(copy, "rev-parse", "HEAD").strip() == head


# ------------------------------------------------------ hand-made views

def _view_tree(**changes: Any) -> dict[str, Any]:
    tree = {"code": "JY-0005", "category": "JY", "title": f"查閱 {SB1}（原件）", "status": "viewed",
            "opened": "2025-03-04", "closed": "2025-03-04", "records": [SB1],
            "borrower": {"name": VIEWER, "department": "客服部"}, "purpose": "核對。", "form": "original",
            "events": [{"at": AT, "action": "view", "by": ARCHIVIST}]}
    tree.update(changes)
    return tree


MALFORMED = {
    "returned-after-a-view": (
        _view_tree(status="closed", events=[{"at": AT, "action": "view", "by": ARCHIVIST},
                                            {"at": "2025-03-04T11:00:00+08:00", "action": "return", "by": ARCHIVIST,
                                             "condition": "intact"}]),
        "a loan cannot be returned when it is a view"),
    "a-view-as-a-copy": (_view_tree(form="copy"), "a view record has the form original"),
    "status-out": (_view_tree(status="out", closed=None), "the events say 'viewed'"),
    "a-view-after-a-request": (
        _view_tree(status="viewed", events=[{"at": AT, "action": "request", "by": VIEWER},
                                            {"at": AT, "action": "view", "by": ARCHIVIST}]),
        "a loan cannot be viewed when it is requested"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_view_is_refused_by_the_hook(copy: Path, case: str) -> None:  # noqa: F811
    tree, fragment = MALFORMED[case]
    tree = {k: v for k, v in tree.items() if v is not None}
    head = git(copy, "rev-parse", "HEAD").strip()
    proc = _commit(copy, "JY-0005", tree)
    assert proc.returncode != 0, proc
    found = {m.group(2) for line in proc.stderr.splitlines() if (m := FINDING.match(line))}
    assert "DG111" in found and fragment in proc.stderr, proc.stderr
    assert git(copy, "rev-parse", "HEAD").strip() == head


def test_well_formed_view_by_hand_is_accepted(copy: Path) -> None:  # noqa: F811
    proc = _commit(copy, "JY-0005", _view_tree())
    assert proc.returncode == 0, proc
    assert ok(dg(copy, "check")).code == 0


def test_copy_rules_in_the_model() -> None:
    config = {"lending": {"originals_not_lent": ["YZ"]}}
    good = _view_tree(form="copy", status="copied",
                      events=[{"at": AT, "action": "copy", "by": ARCHIVIST, "pages": 2, "certified_by": ARCHIVIST}])
    assert loans.loan_problems(good, config) == []
    unsigned = _view_tree(form="copy", status="copied", events=[{"at": AT, "action": "copy", "by": ARCHIVIST}])
    problems = loans.loan_problems(unsigned, config)
    assert any("number of pages" in p for p in problems) and any("certified_by" in p for p in problems)
    # a view of a personal file's original is not a loan of it
    assert loans.loan_problems(_view_tree(records=[YZ]), config) == []
    assert any("originals_not_lent" in p for p in loans.loan_problems(
        _view_tree(status="requested", closed=None, records=[YZ],
                   events=[{"at": AT, "action": "request", "by": VIEWER}]), config))
