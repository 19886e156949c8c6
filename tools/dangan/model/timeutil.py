"""Dates and times on the command line and in records, in the vault's timezone.

Command-line dates (docs/cli.md §1): `YYYY-MM-DD` or an ISO 8601 timestamp; a bare
date means that day in the vault's timezone. `--at` (when something happened) defaults to
now; `--as-of` (the day a report is for) defaults to today. Records store timestamps as
`YYYY-MM-DDTHH:MM:SS+08:00` strings (common.json `datetime`) and days as `YYYY-MM-DD`.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from dangan.errors import DanganError

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_when(text: str | None, tz: ZoneInfo, *, end_of_day: bool = False) -> dt.datetime:
    """`--at`: an aware datetime; a bare date is its start (or end) in `tz`; None is now."""
    if text is None:
        return dt.datetime.now(tz).replace(microsecond=0)
    value = text.strip()
    try:
        if _DATE.fullmatch(value):
            day = dt.date.fromisoformat(value)
            moment = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
            return moment.replace(tzinfo=tz, microsecond=0)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DanganError(
            f"{text!r} is not a date or timestamp", "use YYYY-MM-DD or an ISO 8601 timestamp like 2024-03-01T09:30:00+08:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.replace(microsecond=0)


def parse_day(text: str | None, tz: ZoneInfo) -> dt.date:
    """`--as-of`: a day; a timestamp counts as its day in `tz`; None is today."""
    if text is None:
        return dt.datetime.now(tz).date()
    value = text.strip()
    if _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise DanganError(f"{text!r} is not a real date") from None
    return parse_when(value, tz).astimezone(tz).date()


def stamp(moment: dt.datetime, tz: ZoneInfo) -> str:
    """The record form of a timestamp: seconds, with the vault's offset."""
    return moment.astimezone(tz).replace(microsecond=0).isoformat()


def record_time(text: str, tz: ZoneInfo) -> dt.datetime:
    """A timestamp read from a record (validated by the schema)."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def default_person(root_name: str | None) -> str:
    if not root_name:
        raise DanganError("no name given and `git config user.name` is not set", "give --by NAME")
    return root_name
