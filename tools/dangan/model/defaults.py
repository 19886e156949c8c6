"""The standard settings `dangan init` writes into vault.yaml (docs/lending.md §1, docs/retention.md §1)."""
from __future__ import annotations

from typing import Any

LENDING: dict[str, Any] = {"loan_days": 7, "max_total_days": 30, "originals_not_lent": ["YZ", "ZH"]}

_PERMANENT = {"keep": "permanent"}


def _rule(keep: str, action: str, after: str = "closed") -> dict[str, str]:
    return {"keep": keep, "after": after, "action": action}


RETENTION: dict[str, dict[str, str]] = {
    "QY": _PERMANENT,
    "XM": _PERMANENT,
    "LD": _PERMANENT,
    "FW": _PERMANENT,
    "YZ": _rule("P10Y", "review"),
    "ZH": _rule("P5Y", "destroy"),
    "ZX": _rule("P10Y", "review"),
    "HT": _rule("P10Y", "review"),
    "TS": _rule("P3Y", "destroy"),
    "SB": _rule("P8Y", "destroy"),
    "WX": _rule("P5Y", "destroy"),
    "XJ": _rule("P3Y", "destroy"),
    "HJ": _rule("P2Y", "destroy"),
    "AQ": _rule("P10Y", "review"),
    "SF": _rule("P30Y", "review"),
    "CW": _rule("P10Y", "review"),
    "JY": _rule("P10Y", "destroy"),
    "XH": _PERMANENT,
    "BQ": _PERMANENT,
    # the original specification had no rule for inventories; ten years, like loans (docs/decisions.md)
    "PD": _rule("P10Y", "destroy"),
}
