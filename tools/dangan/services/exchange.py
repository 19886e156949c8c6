"""Data exchange (plan §6.2): `dangan import` of many records from a spreadsheet (CSV or
.xlsx), all or nothing, and `dangan export` back to CSV or JSON. docs/exchange.md is the
user's description; this module's rules are the ones stated there.

The header row names the fields (dotted paths such as `complainant.phone` or
`owners.0.name`); each cell is typed by the category's schema like a `--set` value, and an
empty cell leaves the field out. The location of each row comes from the column named by
`--location-column` (default `location`, if present). Every row is validated — and its
sensitive values encrypted — before anything is written; then all records land in one
commit. Bad rows are reported by row number and column and nothing is written.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dangan.errors import DanganError, RecordError
from dangan.formats import fielddoc
from dangan.formats.yamlio import dump
from dangan.i18n import Message
from dangan.model.codes import Code, Location, parse_location
from dangan.services import records

MAX_ERRORS = 20
SHOWN_ERRORS = 10  # lines printed on stderr; --json has every error
SHOWN_WIDTH = 200  # characters of one printed error line (a cell may hold kilobytes)
XLSX_MAGIC = b"PK\x03\x04"  # a zip archive: what every .xlsx is
# an .ods is a zip archive too, whose first member is its `mimetype`, stored uncompressed
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls, encrypted .xlsx
# bytes no text encoding of a sheet uses (tab, newlines, form feed and ESC left out)
BINARY_BYTES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}
SAVE_AS = "dangan reads CSV UTF-8 and .xlsx workbooks: open the file in a spreadsheet and save it as one of those"
EXACT_DIGITS = 15  # Excel keeps 15 significant digits of a number; more are lost


@dataclass(frozen=True)
class Imported:
    codes: list[str]
    commit: str | None


class RowErrors(DanganError):
    """Rows that are not valid: nothing was imported. `errors` has one line each (every
    error, for --json); `shown()` the lines a terminal gets."""

    def __init__(self, message: str, hint: str, errors: list[str], name: str = "") -> None:
        super().__init__(message, hint)
        self.errors = errors
        self.name = name

    def shown(self) -> list[str]:
        """One line per bad cell, at most SHOWN_ERRORS of them and each at most SHOWN_WIDTH
        characters (a cell of kilobytes quoted in a reason), then how many more there are."""
        where = f"{self.name}: " if self.name else ""
        lines = [where + (e if len(e) <= SHOWN_WIDTH else e[: SHOWN_WIDTH - 1] + "…")
                 for e in self.errors[:SHOWN_ERRORS]]
        if len(self.errors) > SHOWN_ERRORS:
            lines.append(f"... and {len(self.errors) - SHOWN_ERRORS} more (--json lists every error)")
        return lines


@dataclass(frozen=True)
class Table:
    """A sheet: its header and its rows, each with the row number a spreadsheet shows
    (the header is row 1). CSV cells are strings; .xlsx cells are what the workbook holds
    (str, int, float, bool, datetime, date, time, or None for an empty cell)."""

    header: list[str]
    rows: list[tuple[int, dict[str, Any]]]


# ----------------------------------------------------------- spreadsheet formulas
#
# A spreadsheet evaluates a CSV cell that begins with `=`, `+`, `-` or `@` (and, in some,
# tab, carriage return, line feed or NUL) as a formula: `=HYPERLINK(...)`, `=cmd|'...'!A0`.
# OWASP's rule: such a cell is written with a `'` in front, which a spreadsheet takes as
# "this is text", and quoted. docs/exchange.md "Spreadsheet formulas" states the rule.

FORMULA_START = frozenset("=+-@\t\r\n\x00")


def _evaluated(text: str) -> bool:
    """Whether a spreadsheet could take `text` for a formula: it begins with a trigger, also
    after white space, or with a character NFKC folds into one (full-width `＝＋－＠`)."""
    for start in (text[:1], text.lstrip()[:1]):
        if start and (start in FORMULA_START or unicodedata.normalize("NFKC", start)[:1] in FORMULA_START):
            return True
    return False


def neutralised(text: str) -> bool:
    """Whether `export` writes `text` with a `'` in front: a cell a spreadsheet would
    evaluate, or one that already is such a cell behind apostrophes (`'=x`), so that
    `as_read` can take exactly one apostrophe off again and a round trip is the identity."""
    return _evaluated(text.lstrip("'"))


def as_written(text: str) -> str:
    """A text cell as `export` writes it (see `neutralised`)."""
    return "'" + text if neutralised(text) else text


def as_read(text: str) -> str:
    """A text cell as `import` reads it: the `'` that `as_written` added (and that a
    spreadsheet hides as its text marker) comes off; any other cell is kept as it is."""
    return text[1:] if text.startswith("'") and neutralised(text[1:]) else text


# ---------------------------------------------------------------------- reading

def read_table(data: bytes, name: str, sheet: str | None = None) -> Table:
    """The CSV or .xlsx file `name` (told apart by content, not by the name); any other
    file is refused with what it looks like."""
    if data.startswith(XLSX_MAGIC) and ODS_MIMETYPE in data[:200]:
        raise DanganError(Message("{name}: an OpenDocument spreadsheet (.ods), not .xlsx or CSV", name=name), SAVE_AS)
    if data.startswith(XLSX_MAGIC):
        return read_xlsx(data, name, sheet)
    refusal = not_a_table(data, name)
    if refusal is not None:
        raise refusal
    if sheet is not None:
        raise DanganError(Message("{name}: --sheet is for .xlsx workbooks; this is a CSV file", name=name))
    return read_csv(data, name)


def not_a_table(data: bytes, name: str) -> DanganError | None:
    """The error for a file that is neither CSV nor a workbook, or None for text.

    Text is told from binary content as git does (a NUL byte), and by control bytes that no
    text encoding of a sheet holds (a CSV in GBK is not UTF-8 but still text: it gets the
    "not UTF-8" error of read_csv, with the offset)."""
    if data.startswith(OLE2_MAGIC):  # also what a password-protected .xlsx is
        return DanganError(Message("{name}: an Excel 97-2003 workbook (.xls) or a password-protected one, not .xlsx or CSV", name=name), Message("save it as .xlsx without a password, or as CSV UTF-8"))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return DanganError(Message("{name}: UTF-16 text (Excel's \"Unicode Text\"), not CSV UTF-8", name=name),
                           Message("save the sheet as CSV UTF-8"))
    head = data[:8192]
    binary = b"\x00" in data
    if not binary:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            binary = any(byte in BINARY_BYTES for byte in head)
    if not binary:
        return None
    named = name.lower().endswith((".xlsx", ".xlsm"))
    why = " (an .xlsx is a zip archive; this file is not one)" if named else ""
    return DanganError(Message("{name}: neither a CSV file nor an .xlsx workbook{why}", name=name, why=why), SAVE_AS)


def read_csv(data: bytes, name: str) -> Table:
    """Header and rows of a CSV file (UTF-8; a BOM, as spreadsheets write, is allowed).
    A cell neutralised by `export` comes back as it was (`as_read`)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DanganError(Message("{name}: not UTF-8 (invalid byte at offset {start})", name=name, start=exc.start), Message("export the sheet as CSV UTF-8")) from None
    if "\x00" in text:  # not_a_table refuses these first; kept for callers of read_csv
        raise DanganError(Message("{name}: contains NUL bytes; not a CSV file", name=name), SAVE_AS)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        lines = [[as_read(cell) for cell in cells] for cells in reader]
    except csv.Error as exc:
        raise DanganError(Message("{name}: not readable as CSV near line {line_num}: {exc}", name=name, line_num=reader.line_num, exc=exc)) from None
    header = _header(lines[0] if lines else [], name)
    rows = []
    # a spreadsheet row is one CSV record, whatever newlines its quoted cells hold
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # an empty row, as spreadsheets leave at the end
        if len(cells) > len(header):
            raise DanganError(Message("{name}: row {number} has more cells than the header", name=name, number=number))
        rows.append((number, dict(zip(header, cells))))
    return Table(header, rows)


def read_xlsx(data: bytes, name: str, sheet: str | None = None) -> Table:
    """The first sheet (or `sheet`) of a workbook: cached values, never formulas."""
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - a declared dependency
        raise DanganError(Message("{name}: reading .xlsx needs openpyxl", name=name), Message("pip install openpyxl, or save the sheet as CSV UTF-8")) from None
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, XML errors... on bad files
        raise DanganError(Message("{name}: not a readable .xlsx workbook ({type})", name=name, type=type(exc).__name__), Message("open and save it again in a spreadsheet, or export CSV UTF-8")) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise DanganError(Message("{name}: no sheet {sheet}", name=name, sheet=repr(sheet)), Message("sheets: {value}", value=', '.join(book.sheetnames)))
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        values = ws.iter_rows(values_only=True)
        first = next(values, None) or ()
        cut = len(first)
        while cut and (first[cut - 1] is None or str(first[cut - 1]).strip() == ""):
            cut -= 1  # formatted but empty cells right of the header
        header = _header(["" if v is None else as_read(str(v)) for v in first[:cut]], name)
        rows = []
        for number, cells in enumerate(values, start=2):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
                continue
            if any(v is not None for v in cells[len(header):]):
                raise DanganError(Message("{name}: row {number} has a value right of the last named column", name=name, number=number))
            rows.append((number, {h: as_read(v) if isinstance(v, str) else v
                                  for h, v in zip(header, cells) if v is not None}))
    finally:
        book.close()
    return Table(header, rows)


def _header(cells: list[str], name: str) -> list[str]:
    header = [cell.strip() for cell in cells]
    if not header or not any(header):
        raise DanganError(Message("{name}: no header row", name=name), Message("the first row names the fields, e.g. title,status,opened"))
    if "" in header:
        raise DanganError(Message("{name}: column {value} of the header has no name", name=name, value=header.index('') + 1))
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise DanganError(Message("{name}: the column name {value} appears twice in the header", name=name, value=repr(twice[0])))
    return header


# ---------------------------------------------------------------------- columns

@dataclass(frozen=True)
class Column:
    """What the schema says about one column, worked out once per file, not per cell."""

    field: str
    sensitive: bool
    text_only: bool  # every schema for it is a plain string: the cell is the value
    formats: frozenset[str]


def column(vault: Any, category: str, field: str) -> Column:
    types: set[str] = set()
    formats: set[str] = set()
    for sub in records.field_schemas(vault.schemas, category, field):
        kind = sub.get("type")
        types.update([kind] if isinstance(kind, str) else list(kind or []))
        if isinstance(sub.get("format"), str):
            formats.add(sub["format"])
    names = records.sensitive_names(vault, category)
    return Column(field, any(part in names for part in field.split(".")), types == {"string"}, frozenset(formats))


def cell_text(value: Any, col: Column, tz: dt.tzinfo) -> str:
    """A workbook cell as the text a CSV would hold for it (then typed like a CSV cell).

    Dates and times become the schema's forms (a date, or a date-time in the vault's
    time zone); a whole number in a text column loses Excel's `.0` (a phone typed as a
    number), but one too long for Excel to have kept exactly is refused.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        midnight = value.time() == dt.time(0)
        if "date" in col.formats and "date-time" not in col.formats:
            if not midnight:
                raise DanganError(Message("holds a date and a time; the field is a date"))
            return value.date().isoformat()
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float) and value.is_integer():
        if abs(value) >= 10 ** EXACT_DIGITS and col.text_only:
            raise DanganError(
                Message("is a number too long for Excel to have kept exactly (15 digits)"),
            )
        return str(int(value))
    if isinstance(value, (int, float)):
        if isinstance(value, int) and len(str(abs(value))) > EXACT_DIGITS and col.text_only:
            raise DanganError(Message("is a number too long for Excel to have kept exactly (15 digits)"))
        return str(value)
    if isinstance(value, dt.timedelta):
        raise DanganError(Message("is a duration; write it as text (e.g. P30D)"))
    raise DanganError(Message("holds a {type} value dangan cannot read", type=type(value).__name__))


def typed(vault: Any, category: str, col: Column, text: str) -> Any:
    """A cell's text typed by the schema, as `--set` types it; errors never quote a
    sensitive value."""
    if col.text_only:
        return text
    try:
        return records.coerce(vault.schemas, category, col.field, text)
    except DanganError as exc:
        if col.sensitive:
            raise DanganError(Message("is not a value of the field's type (a sensitive value, not shown)")) from None
        raise DanganError(exc.message.split(": ", 1)[-1]) from None


def _where(error: str, columns: dict[str, Column]) -> tuple[str | None, str]:
    """(column, reason) of a validation error `"/complainant/phone: reason"`."""
    pointer, _, reason = error.partition(": ")
    dotted = pointer.strip("/").replace("/", ".")
    return (dotted if dotted in columns else None), (reason or error)


def _say(number: int, col: str | None, reason: str) -> str:
    return f"row {number}, column {col}: {reason}" if col else f"row {number}: {reason}"


# ----------------------------------------------------------------------- import

def import_rows(
    vault: Any,
    category: str,
    data: bytes,
    name: str,
    location_column: str | None = None,
    dry_run: bool = False,
    commit: bool = True,
    sheet: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Imported:
    """Validate (and seal) every row, then write them all in one commit, or nothing.
    `progress(rows done, rows)` is called after each row."""
    table = read_table(data, name, sheet)
    if category not in vault.schemas.categories:
        raise DanganError(Message("unknown category {category}", category=repr(category)), Message("known: {value}", value=', '.join(sorted(vault.schemas.categories))))
    table = _named_by_label(vault, category, table, name, location_column)
    header = table.header
    if category == records.DISPOSAL:
        raise DanganError(Message("disposal certificates are written by `dangan retention apply`, not imported"))
    where_column = location_column or ("location" if "location" in header else None)
    if location_column and location_column not in header:
        raise DanganError(Message("{name}: no column {location_column}", name=name, location_column=repr(location_column)), Message("columns: {value}", value=', '.join(header)))
    fields = [h for h in header if h != where_column]
    for reserved in ("code", "category"):
        if reserved in fields:
            raise DanganError(Message("{name}: the column {reserved} is set by dangan", name=name, reserved=repr(reserved)), Message("remove that column"))
    for field in fields:
        if any(not part for part in field.split(".")):
            raise DanganError(Message("{name}: the column {field} is not a field path", name=name, field=repr(field)), Message("use dotted names like owners.0.phone"))
    if not table.rows:
        raise DanganError(Message("{name}: no rows to import", name=name))
    columns = {field: column(vault, category, field) for field in fields}
    tz = vault.tz
    with vault.lock():
        serials: dict[Location, int] = {}
        prepared: dict[str, bytes] = {}
        codes: list[str] = []
        errors: list[str] = []
        first: str | None = None  # the first error about a field, as `/pointer: reason`
        total = len(table.rows)
        for done, (number, row) in enumerate(table.rows, 1):
            if progress is not None:
                progress(done, total)
            found: list[str] = []
            tree: dict[str, Any] = {}
            code: Code | None = None
            try:
                location = _location(row.get(where_column) if where_column else None)
                if location not in serials:
                    records.check_category(vault, category, location)
                    serials[location] = records.allocate(vault, category, location).serial
                code = Code(category, location, serials[location])
            except DanganError as exc:
                found.append(_say(number, where_column, exc.message))
            for field, col in columns.items():
                value = row.get(field)
                try:
                    text = value if isinstance(value, str) else ("" if value is None else cell_text(value, col, tz))
                    if text.strip() == "":
                        continue
                    records.set_path(tree, field, typed(vault, category, col, text))
                except DanganError as exc:
                    found.append(_say(number, field, exc.message))
                    first = first or "/" + field.replace(".", "/") + ": " + exc.message
            if code is not None and not found:
                tree = records.new_tree(vault, code, tree)
                invalid = records.validation_errors(vault, category, tree)
                first = first or (invalid[0] if invalid else None)
                for error in invalid + records.missing_refs(vault, tree):
                    found.append(_say(number, *_where(error, columns)))
            if not found:
                try:
                    sealed = records.prepare(vault, code, tree)
                except RecordError as exc:  # not expected after the checks above
                    found.append(_say(number, None, exc.message.split(" is not valid: ", 1)[-1]))
            if found:
                errors.extend(found)
                if len(errors) >= MAX_ERRORS:
                    break
                continue
            serials[location] += 1
            prepared[code.path] = dump(sealed).encode()
            codes.append(str(code))
        if errors:
            stopped = f" (reading stopped after {MAX_ERRORS})" if len(errors) >= MAX_ERRORS else ""
            raise RowErrors(
                f"{name}: {len(errors)} error(s){stopped}; nothing was imported",
                "fix those cells and import the whole file again (--json lists every error)"
                + ("; " + fielddoc.error_hint(vault.schemas, category, first) if first else ""),
                errors,
                name,
            )
        if dry_run:
            return Imported(codes, None)
        message = f"dangan import: {len(codes)} {category} record(s) from {name}"
        commit_id = land_new_files(vault, prepared, message, commit)
    return Imported(codes, commit_id)


def _named_by_label(vault: Any, category: str, table: Table, name: str, location_column: str | None) -> Table:
    """The table with each header that is a field's Chinese name (題名 or 题名, either
    script: `dangan fields` shows them in the descriptions) renamed to the field's path."""
    renamed: dict[str, str] = {}
    for head in table.header:
        if head.isascii() or head == location_column:
            continue
        found = fielddoc.by_label(vault.schemas, category, head)
        if len(found) > 1:
            raise DanganError(Message("{name}: the column {head} names {count} fields: {value}", name=name, head=repr(head), count=len(found), value=', '.join(found)),
                              Message("name the column by the field's path instead"))
        if found:
            renamed[head] = found[0]
    if not renamed:
        return table
    header = [renamed.get(h, h) for h in table.header]
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise DanganError(Message("{name}: two columns name the field {value}", name=name, value=repr(twice[0])),
                          Message("columns: {value}", value=', '.join(table.header)))
    rows = [(number, {renamed.get(k, k): v for k, v in row.items()}) for number, row in table.rows]
    return Table(header, rows)


def _location(value: Any) -> Location:
    text = "" if value is None else str(value).strip()
    return parse_location(text)


def land_new_files(vault: Any, files: dict[str, bytes], message: str, commit: bool = True) -> str | None:
    """`Vault.apply` for new files only: refused if any of them exists already (another
    writer may have been at work). Many files take Vault.apply's bulk path."""
    root = vault.root
    clash = next((rel for rel in files if (root / rel).exists()), None)
    if clash is not None:
        raise DanganError(Message("{clash} already exists; nothing was imported", clash=clash), Message("run `dangan check`; another writer may have been at work"))
    return vault.apply(files, message, commit)


# ------------------------------------------------------------------------- export

def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaves (`owners.0.name`), the form `import` and `--set` take."""
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out.update(flatten(value, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = tree
    return out


def export_records(vault: Any, category: str | None, decrypt: bool) -> list[dict[str, Any]]:
    """Every record (of a category), without its sops block: masked, or decrypted."""
    from dangan.formats.yamlio import YamlError, decode, load_text
    from dangan.store import sealing

    if category is not None and category not in vault.schemas.categories:
        raise DanganError(Message("unknown category {category}", category=repr(category)), Message("known: {value}", value=', '.join(sorted(vault.schemas.categories))))
    out = []
    for code, rel in vault.record_paths():
        if category and code.category != category:
            continue
        try:
            stored = load_text(decode((vault.root / rel).read_bytes()))
        except YamlError as exc:
            raise DanganError(Message("{rel}: {exc}", rel=rel, exc=exc), Message("run `dangan check` and fix it first")) from None
        cat = vault.schemas.category(code.category)
        if decrypt:
            try:
                out.append(sealing.open_document(str(code), stored, vault.keyring))
                continue
            except sealing.IntegrityError:
                raise
            except DanganError:
                if cat is None or cat.level_of(stored) != "secret":
                    raise
                # a secret record the user is not a reader of: masked, as without --decrypt
        out.append(records.masked(stored, cat.names_of(stored) if cat else frozenset()))
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    """One row per record, one column per dotted field path (first-seen order). Text
    cells a spreadsheet would evaluate are neutralised (`as_written`) and quoted; numbers
    and booleans are written as they are (`-3` in a number field is a number, not a
    formula). Otherwise the bytes are what `csv.writer` writes."""
    flat = [flatten(r) for r in rows]
    columns: dict[str, None] = {}
    for item in flat:
        columns.update(dict.fromkeys(item))
    lines = [_csv_line(list(columns))]
    for item in flat:
        lines.append(_csv_line([_cell(item.get(c)) for c in columns]))
    return "".join(lines)


def _cell(value: Any) -> str | bool | int | float:
    return "" if value is None else value if isinstance(value, (bool, int, float)) else str(value)


def _csv_line(cells: list[Any]) -> str:
    """One CSV line as `csv.writer(lineterminator="\\n")` writes it, but a neutralised cell
    is always quoted (OWASP: quote it, so that no separator in it starts a new cell)."""
    if len(cells) == 1 and cells[0] == "":
        return '""\n'  # csv.writer's form of a row of one empty cell
    out = []
    for value in cells:
        if isinstance(value, bool):
            text, guard = ("true" if value else "false"), False
        elif isinstance(value, (int, float)):
            text, guard = str(value), False
        else:
            text, guard = as_written(value), neutralised(value)
        if guard or any(c in text for c in ',"\r\n'):
            text = '"' + text.replace('"', '""') + '"'
        out.append(text)
    return ",".join(out) + "\n"
