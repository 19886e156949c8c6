"""Inventory of paper originals (盤點, plan §5.1, §7.1-7.2): sheets, results, discrepancies.

An inventory walks one archive room (or one cabinet of it) with a sheet that lists, in shelf
order, every record whose paper original should be there (`custody`). The counter fills in
a result per row — found, missing, damaged, misplaced — and `record` turns the filled sheet
into a PD record and, in the same commit, flags each record whose original is missing or
damaged (`custody.status` + `custody.inventory`), or clears the flag of one found again.

The sheet is built from clear fields only (`custody`, `title`): it never decrypts. Setting
or clearing a flag on an encrypted record does need its key, because the SOPS MAC covers
every value of the document, the clear ones too (docs/inventory.md).

Functions here take a Vault and plain arguments and return results; they never print.
"""
from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dangan import i18n
from dangan.errors import DanganError
from dangan.formats import fields as fieldreader
from dangan.formats.html import CSP, esc, table
from dangan.formats.schemas import is_enc
from dangan.formats.yamlio import YamlError, decode, dump, load_text
from dangan.i18n import N_, Message, _, language
from dangan.i18n import shown as in_language
from dangan.model import handover as handovers
from dangan.model import script, timeutil
from dangan.model.codes import Code, Location, parse_code
from dangan.services import records
from dangan.store.vault import RECORDS, Vault

CATEGORY = "PD"
PAPER = frozenset({"paper", "both"})
RESULTS = ("found", "missing", "damaged", "misplaced")
FLAGS = frozenset({"missing", "damaged"})
# what a counter may write in the result column besides the English words
RESULT_WORDS = {
    "在架": "found", "缺失": "missing", "丟失": "missing", "丢失": "missing",
    "損壞": "damaged", "损坏": "damaged", "錯架": "misplaced", "错架": "misplaced",
}
SHEET_COLUMNS = ("code", "title", "category", "room", "cabinet", "shelf", "box", "on_loan", "flagged", "result", "note")
HINT = Message("nothing was written; fix the sheet and run `dangan inventory record` again")
ROOMS_CACHE = "inventory-rooms.json"  # _custodies_of_commit
ROOMS_READER = "custodies 3"  # what it keeps: another reader of custodies starts it afresh
NAMERS = 3  # the last records naming a room kept, for a later commit to follow
FOLLOWED = 2000  # more files changed since the rooms kept: the grep again


# ------------------------------------------------------------------ the sheet

@dataclass(frozen=True)
class SheetRow:
    """A record whose paper original should be at a place (one line of a sheet)."""

    code: str
    title: str
    category: str
    room: str
    cabinet: str
    shelf: str
    box: str
    on_loan: str  # the JY loan that has the original out, if any: it is not on the shelf
    flagged: str  # the open discrepancy from an earlier inventory (missing, damaged) or ""

    def cells(self) -> list[str]:
        return [self.code, self.title, self.category, self.room, self.cabinet, self.shelf, self.box,
                self.on_loan, self.flagged, "", ""]


def natural_key(text: str) -> tuple[Any, ...]:
    """Shelf order: digit runs compare as numbers, so shelf 2 comes before shelf 10."""
    return tuple((0, int(part), part) if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part)


def _place_key(row: SheetRow) -> tuple[Any, ...]:
    # a record without a cabinet, shelf or box sorts after the placed ones of its room
    def level(value: str) -> tuple[Any, ...]:
        return (1,) if not value else (0, natural_key(value))

    code = parse_code(row.code)
    return (natural_key(row.room), level(row.cabinet), level(row.shelf), level(row.box),
            code.category, str(code.location), code.serial)


def _text(value: Any) -> str:
    """A clear one-line value of a record for the sheet ('' when absent or encrypted)."""
    if value is None or is_enc(value) or isinstance(value, (dict, list)):
        return ""
    return str(value)


def _custodies(vault: Vault) -> Iterator[tuple[Code, dict[str, Any], dict[str, Any]]]:
    """(code, record, custody) of every record in the work tree that has a custody mapping.

    Read as stored, without decrypting: custody and title are never sensitive. A record a
    handover (YJ) gave away is not this company's to count, even before its copy is removed.
    """
    handed = records.handed_over_codes(vault)
    for code, rel in vault.record_paths():
        if handed and str(code) in handed:
            continue
        try:
            data = (vault.root / rel).read_bytes()
        except OSError:
            continue
        if b"custody:" not in data:  # records without custody: no parse at all
            continue
        tree = _custody_part(data)
        custody = tree.get("custody") if tree is not None else None
        if isinstance(custody, dict):
            yield code, tree, custody


def _line(text: str) -> tuple[str, Any] | None:
    """What a `  room:` or `  status:` line found by the grep says: ("room", the room) when
    sure, ("read", None) when the record must be read whole (a flag, or a value the line
    reader is not sure of), None otherwise."""
    key = "  room:" if text.startswith("  room:") else "  status:"
    sure, value = fieldreader.scalar(text[len(key):])
    if key == "  status:":
        return ("read", None) if not sure or value in FLAGS else None
    if not sure:
        return ("read", None)  # read whole: whatever its room is
    return ("room", value) if isinstance(value, str) and value else None


def _custodies_of_rooms(vault: Vault, commit: str | None = None, kept: dict[str, Any] | None = None
                        ) -> Iterator[tuple[Code, dict[str, Any], dict[str, Any]]]:
    """What `room_summary` needs of `_custodies`, without reading every record: for each
    archive room the custody of the last record (in `_custodies`' order) that names it,
    and the custody of every record flagged missing or damaged, in that order.

    One `git grep` over the work tree (tracked and untracked files; git searches in C, on
    every core) finds the `  room:` and `  status:` lines; only the records whose status
    line may be a flag, and per room the records from the last until one confirms it (a
    line of a literal block can read like one), are parsed. Of `commit`'s records instead
    when one is given: the work tree's files when they are those of the commit (git reads
    files three times faster than it inflates blobs), else the commit's blobs.

    `kept`, when given, is told what a later commit follows (`_follow_rooms`): per room the
    last NAMERS records naming it ("namers", last first), and the records read for a flag
    ("flagged")."""
    from dangan.git import gitio

    specs = vault.record_specs
    if commit is None:
        clean, where, handed = True, ["--untracked"], records.handed_over_codes(vault)
    else:
        from dangan.rules.changes import handed_over_on

        clean = gitio.worktree_holds(vault.root, commit, specs)
        where, handed = ([] if clean else [commit]), handed_over_on(vault.root, commit)
    proc = gitio.run(["grep", "-z", "-I", "--no-color", "--no-line-number", "--no-column", "-E",
                      "-e", "^  room:", "-e", "^  status:", *where, "--", *specs], vault.root, ok=(0, 1))
    prefix = "" if clean else f"{commit}:"
    rooms: dict[str, list[str]] = {}
    flagged: set[str] = set()
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        path, _, text = line.partition("\0")
        if not path.endswith(".yaml") or not path.startswith(prefix):
            continue
        path = path[len(prefix):]
        said = _line(text)
        if said is None:
            continue
        if said[0] == "read":
            flagged.add(path)
        else:
            rooms.setdefault(said[1], []).append(path)
    read: dict[str, tuple[Code, dict[str, Any], dict[str, Any]] | None] = {}
    cat = None if clean else gitio.BlobCat(vault.root)  # the few records parsed, one process

    def content(rel: str) -> bytes:
        if cat is None:
            return (vault.root / rel).read_bytes()
        data = cat.at(commit, rel)
        if data is None:
            raise OSError(rel)
        return data

    def custody_of(rel: str) -> tuple[Code, dict[str, Any], dict[str, Any]] | None:
        if rel not in read:
            read[rel] = None
            try:
                code = parse_code(rel.rsplit("/", 1)[-1][:-len(".yaml")])
                if handed and str(code) in handed:
                    return None
                data = content(rel)
            except (DanganError, OSError):
                return None
            if (got := _custody_in(code, rel, data)) is not None:
                read[rel] = (code, *got)
        return read[rel]

    chosen: dict[str, str] = {}  # room -> the last path whose custody names it
    wanted: set[str] = set()
    namers: dict[str, list[str]] = {}  # room -> the last NAMERS paths naming it (kept)
    complete: set[str] = set()  # the rooms no other record names
    try:
        for room, paths in rooms.items():
            for rel in sorted(paths, key=_walk_order, reverse=True):
                found = custody_of(rel)
                if found is not None and _text(found[2].get("room")) == room:
                    chosen.setdefault(room, rel)
                    namers.setdefault(room, []).append(rel)
                    if kept is not None:
                        kept.setdefault("custodies", {})[rel] = found[2]
                    if kept is None or len(namers[room]) == NAMERS:
                        break
            else:  # every record naming it tried: its namers are all kept
                complete.add(room)
        wanted.update(chosen.values())
        for rel in flagged:
            found = custody_of(rel)
            if found is not None and (_text(found[2].get("room")) or found[2].get("status") in FLAGS):
                wanted.add(rel)
                if kept is not None:
                    kept.setdefault("flagged", []).append(rel)
    finally:
        if cat is not None:
            cat.close()
    if kept is not None:
        kept["namers"] = namers
        kept["complete"] = sorted(complete & set(namers))
        kept.setdefault("flagged", [])
        kept.setdefault("custodies", {})
    for rel in sorted(wanted, key=_walk_order):
        found = custody_of(rel)
        if found is not None:
            yield found


def _custodies_of_commit(vault: Vault, commit: str) -> list[tuple[Code, dict[str, Any], dict[str, Any]]]:
    """`_custodies_of_rooms` of a commit's records, kept by the ids of the trees of its
    record folders (`inventory-rooms.json`, services/blobcache.py): the next `stats` of
    another day with the same HEAD reads no record (the `git grep` of a million files takes
    20 s). What is kept is the code and the custody of each record found, clear fields."""
    from dangan.git import gitio
    from dangan.services import blobcache

    names = [f"{commit}:{spec.rstrip('/')}" for spec in vault.record_specs]
    proc = gitio.run(["rev-parse", *names], vault.root, check=False)
    stamp = f"{ROOMS_READER} {' '.join(proc.stdout.decode().split())}" if proc.returncode == 0 else None
    if stamp is None:
        return list(_custodies_of_rooms(vault, commit))
    before, kept = blobcache.load_any(vault.root, ROOMS_CACHE)
    if before == stamp:
        try:
            return [(parse_code(code), {}, custody) for code, custody in kept["found"]]
        except (DanganError, TypeError, ValueError, KeyError):
            pass  # not what this reader writes: found again
    followed = (_follow_rooms(vault, commit, kept)
                if before is not None and before.split(" ")[:2] == ROOMS_READER.split(" ") else None)
    if followed is None:
        followed = {}
        found = list(_custodies_of_rooms(vault, commit, followed))
        followed["found"] = [[str(code), custody] for code, _t, custody in found]
    else:
        found = [(parse_code(code), {}, custody) for code, custody in followed["found"]]
    blobcache.store(vault.root, ROOMS_CACHE, stamp, {**followed, "commit": commit})
    return found


def _follow_rooms(vault: Vault, commit: str, kept: dict[str, Any]) -> dict[str, Any] | None:
    """What `_custodies_of_commit` keeps, for `commit`, from what it kept for an earlier
    commit, following the records changed between them (`git diff-tree`): each changed
    record is scanned as the grep scans it and read as the grep's findings are; a room
    keeps its last namer unless every namer kept changed (a room whose namers are all kept,
    "complete", is then gone unless a changed record names it). None when that cannot be
    sure: nothing kept to follow, a handover (YJ) changed, more than FOLLOWED files changed,
    or a room whose kept namers all changed while others may name it."""
    from dangan.git import gitio
    from dangan.rules.changes import commit_changes, handed_over_on

    since, found, namers, flagged = kept.get("commit"), kept.get("found"), kept.get("namers"), kept.get("flagged")
    custodies = kept.get("custodies")
    if (not isinstance(since, str) or not isinstance(found, list) or not isinstance(namers, dict)
            or not isinstance(flagged, list) or not isinstance(custodies, dict)
            or not isinstance(kept.get("complete"), list)
            or not gitio.has_object(vault.root, since)):
        return None
    changes = [c for c in commit_changes(vault.root, since, commit) if c.path.startswith(tuple(vault.record_specs))]
    if len(changes) > FOLLOWED or any(c.path.startswith(f"{RECORDS}/{handovers.CATEGORY}/") for c in changes):
        return None
    changed = {c.path for c in changes}
    handed = handed_over_on(vault.root, commit)
    try:
        custody_at = {parse_code(code).path: custody for code, custody in found}
    except (DanganError, TypeError, ValueError):
        return None
    custody_at.update(custodies)
    now: dict[str, dict[str, Any]] = {}  # changed path -> its custody now, when it has one
    scanned: dict[str, list[tuple[str, Any]]] = {}  # changed path -> what the grep would find in it
    texts = dict(gitio.cat_blobs(vault.root, {c.new for c in changes if c.new and c.path.endswith(".yaml")}))
    for c in changes:
        if not c.new or c.new not in texts:
            continue
        text = texts[c.new].decode("utf-8", "surrogateescape")
        scanned[c.path] = [said for line in text.split("\n")
                           if line.startswith(("  room:", "  status:")) and (said := _line(line)) is not None]
        try:
            code = parse_code(c.path.rsplit("/", 1)[-1][:-len(".yaml")])
        except DanganError:
            continue
        if str(code) not in handed and (got := _custody_in(code, c.path, texts[c.new])) is not None:
            now[c.path] = got[1]
    complete = set(kept.get("complete") or [])
    followed: dict[str, list[str]] = {}
    for room, paths in namers.items():
        left = [path for path in paths if path not in changed]
        if not left and room not in complete:
            return None  # every kept namer changed: an earlier namer may be the last now
        followed[room] = left
    for path, found_in in scanned.items():
        for kind, room in found_in:
            if kind == "room" and path in now and _text(now[path].get("room")) == room:
                followed.setdefault(room, []).append(path)
    still: set[str] = set()  # the rooms whose namers are all kept still
    for room, paths in list(followed.items()):
        ordered = sorted(set(paths), key=_walk_order, reverse=True)
        if (room in complete or room not in namers) and len(ordered) <= NAMERS:
            still.add(room)  # a new room: every record naming it is a changed one
        if ordered:
            followed[room] = ordered[:NAMERS]
        else:
            del followed[room]
    wanted_flag = [path for path in flagged if path not in changed]
    wanted_flag += [path for path, found_in in scanned.items()
                    if any(kind == "read" for kind, _ in found_in) and path in now
                    and (_text(now[path].get("room")) or now[path].get("status") in FLAGS)]
    wanted = {paths[0] for paths in followed.values()} | set(wanted_flag)
    custody_at.update(now)
    return {"found": [[path.rsplit("/", 1)[-1][:-len(".yaml")], custody_at[path]]
                      for path in sorted(wanted, key=_walk_order)],
            "namers": followed, "complete": sorted(still & set(followed)), "flagged": sorted(wanted_flag, key=_walk_order),
            "custodies": {path: custody_at[path] for paths in followed.values() for path in paths}}


def _custody_in(code: Code, rel: str, data: bytes) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(what was parsed, the custody) of the text of `code`'s record at `rel`, when it lies at
    its code's path and has a custody mapping."""
    if b"custody:" not in data or code.path != rel:
        return None
    tree = _custody_part(data)
    custody = tree.get("custody") if tree is not None else None
    return (tree, custody) if tree is not None and isinstance(custody, dict) else None


def _walk_order(rel: str) -> tuple[tuple[int, str], ...]:
    """`Vault.record_files`' order: folders depth first in name order, each folder's files
    before its subfolders."""
    *folders, name = rel.split("/")
    return (*((1, f) for f in folders), (0, name))


_PART = re.compile(r"^(?:title: [^\n]*\n|custody:\n(?:(?:  [^\n]*|[ \t]*#[^\n]*)?\n)*)", re.M)


def _custody_part(data: bytes) -> dict[str, Any] | None:
    """`title` and `custody` of a stored record, parsing only those lines (a whole record
    costs ten times more; a sheet of a large vault reads every record). A record on disk is
    in canonical form, so both are top-level keys at the start of a line; anything the
    small parse cannot take falls back to reading the whole file."""
    try:
        text = decode(data)
    except YamlError:
        return None  # check reports it (DG101)
    part = "".join(m.group(0) for m in _PART.finditer(text))
    for candidate in (part, text):
        try:
            return load_text(candidate)
        except YamlError:
            continue
    return None


def _originals_out(vault: Vault) -> dict[str, str]:
    """code -> the loan that has its paper original out today."""
    from dangan.services import lending

    out: dict[str, str] = {}
    for loan in lending.loans(vault, "out"):
        if loan.form == "original":
            for code in loan.records:
                out.setdefault(code, loan.code)
    return out


def sheet(vault: Vault, room: str | None = None, cabinet: str | None = None) -> list[SheetRow]:
    """Every record whose paper original should be in `room` (and `cabinet`), in shelf order.

    Only records with `custody.form` paper or both; destroyed records are gone from the
    work tree and so from the sheet. Without `room`, every room. `room` may be written in
    either script (总部档案室 is 總部檔案室: model/script.py); the rows show the room as stored.
    """
    if cabinet is not None and room is None:
        raise DanganError(Message("--cabinet needs --room"), Message("cabinets are numbered within a room: give --room ROOM --cabinet C"))
    loans = _originals_out(vault)
    rows = []
    rooms: set[str] = set()
    folded: dict[str, bool] = {}  # a room as stored -> is it `room`? (one conversion a name)
    for code, tree, custody in _custodies(vault):
        if custody.get("form") not in PAPER:
            continue
        where = _text(custody.get("room"))
        if where:
            rooms.add(where)
        if not where or (room is not None and where != room
                         and not folded.setdefault(where, script.same(where, room))):
            continue
        if cabinet is not None and _text(custody.get("cabinet")) != cabinet:
            continue
        rows.append(SheetRow(
            code=str(code), title=_text(tree.get("title")), category=code.category, room=where,
            cabinet=_text(custody.get("cabinet")), shelf=_text(custody.get("shelf")), box=_text(custody.get("box")),
            on_loan=loans.get(str(code), ""), flagged=_text(custody.get("status")),
        ))
    settings = vault.config.get("inventory")
    configured = settings.get("rooms") if isinstance(settings, dict) else None
    if (room is not None and not rows and not script.matching(room, rooms)
            and not script.matching(room, configured or {})):
        # an empty sheet for a room nothing names would pass for "nothing to count there"
        near = script.nearest(room, sorted(rooms))
        raise DanganError(Message("no record's paper original is in a room called {room}", room=repr(room)),
                          (f"did you mean {', '.join(near)}? " if near else "")
                          + f"rooms named by the records: {', '.join(sorted(rooms)) or 'none'}")
    return sorted(rows, key=_place_key)


def stored_room(rows: Any, room: str) -> str:
    """The room as the records write it, when `room` names it in the other script and the
    records agree on one spelling (what a PD record and a sheet's heading show)."""
    names = {row.room for row in rows}
    return names.pop() if len(names) == 1 else room


def sheet_csv(rows: list[SheetRow]) -> str:
    """The sheet as CSV, result and note left empty for the counter."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SHEET_COLUMNS)
    for row in rows:
        writer.writerow(row.cells())
    return buffer.getvalue()


_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:1.5rem;color:#111}
h1{font-size:1.3rem;margin:0 0 .2rem}p{margin:.2rem 0}
table{border-collapse:collapse;width:100%;margin:.8rem 0;font-size:.9rem}
th,td{border:1px solid #888;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}td.fill{min-width:6rem}tr{break-inside:avoid}
.sign{margin-top:1.5rem;display:flex;gap:4rem}.muted{color:#555}
@media print{body{margin:0}}
"""


# the sheet's language: English keeps the `zh` it always had (its words are English with
# traditional glosses, byte for byte as before); a Chinese sheet names its script
_SHEET_LANG = {"en": "zh", "zh-Hans": "zh-Hans", "zh-Hant": "zh-Hant"}
# an earlier inventory's flag on the sheet, by its word in the interface language
_FLAG_WORDS = {"missing": N_("missing"), "damaged": N_("damaged")}


def sheet_html(rows: list[SheetRow], vault_name: str, room: str | None, cabinet: str | None, day: dt.date) -> str:
    """A printable sheet in the interface language (English: as it always was, with its
    Chinese glosses): no script, no external resource, every value escaped. The values of
    the records (codes, titles, rooms) are shown as stored."""
    place = room or _("全部檔案室 all rooms")
    if cabinet:
        place += _(" / {cabinet}櫃").format(cabinet=cabinet)
    headers = ("#", _("檔案編號 code"), _("題名 title"), _("類別"), _("檔案室"), _("櫃"), _("層"), _("盒"),
               _("借出 on loan"), _("前次異常"), _("結果 result"), _("說明 note"))
    cells = [[str(number), row.code, row.title, row.category, row.room, row.cabinet, row.shelf, row.box,
              row.on_loan, _(_FLAG_WORDS[row.flagged]) if row.flagged in _FLAG_WORDS else row.flagged]
             for number, row in enumerate(rows, start=1)]
    return (
        f"<!DOCTYPE html>\n<html lang=\"{_SHEET_LANG[language()]}\"><head><meta charset=\"utf-8\">"
        f"{CSP}"
        f"<title>{esc(_('盤點表 {place}').format(place=place))}</title><style>{_CSS}</style></head><body>"
        f"<h1>{esc(_('檔案盤點表 Inventory sheet — {place}').format(place=place))}</h1>"
        f"<p>{esc(_('{vault} · 製表 {day} · {count} 件').format(vault=vault_name, day=day.isoformat(), count=len(rows)))}</p>"
        "<p class=\"muted\">"
        + esc(_("結果 result: found 在架 / missing 缺失 / damaged 損壞 / misplaced 錯架; "
                "an original on loan is not on the shelf: leave its result empty. Records found here that the sheet "
                "does not list: add a row with their code and misplaced."))
        + "</p>"
        + table(headers, cells, row_tail='<td class="fill"></td><td class="fill"></td>') +
        "<div class=\"sign\"><p>" + esc(_("盤點人 counted by: ____________")) + "</p><p>"
        + esc(_("複核人 witness: ____________")) + "</p><p>" + esc(_("日期 date: ____________"))
        + "</p></div></body></html>\n"
    )


# ---------------------------------------------------------------- the results

@dataclass(frozen=True)
class Counted:
    line: int  # row of the CSV file as a spreadsheet numbers it (1 is the header)
    code: str
    result: str
    note: str | None


@dataclass(frozen=True)
class Recorded:
    """What `record` wrote (JSON shape of `inventory record`, docs/inventory.md)."""

    code: str
    path: str
    commit: str | None
    place: str
    cabinet: str | None
    counted_at: str
    results: dict[str, int]
    not_counted: list[str]
    flagged: list[str]
    cleared: list[str]


def _result(raw: str) -> str | None:
    word = raw.strip()
    return word.lower() if word.lower() in RESULTS else RESULT_WORDS.get(word)


def _csv_rows(data: bytes, name: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of the filled sheet (UTF-8, with or without the BOM spreadsheets write)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DanganError(Message("{name}: not UTF-8 (invalid byte at offset {start})", name=name, start=exc.start), Message("save the sheet as CSV UTF-8")) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        lines = list(reader)
    except csv.Error as exc:
        raise DanganError(Message("{name}: line {line_num}: {exc}", name=name, line_num=reader.line_num, exc=exc), Message("save the sheet as CSV UTF-8")) from None
    if not lines or not any(cell.strip() for cell in lines[0]):
        raise DanganError(Message("{name}: no header row", name=name), Message("the first row names the columns: {value}", value=','.join(SHEET_COLUMNS)))
    header = [cell.strip() for cell in lines[0]]
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
            raise DanganError(Message("{name}: row {number} has more cells than the header", name=name, number=number), HINT)
        rows.append(dict(zip(header, cells)))
    return header, rows


def read_results(data: bytes, name: str) -> tuple[list[Counted], set[str]]:
    """The rows of a filled sheet that have a result, and the rooms the rows name.

    Every bad row is collected; any at all is exit 2 naming its line and column.
    """
    header, rows = _csv_rows(data, name)
    for column in ("code", "result"):
        if column not in header:
            raise DanganError(Message("{name}: no `{column}` column", name=name, column=column), Message("fill in the CSV written by `dangan inventory sheet`"))
    counted: list[Counted] = []
    rooms: set[str] = set()
    errors: list[str] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        text = (row.get("code") or "").strip()
        raw = (row.get("result") or "").strip()
        note = (row.get("note") or "").strip() or None
        if (row.get("room") or "").strip():
            rooms.add((row.get("room") or "").strip())
        if not raw:
            if note and text:
                errors.append(Message("row {line}, column result: {text} has a note but no result", line=line, text=text))
            continue  # not counted
        if not text:
            errors.append(Message("row {line}, column code: a result without a code", line=line))
            continue
        result = _result(raw)
        if result is None:
            errors.append(Message("row {line}, column result: {raw} is not one of {value}", line=line, raw=repr(raw), value=', '.join(RESULTS)))
            continue
        try:
            code = str(parse_code(text))
        except DanganError:
            errors.append(Message("row {line}, column code: {text} is not an archive code", line=line, text=repr(text)))
            continue
        if code in seen:
            errors.append(Message("row {line}, column code: {code} is already counted on row {value}", line=line, code=code, value=seen[code]))
            continue
        seen[code] = line
        if note is not None and ("\n" in note or "\r" in note or len(note) > 500):
            errors.append(Message("row {line}, column note: one line of at most 500 characters", line=line))
            continue
        counted.append(Counted(line, code, result, note))
    _refuse_rows(name, errors)
    return counted, rooms


def _refuse_rows(name: str, errors: list[str]) -> None:
    """Exit 2 naming the first bad rows: the whole sheet is judged before anything is written."""
    if errors:
        shown = i18n._("; ").join(in_language(e) for e in errors[:5])
        if len(errors) > 5:
            raise DanganError(Message("{name}: {count} bad row(s) (and {more} more): {rows}", name=name,
                                      count=len(errors), more=len(errors) - 5, rows=shown), HINT)
        raise DanganError(Message("{name}: {count} bad row(s): {rows}", name=name, count=len(errors), rows=shown),
                          HINT)


def _flag_change(custody: dict[str, Any], result: str) -> str | None:
    """The flag a record gets from a result: 'missing'/'damaged' to set, '' to clear, None
    to leave it as it is (a flag already saying the same keeps the inventory that found it)."""
    current = custody.get("status")
    if result in FLAGS:
        return None if current == result else result
    if result == "found":
        return "" if current else None
    # misplaced: the original turned up (elsewhere), so it is no longer missing; a damage stands
    return "" if current == "missing" else None


@dataclass
class _Plan:
    changes: dict[str, bytes] = field(default_factory=dict)
    flagged: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)


def _flag_records(vault: Vault, counted: list[Counted], pd_code: str) -> _Plan:
    """The new bytes of every record whose flag changes (validated, re-sealed if encrypted)."""
    plan = _Plan()
    wanted: list[tuple[Code, str, dict[str, Any]]] = []
    for item in counted:
        code = parse_code(item.code)
        stored, _ = vault.read(code)
        custody = stored.get("custody") if isinstance(stored.get("custody"), dict) else {}
        change = _flag_change(custody, item.result)
        if change is not None:
            wanted.append((code, change, stored))
    sealed_codes = [str(code) for code, _, stored in wanted if "sops" in stored]
    if sealed_codes and not vault.keyring.available():
        shown = ", ".join(sealed_codes[:5]) + (f" and {len(sealed_codes) - 5} more" if len(sealed_codes) > 5 else "")
        raise DanganError(
            Message("setting the custody flag of encrypted record(s) {shown} needs their key (the SOPS MAC covers every value, the clear custody too)", shown=shown),
            Message("give --identity FILE of a recipient; nothing was written"),
        )
    for code, change, _stored in wanted:
        plain, rt, stored = records.read_plain(vault, code)
        new = copy.deepcopy(plain)
        targets = [new] + ([rt] if rt is not None else [])
        for tree in targets:
            custody = tree["custody"]
            if change:
                custody["status"] = change
                custody["inventory"] = pd_code
            else:
                for key in ("status", "inventory"):
                    if key in custody:
                        del custody[key]
        sealed = records.prepare(vault, code, new, previous=stored)
        out = rt if (rt is not None and "sops" not in sealed) else sealed  # a clear record keeps its comments
        plan.changes[code.path] = vault.render(code.path, out)
        (plan.flagged if change else plan.cleared).append(str(code))
    return plan


def record(
    vault: Vault,
    data: bytes,
    name: str,
    by: str | None,
    witness: str,
    at: str | None = None,
    room: str | None = None,
    cabinet: str | None = None,
    title: str | None = None,
    actions: str | None = None,
    commit: bool = True,
) -> Recorded:
    """A filled sheet -> one PD record and the flags on the records it counted, one commit."""
    from dangan.services.lending import person

    who = person(vault, by)
    if not witness or not witness.strip():
        raise DanganError(Message("an inventory needs a witness"), Message("give --witness NAME (複核人)"))
    if witness.strip() == who.strip():
        raise DanganError(Message("the witness must be someone other than the counter ({who})", who=who), Message("give --witness NAME of a second person"))
    moment = timeutil.parse_at(at, vault.tz)
    counted, rooms = read_results(data, name)
    if room is None:
        if len({script.fold(r) for r in rooms}) != 1:
            found = ", ".join(sorted(rooms)) or "none"
            raise DanganError(Message("{name}: the rows name {count} rooms ({found}); one inventory is of one room", name=name, count=len(rooms), found=found),
                              Message("give --room ROOM, or split the sheet by room"))
        room = min(rooms)
    if not counted:
        raise DanganError(Message("{name}: no row has a result; nothing was counted", name=name), Message("fill in the result column"))
    with vault.lock():
        expected = {row.code: row for row in sheet(vault, room, cabinet)}
        room = stored_room(expected.values(), room)
        _check_places(vault, counted, expected, room, cabinet, name)
        code = records.allocate(vault, CATEGORY, Location())
        position = {c: i for i, c in enumerate(expected)}
        ordered = sorted(counted, key=lambda c: (0, position[c.code]) if c.code in position else (1, c.line))
        results = []
        for item in ordered:
            entry: dict[str, Any] = {"code": item.code, "result": item.result}
            if item.note:
                entry["note"] = item.note
            results.append(entry)
        day = moment.astimezone(vault.tz).date().isoformat()
        where = f"{room} {cabinet}櫃" if cabinet else room
        tree: dict[str, Any] = {
            "code": str(code), "category": CATEGORY, "title": title or f"{where}盤點（{day}）",
            "status": "completed", "opened": day, "closed": day, "place": room,
        }
        if cabinet:
            tree["cabinet"] = cabinet
        tree.update({"counted_at": timeutil.stamp(moment, vault.tz), "by": who, "checked_by": witness.strip(),
                     "results": results})
        if actions:
            tree["actions"] = actions
        document = records.prepare(vault, code, tree)
        plan = _flag_records(vault, counted, str(code))
        changes: dict[str, bytes | None] = {code.path: dump(document).encode(), **plan.changes}
        commit_id = vault.apply(changes, _message(code, plan), commit)
    tally = {r: sum(1 for c in counted if c.result == r) for r in RESULTS}
    done = {c.code for c in counted}
    return Recorded(str(code), code.path, commit_id, room, cabinet, tree["counted_at"], tally,
                    [c for c in expected if c not in done], plan.flagged, plan.cleared)


def _check_places(vault: Vault, counted: list[Counted], expected: dict[str, SheetRow], room: str,
                  cabinet: str | None, name: str) -> None:
    """A counted code must exist; one that the sheet does not list can only be misplaced."""
    errors = []
    destroyed: set[str] | None = None
    handed: set[str] = set()
    for item in counted:
        if item.code in expected:
            loan = expected[item.code].on_loan
            if loan and item.result == "missing":
                errors.append(Message("row {line}, column result: the original of {code} is out on loan {loan}, not missing; leave its result empty (not counted)", line=item.line, code=item.code, loan=loan))
            continue
        code = parse_code(item.code)
        if code.category not in vault.schemas.categories or not vault.path_of(code).is_file():
            if destroyed is None:
                destroyed = records.destroyed_codes(vault)
                handed = records.handed_over_codes(vault)
            why = (Message("was destroyed") if item.code in destroyed
                   else Message("was handed over") if item.code in handed else Message("is no record of this vault"))
            errors.append(Message("row {line}, column code: {code} {why}", line=item.line, code=item.code, why=why))
        elif item.result != "misplaced":
            here = f"{room} {cabinet}櫃" if cabinet else room
            errors.append(Message("row {line}, column result: {code} is not on the sheet of {here} (its custody says it is elsewhere, or it has no paper original); a record found where it does not belong is `misplaced`", line=item.line, code=item.code, here=here))
    _refuse_rows(name, errors)


def _message(code: Code, plan: _Plan) -> str:
    parts = [f"dangan inventory record: {code}"]
    for label, codes in (("flagged", plan.flagged), ("cleared", plan.cleared)):
        if codes:
            shown = " ".join(codes[:10]) + (f" and {len(codes) - 10} more" if len(codes) > 10 else "")
            parts.append(f"{label} {shown}")
    return "; ".join(parts)


# -------------------------------------------------------------------- reports

def inventories(vault: Vault, commit: str | None = None) -> list[dict[str, Any]]:
    """Every PD record (clear: inventories have no sensitive fields) of the work tree, or of
    `commit`, oldest first."""
    found = []
    for name, data in _pd_texts(vault, commit):
        try:
            tree = load_text(decode(data))
        except YamlError:
            continue  # check reports it (DG101)
        if not isinstance(tree, dict):
            continue
        results = [r for r in tree.get("results") or [] if isinstance(r, dict)]
        found.append({
            "code": str(tree.get("code", name)),
            "status": tree.get("status"),
            "place": tree.get("place"),
            "cabinet": tree.get("cabinet"),
            "counted_at": tree.get("counted_at"),
            "by": tree.get("by"),
            "checked_by": tree.get("checked_by"),
            "results": {r: sum(1 for x in results if x.get("result") == r) for r in RESULTS},
            "notes": {str(x.get("code")): x.get("note") for x in results},
        })
    return sorted(found, key=lambda pd: (str(pd["counted_at"] or ""), natural_key(pd["code"])))


def _pd_texts(vault: Vault, commit: str | None) -> list[tuple[str, bytes]]:
    """(file name without .yaml, content) of every PD record file, in name order."""
    if commit is None:
        folder = vault.root / RECORDS / CATEGORY
        return [(path.stem, path.read_bytes()) for path in sorted(folder.glob(f"{CATEGORY}-*.yaml"))]
    from dangan.git import gitio

    entries = [e for e in gitio.ls_tree(vault.root, commit, [f"{RECORDS}/{CATEGORY}/"])
               if re.fullmatch(rf"{RECORDS}/{CATEGORY}/{CATEGORY}-[^/]*\.yaml", e.path)]
    texts = dict(gitio.cat_blobs(vault.root, list({e.blob for e in entries})))
    return sorted((e.path.rsplit("/", 1)[-1][:-len(".yaml")], texts[e.blob]) for e in entries)


def _day(vault: Vault, stamp: Any) -> dt.date | None:
    if not isinstance(stamp, str):
        return None
    try:
        return timeutil.record_time(stamp, vault.tz).astimezone(vault.tz).date()
    except ValueError:
        return None


def room_summary(vault: Vault, as_of: dt.date | None = None, commit: str | None = None) -> list[dict[str, Any]]:
    """Per archive room: its last completed inventory and its open discrepancies, as of a day.

    Open discrepancies are the records of the room flagged missing or damaged today by an
    inventory counted on or before `as_of` (a flag cleared since is not seen: the flags are
    the current state, docs/inventory.md). Today is the work tree, or `commit` when one is
    given (`stats`: HEAD, the state as committed).
    """
    day = as_of or vault.today()
    every = inventories(vault, commit)
    pds = [pd for pd in every if (when := _day(vault, pd["counted_at"])) is not None and when <= day]
    by_code = {pd["code"]: pd for pd in pds}
    later = {pd["code"] for pd in every} - set(by_code)
    rooms: dict[str, dict[str, Any]] = {}  # by the name in one script: 总部档案室 is 總部檔案室

    def entry(room: str) -> dict[str, Any]:
        return rooms.setdefault(script.fold(room), {"room": room, "last_inventory": None, "inventory": None,
                                                    "open_discrepancies": 0, "discrepancies": []})

    for pd in pds:
        if pd["status"] == "completed" and isinstance(pd["place"], str):
            item = entry(pd["place"])
            item["last_inventory"] = _day(vault, pd["counted_at"]).isoformat()
            item["inventory"] = pd["code"]  # pds are oldest first: the last one wins
    for code, _tree, custody in (_custodies_of_commit(vault, commit) if commit else _custodies_of_rooms(vault)):
        room = _text(custody.get("room"))
        if not room:
            continue
        item = entry(room)
        item["room"] = room  # the records' spelling over an inventory's
        status = custody.get("status")
        if status not in FLAGS:
            continue
        found_by = str(custody.get("inventory") or "")
        pd = by_code.get(found_by)
        if found_by in later:
            continue  # flagged by an inventory counted after `as_of`
        item["discrepancies"].append({"code": str(code), "result": status,
                                      "note": pd["notes"].get(str(code)) if pd else None})
    for item in rooms.values():
        item["discrepancies"].sort(key=lambda d: natural_key(d["code"]))
        item["open_discrepancies"] = len(item["discrepancies"])
    return sorted(rooms.values(), key=lambda item: natural_key(item["room"]))
