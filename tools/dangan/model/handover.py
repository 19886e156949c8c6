"""Which records a set of handovers (YJ, docs/handover.md) gave away. Pure: trees in, codes out.

A YJ record with status `handed_over` lists, in `items[].code`, the records this company
handed to another organisation. Once it is on a side of history those records are no longer
this company's to keep: they leave retention sweeps, inventories, the due and gap reports and
the current statistics, and their removal is licensed by the YJ as a destruction is by its
certificate (DG109; DG108 counts them as existing elsewhere). A YJ with status `received`
(what an import writes) licenses nothing: it records what came in.

YJ has no sensitive field, so a checker without any key (the server, CI) reads it whole.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CATEGORY = "YJ"
HANDED_OVER = "handed_over"
RECEIVED = "received"


def handed_over(tree: Any) -> bool:
    """Whether a YJ tree records a handover by this company (status handed_over)."""
    return isinstance(tree, Mapping) and tree.get("status") == HANDED_OVER


def listed(tree: Any) -> list[Mapping[str, Any]]:
    """The well-formed items of a YJ tree (mappings with a code); the schema reports the rest."""
    items = tree.get("items") if isinstance(tree, Mapping) else None
    return [i for i in items if isinstance(i, Mapping) and isinstance(i.get("code"), str)] \
        if isinstance(items, list) else []


def handed_over_codes(trees: Iterable[Any]) -> set[str]:
    """The codes that the `handed_over` YJ records among `trees` list."""
    return {str(item["code"]) for tree in trees if handed_over(tree) for item in listed(tree)}


def handovers_of(trees: Iterable[Any]) -> dict[str, str]:
    """code -> the YJ that handed it over (the first, by the YJ's own code, if two list it)."""
    found: dict[str, str] = {}
    for tree in sorted((t for t in trees if handed_over(t)), key=lambda t: str(t.get("code"))):
        for item in listed(tree):
            found.setdefault(str(item["code"]), str(tree.get("code")))
    return found
