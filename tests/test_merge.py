"""Merging records (issue 20, part 1): the `dangan` merge driver and `dangan resolve`.

A team as the issue tried it: a bare server repository with the real pre-receive hook, two
clones (alice made the vault, bob cloned it and ran `dangan hook install`), a real age key,
an encrypted complaint (TS, `complainant` encrypted) and a clear equipment record (SB).
Both edit, push and pull with real git (merge, rebase, cherry-pick); the merged records
are opened by the real sops binary and checked with the key (DG107, the MAC), and the
server accepts the push. Nothing is mocked.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Result, git, run_cli
from test_sops_writer import TS_FIELDS, sops_binary

from dangan.formats import agekeys, sops
from dangan.formats.yamlio import load_text
from dangan.model.threeway import ABSENT, CONFLICT_KEY, conflict_note, merge3

TS = "TS-A01-01-001-0101-0001"
TS_PATH = f"vault/A01/01/001/0101/TS/{TS}.yaml"
SB = "SB-A01-02-0001"
SB_PATH = f"vault/A01/02/SB/{SB}.yaml"
ENC = re.compile(r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]+,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:str\]")


# ------------------------------------------------------------------ helpers

def env_with(key: Path | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "DANGAN_"))}
    if key is not None:
        env["SOPS_AGE_KEY_FILE"] = str(key)
    env.update(extra)
    return env


def g(root: Path, *args: str, key: Path | None = None, check: bool = True,
      **extra: str) -> subprocess.CompletedProcess[str]:
    """Real git, with (or without) the user's key in the environment its drivers and
    hooks inherit, and no editor to wait for."""
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          env=env_with(key, GIT_EDITOR="true", **extra))
    if check:
        assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


def dg(root: Path, *args: str, key: Path | None = None) -> Result:
    ident = ["--identity", str(key)] if key is not None else []
    return run_cli(["-C", str(root), *ident, *args])


def ok(result: Result) -> Result:
    assert result.code == 0, result
    assert "Traceback" not in result.err
    return result


def sops_open(root: Path, rel: str, key: Path) -> dict[str, Any]:
    """The record as the real sops binary decrypts it (it verifies the MAC)."""
    proc = subprocess.run([sops_binary(), "decrypt", rel], cwd=root, capture_output=True, text=True,
                          env=env_with(key))
    assert proc.returncode == 0, proc.stderr
    return load_text(proc.stdout)


def decrypted(root: Path, rel: str, key: Path) -> dict[str, Any]:
    identities = agekeys.load_identities(key.read_text("utf-8"))
    plain, _ = sops.decrypt_document(load_text((root / rel).read_text("utf-8")), identities)
    return sops.strip_comments(plain)


def ciphertexts(text: str) -> dict[str, str]:
    """`key: ENC[...]` lines by key."""
    return dict(re.findall(r"^\s*([a-z_]+): (ENC\[[^\n]*\])$", text, re.M))


def assert_readable_conflict(text: str) -> None:
    """No git markers anywhere, and every ENC[...] whole (nothing cut into it)."""
    for marker in ("<<<<<<<", "=======", ">>>>>>>", "|||||||"):
        assert marker not in text
    for found in re.findall(r"ENC\[[^\]\n]*\]?", text):
        assert ENC.fullmatch(found), found
    assert CONFLICT_KEY in text


def server_head(bare: Path) -> str:
    return git(bare, "rev-parse", "refs/heads/main").strip()


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("keys")
    secret, public = agekeys.generate_identity()
    path = folder / "age.key"
    agekeys.write_identity_file(path, secret, public)
    return {"file": path, "public": public}


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory, key: dict[str, Any]) -> Path:
    """A vault with the two records, pushed to a bare server with the real pre-receive."""
    sops_binary()
    top = tmp_path_factory.mktemp("team")
    alice = top / "alice"
    ok(run_cli(["init", str(alice), "--recipient", f"張敏={key['public']}"]))
    fields = top / "ts.yaml"
    fields.write_text(TS_FIELDS + "handler: 周敏\n", "utf-8")
    assert ok(dg(alice, "new", "TS", "A01-01-001-0101", "--file", str(fields))).out.strip() == TS
    assert ok(dg(alice, "new", "SB", "A01-02", "--set", "title=1號樓1號客梯", "--set", "system=elevator",
                 "--set", "equipment_type=passenger_elevator", "--set", "install_location=1號樓",
                 "--set", "model=GeN2")).out.strip() == SB
    bare = top / "server.git"
    git(top, "init", "-q", "--bare", "-b", "main", str(bare))
    shutil.copyfile(REPO / "hooks" / "pre-receive", bare / "hooks" / "pre-receive")
    (bare / "hooks" / "pre-receive").chmod(0o755)
    g(alice, "remote", "add", "origin", str(bare))
    g(alice, "push", "-q", "-u", "origin", "main")
    return top


@pytest.fixture
def team(origin: Path, tmp_path: Path) -> dict[str, Path]:
    """A fresh copy of the server and of alice's clone, and a new clone for bob."""
    top = tmp_path / "team"
    shutil.copytree(origin, top, symlinks=True)
    alice, bare, bob = top / "alice", top / "server.git", top / "bob"
    g(alice, "remote", "set-url", "origin", str(bare))
    g(top, "clone", "-q", str(bare), str(bob))
    ok(dg(bob, "hook", "install"))
    for clone in (alice, bob):
        g(clone, "config", "pull.rebase", "false")
    return {"alice": alice, "bob": bob, "bare": bare}


# ------------------------------------------------------------ the tree merge

def test_merge3_field_by_field() -> None:
    base = {"a": 1, "m": {"x": 1, "y": 1}, "l": [1, 2], "gone": 1}
    ours = {"a": 2, "m": {"x": 2, "y": 1}, "l": [1, 2], "new": "o"}
    theirs = {"a": 1, "m": {"x": 1, "y": 3}, "l": [1, 2, 3], "gone": 1, "new": "o"}
    merged = merge3(base, ours, theirs)
    assert merged.conflicts == []
    assert merged.tree == {"a": 2, "m": {"x": 2, "y": 3}, "l": [1, 2, 3], "new": "o"}


def test_merge3_conflicts_name_the_field() -> None:
    base = {"m": {"x": 1}, "l": [1], "d": 1, "t": 1}
    ours = {"m": {"x": 2}, "l": [2], "t": 1.0}
    theirs = {"m": {"x": 3}, "l": [3], "d": 2, "t": True}
    merged = merge3(base, ours, theirs)
    # a list is one field; a deletion against a change conflicts; 1.0 and true are not 1
    assert merged.conflicts == [("m", "x"), ("l",), ("t",), ("d",)]
    assert merged.tree == {"m": {"x": 2}, "l": [2], "t": 1.0}
    assert merge3(ABSENT, {"a": 1, "b": 2}, {"a": 1, "b": 3}).conflicts == [("b",)]


def test_conflict_note_names_the_command() -> None:
    assert conflict_note({"code": TS}) is None
    note = conflict_note({CONFLICT_KEY: {"code": TS}})
    assert note is not None and f"dangan resolve {TS}" in note


# ------------------------------------------------------------ set-up

def test_init_and_hook_install_set_up_the_driver(team: dict[str, Path], tmp_path: Path) -> None:
    bob = team["bob"]
    assert "merge=dangan" in (bob / ".gitattributes").read_text("utf-8")
    assert g(bob, "check-attr", "merge", "--", TS_PATH).stdout.strip().endswith("merge: dangan")
    driver = g(bob, "config", "merge.dangan.driver").stdout
    assert "merge-driver" in driver and driver.rstrip().endswith("%O %A %B %P")
    # a vault made before the driver: its committed .gitattributes lacks the attribute;
    # `hook install` puts it into .git/info/attributes, once, and commits nothing
    old = tmp_path / "old"
    g(tmp_path, "clone", "-q", str(team["bare"]), str(old))
    (old / ".gitattributes").write_text("vault/**/*.yaml diff=dangan\n", "utf-8")
    g(old, "commit", "-q", "--no-verify", "-am", "an old vault")
    head = g(old, "rev-parse", "HEAD").stdout
    assert g(old, "check-attr", "merge", "--", TS_PATH).stdout.strip().endswith("merge: unspecified")
    ok(dg(old, "hook", "install"))
    ok(dg(old, "hook", "install"))
    assert g(old, "check-attr", "merge", "--", TS_PATH).stdout.strip().endswith("merge: dangan")
    assert (old / ".git" / "info" / "attributes").read_text("utf-8").count("merge=dangan") == 1
    assert g(old, "rev-parse", "HEAD").stdout == head
    assert g(old, "status", "--porcelain").stdout == ""


# ------------------------------------------------------------ clean merges

def test_pull_merges_different_fields_of_encrypted_and_clear_records(team: dict[str, Path],
                                                                     key: dict[str, Any]) -> None:
    alice, bob, bare, k = team["alice"], team["bob"], team["bare"], key["file"]
    before = (bob / TS_PATH).read_text("utf-8")
    ok(dg(alice, "set", TS, "complainant.phone=139-1111-2222", key=k))
    ok(dg(alice, "set", SB, "model=GeN3"))
    g(alice, "push", "-q")
    ok(dg(bob, "set", TS, "handler=李雷", key=k))
    ok(dg(bob, "set", SB, "manufacturer=奧的斯"))

    pulled = g(bob, "pull", "--no-edit", key=k, check=False)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert g(bob, "rev-list", "--count", "--merges", "HEAD~1..HEAD").stdout.strip() == "1"
    record = sops_open(bob, TS_PATH, k)  # the real sops opens it: its MAC verifies
    assert record["complainant"] == {"name": "林曉東", "phone": "139-1111-2222"}
    assert record["handler"] == "李雷"
    clear = load_text((bob / SB_PATH).read_text("utf-8"))
    assert (clear["model"], clear["manufacturer"]) == ("GeN3", "奧的斯")
    # the value nobody changed keeps its ciphertext; alice's phone is sealed under the same key
    after = (bob / TS_PATH).read_text("utf-8")
    assert ciphertexts(after)["name"] == ciphertexts(before)["name"]
    assert ciphertexts(after)["phone"] != ciphertexts(before)["phone"]
    checked = dg(bob, "check", "--all", "--json", key=k)
    assert checked.code == 0 and '"findings": []' in checked.out.replace("\n", "").replace("  ", ""), checked
    pushed = g(bob, "push", check=False)
    assert pushed.returncode == 0, pushed.stderr
    assert server_head(bare) == g(bob, "rev-parse", "HEAD").stdout.strip()


def test_cherry_pick_uses_the_driver(team: dict[str, Path], key: dict[str, Any]) -> None:
    alice, bob, k = team["alice"], team["bob"], key["file"]
    ok(dg(alice, "set", TS, "complainant.phone=139-3333-4444", key=k))
    g(alice, "push", "-q")
    ok(dg(bob, "set", TS, "handler=韓梅梅", key=k))
    g(bob, "fetch", "-q")
    picked = g(bob, "cherry-pick", "origin/main", key=k, check=False)
    assert picked.returncode == 0, picked.stdout + picked.stderr
    assert decrypted(bob, TS_PATH, k)["complainant"]["phone"] == "139-3333-4444"
    assert decrypted(bob, TS_PATH, k)["handler"] == "韓梅梅"
    assert ok(dg(bob, "check", "--all", key=k))


def test_same_plaintext_on_both_sides_is_no_conflict(team: dict[str, Path], key: dict[str, Any]) -> None:
    alice, bob, k = team["alice"], team["bob"], key["file"]
    ok(dg(alice, "set", TS, "complainant.phone=139-5555-6666", "handler=王芳", key=k))
    g(alice, "push", "-q")
    ok(dg(bob, "set", TS, "complainant.phone=139-5555-6666", "handler=王芳", "status=closed", key=k))
    # the same phone encrypted twice: different ciphertext, the same value
    assert ciphertexts((alice / TS_PATH).read_text())["phone"] != ciphertexts((bob / TS_PATH).read_text())["phone"]
    pulled = g(bob, "pull", "--no-edit", key=k, check=False)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    record = sops_open(bob, TS_PATH, k)
    assert (record["complainant"]["phone"], record["handler"], record["status"]) == ("139-5555-6666", "王芳", "closed")


def test_a_rotation_on_one_side_is_kept(team: dict[str, Path], key: dict[str, Any]) -> None:
    """alice rotated the record's data key (as `recipients remove` does for someone shut
    out); bob's merge seals with the new key, never the old one."""
    alice, bob, k = team["alice"], team["bob"], key["file"]
    old_blob = load_text((bob / TS_PATH).read_text("utf-8"))["sops"]["age"][0]["enc"]
    ok(dg(alice, "keys", "rotate", TS, key=k))
    g(alice, "push", "-q")
    rotated = load_text((alice / TS_PATH).read_text("utf-8"))
    assert rotated["sops"]["age"][0]["enc"] != old_blob
    ok(dg(bob, "set", TS, "handler=李雷", key=k))
    pulled = g(bob, "pull", "--no-edit", key=k, check=False)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    merged = load_text((bob / TS_PATH).read_text("utf-8"))
    assert merged["sops"]["age"][0]["enc"] == rotated["sops"]["age"][0]["enc"]  # the new key's blob
    assert merged["complainant"] == rotated["complainant"]  # its ciphertexts, unchanged
    assert sops_open(bob, TS_PATH, k)["handler"] == "李雷"


# ------------------------------------------------------------ conflicts

def _both_change_phone(team: dict[str, Path], k: Path) -> None:
    ok(dg(team["alice"], "set", TS, "complainant.phone=139-0000-0001", "handler=王芳", key=k))
    ok(dg(team["alice"], "set", SB, "model=A"))
    g(team["alice"], "push", "-q")
    ok(dg(team["bob"], "set", TS, "complainant.phone=139-0000-0002", key=k))
    ok(dg(team["bob"], "set", SB, "model=B"))


def test_same_field_conflict_then_resolve_and_commit(team: dict[str, Path], key: dict[str, Any]) -> None:
    bob, bare, k = team["bob"], team["bare"], key["file"]
    _both_change_phone(team, k)
    pulled = g(bob, "pull", "--no-edit", key=k, check=False)
    assert pulled.returncode != 0
    assert f"CONFLICT in {TS}" in pulled.stdout + pulled.stderr
    text = (bob / TS_PATH).read_text("utf-8")
    assert_readable_conflict(text)
    assert "complainant.phone" in text and "139-0000-0" not in text  # never plaintext
    assert "‹encrypted " in text
    assert_readable_conflict((bob / SB_PATH).read_text("utf-8"))
    # the check names the conflict and the command; a commit of it is refused
    checked = dg(bob, "check")
    assert checked.code == 1 and f"dangan resolve {TS}" in checked.out, checked
    g(bob, "add", TS_PATH, SB_PATH)
    refused = g(bob, "commit", "--no-edit", key=k, check=False)
    assert refused.returncode != 0 and "DG101" in refused.stdout + refused.stderr
    g(bob, "checkout", "-m", "--", TS_PATH, SB_PATH)  # back to the conflict (git's own way)
    assert "complainant.phone" in (bob / TS_PATH).read_text("utf-8")
    shown = dg(bob, "show", TS)
    assert shown.code != 0 and f"dangan resolve {TS}" in shown.err, shown

    listed = dg(bob, "resolve", TS, key=k)
    assert listed.code == 1 and "complainant.phone" in listed.out and "139-0000-0" not in listed.out
    assert "handler" not in listed.out  # alice alone changed it: merged
    wrong = dg(bob, "resolve", TS, "--ours", "handler", key=k)
    assert wrong.code == 2 and "not a field in conflict" in wrong.err
    ok(dg(bob, "resolve", TS, "--theirs", "complainant.phone", key=k))
    done = ok(dg(bob, "resolve", SB, "--set", "model=C"))
    assert "git commit" in done.err
    assert g(bob, "diff", "--name-only", "--diff-filter=U").stdout == ""
    committed = g(bob, "commit", "--no-edit", key=k, check=False)  # the hook checks the MAC (key)
    assert committed.returncode == 0, committed.stdout + committed.stderr
    record = sops_open(bob, TS_PATH, k)
    assert (record["complainant"]["phone"], record["handler"]) == ("139-0000-0001", "王芳")
    assert load_text((bob / SB_PATH).read_text("utf-8"))["model"] == "C"
    assert ok(dg(bob, "check", "--all", key=k))
    assert g(bob, "push", check=False).returncode == 0
    assert server_head(bare) == g(bob, "rev-parse", "HEAD").stdout.strip()


def test_rebase_conflict_then_resolve_and_continue(team: dict[str, Path], key: dict[str, Any]) -> None:
    bob, bare, k = team["bob"], team["bare"], key["file"]
    _both_change_phone(team, k)
    pulled = g(bob, "pull", "--rebase", key=k, check=False)
    assert pulled.returncode != 0
    text = (bob / TS_PATH).read_text("utf-8")
    assert_readable_conflict(text)
    assert "rebased onto" in text  # says which side is which
    # bob's first commit (the phone) is replayed: ours is the upstream, alice's
    done = ok(dg(bob, "resolve", TS, "--ours", "complainant.phone", key=k))
    assert "git rebase --continue" in done.err
    cont = g(bob, "rebase", "--continue", key=k, check=False)
    assert cont.returncode != 0  # bob's second commit (the model) conflicts in turn
    assert_readable_conflict((bob / SB_PATH).read_text("utf-8"))
    ok(dg(bob, "resolve", SB, "--theirs", "model"))  # theirs: bob's commit being replayed
    cont = g(bob, "rebase", "--continue", key=k, check=False)
    assert cont.returncode == 0, cont.stdout + cont.stderr
    assert g(bob, "rev-list", "--merges", "--count", "HEAD").stdout.strip() == "0"  # linear
    record = sops_open(bob, TS_PATH, k)
    assert (record["complainant"]["phone"], record["handler"]) == ("139-0000-0001", "王芳")
    assert load_text((bob / SB_PATH).read_text("utf-8"))["model"] == "B"
    assert ok(dg(bob, "check", "--range", "origin/main..HEAD", key=k))
    assert g(bob, "push", check=False).returncode == 0
    assert server_head(bare) == g(bob, "rev-parse", "HEAD").stdout.strip()


def test_without_a_key_a_readable_conflict_that_a_key_holder_finishes(team: dict[str, Path],
                                                                     key: dict[str, Any]) -> None:
    alice, bob, k = team["alice"], team["bob"], key["file"]
    ok(dg(alice, "set", TS, "complainant.phone=139-7777-8888", key=k))
    g(alice, "push", "-q")
    ok(dg(bob, "set", TS, "handler=李雷", key=k))  # different fields: with a key, no conflict
    pulled = g(bob, "pull", "--no-edit", key=None, check=False)  # no key at hand
    assert pulled.returncode != 0
    assert "needs a key" in pulled.stdout + pulled.stderr
    text = (bob / TS_PATH).read_text("utf-8")
    assert_readable_conflict(text)
    assert "needs a key" in text
    keyless = dg(bob, "resolve", TS, "--theirs", "handler")
    assert keyless.code == 2 and "--take ours" in keyless.err
    listed = dg(bob, "resolve", TS)
    assert listed.code == 1 and "needs a key" in listed.out
    # a key holder finishes it: nothing needs an answer
    ok(dg(bob, "resolve", TS, key=k))
    assert g(bob, "commit", "--no-edit", key=k, check=False).returncode == 0
    record = sops_open(bob, TS_PATH, k)
    assert (record["complainant"]["phone"], record["handler"]) == ("139-7777-8888", "李雷")


def test_take_one_side_needs_no_key(team: dict[str, Path], key: dict[str, Any]) -> None:
    alice, bob, k = team["alice"], team["bob"], key["file"]
    ok(dg(alice, "set", TS, "complainant.phone=139-7777-8888", key=k))
    g(alice, "push", "-q")
    ok(dg(bob, "set", TS, "handler=李雷", key=k))
    assert g(bob, "pull", "--no-edit", check=False).returncode != 0
    ok(dg(bob, "resolve", TS, "--take", "theirs"))
    assert (bob / TS_PATH).read_bytes() == g(bob, "show", f"origin/main:{TS_PATH}").stdout.encode()
    assert g(bob, "commit", "--no-edit", check=False).returncode == 0
    assert ok(dg(bob, "check", "--all", key=k))


def test_resolve_outside_a_conflict_is_bad_input(team: dict[str, Path]) -> None:
    result = dg(team["bob"], "resolve", TS, "--take", "ours")
    assert result.code == 2 and "not in a merge conflict" in result.err
    assert g(team["bob"], "status", "--porcelain").stdout == ""
