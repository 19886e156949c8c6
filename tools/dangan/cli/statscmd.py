"""`dangan stats` (counts and indicators) and `dangan report` (the same as an HTML page)."""
from __future__ import annotations

import sys
import unicodedata
from pathlib import Path
from typing import Any

import click

from dangan.cli.base import Context, emit_json, json_option, office_note, pass_ctx, say
from dangan.model.timeutil import parse_day

AS_OF_HELP = "The day the figures are for (default: today, vault timezone); the vault as committed at its end."


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(rows: list[tuple[str, Any]], indent: str = "  ") -> list[str]:
    width = max((_width(str(k)) for k, _ in rows), default=0)
    return [f"{indent}{k}{' ' * (width - _width(str(k)))}  {v}" for k, v in rows]


def text_lines(doc: dict[str, Any]) -> list[str]:
    """The readable summary of a stats document, grouped and aligned."""
    lines = [f"{doc['vault']['name']} — as of {doc['as_of']} ({doc['timezone']}), "
             f"commit {(doc['commit'] or 'none')[:12]}"]
    rec = doc["records"]
    lines += ["", f"Records: {rec['total']}", " by category:"]
    lines += _table([(k, v) for k, v in rec["by_category"].items() if v], "   ")
    lines += [" by class:"] + _table([(k, v) for k, v in rec["by_class"].items() if v], "   ")
    names = rec["project_names"]
    lines += [" by project:"] + _table([(f"{k} {names.get(k, '')}".strip(), v) for k, v in rec["by_project"].items()], "   ")
    lines += [" by status:"] + _table(
        [(c, ", ".join(f"{s} {n}" for s, n in by.items())) for c, by in rec["by_status"].items()], "   ")
    c = doc["complaints"]
    age = c["open_age_days"]
    lines += ["", "Complaints (TS kind complaint):"] + _table([
        ("received", c["received"]),
        ("open", c["open"] if not c["open"] else f"{c['open']} (age mean {age['mean']} d, max {age['max']} d)"),
        ("closed in last 365 days", c["closed_last_365_days"]),
        ("mean days to close", c["mean_days_to_close"]),
    ])
    lines += [f"    {o['code']}  {o['age_days']} d  {o['title']}" for o in c["open_list"][:10]]
    r = doc["repairs"]
    lines += ["", "Repairs (WX kinds 01, 02):"] + _table([
        ("repairs", r["repairs"]), ("open", r["open"]),
        ("closed in last 365 days", r["closed_last_365_days"]), ("mean days to close", r["mean_days_to_close"]),
        ("per system", ", ".join(f"{k} {v}" for k, v in r["per_system"].items()) or "-"),
    ])
    lines += [f"    {e['code']}  {e['repairs']}  {e['title']}" for e in r["per_equipment"][:5]]
    i = doc["inspections"]
    lines += ["", f"Statutory inspections expiring by {i['until']}: {i['expiring']} (already expired: {i['expired']})"]
    lines += [f"    {e['code']}  {e['expires']} ({e['days_left']:+d} d)  {e['title']}" for e in i["list"]]
    loans = doc["loans"]
    lines += ["", "Loans:"] + _table([(k, loans[k]) for k in ("out", "overdue", "requested", "approved", "closed", "rejected")])
    lines += [f"    {o['code']}  {o['borrower']}  due {o['due']} ({o['days_overdue']} d overdue)" for o in loans["overdue_list"]]
    ret = doc["retention"]
    lines += ["", f"Due for destruction by {ret['until']}: {ret['due']} (already due: {ret['due_already']})"]
    lines += _table([(k, v) for k, v in ret["by_category"].items()], "    ")
    holds = doc["holds"]
    lines += ["", f"Active legal holds: {holds['active']}"]
    lines += [f"    {h['code']}  {', '.join(h['targets'])}  ({h['records']} records)  {h['title']}" for h in holds["list"]]
    if "inventory" in doc:
        lines += ["", "Archive rooms (last inventory, open discrepancies):"]
        lines += _table([(room["room"], f"{room['last_inventory'] or 'never'}, {room['open_discrepancies']}")
                         for room in doc["inventory"]])
    if "due" in doc:
        due = doc["due"]
        lines += ["", f"Obligations: {due['overdue']} overdue, {due['upcoming']} due by {due['until']} (dangan due):"]
        lines += _table([(f"{d['department']} {d['responsible'] or ''}".strip(),
                          f"{d['overdue']} overdue, {d['upcoming']} upcoming") for d in due["by_department"]], "    ")
    if "gaps" in doc:
        counts = doc["gaps"]["counts"]
        lines += ["", f"Gaps: {counts['late']} late filings, {counts['missing']} missing, "
                      f"{counts['original']} originals not received (dangan gaps):"]
        lines += _table([(f"{d['name']} {d['responsible'] or ''}".strip(),
                          f"{d['late']} late, {d['missing']} missing, {d['original']} originals")
                         for d in doc["gaps"]["by_department"]], "    ")
    return lines + indicator_lines(doc)


def _ratio(part: int, whole: int) -> str:
    """'3 of 7 (42.9 %)'; '0 of 0' when there is nothing to measure."""
    return f"{part} of {whole} ({100 * part / whole:.1f} %)" if whole else f"{part} of {whole}"


def _scores(item: dict[str, Any]) -> str:
    return f"{item['count']} (mean {item['mean']})" if item["count"] else "0"


def indicator_lines(doc: dict[str, Any]) -> list[str]:
    """The indicators of plan §6.3 (services/indicators.py), compactly."""
    lines: list[str] = []
    if "satisfaction" in doc:
        s = doc["satisfaction"]
        my = s["by_category"]["MY"]
        lines += ["", f"Satisfaction (TS, WX): {s['count']} scores, mean {s['mean']} ("
                      + ", ".join(f"{k}: {v}" for k, v in s["distribution"].items()) + ")"]
        lines += _table([
            ("by category", ", ".join(f"{c} {_scores(s['by_category'][c])}" for c in ("TS", "WX"))
             + f", MY {my['surveys']} surveys" + (f" (mean {my['mean']} of 100, {my['responses']} responses)"
                                                  if my["surveys"] else "")),
            ("by project", ", ".join(f"{p} {_scores(v)}" for p, v in s["by_project"].items()) or "-"),
            ("last 3 months", ", ".join(f"{m} {_scores(v)}" for m, v in list(s["by_month"].items())[-3:])),
        ])
    if "efficiency" in doc:
        e = doc["efficiency"]

        def closing(item: dict[str, Any]) -> str:
            if not item["closed"]:
                return "0 closed"
            return (f"{item['closed']} closed, mean {item['mean_days_to_close']} d, "
                    f"median {item['median_days_to_close']} d")

        lines += ["", f"Days to close since {e['since']} (TS, WX repairs), per handler:"]
        lines += _table([(h["handler"], closing(h)) for h in e["by_handler"][:10]], "    ")
        if len(e["by_handler"]) > 10:
            lines.append(f"    and {len(e['by_handler']) - 10} more (stats --json)")
        lines += [" per department:"] + _table(
            [(f"{d['department']} {d['responsible'] or ''}".strip(), closing(d)) for d in e["by_department"]], "    ")
    if "archive" in doc:
        a = doc["archive"]
        f, loans, inv, orig = a["filing"], a["loans"], a["inventory"], a["originals"]
        lines += ["", f"Archive work since {a['since']}:"] + _table([
            ("filed on time", _ratio(f["on_time"], f["judged"])),
            ("loans returned late", _ratio(loans["late"], loans["returned"])),
            ("inventory discrepancies", _ratio(inv["discrepancies"], inv["checked"])
             + f" in {inv['inventories']} inventories"),
            ("paper originals scanned", _ratio(orig["scanned"], orig["paper"])),
            ("paper originals without a room", orig["no_location"]),
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
    say(f"wrote {written}")


class Progress:
    """One line on stderr naming the step a long command is at (`stats: reading records…`,
    `stats: gaps…`), rewritten in place and cleared at the end; on a terminal only, so that
    pipes, files and scripts see nothing of it."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.shown = 0
        self.enabled = sys.stderr.isatty()

    def step(self, name: str) -> None:
        if not self.enabled:
            return
        text = f"{self.command}: {'reading the records' if name == 'reading' else name}…"
        sys.stderr.write("\r" + text + " " * max(0, self.shown - len(text)))
        sys.stderr.flush()
        self.shown = len(text)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\r" + " " * self.shown + "\r")
            sys.stderr.flush()


COMMANDS = [stats_cmd, report_cmd]
