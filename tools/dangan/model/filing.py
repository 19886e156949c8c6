"""Filing deadlines and paper originals: when a record must be filed, and which records the
archive expects a paper original of (plan §4.1 及時性原則: 按照規定的時限及時收集、整理和歸檔;
plan §4.3 歸檔及時: 各類檔案材料應在規定的時間內完成歸檔, and 相關部門將產生的檔案材料及時
提交給檔案管理人員).

vault.yaml `filing` (docs/format.md §5, docs/duties.md): per category, how long after which
business date a record must be filed; the defaults below apply to every category the vault
does not list, and `CATEGORY: false` turns a default off:

    filing:
      WX: {within: P7D, after: finished}
      AQ: {within: P7D, after: [occurred_at, held_at, effective]}   # the first one present
      HJ: false

vault.yaml `originals`: the categories whose records the archive expects a paper original
of, and how long after filing the department has to hand it over:

    originals: {within: P30D, categories: [HT, YZ, ZH, ZX, QY]}

A record is filed on its first commit's day (vault timezone). Pure: no files, no git.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from dangan.model import defaults
from dangan.model.disposal import add_duration, to_day, valid_duration


@functools.lru_cache(maxsize=8192)
def _plus(day: dt.date, duration: str) -> dt.date:
    """add_duration, remembered: a vault's records share their days (100,000 records, a
    few thousand days)."""
    return add_duration(day, duration)


@dataclass(frozen=True)
class Deadline:
    category: str
    within: str  # ISO 8601 duration
    after: tuple[str, ...]  # business date fields, the first present counts
    since: dt.date | None = None  # judge only deadlines from this day (default: the vault's first)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"within": self.within, "after": list(self.after)}
        if self.since:
            out["since"] = self.since.isoformat()
        return out


@dataclass(frozen=True)
class Late:
    """A record first committed after its deadline."""

    business_field: str
    business_day: dt.date
    deadline: dt.date
    filed: dt.date

    @property
    def days_late(self) -> int:
        return (self.filed - self.deadline).days


def _deadline(category: str, entry: Any) -> Deadline | None:
    if not isinstance(entry, Mapping):
        return None
    within, after = entry.get("within"), entry.get("after", "opened")
    if not isinstance(within, str) or not valid_duration(within):
        return None
    fields = (after,) if isinstance(after, str) else tuple(a for a in after or () if isinstance(a, str))
    since = to_day(entry.get("since"), ZoneInfo("UTC"))  # a date: no zone is involved
    return Deadline(category, within, fields, since) if fields else None


def deadlines(config: Mapping[str, Any]) -> dict[str, Deadline]:
    """The filing rule of each category: vault.yaml's, over the defaults; `false` is none."""
    merged: dict[str, Any] = dict(defaults.FILING)
    given = config.get("filing")
    if isinstance(given, Mapping):
        merged.update(given)
    found = {}
    for category, entry in merged.items():
        rule = _deadline(category, entry)
        if rule is not None:
            found[category] = rule
    return found


def business_date(rule: Deadline, tree: Mapping[str, Any], tz: ZoneInfo) -> tuple[str, dt.date] | None:
    """(field, day) of the first of the rule's date fields the record has."""
    for name in rule.after:
        value: Any = tree
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        day = to_day(value, tz)
        if day is not None:
            return name, day
    return None


def lateness(rule: Deadline, tree: Mapping[str, Any], filed: dt.date, tz: ZoneInfo,
             start: dt.date | None = None) -> Late | None:
    """A Late when the record was filed after its business date + `within`; None otherwise:
    also when the record has none of the rule's dates (nothing to measure against), and when
    the deadline fell before the rule's `since`, by default `start` (the vault's first day:
    a deadline that passed before the vault existed could not be kept in it; records entered
    from paper then are a backlog, 補錄, not late filings)."""
    found = business_date(rule, tree, tz)
    if found is None:
        return None
    name, day = found
    deadline = _plus(day, rule.within)
    if filed <= deadline:
        return None
    since = rule.since or start
    if since is not None and deadline < since:
        return None
    return Late(name, day, deadline, filed)


# --------------------------------------------------------------------------- originals

@dataclass(frozen=True)
class Originals:
    within: str
    categories: frozenset[str]

    def as_dict(self) -> dict[str, Any]:
        return {"within": self.within, "categories": sorted(self.categories)}


def originals(config: Mapping[str, Any]) -> Originals:
    """Which records the archive expects a paper original of: vault.yaml's, over the defaults."""
    given = config.get("originals")
    merged = dict(defaults.ORIGINALS)
    if isinstance(given, Mapping):
        merged.update(given)
    within = merged.get("within")
    within = within if isinstance(within, str) and valid_duration(within) else defaults.ORIGINALS["within"]
    categories = frozenset(c for c in merged.get("categories") or () if isinstance(c, str))
    return Originals(within, categories)


def expects_original(rule: Originals, category: str, tree: Mapping[str, Any]) -> bool:
    """A record of an expected category expects a paper original unless its custody says it
    is electronic only."""
    if category not in rule.categories:
        return False
    custody = tree.get("custody")
    return not (isinstance(custody, Mapping) and custody.get("form") == "electronic")


def received(tree: Mapping[str, Any]) -> bool:
    """The archivist recorded the original (`dangan receive`)."""
    return isinstance(tree.get("received"), Mapping)


def original_due(rule: Originals, filed: dt.date) -> dt.date:
    """The last day the department may hand the original over."""
    return _plus(filed, rule.within)
