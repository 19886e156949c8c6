"""What the ledger rules may read of the new side of a change (a commit, the index or the
work tree), lazily: the records of a company-level category, a blob's tree, vault.yaml, the
records the change deletes. The rules judge; whoever calls them provides this view.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
