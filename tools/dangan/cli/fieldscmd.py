"""`dangan categories` and `dangan fields`: the vault's categories and their fields, explained
from its own schemas (`formats.fielddoc` works them out; this module only prints)."""
from __future__ import annotations

from typing import Any

import click

from dangan.cli.base import (
    Context,
    complete_category,
    emit_json,
    json_option,
    pass_ctx,
)
from dangan.formats import fielddoc
from dangan.formats.terminal import columns, escape
from dangan.i18n import _, pgettext


def _rule(rule: dict[str, Any] | None) -> str:
    """A retention rule in the interface language (English: fielddoc.retention_text's words)."""
    if not rule:
        return _("none")
    if rule.get("keep") == "permanent":
        return _("permanent")
    action = str(rule.get("action") or "destroy")
    return _("{keep} after {after}, then {action}").format(
        keep=rule.get("keep"), after=rule.get("after") or "closed", action=pgettext("retention action", action))


def _retention(retention: dict[str, Any]) -> str:
    """The rule that applies, as `categories` shows it; --json keeps fielddoc's English `text`."""
    if retention.get("source") != "none":
        return _rule(retention)
    standard = retention.get("standard")
    return _("permanent: no rule in vault.yaml") + (
        _(" (the standard: {rule})").format(rule=_rule(standard)) if standard else "")


def category_lines(doc: list[dict[str, Any]]) -> list[str]:
    rows = [[c["code"], _(c["zh"]), c["en"], _(c["class"]["zh"]) if c["class"]["zh"] else c["class"]["code"], ", ".join(c["levels"]),
             _retention(c["retention"]),
             ", ".join(c["sensitive"]) or "—"] for c in doc]
    return columns([_("code"), "中文", "English", _("class"), _("levels"), _("retention"), _("sensitive fields")],
                   rows)


def _described(field: fielddoc.Field) -> str:
    """A field's description in the interface language: the standard schemas' descriptions are
    msgids of the catalogs (fielddoc.extract_labels); a company's own shows as written."""
    return _(field.description) if field.description else ""


def _values(field: fielddoc.Field) -> str:
    return ", ".join(f"{v} {_(label)}" if label else v for v, label in field.values)


def _required(field: fielddoc.Field) -> str:
    if field.required:
        return _("yes")
    return _("when {conditions}").format(conditions="; ".join(field.required_when)) if field.required_when else ""


def field_lines(head: str, found: list[fielddoc.Field]) -> list[str]:
    """One row per field, its allowed values on the line below it."""
    lines = [escape(head)]
    rows = [[f.name, f.type, _required(f), "🔒" if f.sensitive else "", _described(f)] for f in found]
    body = columns([_("field"), _("type"), _("required"), _("sensitive"), _("description")], rows)
    lines.append(body[0])
    for f, line in zip(found, body[1:]):
        lines.append(line)
        if f.values:
            lines.append(escape("    " + _("one of: {values}").format(values=_values(f))))
    return lines


def detail_lines(head: str, found: list[fielddoc.Field]) -> list[str]:
    """One field in full: its type, marks, description, each allowed value with its label,
    then the fields nested in it."""
    f = found[0]
    marks = [f.type] + ([_("required")] if f.required else []) + [
        _("required when {condition}").format(condition=w) for w in f.required_when]
    marks += [_("sensitive (stored encrypted) 🔒")] if f.sensitive else []
    lines = [escape(f"{head} {f.name}: {', '.join(marks)}")]
    if f.description:
        lines.append(escape(f"  {_described(f)}"))
    if f.values:
        lines.append(_("allowed values:"))
        lines += ["  " + line for line in columns([_("value"), _("label")],
                                                  [[v, _(label) if label else ""] for v, label in f.values])[1:]]
    if len(found) > 1:
        lines.append(_("fields inside:"))
        lines += ["  " + line for line in field_lines("", found[1:])[1:]]
    return lines


@click.command("categories", epilog="""\b
Examples:
  dangan categories
  dangan categories --json
""")
@json_option
@pass_ctx
def categories_cmd(ctx: Context, as_json: bool) -> None:
    """The categories of this vault's registry (schemas/categories.yaml): code, names, class,
    the levels a record may be filed at, the retention rule that applies (vault.yaml's; with
    none, the records are kept for good, and the standard rule of `dangan init` is named)
    and the sensitive fields."""
    vault = ctx.vault
    doc = fielddoc.categories(vault.schemas, vault.config)
    if as_json:
        emit_json({"categories": doc})
    else:
        click.echo("\n".join(category_lines(doc)))


@click.command("fields", epilog="""\b
Examples:
  dangan fields SB
  dangan fields SB system
  dangan fields YZ owners --json
""")
@click.argument("category", shell_complete=complete_category)
@click.argument("field", required=False)
@json_option
@pass_ctx
def fields_cmd(ctx: Context, category: str, field: str | None, as_json: bool) -> None:
    """The fields of a category's records, from the vault's own schema: name (nested ones as
    `parent.child`, list items as `items[].x`), type, required, allowed values with their
    labels, sensitive (🔒: stored encrypted) and what it means. With FIELD, that field in
    detail."""
    schemas = ctx.vault.schemas
    code = category.upper() if category.isascii() else category
    found = fielddoc.field(schemas, code, field) if field else fielddoc.fields(schemas, code)
    entry = schemas.categories[code]
    if as_json:
        emit_json({"category": code, "zh": entry.zh, "en": entry.en, "schema": f"schemas/{entry.schema}",
                   "fields": [f.as_dict() for f in found]})
        return
    head = f"{code} {_(entry.zh)} — {entry.en}"
    lines = detail_lines(code, found) if field else field_lines(f"{head} (schemas/{entry.schema})", found)
    click.echo("\n".join(lines))


COMMANDS = [categories_cmd, fields_cmd]
