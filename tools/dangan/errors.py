"""The exceptions the core raises; the CLI maps them to exit codes in one place. And the last
line of defence against the ones it does not mean to raise (`internal_error`: exit 3 and a
crash log). The standard library alone (and dangan's version from the package root)."""
from __future__ import annotations


class DanganError(Exception):
    """Bad usage or bad input: exit 2. `hint` says what to do about it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Refusal(DanganError):
    """The command ran and a rule said no: exit 1."""

    exit_code = 1


class CodeError(DanganError):
    """A malformed archive code."""


class RecordError(DanganError):
    """A record that cannot be read or does not validate."""


class VaultError(DanganError):
    """No vault, an unknown vault version, a vault in a state we must not touch."""


class GitError(DanganError):
    """A git command failed."""


# ------------------------------------------------------------------ internal errors
#
# `internal_error` is the last line of defence of every entry point (cli/main.py, the hooks
# and the cold `check --all` in hook/hookrun.py, the warm check in entry.py). It leaves a
# crash log for the bug report, as pre-commit does, and must not fail in turn: it uses the
# standard library alone, starts nothing but a guarded `git --version`, and gives up quietly
# (saying so) when it cannot write. What the log may hold is docs/threat-model.md's "Crash
# logs": versions, platform, the command's words and option names, the frames of the
# traceback — never a value given on the command line, never the environment, and an
# exception's message only for the types whose messages name code rather than data.

REDACTED = "<redacted>"
# the options of the `dangan` group itself that take a value (cli/main.py)
_VALUE_OPTIONS = ("-C", "--identity")
# exception types whose message names code (an attribute, a name, a module), not data; any
# other message may quote a record value (`int('139...')`, a DanganError naming a value)
_CODE_MESSAGES = ("AttributeError", "NameError", "UnboundLocalError", "ImportError",
                  "ModuleNotFoundError", "RecursionError")


def shown_argv(argv: list[str] | tuple[str, ...], command: tuple[str, ...] = ()) -> list[str]:
    """`argv` as a crash log shows it: the `command` words (e.g. ("lend", "approve")) where
    they stand, option names, `--`, and the keys of `KEY=VALUE` assignments; every other
    token — an option's value, a code, a path, an assignment's value — is REDACTED."""
    import re

    name_re = re.compile(r"--?[A-Za-z][A-Za-z0-9-]*")
    key_re = re.compile(r"[A-Za-z_][A-Za-z0-9_.\[\]-]{0,63}")

    def assignment(token: str) -> str:
        key, equals, _ = token.partition("=")
        return (key if key_re.fullmatch(key) else REDACTED) + equals + REDACTED

    words = list(command)
    out: list[str] = []
    value_next = False
    for token in argv:
        if value_next:
            out.append(REDACTED)
            value_next = False
        elif words and token == words[0]:
            out.append(words.pop(0))
        elif token == "--":
            out.append(token)
        elif token.startswith("--"):
            name, equals, value = token.partition("=")
            shown = name if name_re.fullmatch(name) else REDACTED
            if equals:
                shown += "=" + (assignment(value) if "=" in value else REDACTED)
            out.append(shown)
            value_next = not equals and name in _VALUE_OPTIONS
        elif token.startswith("-") and len(token) > 1 and token[1].isalpha():
            out.append(token[:2] + (REDACTED if len(token) > 2 else ""))  # -CDIR: -C<redacted>
            value_next = token in _VALUE_OPTIONS
        elif "=" in token:
            out.append(assignment(token))
        else:
            out.append(REDACTED)
    return out


def _start_dir(argv: list[str] | tuple[str, ...]) -> str:
    """Where the command works: the folder given with a leading `-C`, else the current one."""
    import os

    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        token = argv[i]
        if token in _VALUE_OPTIONS and i + 1 < len(argv):
            if token == "-C" and os.path.isdir(argv[i + 1]):
                return os.path.abspath(argv[i + 1])
            i += 2
            continue
        if token.startswith("-C") and len(token) > 2 and os.path.isdir(token[2:]):
            return os.path.abspath(token[2:])
        i += 1
    return os.getcwd()


def find_git_dir(start: str) -> str | None:
    """The git directory of the repository at or above `start`, found by looking at files
    alone (git is not asked: it may be what failed): `GIT_DIR` if git set it (a hook of a bare
    repository), a `.git` folder, a `.git` file (`gitdir: ...`, a linked work tree), or a bare
    repository itself (HEAD, objects/ and refs/)."""
    import os

    given = os.environ.get("GIT_DIR")
    if given and os.path.isdir(given):
        return os.path.abspath(given)
    here = os.path.abspath(start)
    while True:
        dot_git = os.path.join(here, ".git")
        if os.path.isdir(dot_git):
            return dot_git
        if os.path.isfile(dot_git):
            try:
                with open(dot_git, encoding="utf-8") as handle:
                    first = handle.readline().strip()
            except (OSError, UnicodeDecodeError):
                first = ""
            if first.startswith("gitdir:"):
                target = os.path.join(here, first[len("gitdir:"):].strip())
                if os.path.isdir(target):
                    return os.path.normpath(target)
        if (os.path.isfile(os.path.join(here, "HEAD")) and os.path.isdir(os.path.join(here, "objects"))
                and os.path.isdir(os.path.join(here, "refs"))):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def _user_cache_dir() -> str | None:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dangan") if os.path.isabs(base) else None


def _git_version() -> str:
    """`git --version`, started here and not through git/gitio.py: the last line of defence
    may not lean on the layers that may have failed. Bounded by a timeout; never raises."""
    import subprocess

    try:
        proc = subprocess.run(["git", "--version"], capture_output=True, timeout=5, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({type(exc).__name__})"
    return proc.stdout.decode("utf-8", "replace").strip() or f"unknown (exit status {proc.returncode})"


def _traceback_text(exc: BaseException) -> str:
    """The traceback with its frames and exception types (chained exceptions too); a
    message only where `_CODE_MESSAGES` says it names code."""
    import traceback

    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            link = "The above exception was the direct cause of the following exception:"
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link = "During handling of the above exception, another exception occurred:"
            current = current.__context__
        else:
            current = None
    parts = []
    for error, link in reversed(chain):  # the oldest first, as Python prints them
        kind = type(error)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        if kind.__name__ in _CODE_MESSAGES and kind.__module__ == "builtins":
            message = str(error)
        else:
            message = "(message withheld: it may quote a record value; DANGAN_DEBUG=1 shows it)"
        frames = "".join(traceback.StackSummary.extract(traceback.walk_tb(error.__traceback__)).format())
        parts.append("Traceback (most recent call last):\n" + frames + f"{name}: {message}\n")
        if link:  # says how this exception led to the next one (the one after it here)
            parts.append(f"\n{link}\n\n")
    return "".join(parts)


def write_crash_log(exc: BaseException, argv: list[str] | tuple[str, ...],
                    command: tuple[str, ...] = ()) -> str | None:
    """Write the crash log of `exc` (0600) under the vault's `.git/dangan/`, else the user's
    cache folder; return its path, or None when none could be written. Never raises."""
    try:
        import datetime as dt
        import os
        import platform
        import sys

        from dangan import __version__

        now = dt.datetime.now(dt.UTC)
        text = "".join([
            "dangan crash log (no record values, no environment: docs/threat-model.md)\n",
            f"time: {now.isoformat(timespec='seconds')}\n",
            f"dangan: {__version__}\n",
            f"python: {sys.version.split()[0]} ({platform.python_implementation()}) {sys.executable}\n",
            f"platform: {platform.platform()}\n",
            f"git: {_git_version()}\n",
            f"command: dangan {' '.join(shown_argv(argv, command))}\n",
            "\n",
            _traceback_text(exc),
        ])
        git_dir = find_git_dir(_start_dir(argv))
        places = [os.path.join(git_dir, "dangan")] if git_dir else []
        places.append(_user_cache_dir())
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        for folder in places:
            if folder is None:
                continue
            try:
                os.makedirs(folder, mode=0o700, exist_ok=True)
                for n in range(100):  # two crashes in one second keep both
                    path = os.path.join(folder, f"crash-{stamp}{f'-{n}' if n else ''}.log")
                    try:
                        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    except FileExistsError:
                        continue
                    with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
                        handle.write(text)
                    return path
            except OSError:
                continue
    except Exception:  # the crash log must never hide the crash
        return None
    return None


def internal_error(exc: BaseException, argv: list[str] | tuple[str, ...] | None = None,
                   command: tuple[str, ...] = ()) -> int:
    """The last line of defence of every entry point: never a bare traceback (one with
    DANGAN_DEBUG=1), and a crash log that says what a bug report needs. `argv` is the
    command line after `dangan` (default: the process's), `command` its command words (they
    are shown in the log; every value is redacted). Exit code 3."""
    import os
    import sys

    from dangan.i18n import _

    given = list(sys.argv[1:] if argv is None else argv)
    path = write_crash_log(exc, given, command)
    if os.environ.get("DANGAN_DEBUG") == "1":
        import traceback

        traceback.print_exception(exc)
        if path:
            sys.stderr.write(_("dangan: a crash log was written to {path}").format(path=path) + "\n")
    else:
        sys.stderr.write(_("dangan: internal error: {type}").format(type=type(exc).__name__) + "\n")
        if path:
            sys.stderr.write(_("hint: a crash log was written to {path} (it holds no record values); "
                               "DANGAN_DEBUG=1 prints the traceback").format(path=path) + "\n")
        else:
            sys.stderr.write(_("hint: no crash log could be written; run again with DANGAN_DEBUG=1 "
                               "and report the traceback") + "\n")
    sys.stderr.flush()
    return 3
