"""A dangan command killed at any moment leaves the vault as before it or as after it, once
the next dangan command has looked (store/transaction.py; docs/threat-model.md, "Interrupted
commands"); and dangan commits only what it wrote, whatever another writer does meanwhile
(issue 19, parts 3 and 4).

The kills are real: `kill -9` of a running `dangan`, which runs no handler and no `finally`.
At chosen moments (a small program stops the process with SIGKILL from inside one step of a
write: after the plan, half-way through the files, after the commit, before the index) and
at random moments of longer commands. After each: the next command says what it found,
`git status`, `git fsck`, `dangan check` are clean, HEAD is the old or the new commit, the
next command works, and no plaintext is in any file under the temporary folder, the work
tree or `.git/dangan`.
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DANGAN_BIN, git, run_cli
from test_attachments import ARCHIVIST, FW, new
from test_encryption import Key, make_key
from test_retention import dated  # noqa: F401  (fixture: a back-dated vault with records due)
from test_signing import base, keys  # noqa: F401  (fixtures: a vault that signs role acts)

TS = "TS-A01-02-001-0301-0001"
HEADER = ["location", "title", "kind", "channel", "received_at", "subject", "description",
          "complainant.name", "complainant.phone"]


def phone(i: int) -> str:
    return f"139-{i:04d}-{i:04d}"


def sheet(path: Path, count: int, start: int = 1) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for i in range(start, start + count):
        writer.writerow(["A01-02-001-0301", f"投訴 {i}", "complaint", "phone", "2024-04-08T12:35:00+08:00",
                         "noise", f"第{i}號投訴。", f"住戶{i:05d}", phone(i)])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Key:
    return make_key(tmp_path_factory.mktemp("keys"), "alice")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, key: Key) -> Path:
    """A vault for Alice with three encrypted complaints (TS) and a clear room file (FW)."""
    folder = tmp_path_factory.mktemp("seeded")
    root = folder / "vault"
    assert run_cli(["init", str(root), "--recipient", f"{ARCHIVIST}={key.public}"]).code == 0
    assert run_cli(["-C", str(root), "import", "TS", str(sheet(folder / "three.csv", 3))]).code == 0
    new(root, folder, "FW", "A01-01-002-1802", "FW-room.yaml")
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    return root


@pytest.fixture
def vault_copy(seeded: Path, tmp_path: Path) -> Path:
    target = tmp_path / "vault"
    shutil.copytree(seeded, target, symlinks=True)
    return target


def killing(tmp_path: Path, target: str, when: str, nth: int = 1) -> Path:
    """A `dangan` that kills itself with SIGKILL (nothing runs after it: no handler, no
    `finally`) before or after the `nth` call of `module:Qual.name`."""
    module, qual = target.split(":")
    script = tmp_path / "killing-dangan"
    script.write_text(
        f"#!{sys.executable}\n"
        "import importlib, os, signal, sys\n"
        f"owner = importlib.import_module({module!r})\n"
        f"*path, name = {qual!r}.split('.')\n"
        "for part in path:\n"
        "    owner = getattr(owner, part)\n"
        "original = getattr(owner, name)\n"
        "calls = [0]\n"
        "def step(*args, **kwargs):\n"
        "    calls[0] += 1\n"
        f"    if {when!r} == 'before' and calls[0] == {nth}:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    result = original(*args, **kwargs)\n"
        f"    if {when!r} == 'after' and calls[0] == {nth}:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return result\n"
        "setattr(owner, name, step)\n"
        "from dangan.entry import main\n"
        "sys.exit(main(sys.argv[1:]))\n",
        "utf-8",
    )
    script.chmod(0o755)
    return script


def dangan(root: Path, *args: str, program: Path = DANGAN_BIN, key: Key | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    ident = ["--identity", str(key.file)] if key is not None else []
    return subprocess.run([str(program), "-C", str(root), *ident, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def state(root: Path) -> tuple[str, str, str]:
    """HEAD, the index, the work tree: what is compared before and after."""
    return (git(root, "rev-parse", "HEAD").strip(), git(root, "ls-files", "-s"),
            git(root, "status", "--porcelain", "--untracked-files=all", "--ignored"))


def no_plaintext(places: list[Path], secrets: list[str]) -> None:
    for place in places:
        for path in place.rglob("*"):
            if path.is_file() and not path.is_symlink() and "objects" not in path.parts:
                data = path.read_bytes()
                for secret in secrets:
                    assert secret.encode() not in data, (path, secret)


def assert_whole(root: Path, before: tuple[str, str, str], key: Key, *, outcome: str, tmp: Path,
                 secrets: list[str], clean_before: bool = True) -> str:
    """The vault after a kill and the next command: as before, or as after (one new
    commit of dangan's). Returns which ("before" or "after")."""
    plan = root / ".git" / "dangan" / "pending.json"
    looked = dangan(root, "ls", env={"TMPDIR": str(tmp)})
    assert looked.returncode == 0, looked
    if outcome != "either":
        assert "an interrupted `dangan" in looked.stderr, looked.stderr
        assert ("rolled back" if outcome == "before" else "finished") in looked.stderr, looked.stderr
    assert not plan.exists()
    head, index, status = state(root)
    assert git(root, "diff", "--cached", "--name-only") == ""  # the index is HEAD: no staged revert
    if head == before[0]:
        found = "before"
        assert (index, status) == before[1:]  # nothing half-written, nothing set aside, no temp file
    else:
        found = "after"
        assert status == "", status
        assert git(root, "rev-parse", "HEAD~1").strip() == before[0]
        assert git(root, "log", "-1", "--format=%s").startswith("dangan ")
    if outcome != "either":
        assert found == outcome
    fsck = subprocess.run(["git", "fsck", "--no-progress", "--no-dangling"], cwd=root, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    if found == "after" or clean_before:  # (as before: what it was, findings included)
        checked = dangan(root, "check", "--all", key=key)
        assert checked.returncode == 0, checked
    no_plaintext([tmp, root / "vault", root / ".git" / "dangan"], secrets)
    return found


# ------------------------------------------------------------- chosen moments

STEPS = [
    # (the step killed, before/after it, which call, what the next command finds)
    ("dangan.store.transaction:Write.save", "after", 1, "before"),  # the plan, nothing else
    ("dangan.store.transaction:write_atomic", "after", 3, "before"),  # the plan and two files
    ("dangan.store.transaction:Write.put", "after", 1, "before"),  # every file, no commit
    ("dangan.git.gitio:recent", "before", 1, "after"),  # committed, not yet said so
    ("dangan.store.transaction:Write.commit", "after", 1, "after"),  # committed, index not staged
    ("dangan.store.transaction:Write.done", "before", 1, "after"),  # all done but the clean-up
]


@pytest.mark.parametrize(("step", "when", "nth", "outcome"), STEPS, ids=[f"{s[0].split(':')[1]}-{s[1]}-{s[2]}" for s in STEPS])
def test_an_import_killed_at_each_step(vault_copy: Path, key: Key, tmp_path: Path,
                                       step: str, when: str, nth: int, outcome: str) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = state(vault_copy)
    rows = sheet(tmp_path / "five.csv", 5, start=100)
    killed = dangan(vault_copy, "import", "TS", str(rows), program=killing(tmp_path, step, when, nth),
                    env={"TMPDIR": str(tmp)})
    assert killed.returncode == -signal.SIGKILL, killed
    assert (vault_copy / ".git" / "dangan" / "pending.json").exists()
    assert_whole(vault_copy, before, key, outcome=outcome, tmp=tmp, secrets=[phone(i) for i in range(100, 105)])
    records = list((vault_copy / "vault").rglob("TS-*.yaml"))
    assert len(records) == (3 if outcome == "before" else 8)
    # and the next write works
    again = dangan(vault_copy, "import", "TS", str(sheet(tmp_path / "more.csv", 2, start=200)))
    assert again.returncode == 0, again


@pytest.mark.parametrize(("step", "when", "nth", "outcome"), [
    ("dangan.store.transaction:Write.put", "after", 1, "before"),
    ("dangan.store.transaction:Write.commit", "after", 1, "after"),
])
def test_a_set_of_a_sensitive_value_killed(vault_copy: Path, key: Key, tmp_path: Path,
                                           step: str, when: str, nth: int, outcome: str) -> None:
    """An existing record rewritten: rolled back, it holds its old bytes again."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = state(vault_copy)
    path = next((vault_copy / "vault").rglob(f"{TS}.yaml"))
    old = path.read_bytes()
    killed = dangan(vault_copy, "set", TS, "complainant.phone=139-7777-0000", key=key,
                    program=killing(tmp_path, step, when, nth), env={"TMPDIR": str(tmp)})
    assert killed.returncode == -signal.SIGKILL, killed
    plan = (vault_copy / ".git" / "dangan" / "pending.json").read_text("utf-8")
    assert "139-7777-0000" not in plan and TS not in json.loads(plan)["command"]  # the command words only
    assert json.loads(plan)["command"] == "dangan set"
    assert_whole(vault_copy, before, key, outcome=outcome, tmp=tmp, secrets=["139-7777-0000", phone(1)])
    assert (path.read_bytes() == old) == (outcome == "before")


def test_a_hand_edit_under_an_interrupted_write_comes_back(vault_copy: Path, key: Key, tmp_path: Path) -> None:
    """A record edited by hand (not yet committed) and then rewritten by a command that is
    killed: the hand edit is what comes back, not HEAD's version."""
    path = next((vault_copy / "vault").rglob("FW-*.yaml"))
    edited = path.read_bytes().replace(b"\n", "\n# 手寫的註記\n".encode(), 1).rstrip(b"\n")  # fmt adds it back
    path.write_bytes(edited)
    killed = dangan(vault_copy, "fmt", program=killing(tmp_path, "dangan.store.transaction:Write.put", "after"))
    assert killed.returncode == -signal.SIGKILL, killed
    looked = dangan(vault_copy, "ls")
    assert looked.returncode == 0 and "rolled back" in looked.stderr, looked
    assert path.read_bytes() == edited
    assert git(vault_copy, "status", "--porcelain", "--untracked-files=all").split() == ["M", str(path.relative_to(vault_copy))]


def test_vault_yaml_is_never_missing_while_it_is_rewritten(vault_copy: Path, key: Key, tmp_path: Path) -> None:
    """vault.yaml edited by hand (not committed) is set aside before `keys updatekeys`
    rewrites it: killed just then, the vault must still be one (a missing vault.yaml is "no
    vault here", and no command could recover the write), and the next command puts it
    back as it was: the hand edit."""
    bob = make_key(tmp_path, "bob")
    config = vault_copy / "vault.yaml"
    edited = config.read_text("utf-8").replace(
        "recipients:\n", f"recipients:\n  - name: Bob\n    key: {bob.public}\n    roles:\n      - archivist\n", 1)
    config.write_text(edited, "utf-8")
    before = state(vault_copy)
    killed = dangan(vault_copy, "keys", "updatekeys", key=key,
                    program=killing(tmp_path, "dangan.store.transaction:_set_aside", "after"))
    assert killed.returncode == -signal.SIGKILL, killed
    assert config.read_text("utf-8") == edited  # there all along
    looked = dangan(vault_copy, "ls")
    assert looked.returncode == 0, looked
    assert config.read_text("utf-8") == edited
    assert state(vault_copy) == before  # nothing set aside left, nothing staged


def test_an_attachment_killed_before_its_commit(vault_copy: Path, key: Key, tmp_path: Path) -> None:
    """A large file moved into place (not read into memory): rolled back, it and its
    record entry are gone, and no encrypted temp file is left in the work tree."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = state(vault_copy)
    scan = tmp_path / "plan.pdf"
    scan.write_bytes(b"%PDF-1.4 floor plan " * 5000)
    killed = dangan(vault_copy, "attach", FW, str(scan), "--by", ARCHIVIST,
                    program=killing(tmp_path, "dangan.store.transaction:Write.put", "after"), env={"TMPDIR": str(tmp)})
    assert killed.returncode == -signal.SIGKILL, killed
    assert_whole(vault_copy, before, key, outcome="before", tmp=tmp, secrets=["floor plan"])


# ------------------------------------------------------------- random moments

def wait_for_group(pgid: int) -> None:
    """Until every process of the group (the git a killed dangan started) has ended."""
    for _ in range(600):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("the killed command's children did not end")


@pytest.mark.parametrize("command", ["import", "updatekeys"])
def test_random_kills(vault_copy: Path, key: Key, tmp_path: Path, command: str) -> None:
    """`kill -9` of the dangan process at random moments of a bulk write (300 records: the
    bulk path), the git it started left to finish as it would; many trials. Deterministic
    moments (a seeded generator) over the time the command takes here."""
    rng = random.Random(19)
    template = tmp_path / "template"
    shutil.copytree(vault_copy, template, symlinks=True)
    rows = sheet(tmp_path / "rows.csv", 300, start=1000)
    if command == "updatekeys":  # the records to rewrap, and a second recipient to rewrap them for
        assert dangan(template, "import", "TS", str(rows)).returncode == 0
        bob = make_key(tmp_path, "bob")
        config = template / "vault.yaml"  # Bob added by hand, not committed: updatekeys takes it along
        config.write_text(config.read_text("utf-8").replace(
            "recipients:\n", f"recipients:\n  - name: Bob\n    key: {bob.public}\n    roles:\n      - archivist\n", 1), "utf-8")
        argv = ["keys", "updatekeys"]
    else:
        argv = ["import", "TS", str(rows)]
    # how long the command takes, uninterrupted
    timed = tmp_path / "timed"
    shutil.copytree(template, timed, symlinks=True)
    start = time.monotonic()
    done = dangan(timed, *argv, key=key)
    took = time.monotonic() - start
    assert done.returncode == 0, done
    outcomes = []
    for trial in range(6):
        root = tmp_path / f"trial{trial}"
        shutil.copytree(template, root, symlinks=True)
        tmp = tmp_path / f"tmp{trial}"
        tmp.mkdir()
        before = state(root)
        proc = subprocess.Popen([str(DANGAN_BIN), "-C", str(root), "--identity", str(key.file), *argv],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "TMPDIR": str(tmp)})
        time.sleep(rng.uniform(0.05, 1.0) * took)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait_for_group(proc.pid)
        outcomes.append(assert_whole(root, before, key, outcome="either", tmp=tmp,
                                     secrets=[phone(i) for i in range(1000, 1300, 37)],
                                     clean_before=command == "import"))
        shutil.rmtree(root)
    assert outcomes  # each trial asserted its own invariants; which outcome is timing's


# ------------------------------------------------------------- racing writers

def other_writer(root: Path) -> str:
    """Another tool's work, staged in the repository's index: a note beside the vault."""
    (root / "NOTES.txt").write_text("交接備忘\n", "utf-8")
    git(root, "add", "NOTES.txt")
    return "NOTES.txt"


def racing(tmp_path: Path, root: Path) -> Path:
    """A `dangan` in which another tool's `git commit` lands just before dangan's own: after
    dangan planned its commit on HEAD, before git reads HEAD for it."""
    script = tmp_path / "racing-dangan"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, subprocess, sys\n"
        "from dangan.git import gitio\n"
        "original = gitio.commit\n"
        "def commit(*args, **kwargs):\n"
        "    env = {k: v for k, v in os.environ.items() if k != 'GIT_INDEX_FILE'}\n"
        f"    subprocess.run(['git', 'commit', '-q', '--no-verify', '-m', 'another tool'], cwd={str(root)!r}, env=env, check=True)\n"
        "    return original(*args, **kwargs)\n"
        "gitio.commit = commit\n"
        "from dangan.entry import main\n"
        "sys.exit(main(sys.argv[1:]))\n",
        "utf-8",
    )
    script.chmod(0o755)
    return script


def test_another_commit_just_before_dangans_is_reported_and_nothing_of_dangans_is_in_it(
        vault_copy: Path, key: Key, tmp_path: Path) -> None:
    head = git(vault_copy, "rev-parse", "HEAD").strip()
    other_writer(vault_copy)
    path = next((vault_copy / "vault").rglob(f"{TS}.yaml"))
    old = path.read_bytes()
    result = dangan(vault_copy, "set", TS, "complainant.phone=139-7777-0000", key=key, program=racing(tmp_path, vault_copy))
    assert result.returncode == 2, result
    assert "another commit" in result.stderr and "landed while dangan was committing" in result.stderr, result.stderr
    assert "withdrawn" in result.stderr and "Traceback" not in result.stderr
    # the other tool's commit is HEAD, with its file only; dangan's was withdrawn
    assert git(vault_copy, "rev-parse", "HEAD~1").strip() == head
    assert git(vault_copy, "log", "-1", "--format=%s").strip() == "another tool"
    assert git(vault_copy, "show", "--name-only", "--format=", "HEAD").split() == ["NOTES.txt"]
    # nothing staged (no revert of anything), the record as it was
    assert git(vault_copy, "diff", "--cached", "--name-only") == ""
    assert git(vault_copy, "status", "--porcelain", "--untracked-files=all") == ""
    assert path.read_bytes() == old
    # run again, it works on top of the other commit
    other = git(vault_copy, "rev-parse", "HEAD").strip()
    again = dangan(vault_copy, "set", TS, "complainant.phone=139-7777-0000", key=key)
    assert again.returncode == 0, again
    assert git(vault_copy, "rev-parse", "HEAD~1").strip() == other
    assert git(vault_copy, "show", "--name-only", "--format=", "HEAD").split() == [str(path.relative_to(vault_copy))]


def test_another_commit_while_the_hook_runs_gets_gits_own_message(vault_copy: Path, key: Key, tmp_path: Path) -> None:
    """The other writer commits while dangan's commit is under way (its pre-commit hook
    running): git refuses to move HEAD, says why, and dangan puts everything back."""
    head = git(vault_copy, "rev-parse", "HEAD").strip()
    other_writer(vault_copy)
    hooks = vault_copy / "hooks"
    original = (hooks / "pre-commit").read_text()
    (hooks / "pre-commit").write_text(
        "#!/bin/sh\n"
        "env -u GIT_INDEX_FILE git commit -q --no-verify -m 'another tool' || exit 1\n"
        + original.split("\n", 1)[1])
    path = next((vault_copy / "vault").rglob(f"{TS}.yaml"))
    old = path.read_bytes()
    result = dangan(vault_copy, "set", TS, "complainant.phone=139-7777-0000", key=key)
    assert result.returncode == 2, result
    assert "cannot lock ref 'HEAD'" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert git(vault_copy, "rev-parse", "HEAD~1").strip() == head
    assert git(vault_copy, "show", "--name-only", "--format=", "HEAD").split() == ["NOTES.txt"]
    assert git(vault_copy, "diff", "--cached", "--name-only") == ""
    assert git(vault_copy, "status", "--porcelain", "--untracked-files=all") == " M hooks/pre-commit\n"
    assert path.read_bytes() == old


def test_what_another_writer_staged_stays_staged_and_out_of_dangans_commit(vault_copy: Path, key: Key) -> None:
    other_writer(vault_copy)
    result = dangan(vault_copy, "set", TS, "complainant.phone=139-7777-0000", key=key)
    assert result.returncode == 0, result
    path = next((vault_copy / "vault").rglob(f"{TS}.yaml"))
    assert git(vault_copy, "show", "--name-only", "--format=", "HEAD").split() == [str(path.relative_to(vault_copy))]
    assert git(vault_copy, "diff", "--cached", "--name-only").split() == ["NOTES.txt"]
    assert git(vault_copy, "status", "--porcelain", "--untracked-files=all") == "A  NOTES.txt\n"


# ------------------------------------------------------------- a signed act

def test_a_role_act_killed_before_dangan_signed_it_is_withdrawn(base: Path, keys: dict, tmp_path: Path) -> None:  # noqa: F811
    """`lend approve --sign-key` killed after git made the commit and before dangan signed
    it: an unsigned role act the server would refuse never stays; the next command takes
    the commit back and the vault is as before the approval."""
    from test_signing import APPROVER, request

    root = tmp_path / "vault"
    shutil.copytree(base, root, symlinks=True)
    loan = request(root)
    before = state(root)
    killed = dangan(root, "lend", "approve", loan, "--by", APPROVER, "--sign-key", str(keys[APPROVER][0]),
                    program=killing(tmp_path, "dangan.services.signing:Signing.finish", "before"))
    assert killed.returncode == -signal.SIGKILL, killed
    assert git(root, "rev-parse", "HEAD").strip() != before[0]  # git had committed it, unsigned
    looked = dangan(root, "ls")
    assert looked.returncode == 0 and "rolled back" in looked.stderr, looked
    assert state(root) == before
    assert not (root / ".git" / "dangan" / "pending.json").exists()
    again = dangan(root, "lend", "approve", loan, "--by", APPROVER, "--sign-key", str(keys[APPROVER][0]))
    assert again.returncode == 0, again
    assert "gpgsig " in git(root, "cat-file", "commit", "HEAD")


# ------------------------------------------------------------- a destruction

@pytest.mark.parametrize(("when", "outcome"), [("after", "before"), ("before", "after")])
def test_a_retention_apply_killed_leaves_no_staged_deletion(dated: Path, tmp_path: Path, when: str,  # noqa: F811
                                                            outcome: str) -> None:
    """`retention apply` deletes the records of an approved plan and adds the certificate,
    in one commit. Killed after its files (deletions done, certificate written, nothing
    committed): the next command brings the records back and takes the certificate away.
    Killed after the commit (before the index): finished."""
    from test_retention import ARCHIVIST, WITNESSES, approve, path_of, write_plan

    root = tmp_path / "vault"
    shutil.copytree(dated, root, symlinks=True)
    plan_file = write_plan(root, tmp_path, "2024-05-01", "--category", "XJ")
    assert approve(root, plan_file).code == 0
    before = state(root)
    step = "dangan.store.transaction:Write.put" if when == "after" else "dangan.store.transaction:Write.stage"
    killed = dangan(root, "retention", "apply", str(plan_file), *WITNESSES, "--method", "碎紙機粉碎",
                    "--place", "總部檔案室", "--by", ARCHIVIST, "--at", "2024-05-06T15:00:00+08:00",
                    program=killing(tmp_path, step, when))
    assert killed.returncode == -signal.SIGKILL, killed
    looked = dangan(root, "ls")
    assert looked.returncode == 0 and ("rolled back" if outcome == "before" else "finished") in looked.stderr, looked
    head, index, status = state(root)
    assert git(root, "diff", "--cached", "--name-only") == ""  # no staged deletion, no staged certificate
    assert status == ""
    listed = ["XJ-A01-0001", "XJ-A01-0002", "XJ-A01-02-0001"]
    if outcome == "before":
        assert (head, index) == before[:2]
        assert all((root / path_of(c)).exists() for c in listed) and not (root / "vault/XH/XH-0001.yaml").exists()
    else:
        assert git(root, "log", "-1", "--format=%s").strip() == "dangan retention apply: XH-0001 (3 record(s) destroyed)"
        assert not any((root / path_of(c)).exists() for c in listed) and (root / "vault/XH/XH-0001.yaml").exists()
