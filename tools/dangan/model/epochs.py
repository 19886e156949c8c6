"""Epochs (crypto-shredding, docs/shredding.md §2): which epoch a record's keys are wrapped to.

An epoch groups the records that are destroyed together: those whose retention ends in the
same calendar year (in the vault's timezone) and that the same people may read. Its id names
both: `2031.3f9a2c1e` (the year, then the first 8 hex digits of the SHA-256 of the sorted
reader names). A record without an end year goes to its readers' rolling `open.` epoch (the
trigger date is not set yet) or to `permanent.` (kept for ever); neither is ever shredded.

The end is the one `retention` computes (`disposal.assess`: trigger + keep, or the record's
`retention.until` when later), so a record extended past its year moves with it. Pure: the
readers are given by the caller (`store.vault.recipients_of`), the keys and files are
`store.epochkeys`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dangan.model.disposal import add_duration, rule_for, to_day, vault_tz

OPEN, PERMANENT = "open", "permanent"
EPOCH_ID = re.compile(r"(?:[0-9]{4}|open|permanent)\.[0-9a-f]{8}")
NEVER_SHREDDED = (OPEN, PERMANENT)


def readers_hash(names: Iterable[str]) -> str:
    """The first 8 hex digits of the SHA-256 of the sorted, distinct reader names, one per
    line (UTF-8): the same people give the same hash whatever vault.yaml's order."""
    text = "\n".join(sorted({str(n) for n in names}))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def end_of(config: Mapping[str, Any], category: str, tree: Mapping[str, Any]) -> dt.date | str:
    """When a record's retention ends: a day, or OPEN (its trigger date is not set) or
    PERMANENT (its rule keeps it for ever, or there is no rule dangan can read). The same
    sum as `disposal.assess`: trigger + keep, or `retention.until` when that is later."""
    rule = rule_for(config, category)
    if rule.permanent:
        return PERMANENT
    tz = vault_tz(config)
    trigger = to_day(tree.get(rule.after), tz)
    if trigger is None:
        return OPEN
    due = add_duration(trigger, rule.keep)
    override = tree.get("retention")
    until = to_day(override.get("until"), tz) if isinstance(override, Mapping) else None
    return max(due, until) if until is not None else due


def period_of(end: dt.date | str) -> str:
    """The epoch's first part: the end's calendar year, or OPEN / PERMANENT."""
    return end if isinstance(end, str) else f"{end.year:04d}"


def epoch_id(period: str, readers: Iterable[str]) -> str:
    return f"{period}.{readers_hash(readers)}"


def epoch_of(config: Mapping[str, Any], category: str, tree: Mapping[str, Any],
             readers: Iterable[str]) -> str:
    """The epoch of a record of `category` (plain `tree`, its clear fields suffice) read by
    `readers` (the names `recipients_of` gives its category and level)."""
    return epoch_id(period_of(end_of(config, category, tree)), readers)


def shreddable(epoch: str) -> bool:
    """Whether an epoch may ever be shredded: a year epoch, never a rolling or permanent one."""
    return epoch.split(".", 1)[0] not in NEVER_SHREDDED
