"""Retention and destruction (保管期限與銷毀): schedules, plans, holds, certificates
(workflows.md §3).

To be written (issue 6). The check engine calls `certificate_problems` (one XH, DG112)
and `certificate_conflicts` (an XH against holds, loans and the records it destroys, DG112).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .domain import Side


def certificate_problems(tree: dict[str, Any], config: dict[str, Any]) -> list[str]:
    return []


def certificate_conflicts(path: str, tree: dict[str, Any], side: "Side") -> list[str]:
    return []
