"""`dangan due`: the dated obligations of a vault as of a day (docs/duties.md, "Obligations").

The records are those of the last commit on the first-parent chain at or before the end of
the day (vault timezone), the date -> commit mapping of `dangan diff` and `stats`
(services.history.resolve). The rules are today's: the obligation marks of the vault's
`schemas/` and vault.yaml (`inventory`, `departments`) as they are in the work tree, so that
a company that tunes a rule sees its past judged by it too (docs/decisions.md).

One pass, never decrypting: the tree is listed once (`git ls-tree`), the record blobs of
the categories an obligation names read through two `git cat-file --batch` processes, and
each read by `_quick`, a reader of the few top-level scalars an obligation needs plus
`custody.room` and `refs`. A record that reader is not sure of goes through the full reader.
What was read of each blob is kept (services.blobcache, `due-fields.json`): a blob never
changes, so the next run reads only the records written since. The archive rooms are where
the records of every category say their originals are (`custody.room`): `git grep` finds
them, in the work tree when it holds the commit (git reads the files; grepping a commit
inflates every blob), and they are kept by the records folder's tree id (`due-rooms.json`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from dangan.errors import CodeError, DanganError, GitError
from dangan.formats import fields as fieldreader
from dangan.formats.schemas import is_enc
from dangan.formats.yamlio import tree_or_none
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model import departments as deps
from dangan.model import obligations as ob
from dangan.model.codes import Code, Location, parse_code, path_to_code
from dangan.model.disposal import add_duration, to_day, valid_duration
from dangan.rules.changes import Change, commit_changes, handed_over_on
from dangan.services import answers, blobcache
from dangan.store.vault import RECORDS, Vault

FORMAT = "dangan due 1"
BASE = ("status", "title", "level")
UPKEEP = ("kind", "status", "target", "finished", "closed", "started", "refs")
COUNTED = ("status", "place", "cabinet", "scope", "counted_at")
ROOM = "custody.room"  # the key `_quick` gives a record's archive room under
REFS = "refs"
# a top-level key whose value is a nested block: set, whatever it holds (a mapping no
# reader gives for a field, which the cache of what was read keeps as it is)
BLOCK = {"<block>": True}
FIELDS = "due-fields.json"
ROOMS = "due-rooms.json"

_SOPS = b"\nsops:"
_AFTER_SOPS = re.compile(rb"\n[^ \n]")
_LS_TREE = re.compile(rb"[0-7]{6} blob ([0-9a-f]{40,64})\t([^\0]+)\0")
_CODE = re.compile(r"[A-Z]{2}(?:-[ABCD][0-9]{2}(?:-[0-9]{2}(?:-[0-9]{3}(?:-[0-9]{4})?)?)?)?-[0-9]{4,9}")
_COLUMN0 = re.compile(rb"\n[^ ]")  # the line after a block: not indented
_REFS = re.compile(rb"^refs:\n((?:  - [^\n]*\n)*)", re.M)


# ------------------------------------------------------------------ reading

def _room(text: bytes) -> tuple[bool, Any]:
    """(sure, value) of `custody.room`: the `  room:` line inside the column-0 `custody:`
    block (bytes.find, not a regular expression: every record of the vault passes here)."""
    start = text.find(b"\ncustody:\n")
    if start < 0:
        return True, None
    start += 10
    end = _COLUMN0.search(text, start)
    block = text[start: end.start() + 1 if end else len(text)]
    at = block.find(b"  room:")
    if at != 0:
        at = block.find(b"\n  room:")
        if at < 0:
            return True, None
        at += 1
    line_end = block.find(b"\n", at)
    return fieldreader.scalar(block[at + 7: line_end if line_end >= 0 else len(block)].decode("utf-8"))


def _quick(data: bytes, wanted: frozenset[str]) -> dict[str, Any] | None:
    """The wanted top-level fields, `custody.room` and `refs` of a stored record, or None
    when only a full parse is sure. In canonical block YAML a column-0 `key:` line is a
    top-level key, and an empty value is null unless an indented block follows."""
    end = data.rfind(_SOPS)
    if end < 0 or _AFTER_SOPS.search(data, end + len(_SOPS)):
        end = len(data)
    text = data[:end] if end < len(data) else data
    found: dict[str, Any] = {}
    for match in fieldreader.key_lines(wanted).finditer(text) if wanted else ():
        name, rest = match.group(1).decode(), match.group(2).decode("utf-8")
        if name in found:
            return None
        if rest == "":
            following = text[match.end() + 1: match.end() + 2]
            found[name] = BLOCK if following == b" " else None
            continue
        sure, value = fieldreader.scalar(rest)
        if not sure:
            return None
        found[name] = value
    sure, room = _room(text)
    if not sure:
        return None
    if room is not None:
        found[ROOM] = room
    if REFS in wanted:
        refs = _REFS.search(text)
        if refs is not None:
            items = []
            for line in refs.group(1).decode("utf-8").splitlines():
                sure, value = fieldreader.scalar(line[3:])
                if not sure:
                    return None
                items.append(value)
            found[REFS] = items
    return found


def _from_tree(tree: Mapping[str, Any], wanted: frozenset[str]) -> dict[str, Any]:
    """What `_quick` gives, from a fully parsed record."""
    found: dict[str, Any] = {}
    for name in wanted - {REFS}:
        if name in tree:
            value = tree[name]
            found[name] = BLOCK if isinstance(value, (dict, list)) and value else value
    custody = tree.get("custody")
    if isinstance(custody, Mapping) and "room" in custody:
        found[ROOM] = custody["room"]
    refs = tree.get("refs")
    if isinstance(refs, list):
        found[REFS] = refs
    return found


@dataclass
class Record:
    code: Code
    fields: dict[str, Any]


def _record(categories: Mapping[str, Any], code: Code, fields: dict[str, Any]) -> Record:
    """A record as `due` keeps it: a secret record's hidden fields (its title) never shown."""
    return Record(code, categories[code.category].visible(fields) if code.category in categories else fields)


def _grep_rooms(vault: Vault, commit: str) -> dict[str, list[str]]:
    """Archive room -> paths of the records whose text has a `  room:` line, by one `git
    grep` (git searches in C, on every core; the records are not sent to Python): of the
    work tree when its records are those of the commit (git reads the files, three times
    faster than inflating every blob of the commit), else of the commit. In a valid record
    that line is `custody.room` (the only `room` property of the schemas), unless a line of
    a literal block reads so: `_confirmed` makes sure."""
    specs = vault.record_specs  # an office's checkout: its folders, no blob of another project
    clean = gitio.worktree_holds(vault.root, commit, specs)
    spec = [] if clean else [commit]
    proc = gitio.run(["grep", "-z", "-I", "--no-color", "--no-line-number", "--no-column", "-E",
                      "-e", "^  room:", *spec, "--", *specs], vault.root, ok=(0, 1))
    prefix = "" if clean else commit + ":"
    rooms: dict[str, list[str]] = {}
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        path, _, text = line.partition("\0")
        room = _candidate(text)
        if room is not None and path.startswith(prefix):
            rooms.setdefault(room, []).append(path[len(prefix):])
    return rooms


def _candidate(line: str) -> str | None:
    """The room a `  room:` line reads as, or None."""
    sure, room = fieldreader.scalar(line[len("  room:"):])
    return room if sure and isinstance(room, str) and room else None


def rooms_named(vault: Vault) -> set[str]:
    """The archive rooms the records of HEAD name, as `git grep` finds them (unconfirmed: a
    literal block may hold a line that reads like one; for shell completion)."""
    head = gitio.head(vault.root)
    return set(_grep_rooms(vault, head)) if head else set()


def _confirmed(vault: Vault, candidates: dict[str, list[str]], blob_of: Mapping[str, str]) -> dict[str, str]:
    """The rooms of `candidates` that some record's custody really names, each with that
    record's path (full reads, the first candidate of each room first: nearly always the
    one that confirms it)."""
    confirmed: dict[str, str] = {}
    pending = {room: list(paths) for room, paths in candidates.items()}
    while pending:
        batch = {room: paths.pop(0) for room, paths in pending.items() if paths}
        if not batch:
            break
        blobs = {blob_of[path]: (room, path) for room, path in batch.items() if path in blob_of}
        for blob, content in gitio.cat_blobs(vault.root, list(blobs)):
            tree = tree_or_none(content)
            custody = tree.get("custody") if tree is not None else None
            room, path = blobs[blob]
            if isinstance(custody, Mapping) and custody.get("room") == room:
                confirmed[room] = path
        pending = {room: paths for room, paths in pending.items() if room not in confirmed and paths}
    return confirmed


NAMERS = 3  # the records kept per room that name it, to follow a new commit without a grep
CARRIED = 2000  # more changed files than this: the grep again


def _fields_of(content: bytes, names: frozenset[str]) -> dict[str, Any] | None:
    """What `due` reads of a record: the fields `names`, `custody.room` and `refs`."""
    try:
        found = _quick(content, names)
    except UnicodeDecodeError:
        found = None
    if found is not None:
        return found
    tree = tree_or_none(content)
    return None if tree is None else _from_tree(tree, names)


def _names(content: bytes, names: frozenset[str] | None) -> set[str]:
    """The rooms one file adds to a commit's rooms, as a whole run finds them: the custody
    room its fields give (a record of a category read, `names`), and each room a `  room:`
    line of it reads as that its parsed custody names (`_grep_rooms`, `_confirmed`)."""
    found: set[str] = set()
    if names is not None:
        fields = _fields_of(content, names)
        if fields is not None and (room := _text(fields.get(ROOM))):
            found.add(room)
    text = content.decode("utf-8", "surrogateescape")
    lines = [line.splitlines()[0] if line else line for line in text.split("\n") if line.startswith("  room:")]
    candidates = {room for line in lines if (room := _candidate(line)) is not None}
    if candidates - found:
        tree = tree_or_none(content)
        custody = tree.get("custody") if tree is not None else None
        if isinstance(custody, Mapping) and custody.get("room") in candidates:
            found.add(custody["room"])
    return found


def _carry_rooms(vault: Vault, commit: str, stamp: str, gone: frozenset[str],
                 wanted: Mapping[str, frozenset[str]], known: tuple[str, list[Change]] | None = None
                 ) -> dict[str, list[str]] | None:
    """The rooms of `commit` (room -> up to NAMERS records naming it) from those kept for
    an earlier commit with the same handed-over records, following the files changed
    between them: a room stays while a record kept as naming it is unchanged, and a changed
    or added file is read as a whole run reads it (`_names`). None when that cannot be
    sure: no earlier rooms kept, other records handed over, more than CARRIED files
    changed, or every kept namer of a room changed and no changed file names it. `known`:
    (a commit, the changes of the records from it to `commit`), already asked of git."""
    before, kept = blobcache.load_any(vault.root, ROOMS)
    namers, since = kept.get("namers"), kept.get("commit")
    if (before is None or not isinstance(namers, dict) or not isinstance(since, str)
            or before.partition(":")[2] != stamp.partition(":")[2] or not gitio.has_object(vault.root, since)):
        return None
    if known is not None and known[0] == since:
        found = known[1]
    else:
        try:
            found = _record_changes(vault, since, commit)
        except GitError:
            return None
    changes = [(c.new or "0" * 40, c.path) for c in found]
    if len(changes) > CARRIED:
        return None
    changed = {path for _, path in changes}
    carried = {room: [path for path in paths if path not in changed] for room, paths in namers.items()
               if isinstance(paths, list)}
    added: dict[str, list[str]] = {}  # blob -> the paths that hold it now
    for blob, path in changes:
        if set(blob) != {"0"} and path not in gone:
            added.setdefault(blob, []).append(path)
    read = {path: code.category for code, path in _read([p for paths in added.values() for p in paths], wanted)}
    for blob, content in gitio.cat_blobs(vault.root, list(added)):
        for path in added[blob]:
            for room in _names(content, wanted[read[path]] if path in read else None):
                named = carried.setdefault(room, [])
                if len(named) < NAMERS:
                    named.append(path)
    if any(not paths for paths in carried.values()):
        return None  # a room whose namers all changed: only a whole run knows whether it stays
    return carried


def _record_changes(vault: Vault, since: str, commit: str) -> list[Change]:
    """The changes of the records `vault` reads (an office's folders) from `since` to `commit`."""
    return [c for c in commit_changes(vault.root, since, commit) if c.path.startswith(tuple(vault.record_specs))]


def _read(paths: list[str], wanted: Mapping[str, frozenset[str]]) -> list[tuple[Code, str]]:
    """(code, path) of the records of `paths` whose fields are read: those of a category in
    `wanted`, in its folder (the others are not read: their rooms come from the grep)."""
    read_paths = [path for path in paths if (folder := path.rsplit("/", 2)) and
                  (len(folder) < 3 or folder[1] in wanted)]
    found = []
    for path, code in zip(read_paths, fieldreader.codes_of_paths(read_paths), strict=True):
        if code is None:
            try:
                code = path_to_code(path)
            except CodeError:
                continue  # a stray file: `dangan check` reports it
        if code.category in wanted:
            found.append((code, path))
    return found


def _records(vault: Vault, commit: str, wanted: Mapping[str, frozenset[str]], gone: frozenset[str] = frozenset(),
             progress: Callable[[int], None] | None = None) -> tuple[list[Record], list[str], set[str]]:
    """(records of the categories in `wanted` with the fields they need, unreadable paths,
    the archive rooms of every record) of a commit. Only the records an obligation needs
    are read; the rooms of the others come from `git grep`, in parallel. The records whose
    path is in `gone` (handed over, docs/handover.md) are left out, with their rooms."""
    raw = gitio.tree_text(vault.root, commit, vault.record_specs)
    blob_of = {name.decode("utf-8", "surrogateescape"): blob.decode() for blob, name in _LS_TREE.findall(raw)}
    for path in gone:
        blob_of.pop(path, None)
    entries = [(code, path, blob_of[path]) for code, path in _read(list(blob_of), wanted)]
    category_of = {blob: code.category for code, _, blob in entries}

    def read(blob: str, content: bytes) -> dict[str, Any] | None:
        return _fields_of(content, wanted[category_of[blob]])

    # the rooms of every record, kept by the records folder's tree (one tree, one answer)
    tree_id = _rooms_stamp(vault, commit, gone)
    kept = blobcache.load(vault.root, ROOMS, tree_id).get("rooms") if tree_id else None
    known_rooms = {room for room in kept if isinstance(room, str)} if isinstance(kept, list) else None
    if known_rooms is None and tree_id:  # a new commit: the rooms of the last one, followed
        carried = _carry_rooms(vault, commit, tree_id, gone, wanted)
        if carried is not None:
            known_rooms = set(carried)
            blobcache.store(vault.root, ROOMS, tree_id, {"rooms": sorted(carried), "commit": commit,
                                                         "namers": carried})
    stamp = ";".join(f"{category}:{','.join(sorted(names))}" for category, names in sorted(wanted.items()))
    fields = {blob: value for blob, value in blobcache.load(vault.root, FIELDS, stamp).items()
              if blob in category_of}
    todo = [blob for blob in category_of if blob not in fields]
    with ThreadPoolExecutor(1) as pool:
        grep = pool.submit(_grep_rooms, vault, commit) if known_rooms is None else None
        if todo:
            fields.update(gitio.read_blobs(vault.root, todo, read, progress=progress))
            blobcache.store(vault.root, FIELDS, stamp, fields)
        candidates = grep.result() if grep is not None else {}
    if gone:
        candidates = {room: [p for p in paths if p not in gone] for room, paths in candidates.items()}
    records, unreadable = [], []
    categories = vault.schemas.categories
    for code, path, blob in entries:
        if fields[blob] is None:
            unreadable.append(path)
        else:
            records.append(_record(categories, code, fields[blob]))
    if known_rooms is not None:
        return records, unreadable, known_rooms
    namers: dict[str, list[str]] = {}
    for _code, path, blob in entries:
        if fields[blob] is not None and (room := _text(fields[blob].get(ROOM))):
            named = namers.setdefault(room, [])
            if len(named) < NAMERS:
                named.append(path)
    confirmed = _confirmed(vault, {room: paths for room, paths in candidates.items() if room not in namers}, blob_of)
    for room, path in confirmed.items():
        namers[room] = [path]
    rooms = set(namers)
    if tree_id:  # one tree, one answer: the stamp is the tree (and the records naming each
        # room, for the next commit's rooms: _carry_rooms)
        blobcache.store(vault.root, ROOMS, tree_id, {"rooms": sorted(rooms), "commit": commit, "namers": namers})
    return records, unreadable, rooms


def _rooms_stamp(vault: Vault, commit: str, gone: frozenset[str]) -> str | None:
    """What the rooms of a commit are kept under: its records folder's tree id, and the
    records handed over (the rooms of those still held)."""
    listed = gitio.run(["rev-parse", "--verify", "-q", f"{commit}:{RECORDS}"], vault.root, ok=(0, 1))
    tree_id = listed.stdout.decode().strip() or None
    if tree_id and gone:
        tree_id += ":" + hashlib.sha1("\n".join(sorted(gone)).encode()).hexdigest()
    return tree_id


# ------------------------------------------------------------------ obligations

def _marks(vault: Vault) -> dict[str, list[ob.Mark]]:
    schemas = vault.schemas
    found: dict[str, list[ob.Mark]] = {}
    for code, category in schemas.categories.items():
        marks = ob.marks_of(code, schemas.documents.get(category.schema) or {})
        if marks:
            found[code] = marks
    return found


def _wanted(marks: Mapping[str, list[ob.Mark]]) -> dict[str, frozenset[str]]:
    wanted: dict[str, set[str]] = {}
    for category, items in marks.items():
        names = wanted.setdefault(category, set(BASE))
        for mark in items:
            names.update((mark.field, *mark.met_by))
            if mark.derived == ob.MAINTENANCE:
                names.update(("installed", "opened"))
                wanted.setdefault("WX", set()).update(UPKEEP)
    wanted.setdefault("PD", set()).update(COUNTED)
    return {category: frozenset(names) for category, names in wanted.items()}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value and not is_enc(value) else None


def _last_upkeep(records: list[Record], tz: Any) -> dict[str, tuple[dt.date, str]]:
    """Equipment code -> (day, WX code) of its last finished upkeep job (WX kind '03')."""
    last: dict[str, tuple[dt.date, str]] = {}
    for record in records:
        f = record.fields
        if record.code.category != "WX" or f.get("kind") != ob.UPKEEP_KIND or f.get("status") not in ob.UPKEEP_DONE:
            continue
        day = to_day(f.get("finished"), tz) or to_day(f.get("closed"), tz) or to_day(f.get("started"), tz)
        if day is None:
            continue
        refs = f.get(REFS) if isinstance(f.get(REFS), list) else []
        for target in {f.get("target"), *refs}:
            if isinstance(target, str) and target.startswith("SB-") \
                    and (target not in last or (day, str(record.code)) > last[target]):
                last[target] = (day, str(record.code))
    return last


def _field_obligations(records: list[Record], marks: Mapping[str, list[ob.Mark]], tz: Any,
                       upkeep: dict[str, tuple[dt.date, str]] | None = None) -> list[ob.Obligation]:
    """The obligations of the records' marked dates and upkeep (`upkeep`: the last upkeep
    of each equipment, when `records` are not all of them)."""
    found = []
    for record in records:
        for mark in marks.get(record.code.category, ()):
            f = record.fields
            if not mark.open_for(f):
                continue
            title = _text(f.get("title"))
            if mark.derived == ob.MAINTENANCE:
                every = ob.interval(f.get(mark.field))
                if every is None:
                    continue
                if upkeep is None:
                    upkeep = _last_upkeep(records, tz)
                last = upkeep.get(str(record.code))
                if last is not None:
                    start, basis = last[0], f"last upkeep {last[1]} on {last[0]} + {every}"
                else:
                    start = to_day(f.get("installed"), tz) or to_day(f.get("opened"), tz)
                    if start is None:
                        continue
                    basis = f"no upkeep job; commissioned {start} + {every}"
                found.append(ob.Obligation(ob.MAINTENANCE, str(record.code), record.code.category, mark.field,
                                           mark.duty, mark.zh, ob.next_due(start, every), basis, title))
                continue
            due = to_day(f.get(mark.field), tz)
            if due is None:
                continue
            found.append(ob.Obligation("field", str(record.code), record.code.category, mark.field,
                                       mark.duty, mark.zh, due, f"{mark.field} {due}", title))
    return found


def _count_obligations(vault: Vault, records: list[Record], rooms: set[str], as_of: dt.date,
                       first: dt.date | None) -> list[ob.Obligation]:
    default, per_room = ob.count_intervals(vault.config)
    rooms = rooms | set(per_room)
    last: dict[str, tuple[dt.date, str]] = {}
    for record in records:
        f = record.fields
        if record.code.category != "PD" or f.get("status") != "completed" or f.get("cabinet") or f.get("scope"):
            continue  # only a completed count of a whole room counts the room
        room, day = _text(f.get("place")), to_day(f.get("counted_at"), vault.tz)
        if room is None or day is None or day > as_of:
            continue
        if room not in last or (day, str(record.code)) > last[room]:
            last[room] = (day, str(record.code))
    found = []
    for room in rooms:
        every = per_room.get(room, default)
        if room in last:
            start, basis = last[room][0], f"last inventory {last[room][1]} on {last[room][0]} + {every}"
        elif first is not None:
            start, basis = first, f"never counted; vault begun {first} + {every}"
        else:
            continue
        found.append(ob.Obligation(ob.COUNT, room, "PD", "inventory", "count the archive room", "檔案盤點",
                                   add_duration(start, every), basis, None))
    return found


def _assign(items: list[ob.Obligation], vault: Vault) -> list[ob.Obligation]:
    """Each obligation with the department that answers for it (model.departments): a
    record's department; for a room's count, the department that files inventories (PD)."""
    from dataclasses import replace

    department_of = deps.assigner(deps.parse(vault.config))
    out = []
    for item in items:
        if item.kind == ob.COUNT:
            code = Code("PD", Location(()), 0)
        else:
            code = _code_of(item.subject)
        department = department_of(code) if code is not None else None
        out.append(replace(item, department=department.name if department else deps.UNASSIGNED,
                           responsible=department.responsible if department else None))
    return out


def _code_of(text: str) -> Code | None:
    try:
        return parse_code(text)
    except CodeError:
        return None


def _path_of(text: str) -> str:
    code = _code_of(text)
    return code.path if code is not None else ""


def check_within(within: str) -> str:
    if not valid_duration(within):
        raise DanganError(Message("--within {within} is not an ISO 8601 duration", within=repr(within)),
                          Message("give days, weeks, months or years: P30D, P2W, P3M, P1Y (P0D: overdue only)"))
    return within


def compute(vault: Vault, as_of: dt.date | None = None, within: str = ob.DEFAULT_WITHIN,
            department: str | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The `dangan due --json` document (docs/duties.md): obligations overdue on `as_of` or
    falling due by `as_of` + `within`, earliest first; `progress(1)` is told of each record
    read from git (a cold run: seconds; a warm one reads the cache)."""
    from dangan.services.history import branch_tip, first_parent_chain, resolve

    check_within(within)
    day = as_of or vault.today()
    if department is not None and department != deps.UNASSIGNED:
        if (known := deps.named(deps.parse(vault.config), department)) is None:
            names = ", ".join(d.name for d in deps.parse(vault.config)) or "none are listed in vault.yaml"
            raise DanganError(Message("no department {department}", department=repr(department)), Message("departments: {names}; or {UNASSIGNED}", names=names, UNASSIGNED=deps.UNASSIGNED))
        department = known.name  # as vault.yaml writes it, whatever the script typed
    horizon = add_duration(day, within)
    tip = branch_tip(vault, None)
    chain = first_parent_chain(vault, tip) if tip else []
    found = resolve(vault, day.isoformat(), chain=chain)
    doc: dict[str, Any] = {
        "due": FORMAT,
        "vault": {"id": str(vault.config.get("id", "")), "name": str(vault.config.get("name", ""))},
        "as_of": day.isoformat(), "timezone": str(vault.tz), "within": within,
        "until": horizon.isoformat(), "commit": found.commit, "committed": found.committed,
        "department": department, "overdue": 0, "upcoming": 0, "obligations": [], "unreadable": [],
    }
    if found.commit is None:
        return doc
    # the answer about a commit and a day is kept (services/answers.py): asked again, read back
    kept_as = answers.key(vault, "due", found.commit, day, within=within, department=department)
    kept = answers.load(vault, "due", kept_as)
    if isinstance(kept, dict):
        return kept
    first = dt.datetime.fromtimestamp(chain[0].effective, vault.tz).date() if chain else None
    ground = _groundwork(vault, found.commit, progress)
    limit = horizon.toordinal()
    items = []
    for row in ground["field"]:  # soonest first
        if row[6] > limit:
            break
        items.append(ob.Obligation(*row[:6], dt.date.fromordinal(row[6]), *row[7:]))
    counts = [Record(parse_code(text), fields) for text, fields in ground["counts"]]
    items += _assign(_count_obligations(vault, counts, set(ground["rooms"]), day, first), vault)
    items = [item for item in items if item.due <= horizon and (department is None or item.department == department)]
    items.sort(key=lambda item: (item.due, item.subject, item.field))
    doc["obligations"] = [item.as_dict(day) for item in items]
    doc["overdue"] = sum(1 for item in items if item.due < day)
    doc["upcoming"] = len(items) - doc["overdue"]
    doc["unreadable"] = list(ground["unreadable"])
    return answers.store(vault, "due", kept_as, doc)


# ------------------------------------------------------------------ what the day does not change

GROUND = "due-ground"  # the groundwork's name among the kept answers
GROUND_FORMAT = "dangan due groundwork 2"


def _groundwork(vault: Vault, commit: str, progress: Callable[[int], None] | None) -> dict[str, Any]:
    """What `due` of `commit` is made of on any day, kept with the answers (services/answers.py,
    no day in its key): the obligations of the records' marked dates and upkeep, with their
    departments, soonest first (a record's date is the same whatever the day), and what the
    counts of the archive rooms read (the completed inventories, PD, and the rooms named).
    Given back as JSON reads it, as a kept one is: the first run shows what the next will."""
    return answers.groundwork(vault, GROUND, commit, GROUND_FORMAT, lambda: _lay(vault, commit, progress),
                              follow=lambda before: _follow(vault, before, commit))


def _rows(found: list[ob.Obligation]) -> list[list[Any]]:
    """Each Obligation's fields in order, its day as an ordinal."""
    return [[item.kind, item.subject, item.category, item.field, item.duty, item.zh, item.due.toordinal(),
             item.basis, item.title, item.department, item.responsible] for item in found]


def _lay(vault: Vault, commit: str, progress: Callable[[int], None] | None) -> dict[str, Any]:
    marks = _marks(vault)
    gone = frozenset(_path_of(text) for text in handed_over_on(vault.root, commit))
    records, unreadable, rooms = _records(vault, commit, _wanted(marks), gone - {""}, progress)
    upkeep = _last_upkeep(records, vault.tz)
    found = _assign(_field_obligations(records, marks, vault.tz, upkeep), vault)
    found.sort(key=lambda item: item.due)
    return {
        "format": GROUND_FORMAT,
        "commit": commit,
        "field": _rows(found),
        "counts": [[str(r.code), r.fields] for r in records if r.code.category == "PD"],
        "rooms": sorted(rooms),
        "unreadable": sorted(unreadable),
        "upkeep": {code: [day.toordinal(), job] for code, (day, job) in upkeep.items()},
    }


def _follow(vault: Vault, before: dict[str, Any], commit: str) -> dict[str, Any] | None:
    """The groundwork of `commit` from `before`, that of another commit (an ancestor, or one
    beside it), following the records changed between them (`git diff-tree`): their
    obligations and inventories (PD) taken out as they were and put in as they are; an
    equipment's upkeep followed when a job is added or moved later, its obligations read
    again; the archive rooms followed (`_carry_rooms`). None, to lay it from every record,
    when a handover (YJ) changed, an equipment's last upkeep job changed (an earlier one
    may be the last now), the rooms cannot be followed, or more than CARRIED files changed."""
    root, since, kept_upkeep = vault.root, before.get("commit"), before.get("upkeep")
    # any commit kept, an ancestor or beside it (an amended commit, a rebase): what `due`
    # judges is the records' content alone, which the tree diff gives, not their history
    if not isinstance(since, str) or not isinstance(kept_upkeep, dict) or not gitio.has_object(root, since):
        return None
    changes = _record_changes(vault, since, commit)
    if len(changes) > CARRIED or any(c.path.startswith(f"{RECORDS}/YJ/") for c in changes):
        return None
    marks = _marks(vault)
    wanted = _wanted(marks)
    gone = frozenset(_path_of(text) for text in handed_over_on(root, commit)) - {""}
    stamp = _rooms_stamp(vault, commit, gone)
    carried = _carry_rooms(vault, commit, stamp, gone, wanted, (since, changes)) if stamp else None
    if carried is None:
        return None
    blobcache.store(root, ROOMS, stamp, {"rooms": sorted(carried), "commit": commit, "namers": carried})
    tz, categories = vault.tz, vault.schemas.categories
    blob = {(c.path, side): b for c in changes for side, b in (("was", c.old), ("now", c.new)) if b}
    texts = dict(gitio.cat_blobs(root, set(blob.values())))

    def read(side: str) -> tuple[list[Record], list[str]]:
        records, unreadable = [], []
        for code, path in _read([c.path for c in changes if (c.path, side) in blob and c.path not in gone], wanted):
            fields = _fields_of(texts[blob[path, side]], wanted[code.category])
            if fields is None:
                unreadable.append(path)
            else:
                records.append(_record(categories, code, fields))
        return records, unreadable

    (was, _), (now, unreadable_now) = read("was"), read("now")
    upkeep = {code: (dt.date.fromordinal(day), job) for code, (day, job) in kept_upkeep.items()}
    for record in was:
        if any(upkeep.get(code) == last for code, last in _last_upkeep([record], tz).items()):
            return None  # an equipment's last upkeep job changed: an earlier one may be the last now
    affected = set()
    for record in now:
        for code, last in _last_upkeep([record], tz).items():
            if code not in upkeep or last > upkeep[code]:
                upkeep[code] = last
                affected.add(code)
    changed = {c.path.rsplit("/", 1)[-1].removesuffix(".yaml") for c in changes}
    again = [path for code in sorted(affected - changed) if (path := _path_of(code)) and path not in gone]
    cat = gitio.BlobCat(root)
    try:
        for code, path in _read(again, wanted):
            content = cat.at(commit, path)
            fields = _fields_of(content, wanted[code.category]) if content is not None else None
            if fields is not None:
                now.append(_record(categories, code, fields))
    finally:
        cat.close()
    subjects = changed | affected
    found = _assign(_field_obligations(now, marks, tz, upkeep), vault)
    field = [row for row in before["field"] if row[1] not in subjects] + answers.jsonable(_rows(found))
    field.sort(key=lambda row: row[6])  # soonest first (within a day: any order, the answer sorts)
    paths = {c.path for c in changes}
    return {
        "format": GROUND_FORMAT,
        "commit": commit,
        "field": field,
        "counts": [row for row in before["counts"] if row[0] not in changed]
                  + answers.jsonable([[str(r.code), r.fields] for r in now if r.code.category == "PD"]),
        "rooms": sorted(carried),
        "unreadable": sorted({path for path in before["unreadable"] if path not in paths} | set(unreadable_now)),
        "upkeep": {code: [day.toordinal(), job] for code, (day, job) in upkeep.items()},
    }
