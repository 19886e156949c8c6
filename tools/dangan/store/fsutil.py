"""Atomic file writes and the writers' lock."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from dangan.errors import DanganError


def write_atomic(path: Path, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Temp file in the same directory, flushed, fsynced, renamed: old or new, never torn.
    `durable=False` leaves out the two fsyncs, for a caller that syncs once for many files."""
    import tempfile  # here: ~3 ms of imports (shutil, random) that the pre-commit hook never needs

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if not durable:
        return
    with contextlib.suppress(OSError):  # make the rename durable too
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def shred(path: Path) -> bool:
    """Destroy a secret file: overwritten with random bytes, synced, then unlinked, and the
    directory synced. On a journaling or copy-on-write file system the overwrite may land
    elsewhere; the unlink is what dangan can promise (docs/threat-model.md). False when the
    file is absent. An epoch's keyring file (`EpochKeys.shred`) and an expired keyring
    backup (services/backup.py) go this way."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, os.urandom(max(size, 1)))
            os.fsync(fd)
        finally:
            os.close(fd)
    path.unlink()
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return True


def remove_empty_dirs(start: Path, stop: Path) -> None:
    """Remove `start` and its parents up to (not including) `stop` while they are empty."""
    current = start
    while current != stop and stop in current.parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent


class LockBusy(DanganError):
    """Another dangan command holds the writers' lock."""


@contextlib.contextmanager
def writer_lock(lock_path: Path, timeout: float = 30.0) -> Iterator[None]:
    """Serialise dangan writers on one vault (a lock file under .git/). `timeout=0`: one
    try, LockBusy at once when another holds it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise LockBusy(
                        f"another dangan command is writing to this vault ({lock_path})",
                        "wait for it to finish and try again",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
