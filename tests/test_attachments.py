"""Encrypted attachments end to end (issue 10; docs/attachments.md).

Real vaults with real age keys, real commits through the vault's hooks. What the issue asks
to prove: a 20 MB file goes in and comes back byte-identical without being held whole in
memory; the stored file opens with the `age` command-line tool; no plaintext reaches a Git
object or a temp directory; a removed recipient cannot open the new versions; a real
`git commit` is refused for an unlisted file, a missing attachment, a hash mismatch and a
clear file, each with its rule id; a retention sweep destroys attachments with their record
and lists them on the certificate.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, Result, git, run_cli, snapshot, sops_config
from test_encryption import Key, make_key  # real age keys in files, as users keep them

from dangan.errors import DanganError
from dangan.formats.yamlio import dump, load_text
from dangan.services import attachments
from dangan.store import attached

VALID = REPO / "tests" / "schema_examples" / "valid"
needs_age = pytest.mark.skipif(shutil.which("age") is None, reason="age CLI not installed")
APPROVER, ARCHIVIST = "陳立新", "張敏"
FW = "FW-A01-01-002-1802-0001"
FW_PATH = f"vault/A01/01/002/1802/FW/{FW}.yaml"
FW_DIR = FW_PATH[:-5]
YZ = "YZ-A01-02-001-0301-0001"
MB = 1024 * 1024


def dg(root: Path, *args: str, key: Key | None = None, env: dict[str, str] | None = None) -> Result:
    ident = ["--identity", str(key.file)] if key is not None else []
    if args[0] == "attach" and "--by" not in args:  # the test vaults have no git user.name
        args = (*args, "--by", ARCHIVIST)
    return run_cli(["-C", str(root), *ident, *args], env=env)


def ok(result: Result) -> Result:
    assert result.code == 0, result
    assert "Traceback" not in result.err
    return result


def fields(name: str, **changes: object) -> str:
    """A valid schema example as `new --file` input (no code, category or refs)."""
    tree = load_text((VALID / name).read_text("utf-8"))
    for key in ("code", "category", "refs", "retention"):
        tree.pop(key, None)
    tree.update(changes)
    return dump(tree)


def new(root: Path, tmp: Path, category: str, location: str, example: str, key: Key | None = None,
        **changes: object) -> str:
    source = tmp / f"{category}-{location}.yaml"
    source.write_text(fields(example, **changes), "utf-8")
    return ok(dg(root, "new", category, location, "--file", str(source), key=key)).out.strip()


def record(root: Path, path: str = FW_PATH) -> dict:
    return load_text((root / path).read_text("utf-8"))


def all_objects(root: Path) -> bytes:
    return subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=root,
                          capture_output=True, check=True).stdout


def commit(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "commit", "-q", "-m", "by hand", *extra], cwd=root, capture_output=True, text=True)


def rules(text: str) -> set[tuple[str, str]]:
    found = set()
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].startswith("DG"):
            found.add((parts[0][:-1], parts[1]))
    return found


def opens(path: Path, key: Key) -> bytes | None:
    import pyrage

    try:
        return pyrage.decrypt(path.read_bytes(), [key.identity])
    except pyrage.DecryptError:
        return None


# ----------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Key]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: make_key(folder, name) for name in ("alice", "bob", "carol")}


@dataclass
class Big:
    root: Path
    plain: Path  # the 20 MB original
    got: Path  # what `attachments get --out` wrote
    tmpdir: Path  # TMPDIR while attaching and getting


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Key]) -> Big:
    """A vault (Alice, Bob) with a 20 MB random file attached to a clear FW record and
    fetched back; tests only read it."""
    base = tmp_path_factory.mktemp("big")
    root = base / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"Alice={keys['alice'].public}",
                "--recipient", f"Bob={keys['bob'].public}"]))
    assert new(root, base, "FW", "A01-01-002-1802", "FW-room.yaml") == FW
    plain = base / "scan.pdf"
    plain.write_bytes(os.urandom(20 * MB))
    tmpdir = base / "tmp"
    tmpdir.mkdir()
    env = {"TMPDIR": str(tmpdir)}
    ok(dg(root, "attach", FW, str(plain), "--title", "房屋平面圖", "--by", ARCHIVIST, env=env))
    got = base / "got.pdf"
    ok(dg(root, "attachments", "get", FW, "scan.pdf", "--out", str(got), key=keys["bob"], env=env))
    return Big(root, plain, got, tmpdir)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Key]) -> Path:
    """A vault (Alice) with a small attachment committed to FW; tests copy it."""
    base = tmp_path_factory.mktemp("small")
    root = base / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"Alice={keys['alice'].public}"]))
    new(root, base, "FW", "A01-01-002-1802", "FW-room.yaml")
    (base / "plan.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"floor plan " * 100)
    ok(dg(root, "attach", FW, str(base / "plan.png")))
    return root


@pytest.fixture
def v(small: Path, tmp_path: Path) -> Path:
    target = tmp_path / "vault"
    shutil.copytree(small, target, symlinks=True)
    return target


# ----------------------------------------------------------------- a 20 MB file

def test_a_large_file_comes_back_byte_identical(big: Big) -> None:
    assert big.got.read_bytes() == big.plain.read_bytes()
    assert big.got.stat().st_mode & 0o777 == 0o600
    entry = record(big.root)["attachments"][0]
    stored = big.root / FW_DIR / "scan.pdf.age"
    assert entry["file"] == "scan.pdf" and entry["type"] == "application/pdf" and entry["title"] == "房屋平面圖"
    assert entry["by"] == ARCHIVIST and entry["size"] == stored.stat().st_size > 20 * MB
    assert entry["sha256"] == attachments.sha256_of(stored)
    assert stored.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert git(big.root, "log", "-1", "--format=%s").strip() == f"dangan attach: {FW} scan.pdf"
    assert git(big.root, "status", "--porcelain") == ""
    assert list(big.tmpdir.iterdir()) == []  # nothing, not even ciphertext, went to TMPDIR
    assert ok(dg(big.root, "check", "--all")).code == 0


@needs_age
def test_the_stored_file_opens_with_the_age_cli(big: Big, keys: dict[str, Key]) -> None:
    for who in ("alice", "bob"):
        proc = subprocess.run(["age", "-d", "-i", str(keys[who].file), str(big.root / FW_DIR / "scan.pdf.age")],
                              capture_output=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == big.plain.read_bytes()
    refused = subprocess.run(["age", "-d", "-i", str(keys["carol"].file), str(big.root / FW_DIR / "scan.pdf.age")],
                             capture_output=True)
    assert refused.returncode != 0


def test_no_plaintext_in_any_git_object(big: Big) -> None:
    objects = all_objects(big.root)
    data = big.plain.read_bytes()
    assert len(objects) > 20 * MB  # the ciphertext is there ...
    for offset in range(0, len(data) - 64, len(data) // 16):
        assert data[offset : offset + 64] not in objects  # ... and no piece of the plaintext
    assert attachments.sha256_of(big.plain).encode() not in objects  # nor its hash


def _peak_kib(root: Path, args: list[str]) -> int:
    """Peak memory of `dangan ARGS` run in a fresh interpreter (VmHWM: ru_maxrss would
    include the parent's peak, which survives fork and exec)."""
    script = ("import re, sys\nfrom dangan.cli.main import main\ncode = main(sys.argv[1:])\n"
              "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\nsys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", script, "-C", str(root), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_attach_and_get_stream_without_holding_the_file(tmp_path: Path, keys: dict[str, Key]) -> None:
    root = tmp_path / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"Alice={keys['alice'].public}"]))
    new(root, tmp_path, "FW", "A01-01-002-1802", "FW-room.yaml")
    sizes = {}
    for mb in (1, 48):
        source = tmp_path / f"f{mb}.bin"
        source.write_bytes(os.urandom(mb * MB))
        attach = _peak_kib(root, ["attach", FW, str(source), "--by", ARCHIVIST])
        get = _peak_kib(root, ["--identity", str(keys["alice"].file), "attachments", "get", FW, source.name,
                               "--out", str(tmp_path / "out.bin")])
        assert (tmp_path / "out.bin").read_bytes() == source.read_bytes()
        sizes[mb] = (attach, get)
    # 47 MB more file: far less than 47 MB more memory (it would be twice that if held)
    assert sizes[48][0] - sizes[1][0] < 16 * 1024, sizes
    assert sizes[48][1] - sizes[1][1] < 16 * 1024, sizes


# ------------------------------------------------------------ commands, bad input

def test_ls_get_rm(v: Path, keys: dict[str, Key], tmp_path: Path) -> None:
    listed = json.loads(ok(dg(v, "attachments", "ls", FW, "--json")).out)
    assert [(e["file"], e["type"], e["present"]) for e in listed["attachments"]] == [("plan.png", "image/png", True)]
    assert listed["attachments"][0]["path"] == f"{FW_DIR}/plan.png.age"
    assert "plan.png\timage/png" in ok(dg(v, "attachments", "ls", FW)).out
    got = ok(dg(v, "attachments", "get", FW, "plan.png", key=keys["alice"]))  # to standard output
    assert got.out.encode("utf-8", "surrogateescape").startswith(b"\x89PNG") or got.out.startswith("\ufffdPNG")
    no_key = dg(v, "attachments", "get", FW, "plan.png", "--out", str(tmp_path / "x"), key=keys["carol"])
    assert no_key.code == 2 and "recipient" in no_key.err and not (tmp_path / "x").exists()
    assert dg(v, "attachments", "get", FW, "nope.png", "--out", str(tmp_path / "x")).code == 2
    journal = Path(git(v, "rev-parse", "--git-common-dir").strip())
    entries = [json.loads(line) for line in ((v / journal if not journal.is_absolute() else journal)
                                             / "dangan" / "journal.jsonl").read_text("utf-8").splitlines()]
    assert [(e["command"], e["codes"], e["files"]) for e in entries] == [
        ("attachments get", [FW], [f"{FW_DIR}/plan.png.age"])]  # the one that decrypted

    removed = json.loads(ok(dg(v, "attachments", "rm", FW, "plan.png", "--json")).out)
    assert removed["removed"] == [f"{FW_DIR}/plan.png.age"] and removed["commit"]
    assert "attachments" not in record(v) and not (v / FW_DIR).exists()
    # the text diff names the attachment by file, not as the JSON of the listing (issue 24)
    shown = ok(dg(v, "diff", "--from", "HEAD~1", "--to", "HEAD")).out
    assert re.search(r"- attachments: -plan\.png \(.*image/png, [0-9,]+ bytes", shown), shown
    assert '{"file"' not in shown
    assert git(v, "log", "-1", "--format=%s").strip() == f"dangan attachments rm: {FW} plan.png"
    assert git(v, "status", "--porcelain") == ""
    ok(dg(v, "check", "--all"))


@pytest.mark.parametrize("name", ["../escape.png", ".hidden", "a/b.png", "con\x00.png", "x" * 200, "trailing.", "a|b"])
def test_unsafe_names_are_refused_and_nothing_changes(v: Path, tmp_path: Path, name: str) -> None:
    source = tmp_path / "ok.png"
    source.write_bytes(b"\x89PNG data")
    before = snapshot(v)
    result = dg(v, "attach", FW, str(source), "--name", name)
    assert result.code == 2 and result.err.startswith("dangan: error:"), result
    assert snapshot(v) == before
    assert sorted(p.name for p in (v / FW_DIR).iterdir()) == ["plan.png.age"]


def test_bad_input_leaves_nothing(v: Path, tmp_path: Path) -> None:
    source = tmp_path / "plan.png"
    source.write_bytes(b"another plan")
    before = snapshot(v)
    for args in (["attach", FW, str(source)],  # the name is taken
                 ["attach", FW, str(source), "--name", "PLAN.PNG"],  # also taken, by case
                 ["attach", FW, str(tmp_path / "missing.png")],
                 ["attach", FW, str(source), str(source), "--name", "x.png"],
                 ["attach", FW, str(source), "--name", "n.png", "--type", "not a type"],
                 ["attach", "FW-A01-01-002-1802-0009", str(source)],
                 ["attachments", "rm", FW, "nothing.png"]):
        result = dg(v, *args)
        assert result.code == 2 and "Traceback" not in result.err, (args, result)
        assert snapshot(v) == before, args
    assert sorted(p.name for p in (v / FW_DIR).iterdir()) == ["plan.png.age"]


def test_an_encrypted_record_needs_a_key_to_change_its_listing(tmp_path: Path, keys: dict[str, Key]) -> None:
    root = tmp_path / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"Alice={keys['alice'].public}"]))
    assert new(root, tmp_path, "YZ", "A01-02-001-0301", "YZ-owner-file.yaml") == YZ
    scan = tmp_path / "deed.pdf"
    scan.write_bytes(b"%PDF-1.4 title deed of the owner")
    before = snapshot(root)
    refused = dg(root, "attach", YZ, str(scan))
    assert refused.code == 2 and snapshot(root) == before
    assert not (root / f"vault/A01/02/001/0301/YZ/{YZ}").exists()  # no temp file left either
    ok(dg(root, "attach", YZ, str(scan), "--name", "deed-scan.pdf", key=keys["alice"]))
    stored = record(root, f"vault/A01/02/001/0301/YZ/{YZ}.yaml")
    assert "sops" in stored and stored["attachments"][0]["file"] == "deed-scan.pdf"
    ok(dg(root, "check", "--all", key=keys["alice"]))  # the MAC covers the listing


# ------------------------------------------------------------------ check rules

def _stage_and_commit(root: Path) -> subprocess.CompletedProcess[str]:
    git(root, "add", "-A", "--", "vault")
    return commit(root)


def break_unlisted(root: Path) -> str:
    shutil.copyfile(root / FW_DIR / "plan.png.age", root / FW_DIR / "copy.png.age")
    return f"{FW_DIR}/copy.png.age"


def break_missing(root: Path) -> str:
    (root / FW_DIR / "plan.png.age").unlink()
    return FW_PATH


def break_mismatch(root: Path, key: Key) -> str:
    import pyrage

    (root / FW_DIR / "plan.png.age").write_bytes(pyrage.encrypt(b"a different plan", [pyrage.x25519.Recipient.from_str(key.public)]))
    return f"{FW_DIR}/plan.png.age"


def break_clear(root: Path) -> str:
    (root / FW_DIR / "notes.txt").write_text("業主身份證號 320506198507151234\n", "utf-8")
    return f"{FW_DIR}/notes.txt"


def break_stray_clear(root: Path) -> str:
    (root / "vault/A01/scan.jpg").write_bytes(b"\xff\xd8\xff clear scan")
    return "vault/A01/scan.jpg"


@pytest.mark.parametrize("case, rule", [("unlisted", "DG116"), ("missing", "DG115"), ("mismatch", "DG115"),
                                        ("clear", "DG117"), ("stray_clear", "DG104")])
def test_a_real_commit_is_refused_with_the_rule_id(v: Path, keys: dict[str, Key], case: str, rule: str) -> None:
    where = break_mismatch(v, keys["alice"]) if case == "mismatch" else globals()[f"break_{case}"](v)
    head = git(v, "rev-parse", "HEAD")
    refused = _stage_and_commit(v)
    assert refused.returncode != 0 and (where, rule) in rules(refused.stderr), refused.stderr
    assert git(v, "rev-parse", "HEAD") == head
    # the same finding in the work tree, and in a commit that skipped the hooks
    assert (where, rule) in rules(dg(v, "check", "--all").out + dg(v, "check", "--all").err)
    assert commit(v, "--no-verify").returncode == 0
    ranged = dg(v, "check", "--range", "HEAD~1..HEAD")
    assert ranged.code == 1 and (where, rule) in rules(ranged.out + ranged.err), ranged


def test_an_attachment_left_without_its_record_is_dg116(v: Path) -> None:
    git(v, "rm", "-q", "--", FW_PATH)
    refused = commit(v)
    assert refused.returncode != 0
    assert (f"{FW_DIR}/plan.png.age", "DG116") in rules(refused.stderr)


def test_warm_checks_trust_the_facts_of_unchanged_blobs(v: Path) -> None:
    """Facts are cached by blob id: a warm check never hashes an unchanged file again (the
    proof: a planted wrong fact is believed until the blob changes)."""
    git(v, "update-index", "-q", "--refresh")  # the copy's stat data: git's check says clean
    ok(dg(v, "check", "--all"))
    cache = Path(git(v, "rev-parse", "--absolute-git-dir").strip()) / "dangan" / "cache"
    facts = json.loads((cache / "attachments.json").read_text("utf-8"))
    blob = git(v, "rev-parse", f"HEAD:{FW_DIR}/plan.png.age").strip()
    assert blob in facts
    facts[blob][0] = "0" * 64
    (cache / "attachments.json").write_text(json.dumps(facts), "utf-8")
    for memo in [*cache.glob("tree-*"), *cache.glob("check-*")]:  # records are judged again
        memo.unlink()
    assert (f"{FW_DIR}/plan.png.age", "DG115") in rules(dg(v, "check", "--all").out)


def test_a_record_edited_to_drop_its_listing_is_dg116(v: Path) -> None:
    tree = record(v)
    del tree["attachments"]
    (v / FW_PATH).write_text(dump(tree), "utf-8")
    refused = _stage_and_commit(v)
    assert (f"{FW_DIR}/plan.png.age", "DG116") in rules(refused.stderr)


# ---------------------------------------------------------------- key changes

def test_a_removed_recipient_cannot_open_the_new_versions(tmp_path: Path, keys: dict[str, Key]) -> None:
    root = tmp_path / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"Alice={keys['alice'].public}",
                "--recipient", f"Bob={keys['bob'].public}"]))
    new(root, tmp_path, "FW", "A01-01-002-1802", "FW-room.yaml")
    secret = b"%PDF-1.4 floor plan " + os.urandom(200_000)
    (tmp_path / "plan.pdf").write_bytes(secret)
    ok(dg(root, "attach", FW, str(tmp_path / "plan.pdf")))
    stored = root / FW_DIR / "plan.pdf.age"
    assert opens(stored, keys["bob"]) == secret
    before = record(root)["attachments"][0]

    ok(dg(root, "recipients", "remove", "Bob", key=keys["alice"]))
    after = record(root)["attachments"][0]
    assert after["sha256"] != before["sha256"] and after["recipients"] != before["recipients"]
    assert opens(stored, keys["bob"]) is None and opens(stored, keys["alice"]) == secret
    assert git(root, "status", "--porcelain") == ""
    assert sorted(p.name for p in stored.parent.iterdir()) == ["plan.pdf.age"]  # no temp files
    ok(dg(root, "check", "--all"))

    ok(dg(root, "recipients", "add", "Carol", keys["carol"].public, key=keys["alice"]))
    assert opens(stored, keys["carol"]) == secret
    ok(dg(root, "check", "--all"))


def test_a_hand_edited_recipient_list_is_dg118_until_updatekeys(v: Path, keys: dict[str, Key]) -> None:
    config = load_text((v / "vault.yaml").read_text("utf-8"))
    config["recipients"].append({"name": "Bob", "key": keys["bob"].public, "roles": []})
    (v / "vault.yaml").write_text(dump(config), "utf-8")
    (v / ".sops.yaml").write_bytes(sops_config(v))  # DG114 without it
    git(v, "commit", "-q", "-m", "Bob joins, by hand", "--", "vault.yaml", ".sops.yaml")  # hooks judge what changed
    assert (f"{FW_DIR}/plan.png.age", "DG118") in rules(dg(v, "check", "--all").out)
    ok(dg(v, "keys", "updatekeys", key=keys["alice"]))
    ok(dg(v, "check", "--all"))
    assert opens(v / FW_DIR / "plan.png.age", keys["bob"]) is not None


# ------------------------------------------------------------------- destruction

def test_a_sweep_destroys_attachments_with_their_record(tmp_path: Path, keys: dict[str, Key]) -> None:
    root = tmp_path / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"{APPROVER}={keys['alice'].public}",
                "--recipient", f"{ARCHIVIST}={keys['bob'].public}"]))
    config = load_text((root / "vault.yaml").read_text("utf-8"))
    config["recipients"][0]["roles"] = ["approver"]
    config["recipients"][1]["roles"] = ["archivist"]
    (root / "vault.yaml").write_text(dump(config), "utf-8")
    git(root, "commit", "-q", "-am", "roles")
    code = new(root, tmp_path, "HJ", "A01", "HJ-tank-cleaning.yaml", opened="2019-05-14", closed="2019-05-20",
               period_start="2019-05-14", period_end="2019-05-14")
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4 water test report")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff tank photo")
    ok(dg(root, "attach", code, str(tmp_path / "report.pdf"), str(tmp_path / "photo.jpg")))
    listing = {e["file"]: e["sha256"] for e in record(root, f"vault/A01/HJ/{code}.yaml")["attachments"]}
    plan = tmp_path / "plan.yaml"
    ok(dg(root, "retention", "plan", "--category", "HJ", "--out", str(plan)))
    # a hand-made disposal that leaves the attachments behind is refused
    git(root, "rm", "-q", "--", f"vault/A01/HJ/{code}.yaml")
    assert commit(root).returncode != 0
    git(root, "reset", "-q", "--hard")

    ok(dg(root, "retention", "approve", str(plan), "--by", APPROVER))
    done = dg(root, "retention", "apply", str(plan), "--witness", "錢芳",
              "--witness", "孫麗", "--method", "碎紙機粉碎", "--place", "總部檔案室", "--by", ARCHIVIST, "--json")
    ok(done)
    assert not (root / f"vault/A01/HJ/{code}").exists()
    changed = sorted(line for line in git(root, "show", "--name-status", "--format=", "HEAD").splitlines() if line)
    assert changed == sorted(["A\tvault/XH/XH-0001.yaml", f"D\tvault/A01/HJ/{code}.yaml",
                              f"D\tvault/A01/HJ/{code}/photo.jpg.age", f"D\tvault/A01/HJ/{code}/report.pdf.age"])
    item = record(root, "vault/XH/XH-0001.yaml")["items"][0]
    assert {a["file"]: a["sha256"] for a in item["attachments"]} == listing
    ok(dg(root, "check", "--all"))
    ok(dg(root, "check", "--range", "HEAD~1..HEAD"))


# ------------------------------------------------------------------- the pieces

@pytest.mark.parametrize("rel, record", [
    (f"{FW_DIR}/plan.png.age", FW_PATH),
    (f"{FW_DIR}/anything", FW_PATH),
    ("vault/JY/JY-0001/x.age", "vault/JY/JY-0001.yaml"),
    (FW_PATH, None),
    ("vault/A01/HJ/HJ-A01-0001/sub/x.age", None),
    ("vault/A01/02/HJ-A01-0001/x.age", None),  # not where HJ-A01-0001 lives
    ("vault/A01/note.txt", None),
])
def test_owner(rel: str, record: str | None) -> None:
    assert attached.owner(rel) == record


def test_safe_names() -> None:
    assert attached.safe_name(" 房產證.pdf ") == "房產證.pdf"
    assert attached.safe_name("scan.pdf.age") == "scan.pdf"
    assert attached.safe_name("e\u0301.png") == "\u00e9.png"  # NFC
    for bad in ("", "..", ".x", "a/b", "a\\b", "a\nb", "a:b", "x" * 121, "dot."):
        with pytest.raises(DanganError):
            attached.safe_name(bad)


def test_a_git_lfs_pointer_stands_for_its_file() -> None:
    oid = "a" * 64
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 12345\n".encode()
    m = attached._Measure(None)
    m.update(pointer)
    assert m.stored("b" * 40) == attached.Stored("b" * 40, oid, 12345, None)
    assert attached.file_findings("vault/x", pointer) == []


def test_a_hand_edited_name_never_reaches_outside_the_records_folder(v: Path, tmp_path: Path,
                                                                     keys: dict[str, Key]) -> None:
    """`file: ../../x` written by hand (committed past the hook): get, ls and rm refuse
    it with one line before any path is opened (issue 19)."""
    outside = v / "vault" / "secret.txt.age"
    outside.write_bytes(b"not an attachment of FW")
    tree = record(v)
    stored = (v / FW_DIR / f"{tree['attachments'][0]['file']}.age").read_bytes()
    tree["attachments"][0]["file"] = "../../../../../secret.txt"
    (v / FW_PATH).write_text(dump(tree), encoding="utf-8")
    git(v, "commit", "-q", "--no-verify", "-am", "hand edit")
    before = snapshot(v)
    for args in (["attachments", "get", FW, "../../../../../secret.txt", "--out", str(tmp_path / "got")],
                 ["attachments", "ls", FW],
                 ["attachments", "rm", FW, "../../../../../secret.txt"]):
        result = dg(v, *args, key=keys["alice"])
        assert result.code == 2 and "is not one file name" in result.err, (args, result)
        assert result.err.count("\n") == 2  # one line and its hint
    assert snapshot(v) == before and not (tmp_path / "got").exists()
    assert outside.read_bytes() == b"not an attachment of FW" and stored
    check = dg(v, "check", "--all")
    assert check.code == 1 and "DG102" in check.out
