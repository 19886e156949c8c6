"""The interface language: 简体中文 (zh-Hans), 繁體中文 (zh-Hant) or English (en), through the
standard library's gettext and the catalogs beside this file (docs/decisions.md "Interface
languages"). English is the source language: a message's msgid is its English text, so with
`en` (or no catalog) every message is printed exactly as written in the code.

The bottom of the package: every layer may import it, and it imports the standard library
alone (the warm check and the hooks may reach it). The language is chosen once, at start-up,
by `set_language` (cli/main.py: `--lang`, then DANGAN_LANG, then vault.yaml `language`, then
the locale: `choose`); until then messages are English.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LANGUAGES = ("zh-Hans", "zh-Hant", "en")
DOMAIN = "dangan"
# locale/<zh_Hans|zh_Hant>/LC_MESSAGES/dangan.po and .mo (the .mo committed: tests/test_catalogs.py
# proves each matches its .po, so an editable install and a wheel need no compiler)
LOCALEDIR = Path(__file__).resolve().parent / "locale"
_FOLDERS = {"zh-Hans": "zh_Hans", "zh-Hant": "zh_Hant"}



class _English:
    """The messages as written (what gettext.NullTranslations does): gettext itself is
    imported only for a Chinese catalog (with `locale` and its patterns, ~2 ms of every
    hook and warm check)."""

    def gettext(self, message: str) -> str:
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return singular if n == 1 else plural

    def pgettext(self, context: str, message: str) -> str:
        return message


_translations: Any = _English()
_language = "en"


def set_language(language: str) -> None:
    """Use `language` (one of LANGUAGES) for every message from now on. A missing catalog
    (a broken install) falls back to English rather than failing the command."""
    global _translations, _language
    folder = _FOLDERS.get(language)
    _language = language if language in LANGUAGES else "en"
    if folder is None:
        _translations = _English()
        return
    import gettext

    _translations = gettext.translation(DOMAIN, LOCALEDIR, languages=[folder], fallback=True)


def language() -> str:
    """The language in use: "zh-Hans", "zh-Hant" or "en"."""
    return _language


def _(message: str) -> str:
    """`message` (its English text, the msgid) in the interface language."""
    return _translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message that fits the number `n` (Chinese has one form for all)."""
    return _translations.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """`message` in the interface language, where the same English word needs two
    translations (`closed`: a record's closing date, a loan's state)."""
    return _translations.pgettext(context, message)


def N_(message: str) -> str:
    """Marks `message` for the catalogs without translating it now: texts made at import,
    before the language is known (click's help), translated when they are shown."""
    return message


# ------------------------------------------------------------ messages made below the CLI

class Message(str):
    """A message made where its values are known (a rule's finding, a service's refusal)
    and shown later, in whatever language is in use then: the English text itself (the
    stable text of `check --json`, what code compares and tests read) that also keeps its
    template, the msgid, and its named values. `shown` renders it in the interface
    language; a value that is a Message is shown in that language too.

    Values are kept as the template formats them: numbers as numbers (a format spec may
    need them), a Message as itself, anything else as its text (`format(value)`, what a
    plain `{field}` prints), so that the whole can be written to JSON and read back
    (`to_json`, `from_json`: the warm check remembers findings so) and rendered the same.
    A field that needs repr() is given `repr(value)` by its caller, not `!r`."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, /, **values: object) -> Message:
        kept = {name: value if isinstance(value, Message) or type(value) in (int, float)
                else format(value) for name, value in values.items()}
        self = super().__new__(cls, template.format(**kept) if kept else template)
        self.template = template
        self.values = kept
        return self

    def __reduce__(self) -> tuple[object, ...]:  # a worker of the check's pool sends findings
        return (_message, (self.template, self.values))

    def to_json(self) -> dict[str, object]:
        return {"t": self.template, "v": {name: value.to_json() if isinstance(value, Message) else value
                                          for name, value in self.values.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Message:
        values = data.get("v") or {}
        assert isinstance(values, dict)
        return cls(str(data["t"]), **{name: cls.from_json(value) if isinstance(value, dict) else value
                                      for name, value in values.items()})


def _message(template: str, values: dict[str, object]) -> Message:
    return Message(template, **values)


def shown(message: str) -> str:
    """`message` in the interface language: a Message rendered from its translated template
    (its Message values likewise), any other text looked up whole in the catalogs (a
    constant message marked with N_ where it is made); the English text as it is in `en`,
    for a text the catalogs do not know, or for a translation that lost a field."""
    if _language == "en":
        return str.__str__(message)
    if not isinstance(message, Message):
        return _translations.gettext(message)
    if not message.values:
        return _translations.gettext(message.template)
    try:
        return _translations.gettext(message.template).format(
            **{name: shown(value) if isinstance(value, Message) else value
               for name, value in message.values.items()})
    except (KeyError, IndexError, ValueError):
        return str.__str__(message)


def epilog_paragraphs(epilog: str) -> list[str]:
    """The texts of a command's epilog that are words, not commands: each run of lines that
    are neither blank, nor click's `\\b` mark, nor indented (the example command lines, the
    same in every language, are indented). Each is a msgid as it stands, line breaks
    included (the extractor takes the same runs; cli.base.localize looks them up)."""
    runs: list[str] = []
    current: list[str] = []
    for line in epilog.split("\n"):
        if line.strip() and line != "\b" and not line.startswith((" ", "\t")):
            current.append(line)
            continue
        if current:
            runs.append("\n".join(current))
            current = []
    if current:
        runs.append("\n".join(current))
    return runs


# ------------------------------------------------------------------ choosing the language

_HANS = ("zh_cn", "zh_sg", "zh_hans", "zh-cn", "zh-sg", "zh-hans")
_HANT = ("zh_tw", "zh_hk", "zh_mo", "zh_hant", "zh-tw", "zh-hk", "zh-mo", "zh-hant")
_LANGUAGE_LINE = re.compile(r"^language:[ \t]*['\"]?([A-Za-z-]+)['\"]?[ \t]*(?:#.*)?$", re.MULTILINE)


def from_locale(environ: Mapping[str, str]) -> str:
    """The language the locale asks for: the first of LC_ALL, LC_MESSAGES, LANG that is set
    (as setlocale reads them); zh_CN/zh_SG/zh_Hans → zh-Hans, zh_TW/zh_HK/zh_MO/zh_Hant →
    zh-Hant, anything else (C, POSIX, en_US, a bare `zh`) → en."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            tag = value.split(".")[0].split("@")[0].lower()
            if tag.startswith(_HANS):
                return "zh-Hans"
            if tag.startswith(_HANT):
                return "zh-Hant"
            return "en"
    return "en"


def from_vault(start: Path) -> str | None:
    """vault.yaml's `language`, read cheaply (one regular expression, no YAML parser, no
    schema) from the first vault.yaml from `start` upwards; None when there is none, it is
    unreadable or the value is not one of LANGUAGES: choosing a language never fails a
    command (`dangan check` reports a bad value, DG114)."""
    try:
        start = start.resolve()
        for folder in (start, *start.parents):
            config = folder / "vault.yaml"
            if config.is_file():
                return from_config(config.read_text("utf-8", "replace"))
    except OSError:
        return None
    return None


def from_config(text: str) -> str | None:
    """The `language` a vault.yaml's text sets (as `from_vault` reads it), or None: what a
    server's hook reads from a commit, having no vault.yaml file."""
    found = _LANGUAGE_LINE.search(text)
    return found.group(1) if found and found.group(1) in LANGUAGES else None


def choose(option: str | None, environ: Mapping[str, str], vault_dir: Path | None) -> str:
    """`--lang`, then DANGAN_LANG, then vault.yaml's `language`, then the locale."""
    if option in LANGUAGES:
        return option
    if environ.get("DANGAN_LANG") in LANGUAGES:
        return environ["DANGAN_LANG"]
    configured = from_vault(vault_dir if vault_dir is not None else Path.cwd())
    if configured is not None:
        return configured
    return from_locale(environ)


def choose_for(args: list[str], environ: Mapping[str, str] | None = None) -> str:
    """The language of a `dangan ARGS` command line: its `--lang` and `-C` (the options of
    the group, before the command's name) read here, before click parses them."""
    environ = os.environ if environ is None else environ
    option: str | None = None
    vault_dir: Path | None = None
    i = 0
    while i < len(args) and args[i].startswith("-"):
        word = args[i]
        if word.startswith("--lang="):
            option = word.partition("=")[2]
        elif word in ("--lang", "-C", "--identity", "--sign-key") and i + 1 < len(args):
            if word == "--lang":
                option = args[i + 1]
            elif word == "-C":
                vault_dir = Path(args[i + 1])
            i += 1
        i += 1
    return choose(option, environ, vault_dir)
