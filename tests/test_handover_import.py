"""`dangan handover import` (issue 22 part 2, docs/handover.md step 4) on real vaults.

The example vault's A01-02 is exported with `handover export` to the receiving company's
real age key (test_handover_export's helpers), then imported into that company's own vault
made by `dangan init`: with codes kept, with `--map`, refused when a code is taken or the
export was tampered with, and on bad input; a refusal changes nothing.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import DANGAN_BIN, Result, git, run_cli, snapshot
from test_handover_export import OWNER, PREFIX, YZ, age_key, company_key, dg, export, make_source
from test_interrupt import killing

from dangan.formats.yamlio import decode, load_text

FROM = "示例物業服務有限公司"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, Path]:
    """(the exported folder, the receiving key file, its public key, the source) — made
    once; each test works on a copy."""
    base = tmp_path_factory.mktemp("handover")
    keys = base / "keys"
    keys.mkdir()
    key, public = age_key(keys, "next-company")
    source = make_source(base)
    out = base / "export"
    result = export(source, out, company_key(keys), f"新物業={public}")
    assert result.code == 0, result
    return out, key, public, source


@pytest.fixture
def setup(exported, tmp_path: Path) -> tuple[Path, Path, Path, dict]:
    """(a copy of the export, the receiving vault, the receiving key, the manifest)."""
    out, key, public, _source = exported
    copy = tmp_path / "export"
    shutil.copytree(out, copy, symlinks=True)
    target = tmp_path / "ours"
    made = run_cli(["init", str(target), "--name", "新物業檔案庫", "--recipient", f"王芳={public}"])
    assert made.code == 0, made
    return copy, target, key, json.loads((copy / "HANDOVER.json").read_text("utf-8"))


def receive(target: Path, folder: Path, key: Path | None, *extra: str, witness: bool = True) -> Result:
    options = ["--from", FROM, "--received-by", "王芳", *(["--witness", "李主任"] if witness else []), *extra]
    return dg(target, "handover", "import", str(folder), *options, key=key)


def files_of(root: Path, rev: str = "HEAD") -> set[str]:
    return set(git(root, "ls-tree", "-r", "--name-only", rev).split())


def test_import_keeps_the_codes_and_files_a_receipt(setup) -> None:
    folder, target, key, manifest = setup
    before = git(target, "rev-parse", "HEAD").strip()
    result = receive(target, folder, key)
    assert result.code == 0, result
    assert "received 14 record(s) and 3 attachment(s)" in result.err and "receipt YJ-0001" in result.err
    # one commit, holding exactly the records, their attachments and the receipt
    assert git(target, "rev-parse", "HEAD~1").strip() == before
    added = set(git(target, "diff", "--name-only", before, "HEAD").split())
    assert added == {r["path"] for r in manifest["records"]} | {a["path"] for a in manifest["attachments"]} \
        | {"vault/YJ/YJ-0001.yaml"}
    assert git(target, "status", "--porcelain") == ""
    checked = dg(target, "check", "--all", key=key)
    assert checked.code == 0 and "0 findings" in checked.out, checked
    shown = dg(target, "show", YZ, "--decrypt", key=key)
    assert shown.code == 0 and OWNER in shown.out, shown
    assert dg(target, "attachments", "get", YZ, "deed-scan.pdf", "--out", str(target.parent / "deed.pdf"),
              key=key).code == 0
    assert (target.parent / "deed.pdf").read_bytes()[:4] == b"%PDF"

    yj = load_text(decode((target / "vault/YJ/YJ-0001.yaml").read_bytes()))
    assert (yj["status"], yj["from"], yj["received_by"], yj["witnesses"]) == ("received", FROM, "王芳", ["李主任"])
    assert yj["handed_over_by"] == manifest["exported_by"] == "測試員 Tester"
    assert yj["handed_over_at"] == manifest["exported_at"]
    assert yj["scope"] == [PREFIX]
    assert yj["source"] == {"vault": manifest["source"]["vault"], "commit": manifest["source"]["commit"]}
    assert [(i["code"], i["category"], i["title"], i["blob"]) for i in yj["items"]] == \
        [(r["code"], r["category"], r["title"], r["source_blob"]) for r in manifest["records"]]
    assert not any("mapped_to" in i for i in yj["items"])
    assert next(i for i in yj["items"] if i["code"] == YZ)["attachments"] == 1
    # refused on a second run: every code is taken now, nothing changes
    after = snapshot(target)
    again = receive(target, folder, key)
    assert again.code == 2 and "14 code(s) of the export are taken here" in again.err, again
    assert snapshot(target) == after


def test_import_with_a_map_files_them_under_the_new_project(setup) -> None:
    folder, target, key, manifest = setup
    result = receive(target, folder, key, "--map", "A01=C03", "--by", "張敏")
    assert result.code == 0, result
    assert "14 filed under a new code" in result.err
    paths = files_of(target)
    assert "vault/C03/02/001/0301/YZ/YZ-C03-02-001-0301-0001.yaml" in paths
    assert "vault/C03/02/001/0301/YZ/YZ-C03-02-001-0301-0001/deed-scan.pdf.age" in paths
    assert not any(p.startswith("vault/A01/") for p in paths)
    # references between the imported records follow them, the record's own code too
    wx = load_text(decode((target / "vault/C03/02/001/0301/WX/WX-C03-02-001-0301-0001.yaml").read_bytes()))
    assert wx["code"] == "WX-C03-02-001-0301-0001"
    assert wx["target"] == "FW-C03-02-001-0301-0001"
    assert wx["refs"] == ["FW-C03-02-001-0301-0001"]
    shown = dg(target, "show", "YZ-C03-02-001-0301-0001", "--decrypt", key=key)
    assert shown.code == 0 and OWNER in shown.out and "YZ-A01" not in shown.out, shown
    assert dg(target, "check", "--all", key=key).code == 0
    yj = load_text(decode((target / "vault/YJ/YJ-0001.yaml").read_bytes()))
    assert yj["handed_over_by"] == "張敏"
    mapped = {i["code"]: i.get("mapped_to") for i in yj["items"]}
    assert mapped[YZ] == "YZ-C03-02-001-0301-0001"
    assert len(mapped) == len(manifest["records"]) and all(mapped.values())


def test_a_collision_refuses_the_whole_import(setup) -> None:
    folder, target, key, _manifest = setup
    # one code of the export exists here already: the LD of building A01-02
    made = dg(target, "new", "LD", "A01-02", "--set", "title=2棟", "--set", "building_no=2",
              "--set", "floors=18", "--set", "units=2", key=key)
    if made.code != 0:  # the schema asks more of a building: take it from the export itself
        record = folder / "vault/A01/02/LD/LD-A01-02-0001.yaml"
        (target / "vault/A01/02/LD").mkdir(parents=True)
        shutil.copyfile(record, target / "vault/A01/02/LD/LD-A01-02-0001.yaml")
        git(target, "add", "-A")
        git(target, "commit", "-q", "-m", "a building filed by hand")
    before = snapshot(target)
    result = receive(target, folder, key)
    assert result.code == 2, result
    assert "1 code(s) of the export are taken here: LD-A01-02-0001 exists" in result.err
    assert "--map" in result.err
    assert snapshot(target) == before
    assert not (target / "vault/A01/02/001").exists()
    # mapped elsewhere, it goes in
    assert receive(target, folder, key, "--map", "A01-02=A01-05").code == 0


@pytest.mark.parametrize("tamper, words", [
    ("commit", "is not the version the manifest names"),
    ("edit", "changed after the export"),
    ("extra", "changed after the export"),
    ("extra-committed", "not in its manifest"),
    ("manifest", "not in the exported vault"),
])
def test_a_tampered_export_is_refused(setup, tamper: str, words: str) -> None:
    folder, target, key, manifest = setup
    record = folder / "vault/A01/02/LD/LD-A01-02-0001.yaml"
    if tamper in ("commit", "edit"):
        record.write_bytes(record.read_bytes().replace(b"title: ", b"title: X", 1))
        if tamper == "commit":
            git(folder, "commit", "-q", "--no-verify", "-am", "changed after the export")
    elif tamper.startswith("extra"):
        (folder / "vault/A01/02/LD/extra.yaml").write_text("x: 1\n")
        if tamper == "extra-committed":
            git(folder, "add", "-A")
            git(folder, "commit", "-q", "--no-verify", "-m", "an extra file")
    else:  # the manifest and a record changed together: the record blob no longer there
        manifest["records"][0]["blob"] = "0" * 40
        (folder / "HANDOVER.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
        git(folder, "commit", "-q", "--no-verify", "-am", "a manifest edited by hand")
        words = "is not the version the manifest names"
    before = snapshot(target)
    result = receive(target, folder, key)
    assert result.code == 2, result
    assert words in result.err, result
    assert result.err.startswith("dangan: error: ") and "\nhint: " in result.err
    assert snapshot(target) == before


def test_bad_input_changes_nothing(setup, tmp_path: Path) -> None:
    folder, target, key, _manifest = setup
    before = snapshot(target)
    company = tmp_path / "company-key"
    company.mkdir()
    cases = [
        (receive(target, folder, key, "--map", "A01"), "not OLD=NEW"),
        (receive(target, folder, key, "--map", "A01=C03-01"), "same level"),
        (receive(target, folder, key, "--map", "B01=C03"), "holds nothing under it"),
        (receive(target, folder, key, "--map", "A01=X9"), "--map"),
        (receive(target, tmp_path, key), "not an exported vault"),
        (receive(target, target, key), "is this vault"),
        (receive(target, folder, company_key(company)), "--identity"),
        (receive(target, folder, None), "--identity"),
        (dg(target, "handover", "import", str(folder), "--from", FROM, "--received-by", " ", "--witness", "李主任",
            key=key), "--received-by"),
    ]
    for result, words in cases:
        assert result.code == 2, result
        assert words in result.err, result
        lines = result.err.splitlines()
        assert lines[0].startswith("dangan: error: ") and lines[1].startswith("hint: "), result
        assert snapshot(target) == before
    missing = receive(target, folder, key, witness=False)
    assert missing.code == 2 and "--witness" in missing.err
    assert snapshot(target) == before


def _run(program: Path, root: Path, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(program), "-C", str(root), "--identity", str(key), *args],
                          capture_output=True, text=True)


@pytest.mark.parametrize(("step", "when", "outcome"), [
    ("dangan.store.transaction:Write.put", "after", "before"),  # every file written, no commit
    ("dangan.store.transaction:Write.commit", "after", "after"),  # committed, the index not yet
])
def test_an_import_killed_is_whole_after_the_next_command(setup, tmp_path: Path, step: str, when: str,
                                                          outcome: str) -> None:
    """kill -9 in the one transaction: the next command rolls it all back or finishes it;
    never some records without their receipt."""
    folder, target, key, manifest = setup
    before = snapshot(target)
    args = ["handover", "import", str(folder), "--from", FROM, "--received-by", "王芳", "--witness", "李主任"]
    killed = _run(killing(tmp_path, step, when), target, key, *args)
    assert killed.returncode == -signal.SIGKILL, killed
    looked = _run(DANGAN_BIN, target, key, "ls")
    assert looked.returncode == 0 and "an interrupted `dangan handover import`" in looked.stderr, looked
    paths = [r["path"] for r in manifest["records"]] + [a["path"] for a in manifest["attachments"]]
    if outcome == "before":
        assert snapshot(target) == before
        assert not any((target / p).exists() for p in paths) and not (target / "vault/YJ").exists()
    else:
        assert git(target, "status", "--porcelain") == ""
        assert files_of(target) >= set(paths) | {"vault/YJ/YJ-0001.yaml"}
    assert dg(target, "check", "--all", key=key).code == 0
    for path in target.rglob("*"):
        if path.is_file() and "objects" not in path.parts:
            assert OWNER.encode() not in path.read_bytes(), path


def test_an_export_killed_leaves_ciphertext_only_and_the_next_sweeps_it(exported, tmp_path: Path) -> None:
    _out, _key, public, source = exported
    out = tmp_path / "again"
    company = source.parent / "keys" / "company-key.txt"
    args = ["handover", "export", PREFIX, "--recipient", public, "--out", str(out)]
    killed = _run(killing(tmp_path, "dangan.store.transaction:Write.put", "after"), source, company, *args)
    assert killed.returncode == -signal.SIGKILL, killed
    assert not out.exists()
    partials = [p for p in tmp_path.iterdir() if p.name.startswith(".again.") and p.name.endswith(".partial")]
    assert len(partials) == 1
    for path in partials[0].rglob("*"):
        if path.is_file() and "objects" not in path.parts:
            assert OWNER.encode() not in path.read_bytes(), path
    assert _run(DANGAN_BIN, source, company, *args).returncode == 0
    assert not partials[0].exists()
    assert (out / "HANDOVER.json").is_file()
