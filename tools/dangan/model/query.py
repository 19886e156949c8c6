"""What `dangan ls` filters with (plan §6.3 查詢): `--where` conditions and `--search` text.

Both look only at clear values. A value under a sensitive field name, or one stored
encrypted (`ENC[...]`), never matches a search or a comparison: a query must not become an
oracle on personal data (a wrongly clear value) or on ciphertext. Matching is
case-insensitive and width-insensitive (NFKC: ＡＢＣ１２３ and （ match ABC123 and ( ), and
script-insensitive (电梯 matches 電梯: model/script.py). docs/exchange.md describes the rules
for users.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dangan.errors import DanganError
from dangan.i18n import Message
from dangan.model import script

OPERATORS = ("!=", ">=", "<=", "~", "=", ">", "<")
_CONDITION = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.]*?)(!=|>=|<=|~|=|>|<)(.*)", re.S)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def fold(text: str) -> str:
    """The form both sides are compared in: NFKC (full-width to half-width), case-folded,
    in one script (model/script.py)."""
    if text.isascii():
        return text.casefold()
    return script.fold(unicodedata.normalize("NFKC", text).casefold())


def _plain(text: str) -> str:
    """`fold` but for the script: what a search also tries, as OpenCC converts phrases
    (乾 alone folds to 干, 乾隆 stays), so a term written as the record writes it always
    matches."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.casefold()


@dataclass(frozen=True)
class Condition:
    """`--where FIELD<op>VALUE`. `=` and `!=` compare the value's text exactly (as `=`
    always did) but for the script (电梯 = 電梯); `~` is contains (folded); `>= <= > <`
    compare numbers as numbers, a date VALUE with the date part of a date or date-time
    field, anything else as text (folded)."""

    field: str
    op: str
    value: str

    def holds(self, tree: dict[str, Any], hidden: frozenset[str]) -> bool:
        found = lookup(tree, self.field)
        if found is not None and _secret(self.field, found, hidden):
            return False  # a sensitive value (even one wrongly stored in clear) never matches
        if self.op == "=":
            return script.same(str(found), self.value)
        if self.op == "!=":
            return not script.same(str(found), self.value)
        if found is None or isinstance(found, (dict, list)) or _secret(self.field, found, hidden):
            return False
        if self.op == "~":
            return fold(self.value) in fold(str(found)) or _plain(self.value) in _plain(str(found))
        return _compare(found, self.op, self.value)


def parse_condition(text: str) -> Condition:
    match = _CONDITION.fullmatch(text)
    if match is None:
        raise DanganError(
            Message("--where {text} is not FIELD=VALUE (or !=, ~, >=, <=, >, <)", text=repr(text)),
            Message("examples: --where system=elevator --where opened>=2024-01-01 --where title~電梯"),
        )
    field, op, value = match.groups()
    if any(not part for part in field.split(".")):
        raise DanganError(Message("--where {text}: {field} is not a field path", text=repr(text), field=repr(field)), Message("use dotted keys like custody.cabinet"))
    if op in (">=", "<=", ">", "<", "~") and value == "":
        raise DanganError(Message("--where {text}: nothing to compare with", text=repr(text)),
                          Message("give a value after the operator: --where opened>=2024-01-01 --where title~電梯"))
    if op != "~" and _DATE.fullmatch(value[:10]) and (len(value) == 10 or value[10:11] == "T"):
        import datetime as dt

        try:
            dt.date.fromisoformat(value[:10])
        except ValueError:
            raise DanganError(Message("--where {text}: {value} is not a day of the calendar", text=repr(text), value=value[:10]),
                              Message("give a real date, YYYY-MM-DD (2025-02-28, not 2025-02-30)")) from None
    return Condition(field, op, value)


def check_searchable(condition: Condition, sensitive: frozenset[str]) -> None:
    """Comparing a sensitive field could only ever compare ciphertext: say so up front."""
    if condition.op not in ("=", "!=") and sensitive.intersection(condition.field.split(".")):
        raise DanganError(
            Message("--where {field}{op}...: {field} is a sensitive field; its values are encrypted and cannot be searched", field=condition.field, op=condition.op),
            Message("filter on clear fields (title, status, dates, location)"),
        )


def _compare(found: Any, op: str, value: str) -> bool:
    left: Any
    right: Any
    if isinstance(found, (int, float)) and not isinstance(found, bool) and _NUMBER.fullmatch(value):
        left, right = found, float(value)
    elif isinstance(found, str) and _DATE.fullmatch(value) and _DATE.match(found):
        left, right = found[:10], value  # the day as written (in the vault's time zone)
    else:
        left, right = fold(str(found)), fold(value)
    if op == ">=":
        return left >= right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left < right


def lookup(tree: Any, dotted: str) -> Any:
    node = tree
    for part in dotted.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _secret(dotted: str, value: Any, hidden: frozenset[str]) -> bool:
    return bool(hidden.intersection(dotted.split("."))) or (isinstance(value, str) and value.startswith("ENC["))


# ------------------------------------------------------------------------ search

@dataclass(frozen=True)
class Search:
    """`--search TEXT`: every whitespace-separated term must occur (folded, as a
    substring) in some clear value of the record; different terms may match different
    fields. No ranking and no edit-distance guessing: a record matches or it does not.
    A term matches as typed (NFKC, case-folded: `terms`) or in one script (`scripted`)."""

    text: str
    terms: tuple[str, ...]
    scripted: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Search:
        terms = tuple(dict.fromkeys(_plain(text).split()))
        if not terms:
            raise DanganError(Message("--search needs some text"), Message("example: --search '電梯 維保'"))
        return cls(text, terms, tuple(script.fold(term) for term in terms))

    def may_match(self, raw: str) -> bool:
        """A cheap look at the file's text before it is parsed: a term that is nowhere in
        the text is in no value either. YAML quoting changes only quote marks (doubled
        in '...') and backslashes (escapes in "..."), so a text with a backslash, or a
        term with a quote mark, is always parsed; tests/test_ls.py checks this property.
        The text is converted to one script only when a term is not found as typed and
        is not ASCII (~2 s of CPU more on 100,000 records: docs/exchange.md)."""
        if "\\" in raw or any("'" in term or '"' in term for term in self.terms):
            return True
        folded = _plain(raw)
        missing = [i for i, term in enumerate(self.terms) if term not in folded]
        if not missing:
            return True
        if all(self.terms[i].isascii() for i in missing):
            return False  # OpenCC changes Han characters alone: an ASCII term stays missing
        converted = script.fold(folded)
        return all(self.scripted[i] in converted for i in missing)

    def matched(self, tree: dict[str, Any], hidden: frozenset[str]) -> list[str] | None:
        """The fields whose values hold a term (None: not every term is found). A value is
        converted to one script only when a term that is not ASCII is not in it as typed."""
        every = range(len(self.terms))
        fields = []
        found = [False] * len(self.terms)
        for path, value in clear_values(tree, hidden):
            text = _plain(value)
            hits = [self.terms[i] in text for i in every]
            if not all(hits) and not text.isascii():
                converted = None
                for i in every:
                    if not hits[i] and not self.terms[i].isascii():
                        converted = converted if converted is not None else script.fold(text)
                        hits[i] = self.scripted[i] in converted
            if any(hits):
                fields.append(path)
                found = [a or b for a, b in zip(found, hits)]
        return fields if all(found) else None


def clear_values(tree: Any, hidden: frozenset[str], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, text) of every scalar a search may see: not the sops block, not under
    a sensitive name, not a ciphertext."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if (not prefix and key == "sops") or key in hidden:
                continue
            yield from clear_values(value, hidden, f"{prefix}{key}.")
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from clear_values(value, hidden, f"{prefix}{i}.")
    elif tree is not None and not (isinstance(tree, str) and tree.startswith("ENC[")):
        yield prefix[:-1], tree if isinstance(tree, str) else str(tree).lower() if isinstance(tree, bool) else str(tree)
