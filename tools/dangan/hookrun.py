"""What the hooks run, without the command-line layer (see entry.py)."""
from __future__ import annotations

import sys

from .check import CheckResult
from .errors import DanganError


def report(result: CheckResult, action: str) -> int:
    """Findings on stderr (git shows them to the committer); exit 1 refuses."""
    if not result.findings:
        return 0
    for finding in sorted(result.findings):
        sys.stderr.write(finding.line() + "\n")
    sys.stderr.write(f"dangan: {action} refused: {len(result.findings)} finding(s); fix them and retry\n")
    return 1


def pre_commit() -> int:
    from .scan import check_staged
    from .vault import Vault

    try:
        return report(check_staged(Vault.for_git_checks()), "commit")
    except DanganError as exc:
        sys.stderr.write(f"dangan: error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {exc.hint}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
