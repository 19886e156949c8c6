"""Epochs (crypto-shredding, docs/shredding.md §2): which epoch a record's keys are wrapped to.

An epoch groups the records that are destroyed together: those whose retention ends in the
same calendar year (in the vault's timezone) and that the same people may read. Its id names
both: `2031.3f9a2c1e` (the year, then the first 8 hex digits of the SHA-256 of the sorted
reader names). A record kept for ever goes to its readers' `permanent.` epoch, never shredded.

A record whose end is not known yet (its trigger date, usually `closed`, is not set: an
*open* record) goes to a year epoch too: the year of the earliest end it can have, the day it
is first sealed plus its rule's keep (`open_period`), and it stays there until its end is
known or that epoch is shredded (`keys shred` moves it on). So the versions written while it
was open are in an epoch that is shredded no later than its own (docs/decisions.md). Vaults
migrated by an earlier dangan may hold rolling `open.` epochs: still read, shreddable, never
made again.

The end is the one `retention` computes (`disposal.assess`: trigger + keep, or the record's
`retention.until` when later), so a record extended past its year moves with it. Pure: the
readers are given by the caller (`store.vault.recipients_of`), the keys and files are
`store.epochkeys`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dangan.model.disposal import add_duration, rule_for, to_day, vault_tz

OPEN, PERMANENT = "open", "permanent"
EPOCH_ID = re.compile(r"(?:[0-9]{4}|open|permanent)\.[0-9a-f]{8}")
NEVER_SHREDDED = (PERMANENT,)


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
    """Whether an epoch may ever be shredded: a year epoch (or an old rolling `open.` one),
    never a permanent one."""
    return epoch.split(".", 1)[0] not in NEVER_SHREDDED


def is_year(epoch: str) -> bool:
    return epoch[:4].isdigit()


def readers_of(epoch: str) -> str:
    """The readers' hash of an epoch id."""
    return epoch.split(".", 1)[1]


def open_period(config: Mapping[str, Any], category: str, day: dt.date) -> str:
    """The year epoch period of an open record first sealed on `day`: the year of the
    earliest end it can have (its trigger is that day or later), day + its rule's keep."""
    rule = rule_for(config, category)
    if rule.permanent:
        return PERMANENT
    return f"{add_duration(day, rule.keep).year:04d}"


def next_year(epoch: str) -> str:
    """The year epoch after a year epoch, with the same readers: where a record goes when
    its own year's epoch is shredded while it is kept (a legal hold, or an end set after
    the shred: docs/format.md §7c)."""
    period, readers = epoch.split(".", 1)
    return f"{int(period) + 1:04d}.{readers}"


def effective(epoch: str, shredded: Callable[[str], bool]) -> str:
    """The epoch a record is sealed to: `epoch` (`epoch_of`), or when that one is shredded
    (`shredded(id)`), the first later year epoch of the same readers that is not. A record
    kept past its year's shred (held, or closed with a back-dated day) so goes one year on
    each shred it survives (a permanent epoch is never shredded)."""
    while is_year(epoch) and shredded(epoch):
        epoch = next_year(epoch)
    return epoch
