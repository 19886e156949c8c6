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
from typing import TYPE_CHECKING, Any

from dangan.i18n import Message

# the change rules' view of a commit (model.sides.Side): rules.changes imports it with
# change_rules, for ledger records alone; the pre-commit hook of any other record never loads it
if TYPE_CHECKING:
    from dangan.model.sides import Side

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
    return [("DG103", m) for m in record_problems(category, tree)]


def record_problems(category: str, tree: dict[str, Any]) -> list[str]:
    """What a record of any other category breaks beyond its schema (DG103): `new`, `set`
    and `edit` refuse it before the hook would."""
    return notice_problems(tree) if category == "TZ" else []


def notice_problems(tree: dict[str, Any]) -> list[str]:
    """A notice's `scope` (the part of the property it concerns) lies within the location it
    is filed at: a notice to the whole project is filed at the project, not in one building
    (else `ls --location A01` would not find the notices of a building's flats)."""
    from dangan.errors import DanganError
    from dangan.model.codes import parse_code, parse_location

    scope = tree.get("scope")
    if not isinstance(scope, str) or scope.startswith("ENC["):  # a secret notice: not judged
        return []
    try:
        where, within = parse_code(str(tree.get("code"))).location, parse_location(scope)
    except DanganError:
        return []  # the schema's patterns report it
    if where.contains(within):
        return []
    filed = "-".join(where.parts)
    return [Message("scope {scope} is not within {filed}, where the notice is filed: file it at {scope} "
                    "(or a location that holds it), or narrow its scope to {filed} or a part of it",
                    scope=scope, filed=filed)]


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
