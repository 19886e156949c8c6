"""Encryption end to end: records sealed by dangan on real Git vaults with real age keys.

What issue 3 asks to prove from the outside: a record opens by an independent path (the
`age` CLI and AES-GCM by the SOPS rules), a change moves only its own line plus `mac` and
`lastmodified`, recipients come and go, no plaintext reaches Git objects, temp files or error
output, tampering is caught with the right rule id, the diff driver shows values to key
holders and fingerprints to others, and identity files are handled safely.

Vaults are made with `dangan init DIR --recipient Alice=age1...`; records come from the
valid schema examples (TS, YZ), which carry sensitive values. Expensive setup that tests only
read is module-scoped; tests that change a vault work on a copy.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO, Result, git, run_cli, snapshot
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from ruamel.yaml import YAML

from dangan.formats import agekeys, sops
from dangan.formats.yamlio import dump, load_text

VALID = REPO / "tests" / "schema_examples" / "valid"
VECTORS = REPO / "tests" / "vectors" / "sops" / "age-pr1031"  # written by sops 3.7.1
needs_age = pytest.mark.skipif(shutil.which("age") is None, reason="age CLI not installed")

TS_CODE = "TS-A01-02-001-0301-0001"
TS_PATH = f"vault/A01/02/001/0301/TS/{TS_CODE}.yaml"
YZ_CODE = "YZ-A01-02-001-0301-0001"
YZ_PATH = f"vault/A01/02/001/0301/YZ/{YZ_CODE}.yaml"
ROOM = "A01-02-001-0301"

# The sensitive values of the two examples, listed here by hand (not derived with dangan's
# own code). One-character values (relation 子/父) are left out: they occur in clear text.
TS_SECRETS = ("林曉東", "138-0000-1234")
YZ_SECRETS = (
    "林曉東", "320506198507151234", "138-0000-1234", "lin.xd@example.com",
    "江蘇省蘇州市吳中區翠湖路88號2棟1單元301室", "何靜", "H12345678", "+86 139 0000 5678",
    "蘇(2019)蘇州市不動產權第6012345號", "林一然", "13900001111", "林建國", "0512-68001234",
    "蘇EDF1234",
)
TS_NEW_PHONE = "139-2468-1357"  # what `set` writes in the fixtures
MARKER = "‹encrypted"


# ------------------------------------------------------------------------ helpers

@dataclass
class Key:
    file: Path
    public: str
    identity: object = field(repr=False)


def make_key(folder: Path, name: str) -> Key:
    secret, public = agekeys.generate_identity()
    path = folder / f"{name}.key"
    agekeys.write_identity_file(path, secret, public)
    return Key(path, public, agekeys.load_identities(secret)[0])


def example(name: str) -> str:
    """A valid schema example as `new --file` input: without code and category, and
    without `refs` (the FW record they name does not exist in the test vaults: DG108)."""
    text = (VALID / name).read_text("utf-8")
    kept, in_refs = [], False
    for line in text.splitlines(keepends=True):
        if not line.startswith(" "):
            in_refs = line.startswith("refs:")
        if not (in_refs or line.startswith(("code:", "category:"))):
            kept.append(line)
    return "".join(kept)


def dg(root: Path, *args: str, key: Key | None = None, input: str | None = None,
       env: dict[str, str | None] | None = None) -> Result:
    """`dangan -C ROOT [--identity KEY] ARGS` in-process."""
    ident = ["--identity", str(key.file)] if key is not None else []
    return run_cli(["-C", str(root), *ident, *args], input=input, env=env)


def ok(result: Result) -> Result:
    assert result.code == 0, result
    assert "Traceback" not in result.err
    return result


def init(path: Path, *people: tuple[str, Key]) -> Path:
    args = ["init", str(path)]
    for name, key in people:
        args += ["--recipient", f"{name}={key.public}"]
    ok(run_cli(args))
    return path


def fields_file(folder: Path, name: str, text: str | None = None) -> Path:
    """The example as a file for `new --file PATH`.

    In-process `--file -` is covered by test_new_reads_fields_from_stdin; the other tests
    do not depend on it.
    """
    path = folder / name
    path.write_text(example(name) if text is None else text, "utf-8")
    return path


def new(root: Path, name: str, key: Key | None = None, extra: tuple[str, ...] = ()) -> dict:
    category = name[:2]
    return json.loads(ok(dg(root, "new", category, ROOM, "--file", str(fields_file(root.parent, name)), "--json",
                            *extra, key=key)).out)


def load(text: str) -> dict:
    """An independent YAML reader (ruamel's safe loader, not dangan's yamlio)."""
    return YAML(typ="safe", pure=True).load(text)


def age_cli_data_key(enc: str, key: Key) -> bytes:
    proc = subprocess.run(["age", "-d", "-i", str(key.file)], input=enc.encode(), capture_output=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def open_enc(value: str, data_key: bytes, aad: str) -> bytes:
    """AES-256-GCM by the SOPS rules (README of the vectors): data+tag, 32-byte IV, AAD."""
    m = re.fullmatch(r"ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:(\w+)\]", value)
    assert m, value
    data, iv, tag = (base64.b64decode(m.group(i)) for i in (1, 2, 3))
    assert len(iv) == 32 and len(tag) == 16
    return AESGCM(data_key).decrypt(iv, data + tag, aad.encode())


def age_entry(doc: dict, public: str) -> str:
    return next(e["enc"] for e in doc["sops"]["age"] if e["recipient"] == public)


def findings(result: Result) -> dict[str, set[str]]:
    """`PATH: DGnnn message` lines of `dangan check` as {path: {rule, ...}}."""
    out: dict[str, set[str]] = {}
    for line in result.out.splitlines():
        m = re.match(r"^(\S+): (DG\d{3}) ", line)
        if m:
            out.setdefault(m.group(1), set()).add(m.group(2))
    return out


def all_objects(root: Path) -> bytes:
    return subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=root,
                          capture_output=True, check=True).stdout


def git_env(**extra: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "DANGAN_AGE_KEY_FILE"):
        env.pop(var, None)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def diff_lines(text: str) -> tuple[list[str], list[str]]:
    minus = [line[1:] for line in text.splitlines() if line.startswith("-") and not line.startswith("---")]
    plus = [line[1:] for line in text.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return minus, plus


# ----------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def alice(keydir: Path) -> Key:
    return make_key(keydir, "alice")


@pytest.fixture(scope="module")
def bob(keydir: Path) -> Key:
    return make_key(keydir, "bob")


@pytest.fixture(scope="module")
def carol(keydir: Path) -> Key:
    """Not a recipient of anything."""
    return make_key(keydir, "carol")


@dataclass
class Sealed:
    root: Path
    created: str  # commit of `new TS`
    changed: str  # commit of `set TS complainant.phone=...`


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, alice: Key) -> Sealed:
    """A vault (recipient Alice) with a TS record whose phone was changed once, and a YZ.

    Tests only read it (tamper tests copy it first).
    """
    root = init(tmp_path_factory.mktemp("sealed") / "vault", ("Alice", alice))
    created = new(root, "TS-complaint.yaml")
    assert created["code"] == TS_CODE and created["path"] == TS_PATH
    time.sleep(1.05 - time.time() % 1)  # lastmodified has whole seconds: make it move
    changed = json.loads(ok(dg(root, "set", TS_CODE, f"complainant.phone={TS_NEW_PHONE}", "--json",
                               key=alice)).out)
    assert changed["changed"] is True
    assert new(root, "YZ-owner-file.yaml")["code"] == YZ_CODE
    return Sealed(root, created["commit"], changed["commit"])


@pytest.fixture
def copy(sealed: Sealed, tmp_path: Path) -> Path:
    target = tmp_path / "vault"
    shutil.copytree(sealed.root, target, symlinks=True)
    return target


# ------------------------------------------------- an independent path opens a record

@needs_age
@pytest.mark.parametrize("path", [TS_PATH, YZ_PATH])
def test_record_opens_with_the_age_cli_and_the_sops_rules(sealed: Sealed, alice: Key, path: str):
    doc = load((sealed.root / path).read_text("utf-8"))
    meta = doc.pop("sops")
    assert [e["recipient"] for e in meta["age"]] == [alice.public]
    data_key = age_cli_data_key(meta["age"][0]["enc"], alice)
    assert len(data_key) == 32

    # Walk every leaf in document order: sensitive ones open with AAD = keys joined by ':'
    # plus ':' (list indexes not part of it); all of them feed the SHA-512 MAC.
    regex = re.compile(meta["encrypted_regex"])
    digest = hashlib.sha512()
    opened: dict[str, list[str]] = {}

    def plain_bytes(value) -> bytes:
        if isinstance(value, bool):
            return b"True" if value else b"False"
        return str(value).encode("utf-8")

    def walk(node, keys: tuple[str, ...]):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, keys + (k,))
        elif isinstance(node, list):
            for v in node:
                walk(v, keys)
        elif node is not None:
            if any(regex.search(k) for k in keys):
                assert isinstance(node, str) and node.startswith("ENC[AES256_GCM,"), (keys, node)
                raw = open_enc(node, data_key, "".join(k + ":" for k in keys))
                opened.setdefault(".".join(keys), []).append(raw.decode("utf-8"))
                digest.update(raw)
            else:
                assert "ENC[" not in str(node)
                digest.update(plain_bytes(node))

    walk(doc, ())
    mac = open_enc(meta["mac"], data_key, meta["lastmodified"]).decode()
    assert mac == digest.hexdigest().upper()
    if path == TS_PATH:
        assert opened == {"complainant.name": ["林曉東"], "complainant.phone": [TS_NEW_PHONE]}
        assert meta["encrypted_regex"] == "^(complainant|name|phone)$"
    else:
        assert opened["owners.id_number"] == ["320506198507151234", "H12345678"]
        assert opened["owners.phone"] == ["138-0000-1234", "+86 139 0000 5678"]
        assert opened["emergency_contact.phone"] == ["0512-68001234"]
        assert opened["vehicles.plate"] == ["蘇EDF1234"]
        assert opened["title_deed_no"] == ["蘇(2019)蘇州市不動產權第6012345號"]


def test_show_masks_and_decrypts(sealed: Sealed, alice: Key):
    masked = ok(dg(sealed.root, "show", YZ_CODE, "--json"))
    record = json.loads(masked.out)["record"]
    assert record["owners"][0]["id_number"] == "‹encrypted›"
    assert record["owners"][0]["role"] == "primary"
    assert "ENC[" not in masked.out and "sops" not in record
    assert not any(s in masked.out for s in YZ_SECRETS)
    shown = json.loads(ok(dg(sealed.root, "show", YZ_CODE, "--decrypt", "--json", key=alice)).out)
    assert shown["record"]["owners"][1]["id_number"] == "H12345678"
    assert shown["record"]["emergency_contact"] == {"name": "林建國", "relation": "父", "phone": "0512-68001234"}
    # the identity found through SOPS_AGE_KEY_FILE works too
    via_env = dg(sealed.root, "show", TS_CODE, "--decrypt", env={"SOPS_AGE_KEY_FILE": str(alice.file)})
    assert ok(via_env).out.count(TS_NEW_PHONE) == 1


def test_show_decrypt_without_identity_is_exit_2(sealed: Sealed, tmp_path: Path):
    empty = tmp_path / "home"
    empty.mkdir()
    result = dg(sealed.root, "show", TS_CODE, "--decrypt", env={"HOME": str(empty)})
    assert result.code == 2, result
    assert result.err.startswith("dangan: error: no identity found")
    assert "Traceback" not in result.err and result.out == ""
    # the hint names a command that exists
    assert "dangan keys generate" in result.err


# --------------------------------------------------------- one change, three lines

def test_changing_one_field_moves_its_line_mac_and_lastmodified(sealed: Sealed):
    raw = git(sealed.root, "diff", "--no-textconv", "--unified=0", sealed.created, sealed.changed)
    minus, plus = diff_lines(raw)
    assert len(minus) == len(plus) == 3, raw
    for lines in (minus, plus):
        assert lines[0].startswith("  phone: ENC[AES256_GCM,")
        assert lines[1].startswith("  lastmodified: ")
        assert lines[2].startswith("  mac: ENC[AES256_GCM,")
    assert minus[0] != plus[0] and minus[2] != plus[2]
    # the commit touched exactly the one record
    names = git(sealed.root, "diff", "--name-only", sealed.created, sealed.changed).split()
    assert names == [TS_PATH]


# ------------------------------------------------------------------- diff driver

def test_diff_driver_shows_values_to_a_key_holder(sealed: Sealed, alice: Key, tmp_path: Path):
    env = git_env(HOME=str(tmp_path), SOPS_AGE_KEY_FILE=str(alice.file))
    log = subprocess.run(["git", "log", "-p", "--", TS_PATH], cwd=sealed.root, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "ENC[" not in log and MARKER not in log and "sops:" not in log
    assert "+  phone: 138-0000-1234" in log  # the creation
    diff = subprocess.run(["git", "diff", "--unified=0", sealed.created, sealed.changed], cwd=sealed.root,
                          env=env, capture_output=True, text=True, check=True).stdout
    assert diff_lines(diff) == (["  phone: 138-0000-1234"], [f"  phone: {TS_NEW_PHONE}"])


def test_diff_driver_shows_fingerprints_without_a_key(sealed: Sealed, tmp_path: Path):
    empty = tmp_path / "home"
    empty.mkdir()
    env = git_env(HOME=str(empty))
    def run(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=sealed.root, env=env, capture_output=True,
                              text=True, check=True).stdout
    log = run("log", "-p")
    assert "ENC[" not in log and "sops:" not in log and "BEGIN AGE" not in log
    assert not any(s in log for s in TS_SECRETS + YZ_SECRETS + (TS_NEW_PHONE,))

    diff = run("diff", sealed.created, sealed.changed)
    minus, plus = diff_lines(diff)
    assert len(minus) == len(plus) == 1, diff
    fingerprint = re.compile(r"^  phone: ‹encrypted ([0-9a-f]{8})›$")
    old, new_ = fingerprint.match(minus[0]), fingerprint.match(plus[0])
    assert old and new_ and old.group(1) != new_.group(1)
    # the fingerprint is 8 hex digits of SHA-256 of the stored ciphertext, nothing more
    for commit, m in ((sealed.created, old), (sealed.changed, new_)):
        stored = load(git(sealed.root, "show", f"{commit}:{TS_PATH}"))
        assert m.group(1) == hashlib.sha256(stored["complainant"]["phone"].encode()).hexdigest()[:8]
    # the unchanged name keeps its fingerprint: it is a context line, not a change
    name = re.search(r"^ {3}name: ‹encrypted [0-9a-f]{8}›$", diff, re.M)
    assert name, diff


# ----------------------------------------------------------------------- tamper

def _swap(text: str, a: str, b: str) -> str:
    va = re.search(rf"^(\s+{a}: )(ENC\[.*\])$", text, re.M)
    vb = re.search(rf"^(\s+{b}: )(ENC\[.*\])$", text, re.M)
    out = text.replace(va.group(0), va.group(1) + "\0B").replace(vb.group(0), vb.group(1) + va.group(2))
    return out.replace("\0B", vb.group(2))


def tamper_swap_fields(root: Path) -> None:
    path = root / TS_PATH
    path.write_text(_swap(path.read_text("utf-8"), "name", "phone"), "utf-8")


def tamper_swap_records(root: Path) -> None:
    theirs = re.search(r"^    phone: (ENC\[.*\])$", (root / YZ_PATH).read_text("utf-8"), re.M).group(1)
    path = root / TS_PATH
    text = path.read_text("utf-8")
    mine = re.search(r"^  phone: (ENC\[.*\])$", text, re.M).group(1)
    path.write_text(text.replace(mine, theirs), "utf-8")


def tamper_clear_field(root: Path) -> None:
    path = root / TS_PATH
    text = path.read_text("utf-8")
    assert "\nsatisfaction: 4\n" in text
    path.write_text(text.replace("\nsatisfaction: 4\n", "\nsatisfaction: 5\n"), "utf-8")


def tamper_truncate(root: Path) -> None:
    path = root / TS_PATH
    text = path.read_text("utf-8")
    value = re.search(r"^  phone: (ENC\[.*\])$", text, re.M).group(1)
    path.write_text(text.replace(value, value[: value.index(",iv:")]), "utf-8")


def tamper_blob(root: Path) -> None:
    path = root / TS_PATH
    lines = path.read_text("utf-8").split("\n")
    i = next(n for n, line in enumerate(lines) if "BEGIN AGE ENCRYPTED FILE" in line) + 2
    body = lines[i].strip()
    lines[i] = lines[i][: len(lines[i]) - len(body)] + body[::-1]  # keep the indentation
    path.write_text("\n".join(lines), "utf-8")


TAMPER = {
    # name: (tamper, findings with Alice's key, findings without a key, show --decrypt exit)
    "swap-fields": (tamper_swap_fields, {"DG107"}, set(), 1),
    "swap-records": (tamper_swap_records, {"DG107"}, set(), 1),
    "clear-field": (tamper_clear_field, {"DG107"}, set(), 1),
    "truncated-enc": (tamper_truncate, {"DG102", "DG106", "DG107"}, {"DG102", "DG106"}, 1),
    "corrupted-blob": (tamper_blob, {"DG107"}, set(), 1),
}


@pytest.mark.parametrize("name", sorted(TAMPER))
def test_tampering_is_caught(copy: Path, alice: Key, tmp_path: Path, name: str):
    tamper, with_key, without_key, show_exit = TAMPER[name]
    tamper(copy)
    empty = tmp_path / "home"
    empty.mkdir()

    checked = dg(copy, "check", key=alice)
    assert checked.code == 1, checked
    assert findings(checked) == {TS_PATH: with_key}, checked.out
    assert "Traceback" not in checked.err

    keyless = dg(copy, "check", env={"HOME": str(empty)})
    assert findings(keyless).get(TS_PATH, set()) == without_key, keyless.out
    assert keyless.code == (1 if without_key else 0), keyless

    shown = dg(copy, "show", TS_CODE, "--decrypt", key=alice)
    assert shown.code == show_exit, shown
    assert shown.out == ""
    assert shown.err.startswith(f"dangan: error: {TS_CODE}: ") and "Traceback" not in shown.err
    assert len(shown.err.strip().splitlines()) <= 2
    # the untouched record still opens
    assert "H12345678" in ok(dg(copy, "show", YZ_CODE, "--decrypt", key=alice)).out


def test_check_findings_never_quote_decrypted_values(copy: Path, alice: Key):
    """A record written by another tool (sops) with a value its schema refuses: check with
    a key reports DG102 for the decrypted value without printing that value."""
    path = copy / TS_PATH
    stored = load(path.read_text("utf-8"))
    plain, _meta = sops.decrypt_document(stored, [alice.identity])
    plain["complainant"]["phone"] = INVALID_PHONE
    doc = sops.encrypt_document(plain, [alice.public], stored["sops"]["encrypted_regex"])
    from dangan.formats.yamlio import dump
    path.write_text(dump(doc), "utf-8")
    assert INVALID_PHONE not in path.read_text("utf-8")
    checked = dg(copy, "check", key=alice)
    assert checked.code == 1 and findings(checked) == {TS_PATH: {"DG102"}}, checked
    assert "/complainant/phone" in checked.out
    assert INVALID_PHONE not in checked.out + checked.err


def test_wrong_identity(sealed: Sealed, carol: Key):
    shown = dg(sealed.root, "show", TS_CODE, "--decrypt", key=carol)
    assert shown.code == 2, shown
    assert "none of your identities is a recipient" in shown.err and "Traceback" not in shown.err
    # not ours to read is not tampering: check keeps to the structure rules
    checked = dg(sealed.root, "check", key=carol)
    assert checked.code == 0 and findings(checked) == {}, checked
    changed = dg(sealed.root, "set", TS_CODE, "complainant.phone=139-0000-0000", key=carol)
    assert changed.code == 2, changed


# ------------------------------------------------------------------- recipients

@needs_age
def test_recipients_add_and_remove_end_to_end(tmp_path: Path, alice: Key, bob: Key):
    root = init(tmp_path / "vault", ("Alice", alice))
    new(root, "TS-complaint.yaml")
    before = load((root / TS_PATH).read_text("utf-8"))

    assert dg(root, "show", TS_CODE, "--decrypt", key=bob).code == 2
    ok(dg(root, "recipients", "add", "Bob", bob.public, "--role", "approver", key=alice))
    after_add = load((root / TS_PATH).read_text("utf-8"))
    # updatekeys semantics: same data key, values and MAC untouched, one age entry more
    assert {k: v for k, v in after_add.items() if k != "sops"} == {k: v for k, v in before.items() if k != "sops"}
    assert after_add["sops"]["mac"] == before["sops"]["mac"]
    assert [e["recipient"] for e in after_add["sops"]["age"]] == [alice.public, bob.public]
    assert age_cli_data_key(age_entry(after_add, bob.public), bob) == age_cli_data_key(age_entry(before, alice.public), alice)
    assert "name: 林曉東" in ok(dg(root, "show", TS_CODE, "--decrypt", key=bob)).out
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [".sops.yaml", "vault.yaml", TS_PATH]

    ok(dg(root, "recipients", "remove", "Alice", key=bob))
    current = load((root / TS_PATH).read_text("utf-8"))
    assert [e["recipient"] for e in current["sops"]["age"]] == [bob.public]
    refused = dg(root, "show", TS_CODE, "--decrypt", key=alice)
    assert refused.code == 2 and "none of your identities" in refused.err, refused
    # remove rotates the data key: Alice's old data key opens none of the current values
    old_key = age_cli_data_key(age_entry(before, alice.public), alice)
    with pytest.raises(InvalidTag):
        open_enc(current["complainant"]["phone"], old_key, "complainant:phone:")
    assert current["complainant"]["phone"] != before["complainant"]["phone"]
    assert open_enc(current["complainant"]["phone"], age_cli_data_key(age_entry(current, bob.public), bob),
                    "complainant:phone:") == b"138-0000-1234"
    # documented, not a failure: history keeps what Alice could read (docs/threat-model.md)
    old_blob = load(git(root, "show", f"HEAD~1:{TS_PATH}"))
    assert open_enc(old_blob["complainant"]["name"], old_key, "complainant:name:") == "林曉東".encode()

    assert "Alice" not in (root / "vault.yaml").read_text("utf-8")
    checked = dg(root, "check", key=bob)
    assert checked.code == 0, checked


def test_recipients_add_without_a_role_adds_a_reader(tmp_path: Path, alice: Key, bob: Key):
    """docs/cli.md: `recipients add NAME KEY [--role R]...`; the help says the default is a plain reader."""
    root = init(tmp_path / "vault", ("Alice", alice))
    new(root, "TS-complaint.yaml")
    before = snapshot(root)
    added = dg(root, "recipients", "add", "Bob", bob.public, key=alice)
    assert added.code == 0, added
    assert snapshot(root) != before
    assert "name: 林曉東" in ok(dg(root, "show", TS_CODE, "--decrypt", key=bob)).out


def test_access_restricts_a_category_and_remove_refuses_to_orphan_it(tmp_path: Path, alice: Key, bob: Key):
    root = init(tmp_path / "vault", ("Alice", alice), ("Bob", bob))
    config = root / "vault.yaml"
    config.write_text(config.read_text("utf-8") + "access:\n  TS:\n    - Alice\n", "utf-8")
    # a hand edit of vault.yaml goes in with the .sops.yaml it gives (a plain `git commit`
    # of it is DG114: .sops.yaml stale)
    refused = subprocess.run(["git", "commit", "-q", "-am", "TS readable by Alice only"], cwd=root,
                             capture_output=True, text=True)
    assert refused.returncode == 1 and ".sops.yaml: DG114 stale: the rule for TS" in refused.stderr, refused
    ok(dg(root, "keys", "updatekeys", key=alice))
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [".sops.yaml", "vault.yaml"]
    new(root, "TS-complaint.yaml")
    new(root, "YZ-owner-file.yaml")

    ts = load((root / TS_PATH).read_text("utf-8"))
    yz = load((root / YZ_PATH).read_text("utf-8"))
    assert [e["recipient"] for e in ts["sops"]["age"]] == [alice.public]
    assert [e["recipient"] for e in yz["sops"]["age"]] == [alice.public, bob.public]
    assert dg(root, "show", TS_CODE, "--decrypt", key=bob).code == 2
    assert "H12345678" in ok(dg(root, "show", YZ_CODE, "--decrypt", key=bob)).out
    assert ok(dg(root, "check", key=alice)).code == 0

    before = snapshot(root)
    files = {p: (root / p).read_bytes() for p in ("vault.yaml", TS_PATH, YZ_PATH)}
    refused = dg(root, "recipients", "remove", "Alice", key=alice)
    assert refused.code == 1, refused
    assert "no recipient would be left for category TS" in refused.err
    assert snapshot(root) == before
    assert {p: (root / p).read_bytes() for p in files} == files


def test_new_reads_fields_from_stdin(tmp_path: Path, alice: Key):
    """docs/cli.md: `new ... --file -`; in-process stdin (CliRunner) has no file name."""
    root = init(tmp_path / "vault", ("Alice", alice))
    result = dg(root, "new", "TS", ROOM, "--file", "-", "--json", input=example("TS-complaint.yaml"))
    assert result.code == 0, result
    assert json.loads(result.out)["code"] == TS_CODE
    assert "ENC[AES256_GCM," in (root / TS_PATH).read_text("utf-8")


def test_sensitive_values_are_sealed_before_they_reach_disk(tmp_path: Path, alice: Key):
    root = init(tmp_path / "vault", ("Alice", alice))
    new(root, "TS-complaint.yaml", extra=("--no-commit",))
    ok(dg(root, "set", TS_CODE, f"complainant.phone={TS_NEW_PHONE}", "--no-commit", key=alice))
    secrets = [s.encode() for s in TS_SECRETS + (TS_NEW_PHONE,)]
    staged = git(root, "show", f":{TS_PATH}")
    assert "ENC[AES256_GCM," in staged
    for blob in ((root / TS_PATH).read_bytes(), staged.encode(), all_objects(root)):
        assert not [s for s in secrets if s in blob]
    assert not list(root.rglob("*.tmp"))


# --------------------------------------------------- a realistic session leaves no trace

EDITOR = """\
import os, stat, sys
path = sys.argv[1]
with open(os.environ["EDIT_LOG"], "a") as log:
    log.write(f"{path}\\t{stat.S_IMODE(os.stat(path).st_mode):o}\\n")
text = open(path, encoding="utf-8").read()
open(path, "w", encoding="utf-8").write(text.replace(os.environ["EDIT_FROM"], os.environ["EDIT_TO"]))
"""
EDIT_PHONE = "0512-68009999"
INVALID_PHONE = "12-SECRET-3456"  # a phone the schema refuses: never written anywhere


@dataclass
class Session:
    root: Path
    tmpdir: Path
    run: Path
    log: Path
    results: dict[str, Result]
    secrets: tuple[str, ...]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory, alice: Key, bob: Key) -> Session:
    base = tmp_path_factory.mktemp("session")
    tmpdir = base / "tmp"
    tmpdir.mkdir()
    run = base / "run"  # XDG_RUNTIME_DIR: where the editor's copy goes (store/scratch.py)
    run.mkdir(mode=0o700)
    editor = base / "editor.py"
    editor.write_text(EDITOR, "utf-8")
    log = base / "edits.log"
    root = base / "vault"
    results: dict[str, Result] = {}
    env = {"TMPDIR": str(tmpdir), "XDG_RUNTIME_DIR": str(run), "SOPS_AGE_KEY_FILE": str(alice.file), "EDIT_LOG": str(log),
           "EDITOR": f"{sys.executable} {editor}", "VISUAL": None}
    saved = tempfile.tempdir
    tempfile.tempdir = None  # in-process commands must look at TMPDIR afresh
    try:
        def step(name: str, *args: str, input: str | None = None, **extra: str) -> None:
            results[name] = run_cli(["-C", str(root), *args], input=input, env={**env, **extra})
            tempfile.tempdir = None

        results["init"] = run_cli(["init", str(root), "--recipient", f"Alice={alice.public}"], env=env)
        step("new TS", "new", "TS", ROOM, "--file", str(fields_file(base, "TS-complaint.yaml")))
        step("new YZ", "new", "YZ", ROOM, "--file", str(fields_file(base, "YZ-owner-file.yaml")))
        step("set", "set", TS_CODE, f"complainant.phone={TS_NEW_PHONE}")
        step("edit", "edit", YZ_CODE, EDIT_FROM="0512-68001234", EDIT_TO=EDIT_PHONE)
        step("recipients add", "recipients", "add", "Bob", bob.public, "--role", "approver")
        step("keys rotate", "keys", "rotate")
        step("recipients remove", "recipients", "remove", "Bob")
        step("set invalid", "set", TS_CODE, f"complainant.phone={INVALID_PHONE}")
        invalid = example("TS-complaint.yaml").replace("138-0000-1234", INVALID_PHONE)
        step("new invalid", "new", "TS", ROOM, "--file", str(fields_file(base, "TS-invalid.yaml", invalid)))
        step("edit invalid", "edit", TS_CODE, EDIT_FROM=TS_NEW_PHONE, EDIT_TO=INVALID_PHONE)
        step("show", "show", YZ_CODE, "--decrypt")
        step("check", "check")
    finally:
        tempfile.tempdir = saved
    secrets = tuple(dict.fromkeys(TS_SECRETS + YZ_SECRETS + (TS_NEW_PHONE, EDIT_PHONE, INVALID_PHONE)))
    return Session(root, tmpdir, run, log, results, secrets)


EXPECTED_EXIT = {
    "init": 0, "new TS": 0, "new YZ": 0, "set": 0, "edit": 0, "recipients add": 0,
    "keys rotate": 0, "recipients remove": 0, "set invalid": 2, "new invalid": 2,
    "edit invalid": 1, "show": 0, "check": 0,
}


def test_session_did_what_it_says(session: Session):
    assert {name: r.code for name, r in session.results.items()} == EXPECTED_EXIT, session.results
    shown = session.results["show"].out
    assert f"phone: {EDIT_PHONE}" in shown and "0512-68001234" not in shown
    assert "abandoned" in session.results["edit invalid"].err
    # seven commits after init: new, new, set, edit, add, rotate, remove; none by the failures
    assert int(git(session.root, "rev-list", "--count", "HEAD")) == 8
    assert git(session.root, "status", "--porcelain") == ""


def test_session_leaves_no_plaintext_in_git_objects(session: Session):
    blob = all_objects(session.root)
    assert "2棟1單元301室投訴樓上裝修噪音".encode() in blob  # the scan sees clear fields
    assert b"ENC[AES256_GCM," in blob
    assert [s for s in session.secrets if s.encode() in blob] == []


def test_session_leaves_nothing_in_tmpdir(session: Session):
    assert list(session.tmpdir.rglob("*")) == [] and list(session.run.rglob("*")) == []
    assert [p for p in session.root.rglob("*") if p.name.endswith(".tmp")] == []
    # the editor was given a private file under XDG_RUNTIME_DIR, removed afterwards
    edits = [line.split("\t") for line in session.log.read_text().splitlines()]
    assert len(edits) == 3  # edit; edit invalid (twice: the error round, then abandoned)
    for path, mode in edits:
        assert Path(path).parent.parent == session.run
        assert mode == "600"
        assert not Path(path).exists()


def test_session_error_output_has_no_plaintext(session: Session):
    leaks = {name: [s for s in session.secrets if s in r.err]
             for name, r in session.results.items() if name != "show"}
    assert {name: found for name, found in leaks.items() if found} == {}


# ------------------------------------------------------------------- identities

@pytest.mark.parametrize("how", ["--identity", "SOPS_AGE_KEY_FILE", "default"])
def test_identity_readable_by_others_is_refused(sealed: Sealed, alice: Key, tmp_path: Path, how: str):
    home = tmp_path / "home"
    loose = home / ".config" / "sops" / "age" / "keys.txt"
    loose.parent.mkdir(parents=True)
    shutil.copy(alice.file, loose)
    loose.chmod(0o644)
    args, env = ["show", TS_CODE, "--decrypt"], {"HOME": str(home)}
    if how == "--identity":
        args += ["--identity", str(loose)]
    elif how == "SOPS_AGE_KEY_FILE":
        env["SOPS_AGE_KEY_FILE"] = str(loose)
    result = dg(sealed.root, *args, env=env)
    assert result.code == 2, result
    assert f"chmod 600 {loose}" in result.err and "Traceback" not in result.err
    assert "AGE-SECRET-KEY" not in result.err
    loose.chmod(0o600)
    assert TS_NEW_PHONE in ok(dg(sealed.root, *args, env=env)).out


def test_keys_generate(tmp_path: Path):
    out = tmp_path / "sub" / "keys.txt"
    first = ok(run_cli(["keys", "generate", "--out", str(out)]))
    public = first.out.strip()
    assert re.fullmatch(r"age1[0-9a-z]{58}", public), first
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    content = out.read_text()
    assert f"# public key: {public}\n" in content and content.count("AGE-SECRET-KEY-1") == 1
    assert "AGE-SECRET-KEY" not in first.out + first.err

    second = ok(run_cli(["keys", "generate", "--out", str(out)]))
    assert second.out.strip() != public
    assert out.read_text().startswith(content)  # appended, never overwritten
    assert out.read_text().count("AGE-SECRET-KEY-1") == 2
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    if shutil.which("age-keygen"):
        derived = subprocess.run(["age-keygen", "-y", str(out)], capture_output=True, text=True, check=True)
        assert derived.stdout.split() == [public, second.out.strip()]

    home = tmp_path / "home"
    home.mkdir()
    default = ok(run_cli(["keys", "generate"], env={"HOME": str(home)}))
    keys_txt = home / ".config" / "sops" / "age" / "keys.txt"
    assert stat.S_IMODE(keys_txt.stat().st_mode) == 0o600
    assert f"# public key: {default.out.strip()}" in keys_txt.read_text()

    keys_txt.chmod(0o644)
    kept = keys_txt.read_bytes()
    refused = run_cli(["keys", "generate"], env={"HOME": str(home)})
    assert refused.code == 2 and f"chmod 600 {keys_txt}" in refused.err, refused
    assert keys_txt.read_bytes() == kept


# ---------------------------------------------------------------------- decrypt

def test_decrypt_opens_the_sops_vector(tmp_path: Path):
    expected = json.loads((VECTORS / "example.yaml.expected.json").read_text())["plaintext"]
    keys = tmp_path / "keys.txt"
    shutil.copy(VECTORS / "keys.txt", keys)
    # Git keeps no modes: a checkout's copy may be 0644 or 0444; both are refused
    for mode in (0o644, 0o444):
        keys.chmod(mode)
        refused = run_cli(["--identity", str(keys), "decrypt", str(VECTORS / "example.yaml")])
        assert refused.code == 2 and f"chmod 600 {keys}" in refused.err, (oct(mode), refused)
        assert refused.out == "" and "t00m4nys3cr3tz" not in refused.err
    keys.chmod(0o600)
    result = ok(run_cli(["--identity", str(keys), "decrypt", str(VECTORS / "example.yaml"), "--json"]))
    assert json.loads(result.out) == expected
    as_yaml = ok(run_cli(["decrypt", str(VECTORS / "example.yaml")], env={"SOPS_AGE_KEY_FILE": str(keys)}))
    assert load(as_yaml.out) == expected


def test_decrypt_a_json_sops_file_and_a_tampered_copy(tmp_path: Path, alice: Key, carol: Key):
    plain = {"owner": "張敏", "phone": "13800138000", "area": 89.5, "tags": ["a", "b"], "ok": True}
    doc = sops.encrypt_document(plain, [alice.public], "^(owner|phone)$")
    path = tmp_path / "secret.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    assert "張敏" not in path.read_text("utf-8")
    result = ok(run_cli(["--identity", str(alice.file), "decrypt", str(path)]))
    assert json.loads(result.out) == plain

    tampered = tmp_path / "tampered.json"
    doc["area"] = 90.5
    tampered.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    bad = run_cli(["--identity", str(alice.file), "decrypt", str(tampered)])
    assert bad.code == 1 and "MAC mismatch" in bad.err and bad.out == "", bad
    assert "Traceback" not in bad.err and "張敏" not in bad.err

    wrong = run_cli(["--identity", str(carol.file), "decrypt", str(path)])
    assert wrong.code == 2 and "none of your identities" in wrong.err, wrong


def test_show_decrypt_of_a_record_whose_sops_block_was_removed_refuses(copy: Path, alice: Key) -> None:
    """The ciphertext stays, the sops block is gone: `show --decrypt` used to print the
    raw ENC[...] values with exit 0; it refuses, naming the damage (issue 19)."""
    path = copy / TS_PATH
    tree = load_text(path.read_text("utf-8"))
    del tree["sops"]
    path.write_text(dump(tree), encoding="utf-8")
    shown = dg(copy, "show", TS_CODE, "--decrypt", key=alice)
    assert shown.code == 1 and "holds encrypted values (ENC[...]) but no sops block" in shown.err, shown
    assert shown.out == "" and "ENC[AES256_GCM" not in shown.err
