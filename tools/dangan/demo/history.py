"""The demo's history writer: back-dated commits streamed into `git fast-import`, and the
Git environment of a back-dated commit made through the real commands (see demo/__init__.py)."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path

from dangan.git import gitio

TZ = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai, the demo vault's timezone
COMPANY = "蘇州安和物業服務有限公司"
DEMO_KEY = "DEMO-KEY.txt"  # the archivist's demo key, next to vault.yaml, ignored by Git
DEMO_APPROVER_KEY = "DEMO-KEY-approver.txt"  # the approver's, beside it
ARCHIVIST = ("張敏", "zhang.min@anhe-demo.invalid")  # who commits the history
# the recipients of the demo's vault.yaml, by the roles the lending and retention rules ask for
DEMO_ARCHIVIST = "張敏 (demo archivist)"
DEMO_APPROVER = "李強 (demo approver)"


def _d(value: dt.date | dt.datetime) -> str:
    return (value.date() if isinstance(value, dt.datetime) else value).isoformat()


def _t(value: dt.datetime) -> str:
    return value.astimezone(TZ).replace(microsecond=0).isoformat()


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


IMPORT = ("-c", "core.fsync=none", "fast-import", "--quiet", "--done")


class _History:
    """Back-dated commits streamed into one `git fast-import` process: no index, no work
    tree, no process per commit. The work tree is checked out once at the end."""

    def __init__(self, root: Path, parent: str) -> None:
        self.root = root
        self.parent: str | None = parent
        self.proc = gitio.start(IMPORT, root, stdin=True, stdout=False)
        name, email = ARCHIVIST
        self.person = f"{name} <{email}>".encode()

    def commit(self, when: dt.datetime, message: str, files: list[tuple[str, bytes]]) -> None:
        assert self.proc.stdin is not None
        stamp = f" {int(when.timestamp())} +0800\n".encode()
        text = (message.rstrip("\n") + "\n").encode()
        out = [b"commit refs/heads/main\n", b"author ", self.person, stamp, b"committer ", self.person, stamp,
               b"data %d\n" % len(text), text]
        if self.parent is not None:
            out.append(f"from {self.parent}\n".encode())
            self.parent = None
        for path, data in files:
            out += [b"M 100644 inline ", path.encode(), b"\ndata %d\n" % len(data), data, b"\n"]
        out.append(b"\n")
        try:
            self.proc.stdin.write(b"".join(out))
        except BrokenPipeError:
            gitio.finish(self.proc, IMPORT)  # fast-import ended early: its message says why
            raise

    def close(self) -> None:
        """Finish the import, then check out HEAD into the index and the work tree."""
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # fast-import ended early: finish says why
            self.proc.stdin.write(b"done\n")
        gitio.finish(self.proc, IMPORT)
        gitio.run(["-c", "core.fsync=none", "reset", "-q", "--hard", "HEAD"], self.root)


def _git_env(when: dt.datetime, bindir: str) -> dict[str, str]:
    stamp = _t(when)
    name, email = ARCHIVIST
    return {
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
    }


class _patched_env:
    """os.environ with some variables set for the duration of a `with` block."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
