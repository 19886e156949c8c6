"""Data exchange (§6.2): `dangan import` of many records from a spreadsheet export (CSV),
all or nothing, and `dangan export` back to CSV or JSON.

The header row names the fields (dotted paths such as `complainant.phone` or
`owners.0.name`); each cell is typed by the category's schema like a `--set` value, and an
empty cell leaves the field out. The location of each row comes from the column named by
`--location-column` (default `location`, if present). Every row is validated — and its
sensitive values encrypted — before anything is written; then all records land in one
commit. A bad row is reported by its line number and nothing is written.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from . import records
from .codes import Code, Location, parse_location
from .errors import DanganError, RecordError
from .yamlio import dump

MAX_ERRORS = 20


@dataclass(frozen=True)
class Imported:
    codes: list[str]
    commit: str | None


def read_rows(data: bytes, name: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file (UTF-8; a BOM, as spreadsheets write, is allowed)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DanganError(f"{name}: not UTF-8 (invalid byte at offset {exc.start})", "export the sheet as CSV UTF-8") from None
    if "\x00" in text:
        raise DanganError(f"{name}: contains NUL bytes; not a CSV file")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    if not header:
        raise DanganError(f"{name}: no header row", "the first row names the fields, e.g. title,status,opened")
    if len(set(header)) != len(header):
        raise DanganError(f"{name}: a column name appears twice in the header")
    rows = []
    for row in reader:
        if None in row:
            raise DanganError(f"{name}: line {reader.line_num} has more cells than the header")
        rows.append({k: v for k, v in row.items()})
    return header, rows


def import_rows(
    vault: Any,
    category: str,
    data: bytes,
    name: str,
    location_column: str | None = None,
    dry_run: bool = False,
    commit: bool = True,
) -> Imported:
    """Validate every row, then write them all in one commit (or nothing)."""
    header, rows = read_rows(data, name)
    column = location_column or ("location" if "location" in header else None)
    if location_column and location_column not in header:
        raise DanganError(f"{name}: no column {location_column!r}", f"columns: {', '.join(header)}")
    fields = [h for h in header if h != column]
    for reserved in ("code", "category"):
        if reserved in fields:
            raise DanganError(f"{name}: the column {reserved!r} is set by dangan", "remove that column")
    if not rows:
        raise DanganError(f"{name}: no rows to import")
    with vault.lock():
        serials: dict[tuple[str, Location], int] = {}
        prepared: dict[str, bytes] = {}
        codes: list[str] = []
        errors: list[str] = []
        for number, row in enumerate(rows, start=2):  # line 1 is the header
            try:
                location = parse_location((row.get(column) or "").strip()) if column else Location()
                records.check_category(vault, category, location)
                key = (category, location)
                if key not in serials:
                    serials[key] = records.allocate(vault, category, location).serial
                code = Code(category, location, serials[key])
                tree: dict[str, Any] = {}
                for field in fields:
                    value = row.get(field)
                    if value is None or value.strip() == "":
                        continue
                    records.set_path(tree, field, records.coerce(vault.schemas, category, field, value))
                sealed = records.prepare(vault, code, records.new_tree(vault, code, tree))
            except (RecordError, DanganError) as exc:
                message = exc.message.split(" is not valid: ", 1)[-1]
                errors.append(f"line {number}: {message}")
                if len(errors) >= MAX_ERRORS:
                    break
                continue
            serials[key] += 1
            prepared[code.path] = dump(sealed).encode()
            codes.append(str(code))
        if errors:
            more = "" if len(errors) < MAX_ERRORS else " (stopped at 20 errors)"
            raise DanganError(
                f"{name}: {len(errors)} row(s) are not valid{more}; nothing was imported: " + "; ".join(errors[:5]),
                "fix those rows and import the whole file again",
            )
        if dry_run:
            return Imported(codes, None)
        commit_id = vault.apply(prepared, f"dangan import: {len(codes)} {category} record(s) from {name}", commit)
    return Imported(codes, commit_id)


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
    from . import sealing
    from .yamlio import YamlError, decode, load_text

    if category is not None and category not in vault.schemas.categories:
        raise DanganError(f"unknown category {category!r}", f"known: {', '.join(sorted(vault.schemas.categories))}")
    out = []
    for code, rel in vault.record_paths():
        if category and code.category != category:
            continue
        try:
            stored = load_text(decode((vault.root / rel).read_bytes()))
        except YamlError as exc:
            raise DanganError(f"{rel}: {exc}", "run `dangan check` and fix it first") from None
        if decrypt:
            out.append(sealing.open_document(str(code), stored, vault.keyring))
        else:
            cat = vault.schemas.category(code.category)
            out.append(records.masked(stored, cat.sensitive if cat else frozenset()))
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    """One row per record, one column per dotted field path (first-seen order)."""
    flat = [flatten(r) for r in rows]
    columns: dict[str, None] = {}
    for item in flat:
        columns.update(dict.fromkeys(item))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(columns))
    for item in flat:
        writer.writerow(["" if item.get(c) is None else _cell(item.get(c)) for c in columns])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
