"""A killed dangan leaves no decrypted text behind (issue 19, part 3; store/scratch.py,
docs/threat-model.md "What a crash can leave").

Real processes: the installed `dangan` runs `edit` with an EDITOR that copies the record
into swap and backup files, as vim and emacs do, says where it is and sleeps; the test then
kills dangan (`kill -9`, SIGTERM, SIGHUP) and looks for the record's decrypted phone number
in every file under the scratch places. A backup's trial repository is caught the same way,
by a `git` first on PATH that stops at the trial's `git fsck`. TMPDIR and XDG_RUNTIME_DIR
point at folders of each test: the machine's own are never looked at or swept.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DANGAN_BIN, git, run_bin
from test_encryption import TS_CODE, Key, init, make_key, new

from dangan.store import scratch

PHONE = "138-0000-1234"  # the complainant's phone of TS-complaint.yaml: encrypted in the vault
WAIT = 60.0  # how long a started process may take to reach the point it is waited for

EDITOR = r"""
import os, pathlib, sys, time
path = pathlib.Path(sys.argv[-1])
text = path.read_text("utf-8")
for name in (f".{path.name}.swp", f"#{path.name}#", f"{path.name}~"):  # vim, emacs, backups
    (path.parent / name).write_text(text, "utf-8")
(path.parent / "backups").mkdir()  # a backupdir below the file
(path.parent / "backups" / path.name).write_text(text, "utf-8")
if os.environ.get("EDIT_AND_QUIT"):
    path.write_text(text.replace("138-0000-1234", "138-0000-9999"), "utf-8")
    sys.exit(0)
note = pathlib.Path(os.environ["EDITOR_NOTE"])
note.with_suffix(".tmp").write_text(f"{os.getpid()}\n{path}\n", "utf-8")
note.with_suffix(".tmp").rename(note)  # whole or absent
time.sleep(600)
"""

GIT_SHIM = r"""#!/bin/sh
# git, but the trial repository's fsck says where it is and waits to be killed
case "$PWD:$1" in
  *dangan-verify-*:fsck)
    echo "$PPID $$" > "$GIT_NOTE.tmp"; mv "$GIT_NOTE.tmp" "$GIT_NOTE"
    exec sleep 600 ;;
esac
exec "$REAL_GIT" "$@"
"""


@dataclass
class Places:
    tmp: Path  # TMPDIR
    run: Path  # XDG_RUNTIME_DIR
    env: dict[str, str]

    def leaked(self, secret: str) -> list[Path]:
        """Every file under the scratch places that holds `secret`."""
        found = []
        for top in (self.tmp, self.run):
            for path in top.rglob("*"):
                if path.is_file() and not path.is_symlink() and secret.encode() in path.read_bytes():
                    found.append(path)
        return found

    def ours(self, kind: str) -> list[Path]:
        return sorted(p for top in (self.tmp, self.run) for p in top.glob(f"dangan-{kind}-*"))


@pytest.fixture(scope="module")
def alice(tmp_path_factory: pytest.TempPathFactory) -> Key:
    return make_key(tmp_path_factory.mktemp("keys"), "alice")


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, alice: Key) -> Path:
    root = init(tmp_path_factory.mktemp("sealed") / "vault", ("Alice", alice))
    assert new(root, "TS-complaint.yaml")["code"] == TS_CODE
    assert PHONE.encode() not in (root / "vault").joinpath(
        *TS_CODE.split("-")[1:5], "TS", f"{TS_CODE}.yaml").read_bytes()
    return root


@pytest.fixture
def vault(sealed: Path, tmp_path: Path) -> Path:
    target = tmp_path / "vault"
    shutil.copytree(sealed, target, symlinks=True)
    return target


@pytest.fixture
def places(tmp_path: Path, alice: Key) -> Places:
    tmp, run = tmp_path / "tmp", tmp_path / "run"
    tmp.mkdir()
    run.mkdir(mode=0o700)
    run.chmod(0o700)
    env = {"TMPDIR": str(tmp), "XDG_RUNTIME_DIR": str(run), "SOPS_AGE_KEY_FILE": str(alice.file),
           "EDITOR": f"{sys.executable} {tmp_path / 'editor.py'}", "EDITOR_NOTE": str(tmp_path / "editor.note")}
    (tmp_path / "editor.py").write_text(EDITOR, "utf-8")
    return Places(tmp, run, env)


@contextlib.contextmanager
def started(args: list[str], env: dict[str, str], note: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[str]]]:
    """`dangan ARGS` running until `note` appears; yields the process and the note's lines.
    Whatever is still running afterwards is killed."""
    full = {k: v for k, v in os.environ.items() if k != "VISUAL"}
    full.update(env)
    err = note.with_name(note.name + ".stderr")
    with err.open("wb") as stderr:
        proc = subprocess.Popen([str(DANGAN_BIN), *args], env=full, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    others: list[int] = []
    try:
        deadline = time.monotonic() + WAIT
        while not note.exists():
            assert proc.poll() is None, err.read_text("utf-8", "replace")
            assert time.monotonic() < deadline, "the command never got there"
            time.sleep(0.02)
        lines = note.read_text("utf-8").split()
        others += [int(word) for word in lines if word.isdigit()]  # the editor, the stopped git
        yield proc, lines
    finally:
        for pid in [proc.pid, *others]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def stderr_of(places: Places) -> str:
    note = Path(places.env["EDITOR_NOTE"])
    return note.with_name(note.name + ".stderr").read_text("utf-8", "replace")


# ------------------------------------------------------------------------------ edit

def test_a_killed_edit_leaves_plaintext_only_until_the_next_command(vault: Path, places: Places):
    note = Path(places.env["EDITOR_NOTE"])
    with started(["-C", str(vault), "edit", TS_CODE], places.env, note) as (proc, (editor_pid, edited)):
        folder = Path(edited).parent
        # the editor's copy lives in the runtime directory, private, named by its process
        assert folder.parent == places.run
        assert folder.name.startswith(f"dangan-edit-{proc.pid}-")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        os.kill(proc.pid, signal.SIGKILL)
        os.kill(int(editor_pid), signal.SIGKILL)
        proc.wait()
    assert places.leaked(PHONE)  # what kill -9 leaves: the copy and the editor's files
    before = git(vault, "rev-parse", "HEAD")
    assert run_bin(["-C", str(vault), "ls"], env=places.env).code == 0  # any command
    assert places.ours("edit") == []
    assert places.leaked(PHONE) == []
    assert git(vault, "rev-parse", "HEAD") == before and git(vault, "status", "--porcelain") == ""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_terminated_edit_removes_its_folder_at_once(vault: Path, places: Places, signum: int):
    note = Path(places.env["EDITOR_NOTE"])
    with started(["-C", str(vault), "edit", TS_CODE], places.env, note) as (proc, (_, edited)):
        assert Path(edited).exists() and places.leaked(PHONE)
        os.kill(proc.pid, signum)
        code = proc.wait()
        assert code == 128 + signum
        # no next command: the folder went while dangan unwound, the editor's files with it
        assert places.ours("edit") == []
        assert places.leaked(PHONE) == []
    assert f"dangan: stopped by {signal.Signals(signum).name}" in stderr_of(places)
    assert git(vault, "status", "--porcelain") == ""


def test_an_edit_removes_the_editors_swap_and_backup_files(vault: Path, places: Places):
    result = run_bin(["-C", str(vault), "edit", TS_CODE], env={**places.env, "EDIT_AND_QUIT": "1"})
    assert result.code == 0, result
    assert places.ours("edit") == []
    assert places.leaked(PHONE) == [] and places.leaked("138-0000-9999") == []


# ---------------------------------------------------------------------------- backup

@dataclass
class Paused:
    env: dict[str, str]  # places.env with PATH starting at a `git` that stops in the trial's fsck
    note: Path  # written by that git: the pid of the dangan that started it, and its own


@pytest.fixture
def paused(tmp_path: Path, places: Places) -> Paused:
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "git").write_text(GIT_SHIM, "utf-8")
    (shim / "git").chmod(0o755)
    note = tmp_path / "git.note"
    env = {**places.env, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}", "GIT_NOTE": str(note),
           "REAL_GIT": shutil.which("git") or "git"}
    return Paused(env, note)


def bundle_of(vault: Path, places: Places, dest: Path) -> Path:
    result = run_bin(["-C", str(vault), "backup", "create", "--dest", str(dest)], env=places.env)
    assert result.code == 0, result
    (bundle,) = dest.glob("*.bundle")
    return bundle


@pytest.mark.parametrize("command", ["verify", "create"])
def test_a_killed_backup_leaves_its_trial_only_until_the_next_command(
        vault: Path, places: Places, paused: Paused, tmp_path: Path, command: str):
    dest = tmp_path / "backups"
    args = (["backup", "verify", str(bundle_of(vault, places, dest))] if command == "verify"
            else ["backup", "create", "--dest", str(dest)])
    if command == "create":
        git(vault, "commit", "--allow-empty", "-q", "-m", "something new to back up")
    with started(["-C", str(vault), *args], paused.env, paused.note) as (proc, (pid, *_)):
        assert int(pid) == proc.pid
        (trial,) = places.ours("verify")
        assert trial.parent == places.tmp and trial.name.startswith(f"dangan-verify-{proc.pid}-")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert places.ours("verify") == [trial]
    assert run_bin(["-C", str(vault), "backup", "ls", str(dest)], env=places.env).code == 0
    assert places.ours("verify") == []
    assert places.leaked(PHONE) == []


def test_a_terminated_backup_verify_removes_its_trial_at_once(
        vault: Path, places: Places, paused: Paused, tmp_path: Path):
    bundle = bundle_of(vault, places, tmp_path / "backups")
    with started(["-C", str(vault), "backup", "verify", str(bundle)], paused.env, paused.note) as (proc, _):
        assert len(places.ours("verify")) == 1
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait() == 128 + signal.SIGTERM
        assert places.ours("verify") == []


# ----------------------------------------------------------------------------- sweep

def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def leftover(place: Path, name: str, content: str = PHONE) -> Path:
    folder = place / name
    folder.mkdir(mode=0o700)
    (folder / "SB-A01-01-0001.yaml").write_text(content, "utf-8")
    (folder / scratch.LOCK).write_text("", "utf-8")
    return folder


def test_the_sweep_removes_only_stale_folders_of_this_user(tmp_path: Path):
    place = tmp_path / "place"
    place.mkdir()
    outside = leftover(tmp_path, "outside")
    dead = dead_pid()
    stale = [leftover(place, f"dangan-edit-{dead}-abc123_x"), leftover(place, f"dangan-verify-{dead}-q1")]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        kept = [
            leftover(place, f"dangan-edit-{sleeper.pid}-live"),  # its process runs
            leftover(place, f"dangan-edit-{os.getpid()}-mine"),  # this process
            leftover(place, f"dangan-other-{dead}-name"),  # not a kind of ours
            leftover(place, "dangan-test-home-abcd1234"),
        ]
        (place / f"dangan-edit-{dead}-link").symlink_to(outside)  # a link: never followed
        (place / f"dangan-edit-{dead}-file").write_text(PHONE, "utf-8")  # not a folder
        foreign = leftover(place, f"dangan-edit-{dead}-theirs")
        if os.getuid() == 0:  # root can make a folder of another user
            os.chown(foreign, 4242, 4242)
            kept.append(foreign)
        else:
            stale.append(foreign)
        held = leftover(place, f"dangan-edit-{dead}-held")  # a live process of another pid namespace
        kept.append(held)
        import fcntl

        fd = os.open(held / scratch.LOCK, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            removed = scratch.sweep([str(place), str(tmp_path / "missing")])
        finally:
            os.close(fd)
        assert sorted(removed) == sorted(str(p) for p in stale)
        assert [p for p in stale if os.path.lexists(p)] == []
        assert all(p.is_dir() for p in kept)
        assert (place / f"dangan-edit-{dead}-link").is_symlink() and (outside / scratch.LOCK).exists()
        assert (place / f"dangan-edit-{dead}-file").is_file()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_sweep_removes_folders_of_an_older_dangan_after_a_day(tmp_path: Path):
    old, young = leftover(tmp_path, "dangan-edit-k2j4_x9a"), leftover(tmp_path, "dangan-verify-0a1b2c3d")
    now = 2_000_000_000.0
    for folder, age in ((old, scratch.OLD_AGE + 60), (young, scratch.OLD_AGE - 60)):
        for path in (*folder.iterdir(), folder):
            os.utime(path, (now - age, now - age))
    assert scratch.sweep([str(tmp_path)], now=now) == [str(old)]
    assert not old.exists() and young.is_dir()


def test_a_folder_being_created_is_left_alone(tmp_path: Path):
    folder = tmp_path / f"dangan-edit-{dead_pid()}-new"
    folder.mkdir()  # mkdtemp done, the lock file not yet made
    now = folder.stat().st_mtime
    assert scratch.sweep([str(tmp_path)], now=now + scratch.CREATING - 1) == []
    assert scratch.sweep([str(tmp_path)], now=now + scratch.CREATING + 1) == [str(folder)]


def test_the_runtime_directory_is_used_only_when_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    run.chmod(0o700)
    assert scratch.runtime_dir() == str(run) == scratch.plaintext_place()
    run.chmod(0o755)  # others may enter: not what the XDG spec promises
    assert scratch.runtime_dir() is None
    assert scratch.plaintext_place() in (scratch.SHM, scratch.temp_dir())
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/run")
    assert scratch.runtime_dir() is None


def test_no_sweep_in_the_hooks_and_the_diff_driver(vault: Path, places: Places):
    stale = leftover(places.run, f"dangan-edit-{dead_pid()}-x")
    record = next((vault / "vault").rglob("*.yaml"))
    assert run_bin(["-C", str(vault), "textconv", str(record)], env=places.env).code == 0
    assert run_bin(["-C", str(vault), "hook", "pre-commit"], env=places.env).code == 0
    assert stale.is_dir()
    assert run_bin(["-C", str(vault), "ls"], env=places.env).code == 0
    assert not stale.exists()
