"""The findings of the rules as they are shown: `PATH: DGnnn message` lines and the summary
of `dangan check`, the refusal a hook writes for git to show, and the JSON document of
`check --json` (docs/ci.md, docs/cli.md).

One renderer for every place that shows findings — the click CLI (`cli/checks.py`), the
hooks and the cold `check --all` (`hook/hookrun.py`), and the warm `check` answered from
the quick note (`store/quick.py`) — so that they cannot drift apart. It is the standard
library alone (an import-linter contract says so), because the warm `check` may import
nothing else.

A finding is anything with `path`, `rule` and `message` (`rules.check.Finding`) or a
`[path, rule, message]` triple (as the quick note remembers it); both sort the same way.
It imports `formats.terminal` (the standard library alone as well) to show findings inert.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from dangan.formats.terminal import escape


class _HasFields(Protocol):
    path: str
    rule: str
    message: str


FindingLike = _HasFields | Sequence[str]


def _fields(finding: FindingLike) -> tuple[str, str, str]:
    if isinstance(finding, (tuple, list)):
        path, rule, message = finding
        return path, rule, message
    return finding.path, finding.rule, finding.message  # type: ignore[union-attr]


def line(path: str, rule: str, message: str) -> str:
    """One finding as people and `grep` read it; a control character or bidi override in the
    path or the message (a file name, a value quoted by a schema error) is shown escaped
    (`formats.terminal`), so a finding is always one inert line. `document` keeps the exact
    text."""
    return escape(f"{path}: {rule} {message}")


def lines(findings: Iterable[FindingLike]) -> list[str]:
    """Each finding's line, sorted by path, then rule, then message."""
    return [line(*fields) for fields in sorted(_fields(f) for f in findings)]


def summary(checked: int, count: int, outside: int = 0) -> str:
    """The last line of `check`; `outside`: the records an office's sparse checkout left
    out of the work tree, which this check did not judge (docs/team.md)."""
    line = f"{checked} file(s) checked, {count} finding{'s' if count != 1 else ''}"
    if outside:
        line += (f"; {outside} record(s) outside this checkout not checked "
                 "(the server's hook and CI check them)")
    return line


def check_text(checked: int, findings: Iterable[FindingLike], outside: int = 0) -> str:
    """What `dangan check` prints on stdout: the findings' lines, then the summary."""
    shown = lines(findings)
    return "".join(text + "\n" for text in [*shown, summary(checked, len(shown), outside)])


def refusal_text(action: str, findings: Iterable[FindingLike]) -> str:
    """What a hook writes on stderr when it refuses `action` ("commit", "push"); "" when
    there is nothing to refuse."""
    shown = lines(findings)
    if not shown:
        return ""
    return "".join(text + "\n" for text in shown) + (
        f"dangan: {action} refused: {len(shown)} finding(s); fix them and retry\n")


def document(checked: int, findings: Iterable[FindingLike], outside: int = 0) -> dict[str, Any]:
    """The JSON document of `check --json` (its keys in this order; `outside` only in an
    office's sparse checkout that leaves records out)."""
    shown = sorted(_fields(f) for f in findings)
    doc: dict[str, Any] = {"ok": not shown, "checked": checked}
    if outside:
        doc["outside"] = outside
    doc["findings"] = [{"path": path, "rule": rule, "message": message} for path, rule, message in shown]
    return doc
