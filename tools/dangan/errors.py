"""The exceptions the core raises; the CLI maps them to exit codes in one place."""
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


def internal_error(exc: BaseException) -> int:
    """The last line of defence of every entry point: never a bare traceback (one with
    DANGAN_DEBUG=1). Exit code 3."""
    import os
    import sys

    if os.environ.get("DANGAN_DEBUG") == "1":
        import traceback

        traceback.print_exception(exc)
    else:
        sys.stderr.write(f"dangan: internal error: {type(exc).__name__}\n")
        sys.stderr.write("hint: run again with DANGAN_DEBUG=1 and report the traceback\n")
    sys.stderr.flush()
    return 3
