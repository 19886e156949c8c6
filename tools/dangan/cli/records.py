"""Record commands: new, show, set, edit, ls."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from dangan import i18n
from dangan.cli.base import (
    Context,
    complete_category,
    complete_code,
    emit_json,
    identity_option,
    json_option,
    listing,
    listing_options,
    no_commit_option,
    office_note,
    pass_ctx,
    say,
    status_labels,
)
from dangan.errors import DanganError, Refusal
from dangan.formats.terminal import CountLine, escape
from dangan.formats.yamlio import dump
from dangan.i18n import Message, _, pgettext
from dangan.model.codes import parse_code, parse_location
from dangan.model.threeway import conflict_hint, conflict_refusal
from dangan.services import records
from dangan.store import scratch, sealing


@click.command(
    "new",
    epilog="""\b
Examples:
  dangan new SB A01-02 --set title=1號樓1號電梯 --set system=elevator
  dangan new WX A01-02-001-0301 --file repair.yaml
  cat contract.yaml | dangan new HT A01 --file - --json
""",
)
@click.argument("category", shell_complete=complete_category)
@click.argument("location", required=False, default="")
@click.option("--file", "file_", type=click.File("rb"), help="YAML mapping of fields (- for stdin).")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="Set a field (dotted keys; typed by the schema).")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def new_cmd(ctx: Context, category: str, location: str, file_, assignments, no_commit: bool, as_json: bool) -> None:
    """Create a record: allocate the next code, validate, write and commit.

    LOCATION is project[-building[-unit[-room]]] (e.g. A01-02-001-0301); leave it out for
    company-level categories. Prints the new code.
    """
    vault = ctx.vault
    fields = records.read_fields_file(file_.read(), getattr(file_, "name", "-")) if file_ is not None else {}
    written = records.create(vault, category, parse_location(location), fields, list(assignments), not no_commit)
    if as_json:
        emit_json({"code": str(written.code), "path": written.path, "commit": written.commit})
    else:
        click.echo(str(written.code))


@click.command(
    "show",
    epilog="""\b
Examples:
  dangan show SB-A01-02-0001
  dangan show YZ-A01-02-001-0301-0001 --json
  dangan show TS-A01-02-001-0301-0001 --as-of 2024-06-30
""",
)
@click.argument("code", shell_complete=complete_code)
@click.option("--decrypt", is_flag=True, help="Show sensitive values in clear (needs an identity).")
@click.option("--as-of", "as_of", metavar="WHEN", help="The record as it was at a date or revision.")
@json_option
@identity_option
@pass_ctx
def show_cmd(ctx: Context, code: str, decrypt: bool, as_of: str | None, as_json: bool) -> None:
    """Show a record; sensitive values appear as ‹encrypted› unless --decrypt."""
    vault = ctx.vault
    parsed = parse_code(code)
    resolved = None
    if as_of:
        from dangan.services import history

        stored, resolved = history.record_at(vault, parsed, as_of)
    else:
        stored, _tree = vault.read(parsed)
    if (in_conflict := conflict_refusal(str(parsed), stored)) is not None:
        raise Refusal(in_conflict, conflict_hint(str(parsed)))
    if decrypt:
        view = sealing.open_document(str(parsed), stored, vault.keyring)
        from dangan.cli.auditcmd import journal_decryption

        journal_decryption(ctx, [str(parsed)], vault=vault)  # before any output; exit 2 if it fails
    else:
        category = vault.schemas.category(parsed.category)
        view = records.masked(stored, category.names_of(stored) if category else frozenset())
    from dangan.services import lending

    damage = lending.damage_reports(vault, str(parsed)) if resolved is None else []
    if as_json:
        document = {"code": str(parsed), "path": parsed.path, "record": view, "damage": damage}
        if resolved is not None:
            document["as_of"] = resolved.as_dict()
        emit_json(document)
    else:
        if resolved is not None:
            say(_("{code} as of {day}: commit {commit}").format(
                code=parsed, day=as_of, commit=resolved.commit[:12] if resolved.commit else _("(none)")))
        # part of the answer (stdout), as YAML comments so that the output stays YAML;
        # a note of several lines stays on its comment line
        for report in damage:
            note = " ".join((report.get("note") or "").splitlines())
            click.echo(escape("# " + _("{condition} on loan {loan}: returned {returned}, borrower {borrower}").format(
                condition=report["condition"], loan=report["loan"], returned=report["returned"],
                borrower=report["borrower"]) + (f": {note}" if note else "")))
        # the YAML text escapes control characters itself; bidi overrides it writes raw
        click.echo(escape(dump(view), lines=True), nl=False)


@click.command(
    "set",
    epilog="""\b
Examples:
  dangan set WX-A01-02-0001 status=done finished=2024-03-02T16:00:00+08:00
  dangan set SB-A01-02-0001 --unset notes
""",
)
@click.argument("code", shell_complete=complete_code)
@click.argument("assignments", nargs=-1, metavar="KEY=VALUE...")
@click.option("--unset", multiple=True, metavar="KEY", help="Remove a field.")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def set_cmd(ctx: Context, code: str, assignments, unset, no_commit: bool, as_json: bool) -> None:
    """Change fields of a record, validate, write and commit."""
    if not assignments and not unset:
        raise DanganError(_("nothing to change"), _("give KEY=VALUE pairs or --unset KEY"))
    written = records.update(ctx.vault, parse_code(code), list(assignments), list(unset), not no_commit)
    if as_json:
        emit_json({"code": code, "changed": written is not None, "commit": written.commit if written else None})
    elif written is None:
        say(_("{code}: nothing changed").format(code=code))
    else:
        click.echo(code)


@click.command(
    "edit",
    epilog="""\b
Examples:
  dangan edit TS-A01-02-0003
  EDITOR=nano dangan edit SB-A01-02-0001
""",
)
@click.argument("code", shell_complete=complete_code)
@no_commit_option
@identity_option
@pass_ctx
def edit_cmd(ctx: Context, code: str, no_commit: bool) -> None:
    """Open a record in $EDITOR; on save validate, and re-open with the errors until valid.

    Saving without a change after an error abandons the edit (nothing is written).
    """
    vault = ctx.vault
    parsed = parse_code(code)
    original = records.editable_text(vault, parsed)
    if "sops" in vault.read(parsed)[0]:  # the editor is about to show plaintext
        from dangan.cli.auditcmd import journal_decryption

        journal_decryption(ctx, [str(parsed)], vault=vault)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    # 0700, in RAM where there is one, removed whole with the editor's swap and backup files
    # however dangan ends (SIGTERM and SIGHUP unwind too: entry.py); after a kill -9, the
    # next command's sweep removes it (store/scratch.py)
    with scratch.folder("edit", plaintext=True) as workdir:
        path = workdir / f"{parsed}.yaml"
        text = original
        previous: str | None = None
        while True:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            status = subprocess.call(f"{editor} {shlex.quote(str(path))}", shell=True)
            if status != 0:
                raise Refusal(_("the editor exited with status {status}; nothing was written").format(status=status))
            try:
                edited = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                edited = text  # treated as an error round below
            body = _strip_error_header(edited)
            if body == original:
                say(_("{code}: no changes").format(code=parsed))
                return
            if previous is not None and edited == previous:
                raise Refusal(_("edit of {code} abandoned; nothing was written").format(code=parsed))
            try:
                written = records.replace(vault, parsed, body, not no_commit)
            except DanganError as exc:
                text = _error_header(i18n.shown(exc.message)) + body
                previous = text
                continue
            click.echo(str(parsed) if written else _("{code}: no changes").format(code=parsed))
            return


_HEADER = "# dangan: "


def _error_header(message: str) -> str:
    lines = [f"{_HEADER}{part.strip()}" for part in message.split("; ") if part.strip()]
    lines.append(_HEADER + _("fix the record below and save; save it unchanged to abandon the edit"))
    return "\n".join(lines) + "\n"


def _strip_error_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(_HEADER):
        lines.pop(0)
    return "".join(lines)


@click.command(
    "ls",
    epilog="""\b
Examples:
  dangan ls --category WX --status done
  dangan ls --location A01-02 --where system=elevator --json
  dangan ls --search '電梯 維保'
  dangan ls --category TS --where 'received_at>=2024-01-01' --where 'title~噪音'
\b
--where takes FIELD=VALUE (exact), FIELD!=VALUE, FIELD~TEXT (contains), and
FIELD>=VALUE, <=, >, < (numbers, dates, text). --search TEXT: every word must appear in
some clear field (case and full-/half-width ignored). Encrypted or sensitive values are
never searched. See docs/exchange.md.
""",
)
@click.option("--category", shell_complete=complete_category, help="Only this category (two letters).")
@click.option("--location", help="Only records at or under this location prefix (A01-02).")
@click.option("--status", help="Only records with this status.")
@click.option("--where", multiple=True, metavar="FIELD=VALUE",
              help="Only records whose FIELD matches (=, !=, ~ contains, >=, <=, >, <).")
@click.option("--search", metavar="TEXT", help="Only records whose clear fields hold every word of TEXT.")
@listing_options
@pass_ctx
def ls_cmd(ctx: Context, category, location, status, where, search, fmt: str, as_json: bool) -> None:
    """List records: code, category, title, status, opened, closed."""
    from dangan.model.query import parse_condition

    as_json = as_json or fmt == "json"

    vault = ctx.vault
    office_note(vault)
    if category and category not in vault.schemas.categories:
        raise DanganError(_("unknown category {category!r}").format(category=category),
                          _("known: {names}").format(names=", ".join(sorted(vault.schemas.categories))))
    conditions = [parse_condition(w) for w in where]
    loc = parse_location(location) if location else None
    for warning in records.filter_warnings(vault, category, status, [c.field for c in conditions]):
        say(_("dangan: warning: {message}").format(message=warning))
    with CountLine("ls", _("files read")) as count:  # a search of 100,000 files: seconds
        found, unreadable = records.listing(vault, category, loc, status, conditions, search, count)
    for rel in unreadable:
        say(_("dangan: warning: {message}").format(message=_("{path} is not readable; run `dangan check`").format(path=rel)))
    if as_json:
        # the same list as ever; with --search each item also names the fields that matched
        emit_json([{k: v for k, v in item.__dict__.items() if k != "matched" or search is not None} for item in found])
        return
    label = status_labels(vault) if fmt == "text" else (lambda category, status: status)
    header = ([_("code"), _("category"), _("title"), _("status"), pgettext("date", "opened"), pgettext("date", "closed")]
              if fmt == "text" else ["code", "category", "title", "status", "opened", "closed"])
    listing(header,
            [[item.code, item.category, item.title, label(item.category, item.status), item.opened or "",
              item.closed or ""] for item in found], fmt)


@click.command(
    "import",
    epilog="""\b
Examples:
  dangan import SB equipment.csv --location-column location
  dangan import TS complaints.csv --dry-run
  dangan import YZ owners.xlsx --sheet 業主 --json
\b
The header row names the fields (dotted for nested ones: complainant.phone); each cell is
typed by the schema like a --set value; an empty cell leaves the field out. A bad cell is
named by row and column and nothing is written. See docs/exchange.md.
""",
)
@click.argument("category", shell_complete=complete_category)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--location-column", metavar="NAME", help="Column holding each row's location (default: `location`).")
@click.option("--sheet", metavar="NAME", help="The sheet of an .xlsx workbook to read (default: the first).")
@click.option("--dry-run", is_flag=True, help="Validate every row; write nothing.")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def import_cmd(ctx: Context, category: str, file: Path, location_column: str | None, sheet: str | None,
               dry_run: bool, no_commit: bool, as_json: bool) -> None:
    """Create many records from a CSV or .xlsx file: all rows are validated (and sensitive
    columns encrypted) before any is written; one commit."""
    from dangan.services.exchange import RowErrors, import_rows

    path = ctx.path(file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DanganError(Message("{path}: {problem}", path=file, problem=exc.strerror)) from None
    bar = RowsBar(enabled=not as_json and sys.stdout.isatty())
    try:
        with bar:
            result = import_rows(ctx.vault, category, data, file.name, location_column, dry_run,
                                 not no_commit, sheet, progress=bar.update)
    except RowErrors as exc:
        if as_json:  # every error, for a script or a spreadsheet to show; the message too
            emit_json({"codes": [], "commit": None, "dry_run": dry_run, "errors": exc.errors})
        for line in exc.shown():  # one line per bad cell, then the error itself
            say(line)
        raise
    if as_json:
        emit_json({"codes": result.codes, "commit": result.commit, "dry_run": dry_run, "errors": []})
    else:
        n = len(result.codes)
        say(_("would import {n} record(s)").format(n=n) if dry_run else _("imported {n} record(s)").format(n=n))
        for code in result.codes:
            click.echo(code)


class RowsBar:
    """A progress bar for a long import, on a terminal only (created at the first row,
    when the number of rows is known; shown only for files of many rows)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total < 500:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=_("validating and encrypting rows"), file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(1)

    def __enter__(self) -> RowsBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command(
    "export",
    epilog="""\b
Examples:
  dangan export --category SB --format csv --out equipment.csv
  dangan --identity keys.txt export --category YZ --format json --decrypt
\b
CSV has one column per dotted field path (owners.0.name), the form `import` reads (drop
the code and category columns to import the rows as new records).
""",
)
@click.option("--category", shell_complete=complete_category, help="Only this category (required for csv).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="json", show_default=True)
@click.option("--decrypt", is_flag=True, help="Sensitive values in clear (needs an identity).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@identity_option
@pass_ctx
def export_cmd(ctx: Context, category: str | None, fmt: str, decrypt: bool, out: Path | None) -> None:
    """Records as CSV or JSON, sensitive values masked unless --decrypt."""
    import json as _json

    from dangan.services.exchange import export_records, to_csv

    if fmt == "csv" and not category:
        raise DanganError(_("--format csv needs --category (one table per category)"))
    rows = export_records(ctx.vault, category, decrypt)
    if decrypt:
        from dangan.cli.auditcmd import journal_decryption

        journal_decryption(ctx, [str(r.get("code")) for r in rows], vault=ctx.vault)
    text = to_csv(rows) if fmt == "csv" else _json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    from dangan.store.fsutil import write_atomic

    target = ctx.path(out)
    # decrypted exports hold personal data: readable by their owner only
    write_atomic(target, text.encode("utf-8"), mode=0o600 if decrypt else 0o644)
    say(_("exported {n} record(s) to {path}").format(n=len(rows), path=target))


COMMANDS = [new_cmd, show_cmd, set_cmd, edit_cmd, ls_cmd, import_cmd, export_cmd]
