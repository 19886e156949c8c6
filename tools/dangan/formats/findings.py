"""The findings of the rules as they are shown: `PATH: DGnnn message` lines and the summary
of `dangan check`, the refusal a hook writes for git to show, and the JSON document of
`check --json` (docs/ci.md, docs/cli.md).

One renderer for every place that shows findings — the click CLI (`cli/checks.py`), the
hooks and the cold `check --all` (`hook/hookrun.py`), and the warm `check` answered from
the quick note (`store/quick.py`) — so that they cannot drift apart. It is the standard
library alone (an import-linter contract says so), because the warm `check` may import
nothing else.

A finding is anything with `path`, `rule` and `message` (`rules.check.Finding`) or a
`[path, rule, message]` triple; both sort the same way. Its message is English (the stable
text of `check --json`); the lines and the summary are shown in the interface language
(`i18n.shown`: a rule's `i18n.Message` is rendered from its template and values), while
`PATH: DGnnn ` stays as it is in every language, for grep and CI. The quick note remembers
each finding with its message's template and values (`remembered`, `recalled`), so that a
warm check in another language shows its own words. It imports `formats.terminal` and
`i18n` (the standard library alone as well).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from dangan.formats.terminal import escape
from dangan.i18n import Message, _, ngettext
from dangan.i18n import shown as in_language


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
    text. The message is shown in the interface language; `PATH: DGnnn ` never changes."""
    return escape(f"{path}: {rule} {in_language(message)}")


def lines(findings: Iterable[FindingLike]) -> list[str]:
    """Each finding's line, sorted by path, then rule, then message."""
    return [line(*fields) for fields in sorted(_fields(f) for f in findings)]


def summary(checked: int, count: int, outside: int = 0) -> str:
    """The last line of `check`; `outside`: the records an office's sparse checkout left
    out of the work tree, which this check did not judge (docs/team.md)."""
    line = ngettext("{checked} file(s) checked, {count} finding",
                    "{checked} file(s) checked, {count} findings", count).format(checked=checked, count=count)
    if outside:
        line += _("; {outside} record(s) outside this checkout not checked "
                  "(the server's hook and CI check them)").format(outside=outside)
    return line


def check_text(checked: int, findings: Iterable[FindingLike], outside: int = 0) -> str:
    """What `dangan check` prints on stdout: the findings' lines, then the summary."""
    shown = lines(findings)
    return "".join(text + "\n" for text in [*shown, summary(checked, len(shown), outside)])


def remembered(finding: FindingLike) -> list[Any]:
    """A finding as the quick note keeps it (JSON): `[path, rule, message]`, and the
    message's template and values when it has them (`i18n.Message.to_json`)."""
    path, rule, message = _fields(finding)
    if isinstance(message, Message):
        return [path, rule, str.__str__(message), message.to_json()]
    return [path, rule, message]


def recalled(kept: Sequence[Any]) -> tuple[str, str, str]:
    """A finding the quick note kept (`remembered`), its message able to be shown in any
    language again; a note of an older dangan (a bare triple) gives its text as it is."""
    if len(kept) > 3 and isinstance(kept[3], dict):
        try:
            return kept[0], kept[1], Message.from_json(kept[3])
        except (KeyError, TypeError, ValueError, AssertionError):
            pass
    return kept[0], kept[1], kept[2]


def refusal_text(action: str, findings: Iterable[FindingLike]) -> str:
    """What a hook writes on stderr when it refuses `action` ("commit", "push"); "" when
    there is nothing to refuse."""
    shown = lines(findings)
    if not shown:
        return ""
    refused = (_("dangan: commit refused: {count} finding(s); fix them and retry") if action == "commit"
               else _("dangan: push refused: {count} finding(s); fix them and retry") if action == "push"
               else _("dangan: {action} refused: {count} finding(s); fix them and retry"))
    return "".join(text + "\n" for text in shown) + refused.format(action=action, count=len(shown)) + "\n"


def document(checked: int, findings: Iterable[FindingLike], outside: int = 0) -> dict[str, Any]:
    """The JSON document of `check --json` (its keys in this order; `outside` only in an
    office's sparse checkout that leaves records out)."""
    shown = sorted(_fields(f) for f in findings)
    doc: dict[str, Any] = {"ok": not shown, "checked": checked}
    if outside:
        doc["outside"] = outside
    doc["findings"] = [{"path": path, "rule": rule, "message": message} for path, rule, message in shown]
    return doc
