"""A reader of a few fields of a canonical record text, without parsing the rest.

In block YAML a line that starts in column 0 with `key:` is a top-level key; the keys of a
mapping under it are the lines indented by two spaces that follow. `read` takes the wanted
top-level scalars and, for the wanted mappings, their scalar keys one level down; it answers
None whenever it is not sure of a value (a quoted scalar that goes on, a flow collection, an
anchor, a key given twice), and the caller then parses the whole text. The sops block of an
encrypted record is skipped when nothing follows it in column 0. `services.gaps` uses it to
read the dates and states of 100,000 records in about a second (docs/performance.md).

`_read_lines` is the reader; `read` runs its compiled copy (`fields` of tools/dangan/_canon.c)
where the build made one: about 4 µs a record against 18 µs (tests/test_fields_reader.py
and the sanitizer fuzz compare the two).
"""
from __future__ import annotations

import functools
import re
from typing import Any

from dangan.formats.yamlio import _canon
from dangan.model.codes import Code, Location

_INT = re.compile(r"-?[0-9]+")
_UNSURE = tuple("\"|>[{&*!%@`")
_SOPS = b"\nsops:"
_AFTER_SOPS = re.compile(rb"\n[^ \n]")  # a column-0 line after the sops block
_CHILD = re.compile(rb"  ([a-z_][a-z0-9_]*):(.*)")
# a mapping's first line: a plain key in column 0, then ": " or the line's end. Any other
# start (a list, a scalar, a blank or indented first line, a comment, an empty file) is left
# to the full parser, which says whether the text is a record at all
_MAPPING_START = re.compile(rb"[A-Za-z0-9_][^:\n]*:(?: |\n|\Z)")


def scalar(rest: str) -> tuple[bool, Any]:
    """(sure, value) of what follows `key:` on a canonical line; not sure: parse fully."""
    if rest == "":
        return True, None  # null, or a nested block
    if rest[0] != " " or rest.endswith(" ") or " #" in rest:
        return False, None
    text = rest[1:]
    if text in ("null", "~"):
        return True, None
    if text.startswith("'"):
        inner = text[1:-1]
        if len(text) < 2 or not text.endswith("'") or inner.replace("''", "").count("'"):
            return False, None  # a quoted scalar that goes on: not a one-liner
        return True, inner.replace("''", "'")
    if text.startswith(_UNSURE):
        return False, None
    if text in ("true", "false"):
        return True, text == "true"
    if _INT.fullmatch(text):
        return True, int(text)
    return True, text


@functools.cache
def key_lines(wanted: frozenset[str]) -> re.Pattern[bytes]:
    names = b"|".join(re.escape(name.encode()) for name in sorted(wanted))
    return re.compile(rb"^(" + names + rb"):(.*)$", re.M)


def read(data: bytes, wanted: frozenset[str], nested: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """The wanted top-level fields of a record text (a mapping named in `nested` as a dict of
    its scalar keys), or None when only a full parse is sure."""
    if _canon is not None:
        return _canon.fields(data, wanted, nested)  # type: ignore[no-any-return]
    return _read_lines(data, wanted, nested)


def _read_lines(data: bytes, wanted: frozenset[str], nested: frozenset[str]) -> dict[str, Any] | None:
    """`read`, in Python: the definition of the compiled copy."""
    if not _MAPPING_START.match(data):
        return None
    end = data.rfind(_SOPS)
    if end < 0 or _AFTER_SOPS.search(data, end + len(_SOPS)):
        end = len(data)
    found: dict[str, Any] = {}
    for match in key_lines(wanted | nested).finditer(data, 0, end):
        name = match.group(1).decode()
        rest = match.group(2)
        if name in found:
            return None
        if name in nested and rest == b"":
            children: dict[str, Any] = {}
            position = match.end() + 1
            while position < end:
                line_end = data.find(b"\n", position, end)
                line_end = end if line_end < 0 else line_end
                line = data[position:line_end]
                if not line.startswith(b"  "):
                    break
                child = _CHILD.fullmatch(line)
                if child is not None:  # deeper lines (a list, a mapping) are not wanted
                    sure, value = scalar(child.group(2).decode("utf-8"))
                    if not sure:
                        return None
                    children[child.group(1).decode()] = value
                position = line_end + 1
            found[name] = children
            continue
        sure, value = scalar(rest.decode("utf-8"))
        if not sure:
            return None
        found[name] = value
    return found


_CODE = re.compile(r"[A-Z]{2}(?:-[ABCD][0-9]{2}(?:-[0-9]{2}(?:-[0-9]{3}(?:-[0-9]{4})?)?)?)?-[0-9]{4,9}")


def code_of_path(path: str, records: str = "vault") -> Code | None:
    """The code of a record path: the file name, checked against where it lies (the fast
    path of `path_to_code`; None where that one needs to say why)."""
    name = path.rsplit("/", 1)[-1]
    stem = name[:-5] if name.endswith(".yaml") else ""
    if not _CODE.fullmatch(stem):
        return None
    parts = stem.split("-")
    if path != "/".join([records, *parts[1:-1], parts[0], name]):
        return None
    return Code(parts[0], Location(tuple(parts[1:-1])), int(parts[-1]))


# a record's path: its location's folders, its category's folder, and a file name that
# repeats them (the conditional groups (?(n)...) match a part only where the folder had it)
_PATH = (r"(?:([ABCD][0-9]{2})/(?:([0-9]{2})/(?:([0-9]{3})/(?:([0-9]{4})/)?)?)?)?([A-Z]{2})/"
         r"\5(?(1)-\1)(?(2)-\2)(?(3)-\3)(?(4)-\4)-([0-9]{4,9})\.yaml")
_PATHS: dict[str, re.Pattern[str]] = {}


def codes_of_paths(paths: list[str], records: str = "vault") -> list[Code | None]:
    """`code_of_path` of each path, for the readers of a whole tree: one regular expression
    checks a path against the code its file name spells (in C), each location is made once,
    and a serial is taken only in the one spelling Code.path gives (four digits, or more
    without a leading zero)."""
    pattern = _PATHS.get(records)
    if pattern is None:
        pattern = _PATHS[records] = re.compile(re.escape(records) + "/" + _PATH)
    match = pattern.fullmatch
    locations: dict[tuple[str | None, ...], Location] = {}
    out: list[Code | None] = []
    for path in paths:
        found = match(path)
        if found is None:
            out.append(None)
            continue
        project, building, unit, room, category, serial = found.groups()
        if len(serial) > 4 and serial[0] == "0":
            out.append(None)
            continue
        parts = (project, building, unit, room)
        location = locations.get(parts)
        if location is None:
            location = locations[parts] = Location(tuple(p for p in parts if p is not None))
        out.append(Code(category, location, int(serial)))
    return out
