"""The file rules of docs/ci.md (DG101-DG106, DG113-DG118) as pure functions.

`check_file` looks at one file's bytes and returns findings; the sources (`work_tree`,
`staged`, `paths`) say which bytes to look at. `dangling_refs` (DG108) judges what the
records of one side name, for the change rules and for a whole work tree or commit alike.
Nothing here prints.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dangan.errors import DanganError
from dangan.formats import findings as shown
from dangan.formats.schemas import BASE_URI, NEVER_SECRET, SchemaSet, sensitive_leaves
from dangan.formats.schemas import reason as schema_reason
from dangan.formats.yamlio import YamlError, decode, load_bytes, load_text
from dangan.i18n import Message
from dangan.model.codes import code_path, parse_code
from dangan.model.threeway import conflict_note, has_markers, markers_note
from dangan.rules import domain
from dangan.store import attached as attachments
from dangan.store import sealing, sopsconfig
from dangan.store.sealing import Keyring
from dangan.store.vault import CONFIG, RECORDS

RULES = {
    "DG101": "not a readable record",
    "DG102": "violates its category schema",
    "DG103": "code, path, category or level mismatch",
    "DG104": "stray file or unknown category",
    "DG105": "sensitive field holds a clear value",
    "DG106": "SOPS structure",
    "DG107": "MAC mismatch",
    "DG108": "refs to a code that does not exist",
    "DG109": "deletion without a disposal certificate",
    "DG110": "ledger history rewritten",
    "DG111": "loan breaks the lending rules",
    "DG112": "disposal breaks the retention rules",
    "DG113": "not in canonical form",
    "DG114": "vault.yaml, a schema or .sops.yaml is invalid",
    "DG115": "listed attachment missing or not matching its listing",
    "DG116": "attachment not listed by its record, or its record is gone",
    "DG117": "clear (unencrypted) file where an attachment belongs",
    "DG118": "attachment encrypted for other recipients than vault.yaml gives",
    "DG119": "role act not signed by the person vault.yaml gives its key and role",
    "DG120": "history of a protected branch or a tag rewritten on the server",
    "DG121": "dated after the commit that records it, or a commit dated in the future",
    "DG122": "secret record with a hidden field in clear, or a ledger marked secret",
    "DG123": "in an epoch vault, a record or attachment not wrapped to its epoch's live key",
}


# Git's modes of what is not a file: a symbolic link (its blob is the link's target text,
# which the file rules must never judge as a record) and a submodule (no blob at all).
LINK_MODE, GITLINK_MODE = "120000", "160000"
LINK = Message("a symbolic link: dangan never follows a link under vault/ (it could point outside the "
               "vault); replace it with the file it stands for")
GITLINK = Message("a submodule (another repository): only records and their attachment folders belong "
                  "under vault/; remove it")


def not_a_file(mode: str) -> str | None:
    """The DG104 message for an entry of the index or a commit that is not a plain file
    (by its Git mode), or None for a file."""
    return LINK if mode == LINK_MODE else GITLINK if mode == GITLINK_MODE else None


@dataclass(frozen=True, order=True)
class Finding:
    """A rule broken: where (a path, a commit or a ref), the rule (DG1xx) and the message."""

    path: str
    rule: str
    message: str

    def line(self) -> str:
        return shown.line(self.path, self.rule, self.message)


@dataclass
class CheckResult:
    """What a check found, and how many files it judged."""

    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    # encrypted records judged without a key: their MAC (DG107) was not verified (the
    # pre-commit hook says so; a key holder's commit, push or check verifies it)
    unverified: int = 0
    # records an office's sparse checkout leaves out of the work tree: not judged by a
    # work-tree check, which says so (the server's hook and CI judge them)
    outside: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return shown.document(self.checked, self.findings, self.outside)


# --------------------------------------------------------------------- one file

@functools.lru_cache(maxsize=64)
def _encoded(names: frozenset[str]) -> tuple[bytes, ...]:
    return tuple(name.encode("utf-8") for name in names)


def _mentions(data: bytes, names: frozenset[str]) -> bool:
    return any(name in data for name in _encoded(names))


def check_file(schemas: SchemaSet, rel: str, data: bytes, keyring: Keyring | None = None,
               recipients: dict[str, list[str]] | None = None,
               config: dict[str, Any] | None = None,
               attached: Mapping[str, Any] | None = None, epochs: Any = None) -> list[Finding]:
    """Every file rule for one file under vault/.

    `recipients` (category -> keys) enables the recipient part of DG106; `keyring`, when it
    holds an identity, enables DG107 (MAC) and the plaintext schema of sensitive values.
    `attached` is what the record's attachment folder holds (file name -> attachments.Stored;
    None or empty: nothing), for DG115, DG116 and DG118. `epochs` (an epoch vault's
    epochs.yaml, `store.epochkeys.Epochs`; BROKEN when it cannot be read) replaces the
    recipient parts of DG106 and DG118 by DG123.
    """
    return judge_file(schemas, rel, data, keyring, recipients, config, attached, epochs)[0]


def judge_file(schemas: SchemaSet, rel: str, data: bytes, keyring: Keyring | None = None,
               recipients: dict[str, list[str]] | None = None,
               config: dict[str, Any] | None = None,
               attached: Mapping[str, Any] | None = None, epochs: Any = None) -> tuple[list[Finding], Named]:
    """`check_file`, and the codes the record names (`named_codes`), read from the tree
    the rules parse anyway: what DG108 judges across files (`dangling_refs`)."""
    found: list[Finding] = []

    def add(rule: str, message: str) -> None:
        found.append(Finding(rel, rule, message))

    end = rel.rfind("/")  # attachments.owner's own first test, inline: most files are records
    if end - rel.rfind("/", 0, end) > 7 and attachments.owner(rel) is not None:  # an attachment's file
        return [Finding(*f) for f in attachments.file_findings(rel, data)], ()
    if not rel.endswith(".yaml"):
        add("DG104", Message("stray file: only records (CODE.yaml) and their attachment folders belong "
                             "under vault/; move or remove it"))
        return found, ()  # clear or not: DG104 already says it does not belong there
    try:
        tree, canonical = load_bytes(data)
    except YamlError as exc:
        # git's own markers say more than the parse error they cause: the merge, the way out
        name = rel.rsplit("/", 1)[-1].removesuffix(".yaml")
        reason = exc.args[0] if exc.args and isinstance(exc.args[0], Message) else f"{exc}"
        add("DG101", markers_note(name, rel) if has_markers(data) else reason)
        return found, ()
    conflict = conflict_note(tree)  # what the merge driver left in place of a record
    if conflict is not None:
        add("DG101", conflict)
        return found, ()
    pairs = _named_pairs(tree)

    def done(at_record_path: bool = False) -> tuple[list[Finding], Named]:
        """The findings, and what the record names (asked cheaply: most records name a
        code, and path_to_code would cost as much again as the rest of named_codes)."""
        if not pairs or not (at_record_path or _record_code(rel) is not None):
            return found, ()
        return found, tuple(pairs)

    code_text = tree.get("code")
    foreign = sealing.record_of_another_rule(tree)
    if foreign is not None:
        add("DG106", foreign)
        return done()
    if not isinstance(code_text, str):
        add("DG103", Message("no `code` field (a string like YZ-A01-02-001-0301-0001)"))
        return done()
    try:
        code = parse_code(code_text)
    except DanganError as exc:
        add("DG103", Message("malformed code: {reason}", reason=exc.message))
        return done()
    cat = schemas.category(code.category)
    if cat is None:
        add("DG104", Message("unknown category {category} (not in schemas/categories.yaml)",
                             category=repr(code.category)))
        return done()
    at_record_path = rel == code.path
    if not at_record_path:
        add("DG103", Message("path is not the derived path of {code}; move it to {path}",
                             code=code, path=code.path))
    if tree.get("category") != code.category:
        add("DG103", Message("`category` is {value} but the code says {category}",
                             value=repr(tree.get("category")), category=code.category))
    if code.level not in cat.levels:
        add("DG103", Message("{category} is not filed at the {level} level (allowed: {allowed})",
                             category=code.category, level=code.level, allowed=", ".join(cat.levels)))

    encrypted = "sops" in tree
    level = cat.level_of(tree)
    names = cat.names_for(level)
    if level == "secret" and code.category in NEVER_SECRET:
        add("DG122", Message("{category} records are read by the vault's own rules without a key, so "
                             "they cannot be secret; set `level: internal`", category=code.category))
    # A canonical text writes every key plain, so a sensitive field can only be there if
    # its name is in the bytes: most records of such categories are skipped without a walk.
    leaves = (sensitive_leaves(tree, names)
              if names and (level == "secret" or not canonical or _mentions(data, names)) else [])
    # a value that starts like ciphertext but is malformed is DG106/DG102, not a leak
    clear = sorted({"/" + "/".join(p) for p, v in leaves
                    if v not in (None, "") and not (isinstance(v, str) and v.startswith("ENC["))})
    for where in clear:
        keys = where.split("/")[1:]
        if keys[0] in cat.hidden and not cat.sensitive.intersection(keys):
            add("DG122", Message("field {field} of a secret record holds a clear value; a secret record "
                                 "encrypts every field but the structural ones: `dangan set CODE "
                                 "level=secret` seals it", field=where))
        else:
            add("DG105", Message("sensitive field {field} holds a clear value; encrypt it (dangan set) or "
                                 "remove it", field=where))
    wanted = (recipients or {}).get(f"{code.category}:{level}")
    if epochs is not None:  # an epoch vault: DG123 judges the wrapping, not the readers' keys
        wanted = None
        if epochs is not BROKEN:  # a broken epochs.yaml is DG114's
            found += [Finding(*f) for f in epoch_findings(rel, tree, code.category, level, config or {}, epochs)]
    problems = sealing.structure_problems(tree, names, wanted or [], leaves) if (leaves or encrypted) else []
    for problem in problems:
        if wanted is None and problem.startswith("recipients differ"):
            continue
        add("DG106", problem)

    body = {k: v for k, v in tree.items() if k != "sops"} if encrypted else tree  # read, never changed
    errors = schemas.errors(code.category, body,
                            at_rest=False if clear else ("secret" if level == "secret" else True))
    plain = None
    if encrypted and keyring is not None and keyring.available():
        from dangan.formats import sops

        try:
            plain, _ = sops.decrypt_document(tree, keyring.identities)
            plain = sops.strip_comments(plain)
        except sops.NoMatchingIdentity:
            plain = None  # not ours to read: the structure checks above still apply
        except sops.SopsError as exc:
            add("DG107", Message("{reason}; the record was altered outside dangan (a hand-resolved "
                                 "merge?): {restore}", reason=str(exc), restore=sealing.restore_hint(rel)))
    if plain is not None:
        errors = schemas.errors(code.category, plain)
    category_reported = bool(found) and any(f.rule == "DG103" and "`category`" in f.message for f in found)
    for path, reason in errors:
        if path == "/category" and category_reported:
            continue  # already reported as DG103, the rule that names the fix
        add("DG102", Message("{path}: {reason}", path=path, reason=reason))
    if not errors and config is not None:  # the workflows' rules need a schema-valid record
        for rule, message in domain.file_rules(code.category, plain if plain is not None else body, config):
            add(rule, message)
    if attached or "attachments" in body:  # listed in clear: no key needed
        found += [Finding(*f) for f in attachments.record_findings(rel, body, attached, wanted)]
    if not canonical and not (encrypted and _sops_form(tree, data)):
        add("DG113", Message("not in canonical form; run `dangan fmt` on it"))
    return done(at_record_path)


BROKEN = object()  # `epochs` of an epoch vault whose epochs.yaml cannot be read (DG114)


def epoch_findings(rel: str, tree: dict[str, Any], category: str, level: str, config: Mapping[str, Any],
                   epochs: Any) -> list[tuple[str, str, str]]:
    """DG123 (docs/shredding.md §5): in an epoch vault, a record's data key and its
    attachments' file keys are wrapped to its epoch's live public key and nothing else.
    The epoch is computed from clear fields (the dates and `retention` are never hidden),
    so no key is needed: the hooks, the server's included, judge it."""
    from dangan.model.epochs import OPEN, effective, epoch_of, readers_of, shreddable
    from dangan.store.vault import recipients_of

    have: set[str] = set()
    if "sops" in tree and isinstance(tree["sops"], dict):
        have = {str(e.get("recipient")) for e in tree["sops"].get("age") or [] if isinstance(e, dict)}
    files = attachments.listed(tree)
    if not have and not files:
        return []  # nothing wrapped: a clear record without attachments
    names = [str(r.get("name")) for r in recipients_of(config, category, level)]
    epoch = epoch_of(config, category, tree, names)
    if epoch.split(".", 1)[0] == OPEN:
        # an open record: any live epoch of its readers that is ever shredded, the one it
        # was first sealed in (the day it was sealed is not in the record: format.md §7c)
        entry = epochs.sealed_to(tree)
        if entry is not None and entry.live and shreddable(entry.id) and readers_of(entry.id) == readers_of(epoch):
            epoch = entry.id
        else:
            what = _wrapped_to(sorted(have), config, epochs) if have else ["another recipient set"]
            return [(rel, "DG123", f"its data key is wrapped to {', '.join(what)}; an open record (its end not "
                                   f"known yet) goes to a live year epoch of its readers (*.{readers_of(epoch)}) "
                                   "alone: `dangan keys updatekeys` re-wraps it")]
    else:
        # past a shredded epoch: the next year's (a record kept, held or closed late, when
        # its year's epoch was shredded: model.epochs.effective)
        epoch = effective(epoch, lambda e: (x := epochs.get(e)) is not None and not x.live)
    entry = epochs.get(epoch)
    found: list[tuple[str, str, str]] = []
    if entry is None:
        return [(rel, "DG123", f"its epoch {epoch} is not in epochs.yaml; `dangan keys updatekeys` seals it "
                               "to its epoch")]
    if have and have != {entry.key}:
        what = _wrapped_to(sorted(have - {entry.key}), config, epochs)
        if entry.key not in have:
            what.append(f"not its epoch {epoch}")
        found.append((rel, "DG123", f"its data key is wrapped to {', '.join(what)}; in an epoch vault only "
                                    f"to its epoch {epoch}: `dangan keys updatekeys` re-wraps it"))
    digest = attachments.recipients_digest([entry.key]) if files else None
    folder = rel[: -len(".yaml")]
    for item in files:
        file = item.get("file")
        if isinstance(file, str) and item.get("recipients") != digest:
            found.append((f"{folder}/{file}{attachments.SUFFIX}", "DG123",
                          f"not encrypted to its record's epoch {epoch}; `dangan keys updatekeys` "
                          "encrypts it again"))
    return found


def _wrapped_to(keys: list[str], config: Mapping[str, Any], epochs: Any) -> list[str]:
    """How DG123 names the keys a data key is wrapped to: a person, an epoch, or neither."""
    people = {}
    for person in config.get("recipients") or []:
        if isinstance(person, dict) and person.get("key"):
            people[sealing.canonical_recipient(str(person["key"]))] = str(person.get("name"))
    what = []
    for key in keys:
        other = epochs.by_key(key)
        if key in people:
            what.append(f"a person's key ({people[key]})")
        elif other is not None:
            what.append(f"epoch {other.id}" + ("" if other.live else " (shredded)"))
        else:
            what.append("a key that is no epoch of epochs.yaml")
    return what


def _sops_form(tree: dict[str, Any], data: bytes) -> bool:
    """An encrypted record exactly as sops writes it is as good as a canonical one
    (docs/format.md §4.2): a sops user never needs `dangan fmt`. Asked only of the few
    files the canonical guard refused, so the fast path pays nothing for it."""
    from dangan.formats import sopsyaml

    return sopsyaml.is_sops_form(tree, data.decode("utf-8"))


# ------------------------------------------------------- references (DG108)

Named = tuple[tuple[str, str], ...]  # (field, code as written) for each code a record names
DISPOSAL = "XH"  # the disposal certificates: the codes in their `items` were destroyed
DISPOSAL_FOLDER = f"{RECORDS}/{DISPOSAL}/"  # where they are filed (at the company level)


def named_codes(tree: Any, rel: str) -> Named:
    """The codes a record names (`refs`, and the inventory that flagged a paper original:
    `custody.inventory`), as written; nothing for a file that is not at a record's path.
    Whether each is a well-formed code is asked by `dangling_refs`, once per distinct
    text (a malformed one is the schema's to report, DG102)."""
    pairs = _named_pairs(tree)
    if not pairs or _record_code(rel) is None:
        return ()
    return tuple(pairs)


def _named_pairs(tree: Any) -> list[tuple[str, str]]:
    if not isinstance(tree, dict):
        return []
    refs, custody = tree.get("refs"), tree.get("custody")
    named = [("refs", r) for r in refs if isinstance(r, str)] if isinstance(refs, list) else []
    if isinstance(custody, dict) and isinstance(custody.get("inventory"), str):
        named.append(("custody.inventory", custody["inventory"]))
    return named


def _record_code(rel: str) -> Any:
    from dangan.model.codes import path_to_code

    try:
        return path_to_code(rel)
    except DanganError:
        return None


def _target(ref: str) -> str | None:
    """The path of the record `ref` names, or None when it is not a code."""
    try:
        return code_path(ref)
    except DanganError:
        return None


def destroyed_codes(certificates: Iterable[Any]) -> set[str]:
    """The codes listed in the `items` of disposal certificates (their parsed trees)."""
    codes: set[str] = set()
    for tree in certificates:
        items = tree.get("items") if isinstance(tree, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("code"), str):
                codes.add(item["code"])
    return codes


def dangling_refs(named: Mapping[str, Named], present: Callable[[set[str]], set[str]],
                  destroyed: Callable[[], set[str]]) -> list[Finding]:
    """DG108, on any side (the work tree, the index, a commit): each code `named` (record
    path -> its `named_codes`) whose record is not `present` (asked once, with every
    target path) and that no certificate or handover lists (`destroyed`: the codes destroyed or
    handed over, asked only if one is missing)."""
    targets = {ref: _target(ref) for ref in {ref for pairs in named.values() for _field, ref in pairs}}
    there = present({path for path in targets.values() if path is not None})
    missing = {ref for ref, path in targets.items() if path is not None and path not in there}
    if not missing:
        return []
    gone = destroyed()
    return [Finding(path, "DG108", Message("{field} names {code}, which exists nowhere and was never "
                                           "destroyed nor handed over", field=field, code=ref))
            for path, pairs in named.items() for field, ref in pairs
            if ref in missing and ref not in gone]


# ----------------------------------------------------------------- vault level

def check_config_tree(schemas: SchemaSet, config_bytes: bytes | None,
                      sops_bytes: bytes | None = None, epochs_bytes: bytes | None = None) -> list[Finding]:
    """DG114: vault.yaml against vault.schema.json, every schema against the metaschema,
    .sops.yaml (when there is one) against what those two give (store.sopsconfig), and
    epochs.yaml (an epoch vault's, store.epochkeys) on its own."""
    found = _config_tree(schemas, config_bytes, sops_bytes)
    if epochs_bytes is not None:
        from dangan.store import epochkeys

        found += [Finding(epochkeys.EPOCHS, "DG114", p) for p in epochkeys.problems(epochs_bytes)]
    return found


def _config_tree(schemas: SchemaSet, config_bytes: bytes | None, sops_bytes: bytes | None) -> list[Finding]:
    found = [Finding(p.path, "DG114", p.message) for p in schemas.validate_schemas()]
    if config_bytes is None:
        return found + [Finding(CONFIG, "DG114", Message("missing"))]
    try:
        config = load_text(decode(config_bytes))
    except YamlError as exc:
        return found + [Finding(CONFIG, "DG114", str(exc))]
    doc = schemas.documents.get("vault.schema.json")
    if doc is None:
        return found + [Finding("schemas/vault.schema.json", "DG114", Message("missing"))]
    import jsonschema_rs

    registry = jsonschema_rs.Registry([(BASE_URI + n, d) for n, d in schemas.documents.items()])
    validator = jsonschema_rs.Draft202012Validator(
        doc, registry=registry, validate_formats=True, base_uri=BASE_URI + "vault.schema.json"
    )
    for error in validator.iter_errors(config):
        where = "/" + "/".join(str(p) for p in error.instance_path)
        found.append(Finding(CONFIG, "DG114", Message("{path}: {reason}", path=where,
                                                      reason=schema_reason(" ".join(error.message.split())[:200]))))
    names = {r.get("name") for r in config.get("recipients") or [] if isinstance(r, dict)}
    for category, people in (config.get("access") or {}).items():
        if category not in schemas.categories:
            found.append(Finding(CONFIG, "DG114", Message("/access/{category}: unknown category",
                                                          category=category)))
        for person in people or []:
            if person not in names:
                found.append(Finding(CONFIG, "DG114", Message("/access/{category}: {person} is not a recipient",
                                                              category=category, person=repr(person))))
    readers = config.get("readers") if isinstance(config.get("readers"), dict) else {}
    for level, people in readers.items():
        for person in people if isinstance(people, list) else []:
            if person not in names:
                found.append(Finding(CONFIG, "DG114", Message("/readers/{level}: {person} is not a recipient",
                                                              level=level, person=repr(person))))
    for category in config.get("retention") or {}:
        if category not in schemas.categories:
            found.append(Finding(CONFIG, "DG114", Message("/retention/{category}: unknown category",
                                                          category=category)))
    from dangan.model import departments, expected

    for problem in (*departments.problems(config, list(schemas.categories)),
                    *expected.problems(config, list(schemas.categories))):
        found.append(Finding(CONFIG, "DG114", problem))
    if sops_bytes is not None and isinstance(config, dict) and not found:  # judged by sound settings
        stale = sopsconfig.finding(sops_bytes, config, schemas)
        if stale is not None:
            found.append(Finding(sopsconfig.SOPS_CONFIG, "DG114", stale))
    return found


