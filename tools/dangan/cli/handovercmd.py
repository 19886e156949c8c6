"""Handover commands (移交/接管, docs/handover.md): handover export and handover import."""
from __future__ import annotations

from pathlib import Path

import click

from dangan.cli.base import (
    Context,
    emit_json,
    identity_option,
    json_option,
    pass_ctx,
    say,
    sign_key_option,
)


@click.group(
    "handover",
    epilog="""\b
Examples:
  dangan handover export B01 --recipient 業委會=age1... --out /media/usb/B01-handover
  dangan -C /srv/new-archive handover import /media/usb/B01-handover --map B01=C03 \\
      --from 某物業服務有限公司 --received-by 王芳 --witness 李主任
""",
)
def handover_group() -> None:
    """Handover of a project (移交/接管): the list, the exported vault, the records of it.

    When a service contract ends, the records of a property go to the owners' committee or
    to the next company (docs/handover.md).
    """


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
    say(f"exported {len(m['records'])} record(s) and {len(m['attachments'])} attachment(s) under "
        f"{m['prefix']} at {m['source']['commit'][:12]} to {result.path}")
    for step, detail in result.steps:
        say(f"  ok   {step:<10} {detail}")
    if m["outside_refs"]:
        say(f"  {len(m['outside_refs'])} reference(s) to records outside {m['prefix']} left out, "
            f"listed in {handover_export.MANIFEST} (outside_refs)")
    names = ", ".join(r["name"] for r in m["recipients"])
    say(f"readable with the key(s) of: {names}")


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
    say(f"received {len(result.codes)} record(s) and {result.attachments} attachment(s) from {from_org}"
        + (f", {mapped} filed under a new code" if mapped else "")
        + f"; receipt {result.receipt}")
    if result.commit:
        say(f"commit {result.commit[:12]}")
COMMANDS = [handover_group]
