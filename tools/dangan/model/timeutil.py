"""Dates and times on the command line and in records, in the vault's timezone.

Command-line dates (docs/cli.md §1): `YYYY-MM-DD` or an ISO 8601 timestamp; a bare
date means that day in the vault's timezone. `--at` (when something happened) defaults to
now; `--as-of` (the day a report is for) defaults to today. Records store timestamps as
`YYYY-MM-DDTHH:MM:SS+08:00` strings (common.json `datetime`) and days as `YYYY-MM-DD`.

Dates are real (DG121, docs/decisions.md): an act is never dated after now, so `--at`
refuses the future (`parse_at`) and the checks refuse an event dated after its commit.
`CLOCK_SKEW` is how far two honest clocks (the writer's, the server's) may disagree.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from dangan.errors import DanganError
from dangan.i18n import Message

# the callers make the timezone: zoneinfo costs ~2 ms of imports, which a pre-commit hook
# often does without
if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# How far ahead of a clock a time may be and still count as "now": two honest machines'
# clocks (NTP keeps them within seconds; a laptop off the network drifts minutes)
CLOCK_SKEW = dt.timedelta(minutes=5)


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
            Message("{text} is not a date or timestamp", text=repr(text)), Message("use YYYY-MM-DD or an ISO 8601 timestamp like 2024-03-01T09:30:00+08:00")
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.replace(microsecond=0)


def parse_at(text: str | None, tz: ZoneInfo, now: dt.datetime | None = None) -> dt.datetime:
    """`--at WHEN` of a command that records an act: `parse_when`, but never in the future.

    A paper form is entered after the fact, so any past time is taken; a time after now
    (+ `CLOCK_SKEW`) is bad input: the checks would refuse it as DG121 anyway."""
    moment = parse_when(text, tz)
    current = now or dt.datetime.now(tz)
    if text is not None and moment > current + CLOCK_SKEW:
        raise DanganError(
            Message("--at {value} is in the future (now is {value2})", value=text.strip(), value2=stamp(current, tz)),
            Message("give the time the act happened; nothing is recorded ahead of time (DG121)"),
        )
    return moment


def parse_day(text: str | None, tz: ZoneInfo) -> dt.date:
    """`--as-of`: a day; a timestamp counts as its day in `tz`; None is today."""
    if text is None:
        return dt.datetime.now(tz).date()
    value = text.strip()
    if _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise DanganError(Message("{text} is not a real date", text=repr(text))) from None
    return parse_when(value, tz).astimezone(tz).date()


def stamp(moment: dt.datetime, tz: ZoneInfo) -> str:
    """The record form of a timestamp: seconds, with the vault's offset."""
    return moment.astimezone(tz).replace(microsecond=0).isoformat()


def record_time(text: str, tz: ZoneInfo) -> dt.datetime:
    """A timestamp read from a record (validated by the schema)."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def default_person(root_name: str | None) -> str:
    """`--by`'s default: the author git would record (gitio.author_name)."""
    if not root_name:
        raise DanganError(Message("no name given, and git has no author name (GIT_AUTHOR_NAME, git config user.name)"),
                          Message("give --by NAME, or set git config user.name"))
    return root_name
