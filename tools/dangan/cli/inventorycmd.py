"""Inventory commands (盤點): `dangan inventory sheet|record|ls|rooms`."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from dangan.cli.base import (
    Context,
    complete_room,
    emit_json,
    identity_option,
    json_option,
    no_commit_option,
    pass_ctx,
    say,
)
from dangan.errors import DanganError
from dangan.formats.terminal import escape
from dangan.i18n import _
from dangan.model import timeutil
from dangan.services import inventory


@click.group(
    "inventory",
    epilog="""\b
Examples:
  dangan inventory sheet --room 翠湖花園客服中心檔案室 --out sheet.csv
  dangan inventory record sheet.csv --by 張敏 --witness 陳立新
  dangan inventory rooms
""",
)
def inventory_group() -> None:
    """Inventory of paper originals (盤點): print a sheet, record its results.

    A sheet lists, in shelf order, every record whose paper original should be in a room
    (custody.room, form paper or both). The filled sheet becomes a PD record, and each
    record found missing or damaged is flagged (custody.status) in the same commit.
    """


@inventory_group.command(
    "sheet",
    epilog="""\b
Examples:
  dangan inventory sheet --room 翠湖花園客服中心檔案室 --out sheet.csv
  dangan inventory sheet --room 總部檔案室 --cabinet 01 --format html --out sheet.html
  dangan inventory sheet --json
""",
)
@click.option("--room", metavar="ROOM", shell_complete=complete_room, help="Archive room (custody.room); default every room.")
@click.option("--cabinet", metavar="C", help="Only this cabinet of the room (custody.cabinet).")
@click.option("--format", "fmt", type=click.Choice(["csv", "html"]), default="csv", show_default=True,
              help="csv to fill in (result, note columns), html to print.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@json_option
@pass_ctx
def sheet_cmd(ctx: Context, room: str | None, cabinet: str | None, fmt: str, out: Path | None, as_json: bool) -> None:
    """List the records whose paper original should be at a place, in shelf order.

    Never decrypts: only the clear custody and title are shown. Originals out on loan
    and open discrepancies of earlier inventories are marked.
    """
    vault = ctx.vault
    rows = inventory.sheet(vault, room, cabinet)
    room = inventory.stored_room(rows, room) if room else room  # 总部档案室 is shown as stored
    if as_json:
        emit_json({"room": room, "cabinet": cabinet, "count": len(rows), "records": [asdict(r) for r in rows]})
        return
    if fmt == "csv":
        text = inventory.sheet_csv(rows)
    else:
        text = inventory.sheet_html(rows, str(vault.config.get("name") or ""), room, cabinet, vault.today())
    if out is None:
        click.echo(text, nl=False)
        return
    target = ctx.path(out)
    try:
        # a BOM so that spreadsheet programs read the Chinese text of a CSV as UTF-8
        target.write_text(("\ufeff" if fmt == "csv" else "") + text, encoding="utf-8")
    except OSError as exc:
        raise DanganError(_("cannot write {path}: {reason}").format(path=target, reason=exc.strerror)) from None
    say(_("{n} record(s) on the sheet: {path}").format(n=len(rows), path=target))


@inventory_group.command(
    "record",
    epilog="""\b
Examples:
  dangan inventory record sheet.csv --by 張敏 --witness 陳立新
  dangan inventory record sheet.csv --by 張敏 --witness 陳立新 --at 2025-06-30T15:00:00+08:00 \\
      --actions 缺失卷宗已上報檔案主管 --json
""",
)
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path), metavar="SHEET_RESULTS.csv")
@click.option("--by", metavar="NAME", help="Who counted (盤點人; default: git's author name).")
@click.option("--witness", required=True, metavar="NAME", help="Who checked the count (複核人), not the counter.")
@click.option("--at", metavar="WHEN", help="When the count was done (YYYY-MM-DD or ISO 8601; default now).")
@click.option("--room", metavar="ROOM", shell_complete=complete_room, help="The room counted (default: the room column of the sheet).")
@click.option("--cabinet", metavar="C", help="The cabinet counted, if the sheet was for one cabinet.")
@click.option("--title", metavar="TEXT", help="Title of the PD record (default: place and day).")
@click.option("--actions", metavar="TEXT", help="Follow-up decided (處理意見).")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def record_cmd(ctx: Context, results: Path, by, witness, at, room, cabinet, title, actions,
               no_commit: bool, as_json: bool) -> None:
    """Record a filled sheet: a PD record, and flags on missing or damaged originals.

    A row with an empty result was not counted. A code the sheet does not list may only
    be `misplaced`. A record found again loses its flag. Flagging an encrypted record
    needs its key. Prints the PD code.
    """
    path = ctx.path(results)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DanganError(_("cannot read {path}: {reason}").format(path=path, reason=exc.strerror)) from None
    done = inventory.record(ctx.vault, data, str(results), by, witness, at, room, cabinet, title, actions,
                            not no_commit)
    if as_json:
        emit_json(asdict(done))
        return
    click.echo(done.code)
    counts = ", ".join(f"{n} {r}" for r, n in done.results.items() if n)
    say(_("{code}: {place}: {counts}; {n} not counted").format(
        code=done.code, place=done.place, counts=counts, n=len(done.not_counted)))
    for label, codes in ((_("flagged"), done.flagged), (_("cleared"), done.cleared)):
        if codes:
            say(f"{label}: {' '.join(codes)}")


@inventory_group.command("ls", epilog="\b\nExamples:\n  dangan inventory ls\n  dangan inventory ls --json")
@json_option
@pass_ctx
def ls_cmd(ctx: Context, as_json: bool) -> None:
    """List the inventories (PD records), oldest first, with their counts."""
    found = inventory.inventories(ctx.vault)
    if as_json:
        emit_json([{k: v for k, v in pd.items() if k != "notes"} for pd in found])
        return
    for pd in found:
        counts = " ".join(f"{r}={n}" for r, n in pd["results"].items())
        place = pd["place"] + (f" {pd['cabinet']}櫃" if pd.get("cabinet") else "")
        click.echo(f"{pd['code']}\t{str(pd['counted_at'])[:10]}\t{escape(place)}\t{escape(counts)}")


@inventory_group.command("rooms", epilog="\b\nExamples:\n  dangan inventory rooms\n  dangan inventory rooms --as-of 2024-12-31 --json")
@click.option("--as-of", "as_of", metavar="DAY", help="The day the summary is for (default today).")
@json_option
@pass_ctx
def rooms_cmd(ctx: Context, as_of: str | None, as_json: bool) -> None:
    """Per archive room: the last inventory and the open discrepancies (missing, damaged)."""
    vault = ctx.vault
    summary = inventory.room_summary(vault, timeutil.parse_day(as_of, vault.tz))
    if as_json:
        emit_json(summary)
        return
    for item in summary:
        last = f"{item['last_inventory']} {item['inventory']}" if item["inventory"] else _("never counted")
        click.echo(f"{escape(item['room'])}\t{last}\t" + _("{n} open").format(n=item["open_discrepancies"]))
        for d in item["discrepancies"]:
            click.echo(f"  {d['code']}\t{d['result']}" + (f"\t{escape(d['note'])}" if d.get("note") else ""))


COMMANDS = [inventory_group]
