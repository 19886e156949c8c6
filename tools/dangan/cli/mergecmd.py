"""Merge commands: the merge driver git runs for records, and `resolve`."""
from __future__ import annotations

from pathlib import Path

import click

from dangan.cli.base import (
    Context,
    complete_code,
    emit_json,
    identity_option,
    json_option,
    pass_ctx,
    say,
)
from dangan.formats.terminal import escape
from dangan.formats.yamlio import dump
from dangan.i18n import _, shown
from dangan.model.codes import parse_code


@click.command(
    "merge-driver",
    hidden=True,
    epilog="\b\nExample (what git runs for records: `merge=dangan` in .gitattributes, set by `dangan hook install`):\n"
           "  git config merge.dangan.driver 'dangan merge-driver %O %A %B %P'",
)
@click.argument("base", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("ours", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("theirs", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("path")
@pass_ctx
def merge_driver_cmd(ctx: Context, base: Path, ours: Path, theirs: Path, path: str) -> None:
    """Merge a record field by field into OURS; exit 1 leaves a conflict for `dangan resolve`."""
    from dangan.git import gitio
    from dangan.services import merge

    root = gitio.toplevel(ctx.vault_path or Path.cwd()) or Path.cwd()
    result = merge.driver(root, base, ours, theirs, path, ctx.keyring)
    click.echo(escape(shown(result.message)), err=True)
    if not result.merged:
        raise SystemExit(1)


@click.command(
    "resolve",
    epilog="""\b
Examples:
  dangan resolve TS-A01-02-001-0301-0001                      # what is in conflict
  dangan resolve TS-A01-02-001-0301-0001 --theirs complainant.phone --ours handler
  dangan resolve WX-A01-02-0001 --set status=done
  dangan resolve TS-A01-02-001-0301-0001 --take theirs        # no key needed
\b
Then finish with git: `git commit` (a merge), `git rebase --continue`, `git cherry-pick --continue`.
In a rebase, ours is the branch being rebased onto and theirs your commit being replayed.
""",
)
@click.argument("code", shell_complete=complete_code)
@click.option("--ours", "ours", multiple=True, metavar="FIELD", help="Take ours' value of a field in conflict.")
@click.option("--theirs", "theirs", multiple=True, metavar="FIELD", help="Take theirs' value of a field in conflict.")
@click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE",
              help="Give a field a value (typed by the schema, as `set` does).")
@click.option("--take", type=click.Choice(["ours", "theirs"]),
              help="Take one side's whole record as it is stored (needs no key).")
@json_option
@identity_option
@pass_ctx
def resolve_cmd(ctx: Context, code: str, ours, theirs, assignments, take: str | None, as_json: bool) -> None:
    """Finish a record's merge conflict: per field ours, theirs or a value.

    Merges the record again with the answers, validates and seals it as `set` does, and
    stages it. Without answers it does so when nothing needs one (a key holder finishing a
    merge that had no key), else shows what is in conflict (sensitive values as
    ‹encrypted …›) and exits 1.
    """
    from dangan.errors import DanganError
    from dangan.services import merge

    vault = ctx.vault
    parsed = parse_code(code)
    if take and (ours or theirs or assignments):
        raise DanganError(_("--take takes a whole record; it goes with no --ours, --theirs or --set"))
    if not (take or ours or theirs or assignments):
        conflict = merge.conflict_of(vault, parsed, vault.keyring)
        if conflict is not None:  # what needs an answer
            if as_json:
                emit_json({"code": str(parsed), "resolved": False, "reason": conflict.reason,
                           "fields": conflict.fields, "needs_key": conflict.needs_key})
            else:
                click.echo(escape(f"# {parsed}: {shown(conflict.reason)}", lines=True))
                if conflict.fields:
                    click.echo(escape(dump(conflict.fields), lines=True), nl=False)
                say(_("answer each field: dangan resolve {code} --ours FIELD | --theirs FIELD | --set FIELD=VALUE").format(
                    code=parsed))
            raise SystemExit(1)
        # nothing left to answer (a key holder finishing a merge that had no key): merge it
    done = merge.resolve(vault, parsed, merge.Choices(list(ours), list(theirs), list(assignments)), take)
    if as_json:
        emit_json({"code": done.code, "resolved": True, "path": done.path, "remaining": done.remaining, "next": done.next_step})
        return
    click.echo(_("{code}: resolved and staged").format(code=done.code))
    say(_("next: {step}").format(step=done.next_step))


COMMANDS = [merge_driver_cmd, resolve_cmd]
