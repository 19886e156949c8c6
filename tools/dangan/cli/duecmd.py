"""`dangan due`: overdue and upcoming obligations (docs/duties.md, "Obligations")."""
from __future__ import annotations

from typing import Any

import click

from dangan.cli.base import Context, emit_json, json_option, office_note, pass_ctx
from dangan.formats.terminal import CountLine, escape
from dangan.i18n import _, language
from dangan.model import script
from dangan.model.departments import UNASSIGNED
from dangan.model.timeutil import parse_day


def shown_department(name: str) -> str:
    """A department as vault.yaml names it; the placeholder for none in the interface language
    (`--department unassigned` and `--json` keep the stored word)."""
    return _("unassigned") if name == UNASSIGNED else name


def text_lines(doc: dict[str, Any]) -> list[str]:
    """A header, then one line per obligation: due date, days, subject, field, duty,
    department and responsible person, title. Every value is escaped (docs/format.md §4.4)."""
    commit = (doc["commit"] or _("none"))[:12]
    scope = _(", department {name}").format(name=doc["department"]) if doc["department"] else ""
    lines = [escape(_("{vault} — as of {day} ({timezone}), commit {commit}{scope}: {overdue} overdue, "
                      "{upcoming} due by {until}").format(
        vault=doc["vault"]["name"], day=doc["as_of"], timezone=doc["timezone"], commit=commit, scope=scope,
        overdue=doc["overdue"], upcoming=doc["upcoming"], until=doc["until"]))]
    for item in doc["obligations"]:
        days = (_("{n} d overdue").format(n=item["days_overdue"]) if item["state"] == "overdue"
                else _("{n} d left").format(n=item["days_left"]))
        who = shown_department(item["department"]) + (f" {item['responsible']}" if item["responsible"] else "")
        duty = f"{item['zh']} ({item['duty']})" if item["zh"] else item["duty"]
        if item["zh"] and language() != "en":  # the duty's Chinese name alone, in the language's script
            duty = script.fold(item["zh"]) if language() == "zh-Hans" else item["zh"]
        fields = [item["due"], days, item["subject"], item["field"], duty, who, item["title"] or ""]
        lines.append("  ".join(escape(str(f)) for f in fields).rstrip())
    for path in doc["unreadable"]:
        lines.append(escape(_("unreadable (not judged): {path}").format(path=path)))
    return lines


@click.command(
    "due",
    epilog="""\b
Examples:
  dangan due
  dangan due --within P90D --department 工程部
  dangan due --as-of 2025-12-31 --json
""",
)
@click.option("--within", default="P30D", show_default=True, metavar="DURATION",
              help="List what falls due this long after the day (ISO 8601: P30D, P2W, P3M; P0D: overdue only).")
@click.option("--as-of", "as_of", metavar="DATE",
              help="The day to judge (default: today, vault timezone); the vault as committed at its end.")
@click.option("--department", metavar="NAME", help="Only this department's obligations (or `unassigned`).")
@click.option("--exit-code", "exit_code", is_flag=True,
              help="Exit with status 1 when something listed is overdue (for cron jobs and CI).")
@json_option
@pass_ctx
def due_cmd(ctx: Context, within: str, as_of: str | None, department: str | None, exit_code: bool,
            as_json: bool) -> None:
    """Dated obligations (期限義務) overdue or falling due: contract and lease ends, plan
    reviews, certificates, statutory inspections, decoration works, complaint deadlines,
    the next maintenance of each piece of equipment and the next count of each archive
    room, each with its department and responsible person. Never decrypts. Exit status 0, as
    for the other reports; with --exit-code, 1 when something listed is overdue.
    """
    from dangan.services import due

    vault = ctx.vault
    office_note(vault)
    # a cold run reads every record from git (seconds on a large vault): a count on a terminal
    with CountLine("due", _("records read")) as count:
        doc = due.compute(vault, parse_day(as_of, vault.tz), due.check_within(within), department, count)
    if as_json:
        emit_json(doc)
    else:
        click.echo("\n".join(text_lines(doc)))
    if exit_code and doc["overdue"]:
        raise SystemExit(1)


COMMANDS = [due_cmd]
