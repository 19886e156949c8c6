"""Retention commands: retention schedule/plan/appraise/approve/apply/hold/release/extend
(docs/retention.md)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dangan.cli.base import (
    Context,
    complete_category,
    complete_code,
    emit_json,
    identity_option,
    json_option,
    no_commit_option,
    office_note,
    pass_ctx,
    say,
)
from dangan.errors import DanganError
from dangan.formats.terminal import escape
from dangan.formats.yamlio import dump
from dangan.git import gitio
from dangan.i18n import _, pgettext
from dangan.model import disposal
from dangan.model.codes import parse_code
from dangan.model.timeutil import default_person, parse_at, parse_day
from dangan.services import retention
from dangan.store.fsutil import write_atomic
from dangan.store.vault import RECORDS, Vault


def _person(vault: Vault, given: str | None) -> str:
    return given.strip() if given and given.strip() else default_person(gitio.author_name(vault.root))


@click.group(
    "retention",
    epilog="""\b
Examples:
  dangan retention schedule
  dangan retention plan --as-of 2025-12-31 --out plan.yaml
  dangan retention appraise plan.yaml --appraiser 張敏 --appraiser 王建國 --opinion 無保存價值
  dangan retention approve plan.yaml --by 陳立新
  dangan retention apply plan.yaml --approved-by 陳立新 --witness 錢芳 --witness 孫麗 \\
      --method 碎紙機粉碎 --place 總部檔案室
""",
)
def retention_group() -> None:
    """Retention and destruction (保管期限與銷毀): schedules, plans, holds, certificates."""


@retention_group.command(
    "schedule",
    epilog="""\b
Examples:
  dangan retention schedule
  dangan retention schedule --json
""",
)
@json_option
@pass_ctx
def schedule_cmd(ctx: Context, as_json: bool) -> None:
    """The effective retention rule of every category (vault.yaml `retention`)."""
    vault = ctx.vault
    rules = disposal.schedule(vault.config, vault.schemas.categories)
    rows = []
    for category, rule in rules.items():
        cat = vault.schemas.categories[category]
        rows.append({"category": category, "name": cat.zh, **rule.as_dict(), "source": rule.source})
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        how = (_("permanent") if row["keep"] == "permanent" else _("{keep} after {after}, then {action}").format(
            keep=row["keep"], after=row["after"], action=row["action"]))
        note = "" if row["source"] == "vault.yaml" else "  " + _("(no valid rule in vault.yaml: kept permanently)")
        click.echo(f"{row['category']}  {row['name']}\t{how}{note}")


@retention_group.command(
    "plan",
    epilog="""\b
Examples:
  dangan retention plan
  dangan retention plan --as-of 2025-12-31 --category WX --out wx-2025.yaml
  dangan retention plan --json
""",
)
@click.option("--as-of", "as_of", metavar="DATE", help="The day the plan is for (default: today, vault timezone).")
@click.option("--category", shell_complete=complete_category, help="Only this category.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the plan (YAML) for `retention apply`.")
@json_option
@identity_option
@pass_ctx
def plan_cmd(ctx: Context, as_of: str | None, category: str | None, out: Path | None, as_json: bool) -> None:
    """Records due for destruction as of a day, and records kept with the reason.

    Reads the committed vault (HEAD). Kept records: held (a BQ legal hold), on loan (a JY
    loan that is out), override (retention.until), no trigger date, permanent, ledger.
    Every legal hold is verified (its MAC) with the key at hand: refused (exit 1) when one
    fails; without a key the plan says which encrypted holds it could not verify.
    """
    vault = ctx.vault
    office_note(vault)
    plan = retention.make_plan(vault, parse_day(as_of, vault.tz), category)
    document = plan.document()
    if out is not None:
        target = ctx.path(out).resolve()
        if target.is_relative_to((vault.root / RECORDS).resolve()):
            raise DanganError(_("write the plan outside vault/ (only records belong there)"))
        write_atomic(target, dump(document).encode())
    if as_json:
        emit_json(document)
        return
    for path in plan.unreadable:
        say(_("dangan: warning: {message}").format(
            message=_("{path} is not readable and was left out; run `dangan check`").format(path=path)))
    _print_plan(plan)
    if out is not None:
        say(_("plan written to {out}; next: `dangan retention appraise {out} --appraiser NAME --appraiser NAME`, "
              "`retention approve {out} --by NAME`, `retention apply {out} --witness ...`").format(out=out))


def _reason(reason: str) -> str:
    """Why a record that is not due is kept (model.disposal's reasons), in the interface language."""
    shown = {
        disposal.PERMANENT: pgettext("retention reason", "permanent"),
        disposal.NO_TRIGGER: pgettext("retention reason", "no trigger date"),
        disposal.OVERRIDE: pgettext("retention reason", "override"),
        disposal.HELD: pgettext("retention reason", "held"),
        disposal.ON_LOAN: pgettext("retention reason", "on loan"),
        disposal.LEDGER: pgettext("retention reason", "ledger"),
    }
    return shown.get(reason, reason)


def _action(action: str) -> str:
    """What the retention rule does at the end (vault.yaml `action`), in the interface language."""
    shown = {"destroy": pgettext("retention action", "destroy"), "review": pgettext("retention action", "review")}
    return shown.get(action, action)


def _print_plan(plan: retention.Plan) -> None:
    click.echo(_("as of {day} (commit {commit}): {n} due").format(day=plan.as_of, commit=plan.commit[:12], n=len(plan.due)))
    if plan.unverified_holds:  # on the list the approver reads, not only on stderr
        codes = plan.unverified_holds
        click.echo(_("not verified: {note}").format(note=_(
            "{n} encrypted hold(s) could not be verified without a key: {codes}; their clear fields were "
            "trusted (give --identity FILE of a recipient to verify them)").format(n=len(codes), codes=", ".join(codes))))
    for item in plan.due:
        rule = item["rule"]
        when = _("{keep} after {after} {trigger} -> due {due}").format(
            keep=rule["keep"], after=rule["after"], trigger=item["trigger"], due=item["due"])
        click.echo(f"  {item['code']}\t{when}\t{_action(item['decision'])}\t{escape(item['title'])}")
    counts: dict[str, int] = {}
    for item in plan.not_due:
        for reason in item["reasons"]:
            counts[reason] = counts.get(reason, 0) + 1
    listed = [i for i in plan.not_due if set(i["reasons"]) - {disposal.PERMANENT, disposal.NO_TRIGGER}]
    if listed:
        click.echo(_("kept although due by their rule ({n}):").format(n=len(listed)))
        for item in listed:
            extra = [*item.get("holds", []), *item.get("loans", [])]
            if "until" in item:
                extra.append(f"until {item['until']}")
            click.echo(f"  {item['code']}\t{escape(', '.join(_reason(r) for r in item['reasons']))}"
                       f"\t{escape(' '.join(extra))}")
    summary = ([f"{n} {_reason(reason)}" for reason, n in sorted(counts.items())]
               + [_("{n} not yet due").format(n=plan.later)])
    click.echo(_("not due: {summary}").format(summary=", ".join(summary)))


@retention_group.command(
    "approve",
    epilog="""\b
Examples:
  dangan retention approve sweep-2025.yaml --by 陳立新
  dangan retention approve sweep-2025.yaml --by 陳立新 --sign-key ~/.ssh/id_ed25519
""",
)
@click.argument("plan_file", metavar="PLAN.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", "by", metavar="NAME", help="The approver (批准人; default: git's author name); needs the approver role.")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def approve_cmd(ctx: Context, plan_file: Path, by: str | None, no_commit: bool, as_json: bool) -> None:
    """Approve a plan's destruction: one commit naming each record, signed by the approver.

    Made by the approver (from their own machine, on the branch of the sweep's pull
    request). `retention apply` carries out only an approved plan and names the approval.
    Refused when the plan has undecided entries or its records changed since it was made.
    """
    vault = ctx.vault
    plan = retention.read_plan(_read(ctx, plan_file), str(plan_file))
    approved = retention.approve_plan(vault, plan, _person(vault, by), not no_commit)
    if as_json:
        emit_json({"commit": approved.commit, "by": approved.by, "plan": approved.plan, "records": approved.count})
        return
    say(_("{n} record(s) approved for destruction by {who}").format(n=approved.count, who=approved.by))
    click.echo(approved.commit or approved.plan)


@retention_group.command(
    "appraise",
    epilog="""\b
Examples:
  dangan retention appraise sweep-2025.yaml --appraiser 張敏 --appraiser 王建國 \\
      --opinion 已超過保管期限，無繼續保存價值
  dangan retention appraise sweep-2025.yaml --appraiser 張敏 --appraiser 王建國 \\
      --keep CW-A01-0001=2031-12-31:涉及未結稅務稽查 --at 2026-01-05T10:00:00+08:00
""",
)
@click.argument("plan_file", metavar="PLAN.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--appraiser", "appraisers", multiple=True, required=True, metavar="NAME",
              help="An appraiser (鑒定人); at least two different people.")
@click.option("--opinion", metavar="TEXT", help="The opinion (鑒定意見) of every entry without an `opinion:` of its own.")
@click.option("--keep", "keeps", multiple=True, metavar="CODE=DATE:REASON",
              help="Keep this record until DATE, for REASON (instead of the plan's decision).")
@click.option("--at", "at", metavar="WHEN", help="When the appraisal was made (default: now).")
@click.option("--title", help="Title of the record (default: DATE到期檔案鑒定記錄).")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def appraise_cmd(ctx: Context, plan_file: Path, appraisers, opinion: str | None, keeps, at: str | None,
                 title: str | None, no_commit: bool, as_json: bool) -> None:
    """Record the appraisal (鑒定) of a plan's records: JD-nnnn, in one commit.

    Each entry of the plan is decided `destroy` or `keep` (in the plan: `decision:`, with
    `until:` and `reason:` for keep, and `opinion:`; or --keep and --opinion). A kept record
    is kept until the new date (`retention.until`, set in the same commit). The plan file
    is updated with the decisions and the JD code. `approve` and `apply` refuse a record
    whose rule says review unless an appraisal decided to destroy it.
    """
    vault = ctx.vault
    data = _read(ctx, plan_file)
    plan = retention.read_plan(data, str(plan_file))
    appraisal = retention.Appraisal(
        appraisers=list(appraisers),
        at=parse_at(at, vault.tz),
        opinion=opinion,
        keeps=dict(_keep(text) for text in keeps),
        title=title,
    )
    appraised = retention.appraise_plan(vault, plan, appraisal, not no_commit)
    if not no_commit:
        write_atomic(ctx.path(plan_file), dump(retention.record_decisions(plan, appraised)).encode())
    if as_json:
        emit_json({"code": str(appraised.code), "path": appraised.code.path, "commit": appraised.commit,
                   "destroy": appraised.destroy, "kept": appraised.kept})
        return
    say(_("{code}: {destroy} to destroy, {kept} kept").format(
        code=appraised.code, destroy=len(appraised.destroy), kept=len(appraised.kept))
        + (_("; {path} updated with the decisions").format(path=plan_file) if not no_commit else ""))
    click.echo(str(appraised.code))


def _keep(text: str) -> tuple[str, tuple[str, str]]:
    code, sep, rest = text.partition("=")
    until, sep2, reason = rest.partition(":")
    if not (sep and sep2 and code.strip() and until.strip() and reason.strip()):
        raise DanganError(_("--keep {text!r} is not CODE=DATE:REASON").format(text=text),
                          _("e.g. --keep CW-A01-0001=2031-12-31:涉及稅務稽查"))
    return code.strip(), (until.strip(), reason.strip())


def _read(ctx: Context, plan_file: Path) -> bytes:
    try:
        return ctx.path(plan_file).read_bytes()
    except OSError as exc:
        raise DanganError(_("cannot read {path}: {reason}").format(path=plan_file, reason=exc.strerror)) from None


@retention_group.command(
    "apply",
    epilog="""\b
Examples:
  dangan retention apply plan.yaml --witness 錢芳 --witness 孫麗 \\
      --method 碎紙機粉碎（保密級） --place 總部檔案室
  dangan retention apply plan.yaml --witness 錢芳 --witness 孫麗 \\
      --method 委託專業機構化漿 --place 蘇州再生紙業 --at 2025-01-10T15:00:00+08:00 --json
""",
)
@click.argument("plan_file", metavar="PLAN.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--approved-by", "approved_by", metavar="NAME",
              help="Approver (批准人): must be who approved the plan (default: the approval's).")
@click.option("--witness", "witnesses", multiple=True, required=True, metavar="NAME", help="A witness (監銷人); two, neither the approver.")
@click.option("--method", required=True, help="How the originals were destroyed (銷毀方式).")
@click.option("--place", required=True, help="Where (銷毀地點).")
@click.option("--by", "by", metavar="NAME", help="Archivist who carries it out (default: git's author name).")
@click.option("--at", "at", metavar="WHEN", help="When it was carried out (default: now).")
@click.option("--title", help="Title of the certificate (default: DATE到期檔案銷毀清冊).")
@click.option("--accept-unverified-holds", "unverified_ok", is_flag=True,
              help="Proceed although encrypted legal holds cannot be verified (no key): trust their clear fields.")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def apply_cmd(ctx: Context, plan_file: Path, approved_by: str | None, witnesses, method: str, place: str,
              by: str | None, at: str | None, title: str | None, unverified_ok: bool, no_commit: bool,
              as_json: bool) -> None:
    """Carry out an approved plan: certificate XH-nnnn and removal of its records, in one commit.

    Refused (exit 1, nothing written) when the plan has no approval (`retention approve`)
    in the branch's history, when a listed record changed since the plan was made, is
    held, on loan or not due, when a `review` entry has no decision, when the people do
    not fit the rules, when a legal hold fails verification (its MAC), or when an
    encrypted hold cannot be verified for want of a key (unless --accept-unverified-holds).
    Prints the certificate code (one per volume when the list is longer than one record
    holds).
    """
    vault = ctx.vault
    plan = retention.read_plan(_read(ctx, plan_file), str(plan_file))
    disposal = retention.Disposal(
        approved_by=approved_by.strip() if approved_by else None,
        witnesses=[w.strip() for w in witnesses],
        carried_out_by=_person(vault, by),
        method=method,
        place=place,
        at=parse_at(at, vault.tz),
        title=title,
    )
    applied = retention.apply_plan(vault, plan, disposal, not no_commit, unverified_holds_ok=unverified_ok)
    if applied.unverified_holds:
        say(_("dangan: warning: {message}").format(message=retention.unverified_note(applied.unverified_holds)))
    if as_json:
        emit_json({"code": str(applied.codes[0]), "certificates": [str(c) for c in applied.codes],
                   "paths": [c.path for c in applied.codes], "destroyed": applied.destroyed, "commit": applied.commit,
                   "unverified_holds": applied.unverified_holds})
        return
    say(_("{codes}: {n} record(s) destroyed").format(codes=", ".join(map(str, applied.codes)), n=len(applied.destroyed)))
    for code in applied.codes:
        click.echo(str(code))


@retention_group.command(
    "hold",
    epilog="""\b
Examples:
  dangan retention hold A01-01-001-0101 HT-A01-0002 --reason 物業費糾紛訴訟 --case (2025)蘇0506民初123號
  dangan retention hold TS --reason 消費者協會調查 --by 陳立新 --json
""",
)
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@click.option("--reason", required=True, help="Why the records are held (保全原因).")
@click.option("--by", "by", metavar="NAME", help="Who places the hold (default: git's author name).")
@click.option("--case", "case", metavar="REF", help="Case or matter reference (案號).")
@click.option("--authority", help="Court, agency or body that asked for it.")
@click.option("--party", "parties", multiple=True, metavar="NAME", help="A party to the case (encrypted).")
@click.option("--title", help="Title (default: 保全凍結：TARGETS).")
@click.option("--at", "at", metavar="WHEN", help="When (default: now).")
@no_commit_option
@json_option
@pass_ctx
def hold_cmd(ctx: Context, targets, reason: str, by: str | None, case: str | None, authority: str | None,
             parties, title: str | None, at: str | None, no_commit: bool, as_json: bool) -> None:
    """Place a legal hold BQ-nnnn over record codes, location prefixes or categories.

    While the hold is active nothing it covers is due for destruction. Prints the code.
    """
    vault = ctx.vault
    written = retention.hold(vault, list(targets), reason, _person(vault, by), parse_at(at, vault.tz), case,
                             authority, title, list(parties), not no_commit)
    _done(written, as_json)


@retention_group.command(
    "release",
    epilog="""\b
Examples:
  dangan retention release BQ-0001 --reason 案件已結案 --by 陳立新
""",
)
@click.argument("hold_code", metavar="HOLD")
@click.option("--reason", required=True, help="Why the hold ends.")
@click.option("--by", "by", metavar="NAME", help="Who releases it (default: git's author name).")
@click.option("--at", "at", metavar="WHEN", help="When (default: now).")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def release_cmd(ctx: Context, hold_code: str, reason: str, by: str | None, at: str | None, no_commit: bool, as_json: bool) -> None:
    """End a legal hold (a release event is appended; the hold stays on record)."""
    vault = ctx.vault
    written = retention.release(vault, parse_code(hold_code), _person(vault, by), reason, parse_at(at, vault.tz), not no_commit)
    _done(written, as_json)


@retention_group.command(
    "extend",
    epilog="""\b
Examples:
  dangan retention extend CW-A01-0003 --until 2099-12-31 --reason 年度財務報告永久保存
""",
)
@click.argument("code", shell_complete=complete_code)
@click.option("--until", "until", required=True, metavar="DATE", help="Keep at least until this day.")
@click.option("--reason", required=True, help="Why the record is kept longer.")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def extend_cmd(ctx: Context, code: str, until: str, reason: str, no_commit: bool, as_json: bool) -> None:
    """Keep one record longer: sets `retention: {until, reason}` on it."""
    vault = ctx.vault
    day = parse_day(until, vault.tz)
    written = retention.extend(vault, parse_code(code), day, reason, not no_commit)
    _done(written, as_json)


def _done(written: Any, as_json: bool) -> None:
    if as_json:
        emit_json({"code": str(written.code), "path": written.path, "commit": written.commit})
    else:
        click.echo(str(written.code))


COMMANDS = [retention_group]
