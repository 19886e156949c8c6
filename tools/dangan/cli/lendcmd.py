"""Lending commands (借閱): `dangan lend request|approve|reject|checkout|renew|return|view|copy|ls`."""
from __future__ import annotations

from dataclasses import asdict

import click

from dangan.cli.base import (
    Context,
    complete_code,
    emit_json,
    identity_option,
    json_option,
    listing,
    listing_options,
    no_commit_option,
    pass_ctx,
    say,
    shown_status,
)
from dangan.i18n import N_, _, ngettext
from dangan.model import timeutil
from dangan.services import lending
from dangan.services.lending import Done

AT_HELP = N_("When it happened (YYYY-MM-DD or ISO 8601; default now), for paper events entered later.")
BY_HELP = N_("Who did it (default: git's author name).")


def _at(func):  # type: ignore[no-untyped-def]
    return click.option("--at", metavar="WHEN", help=AT_HELP)(func)


def _by(func):  # type: ignore[no-untyped-def]
    return click.option("--by", metavar="NAME", help=BY_HELP)(func)


def _report(done: Done, as_json: bool) -> None:
    if as_json:
        emit_json({"code": done.code, "status": done.status, "due": done.due, "path": done.path, "commit": done.commit})
        return
    click.echo(done.code)
    say(f"{done.code}: {done.status}" + (_(", due {day}").format(day=done.due) if done.due and done.status == "out" else ""))


@click.group(
    "lend",
    epilog="""\b
Examples:
  dangan lend request SB-A01-01-0002 --borrower 趙偉 --department 工程部 --purpose 年檢 --form original
  dangan lend approve JY-0003 --by 陳立新
  dangan lend checkout JY-0003 --by 張敏 --days 7
  dangan lend view YZ-A01-01-001-0101-0001 --borrower 周敏 --department 客服部 --purpose 核對產權
  dangan lend ls --status overdue --as-of 2025-01-06
""",
)
def lend_group() -> None:
    """The lending log (借閱): request, approve, hand over, renew and take back records;
    views in the archive room and certified copies.

    Every loan is a JY record whose events are only ever appended; each command appends
    one event and commits. A view or a copy is a JY record of one event, closed at once. A command that a lending rule refuses exits 1, names the rule
    (DG111) and writes nothing.
    """


@lend_group.command(
    "request",
    epilog="""\b
Examples:
  dangan lend request YZ-A01-02-001-0301-0001 --borrower 周敏 --department 客服部 \\
      --purpose 核對業主聯繫方式 --form copy --days 3 --contact 13800006666
  dangan lend request SB-A01-01-0002 WX-A01-01-0001 --borrower 趙偉 --department 工程部 \\
      --purpose 迎接特種設備年度檢驗 --form original --at 2024-11-04T09:00:00+08:00 --json
""",
)
@click.argument("codes", nargs=-1, required=True, metavar="CODE...", shell_complete=complete_code)
@click.option("--borrower", required=True, metavar="NAME", help="Borrower's name (借閱人).")
@click.option("--department", required=True, metavar="DEPT", help="Borrower's department (部門).")
@click.option("--purpose", required=True, metavar="TEXT", help="Purpose of the loan (借閱目的).")
@click.option("--form", type=click.Choice(lending.FORMS), default="copy", show_default=True,
              help="What is handed over: original 原件, copy 複印件, scan 掃描件.")
@click.option("--days", type=click.IntRange(min=1), help="Days asked for (at most vault.yaml lending.loan_days).")
@click.option("--contact", metavar="TEXT", help="Borrower's phone or e-mail (stored encrypted; needs recipients).")
@click.option("--title", metavar="TEXT", help="Title of the loan record (default: derived from the codes).")
@_at
@no_commit_option
@json_option
@pass_ctx
def request_cmd(ctx: Context, codes, borrower, department, purpose, form, days, contact, title, at,
                no_commit: bool, as_json: bool) -> None:
    """Request a loan of one or more records: a new loan JY-nnnn in state `requested`.

    Prints the loan's code. The request is the borrower's; an approver decides on it.
    """
    done = lending.request(ctx.vault, list(codes), borrower, department, purpose, form, days, contact, at, title,
                           not no_commit)
    _report(done, as_json)


@lend_group.command("approve", epilog="\b\nExamples:\n  dangan lend approve JY-0003 --by 陳立新\n  dangan lend approve JY-0003 --by 陳立新 --at 2024-11-04T09:30:00+08:00")
@click.argument("loan")
@_by
@_at
@no_commit_option
@json_option
@identity_option
@pass_ctx
def approve_cmd(ctx: Context, loan: str, by, at, no_commit: bool, as_json: bool) -> None:
    """Approve a requested loan (an approver in vault.yaml, not the borrower)."""
    _report(lending.approve(ctx.vault, loan, by, at, not no_commit), as_json)


@lend_group.command("reject", epilog="\b\nExamples:\n  dangan lend reject JY-0003 --by 陳立新 --reason 用途與所借檔案無關")
@click.argument("loan")
@click.option("--reason", required=True, metavar="TEXT", help="Why the loan is refused (理由).")
@_by
@_at
@no_commit_option
@json_option
@identity_option
@pass_ctx
def reject_cmd(ctx: Context, loan: str, reason: str, by, at, no_commit: bool, as_json: bool) -> None:
    """Reject a requested (or approved, not yet handed over) loan; it is closed."""
    _report(lending.reject(ctx.vault, loan, reason, by, at, not no_commit), as_json)


@lend_group.command("checkout", epilog="\b\nExamples:\n  dangan lend checkout JY-0003 --by 張敏\n  dangan lend checkout JY-0003 --by 張敏 --days 5 --at 2024-12-30T17:00:00+08:00")
@click.argument("loan")
@_by
@click.option("--days", type=click.IntRange(min=1), help="Loan period (default: the days asked for, else loan_days).")
@_at
@no_commit_option
@json_option
@identity_option
@pass_ctx
def checkout_cmd(ctx: Context, loan: str, by, days, at, no_commit: bool, as_json: bool) -> None:
    """Hand over an approved loan (an archivist): due = the checkout day + days."""
    _report(lending.checkout(ctx.vault, loan, by, days, at, not no_commit), as_json)


@lend_group.command("renew", epilog="\b\nExamples:\n  dangan lend renew JY-0003 --days 7 --by 張敏 --reason 年檢延期")
@click.argument("loan")
@click.option("--days", required=True, type=click.IntRange(min=1), help="Days added to the current due date.")
@_by
@click.option("--reason", metavar="TEXT", help="Why the loan is extended.")
@_at
@no_commit_option
@json_option
@identity_option
@pass_ctx
def renew_cmd(ctx: Context, loan: str, days: int, by, reason, at, no_commit: bool, as_json: bool) -> None:
    """Extend a loan that is out (an archivist); never past checkout + max_total_days."""
    _report(lending.renew(ctx.vault, loan, days, by, reason, at, not no_commit), as_json)


@lend_group.command("return", epilog="\b\nExamples:\n  dangan lend return JY-0003 --by 張敏 --condition intact\n  dangan lend return JY-0003 --by 張敏 --condition damaged --note 第3頁水漬")
@click.argument("loan")
@_by
@click.option("--condition", required=True, type=click.Choice(lending.CONDITIONS), help="State of what came back.")
@click.option("--note", metavar="TEXT", help="What is damaged or lost (required then).")
@_at
@no_commit_option
@json_option
@identity_option
@pass_ctx
def return_cmd(ctx: Context, loan: str, by, condition: str, note, at, no_commit: bool, as_json: bool) -> None:
    """Take back a loan that is out (an archivist); damaged or lost needs a note."""
    _report(lending.give_back(ctx.vault, loan, condition, by, note, at, not no_commit), as_json)


@lend_group.command(
    "view",
    epilog="""\b
Examples:
  dangan lend view YZ-A01-01-001-0101-0001 --borrower 周敏 --department 客服部 --purpose 核對產權 --by 張敏
  dangan lend view SB-A01-01-0002 --borrower 趙偉 --department 工程部 --purpose 查閱 \\
      --at 2025-03-04T10:00:00+08:00 --json
""",
)
@click.argument("codes", nargs=-1, required=True, metavar="CODE...", shell_complete=complete_code)
@click.option("--borrower", required=True, metavar="NAME", help="Who viewed the records (查閱人).")
@click.option("--department", required=True, metavar="DEPT", help="The viewer's department (部門).")
@click.option("--purpose", required=True, metavar="TEXT", help="Purpose of the view (查閱目的).")
@_by
@_at
@no_commit_option
@json_option
@pass_ctx
def view_cmd(ctx: Context, codes, borrower, department, purpose, by, at, no_commit: bool, as_json: bool) -> None:
    """Record a view of originals in the archive room (查閱), by the archivist who supervised it.

    One event, closed at once (`viewed`): never out, never overdue. Originals that are
    never lent (lending.originals_not_lent) may be viewed.
    """
    _report(lending.view(ctx.vault, list(codes), borrower, department, purpose, by, at, not no_commit), as_json)


@lend_group.command(
    "copy",
    epilog="""\b
Examples:
  dangan lend copy YZ-A01-01-001-0101-0001 --pages 3 --certified-by 張敏 --given-to 周敏 \\
      --department 客服部 --purpose 辦理產權變更
  dangan lend copy HT-A01-0002 --form extract --pages 1 --certified-by 張敏 --given-to 李娜 \\
      --department 財務部 --purpose 審計摘抄 --json
""",
)
@click.argument("codes", nargs=-1, required=True, metavar="CODE...", shell_complete=complete_code)
@click.option("--form", type=click.Choice(lending.COPY_FORMS), default="copy", show_default=True,
              help="copy 複印件 or extract 摘抄.")
@click.option("--pages", required=True, type=click.IntRange(min=1), help="Pages handed over (頁數).")
@click.option("--certified-by", "certified_by", required=True, metavar="NAME",
              help="The archivist who certified that the copy matches the original (核對人).")
@click.option("--given-to", "given_to", required=True, metavar="NAME", help="Who received it (領取人).")
@click.option("--department", required=True, metavar="DEPT", help="The recipient's department (部門).")
@click.option("--purpose", required=True, metavar="TEXT", help="Purpose of the copy (用途).")
@_by
@_at
@no_commit_option
@json_option
@pass_ctx
def copy_cmd(ctx: Context, codes, form: str, pages: int, certified_by: str, given_to: str, department: str,
             purpose: str, by, at, no_commit: bool, as_json: bool) -> None:
    """Register a certified copy or extract given for good (檔案復制, 摘抄).

    One event, closed at once (`copied`), nothing to return. The certifier, an archivist,
    vouches that the copy matches the original.
    """
    _report(lending.register_copy(ctx.vault, list(codes), given_to, department, purpose, pages, certified_by,
                                  form, by, at, not no_commit), as_json)


@lend_group.command(
    "ls",
    epilog="""\b
Examples:
  dangan lend ls
  dangan lend ls --status overdue --as-of 2025-01-06
  dangan lend ls --record SB-A01-01-0002 --json
""",
)
@click.option("--status", type=click.Choice(lending.LIST_STATUSES), default="all", show_default=True,
              help="Only loans in this state as of the day; overdue = out and due before it.")
@click.option("--as-of", "as_of", metavar="DATE", help="The day the list is for (default today), from the events up to its end.")
@click.option("--borrower", metavar="NAME", help="Only this borrower's loans.")
@click.option("--record", metavar="CODE", help="Only loans of this record.")
@listing_options
@pass_ctx
def ls_cmd(ctx: Context, status: str, as_of, borrower, record, fmt: str, as_json: bool) -> None:
    """List loans, views and copies: code, status, due date, days overdue, borrower, form,
    records, condition (a copy: pages and certifier)."""
    as_json = as_json or fmt == "json"
    vault = ctx.vault
    day = timeutil.parse_day(as_of, vault.tz)
    rows = lending.loans(vault, status, day, borrower, record)
    if borrower is not None and not rows and (warning := lending.unknown_borrower(vault, borrower)):
        say(_("dangan: warning: {message}").format(message=warning))
    if as_json:
        emit_json({"as_of": day.isoformat(), "status": status, "loans": [asdict(r) for r in rows]})
        return
    lines = []
    for r in rows:
        overdue = ngettext("{n} day overdue", "{n} days overdue", r.days_overdue).format(n=r.days_overdue) if r.overdue else ""
        last = r.condition or ""
        if r.kind == "copy":
            last = _("{pages} pages, certified by {who}").format(pages=r.pages, who=r.certified_by)
        shown = shown_status(r.status) if fmt == "text" else r.status
        lines.append([r.code, shown, r.due or "", overdue, r.borrower, r.form, ",".join(r.records), last])
    names = ["code", "status", "due", "overdue", "borrower", "form", "records", "condition"]
    header = [_("code"), _("status"), _("due"), _("overdue"), _("borrower"), _("form"), _("records"),
              _("condition")] if fmt == "text" else names  # csv: the stable English names
    listing(header, lines, fmt)


# the states of a view and a copy, named in `lend ls`'s table (a loan's are in cli/statscmd.py)
STATES = (N_("viewed"), N_("copied"), N_("requested"), N_("approved"), N_("rejected"), N_("out"), N_("closed"))

COMMANDS = [lend_group]
