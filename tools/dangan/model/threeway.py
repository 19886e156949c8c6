"""A three-way merge of record trees, field by field (the merge driver, docs/team.md).

Pure: trees in, a tree and the conflicting fields out. Mappings merge key by key, to any
depth; every other value (a string, a number, a list) is one field: a side that left it
as the base had it takes the other side's, equal changes agree, and different changes are
a conflict. Lists are not merged item by item: an item has no name, and pairing items by
position would merge two people's edits of different owners into one owner.

The driver calls it on plaintext (with a key) or on the stored trees (without one, to name
the fields each side changed); what it compares is up to the caller.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dangan.i18n import Message


class _Absent:
    """The value of a field a side does not have (deleted, or never added)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()

# The one top-level key of what the driver leaves in the work tree when it cannot merge a
# record (docs/format.md §11): a YAML mapping that is not a record, so no hook, server or
# check takes it for one, and that says what to run.
CONFLICT_KEY = "dangan_merge_conflict"


@dataclass
class Merged:
    """What `merge3` gives: the merged tree, and the fields both sides changed differently."""

    tree: dict[str, Any]
    conflicts: list[tuple[str | int, ...]] = field(default_factory=list)


def merge3(base: Any, ours: Any, theirs: Any) -> Merged:
    """Merge two changes of `base` (mappings; ABSENT or None for a record neither had).

    Where both sides changed a field differently the result holds ours' value and the field
    is listed in `conflicts` (as a path of keys), for the caller to settle."""
    conflicts: list[tuple[str | int, ...]] = []
    tree = _merge(base if isinstance(base, dict) else {}, ours, theirs, (), conflicts)
    return Merged(tree if isinstance(tree, dict) else {}, conflicts)


def _merge(base: Any, ours: Any, theirs: Any, path: tuple[str | int, ...],
           conflicts: list[tuple[str | int, ...]]) -> Any:
    if _same(ours, theirs):
        return ours
    if _same(ours, base):
        return theirs
    if _same(theirs, base):
        return ours
    if isinstance(ours, dict) and isinstance(theirs, dict):
        # both changed a mapping (or both added one): key by key, ours' order first
        old = base if isinstance(base, dict) else {}
        out: dict[str, Any] = {}
        for key in [*ours, *(k for k in theirs if k not in ours)]:
            value = _merge(old.get(key, ABSENT), ours.get(key, ABSENT), theirs.get(key, ABSENT),
                           (*path, key), conflicts)
            if value is not ABSENT:
                out[key] = value
        return out
    conflicts.append(path)
    return ours


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types: `1`, `1.0` and `true` are different changes."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def dotted(path: tuple[str | int, ...]) -> str:
    """A field path as `set` takes it (`complainant.phone`, `owners.0.name`)."""
    return ".".join(str(part) for part in path)


def value_at(tree: Any, path: tuple[str | int, ...]) -> Any:
    """The value at `path`, or ABSENT."""
    node = tree
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return ABSENT
    return node


def put(tree: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    """Set (or, with ABSENT, remove) the value at `path`, creating the mappings above it."""
    node: Any = tree
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    if value is ABSENT:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def changed_fields(base: Any, side: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The fields `side` changed from `base`, as paths (mappings opened, other values whole)."""
    if _same(base, side):
        return
    if isinstance(base, dict) and isinstance(side, dict):
        for key in [*base, *(k for k in side if k not in base)]:
            yield from changed_fields(base.get(key, ABSENT), side.get(key, ABSENT), (*path, key))
        return
    yield path


def conflict_note(tree: Any) -> str | None:
    """What a check says of the driver's conflict description (a DG101 message naming the
    command that resolves it), or None for anything else."""
    if not isinstance(tree, dict) or CONFLICT_KEY not in tree:
        return None
    info = tree.get(CONFLICT_KEY)
    code = info.get("code") if isinstance(info, dict) else None
    command = f"dangan resolve {code}" if isinstance(code, str) else "dangan resolve CODE"
    return (Message("an unresolved merge conflict (the dangan merge driver wrote this description in place of the record): run `{command}` to finish it, or `git merge --abort` / `git rebase --abort`", command=command))


def conflict_refusal(code: str, tree: Any) -> str | None:
    """What a command that reads a record says when the file is the driver's conflict
    description (None for a record)."""
    if not isinstance(tree, dict) or CONFLICT_KEY not in tree:
        return None
    return Message("{code} is in a merge conflict: the file holds the merge driver's description, not the record", code=code)


def conflict_hint(code: str) -> str:
    return (Message("`dangan resolve {code}` shows the fields in conflict and finishes it; `git merge --abort` (or `git rebase --abort`) gives up the merge", code=code))


# Git's own conflict markers: what a merge leaves in a record when the dangan driver did not
# run (a clone without `dangan hook install`, `git merge-file`, a `-s`/`-X` strategy that
# bypasses drivers). Git writes them at the start of a line, where no line of a record can
# begin with them: a file that holds one fails to parse, so only such files are searched.
_MARKER = re.compile(rb"^(?:<{7}|>{7}|\|{7})(?: |$)|^={7}$", re.M)


def has_markers(data: bytes) -> bool:
    """Whether `data` holds a line git writes around a conflict (`<<<<<<< ours` ...)."""
    return _MARKER.search(data) is not None


def markers_note(code: str, path: str) -> str:
    """What a check says of a record holding git's conflict markers (DG101): the merge
    that left them and the commands that undo them; removing them by hand is no way out
    (the MAC of an encrypted record covers every value: it would no longer match)."""
    return (Message("git conflict markers (<<<<<<< ======= >>>>>>>): git merged this record line by line, without the dangan merge driver (`dangan hook install` sets it up). During the merge or rebase, `git checkout -m -- {path}` then `dangan resolve {code}` merges it field by field (or `dangan resolve {code} --take ours|theirs`); after it, `git checkout HEAD -- {path}` restores the committed record. Do not delete the markers by hand: an encrypted record's MAC would no longer match", path=path, code=code))


def markers_refusal(code: str, path: str, busy: str | None) -> tuple[Message, Message]:
    """(message, hint) of a command that reads a record holding git's conflict markers."""
    message = Message("{path} holds git conflict markers: git merged it line by line, not dangan's merge "
                      "driver", path=path)
    if busy is not None:
        return message, (Message("`git checkout -m -- {path}` then `dangan resolve {code}` merges it field by field; `git merge --abort` (or `git rebase --abort`) gives {busy} up", path=path, code=code, busy=busy))
    return message, (Message("`git checkout HEAD -- {path}` restores the committed record (`git log -- {path}` lists older versions); run `dangan hook install` so the next merge uses the driver", path=path))
