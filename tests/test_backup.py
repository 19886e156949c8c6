"""Backups end to end (docs/backup.md): real bundles, real restores, a real bare remote.

A backup is only a backup once it has been restored, so every test here restores: ref by
ref and object by object against the original, `git fsck --full`, `check --all`. Damaged
bundles (one flipped byte in the pack, truncated, a manifest that lies) must fail `verify`
even where `git bundle verify` passes them.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import DANGAN_BIN, REPO, git, run_bin, run_cli

from dangan.formats.schemas import SchemaSet
from dangan.formats.yamlio import dump, load_roundtrip, to_plain

VALID = REPO / "tests" / "schema_examples" / "valid"
GOLDEN = REPO / "tests" / "golden" / "backup_prune.txt"


# ------------------------------------------------------------------------ helpers

def fields_of(example: str, schemas: SchemaSet) -> dict[str, Any]:
    """A valid example's fields without code, category, refs and sensitive values (the test
    vault has no recipients)."""
    tree = to_plain(load_roundtrip((VALID / example).read_text("utf-8")))
    category = tree["category"]
    sensitive = schemas.categories[category].sensitive
    return {k: v for k, v in tree.items() if k not in ("code", "category", "refs") and k not in sensitive}


def new(root: Path, example: str, location: str, tmp: Path) -> str:
    fields = fields_of(example, SchemaSet.from_dir(root / "schemas"))
    path = tmp / f"{example}.fields.yaml"
    path.write_text(dump(fields), encoding="utf-8")
    category = example.split("-")[0]
    result = run_cli(["-C", str(root), "new", category, location, "--file", str(path)])
    assert result.code == 0, result
    return result.out.strip()


def dangan(root: Path, *args: str):
    return run_cli(["-C", str(root), *args])


def refs(root: Path) -> dict[str, str]:
    out = git(root, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ") for line in out.splitlines())


def reachable_objects(root: Path) -> set[str]:
    out = git(root, "rev-list", "--objects", "--all", "--no-object-names")
    return set(out.split())


def all_objects(root: Path) -> set[str]:
    out = git(root, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
    return set(out.split())


def created(root: Path, dest: Path, *extra: str) -> dict[str, Any]:
    result = dangan(root, "backup", "create", "--dest", str(dest), "--json", *extra)
    assert result.code == 0, result
    doc = json.loads(result.out)
    assert doc["ok"] is True
    return doc


def copy_pair(bundle: Path, target_dir: Path) -> Path:
    target_dir.mkdir(parents=True, exist_ok=True)
    manifest = bundle.with_name(bundle.name.replace(".bundle", ".manifest.json"))
    shutil.copy(bundle, target_dir / bundle.name)
    shutil.copy(manifest, target_dir / manifest.name)
    return target_dir / bundle.name


def manifest_of(bundle: Path) -> Path:
    return bundle.with_name(bundle.name.replace(".bundle", ".manifest.json"))


def pack_offset(bundle: Path) -> int:
    data = bundle.read_bytes()
    return data.index(b"\n\nPACK") + 2


# ------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def source(template_vault: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vault with records and every kind of ref a plain clone would lose."""
    base = tmp_path_factory.mktemp("backup-source")
    root = base / "vault"
    shutil.copytree(template_vault, root, symlinks=True)
    new(root, "XM-residential.yaml", "A01", base)
    new(root, "SB-elevator.yaml", "A01-02", base)
    git(root, "tag", "-a", "audit-2024", "-m", "年度審計")
    git(root, "tag", "light")
    git(root, "notes", "add", "-m", "已核對 checked by the archivist", "HEAD")
    git(root, "notes", "--ref", "dangan/audit", "add", "-m", "audit note", "HEAD~1")
    git(root, "update-ref", "refs/dangan/lending/JY-0001", "HEAD~1")
    git(root, "branch", "drafts", "HEAD~1")
    return root


@pytest.fixture(scope="module")
def full(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One verified full bundle of `source` (tests that damage it work on copies)."""
    dest = tmp_path_factory.mktemp("backup-full")
    doc = created(source, dest)
    return Path(doc["bundle"])


# ------------------------------------------------------------------ create, verify

def test_create_writes_bundle_and_manifest(source: Path, full: Path) -> None:
    manifest = json.loads(manifest_of(full).read_text("utf-8"))
    assert full.name.endswith(".bundle") and full.name.startswith("測試檔案庫-")
    config = to_plain(load_roundtrip((source / "vault.yaml").read_text("utf-8")))
    assert manifest["vault_id"] == config["id"]
    assert manifest["kind"] == "full" and manifest["basis"] is None
    assert manifest["refs"] == refs(source)
    for ref in ("refs/notes/commits", "refs/notes/dangan/audit", "refs/dangan/lending/JY-0001",
                "refs/tags/audit-2024", "refs/tags/light", "refs/heads/drafts", "refs/heads/main"):
        assert ref in manifest["refs"]
    assert manifest["records"] == 2
    assert manifest["size"] == full.stat().st_size
    import hashlib

    assert manifest["sha256"] == hashlib.sha256(full.read_bytes()).hexdigest()
    assert manifest["head"] == "refs/heads/main"
    assert manifest["dangan_version"]
    assert not [p for p in full.parent.iterdir() if p.name.startswith(".")]  # no partial file left


def test_plain_clone_drops_refs_a_backup_keeps(source: Path, tmp_path: Path) -> None:
    """Why restore does not just clone: notes and refs/dangan/* do not come along."""
    git(tmp_path, "clone", "-q", str(source), "clone")
    cloned = refs(tmp_path / "clone")
    assert not any(r.startswith(("refs/notes/", "refs/dangan/")) for r in cloned)


def test_create_verify_restore_roundtrip(source: Path, full: Path, tmp_path: Path) -> None:
    result = run_bin(["backup", "verify", str(full), "--json"])
    assert result.code == 0, result
    doc = json.loads(result.out)
    assert doc["ok"] and [s["name"] for s in doc["steps"]] == [
        "manifest", "checksum", "header", "restore", "refs", "fsck", "records", "check"]

    target = tmp_path / "restored"
    result = run_bin(["backup", "restore", str(full), str(target), "--json"])
    assert result.code == 0, result
    assert json.loads(result.out)["ok"] is True
    # every ref, one by one
    original, restored = refs(source), refs(target)
    assert sorted(restored) == sorted(original)
    for ref, oid in original.items():
        assert restored[ref] == oid, ref
    # every object reachable in the original is there, and nothing else
    assert reachable_objects(target) == reachable_objects(source)
    assert all_objects(target) <= all_objects(source)
    assert git(target, "fsck", "--full", "--no-dangling").strip() == ""
    assert git(target, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(target, "status", "--porcelain").strip() == ""
    assert git(target, "notes", "show", "HEAD").strip() == "已核對 checked by the archivist"
    assert git(target, "config", "core.hooksPath").strip() == "hooks"
    check = dangan(target, "check", "--all")
    assert check.code == 0 and "0 findings" in check.out, check


def test_restored_vault_runs_its_hooks(full: Path, tmp_path: Path) -> None:
    """Hooks installed: a commit that breaks a rule is refused in the restored vault."""
    target = tmp_path / "restored"
    assert run_cli(["backup", "restore", str(full), str(target)]).code == 0
    bad = target / "vault" / "A01" / "XM" / "XM-A01-0009.yaml"
    bad.write_text("title: [unclosed\n", encoding="utf-8")
    git(target, "add", "-A")
    proc = subprocess.run(["git", "commit", "-q", "-m", "bad"], cwd=target, capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "DG101" in proc.stdout + proc.stderr


def test_flipped_pack_byte_fails_verify_though_git_bundle_verify_passes(
    source: Path, full: Path, tmp_path: Path
) -> None:
    bundle = copy_pair(full, tmp_path / "bk")
    data = bytearray(bundle.read_bytes())
    start = pack_offset(bundle)
    where = start + (len(data) - start) // 2  # inside the pack data, past its header
    data[where] ^= 0x01
    bundle.write_bytes(bytes(data))
    proc = subprocess.run(["git", "bundle", "verify", str(bundle)], cwd=source, capture_output=True, check=False)
    assert proc.returncode == 0  # the reason this command exists

    result = run_cli(["backup", "verify", str(bundle), "--json"])
    assert result.code == 1, result
    doc = json.loads(result.out)
    assert doc["ok"] is False and doc["failure"].startswith("checksum:")

    # the damage happened before the checksum was taken (a bad disk under git): the trial
    # restore still catches it
    manifest = json.loads(manifest_of(bundle).read_text("utf-8"))
    import hashlib

    manifest["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    manifest_of(bundle).write_text(json.dumps(manifest), encoding="utf-8")
    result = run_cli(["backup", "verify", str(bundle)])
    assert result.code == 1, result
    assert "restore" in result.err and "failed verification" in result.err
    assert "FAIL restore" in result.out


def test_truncated_bundle_fails(full: Path, tmp_path: Path) -> None:
    bundle = copy_pair(full, tmp_path / "bk")
    data = bundle.read_bytes()
    bundle.write_bytes(data[: len(data) - 100])
    result = run_cli(["backup", "verify", str(bundle), "--json"])
    assert result.code == 1
    failure = json.loads(result.out)["failure"]
    assert failure.startswith("checksum:") and "truncated" in failure
    # cut inside the header: still named, never a traceback
    bundle.write_bytes(data[:30])
    result = run_cli(["backup", "verify", str(bundle)])
    assert result.code == 1 and "dangan: error:" in result.err and "Traceback" not in result.err


def test_manifest_mismatch_fails(full: Path, tmp_path: Path) -> None:
    bundle = copy_pair(full, tmp_path / "bk")
    path = manifest_of(bundle)
    original = json.loads(path.read_text("utf-8"))

    def verify_with(change) -> str:
        doc = json.loads(json.dumps(original))
        change(doc)
        path.write_text(json.dumps(doc), encoding="utf-8")
        result = run_cli(["backup", "verify", str(bundle), "--json"])
        assert result.code == 1, result
        return json.loads(result.out)["failure"]

    def wrong_ref(doc):
        doc["refs"]["refs/heads/main"] = doc["refs"]["refs/heads/drafts"]

    def extra_ref(doc):
        doc["refs"]["refs/heads/gone"] = doc["refs"]["refs/heads/main"]

    def records(doc):
        doc["records"] += 1

    def vault_id(doc):
        doc["vault_id"] = "00000000-0000-0000-0000-000000000000"

    assert verify_with(wrong_ref).startswith("header:")
    assert "missing: refs/heads/gone" in verify_with(extra_ref)
    assert verify_with(records).startswith("records:")
    assert verify_with(vault_id).startswith("records:")
    path.write_text("{not json", encoding="utf-8")
    result = run_cli(["backup", "verify", str(bundle)])
    assert result.code == 1 and "manifest" in result.err
    path.unlink()
    result = run_cli(["backup", "verify", str(bundle)])
    assert result.code == 1 and "no manifest" in result.err


def test_verify_missing_file_is_bad_input(tmp_path: Path) -> None:
    result = run_cli(["backup", "verify", str(tmp_path / "nothing.bundle")])
    assert result.code == 2 and result.err.startswith("dangan: error: no bundle file")


def test_restore_refuses_a_non_empty_directory(full: Path, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = run_cli(["backup", "restore", str(full), str(target)])
    assert result.code == 2 and "not empty" in result.err
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]


def test_restore_of_a_damaged_bundle_writes_nothing(full: Path, tmp_path: Path) -> None:
    bundle = copy_pair(full, tmp_path / "bk")
    data = bytearray(bundle.read_bytes())
    data[-30] ^= 0xFF
    bundle.write_bytes(bytes(data))
    target = tmp_path / "restored"
    result = run_cli(["backup", "restore", str(bundle), str(target)])
    assert result.code == 1 and "checksum" in result.err and "nothing was written" in result.err
    assert not target.exists()


def test_findings_in_the_vault_never_stop_a_backup(source: Path, tmp_path: Path) -> None:
    """Records committed past the hooks (an unreadable one, one with a 5,000-digit integer)
    are the vault's findings, not the bundle's: create keeps a verified bundle and says
    what it found (exit 0); verify and restore say it again; the restored vault holds the
    bad records byte for byte, and every other record."""
    root = tmp_path / "vault"
    shutil.copytree(source, root, symlinks=True)
    folder = root / "vault" / "A01" / "02" / "SB"
    good = next(folder.glob("SB-*.yaml"))
    big = folder / "SB-A01-02-0009.yaml"
    text = good.read_text("utf-8").replace(good.stem, big.stem)
    big.write_text(re.sub(r"(?m)^stops: .*$", "stops: " + "1234567890" * 500, text), encoding="utf-8")
    broken = root / "vault" / "A01" / "XM" / "XM-A01-0002.yaml"
    broken.write_text("title: [unclosed\n", encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", "broken by hand")
    dest = tmp_path / "bk"
    result = dangan(root, "backup", "create", "--dest", str(dest))
    assert result.code == 0, result
    bundle = Path(result.out.strip())  # stdout is the bundle's path alone
    assert bundle.parent == dest and bundle.exists() and manifest_of(bundle).exists()
    warning = [line for line in result.err.splitlines() if line.startswith("dangan: warning:")]
    assert len(warning) == 1 and "2 finding(s)" in warning[0], result
    assert "internal error" not in result.err
    assert "`dangan check --all`" in result.err

    doc = json.loads(dangan(root, "backup", "verify", str(bundle), "--json").out)
    assert doc["ok"] is True and doc["failure"] is None
    assert len(doc["warnings"]) == 1 and doc["warnings"][0].startswith("check: 2 finding(s)")
    assert [s["name"] for s in doc["steps"] if s["warning"]] == ["check"]

    target = tmp_path / "restored"
    restored = dangan(root, "backup", "restore", str(bundle), str(target))
    assert restored.code == 0, restored
    assert "WARN check" in restored.out and "dangan: warning: check: 2 finding(s)" in restored.err
    assert (target / big.relative_to(root)).read_bytes() == big.read_bytes()
    assert (target / good.relative_to(root)).read_bytes() == good.read_bytes()
    check = run_cli(["-C", str(target), "check", "--all"])
    assert check.code == 1 and {line.split(": ")[1][:5] for line in check.out.splitlines()
                                if line.startswith("vault/")} == {"DG101"}, check


def test_a_backup_of_a_clean_vault_warns_of_nothing(full: Path) -> None:
    result = dangan(full.parent, "backup", "verify", str(full))
    assert result.code == 0 and "warning" not in result.err and "WARN" not in result.out, result


def test_create_refuses_a_destination_inside_the_vault(source: Path) -> None:
    result = dangan(source, "backup", "create", "--dest", str(source / "backups"))
    assert result.code == 2 and "inside the vault" in result.err
    assert not (source / "backups").exists()


def test_verify_checks_thousands_of_records_without_hanging(template_vault: Path, tmp_path: Path) -> None:
    """6,000 records miss the check cache in the trial restore: the check engine forks its
    workers then, and must not inherit a pipe of a running `git cat-file` (it hung so)."""
    root = tmp_path / "vault"
    shutil.copytree(template_vault, root, symlinks=True)
    code = new(root, "SB-elevator.yaml", "A01-02", tmp_path)
    first = root / "vault" / "A01" / "02" / "SB" / f"{code}.yaml"
    text = first.read_text("utf-8")
    for serial in range(2, 6001):
        other = f"SB-A01-02-{serial:04d}"
        (first.parent / f"{other}.yaml").write_text(text.replace(code, other), encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", "many records by hand")
    dest = tmp_path / "bk"
    proc = subprocess.run([str(DANGAN_BIN), "-C", str(root), "backup", "create", "--dest", str(dest), "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["records"] == 6000
    assert "6000 file(s)" in doc["verification"]["steps"][-1]["detail"]


def test_encrypted_vault_round_trip_keeps_ciphertext_and_opens_with_the_key(tmp_path: Path) -> None:
    """Sealed values travel as ciphertext; the trial restore checks the MACs with the key."""
    from dangan.formats import agekeys

    secret, public = agekeys.generate_identity()
    keyfile = tmp_path / "alice.key"
    agekeys.write_identity_file(keyfile, secret, public)
    root = tmp_path / "vault"
    assert run_cli(["init", str(root), "--recipient", f"Alice={public}"]).code == 0
    text = (VALID / "TS-complaint.yaml").read_text("utf-8")
    kept, in_refs = [], False
    for line in text.splitlines(keepends=True):
        if not line.startswith(" "):
            in_refs = line.startswith("refs:")
        if not (in_refs or line.startswith(("code:", "category:"))):
            kept.append(line)
    fields = tmp_path / "ts.yaml"
    fields.write_text("".join(kept), encoding="utf-8")
    made = run_cli(["-C", str(root), "--identity", str(keyfile), "new", "TS", "A01-02-001-0301", "--file", str(fields)])
    assert made.code == 0, made
    code = made.out.strip()

    doc = json.loads(run_cli(["-C", str(root), "--identity", str(keyfile), "backup", "create",
                              "--dest", str(tmp_path / "bk"), "--json"]).out)
    assert doc["ok"], doc
    bundle = Path(doc["bundle"])
    assert b"138-0000-1234" not in bundle.read_bytes()  # a pack compresses, so also look restored:
    target = tmp_path / "restored"
    result = run_cli(["--identity", str(keyfile), "backup", "restore", str(bundle), str(target)])
    assert result.code == 0, result
    blobs = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=target,
                           capture_output=True, check=True).stdout
    assert b"138-0000-1234" not in blobs
    shown = run_cli(["-C", str(target), "--identity", str(keyfile), "show", code, "--decrypt", "--json"])
    assert shown.code == 0 and "138-0000-1234" in shown.out


# --------------------------------------------------------------------- incremental

def test_incremental_chain_restores_the_latest_state(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(source, root, symlinks=True)
    dest = tmp_path / "bk"
    first = created(root, dest)
    assert first["kind"] == "full"

    new(root, "SB-elevator.yaml", "A01-01", tmp_path)
    git(root, "update-ref", "refs/dangan/lending/JY-0002", "HEAD")
    second = created(root, dest, "--incremental")
    assert second["kind"] == "incremental" and second["basis"] == Path(first["bundle"]).name

    new(root, "SB-water-pumps.yaml", "A01-03", tmp_path)
    git(root, "update-ref", "-d", "refs/heads/drafts")  # a ref deleted since the basis
    git(root, "notes", "append", "-m", "second note", "HEAD")
    third = created(root, dest, "--incremental")
    assert third["kind"] == "incremental" and third["basis"] == Path(second["bundle"]).name
    # an incremental holds only what is new: smaller than a full bundle
    assert third["size"] < first["size"]

    latest = Path(third["bundle"])
    result = run_cli(["backup", "verify", str(latest), "--json"])
    assert result.code == 0, result
    assert len(json.loads(result.out)["chain"]) == 3

    target = tmp_path / "restored"
    result = run_cli(["backup", "restore", str(latest), str(target)])
    assert result.code == 0, result
    assert refs(target) == refs(root)
    assert "refs/heads/drafts" not in refs(target)
    assert reachable_objects(target) == reachable_objects(root)
    assert git(target, "ls-files", "vault/").count("\n") == 4
    assert dangan(target, "check", "--all").code == 0

    # without its basis the newest bundle cannot be restored, and says so
    Path(second["bundle"]).unlink()
    result = run_cli(["backup", "verify", str(latest)])
    assert result.code == 1
    assert "needs its basis" in result.err and Path(second["bundle"]).name in result.err
    listing = json.loads(run_cli(["backup", "ls", str(dest), "--json"]).out)["bundles"]
    assert any(b["problem"] and "is missing" in b["problem"] for b in listing)


def test_incremental_on_a_damaged_basis_is_not_kept(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(source, root, symlinks=True)
    dest = tmp_path / "bk"
    basis = Path(created(root, dest)["bundle"])
    data = bytearray(basis.read_bytes())
    data[-50] ^= 0x10
    basis.write_bytes(bytes(data))
    new(root, "SB-elevator.yaml", "A01-01", tmp_path)
    result = dangan(root, "backup", "create", "--dest", str(dest), "--incremental", "--json")
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["ok"] is False and doc["bundle"] is None and doc["kind"] == "incremental"
    assert doc["verification"]["failure"].startswith("checksum:") and basis.name in doc["verification"]["failure"]
    assert "without --incremental" in result.err
    assert len(list(dest.iterdir())) == 2  # the damaged basis and its manifest, nothing new


def test_incremental_with_nothing_new_writes_nothing(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(source, root, symlinks=True)
    dest = tmp_path / "bk"
    first = created(root, dest)
    result = dangan(root, "backup", "create", "--dest", str(dest), "--incremental")
    assert result.code == 0 and "nothing changed" in result.err
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [Path(first["bundle"]).name, Path(first["manifest"]).name])


def test_incremental_without_any_basis_makes_a_full_bundle(source: Path, tmp_path: Path) -> None:
    doc = created(source, tmp_path / "bk", "--incremental")
    assert doc["kind"] == "full"


# -------------------------------------------------------------------------- mirror

def test_mirror_is_append_only(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(source, root, symlinks=True)
    remote = tmp_path / "offsite.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))

    result = dangan(root, "backup", "mirror", str(remote), "--json")
    assert result.code == 0, result
    doc = json.loads(result.out)
    assert doc["ok"] and not doc["rejected"] and not doc["differ"]
    assert refs(remote) == refs(root)  # notes and refs/dangan/* arrived
    assert "refs/notes/commits" in refs(remote) and "refs/dangan/lending/JY-0001" in refs(remote)

    # nothing new: still fine
    assert dangan(root, "backup", "mirror", str(remote)).code == 0

    # a local history rewrite and a deleted ref
    before = refs(remote)
    git(root, "commit", "-q", "--amend", "--no-verify", "-m", "rewritten")
    git(root, "update-ref", "-d", "refs/dangan/lending/JY-0001")
    result = dangan(root, "backup", "mirror", str(remote), "--json")
    assert result.code == 1, result
    doc = json.loads(result.out)
    assert "refs/heads/main" in doc["rejected"] and "refs/heads/main" in doc["differ"]
    assert "refs/dangan/lending/JY-0001" in doc["remote_only"]
    after = refs(remote)
    assert after["refs/heads/main"] == before["refs/heads/main"]  # the remote keeps its commits
    assert after == before
    text = dangan(root, "backup", "mirror", str(remote))
    assert text.code == 1 and "REFUSED   refs/heads/main" in text.out and "dangan: error:" in text.err


def test_mirror_to_a_missing_remote_is_an_error(source: Path, tmp_path: Path) -> None:
    result = dangan(source, "backup", "mirror", str(tmp_path / "nowhere.git"))
    assert result.code == 2 and result.err.startswith("dangan: error: git push")


def test_mirror_refuses_a_remote_configured_as_a_mirror(source: Path, tmp_path: Path) -> None:
    """`remote.X.mirror = true` would make git delete and force: nothing is pushed."""
    root = tmp_path / "vault"
    shutil.copytree(source, root, symlinks=True)
    remote = tmp_path / "offsite.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "remote", "add", "offsite", str(remote))
    git(root, "config", "remote.offsite.mirror", "true")
    result = dangan(root, "backup", "mirror", "offsite")
    assert result.code == 2 and "unset remote.offsite.mirror" in result.err
    assert refs(remote) == {}


# --------------------------------------------------------------------------- prune

VAULT_A = "11111111-1111-4111-8111-111111111111"
VAULT_B = "22222222-2222-4222-8222-222222222222"


def fake_bundle(directory: Path, stamp: str, kind: str = "full", basis: str | None = None,
                vault_id: str = VAULT_A, name: str = "archive") -> str:
    """A back-dated bundle name with its manifest (prune reads names and manifests only)."""
    bundle = f"{name}-{stamp}.bundle"
    (directory / bundle).write_bytes(b"# v2 git bundle\n\n")
    manifest = {
        "format": "dangan-backup 1", "bundle": bundle, "vault_id": vault_id, "vault_name": name,
        "created": stamp, "timezone": "Asia/Shanghai", "kind": kind, "basis": basis,
        "basis_sha256": "0" * 64 if basis else None, "prerequisites": [], "head": "refs/heads/main",
        "head_commit": "0" * 40, "refs": {}, "records": 0, "size": 17, "sha256": "0" * 64,
        "dangan_version": "0.1.0",
    }
    (directory / f"{name}-{stamp}.manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return bundle


def golden_directory(directory: Path) -> None:
    """Two years of back-dated bundles: monthly fulls, a week of daily incrementals, two
    bundles on one day, late-evening UTC bundles that fall on the next day in Shanghai, an
    unknown file and a second vault."""
    for year, month in [(2022, 11), (2022, 12)] + [(2023, m) for m in range(1, 13)] + [(2024, 1), (2024, 2), (2024, 3)]:
        fake_bundle(directory, f"{year}{month:02d}01T020000Z")
    # 2024-03-03 full, then daily incrementals at 17:30 UTC (01:30 the next day in Shanghai)
    previous = fake_bundle(directory, "20240303T020000Z")
    for day in range(3, 10):
        previous = fake_bundle(directory, f"202403{day:02d}T173000Z", "incremental", previous)
    # two on 2024-03-10 (Shanghai): only the later one is that day's
    previous = fake_bundle(directory, "20240310T010000Z", "incremental", previous)
    fake_bundle(directory, "20240310T090000Z", "incremental", previous)
    # an incremental of February whose chain must survive if it is kept
    feb = fake_bundle(directory, "20240215T020000Z", "full")
    fake_bundle(directory, "20240220T020000Z", "incremental", feb)
    (directory / "notes-20240101T000000Z.bundle").write_bytes(b"not ours")  # no manifest
    fake_bundle(directory, "20240305T020000Z", vault_id=VAULT_B, name="other")
    fake_bundle(directory, "20240101T020000Z", vault_id=VAULT_B, name="other")


def test_prune_keep_rules_golden(tmp_path: Path) -> None:
    directory = tmp_path / "bk"
    directory.mkdir()
    golden_directory(directory)
    before = sorted(p.name for p in directory.iterdir())
    args = ["backup", "prune", str(directory), "--keep-daily", "3", "--keep-weekly", "3",
            "--keep-monthly", "4", "--keep-yearly", "2", "--dry-run"]
    result = run_cli(args)
    assert result.code == 0, result
    assert result.out == GOLDEN.read_text("utf-8")
    assert sorted(p.name for p in directory.iterdir()) == before  # dry run

    plan = json.loads(run_cli([*args, "--json"]).out)["decisions"]
    removed = {d["bundle"] for d in plan if d["action"] == "remove"}
    kept = {d["bundle"] for d in plan if d["action"] == "keep"}
    result = run_cli(args[:-1])
    assert result.code == 0, result
    left = {p.name for p in directory.iterdir() if p.name.endswith(".bundle")}
    assert left == kept and not left & removed
    # no kept incremental lost its basis
    for name in left:
        manifest = directory / name.replace(".bundle", ".manifest.json")
        if manifest.exists():
            basis = json.loads(manifest.read_text("utf-8"))["basis"]
            assert basis is None or basis in left, name
    # every removed bundle took its manifest with it
    assert not any((directory / n.replace(".bundle", ".manifest.json")).exists() for n in removed)


def test_prune_restic_rules_by_hand(tmp_path: Path) -> None:
    """A small case worked out by hand: keep-daily 2 keeps the newest of the two newest days;
    keep-monthly 2 the newest of the two newest months; a kept incremental keeps its full."""
    directory = tmp_path / "bk"
    directory.mkdir()
    jan = fake_bundle(directory, "20240110T020000Z")
    fake_bundle(directory, "20240120T020000Z")  # older in January than the newest: removed
    fake_bundle(directory, "20240125T020000Z")  # January's newest: monthly
    feb_full = fake_bundle(directory, "20240201T020000Z")
    fake_bundle(directory, "20240202T020000Z", "incremental", feb_full)  # daily (2nd newest day)
    fake_bundle(directory, "20240203T010000Z", "incremental", feb_full)  # same day as below: removed
    fake_bundle(directory, "20240203T030000Z", "incremental", feb_full)  # daily + monthly
    result = run_cli(["backup", "prune", str(directory), "--keep-daily", "2", "--keep-monthly", "2", "--json"])
    assert result.code == 0, result
    actions = {d["bundle"]: d["action"] for d in json.loads(result.out)["decisions"]}
    assert {b for b, a in actions.items() if a == "keep"} == {
        "archive-20240125T020000Z.bundle", feb_full, "archive-20240202T020000Z.bundle",
        "archive-20240203T030000Z.bundle"}
    assert actions[jan] == "remove"


def test_prune_needs_a_rule(tmp_path: Path) -> None:
    directory = tmp_path / "bk"
    directory.mkdir()
    fake_bundle(directory, "20240110T020000Z")
    result = run_cli(["backup", "prune", str(directory)])
    assert result.code == 2 and "no keep rule" in result.err
    assert len(list(directory.iterdir())) == 2


def test_ls_lists_oldest_first(tmp_path: Path) -> None:
    directory = tmp_path / "bk"
    directory.mkdir()
    golden_directory(directory)
    result = run_cli(["backup", "ls", str(directory), "--json"])
    assert result.code == 0, result
    bundles = json.loads(result.out)["bundles"]
    times = [b["time"] for b in bundles if b["time"]]
    assert times == sorted(times)
    unknown = [b for b in bundles if b["bundle"] == "notes-20240101T000000Z.bundle"]
    assert unknown and "no manifest" in unknown[0]["problem"]
    text = run_cli(["backup", "ls", str(directory)])
    assert text.code == 0 and "archive-20240303T020000Z.bundle  full" in text.out


def test_a_check_that_breaks_is_a_warning_not_a_lost_backup() -> None:
    """The check step runs the rule engine over whatever the vault holds; should it ever
    break on some record (a bug), the bundle, already proved by refs and fsck, is kept and
    the operator is told how to get the traceback."""
    from dangan.services import backup

    def broken() -> str:
        raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")

    result = backup.Verification("x.bundle")
    assert backup._Runner(result, None)("check", backup._guarded(broken)) is True
    assert result.ok and result.warnings[0].startswith("check: the check stopped with an internal error (ValueError)")
    assert "DANGAN_DEBUG=1" in result.warnings[0]


def test_a_killed_creates_partial_file_is_swept_by_the_next_create(source: Path, tmp_path: Path) -> None:
    """`.NAME.PID.partial`: removed when its process is gone and it is over an hour old;
    kept while young, or while its process runs (another create under way)."""
    import os
    import time as clock

    from dangan.services.backup import PARTIAL_AGE, _sweep_partials

    dest = tmp_path / "backups"
    dest.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    old = clock.time() - PARTIAL_AGE - 60
    stale = dest / f".v-20240101T000000Z.bundle.{dead.pid}.partial"
    young = dest / f".v-20240102T000000Z.bundle.{dead.pid}.partial"
    running = dest / f".v-20240103T000000Z.bundle.{os.getpid()}.partial"
    for path in (stale, young, running):
        path.write_bytes(b"# v2 git bundle\n")
    os.utime(stale, (old, old))
    os.utime(running, (old, old))
    assert _sweep_partials(dest) == [stale]
    assert not stale.exists() and young.exists() and running.exists()
    os.utime(young, (old, old))  # and through the command itself
    made = run_cli(["-C", str(source), "backup", "create", "--dest", str(dest)])
    assert made.code == 0, made
    assert not young.exists() and running.exists()
