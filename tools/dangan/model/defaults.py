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
    "JD": _PERMANENT,  # appraisals (鑒定記錄): the evidence of what was kept or destroyed
    "YJ": _PERMANENT,  # handovers (移交記錄): the licence for records no longer held
    # the original specification had no rule for inventories; ten years, like loans (docs/decisions.md)
    "PD": _rule("P10Y", "destroy"),
    # the six categories of issue 23; each reason is in docs/retention.md §1 and docs/decisions.md
    "TZ": _rule("P5Y", "review"),  # notices: evidence for the complaints and repairs they answer
    "MY": _rule("P5Y", "destroy"),  # surveys: more than a contract term, to compare one with the next
    "YX": _rule("P3Y", "destroy"),  # operating logs: routine readings, kept like patrol rounds (XJ)
    "BZ": _rule("P10Y", "review"),  # standards: what the work and the contracts were judged against (HT)
    "KF": _rule("P3Y", "destroy"),  # archive-room logs: routine readings, kept like patrol rounds (XJ)
    "PX": _rule("P10Y", "destroy"),  # training: who was fit to keep the archive, as long as loans (JY)
}

# Filing deadlines (docs/duties.md "Filing deadlines"): per category, how long after which
# business date a record must be filed (its first commit). The operational records the
# departments hand in (plan §4.3: 客服部門、維修部門、安保部門); records dangan writes at the
# act (JY, XH, BQ, PD) and the standing files of a takeover (XM, LD, FW, SB, QY, SF, CW)
# have none. `after` lists date fields, the first one a record has counts.
FILING: dict[str, dict[str, Any]] = {
    "WX": {"within": "P7D", "after": ["finished"]},  # a job is filed within a week of its end
    "TS": {"within": "P3D", "after": ["received_at"]},  # a complaint is registered when received
    "XJ": {"within": "P3D", "after": ["finished_at", "started_at"]},
    "HJ": {"within": "P15D", "after": ["period_end", "period_start"]},  # the month's sheet by the 15th
    "AQ": {"within": "P7D", "after": ["occurred_at", "held_at", "effective"]},
    "ZX": {"within": "P7D", "after": ["opened"]},
    "HT": {"within": "P30D", "after": ["signed"]},
    "ZH": {"within": "P30D", "after": ["lease_start"]},
    "YZ": {"within": "P30D", "after": ["opened"]},
    # issue 23: a notice is filed when posted (the evidence is the posting), the month's logs by
    # the middle of the next, like HJ; a survey, a training and a standard within a month
    "TZ": {"within": "P3D", "after": ["posted_at"]},
    "YX": {"within": "P15D", "after": ["period_end"]},
    "KF": {"within": "P15D", "after": ["period_end"]},
    "MY": {"within": "P30D", "after": ["period_end"]},
    "PX": {"within": "P30D", "after": ["held_at"]},
    "BZ": {"within": "P30D", "after": ["effective"]},
}

# Expected records (docs/duties.md "Expected records"): one record for each of a set, and
# periodic records per project.
EXPECTED: list[dict[str, Any]] = [
    {"name": "owner file", "each": "FW",
     "where": {"status": ["occupied", "rented", "vacant", "decorating"]},
     "needs": {"category": "YZ", "status": ["active"]}},
    {"name": "elevator inspection", "each": "SB",
     "where": {"system": ["elevator", "escalator"], "status": ["in_service", "standby", "under_repair"]},
     "needs": {"valid": "inspection_expires"}},
    {"name": "monthly environment record", "every": "P1M", "category": "HJ", "per": "project",
     "date": ["period_start", "opened"], "grace": "P15D"},
    {"name": "fire inspection round", "every": "P3M", "category": "XJ", "per": "project",
     "where": {"round_type": ["fire_inspection"]}, "date": ["started_at"], "grace": "P15D"},
    {"name": "daily patrol", "every": "P1D", "category": "XJ", "per": "project",
     "where": {"round_type": ["security_patrol", "night_patrol"]}, "date": ["started_at"], "grace": "P3D"},
    {"name": "yearly drill", "every": "P1Y", "category": "AQ", "per": "project",
     "where": {"kind": ["drill"]}, "date": ["held_at"], "grace": "P1M"},
]

# Paper originals (docs/duties.md "Paper originals"): the categories whose signed paper
# original the department hands to the archivist, and how long after filing it has.
ORIGINALS: dict[str, Any] = {"within": "P30D", "categories": ["HT", "QY", "YZ", "ZH", "ZX"]}
