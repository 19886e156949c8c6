"""dangan's scratch folders: the editor's copy of a record (`edit`) and a backup's trial
restore (`verify`), and the sweep that removes the ones a killed dangan left behind.

A folder is `dangan-<kind>-<pid>-<random>` (mode 0700, from mkdtemp) and holds a lock file
that its process keeps locked (flock) until it removes the folder. The kernel drops the lock
when the process dies, however it dies, so the sweep at the start of the next command
(cli/main.py) can tell a live folder from a stale one: the pid in the name is the cheap
first test (os.kill(pid, 0)), the lock the sure one (a pid of another pid namespace sharing
the folder looks dead from here; a reused pid looks alive, and the folder waits for the next
sweep after that process ends).

Where: plaintext goes where a crash leaves the least behind (`plaintext_place`): the user's
runtime directory (`$XDG_RUNTIME_DIR`, 0700, owned by the user, a tmpfs emptied at logout),
else /dev/shm (RAM: gone at the latest with the next boot), else the temp folder. The trial
restore holds no plaintext but a whole repository's history, so it stays in the temp folder,
on disk (docs/decisions.md, "Scratch folders"). Standard library only, and cheap to import:
the sweep runs before almost every command.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

KINDS = ("edit", "verify")
LOCK = ".dangan-lock"
SHM = "/dev/shm"
# folders of dangan before pids were in the names (mkdtemp's eight random characters):
# removed when nothing in them changed for this long (docs/decisions.md, "Scratch folders")
OLD_AGE = 24 * 3600
# a folder without its lock file is being created (mkdtemp, then the lock): left alone this long
CREATING = 60

_OURS = re.compile(r"dangan-(?:edit|verify)-(?:(\d+)-[A-Za-z0-9_]+|[a-z0-9_]{8})\Z")


def runtime_dir() -> str | None:
    """`$XDG_RUNTIME_DIR` when it is what the XDG spec promises: a directory owned by this
    user that nobody else may enter. Anything else (unset, someone else's, 0755) is ignored."""
    path = os.environ.get("XDG_RUNTIME_DIR")
    if not path or not os.path.isabs(path):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None


def _shm() -> str | None:
    return SHM if os.path.isdir(SHM) and os.access(SHM, os.W_OK | os.X_OK) else None


def temp_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


def plaintext_place() -> str:
    """Where a folder that will hold decrypted text goes."""
    return runtime_dir() or _shm() or temp_dir()


@contextlib.contextmanager
def folder(kind: str, *, plaintext: bool, parent: Path | None = None) -> Iterator[Path]:
    """A new private folder, removed whole on the way out (with whatever an editor left in
    it: swap files, backups, subfolders), its lock held until then."""
    import shutil
    import tempfile

    assert kind in KINDS, kind
    where = str(parent) if parent is not None else plaintext_place() if plaintext else temp_dir()
    path = Path(tempfile.mkdtemp(prefix=f"dangan-{kind}-{os.getpid()}-", dir=where))  # 0700
    fd = -1
    try:
        fd = os.open(path / LOCK, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if fd >= 0:
            os.close(fd)


def sweep_places() -> list[str]:
    """Every place a folder of ours may be, without importing tempfile (the sweep runs before
    every command): tempfile.gettempdir() is the first of these variables that is set, or
    /tmp, but for odd cases (a TMPDIR that cannot be written) that no sweep needs to follow."""
    temp = os.environ.get("TMPDIR") or os.environ.get("TEMP") or os.environ.get("TMP") or "/tmp"
    places = [p for p in (runtime_dir(), SHM, temp) if p]
    return list(dict.fromkeys(places))


def sweep(places: list[str] | None = None, now: float | None = None) -> list[str]:
    """Remove the stale scratch folders of this user: one listdir of each place, and for a
    name of ours a stat (never following a link). Returns what was removed. Never raises:
    a sweep that fails must not fail the command that started it."""
    removed: list[str] = []
    try:
        uid, me = os.getuid(), os.getpid()
        when = time.time() if now is None else now
        for place in sweep_places() if places is None else places:
            try:
                entries = list(os.scandir(place))
            except OSError:
                continue
            for entry in entries:
                if not entry.name.startswith("dangan-"):
                    continue
                match = _OURS.match(entry.name)
                if match is None:
                    continue
                try:
                    if _stale(entry, match.group(1), uid, me, when):
                        import shutil

                        shutil.rmtree(entry.path)  # never follows a link inside
                        removed.append(entry.path)
                except OSError:
                    continue
    except Exception:  # noqa: BLE001 - a cleanup must never be the reason a command fails
        pass
    return removed


def _stale(entry: os.DirEntry[str], pid_text: str | None, uid: int, me: int, now: float) -> bool:
    st = entry.stat(follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:
        return False  # a link, a file, or another user's: never ours to touch
    if pid_text is None:  # an older dangan's folder: judged by its age alone
        newest = st.st_mtime
        with os.scandir(entry.path) as inside:
            for item in inside:
                newest = max(newest, item.stat(follow_symlinks=False).st_mtime)
        return now - newest > OLD_AGE
    pid = int(pid_text)
    if pid == me or _runs(pid):
        return False
    try:
        fd = os.open(os.path.join(entry.path, LOCK), os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return now - st.st_mtime > CREATING
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its process lives, in another pid namespace
    finally:
        os.close(fd)
    return True


def _runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or a number no process has): leave it
    return True
