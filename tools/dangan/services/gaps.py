"""`dangan gaps`: what should have been filed and was not, as of a day (docs/duties.md).

Three kinds of gap, each with the department that files the record concerned and its
responsible person (model/departments.py):

- `late`: a record first committed after its filing deadline (model/filing.py);
- `missing`: an expected record that is not there (model/expected.py);
- `original`: a record whose paper original the archive expects and has not received
  (`dangan receive`) by filing + `originals.within`.

The vault is read as it stood at the end of the day judged: the tree of the last commit on
the first-parent chain at or before it (`history.resolve`, as `stats`, `diff` and `show
--as-of`), with the vault.yaml of that commit, so a past day is judged by the rules then in
force. A record's filing day is its first commit's day in the vault's timezone: one `git
log --diff-filter=A` pass over the history, kept in `.git/dangan/cache/filed.json` by the
commit it reached and extended from there (format.md §8).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan.errors import CodeError, DanganError
from dangan.formats import fields
from dangan.formats.yamlio import YamlError, load_text, tree_or_none
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model import departments as deps
from dangan.model import expected, filing
from dangan.model import handover as handovers
from dangan.model.codes import Code, path_to_code
from dangan.model.disposal import vault_tz
from dangan.rules.changes import commit_changes, handed_over_on
from dangan.services import answers, blobcache
from dangan.store import fsutil
from dangan.store.forked import Forked
from dangan.store.vault import CONFIG, RECORDS, Vault

FORMAT = "dangan gaps 1"
KINDS = ("late", "missing", "original")
CACHE = "filed.json"
FIELDS = "gaps-fields.json"
_HANDOVERS = f"{RECORDS}/{handovers.CATEGORY}/"
_LS_TREE = re.compile(rb"[0-7]{6} blob ([0-9a-f]{40,64})\t([^\0]+)\0")


# ------------------------------------------------------------------ first commits

def _log_adds(root: Path, spec: list[str], paths: tuple[str, ...] = (RECORDS + "/",)) -> dict[str, int]:
    """path -> the earliest commit time (Unix) that added it, over the commits of `spec`,
    under `paths` (an office's checkout: its folders, Vault.record_specs)."""
    raw = gitio.run(["log", "--diff-filter=A", "--no-renames", "--name-only", "-z", "--format=%x01%ct",
                     *spec, "--", *paths], root).stdout
    found: dict[str, int] = {}
    for chunk in raw.split(b"\x01")[1:]:
        stamp, _, names = chunk.partition(b"\n")
        when = int(stamp.strip(b"\0\n") or 0)
        for name in names.split(b"\0"):
            name = name.strip(b"\n")
            if not name:
                continue
            path = name.decode("utf-8", "surrogateescape")
            if path not in found or when < found[path]:
                found[path] = when  # git log runs newest first: the last seen is the earliest
    return found


def first_commits(root: Path, commit: str, paths: tuple[str, ...] = (RECORDS + "/",)) -> dict[str, int]:
    """Every record path's first commit time in the history of `commit` (of the records
    under `paths`: an office's checkout reads its own folders' history).

    The map of a later commit serves an earlier one too: a path in an earlier tree was
    first added no later than that tree, whatever came after. So the cache keeps the map of
    the newest commit asked, and a newer one only reads the commits since. A commit beside
    it (an amended commit, a rebase, a reset to another branch) takes it back to their
    common ancestor — the paths added on the kept side alone are asked again of that
    ancestor's history — and reads its own commits since; a map of other `paths` (an office
    that took on a project) is not used."""
    found, write = _first_commits(root, commit, paths)
    if write is not None:
        write()
    return found


def _first_commits(root: Path, commit: str, paths: tuple[str, ...]
                   ) -> tuple[dict[str, int], Callable[[], None] | None]:
    """first_commits(), with the cache's write left to the caller (None: nothing to write)."""
    cache = gitio.git_dir(root) / "dangan" / "cache" / CACHE
    known: dict[str, int] | None = None
    tip = None
    try:
        doc = json.loads(cache.read_bytes())
        tip, known = doc["commit"], doc["filed"]
        if doc.get("paths", [RECORDS + "/"]) != list(paths):
            tip, known = None, None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    if known is not None and tip == commit:
        return known, None
    if known is not None and tip and gitio.has_object(root, tip):
        if gitio.is_ancestor(root, commit, tip):
            return known, None
        if gitio.is_ancestor(root, tip, commit):
            for path, when in _log_adds(root, [f"{tip}..{commit}"], paths).items():
                known.setdefault(path, when)
            extended = known
            return extended, lambda: _store(cache, commit, extended, paths)
        beside = _beside(root, known, tip, commit, paths)
        if beside is not None:
            return beside, lambda: _store(cache, commit, beside, paths)
    found = _log_adds(root, [commit], paths)
    return found, lambda: _store(cache, commit, found, paths)


def _beside(root: Path, known: dict[str, int], tip: str, commit: str, paths: tuple[str, ...]
            ) -> dict[str, int] | None:
    """The map of `commit` from `known`, the map of `tip`, a commit beside it (neither is
    the other's ancestor): `known` taken back to their common ancestor, then the adds of
    the ancestor..commit range. Taken back: a path that `tip`'s side added holds its
    earliest add in the ancestor's history, or goes (a `git log` of those paths alone).
    None when they share no history, or that side added more than FOLLOWED paths (then a
    full pass costs about as much)."""
    base = gitio.merge_base(root, tip, commit)
    if base is None:
        return None
    added = _log_adds(root, [f"{base}..{tip}"], paths)
    if len(added) > FOLLOWED:
        return None
    before = _log_adds(root, [base], tuple(sorted(added))) if added else {}
    found = dict(known)
    for path in added:
        if path in before:
            found[path] = before[path]
        else:
            found.pop(path, None)
    for path, when in _log_adds(root, [f"{base}..{commit}"], paths).items():
        if path not in found or when < found[path]:
            found[path] = when
    return found


def added_since(root: Path, since: str, commit: str, paths: tuple[str, ...]) -> dict[str, int] | None:
    """The paths (under `paths`) added between a groundwork's commit `since` and `commit`,
    whose filing day may differ: those of `since..commit` when `since` is an ancestor; for a
    commit beside it (an amended commit, a rebase), those added on either side since their
    common ancestor (a file added again keeps its content, not its first commit's time).
    None when `since` is not in the repository or the two share no history."""
    if not gitio.has_object(root, since):
        return None
    if gitio.is_ancestor(root, since, commit):
        return _log_adds(root, [f"{since}..{commit}"], paths)
    base = gitio.merge_base(root, since, commit)
    return None if base is None else _log_adds(root, [f"^{base}", since, commit], paths)


def _store(cache: Path, commit: str, found: dict[str, int], paths: tuple[str, ...]) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"commit": commit, "filed": found, "paths": list(paths)},
                          separators=(",", ":")).encode()
        fsutil.write_atomic(cache, data, durable=False)
    except OSError:
        pass  # a cache that cannot be written only costs time


# ------------------------------------------------------------------ reading a tree

@dataclass
class Snapshot:
    commit: str | None
    committed: str | None
    config: dict[str, Any]
    records: list[tuple[Code, str, dict[str, Any]]]  # code, path, tree (clear fields)
    unreadable: list[str]
    filed: dict[str, int] = field(default_factory=dict)  # path -> its first commit's time
    writes: list[Callable[[], None]] = field(default_factory=list)  # the caches to write


def _config_at(vault: Vault, commit: str) -> dict[str, Any]:
    """vault.yaml as committed (the rules in force then); the work tree's when unreadable."""
    found = gitio.run(["cat-file", "-p", f"{commit}:vault.yaml"], vault.root, check=False)
    if found.returncode == 0:
        try:
            tree = load_text(found.stdout.decode("utf-8"))
            if isinstance(tree, dict):
                return tree
        except (UnicodeDecodeError, YamlError):
            pass  # a broken vault.yaml is DG114's to report
    return dict(vault.config)


@dataclass(frozen=True)
class Wanted:
    """What a judgement reads: the categories, their top-level fields and mappings."""

    categories: frozenset[str]
    fields: frozenset[str]
    nested: frozenset[str]


def snapshot(vault: Vault, as_of: dt.date, wanted: Callable[[dict[str, Any]], Wanted],
             progress: Callable[[int], None] | None = None, found: Any = None) -> Snapshot:
    """The records `wanted(config)` names, as of the end of `as_of` (`found`: that day's
    commit, `history.resolve`, when the caller has it): the fields it names are read by
    `formats.fields` (the full reader only for a text it is not sure of); `progress(1)` is
    told of each record read from git (not of those the cache has)."""
    from dangan.services.history import resolve

    if found is None:
        found = resolve(vault, as_of.isoformat())
    if found.commit is None:
        return Snapshot(None, None, dict(vault.config), [], [])
    config = _config_at(vault, found.commit)
    want = wanted(config)
    stamp = ",".join(sorted(want.fields)) + "|" + ",".join(sorted(want.nested))
    # git lists the tree while the fields read before are loaded here, and the first commits
    # are read (a `git log` pass over the history when they are not cached) on the other
    # core until the records are read
    pool = ThreadPoolExecutor(2)
    try:
        listing = pool.submit(gitio.tree_text, vault.root, found.commit, vault.record_specs)
        filed = pool.submit(_first_commits, vault.root, found.commit, tuple(vault.record_specs))
        cached = blobcache.load(vault.root, FIELDS, stamp)
        raw = listing.result()
        trees, entries, fresh = _read_records(vault, raw, want, cached, lambda: not filed.done(), progress)
        filed_at, write_filed = filed.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    snap = Snapshot(found.commit, found.committed, config, [], [], filed_at)
    if write_filed is not None:
        snap.writes.append(write_filed)
    if fresh:
        snap.writes.append(lambda: blobcache.store(vault.root, FIELDS, stamp, trees))
    for code, path, blob in entries:
        tree = trees.get(blob)
        if isinstance(tree, dict):
            snap.records.append((code, path, tree))
        else:
            snap.unreadable.append(path)
    return snap


def _read_records(vault: Vault, raw: bytes, want: Wanted, cached: dict[str, Any],
                  logging: Callable[[], bool] = lambda: False, progress: Callable[[int], None] | None = None
                  ) -> tuple[dict[str, Any], list[tuple[Code, str, str]], bool]:
    """(blob -> the wanted fields of its record, the records as (code, path, blob), whether
    any was read from git) of an `ls-tree -r -z` listing: the fields read before come from
    `cached`, the others from git."""
    entries = _listed_entries(raw, want)
    blobs = {blob for _, _, blob in entries}
    trees = {blob: cached[blob] for blob in blobs if blob in cached}
    todo = [blob for blob in blobs if blob not in trees]
    if todo:
        # one cat-file while the `git log` pass of a cold run keeps the other core busy (two
        # cost ~0.6 s more CPU for the same wall time on a quiet machine), two otherwise
        trees.update(gitio.read_blobs(vault.root, todo, lambda _blob, content: _read_one(content, want),
                                      processes=1 if logging() else 2, progress=progress))
    return trees, entries, bool(todo)


def _listed_entries(raw: bytes, want: Wanted) -> list[tuple[Code, str, str]]:
    """(code, path, blob) of the records of an `ls-tree -z` listing that `want` reads."""
    listed = [(blob, path) for blob, path in _listed(raw)
              if path.rsplit("/", 1)[-1][:2] in want.categories and path.endswith(".yaml")]
    entries: list[tuple[Code, str, str]] = []
    for (blob, path), code in zip(listed, fields.codes_of_paths([path for _, path in listed]), strict=True):
        if code is None:
            try:
                code = path_to_code(path)
            except CodeError:
                continue  # a stray file: `dangan check` reports it
        entries.append((code, path, blob))
    return entries


def _read_one(content: bytes, want: Wanted) -> Any:
    """The fields `want` names of one record's text (None: not a mapping)."""
    try:
        tree = fields.read(content, want.fields, want.nested)
    except UnicodeDecodeError:
        tree = None
    if tree is None:
        full = tree_or_none(content)
        keep = want.fields | want.nested
        tree = {k: v for k, v in full.items() if k in keep} if isinstance(full, dict) else None
    return tree


# ------------------------------------------------------------------ gaps

def _wanted(config: dict[str, Any]) -> Wanted:
    deadlines = filing.deadlines(config)
    rules = expected.rules(config)
    categories = set(deadlines) | expected.categories_read(rules) | set(filing.originals(config).categories)
    names = {"status", "opened", "closed"} | expected.fields_read(rules)
    for rule in deadlines.values():
        names.update(rule.after)
    nested = {"custody", "received"} | {n.split(".")[0] for n in names if "." in n}
    return Wanted(frozenset(categories), frozenset(n for n in names if "." not in n), frozenset(nested))


def _first_day(root: Path, commit: str, tz: Any) -> dt.date:
    """The vault's first day: its root commit's, in the vault's timezone."""
    times = gitio.out(["log", "--max-parents=0", "--format=%ct", commit], root).split()
    return dt.datetime.fromtimestamp(min(int(t) for t in times), tz).date()


def _shelved(tree: dict[str, Any]) -> bool:
    """A custody location in the archive: the original was shelved before receipts were recorded."""
    custody = tree.get("custody")
    return isinstance(custody, dict) and isinstance(custody.get("room"), str) and custody.get("form") != "electronic"


def compute(vault: Vault, as_of: dt.date, department: str | None = None,
            progress: Callable[[int], None] | None = None, keep: bool = True) -> dict[str, Any]:
    """The gaps of the vault as of the end of `as_of`, optionally of one department;
    `progress(1)` is told of each record read from git (a cold run: seconds). The answer
    about a commit and a day is kept (services/answers.py): asked again, it is read back.
    What the day does not change is kept per commit (`_groundwork`): another day of the
    same commit judges from it without reading the records again. `keep=False`: the answer
    is not kept (`stats`, which shows a section of it: 100 MB of JSON at a million records
    would cost it more than the answer kept would save a later `gaps`)."""
    from dangan.services.history import resolve

    found = resolve(vault, as_of.isoformat())
    if found.commit is None:
        return _answer(vault, as_of, _department(vault, dict(vault.config), department), None, None, {}, None)
    kept_as = answers.key(vault, "gaps", found.commit, as_of, department=department)
    kept = answers.load(vault, "gaps", kept_as)
    if isinstance(kept, dict):
        return kept
    config = _config_at(vault, found.commit)
    department = _department(vault, config, department)
    ground = _groundwork(vault, as_of, found, progress)
    doc = _answer(vault, as_of, department, found.commit, found.committed, config, ground)
    # made of JSON's types (the groundwork is, and _answer adds str, int and lists): kept
    # as it is shown, without reading back its 100 MB at a million records
    return answers.store(vault, "gaps", kept_as, doc, give_back=False) if keep else doc


def _tz(vault: Vault, config: dict[str, Any]) -> Any:
    return vault_tz(config) if config.get("timezone") else vault.tz


def _department(vault: Vault, config: dict[str, Any], department: str | None) -> str | None:
    """`--department` as vault.yaml of the commit judged writes it (whatever the script
    typed), or a one-line error naming the departments."""
    if department is None or department == deps.UNASSIGNED:
        return department
    departments = deps.parse(config)
    if (known := deps.named(departments, department)) is None:
        names = ", ".join(d.name for d in departments) or "none are configured"
        raise DanganError(Message("--department {department} is not a department of vault.yaml", department=repr(department)),
                          Message("give one of: {names} (or {UNASSIGNED})", names=names, UNASSIGNED=deps.UNASSIGNED))
    return known.name


# ------------------------------------------------------------------ what the day does not change

GROUND = "gaps-ground"  # the groundwork's name among the kept answers
GROUND_FORMAT = "dangan gaps groundwork 2"
FOLLOWED = 2000  # more files changed since the groundwork kept: it is laid again


def _groundwork(vault: Vault, as_of: dt.date, found: Any, progress: Callable[[int], None] | None) -> dict[str, Any]:
    """What the gaps of `found.commit` are made of on any day, kept per commit with the
    answers (services/answers.py, no day in its key): the late filings (a record filed
    after its deadline stays late), the paper originals not received with the day each
    falls due, and what the expected-record rules read (model/expected.py prepare). Made
    JSON's types from the start, so a kept one and a fresh one judge alike. The groundwork
    of an earlier commit is followed along the files changed since (`_follow`) when it can
    be; else it is laid from every record (`_lay`)."""
    return answers.groundwork(vault, GROUND, found.commit, GROUND_FORMAT,
                              lambda: _lay(vault, as_of, found, progress), give_back=False,
                              follow=lambda before: _follow(vault, before, found))


class _Filings:
    """How one record's filing is judged whatever the day: late (a gap) and its paper
    original not received (a row: code, category, location, department, responsible,
    filed, due)."""

    def __init__(self, config: dict[str, Any], tz: Any, start: dt.date, filed_at: dict[str, int]) -> None:
        self.rules = filing.deadlines(config)
        self.originals = filing.originals(config)
        self.department_of = deps.assigner(deps.parse(config))
        self.tz, self.start, self.filed_at = tz, start, filed_at
        self.days: dict[int, dt.date] = {}

    def filed(self, path: str) -> dt.date | None:
        when = self.filed_at.get(path)
        if when is None:
            return None
        if when not in self.days:  # records share their commits: one conversion per commit
            self.days[when] = dt.datetime.fromtimestamp(when, self.tz).date()
        return self.days[when]

    def judge(self, code: Code, path: str, tree: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Any] | None]:
        day = self.filed(path)
        if day is None:
            return None, None
        late = original = None
        rule = self.rules.get(code.category)
        if rule is not None and (found_late := filing.lateness(rule, tree, day, self.tz, self.start)) is not None:
            name, responsible = _owner(self.department_of, code)
            late = _gap(
                "late", name, responsible, code, found_late.deadline + dt.timedelta(days=1),
                f"{code} filed {found_late.filed.isoformat()}, {found_late.days_late} d after its deadline "
                f"{found_late.deadline.isoformat()} ({rule.within} after {found_late.business_field} "
                f"{found_late.business_day.isoformat()})",
                code=str(code), filed=day.isoformat(), deadline=found_late.deadline.isoformat(),
                business_field=found_late.business_field, business_date=found_late.business_day.isoformat(),
                days_late=found_late.days_late, within=str(rule.within))
        if (filing.expects_original(self.originals, code.category, tree) and not filing.received(tree)
                and not _shelved(tree)):
            name, responsible = _owner(self.department_of, code)
            due = filing.original_due(self.originals, day)
            original = [str(code), code.category, "-".join(code.location.parts), name, responsible,
                        day.isoformat(), due.isoformat()]
        return late, original


def _lay(vault: Vault, as_of: dt.date, found: Any, progress: Callable[[int], None] | None) -> dict[str, Any]:
    snap = snapshot(vault, as_of, _wanted, progress, found)
    assert snap.commit is not None
    handed = handed_over_on(vault.root, snap.commit)
    if handed:  # records handed over (YJ) are no longer this company's to file
        snap.records = [(code, path, tree) for code, path, tree in snap.records if str(code) not in handed]
    config = snap.config
    tz = _tz(vault, config)
    start = _first_day(vault.root, snap.commit, tz)
    records = snap.records

    def prepare() -> list[Any]:
        items = [expected.Item(code, tree) for code, _, tree in records]
        return expected.prepare(expected.rules(config), items, tz)

    def write_caches() -> None:
        for write in snap.writes:
            write()

    late: list[dict[str, Any]] = []
    originals: list[list[Any]] = []
    # the other core writes the caches and reads what the expected records need while this
    # one judges each record's filing (store/forked.py)
    with Forked(write_caches) if snap.writes else contextlib.nullcontext(), Forked(prepare) as child:
        filings = _Filings(config, tz, start, snap.filed)
        for code, path, tree in records:
            found_late, original = filings.judge(code, path, tree)
            if found_late is not None:
                late.append(found_late)
            if original is not None:
                originals.append(original)
        prepared = child.result()
    return {"format": GROUND_FORMAT, "commit": snap.commit, "committed": snap.committed, "timezone": str(tz),
            "start": start.isoformat(), "late": late, "originals": originals, "expected": prepared,
            "unreadable": snap.unreadable}


def _follow(vault: Vault, before: dict[str, Any], found: Any) -> dict[str, Any] | None:
    """The groundwork of `found.commit` from `before`, that of another commit sharing its
    history (an ancestor, or beside it: `added_since`), following the records changed
    between them: each changed record's late filing and paper original judged again, and
    what the expected-record rules read followed (model/expected.py follow). A record added
    in between with its content unchanged (added again) is judged again too: its filing
    day may differ.
    None, to lay it from every record, when vault.yaml, a handover (YJ), the timezone or
    the vault's first day differs, more than FOLLOWED files changed, or a rule needs every
    record (expected.follow)."""
    root, commit, since = vault.root, found.commit, before.get("commit")
    specs = tuple(vault.record_specs)
    readded = added_since(root, since, commit, specs) if isinstance(since, str) else None
    if readded is None:
        return None
    changes = commit_changes(root, since, commit, also=(CONFIG,))
    if len(changes) > FOLLOWED or any(c.path == CONFIG or c.path.startswith(_HANDOVERS) for c in changes):
        return None
    config = _config_at(vault, commit)
    tz = _tz(vault, config)
    start = _first_day(root, commit, tz)
    if before.get("timezone") != str(tz) or before.get("start") != start.isoformat():
        return None
    ours = [c for c in changes if c.path.startswith(specs)]
    if len(ours) + len(readded) > FOLLOWED:
        return None
    rules = expected.rules(config)
    want = _wanted(config)
    handed = handed_over_on(root, commit)
    # the records read: each changed one as it was and as it is, those added again as they
    # are, and every record of the folders the expected-record rules need around a change
    changed = {c.path for c in ours}
    judged = changed | set(readded)
    codes = [code for code, _, _ in _entries(want, [(c.old or c.new or "", c.path) for c in ours])]
    listed = sorted({f"{RECORDS}/{'/'.join(location.parts)}/{category}/".replace("//", "/")
                     for location, category in expected.around(rules, codes)} | (judged - changed))
    raw = gitio.run(["--literal-pathspecs", "ls-tree", "-z", commit, "--", *listed], root).stdout if listed else b""
    now = {path: blob for blob, path in _listed(raw)} | {c.path: c.new for c in ours if c.new}
    entries_now = [e for e in _entries(want, [(blob, path) for path, blob in now.items()]) if str(e[0]) not in handed]
    entries_was = [e for e in _entries(want, [(c.old, c.path) for c in ours if c.old]) if str(e[0]) not in handed]
    trees = _read_fields(vault, want, {blob for _, _, blob in (*entries_now, *entries_was)})

    # the filing days of the records judged again: their first commits, asked of git for
    # those paths alone (the cache of every record's, filed.json, is 60 MB at a million)
    again_now = sorted(path for _, path, _ in entries_now if path in judged)
    filings = _Filings(config, tz, start, _log_adds(root, [commit], tuple(again_now)) if again_now else {})
    # a record's code is its file's name (model/codes.py): the rows of the paths judged again
    again = {path.rsplit("/", 1)[-1].removesuffix(".yaml") for path in judged}
    late = [gap for gap in before["late"] if gap["code"] not in again]
    originals = [row for row in before["originals"] if row[0] not in again]
    unreadable = [path for path in before["unreadable"] if path not in judged]
    after: list[expected.Item] = []
    near: list[expected.Item] = []
    for code, path, blob in entries_now:
        tree = trees.get(blob)
        if not isinstance(tree, dict):
            if path in judged:
                unreadable.append(path)
            continue
        near.append(expected.Item(code, tree))
        if path in changed:
            after.append(expected.Item(code, tree))
        if path in judged:
            found_late, original = filings.judge(code, path, tree)
            if found_late is not None:
                late.append(found_late)
            if original is not None:
                originals.append(original)
    was_items = [expected.Item(code, tree) for code, _, blob in entries_was if isinstance(tree := trees.get(blob), dict)]
    prepared = expected.follow(rules, before["expected"], was_items, after, near, tz)
    if prepared is None:
        return None
    unreadable.sort(key=lambda path: path.encode("utf-8", "surrogateescape"))
    return {"format": GROUND_FORMAT, "commit": commit, "committed": found.committed, "timezone": str(tz),
            "start": start.isoformat(), "late": late, "originals": originals, "expected": prepared,
            "unreadable": unreadable}


def _listed(raw: bytes) -> list[tuple[str, str]]:
    """(blob, path) of an `ls-tree -z` listing."""
    return [(blob.decode(), name.decode("utf-8", "surrogateescape")) for blob, name in _LS_TREE.findall(raw)]


def _entries(want: Wanted, listed: list[tuple[str, str]]) -> list[tuple[Code, str, str]]:
    """(code, path, blob) of the records among (blob, path) pairs that `want` reads, as
    _read_records takes them from a listing."""
    raw = b"".join(b"100644 blob %s\t%s\0" % (blob.encode(), path.encode("utf-8", "surrogateescape"))
                   for blob, path in listed if blob)
    return _listed_entries(raw, want)


def _read_fields(vault: Vault, want: Wanted, blobs: set[str]) -> dict[str, Any]:
    """blob -> the wanted fields of its record, read from git (a few: a followed change)."""
    return gitio.read_blobs(vault.root, sorted(blobs), lambda _blob, content: _read_one(content, want),
                            processes=1) if blobs else {}


def _owner(department_of: Callable[[Code], Any], code: Code) -> tuple[str, str | None]:
    found = department_of(code)
    return (found.name, found.responsible) if found else (deps.UNASSIGNED, None)


def _gap(kind: str, name: str, responsible: str | None, where: Code, since: dt.date, what: str,
         **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "department": name, "responsible": responsible, "category": where.category,
            "location": "-".join(where.location.parts), "since": since.isoformat(), "what": what, **extra}


# ------------------------------------------------------------------ the day judged

def _answer(vault: Vault, as_of: dt.date, department: str | None, commit: str | None, committed: str | None,
            config: dict[str, Any], ground: dict[str, Any] | None) -> dict[str, Any]:
    """The gaps on `as_of` (of `department`, as vault.yaml writes it) from the groundwork of
    the commit judged (None: nothing committed by then)."""
    config = config or dict(vault.config)
    tz = _tz(vault, config)
    departments = deps.parse(config)
    department_of = deps.assigner(departments)
    gaps: list[dict[str, Any]] = []
    if ground is not None:
        gaps += [gap for gap in ground["late"] if department is None or gap["department"] == department]
        day = as_of.isoformat()
        since_of: dict[str, str] = {}  # due day -> the day after
        for code, category, location, name, responsible, filed_on, due in ground["originals"]:
            if due < day and (department is None or name == department):  # ISO days sort as dates
                if (since := since_of.get(due)) is None:
                    since = since_of[due] = (dt.date.fromisoformat(due) + dt.timedelta(days=1)).isoformat()
                gaps.append({"kind": "original", "department": name, "responsible": responsible,
                             "category": category, "location": location, "since": since,
                             "what": f"{code}: paper original not received (filed {filed_on}, due by {due})",
                             "code": code, "filed": filed_on, "due": due})
        start = dt.date.fromisoformat(ground["start"]) if ground.get("start") else None
        owners: dict[tuple[str, Any], tuple[str, str | None, str]] = {}  # (category, location) -> its department
        for miss in expected.judge(expected.rules(config), ground["expected"], as_of, start):
            if (owner := owners.get((miss.category, miss.location))) is None:
                owner = owners[(miss.category, miss.location)] = (
                    *_owner(department_of, Code(miss.category, miss.location, 0)), "-".join(miss.location.parts))
            name, responsible, location = owner
            if department is not None and name != department:
                continue
            gap = {"kind": "missing", "department": name, "responsible": responsible, "category": miss.category,
                   "location": location, "since": miss.since.isoformat(), "what": miss.what,
                   "rule": miss.rule.name, "missing_category": miss.category}
            if miss.subject:
                gap["code"] = miss.subject
            if miss.periods:
                gap.update(periods=miss.periods, every=miss.rule.every, last_period=miss.last.isoformat()
                           if miss.last else None)
            gap.update(miss.extra)
            gaps.append(gap)

    order = {k: i for i, k in enumerate(KINDS)}
    gaps.sort(key=lambda g: (g["department"] == deps.UNASSIGNED, g["department"], order[g["kind"]],
                             g.get("code") or g["location"], g["since"]))
    by_department: dict[str, dict[str, Any]] = {}
    for d in departments:
        if department is None or d.name == department:
            by_department[d.name] = {"name": d.name, "responsible": d.responsible, **dict.fromkeys(KINDS, 0)}
    counts = dict.fromkeys(KINDS, 0)
    for gap in gaps:
        entry = by_department.get(gap["department"])
        if entry is None:
            entry = by_department[gap["department"]] = {"name": gap["department"], "responsible": None,
                                                        **dict.fromkeys(KINDS, 0)}
        entry[gap["kind"]] += 1
        counts[gap["kind"]] += 1
    return {
        "format": FORMAT,
        "as_of": as_of.isoformat(),
        "timezone": str(tz),
        "commit": commit,
        "committed": committed,
        "department": department,
        "counts": {**counts, "total": len(gaps)},
        "departments": list(by_department.values()),
        "gaps": gaps,
        "unreadable": list(ground["unreadable"]) if ground is not None else [],
    }
