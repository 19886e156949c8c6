"""Domain rules of ledger records, checked with the file and change rules.

File level (one record and vault.yaml): DG111 for a loan (JY) that breaks the lending
rules on its own; DG112 for a disposal certificate (XH) that does, or a legal hold (BQ)
whose status contradicts its events. Change level (a change
and the records on its new side): DG111 for an original out on two loans at once; DG112
for a certificate that destroys a record that is held, on loan or not due.

The rules live with their workflows (`dangan.model.loans`, `dangan.model.disposal`); this
module only routes.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dangan.model.sides import Side  # noqa: F401 (the change rules' view of a commit)

# (rule id, message) pairs
Problems = list[tuple[str, str]]


def file_rules(category: str, tree: dict[str, Any], config: dict[str, Any]) -> Problems:
    if category == "JY":
        from dangan.model import loans

        return [("DG111", m) for m in loans.loan_problems(tree, config)]
    if category == "XH":
        from dangan.model import disposal

        return [("DG112", m) for m in disposal.certificate_problems(tree, config)]
    if category == "BQ":
        from dangan.model import disposal

        return [("DG112", m) for m in disposal.hold_problems(tree)]
    return []


def change_rules(changed: Iterable[tuple[str, dict[str, Any], dict[str, Any] | None]],
                 side: Side) -> list[tuple[str, str, str]]:
    """(path, rule, message) for the ledger records a change adds or modifies, given as
    (path, new tree, old tree or None)."""
    from dangan.model import disposal, loans

    found: list[tuple[str, str, str]] = []
    for path, tree, old in changed:
        category = str(tree.get("category", ""))
        if category == "JY":
            found += [(path, "DG111", m) for m in loans.loan_conflicts(path, tree, side, old)]
        elif category == "XH":
            found += [(path, "DG112", m) for m in disposal.certificate_conflicts(path, tree, side, old)]
    return found
