"""`dangan stats` (counts and indicators) and `dangan report` (the same as an HTML page)."""
from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import click

from dangan.cli.base import Context, emit_json, json_option, office_note, pass_ctx, say
from dangan.formats.terminal import StatusLine
from dangan.i18n import N_, _, language
from dangan.model.timeutil import parse_day

# the steps services.stats.compute and report.dashboard name (the progress line)
STEPS = (N_("records"), N_("complaints"), N_("repairs"), N_("inspections"), N_("loans"), N_("retention"),
         N_("holds"), N_("inventory"), N_("due"), N_("gaps"), N_("satisfaction"), N_("efficiency"),
         N_("archive"), N_("charts"))
# the loan states counted, named in the interface language in the text output
LOAN_STATES = (N_("out"), N_("overdue"), N_("requested"), N_("approved"), N_("closed"), N_("rejected"))
AS_OF_HELP = N_("The day the figures are for (default: today, vault timezone); the vault as committed at its end.")


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(rows: list[tuple[str, Any]], indent: str = "  ") -> list[str]:
    width = max((_width(str(k)) for k, _ in rows), default=0)
    return [f"{indent}{k}{' ' * (width - _width(str(k)))}  {v}" for k, v in rows]


def text_lines(doc: dict[str, Any]) -> list[str]:
    """The readable summary of a stats document, grouped and aligned."""
    lines = [_("{vault} — as of {day} ({timezone}), commit {commit}").format(
        vault=doc["vault"]["name"], day=doc["as_of"], timezone=doc["timezone"], commit=(doc["commit"] or _("none"))[:12])]
    rec = doc["records"]
    lines += ["", _("Records: {n}").format(n=rec["total"]), " " + _("by category:")]
    lines += _table([(k, v) for k, v in rec["by_category"].items() if v], "   ")
    classes = rec.get("class_names") or {}  # the registry's Chinese names, shown in Chinese
    chinese = language() != "en"
    lines += [" " + _("by class:")] + _table(
        [(_(classes[k]) if chinese and classes.get(k) else k, v) for k, v in rec["by_class"].items() if v], "   ")
    names = rec["project_names"]
    lines += [" " + _("by project:")] + _table([(f"{k} {names.get(k, '')}".strip(), v) for k, v in rec["by_project"].items()], "   ")
    lines += [" " + _("by status:")] + _table(
        [(c, ", ".join(f"{s} {n}" for s, n in by.items())) for c, by in rec["by_status"].items()], "   ")
    c = doc["complaints"]
    age = c["open_age_days"]
    lines += ["", _("Complaints (TS kind complaint):")] + _table([
        (_("received"), c["received"]),
        (_("open"), c["open"] if not c["open"] else _("{n} (age mean {mean} d, max {max} d)").format(
            n=c["open"], mean=age["mean"], max=age["max"])),
        (_("closed in last 365 days"), c["closed_last_365_days"]),
        (_("mean days to close"), c["mean_days_to_close"]),
    ])
    lines += [f"    {o['code']}  " + _("{n} d").format(n=o["age_days"]) + f"  {o['title']}" for o in c["open_list"][:10]]
    r = doc["repairs"]
    lines += ["", _("Repairs (WX kinds 01, 02):")] + _table([
        (_("repairs"), r["repairs"]), (_("open"), r["open"]),
        (_("closed in last 365 days"), r["closed_last_365_days"]), (_("mean days to close"), r["mean_days_to_close"]),
        (_("per system"), ", ".join(f"{k} {v}" for k, v in r["per_system"].items()) or "-"),
    ])
    lines += [f"    {e['code']}  {e['repairs']}  {e['title']}" for e in r["per_equipment"][:5]]
    i = doc["inspections"]
    lines += ["", _("Statutory inspections expiring by {until}: {n} (already expired: {expired})").format(
        until=i["until"], n=i["expiring"], expired=i["expired"])]
    lines += [f"    {e['code']}  {e['expires']} (" + _("{n} d").format(n=f"{e['days_left']:+d}") + f")  {e['title']}"
              for e in i["list"]]
    loans = doc["loans"]
    lines += ["", _("Loans:")] + _table([(_(k), loans[k]) for k in LOAN_STATES])
    lines += [f"    {o['code']}  {o['borrower']}  " + _("due {day} ({n} d overdue)").format(day=o["due"], n=o["days_overdue"])
              for o in loans["overdue_list"]]
    ret = doc["retention"]
    lines += ["", _("Due for destruction by {until}: {n} (already due: {already})").format(
        until=ret["until"], n=ret["due"], already=ret["due_already"])]
    lines += _table([(k, v) for k, v in ret["by_category"].items()], "    ")
    holds = doc["holds"]
    lines += ["", _("Active legal holds: {n}").format(n=holds["active"])]
    lines += [f"    {h['code']}  {', '.join(h['targets'])}  (" + _("{n} records").format(n=h["records"]) + f")  {h['title']}"
              for h in holds["list"]]
    if "inventory" in doc:
        lines += ["", _("Archive rooms (last inventory, open discrepancies):")]
        lines += _table([(room["room"], f"{room['last_inventory'] or _('never')}, {room['open_discrepancies']}")
                         for room in doc["inventory"]])
    if "due" in doc:
        due = doc["due"]
        lines += ["", _("Obligations: {overdue} overdue, {upcoming} due by {until} (dangan due):").format(
            overdue=due["overdue"], upcoming=due["upcoming"], until=due["until"])]
        lines += _table([(f"{d['department']} {d['responsible'] or ''}".strip(),
                          _("{overdue} overdue, {upcoming} upcoming").format(overdue=d["overdue"], upcoming=d["upcoming"]))
                         for d in due["by_department"]], "    ")
    if "gaps" in doc:
        counts = doc["gaps"]["counts"]
        lines += ["", _("Gaps: {late} late filings, {missing} missing, {original} originals not received "
                        "(dangan gaps):").format(late=counts["late"], missing=counts["missing"], original=counts["original"])]
        lines += _table([(f"{d['name']} {d['responsible'] or ''}".strip(),
                          _("{late} late, {missing} missing, {original} originals").format(
                              late=d["late"], missing=d["missing"], original=d["original"]))
                         for d in doc["gaps"]["by_department"]], "    ")
    return lines + indicator_lines(doc)


def _ratio(part: int, whole: int) -> str:
    """'3 of 7 (42.9 %)'; '0 of 0' when there is nothing to measure."""
    if not whole:
        return _("{part} of {whole}").format(part=part, whole=whole)
    return _("{part} of {whole} ({percent} %)").format(part=part, whole=whole, percent=f"{100 * part / whole:.1f}")


def _scores(item: dict[str, Any]) -> str:
    return _("{n} (mean {mean})").format(n=item["count"], mean=item["mean"]) if item["count"] else "0"


def indicator_lines(doc: dict[str, Any]) -> list[str]:
    """The indicators of plan §6.3 (services/indicators.py), compactly."""
    lines: list[str] = []
    if "satisfaction" in doc:
        s = doc["satisfaction"]
        my = s["by_category"]["MY"]
        lines += ["", _("Satisfaction (TS, WX): {n} scores, mean {mean} ({distribution})").format(
            n=s["count"], mean=s["mean"], distribution=", ".join(f"{k}: {v}" for k, v in s["distribution"].items()))]
        lines += _table([
            (_("by category"), ", ".join(f"{c} {_scores(s['by_category'][c])}" for c in ("TS", "WX"))
             + ", " + _("MY {n} surveys").format(n=my["surveys"])
             + (_(" (mean {mean} of 100, {n} responses)").format(mean=my["mean"], n=my["responses"])
                if my["surveys"] else "")),
            (_("by project"), ", ".join(f"{p} {_scores(v)}" for p, v in s["by_project"].items()) or "-"),
            (_("last 3 months"), ", ".join(f"{m} {_scores(v)}" for m, v in list(s["by_month"].items())[-3:])),
        ])
    if "efficiency" in doc:
        e = doc["efficiency"]

        def closing(item: dict[str, Any]) -> str:
            if not item["closed"]:
                return _("0 closed")
            return _("{n} closed, mean {mean} d, median {median} d").format(
                n=item["closed"], mean=item["mean_days_to_close"], median=item["median_days_to_close"])

        lines += ["", _("Days to close since {since} (TS, WX repairs), per handler:").format(since=e["since"])]
        lines += _table([(h["handler"], closing(h)) for h in e["by_handler"][:10]], "    ")
        if len(e["by_handler"]) > 10:
            lines.append("    " + _("and {n} more (stats --json)").format(n=len(e["by_handler"]) - 10))
        lines += [" " + _("per department:")] + _table(
            [(f"{d['department']} {d['responsible'] or ''}".strip(), closing(d)) for d in e["by_department"]], "    ")
    if "archive" in doc:
        a = doc["archive"]
        f, loans, inv, orig = a["filing"], a["loans"], a["inventory"], a["originals"]
        lines += ["", _("Archive work since {since}:").format(since=a["since"])] + _table([
            (_("filed on time"), _ratio(f["on_time"], f["judged"])),
            (_("loans returned late"), _ratio(loans["late"], loans["returned"])),
            (_("inventory discrepancies"), _ratio(inv["discrepancies"], inv["checked"])
             + _(" in {n} inventories").format(n=inv["inventories"])),
            (_("paper originals scanned"), _ratio(orig["scanned"], orig["paper"])),
            (_("paper originals without a room"), orig["no_location"]),
        ])
    return lines


@click.command(
    "stats",
    epilog="""\b
Examples:
  dangan stats
  dangan stats --as-of 2025-12-31
  dangan stats --json | jq .complaints.open_list
""",
)
@click.option("--as-of", "as_of", metavar="DATE", help=AS_OF_HELP)
@json_option
@pass_ctx
def stats_cmd(ctx: Context, as_of: str | None, as_json: bool) -> None:
    """Counts and indicators (統計): records per category, class, project and status; open
    complaints and their age; time to close complaints and repairs; repairs per equipment
    and system; inspections expiring in 60 days; loans out and overdue; records due for
    destruction in 90 days; active legal holds; satisfaction (TS, WX, MY) by month, project,
    category and subject; days to close per handler and department; the archive's own work
    (filing on time, loans returned late, inventory discrepancies, paper originals scanned or
    without a room). Never decrypts. docs/stats.md says exactly how each figure is computed.
    """
    from dangan.services import stats

    vault = ctx.vault
    office_note(vault)
    with Progress("stats") as progress:
        doc = stats.compute(vault, parse_day(as_of, vault.tz), progress.step)
    if as_json:
        emit_json(doc)
        return
    click.echo("\n".join(text_lines(doc)))


@click.command(
    "report",
    epilog="""\b
Examples:
  dangan report --out report.html
  dangan report --out 2025年報.html --as-of 2025-12-31
""",
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write (one self-contained page).")
@click.option("--as-of", "as_of", metavar="DATE", help=AS_OF_HELP)
@json_option
@pass_ctx
def report_cmd(ctx: Context, out: Path, as_of: str | None, as_json: bool) -> None:
    """One self-contained HTML page with the indicators of `dangan stats` as charts and
    tables, for reading in a browser (no network, no scripts).
    """
    from dangan.report import dashboard

    vault = ctx.vault
    office_note(vault)
    day = parse_day(as_of, vault.tz)
    with Progress("report") as progress:
        written = dashboard.write(vault, ctx.path(out), day, progress.step)
    if as_json:
        emit_json({"out": str(written), "as_of": day.isoformat()})
        return
    say(_("wrote {path}").format(path=written))


class Progress(StatusLine):
    """The step a long command is at (`stats: reading the records…`, `stats: gaps…`), on one
    stderr line on a terminal (formats.terminal.StatusLine)."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command

    def step(self, name: str) -> None:
        self.show(f"{self.command}: {_('reading the records') if name == 'reading' else _(name)}…")

    def __enter__(self) -> Progress:
        return self


COMMANDS = [stats_cmd, report_cmd]
