"""Counts and indicators of a vault as of a day (統計, plan §6.3; docs/stats.md).

`compute(vault, as_of)` reads the vault as it stood at the end of `as_of` — the tree of the
last commit on the first-parent chain at or before that moment, the same date -> commit
mapping as `dangan diff` — and judges every date against `as_of` in the vault's timezone.
Stats never decrypt: every figure comes from clear fields.

One pass: the tree is listed once (`git ls-tree`), and what was read of each blob before is
taken from `.git/dangan/cache/stats-fields.json` (services/blobcache.py: a blob never
changes, so what was read of it is never stale). Only the blobs not in it are read, through
`git cat-file --batch`: most records by `_fields`, the compiled reader of the few top-level
scalars a section needs (formats/fields.py, about forty times cheaper than a full parse);
loans, holds and any record it cannot read with certainty go through the full reader. The
cache holds what the sections see: a secret record without its hidden fields, a record read
whole without its `sops` block; nothing is decrypted, so no plaintext of a sensitive value
can be in it.

What no day changes is laid once per commit from that pass (`_lay`) and kept with the
answers (services/answers.py): the counts of records, each record's retention due day by
its rule, how many records each hold names, the indicators' filings and paper originals,
and the records of the few categories (DAILY) the sections of a day read again. Every run
judges its day from that groundwork, the first as the next (`_day`).

A section is one function `(Data) -> dict` and one line in SECTIONS.
"""
from __future__ import annotations

import datetime as dt
import functools
import gc
import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dangan.formats import fields as fieldreader
from dangan.formats.yamlio import tree_or_none
from dangan.git import gitio
from dangan.model import handover as handovers
from dangan.model.codes import Code, CodeError, parse_code, parse_location, path_to_code
from dangan.model.disposal import (
    HELD,
    ON_LOAN,
    OVERRIDE,
    Keepers,
    Rule,
    add_duration,
    assess,
    hold_active,
    schedule,
    to_day,
)
from dangan.model.loans import LendingRules
from dangan.services import answers, blobcache, indicators
from dangan.services.lending import row as loan_row
from dangan.store.forked import Forked
from dangan.store.vault import CONFIG, Vault

FORMAT = "dangan stats 1"
INSPECTION_WINDOW = 60  # days ahead for statutory inspections
RETENTION_WINDOW = 90  # days ahead for records due for destruction
CLOSING_WINDOW = 365  # days back for the mean time to close
AGE_BUCKETS = ((7, "0-7"), (30, "8-30"), (90, "31-90"), (None, "91+"))
OPEN_COMPLAINT = frozenset({"open", "in_progress"})
DONE_REPAIR = frozenset({"done", "closed"})
REPAIR_KINDS = frozenset({"01", "02"})  # '03' is scheduled upkeep, not a repair
FULL_READ = frozenset({"JY", "BQ", "YJ"})  # nested events and items: the full reader
COMMON = ("title", "level", "status", "opened", "closed", "retention")
WANTED = {
    "TS": ("kind", "received_at", "subject", "handler", "deadline"),
    "WX": ("kind", "target", "reported_at"),
    "SB": ("system", "inspection_expires", "install_location"),
}
COMPANY = "company"  # the `by_project` key of company-level records
CACHE = "stats-fields.json"
# how a record is read and kept (the readers below, `visible`, the sops block left out): a
# change of any of them must start the cache afresh, as must other fields asked
READER = "stats-fields 1"


# ------------------------------------------------------------------ reading

@dataclass
class Record:
    code: Code
    path: str
    fields: dict[str, Any]  # the top-level fields read (all of them for a full read)
    blob: str = ""  # its blob in the commit (the indicators read their own fields of it)


@dataclass
class Data:
    """What every section works from: the records of one commit, and the day."""

    vault: Vault
    as_of: dt.date
    commit: str | None
    committed: str | None
    records: list[Record] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    # records a handover (YJ, status handed_over) gave away but not yet removed: counted
    # apart, never as held (docs/stats.md)
    handed_over: list[Record] = field(default_factory=list)
    head: str | None = None  # today's commit: the inventory's flags are today's, as committed
    # what the day does not change, kept per commit (`_groundwork`): the sections of a day
    # read it and the records of DAILY categories
    ground: dict[str, Any] = field(default_factory=dict)

    def of(self, category: str) -> list[Record]:
        return [r for r in self.records if r.code.category == category]

    def day(self, value: Any) -> dt.date | None:
        return to_day(value, self.vault.tz)


_LS_TREE = re.compile(rb"[0-7]{6} blob ([0-9a-f]{40,64})\t([^\0]+)\0")
_RETENTION_BLOCK = re.compile(rb"^retention:$", re.M)  # an override: a nested block


def _fields(data: bytes, wanted: frozenset[str]) -> dict[str, Any] | None:
    """The wanted top-level scalars of a record text, or None when only a full parse is sure.

    In block YAML a line that starts in column 0 with `key:` is a top-level key: nested
    keys, literal blocks and the sops block are indented (formats.fields.read, compiled). A
    nested `retention:` block (an override) needs the full reader, as does any value the
    field reader is not sure of; that reader gives such a block as null, so it is looked
    for only when `retention` came back null (rarely: most records have none).
    """
    found = fieldreader.read(data, wanted)
    if found is not None and "retention" in found and found["retention"] is None \
            and _RETENTION_BLOCK.search(data) is not None:
        return None
    return found


def _wanted(vault: Vault, categories: set[str]) -> dict[str, frozenset[str]]:
    """category -> the top-level fields the sections read of its records."""
    rules = schedule(vault.config, vault.schemas.categories)
    wanted: dict[str, frozenset[str]] = {}
    for category in categories:
        after = rules[category].after if category in rules else "closed"
        wanted[category] = frozenset((*COMMON, after, *WANTED.get(category, ())))
    return wanted


def _code_of(path: str) -> Code | None:
    """The code of a record's path (the fast reader, else the one that says why), or None
    for a stray file."""
    code = fieldreader.code_of_path(path)
    if code is None:
        try:
            code = path_to_code(path)
        except CodeError:
            return None
    return code


def _reader(vault: Vault, more: set[str]) -> tuple[str, Callable[[str, bytes], dict[str, Any] | None]]:
    """(the stamp of the per-blob cache, how a record of a category is read) for a tree
    that holds the categories `more` beside those of the registry."""
    categories = vault.schemas.categories
    # every category of the registry, so that the stamp does not depend on the tree
    wanted = _wanted(vault, set(categories) | more)
    stamp = repr((READER, vault.schemas.fingerprint, sorted(FULL_READ),
                  sorted((c, sorted(names)) for c, names in wanted.items() if c in categories)))

    def read(category: str, content: bytes) -> dict[str, Any] | None:
        tree = None
        if category not in FULL_READ:
            try:
                tree = _fields(content, wanted[category])
            except UnicodeDecodeError:
                tree = None
        if tree is None:
            tree = tree_or_none(content)  # the full reader of `retention plan`
            if tree is not None:
                tree.pop("sops", None)  # the data key, sealed for each recipient: never read here
        if tree is not None and category in categories:  # a secret record's hidden fields:
            tree = categories[category].visible(tree)    # never in a report, nor in the cache
        return tree

    return stamp, read


def snapshot(vault: Vault, as_of: dt.date, found: Any = None) -> Data:
    """The records of the last commit at or before the end of `as_of` (vault timezone;
    `found`: that commit, `history.resolve`, when the caller has it).

    The collector is paused meanwhile: the 100,000 small dicts made here (read or loaded
    from the cache) would set off full collections that find nothing to free."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _snapshot(vault, as_of, found)
    finally:
        if paused:
            gc.enable()


def _snapshot(vault: Vault, as_of: dt.date, found: Any) -> Data:
    from dangan.services.history import resolve

    if found is None:
        found = resolve(vault, as_of.isoformat())
    data = Data(vault, as_of, found.commit, found.committed)
    if found.commit is None:
        return data
    raw = gitio.tree_text(vault.root, found.commit, vault.record_specs)
    listed = [(blob.decode(), name.decode("utf-8", "surrogateescape")) for blob, name in _LS_TREE.findall(raw)]
    entries: list[tuple[Code, str, str]] = []
    # the codes of the paths in one pass (formats.fields.codes_of_paths); a path it does not
    # take goes through the readers that always did
    for (blob, path), code in zip(listed, fieldreader.codes_of_paths([path for _, path in listed]), strict=True):
        if code is None and (code := _code_of(path)) is None:
            continue  # a stray file: `dangan check` reports it
        entries.append((code, path, blob))
    stamp, read = _reader(vault, {code.category for code, _, _ in entries})
    category_of = {blob: code.category for code, _, blob in entries}
    cached = blobcache.load(vault.root, CACHE, stamp)
    trees = {blob: cached[blob] for blob in category_of if blob in cached}
    todo = [blob for blob in category_of if blob not in trees]
    if todo:
        trees.update(gitio.read_blobs(vault.root, todo, lambda blob, content: read(category_of[blob], content)))
        blobcache.store(vault.root, CACHE, stamp, trees)
    # a YJ record is never secret (NEVER_SECRET): what `visible` left of it is all of it
    handed = handovers.handed_over_codes(trees[b] for c, _, b in entries if c.category == handovers.CATEGORY)
    for code, path, blob in entries:
        tree = trees[blob]
        if not isinstance(tree, dict):
            data.unreadable.append(path)
            continue
        (data.handed_over if handed and str(code) in handed else data.records).append(Record(code, path, tree, blob))
    return data


# ------------------------------------------------------------------ what the day does not change

GROUND = "stats-ground"  # the groundwork's name among the kept answers
GROUND_FORMAT = "dangan stats groundwork 2"
FOLLOWED = 2000  # more files changed since the groundwork kept: it is laid again
# the categories whose records the sections of a day read: complaints (TS), repairs (WX,
# SB), inspections (SB), loans (JY), holds and retention's keepers (BQ, JY), and the
# indicators' (indicators.DAILY)
DAILY = frozenset({"TS", "WX", "SB", "JY", "BQ"}) | indicators.DAILY


def _lay(full: Data) -> dict[str, Any]:
    """The groundwork of `full`'s commit, from every record of it: the counts of records
    (no day changes them), the records of DAILY categories as [path, fields, the indicators'
    digest or null], the retention rows (`_retention_rows`), how many records each hold
    names, and the indicators' own (indicators.groundwork)."""
    ground = indicators.groundwork(full)
    digests = ground.pop("digests")
    return {
        "format": GROUND_FORMAT,
        "commit": full.commit,
        "records": _counts(full),
        "daily": [[r.path, r.fields, digests.get(r.path)] for r in full.records if r.code.category in DAILY],
        "retention": _retention_rows(full),
        "coverage": {r.path: _coverage([t for t in r.fields.get("targets") or [] if isinstance(t, str)], full)
                     for r in full.of("BQ")},
        "indicators": ground,
    }


def _groundwork(vault: Vault, as_of: dt.date, found: Any) -> dict[str, Any]:
    """The groundwork of `found.commit`, kept with the answers (services/answers.py, no day
    in its key), or followed from that of an earlier commit (`_follow`), or laid from every
    record of the commit; kept."""
    if found.commit is None:
        return _lay(snapshot(vault, as_of, found))
    # given back as JSON reads it, as a kept one is: the first run shows what the next will
    return answers.groundwork(vault, GROUND, found.commit, GROUND_FORMAT, lambda: _lay(snapshot(vault, as_of, found)),
                              follow=lambda before: _follow(vault, as_of, before, found))


def _follow(vault: Vault, as_of: dt.date, before: dict[str, Any], found: Any) -> dict[str, Any] | None:
    """The groundwork of `found.commit` from `before`, that of another commit sharing its
    history (an ancestor, or beside it: gaps.added_since), following the records changed
    between them (`git diff-tree`; a record added in between with the same content counts
    as changed: its filing day may differ):
    the groundwork's parts of those records as they were taken out and as they are put in
    (the counts, the records of DAILY categories, the retention rows, how many records each
    hold names, the indicators'), each part made by the code that lays it, from those
    records alone. None, to lay it from every record, when vault.yaml, a handover (YJ), a
    hold (BQ: what it names is counted over every record) or a project (XM: its name), the
    vault's first day or more than FOLLOWED files changed."""
    from dangan.rules.changes import commit_changes, handed_over_on
    from dangan.services.gaps import _config_at, _first_day, _listed, _log_adds, _tz, added_since

    root, commit, since = vault.root, found.commit, before.get("commit")
    specs = tuple(vault.record_specs)
    added = added_since(root, since, commit, specs) if isinstance(since, str) else None
    if added is None:  # (an ancestor, or a commit beside it: an amended commit, a rebase)
        return None
    changes = commit_changes(root, since, commit, also=(CONFIG,))
    if len(changes) > FOLLOWED or any(c.path == CONFIG for c in changes):
        return None
    sides = {c.path: (c.old, c.new) for c in changes if c.path.startswith(specs)}
    readded = [path for path in added if path not in sides]
    if len(sides) + len(readded) > FOLLOWED:
        return None
    if readded:
        listing = gitio.run(["--literal-pathspecs", "ls-tree", "-z", commit, "--", *readded], root).stdout
        sides.update({path: (blob, blob) for blob, path in _listed(listing)})
    codes: dict[str, Code] = {}
    for path in sides:
        if (code := _code_of(path)) is None:
            continue  # a stray file: not in the snapshot
        if (code.category in ("BQ", handovers.CATEGORY)
                or (code.category == "XM" and len(code.location.parts) == 1)):
            return None
        codes[path] = code
    config = _config_at(vault, commit)
    tz = _tz(vault, config)
    start = _first_day(root, commit, tz)
    if before["indicators"].get("start") != start.isoformat():
        return None
    texts = dict(gitio.cat_blobs(root, {blob for path in codes for blob in sides[path] if blob}))
    _, read = _reader(vault, {code.category for code in codes.values()})
    handed = handed_over_on(root, commit)

    def side(index: int) -> tuple[Data, dict[str, dict[str, Any]]]:
        """The changed records as they were (0) or are (1), and their indicators' digests."""
        data = Data(vault, as_of, commit, found.committed)
        for path, code in codes.items():
            if (blob := sides[path][index]) is None:
                continue
            tree = read(code.category, texts[blob])
            if not isinstance(tree, dict):
                data.unreadable.append(path)
                continue
            (data.handed_over if str(code) in handed else data.records).append(Record(code, path, tree, blob))
        return data, indicators.digests(vault, config, [(r.code, r.path, texts[r.blob]) for r in data.records])

    (was, was_digests), (now, now_digests) = side(0), side(1)
    daily = [row for row in before["daily"] if row[0] not in sides]
    daily += answers.jsonable([[r.path, r.fields, now_digests.get(r.path) if r.code.category in indicators.DAILY
                                else None] for r in now.records if r.code.category in DAILY])
    daily.sort(key=lambda row: row[0].encode("utf-8", "surrogateescape"))  # the listing's order
    gone = {str(code) for code in codes.values()}
    retention = [row for row in before["retention"] if row[1] not in gone] + answers.jsonable(_retention_rows(now))
    retention.sort(key=lambda row: row[0])  # soonest first (within a day: any order, the plan sorts)
    fields_of = {row[0]: row[1] for row in daily}
    coverage = {}
    for path, count in before["coverage"].items():
        if path not in fields_of:
            return None  # not the groundwork this code lays: laid again
        targets = [t for t in fields_of[path].get("targets") or [] if isinstance(t, str)]
        coverage[path] = count + _coverage(targets, now) - _coverage(targets, was)
    filed = _log_adds(root, [commit], tuple(sorted(now_digests))) if now_digests else {}
    return {
        "format": GROUND_FORMAT,
        "commit": commit,
        "records": _follow_counts(vault, before["records"], _counts(was), _counts(now), set(sides)),
        "daily": daily,
        "retention": retention,
        "coverage": coverage,
        "indicators": indicators.follow(
            before["indicators"], config, tz, set(sides),
            [(r.code, r.path, was_digests[r.path]) for r in was.records if r.path in was_digests],
            [(r.code, r.path, now_digests[r.path]) for r in now.records if r.path in now_digests], filed),
    }


def _follow_counts(vault: Vault, kept: dict[str, Any], was: dict[str, Any], now: dict[str, Any],
                   paths: set[str]) -> dict[str, Any]:
    """The `records` section (`_counts`) less the changed records as they were (`was`: their
    own counts) and with them as they are (`now`); a count that falls to 0 is left out as a
    fresh count leaves it out, but for the registry's categories and classes."""

    def shifted(counts: dict[str, int], plus: dict[str, int], minus: dict[str, int]) -> dict[str, int]:
        counts = dict(counts)
        for name, count in plus.items():
            counts[name] = counts.get(name, 0) + count
        for name, count in minus.items():
            counts[name] = counts.get(name, 0) - count
        return counts

    def moved(key: str, known: Any = ()) -> dict[str, int]:
        counts = shifted(kept[key], now[key], was[key])
        return {name: count for name, count in counts.items() if count or name in known}

    statuses = {}
    for category in sorted(set(kept["by_status"]) | set(now["by_status"])):
        counts = shifted(kept["by_status"].get(category, {}), now["by_status"].get(category, {}),
                         was["by_status"].get(category, {}))
        if any(counts.values()):
            statuses[category] = {name: count for name, count in sorted(counts.items()) if count}
    unreadable = sorted({path for path in kept["unreadable"] if path not in paths} | set(now["unreadable"]))
    return {**kept,
            "total": kept["total"] + now["total"] - was["total"],
            "by_category": moved("by_category", vault.schemas.categories),
            "by_class": moved("by_class", vault.schemas.classes),
            "by_project": dict(sorted(moved("by_project").items())),
            "by_status": statuses,
            "unreadable": unreadable,
            "handed_over": kept["handed_over"] + now["handed_over"] - was["handed_over"],
            "handed_over_by_project": dict(sorted(moved("handed_over_by_project").items()))}


def _day(vault: Vault, as_of: dt.date, found: Any) -> Data:
    """What the sections of `as_of` read: the groundwork of the day's commit, and its records
    of DAILY categories (in the listing's order)."""
    ground = _groundwork(vault, as_of, found)
    paused = gc.isenabled()
    gc.disable()  # as snapshot(): many small dicts, no cycle
    try:
        data = Data(vault, as_of, found.commit, found.committed, ground=ground)
        daily = ground["daily"]
        paths = [path for path, _, _ in daily]
        digests = {}
        for (path, fields, digest), code in zip(daily, fieldreader.codes_of_paths(paths), strict=True):
            if code is None:  # as snapshot() found it
                code = fieldreader.code_of_path(path) or path_to_code(path)
            data.records.append(Record(code, path, fields))
            if digest is not None:
                digests[path] = digest
        indicators.from_groundwork(data, digests)
    finally:
        if paused:
            gc.enable()
    return data


# ------------------------------------------------------------------ helpers

def _mean(values: list[int]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _bucket(age: int) -> str:
    for limit, label in AGE_BUCKETS:
        if limit is None or age <= limit:
            return label
    return AGE_BUCKETS[-1][1]


def _closing(data: Data, items: list[tuple[dt.date, dt.date]]) -> dict[str, Any]:
    """Time to close over (start day, closed day) pairs: last 365 days, and by month."""
    first = data.as_of - dt.timedelta(days=CLOSING_WINDOW - 1)
    recent = [(closed - start).days for start, closed in items if first <= closed <= data.as_of]
    months = {m: [] for m in indicators.last_months(data.as_of)}
    for start, closed in items:
        key = f"{closed.year:04d}-{closed.month:02d}"
        if key in months and closed <= data.as_of:
            months[key].append((closed - start).days)
    return {
        "closed_last_365_days": len(recent),
        "mean_days_to_close": _mean(recent),
        "median_days_to_close": _median(recent),
        "by_month": {m: {"closed": len(v), "mean_days_to_close": _mean(v)} for m, v in months.items()},
    }


def _title(record: Record) -> str:
    title = record.fields.get("title")
    return title if isinstance(title, str) and title else str(record.code)


# ------------------------------------------------------------------ sections

def records_section(data: Data) -> dict[str, Any]:
    """Records per category, content class, project and status (no day changes them: kept
    with the groundwork)."""
    return data.ground["records"]


def _counts(data: Data) -> dict[str, Any]:
    """Records per category, content class, project and status, of every record."""
    categories = data.vault.schemas.categories
    by_category = Counter(dict.fromkeys(categories, 0))
    by_class = Counter(dict.fromkeys(data.vault.schemas.classes, 0))
    by_project: Counter[str] = Counter()
    by_status: dict[str, Counter[str]] = {}
    projects: dict[str, str] = {}
    # counted by (category, project, status) in one pass of C (Counter over a generator),
    # in the order the records first show each: every count below is a sum of these
    keyed = Counter((r.code.category, r.code.location.parts[0] if r.code.location.parts else COMPANY,
                     str(r.fields.get("status"))) for r in data.records)
    for (category, project, status), count in keyed.items():
        by_category[category] += count
        by_class[categories[category].klass if category in categories else "unknown"] += count
        by_project[project] += count
        by_status.setdefault(category, Counter())[status] += count
    for record in data.records:
        code = record.code
        if code.category == "XM" and len(code.location.parts) == 1:
            projects.setdefault(code.location.parts[0], _title(record))
    return {
        "total": len(data.records),
        "by_category": dict(by_category),
        "by_class": dict(by_class),
        "class_names": {k: str(v.get("zh", "")) for k, v in sorted(data.vault.schemas.classes.items())
                        if isinstance(v, dict)},
        "by_project": dict(sorted(by_project.items())),
        "project_names": dict(sorted(projects.items())),
        "by_status": {c: dict(sorted(s.items())) for c, s in sorted(by_status.items())},
        "unreadable": sorted(data.unreadable),
        "handed_over": len(data.handed_over),
        "handed_over_by_project": dict(sorted(Counter(
            r.code.location.parts[0] if r.code.location.parts else COMPANY for r in data.handed_over).items())),
    }


def complaints_section(data: Data) -> dict[str, Any]:
    """Complaints (TS kind complaint): open ones and their age, time to close."""
    received = 0
    open_list: list[dict[str, Any]] = []
    closed: list[tuple[dt.date, dt.date]] = []
    for record in data.of("TS"):
        f = record.fields
        start = data.day(f.get("received_at")) or data.day(f.get("opened"))
        if f.get("kind") != "complaint" or start is None or start > data.as_of:
            continue
        received += 1
        end = data.day(f.get("closed"))
        if end is not None and end >= start:
            closed.append((start, end))
        if f.get("status") in OPEN_COMPLAINT:
            deadline = data.day(f.get("deadline"))
            open_list.append({
                "code": str(record.code), "title": _title(record), "received": start.isoformat(),
                "age_days": (data.as_of - start).days, "status": f.get("status"),
                "subject": f.get("subject"), "handler": f.get("handler"),
                "deadline": deadline.isoformat() if deadline else None,
                "past_deadline": deadline is not None and deadline < data.as_of,
            })
    open_list.sort(key=lambda item: (-item["age_days"], item["code"]))
    ages = [item["age_days"] for item in open_list]
    by_age = Counter({label: 0 for _, label in AGE_BUCKETS})
    by_age.update(_bucket(age) for age in ages)
    return {
        "received": received,
        "open": len(open_list),
        "open_age_days": {"mean": _mean(ages), "median": _median(ages), "max": max(ages) if ages else None},
        "open_by_age": dict(by_age),
        "open_list": open_list,
        **_closing(data, closed),
    }


def repairs_section(data: Data) -> dict[str, Any]:
    """Repair jobs (WX kinds 01, 02): per equipment, per system, open, time to close."""
    equipment = {str(r.code): r for r in data.of("SB")}
    by_kind: Counter[str] = Counter()
    per_equipment: Counter[str] = Counter()
    per_system: Counter[str] = Counter()
    repairs = still_open = 0
    closed: list[tuple[dt.date, dt.date]] = []
    for record in data.of("WX"):
        f = record.fields
        start = data.day(f.get("reported_at")) or data.day(f.get("opened"))
        if start is None or start > data.as_of:
            continue
        by_kind[str(f.get("kind"))] += 1
        if str(f.get("kind")) not in REPAIR_KINDS:
            continue
        repairs += 1
        if f.get("status") not in DONE_REPAIR:
            still_open += 1
        end = data.day(f.get("closed"))
        if end is not None and end >= start:
            closed.append((start, end))
        target = f.get("target")
        if isinstance(target, str) and target in equipment:
            per_equipment[target] += 1
            per_system[str(equipment[target].fields.get("system"))] += 1
        else:
            per_system["no equipment"] += 1
    return {
        "jobs_by_kind": dict(sorted(by_kind.items())),
        "repairs": repairs,
        "open": still_open,
        **_closing(data, closed),
        "per_system": dict(sorted(per_system.items(), key=lambda kv: (-kv[1], kv[0]))),
        "per_equipment": [
            {"code": code, "title": _title(equipment[code]), "system": equipment[code].fields.get("system"),
             "repairs": n}
            for code, n in sorted(per_equipment.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


def inspections_section(data: Data) -> dict[str, Any]:
    """Equipment in use whose statutory inspection expires within 60 days (or has expired)."""
    horizon = data.as_of + dt.timedelta(days=INSPECTION_WINDOW)
    listed = []
    for record in data.of("SB"):
        f = record.fields
        expires = data.day(f.get("inspection_expires"))
        ended = data.day(f.get("closed"))
        if expires is None or expires > horizon or f.get("status") == "decommissioned":
            continue
        if ended is not None and ended <= data.as_of:
            continue
        listed.append({
            "code": str(record.code), "title": _title(record), "system": f.get("system"),
            "location": f.get("install_location"), "expires": expires.isoformat(),
            "days_left": (expires - data.as_of).days,
        })
    listed.sort(key=lambda item: (item["expires"], item["code"]))
    return {
        "window_days": INSPECTION_WINDOW,
        "until": horizon.isoformat(),
        "expired": sum(1 for item in listed if item["days_left"] < 0),
        "expiring": sum(1 for item in listed if item["days_left"] >= 0),
        "list": listed,
    }


def _loan_rows(data: Data) -> list[Any]:
    rules = LendingRules.from_config(data.vault.config)
    rows = (loan_row(r.path, r.fields, rules, data.as_of) for r in data.of("JY"))
    return [item for item in rows if item is not None]


def loans_section(data: Data) -> dict[str, Any]:
    """Loans by state as of the day (the replay of `dangan lend ls`), overdue ones listed."""
    rows = _loan_rows(data)
    # views and copies are `viewed` and `copied`, never out or overdue: counted apart
    counts = {s: sum(1 for r in rows if r.status == s)
              for s in ("requested", "approved", "out", "closed", "rejected", "viewed", "copied")}
    counts["overdue"] = sum(1 for r in rows if r.overdue)
    counts["damaged"] = sum(1 for r in rows if r.condition == "damaged")
    counts["lost"] = sum(1 for r in rows if r.condition == "lost")
    overdue = [
        {"code": r.code, "borrower": r.borrower, "department": r.department, "due": r.due,
         "days_overdue": r.days_overdue, "records": r.records}
        for r in rows if r.overdue
    ]
    overdue.sort(key=lambda item: (-item["days_overdue"], item["code"]))
    return {**counts, "overdue_list": overdue}


def _until(tree: dict[str, Any], moment: dt.datetime, tz: Any) -> dict[str, Any]:
    """A hold with only its events at or before `moment`."""
    events = []
    for event in tree.get("events") or []:
        if not isinstance(event, dict):
            continue
        try:
            at = dt.datetime.fromisoformat(str(event.get("at")))
        except ValueError:
            continue
        if (at if at.tzinfo else at.replace(tzinfo=tz)) <= moment:
            events.append(event)
    return {**tree, "events": events}


def _active_holds(data: Data) -> list[tuple[Record, dict[str, Any]]]:
    tz = data.vault.tz
    moment = dt.datetime.combine(data.as_of, dt.time.max).replace(tzinfo=tz)
    found = []
    for record in data.of("BQ"):
        tree = _until(record.fields, moment, tz)
        if tree["events"] and hold_active(tree):
            found.append((record, tree))
    return found


def _retention_rows(data: Data) -> list[list[Any]]:
    """[the day it is due by its rule (ordinal), code, trigger, `retention.until` or null] of
    every record that is not permanent and has a trigger day, soonest first (the listing's
    order within a day): a day's plan assesses those due by its horizon, and no other can be
    listed or kept for a reason (assess: a record not due by its rule is `later`)."""
    rules = schedule(data.vault.config, data.vault.schemas.categories)
    tz = data.vault.tz
    days: dict[tuple[str, str], dt.date | None] = {}  # (trigger text, keep) -> the rule's day
    rows = []
    for record in data.records:
        rule = rules.get(record.code.category, Rule("permanent", source="none"))
        if rule.permanent:
            continue
        trigger = record.fields.get(rule.after)
        if not isinstance(trigger, str):  # no trigger day (to_day): an open record
            continue
        if (trigger, rule.keep) not in days:
            day = to_day(trigger, tz)
            days[trigger, rule.keep] = None if day is None else add_duration(day, rule.keep)
        rule_due = days[trigger, rule.keep]
        if rule_due is None:
            continue
        override = record.fields.get("retention")
        until = override.get("until") if isinstance(override, dict) else None
        rows.append([rule_due.toordinal(), str(record.code), trigger, until if isinstance(until, str) else None])
    rows.sort(key=lambda row: row[0])
    return rows


def retention_section(data: Data) -> dict[str, Any]:
    """Records due for destruction by the end of as-of + 90 days (`retention plan` rules)."""
    horizon = data.as_of + dt.timedelta(days=RETENTION_WINDOW)
    rules = schedule(data.vault.config, data.vault.schemas.categories)
    out = [{"code": r.code, "status": "out", "records": r.records} for r in _loan_rows(data) if r.status == "out"]
    keepers = Keepers.from_trees([tree for _, tree in _active_holds(data)], out)
    listed = []
    kept: Counter[str] = Counter()
    limit = horizon.toordinal()
    for due_at, code_text, trigger, until in data.ground["retention"]:
        if due_at > limit:
            break  # soonest first: the rest are later
        code = parse_code(code_text)
        rule = rules[code.category]
        tree = {rule.after: trigger} if until is None else {rule.after: trigger, "retention": {"until": until}}
        found = assess(code, tree, rule, horizon, data.vault.tz, keepers)
        if found.is_due and found.due is not None:
            listed.append({"code": str(code), "category": code.category,
                           "due": found.due.isoformat(), "action": rule.action,
                           "overdue": found.due <= data.as_of})
        else:
            kept.update(reason for reason in found.reasons if reason in (HELD, ON_LOAN, OVERRIDE))
    listed.sort(key=lambda item: (item["due"], item["code"]))
    by_category = Counter(item["category"] for item in listed)
    return {
        "window_days": RETENTION_WINDOW,
        "until": horizon.isoformat(),
        "due": len(listed),
        "due_already": sum(1 for item in listed if item["overdue"]),
        "by_category": dict(sorted(by_category.items())),
        "by_action": dict(sorted(Counter(item["action"] for item in listed).items())),
        "kept": {reason: kept[reason] for reason in (HELD, ON_LOAN, OVERRIDE)},
        "list": listed,
    }


def _coverage(targets: list[str], data: Data) -> int:
    """How many records of the snapshot a hold's targets name (codes, prefixes, categories)."""
    categories, codes, prefixes = set(), set(), []
    for target in targets:
        if re.fullmatch(r"[A-Z]{2}", target):
            categories.add(target)
            continue
        try:
            codes.add(parse_code(target))
            continue
        except CodeError:
            pass
        try:
            prefix = parse_location(target)
        except CodeError:
            continue
        if prefix.parts:
            prefixes.append(prefix.parts)
    return sum(
        1 for r in data.records
        if r.code.category in categories or r.code in codes
        or any(r.code.location.parts[: len(p)] == p for p in prefixes)
    )


def holds_section(data: Data) -> dict[str, Any]:
    """Legal holds (BQ) active at the end of the day."""
    listed = []
    for record, tree in _active_holds(data):
        targets = [t for t in tree.get("targets") or [] if isinstance(t, str)]
        listed.append({
            "code": str(record.code), "title": _title(record), "since": str(data.day(tree["events"][0].get("at"))),
            "targets": targets, "case": tree.get("case"), "authority": tree.get("authority"),
            "records": data.ground["coverage"][record.path],
        })
    return {"active": len(listed), "list": listed}


def inventory_section(data: Data) -> list[dict[str, Any]]:
    """Per archive room: last inventory and open discrepancies (dangan.services.inventory):
    the flags of the records of HEAD, today's as committed (docs/stats.md)."""
    from dangan.services import inventory

    return inventory.room_summary(data.vault, data.as_of, data.head)


Section = Callable[[Data], Any]
def due_section(data: Data) -> dict[str, Any] | None:
    """Obligations overdue on the day or falling due within 30 days (`dangan due`,
    docs/duties.md), by department; the earliest 100 listed."""
    from dangan.services import due

    doc = due.compute(data.vault, data.as_of)
    by_department: dict[str, dict[str, Any]] = {}
    for item in doc["obligations"]:
        entry = by_department.setdefault(item["department"], {"department": item["department"],
                                                              "responsible": item.get("responsible"),
                                                              "overdue": 0, "upcoming": 0})
        entry["overdue" if item["state"] == "overdue" else "upcoming"] += 1
    return {"within": doc["within"], "until": doc["until"], "overdue": doc["overdue"], "upcoming": doc["upcoming"],
            "by_department": sorted(by_department.values(), key=lambda e: (-e["overdue"], e["department"])),
            "list": doc["obligations"][:100]}


def gaps_section(data: Data) -> dict[str, Any] | None:
    """Late filings, missing expected records and paper originals not received on the day
    (`dangan gaps`, docs/duties.md), by department; the first 100 listed."""
    from dangan.services import gaps

    doc = gaps.compute(data.vault, data.as_of, keep=False)
    return {"counts": doc["counts"], "by_department": doc["departments"], "list": doc["gaps"][:100]}


SECTIONS: list[tuple[str, Section]] = [
    ("records", records_section),
    ("complaints", complaints_section),
    ("repairs", repairs_section),
    ("inspections", inspections_section),
    ("loans", loans_section),
    ("retention", retention_section),
    ("holds", holds_section),
    ("inventory", inventory_section),
    ("due", due_section),
    ("gaps", gaps_section),
    ("satisfaction", indicators.satisfaction_section),
    ("efficiency", indicators.efficiency_section),
    ("archive", indicators.archive_section),
]


def compute(vault: Vault, as_of: dt.date | None = None,
            on_step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The `dangan stats --json` document (docs/stats.md); a section that gives None is left out.
    `on_step(name)` is told of each step before it runs ("reading", then each section).

    The document about a commit, a day and HEAD (the inventory's flags are HEAD's) is kept
    (services/answers.py): asked again, it is read back."""
    from dangan.services.history import resolve

    day = as_of or vault.today()
    if on_step is not None:
        on_step("reading")
    found = resolve(vault, day.isoformat())
    head = gitio.head(vault.root)  # None before the first commit: the work tree's flags
    kept_as = answers.key(vault, "stats", found.commit, day, head=head) if found.commit is not None else None
    kept = answers.load(vault, "stats", kept_as) if kept_as is not None else None
    if isinstance(kept, dict) and kept.get("stats") == FORMAT:
        return kept
    # `gaps` judges on the other core meanwhile (store/forked.py), from the start: its
    # answer, kept by it once it has sent the section, is the longest of the sections; only
    # the section comes back through the pipe
    gaps_child = Forked(functools.partial(gaps_section, Data(vault, day, found.commit, found.committed)))
    try:
        data = _day(vault, day, found)
    except BaseException:
        gaps_child.join(work=False)
        raise
    data.head = head
    doc: dict[str, Any] = {
        "stats": FORMAT,
        "vault": {"id": str(vault.config.get("id", "")), "name": str(vault.config.get("name", ""))},
        "as_of": day.isoformat(),
        "timezone": str(vault.tz),
        "commit": data.commit,
        "committed": data.committed,
    }
    with gaps_child:
        for name, section in SECTIONS:
            if on_step is not None:
                on_step(name)
            value = gaps_child.result() if section is gaps_section else section(data)
            if value is not None:
                doc[name] = value
    return answers.store(vault, "stats", kept_as, doc) if kept_as is not None else doc
