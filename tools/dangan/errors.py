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
