"""Domain rules of ledger records, checked with the file and change rules.

File level (one record and vault.yaml): DG111 for a loan (JY) that breaks the lending
rules on its own; DG112 for a disposal certificate (XH) that does. Change level (a change
and the records on its new side): DG111 for an original out on two loans at once; DG112
for a certificate that destroys a record that is held, on loan or not due.

The rules live with their workflows (`lending`, `retention`); this module only routes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# (rule id, message) pairs
Problems = list[tuple[str, str]]


def file_rules(category: str, tree: dict[str, Any], config: dict[str, Any]) -> Problems:
    if category == "JY":
        from dangan.services import lending

        return [("DG111", m) for m in lending.loan_problems(tree, config)]
    if category == "XH":
        from dangan.services import retention

        return [("DG112", m) for m in retention.certificate_problems(tree, config)]
    return []


@dataclass
class Side:
    """The new side of a change, as the change rules may read it (lazily)."""

    records: Callable[[str], list[tuple[str, dict[str, Any]]]]  # category -> (path, tree) of
    #   every record of that company-level category (JY, XH, BQ) on the new side
    blob: Callable[[str], dict[str, Any] | None]  # blob id -> tree (e.g. a destroyed
    #   record's last version named in a certificate), None if unreadable or absent
    config: dict[str, Any]  # the new side's vault.yaml
    removed: dict[str, str] = field(default_factory=dict)  # path -> old blob of each record
    #   the change deletes
    exists: Callable[[str], bool] = lambda path: False  # is this path on the new side?


def change_rules(changed: Iterable[tuple[str, dict[str, Any], dict[str, Any] | None]],
                 side: Side) -> list[tuple[str, str, str]]:
    """(path, rule, message) for the ledger records a change adds or modifies, given as
    (path, new tree, old tree or None)."""
    from dangan.services import lending, retention

    found: list[tuple[str, str, str]] = []
    for path, tree, old in changed:
        category = str(tree.get("category", ""))
        if category == "JY":
            found += [(path, "DG111", m) for m in lending.loan_conflicts(path, tree, side, old)]
        elif category == "XH":
            found += [(path, "DG112", m) for m in retention.certificate_conflicts(path, tree, side, old)]
    return found
