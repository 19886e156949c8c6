"""The category registry and the JSON Schemas of a vault (docs/format.md §3-4).

A vault's `schemas/` holds `categories.yaml`, `common.json`, one schema per category and
`vault.schema.json`. Validation uses jsonschema-rs (compiled, ~60x faster than jsonschema);
`jsonschema` itself is imported only to check schemas against the metaschema (DG114).

Sensitive properties carry `"x-sensitive": true`. At rest a sensitive value is SOPS
ciphertext, so there are two views of each schema: the plaintext one (used when writing,
and when a key is at hand) and the at-rest one, where every sensitive property accepts an
`ENC[...]` string (or a list/mapping of them) instead of its plaintext schema.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan import __version__
from dangan.formats import terminal
from dangan.i18n import N_, Message
from dangan.model.codes import LEVELS

BASE_URI = "https://dangan.invalid/schemas/"
ENC_PATTERN = (
    r"^ENC\[AES256_GCM,data:[A-Za-z0-9+/]*={0,2},iv:[A-Za-z0-9+/]+={0,2},"
    r"tag:[A-Za-z0-9+/]+={0,2},type:str\]$"
)
# a hidden value of a secret record may be a number or a boolean: sops keeps its type
ENC_ANY_PATTERN = ENC_PATTERN.replace("type:str", "type:(str|int|float|bool)")
# Confidentiality levels (密級, docs/format.md §3a), from the least to the most restricted
CONFIDENTIALITY = ("public", "internal", "secret")
DEFAULT_LEVEL = "internal"
SECRET_MASK = "‹secret›"  # what listings show for a hidden value of a secret record
# What a secret record keeps in clear besides its date fields: what the vault needs to file,
# keep, lend, count and dispose of it without a key. Every other field is encrypted.
STRUCTURAL = frozenset({"code", "category", "level", "status", "opened", "closed", "custody",
                        "received", "refs", "retention", "attachments"})
# the ledgers the vault's own rules read without a key (loans DG111, disposals and holds
# DG112, appraisals, handovers, inventories): their records cannot be secret
NEVER_SECRET = frozenset({"JY", "XH", "BQ", "JD", "YJ", "PD"})
_DATE_DEFS = ("/$defs/date", "/$defs/datetime", "/$defs/month")
# the characters the schemas' text patterns refuse (common.json `line`, `staff`, `text`,
# `email`): what formats.terminal escapes on output, as a JSON Schema class body
UNSAFE_CLASS = "\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069"
TEXT_CLASS = "\\u0000-\\u0008\\u000b-\\u001f" + UNSAFE_CLASS  # free text: \t and \n pass
_ENC_LEAF = {"anyOf": [{"type": "string", "pattern": ENC_PATTERN}, {"const": ""}]}
_ENC_VALUE = {
    "anyOf": [
        _ENC_LEAF,
        {"type": "array", "items": {"$ref": "#/$defs/__enc"}},
        {"type": "object", "additionalProperties": {"$ref": "#/$defs/__enc"}},
    ]
}
# a hidden field of a secret record at rest: ciphertext of any type sops writes, empty, null
# (sops leaves both as they are), or a list/mapping of those
_HIDDEN_VALUE = {
    "anyOf": [
        {"type": "string", "pattern": ENC_ANY_PATTERN}, {"const": ""}, {"type": "null"},
        {"type": "array", "items": {"$ref": "#/$defs/__hidden"}},
        {"type": "object", "additionalProperties": {"$ref": "#/$defs/__hidden"}},
    ]
}


class SchemaError(Exception):
    """A schema or the registry is unusable (DG114). `path` names the file."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Category:
    """A category of records (schemas/categories.yaml): its names, class, levels and schema."""

    code: str
    zh: str
    en: str
    klass: str
    levels: tuple[str, ...]
    schema: str
    # the confidentiality level of its records that do not say (categories.yaml `confidentiality`)
    default_level: str = DEFAULT_LEVEL
    # the names of its sensitive fields, worked out on first use (walking every schema
    # costs a hook ~20 ms; it needs the categories of the staged records only)
    names: Callable[[str], frozenset[str]] = field(default=lambda schema: frozenset(), repr=False, compare=False)

    @property
    def sensitive(self) -> frozenset[str]:
        return self.names(self.schema)

    @property
    def hidden(self) -> frozenset[str]:
        """The top-level fields a secret record encrypts (docs/format.md §3a)."""
        return self.names("hidden:" + self.schema)

    def level_of(self, tree: Any) -> str:
        """A record's confidentiality level: its `level`, else the category's default. An
        unknown value counts as secret, the safest reading (the schema refuses it anyway)."""
        level = tree.get("level") if isinstance(tree, dict) else None
        if level is None:
            return self.default_level
        return level if level in CONFIDENTIALITY else "secret"

    def visible(self, tree: Any) -> Any:
        """What reports may read of a stored record without its key: a secret record
        without its hidden fields (even one wrongly left in clear); any other as it is.
        A reader of some fields must have read `level` too."""
        if not isinstance(tree, dict) or self.level_of(tree) != "secret":
            return tree
        hidden = self.hidden
        return {k: v for k, v in tree.items() if k not in hidden}

    def names_of(self, tree: Any) -> frozenset[str]:
        """The key names a stored or plaintext record encrypts, by its level."""
        return self.names_for(self.level_of(tree))

    def names_for(self, level: str) -> frozenset[str]:
        """The key names encrypted in a record at `level`: the sensitive ones, and for a
        secret record every hidden field too."""
        return self.sensitive | self.hidden if level == "secret" else self.sensitive


@dataclass(frozen=True)
class SchemaProblem:
    """What makes a file of schemas/ unusable (DG114): the file and the reason."""

    path: str
    message: str


class SchemaSet:
    """All schemas of one vault, loaded once; validators compiled on first use.

    Built from the files of `schemas/` (name -> bytes), so that the same code serves the
    work tree, the index and any commit (the server-side hook has no work tree).
    """

    def __init__(self, files: dict[str, bytes] | Path | None) -> None:
        if isinstance(files, Path):  # a schemas/ directory
            files = _read_dir(files)
        self.problems: list[SchemaProblem] = []
        self.documents: dict[str, dict[str, Any]] = {}  # file name -> schema
        self.categories: dict[str, Category] = {}
        self.classes: dict[str, dict[str, str]] = {}
        self._validators: dict[tuple[str, bool], Any] = {}
        self._load(files)

    @classmethod
    def from_dir(cls, directory: Path) -> SchemaSet:
        return cls(_read_dir(directory))

    # ------------------------------------------------------------------ loading
    def _load(self, files: dict[str, bytes] | None) -> None:
        from dangan.formats.yamlio import YamlError, decode, load_text

        digest = hashlib.sha256(__version__.encode())
        self.fingerprint = digest.hexdigest()
        if files is None:
            self.problems.append(SchemaProblem("schemas/", "missing schemas directory"))
            return
        for name in sorted(files):
            raw = files[name]
            digest.update(name.encode() + b"\0" + raw + b"\0")
            if not name.endswith(".json"):
                continue
            try:
                doc = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                self.problems.append(SchemaProblem(f"schemas/{name}", f"not JSON: {_short(str(exc))}"))
                continue
            if not isinstance(doc, dict):
                self.problems.append(SchemaProblem(f"schemas/{name}", "not a JSON object"))
                continue
            self.documents[name] = doc
        self.fingerprint = digest.hexdigest()
        try:
            registry = load_text(decode(files["categories.yaml"]))
        except KeyError:
            self.problems.append(SchemaProblem("schemas/categories.yaml", "missing"))
            registry = {}
        except YamlError as exc:
            self.problems.append(SchemaProblem("schemas/categories.yaml", str(exc)))
            registry = {}
        self._load_registry(registry)

    def _load_registry(self, registry: dict[str, Any]) -> None:
        where = "schemas/categories.yaml"
        self.classes = registry.get("classes") or {}
        entries = registry.get("categories")
        if not isinstance(entries, dict):
            if registry:
                self.problems.append(SchemaProblem(where, "`categories` must be a mapping"))
            return
        for code, entry in entries.items():
            if not (isinstance(code, str) and len(code) == 2 and code.isascii() and code.isupper()):
                self.problems.append(SchemaProblem(where, f"category {code!r} is not two letters A-Z"))
                continue
            if not isinstance(entry, dict):
                self.problems.append(SchemaProblem(where, f"{code}: entry must be a mapping"))
                continue
            levels = tuple(entry.get("levels") or ())
            bad = [lv for lv in levels if lv not in LEVELS]
            schema = entry.get("schema", f"{code}.json")
            if bad or not levels:
                self.problems.append(SchemaProblem(where, f"{code}: levels must be among {', '.join(LEVELS)}"))
                continue
            if schema not in self.documents:
                self.problems.append(SchemaProblem(where, f"{code}: schema file {schema} not found"))
                continue
            default_level = entry.get("confidentiality", DEFAULT_LEVEL)
            if default_level not in CONFIDENTIALITY:
                self.problems.append(SchemaProblem(
                    where, f"{code}: confidentiality must be one of {', '.join(CONFIDENTIALITY)}"))
                default_level = "secret"
            self.categories[code] = Category(
                code=code,
                zh=str(entry.get("zh", "")),
                en=str(entry.get("en", "")),
                klass=str(entry.get("class", "")),
                levels=levels,
                schema=schema,
                default_level=default_level,
                names=self._sensitive,
            )

    # -------------------------------------------------------------- sensitivity
    def _resolve(self, ref: str, current: str,
                 documents: dict[str, dict[str, Any]] | None = None) -> tuple[str, Any]:
        target, _, pointer = ref.partition("#")
        doc_name = target.rsplit("/", 1)[-1] if target else current
        node: Any = (self.documents if documents is None else documents).get(doc_name)
        if node is None:
            raise SchemaError(f"schemas/{current}", f"$ref {ref!r} names an unknown schema")
        for part in [p for p in pointer.split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaError(f"schemas/{current}", f"$ref {ref!r} does not resolve")
            node = node[part]
        return doc_name, node

    def _walk_properties(self, doc_name: str) -> Iterator[tuple[str, bool]]:
        """Every (property name, sensitive?) reachable from a schema, following $refs."""
        seen: set[int] = set()
        stack: list[tuple[str, Any]] = [(doc_name, self.documents[doc_name])]
        while stack:
            current, node = stack.pop()
            if isinstance(node, list):
                stack.extend((current, item) for item in node)
                continue
            if not isinstance(node, dict) or id(node) in seen:
                continue
            seen.add(id(node))
            ref = node.get("$ref")
            if isinstance(ref, str):
                stack.append(self._resolve(ref, current))
            for name, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict):
                    yield name, sub.get("x-sensitive") is True
            for key, value in node.items():
                if key in ("$defs", "const", "enum", "examples", "default"):
                    continue  # $defs are reached through $ref only; values are not schemas
                if isinstance(value, (dict, list)):
                    stack.append((current, value))

    def _root_nodes(self, doc_name: str, documents: dict[str, dict[str, Any]] | None = None,
                    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every schema node that applies to the record itself (not to a value inside it):
        the category schema's root, and what it reaches through $ref, allOf, anyOf, oneOf,
        if, then, else and dependentSchemas."""
        documents = self.documents if documents is None else documents
        seen: set[int] = set()
        stack: list[tuple[str, Any]] = [(doc_name, documents[doc_name])]
        while stack:
            current, node = stack.pop()
            if not isinstance(node, dict) or id(node) in seen:
                continue
            seen.add(id(node))
            yield current, node
            ref = node.get("$ref")
            if isinstance(ref, str):
                stack.append(self._resolve(ref, current, documents))
            for key in ("allOf", "anyOf", "oneOf"):
                stack.extend((current, sub) for sub in node.get(key) or [] if isinstance(sub, dict))
            for key in ("if", "then", "else"):
                stack.append((current, node.get(key)))
            stack.extend((current, sub) for sub in (node.get("dependentSchemas") or {}).values())

    def _hidden_names(self, doc_name: str) -> frozenset[str]:
        """The top-level fields of a category a secret record encrypts: all but the
        structural ones and the dates (docs/format.md §3a)."""
        fields: dict[str, bool] = {}
        for _current, node in self._root_nodes(doc_name):
            for name, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict):
                    fields[name] = fields.get(name, False) or _is_date(sub)
        return frozenset(n for n, is_date in fields.items() if n not in STRUCTURAL and not is_date)

    def _sensitive(self, doc_name: str) -> frozenset[str]:
        """The sensitive names of a category's schema, worked out once; a schema that uses
        a name both ways is a problem (DG114) and protects nothing by name. `hidden:NAME`
        asks for the fields a secret record of that schema hides."""
        known = self.__dict__.setdefault("_sensitive_by_schema", {})
        if doc_name.startswith("hidden:") and doc_name not in known:
            try:
                known[doc_name] = self._hidden_names(doc_name.removeprefix("hidden:"))
            except SchemaError as exc:
                self.problems.append(SchemaProblem(exc.path, exc.message))
                known[doc_name] = frozenset()
        if doc_name not in known:
            try:
                known[doc_name] = frozenset(self._sensitive_names(doc_name))
            except SchemaError as exc:
                self.problems.append(SchemaProblem(f"schemas/{doc_name}", exc.message))
                known[doc_name] = frozenset()
        return known[doc_name]

    def _sensitive_names(self, doc_name: str) -> set[str]:
        sensitive: set[str] = set()
        clear: set[str] = set()
        for name, is_sensitive in self._walk_properties(doc_name):
            (sensitive if is_sensitive else clear).add(name)
        both = sensitive & clear
        if both:
            raise SchemaError(
                f"schemas/{doc_name}",
                f"property name(s) {', '.join(sorted(both))} used both sensitive and clear; "
                "encryption is by key name, so rename one of them",
            )
        return sensitive

    # --------------------------------------------------------------- validation
    def category(self, code: str) -> Category | None:
        return self.categories.get(code)

    def validator(self, category: str, at_rest: bool | str = False) -> Any:
        """The compiled validator of a category: the plaintext view, the at-rest view
        (`at_rest=True`), or the at-rest view of a secret record (`at_rest="secret"`)."""
        key = (category, at_rest)
        if key not in self._validators:
            import jsonschema_rs

            needed = self._referenced(self.categories[category].schema)
            if at_rest == "secret":
                view = self._secret_view(category, needed).__getitem__
            else:
                view = self._at_rest if at_rest else self.documents.__getitem__
            resources = [(BASE_URI + name, view(name)) for name in sorted(needed) if name in self.documents]
            registry = jsonschema_rs.Registry(resources)
            schema = view(self.categories[category].schema)
            self._validators[key] = jsonschema_rs.Draft202012Validator(
                schema, registry=registry, validate_formats=True, base_uri=BASE_URI
                + self.categories[category].schema,
            )
        return self._validators[key]

    def _referenced(self, name: str) -> set[str]:
        """`name` and every schema file it reaches by $ref (registering only these keeps
        a hook's validator cheap to build)."""
        seen = {name}
        stack = [self.documents.get(name)]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str):
                    target = ref.split("#", 1)[0].rsplit("/", 1)[-1]
                    if target and target not in seen and target in self.documents:
                        seen.add(target)
                        stack.append(self.documents[target])
                stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
            elif isinstance(node, list):
                stack.extend(v for v in node if isinstance(v, (dict, list)))
        return seen

    def _secret_view(self, category: str, needed: set[str]) -> dict[str, dict[str, Any]]:
        """The at-rest view of a secret record's schema files: every hidden field of the
        record accepts ciphertext of any type; a condition on a hidden field cannot be
        judged without the key, so it is dropped (its `then` and `else` with it), and a
        `oneOf` at the record's level becomes an `anyOf` (ciphertext may match several
        branches). With a key, `check` validates the plaintext against the full schema."""
        docs = {name: copy.deepcopy(self._at_rest(name)) for name in needed if name in self.documents}
        hidden = self.categories[category].hidden
        for _current, node in self._root_nodes(self.categories[category].schema, docs):
            condition = node.get("if")
            if isinstance(condition, dict) and _mentions_any(condition, hidden):
                for key in ("if", "then", "else"):
                    node.pop(key, None)
            if "oneOf" in node:
                branches = node.pop("oneOf")
                if "anyOf" in node:
                    node.setdefault("allOf", []).append({"anyOf": branches})
                else:
                    node["anyOf"] = branches
            props = node.get("properties")
            if isinstance(props, dict):
                for name in hidden.intersection(props):
                    props[name] = {"$ref": "#/$defs/__hidden"}
        for doc in docs.values():
            doc.setdefault("$defs", {})["__hidden"] = copy.deepcopy(_HIDDEN_VALUE)
        return docs

    def errors(self, category: str, record: dict[str, Any], at_rest: bool | str = False) -> list[tuple[str, str]]:
        """(JSON path, reason) for each schema violation of a plain record tree."""
        validator = self.validator(category, at_rest)
        if validator.is_valid(record):  # the common case, without building error objects
            return []
        names = self.categories[category].sensitive
        found = []
        for error in validator.iter_errors(record):
            parts = [str(p) for p in error.instance_path]
            message = _unsafe_text(error) or (
                _redacted(error) if names.intersection(parts) else reason(_short(error.message)))
            found.append(("/" + "/".join(parts), message))
        return found

    def _at_rest(self, name: str) -> dict[str, Any]:
        """The at-rest view of one schema file, made on first use (a hook needs two or three)."""
        views = self.__dict__.setdefault("_at_rest_views", {})
        if name not in views:
            views[name] = _enc_view(self.documents[name])
        return views[name]

    def _at_rest_documents(self) -> dict[str, dict[str, Any]]:
        return {name: self._at_rest(name) for name in self.documents}

    def validate_schemas(self) -> list[SchemaProblem]:
        """DG114: registry problems plus the metaschema error of every schema file.

        jsonschema-rs checks against the Draft 2020-12 metaschema in microseconds (the
        pure-Python jsonschema took ~0.5 s for the standard set, too slow for a hook).
        """
        import jsonschema_rs

        for category in self.categories.values():
            category.sensitive  # noqa: B018 - works out every category's names: their problems
        problems = list(self.problems)
        for name, doc in sorted(self.documents.items()):
            try:
                jsonschema_rs.meta.validate(doc)
            except jsonschema_rs.ValidationError as error:
                where = "/".join(str(p) for p in error.instance_path) or "(root)"
                problems.append(SchemaProblem(f"schemas/{name}", f"{where}: {_short(error.message)}"))
            except jsonschema_rs.ReferencingError as error:
                problems.append(SchemaProblem(f"schemas/{name}", _short(str(error))))
        return problems


def _unsafe_text(error: Any) -> str | None:
    """The message of a value that fails a pattern because of a character a terminal would
    act on (common.json `line`, `text`, ...: docs/format.md §4.4): it names the first such
    character by its code point, never the value (which may be sensitive), or None when the
    pattern failed for another reason."""
    pattern = getattr(error.kind, "pattern", None)
    if not isinstance(pattern, str) or UNSAFE_CLASS not in pattern or not isinstance(error.instance, str):
        return None
    text = TEXT_CLASS in pattern
    at = terminal.first_unsafe(error.instance, lines=text)
    if at is None:
        return None
    allowed = Message("only line feeds and tabs") if text else Message("none")
    return Message("holds U+{point} at character {at}: a control character, line separator or "
                   "bidirectional override (this field allows {allowed})",
                   point=f"{ord(error.instance[at]):04X}", at=at + 1, allowed=allowed)


def _redacted(error: Any) -> str:
    """A schema error under a sensitive name, without the value (it may be plaintext)."""
    kind = error.kind
    name = type(kind).__name__
    keyword = name[0].lower() + name[1:]
    detail = ""
    for attr in ("pattern", "format", "limit", "types"):
        if hasattr(kind, attr):
            detail = f" {getattr(kind, attr)}"
            break
    return Message("the value (not shown: sensitive) fails `{keyword}`{detail}", keyword=keyword, detail=detail)


def _read_dir(directory: Path) -> dict[str, bytes] | None:
    if not directory.is_dir():
        return None
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


# The reasons JSON Schema gives (jsonschema-rs's English), as templates with named values so
# that they can be shown in the interface language (docs/decisions.md "Interface languages"):
# each pattern matches a whole message, and its template formats the parts back into the very
# same English. A reason of another shape (or one cut short) stays as it is. Compiled on the
# first error (`_reasons`): a hook whose record is valid needs none (~2.5 ms).
_REASONS = [(pattern, template) for pattern, template in (
    (r'(?P<value>.*) is not one of (?P<options>.*) or (?P<more>\d+) other candidates',
     N_("{value} is not one of {options} or {more} other candidates")),
    (r'(?P<value>.*) is not one of (?P<options>.*) or (?P<last>"[^"]*"|[^ ]+)',
     N_("{value} is not one of {options} or {last}")),
    (r'(?P<value>.*) is not one of (?P<options>.*)', N_("{value} is not one of {options}")),
    (r'(?P<name>.*) is a required property', N_("{name} is a required property")),
    (r"Additional properties are not allowed \((?P<names>.*) was unexpected\)",
     N_("Additional properties are not allowed ({names} was unexpected)")),
    (r"Additional properties are not allowed \((?P<names>.*) were unexpected\)",
     N_("Additional properties are not allowed ({names} were unexpected)")),
    (r"Unevaluated properties are not allowed \((?P<names>.*) was unexpected\)",
     N_("Unevaluated properties are not allowed ({names} was unexpected)")),
    (r"Unevaluated properties are not allowed \((?P<names>.*) were unexpected\)",
     N_("Unevaluated properties are not allowed ({names} were unexpected)")),
    (r'(?P<value>.*) is not of type (?P<type>"[^"]*")', N_("{value} is not of type {type}")),
    (r'(?P<value>.*) is not of types (?P<types>.*)', N_("{value} is not of types {types}")),
    (r'(?P<value>.*) is not a (?P<format>"[^"]*")', N_("{value} is not a {format}")),
    (r'(?P<value>.*) does not match (?P<pattern>".*")', N_("{value} does not match {pattern}")),
    (r'(?P<value>.*) is shorter than (?P<limit>\d+) characters?',
     N_("{value} is shorter than {limit} characters")),
    (r'(?P<value>.*) is longer than (?P<limit>\d+) characters?',
     N_("{value} is longer than {limit} characters")),
    (r'(?P<value>.*) is less than the minimum of (?P<limit>.*)', N_("{value} is less than the minimum of {limit}")),
    (r'(?P<value>.*) is greater than the maximum of (?P<limit>.*)',
     N_("{value} is greater than the maximum of {limit}")),
    (r'(?P<value>.*) has less than (?P<limit>\d+) items?', N_("{value} has less than {limit} items")),
    (r'(?P<value>.*) has more than (?P<limit>\d+) items?', N_("{value} has more than {limit} items")),
    (r'(?P<value>.*) was expected', N_("{value} was expected")),
    (r"(?P<value>.*) is not valid under any of the schemas listed in the 'anyOf' keyword",
     N_("{value} is not valid under any of the schemas listed in the 'anyOf' keyword")),
    (r"(?P<value>.*) is not valid under any of the schemas listed in the 'oneOf' keyword",
     N_("{value} is not valid under any of the schemas listed in the 'oneOf' keyword")),
    (r"(?P<value>.*) is valid under more than one of the schemas listed in the 'oneOf' keyword",
     N_("{value} is valid under more than one of the schemas listed in the 'oneOf' keyword")),
)]


@functools.cache
def _reasons() -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(pattern, re.S), template) for pattern, template in _REASONS]


def reason(text: str) -> str:
    """A schema error's reason as an `i18n.Message` whose English is `text` itself, when it
    has one of the known shapes; else `text`."""
    for pattern, template in _reasons():
        found = pattern.fullmatch(text)
        if found is not None:
            message = Message(template, **found.groupdict())
            if message == text:  # a singular (`1 character`) is not the template's plural
                return message
    return text


def _short(message: str, limit: int = 200) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _is_date(node: dict[str, Any]) -> bool:
    """A property schema that is a date, a timestamp or a month (or one of those or null)."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.endswith(_DATE_DEFS):
        return True
    if node.get("format") in ("date", "date-time"):
        return True
    branches = [b for b in node.get("anyOf") or node.get("oneOf") or [] if isinstance(b, dict)]
    return bool(branches) and any(_is_date(b) for b in branches) and all(
        _is_date(b) or b.get("type") == "null" for b in branches)


def _mentions_any(node: Any, names: frozenset[str]) -> bool:
    """A condition that reads one of `names` (in its properties or required)."""
    if isinstance(node, list):
        return any(_mentions_any(item, names) for item in node)
    if not isinstance(node, dict):
        return False
    if names.intersection(node.get("properties") or {}) or names.intersection(node.get("required") or []):
        return True
    return any(_mentions_any(v, names) for k, v in node.items() if k not in ("properties", "required"))


def _enc_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a schema where each sensitive property accepts only SOPS ciphertext."""
    view = copy.deepcopy(doc)

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        props = node.get("properties")
        if isinstance(props, dict):
            for name, sub in list(props.items()):
                if isinstance(sub, dict) and sub.get("x-sensitive") is True:
                    props[name] = {"$ref": "#/$defs/__enc", "x-sensitive": True}
        for key, value in node.items():
            if key not in ("const", "enum", "examples", "default"):
                visit(value)

    visit(view)
    view.setdefault("$defs", {})["__enc"] = copy.deepcopy(_ENC_VALUE)
    return view


_ENC_RE: Any = None


def is_enc(value: Any) -> bool:
    global _ENC_RE
    if _ENC_RE is None:
        import re

        _ENC_RE = re.compile(ENC_ANY_PATTERN)
    return isinstance(value, str) and _ENC_RE.fullmatch(value) is not None


def sensitive_leaves(tree: Any, names: frozenset[str], path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, value) of every leaf under a sensitive key name (the SOPS rule, by name).

    A list built by plain recursion: `check` calls this for every record, and chains of
    generators cost several times more than the walk itself."""
    out: list[tuple[tuple[str, ...], Any]] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in names:
                _leaves_into(value, path + (key,), out)
            elif isinstance(value, (dict, list)):
                if path == () and key == "sops":
                    continue
                _sensitive_into(value, names, path + (key,), out)
    else:
        _sensitive_into(tree, names, path, out)
    return out


def _sensitive_into(tree: Any, names: frozenset[str], path: tuple[str, ...],
                    out: list[tuple[tuple[str, ...], Any]]) -> None:
    """sensitive_leaves below the top, appended to `out` (no list per level)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in names:
                _leaves_into(value, path + (key,), out)
            elif isinstance(value, (dict, list)):
                _sensitive_into(value, names, path + (key,), out)
    elif isinstance(tree, list):
        for i, item in enumerate(tree):
            if isinstance(item, (dict, list)):
                _sensitive_into(item, names, path + (str(i),), out)


def _leaves_into(tree: Any, path: tuple[str, ...], out: list[tuple[tuple[str, ...], Any]]) -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            _leaves_into(value, path + (key,), out)
    elif isinstance(tree, list):
        for i, item in enumerate(tree):
            _leaves_into(item, path + (str(i),), out)
    else:
        out.append((path, tree))
