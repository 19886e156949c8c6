"""A reader of a few fields of a canonical record text, without parsing the rest.

In block YAML a line that starts in column 0 with `key:` is a top-level key; the keys of a
mapping under it are the lines indented by two spaces that follow. `read` takes the wanted
top-level scalars and, for the wanted mappings, their scalar keys one level down; it answers
None whenever it is not sure of a value (a quoted scalar that goes on, a flow collection, an
anchor, a key given twice), and the caller then parses the whole text. The sops block of an
encrypted record is skipped when nothing follows it in column 0. `services.gaps` uses it to
read the dates and states of 100,000 records in about a second (docs/performance.md).
"""
from __future__ import annotations

import functools
import re
from typing import Any

from dangan.model.codes import Code, Location

_INT = re.compile(r"-?[0-9]+")
_UNSURE = tuple("\"|>[{&*!%@`")
_SOPS = b"\nsops:"
_AFTER_SOPS = re.compile(rb"\n[^ \n]")  # a column-0 line after the sops block
_CHILD = re.compile(rb"  ([a-z_][a-z0-9_]*):(.*)")


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


_SERIAL = re.compile(r"[0-9]{4,9}")


def _folder(folder: str, records: str) -> tuple[str, Location, str] | None:
    """(category, location, the file names' prefix) of a records folder dangan writes:
    vault/A01/02/FW for FW-A01-02-...; None for anything else."""
    segments = folder.split("/")
    if len(segments) < 2 or segments[0] != records:
        return None
    category, parts = segments[-1], segments[1:-1]
    if not _CODE.fullmatch("-".join([category, *parts, "0001"])):
        return None
    return category, Location(tuple(parts)), "-".join([category, *parts, ""])


def codes_of_paths(paths: list[str], records: str = "vault") -> list[Code | None]:
    """`code_of_path` of each path, for the readers of a whole tree: each folder is parsed
    once, each file name only compared with its folder's prefix."""
    folders: dict[str, tuple[str, Location, str] | None] = {}
    out: list[Code | None] = []
    for path in paths:
        slash = path.rfind("/")
        folder = path[:slash]
        if folder not in folders:
            folders[folder] = _folder(folder, records)
        known = folders[folder]
        name = path[slash + 1:]
        serial = name[len(known[2]):-5] if known else ""
        if (known and name.startswith(known[2]) and name.endswith(".yaml") and _SERIAL.fullmatch(serial)
                and serial == f"{int(serial):04d}"):  # the one spelling Code.path gives
            out.append(Code(known[0], known[1], int(serial)))
        else:
            out.append(None)
    return out
