"""sops's form of a record: the YAML that sops 3.x writes (its Go YAML emitter, yaml.v3).

An encrypted record written by `sops` (`edit`, `set`, `rotate`, `updatekeys`, `encrypt`) is
not in dangan's canonical form (docs/format.md §4.2) but in sops's: 4-space indentation,
sequences indented under their key, `null` for null, strings quoted with double quotes when
a YAML reader would take them for another type (`"2024-01-01"`, `"yes"`, `"01"`) and with
single quotes when only their syntax needs it (`'a: b'`). DG113 accepts either form for an
encrypted record (docs/format.md §4.2). A text is in sops's form when `emit`, given the tree read from it,
writes it back byte for byte, as the canonical guard does for dangan's own form: nothing in
the file (its `version`, say) is taken on trust. And a dangan write of a record in sops's
form writes it back in sops's form (`dump_as`), so that its diff holds only what changed.

`emit` follows yaml.v3's choices only where they are certain (measured against the sops
3.11.0 binary: tests/test_sops_writer.py compares its output with sops's own) and gives up,
returning None, on anything else (tabs, control characters, strings YAML 1.1 and 1.2 read
differently, integral floats, nested lists...). Giving up only ever means "not recognised":
such a file is reported as DG113, as before, and a write falls back to the canonical form.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

from dangan.formats.yamlio import YamlError, _literal, _plain_chars_only, _reads_as_str, load_text

INDENT = 4  # sops' YAML store: yaml.v3 with SetIndent(4)
_MAX_KEY = 128  # longer keys are written as explicit `? key` entries by the emitter

# yaml.v3's resolve table: the plain scalars it reads as another type than a string, and
# the YAML 1.1 booleans it still quotes when writing (isOldBool).
_V3_NOT_STR = frozenset((
    "true", "True", "TRUE", "false", "False", "FALSE", "~", "null", "Null", "NULL",
    ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
    "-.inf", "-.Inf", "-.INF",
    "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF",
))
_V3_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_V3_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[0-9]+)")
_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_INDICATOR_FIRST = frozenset("#,[]{}&*!|>'\"%@`")
_COMMENT_LINE = re.compile(r"^[ \t]*#[^\n]*\n", re.M)


def _v3_kind(text: str) -> str | None:
    """How yaml.v3 reads `text` as a plain scalar: "str", "other" (a bool, null, number or
    timestamp: sops then writes it double-quoted), or None when that is not certain."""
    if text in _V3_NOT_STR:
        return "other"
    first = text[0]
    if first == "<":
        return None if text == "<<" else "str"  # "<<" is written as `!!merge <<`
    if first == ".":
        if _V3_FLOAT.fullmatch(text):
            return "other"
        return None if len(text) > 1 and text[1].isdigit() else "str"
    if first not in "+-0123456789":
        return "str"
    if _V3_BASE60.fullmatch(text):
        return "other"
    date = _DATE.match(text)
    if date is not None and text[:4].isdigit() and text[4] == "-":
        if date.end() == len(text):
            try:
                _dt.date(*(int(part) for part in date.groups()))
            except ValueError:
                return None  # Go's parser and ours may differ on odd dates: not sure
            return "other"
        if _RFC3339.fullmatch(text):
            try:
                _dt.datetime.fromisoformat(text.replace("t", "T").replace("Z", "+00:00"))
            except ValueError:
                return None
            return "other"
        if text[date.end()] in "Tt ":
            return None
    plain = text.replace("_", "")  # yaml.v3 drops underscores before parsing numbers
    if _GO_INT.fullmatch(plain):
        if plain.lstrip("+-").isdigit():
            # ParseInt, ParseUint or ParseFloat takes it unless it overflows a float
            return "other" if len(plain) <= 300 else None
        value = int(plain, 0)
        return "other" if -(1 << 63) <= value < (1 << 64) else None
    if _V3_FLOAT.fullmatch(plain):
        return "other" if math.isfinite(float(plain)) else None
    return "str"


def _plain_allowed(text: str) -> bool:
    """libyaml's analysis of a one-line scalar in block context: may it be written plain?"""
    if text.startswith(("---", "...")) or text[0] == " " or text[-1] == " ":
        return False
    first = text[0]
    if first in _INDICATOR_FIRST:
        return False
    if first in "?:-" and (len(text) == 1 or text[1] == " "):
        return False
    for i in range(1, len(text)):
        char = text[i]
        if char == ":" and (i + 1 == len(text) or text[i + 1] == " "):
            return False
        if char == "#" and text[i - 1] == " ":
            return False
    return True


def _string(text: str) -> str | None:
    """A one-line string as sops writes it, or None."""
    if text == "":
        return '""'
    if not _plain_chars_only(text):
        return None  # tabs, controls, NEL/LS/PS, BOM, NBSP, astral: escapes we do not follow
    kind = _v3_kind(text)
    if kind is None:
        return None
    if kind == "other":
        return None if '"' in text or "\\" in text else f'"{text}"'
    if _plain_allowed(text):
        # plain for yaml.v3; a YAML 1.2 reader (dangan's) must read it as the same string
        return text if _reads_as_str(text) else None
    return "'" + text.replace("'", "''") + "'"


def _scalar(value: Any) -> str | None:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value) if -(1 << 63) <= value < (1 << 63) else None
    if type(value) is float:
        # Go's FormatFloat(v, 'g', -1, 64) is Python's repr in [1e-4, 1e6), but for
        # integral values, which it writes without a point (as an integer).
        if math.isfinite(value) and 1e-4 <= abs(value) < 1e6 and value != int(value):
            return repr(value)
        return None
    if type(value) is str and "\n" not in value:
        return _string(value)
    return None


def _key(key: Any) -> str | None:
    if type(key) is not str or "\n" in key or len(key.encode("utf-8")) > _MAX_KEY:
        return None
    return _string(key)


def _mapping(node: dict, key_col: int, child_col: int, out: list[str],
             lead: str | None = None) -> bool:
    pad = " " * key_col
    lead = pad if lead is None else lead
    for key, value in node.items():
        name = _key(key)
        if name is None:
            return False
        if type(value) is dict or type(value) is list:
            if not value:
                out.append(f"{lead}{name}: {'{}' if type(value) is dict else '[]'}\n")
            else:
                out.append(f"{lead}{name}:\n")
                done = (_mapping(value, child_col, child_col + INDENT, out) if type(value) is dict
                        else _sequence(value, child_col, out))
                if not done:
                    return False
        elif type(value) is str and "\n" in value:
            block = _block(value, child_col)
            if block is None:
                return False
            out.append(f"{lead}{name}: {block}")
        else:
            text = _scalar(value)
            if text is None:
                return False
            out.append(f"{lead}{name}: {text}\n")
        lead = pad
    return True


def _sequence(node: list, dash_col: int, out: list[str]) -> bool:
    # A mapping in a sequence item has its keys after "- " and its children one step in
    # from the dash: yaml.v3 discounts the indicator's two columns.
    pad = " " * dash_col
    for item in node:
        if type(item) is dict and item:
            if not _mapping(item, dash_col + 2, dash_col + INDENT, out, lead=f"{pad}- "):
                return False
        elif type(item) is str and "\n" in item:
            block = _block(item, dash_col + 2)
            if block is None:
                return False
            out.append(f"{pad}- {block}")
        else:
            text = _scalar(item)  # containers (empty or nested lists) give None
            if text is None:
                return False
            out.append(f"{pad}- {text}\n")
    return True


def _block(text: str, indent: int) -> str | None:
    # libyaml writes a literal block unless the text needs an indentation indicator
    # (a leading space or line break), has a space before a line break, or characters it
    # escapes; `_literal` takes the same texts and writes them the same way.
    return _literal(text, indent)


def emit(tree: Any) -> str | None:
    """The text sops writes for `tree` (a plain tree), or None when that is not certain."""
    if type(tree) is not dict or not tree:
        return None
    out: list[str] = []
    if not _mapping(tree, 0, INDENT, out):
        return None
    return "".join(out)


def is_sops_form(tree: Any, text: str) -> bool:
    """Whether `text`, read as `tree`, is an encrypted record exactly as sops writes it.

    Whole-line comments (sops writes a comment on a line of its own) are left out of the
    comparison, as the canonical guard leaves them out; a `#` line inside a literal block
    is content, in the tree, so it is emitted and the comparison fails."""
    if not isinstance(tree, dict) or not isinstance(tree.get("sops"), dict):
        return False
    emitted = emit(tree)
    if emitted is None:
        return False
    return emitted == text or ("#" in text and emitted == _COMMENT_LINE.sub("", text))


def arrange(doc: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """`doc` (a document dangan sealed) with its `sops:` block laid out as `previous` had it.

    sops versions order the block differently (3.11: `age`, `lastmodified`, `mac`,
    `encrypted_regex`, `version`; later ones alphabetically); dangan writes it sorted. A
    rewrite keeps the previous order of the block and of each age entry's keys, and its
    `version`, as `sops set` and `sops edit` themselves do: the block is metadata, and a
    reviewer's diff should show the values that changed, `lastmodified` and `mac`."""
    old, new = previous.get("sops"), doc.get("sops")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return doc
    meta = dict(new)
    if "version" in old and "version" in meta:
        meta["version"] = old["version"]
    order = [k for k in old if k in meta] + [k for k in meta if k not in old]
    meta = {k: meta[k] for k in order}
    entries = old.get("age")
    if isinstance(entries, list) and entries and isinstance(entries[0], dict) \
            and isinstance(meta.get("age"), list):
        keys = list(entries[0])
        meta["age"] = [
            {**{k: e[k] for k in keys if k in e}, **{k: v for k, v in e.items() if k not in keys}}
            if isinstance(e, dict) else e
            for e in meta["age"]
        ]
    return {**{k: v for k, v in doc.items() if k != "sops"}, "sops": meta}


def text_in_sops_form(text: str) -> bool:
    """Whether a record's text is an encrypted record in sops's form (what `dangan fmt`
    leaves as it is: DG113 accepts it)."""
    if "\nsops:\n    " not in text:
        return False
    try:
        tree = load_text(text)
    except YamlError:
        return False
    return is_sops_form(tree, text)


def dump_as(doc: Any, previous: str | None) -> str | None:
    """The text of `doc` in sops's form when it replaces `previous`, a record in sops's
    form, and sops's form can hold it; otherwise None (the caller writes canonical form)."""
    if previous is None or not isinstance(doc, dict) or "sops" not in doc \
            or not text_in_sops_form(previous):
        return None
    return emit(arrange(doc, load_text(previous)))
