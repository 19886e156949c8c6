"""Text on its way to a terminal: the characters a terminal would act on, made visible
(docs/format.md §4.4, docs/decisions.md "Control characters").

A record value, a commit subject or a file name may hold an escape sequence (`ESC ] 52 ;`
writes the clipboard, `ESC ] 0 ;` the window title, `ESC ] 8 ;` a hyperlink, `ESC [` or the
C1 byte U+009B moves the cursor and erases) or a bidirectional override that shows text in
another order than it is stored. Everything dangan prints as text goes through `escape`
(values one at a time, or a whole message), so that none of these reaches a terminal: each
is shown as `\\xNN` (below U+0100) or `\\uNNNN`. JSON output goes through `json_safe`, which
writes the same characters as JSON escapes: the document decodes to exactly the same data.

The standard library alone: the findings renderer (`formats.findings`), and through it the
warm check, import this module (an import-linter contract keeps both that way).
"""
from __future__ import annotations

import functools
import re

# C0 controls (U+0000-U+001F), DEL, C1 controls (U+0080-U+009F), the line and paragraph
# separators U+2028/U+2029, and the bidirectional embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069: the "Trojan Source" characters). Marks such as U+200E are
# left alone: they only nudge neutral characters and cannot reorder a line on their own.
UNSAFE = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"


@functools.cache
def _unsafe(lines: bool) -> re.Pattern[str]:
    """The characters `escape` writes escaped (compiled on first use: ~1.5 ms of a hook
    that shows nothing); with `lines`, line feed and tab pass (text shown over several
    lines, a YAML document)."""
    if lines:
        return re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
    return re.compile(f"[{UNSAFE}]")


# what json.dumps leaves raw (it escapes C0 itself; its own line feeds indent the document)
_UNSAFE_IN_JSON = "[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str, lines: bool = False) -> str:
    r"""`text` with every character of `UNSAFE` written as `\xNN` or `\uNNNN`; with `lines`,
    line feeds and tabs are kept (text meant to span lines). A backslash is left as it is:
    in a valid record no field holds these characters (the schemas refuse them), so an
    escape seen on screen marks a record `check` reports, and `--json` gives the exact text.
    """
    return _unsafe(lines).sub(_shown, text)


def first_unsafe(text: str, lines: bool = False) -> int | None:
    """The index of the first character `escape` would write escaped, or None."""
    found = _unsafe(lines).search(text)
    return found.start() if found else None


def json_safe(document: str) -> str:
    r"""A JSON text with DEL, the C1 controls, U+2028/U+2029 and the bidi overrides written as
    `\uNNNN` escapes (json.dumps writes them raw with `ensure_ascii=False`; C0 controls it
    already escapes). Such characters can only stand inside JSON strings, where the escape
    means the same character, so the document decodes to exactly the same data."""
    return re.sub(_UNSAFE_IN_JSON, lambda m: f"\\u{ord(m.group()):04x}", document)


def width(text: str) -> int:
    """Columns `text` takes on a terminal: East Asian wide and full-width characters take two."""
    import unicodedata

    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def columns(header: list[str], rows: list[list[str]]) -> list[str]:
    """Aligned columns (CJK counted double, every cell shown inert), no trailing blanks."""
    cells = [[escape(c) for c in r] for r in [header, *rows]]
    widths = [max(width(r[i]) for r in cells) for i in range(len(header))]
    return ["  ".join(c + " " * (widths[i] - width(c)) for i, c in enumerate(r)).rstrip() for r in cells]


class StatusLine:
    """One line on stderr while a long command runs, rewritten in place and cleared at the
    end; on a terminal only, so that pipes, files and scripts see nothing of it. The base of
    `CountLine` here and of `stats`' step line (cli/statscmd.py `Progress`)."""

    def __init__(self) -> None:
        import sys

        self.stream = sys.stderr
        self.enabled = self.stream.isatty()
        self.shown = 0

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        self.stream.write("\r" + text + " " * max(0, self.shown - len(text)))
        self.stream.flush()
        self.shown = len(text)

    def __enter__(self) -> StatusLine:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()


class CountLine(StatusLine):
    """`check: 12,345 files checked…`, rewritten at most ten times a second. Called with the
    number of items done since the last call; here, as the warm check and the hooks'
    `check --all` use it without the CLI."""

    def __init__(self, command: str, what: str) -> None:
        super().__init__()
        self.label = f"{command}: {{:,}} {what}…"
        self.done = 0
        self.at = 0.0

    def __call__(self, count: int) -> None:
        import time

        self.done += count
        if self.enabled and self.done and (now := time.monotonic()) - self.at >= 0.1:
            self.at = now
            self.show(self.label.format(self.done))

    def __enter__(self) -> CountLine:
        return self
