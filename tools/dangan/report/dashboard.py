"""`dangan report`: the indicators of `stats.compute` as one self-contained HTML page.

Charts are drawn by matplotlib (Agg, SVG inlined in the page); lists are HTML tables. The
page loads nothing (a Content-Security-Policy of `default-src 'none'` says so to the
browser) and runs no script. Every text taken from records is escaped (formats/html.py);
stats never holds a sensitive value, so the page cannot either.

Fonts: when matplotlib finds a CJK font, glyphs are drawn as SVG paths (the page looks
the same everywhere); without one, text is left as SVG text in a CJK-capable CSS font list
so that the reader's browser draws it, rather than baking boxes (tofu) into the page.
"""
from __future__ import annotations

import datetime as dt
import io
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dangan.formats.html import CSP, esc, table
from dangan.i18n import N_, _, language, pgettext
from dangan.report.wording import gap_text
from dangan.services.stats import compute
from dangan.store.vault import Vault

CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK TC", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB"]
FONTS = [*CJK_FONTS, "DejaVu Sans"]
CSS_FONTS = ", ".join(f"'{name}'" for name in FONTS) + ", sans-serif"
# every indicator of stats, as the page's section headings (tests look for each)
HEADINGS = {
    "records_category": N_("Records per category 各類檔案數量"),
    "records_class": N_("Records per content class 內容大類"),
    "records_project": N_("Records per project 各項目檔案數量"),
    "records_status": N_("Records per status 檔案狀態"),
    "complaints_open": N_("Open complaints and their age 未結投訴及時長"),
    "complaints_close": N_("Mean days to close complaints 投訴平均結案天數"),
    "repairs_close": N_("Mean days to close repairs 維修平均結案天數"),
    "repairs_system": N_("Repairs per system 各系統維修次數"),
    "repairs_equipment": N_("Repairs per equipment 各設備維修次數"),
    "inspections": N_("Statutory inspections expiring in 60 days 60天內到期的法定檢驗"),
    "loans": N_("Loans out and overdue 借出及逾期借閱"),
    "retention": N_("Records due for destruction in 90 days 90天內到期銷毀"),
    "holds": N_("Active legal holds 生效中的保全凍結"),
    "inventory": N_("Archive rooms: last inventory and open discrepancies 檔案室盤點"),
    "due": N_("Obligations overdue and due in 30 days 逾期及30天內到期的事項"),
    "gaps": N_("Late filings, missing records, originals not received 歸檔遲延與缺漏"),
    "satisfaction": N_("Satisfaction by month 客戶滿意度"),
    "efficiency": N_("Days to close per handler and department 工作效率"),
    "archive": N_("Archive work: filing, loans, inventories, scans 檔案工作指標"),
}
# the page's language: English pages keep the `zh` they always had (their words are English
# with traditional glosses, byte for byte as before); Chinese ones name their script
_LANG = {"en": "zh", "zh-Hans": "zh-Hans", "zh-Hant": "zh-Hant"}
COLOURS = ["#2f6f9f", "#d9822b", "#3f9f5f", "#b5475d", "#7a5fa8", "#8c6d3f", "#4f9fa8", "#9f9f3f"]


def _plt() -> Any:
    import logging

    import matplotlib

    matplotlib.use("Agg")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # "weight 500 instead": harmless
    from matplotlib import font_manager, pyplot

    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    have_cjk = any(name in installed for name in CJK_FONTS)
    matplotlib.rcParams.update({
        "font.family": "sans-serif",
        "font.sans-serif": FONTS,
        "svg.fonttype": "path" if have_cjk else "none",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": 10,
    })
    return pyplot


_STRIP = [
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*"),
    re.compile(r"<metadata>.*?</metadata>\s*", re.S),
    re.compile(r'\s+xmlns(?::\w+)?="[^"]*"'),
]


class Charts:
    """Draws charts as inline SVG, each with its own id salt (ids stay unique on the page)."""

    def __init__(self) -> None:
        self.plt = _plt()
        self.count = 0

    def svg(self, fig: Any) -> str:
        import matplotlib

        self.count += 1
        matplotlib.rcParams["svg.hashsalt"] = f"dangan-chart-{self.count}"
        buffer = io.StringIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Glyph missing" without a CJK font: the browser draws it
            fig.savefig(buffer, format="svg", bbox_inches="tight")
        self.plt.close(fig)
        text = buffer.getvalue()
        for pattern in _STRIP:
            text = pattern.sub("", text)
        return f'<div class="chart">{text}</div>'

    def bars(self, items: dict[str, float | int | None], xlabel: str = "", colour: int = 0) -> str:
        """Horizontal bars, first item on top."""
        labels = list(items)[::-1]
        values = [items[k] or 0 for k in labels]
        fig, ax = self.plt.subplots(figsize=(7.5, max(1.2, 0.32 * len(labels) + 0.6)))
        bars = ax.barh(labels, values, color=COLOURS[colour % len(COLOURS)])
        ax.bar_label(bars, padding=3, fmt="%g")
        ax.xaxis.get_major_locator().set_params(integer=True)  # counts: no 0.2 ticks
        ax.set_xlabel(xlabel)
        ax.margins(x=0.12)
        return self.svg(fig)

    def columns(self, series: dict[str, dict[str, float | int | None]], ylabel: str = "") -> str:
        """Grouped vertical columns: {series name: {x label: value}}."""
        names = list(series)
        xs = list(next(iter(series.values()))) if series else []
        fig, ax = self.plt.subplots(figsize=(7.5, 2.8))
        width = 0.8 / max(1, len(names))
        for n, name in enumerate(names):
            positions = [i + (n - (len(names) - 1) / 2) * width for i in range(len(xs))]
            ax.bar(positions, [series[name][x] or 0 for x in xs], width, label=name, color=COLOURS[n % len(COLOURS)])
        ax.set_xticks(range(len(xs)), xs, rotation=45, ha="right")
        ax.set_ylabel(ylabel)
        if len(names) > 1:
            ax.legend(frameon=False)
        return self.svg(fig)


def _table(headers: list[str], rows: list[list[Any]], limit: int = 100) -> str:
    if not rows:
        return f'<p class="none">{esc(_("none 無"))}</p>'
    more = ('<p class="more">' + esc(_("and {count} more (see `dangan stats --json`)").format(count=len(rows) - limit))
            + "</p>") if len(rows) > limit else ""
    return table(headers, rows[:limit]) + more


def _p(text: str) -> str:
    """A paragraph of the page's own words (values already in them), escaped."""
    return f"<p>{esc(text)}</p>"


def _tiles(doc: dict[str, Any]) -> str:
    tiles = [
        (_("records 檔案"), doc["records"]["total"]),
        (_("open complaints 未結投訴"), doc["complaints"]["open"]),
        (_("loans out 借出"), doc["loans"]["out"]),
        (_("overdue loans 逾期"), doc["loans"]["overdue"]),
        (_("inspections due 檢驗到期"), doc["inspections"]["expiring"] + doc["inspections"]["expired"]),
        (_("due for destruction 到期銷毀"), doc["retention"]["due"]),
        (_("active holds 保全"), doc["holds"]["active"]),
    ]
    return '<div class="tiles">' + "".join(
        f'<div class="tile"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in tiles) + "</div>"


def _section(key: str, *parts: str) -> str:
    return f'<section id="{key}"><h2>{esc(_(HEADINGS[key]))}</h2>{"".join(parts)}</section>'


def _labels(vault: Vault) -> Callable[[str, str, str], str]:
    """(category, field, value) → what the page shows: in Chinese the label the category's
    schema gives the value (formats.fielddoc, in the page's script through the catalogs),
    in English (and for a value without a label) the stored value, as the page always showed."""
    if language() == "en":
        return lambda category, name, value: value
    from dangan.formats import fielddoc

    known: dict[str, dict[str, dict[str, str]]] = {}

    def label(category: str, name: str, value: str) -> str:
        if category not in known:
            try:
                known[category] = fielddoc.labels_of(vault.schemas, category)
            except Exception:  # noqa: BLE001 - a broken schema: `dangan check` says so; the page shows values
                known[category] = {}
        found = known[category].get(name, {}).get(value) if isinstance(value, str) else None
        if found:
            return _(found)
        if name == "status" and category == "JY":  # states derived from events: no schema labels
            return _(value)  # the loan states of `lend ls`
        if name == "status" and category == "BQ":
            return {"active": pgettext("hold", "active"), "released": pgettext("hold", "released")}.get(value, value)
        return value

    return label


def _sections(doc: dict[str, Any], vault: Vault, charts: Charts) -> list[str]:
    rec, comp, rep = doc["records"], doc["complaints"], doc["repairs"]
    cats = vault.schemas.categories
    klasses = vault.schemas.classes
    names = rec["project_names"]
    label = _labels(vault)
    records = _("records")
    out = [
        _section("records_category", charts.bars(
            {f"{c} {_(cats[c].zh) if c in cats and cats[c].zh else ''}": n for c, n in rec["by_category"].items()}, records)),
        _section("records_class", charts.bars(
            {f"{_(z) if (z := str((klasses.get(k) or {}).get('zh', ''))) else ''} {k}".strip(): n
             for k, n in rec["by_class"].items()}, records, 1)),
        _section("records_project", charts.bars(
            {f"{p} {names.get(p, '')}".strip(): n for p, n in rec["by_project"].items()}, records, 2)),
        _section("records_status", _table(
            [_("category 類別"), _("status 狀態"), _("records 數量")],
            [[c, label(c, "status", s), n] for c, by in rec["by_status"].items() for s, n in by.items()], limit=500)),
    ]
    age = comp["open_age_days"]
    out.append(_section(
        "complaints_open",
        _p(_("{open} open of {received} received; age mean {mean} days, median {median}, max {max}").format(
            open=comp["open"], received=comp["received"], mean=_none(age["mean"]), median=_none(age["median"]),
            max=_none(age["max"]))),
        charts.bars(comp["open_by_age"], _("open complaints by age (days)"), 3),
        _table([_("code 編號"), _("title 題名"), _("received 受理"), _("age (days) 天數"), _("subject 事由"),
                _("handler 責任人"), _("deadline 時限")],
               [[o["code"], o["title"], o["received"], o["age_days"], label("TS", "subject", o["subject"]), o["handler"],
                 (o["deadline"] or "") + (" ⚠" if o["past_deadline"] else "")] for o in comp["open_list"]]),
    ))
    for key, part in (("complaints_close", comp), ("repairs_close", rep)):
        out.append(_section(
            key,
            _p(_("last 365 days: {closed} closed, mean {mean} days, median {median}").format(
                closed=part["closed_last_365_days"], mean=_none(part["mean_days_to_close"]),
                median=_none(part["median_days_to_close"]))),
            charts.columns({_("closed"): {m: v["closed"] for m, v in part["by_month"].items()},
                            _("mean days to close"): {m: v["mean_days_to_close"]
                                                      for m, v in part["by_month"].items()}}),
        ))
    out.append(_section("repairs_system", _p(_("{repairs} repairs, {open} open").format(
                            repairs=rep["repairs"], open=rep["open"])),
                        charts.bars({label("WX", "system", s): n for s, n in rep["per_system"].items()},
                                    _("repairs"), 4)))
    top = rep["per_equipment"][:15]
    out.append(_section(
        "repairs_equipment",
        charts.bars({f"{e['code']} {e['title']}": e["repairs"] for e in top}, _("repairs"), 5) if top else "",
        _table([_("code 編號"), _("title 題名"), _("system 系統"), _("repairs 次數")],
               [[e["code"], e["title"], label("SB", "system", e["system"]), e["repairs"]]
                for e in rep["per_equipment"]], limit=30),
    ))
    ins = doc["inspections"]
    out.append(_section(
        "inspections",
        _p(_("{expiring} expiring by {until}, {expired} already expired").format(
            expiring=ins["expiring"], until=_none(ins["until"]), expired=ins["expired"])),
        _table([_("code 編號"), _("title 題名"), _("system 系統"), _("location 位置"), _("expires 到期"),
                _("days left 剩餘天數")],
               [[e["code"], e["title"], label("SB", "system", e["system"]), e["location"], e["expires"],
                 e["days_left"]] for e in ins["list"]]),
    ))
    loans = doc["loans"]
    out.append(_section(
        "loans",
        charts.bars({_(k): loans[k]
                     for k in ("requested", "approved", "out", "overdue", "closed", "rejected")}, _("loans"), 6),
        _table([_("loan 借閱"), _("borrower 借閱人"), _("department 部門"), _("due 應還"), _("days overdue 逾期天數"),
                _("records 檔案")],
               [[o["code"], o["borrower"], o["department"], o["due"], o["days_overdue"], " ".join(o["records"])]
                for o in loans["overdue_list"]]),
    ))
    ret = doc["retention"]
    kept = ", ".join(f"{pgettext('retention reason', k)} {v}" for k, v in ret["kept"].items())
    out.append(_section(
        "retention",
        _p(_("{due} due by {until} ({already} already due); kept although due: {kept}").format(
            due=ret["due"], until=_none(ret["until"]), already=ret["due_already"], kept=kept)),
        charts.bars(ret["by_category"], records, 7) if ret["by_category"] else "",
        _table([_("code 編號"), _("category 類別"), _("due 到期"), _("action 處置")],
               [[e["code"], e["category"], e["due"], pgettext("retention action", e["action"]) if e["action"] else ""]
                for e in ret["list"]]),
    ))
    holds = doc["holds"]
    out.append(_section(
        "holds",
        _table([_("hold 保全"), _("title 題名"), _("since 起始"), _("targets 範圍"), _("case 案號"),
                _("authority 提出單位"), _("records 檔案數")],
               [[h["code"], h["title"], h["since"], " ".join(h["targets"]), h["case"], h["authority"], h["records"]]
                for h in holds["list"]]),
    ))
    if "inventory" in doc:
        rooms = doc["inventory"]
        out.append(_section(
            "inventory",
            charts.bars({r["room"]: r["open_discrepancies"] for r in rooms}, _("open discrepancies"), 3) if rooms else "",
            _table([_("room 檔案室"), _("last inventory 上次盤點"), _("inventory 盤點記錄"), _("open discrepancies 未結差異")],
                   [[r["room"], r["last_inventory"] or _("never 未盤點"), r["inventory"], r["open_discrepancies"]]
                    for r in rooms]),
        ))
    if "due" in doc:
        due = doc["due"]
        out.append(_section(
            "due",
            _p(_("{overdue} overdue, {upcoming} due by {until}").format(
                overdue=due["overdue"], upcoming=due["upcoming"], until=_none(due["until"]))),
            _table([_("department 部門"), _("responsible 責任人"), _("overdue 逾期"), _("upcoming 將到期")],
                   [[d["department"], d["responsible"] or "", d["overdue"], d["upcoming"]] for d in due["by_department"]]),
            _table([_("due 到期"), _("record 檔案"), _("field 欄位"), _("duty 事項"), _("department 部門")],
                   [[o["due"], o["subject"], o["field"], _script(o["zh"]) or o["duty"], o["department"]] for o in due["list"]]),
        ))
    if "gaps" in doc:
        gaps = doc["gaps"]
        counts = gaps["counts"]
        out.append(_section(
            "gaps",
            _p(_("{late} late filings, {missing} missing, {original} originals not received").format(
                late=counts["late"], missing=counts["missing"], original=counts["original"])),
            _table([_("department 部門"), _("responsible 責任人"), _("late 遲延"), _("missing 缺漏"),
                    _("originals 原件未交")],
                   [[d["name"], d["responsible"] or "", d["late"], d["missing"], d["original"]]
                    for d in gaps["by_department"]]),
            _table([_("kind 類型"), _("since 起始"), _("what 內容"), _("department 部門")],
                   [[_(g["kind"]), g["since"], g["what"] if language() == "en" else gap_text(g), g["department"]]
                    for g in gaps["list"]]),
        ))
    return out + _indicators(doc, charts)


def _script(text: str | None) -> str:
    """A Chinese name the model writes in traditional characters (a duty's, from the schemas'
    marks), in the page's script: simplified by OpenCC (model/script.py) on a zh-Hans page."""
    if text and language() == "zh-Hans":
        from dangan.model import script

        return script.fold(text)
    return text or ""


def _none(value: Any) -> str:
    """A value in a sentence as the page always wrote it (None is empty)."""
    return "" if value is None else str(value)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _of(part: Any, whole: Any) -> str:
    return _("{part} of {whole}").format(part=part, whole=whole)


def _indicators(doc: dict[str, Any], charts: Charts) -> list[str]:
    """The indicators of plan §6.3 (services/indicators.py): satisfaction by month as a
    chart, days to close and the archive's own work as tables."""
    out = []
    if "satisfaction" in doc:
        s = doc["satisfaction"]
        my = s["by_category"]["MY"]
        rows = [[name, v["count"], v["mean"], *v["distribution"].values()]
                for name, v in ((_("all 全部"), s), *((c, s["by_category"][c]) for c in ("TS", "WX")),
                                *s["by_project"].items())]
        surveys = _("{count} scores, mean {mean} (1-5; TS at the return visit, WX when finished); "
                    "surveys (MY): {surveys}").format(count=s["count"], mean=_none(s["mean"]), surveys=my["surveys"])
        if my["surveys"]:
            surveys += _(", mean {mean} of 100 over {responses} responses").format(
                mean=_none(my["mean"]), responses=my["responses"])
        out.append(_section(
            "satisfaction",
            _p(surveys),
            charts.columns({_("mean satisfaction 平均滿意度"): {m: v["mean"] for m, v in s["by_month"].items()}},
                           _("mean (1-5)")),
            _table([_("month 月份"), _("scores 評分數"), _("mean 平均")],
                   [[m, v["count"], v["mean"]] for m, v in s["by_month"].items()]),
            _table([_("scope 範圍"), _("scores 評分數"), _("mean 平均"), "1", "2", "3", "4", "5"], rows),
        ))
    if "efficiency" in doc:
        e = doc["efficiency"]
        out.append(_section(
            "efficiency",
            _p(_("TS and WX repairs closed since {since}").format(since=_none(e["since"]))),
            _table([_("department 部門"), _("responsible 責任人"), _("closed 結案"), _("mean days 平均天數"),
                    _("median 中位數")],
                   [[d["department"], d["responsible"] or "", d["closed"], d["mean_days_to_close"],
                     d["median_days_to_close"]] for d in e["by_department"]]),
            _table([_("handler 責任人"), _("closed 結案"), "TS", "WX", _("mean days 平均天數"), _("median 中位數")],
                   [[h["handler"], h["closed"], h["TS"], h["WX"], h["mean_days_to_close"], h["median_days_to_close"]]
                    for h in e["by_handler"]], limit=30),
        ))
    if "archive" in doc:
        a = doc["archive"]
        f, loans, inv, orig = a["filing"], a["loans"], a["inventory"], a["originals"]
        out.append(_section(
            "archive",
            _p(_("since {since}").format(since=_none(a["since"]))),
            _table([_("indicator 指標"), _("count 數量"), _("share 比例")], [
                [_("filed on time 按時歸檔"), _of(f["on_time"], f["judged"]), _percent(f["on_time"], f["judged"])],
                [_("loans returned late 逾期歸還"), _of(loans["late"], loans["returned"]),
                 _percent(loans["late"], loans["returned"])],
                [_("inventory discrepancies 盤點差異"), _of(inv["discrepancies"], inv["checked"]),
                 _percent(inv["discrepancies"], inv["checked"])],
                [_("paper originals scanned 紙質原件已掃描"), _of(orig["scanned"], orig["paper"]),
                 _percent(orig["scanned"], orig["paper"])],
                [_("paper originals without a room 無存放位置"), orig["no_location"], ""],
            ]),
            f"<p>{esc(' '.join(orig['no_location_list']))}</p>" if orig["no_location_list"] else "",
        ))
    return out


STYLE = f"""
body {{ font-family: {CSS_FONTS}; margin: 2em auto; max-width: 60em; color: #222; }}
h1 {{ margin-bottom: 0.2em; }} .sub {{ color: #666; margin-top: 0; }}
section {{ border-top: 1px solid #ddd; padding: 0.5em 0 1em; }}
.tiles {{ display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1em 0; }}
.tile {{ border: 1px solid #ccd; border-radius: 6px; padding: 0.5em 1em; min-width: 8em; }}
.tile b {{ display: block; font-size: 1.8em; }} .tile span {{ color: #555; font-size: 0.9em; }}
table {{ border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; }}
th {{ background: #f0f3f6; }} .none, .more {{ color: #777; }}
.chart svg {{ max-width: 100%; height: auto; }}
.chart text {{ font-family: {CSS_FONTS}; }}
"""


def render(vault: Vault, as_of: dt.date | None = None, on_step: Callable[[str], None] | None = None) -> str:
    """The report page for `as_of` (default today), as text; `on_step` as stats.compute's."""
    doc = compute(vault, as_of, on_step)
    if on_step is not None:
        on_step("charts")
    charts = Charts()
    name = doc["vault"]["name"] or str(vault.root.name)
    title = _("{name} — 檔案統計報表 {day}").format(name=name, day=doc["as_of"])
    commit = (doc["commit"] or _("no commit"))[:12]
    body = "".join(_sections(doc, vault, charts))
    sub = _("檔案統計報表 archive report · as of 截至 {day} ({timezone}) · commit {commit}").format(
        day=esc(doc["as_of"]), timezone=esc(doc["timezone"]), commit=esc(commit))
    return (
        f"<!DOCTYPE html>\n<html lang=\"{_LANG[language()]}\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"{CSP}\n"
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{esc(name)}</h1>\n"
        f"<p class=\"sub\">{sub}</p>\n{_tiles(doc)}\n{body}\n</body>\n</html>\n"
    )


def write(vault: Vault, out: Path, as_of: dt.date | None = None,
          on_step: Callable[[str], None] | None = None) -> Path:
    """Render and write the page atomically; returns the path written."""
    from dangan.store.fsutil import write_atomic

    write_atomic(out, render(vault, as_of, on_step).encode("utf-8"))
    return out
