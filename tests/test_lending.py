"""The lending log end to end (issue 5; docs/lending.md, docs/cli.md).

Real vaults with recipients and roles (張敏 archivist and approver, 陳立新 approver, 王芳 a
reader without a role), real commits through the vault's pre-commit hook, no mocks:

- request → approve → checkout → renew → return, with the files and commits it produces;
- each refusal of docs/lending.md §1 as its own test: exit 1, DG111 named, nothing written;
- hand-edited loans refused by a real `git commit` (DG110/DG111), and a correct one accepted;
- the overdue report as of dates across month and year boundaries, in the vault's timezone;
- damaged and lost returns visible on the lent records.

The vault with loans in every state is built once per module (`base`); tests that write
work on a copy, tests that are refused share it and prove that nothing changed.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, git, run_cli, snapshot
from hypothesis import given
from hypothesis import strategies as st

from dangan.formats import agekeys
from dangan.formats.yamlio import dump, load_text
from dangan.model import loans
from dangan.services import lending
from dangan.store.vault import Vault

ARCHIVIST, APPROVER, READER, BORROWER = "張敏", "陳立新", "王芳", "趙偉"
SB1, SB2 = "SB-A01-01-0001", "SB-A01-01-0002"
YZ = "YZ-A01-01-001-0101-0001"
DESTROYED = "HJ-A01-0007"  # listed by the disposal certificate of the base vault
PHONE = "13912345678"
YZ_FIELDS = "title: 1棟1單元101室業主檔案\nstatus: active\nowners:\n  - role: primary\n    owner_kind: person\n"


@dataclass
class Key:
    file: Path
    public: str


def make_key(folder: Path, name: str) -> Key:
    secret, public = agekeys.generate_identity()
    path = folder / f"{name}.key"
    agekeys.write_identity_file(path, secret, public)
    return Key(path, public)


def dg(root: Path, *args: str, env: dict[str, str | None] | None = None) -> Result:
    return run_cli(["-C", str(root), *args], env=env)


def ok(result: Result) -> Result:
    assert result.code == 0, result
    return result


def refused(result: Result, *fragments: str) -> None:
    """Exit 1, the rule named, one error line and a hint, no traceback."""
    assert result.code == 1, result
    assert "dangan: error:" in result.err and "DG111" in result.err, result
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err, result
    assert result.out == ""


def loan_file(root: Path, code: str) -> dict[str, Any]:
    return load_text((root / f"vault/JY/{code}.yaml").read_text("utf-8"))


def request(root: Path, *codes: str, form: str = "original", at: str, days: str | None = None,
            extra: tuple[str, ...] = ()) -> str:
    args = ["lend", "request", *codes, "--borrower", BORROWER, "--department", "工程部",
            "--purpose", "迎接特種設備年度檢驗。", "--form", form, "--at", at, *extra]
    if days:
        args += ["--days", days]
    return ok(dg(root, *args)).out.strip()


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Key]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: make_key(folder, name) for name in (ARCHIVIST, APPROVER, READER)}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Key]) -> Path:
    """Records, a disposal certificate, and loans in each state:

    JY-0001 SB1 original requested · JY-0002 SB1 original approved (SB1 is out on JY-0003)
    JY-0003 SB1 original out since 2024-11-04, due 2024-11-11 · JY-0004 SB2 original approved
    """
    root = tmp_path_factory.mktemp("base") / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"{ARCHIVIST}={keys[ARCHIVIST].public}"]))
    ok(dg(root, "recipients", "add", APPROVER, keys[APPROVER].public, "--role", "approver"))
    ok(dg(root, "recipients", "add", READER, keys[READER].public))
    for _ in (SB1, SB2):
        ok(dg(root, "new", "SB", "A01-01", "--set", "title=乘客電梯", "--set", "system=elevator",
              "--set", "equipment_type=曳引式乘客電梯", "--set", "install_location=1棟電梯井"))
    (root / "yz.yaml").write_text(YZ_FIELDS, "utf-8")
    assert ok(dg(root, "new", "YZ", "A01-01-001-0101", "--file", str(root / "yz.yaml"))).out.strip() == YZ
    (root / "yz.yaml").unlink()
    # a certificate that destroyed HJ-A01-0007 (set up by hand: the retention workflow is
    # not under test here)
    certificate = Path(__file__).parent / "schema_examples/valid/XH-certificate.yaml"
    (root / "vault/XH").mkdir(parents=True)
    shutil.copy(certificate, root / "vault/XH/XH-0001.yaml")
    git(root, "add", "vault/XH")
    git(root, "commit", "-q", "--no-verify", "-m", "a disposal certificate")

    assert request(root, SB1, at="2024-11-01T09:00:00+08:00") == "JY-0001"
    assert request(root, SB1, at="2024-11-02T09:00:00+08:00") == "JY-0002"
    ok(dg(root, "lend", "approve", "JY-0002", "--by", APPROVER, "--at", "2024-11-02T10:00:00+08:00"))
    assert request(root, SB1, at="2024-11-04T09:00:00+08:00", days="7") == "JY-0003"
    ok(dg(root, "lend", "approve", "JY-0003", "--by", APPROVER, "--at", "2024-11-04T09:30:00+08:00"))
    ok(dg(root, "lend", "checkout", "JY-0003", "--by", ARCHIVIST, "--at", "2024-11-04T09:45:00+08:00"))
    assert request(root, SB2, at="2024-11-05T09:00:00+08:00") == "JY-0004"
    ok(dg(root, "lend", "approve", "JY-0004", "--by", APPROVER, "--at", "2024-11-05T10:00:00+08:00"))
    assert git(root, "status", "--porcelain") == ""
    return root


@pytest.fixture
def copy(base: Path, tmp_path: Path) -> Path:
    target = tmp_path / "vault"
    shutil.copytree(base, target, symlinks=True)
    return target


# --------------------------------------------------------------- end to end

def test_request_approve_checkout_renew_return(copy: Path, keys: dict[str, Key]) -> None:
    root = copy
    # the loan's contact is encrypted; --by defaults to git's author: user.name here (the
    # suite's GIT_AUTHOR_NAME, which git would prefer, is taken away)
    env = {"SOPS_AGE_KEY_FILE": str(keys[ARCHIVIST].file), "GIT_AUTHOR_NAME": None}
    git(root, "config", "user.name", ARCHIVIST)
    start = git(root, "rev-parse", "HEAD").strip()

    made = ok(dg(root, "lend", "request", YZ, "--borrower", "周敏", "--department", "客服部",
                 "--purpose", "核對業主聯繫方式。", "--form", "copy", "--days", "5", "--contact", PHONE,
                 "--at", "2024-12-30T09:10:00+08:00", "--json"))
    answer = json.loads(made.out)
    code, path = answer["code"], answer["path"]
    assert (code, path, answer["status"]) == ("JY-0005", "vault/JY/JY-0005.yaml", "requested")
    steps = [
        ("approve", ["--by", APPROVER, "--at", "2024-12-30T10:00:00+08:00"], "approved", None),
        ("checkout", ["--at", "2024-12-30T10:20:00+08:00"], "out", "2025-01-04"),
        ("renew", ["--days", "7", "--reason", "材料待補充", "--at", "2025-01-03T16:00:00+08:00"], "out", "2025-01-11"),
        ("return", ["--condition", "damaged", "--note", "封面破損", "--at", "2025-01-10T15:30:00+08:00"], "closed", None),
    ]
    previous = loan_file(root, code)["events"]
    for command, args, status, due in steps:
        result = json.loads(ok(dg(root, "lend", command, code, *args, "--json", env=env)).out)
        assert (result["status"], result["due"]) == (status, due)
        assert result["commit"] == git(root, "rev-parse", "HEAD").strip()
        # one commit naming the command and the code, touching exactly the loan
        assert git(root, "log", "-1", "--format=%s").strip() == f"dangan lend {command}: {code}"
        assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [path]
        events = loan_file(root, code)["events"]
        assert events[: len(previous)] == previous and len(events) == len(previous) + 1  # appended
        previous = events

    assert git(root, "log", "--format=%s", f"{start}..HEAD").splitlines() == [
        f"dangan lend {c}: {code}" for c in ("return", "renew", "checkout", "approve")
    ] + [f"dangan lend request: {code} {YZ}"]
    stored = loan_file(root, code)
    assert stored["status"] == "closed" and stored["closed"] == "2025-01-10" and stored["opened"] == "2024-12-30"
    assert stored["borrower"]["contact"].startswith("ENC[") and "sops" in stored
    assert [(e["action"], e["by"]) for e in stored["events"]] == [
        ("request", "周敏"), ("approve", APPROVER), ("checkout", ARCHIVIST), ("renew", ARCHIVIST), ("return", ARCHIVIST)
    ]
    assert stored["events"][2]["days"] == 5 and stored["events"][2]["due"] == "2025-01-04"  # the days asked for
    assert stored["events"][4] == {"at": "2025-01-10T15:30:00+08:00", "action": "return", "by": ARCHIVIST,
                                   "condition": "damaged", "note": "封面破損"}
    # the phone number is nowhere in clear: not in the file, not in any commit
    assert PHONE not in (root / path).read_text("utf-8")
    assert PHONE not in git(root, "log", "-p", "--all")
    shown = ok(dg(root, "show", code, "--decrypt", "--json", env=env))
    assert json.loads(shown.out)["record"]["borrower"]["contact"] == PHONE
    assert ok(dg(root, "check")).code == 0
    assert git(root, "status", "--porcelain") == ""

    # the damaged return is visible on the lent record
    listed = json.loads(ok(dg(root, "lend", "ls", "--record", YZ, "--json")).out)["loans"]
    assert [(r["code"], r["status"], r["condition"], r["note"]) for r in listed] == [(code, "closed", "damaged", "封面破損")]
    text = ok(dg(root, "lend", "ls", "--record", YZ)).out
    assert text.splitlines() == [f"{code}\tclosed\t\t\t周敏\tcopy\t{YZ}\tdamaged"]
    assert lending.damage_reports(Vault.open(root), YZ) == [
        {"loan": code, "returned": "2025-01-10", "condition": "damaged", "note": "封面破損", "borrower": "周敏"}
    ]
    assert lending.damage_reports(Vault.open(root), SB1) == []


def test_reject_closes_the_loan(copy: Path) -> None:
    result = ok(dg(copy, "lend", "reject", "JY-0001", "--by", APPROVER, "--reason", "用途不明",
                   "--at", "2024-11-01T12:00:00+08:00"))
    assert result.out.strip() == "JY-0001"
    stored = loan_file(copy, "JY-0001")
    assert (stored["status"], stored["closed"]) == ("rejected", "2024-11-01")
    assert stored["events"][-1] == {"at": "2024-11-01T12:00:00+08:00", "action": "reject", "by": APPROVER,
                                    "reason": "用途不明"}
    assert git(copy, "log", "-1", "--format=%s").strip() == "dangan lend reject: JY-0001"
    # a rejected loan is over: approving it now is out of order
    before = snapshot(copy)
    refused(dg(copy, "lend", "approve", "JY-0001", "--by", APPROVER), "out of order", "rejected")
    assert snapshot(copy) == before


def test_lost_return_and_no_commit(copy: Path) -> None:
    """`--no-commit` stages only; the hook accepts the staged loan when it is committed."""
    head = git(copy, "rev-parse", "HEAD").strip()
    ok(dg(copy, "lend", "return", "JY-0003", "--by", ARCHIVIST, "--condition", "lost", "--note", "遺失於施工現場",
          "--at", "2024-11-20T17:00:00+08:00", "--no-commit"))
    assert git(copy, "rev-parse", "HEAD").strip() == head
    assert git(copy, "diff", "--cached", "--name-only").split() == ["vault/JY/JY-0003.yaml"]
    git(copy, "commit", "-q", "-m", "the loss, entered later")
    assert [r["loan"] for r in lending.damage_reports(Vault.open(copy), SB1)] == ["JY-0003"]
    rows = json.loads(ok(dg(copy, "lend", "ls", "--status", "closed", "--json")).out)["loans"]
    assert [(r["code"], r["condition"], r["ended"]) for r in rows] == [("JY-0003", "lost", "2024-11-20")]
    # the original is back in the archive's books: JY-0002 may now take it out
    ok(dg(copy, "lend", "checkout", "JY-0002", "--by", ARCHIVIST, "--at", "2024-11-21T09:00:00+08:00"))


# ------------------------------------------------------------------ refusals
# Each is one rule of docs/lending.md §1: exit 1, DG111 named, nothing written (the shared
# base vault: HEAD, index and work tree compared before and after).

REFUSALS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "approval-by-the-borrower": (["approve", "JY-0001", "--by", BORROWER], ("borrower cannot approve",)),
    "approval-without-the-role": (["approve", "JY-0001", "--by", READER], ("王芳 does not have the approver role",)),
    "approval-by-a-stranger": (["approve", "JY-0001", "--by", "路人甲"], ("does not have the approver role",)),
    "rejection-without-the-role": (["reject", "JY-0001", "--by", READER, "--reason", "不行"],
                                   ("does not have the approver role",)),
    "checkout-before-approval": (["checkout", "JY-0001", "--by", ARCHIVIST],
                                 ("out of order", "requested, not approved")),
    "checkout-by-a-non-archivist": (["checkout", "JY-0004", "--by", APPROVER], ("陳立新 does not have the archivist role",)),
    "checkout-beyond-loan-days": (["checkout", "JY-0004", "--by", ARCHIVIST, "--days", "8"],
                                  ("8 days", "at most 7 days")),
    "renewal-beyond-max-total-days": (["renew", "JY-0003", "--by", ARCHIVIST, "--days", "24"],
                                      ("2024-12-05", "past 2024-12-04", "max_total_days")),
    "original-of-a-personal-file": (["request", YZ, "--borrower", BORROWER, "--department", "工程部",
                                     "--purpose", "查閱", "--form", "original"], ("originals_not_lent lists YZ",)),
    "original-already-out": (["checkout", "JY-0002", "--by", ARCHIVIST, "--at", "2024-11-06T09:00:00+08:00"],
                             (f"the original of {SB1} is already out on JY-0003",)),
    "destroyed-record": (["request", DESTROYED, "--borrower", BORROWER, "--department", "工程部",
                          "--purpose", "查閱", "--form", "copy"], ("HJ-A01-0007 was destroyed (XH-0001)",)),
    "approve-a-loan-that-is-out": (["approve", "JY-0003", "--by", APPROVER], ("out of order", "it is out")),
    "return-before-checkout": (["return", "JY-0004", "--by", ARCHIVIST, "--condition", "intact"],
                               ("out of order", "approved, not handed over")),
    "renew-before-checkout": (["renew", "JY-0004", "--by", ARCHIVIST, "--days", "3"], ("out of order",)),
    "event-dated-before-the-previous": (["approve", "JY-0001", "--by", APPROVER, "--at", "2024-10-31"],
                                        ("dated 2024-10-31T00:00:00+08:00", "before the event it follows")),
    "request-beyond-loan-days": (["request", SB2, "--borrower", BORROWER, "--department", "工程部",
                                  "--purpose", "查閱", "--days", "10"], ("asks for 10 days",)),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusal(base: Path, case: str) -> None:
    args, fragments = REFUSALS[case]
    before = snapshot(base)
    refused(dg(base, "lend", *args), *fragments)
    assert snapshot(base) == before
    assert git(base, "status", "--porcelain", "--untracked-files=all") == ""


BAD_INPUT = {
    "unknown-loan": ["approve", "JY-0099", "--by", APPROVER],
    "not-a-loan": ["approve", SB1, "--by", APPROVER],
    "code-that-never-existed": ["request", "SB-A01-01-0042", "--borrower", BORROWER, "--department", "工程部",
                                "--purpose", "查閱"],
    "malformed-code": ["request", "sb-a01", "--borrower", BORROWER, "--department", "工程部", "--purpose", "查閱"],
    "damaged-without-note": ["return", "JY-0003", "--by", ARCHIVIST, "--condition", "damaged"],
    "zero-days": ["renew", "JY-0003", "--by", ARCHIVIST, "--days", "0"],
    "bad-date": ["approve", "JY-0001", "--by", APPROVER, "--at", "yesterday"],
    "no-by-and-no-git-name": ["approve", "JY-0001"],
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_exit_2(base: Path, case: str) -> None:
    before = snapshot(base)
    result = dg(base, "lend", *BAD_INPUT[case], env={"GIT_AUTHOR_NAME": None})  # no git name anywhere
    assert result.code == 2, result
    assert result.err.startswith("dangan: error:") and "Traceback" not in result.err
    assert snapshot(base) == before


def test_vault_without_recipients(vault: Path, cli) -> None:
    """Requests need no key; a contact needs a recipient; nobody holds a role to approve."""
    ok(cli("new", "SB", "A01-01", "--set", "title=水泵", "--set", "system=elevator",
           "--set", "equipment_type=變頻供水泵", "--set", "install_location=地下泵房"))
    loan = ok(cli("lend", "request", SB1, "--borrower", BORROWER, "--department", "工程部", "--purpose", "檢修"))
    assert loan.out.strip() == "JY-0001"
    before = snapshot(vault)
    with_contact = cli("lend", "request", SB1, "--borrower", BORROWER, "--department", "工程部",
                       "--purpose", "檢修", "--contact", PHONE)
    assert with_contact.code == 2 and "no recipients" in with_contact.err, with_contact
    refused(cli("lend", "approve", "JY-0001", "--by", APPROVER), "does not have the approver role", "recipients add")
    assert snapshot(vault) == before


# ------------------------------------------------------- hand edits and the hook

def _append(tree: dict[str, Any], event: dict[str, Any], status: str) -> dict[str, Any]:
    tree["events"].append(event)
    tree["status"] = status
    return tree


def _self_approval(root: Path) -> dict[str, Any]:
    return _append(loan_file(root, "JY-0001"), {"at": "2024-11-01T10:00:00+08:00", "action": "approve", "by": BORROWER},
                   "approved")


def _reader_approval(root: Path) -> dict[str, Any]:
    return _append(loan_file(root, "JY-0001"), {"at": "2024-11-01T10:00:00+08:00", "action": "approve", "by": READER},
                   "approved")


def _unapproved_checkout(root: Path) -> dict[str, Any]:
    return _append(loan_file(root, "JY-0001"), {"at": "2024-11-01T10:00:00+08:00", "action": "checkout",
                                                "by": ARCHIVIST, "days": 7, "due": "2024-11-08"}, "out")


def _long_renewal(root: Path) -> dict[str, Any]:
    return _append(loan_file(root, "JY-0003"), {"at": "2024-11-10T10:00:00+08:00", "action": "renew",
                                                "by": ARCHIVIST, "days": 30, "due": "2024-12-11"}, "out")


def _second_original_out(root: Path) -> dict[str, Any]:
    return _append(loan_file(root, "JY-0002"), {"at": "2024-11-06T10:00:00+08:00", "action": "checkout",
                                                "by": ARCHIVIST, "days": 7, "due": "2024-11-13"}, "out")


def _event_rewritten(root: Path) -> dict[str, Any]:
    tree = loan_file(root, "JY-0003")
    tree["events"][2]["due"] = "2024-11-30"  # a later due date written over the checkout
    tree["events"][2]["days"] = 26
    return tree


def _event_backdated(root: Path) -> dict[str, Any]:
    return _append(loan_file(root, "JY-0004"), {"at": "2024-11-04T10:00:00+08:00", "action": "checkout",
                                                "by": ARCHIVIST, "days": 7, "due": "2024-11-11"}, "out")


def _status_forged(root: Path) -> dict[str, Any]:
    tree = loan_file(root, "JY-0003")
    tree["status"] = "closed"  # "returned" without a return event
    return tree


HAND_EDITS = {
    "approves-itself": ("JY-0001", _self_approval, {"DG111"}, "borrower cannot approve"),
    "approved-by-a-reader": ("JY-0001", _reader_approval, {"DG111"}, "王芳 does not have the approver role"),
    "checks-out-unapproved": ("JY-0001", _unapproved_checkout, {"DG111"}, "out of order"),
    "renews-beyond-30-days": ("JY-0003", _long_renewal, {"DG111"}, "past 2024-12-04"),
    "original-out-twice": ("JY-0002", _second_original_out, {"DG111"}, "already out on JY-0003"),
    "rewrites-an-earlier-event": ("JY-0003", _event_rewritten, {"DG110", "DG111"}, "only appending is allowed"),
    "dated-before-the-previous-event": ("JY-0004", _event_backdated, {"DG111"}, "before the event it follows"),
    "status-not-the-events": ("JY-0003", _status_forged, {"DG111"}, "the events say 'out'"),
}
FINDING = re.compile(r"^(\S+): (DG\d{3}) (.+)$")


def _commit(root: Path, code: str, tree: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    (root / f"vault/JY/{code}.yaml").write_text(dump(tree), "utf-8")
    git(root, "add", "vault/JY")
    return subprocess.run(["git", "commit", "-q", "-m", "hand-edited loan"], cwd=root, capture_output=True,
                          text=True, check=False)


@pytest.mark.parametrize("case", sorted(HAND_EDITS))
def test_hand_edited_loan_is_refused_by_the_hook(copy: Path, case: str) -> None:
    code, edit, rules, fragment = HAND_EDITS[case]
    head = git(copy, "rev-parse", "HEAD").strip()
    proc = _commit(copy, code, edit(copy))
    assert proc.returncode != 0, proc
    found = {(m.group(1), m.group(2)) for line in proc.stderr.splitlines() if (m := FINDING.match(line))}
    assert found == {(f"vault/JY/{code}.yaml", rule) for rule in rules}, proc.stderr
    assert fragment in proc.stderr and "commit refused" in proc.stderr
    assert git(copy, "rev-parse", "HEAD").strip() == head


def test_correct_hand_edit_is_accepted_and_checked(copy: Path) -> None:
    """A paper approval entered by hand, done right, passes the hook and `check`."""
    tree = _append(loan_file(copy, "JY-0001"), {"at": "2024-11-01T10:00:00+08:00", "action": "approve", "by": APPROVER},
                   "approved")
    proc = _commit(copy, "JY-0001", tree)
    assert proc.returncode == 0, proc
    assert ok(dg(copy, "check")).code == 0
    result = ok(dg(copy, "check", "--range", "HEAD~1..HEAD"))
    assert "0 findings" in result.out + result.err


# ------------------------------------------------------------- overdue report

@pytest.fixture(scope="module")
def timeline(base: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Copies lent across month, leap-day and year boundaries, entered later with `--at`
    (staged with --no-commit, then one commit through the hook).

    JY-0005 out 2024-12-28 23:30 +08:00 for 7 days: due 2025-01-04
    JY-0006 out 2024-12-28 16:30 UTC = 2024-12-29 00:30 in the vault: due 2025-01-05
    JY-0007 out 2024-02-20, renewed 2 days: due 2024-02-29; returned 2024-03-05
    JY-0008 out 2024-11-25: due 2024-12-02; returned 2024-12-10
    (and JY-0003 of the base vault: out 2024-11-04, due 2024-11-11)
    """
    root = tmp_path_factory.mktemp("timeline") / "vault"
    shutil.copytree(base, root, symlinks=True)
    plan = [
        ("2024-12-28T20:00:00+08:00", "2024-12-28T23:30:00+08:00", [], None),
        ("2024-12-28T15:00:00Z", "2024-12-28T16:30:00Z", [], None),
        ("2024-02-19", "2024-02-20", [("renew", "--days", "2", "--at", "2024-02-26")], "2024-03-05T10:00:00+08:00"),
        ("2024-11-24", "2024-11-25T08:00:00+08:00", [], "2024-12-10T18:00:00+08:00"),
    ]
    codes = []
    for requested, out, more, back in plan:
        code = request(root, SB2, form="copy", at=requested, extra=("--no-commit",))
        codes.append(code)
        ok(dg(root, "lend", "approve", code, "--by", APPROVER, "--at", requested, "--no-commit"))
        ok(dg(root, "lend", "checkout", code, "--by", ARCHIVIST, "--days", "7", "--at", out, "--no-commit"))
        for action, *args in more:
            ok(dg(root, "lend", action, code, "--by", ARCHIVIST, *args, "--no-commit"))
        if back:
            ok(dg(root, "lend", "return", code, "--by", ARCHIVIST, "--condition", "intact", "--at", back,
                  "--no-commit"))
    assert codes == ["JY-0005", "JY-0006", "JY-0007", "JY-0008"]
    git(root, "commit", "-q", "-m", "paper loans of 2024 entered")  # through the hook
    assert git(root, "status", "--porcelain") == ""
    return {"root": root}


OVERDUE = {
    "2024-02-29": [],  # JY-0007 is due that day: not overdue yet
    "2024-03-01": [("JY-0007", "2024-02-29", 1)],  # leap day to March
    "2024-03-04": [("JY-0007", "2024-02-29", 4)],
    "2024-03-05": [],  # returned that day
    "2024-11-11": [],
    "2024-12-05": [("JY-0003", "2024-11-11", 24), ("JY-0008", "2024-12-02", 3)],  # JY-0008 came back later
    "2024-12-31": [("JY-0003", "2024-11-11", 50)],
    "2025-01-05": [("JY-0003", "2024-11-11", 55), ("JY-0005", "2025-01-04", 1)],  # JY-0006 due in the vault's day
    "2025-01-06": [("JY-0003", "2024-11-11", 56), ("JY-0005", "2025-01-04", 2), ("JY-0006", "2025-01-05", 1)],
    "2025-03-01": [("JY-0003", "2024-11-11", 110), ("JY-0005", "2025-01-04", 56), ("JY-0006", "2025-01-05", 55)],
}


@pytest.mark.parametrize("as_of", sorted(OVERDUE))
def test_overdue_as_of(timeline: dict[str, Any], as_of: str) -> None:
    result = json.loads(ok(dg(timeline["root"], "lend", "ls", "--status", "overdue", "--as-of", as_of, "--json")).out)
    assert result["as_of"] == as_of
    got = [(r["code"], r["due"], r["days_overdue"]) for r in result["loans"]]
    assert got == OVERDUE[as_of]
    assert all(r["status"] == "out" and r["overdue"] for r in result["loans"])


def test_overdue_text_and_state_as_of(timeline: dict[str, Any]) -> None:
    root = timeline["root"]
    text = ok(dg(root, "lend", "ls", "--status", "overdue", "--as-of", "2025-01-06")).out.splitlines()
    assert [line.split("\t")[:4] for line in text] == [
        ["JY-0003", "out", "2024-11-11", "56 days overdue"],
        ["JY-0005", "out", "2025-01-04", "2 days overdue"],
        ["JY-0006", "out", "2025-01-05", "1 day overdue"],
    ]
    # the state of every loan as of a day: events after it do not count yet
    rows = json.loads(ok(dg(root, "lend", "ls", "--as-of", "2024-12-05", "--json")).out)["loans"]
    assert [(r["code"], r["status"]) for r in rows] == [
        ("JY-0001", "requested"), ("JY-0002", "approved"), ("JY-0003", "out"), ("JY-0004", "approved"),
        ("JY-0007", "closed"), ("JY-0008", "out"),
    ]
    # a timestamp as-of counts as its day in the vault's timezone (16:30 UTC is the next day there)
    late = json.loads(ok(dg(root, "lend", "ls", "--status", "overdue", "--as-of", "2025-01-05T16:30:00Z",
                            "--json")).out)
    assert late["as_of"] == "2025-01-06" and len(late["loans"]) == 3
    only = json.loads(ok(dg(root, "lend", "ls", "--status", "out", "--borrower", BORROWER, "--json")).out)["loans"]
    assert [r["code"] for r in only] == ["JY-0003", "JY-0005", "JY-0006"]


# ---------------------------------------------------------- the state machine

ACTIONS = ["request", "approve", "reject", "checkout", "renew", "return"]
LETTER = dict(zip(ACTIONS, "qajcnt"))
# an independent statement of docs/lending.md §1: the action sequences a loan may have
VALID = re.compile(r"q(j|a(j|cn*t?)?)?")
CONFIG = {"timezone": "Asia/Shanghai", "recipients": [{"name": "A", "key": "k", "roles": ["approver", "archivist"]}],
          "lending": {"loan_days": 7, "max_total_days": 30, "originals_not_lent": []}}


@given(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=7))
def test_order_of_events_follows_the_state_machine(actions: list[str]) -> None:
    events = []
    for i, action in enumerate(actions):
        event: dict[str, Any] = {"at": f"2024-05-{i + 1:02d}T10:00:00+08:00", "action": action,
                                 "by": "B" if action == "request" else "A"}
        if action in ("checkout", "renew"):
            event.update(days=1, due=f"2024-05-{i + 2:02d}")
        events.append(event)
    tree = {"code": "JY-0001", "borrower": {"name": "B"}, "form": "copy", "records": [SB1], "events": events}
    rules = loans.LendingRules.from_config(CONFIG)
    state, problems = loans.replay(tree, rules)
    in_order = VALID.fullmatch("".join(LETTER[a] for a in actions)) is not None
    assert in_order == (not any("out of order" in p for p in problems)), (actions, problems)
    if in_order:
        tree["status"] = state.status
        assert loans.loan_problems(tree | {"closed": _closed(state)}, CONFIG) == []
        assert state.role_problems == []


def _closed(state: loans.LoanState) -> str | None:
    return state.ended_at.date().isoformat() if state.ended_at else None


def test_by_defaults_to_the_author_git_would_record(copy: Path) -> None:
    """GIT_AUTHOR_NAME comes before user.name, as in git itself (issue 19)."""
    git(copy, "config", "user.name", ARCHIVIST)
    result = dg(copy, "lend", "approve", "JY-0001", "--at", "2024-11-04T09:30:00+08:00",
                env={"GIT_AUTHOR_NAME": APPROVER})
    assert result.code == 0, result
    assert loan_file(copy, "JY-0001")["events"][-1]["by"] == APPROVER
    assert git(copy, "log", "-1", "--format=%an").strip() == APPROVER


def test_a_borrower_no_loan_names_is_a_warning_with_the_nearest_names(base: Path) -> None:
    """Issue 24 part 4: an empty list alone would not say the name matches no loan."""
    typo = BORROWER[:-1] + "X"
    result = dg(base, "lend", "ls", "--borrower", typo)
    assert result.code == 0 and result.out == "", result
    assert result.err.startswith("dangan: warning: no loan names the borrower"), result
    assert f"did you mean {BORROWER}?" in result.err
    known = dg(base, "lend", "ls", "--borrower", BORROWER, "--status", "rejected")
    assert known.code == 0 and "warning" not in known.err, known  # a known borrower: no warning


def test_lend_ls_as_csv(base: Path) -> None:
    """Issue 24 part 4: --format csv, a header and the rows of the text listing, cell for cell."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(dg(base, "lend", "ls", "--format", "csv").out)))
    assert rows[0] == ["code", "status", "due", "overdue", "borrower", "form", "records", "condition"]
    loans = json.loads(dg(base, "lend", "ls", "--format", "json").out)["loans"]
    assert loans and [r[0] for r in rows[1:]] == [loan["code"] for loan in loans]
    assert rows[1:] == [line.split("\t") for line in dg(base, "lend", "ls").out.splitlines()]


def test_a_borrower_in_the_other_script_is_the_borrower(base: Path) -> None:
    """Issue 24 part 2: 赵伟 (simplified) lists the loans of 趙偉, shown as stored, no warning."""
    stored = json.loads(dg(base, "lend", "ls", "--borrower", BORROWER, "--json").out)["loans"]
    result = dg(base, "lend", "ls", "--borrower", "赵伟", "--json")
    assert result.code == 0 and "warning" not in result.err, result
    assert stored and json.loads(result.out)["loans"] == stored
    assert {loan["borrower"] for loan in stored} == {BORROWER}
    near = dg(base, "lend", "ls", "--borrower", "赵X")  # nearest names compared in one script
    assert f"did you mean {BORROWER}?" in near.err, near
