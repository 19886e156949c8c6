"""Records: allocating codes, building and changing field trees, validating them.

Functions here take a Vault and plain arguments and return results; they never print.
"""
from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dangan.errors import DanganError, RecordError
from dangan.formats import fielddoc
from dangan.formats.schemas import BASE_URI, NEVER_SECRET, SECRET_MASK, SchemaSet
from dangan.formats.yamlio import (
    MAX_INT_DIGITS,
    YamlError,
    decode,
    dump,
    int_ok,
    load_roundtrip,
    load_text,
    to_plain,
    value_problem,
)
from dangan.i18n import Message, _
from dangan.i18n import shown as in_language
from dangan.model import handover as handovers
from dangan.model.codes import Code, Location, next_serial, parse_code
from dangan.model.threeway import conflict_hint, conflict_refusal
from dangan.store import sealing
from dangan.store.vault import RECORDS, Vault

COMMON_ORDER = ("code", "category", "level", "title", "status", "opened", "closed")
DISPOSAL = "XH"


@dataclass(frozen=True)
class Written:
    code: Code
    path: str
    commit: str | None


# ------------------------------------------------------------------ allocation

def check_category(vault: Vault, category: str, location: Location) -> None:
    cat = vault.schemas.category(category)
    if cat is None:
        known = ", ".join(sorted(vault.schemas.categories))
        raise DanganError(_("unknown category {category}").format(category=repr(category)),
                          _("known categories: {categories}").format(categories=known))
    if location.level not in cat.levels:
        raise DanganError(
            _("{category} ({name}) is not filed at the {level} level").format(
                category=category, name=cat.en, level=location.level),
            _("allowed levels: {levels}").format(levels=", ".join(cat.levels)),
        )


def destroyed_codes(vault: Vault) -> set[str]:
    """Every code listed in a disposal certificate (never to be reused)."""
    codes: set[str] = set()
    base = vault.root / RECORDS / DISPOSAL
    if not base.is_dir():
        return codes
    for path in sorted(base.glob(f"{DISPOSAL}-*.yaml")):
        try:
            tree = load_text(decode(path.read_bytes()))
        except YamlError:
            continue  # a broken certificate is reported by check (DG101)
        for item in tree.get("items") or []:
            if isinstance(item, dict) and isinstance(item.get("code"), str):
                codes.add(item["code"])
    return codes


def handed_over_codes(vault: Vault) -> set[str]:
    """Every code a handover (YJ, status handed_over) in the work tree lists: records this
    company gave away, which exist elsewhere (never reused, DG108 accepts a reference)."""
    base = vault.root / RECORDS / handovers.CATEGORY
    if not base.is_dir():
        return set()
    trees = []
    for path in sorted(base.glob(f"{handovers.CATEGORY}-*.yaml")):
        try:
            trees.append(load_text(decode(path.read_bytes())))
        except (OSError, YamlError):
            continue  # check reports it (DG101)
    return handovers.handed_over_codes(trees)


def allocate(vault: Vault, category: str, location: Location) -> Code:
    """The next code: 1 + the largest serial used in the work tree or any certificate."""
    check_category(vault, category, location)
    first = Code(category, location, 1)
    vault.refuse_outside(first.path, f"{category} at {location or 'the company level'}")
    used: set[int] = set()
    folder = vault.root / first.path.rsplit("/", 1)[0]
    if folder.is_dir():
        for path in folder.glob(f"{category}-*.yaml"):
            try:
                code = parse_code(path.name[: -len(".yaml")])
            except DanganError:
                continue
            if code.category == category and code.location == location:
                used.add(code.serial)
    for text in destroyed_codes(vault) | handed_over_codes(vault):
        try:
            code = parse_code(text)
        except DanganError:
            continue
        if code.category == category and code.location == location:
            used.add(code.serial)
    return Code(category, location, next_serial(used))


# ------------------------------------------------------------- typed --set values

def _schema_nodes(schemas: SchemaSet, node: Any, doc: str) -> list[tuple[str, dict[str, Any]]]:
    """`node` and every schema it composes with ($ref, allOf/anyOf/oneOf, then/else)."""
    found: list[tuple[str, dict[str, Any]]] = []
    stack = [(doc, node)]
    seen: set[int] = set()
    while stack:
        current, item = stack.pop()
        if not isinstance(item, dict) or id(item) in seen:
            continue
        seen.add(id(item))
        found.append((current, item))
        ref = item.get("$ref")
        if isinstance(ref, str):
            stack.append(schemas._resolve(ref.replace(BASE_URI, ""), current))
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in item.get(key) or []:
                stack.append((current, sub))
        for key in ("then", "else"):
            if isinstance(item.get(key), dict):
                stack.append((current, item[key]))
    return found


def field_schemas(schemas: SchemaSet, category: str, dotted: str) -> list[dict[str, Any]]:
    """The schemas that may apply to a dotted field path (`owners.0.phone`)."""
    doc = schemas.categories[category].schema
    level: list[tuple[str, Any]] = [(doc, schemas.documents[doc])]
    for part in dotted.split("."):
        nxt: list[tuple[str, Any]] = []
        for current, node in level:
            for where, sub in _schema_nodes(schemas, node, current):
                if part.isdigit() and isinstance(sub.get("items"), dict):
                    nxt.append((where, sub["items"]))
                props = sub.get("properties") or {}
                if part in props:
                    nxt.append((where, props[part]))
        level = nxt
    return [sub for current, node in level for _, sub in _schema_nodes(schemas, node, current)]


def coerce(schemas: SchemaSet, category: str, dotted: str, raw: str) -> Any:
    """A command-line string typed by the schema: a phone number stays a string.

    When a field allows a string and another type (a maintenance interval in days or as
    an ISO duration), the string is kept only if a string alternative accepts it.
    """
    types: set[str] = set()
    strings: list[dict[str, Any]] = []
    for sub in field_schemas(schemas, category, dotted):
        kind = sub.get("type")
        kinds = [kind] if isinstance(kind, str) else list(kind or [])
        types.update(kinds)
        if "string" in kinds:
            strings.append(sub)
    if not types or ("string" in types and (types == {"string"} or any(_accepts(s, raw) for s in strings))):
        return raw
    if "integer" in types or "number" in types:
        digits = raw.strip().lstrip("+-")
        if len(digits) > MAX_INT_DIGITS and digits.isdigit():
            # int() would refuse more than 4300 digits, and a record holds at most 640
            if "string" in types:
                return raw
            raise DanganError(_("{field}: a number of more than {digits} digits").format(
                field=dotted, digits=MAX_INT_DIGITS),
                _("records hold integers of at most {digits} digits").format(digits=MAX_INT_DIGITS))
        try:
            value = int(raw)
            if int_ok(value):
                return value
        except ValueError:
            if "number" in types:
                try:
                    value = float(raw)
                    if value == value and value not in (float("inf"), float("-inf")):
                        return value
                except ValueError:
                    pass
        if "string" in types:
            return raw
        raise DanganError(_("{field}={value}: not a number").format(field=dotted, value=_shown(raw)))
    if "boolean" in types:
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if "string" in types:
            return raw
        raise DanganError(_("{field}={value}: expected true or false").format(field=dotted, value=_shown(raw)))
    if "array" in types or "object" in types:
        try:
            value = json.loads(raw)
        except ValueError:
            if "array" in types:
                return [part.strip() for part in raw.split(",") if part.strip()]
            if "string" in types:
                return raw
            raise DanganError(_("{field}: give a JSON object, e.g. {example}").format(
                field=dotted, example="'{\"key\": \"value\"}'")) from None
        return value
    return raw


def _shown(raw: str) -> str:
    """A command-line value quoted for a message, cut short: it may be megabytes long."""
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")


def _accepts(schema: dict[str, Any], raw: str) -> bool:
    """Would this string schema (pattern, enum, const, format) take `raw`?"""
    import re

    if "enum" in schema and raw not in schema["enum"]:
        return False
    if "const" in schema and raw != schema["const"]:
        return False
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            return re.search(pattern, raw) is not None
        except re.error:
            return True
    return True


def parse_assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise DanganError(_("{text} is not KEY=VALUE").format(text=repr(text)),
                          _("example: --set title=1號樓電梯"))
    if any(not part for part in key.split(".")):
        raise DanganError(_("{key} is not a field path").format(key=repr(key)),
                          _("use dotted keys like owners.0.phone"))
    return key, value


def set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt_is_index = not last and parts[i + 1].isdigit()
        if isinstance(node, list):
            if not part.isdigit() or int(part) > len(node):
                raise DanganError(_("{field}: {part} is not an index of a list of {count}").format(
                    field=dotted, part=repr(part), count=len(node)))
            index = int(part)
            if index == len(node):
                node.append([] if nxt_is_index else {})
            if last:
                node[index] = value
            else:
                if not isinstance(node[index], (dict, list)):
                    raise DanganError(_("{field}: {part} is not a mapping").format(
                        field=dotted, part=".".join(parts[:i + 1])))
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if part not in node or node[part] is None:
                    node[part] = [] if nxt_is_index else {}
                if not isinstance(node[part], (dict, list)):
                    raise DanganError(_("{field}: {part} is not a mapping").format(
                        field=dotted, part=".".join(parts[:i + 1])))
                node = node[part]
        else:
            raise DanganError(_("{field}: cannot set inside a plain value").format(field=dotted))


def unset_path(tree: dict[str, Any], dotted: str) -> None:
    parts = dotted.split(".")
    node: Any = tree
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise DanganError(_("--unset {field}: no such field").format(field=dotted))
    last = parts[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        del node[int(last)]
    else:
        raise DanganError(_("--unset {field}: no such field").format(field=dotted))
    if last in ("code", "category"):
        raise DanganError(_("--unset {field}: the code and category of a record are fixed").format(field=last))


# ----------------------------------------------------------------- validation

def order_fields(tree: dict[str, Any]) -> dict[str, Any]:
    """Common fields first, in the documented order; the rest as given."""
    ordered = {key: tree[key] for key in COMMON_ORDER if key in tree}
    ordered.update((k, v) for k, v in tree.items() if k not in ordered)
    return ordered


def validation_errors(vault: Vault, category: str, tree: dict[str, Any]) -> list[str]:
    """Plaintext schema errors, each `path: reason`, for a record about to be written."""
    return [Message("{path}: {reason}", path=path, reason=reason) for path, reason in vault.schemas.errors(category, tree)]


def sensitive_names(vault: Vault, category: str) -> frozenset[str]:
    return vault.schemas.categories[category].sensitive


def prepare(vault: Vault, code: Code, tree: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate a plaintext record and return the document to write (sealed if needed).

    Bad input is exit 2 and nothing is written. `previous` is the stored document being
    replaced: its data key and unchanged ciphertexts are kept.
    """
    tree = order_fields(tree)
    if tree.get("code") != str(code):
        raise RecordError(_("{code}: the code field must be {code}").format(code=code))
    if tree.get("category") != code.category:
        raise RecordError(_("{code}: the category field must be {category}").format(code=code, category=code.category))
    if "sops" in tree:
        raise RecordError(_("{code}: `sops` is reserved for the encryption metadata").format(code=code))
    problem = value_problem(tree)  # what no reader would take back (DG101): never written
    if problem is not None:
        raise RecordError(_("{code} is not valid: {errors}").format(code=code, errors=in_language(problem)),
                          _("nothing was written; fix the fields and retry"))
    category = vault.schemas.categories[code.category]
    level = category.level_of(tree)
    recipients = level_recipients(vault, code, level)  # who may read it: refused first
    invalid = validation_errors(vault, code.category, tree)
    errors = invalid + missing_refs(vault, tree)
    if not invalid:  # a valid record: what the rules add to its schema (a notice's scope)
        from dangan.rules.domain import record_problems

        errors += record_problems(code.category, tree)
    if errors:
        shown = _("; ").join(in_language(e) for e in errors[:5]) + (_("; and {n} more").format(n=len(errors) - 5) if len(errors) > 5 else "")
        hint = _("nothing was written; fix the fields and retry")
        if invalid:  # the first field concerned, and where it is explained (issue 24)
            hint += "; " + fielddoc.error_hint(vault.schemas, code.category, fielddoc.hinted(invalid))
        raise RecordError(_("{code} is not valid: {errors}").format(code=code, errors=shown), hint)
    names = category.names_for(level)
    if recipients and vault.epochs is not None and sealing.has_clear_sensitive(tree, names):
        # an epoch vault: sealed to the record's epoch alone (docs/shredding.md §2)
        recipients = [vault.epoch_key(code.category, level, tree, recipients, previous)]
    return sealing.seal(
        code,
        tree,
        names,
        recipients,
        previous,
        vault.keyring,
    )


def level_recipients(vault: Vault, code: Code, level: str) -> list[str]:
    """The recipients of a record at `level`; a secret record that nobody could read, or
    that belongs to a ledger the rules read, is refused (exit 2, nothing written)."""
    if level == "secret":
        if code.category in NEVER_SECRET:
            raise RecordError(_("{code}: {category} records cannot be secret").format(code=code, category=code.category),
                              _("the vault's own rules read them without a key (docs/format.md §3a); "
                                "give level internal or public"))
        named = vault.level_readers("secret")
        if not named:
            raise RecordError(_("{code}: vault.yaml names no readers of secret records").format(code=code),
                              _("add `readers: {{secret: [NAME, ...]}}` to vault.yaml with the recipients "
                                "who may read them (docs/format.md §3a)").format())
        keys = vault.recipient_keys(code.category, level)
        if not keys:
            raise RecordError(_("{code}: none of the readers of secret records ({names}) may read {category} "
                                "records (vault.yaml `access`)").format(code=code, names=", ".join(named),
                                                                       category=code.category),
                              _("add one of them to the category's access, or a reader who has it"))
        return keys
    return vault.recipient_keys(code.category, level)


def missing_refs(vault: Vault, tree: dict[str, Any]) -> list[str]:
    """DG108 before writing: every code in `refs` exists or was destroyed."""
    refs = tree.get("refs")
    if not isinstance(refs, list):
        return []
    absent: dict[str, str] = {}  # code -> path, of the refs not in the work tree
    for ref in refs:
        if not isinstance(ref, str):
            continue
        try:
            target = parse_code(ref)
        except DanganError:
            continue  # the schema's pattern reports it
        if not vault.path_of(target).exists():
            absent[ref] = target.path
    if not absent:
        return []
    from dangan.services.scan import left_out

    # an office's sparse checkout: a record of another project is in the index, not on disk
    elsewhere = left_out(vault.root, absent.values())
    destroyed = destroyed_codes(vault) | handed_over_codes(vault)
    return [f"/refs: {ref} exists nowhere and was never destroyed nor handed over"
            for ref, path in absent.items() if path not in elsewhere and ref not in destroyed]


def read_plain(vault: Vault, code: Code) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """(plaintext, round-trip tree or None if encrypted, stored document) of a record.

    The stored document of an encrypted record is its round-trip tree: sealing it again
    (`prepare(previous=...)`) keeps its comments, encrypted ones included."""
    stored, rt = vault.read(code)
    if (in_conflict := conflict_refusal(str(code), stored)) is not None:
        raise DanganError(in_conflict, conflict_hint(str(code)))
    if "sops" in stored:
        return sealing.open_document(str(code), stored, vault.keyring), None, rt
    return stored, rt, stored


def read_fields_file(data: bytes, name: str) -> dict[str, Any]:
    """Fields given with `new --file`: the same safety rules as records (DG101)."""
    try:
        return to_plain(load_roundtrip(decode(data)))
    except YamlError as exc:
        raise DanganError(_("{name}: {reason}").format(name=name, reason=exc), _("give a YAML mapping of fields")) from None


# ------------------------------------------------------------------- operations

def default_status(vault: Vault, category: str) -> str | None:
    for sub in field_schemas(vault.schemas, category, "status"):
        if isinstance(sub.get("enum"), list) and sub["enum"]:
            return str(sub["enum"][0])
        if isinstance(sub.get("const"), str):
            return sub["const"]
    return None


def apply_assignments(vault: Vault, category: str, tree: dict[str, Any], assignments: list[str], unset: list[str] = ()) -> None:
    for text in assignments:
        key, raw = parse_assignment(text)
        if key in ("code", "category"):
            raise DanganError(_("--set {field}: the code and category of a record are fixed").format(field=key))
        set_path(tree, key, coerce(vault.schemas, category, key, raw))
    for key in unset:
        unset_path(tree, key)


def new_tree(vault: Vault, code: Code, fields: dict[str, Any]) -> dict[str, Any]:
    """A new record's fields: its code and category first, `opened` today and the
    category's first status unless given."""
    tree = {"code": str(code), "category": code.category, **fields}
    tree.setdefault("opened", vault.today().isoformat())
    status = default_status(vault, code.category)
    if status is not None:
        tree.setdefault("status", status)
    return tree


def create(
    vault: Vault,
    category: str,
    location: Location,
    fields: dict[str, Any],
    assignments: list[str],
    commit: bool = True,
) -> Written:
    """Allocate the next code, build, validate, write and commit a new record."""
    check_category(vault, category, location)
    if category == "XH":
        raise DanganError(
            _("disposal certificates are written by `dangan retention apply`, with the removal of the records "
              "they list"),
            _("make a plan: dangan retention plan --out plan.yaml"),
        )
    if category == "JD":
        raise DanganError(
            _("appraisal records are written by `dangan retention appraise`, with the decisions of a plan"),
            _("make a plan (dangan retention plan --out plan.yaml), then: dangan retention appraise plan.yaml "
              "--appraiser NAME --appraiser NAME"),
        )
    if category == "YJ":
        raise DanganError(
            _("handover records are written by `dangan handover record` and `dangan handover import`"),
            _("list what a handover gives: dangan handover list PREFIX"),
        )
    tree = dict(fields)
    for key in ("code", "category"):
        if key in tree:
            raise DanganError(_("the input sets `{field}`; dangan allocates the code itself").format(field=key),
                              _("remove that field"))
    apply_assignments(vault, category, tree, assignments)
    with vault.lock():
        code = allocate(vault, category, location)
        tree = new_tree(vault, code, tree)
        sealed = prepare(vault, code, tree)
        # the title names the record in the log, but a secret record's title is hidden
        named = "" if vault.schemas.categories[code.category].level_of(tree) == "secret" else tree.get("title", "")
        commit_id = vault.apply({code.path: dump(sealed).encode()}, f"dangan new: {code} {named}".rstrip(), commit)
    return Written(code, code.path, commit_id)


def update(vault: Vault, code: Code, assignments: list[str], unset: list[str], commit: bool = True) -> Written | None:
    """Change fields of a record (comments kept in clear records); None when nothing changed."""
    with vault.lock():
        plain, rt, stored = read_plain(vault, code)
        target: dict[str, Any] = rt if rt is not None else copy.deepcopy(plain)
        apply_assignments(vault, code.category, target, assignments, unset)
        new_plain = to_plain(target)
        if new_plain == plain:
            return None
        sealed = prepare(vault, code, new_plain, previous=stored)
        # a clear record keeps its round-trip tree (comments); a sealed one is a new document
        out = target if (rt is not None and "sops" not in sealed) else sealed
        keys = [parse_assignment(a)[0] for a in assignments] + list(unset)
        message = f"dangan set: {code} {', '.join(keys)}"
        commit_id = vault.apply({code.path: vault.render(code.path, out)}, message, commit)
    return Written(code, code.path, commit_id)


def editable_text(vault: Vault, code: Code) -> str:
    """The text `dangan edit` shows: the file itself, or the decrypted record."""
    stored, rt = vault.read(code)
    if (in_conflict := conflict_refusal(str(code), stored)) is not None:
        raise DanganError(in_conflict, conflict_hint(str(code)))
    if "sops" not in stored:
        return vault.path_of(code).read_text("utf-8")
    return dump(sealing.open_commented(str(code), rt, vault.keyring).plain)


def replace(vault: Vault, code: Code, text: str, commit: bool = True) -> Written | None:
    """Write an edited text of a record (`dangan edit`); RecordError lists what is wrong."""
    try:
        rt = load_roundtrip(text)
    except YamlError as exc:
        raise RecordError(str(exc)) from None
    new_plain = to_plain(rt)
    with vault.lock():
        old_plain, old_rt, stored = read_plain(vault, code)
        opened = sealing.open_commented(str(code), stored, vault.keyring) if old_rt is None else None
        shown = dump(opened.plain) if opened is not None else vault.path_of(code).read_text("utf-8")
        if new_plain == old_plain and dump(rt) == shown:
            return None
        sealed = prepare(vault, code, new_plain, previous=stored)
        # the edited text's comments: in clear, or encrypted as they were stored
        if "sops" not in sealed:
            out = rt
        else:
            out = sealing.seal_commented(rt, sealed, opened) if opened is not None else sealed
        commit_id = vault.apply({code.path: vault.render(code.path, out)}, f"dangan edit: {code}", commit)
    return Written(code, code.path, commit_id)


@dataclass(frozen=True)
class Listed:
    code: str
    category: str
    title: str
    status: str
    opened: str | None
    closed: str | None
    path: str
    matched: list[str] | None = None  # with a search: the fields that held a term


def filter_warnings(vault: Vault, category: str | None, status: str | None,
                    fields: list[str]) -> list[str]:
    """What `ls` says when a filter names a status or a field that no schema of the vault
    knows (of `category`, or of any category): the filter can only match nothing, which
    an empty listing alone would not tell. Each warning names the nearest known values."""
    import difflib

    schemas = vault.schemas
    codes = [category] if category else sorted(schemas.categories)
    statuses: set[str] = set()
    names: set[str] = set()
    try:  # the fields `dangan fields` shows: the category's merged over common.json's
        known = [found for code in codes for found in fielddoc.fields(schemas, code)]
    except (DanganError, KeyError):
        return []  # a schema it cannot read: DG114's to report; a warning is only advice
    for item in known:
        if item.name == "status":
            statuses.update(value for value, _label in item.values)
        if "." not in item.name and "[" not in item.name:
            names.add(item.name)
    where = Message("{category} records", category=category) if category else Message("any category")
    found: list[str] = []
    if status is not None and statuses and status not in statuses:
        near = difflib.get_close_matches(status, sorted(statuses), n=3)
        if near:
            found.append(Message("no status {status} in {where}; did you mean {near}?",
                                 status=repr(status), where=where, near=", ".join(near)))
        else:
            found.append(Message("no status {status} in {where}; known: {known}",
                                 status=repr(status), where=where, known=", ".join(sorted(statuses))))
    for field in fields:
        first = field.split(".")[0]
        if first not in names:
            near = difflib.get_close_matches(first, sorted(names), n=3)
            values = {"field": repr(first), "where": where, "near": ", ".join(near), "category": category or ""}
            if near and category:
                found.append(Message("no field {field} in {where}; did you mean {near}? (`dangan fields "
                                     "{category}` lists them)", **values))
            elif near:
                found.append(Message("no field {field} in {where}; did you mean {near}?", **values))
            elif category:
                found.append(Message("no field {field} in {where} (`dangan fields {category}` lists them)",
                                     **values))
            else:
                found.append(Message("no field {field} in {where}", **values))
    return found


def listing(
    vault: Vault,
    category: str | None = None,
    location: Location | None = None,
    status: str | None = None,
    where: list[Any] = (),
    search: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Listed], list[str]]:
    """Records matching the filters, and the paths that could not be read; `progress(1)` is
    told of each file read (a search over 100,000 takes seconds).

    One pass over the files: category and location come from the path; a search first
    looks at the raw text (a file without every term is not parsed); then status,
    `where` (Conditions, or (field, value) pairs meaning `=`) and the search's look at
    the clear values. model/query.py says what matches.
    """
    from dangan.model.query import Condition, Search, check_searchable

    conditions = [c if isinstance(c, Condition) else Condition(c[0], "=", c[1]) for c in where]
    schemas = vault.schemas
    hidden_by = {name: cat.sensitive for name, cat in schemas.categories.items()}
    everywhere = frozenset().union(*hidden_by.values()) if hidden_by else frozenset()
    for condition in conditions:
        check_searchable(condition, hidden_by.get(category, everywhere) if category else everywhere)
    wanted = Search.parse(search) if search is not None else None
    found: list[Listed] = []
    unreadable: list[str] = []
    for code, rel in vault.record_paths():
        if category and code.category != category:
            continue
        if location is not None and not location.contains(code.location):
            continue
        if progress is not None:
            progress(1)
        try:
            text = decode((vault.root / rel).read_bytes())
            if wanted is not None and not wanted.may_match(text):
                continue
            tree = load_text(text)
        except YamlError:
            unreadable.append(rel)
            continue
        if status and tree.get("status") != status:
            continue
        hidden = hidden_by.get(code.category, everywhere)
        secret = code.category in schemas.categories and schemas.categories[code.category].level_of(tree) == "secret"
        if secret:  # what a secret record hides never matches, even a value wrongly left in clear
            hidden = schemas.categories[code.category].names_for("secret")
        if not all(condition.holds(tree, hidden) for condition in conditions):
            continue
        matched = None
        if wanted is not None:
            matched = wanted.matched(tree, hidden)
            if matched is None:
                continue
        found.append(
            Listed(
                code=str(code),
                category=code.category,
                title=SECRET_MASK if secret else str(tree.get("title", "")),
                status=str(tree.get("status", "")),
                opened=tree.get("opened"),
                closed=tree.get("closed"),
                path=rel,
                matched=matched,
            )
        )
    return found, unreadable


def masked(tree: dict[str, Any], names: frozenset[str], fingerprint: bool = False) -> dict[str, Any]:
    """The record for display without a key: sensitive values as ‹encrypted›, no sops block.

    With `fingerprint` (the diff driver) each value shows a short hash of its ciphertext,
    so a reviewer without a key sees *that* a value changed (ciphertext of unchanged values
    is kept) and nothing about what it is.
    """
    def visit(node: Any, hidden: bool) -> Any:
        if isinstance(node, dict):
            return {k: visit(v, hidden or k in names) for k, v in node.items()}
        if isinstance(node, list):
            return [visit(v, hidden) for v in node]
        if hidden and node not in (None, ""):
            if fingerprint:
                return f"‹encrypted {hashlib.sha256(str(node).encode()).hexdigest()[:8]}›"
            return "‹encrypted›"
        return node

    return {k: visit(v, k in names) for k, v in tree.items() if k != "sops"}
