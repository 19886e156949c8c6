"""Expected records: declarative completeness rules (plan §4.1 完整性原則: 確保所有與物業項目
相關的檔案資料齊全無缺; 定期收集法: 按照規定的時間周期對各類檔案資料進行定期收集和整理).

vault.yaml `expected` (docs/format.md §5, docs/duties.md) is a list of rules of two kinds;
without the key the defaults of `model.defaults.EXPECTED` apply, and `expected: []` turns
them all off:

    expected:
      # one record for each of a set: every FW matching `where` needs ...
      - name: owner file
        each: FW
        where: {use: [residential], status: [occupied, rented, vacant, decorating]}
        needs: {category: YZ, status: [active]}     # a record at the same location
      - name: elevator inspection
        each: SB
        where: {system: [elevator, escalator]}
        needs: {valid: inspection_expires}          # a date field not yet passed
      # periodic records: at least one per period, per project (or building, or company)
      - name: monthly environment record
        every: P1M
        category: HJ
        per: project
        date: period_start
        grace: P15D                                 # a period is judged this long after it ends

`where` compares top-level fields with a list of allowed values. A periodic rule judges the
calendar periods (days, ISO weeks, months, years, or multiples of them) that lie wholly
after the unit began — its XM or LD record's `management_start`/`handed_over` or `opened` —
and after `since` when given, and whose end + `grace` is before the day judged. Missing
periods in a row are one gap, "since" its first. Pure: no files, no git.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from dangan.i18n import Message
from dangan.model import defaults
from dangan.model.codes import Code, Location
from dangan.model.disposal import add_duration, to_day, valid_duration

_EVERY = re.compile(r"P([1-9][0-9]*)([DWMY])")
_UNITS = {"company": 0, "project": 1, "building": 2}
_UNIT_START = {1: ("XM", ("management_start", "opened")), 2: ("LD", ("handed_over", "opened"))}
_UNIT_ENDED = {1: {"closed"}, 2: {"demolished"}}


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # each | every
    category: str  # each: the set's category; every: the periodic record's category
    where: tuple[tuple[str, frozenset[Any]], ...] = ()
    needs_category: str | None = None
    needs_status: frozenset[str] | None = None
    needs_valid: str | None = None
    every: str | None = None
    per: str = "company"
    date: tuple[str, ...] = ("opened",)
    grace: str = "P0D"
    since: dt.date | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.kind == "each":
            out["each"] = self.category
            needs: dict[str, Any] = {}
            if self.needs_category:
                needs["category"] = self.needs_category
            if self.needs_status is not None:
                needs["status"] = sorted(self.needs_status)
            if self.needs_valid:
                needs["valid"] = self.needs_valid
            out["needs"] = needs
        else:
            out.update({"every": self.every, "category": self.category, "per": self.per,
                        "date": list(self.date), "grace": self.grace})
            if self.since:
                out["since"] = self.since.isoformat()
        if self.where:
            out["where"] = {k: sorted(v, key=str) for k, v in self.where}
        return out


@dataclass
class Item:
    """What a rule reads of one record: its code and top-level fields."""

    code: Code
    tree: Mapping[str, Any]


@dataclass(frozen=True)
class Missing:
    rule: Rule
    category: str  # of the record that is missing
    location: Location
    since: dt.date
    what: str  # one line: what is missing
    subject: str | None = None  # the record of the set (each) that lacks it
    periods: int = 0  # every: missing periods in the run
    last: dt.date | None = None  # every: first day of the last missing period
    extra: dict[str, Any] = field(default_factory=dict)


def _where(value: Any) -> tuple[tuple[str, frozenset[Any]], ...]:
    if not isinstance(value, Mapping):
        return ()
    out = []
    for key, allowed in value.items():
        items = allowed if isinstance(allowed, list) else [allowed]
        out.append((str(key), frozenset(i for i in items if isinstance(i, (str, int, bool)))))
    return tuple(out)


def _fields(value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str)) or default
    return default


def _rule(entry: Any, index: int) -> Rule | None:
    """One rule of vault.yaml (already validated by its schema; malformed ones are skipped)."""
    if not isinstance(entry, Mapping):
        return None
    name = entry.get("name") if isinstance(entry.get("name"), str) else None
    if isinstance(entry.get("each"), str):
        needs = entry.get("needs") if isinstance(entry.get("needs"), Mapping) else {}
        status = needs.get("status")
        category = needs.get("category") if isinstance(needs.get("category"), str) else None
        valid = needs.get("valid") if isinstance(needs.get("valid"), str) else None
        if category is None and valid is None:
            return None
        label = name or f"{entry['each']} needs {category or valid}"
        return Rule(label, "each", entry["each"], _where(entry.get("where")), category,
                    frozenset(status) if isinstance(status, list) else None, valid)
    every, category = entry.get("every"), entry.get("category")
    if not (isinstance(every, str) and _EVERY.fullmatch(every) and isinstance(category, str)):
        return None
    per = entry.get("per", "company")
    grace = entry.get("grace", "P0D")
    since = to_day(entry.get("since"), ZoneInfo("UTC"))
    return Rule(name or f"{category} every {every} per {per}", "every", category,
                _where(entry.get("where")), every=every, per=per if per in _UNITS else "company",
                date=_fields(entry.get("date"), ("opened",)),
                grace=grace if isinstance(grace, str) and valid_duration(grace) else "P0D", since=since)


def rules(config: Mapping[str, Any]) -> list[Rule]:
    given = config.get("expected")
    entries = given if isinstance(given, list) else defaults.EXPECTED
    return [r for i, e in enumerate(entries) if (r := _rule(e, i)) is not None]


def matches(rule: Rule, tree: Mapping[str, Any]) -> bool:
    return all(tree.get(key) in allowed for key, allowed in rule.where)


# --------------------------------------------------------------------------- each

def _ordinal(day: dt.date | None) -> int | None:
    return None if day is None else day.toordinal()


def _day(ordinal: int | None) -> dt.date | None:
    return None if ordinal is None else dt.date.fromordinal(ordinal)


def _each_prepare(rule: Rule, items: Sequence[Item], by_category: Mapping[str, list[Item]],
                  tz: ZoneInfo) -> list[list[Any]]:
    """The records of the set that may lack what they need, whatever the day: [code, its
    location's parts, opened, the last needed record's closing day (needs a category) or the
    valid-until day (needs a valid date)], days as ordinals or null."""
    out: list[list[Any]] = []
    needed: dict[Location, list[Item]] = {}
    if rule.needs_category:
        for item in by_category.get(rule.needs_category, ()):
            needed.setdefault(item.code.location, []).append(item)
    for item in items:
        if not matches(rule, item.tree):
            continue
        opened = _ordinal(to_day(item.tree.get("opened"), tz))
        if rule.needs_category:
            found = needed.get(item.code.location, [])
            if any(rule.needs_status is None or f.tree.get("status") in rule.needs_status for f in found):
                continue
            closed = [d for f in found if (d := to_day(f.tree.get("closed"), tz)) is not None]
            out.append([str(item.code), list(item.code.location.parts), opened, _ordinal(max(closed)) if closed else None])
        elif rule.needs_valid:
            valid = to_day(item.tree.get(rule.needs_valid), tz)
            out.append([str(item.code), list(item.code.location.parts), opened, _ordinal(valid)])
    return out


def _each(rule: Rule, rows: Sequence[Sequence[Any]], day: dt.date) -> list[Missing]:
    out = []
    states = "/".join(sorted(rule.needs_status)) if rule.needs_status else ""
    needs_status = sorted(rule.needs_status) if rule.needs_status else None
    for code, parts, opened_at, other in rows:
        opened = _day(opened_at) or day  # a record without `opened` is judged from the day itself
        if opened > day:
            continue
        location = Location(tuple(parts))
        if rule.needs_category:
            # since the set's record opened, or since the last needed record closed
            closed = _day(other)
            since = opened if closed is None else max(opened, closed)
            what = f"no {states + ' ' if states else ''}{rule.needs_category} record for {code}"
            out.append(Missing(rule, rule.needs_category, location, since, what, code,
                               extra={"needs_status": list(needs_status)} if needs_status else {}))
        else:
            valid = _day(other)
            if valid is not None and valid >= day:
                continue
            since = opened if valid is None else valid + dt.timedelta(days=1)
            what = (f"{code} has no {rule.needs_valid}" if valid is None
                    else f"{code}: {rule.needs_valid} {valid.isoformat()} has passed")
            out.append(Missing(rule, rule.category, location, since, what, code,
                               extra={"field": rule.needs_valid, "value": valid.isoformat() if valid else None}))
    return out


# --------------------------------------------------------------------------- every

def _every_parts(every: str) -> tuple[int, str]:
    match = _EVERY.fullmatch(every)
    assert match is not None
    return int(match.group(1)), match.group(2)


def period_index(day: dt.date, every: str) -> int:
    """The number of the calendar period of `every` (P1D, P2W, P1M, P3M, P1Y...) holding `day`."""
    count, unit = _every_parts(every)
    if unit == "D":
        return (day.toordinal() - 1) // count
    if unit == "W":
        return ((day.toordinal() - 1) // 7) // count  # 0001-01-01 was a Monday
    if unit == "M":
        return (day.year * 12 + day.month - 1) // count
    return day.year // count


def period_first(index: int, every: str) -> dt.date:
    """The first day of period number `index`."""
    count, unit = _every_parts(every)
    if unit == "D":
        return dt.date.fromordinal(index * count + 1)
    if unit == "W":
        return dt.date.fromordinal(index * count * 7 + 1)
    if unit == "M":
        year, month0 = divmod(index * count, 12)
        return dt.date(year, month0 + 1, 1)
    return dt.date(max(index * count, 1), 1, 1)


def period_start(day: dt.date, every: str) -> dt.date:
    """The first day of the calendar period of `every` holding `day`."""
    return period_first(period_index(day, every), every)


def _last_day(index: int, every: str) -> dt.date:
    return period_first(index + 1, every) - dt.timedelta(days=1)


def _units(rule: Rule, by_category: Mapping[str, list[Item]], tz: ZoneInfo
           ) -> list[tuple[Location, dt.date, dt.date | None, str | None]]:
    """(location, start, end, the path of the record that says so) of each unit the rule
    is judged per."""
    depth = _UNITS[rule.per]
    if depth == 0:
        starts = [d for items in by_category.values() for i in items if (d := to_day(i.tree.get("opened"), tz))]
        return [(Location(), min(starts), None, None)] if starts else []
    category, fields = _UNIT_START[depth]
    out = []
    for item in by_category.get(category, ()):
        if item.tree.get("status") in ("preparing",):
            continue
        start = next((d for f in fields if (d := to_day(item.tree.get(f), tz)) is not None), None)
        if start is None:
            continue
        end = to_day(item.tree.get("management_end") or item.tree.get("closed"), tz)
        if end is None and item.tree.get("status") in _UNIT_ENDED[depth]:
            continue  # ended, with no date to say when: judged nowhere
        out.append((item.code.location, start, end, item.code.path))
    return out


def _mark(rule: Rule, item: Item, tz: ZoneInfo) -> tuple[tuple[str, ...], int] | None:
    """(the unit's location parts, the period number) a record of a periodic rule marks."""
    assert rule.every is not None
    if item.code.category != rule.category or not matches(rule, item.tree):
        return None
    when = next((d for f in rule.date if (d := to_day(item.tree.get(f), tz)) is not None), None)
    if when is None:
        return None
    return item.code.location.parts[:_UNITS[rule.per]], period_index(when, rule.every)


def _every_prepare(rule: Rule, by_category: Mapping[str, list[Item]], tz: ZoneInfo) -> dict[str, Any]:
    """What a periodic rule reads, whatever the day: the periods each unit's records mark
    ("seen": [location parts, period numbers, how many records mark each]) and the units
    ("units": [location parts, start, end, the path of the record], days as ordinals or
    null, in the records' order)."""
    seen: dict[tuple[str, ...], dict[int, int]] = {}
    for item in by_category.get(rule.category, ()):
        if (marked := _mark(rule, item, tz)) is not None:
            marks = seen.setdefault(marked[0], {})
            marks[marked[1]] = marks.get(marked[1], 0) + 1
    return {"seen": [[list(parts), sorted(marks), [marks[m] for m in sorted(marks)]] for parts, marks in seen.items()],
            "units": [[list(location.parts), began.toordinal(), _ordinal(end), path]
                      for location, began, end, path in _units(rule, by_category, tz)]}


def _every(rule: Rule, ready: Mapping[str, Any], day: dt.date, start: dt.date | None) -> list[Missing]:
    """Periods as numbers: the records mark theirs, and the gaps between marks are the runs."""
    every = rule.every
    assert every is not None
    seen = {tuple(parts): marks for parts, marks, *_counts in ready["seen"]}
    out = []
    since = rule.since or start
    for parts, began_at, end_at, *_path in ready["units"]:
        began, end = dt.date.fromordinal(began_at), _day(end_at)
        begin = max(began, since) if since else began
        first = period_index(begin, every)
        if period_first(first, every) < begin:
            first += 1  # only whole periods are judged
        last = period_index(day, every)
        if end is not None:  # the unit ended: only the periods wholly before its end
            last = min(last, period_index(end, every) - (_last_day(period_index(end, every), every) > end))
        while last >= first and add_duration(_last_day(last, every), rule.grace) >= day:
            last -= 1
        if last < first:
            continue
        marks = sorted(i for i in seen.get(tuple(parts), ()) if first <= i <= last)
        previous = first - 1
        for mark in [*marks, last + 1]:
            if mark > previous + 1:
                out.append(_run(rule, Location(tuple(parts)), previous + 1, mark - 1))
            previous = mark
    return out


def _run(rule: Rule, location: Location, first: int, last: int) -> Missing:
    every = rule.every or "P1D"
    where = "-".join(location.parts) or "the company"
    count = last - first + 1
    since = period_first(first, every)
    what = (f"no {rule.category} record for the period of {since.isoformat()} ({every}) at {where}"
            if count == 1 else
            f"no {rule.category} record in {count} periods of {every} at {where}, "
            f"{since.isoformat()} to {_last_day(last, every).isoformat()}")
    return Missing(rule, rule.category, location, since, what, None, count, period_first(last, every),
                   extra={"until": _last_day(last, every).isoformat()})


def prepare(all_rules: Sequence[Rule], items: Iterable[Item], tz: ZoneInfo) -> list[Any]:
    """What the rules read of the records of one tree, one entry per rule, in a form that
    does not depend on the day judged (JSON's types): judge() answers any day from it, so a
    reader keeps it for its commit (services/gaps.py)."""
    by_category: dict[str, list[Item]] = {}
    for item in items:
        by_category.setdefault(item.code.category, []).append(item)
    return [_each_prepare(rule, by_category.get(rule.category, []), by_category, tz) if rule.kind == "each"
            else _every_prepare(rule, by_category, tz) for rule in all_rules]


def around(all_rules: Sequence[Rule], changed: Iterable[Code]) -> set[tuple[Location, str]]:
    """The (location, category) folders whose records follow() needs beside the changed
    ones: a rule of a set that needs a record at the same location reads every record of
    both categories there."""
    out: set[tuple[Location, str]] = set()
    codes = list(changed)
    for rule in all_rules:
        if rule.kind == "each" and rule.needs_category:
            both = (rule.category, rule.needs_category)
            for code in codes:
                if code.category in both:
                    out.update((code.location, category) for category in both)
    return out


def follow(all_rules: Sequence[Rule], prepared: Sequence[Any], before: Sequence[Item], after: Sequence[Item],
           near: Sequence[Item], tz: ZoneInfo) -> list[Any] | None:
    """prepare() of a tree from prepare() of an earlier one with the same rules, following
    the records that changed between them: `before` and `after` are the changed records as
    they were and are (one side absent for an added or a deleted one), `near` every record
    now in the folders around() names. None when a rule needs every record again (a
    company-wide periodic rule: its start is the earliest `opened` of all)."""
    if any(rule.kind == "every" and _UNITS[rule.per] == 0 for rule in all_rules):
        return None
    changed = {str(item.code) for item in (*before, *after)}
    out: list[Any] = []
    for rule, ready in zip(all_rules, prepared, strict=True):
        if rule.kind == "each" and rule.needs_category:
            both = (rule.category, rule.needs_category)
            touched = {item.code.location for item in (*before, *after) if item.code.category in both}
            by_category: dict[str, list[Item]] = {}
            for item in near:
                if item.code.location in touched and item.code.category in both:
                    by_category.setdefault(item.code.category, []).append(item)
            parts = {location.parts for location in touched}
            out.append([row for row in ready if tuple(row[1]) not in parts]
                       + _each_prepare(rule, by_category.get(rule.category, []), by_category, tz))
        elif rule.kind == "each":
            out.append([row for row in ready if row[0] not in changed]
                       + _each_prepare(rule, [i for i in after if i.code.category == rule.category], {}, tz))
        else:
            out.append(_every_follow(rule, ready, before, after, tz))
    return out


def _every_follow(rule: Rule, ready: Mapping[str, Any], before: Sequence[Item], after: Sequence[Item],
                  tz: ZoneInfo) -> dict[str, Any]:
    """A periodic rule's prepare() followed: each changed record's mark taken back and
    its new one counted; the units said by a changed record read again."""
    seen = {tuple(parts): dict(zip(marks, counts, strict=True)) for parts, marks, counts in ready["seen"]}
    for items, step in ((before, -1), (after, 1)):
        for item in items:
            if (marked := _mark(rule, item, tz)) is not None:
                marks = seen.setdefault(marked[0], {})
                marks[marked[1]] = marks.get(marked[1], 0) + step
                if not marks[marked[1]]:
                    del marks[marked[1]]
    category = _UNIT_START[_UNITS[rule.per]][0]
    paths = {item.code.path for item in (*before, *after) if item.code.category == category}
    units = [row for row in ready["units"] if row[3] not in paths]
    units += [[list(location.parts), began.toordinal(), _ordinal(end), path] for location, began, end, path
              in _units(rule, {category: [i for i in after if i.code.category == category]}, tz)]
    units.sort(key=lambda row: row[3].encode("utf-8", "surrogateescape"))
    return {"seen": [[list(parts), sorted(marks), [marks[m] for m in sorted(marks)]]
                     for parts, marks in seen.items() if marks],
            "units": units}


def judge(all_rules: Sequence[Rule], prepared: Sequence[Any], day: dt.date,
          start: dt.date | None = None) -> list[Missing]:
    """Every unmet rule as of `day`, from what prepare() read of a tree with the same rules.
    Periods before `start` (the vault's first day) are not judged unless a rule's `since`
    says otherwise: periodic records are expected from when the archive was kept in the vault."""
    out: list[Missing] = []
    for rule, ready in zip(all_rules, prepared, strict=True):
        out += _each(rule, ready, day) if rule.kind == "each" else _every(rule, ready, day, start)
    return out


def unmet(all_rules: Iterable[Rule], items: Iterable[Item], day: dt.date, tz: ZoneInfo,
          start: dt.date | None = None) -> list[Missing]:
    """Every unmet rule as of `day`, over the records of one tree (prepare, then judge)."""
    rules = list(all_rules)
    return judge(rules, prepare(rules, items, tz), day, start)


def categories_read(all_rules: Iterable[Rule]) -> set[str]:
    """The categories a set of rules reads."""
    out: set[str] = set()
    for rule in all_rules:
        out.add(rule.category)
        if rule.needs_category:
            out.add(rule.needs_category)
        if rule.kind == "every" and _UNITS[rule.per]:
            out.add(_UNIT_START[_UNITS[rule.per]][0])
    return out


def fields_read(all_rules: Iterable[Rule]) -> set[str]:
    """The record fields a set of rules reads (beyond status, opened and closed)."""
    out = {"management_start", "management_end", "handed_over"}
    for rule in all_rules:
        out.update(key for key, _ in rule.where)
        out.update(rule.date)
        if rule.needs_valid:
            out.add(rule.needs_valid)
    return out


def problems(config: Mapping[str, Any], categories: Sequence[str]) -> list[str]:
    """Cross-checks of the duty settings the schema cannot make (for DG114): every category
    named by `filing`, `expected` and `originals` is one the vault has."""
    known = set(categories)
    out = []
    filing = config.get("filing")
    for category in filing if isinstance(filing, Mapping) else ():
        if category not in known:
            out.append(Message("filing: unknown category {category}", category=repr(category)))
    for index, entry in enumerate(config.get("expected") or []):
        if not isinstance(entry, Mapping):
            continue
        needs = entry.get("needs") if isinstance(entry.get("needs"), Mapping) else {}
        for key, value in (("each", entry.get("each")), ("category", entry.get("category")),
                           ("needs.category", needs.get("category"))):
            if isinstance(value, str) and value not in known:
                out.append(Message("expected[{index}]: {key} names unknown category {value}", index=index, key=key, value=repr(value)))
    originals = config.get("originals")
    listed = originals.get("categories") if isinstance(originals, Mapping) else None
    for category in listed if isinstance(listed, list) else ():
        if category not in known:
            out.append(Message("originals: unknown category {category}", category=repr(category)))
    return out
