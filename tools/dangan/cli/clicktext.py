"""click's own texts ("Usage:", "Options", "Missing argument", "No such option ...") in the
interface language. click marks them for gettext (`from gettext import gettext as _` in each
of its modules) and leaves the catalog to the application; gettext's global domain would take
the language from the environment, not from `--lang` or vault.yaml, so `click_speaks` points
those modules' `_` and `ngettext` at dangan's catalogs instead. The texts are listed below so
that the catalogs carry them (tests/test_catalogs.py); a text click adds later stays English.
"""
from __future__ import annotations

import re

from dangan import i18n
from dangan.i18n import N_

_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "types", "termui")


def click_speaks() -> None:
    """click's texts through dangan's catalogs, in the language set by i18n.set_language,
    and its help wrapped for Chinese (`_wrap_for_chinese`)."""
    import importlib

    for name in _MODULES:
        module = importlib.import_module(f"click.{name}")
        if hasattr(module, "_"):
            module._ = i18n._  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = i18n.ngettext  # type: ignore[attr-defined]
    _wrap_for_chinese(i18n.language() != "en")


_ORIGINAL: dict[str, object] = {}


def _wrap_for_chinese(chinese: bool) -> None:
    """click wraps help at spaces and counts a character as one column: Chinese, which has no
    spaces and takes two columns a character, came out in lines twice as wide as the terminal.
    In Chinese click's wrapper (`click._textwrap`, which `formatting.wrap_text` takes at each
    call) may break between Chinese characters (not before a closing mark such as ，。) and
    counts East Asian wide characters as two columns; in English click's own is put back, so
    the English help stays byte for byte what it was."""
    import click._textwrap as textwrap_module

    if not _ORIGINAL:
        _ORIGINAL.update(TextWrapper=textwrap_module.TextWrapper, term_len=textwrap_module.term_len)
    if not chinese:
        textwrap_module.TextWrapper = _ORIGINAL["TextWrapper"]  # type: ignore[misc]
        textwrap_module.term_len = _ORIGINAL["term_len"]  # type: ignore[assignment]
        return
    from dangan.formats.terminal import width

    original_len = _ORIGINAL["term_len"]

    def columns(text: str) -> int:
        return width(text) + original_len(text) - len(text)  # ANSI sequences still count none

    class ChineseWrapper(_ORIGINAL["TextWrapper"]):  # type: ignore[misc,valid-type]
        def _split(self, text: str) -> list[str]:
            return [piece for chunk in super()._split(text) for piece in _CJK_PIECE.findall(chunk)]

    textwrap_module.TextWrapper = ChineseWrapper  # type: ignore[misc]
    textwrap_module.term_len = columns  # type: ignore[assignment]


# one Chinese character with the opening marks before it and the closing marks after it, or a
# run of anything else (a Latin word, spaces), or any single character left
_WIDE = "\u2e80-\u9fff\uf900-\ufaff\uff01-\uff60"
_CJK_PIECE = re.compile(f"[（「『《“]*[{_WIDE}][，。；：、）」』》”？！]*|[^{_WIDE}（「『《“]+|.", re.S)


# the msgids click 8 uses that a dangan user can meet (help pages, usage errors)
CLICK_MESSAGES = (
    N_("Usage:"), N_("Options"), N_("Commands"), N_("Show this message and exit."),
    N_("Show the version and exit."), N_("%(prog)s, version %(version)s"),
    N_("Error: {message}"), N_("Try '{command} {option}' for help."),
    N_("Missing argument"), N_("Missing option"), N_("Missing parameter"), N_("Missing command."),
    N_("Missing {param_type}"), N_("Missing parameter: {param_name}"),
    N_("Invalid value for {param_hint}: {message}"), N_("Invalid value: {message}"),
    N_("No such command {name!r}."), N_("No such option {name!r}."),
    N_("Did you mean {possibility}?"), N_("(Did you mean one of: {possibilities}?)"),
    N_("Option {name!r} does not take a value."), N_("Option {name!r} requires an argument."),
    N_("Got unexpected extra argument ({args})"), N_("Got unexpected extra arguments ({args})"),
    N_("{value!r} is not {choice}."), N_("{value!r} is not one of {choices}."),
    N_("{value!r} is not a valid {number_type}."), N_("{value} is not in the range {range}."),
    N_("{value!r} does not match the format {format}."),
    N_("{value!r} does not match the formats {formats}."),
    N_("{name} {filename!r} does not exist."), N_("{name} {filename!r} is a directory."),
    N_("{name} {filename!r} is a file."), N_("{name} {filename!r} is not readable."),
    N_("{name} {filename!r} is not writable."), N_("Could not open file {filename!r}: {message}"),
    N_("file"), N_("directory"), N_("path"), N_("default: {default}"), N_("required"),
    N_("Aborted!"), N_("Do you want to continue?"), N_("env var: {var}"),
)
