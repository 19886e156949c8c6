"""The hooks end to end: real `git commit` and `git push` with dangan's hooks firing.

Every test drives real Git in a test vault (core.hooksPath = hooks, the venv's `dangan` on
PATH): the pre-commit hook refuses each file rule and each change rule; the pre-push hook
and a bare remote's `hooks/pre-receive` refuse bad commits (every commit of the push, not
only its tip) and leave the remote's refs as they were; `hook install` on a fresh clone;
`check --range` naming the commit of each finding.

Records are written by hand from tests/schema_examples/valid/ (their `refs` dropped: they
name records a fresh vault lacks), so each refusal comes from exactly the rule under test.

The test vault's committed vault.yaml gives recipients their roles (`STAFF`): the lending rules
(DG111) and the retention rules (DG112) judge the people of every event or certificate a
change adds by that commit's vault.yaml. Disposals are made with the real `dangan retention
plan --out` and `dangan retention apply` (`dispose`), or written by hand (`certificate_for`)
where a case needs a certificate `apply` would refuse to write; either names the real last
blob of a record that is really due (its `closed` date + the vault's rule).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    DANGAN_BIN,
    REPO,
    Result,
    git,
    path_without_dangan,
    run_bin,
    run_cli,
    snapshot,
    sops_config,
)

from dangan.formats.agekeys import generate_identity
from dangan.formats.yamlio import dump, load_roundtrip, to_plain
from dangan.services.initvault import textconv_command

VALID = REPO / "tests" / "schema_examples" / "valid"
# `PATH: DGnnn message`, as the hooks print it; a server's lines come back as `remote: ...`
FINDING = re.compile(r"^(?P<remote>remote: )?(?P<path>\S+): (?P<rule>DG\d{3}) (?P<message>.+?)\s*$")

SB_REL = "vault/A01/02/SB/SB-A01-02-0001.yaml"
HT_REL = "vault/A01/HT/HT-A01-0003.yaml"
YZ_REL = "vault/A01/01/001/0101/YZ/YZ-A01-01-001-0101-0001.yaml"
JY_REL = "vault/JY/JY-0002.yaml"
JY_OLD_REL = "vault/JY/JY-0001.yaml"
HJ_REL = "vault/A01/HJ/HJ-A01-0007.yaml"
BQ_REL = "vault/BQ/BQ-0001.yaml"
XH_REL = "vault/XH/XH-0001.yaml"
XH2_REL = "vault/XH/XH-0002.yaml"

# the clear values of the leaked owner (DG105): no output may ever show them
YZ_SECRETS = ("林曉東", "320506198507151234", "138-0000-1234")

Data = str | bytes | dict[str, Any] | None  # None: delete the file

# The people of the fixture records and their roles (vault.yaml `recipients[].roles`):
# 陳立新 approves loans and disposals, 張敏 hands loans over, takes them back and carries out
# disposals, 王強 is a second approver (so that rewriting an approval to name him breaks
# only DG110). 趙偉 (the borrower), 錢芳 and 孫麗 (the witnesses) need no role and are no
# recipients; neither is 劉洋, the outsider of the DG111/DG112 cases.
STAFF = {"陳立新": ["approver"], "張敏": ["archivist"], "王強": ["approver"]}
WITNESSES = ("錢芳", "孫麗")


# ------------------------------------------------------------------------ records


def example(name: str, **changes: Any) -> dict[str, Any]:
    tree = to_plain(load_roundtrip((VALID / name).read_text("utf-8")))
    tree.pop("refs", None)
    tree.update(changes)
    return tree


def sb(**changes: Any) -> dict[str, Any]:
    tree = example("SB-elevator.yaml", **changes)
    assert tree["code"] == "SB-A01-02-0001"
    return tree


def sb_closed() -> dict[str, Any]:
    """The elevator scrapped on 2015-01-10: due on 2023-01-10 by the standard SB rule
    (P8Y after closed, destroy)."""
    return sb(status="decommissioned", closed="2015-01-10")


def hj() -> dict[str, Any]:
    """A tank cleaning closed on 2022-03-25: due on 2024-03-25 (HJ: P2Y after closed)."""
    tree = example(
        "HJ-tank-cleaning.yaml",
        code="HJ-A01-0007",
        title="2022年3月二次供水水箱清洗消毒",
        opened="2022-03-20",
        closed="2022-03-25",
        period_start="2022-03-20",
        period_end="2022-03-20",
    )
    tree["water_test"]["tested_on"] = "2022-03-25"
    return tree


def ht() -> dict[str, Any]:
    tree = example("HT-subcontract.yaml")
    tree.pop("client_contact")  # sensitive: clear values would be DG105
    assert tree["code"] == "HT-A01-0003"
    return tree


def jy(**changes: Any) -> dict[str, Any]:
    """JY-0002, out: requested by 趙偉, approved by 陳立新, checked out by 張敏."""
    tree = example("JY-loan-out.yaml", **changes)
    assert tree["code"] == "JY-0002" and "contact" not in tree["borrower"]
    assert [(e["action"], e["by"]) for e in tree["events"]] == [
        ("request", "趙偉"),
        ("approve", "陳立新"),
        ("checkout", "張敏"),
    ]
    return tree


def jy_requested() -> dict[str, Any]:
    """JY-0002 as it was first entered: the request only."""
    tree = jy(status="requested")
    del tree["events"][1:]
    return tree


def jy_approved(by: str = "陳立新") -> dict[str, Any]:
    """JY-0002 with the approval appended (by an approver unless `by` says otherwise)."""
    tree = jy(status="approved")
    del tree["events"][2:]
    tree["events"][1]["by"] = by
    return tree


def jy_out(by: str = "張敏") -> dict[str, Any]:
    """JY-0002 with the checkout appended (by an archivist unless `by` says otherwise)."""
    tree = jy()
    tree["events"][2]["by"] = by
    return tree


def jy_returned(by: str = "張敏") -> dict[str, Any]:
    """JY-0002 with one event appended (the return): the legitimate way a loan grows."""
    tree = jy(status="closed", closed="2024-11-08")
    tree["events"].append(
        {"at": "2024-11-08T16:00:00+08:00", "action": "return", "by": by, "condition": "intact"}
    )
    return tree


def old_loan() -> dict[str, Any]:
    """JY-0001, a copy lent and returned in May 2014: due on 2024-05-10 (JY: P10Y after
    closed, destroy), so it may go with a certificate."""
    tree = example("JY-loan-closed.yaml")
    tree["borrower"].pop("contact")  # sensitive: clear values would be DG105
    tree = json.loads(json.dumps(tree, ensure_ascii=False).replace('"2024-05-', '"2014-05-'))
    assert tree["code"] == "JY-0001" and tree["closed"] == "2014-05-10"
    return tree


def bq(**changes: Any) -> dict[str, Any]:
    tree = example("BQ-hold.yaml", **changes)
    tree.pop("parties")  # sensitive: clear values would be DG105
    assert tree["code"] == "BQ-0001"
    return tree


def bq_released() -> dict[str, Any]:
    tree = bq(status="released")
    tree["events"].append(
        {
            "at": "2025-06-30T10:00:00+08:00",
            "action": "release",
            "by": "陳立新",
            "reason": "判決生效，保全解除。",
        }
    )
    return tree


def certificate_for(
    root: Path, rel: str, trigger: str, due: str, keep: str, **changes: Any
) -> dict[str, Any]:
    """A disposal certificate XH-0002 written by hand, listing the record at `rel` as `apply`
    would: its last version's blob (HEAD), title, rule, trigger and due dates (given here, not
    computed by dangan). Destroyed on 2024-12-20 by 張敏, approved by 陳立新 (the example's
    people); `changes` replace top-level fields."""
    committed = to_plain(load_roundtrip(git(root, "show", f"HEAD:{rel}")))
    tree = example("XH-certificate.yaml", code="XH-0002", title="2024年第2批到期檔案銷毀清冊")
    assert (tree["approved_by"], tree["carried_out_by"]) == ("陳立新", "張敏")
    assert tuple(tree["witnesses"]) == WITNESSES
    assert tree["destroyed_at"].startswith("2024-12-20")
    tree["items"] = [
        {
            "code": committed["code"],
            "category": committed["category"],
            "title": committed["title"],
            "rule": {"keep": keep, "after": "closed", "action": "destroy"},
            "trigger": trigger,
            "due": due,
            "blob": git(root, "rev-parse", f"HEAD:{rel}").strip(),
        }
    ]
    tree.update(changes)
    return tree


def sb_certificate(root: Path, **changes: Any) -> dict[str, Any]:
    """The certificate of the scrapped elevator (`sb_closed`), written by hand."""
    return certificate_for(root, SB_REL, "2015-01-10", "2023-01-10", "P8Y", **changes)


def hj_certificate(root: Path, **changes: Any) -> dict[str, Any]:
    """The certificate of the tank cleaning (`hj`), written by hand."""
    return certificate_for(root, HJ_REL, "2022-03-25", "2024-03-25", "P2Y", **changes)


def dispose(root: Path, *args: str, as_of: str = "2025-12-31") -> Result:
    """The real sweep: `dangan retention plan --as-of AS_OF --out PLAN` (outside the work
    tree), then `dangan retention apply PLAN` by the fixture's people; `args` go to apply
    (e.g. --no-commit). The approver approves the plan first (`retention approve`, a
    commit of its own). Every committed record due as of that day is destroyed."""
    plan = root.parent / f"plan-{as_of}.yaml"
    made = run_cli(["-C", str(root), "retention", "plan", "--as-of", as_of, "--out", str(plan)])
    assert made.code == 0, made
    approved = run_cli(["-C", str(root), "retention", "approve", str(plan), "--by", "陳立新"])
    assert approved.code == 0, approved
    return run_cli(
        [
            "-C", str(root), "retention", "apply", str(plan),
            "--witness", WITNESSES[0], "--witness", WITNESSES[1],
            "--method", "碎紙機粉碎（保密級）", "--place", "總部檔案室",
            "--by", "張敏", "--at", f"{as_of}T15:00:00+08:00", *args,
        ]
    )  # fmt: skip


def disposed(root: Path, *args: str) -> list[str]:
    """`dispose`, which must succeed: the certificate codes it printed."""
    result = dispose(root, *args)
    assert result.code == 0, result
    return result.out.split()


def yz_clear() -> dict[str, Any]:
    tree = example("YZ-clear-part-only.yaml")
    assert tree["code"] == "YZ-A01-01-001-0101-0001"
    return tree


def yz_leak() -> dict[str, Any]:
    """The same owner file with the owner's name, ID number and phone in clear (DG105)."""
    tree = yz_clear()
    tree["owners"][0].update(name=YZ_SECRETS[0], id_number=YZ_SECRETS[1], phone=YZ_SECRETS[2])
    return tree


# --------------------------------------------------------------------------- git


def write(root: Path, rel: str, data: Data) -> None:
    target = root / rel
    if data is None:
        target.unlink()
        return
    if isinstance(data, dict):
        data = dump(data)
    if isinstance(data, str):
        data = data.encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def stage(root: Path, files: dict[str, Data]) -> None:
    """Write (or delete) the files and stage exactly those changes."""
    for rel, data in files.items():
        if data is None:
            git(root, "rm", "-q", "--", rel)
        else:
            write(root, rel, data)
            git(root, "add", "--", rel)


def head(root: Path, rev: str = "HEAD") -> str:
    return git(root, "rev-parse", rev).strip()


def commit_no_verify(root: Path, message: str, files: dict[str, Data]) -> str:
    """A commit the hooks never saw (as a clone without hooks, or `--no-verify`, makes)."""
    stage(root, files)
    git(root, "commit", "-q", "--no-verify", "-m", message)
    return head(root)


def git_commit(root: Path, message: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`git commit` with the hooks firing."""
    return subprocess.run(
        ["git", "commit", "-q", "-m", message, *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def commit(root: Path, message: str, files: dict[str, Data]) -> str:
    """A commit through the pre-commit hook, which must accept it."""
    stage(root, files)
    proc = git_commit(root, message)
    assert proc.returncode == 0, f"the hook refused a valid commit: {proc.stderr}"
    return head(root)


def push(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "push", "--porcelain", *args], cwd=root, capture_output=True, text=True, check=False
    )


def remote_refs(bare: Path) -> dict[str, str]:
    """`git ls-remote` of the bare repository: ref -> commit."""
    out = git(bare.parent, "ls-remote", str(bare))
    return {ref: sha for sha, ref in (line.split("\t") for line in out.splitlines())}


def make_remote(root: Path, tmp_path: Path, with_hook: bool = True) -> Path:
    """A bare repository as `origin`; with the server-side hook copied in when asked."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    if with_hook:
        install_pre_receive(bare)
    git(root, "remote", "add", "origin", str(bare))
    return bare


def install_pre_receive(bare: Path) -> None:
    target = bare / "hooks" / "pre-receive"
    shutil.copyfile(REPO / "hooks" / "pre-receive", target)
    target.chmod(0o755)


def found(text: str, remote: bool | None = None) -> set[tuple[str, str]]:
    """(path, rule) of the finding lines; `remote` picks the server's or the local ones."""
    pairs = set()
    for line in text.replace("\x1b[K", "").splitlines():
        m = FINDING.match(line)
        if m and (remote is None or bool(m["remote"]) == remote):
            pairs.add((m["path"], m["rule"]))
    return pairs


def messages(text: str) -> list[str]:
    return [m["message"] for line in text.splitlines() if (m := FINDING.match(line))]


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def staffed_template(template_vault: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The empty vault of conftest with `STAFF` as recipients (each with a fresh age key) in
    a second commit, made through the pre-commit hook: one per test process."""
    path = tmp_path_factory.mktemp("staffed") / "vault"
    shutil.copytree(template_vault, path, symlinks=True)
    config = to_plain(load_roundtrip((path / "vault.yaml").read_text("utf-8")))
    assert config["recipients"] == []
    config["recipients"] = [
        {"name": name, "key": generate_identity()[1], "roles": roles}
        for name, roles in STAFF.items()
    ]
    # the standard rules the fixtures' due dates assume
    assert config["retention"]["SB"] == {"keep": "P8Y", "after": "closed", "action": "destroy"}
    assert config["retention"]["HJ"] == {"keep": "P2Y", "after": "closed", "action": "destroy"}
    assert config["retention"]["JY"] == {"keep": "P10Y", "after": "closed", "action": "destroy"}
    (path / "vault.yaml").write_text(dump(config), "utf-8")
    commit(path, "recipients and their roles", {"vault.yaml": config, ".sops.yaml": sops_config(path)})
    return path


@pytest.fixture
def vault(staffed_template: Path, tmp_path: Path) -> Path:
    """A fresh vault without records whose vault.yaml gives `STAFF` their roles (overrides
    conftest's `vault`, so `cli` runs on this one too)."""
    target = tmp_path / "vault"
    shutil.copytree(staffed_template, target, symlinks=True)
    return target


# ------------------------------------------------- 1. the pre-commit hook, each rule


@dataclass
class Case:
    prepare: Callable[[Path], None]  # commits what the case starts from, stages the change
    path: str
    rule: str
    says: str = ""  # a part of one of its messages: the rule refuses for this reason


def _staged(files: Callable[[], dict[str, Data]]) -> Callable[[Path], None]:
    return lambda root: stage(root, files())


def _after(
    base: Callable[[], dict[str, Data]], change: Callable[[], dict[str, Data]]
) -> Callable[[Path], None]:
    def prepare(root: Path) -> None:
        commit(root, "base", base())
        stage(root, change())

    return prepare


def _schema_broken(root: Path) -> None:
    path = root / "schemas" / "SB.json"
    doc = json.loads(path.read_text("utf-8"))
    doc["properties"]["stops"]["type"] = "integr"
    write(root, "schemas/SB.json", json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    git(root, "add", "schemas/SB.json")


def _vault_yaml_broken(root: Path) -> None:
    tree = to_plain(load_roundtrip((root / "vault.yaml").read_text("utf-8")))
    tree["name"] = ""
    write(root, "vault.yaml", tree)
    git(root, "add", "vault.yaml")


def _sb_with_sops_block() -> dict[str, Data]:
    tree = sb()
    tree["sops"] = {
        "age": [
            {
                "recipient": "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq",
                "enc": "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n",
            }
        ],
        "lastmodified": "2025-01-01T00:00:00Z",
        "mac": "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]",
        "encrypted_regex": "^(name)$",
        "version": "3.9.0",
    }
    return {SB_REL: tree}


def _jy_event_edited() -> dict[str, Data]:
    tree = jy()
    # The approval rewritten after the fact. To another approver: rewritten to name the
    # borrower (趙偉), it would also break DG111 (the borrower cannot approve their own
    # loan, a rule of the file alone); this case isolates DG110. (Roles are judged only for
    # appended events, so even a name without the role would add no DG111 here.)
    tree["events"][1]["by"] = "王強"
    return {JY_REL: tree}


def _jy_event_removed() -> dict[str, Data]:
    tree = jy(status="approved")
    del tree["events"][2]  # the checkout made to disappear
    return {JY_REL: tree}


def _jy_appended_but_history_changed() -> dict[str, Data]:
    tree = jy_returned()
    tree["events"][0]["days"] = 3  # an append that also rewrites the request
    return {JY_REL: tree}


def _delete_with_wrong_certificate(root: Path) -> None:
    commit(root, "base", {SB_REL: sb(), HJ_REL: hj()})
    # a real disposal of the record that is due (HJ), staged; the elevator deleted along
    # with it: the certificate added in the same commit lists another record, not this one
    assert disposed(root, "--no-commit") == ["XH-0001"]
    stage(root, {SB_REL: None})


def _appended(base: dict[str, Any], change: dict[str, Any]) -> Callable[[Path], None]:
    return _after(lambda: {JY_REL: base}, lambda: {JY_REL: change})


def _delete_with(
    records: dict[str, Data], certificate: Callable[[Path], dict[str, Any]], rel: str
) -> Callable[[Path], None]:
    """Commit `records`, then stage a hand-written certificate and the deletion of `rel`."""

    def prepare(root: Path) -> None:
        commit(root, "base", records)
        stage(root, {XH2_REL: certificate(root), rel: None})

    return prepare


def _with_blob(certificate: dict[str, Any], blob: str) -> dict[str, Any]:
    """The certificate with its one item naming another blob."""
    [item] = certificate["items"]
    return {**certificate, "items": [{**item, "blob": blob}]}


def _delete_with_stale_blob(root: Path) -> None:
    """The certificate names an earlier version of the record, not its last one."""
    commit(root, "base", {SB_REL: sb_closed()})
    earlier = sb_certificate(root)
    tree = sb_closed()
    tree["retention"] = {"until": "2099-12-31", "reason": "事故調查證據，永久保存。"}
    commit(root, "kept longer", {SB_REL: tree})
    stage(root, {XH2_REL: earlier, SB_REL: None})


def _dispose_xh(root: Path) -> None:
    """HJ-A01-0007 committed, then destroyed by `retention apply` (certificate XH-0001)."""
    commit(root, "base", {HJ_REL: hj()})
    assert disposed(root) == ["XH-0001"]


def _delete_certificate(root: Path) -> None:
    _dispose_xh(root)
    stage(root, {XH_REL: None})


COMMIT_REFUSED: dict[str, Case] = {
    "DG101-syntax": Case(
        _staged(lambda: {SB_REL: "code: SB-A01-02-0001\ntitle: [unclosed\nstatus: in_service\n"}),
        SB_REL,
        "DG101",
    ),
    "DG101-bom": Case(
        _staged(lambda: {SB_REL: b"\xef\xbb\xbf" + dump(sb()).encode()}), SB_REL, "DG101"
    ),
    "DG102-enum": Case(_staged(lambda: {SB_REL: sb(status="bogus")}), SB_REL, "DG102"),
    "DG103-wrong-path": Case(
        _staged(lambda: {"vault/A01/02/SB/SB-A01-02-0002.yaml": sb()}),
        "vault/A01/02/SB/SB-A01-02-0002.yaml",
        "DG103",
    ),
    "DG104-stray": Case(
        _staged(lambda: {"vault/A01/02/SB/scan.pdf": b"%PDF-1.4\n"}),
        "vault/A01/02/SB/scan.pdf",
        "DG104",
    ),
    "DG105-clear-sensitive": Case(_staged(lambda: {YZ_REL: yz_leak()}), YZ_REL, "DG105"),
    "DG106-sops-block-without-ciphertext": Case(_staged(_sb_with_sops_block), SB_REL, "DG106"),
    "DG113-not-canonical": Case(
        _staged(lambda: {SB_REL: dump(sb()).replace("opened: '2019-05-10'", "opened: 2019-05-10")}),
        SB_REL,
        "DG113",
    ),
    "DG114-vault-yaml": Case(_vault_yaml_broken, "vault.yaml", "DG114"),
    "DG114-schema": Case(_schema_broken, "schemas/SB.json", "DG114"),
    "DG114-vault-yaml-unreadable": Case(
        _staged(lambda: {"vault.yaml": "name: [broken\n"}), "vault.yaml", "DG114"
    ),
    "DG114-vault-yaml-deleted": Case(_staged(lambda: {"vault.yaml": None}), "vault.yaml", "DG114"),
    "DG108-refs-missing": Case(
        _staged(lambda: {SB_REL: sb(refs=["HT-A01-0003"])}),
        SB_REL,
        "DG108",
    ),
    "DG108-refs-missing-on-a-modified-record": Case(
        _after(lambda: {SB_REL: sb()}, lambda: {SB_REL: sb(refs=["HT-A01-0009"])}),
        SB_REL,
        "DG108",
    ),
    "DG109-deleted-without-certificate": Case(
        _after(lambda: {SB_REL: sb()}, lambda: {SB_REL: None}),
        SB_REL,
        "DG109",
    ),
    "DG109-certificate-lists-another-record": Case(_delete_with_wrong_certificate, SB_REL, "DG109"),
    "DG109-ledger-JY": Case(
        _after(lambda: {JY_REL: jy()}, lambda: {JY_REL: None}), JY_REL, "DG109"
    ),
    "DG109-ledger-BQ": Case(
        _after(lambda: {BQ_REL: bq()}, lambda: {BQ_REL: None}), BQ_REL, "DG109"
    ),
    "DG109-ledger-XH": Case(_delete_certificate, XH_REL, "DG109"),
    "DG110-event-edited": Case(_after(lambda: {JY_REL: jy()}, _jy_event_edited), JY_REL, "DG110"),
    "DG110-event-removed": Case(_after(lambda: {JY_REL: jy()}, _jy_event_removed), JY_REL, "DG110"),
    "DG110-append-with-rewrite": Case(
        _after(lambda: {JY_REL: jy()}, _jy_appended_but_history_changed),
        JY_REL,
        "DG110",
    ),
    "DG110-field-changed": Case(
        _after(lambda: {JY_REL: jy()}, lambda: {JY_REL: jy(purpose="改寫過的用途。")}),
        JY_REL,
        "DG110",
    ),
    "DG110-field-removed": Case(
        _after(
            lambda: {BQ_REL: bq()}, lambda: {BQ_REL: {k: v for k, v in bq().items() if k != "case"}}
        ),
        BQ_REL,
        "DG110",
    ),
    # DG111: the roles of the people of each event a change appends, by the vault.yaml of
    # that commit (STAFF); the borrower never approves (a rule of the file alone)
    "DG111-approved-without-the-approver-role": Case(
        _appended(jy_requested(), jy_approved(by="張敏")),
        JY_REL,
        "DG111",
        "event 2 (approve by 張敏): 張敏 does not have the approver role",
    ),
    "DG111-approved-by-the-borrower": Case(
        _appended(jy_requested(), jy_approved(by="趙偉")),
        JY_REL,
        "DG111",
        "event 2 (approve by 趙偉): the borrower cannot approve their own loan",
    ),
    "DG111-checked-out-without-the-archivist-role": Case(
        _appended(jy_approved(), jy_out(by="陳立新")),
        JY_REL,
        "DG111",
        "event 3 (checkout by 陳立新): 陳立新 does not have the archivist role",
    ),
    "DG111-returned-by-an-outsider": Case(
        _appended(jy(), jy_returned(by="劉洋")),
        JY_REL,
        "DG111",
        "event 4 (return by 劉洋): 劉洋 does not have the archivist role",
    ),
    "DG111-new-loan-approved-without-the-role": Case(
        _staged(lambda: {JY_REL: jy_approved(by="劉洋")}),
        JY_REL,
        "DG111",
        "event 2 (approve by 劉洋): 劉洋 does not have the approver role",
    ),
    # DG112: a disposal made by hand (certificate + `git rm`), judged like one by `apply`
    "DG112-not-due": Case(  # the elevator is in service: no `closed`, no due date
        _delete_with({SB_REL: sb()}, sb_certificate, SB_REL),
        XH2_REL,
        "DG112",
        "SB-A01-02-0001 is not due (no trigger date) on 2024-12-20, the day of destruction",
    ),
    "DG112-dates-misstated": Case(
        _delete_with(
            {SB_REL: sb_closed()},
            lambda r: certificate_for(r, SB_REL, "2015-01-10", "2022-01-10", "P7Y"),
            SB_REL,
        ),
        XH2_REL,
        "DG112",
        "the certificate says trigger 2015-01-10, due 2022-01-10; the record's are 2015-01-10, "
        "2023-01-10",
    ),
    "DG112-held": Case(
        _delete_with({HJ_REL: hj(), BQ_REL: bq(targets=["HJ-A01-0007"])}, hj_certificate, HJ_REL),
        XH2_REL,
        "DG112",
        "HJ-A01-0007 is held by BQ-0001 on 2024-12-20",
    ),
    "DG112-on-loan": Case(
        _delete_with(
            {HJ_REL: hj(), JY_REL: jy(records=["HJ-A01-0007"], form="copy")},
            hj_certificate,
            HJ_REL,
        ),
        XH2_REL,
        "DG112",
        "HJ-A01-0007 is on loan (JY-0002) on 2024-12-20",
    ),
    "DG112-blob-of-another-record": Case(
        _delete_with(
            {SB_REL: sb_closed(), HJ_REL: hj()},
            lambda r: _with_blob(sb_certificate(r), git(r, "rev-parse", f"HEAD:{HJ_REL}").strip()),
            SB_REL,
        ),
        XH2_REL,
        "DG112",
        "is a version of HJ-A01-0007, not of SB-A01-02-0001",
    ),
    "DG112-blob-not-in-the-repository": Case(
        _delete_with(
            {SB_REL: sb_closed()},
            lambda r: _with_blob(sb_certificate(r), "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"),
            SB_REL,
        ),
        XH2_REL,
        "DG112",
        "SB-A01-02-0001: its last version (3b18e512dba79e4c8300dd08aeb37f8e728b8dad) is not in "
        "this repository",
    ),
    "DG112-approver-without-the-role": Case(
        _delete_with(
            {SB_REL: sb_closed()}, lambda r: sb_certificate(r, approved_by="劉洋"), SB_REL
        ),
        XH2_REL,
        "DG112",
        "劉洋 does not have the approver role",
    ),
    "DG112-carried-out-without-the-archivist-role": Case(
        _delete_with(
            {SB_REL: sb_closed()}, lambda r: sb_certificate(r, carried_out_by="王強"), SB_REL
        ),
        XH2_REL,
        "DG112",
        "王強 (carried out by) does not have the archivist role",
    ),
    "DG112-witness-is-the-approver": Case(
        _delete_with(
            {SB_REL: sb_closed()},
            lambda r: sb_certificate(r, witnesses=["陳立新", WITNESSES[0]]),
            SB_REL,
        ),
        XH2_REL,
        "DG112",
        "witness 陳立新 is the approver",
    ),
}


@pytest.mark.parametrize("case", sorted(COMMIT_REFUSED))
def test_commit_is_refused(vault: Path, case: str) -> None:
    spec = COMMIT_REFUSED[case]
    spec.prepare(vault)
    before = snapshot(vault)

    proc = git_commit(vault, f"try {case}")

    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr
    assert found(proc.stderr) == {(spec.path, spec.rule)}, proc.stderr
    assert any(spec.says in m for m in messages(proc.stderr)), proc.stderr
    assert "commit refused" in proc.stderr
    for secret in YZ_SECRETS:
        assert secret not in proc.stdout + proc.stderr
    assert snapshot(vault) == before  # HEAD, index and work tree as they were


def _delete_with_certificate(root: Path) -> None:
    """A disposal by hand: the certificate written by hand and `git rm`, one commit."""
    commit(root, "base", {SB_REL: sb_closed()})
    stage(root, {XH2_REL: sb_certificate(root), SB_REL: None})


def _retention_apply_no_commit(root: Path) -> None:
    """`retention apply --no-commit`: certificate and removals staged, committed by git."""
    commit(root, "base", {SB_REL: sb_closed(), HT_REL: ht()})  # the contract is not due
    assert disposed(root, "--no-commit") == ["XH-0001"]


def _loan_destroyed_with_certificate(root: Path) -> None:
    """A loan (JY) is deleted like any record once due: through a certificate."""
    commit(root, "base", {JY_OLD_REL: old_loan(), JY_REL: jy()})  # JY-0002 is not due
    assert disposed(root, "--no-commit") == ["XH-0001"]


def _good_ledger_records(root: Path) -> None:
    """A loan, a hold and a certificate (with the removal it records) added in one commit."""
    commit(root, "base", {HJ_REL: hj()})
    assert disposed(root, "--no-commit") == ["XH-0001"]
    stage(root, {JY_REL: jy(), BQ_REL: bq()})


def _refs_to_existing(root: Path) -> None:
    commit(root, "base", {HT_REL: ht()})
    stage(root, {SB_REL: sb(refs=["HT-A01-0003"])})


def _refs_to_destroyed(root: Path) -> None:
    _dispose_xh(root)  # XH-0001 lists HJ-A01-0007 as destroyed
    stage(root, {SB_REL: sb(refs=["HJ-A01-0007"])})


def _refs_added_in_the_same_commit(root: Path) -> None:
    stage(root, {HT_REL: ht(), SB_REL: sb(refs=["HT-A01-0003"])})


COMMIT_ACCEPTED: dict[str, Callable[[Path], None]] = {
    "good-record": _staged(lambda: {SB_REL: sb()}),
    "good-ledger-records": _good_ledger_records,
    "refs-to-existing": _refs_to_existing,
    "refs-to-one-added-alongside": _refs_added_in_the_same_commit,
    "refs-to-destroyed": _refs_to_destroyed,
    "ledger-append-event": _after(lambda: {JY_REL: jy()}, lambda: {JY_REL: jy_returned()}),
    "ledger-approval-appended": _appended(jy_requested(), jy_approved()),
    "ledger-checkout-appended": _appended(jy_approved(), jy_out()),
    "hold-released-by-an-appended-event": _after(
        lambda: {BQ_REL: bq()}, lambda: {BQ_REL: bq_released()}
    ),
    "delete-with-certificate": _delete_with_certificate,
    "delete-with-retention-apply": _retention_apply_no_commit,
    "loan-deleted-with-certificate": _loan_destroyed_with_certificate,
    "ordinary-record-edited": _after(
        lambda: {SB_REL: sb()}, lambda: {SB_REL: sb(status="standby")}
    ),
}


@pytest.mark.parametrize("case", sorted(COMMIT_ACCEPTED))
def test_commit_is_accepted(vault: Path, case: str) -> None:
    COMMIT_ACCEPTED[case](vault)
    staged = git(vault, "diff", "--cached", "--name-status")
    assert staged, "the case must stage something"
    parent = head(vault)

    proc = git_commit(vault, f"ok {case}")

    assert proc.returncode == 0, proc
    assert found(proc.stderr) == set(), proc.stderr
    assert head(vault, "HEAD~1") == parent
    assert git(vault, "diff", "--name-status", "HEAD~1", "HEAD") == staged
    assert git(vault, "status", "--porcelain") == ""


def test_deletion_with_certificate_removes_the_record(vault: Path) -> None:
    _delete_with_certificate(vault)
    assert git_commit(vault, "retention apply by hand").returncode == 0
    tree = git(vault, "ls-tree", "-r", "--name-only", "HEAD").splitlines()
    assert SB_REL not in tree and XH2_REL in tree
    assert run_bin(["-C", str(vault), "check"]).code == 0


def test_certificate_must_name_the_last_version(vault: Path) -> None:
    """An item's `blob` is the record's last version: a certificate that names an earlier
    one (here the version before `retention.until: 2099-12-31` was set) is refused."""
    _delete_with_stale_blob(vault)
    proc = git_commit(vault, "disposal naming an earlier version")
    assert proc.returncode != 0, proc
    assert found(proc.stderr) == {(XH2_REL, "DG112")}, proc.stderr


def test_certificate_must_name_who_carried_it_out(vault: Path) -> None:
    commit(vault, "base", {SB_REL: sb_closed()})
    certificate = sb_certificate(vault)
    del certificate["carried_out_by"]
    stage(vault, {XH2_REL: certificate, SB_REL: None})
    proc = git_commit(vault, "disposal without who carried it out")
    assert proc.returncode != 0, proc
    # DG102 if the schema comes to require the field, DG112 if the role rule does
    assert found(proc.stderr) in ({(XH2_REL, "DG102")}, {(XH2_REL, "DG112")}), proc.stderr


# What the pre-commit hook of an ordinary record never imports: each would cost every commit
# milliseconds (docs/performance.md, the office's hook): the command line, the writers' temp
# files, the quick note of the warm check, the retention and epoch rules, the change rules'
# view of a ledger, the timezone database (asked only where a time is judged).
NOT_FOR_AN_ORDINARY_RECORD = ("click", "dangan.cli", "tempfile", "dangan.store.fsutil", "dangan.store.quick",
                              "dangan.model.disposal", "dangan.model.epochs", "dangan.model.sides", "zoneinfo")


def test_the_hook_of_an_ordinary_record_imports_only_what_it_needs(vault: Path) -> None:
    _refs_to_existing(vault)  # a record naming another: the references are judged too
    code = ("import sys\nfrom dangan.entry import main\ncode = main(['hook', 'pre-commit'])\n"
            "print(code, *sorted(sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=vault, capture_output=True, text=True, check=True)
    status, *loaded = proc.stdout.split()
    assert status == "0", proc.stderr
    assert "dangan.rules.check" in loaded and "jsonschema_rs" in loaded  # the record was judged
    assert sorted(set(NOT_FOR_AN_ORDINARY_RECORD) & set(loaded)) == []


# ------------------------------------------- other ways of committing; which rules


def test_commit_all_is_checked(vault: Path) -> None:
    """`git commit -a` stages through a temporary index: the hook must read that one."""
    commit(vault, "base", {SB_REL: sb(), JY_REL: jy()})
    write(vault, SB_REL, sb(status="bogus"))
    (vault / JY_REL).unlink()
    before = head(vault)
    proc = git_commit(vault, "all", "-a")
    assert proc.returncode != 0, proc
    assert found(proc.stderr) == {(SB_REL, "DG102"), (JY_REL, "DG109")}, proc.stderr
    assert head(vault) == before


def test_commit_only_paths_is_checked(vault: Path) -> None:
    """`git commit -- PATH` commits PATH from the work tree, whatever the index holds."""
    commit(vault, "base", {SB_REL: sb()})
    stage(vault, {JY_REL: jy()})  # staged and fine, but not part of this commit
    write(vault, SB_REL, sb(status="bogus"))
    before = head(vault)
    proc = git_commit(vault, "only", "--", SB_REL)
    assert proc.returncode != 0, proc
    assert found(proc.stderr) == {(SB_REL, "DG102")}, proc.stderr
    assert head(vault) == before

    write(vault, SB_REL, sb(status="standby"))
    stage(vault, {JY_REL: jy(purpose="x")})
    ok = git_commit(vault, "only", "--", SB_REL)
    assert ok.returncode == 0, ok


def _tighten_sb_schema(root: Path) -> bytes:
    """schemas/SB.json allowing at most 10 stops (the elevator example has 19); returns the
    original bytes."""
    path = root / "schemas" / "SB.json"
    original = path.read_bytes()
    doc = json.loads(original)
    doc["properties"]["stops"]["maximum"] = 10
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return original


def test_commit_is_judged_by_the_staged_rules(vault: Path) -> None:
    """The staged schemas judge the staged records, whatever the work tree holds."""
    original = _tighten_sb_schema(vault)
    git(vault, "add", "schemas/SB.json")
    (vault / "schemas" / "SB.json").write_bytes(original)  # the work tree looks unchanged
    stage(vault, {SB_REL: sb()})
    before = snapshot(vault)
    proc = git_commit(vault, "staged schema")
    assert proc.returncode != 0, proc
    assert found(proc.stderr) == {(SB_REL, "DG102")}, proc.stderr
    assert any("/stops" in m for m in messages(proc.stderr)), proc.stderr
    assert snapshot(vault) == before


@pytest.mark.parametrize("change", ["schema-tightened", "vault-yaml-unreadable"])
def test_unstaged_rules_do_not_judge_a_commit(vault: Path, change: str) -> None:
    """A schema or vault.yaml changed (even broken) in the work tree only is not what is
    committed: the commit is judged by the index (= HEAD) and goes through."""
    if change == "schema-tightened":
        _tighten_sb_schema(vault)  # would make the staged record DG102
    else:
        (vault / "vault.yaml").write_text("name: [broken\n", encoding="utf-8")
    stage(vault, {SB_REL: sb()})
    proc = git_commit(vault, "work tree rules")
    assert proc.returncode == 0, proc
    assert found(proc.stderr) == set(), proc.stderr
    assert git(vault, "diff", "--name-only", "HEAD~1", "HEAD").split() == [SB_REL]


# ----------------------------------------------------- 2. pre-push and pre-receive


def test_pre_push_refuses_a_bad_commit_and_lets_a_clean_one_through(
    vault: Path, tmp_path: Path
) -> None:
    bare = make_remote(vault, tmp_path, with_hook=False)  # only the local hook can refuse here
    first = push(vault, "origin", "main")
    assert first.returncode == 0, first
    assert remote_refs(bare) == {"refs/heads/main": head(vault)}

    good = commit(vault, "a valid record", {SB_REL: sb()})
    ok = push(vault, "origin", "main")
    assert ok.returncode == 0, ok
    assert remote_refs(bare) == {"refs/heads/main": good}

    bad = commit_no_verify(vault, "bad record", {SB_REL: sb(status="bogus")})
    before = remote_refs(bare)
    refused = push(vault, "origin", "main")
    assert refused.returncode != 0, refused
    assert found(refused.stderr, remote=False) == {(SB_REL, "DG102")}, refused.stderr
    assert f"(commit {bad[:10]})" in refused.stderr
    assert "push refused" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert remote_refs(bare) == before
    assert head(vault, "refs/remotes/origin/main") == good

    # --no-verify skips the local hook; this remote has no server-side hook
    skipped = push(vault, "--no-verify", "origin", "main")
    assert skipped.returncode == 0, skipped
    assert remote_refs(bare) == {"refs/heads/main": bad}


def test_pre_push_checks_every_commit(vault: Path, tmp_path: Path) -> None:
    """A plaintext leaked in one commit and removed in the next is still in history."""
    bare = make_remote(vault, tmp_path, with_hook=False)
    assert push(vault, "origin", "main").returncode == 0
    before = remote_refs(bare)
    leak = commit_no_verify(vault, "owner file", {YZ_REL: yz_leak()})
    commit(vault, "remove the clear values", {YZ_REL: yz_clear()})
    assert run_bin(["-C", str(vault), "check"]).code == 0  # the end state is clean

    proc = push(vault, "origin", "main")
    assert proc.returncode != 0, proc
    assert found(proc.stderr, remote=False) == {(YZ_REL, "DG105")}, proc.stderr
    assert f"(commit {leak[:10]})" in proc.stderr
    for secret in YZ_SECRETS:
        assert secret not in proc.stdout + proc.stderr
    assert remote_refs(bare) == before


def _base_for_server(root: Path) -> None:
    commit(root, "records", {SB_REL: sb(), JY_REL: jy(), HT_REL: ht()})


SERVER_REJECTS: dict[str, tuple[Callable[[Path], list[str]], str, str]] = {
    # name: (bad commits made with --no-verify -> their ids, path, rule)
    "DG102-bad-record": (
        lambda r: [commit_no_verify(r, "bad", {SB_REL: sb(status="bogus")})],
        SB_REL,
        "DG102",
    ),
    "DG104-stray-file": (
        lambda r: [commit_no_verify(r, "stray", {"vault/A01/notes.txt": "備註\n"})],
        "vault/A01/notes.txt",
        "DG104",
    ),
    "DG105-leak-removed-later": (
        lambda r: [
            commit_no_verify(r, "leak", {YZ_REL: yz_leak()}),
            commit_no_verify(r, "unleak", {YZ_REL: yz_clear()}),
        ][:1],
        YZ_REL,
        "DG105",
    ),
    "DG108-refs-missing": (
        lambda r: [commit_no_verify(r, "refs", {SB_REL: sb(refs=["HT-A01-0009"])})],
        SB_REL,
        "DG108",
    ),
    "DG109-deleted": (lambda r: [commit_no_verify(r, "rm", {SB_REL: None})], SB_REL, "DG109"),
    "DG109-ledger-deleted": (
        lambda r: [commit_no_verify(r, "rm", {JY_REL: None})],
        JY_REL,
        "DG109",
    ),
    "DG110-ledger-rewritten": (
        lambda r: [commit_no_verify(r, "rewrite", _jy_event_edited())],
        JY_REL,
        "DG110",
    ),
    "DG111-returned-without-the-role": (
        lambda r: [commit_no_verify(r, "return", {JY_REL: jy_returned(by="趙偉")})],
        JY_REL,
        "DG111",
    ),
    "DG112-not-due": (  # the elevator of the base is in service
        lambda r: [commit_no_verify(r, "disposal", {XH2_REL: sb_certificate(r), SB_REL: None})],
        XH2_REL,
        "DG112",
    ),
    "DG114-vault-yaml": (
        lambda r: [
            commit_no_verify(
                r, "config", {"vault.yaml": (r / "vault.yaml").read_text("utf-8") + "colour: red\n"}
            )
        ],
        "vault.yaml",
        "DG114",
    ),
    "DG114-schema": (
        lambda r: [
            commit_no_verify(
                r,
                "schema",
                {
                    "schemas/SB.json": (r / "schemas/SB.json")
                    .read_text("utf-8")
                    .replace('"integer"', '"integr"', 1)
                },
            )
        ],
        "schemas/SB.json",
        "DG114",
    ),
    "DG114-vault-yaml-unreadable": (
        lambda r: [commit_no_verify(r, "config", {"vault.yaml": "name: [broken\n"})],
        "vault.yaml",
        "DG114",
    ),
}


@pytest.mark.parametrize("case", sorted(SERVER_REJECTS))
def test_pre_receive_rejects_what_no_verify_let_through(
    vault: Path, tmp_path: Path, case: str
) -> None:
    make_bad, path, rule = SERVER_REJECTS[case]
    bare = make_remote(vault, tmp_path)
    _base_for_server(vault)
    clean = push(vault, "--no-verify", "origin", "main")  # the server accepts a clean push
    assert clean.returncode == 0, clean
    before = remote_refs(bare)
    assert before == {"refs/heads/main": head(vault)}

    bad = make_bad(vault)
    proc = push(vault, "--no-verify", "origin", "main")

    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr
    assert found(proc.stderr, remote=True) == {(path, rule)}, proc.stderr
    assert found(proc.stderr, remote=False) == set(), "only the server can have refused"
    for sha in bad:
        assert f"(commit {sha[:10]})" in proc.stderr
    assert "pre-receive hook declined" in proc.stdout + proc.stderr
    for secret in YZ_SECRETS:
        assert secret not in proc.stdout + proc.stderr
    assert remote_refs(bare) == before


def test_pre_receive_accepts_a_clean_push(vault: Path, tmp_path: Path) -> None:
    bare = make_remote(vault, tmp_path)
    first = push(vault, "--no-verify", "origin", "main")  # everything from the first commit
    assert first.returncode == 0, first
    assert remote_refs(bare) == {"refs/heads/main": head(vault)}

    commit(vault, "a record", {SB_REL: sb_closed()})
    tip = commit(vault, "a loan", {JY_REL: jy()})
    tip = commit(vault, "the loan returned", {JY_REL: jy_returned()})
    proc = push(vault, "--no-verify", "origin", "main")
    assert proc.returncode == 0, proc
    assert found(proc.stderr) == set(), proc.stderr
    assert remote_refs(bare) == {"refs/heads/main": tip}

    # a disposal: certificate and removal in one commit (`retention apply`, which commits
    # through the pre-commit hook); the loan, closed in 2024, is not due
    assert disposed(vault) == ["XH-0001"]
    assert git(vault, "diff", "--name-status", "HEAD~1", "HEAD").splitlines() == [
        f"D\t{SB_REL}",
        f"A\t{XH_REL}",
    ]
    proc = push(vault, "--no-verify", "origin", "main")
    assert proc.returncode == 0, proc
    assert found(proc.stderr) == set(), proc.stderr
    assert remote_refs(bare) == {"refs/heads/main": head(vault)}


def test_pre_receive_rejects_the_whole_push(vault: Path, tmp_path: Path) -> None:
    """One bad ref among several: no ref moves."""
    bare = make_remote(vault, tmp_path)
    assert push(vault, "origin", "main").returncode == 0
    before = remote_refs(bare)
    good = commit(vault, "a valid record", {SB_REL: sb()})
    git(vault, "checkout", "-q", "-b", "feature", "HEAD~1")
    commit_no_verify(vault, "stray", {"vault/A01/notes.txt": "備註\n"})

    proc = push(vault, "--no-verify", "origin", "main", "feature")
    assert proc.returncode != 0, proc
    assert found(proc.stderr, remote=True) == {("vault/A01/notes.txt", "DG104")}, proc.stderr
    assert remote_refs(bare) == before

    alone = push(vault, "--no-verify", "origin", "main")
    assert alone.returncode == 0, alone
    assert remote_refs(bare) == {"refs/heads/main": good}


def test_new_branch_checks_only_commits_the_remote_lacks(vault: Path, tmp_path: Path) -> None:
    """Old history already on the server is not judged again (nor blocks new work)."""
    bare = make_remote(vault, tmp_path, with_hook=False)
    old_bad = commit_no_verify(vault, "old bad record", {SB_REL: sb(status="bogus")})
    assert push(vault, "--no-verify", "origin", "main").returncode == 0
    install_pre_receive(bare)  # the server starts enforcing only now

    git(vault, "checkout", "-q", "-b", "feature")
    new = commit(vault, "a loan", {JY_REL: jy()})
    proc = push(vault, "origin", "feature")  # the local pre-push hook and the server's
    assert proc.returncode == 0, proc
    assert found(proc.stderr) == set(), proc.stderr
    assert remote_refs(bare) == {"refs/heads/main": old_bad, "refs/heads/feature": new}

    # a new branch that brings a bad commit of its own is refused on both sides
    git(vault, "checkout", "-q", "-b", "feature2")
    bad = commit_no_verify(vault, "rewrite", _jy_event_edited())
    local = push(vault, "origin", "feature2")
    assert local.returncode != 0, local
    assert found(local.stderr, remote=False) == {(JY_REL, "DG110")}, local.stderr
    assert f"(commit {bad[:10]})" in local.stderr
    server = push(vault, "--no-verify", "origin", "feature2")
    assert server.returncode != 0, server
    assert found(server.stderr, remote=True) == {(JY_REL, "DG110")}, server.stderr
    assert remote_refs(bare) == {"refs/heads/main": old_bad, "refs/heads/feature": new}

    # deleting a branch brings nothing to check
    gone = push(vault, "origin", ":feature")
    assert gone.returncode == 0, gone
    assert remote_refs(bare) == {"refs/heads/main": old_bad}


def test_pre_receive_hook_without_dangan_refuses(vault: Path, tmp_path: Path) -> None:
    """A server where dangan is not on PATH (and no dangan.command is set) refuses with a
    message and an install line instead of letting all in."""
    bare = make_remote(vault, tmp_path)
    git_bin = shutil.which("git")
    assert git_bin
    proc = subprocess.run(
        [git_bin, "push", "--no-verify", "origin", "main"],
        cwd=vault,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path_without_dangan()},
        check=False,
    )
    assert proc.returncode != 0, proc
    assert "the pre-receive hook cannot find dangan" in proc.stderr
    assert "pip install /path/to/dangan-clone" in proc.stderr and "dangan hook install" in proc.stderr
    assert remote_refs(bare) == {}

    # the server names its dangan in the bare repository's config: the same push is checked
    git(bare, "config", "dangan.command", str(DANGAN_BIN))
    proc = subprocess.run([git_bin, "push", "--no-verify", "origin", "main"], cwd=vault, capture_output=True,
                          text=True, env={**os.environ, "PATH": path_without_dangan()}, check=False)
    assert proc.returncode == 0, proc
    assert set(remote_refs(bare)) == {"refs/heads/main"}


def test_hooks_and_diff_driver_find_dangan_off_path(vault: Path, tmp_path: Path) -> None:
    """`init` records the absolute path of the dangan that made the vault: its hooks and
    diff driver work in a shell where dangan is not on PATH; when that file is gone they fall
    back to PATH, and without either the hook refuses (nothing is committed)."""
    assert git(vault, "config", "--get", "dangan.command").strip() == str(DANGAN_BIN)
    git_bin = shutil.which("git")
    assert git_bin
    bare_path = {**os.environ, "PATH": path_without_dangan(), "GIT_PAGER": "cat"}

    def run_git(*args: str, env: dict[str, str] = bare_path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([git_bin, *args], cwd=vault, capture_output=True, text=True, env=env, check=False)

    stage(vault, {SB_REL: sb(status="bogus")})
    refused = run_git("commit", "-q", "-m", "bad")
    assert refused.returncode != 0 and found(refused.stderr) == {(SB_REL, "DG102")}, refused
    stage(vault, {SB_REL: sb()})
    assert run_git("commit", "-q", "-m", "good").returncode == 0
    stage(vault, {SB_REL: sb(title="1號樓2號客梯")})
    assert run_git("commit", "-q", "-m", "retitled").returncode == 0
    shown = run_git("log", "-p", "-1", "--", SB_REL)
    assert shown.returncode == 0, shown
    assert "+title: 1號樓2號客梯" in shown.stdout and "-title: " in shown.stdout, shown.stdout

    # the recorded dangan is gone (a deleted virtualenv): PATH is the fallback
    git(vault, "config", "dangan.command", str(tmp_path / "gone" / "dangan"))
    git(vault, "config", "diff.dangan.textconv", textconv_command(str(tmp_path / "gone" / "dangan")))
    assert run_git("log", "-p", "-1", "--", SB_REL, env={**os.environ, "GIT_PAGER": "cat"}).stdout == shown.stdout
    stage(vault, {SB_REL: sb(status="bogus")})
    refused = run_git("commit", "-q", "-m", "bad", env=dict(os.environ))
    assert refused.returncode != 0 and found(refused.stderr) == {(SB_REL, "DG102")}, refused
    # neither: the hook refuses with the install line
    head = git(vault, "rev-parse", "HEAD")
    refused = run_git("commit", "-q", "-m", "bad")
    assert refused.returncode != 0 and "the pre-commit hook cannot find dangan" in refused.stderr, refused
    assert git(vault, "rev-parse", "HEAD") == head


def test_tags_are_pushed_and_checked(vault: Path, tmp_path: Path) -> None:
    bare = make_remote(vault, tmp_path)
    assert push(vault, "origin", "main").returncode == 0
    good = commit(vault, "a record", {SB_REL: sb()})
    git(vault, "tag", "-a", "-m", "年度歸檔", "v2025", good)
    ok = push(vault, "origin", "main", "v2025")
    assert ok.returncode == 0, ok
    assert remote_refs(bare)["refs/heads/main"] == good

    git(vault, "checkout", "-q", "--detach")
    bad = commit_no_verify(vault, "bad", {SB_REL: sb(status="bogus")})
    git(vault, "tag", "-a", "-m", "壞", "bad-tag", bad)
    before = remote_refs(bare)
    local = push(vault, "origin", "bad-tag")
    assert local.returncode != 0, local
    assert found(local.stderr, remote=False) == {(SB_REL, "DG102")}, local.stderr
    server = push(vault, "--no-verify", "origin", "bad-tag")
    assert server.returncode != 0, server
    assert found(server.stderr, remote=True) == {(SB_REL, "DG102")}, server.stderr
    assert remote_refs(bare) == before


# ----------------------------------------------------------------- 3. hook install


def _clone(vault: Path, tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(vault), str(clone))
    return clone


def _config(root: Path) -> str:
    return git(root, "config", "--local", "--list")


def test_hook_install_on_a_fresh_clone(vault: Path, tmp_path: Path) -> None:
    clone = _clone(vault, tmp_path)
    assert git(clone, "config", "--get", "core.hooksPath", check=False) == ""
    # samples (git's templates) are not another tool's hooks
    (clone / ".git" / "hooks").mkdir(exist_ok=True)
    (clone / ".git" / "hooks" / "pre-commit.sample").write_text("#!/bin/sh\nexit 0\n")

    result = run_bin(["-C", str(clone), "hook", "install"])
    assert result.code == 0, result
    assert git(clone, "config", "--get", "core.hooksPath").strip() == "hooks"
    assert git(clone, "config", "--get", "dangan.command").strip() == str(DANGAN_BIN)
    assert git(clone, "config", "--get", "diff.dangan.textconv").strip() == textconv_command(str(DANGAN_BIN))

    again = run_bin(["-C", str(clone), "hook", "install"])  # idempotent
    assert again.code == 0, again

    # and the hooks fire in the clone now
    stage(clone, {SB_REL: sb(status="bogus")})
    before = snapshot(clone)
    proc = git_commit(clone, "bad")
    assert proc.returncode != 0, proc
    assert found(proc.stderr) == {(SB_REL, "DG102")}
    assert snapshot(clone) == before


def test_hook_install_refuses_another_hooks_path(vault: Path, tmp_path: Path) -> None:
    clone = _clone(vault, tmp_path)
    git(clone, "config", "core.hooksPath", ".husky")
    before = _config(clone)

    result = run_bin(["-C", str(clone), "hook", "install"])

    assert result.code == 2, result
    assert result.err.startswith("dangan: error: ")
    assert ".husky" in result.err
    assert "Traceback" not in result.err
    assert _config(clone) == before
    assert "diff.dangan.textconv" not in before


def test_hook_install_refuses_foreign_hooks(vault: Path, tmp_path: Path) -> None:
    clone = _clone(vault, tmp_path)
    hook = clone / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\n# another tool's hook\nexit 0\n")
    hook.chmod(0o755)
    before = _config(clone)

    result = run_bin(["-C", str(clone), "hook", "install"])

    assert result.code == 2, result
    assert result.err.startswith("dangan: error: ")
    assert "another tool" in result.err
    assert _config(clone) == before
    assert "core.hookspath" not in before.lower()
    assert hook.read_text() == "#!/bin/sh\n# another tool's hook\nexit 0\n"


# ------------------------------------------------------ 4. the pre-commit framework
# tests/test_precommit_framework.py: the real framework builds dangan once for its tests.


# -------------------------------------------------------------- 5. check --range


def test_check_range_names_the_commit_of_each_finding(vault: Path, cli) -> None:
    start = head(vault)
    base = commit(vault, "records", {SB_REL: sb(), JY_REL: jy()})
    leak = commit_no_verify(vault, "leak", {YZ_REL: yz_leak()})
    fix = commit_no_verify(vault, "unleak", {YZ_REL: yz_clear()})
    rm = commit_no_verify(vault, "rm", {SB_REL: None})
    rewrite = commit_no_verify(vault, "rewrite", _jy_event_edited())
    restore = commit_no_verify(vault, "restore", {SB_REL: sb(), JY_REL: jy()})
    assert cli("check").code == 0  # the end state is clean: only the history is not

    result = cli("check", "--range", f"{start}..{restore}")
    assert result.code == 1, result
    lines = [line for line in result.out.splitlines() if FINDING.match(line)]
    expected = {
        (YZ_REL, "DG105", leak),
        (SB_REL, "DG109", rm),
        (JY_REL, "DG110", rewrite),
        (JY_REL, "DG110", restore),  # putting the old events back rewrites the new ones
    }
    got = set()
    for line in lines:
        m = FINDING.match(line)
        assert m is not None
        c = re.search(r"\(commit ([0-9a-f]{10})\)$", m["message"])
        assert c, line
        got.add((m["path"], m["rule"], c[1]))
    assert got == {(p, r, sha[:10]) for p, r, sha in expected}, result.out
    for secret in YZ_SECRETS:
        assert secret not in result.out + result.err

    clean = cli("check", "--range", f"{start}..{base}")
    assert clean.code == 0, clean
    assert found(clean.out) == set()
    assert cli("check", "--range", f"{leak}..{fix}").code == 0


def test_check_range_bad_revisions(vault: Path, cli) -> None:
    for bad in ("HEAD..nosuchbranch", "nosuchbranch", "--all..HEAD", "HEAD~5..HEAD"):
        result = cli("check", "--range", bad)
        assert result.code == 2, (bad, result)
        assert result.err.startswith("dangan: error: "), (bad, result)
        assert "Traceback" not in result.err
    real = run_bin(["-C", str(vault), "check", "--range", "main..nosuch"])
    assert real.code == 2, real
    assert "nosuch" in real.err


# ------------------------------------------------- 6. history is append-only on the server


def _server_with_history(vault: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A bare server with pre-receive and three pushed commits on main (and a tag)."""
    bare = make_remote(vault, tmp_path)
    made = [commit(vault, "an elevator", {SB_REL: sb()}),
            commit(vault, "retitled", {SB_REL: sb(title="1號樓2號客梯")}),
            commit(vault, "a loan", {JY_REL: jy()})]
    git(vault, "tag", "-a", "-m", "年度歸檔", "v2025", made[1])
    assert push(vault, "origin", "main", "v2025").returncode == 0
    return bare, made


def test_server_refuses_to_rewrite_or_delete_protected_history(vault: Path, tmp_path: Path) -> None:
    """Issue 17: `git push --force` dropping commits from main, deleting main and moving or
    deleting a tag are refused by pre-receive (DG120), --no-verify or not; no ref moves."""
    bare, made = _server_with_history(vault, tmp_path)
    before = remote_refs(bare)
    git(vault, "reset", "-q", "--hard", made[0])  # drop the last two commits
    forced = push(vault, "--no-verify", "--force", "origin", "main")
    assert forced.returncode != 0, forced
    assert ("refs/heads/main", "DG120") in found(forced.stderr, remote=True), forced.stderr
    assert "would drop 2 commit(s)" in forced.stderr
    deleted = push(vault, "--no-verify", "origin", ":main")
    assert deleted.returncode != 0 and ("refs/heads/main", "DG120") in found(deleted.stderr, remote=True), deleted
    git(vault, "tag", "-f", "-a", "-m", "改", "v2025", made[0])
    moved = push(vault, "--no-verify", "--force", "origin", "v2025")
    assert moved.returncode != 0 and ("refs/tags/v2025", "DG120") in found(moved.stderr, remote=True), moved
    gone = push(vault, "--no-verify", "origin", ":refs/tags/v2025")
    assert gone.returncode != 0 and ("refs/tags/v2025", "DG120") in found(gone.stderr, remote=True), gone
    assert remote_refs(bare) == before

    # adding on top is how history changes: a fast-forward is accepted
    git(vault, "reset", "-q", "--hard", made[2])
    after = commit(vault, "renamed again", {SB_REL: sb(title="1號樓3號客梯")})
    assert push(vault, "origin", "main").returncode == 0
    assert remote_refs(bare)["refs/heads/main"] == after


def test_server_leaves_other_branches_free_and_reads_protection_from_its_own_tip(vault: Path, tmp_path: Path) -> None:
    """A feature branch may be rebased and deleted; vault.yaml `protected_branches` adds
    branches, judged by the vault.yaml the server already has: a push cannot unprotect a
    branch and rewrite it at once."""
    bare, made = _server_with_history(vault, tmp_path)
    git(vault, "checkout", "-q", "-b", "feature")
    commit(vault, "draft", {SB_REL: sb(title="草稿")})
    assert push(vault, "origin", "feature").returncode == 0
    git(vault, "reset", "-q", "--hard", made[2])
    commit(vault, "draft again", {SB_REL: sb(title="草稿二")})
    rebased = push(vault, "--force", "origin", "feature")
    assert rebased.returncode == 0, rebased
    assert push(vault, "origin", ":feature").returncode == 0
    assert "refs/heads/feature" not in remote_refs(bare)

    # protect `release` too (committed through the hooks, pushed)
    git(vault, "checkout", "-q", "main")
    config = load_roundtrip((vault / "vault.yaml").read_text("utf-8"))
    config["protected_branches"] = ["main", "release"]
    (vault / "vault.yaml").write_text(dump(config), "utf-8")
    git(vault, "add", "vault.yaml")
    assert git_commit(vault, "protect release").returncode == 0
    assert push(vault, "origin", "main", "main:release").returncode == 0
    release = remote_refs(bare)["refs/heads/release"]
    # a push that unprotects release and rewinds it in one go is still judged by the
    # server's release tip, which protects it
    git(vault, "checkout", "-q", "-b", "rewind", made[2])
    refused = push(vault, "--no-verify", "--force", "origin", "rewind:release")
    assert refused.returncode != 0 and ("refs/heads/release", "DG120") in found(refused.stderr, remote=True), refused
    assert remote_refs(bare)["refs/heads/release"] == release
