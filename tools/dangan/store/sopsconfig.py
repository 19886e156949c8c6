""".sops.yaml, which dangan writes and keeps (docs/format.md §7b).

sops encrypts a new file with the first creation rule whose `path_regex` matches it, and
with its default rule (every value encrypted, `code` included) when there is no
.sops.yaml. dangan therefore writes one rule per category with sensitive fields: the
paths of its records, the `encrypted_regex` dangan seals them with, and the recipients
vault.yaml gives it — so `sops edit vault/…/NEW.yaml` writes what dangan would. The file is
a function of vault.yaml and schemas/; `check` reports one that differs (DG114) and the
commands that change recipients, and `keys updatekeys`, rewrite it.
"""
from __future__ import annotations

import re
from typing import Any

from dangan.formats.schemas import SchemaSet
from dangan.formats.yamlio import YamlError, decode, dump, load_text
from dangan.i18n import Message
from dangan.model.codes import CodeError, path_regex

SOPS_CONFIG = ".sops.yaml"
HEADER = (
    "# Written by dangan from vault.yaml and schemas/ (docs/format.md §7b): sops encrypts a\n"
    "# new record as dangan does. Do not edit: `dangan keys updatekeys` rewrites it.\n"
)
FIX = Message("run `dangan keys updatekeys`, which rewrites it from vault.yaml and schemas/")


def category_recipients(config: dict[str, Any], category: str) -> list[str]:
    """The keys vault.yaml gives `category` (`access`; a category not listed: everyone),
    in vault.yaml's order, in the form records store them (an SSH key without comment)."""
    from dangan.formats import agekeys  # pyrage loads only when needed

    people = [r for r in config.get("recipients") or [] if isinstance(r, dict) and r.get("key")]
    access = config.get("access")
    allowed = access.get(category) if isinstance(access, dict) else None
    keys = []
    for person in people:
        if allowed is not None and person.get("name") not in (allowed or []):
            continue
        try:
            keys.append(agekeys.parse_recipient(str(person["key"])).text)
        except agekeys.IdentityError:
            continue  # DG114 reports a key vault.yaml cannot hold
    return list(dict.fromkeys(keys))


def creation_rules(config: dict[str, Any], schemas: SchemaSet) -> list[dict[str, str]]:
    """One rule per category with sensitive fields, in category order. A category without
    any has no rule: sops then refuses to encrypt its records, which are plain YAML."""
    from dangan.store.sealing import regex_for

    rules = []
    for category in sorted(schemas.categories):
        names = schemas.categories[category].sensitive
        if not names:
            continue
        try:
            rule = {"path_regex": path_regex(category), "encrypted_regex": regex_for(names)}
        except CodeError:
            continue  # a malformed category name is DG114's
        keys = category_recipients(config, category)
        if keys:
            rule["age"] = ",".join(keys)
        rules.append(rule)
    return rules


def render(config: dict[str, Any], schemas: SchemaSet) -> bytes:
    """The bytes dangan writes as .sops.yaml."""
    return (HEADER + dump({"creation_rules": creation_rules(config, schemas)})).encode("utf-8")


def _key(rule: dict[str, Any]) -> tuple[str, str, frozenset[str], frozenset[str]]:
    from dangan.formats import agekeys

    recipients = set()
    for text in str(rule.get("age") or "").split(","):
        if text.strip():
            try:
                recipients.add(agekeys.parse_recipient(text).text)
            except agekeys.IdentityError:
                recipients.add(text.strip())
    others = frozenset(k for k in rule if k not in ("path_regex", "encrypted_regex", "age"))
    return str(rule.get("path_regex", "")), str(rule.get("encrypted_regex", "")), frozenset(recipients), others


def _category_of(regex: str) -> str:
    found = re.search(r"([A-Z]{2})/\1-", regex)
    return found.group(1) if found else repr(regex)


def problems(data: bytes | None, config: dict[str, Any], schemas: SchemaSet) -> list[str]:
    """How a stored .sops.yaml differs from what vault.yaml and schemas/ give (none when
    there is no file: a vault made before dangan wrote one). Compared by meaning, not
    bytes: the rules as a set, each rule's recipients as a set."""
    if data is None:
        return []
    try:
        doc = load_text(decode(data))
    except YamlError as exc:
        return [f"not readable ({exc})"]
    if not isinstance(doc, dict) or not isinstance(doc.get("creation_rules"), list):
        return ["no `creation_rules` list"]
    if set(doc) != {"creation_rules"}:
        extra = sorted(str(k) for k in doc if k != "creation_rules")
        return [f"holds {', '.join(extra)}, which dangan does not write"]
    have = {}
    for rule in doc["creation_rules"]:
        if not isinstance(rule, dict):
            return ["a creation rule is not a mapping"]
        key = _key(rule)
        have[key[0]] = key
    found = []
    for rule in creation_rules(config, schemas):
        want = _key(rule)
        category = _category_of(want[0])
        got = have.pop(want[0], None)
        if got is None:
            found.append(Message("no rule for {category}", category=category))
        elif got[1] != want[1]:
            found.append(Message("the rule for {category} has encrypted_regex {value}, the schema gives {value2}", category=category, value=repr(got[1]), value2=repr(want[1])))
        elif got[2] != want[2]:
            found.append(Message("the rule for {category} names other recipients than vault.yaml gives it", category=category))
        elif got[3]:
            found.append(Message("the rule for {category} holds {value}, which dangan does not write", category=category, value=', '.join(sorted(got[3]))))
    found += [Message("a rule dangan does not write (path_regex {regex})", regex=repr(regex)) for regex in sorted(have)]
    return found


def finding(data: bytes | None, config: dict[str, Any], schemas: SchemaSet) -> str | None:
    """The one DG114 message for a stale .sops.yaml, or None."""
    found = problems(data, config, schemas)
    if not found:
        return None
    if len(found) > 1:
        return Message("stale: {problem} (and {more} more); sops would encrypt new records otherwise than "
                       "dangan; {fix}", problem=found[0], more=len(found) - 1, fix=FIX)
    return Message("stale: {problem}; sops would encrypt new records otherwise than dangan; {fix}",
                   problem=found[0], fix=FIX)
