"""Dated obligations (期限義務): which dates of a record are duties, and when each falls due.

The plan asks for duties in time: 及時性原則 (plan §4.1), 定期核對和更新 (plan §6.2), 設備設施更新…
及時進行更新 (plan §7.2), 定期對檔案進行盤點 (plan §5.1). dangan reads them from two places
(docs/duties.md, "Obligations"):

* **Marked date fields.** A category schema marks a date property that is a duty with
  `"x-dangan-obligation"` (a keyword of dangan's own; JSON Schema ignores it):

      "review_due": {"$ref": "common.json#/$defs/date",
                     "x-dangan-obligation": {"duty": "review the emergency plan",
                                             "zh": "應急預案修訂",
                                             "open_while": ["active"],
                                             "met_by": ["..."]}}

  The date is the last day to act. The obligation is open while the record's `status` is
  one of `open_while` and none of the `met_by` fields is set; it is met by leaving those
  statuses (closing, expiring, superseding), by setting a `met_by` field (a move-out, an
  actual end), or by moving the date on (a review sets the next `review_due`, a renewal the
  next `end`).
* **Derived dates.** A mark with `"derived": "maintenance"` (on SB `maintenance_interval`)
  makes the next maintenance of each piece of equipment an obligation: its last finished
  upkeep job (WX kind '03' whose `target` or `refs` name it) + the interval, or, never
  maintained, its commissioning (`installed`, else `opened`) + the interval. And each
  archive room (a `custody.room` of the records, or one named in vault.yaml `inventory`)
  is due for its next count (PD) `inventory.count_interval` (default P1Y, per room in
  `inventory.rooms`) after its last completed whole-room inventory, or, never counted,
  after the vault's first commit.

Pure: no files, no git. The reading is services/due.py.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dangan.model.disposal import add_duration, valid_duration

KEYWORD = "x-dangan-obligation"
MAINTENANCE = "maintenance"
COUNT = "count"  # the derived obligation of an archive room (no schema mark: vault.yaml)
DEFAULT_COUNT_INTERVAL = "P1Y"
DEFAULT_WITHIN = "P30D"
UPKEEP_KIND = "03"  # WX kind: scheduled upkeep 計劃保養
UPKEEP_DONE = frozenset({"done", "closed"})
_DAYS = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class Mark:
    """One `x-dangan-obligation` of a category schema."""

    category: str
    field: str
    duty: str
    zh: str
    open_while: frozenset[str]
    met_by: tuple[str, ...] = ()
    derived: str | None = None

    def open_for(self, fields: Mapping[str, Any]) -> bool:
        """Whether the record still owes it: an open status and no `met_by` field set."""
        return fields.get("status") in self.open_while and not any(
            fields.get(name) not in (None, "", False) for name in self.met_by)


def marks_of(category: str, schema: Mapping[str, Any]) -> list[Mark]:
    """The marks on the top-level properties of a category schema. A malformed mark (no
    `open_while` list of strings) is skipped, so a company's edit cannot break `due`; the
    fields a mark names are read as top-level fields of the record."""
    found = []
    for name, prop in (schema.get("properties") or {}).items():
        mark = prop.get(KEYWORD) if isinstance(prop, Mapping) else None
        if not isinstance(mark, Mapping):
            continue
        open_while = mark.get("open_while")
        met_by = mark.get("met_by") or []
        if not (isinstance(open_while, list) and all(isinstance(s, str) for s in open_while)
                and isinstance(met_by, list) and all(isinstance(s, str) for s in met_by)):
            continue
        derived = mark.get("derived")
        if derived is not None and derived != MAINTENANCE:
            continue  # a derivation this dangan does not know
        found.append(Mark(category, name, str(mark.get("duty") or name), str(mark.get("zh") or ""),
                          frozenset(open_while), tuple(met_by), derived))
    return found


def interval(value: Any) -> str | None:
    """`maintenance_interval` as an ISO 8601 duration: a number of days or a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"P{value}D" if 0 < value < 100000 else None
    if isinstance(value, str):
        text = value.strip()
        if _DAYS.fullmatch(text) and int(text) > 0:
            return f"P{int(text)}D"
        if valid_duration(text) and any(ch.isdigit() and ch != "0" for ch in text):
            return text
    return None


def count_intervals(config: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """(default interval, per-room intervals) of vault.yaml `inventory` (validated by its
    schema; anything malformed falls back to the default)."""
    section = config.get("inventory")
    section = section if isinstance(section, Mapping) else {}
    default = section.get("count_interval")
    default = default if isinstance(default, str) and valid_duration(default) else DEFAULT_COUNT_INTERVAL
    rooms = section.get("rooms")
    per_room = {str(room): value for room, value in (rooms.items() if isinstance(rooms, Mapping) else ())
                if isinstance(value, str) and valid_duration(value)}
    return default, per_room


def next_due(last: dt.date, every: str) -> dt.date:
    return add_duration(last, every)


@dataclass(frozen=True)
class Obligation:
    """One open obligation as of a day."""

    kind: str  # "field" (a marked date), "maintenance" or "count"
    subject: str  # a record's code, or an archive room's name
    category: str
    field: str  # the marked field, "maintenance_interval", or "inventory"
    duty: str
    zh: str
    due: dt.date
    basis: str  # where the date comes from, in words
    title: str | None = None
    department: str | None = None
    responsible: str | None = None

    def days(self, as_of: dt.date) -> int:
        """Days left (positive), 0 on the day, days overdue (negative)."""
        return (self.due - as_of).days

    def as_dict(self, as_of: dt.date) -> dict[str, Any]:
        days = self.days(as_of)
        return {
            "kind": self.kind, "subject": self.subject, "category": self.category,
            "field": self.field, "duty": self.duty, "zh": self.zh, "due": self.due.isoformat(),
            "state": "overdue" if days < 0 else "due",
            "days_overdue": max(0, -days), "days_left": max(0, days),
            "basis": self.basis, "title": self.title,
            "department": self.department, "responsible": self.responsible,
        }

