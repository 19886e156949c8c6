"""`dangan gaps` (late filings, missing expected records, originals not received) and
`dangan receive` (the archive received a paper original): docs/duties.md."""
from __future__ import annotations

from typing import Any

import click

from dangan.cli.base import (
    Context,
    complete_code,
    emit_json,
    identity_option,
    json_option,
    no_commit_option,
    office_note,
    pass_ctx,
    say,
)
from dangan.cli.duecmd import shown_department
from dangan.formats.terminal import CountLine, escape
from dangan.i18n import N_, _
from dangan.model.timeutil import parse_day
from dangan.report.wording import gap_text

# the kinds of gap (services.gaps), named in the interface language in the text output
KINDS = (N_("late"), N_("missing"), N_("original"))

AS_OF_HELP = N_("The day judged (default: today, vault timezone); the vault as committed at its end.")


def text_lines(doc: dict[str, Any]) -> list[str]:
    """One line per gap, grouped by department, each value escaped."""
    counts = doc["counts"]
    lines = [escape(_("gaps as of {day} ({timezone}), commit {commit}: {late} late, {missing} missing, "
                      "{original} originals not received").format(
        day=doc["as_of"], timezone=doc["timezone"], commit=(doc["commit"] or _("none"))[:12],
        late=counts["late"], missing=counts["missing"], original=counts["original"]))]
    current = None
    for gap in doc["gaps"]:
        if gap["department"] != current:
            current = gap["department"]
            who = _(" (responsible: {name})").format(name=gap["responsible"]) if gap["responsible"] else ""
            lines.append(escape(f"{shown_department(current)}{who}:"))
        lines.append(escape("  " + _("{kind:<8} since {since}  {what}").format(
            kind=_(gap["kind"]), since=gap["since"], what=gap_text(gap))))
    for path in doc["unreadable"]:
        lines.append(escape(_("unreadable, not judged: {path}").format(path=path)))
    return lines


@click.command(
    "gaps",
    epilog="""\b
Examples:
  dangan gaps
  dangan gaps --as-of 2025-12-31 --department 工程部
  dangan gaps --json | jq '.gaps[] | select(.kind == "missing")'
Exit status: 0 (with --exit-code: 1 when gaps are listed), 2 bad input.
""",
)
@click.option("--as-of", "as_of", metavar="DATE", help=AS_OF_HELP)
@click.option("--department", metavar="NAME", help="Only the gaps of this department (or `unassigned`).")
@click.option("--exit-code", "exit_code", is_flag=True,
              help="Exit with status 1 when gaps are listed (for cron jobs and CI).")
@json_option
@pass_ctx
def gaps_cmd(ctx: Context, as_of: str | None, department: str | None, exit_code: bool, as_json: bool) -> None:
    """What should have been filed and was not (歸檔及時, 齊全無缺): records filed after their
    deadline, expected records that are missing, paper originals the archive has not
    received; each with its department and responsible person. Never decrypts.
    """
    from dangan.services import gaps

    vault = ctx.vault
    office_note(vault)
    # a cold run reads every record from git (seconds on a large vault): a count on a terminal
    with CountLine("gaps", _("records read")) as count:
        doc = gaps.compute(vault, parse_day(as_of, vault.tz), department, count)
    if as_json:
        emit_json(doc)
    else:
        click.echo("\n".join(text_lines(doc)))
    if exit_code and doc["gaps"]:
        raise SystemExit(1)


@click.command(
    "receive",
    epilog="""\b
Examples:
  dangan receive YZ-A01-01-001-0301-0001 --from 客服部 --pages 12 --identity key.txt
  dangan receive HT-A01-0003 HT-A01-0004 --from 工程部 --pages 8 --by 張敏 --at 2026-11-20T10:00
""",
)
@click.argument("codes", nargs=-1, required=True, metavar="CODE...", shell_complete=complete_code)
@click.option("--from", "source", required=True, metavar="DEPARTMENT", help="The department that handed the originals over.")
@click.option("--pages", required=True, type=click.IntRange(min=1), help="Pages received and checked (per record).")
@click.option("--by", metavar="NAME", help="The archivist who received them (default: the git author).")
@click.option("--at", "at", metavar="WHEN", help="When they were received (default: now; never in the future).")
@no_commit_option
@identity_option
@json_option
@pass_ctx
def receive_cmd(ctx: Context, codes: tuple[str, ...], source: str, pages: int, by: str | None, at: str | None,
                no_commit: bool, as_json: bool) -> None:
    """Record that the archive received and checked the paper originals of CODE... (原件接收):
    sets `received: {from, pages, by, at}` on each record, in one commit. An encrypted
    record needs its key (--identity).
    """
    from dangan.services import receipts

    done = receipts.receive(ctx.vault, list(codes), source, pages, by, at, commit=not no_commit)
    if as_json:
        emit_json(done.as_dict())
        return
    where = _("commit {commit}").format(commit=done.commit[:12]) if done.commit else _("staged, not committed")
    say(_("received {n} original(s) from {source} ({where})").format(n=len(done.codes), source=source, where=where))


COMMANDS = [gaps_cmd, receive_cmd]
