"""History commands: diff (compliance diff between two dates) and log (one record's history)."""
from __future__ import annotations

import json
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
    pass_ctx,
    say,
)
from dangan.formats.terminal import escape, json_safe
from dangan.i18n import _
from dangan.model.codes import parse_code, parse_location
from dangan.services import history
from dangan.store.fsutil import write_atomic

FORMATS = ("text", "json", "markdown", "html")
MARKDOWN_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters


@click.command(
    "diff",
    epilog="""\b
Examples:
  dangan diff --from 2024-01-01 --to 2024-03-31
  dangan diff --from 2024-01-01 --category YZ --location A01-02 --format markdown
  dangan diff --from v2024Q1 --to v2024Q2 --format html --out audit.html
  dangan diff --from 2024-01-01 --to 2024-06-30 --decrypt --format json
""",
)
@click.option("--from", "since", required=True, metavar="WHEN", help="Date (end of that day), timestamp or revision.")
@click.option("--to", "until", metavar="WHEN", help="Date, timestamp or revision (default: the tip of the branch).")
@click.option("--branch", metavar="BRANCH", help="Resolve dates on this branch's first-parent chain (default: current).")
@click.option("--category", shell_complete=complete_category, help="Only records of this category (two letters).")
@click.option("--location", help="Only records at or under this location prefix (A01-02).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Output format.")
@click.option("--decrypt", is_flag=True, help="Show old and new sensitive values (needs an identity).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to FILE.")
@json_option
@identity_option
@pass_ctx
def diff_cmd(ctx: Context, since: str, until: str | None, branch: str | None, category: str | None,
             location: str | None, fmt: str, decrypt: bool, out: Path | None, as_json: bool) -> None:
    """Records added, removed (with their disposal certificate) and changed field by field
    between two dates or revisions, with a summary by category.

    A date resolves to the last commit of the branch's first-parent chain made by the end
    of that day (vault timezone); the report names the commits used. Sensitive values show
    as changed, and only with --decrypt as values. --json is --format json.
    """
    vault = ctx.vault
    loc = parse_location(location) if location else None
    result = history.diff(vault, since, until, branch=branch, category=category, location=loc, decrypt=decrypt)
    if decrypt:  # the report shows old and new plaintext of these records
        from dangan.cli.auditcmd import journal_decryption

        journal_decryption(ctx, [r.code for r in result.records], vault=vault)
    document = result.as_dict()
    fmt = "json" if as_json else fmt
    if fmt == "json":
        text = json_safe(json.dumps(document, ensure_ascii=False, indent=2)) + "\n"
    elif fmt == "markdown":
        text = escape(render_markdown(document), lines=True)
    elif fmt == "html":
        from dangan.report.diffpage import render_diff

        text = render_diff(document)
    else:
        text = escape(render_text(document), lines=True)
    if out is not None:
        target = ctx.path(out)
        write_atomic(target, text.encode("utf-8"), mode=0o600 if decrypt else 0o644)
        total = document["summary"]["total"]
        say(_("{path}: {n} record(s) changed ({added} added, {removed} removed, {modified} modified)").format(
            path=target, n=total["records"], added=total["added"], removed=total["removed"], modified=total["modified"]))
    else:
        click.echo(text, nl=False)


@click.command(
    "log",
    epilog="""\b
Examples:
  dangan log WX-A01-02-0001
  dangan log YZ-A01-02-001-0301-0001 --json
""",
)
@click.argument("code", shell_complete=complete_code)
@click.option("--branch", metavar="BRANCH", help="History of this branch (default: current).")
@json_option
@identity_option
@pass_ctx
def log_cmd(ctx: Context, code: str, branch: str | None, as_json: bool) -> None:
    """A record's history: each commit that touched it, with date, author and the fields
    it changed (newest first). Sensitive fields are named, never shown."""
    parsed = parse_code(code)
    entries = history.log(ctx.vault, parsed, branch)
    if as_json:
        emit_json({"code": str(parsed), "path": parsed.path, "commits": [e.as_dict() for e in entries]})
        return
    for entry in entries:
        # the author, the subject and a field's name come from whoever made the commit
        click.echo(f"{entry.commit[:12]}  {entry.committed}  {escape(entry.author)}  {entry.change}")
        click.echo(f"    {escape(entry.subject)}")
        if entry.change == "modified":
            for f in entry.fields:
                mark = " " + _("(sensitive)") if f.sensitive else ""
                click.echo(f"    {_SIGN[f.change]} {escape(f.path)}{mark}")
        for note in entry.notes:
            click.echo("    " + _("note: {note}").format(note=escape(note)))


COMMANDS = [diff_cmd, log_cmd]


# ------------------------------------------------------------------ text and markdown

_SIGN = {"added": "+", "removed": "-", "changed": "~"}
_KIND = {"added": "A", "removed": "D", "modified": "M"}


def value_text(value: Any) -> str:
    """A field value on one line: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def commit_line(side: dict[str, Any]) -> str:
    if side["commit"] is None:
        return f"{side['given']}: " + _("before the first commit (empty)")
    text = f"{side['given']}: {side['commit'][:12]} {side['committed']} {side['subject']}"
    if side["effective"]:
        text += " " + _("[dated before its parent; counted as {day}]").format(day=side["effective"])
    return text


def _attachment(item: Any) -> str:
    """One attachment as a person reads it: its file, title, type, size, when and by whom."""
    if not isinstance(item, dict) or "file" not in item:
        return value_text(item)
    facts = [str(item[k]) for k in ("title", "type") if item.get(k)]
    if isinstance(item.get("size"), int):
        facts.append(f"{item['size']:,} bytes")
    if item.get("added") or item.get("by"):
        facts.append(" ".join(str(item[k]) for k in ("by", "added") if item.get(k)))
    return f"{item['file']}" + (f" ({', '.join(facts)})" if facts else "")


def attachments_text(old: Any, new: Any) -> str:
    """The attachments a change added (+), removed (-) or replaced (~), by file name, instead
    of the JSON of both lists (issue 24)."""
    before = {i["file"]: i for i in old if isinstance(i, dict) and "file" in i} if isinstance(old, list) else {}
    after = {i["file"]: i for i in new if isinstance(i, dict) and "file" in i} if isinstance(new, list) else {}
    parts = [f"+{_attachment(after[n])}" for n in after if n not in before]
    parts += [f"-{_attachment(before[n])}" for n in before if n not in after]
    parts += [f"~{_attachment(after[n])}" for n in after if n in before and after[n] != before[n]]
    return "; ".join(parts) or _("unchanged")


def field_text(f: dict[str, Any]) -> str:
    """One changed field on one line: a line break, control character or bidi override in a
    value is escaped (docs/format.md §4.4). Attachments are named by file."""
    def shown(value: Any) -> str:
        return escape(value_text(value))

    if f["path"] == "attachments" and not f["redacted"]:
        return f"{f['path']}: {escape(attachments_text(f.get('old'), f.get('new')))}"
    if f["change"] == "added":
        return f"{f['path']}: {shown(f['new'])}"
    if f["change"] == "removed":
        return f"{f['path']}: {shown(f['old'])}"
    if f["redacted"] and f["old"] == f["new"]:
        return f"{f['path']}: " + _("changed (sensitive)")
    return f"{f['path']}: {shown(f['old'])} -> {shown(f['new'])}"


def certificate_text(record: dict[str, Any]) -> str:
    cert = record["certificate"]
    if record["change"] != "removed":
        return ""
    if cert is None:
        return " " + _("(no disposal certificate lists it)")
    if cert["blob_matches"]:
        return " " + _("(destroyed by {code})").format(code=cert["code"])
    return " " + _("(destroyed by {code}; the certificate names another version)").format(code=cert["code"])


def render_text(doc: dict[str, Any]) -> str:
    lines = [_("from {side}").format(side=commit_line(doc["from"])), _("to   {side}").format(side=commit_line(doc["to"])), ""]
    for record in doc["records"]:
        title = f"  {record['title']}" if record["title"] else ""
        lines.append(f"{_KIND[record['change']]} {record['code']}{title}{certificate_text(record)}")
        for f in record["fields"]:
            lines.append(f"    {_SIGN[f['change']]} {field_text(f)}")
        for note in record["notes"]:
            lines.append("    " + _("note: {note}").format(note=note))
    if doc["metadata_only"]:
        lines.append("= " + _("{n} record(s) with no field change (re-wrapped keys or formatting): ").format(
            n=len(doc["metadata_only"])) + ", ".join(doc["metadata_only"][:20]) + (" ..." if len(doc["metadata_only"]) > 20 else ""))
    for other in doc["other_files"]:
        lines.append(f"{_KIND.get(other['change'], 'M')} {other['path']} " + _("(not a record)"))
    if doc["records"] or doc["metadata_only"] or doc["other_files"]:
        lines.append("")
    total = doc["summary"]["total"]
    lines.append(_("{n} record(s) changed: {added} added, {removed} removed, {modified} modified").format(
        n=total["records"], added=total["added"], removed=total["removed"], modified=total["modified"]))
    for category, counts in doc["summary"]["by_category"].items():
        lines.append(f"  {category}: " + _("{added} added, {removed} removed, {modified} modified").format(
            added=counts["added"], removed=counts["removed"], modified=counts["modified"]))
    return "\n".join(lines) + "\n"


def md_cell(text: str) -> str:
    """Text safe inside a markdown table cell (pipes, newlines, HTML, backticks)."""
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "\\`"), ("*", "\\*"), ("_", "\\_")):
        text = text.replace(a, b)
    return " ".join(text.split("\n"))


def render_markdown(doc: dict[str, Any], limit: int = MARKDOWN_LIMIT) -> str:
    """A report that fits a pull-request comment: summary first, details folded."""
    head = ["### dangan diff", "", "| | commit | committed | subject |", "|---|---|---|---|"]
    for name in ("from", "to"):
        side = doc[name]
        commit = f"`{side['commit'][:12]}`" if side["commit"] else "(empty)"
        committed = md_cell(side["committed"] or "")
        if side["effective"]:
            committed += f" (counted as {md_cell(side['effective'])})"
        head.append(f"| **{name}** {md_cell(side['given'])} | {commit} | {committed} | {md_cell(side['subject'] or '')} |")
    total = doc["summary"]["total"]
    counts = (f"**{total['records']}** record(s) changed: {total['added']} added, "
              f"{total['removed']} removed, {total['modified']} modified.")
    head += ["", counts, ""]
    if doc["summary"]["by_category"]:
        head += ["| category | added | removed | modified |", "|---|---:|---:|---:|"]
        for category, c in doc["summary"]["by_category"].items():
            head.append(f"| {category} | {c['added']} | {c['removed']} | {c['modified']} |")
        head.append("")
    body: list[str] = []
    shown = 0
    used = sum(len(line) + 1 for line in head)
    for record in doc["records"]:
        summary = (f"<details><summary><code>{record['code']}</code> {_KIND[record['change']]} "
                   f"{md_cell(record['title'])}{md_cell(certificate_text(record))}</summary>")
        block = [summary, ""]
        if record["fields"]:
            block += ["| field | change | old | new |", "|---|---|---|---|"]
            for f in record["fields"]:
                old = "" if f["change"] == "added" else md_cell(value_text(f["old"]))
                new = "" if f["change"] == "removed" else md_cell(value_text(f["new"]))
                block.append(f"| `{f['path']}` | {f['change']} | {old} | {new} |")
        for note in record["notes"]:
            block.append(f"> {md_cell(note)}")
        block += ["", "</details>"]
        size = sum(len(line) + 1 for line in block)
        if used + size > limit:
            break
        body += block
        used += size
        shown += 1
    tail = []
    if shown < len(doc["records"]):
        tail = ["", f"… and {len(doc['records']) - shown} more record(s); run `dangan diff --format json` for all."]
    if doc["metadata_only"]:
        tail += ["", f"{len(doc['metadata_only'])} record(s) re-encrypted or reformatted with no field change."]
    return "\n".join(head + body + tail) + "\n"
