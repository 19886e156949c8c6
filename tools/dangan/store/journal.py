"""The access journal: one line per decryption shown to a person, local and append-only.

Every command that shows a person plaintext of sensitive values (`show --decrypt`,
`export --decrypt`, `diff --decrypt`, `decrypt FILE`, `edit` of an encrypted record, the
Git diff driver for a key holder) calls `note()` after decrypting in memory and before
printing anything; if the entry cannot be written the command fails (exit 2) and shows
nothing. The journal lives under the Git common directory (shared by worktrees, never
committed): `.git/dangan/journal.jsonl`, mode 0600, one JSON object per line.

Each line carries `prev`, the SHA-256 of the line before it (of the first line: 64 zeros),
so that editing, inserting or deleting a line anywhere but at the end breaks the chain and
`verify()` names the line. Cutting off the tail (or the last line) is not detectable from
the file alone; shipping entries off the machine (`git config dangan.journalSyslog true`
or DANGAN_JOURNAL_SYSLOG=1) is. docs/journal.md says what this can and cannot prove.
"""
from __future__ import annotations

import datetime as dt
import errno
import fcntl
import getpass
import hashlib
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dangan.errors import DanganError
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model import script

NAME = "journal.jsonl"
GENESIS = "0" * 64
SYSLOG_LIMIT = 1800  # bytes of a syslog message before codes are summarised (RFC 3164 relays cut at 1024-8192)


class JournalError(DanganError):
    """The journal cannot be written: the decryption must not happen (exit 2)."""


@dataclass(frozen=True)
class Entry:
    """One decryption as recorded; `line` is its 1-based line number in the file."""

    line: int
    time: str
    who: str | None
    user: str
    host: str
    command: str
    codes: list[str]
    files: list[str] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    prev: str = GENESIS

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line, "time": self.time, "who": self.who, "user": self.user, "host": self.host,
            "command": self.command, "argv": self.argv, "codes": self.codes, "files": self.files,
            "identities": self.identities, "prev": self.prev,
        }


@dataclass(frozen=True)
class Verification:
    path: Path
    exists: bool
    entries: int
    problems: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"journal": str(self.path), "exists": self.exists, "entries": self.entries,
                "intact": self.intact, "problems": self.problems}


# ------------------------------------------------------------------------ location

def user_journal() -> Path:
    """Where decryptions of files outside every Git repository are journaled."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "dangan" / NAME


def journal_path(root: Path | None) -> Path:
    """The journal of the repository at `root`: under the *common* Git directory, so that
    every worktree of a clone writes to one journal; the user journal without a root."""
    if root is None:
        return user_journal()
    proc = gitio.run(["rev-parse", "--path-format=absolute", "--git-common-dir"], root, check=False)
    if proc.returncode != 0:
        raise JournalError(f"cannot write the access journal: {root} is not in a Git repository",
                           "decryptions are journaled under .git/dangan/; run this inside a vault")
    return Path(proc.stdout.decode("utf-8", "surrogateescape").strip()) / "dangan" / NAME


# ------------------------------------------------------------------------- writing

def note(
    root: Path | None,
    command: str,
    codes: Sequence[str],
    who: str | None = None,
    *,
    files: Sequence[str] = (),
    identities: Sequence[dict[str, Any]] = (),
    argv: Sequence[str] = (),
    tz: ZoneInfo | None = None,
) -> None:
    """Append one entry; raise JournalError (nothing else) when it cannot be written.

    Call it after decrypting in memory and before any plaintext leaves the process.
    """
    settings = _git_settings(root) if root is not None else {}
    # the name commits carry: user.name, else the environment git itself would use
    person = who if who is not None else (settings.get("user.name") or os.environ.get("GIT_AUTHOR_NAME"))
    moment = dt.datetime.now(tz or _vault_tz(root)).replace(microsecond=0)
    entry: dict[str, Any] = {
        "time": moment.isoformat(), "who": person, "user": _os_user(), "host": socket.gethostname(),
        "command": command, "argv": list(argv), "codes": list(codes), "files": list(files),
        "identities": list(identities),
    }
    path = journal_path(root)
    line = _append(path, entry)
    if _truthy(os.environ.get("DANGAN_JOURNAL_SYSLOG")) or _truthy(settings.get("dangan.journalsyslog")):
        _to_syslog(line, entry)


def _append(path: Path, entry: dict[str, Any]) -> bytes:
    """Under an exclusive lock on the file itself: read the last line, chain to it, write
    the new line with one write() on an O_APPEND descriptor, fsync. Returns the line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise _failed(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for microseconds; two writers never interleave
        os.fchmod(fd, 0o600)
        last, ends_clean = _last_line(path)
        body = json.dumps({**entry, "prev": _digest(last) if last is not None else GENESIS},
                          ensure_ascii=False, separators=(",", ":"))
        line = body.encode("utf-8")
        # a torn last line (power loss) stays a line of its own, reported by verify
        data = (b"" if ends_clean else b"\n") + line + b"\n"
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(errno.ENOSPC, "short write")
        os.fsync(fd)
        return line
    except OSError as exc:
        raise _failed(path, exc) from None
    finally:
        os.close(fd)


def _failed(path: Path, exc: OSError) -> JournalError:
    return JournalError(
        f"cannot write the access journal {path}: {exc.strerror or exc}; nothing was decrypted for display",
        "every decryption is journaled first; make the journal writable (see docs/journal.md)",
    )


def _last_line(path: Path) -> tuple[bytes | None, bool]:
    """(the last line without its newline, or None for an empty file; whether the file
    ends with a newline). Reads backwards from the end: cost independent of the size."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return None, True
        handle.seek(size - 1)
        ends_clean = handle.read(1) == b"\n"
        end = size - 1 if ends_clean else size
        chunk, pos = b"", end
        while pos > 0:
            step = min(8192, pos)
            pos -= step
            handle.seek(pos)
            chunk = handle.read(step) + chunk
            cut = chunk.rfind(b"\n")
            if cut != -1:
                return chunk[cut + 1:], ends_clean
        return chunk, ends_clean


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _git_settings(root: Path) -> dict[str, str]:
    """user.name and dangan.journalSyslog in one `git config` call."""
    proc = gitio.run(["config", "-z", "--get-regexp", r"^(user\.name|dangan\.journalsyslog)$"], root,
                     ok=(0, 1))  # 1: neither is set
    found: dict[str, str] = {}
    for item in proc.stdout.decode("utf-8", "replace").split("\0"):
        if item:
            key, _, value = item.partition("\n")
            found[key.lower()] = value
    return found


def _vault_tz(root: Path | None) -> dt.tzinfo | None:
    """The vault's timezone (entries read like the records); the machine's without one."""
    if root is None:
        return None
    try:
        from dangan.store.vault import load_config

        name = load_config(root).get("timezone")
        return ZoneInfo(str(name)) if name else None
    except (DanganError, OSError, ZoneInfoNotFoundError, ValueError):
        return None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _to_syslog(line: bytes, entry: dict[str, Any]) -> None:
    """A copy off the file: with the line's SHA-256, so a later check can match the two.

    Best effort (syslog(3) reports no failure); long code lists are summarised.
    """
    import syslog

    text = line.decode("utf-8")
    if len(line) > SYSLOG_LIMIT:
        short = {k: entry[k] for k in ("time", "who", "user", "host", "command")}
        short["codes"] = f"{len(entry['codes'])} code(s)"
        short["files"] = f"{len(entry['files'])} file(s)"
        text = json.dumps(short, ensure_ascii=False, separators=(",", ":"))
    syslog.openlog("dangan", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
    syslog.syslog(syslog.LOG_INFO, f"access sha256={_digest(line)} {text}")
    syslog.closelog()


# ------------------------------------------------------------------------- reading

def _read_lines(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DanganError(Message("cannot read the access journal {path}: {strerror}", path=path, strerror=exc.strerror)) from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _parse(number: int, raw: bytes) -> Entry | None:
    try:
        obj = json.loads(raw.decode("utf-8"))
        if not isinstance(obj, dict):
            return None
        return Entry(
            line=number, time=str(obj["time"]), who=obj.get("who"), user=str(obj.get("user", "")),
            host=str(obj.get("host", "")), command=str(obj["command"]), codes=list(obj.get("codes") or []),
            files=list(obj.get("files") or []), identities=list(obj.get("identities") or []),
            argv=list(obj.get("argv") or []), prev=str(obj.get("prev", "")),
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def entries(
    root: Path | None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    code: str | None = None,
    who: str | None = None,
) -> list[Entry]:
    """The readable entries, oldest first, filtered: `since`/`until` inclusive, `code` (an
    archive code or a file path) among the entry's codes or files, `who` the person's name
    (in either script: 张敏 is 張敏) or the OS user. Unreadable lines are skipped here; `verify()` reports them."""
    found = []
    for number, raw in enumerate(_read_lines(journal_path(root)), start=1):
        entry = _parse(number, raw)
        if entry is None:
            continue
        if since is not None or until is not None:
            try:
                moment = dt.datetime.fromisoformat(entry.time)
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.astimezone()
            if (since is not None and moment < since) or (until is not None and moment > until):
                continue
        if code is not None and code not in entry.codes and code not in entry.files:
            continue
        if who is not None and who not in (entry.who, entry.user) and not script.same(entry.who or "", who):
            continue
        found.append(entry)
    return found


def verify(root: Path | None) -> Verification:
    """Walk the hash chain; each problem names a line. What it cannot see: lines cut off
    the end, an altered last line, or a journal deleted and started afresh."""
    path = journal_path(root)
    lines = _read_lines(path)
    problems: list[str] = []
    previous: bytes | None = None
    for number, raw in enumerate(lines, start=1):
        entry = _parse(number, raw)
        if entry is None:
            problems.append(f"line {number}: not a journal entry (torn write or edited)")
        else:
            expected = GENESIS if previous is None else _digest(previous)
            if entry.prev != expected:
                if number == 1:
                    problems.append("line 1: the chain does not start at the beginning (lines removed from the start)")
                else:
                    problems.append(f"line {number}: does not follow line {number - 1} "
                                    f"(line {number - 1} was edited, or lines were inserted or removed here)")
        previous = raw
    return Verification(path, path.exists(), len(lines), problems)
