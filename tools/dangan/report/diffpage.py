"""The HTML compliance diff: one self-contained page an auditor can open and print.

No script, no external resource (a Content-Security-Policy forbids any), every value
escaped. Input is the stable JSON document of `dangan diff` (history.Diff.as_dict), so
the page shows exactly what the JSON says.
"""
from __future__ import annotations

import json
from typing import Any

from dangan.formats.html import CSP, esc
from dangan.i18n import N_, _, language

_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;
margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24;line-height:1.45}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;width:100%}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
.muted{color:#57606a}.k-added{color:#1a7f37}.k-removed{color:#cf222e}.k-modified{color:#9a6700}
.badge{display:inline-block;border-radius:.6rem;padding:0 .5rem;font-size:.85em;border:1px solid currentColor}
.record{border:1px solid #d0d7de;border-radius:6px;padding:.4rem .8rem;margin:.6rem 0;break-inside:avoid}
.note{background:#fff8c5;padding:.2rem .5rem}.val{white-space:pre-wrap;word-break:break-word}
@media print{body{margin:0;max-width:none}.record{break-inside:avoid}}
"""

_KIND_ZH = {"added": N_("新增 added"), "removed": N_("移除 removed"), "modified": N_("修改 modified")}
# a field's change (history.Diff): its word on the page
_FIELD_CHANGE = {"added": N_("added"), "removed": N_("removed"), "changed": N_("changed"),
                 "modified": N_("modified")}
# English pages keep the `zh-Hant` they always had (byte for byte); Chinese ones name their script
_LANG = {"en": "zh-Hant", "zh-Hans": "zh-Hans", "zh-Hant": "zh-Hant"}


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
    return f'<span class="val">{esc(text)}</span>'


def _side(name: str, side: dict[str, Any]) -> str:
    if side["commit"] is None:
        commit = f'<span class="muted">{esc(_("before the first commit (empty)"))}</span>'
    else:
        commit = f"<code>{esc(side['commit'])}</code>"
    effective = ("<br><span class=\"muted\">" + esc(_("dated before its parent; counted as {date}").format(
        date=side["effective"])) + "</span>") if side["effective"] else ""
    bound = esc(side["bound"] or "")
    return (f"<tr><th>{name}</th><td>{esc(side['given'])}</td><td>{bound}</td><td>{commit}</td>"
            f"<td>{esc(side['committed'] or '')}{effective}</td><td>{esc(side['subject'] or '')}</td></tr>")


def _record(record: dict[str, Any]) -> str:
    kind = record["change"]
    parts = [f'<div class="record" id="{esc(record["code"])}">',
             f'<h3><code>{esc(record["code"])}</code> <span class="badge k-{kind}">{esc(_(_KIND_ZH[kind]))}</span> {esc(record["title"])}</h3>']
    if kind == "removed":
        cert = record["certificate"]
        if cert is None:
            parts.append(f'<p class="note">{esc(_("No disposal certificate (銷毀清冊) lists this record."))}</p>')
        else:
            match = _("the version it lists is the one removed") if cert["blob_matches"] else \
                _("it lists a different version")
            parts.append("<p>" + esc(_("Destroyed by disposal certificate {code}; {match}.")).format(
                code=f"<code>{esc(cert['code'])}</code>", match=esc(match)) + "</p>")
    if record["fields"]:
        parts.append("<table>" + _row("th", _("field"), _("change"), _("old"), _("new")))
        for f in record["fields"]:
            old = "" if f["change"] == "added" else _value(f["old"])
            new = "" if f["change"] == "removed" else _value(f["new"])
            if f["redacted"] and f["change"] == "changed" and f["old"] == f["new"]:
                old, new = _value(f["old"]), f'<span class="muted">{esc(_("changed (sensitive; not shown)"))}</span>'
            change = _(_FIELD_CHANGE[f["change"]]) if f["change"] in _FIELD_CHANGE else f["change"]
            parts.append(f"<tr><td><code>{esc(f['path'])}</code></td><td>{esc(change)}</td><td>{old}</td><td>{new}</td></tr>")
        parts.append("</table>")
    for note in record["notes"]:
        parts.append(f'<p class="note">{esc(note)}</p>')
    blobs = " → ".join(esc(b[:12]) for b in (record["old_blob"], record["new_blob"]) if b)
    compared = " · " + esc(_("compared as {how}").format(how=record["compared"])) if record["compared"] != "none" else ""
    parts.append(f'<p class="muted">{esc(record["path"])} · blob {blobs}{compared}</p></div>')
    return "\n".join(parts)


def _row(cell: str, *texts: str) -> str:
    """A table row of the page's own words, each escaped."""
    return "<tr>" + "".join(f"<{cell}>{esc(t)}</{cell}>" for t in texts) + "</tr>"


def render_diff(doc: dict[str, Any]) -> str:
    """The page for one diff document, in the interface language (English: as it always was)."""
    vault = doc["vault"]
    total = doc["summary"]["total"]
    title = _("檔案變更報告 Archive changes: {old} → {new}").format(old=doc["from"]["given"], new=doc["to"]["given"])
    filters = ", ".join(f"{k} = {v}" for k, v in doc["filters"].items() if v) or _("all records")
    facts = _("{name} · vault {id} · branch {branch} · timezone {timezone} · {filters}").format(
        name=vault.get("name") or "", id=vault.get("id") or "", branch=doc["branch"],
        timezone=vault.get("timezone") or "", filters=filters)
    facts += " · " + (_("sensitive values shown (decrypted)") if doc["decrypted"] else _("sensitive values not shown"))
    facts += (_(" · a key was at hand: encrypted records compared by plaintext") if doc["key_used"]
              else _(" · no key at hand: encrypted records compared by ciphertext"))
    counts = {"records": "\0", "added": total["added"], "removed": total["removed"], "modified": total["modified"]}
    if total["metadata_only"]:
        summary = _("{records} record(s) changed: {added} added, {removed} removed, {modified} modified; "
                    "{count} re-encrypted or reformatted with no field change.").format(
            **counts, count=total["metadata_only"])
    else:
        summary = _("{records} record(s) changed: {added} added, {removed} removed, {modified} modified.").format(
            **counts)
    summary = esc(summary).replace("\0", f"<strong>{total['records']}</strong>", 1)
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{_LANG[language()]}"><head><meta charset="utf-8">',
        CSP,
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p class=\"muted\">{esc(facts)}</p>",
        f"<h2>{esc(_('Commits compared'))}</h2>",
        "<table>" + _row("th", "", _("given"), _("end of"), _("commit"), _("committed"), _("subject")),
        _side(_("from"), doc["from"]), _side(_("to"), doc["to"]), "</table>",
        f"<h2>{esc(_('Summary'))}</h2>",
        f"<p>{summary}</p>",
    ]
    if doc["summary"]["by_category"]:
        out.append("<table>" + _row("th", _("category"), _("added"), _("removed"), _("modified")))
        for category, c in doc["summary"]["by_category"].items():
            out.append(f"<tr><td>{esc(category)}</td><td class=\"n\">{c['added']}</td>"
                       f"<td class=\"n\">{c['removed']}</td><td class=\"n\">{c['modified']}</td></tr>")
        out.append("</table>")
    if doc["other_files"]:
        out.append(f"<h2>{esc(_('Other files'))}</h2><ul>")
        out += [f"<li><code>{esc(o['path'])}</code> {esc(_(_FIELD_CHANGE.get(o['change'], o['change'])))}</li>"
                for o in doc["other_files"]]
        out.append("</ul>")
    if doc["records"]:
        out.append(f"<h2>{esc(_('Records'))}</h2>")
        out += [_record(r) for r in doc["records"]]
    if doc["metadata_only"]:
        out.append(f"<h2>{esc(_('No field change'))}</h2><p class=\"muted\">"
                   + esc(_("Re-wrapped keys or formatting only:")) + " "
                   + ", ".join(f"<code>{esc(c)}</code>" for c in doc["metadata_only"]) + "</p>")
    out.append(f"<p class=\"muted\">{esc(doc['format'])}</p></body></html>")
    return "\n".join(out) + "\n"
