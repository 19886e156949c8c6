"""Attachment commands: `attach`, and `attachments ls|get|rm` (docs/attachments.md)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from dangan.cli.base import (
    Context,
    complete_code,
    emit_json,
    identity_option,
    json_option,
    no_commit_option,
    pass_ctx,
    say,
)
from dangan.errors import DanganError
from dangan.formats.terminal import escape
from dangan.git import gitio
from dangan.i18n import _
from dangan.model import timeutil
from dangan.model.codes import parse_code
from dangan.services import attachments


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@click.command(
    "attach",
    epilog="""\b
Examples:
  dangan attach YZ-A01-02-001-0301-0001 deed-scan.pdf --title 房產證掃描件
  dangan attach WX-A01-02-0001 before.jpg after.jpg --by 張敏
  dangan attach YZ-A01-02-001-0301-0001 ~/scans/張三身份證.jpg --name id-card-front.jpg
""",
)
@click.argument("code", shell_complete=complete_code)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--title", metavar="TEXT", help="What the file is (one line, stored in clear).")
@click.option("--name", metavar="NAME", help="Store the file under this name (one FILE only); "
                                             "file names are in clear, so keep personal data out of them.")
@click.option("--type", "kind", metavar="MEDIA/TYPE", help="Media type (default: guessed from the name).")
@click.option("--by", metavar="NAME", help="Who attaches it (default: git's author name).")
@click.option("--at", metavar="WHEN", help="When (default: now), YYYY-MM-DD or an ISO 8601 timestamp.")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def attach_cmd(ctx: Context, code: str, files, title, name, kind, by, at, no_commit: bool, as_json: bool) -> None:
    """Encrypt FILE... to the recipients of CODE's category and list them in the record.

    Each file is stored as an age file next to the record (vault/.../CODE/NAME.age) and
    listed with its media type, size, SHA-256 of the stored file, when and by whom. Adding
    to an encrypted record needs one of its keys (the record's MAC covers the listing).
    """
    vault = ctx.vault
    who = by or timeutil.default_person(gitio.author_name(vault.root))
    moment = timeutil.parse_at(at, vault.tz)
    done = attachments.attach(vault, parse_code(code), [ctx.path(f) for f in files], who, moment,
                              name=name, title=title, kind=kind, commit=not no_commit)
    if as_json:
        emit_json({"code": str(done.code), "attached": done.entries, "paths": done.files, "commit": done.commit})
    else:
        for entry in done.entries:
            click.echo(f"{done.code} {entry['file']} ({entry['type']}, {_size(entry['size'])})")


@click.group(
    "attachments",
    epilog="""\b
Examples:
  dangan attachments ls YZ-A01-02-001-0301-0001
  dangan attachments get YZ-A01-02-001-0301-0001 deed-scan.pdf --out deed.pdf
  dangan attachments rm YZ-A01-02-001-0301-0001 deed-scan.pdf
""",
)
def attachments_group() -> None:
    """List, open and remove a record's encrypted attachments."""


@attachments_group.command(
    "ls",
    epilog="""\b
Examples:
  dangan attachments ls YZ-A01-02-001-0301-0001
  dangan attachments ls WX-A01-02-0001 --json
""",
)
@click.argument("code", shell_complete=complete_code)
@json_option
@pass_ctx
def ls_cmd(ctx: Context, code: str, as_json: bool) -> None:
    """List a record's attachments (no key needed: the listing is in clear)."""
    parsed = parse_code(code)
    entries = attachments.entries_of(ctx.vault, parsed)
    if as_json:
        emit_json({"code": str(parsed), "attachments": entries})
        return
    for entry in entries:
        missing = "" if entry["present"] else "  " + _("MISSING")
        title = f"  {escape(str(entry['title']))}" if entry.get("title") else ""
        click.echo(f"{escape(str(entry['file']))}\t{escape(str(entry.get('type')))}\t"
                   f"{_size(int(entry.get('size') or 0))}\t{escape(str(entry.get('added')))}\t"
                   f"{escape(str(entry.get('by')))}{title}{missing}")
    if not entries:
        say(_("{code} has no attachments").format(code=parsed))


@attachments_group.command(
    "get",
    epilog="""\b
Examples:
  dangan attachments get YZ-A01-02-001-0301-0001 deed-scan.pdf --out deed.pdf
  dangan attachments get WX-A01-02-0001 before.jpg > before.jpg
""",
)
@click.argument("code", shell_complete=complete_code)
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), help="Write the plaintext here (mode 0600); "
                                                            "default: standard output, never a terminal.")
@json_option
@identity_option
@pass_ctx
def get_cmd(ctx: Context, code: str, name: str, out: Path | None, as_json: bool) -> None:
    """Decrypt one attachment (needs an identity of a recipient); the access is journalled."""
    if out is None and as_json:
        raise DanganError(_("--json needs --out FILE (standard output carries the file itself)"))
    if out is None and sys.stdout.isatty():
        raise DanganError(_("refusing to write a decrypted file to a terminal"),
                          _("give --out FILE, or redirect standard output to a file"))
    from dangan.cli.auditcmd import journal_decryption

    vault = ctx.vault
    parsed = parse_code(code)
    sink = None if out is not None else sys.stdout.buffer
    result = attachments.get(vault, parsed, name, ctx.path(out) if out is not None else None, sink,
                             journal=lambda rel: journal_decryption(ctx, [str(parsed)], files=[rel], vault=vault))
    if sink is not None:
        sink.flush()
    if as_json:
        emit_json(result)
    elif out is not None:
        say(_("wrote {path}").format(path=result["out"]))


@attachments_group.command(
    "rm",
    epilog="""\b
Examples:
  dangan attachments rm YZ-A01-02-001-0301-0001 deed-scan.pdf
  dangan attachments rm WX-A01-02-0001 before.jpg after.jpg --no-commit
""",
)
@click.argument("code", shell_complete=complete_code)
@click.argument("names", nargs=-1, required=True)
@no_commit_option
@json_option
@identity_option
@pass_ctx
def rm_cmd(ctx: Context, code: str, names, no_commit: bool, as_json: bool) -> None:
    """Remove attachments and their listing in one commit (reviewed like any change)."""
    done = attachments.remove(ctx.vault, parse_code(code), list(names), not no_commit)
    if as_json:
        emit_json({"code": str(done.code), "removed": done.files, "commit": done.commit})
    else:
        for rel in done.files:
            click.echo(_("removed {path}").format(path=rel))


COMMANDS = [attach_cmd, attachments_group]
