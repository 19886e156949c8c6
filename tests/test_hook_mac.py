"""A hand-resolved encrypted record is refused at the first commit of anyone who holds a
key (issue 20, part 3).

bob's clone has the hooks but no merge driver (as an older dangan's `hook install` left
it), so `git pull` leaves git's markers inside the complaint's `ENC[...]` lines and its
sops block. bob resolves them by hand the ordinary git way — alice's phone, his handler,
one side's `mac` — which gives a record whose MAC no longer matches. His key is where
dangan finds it without `--identity` (the default keys file under HOME, DANGAN_AGE_KEY_FILE
or SOPS_AGE_KEY_FILE). Why the issue saw it accepted: its member gave the key with
`--identity` only, so the hook found none; and `git rebase --continue` (and cherry-pick,
revert) commits without running the pre-commit hook at all (a cherry-pick stopped by a
conflict is finished by `git commit`, which runs it). The first is now said by the
hook (a warning that the MAC went unverified), the second is closed by the
prepare-commit-msg hook, which git runs for those commits too.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import run_bin
from test_merge import TS, TS_PATH, dg, g, key, ok, origin  # noqa: F401 (fixtures)

from dangan.formats import agekeys, sops
from dangan.formats.yamlio import load_text


def hand_resolved(text: str) -> str:
    """Markers removed as a person would: alice's phone (the side whose handler is 周敏),
    bob's handler 李雷, and the first side's `lastmodified` and `mac`."""
    out: list[str] = []
    parts: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("<<<<<<<"):
            parts = [[]]
        elif line.startswith("=======") and parts:
            parts.append([])
        elif line.startswith(">>>>>>>") and parts:
            alice = next((p for p in parts if "handler: 周敏\n" in p), None)
            if alice is None:
                out += parts[0]
            else:
                out += [x for x in alice if "phone:" in x] + ["handler: 李雷\n"]
            parts = []
        elif parts:
            parts[-1].append(line)
        else:
            out.append(line)
    return "".join(out)


@pytest.fixture
def clash(origin: Path, tmp_path: Path, key: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    top = tmp_path / "team"
    shutil.copytree(origin, top, symlinks=True)
    alice, bare, bob = top / "alice", top / "server.git", top / "bob"
    k = key["file"]
    g(alice, "remote", "set-url", "origin", str(bare))
    g(top, "clone", "-q", str(bare), str(bob))
    ok(dg(bob, "hook", "install"))
    g(bob, "config", "--remove-section", "merge.dangan")  # hooks, no driver: git's line merge
    g(bob, "config", "pull.rebase", "false")
    ok(dg(alice, "set", TS, "complainant.phone=139-1111-2222", key=k))
    g(alice, "push", "-q")
    ok(dg(bob, "set", TS, "handler=李雷", key=k))
    return {"alice": alice, "bob": bob, "bare": bare, "key": k, "top": top}


def key_where_found(clash: dict[str, Any], where: str) -> dict[str, str]:
    """The environment of bob's git: his key where dangan looks without --identity."""
    home = clash["top"] / "home"
    if where == "home":
        target = home / ".config" / "sops" / "age" / "keys.txt"
        target.parent.mkdir(parents=True)
        shutil.copyfile(clash["key"], target)
        target.chmod(0o600)
        return {"HOME": str(home)}
    return {where: str(clash["key"])}


def resolve_by_hand(bob: Path) -> None:
    text = (bob / TS_PATH).read_text("utf-8")
    assert "<<<<<<<" in text and "  mac: ENC[" in text
    (bob / TS_PATH).write_text(hand_resolved(text), "utf-8")
    assert "<<<<<<<" not in (bob / TS_PATH).read_text("utf-8")
    g(bob, "add", TS_PATH)


def assert_mac_fails(bob: Path, key_file: Path) -> None:
    """The hand-resolved record really is what the issue describes: its MAC fails."""
    identities = agekeys.load_identities(key_file.read_text("utf-8"))
    with pytest.raises(sops.MacMismatch):
        sops.decrypt_document(load_text((bob / TS_PATH).read_text("utf-8")), identities)


def refused_for_mac(proc: Any) -> str:
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0, said
    assert f"{TS_PATH}: DG107 MAC mismatch" in said, said
    assert f"git checkout -m -- {TS_PATH}" in said and f"dangan resolve {TS}" in said, said
    return said


@pytest.mark.parametrize("where", ["home", "DANGAN_AGE_KEY_FILE", "SOPS_AGE_KEY_FILE"])
def test_the_commit_of_a_hand_merged_record_is_refused(clash: dict[str, Any], where: str) -> None:
    bob = clash["bob"]
    env = key_where_found(clash, where)
    merged = g(bob, "pull", "--no-edit", check=False, **env)
    assert "CONFLICT (content)" in merged.stdout, merged
    resolve_by_hand(bob)
    assert_mac_fails(bob, clash["key"])
    head = g(bob, "rev-parse", "HEAD").stdout
    refused_for_mac(g(bob, "commit", "--no-edit", check=False, **env))
    assert g(bob, "rev-parse", "HEAD").stdout == head  # nothing committed
    # the way out the hint gives: the conflict again, then the field-by-field merge
    g(bob, "checkout", "-m", "--", TS_PATH)
    ok(dg(bob, "resolve", TS, key=clash["key"]))
    done = g(bob, "commit", "--no-edit", check=False, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ok(dg(bob, "check", "--all", key=clash["key"]))


def test_rebase_continue_is_checked_too(clash: dict[str, Any]) -> None:
    """git's sequencer skips pre-commit: before hooks/prepare-commit-msg, the hand-merged
    record entered history here with exit 0 (found with this test)."""
    bob = clash["bob"]
    env = key_where_found(clash, "home")
    rebased = g(bob, "pull", "--rebase", check=False, **env)
    assert rebased.returncode != 0 and "CONFLICT (content)" in rebased.stdout, rebased
    resolve_by_hand(bob)
    assert_mac_fails(bob, clash["key"])
    said = refused_for_mac(g(bob, "rebase", "--continue", check=False, **env))
    assert "`git rebase --continue`" in said  # what to run once fixed
    assert (bob / ".git" / "rebase-merge").is_dir()  # the rebase stopped at that commit
    g(bob, "checkout", "-m", "--", TS_PATH)
    ok(dg(bob, "resolve", TS, key=clash["key"]))
    done = g(bob, "rebase", "--continue", check=False, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ok(dg(bob, "check", "--range", "origin/main..HEAD", key=clash["key"]))


def test_cherry_pick_continue_is_checked_too(clash: dict[str, Any]) -> None:
    bob = clash["bob"]
    env = key_where_found(clash, "SOPS_AGE_KEY_FILE")
    g(bob, "fetch", "-q")
    picked = g(bob, "cherry-pick", "origin/main", check=False, **env)
    assert picked.returncode != 0 and "CONFLICT (content)" in picked.stdout, picked
    resolve_by_hand(bob)
    refused_for_mac(g(bob, "cherry-pick", "--continue", check=False, **env))
    assert (bob / ".git" / "CHERRY_PICK_HEAD").exists()


def test_a_clean_rebase_is_checked_commit_by_commit(clash: dict[str, Any]) -> None:
    """prepare-commit-msg checks each replayed commit, and lets good ones through."""
    bob = clash["bob"]
    ok(dg(bob, "hook", "install"))  # the driver again: the rebase merges field by field
    env = key_where_found(clash, "SOPS_AGE_KEY_FILE")
    rebased = g(bob, "pull", "--rebase", check=False, **env)
    assert rebased.returncode == 0, rebased.stdout + rebased.stderr
    assert g(bob, "rev-list", "--count", "origin/main..HEAD").stdout.strip() == "1"


def test_without_a_key_the_hook_says_the_mac_went_unverified(clash: dict[str, Any]) -> None:
    """What a keyless committer's hook (and so a keyless server or CI) can and cannot see:
    the hand-merged record is well-formed sops (no DG106), only its MAC is wrong, and the
    MAC needs the data key. The hook says it could not verify it; a key holder's push
    refuses it; a keyless server accepts it."""
    bob, k = clash["bob"], clash["key"]
    assert g(bob, "pull", "--no-edit", check=False).returncode != 0
    resolve_by_hand(bob)
    committed = g(bob, "commit", "--no-edit", check=False)  # no key anywhere
    assert committed.returncode == 0, committed.stdout + committed.stderr
    assert "MAC of 1 staged encrypted record(s) was not verified (DG107)" in committed.stderr
    keyless = run_bin(["check", "--all"], cwd=bob)
    assert keyless.code == 0, keyless  # structure only: nothing to see without the key
    refused = g(bob, "push", check=False, SOPS_AGE_KEY_FILE=str(k))  # a key holder's pre-push
    assert refused.returncode != 0 and "DG107" in refused.stderr, refused.stderr
    accepted = g(bob, "push", "--no-verify", check=False)  # the server has no key
    assert accepted.returncode == 0, accepted.stderr
    found = dg(bob, "check", "--all", key=k)
    assert found.code == 1 and "DG107" in found.out, found


def test_hook_install_adds_the_hook_an_older_vault_lacks(clash: dict[str, Any]) -> None:
    bob = clash["bob"]
    g(bob, "rm", "-q", "hooks/prepare-commit-msg")
    g(bob, "commit", "-qm", "a vault made by an older dangan")
    installed = dg(bob, "hook", "install")
    assert installed.code == 0 and "added hooks/prepare-commit-msg" in installed.err, installed
    assert "git add hooks && git commit" in installed.err
    script = bob / "hooks" / "prepare-commit-msg"
    assert script.is_file() and script.stat().st_mode & 0o111
    again = dg(bob, "hook", "install")  # nothing more to add; the file is kept as it is
    assert again.code == 0 and "added" not in again.err, again
