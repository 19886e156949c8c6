"""Handover commands (移交/接管, docs/handover.md): `dangan handover list|export|record|import`."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from dangan.cli.base import (
    Context,
    emit_json,
    identity_option,
    json_option,
    no_commit_option,
    pass_ctx,
    say,
    sign_key_option,
)
from dangan.errors import DanganError
from dangan.formats.terminal import escape
from dangan.i18n import _
from dangan.services import handover_ledger


@click.group(
    "handover",
    epilog="""\b
Examples:
  dangan handover list B01 --format html --out 移交清冊.html
  dangan handover export B01 --recipient 業委會=age1... --out /media/usb/B01-handover
  dangan handover record B01 --to 翠湖花園業主委員會 --received-by 周明 --witness 陳建華 --by 李娜
  dangan -C /srv/new-archive handover import /media/usb/B01-handover --map B01=C03 \\
      --from 某物業服務有限公司 --received-by 王芳 --witness 李主任
""",
)
def handover_group() -> None:
    """Hand a project's records over to another organisation (移交, docs/handover.md).

    `list` prints the 移交清冊 of a location prefix; `export` makes the new vault the
    receiving party opens with its own keys; `record` writes the YJ record that says they
    were handed over: they leave retention plans, inventories, due, gaps and statistics,
    and their removal from this vault is licensed (DG109). On the receiving side, `import`
    files them, with a YJ receipt.
    """


@handover_group.command(
    "list",
    epilog="""\b
Examples:
  dangan handover list B01
  dangan handover list B01 --format csv --out 移交清冊.csv
  dangan handover list B01-02 --format html --out 移交清冊.html
  dangan handover list B01 --format json
""",
)
@click.argument("prefix")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "html", "json"]), default="text",
              show_default=True, help="text (a table), csv, json, or html to print and sign.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@pass_ctx
def list_cmd(ctx: Context, prefix: str, fmt: str, out: Path | None) -> None:
    """List every record under PREFIX (a project such as B01, or a part of it) as committed:
    code, category, title, status, dates, where the paper original is, pages, attachments.

    Records a handover already gave away are left out. Never decrypts. Open loans and
    holds on the records are named on stderr (json: in the document).
    """
    vault = ctx.vault
    found = handover_ledger.listing(vault, prefix)
    if fmt == "csv":
        text = handover_ledger.as_csv(found)
    elif fmt == "json":
        text = handover_ledger.as_json(found)
    elif fmt == "html":
        text = handover_ledger.as_html(found, vault.today())
    else:
        lines = ["\t".join(handover_ledger.COLUMNS)]
        lines += ["\t".join(escape(cell) for cell in row.cells()) for row in found.rows]
        text = "\n".join(lines) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        target = ctx.path(out)
        try:
            # a BOM so that spreadsheet programs read the Chinese text of a CSV as UTF-8
            target.write_text(("\ufeff" if fmt == "csv" else "") + text, encoding="utf-8")
        except OSError as exc:
            raise DanganError(_("cannot write {path}: {reason}").format(path=target, reason=exc.strerror)) from None
    if fmt != "json":
        where = f": {ctx.path(out)}" if out is not None else ""
        say(_("{n} record(s) under {prefix}").format(n=len(found.rows), prefix=found.prefix) + where)
        for code, loans in found.loans.items():
            say(_("{code} is on open loan {loans}: it cannot be handed over until it is back").format(
                code=code, loans=", ".join(loans)))
        for code, holds in found.holds.items():
            say(_("{code} is held by {holds}: it may be handed over, not removed while held").format(
                code=code, holds=", ".join(holds)))


@handover_group.command(
    "record",
    epilog="""\b
Examples:
  dangan handover record B01 --to 翠湖花園業主委員會 --received-by 周明 --witness 陳建華 --by 李娜
  dangan handover record B01-02 --to 新盛物業 --received-by 王強 --witness 陳建華 --witness 劉芳 \\
      --by 李娜 --at 2026-12-31T10:00:00+08:00 --json
""",
)
@click.argument("prefix")
@click.option("--to", "to", required=True, metavar="ORG", help="The organisation that receives them (接收單位).")
@click.option("--received-by", "received_by", required=True, metavar="NAME", help="Who receives them (接收人).")
@click.option("--witness", "witnesses", required=True, multiple=True, metavar="NAME",
              help="Who witnesses the handover (監交人); repeat for more.")
@click.option("--by", metavar="NAME", help="Who hands them over (移交人; default: git's author name).")
@click.option("--at", metavar="WHEN", help="When (YYYY-MM-DD or ISO 8601; default now).")
@click.option("--title", metavar="TEXT", help="Title of the YJ record (default: prefix and organisation).")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def record_cmd(ctx: Context, prefix: str, to: str, received_by: str, witnesses: tuple[str, ...], by, at, title,
               no_commit: bool, as_json: bool) -> None:
    """Record that the records under PREFIX were handed over: a YJ record (status
    handed_over) listing each in its committed version.

    A whole project's profile (XM) must say `exiting` first; records on open loans
    refuse it. A signed role act of the archivist who hands over, where vault.yaml asks
    for signatures. Prints the YJ code.
    """
    done = handover_ledger.record(ctx.vault, prefix, to, received_by, list(witnesses), by, at, title,
                                  not no_commit)
    if as_json:
        emit_json(asdict(done))
        return
    for code in done.codes:
        click.echo(code)
    say(_("{codes}: {n} record(s) under {prefix} handed over to {to}").format(
        codes=" ".join(done.codes), n=done.count, prefix=done.prefix, to=done.to))
    for code, holds in done.held.items():
        say(_("{code} is held by {holds}: keep it until the hold is released (DG109)").format(
            code=code, holds=", ".join(holds)))


@handover_group.command(
    "export",
    epilog="""\b
Examples:
  dangan handover export B01 --recipient age1... --out /media/usb/B01-handover
  dangan handover export A01-02 --recipient 業委會=age1... --recipient 'ssh-ed25519 AAAA...' --out ./A01-02
""",
)
@click.argument("prefix")
@click.option("--recipient", "recipients", multiple=True, metavar="[NAME=]KEY",
              help="The receiving party's age or SSH public key (repeatable); NAME=KEY names it.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="The folder to create (it must not exist, or be empty).")
@json_option
@identity_option
@pass_ctx
def export_cmd(ctx: Context, prefix: str, recipients: tuple[str, ...], out: Path, as_json: bool) -> None:
    """A new vault for the receiving party with the records under PREFIX at HEAD.

    Sensitive values and attachments are encrypted to the --recipient keys only (never to
    this vault's); the new vault holds a manifest, HANDOVER.json, naming this vault, its
    commit and each record. It is verified (git fsck, the manifest, the recipients, `check
    --all`) before it is put at --out; a failure leaves nothing. Needs your key to open the
    sensitive values.
    """
    from dangan.services import handover_export

    result = handover_export.export(ctx.vault, prefix, list(recipients), ctx.path(out))
    if as_json:
        emit_json(result.to_json())
        return
    m = result.manifest
    say(_("exported {n} record(s) and {attachments} attachment(s) under {prefix} at {commit} to {path}").format(
        n=len(m["records"]), attachments=len(m["attachments"]), prefix=m["prefix"],
        commit=m["source"]["commit"][:12], path=result.path))
    for step, detail in result.steps:
        say(f"  ok   {step:<10} {detail}")
    if m["outside_refs"]:
        say("  " + _("{n} reference(s) to records outside {prefix} left out, listed in {manifest} (outside_refs)").format(
            n=len(m["outside_refs"]), prefix=m["prefix"], manifest=handover_export.MANIFEST))
    names = ", ".join(r["name"] for r in m["recipients"])
    say(_("readable with the key(s) of: {names}").format(names=names))


@handover_group.command(
    "import",
    epilog="""\b
Examples:
  dangan handover import /media/usb/B01-handover --from 某物業服務有限公司 --received-by 王芳 --witness 李主任
  dangan handover import ./B01-handover --map B01=C03 --from 某物業 --received-by 王芳 --witness 李主任 --by 張敏
""",
)
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--map", "maps", multiple=True, metavar="OLD=NEW",
              help="File the records under another location: B01=C03 (repeatable).")
@click.option("--from", "from_org", required=True, help="The organisation that handed the records over (移交單位).")
@click.option("--received-by", required=True, help="Who received them here (接收人).")
@click.option("--witness", "witnesses", multiple=True, required=True, help="A witness (監交人); repeatable.")
@click.option("--by", "by", help="Who handed them over (移交人); default: who made the export, as its manifest says.")
@json_option
@identity_option
@sign_key_option
@pass_ctx
def import_cmd(ctx: Context, folder: Path, maps: tuple[str, ...], from_org: str, received_by: str,
               witnesses: tuple[str, ...], by: str | None, as_json: bool) -> None:
    """Receive an exported vault: its records, attachments and a YJ receipt, in one commit.

    The exported vault is verified first (git fsck, its manifest, nothing extra); each
    record is opened with your key (the receiving party's), mapped when --map says so,
    sealed again for this vault's recipients and checked like `dangan import`. A code that
    exists here already refuses the whole import, and nothing is written.
    """
    from dangan.services import handover_import

    result = handover_import.receive(ctx.vault, ctx.path(folder), list(maps), from_org, received_by,
                                     list(witnesses), by)
    if as_json:
        emit_json(result.to_json())
        return
    mapped = sum(1 for old, new in result.codes if old != new)
    say(_("received {n} record(s) and {attachments} attachment(s) from {source}").format(
        n=len(result.codes), attachments=result.attachments, source=from_org)
        + (_(", {n} filed under a new code").format(n=mapped) if mapped else "")
        + _("; receipt {code}").format(code=result.receipt))
    if result.commit:
        say(_("commit {commit}").format(commit=result.commit[:12]))
COMMANDS = [handover_group]
