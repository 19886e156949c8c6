"""Lending (借閱): loans as JY records, their state machine and rules (workflows.md §2).

To be written (issue 5). The check engine calls `loan_problems` (one loan, DG111) and
`loan_conflicts` (a loan against the other loans on the change's new side, DG111).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .domain import Side


def loan_problems(tree: dict[str, Any], config: dict[str, Any]) -> list[str]:
    return []


def loan_conflicts(path: str, tree: dict[str, Any], side: "Side") -> list[str]:
    return []
