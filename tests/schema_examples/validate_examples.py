#!/usr/bin/env python3
"""Check dangan's standard schemas, the schema examples and the example vault.

A standalone script (not a pytest file), in the spirit of check-jsonschema's positive and
negative example folders. Run from anywhere:

    python3 tests/schema_examples/validate_examples.py [--root REPO]

It checks, and exits 1 on any problem:

1. every schema in schemas/ against the Draft 2020-12 metaschema, and schemas/categories.yaml
   against the schema files (ids, titles, `category` consts, levels, classes);
2. the sensitive-field rules of docs/format.md §3 for each category schema, including what
   it $refs from common.json:
   - a property name that is `x-sensitive` anywhere in the category is sensitive everywhere
     (SOPS encrypts by key name);
   - common field names (code, category, title, status, opened, closed, custody and its keys,
     refs, tags, notes, retention and its keys) are never sensitive;
   - a sensitive value is a string, or an object/array whose leaves are all strings;
   - every property below a sensitive property is marked sensitive as well;
   - no `required` list anywhere names a sensitive property (a record without any sensitive
     value is always valid, so vaults without keys can hold the clear part);
   - every property has a description; every nested object closes itself with
     `additionalProperties: false`;
3. tests/schema_examples/valid/<CAT>-*.yaml pass their category schema, also with every
   sensitive key removed; their code, category and location level agree;
4. tests/schema_examples/invalid/<CAT>-*.yaml fail, and the first line
   `# expect: <json path> | <keyword> | <json path> <keyword>` names one of the errors;
5. vault.yaml against schemas/vault.schema.json, and every record under vault/: parses,
   canonical text rules (UTF-8 without BOM, LF, final newline, no tabs, no anchors, aliases
   or tags, top-level key order), path derived from its code, level allowed, refs resolve,
   no sensitive value in clear (an `ENC[...]` value is accepted; then the clear part is
   validated with the sensitive keys removed).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

LEVELS = ["company", "project", "building", "unit", "room"]
COMMON_NAMES = {
    "code", "category", "title", "status", "opened", "closed", "custody", "form", "room",
    "cabinet", "shelf", "box", "refs", "tags", "notes", "retention", "until", "reason",
    # attachments (docs/attachments.md): the listing is in clear wherever it appears
    "attachments", "file", "type", "size", "sha256", "added", "by", "recipients",
    "inventory",  # custody.inventory (docs/inventory.md)
}
HEAD_KEYS = ["code", "category", "title", "status", "opened", "closed"]
TAIL_KEYS = ["custody", "refs", "tags", "notes", "retention", "attachments"]
CODE_RE = re.compile(
    r"^[A-Z]{2}(-[ABCD][0-9]{2}(-[0-9]{2}(-[0-9]{3}(-[0-9]{4})?)?)?)?-[0-9]{4,}$"
)
ENC_RE = re.compile(r"^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,"
                    r"tag:[A-Za-z0-9+/=]+,type:(str|int|float|bool|bytes)\]$")
TRAVERSE_MAPS = ("properties", "$defs", "dependentSchemas", "patternProperties")
TRAVERSE_ONE = ("items", "additionalProperties", "unevaluatedProperties", "not", "if", "then",
                "else", "contains", "propertyNames", "unevaluatedItems")
TRAVERSE_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: object, message: str) -> None:
        self.items.append(f"{where}: {message}")


# ----------------------------------------------------------------------------- YAML

class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, anchors/aliases and explicit tags."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if getattr(event, "anchor", None):
            raise ValueError("anchors and aliases are not allowed")
        if getattr(event, "tag", None) and not getattr(event, "implicit", (True,))[0] \
                and isinstance(event, yaml.ScalarEvent):
            raise ValueError(f"explicit tag {event.tag} is not allowed")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)) \
                and event.tag and not event.implicit:
            raise ValueError(f"explicit tag {event.tag} is not allowed")
    return yaml.load(text, Loader=_Loader)


def text_rules(path: Path) -> list[str]:
    raw = path.read_bytes()
    out = []
    if raw.startswith(b"\xef\xbb\xbf"):
        out.append("starts with a BOM")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        out.append("not UTF-8")
    if b"\r" in raw:
        out.append("has CR line ends")
    if not raw.endswith(b"\n") or raw.endswith(b"\n\n"):
        out.append("must end with exactly one newline")
    if b"\t" in raw:
        out.append("has a tab")
    if len(raw) > 256 * 1024:
        out.append("larger than 256 KiB")
    return out


# ----------------------------------------------------------------------------- codes

def code_location(code: str) -> list[str]:
    return code.split("-")[1:-1]


def code_path(code: str) -> str:
    parts = code.split("-")
    return "/".join(["vault", *parts[1:-1], parts[0], f"{code}.yaml"])


def code_ok(code: Any) -> bool:
    if not isinstance(code, str) or not CODE_RE.match(code):
        return False
    return all(set(p) != {"0"} for p in code.split("-")[1:])


# ----------------------------------------------------------------------------- schemas

class Schemas:
    def __init__(self, root: Path, problems: Problems) -> None:
        self.dir = root / "schemas"
        self.problems = problems
        self.docs: dict[str, dict] = {}
        for path in sorted(self.dir.glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            self.docs[path.name] = doc
            try:
                Draft202012Validator.check_schema(doc)
            except Exception as exc:  # SchemaError
                problems.add(path, f"not a valid Draft 2020-12 schema: {exc}")
            if "$id" in doc:
                problems.add(path, "no $id: a $ref resolves to the file beside it (docs/format.md §3)")
        self.registry = Registry().with_resources(
            (name, Resource(contents=doc, specification=DRAFT202012))
            for name, doc in self.docs.items()
        )
        self.registry_yaml = load_yaml(self.dir / "categories.yaml")
        self.categories: dict[str, dict] = self.registry_yaml.get("categories", {})

    def validator(self, name: str) -> Draft202012Validator:
        return Draft202012Validator(
            self.docs[name], registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )

    # -- resolution inside our own documents (enough for the refs we use)
    def resolve(self, ref: str, doc_name: str) -> tuple[dict, str]:
        target, _, pointer = ref.partition("#")
        name = target.rsplit("/", 1)[-1] if target else doc_name
        node: Any = self.docs[name]
        for part in [p for p in pointer.split("/") if p]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, name


def walk_properties(schemas: Schemas, schema: Any, doc: str, where: str, in_sensitive: bool,
                    seen_refs: tuple = ()) -> Iterator[tuple[str, Any, bool, bool, str, str]]:
    """Yield (name, subschema, marked, under_sensitive, where, doc) for every property."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        key = (doc, schema["$ref"])
        if key not in seen_refs:
            target, tdoc = schemas.resolve(schema["$ref"], doc)
            yield from walk_properties(schemas, target, tdoc, f"{where}->{schema['$ref']}",
                                       in_sensitive, seen_refs + (key,))
    for name, sub in schema.get("properties", {}).items():
        marked = isinstance(sub, dict) and sub.get("x-sensitive") is True
        yield name, sub, marked, in_sensitive, f"{where}/properties/{name}", doc
        yield from walk_properties(schemas, sub, doc, f"{where}/properties/{name}",
                                   in_sensitive or marked, seen_refs)
    for kw in TRAVERSE_ONE:
        if kw in schema:
            yield from walk_properties(schemas, schema[kw], doc, f"{where}/{kw}", in_sensitive,
                                       seen_refs)
    for kw in TRAVERSE_LIST:
        for i, sub in enumerate(schema.get(kw, [])):
            yield from walk_properties(schemas, sub, doc, f"{where}/{kw}/{i}", in_sensitive,
                                       seen_refs)


def reachable_types(schemas: Schemas, schema: Any, doc: str, depth: int = 0) -> Iterator[Any]:
    """Every `type`, `const` and `enum` value reachable from a sensitive property."""
    if not isinstance(schema, dict) or depth > 20:
        return
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        for t in types:
            yield ("type", t)
    if "const" in schema:
        yield ("value", schema["const"])
    for v in schema.get("enum", []):
        yield ("value", v)
    if "$ref" in schema:
        target, tdoc = schemas.resolve(schema["$ref"], doc)
        yield from reachable_types(schemas, target, tdoc, depth + 1)
    for sub in schema.get("properties", {}).values():
        yield from reachable_types(schemas, sub, doc, depth + 1)
    for kw in ("items", "additionalProperties", "then", "else"):
        if isinstance(schema.get(kw), dict):
            yield from reachable_types(schemas, schema[kw], doc, depth + 1)
    for kw in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for sub in schema.get(kw, []):
            yield from reachable_types(schemas, sub, doc, depth + 1)


def required_lists(schema: Any, where: str = "#") -> Iterator[tuple[str, list]]:
    if isinstance(schema, dict):
        if isinstance(schema.get("required"), list):
            yield where, schema["required"]
        for kw, sub in schema.items():
            if kw in ("properties", "$defs", "dependentSchemas", "patternProperties"):
                for name, s in sub.items():
                    yield from required_lists(s, f"{where}/{kw}/{name}")
            elif isinstance(sub, dict):
                yield from required_lists(sub, f"{where}/{kw}")
            elif isinstance(sub, list):
                for i, s in enumerate(sub):
                    yield from required_lists(s, f"{where}/{kw}/{i}")


def object_schemas(schema: Any, where: str = "#", top: bool = True) -> Iterator[tuple[str, dict]]:
    """Object schemas that declare properties, outside conditional fragments."""
    if not isinstance(schema, dict):
        return
    if not top and "properties" in schema and schema.get("type") == "object":
        yield where, schema
    for name, sub in schema.get("properties", {}).items():
        yield from object_schemas(sub, f"{where}/properties/{name}", False)
    if isinstance(schema.get("items"), dict):
        yield from object_schemas(schema["items"], f"{where}/items", False)
    for name, sub in schema.get("$defs", {}).items():
        yield from object_schemas(sub, f"{where}/$defs/{name}", False)


def check_registry(schemas: Schemas, problems: Problems) -> None:
    reg = schemas.registry_yaml
    where = schemas.dir / "categories.yaml"
    if reg.get("version") != 1:
        problems.add(where, "version must be 1")
    classes = reg.get("classes", {})
    for code, cat in schemas.categories.items():
        if not re.fullmatch(r"[A-Z]{2}", code):
            problems.add(where, f"{code}: category code must be two upper-case letters")
        if set(cat) != {"zh", "en", "class", "levels", "schema"}:
            problems.add(where, f"{code}: keys must be zh, en, class, levels, schema")
        if cat.get("class") not in classes:
            problems.add(where, f"{code}: unknown class {cat.get('class')!r}")
        levels = cat.get("levels", [])
        if not levels or any(lv not in LEVELS for lv in levels) or \
                levels != sorted(levels, key=LEVELS.index):
            problems.add(where, f"{code}: levels must be a non-empty ordered subset of {LEVELS}")
        name = cat.get("schema")
        doc = schemas.docs.get(name)
        if doc is None:
            problems.add(where, f"{code}: schema file {name} missing")
            continue
        if doc.get("properties", {}).get("category", {}).get("const") != code:
            problems.add(name, f"properties.category.const must be {code!r}")
        if not str(doc.get("title", "")).startswith(f"{code} {cat.get('zh')} — "):
            problems.add(name, f"title must start with '{code} {cat.get('zh')} — '")
        if doc.get("$ref") != "common.json" or doc.get("unevaluatedProperties") is not False:
            problems.add(name, "must $ref common.json and set unevaluatedProperties: false")
    common = schemas.docs.get("common.json", {})
    if "additionalProperties" in common or "unevaluatedProperties" in common:
        problems.add("common.json", "must leave the record open")


def check_sensitive(schemas: Schemas, problems: Problems) -> dict[str, set[str]]:
    """Return the sensitive property names of every category."""
    result: dict[str, set[str]] = {}
    for code, cat in schemas.categories.items():
        name = cat.get("schema")
        if name not in schemas.docs:
            continue
        doc = schemas.docs[name]
        uses: dict[str, list[tuple[bool, str]]] = defaultdict(list)
        for prop, sub, marked, under, where, pdoc in walk_properties(schemas, doc, name, "#", False):
            uses[prop].append((marked, where))
            # conditions (if) only select; every property that shapes data has a description
            if isinstance(sub, dict) and "description" not in sub and "/if/" not in where:
                problems.add(name, f"{where}: property without description")
            if under and not marked:
                problems.add(name, f"{where}: below a sensitive property but not marked sensitive")
            if marked:
                bad = [v for k, v in reachable_types(schemas, sub, pdoc)
                       if (k == "type" and v not in ("string", "object", "array"))
                       or (k == "value" and not isinstance(v, str))]
                types = [v for k, v in reachable_types(schemas, sub, pdoc) if k == "type"]
                if bad or not types:
                    problems.add(name, f"{where}: sensitive value must be a string or hold only "
                                       f"strings (found {bad or 'no type'})")
        sensitive = {p for p, us in uses.items() if any(m for m, _ in us)}
        for prop in sensitive:
            clear = [w for m, w in uses[prop] if not m]
            if clear:
                problems.add(name, f"'{prop}' is sensitive somewhere but clear at {clear}")
            if prop in COMMON_NAMES:
                problems.add(name, f"common field name '{prop}' must never be sensitive")
        for where, req in required_lists(doc):
            for prop in req:
                if prop in sensitive:
                    problems.add(name, f"{where}/required names sensitive property '{prop}'")
        for where, sub in object_schemas(doc):
            if sub.get("additionalProperties") is not False:
                problems.add(name, f"{where}: nested object needs additionalProperties: false")
        result[code] = sensitive
    return result


# ----------------------------------------------------------------------------- records

def strip_keys(value: Any, names: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: strip_keys(v, names) for k, v in value.items() if k not in names}
    if isinstance(value, list):
        return [strip_keys(v, names) for v in value]
    return value


def clear_sensitive_values(value: Any, names: set[str], inside: bool = False,
                           path: str = "$") -> Iterator[str]:
    """JSON paths of sensitive leaves that are not ENC[...] (never the values)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "sops" and path == "$":
                continue
            yield from clear_sensitive_values(v, names, inside or k in names, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from clear_sensitive_values(v, names, inside, f"{path}[{i}]")
    elif inside and value not in (None, "") and not (isinstance(value, str)
                                                     and ENC_RE.match(value)):
        yield path


def all_errors(errors) -> Iterator[Any]:
    for err in errors:
        yield err
        yield from all_errors(err.context or [])


def describe(err) -> str:
    return f"{err.json_path} [{err.validator}] {err.message[:160]}"


def check_examples(root: Path, schemas: Schemas, sensitive: dict[str, set[str]],
                   problems: Problems) -> tuple[int, int]:
    base = root / "tests" / "schema_examples"
    n_valid = n_invalid = 0
    for path in sorted((base / "valid").glob("*.yaml")):
        n_valid += 1
        cat = path.name[:2]
        if cat not in schemas.categories:
            problems.add(path, "file name must start with a registered category code")
            continue
        try:
            data = load_yaml(path)
        except Exception as exc:
            problems.add(path, f"unreadable: {exc}")
            continue
        v = schemas.validator(schemas.categories[cat]["schema"])
        for err in v.iter_errors(data):
            problems.add(path, f"should be valid: {describe(err)}")
        for err in v.iter_errors(strip_keys(data, sensitive.get(cat, set()))):
            problems.add(path, f"clear part alone should be valid: {describe(err)}")
        code = data.get("code") if isinstance(data, dict) else None
        if not code_ok(code) or not code.startswith(cat + "-") or data.get("category") != cat:
            problems.add(path, f"code {code!r} / category must match the file's category {cat}")
        elif LEVELS[len(code_location(code))] not in schemas.categories[cat]["levels"]:
            problems.add(path, f"{code}: location level not allowed for {cat}")
    for path in sorted((base / "invalid").glob("*.yaml")):
        n_invalid += 1
        cat = path.name[:2]
        first = path.read_text(encoding="utf-8").splitlines()[0]
        m = re.match(r"^# expect: (\S+)(?: (\S+))?\s*$", first)
        if not m:
            problems.add(path, "first line must be '# expect: <json path or keyword>'")
            continue
        if cat not in schemas.categories:
            problems.add(path, "file name must start with a registered category code")
            continue
        try:
            data = load_yaml(path)
        except Exception as exc:
            problems.add(path, f"unreadable: {exc}")
            continue
        errs = list(all_errors(schemas.validator(schemas.categories[cat]["schema"])
                               .iter_errors(data)))
        if not errs:
            problems.add(path, "should be invalid but passed")
            continue
        a, b = m.group(1), m.group(2)
        if b:
            ok = any(e.json_path == a and e.validator == b for e in errs)
        elif a.startswith("$"):
            ok = any(e.json_path == a for e in errs)
        else:
            ok = any(e.validator == a for e in errs)
        if not ok:
            problems.add(path, f"no error matches '{first[2:]}'; got: "
                               + "; ".join(describe(e) for e in errs[:5]))
    return n_valid, n_invalid


def check_vault(root: Path, schemas: Schemas, sensitive: dict[str, set[str]],
                problems: Problems) -> int:
    vault_yaml = root / "vault.yaml"
    if vault_yaml.exists():
        config = load_yaml(vault_yaml)
        for err in schemas.validator("vault.schema.json").iter_errors(config):
            problems.add(vault_yaml, describe(err))
        for cat in list(config.get("retention") or {}) + list(
                (config.get("lending") or {}).get("originals_not_lent", [])) + list(
                config.get("access") or {}):
            if cat not in schemas.categories:
                problems.add(vault_yaml, f"unknown category {cat}")
    records: dict[str, tuple[Path, dict]] = {}
    vault_dir = root / "vault"
    for path in sorted(vault_dir.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(root).as_posix()
        folder = path.parent
        if (folder.parent / f"{folder.name}.yaml").is_file() and CODE_RE.match(folder.name):
            # an attachment (docs/attachments.md): an age file in the folder named by its record's code
            if path.suffix != ".age" or not path.read_bytes().startswith(b"age-encryption.org/v1\n"):
                problems.add(rel, "not an age-encrypted attachment (NAME.age)")
            continue
        if path.suffix != ".yaml":
            problems.add(rel, "stray file under vault/")
            continue
        for msg in text_rules(path):
            problems.add(rel, msg)
        try:
            data = load_yaml(path)
        except Exception as exc:
            problems.add(rel, f"unreadable: {exc}")
            continue
        if not isinstance(data, dict):
            problems.add(rel, "not a mapping")
            continue
        code = data.get("code")
        if not code_ok(code):
            problems.add(rel, f"malformed code {code!r}")
            continue
        cat = code[:2]
        if cat not in schemas.categories:
            problems.add(rel, f"unknown category {cat}")
            continue
        if code_path(code) != rel:
            problems.add(rel, f"path must be {code_path(code)}")
        if data.get("category") != cat:
            problems.add(rel, "category differs from the code's")
        if LEVELS[len(code_location(code))] not in schemas.categories[cat]["levels"]:
            problems.add(rel, f"location level not allowed for {cat}")
        keys = [k for k in data if k != "sops"]
        head = [k for k in keys if k in HEAD_KEYS]
        tail = [k for k in keys if k in TAIL_KEYS]
        body = [k for k in keys if k not in HEAD_KEYS and k not in TAIL_KEYS]
        props = list(schemas.docs[schemas.categories[cat]["schema"]]["properties"])
        expected = (sorted(head, key=HEAD_KEYS.index) + sorted(body, key=lambda k: props.index(k)
                    if k in props else len(props)) + sorted(tail, key=TAIL_KEYS.index))
        if keys != expected:
            problems.add(rel, f"top-level key order should be {expected}")
        names = sensitive.get(cat, set())
        for leak in clear_sensitive_values(data, names):
            problems.add(rel, f"sensitive field {leak} holds a clear value")
        clear = strip_keys({k: v for k, v in data.items() if k != "sops"}, names)
        for err in schemas.validator(schemas.categories[cat]["schema"]).iter_errors(clear):
            problems.add(rel, describe(err))
        records[code] = (path, data)
    for _code, (path, data) in records.items():
        for ref in data.get("refs", []) or []:
            if ref not in records:
                problems.add(path.relative_to(root).as_posix(), f"refs names unknown code {ref}")
    return len(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                        help="repository root (default: two levels above this script)")
    parser.add_argument("--sensitive", action="store_true",
                        help="also print the sensitive property names of each category")
    args = parser.parse_args(argv)
    problems = Problems()
    schemas = Schemas(args.root, problems)
    check_registry(schemas, problems)
    sensitive = check_sensitive(schemas, problems)
    n_valid, n_invalid = check_examples(args.root, schemas, sensitive, problems)
    n_records = check_vault(args.root, schemas, sensitive, problems)
    for line in problems.items:
        print(line)
    print(f"{len(schemas.docs)} schemas, {len(schemas.categories)} categories, "
          f"{n_valid} valid and {n_invalid} invalid examples, {n_records} vault records: "
          f"{len(problems.items)} problem(s)", file=sys.stderr)
    if args.sensitive:
        for code in schemas.categories:
            print(f"{code}: {' '.join(sorted(sensitive.get(code, ())))}")
    return 1 if problems.items else 0


if __name__ == "__main__":
    sys.exit(main())
