"""Where things live in a vault beyond a record's own path (which `dangan.model.codes`
fixes): a record's attachments, in the folder named by its code next to the record, one
`FILE.age` each, and listed in the record's `attachments` (docs/attachments.md).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dangan.model.codes import Code, CodeError, parse_code

SUFFIX = ".age"


def folder_of(code: Code) -> str:
    """`vault/.../CAT/CODE`: the folder of a record's attachments, next to CODE.yaml."""
    return code.path[: -len(".yaml")]


def path_of(code: Code, file: str) -> str:
    return f"{folder_of(code)}/{file}{SUFFIX}"


def owner(rel: str) -> str | None:
    """The path of the record whose attachment folder holds `rel`, or None.

    Called for every file of a vault: a record's parent folder is its category (two
    letters), so two `rfind`s settle nearly every path without parsing anything."""
    end = rel.rfind("/")
    start = rel.rfind("/", 0, end)
    if end - start <= 7:  # shorter than the shortest code, JY-0001
        return None
    folder = rel[:end]
    try:
        code = parse_code(folder[start + 1:])
    except CodeError:
        return None
    record = folder + ".yaml"
    return record if code.path == record else None


def listed(tree: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = tree.get("attachments")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
