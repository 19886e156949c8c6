"""What `dangan categories` and `dangan fields` explain: the categories of a vault's registry
and the fields of a category's schema, read from the vault's own schemas (docs/cli.md).

The schema is walked as `formats.schemas` walks it for the sensitive names, following
`$ref`s into common.json: a category's own properties merge over the common ones (its
`status` and `category` replace them). Nested fields are named as docs/categories.md writes
them (`custody.room`, `annual_reviews[].result`). The labels of allowed values come from the
descriptions, which write them "value 中文, value 中文" or "value (中文)": a label is taken
only when what follows the value holds a Chinese character, otherwise the value stands alone.
Pure: the caller gives the SchemaSet and the vault's settings; nothing is printed here.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dangan.errors import DanganError
from dangan.formats.schemas import SchemaSet
from dangan.i18n import _
from dangan.model import defaults

# the common fields a record starts with; the category's own come after them, then the rest
_HEAD = ("code", "category", "title", "status", "opened", "closed")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
MAX_SHOWN = 10  # allowed values named in an error's hint, then "…"


@dataclass(frozen=True)
class Field:
    name: str  # `custody.room`, `annual_reviews[].result`
    type: str  # a common.json $defs name (`date`, `staff`), or `string`, `integer`, `mapping`, ...
    required: bool
    required_when: tuple[str, ...]  # "status is completed": the simple if/then cases
    values: tuple[tuple[str, str], ...]  # (allowed value, its label or "")
    sensitive: bool
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "required": self.required,
            "required_when": list(self.required_when),
            "values": [{"value": v, "label": label} for v, label in self.values],
            "sensitive": self.sensitive, "description": self.description,
        }


class Unknown(DanganError):
    """A category or field that the schemas do not have: one line with the nearest names."""

    def __init__(self, message: str, candidates: list[str], hint: str) -> None:
        near = f"; nearest: {', '.join(candidates)}" if candidates else ""
        super().__init__(message + near, hint)
        self.candidates = candidates


def nearest(name: str, known: list[str]) -> list[str]:
    """Up to three known names close to `name` (difflib, case-insensitively)."""
    lowered = {k.lower(): k for k in known}
    return [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)]


# ------------------------------------------------------------------- categories

def retention_text(rule: Mapping[str, Any] | None) -> str:
    if not rule:
        return "none"
    if rule.get("keep") == "permanent":
        return "permanent"
    return f"{rule.get('keep')} after {rule.get('after') or 'closed'}, then {rule.get('action') or 'destroy'}"


def categories(schemas: SchemaSet, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every category of the registry, in its order: names, class, levels, retention (the
    rule that applies: vault.yaml's; without one a record is kept for good, and the standard
    rule of `dangan init` is named beside it) and its sensitive field names."""
    given = config.get("retention") or {}
    out = []
    for code, category in schemas.categories.items():
        rule = given.get(code) if isinstance(given, dict) else None
        if isinstance(rule, dict):
            retention = {**rule, "text": retention_text(rule), "source": "vault.yaml"}
        else:  # model.disposal.rule_for: no rule, never destroyed
            standard = defaults.RETENTION.get(code)
            retention = {"keep": "permanent", "source": "none", "standard": dict(standard) if standard else None,
                         "text": "permanent: no rule in vault.yaml"
                         + (f" (the standard: {retention_text(standard)})" if standard else "")}
        klass = schemas.classes.get(category.klass) or {}
        out.append({
            "code": code, "zh": category.zh, "en": category.en,
            "class": {"code": category.klass, "zh": str(klass.get("zh", "")), "en": str(klass.get("en", ""))},
            "levels": list(category.levels),
            "retention": retention,
            "sensitive": sorted(category.sensitive),
        })
    return out


# ----------------------------------------------------------------------- fields

def fields(schemas: SchemaSet, code: str) -> list[Field]:
    """The fields of a category's records, top-level ones and nested ones after their parent."""
    category = schemas.category(code)
    if category is None:
        raise Unknown(f"no category {code!r} in this vault's registry",
                      nearest(code, sorted(schemas.categories)), "`dangan categories` lists them")
    walker = _Walker(schemas)
    doc_name = category.schema
    own = walker.object_parts(doc_name, schemas.documents[doc_name])
    common_name, common = walker.resolve_ref(doc_name, schemas.documents[doc_name])
    base = walker.object_parts(common_name, common) if common is not None else _Parts()
    props = dict(base.props)
    for name, (where, node) in own.props.items():
        props[name] = (where, node) if name not in props else (where, {**props[name][1], **node})
    order = [n for n in _HEAD if n in props] + [n for n in own.props if n not in _HEAD]
    order += [n for n in base.props if n not in order]
    required = base.required | own.required
    when = {**base.when}
    for name, cases in own.when.items():
        when[name] = when.get(name, ()) + cases
    extra = _merge_values(base.extra, own.extra)
    found: list[Field] = []
    for name in order:
        where, node = props[name]
        walker.emit(found, name, where, node, name in required, when.get(name, ()), extra.get(name, ()))
    return found


def field(schemas: SchemaSet, code: str, name: str) -> list[Field]:
    """One field and the fields nested in it."""
    every = fields(schemas, code)
    # `owners.role` names `owners[].role` too: brackets are awkward to type in a shell
    plain = name.replace("[]", "")
    chosen = [f for f in every if f.name.replace("[]", "") == plain]
    if chosen:
        name = chosen[0].name
        chosen += [f for f in every if f.name.startswith((name + ".", name + "[]."))]
    if not chosen:
        raise Unknown(f"{code} has no field {name!r}", nearest(name, [f.name for f in every]),
                      f"`dangan fields {code}` lists them")
    return chosen


_NAME_LABEL = re.compile(r"[(（]([^()（）,，;；]*[\u3400-\u9fff][^()（）,，;；]*)")


def label_of(item: Field) -> str:
    """The Chinese name a field's description gives it ("Archive room (檔案室).") or ""."""
    found = _NAME_LABEL.search(item.description)
    return found.group(1).strip() if found else ""


# other Chinese names people give a common field in a spreadsheet's header: 題名 is the
# archival term the schema writes, 標題 the everyday word for a title
ALIASES = {"title": ("標題",)}


def by_label(schemas: SchemaSet, code: str, label: str) -> list[str]:
    """The fields (not those inside list items) whose Chinese name is `label`, written in
    either script (题名 is 題名: model/script.py), or one of its ALIASES (标题, 標題 for
    `title`): what an import header may name."""
    from dangan.model import script

    wanted = script.fold(label.strip())
    return [f.name for f in fields(schemas, code)
            if "[]" not in f.name and wanted in {script.fold(n) for n in (label_of(f), *ALIASES.get(f.name, ())) if n}]


def field_of_pointer(pointer: str) -> str:
    """The field name of a JSON path of a validation error: `/custody/room` -> `custody.room`,
    `/owners/0/name` -> `owners[].name`, `/refs/2` -> `refs`."""
    return _pointer_name(pointer).removesuffix("[]")


def _pointer_name(pointer: str) -> str:
    """`/owners/0` -> `owners[]`: what is below a list item is a field of its items."""
    name = ""
    for part in (p for p in pointer.split("/") if p):
        name += "[]" if part.isdigit() else ("." if name else "") + part
    return name


def allowed_text(values: tuple[tuple[str, str], ...]) -> str:
    """At most MAX_SHOWN allowed values, then "…" (an error's hint)."""
    shown = ", ".join(v for v, _text in values[:MAX_SHOWN])
    return shown + (", …" if len(values) > MAX_SHOWN else "")


# --------------------------------------------------------------------- the walk

@dataclass
class _Parts:
    """The properties of an object schema (with the document each was found in), its required
    names, the conditions under which others are required, and enum values added by `then`."""

    props: dict[str, tuple[str, dict[str, Any]]]
    required: set[str]
    when: dict[str, tuple[str, ...]]
    extra: dict[str, tuple[str, ...]]

    def __init__(self) -> None:
        self.props, self.required, self.when, self.extra = {}, set(), {}, {}


class _Walker:
    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas

    def resolve_ref(self, where: str, node: dict[str, Any]) -> tuple[str, Any]:
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return where, None
        try:
            return self.schemas._resolve(ref, where)
        except Exception:  # noqa: BLE001 - DG114 reports a broken $ref; here it explains nothing
            return where, None

    def object_parts(self, where: str, node: dict[str, Any]) -> _Parts:
        parts = _Parts()
        for name, sub in (node.get("properties") or {}).items():
            if isinstance(sub, dict):
                parts.props[name] = (where, sub)
        parts.required.update(n for n in node.get("required") or () if isinstance(n, str))
        for block in node.get("allOf") or ():
            if not isinstance(block, dict):
                continue
            condition = _condition(block.get("if"))
            then = block.get("then") if isinstance(block.get("then"), dict) else {}
            if condition:
                for name in then.get("required") or ():
                    parts.when[name] = parts.when.get(name, ()) + (condition,)
            for name, sub in (then.get("properties") or {}).items():
                if isinstance(sub, dict) and isinstance(sub.get("enum"), list):
                    parts.extra[name] = parts.extra.get(name, ()) + tuple(map(str, sub["enum"]))
        return parts

    def emit(self, out: list[Field], name: str, where: str, node: dict[str, Any], required: bool,
             when: tuple[str, ...], extra: tuple[str, ...]) -> None:
        target_where, target = self.resolve_ref(where, node)
        description = str(node.get("description") or (target or {}).get("description") or "")
        enum = node.get("enum") if isinstance(node.get("enum"), list) else (
            (target or {}).get("enum") if isinstance((target or {}).get("enum"), list) else None)
        values = [str(v) for v in enum or ()]
        values += [v for v in extra if v not in values]
        texts = [description, str((target or {}).get("description") or "")]
        labelled = tuple((v, _label(v, texts)) for v in values)
        out.append(Field(name, self.type_of(where, node), required, when, labelled,
                         node.get("x-sensitive") is True, description))
        # nested: an object's properties, or those of a list's items
        shape_where, shape = (target_where, target) if target is not None and "properties" not in node \
            and "items" not in node else (where, node)
        if not isinstance(shape, dict):
            return
        items = shape.get("items")
        prefix = name + "."
        if isinstance(items, dict):
            items_where, resolved = self.resolve_ref(shape_where, items)
            shape_where, shape = (items_where, resolved) if resolved is not None and "properties" not in items \
                else (shape_where, items)
            prefix = name + "[]."
        if not isinstance(shape, dict) or not isinstance(shape.get("properties"), dict):
            return
        parts = self.object_parts(shape_where, shape)
        for child, (child_where, sub) in parts.props.items():
            self.emit(out, prefix + child, child_where, sub, child in parts.required,
                      parts.when.get(child, ()), parts.extra.get(child, ()))

    def type_of(self, where: str, node: Any) -> str:
        if not isinstance(node, dict):
            return "any"
        ref = node.get("$ref")
        if isinstance(ref, str):
            pointer = ref.partition("#")[2]
            if pointer.startswith("/$defs/"):
                return pointer.rsplit("/", 1)[-1]
            return "mapping"
        if "const" in node:
            return "constant"
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                kinds = [self.type_of(where, sub) for sub in node[key]]
                return " or ".join(dict.fromkeys(k for k in kinds if k != "null")) + (
                    " or null" if "null" in kinds else "")
        kind = node.get("type")
        if isinstance(kind, list):
            return " or ".join(str(k) for k in kind)
        if kind == "object" or "properties" in node:
            return "mapping"
        if kind == "array":
            items = node.get("items")
            inner = self.type_of(where, items) if isinstance(items, dict) else "any"
            return "list of mappings" if inner == "mapping" else f"list of {inner}"
        if "enum" in node and not kind:
            return "string"
        return str(kind or "any")


def _condition(node: Any) -> str:
    """"status is completed" for `if: {properties: {status: {const|enum}}}`; "" otherwise."""
    if not isinstance(node, dict) or not isinstance(node.get("properties"), dict):
        return ""
    props = node["properties"]
    if len(props) != 1:
        return ""
    (name, test), = props.items()
    if not isinstance(test, dict):
        return ""
    if "const" in test:
        values = [test["const"]]
    elif isinstance(test.get("enum"), list):
        values = test["enum"]
    else:
        return ""
    return f"{name} is {' or '.join(str(v) for v in values)}"


def _merge_values(a: dict[str, tuple[str, ...]], b: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    merged = dict(a)
    for name, values in b.items():
        merged[name] = merged.get(name, ()) + values
    return merged


def _label(value: str, texts: list[str]) -> str:
    """The Chinese label a description gives `value` ("elevator 電梯", "active (有效)"), or ""."""
    pattern = re.compile(r"(?<![A-Za-z0-9_'])" + re.escape(value)
                         + r"(?![A-Za-z0-9_'])\s*(?:\(([^)]*)\)|([^\s,;:()，；。]+))")
    for text in texts:
        for match in pattern.finditer(text):
            label = (match.group(1) or match.group(2) or "").rstrip(".")
            if _CJK.search(label):
                return label
    return ""


# ------------------------------------------------------------- errors' hints

_REQUIRED = re.compile(r'^"([^"]+)" is a required property')


def error_field(error: str) -> tuple[str, str]:
    """(field name, reason) of a validation error `"/custody/room: reason"`; a missing
    required property is named by the reason (`/: "system" is a required property`)."""
    pointer, _, reason = error.partition(": ")
    missing = _REQUIRED.match(reason)
    if missing:
        parent = _pointer_name(pointer)
        return (parent + "." if parent else "") + missing.group(1), reason
    name = field_of_pointer(pointer)
    return name, reason


def hinted(errors: list[str]) -> str:
    """The error a hint is about: the first value that is not allowed (its allowed values
    are the useful hint), else the first error (often a missing field)."""
    return next((e for e in errors if not _REQUIRED.match(e.partition(": ")[2])), errors[0])


def error_hint(schemas: SchemaSet, category: str, error: str) -> str:
    """Where to look for the field an error concerns: `dangan fields CATEGORY FIELD`, with the
    allowed values (at most MAX_SHOWN) when the value is not one of them."""
    name, reason = error_field(error)
    try:
        found = field(schemas, category, name)[0] if name else None
    except DanganError:
        found = None
    if found is None:
        return _("`dangan fields {category}` lists the fields").format(category=category)
    if found.values and not _REQUIRED.match(reason):  # a value not allowed (a long one is cut)
        return _("{field} takes one of {values}: `dangan fields {category} {field}` gives their labels").format(
            field=found.name, values=allowed_text(found.values), category=category)
    return _("`dangan fields {category} {field}` explains the field").format(category=category, field=found.name)


# ------------------------------------------------------------- labels in the catalogs

def labels_of(schemas: SchemaSet, code: str) -> dict[str, dict[str, str]]:
    """field name → {allowed value: its label} for the fields of `code` that label values."""
    out: dict[str, dict[str, str]] = {}
    for found in fields(schemas, code):
        labelled = {value: label for value, label in found.values if label}
        if labelled:
            out[found.name] = labelled
    return out


def extract_labels(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Any:
    """Babel's extractor for the schemas (babel.cfg, `make catalogs`): the Chinese names of
    the categories and classes and the labels of allowed values, as the standard schemas
    write them (traditional characters), and the fields' descriptions as `dangan fields`
    shows them (English with the Chinese names in brackets). They are msgids of their own:
    the zh_Hans catalog gives the names and labels in simplified characters, zh_Hant as they
    are, and both give the descriptions in Chinese; the stored values never change.
    Authoring time only."""
    from pathlib import Path

    schemas = SchemaSet.from_dir(Path(fileobj.name).parent)
    seen: set[str] = set()
    texts = [c.zh for c in schemas.categories.values()] + [str(c.get("zh", "")) for c in schemas.classes.values()]
    for code in schemas.categories:
        for labelled in labels_of(schemas, code).values():
            texts += labelled.values()
    for code in schemas.categories:
        texts += [found.description for found in fields(schemas, code)]
    for text in texts:
        if text and text not in seen:
            seen.add(text)
            yield 0, "_", text, []
