"""The indicators of plan §6.3 (統計指標體系: 工作效率、客戶滿意度、設備設施運行情況) that
`stats` adds to its counts: customer satisfaction, work efficiency (days to close per handler
and department) and the archive's own work (docs/stats.md "Indicators").

Three sections of `dangan.services.stats` (`satisfaction`, `efficiency`, `archive`). They
share one reading of the as-of commit, `_snapshot`, made once per stats run: every record's
few fields they need, the custody of a paper original, whether it has attachments, and the
results of the inventories (PD) as counts. It reads like `gaps.snapshot` — the fast field
reader of formats/fields.py, what was read kept per blob id (services/blobcache.py), the
first-commit days of gaps — because reading 100,000 records in full would take a minute.
Loans come from the stats snapshot, which reads JY in full already. Never decrypts.
"""
from __future__ import annotations

import datetime as dt
import gc
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dangan.formats import fields as fieldreader
from dangan.formats.yamlio import tree_or_none
from dangan.git import gitio
from dangan.model import departments as deps
from dangan.model import filing
from dangan.model.codes import Code
from dangan.model.disposal import add_duration, to_day
from dangan.model.loans import LendingRules, replay
from dangan.services import blobcache
from dangan.services.gaps import _config_at, _tz, first_commits

WINDOW = 365  # days back, ending on the as-of day, for the rates and times to close
SCORES = (1, 2, 3, 4, 5)
PAPER = frozenset({"paper", "both"})
DISCREPANT = ("missing", "damaged", "misplaced")  # an inventory result other than found
REPAIR_KINDS = frozenset({"01", "02"})  # as stats: '03' is scheduled upkeep, not a repair
COMPANY = "company"  # the project of company-level records, as stats' `by_project`
CACHE = "indicators-fields.json"
# what is read of each category besides its filing rule's dates (and custody, attachments)
READ: dict[str, frozenset[str]] = {
    "TS": frozenset({"closed", "opened", "satisfaction", "subject", "handler", "received_at", "resolved_at"}),
    "WX": frozenset({"closed", "opened", "satisfaction", "kind", "trade", "assignee", "reported_at", "finished"}),
    "PD": frozenset({"status", "counted_at"}),
    # MY 滿意度調查: a survey's overall score (0-100, 百分制) and valid answers
    "MY": frozenset({"status", "closed", "overall", "sample", "period_end"}),
}
NESTED: dict[str, frozenset[str]] = {"TS": frozenset({"return_visit"})}
FULL = frozenset({"PD"})  # results are a list of mappings: the full reader
_ATTACHMENTS = re.compile(rb"^attachments:(.*)\n?", re.M)


# ------------------------------------------------------------------ reading

@dataclass
class Snap:
    config: dict[str, Any]
    tz: Any
    start: dt.date | None  # the vault's first day (filing deadlines before it are not judged)
    records: list[tuple[Code, str, dict[str, Any]]] = field(default_factory=list)
    filed: dict[str, int] = field(default_factory=dict)


def _attached(content: bytes) -> bool | None:
    """Whether the record lists attachments; None when only the full reader is sure. The
    canonical text writes a non-empty list as a block (`attachments:` then `  - file: …`)."""
    found = _ATTACHMENTS.search(content)
    if found is None:
        return False
    rest = found.group(1)
    if rest == b"":
        return content.startswith(b"  -", found.end())
    return False if rest == b" []" else None


def _digest(category: str, tree: dict[str, Any], attached: bool) -> dict[str, Any]:
    """What the indicators keep of a record (and the cache stores: 100,000 of these are
    loaded on every run, so only what is there): the fields read that have a value, the
    custody of a paper original as its form and whether it names a room, the attachments
    as a flag, a PD's results as counts."""
    out = {k: v for k, v in tree.items() if v is not None and k not in ("custody", "results", "attachments")}
    custody = tree.get("custody")
    if isinstance(custody, dict) and custody.get("form") in PAPER:
        room = custody.get("room")
        out["paper"] = {"form": custody["form"], "room": isinstance(room, str) and bool(room.strip())}
    if attached:
        out["attachments"] = True
    if category in FULL:
        counts: Counter[str] = Counter(item["result"] for item in tree.get("results") or []
                                       if isinstance(item, dict) and isinstance(item.get("result"), str))
        out["results"] = dict(counts)
    return out


def _read(category: str, content: bytes, want: frozenset[str], nested: frozenset[str]) -> dict[str, Any] | None:
    """The digest of one record: the wanted fields and mappings (the fast reader when it is
    sure, else the full one)."""
    if category not in FULL:
        try:
            tree = fieldreader.read(content, want, nested)
            attached = _attached(content) if tree is not None else None
        except UnicodeDecodeError:
            tree = attached = None
        if tree is not None and attached is not None:
            return _digest(category, tree, attached)
    full = tree_or_none(content)
    if not isinstance(full, dict):
        return None
    kept = {k: v for k, v in full.items() if k in want or k in nested or (category in FULL and k == "results")}
    return _digest(category, kept, bool(full.get("attachments")))


def _snapshot(data: Any) -> Snap:
    """The records of the stats snapshot's commit, with what the indicators read (once per run).

    The collector is paused meanwhile: the 100,000 small dicts loaded here set off full
    collections that walk the stats snapshot already in memory (0.7 s of 1.7 s on the large
    demo), and nothing made here holds a cycle for it to find."""
    done = getattr(data, "_indicators", None)
    if done is not None:
        return done
    paused = gc.isenabled()
    gc.disable()
    try:
        data._indicators = _read_snapshot(data)
    finally:
        if paused:
            gc.enable()
    return data._indicators


def _read_snapshot(data: Any) -> Snap:
    vault = data.vault
    snap = Snap(dict(vault.config), vault.tz, None)
    if data.commit is not None:
        snap.config = _config_at(vault, data.commit)  # the filing rules and departments then in force
        snap.tz = _tz(vault, snap.config)
        times = gitio.out(["log", "--max-parents=0", "--format=%ct", data.commit], vault.root).split()
        snap.start = dt.datetime.fromtimestamp(min(int(t) for t in times), snap.tz).date()
        snap.filed = first_commits(vault.root, data.commit, tuple(vault.record_specs))
        want, nested = _wants(vault, snap.config)
        stamp = repr(sorted((c, sorted(want[c]), sorted(nested[c])) for c in want))
        # the records and blobs are the stats snapshot's, in the order of its listing (records
        # it could not read are left out here too)
        entries = [(record.code, record.path, record.blob) for record in data.records
                   if record.code.category in want]
        category = {blob: code.category for code, _, blob in entries}
        cached = blobcache.load(vault.root, CACHE, stamp)
        trees = {blob: cached[blob] for blob in category if blob in cached}
        todo = [blob for blob in category if blob not in trees]
        if todo:
            trees.update(gitio.read_blobs(vault.root, todo, lambda b, content: _read(
                category[b], content, want[category[b]], nested[category[b]])))
            blobcache.store(vault.root, CACHE, stamp, trees)
        cats = vault.schemas.categories  # a secret record's hidden fields: never in a report
        snap.records = [(code, path, cats[code.category].visible(trees[blob]))
                        for code, path, blob in entries if isinstance(trees.get(blob), dict)]
    return snap


def _wants(vault: Any, config: dict[str, Any]) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """category -> the top-level fields, and the mappings, the indicators read of its records."""
    rules = filing.deadlines(config)
    want: dict[str, frozenset[str]] = {}
    nested: dict[str, frozenset[str]] = {}
    for category in vault.schemas.categories:
        after = rules[category].after if category in rules else ()
        want[category] = READ.get(category, frozenset()) | {n for n in after if "." not in n} | {"level"}
        nested[category] = (NESTED.get(category, frozenset()) | {"custody"}
                            | {n.split(".")[0] for n in after if "." in n})
    return want, nested


def digests(vault: Any, config: dict[str, Any], entries: list[tuple[Code, str, bytes]]) -> dict[str, dict[str, Any]]:
    """path -> the digest of each (code, path, text) a commit with `config` holds, as a run
    reads it (the records the indicators do not read, or cannot, left out)."""
    want, nested = _wants(vault, config)
    cats = vault.schemas.categories
    out = {}
    for code, path, content in entries:
        if code.category in want and isinstance(tree := _read(code.category, content, want[code.category],
                                                              nested[code.category]), dict):
            out[path] = cats[code.category].visible(tree)
    return out


def follow(ground: dict[str, Any], config: dict[str, Any], tz: Any, judged: set[str],
           before: list[tuple[Code, str, dict[str, Any]]], after: list[tuple[Code, str, dict[str, Any]]],
           filed: dict[str, int]) -> dict[str, Any]:
    """The indicators' groundwork (groundwork()) followed from that of an earlier commit:
    the filings of the paths `judged` again (changed, or first added in between) from
    their digests `after` and first commits `filed`, the paper originals less `before`
    (the changed records as they were) and with `after`."""
    start = dt.date.fromisoformat(ground["start"]) if ground.get("start") else None
    snap = Snap(config, tz, start, [row for row in after if row[1] in judged], filed)
    rows = [row for row in ground["filing"] if row[2] not in judged] + _filing_rows(snap)  # only summed
    paper, scanned, unplaced = (ground["originals"]["paper"], ground["originals"]["scanned"],
                                set(ground["unplaced"]))
    for records, step in ((before, -1), (after, 1)):
        more, more_scanned, more_unplaced = _paper_counts(Snap(config, tz, start, records))
        paper += step * more
        scanned += step * more_scanned
        unplaced = unplaced - set(more_unplaced) if step < 0 else unplaced | set(more_unplaced)
    listed = sorted(unplaced)
    return {"filing": rows, "originals": _paper_doc(paper, scanned, listed), "unplaced": listed,
            "start": ground.get("start")}


# ------------------------------------------------------------------ helpers

def _mean(values: list[float], places: int = 1) -> float | None:
    return round(statistics.fmean(values), places) if values else None


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _share(part: int, whole: int) -> float | None:
    """part / whole, rounded to 3 decimals (0.125 = 12.5 %); None over nothing."""
    return round(part / whole, 3) if whole else None


def last_months(as_of: dt.date, count: int = 12) -> list[str]:
    """The `count` calendar months ending with the month of `as_of`, oldest first (the
    months of every `by_month` of stats)."""
    year, month = as_of.year, as_of.month
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _score(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value in SCORES else None


def _project(code: Code) -> str:
    return code.location.parts[0] if code.location.parts else COMPANY


class _Scores:
    """Scores 1-5 (each with a weight): count, mean, distribution."""

    def __init__(self) -> None:
        self.by_score: Counter[int] = Counter()

    def add(self, score: int) -> None:
        self.by_score[score] += 1

    def as_dict(self) -> dict[str, Any]:
        count = sum(self.by_score.values())
        total = sum(s * n for s, n in self.by_score.items())
        return {"count": count, "mean": round(total / count, 2) if count else None,
                "distribution": {str(s): self.by_score[s] for s in SCORES}}


# ------------------------------------------------------------------ satisfaction

def _scored(snap: Snap, code: Code, tree: dict[str, Any]) -> tuple[int, dt.date, str] | None:
    """(score, business day, subject) of a TS or WX record with a valid score: the day the
    score was given (TS: the return visit, else resolved, else closed; WX: finished, else
    closed); its subject (TS `subject`, WX `trade`)."""
    score = _score(tree.get("satisfaction"))
    if score is None:
        return None
    if code.category == "TS":
        visit = tree.get("return_visit")
        visited = visit.get("visited_at") if isinstance(visit, dict) else None
        day = to_day(visited, snap.tz) or to_day(tree.get("resolved_at"), snap.tz) or to_day(tree.get("closed"), snap.tz)
        subject = tree.get("subject")
    else:
        day = to_day(tree.get("finished"), snap.tz) or to_day(tree.get("closed"), snap.tz)
        subject = tree.get("trade")
    if day is None:
        return None
    return score, day, subject if isinstance(subject, str) and subject else "unspecified"


def _survey(snap: Snap, tree: dict[str, Any]) -> tuple[float, float, dt.date] | None:
    """(overall score 0-100, weight, day) of a completed satisfaction survey (MY, schemas/MY.json:
    `overall` 綜合滿意度 on the survey's 百分制, `sample` valid answers, `period_end` else
    `closed`); a survey planned or under way has no score yet."""
    if tree.get("status") not in (None, "completed"):
        return None
    overall = tree.get("overall")
    if isinstance(overall, str):
        try:
            overall = float(overall)
        except ValueError:
            return None
    if isinstance(overall, bool) or not isinstance(overall, int | float) or not 0 <= overall <= 100:
        return None
    day = to_day(tree.get("period_end"), snap.tz) or to_day(tree.get("closed"), snap.tz)
    if day is None:
        return None
    sample = tree.get("sample")
    weight = sample if isinstance(sample, int) and not isinstance(sample, bool) and sample > 0 else 1
    return float(overall), float(weight), day


def satisfaction_section(data: Any) -> dict[str, Any]:
    """Satisfaction 1-5 of complaints and repairs (TS, WX) and of surveys (MY), as of the day."""
    snap = _snapshot(data)
    months = last_months(data.as_of)
    overall, by_month = _Scores(), {m: _Scores() for m in months}
    by_project: dict[str, _Scores] = {}
    by_category = {"TS": _Scores(), "WX": _Scores()}
    by_subject: dict[str, dict[str, _Scores]] = {"TS": {}, "WX": {}}
    surveys: list[tuple[float, float, dt.date]] = []
    for code, _, tree in snap.records:
        if code.category == "MY":
            found = _survey(snap, tree)
            if found is not None and found[2] <= data.as_of:
                surveys.append(found)
            continue
        if code.category not in by_category:
            continue
        scored = _scored(snap, code, tree)
        if scored is None or scored[1] > data.as_of:
            continue
        score, day, subject = scored
        overall.add(score)
        if _month(day) in by_month:
            by_month[_month(day)].add(score)
        project, subjects = _project(code), by_subject[code.category]
        if project not in by_project:
            by_project[project] = _Scores()
        by_project[project].add(score)
        by_category[code.category].add(score)
        if subject not in subjects:
            subjects[subject] = _Scores()
        subjects[subject].add(score)
    weight = sum(w for _, w, _ in surveys)
    my = {"surveys": len(surveys), "scale": "0-100", "responses": int(weight) if weight else 0,
          "mean": round(sum(s * w for s, w, _ in surveys) / weight, 2) if weight else None,
          "last": max(d for _, _, d in surveys).isoformat() if surveys else None}
    return {
        **overall.as_dict(),
        "by_month": {m: by_month[m].as_dict() for m in months},
        "by_project": {p: s.as_dict() for p, s in sorted(by_project.items())},
        "by_category": {**{c: s.as_dict() for c, s in by_category.items()}, "MY": my},
        "by_subject": {c: {k: s.as_dict() for k, s in sorted(subjects.items())}
                       for c, subjects in by_subject.items()},
    }


# ------------------------------------------------------------------ efficiency

def _closing(rows: list[int]) -> dict[str, Any]:
    return {"closed": len(rows), "mean_days_to_close": _mean(rows), "median_days_to_close": _median(rows)}


def efficiency_section(data: Any) -> dict[str, Any]:
    """Days to close complaints and requests (TS) and repairs (WX 01, 02) closed in the last
    365 days, per handler (TS `handler`, WX `assignee`) and per department."""
    snap = _snapshot(data)
    first = data.as_of - dt.timedelta(days=WINDOW - 1)
    departments = deps.parse(snap.config)
    department_of = deps.assigner(departments)
    by_handler: dict[str, dict[str, list[int]]] = {}
    by_department: dict[str, list[int]] = {d.name: [] for d in departments}
    for code, _, tree in snap.records:
        if code.category == "TS":
            start = to_day(tree.get("received_at"), snap.tz) or to_day(tree.get("opened"), snap.tz)
            who = tree.get("handler")
        elif code.category == "WX" and str(tree.get("kind")) in REPAIR_KINDS:
            start = to_day(tree.get("reported_at"), snap.tz) or to_day(tree.get("opened"), snap.tz)
            who = tree.get("assignee")
        else:
            continue
        end = to_day(tree.get("closed"), snap.tz)
        if start is None or end is None or end < start or not first <= end <= data.as_of:
            continue
        days = (end - start).days
        person = who if isinstance(who, str) and who else deps.UNASSIGNED
        by_handler.setdefault(person, {"TS": [], "WX": []})[code.category].append(days)
        found = department_of(code)
        by_department.setdefault(found.name if found else deps.UNASSIGNED, []).append(days)
    responsible = {d.name: d.responsible for d in departments}
    handlers = [{"handler": name, **_closing(rows["TS"] + rows["WX"]), "TS": len(rows["TS"]), "WX": len(rows["WX"])}
                for name, rows in by_handler.items()]
    handlers.sort(key=lambda h: (h["handler"] == deps.UNASSIGNED, -h["closed"], h["handler"]))
    return {
        "window_days": WINDOW,
        "since": first.isoformat(),
        "by_handler": handlers,
        "by_department": [{"department": name, "responsible": responsible.get(name), **_closing(rows)}
                          for name, rows in by_department.items()],
    }


# ------------------------------------------------------------------ the archive's own work

def _filing_rows(snap: Snap) -> list[list[Any]]:
    """[filing day (ordinal), 1 when on time else 0, path] of each record with a filing deadline
    that is judged, whatever the day: its first commit's day against its deadline."""
    rules = filing.deadlines(snap.config)
    days: dict[int, dt.date] = {}
    rows = []
    for code, path, tree in snap.records:
        rule = rules.get(code.category)
        when = snap.filed.get(path)
        if rule is None or when is None:
            continue
        if when not in days:
            days[when] = dt.datetime.fromtimestamp(when, snap.tz).date()
        filed = days[when]
        found = filing.business_date(rule, tree, snap.tz)
        if found is None:
            continue  # nothing to measure against (as `gaps`)
        deadline = add_duration(found[1], rule.within)
        since = rule.since or snap.start
        if filed > deadline and since is not None and deadline < since:
            continue  # a backlog entered from paper, not a late filing (as `gaps`)
        rows.append([filed.toordinal(), int(filed <= deadline), path])
    return rows


def _filing(rows: list[list[Any]], as_of: dt.date) -> dict[str, Any]:
    """Records with a filing deadline first committed in the window: how many on time."""
    first, last = (as_of - dt.timedelta(days=WINDOW - 1)).toordinal(), as_of.toordinal()
    judged = on_time = 0
    for filed, in_time, _path in rows:
        if first <= filed <= last:
            judged += 1
            on_time += in_time
    return {"judged": judged, "on_time": on_time, "late": judged - on_time, "share_on_time": _share(on_time, judged)}


def _loans(data: Any) -> dict[str, Any]:
    """Loans returned in the window: how many after their due day."""
    rules = LendingRules.from_config(data.vault.config)
    first = data.as_of - dt.timedelta(days=WINDOW - 1)
    until = dt.datetime.combine(data.as_of, dt.time.max).replace(tzinfo=rules.tz)
    returned = late = 0
    for record in data.of("JY"):
        state, _ = replay(record.fields, rules, until)
        if state.status != "closed" or state.ended_at is None or state.due is None:
            continue  # not returned (or a loan that was never out)
        day = state.ended_at.astimezone(rules.tz).date()
        if first <= day <= data.as_of:
            returned += 1
            late += day > state.due
    return {"returned": returned, "late": late, "share_late": _share(late, returned)}


def _inventories(snap: Snap, as_of: dt.date) -> dict[str, Any]:
    """Completed inventories counted in the window: results other than found over results."""
    first = as_of - dt.timedelta(days=WINDOW - 1)
    count = 0
    results: Counter[str] = Counter()
    for code, _, tree in snap.records:
        if code.category != "PD" or tree.get("status") != "completed":
            continue
        day = to_day(tree.get("counted_at"), snap.tz)
        if day is None or not first <= day <= as_of:
            continue
        count += 1
        results.update(tree.get("results") or {})
    checked = sum(results.values())
    wrong = sum(results[r] for r in DISCREPANT)
    return {"inventories": count, "checked": checked, **{r: results[r] for r in DISCREPANT},
            "discrepancies": wrong, "rate": _share(wrong, checked)}


def _paper_counts(snap: Snap) -> tuple[int, int, list[str]]:
    """Records with a paper original (custody.form paper or both): how many, how many
    scanned, and the codes of those without a room."""
    paper = scanned = 0
    unplaced: list[str] = []
    for code, _, tree in snap.records:
        custody = tree.get("paper")
        if custody is None:
            continue
        paper += 1
        scanned += bool(tree.get("attachments"))
        if not custody["room"]:
            unplaced.append(str(code))
    unplaced.sort()
    return paper, scanned, unplaced


def _paper_doc(paper: int, scanned: int, unplaced: list[str]) -> dict[str, Any]:
    return {"paper": paper, "scanned": scanned, "share_scanned": _share(scanned, paper),
            "no_location": len(unplaced), "no_location_list": unplaced[:100]}


def archive_section(data: Any) -> dict[str, Any]:
    """The archive's own work: filing on time, loans returned late, inventory discrepancies,
    paper originals scanned and paper originals without a location."""
    snap = _snapshot(data)
    ground = data.ground["indicators"]
    return {
        "window_days": WINDOW,
        "since": (data.as_of - dt.timedelta(days=WINDOW - 1)).isoformat(),
        "filing": _filing(ground["filing"], data.as_of),
        "loans": _loans(data),
        "inventory": _inventories(snap, data.as_of),
        "originals": ground["originals"],
    }


# ------------------------------------------------------------------ kept per commit

DAILY = frozenset({"TS", "WX", "MY", "PD"})  # the records the sections read again each day


def groundwork(data: Any) -> dict[str, Any]:
    """What the indicators of `data`'s commit are made of on any day (`stats`' groundwork,
    services/stats.py), from every record of it: the digests of the records the sections
    read again each day (DAILY, by path), each judged filing as [day, on time, path], the
    paper originals (which no day changes; those without a room all listed) and the
    vault's first day."""
    snap = _snapshot(data)
    paper, scanned, unplaced = _paper_counts(snap)
    return {"digests": {path: tree for code, path, tree in snap.records if code.category in DAILY},
            "filing": _filing_rows(snap), "originals": _paper_doc(paper, scanned, unplaced), "unplaced": unplaced,
            "start": snap.start.isoformat() if snap.start else None}


def from_groundwork(data: Any, digests: dict[str, Any]) -> None:
    """The indicators' reading of a day of `data`'s commit: its DAILY records (of `data`,
    in its order) with their digests, and the rules of the commit."""
    vault = data.vault
    snap = Snap(dict(vault.config), vault.tz, None)
    if data.commit is not None:
        snap.config = _config_at(vault, data.commit)
        snap.tz = _tz(vault, snap.config)
    start = data.ground["indicators"].get("start")
    snap.start = dt.date.fromisoformat(start) if start else None
    snap.records = [(record.code, record.path, digests[record.path]) for record in data.records
                    if record.path in digests]
    data._indicators = snap
