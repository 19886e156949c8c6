"""The SOPS file format (YAML/JSON trees with age recipients), byte-compatible with sops.

A pure format module: it turns plain trees into encrypted trees and back, and knows the
``sops:`` metadata block. No printing, no files, no Git. Trees are plain Python values:
dict (document order), list, str, int, float, bool, None.

Comments. sops encrypts YAML comments too. A comment is a :class:`Comment` object, placed
where sops' own tree puts it: as a *key* (with value ``None``) in a mapping, or as an
element of a list. Comments never enter the MAC (sops hashes leaves "only if not a comment").
``Comment`` compares by identity, so two equal comment lines in one mapping stay two keys.
:func:`strip_comments` removes them before validation; the comments of a record file are
kept through dangan's writes by `formats.sopsrt`, on round-trip trees.

The format facts (value syntax, AAD, MAC): docs/format.md §7 and tests/vectors/sops/README.md.
Cryptography: AES-256-GCM and hashes from ``cryptography``/``hashlib``, age from pyrage.
"""
from __future__ import annotations

import base64
import binascii
import datetime as _dt
import functools
import hashlib
import hmac
import math
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

import pyrage

from dangan.formats import agekeys

# The sops release whose output layout we reproduce: every key of the ``sops:`` block in
# alphabetical order (age entries too: ``enc`` before ``recipient``), empty ones omitted.
SOPS_VERSION = "3.13.2"
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
# sops seeds the hash with sha256("sops") when mac_only_encrypted is set, so that the two
# kinds of MAC never coincide.
_MAC_ONLY_ENCRYPTED_SEED = hashlib.sha256(b"sops").digest()
_IV_SIZE = 32  # sops' nonce size: 32 random bytes, not GCM's usual 12
_TAG_SIZE = 16
_TYPES = ("str", "int", "int64", "float", "bool", "bytes", "time", "comment")
_ENC_RE = re.compile(
    r"ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:([A-Za-z0-9+/=]+),"
    r"tag:([A-Za-z0-9+/=]+),type:([a-z0-9]+)\]"
)


class SopsError(Exception):
    """A SOPS document or value that cannot be read or written. Never carries plaintext."""


class DecryptionError(SopsError):
    """AES-GCM authentication failed: wrong data key, tampered value, or value moved (AAD)."""


class MacMismatch(SopsError):
    """The document's MAC does not match its content: a value was changed outside sops."""


class NoMatchingIdentity(SopsError):
    """None of the given identities is a recipient of the document."""


class Comment:
    """A YAML comment line as sops models it: ``text`` is what follows the ``#``."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Comment({self.text!r})"


# --- single values -------------------------------------------------------------------


@dataclass(frozen=True)
class EncValue:
    """One ``ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]`` value."""

    data: bytes
    iv: bytes
    tag: bytes
    type: str

    def format(self) -> str:
        def b64(raw: bytes) -> str:
            return base64.b64encode(raw).decode("ascii")

        return (
            f"ENC[AES256_GCM,data:{b64(self.data)},iv:{b64(self.iv)},"
            f"tag:{b64(self.tag)},type:{self.type}]"
        )


def is_encrypted(value: object) -> bool:
    """Whether a value looks like an ``ENC[...]`` string (cheap; no key needed)."""
    return isinstance(value, str) and value.startswith("ENC[AES256_GCM,")


def parse_enc(s: str) -> EncValue:
    match = _ENC_RE.fullmatch(s) if isinstance(s, str) else None
    if match is None:
        raise SopsError("malformed or truncated ENC[AES256_GCM,...] value")
    try:
        data, iv, tag = (base64.b64decode(match.group(i), validate=True) for i in (1, 2, 3))
    except binascii.Error:
        raise SopsError("malformed ENC value: bad base64") from None
    if not iv or len(tag) != _TAG_SIZE:
        raise SopsError("malformed ENC value: bad iv or tag length")
    if match.group(4) not in _TYPES:
        raise SopsError(f"unknown ENC value type {match.group(4)!r}")
    return EncValue(data, iv, tag, match.group(4))


def _go_float(value: float) -> str:
    # Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an
    # exponent, no trailing ".0" (1234568000.0 -> "1234568000").
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _rfc3339(moment: _dt.datetime, nano: bool) -> str:
    # Go's time.RFC3339 / RFC3339Nano: "Z" for a zero offset, trailing zeros trimmed.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nano and moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    offset = moment.utcoffset() or _dt.timedelta(0)
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _encode(value: object) -> tuple[str, bytes]:
    """(sops type, plaintext bytes) of a leaf: what is encrypted and what is hashed."""
    try:
        if isinstance(value, Comment):
            return "comment", value.text.encode("utf-8")
        if isinstance(value, bool):
            return "bool", b"True" if value else b"False"
        if isinstance(value, int):
            return "int", str(value).encode("ascii")
        if isinstance(value, float):
            return "float", _go_float(value).encode("ascii")
        if isinstance(value, _dt.datetime):
            return "time", _rfc3339(value, nano=True).encode("ascii")
        if isinstance(value, _dt.date):
            # sops' YAML reader keeps an unquoted date as the string it reads.
            return "str", value.isoformat().encode("ascii")
        if isinstance(value, str):
            return "str", value.encode("utf-8")
    except UnicodeEncodeError:
        raise SopsError("value is not valid Unicode text") from None
    raise SopsError(f"cannot encrypt a value of type {type(value).__name__}")


def _decode(kind: str, raw: bytes) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SopsError(f"decrypted {kind} value is not UTF-8") from None
    if kind in ("str", "bytes"):
        return text
    if kind == "comment":
        return Comment(text)
    if kind in ("int", "int64") and re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    if kind == "float" and "_" not in text and text.strip() == text:
        try:
            return float(text)
        except ValueError:
            pass
    if kind == "bool":  # Go's strconv.ParseBool
        if text in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if text in ("0", "f", "F", "FALSE", "false", "False"):
            return False
    if kind == "time":
        moment = go_time(text)
        if moment is not None:
            return moment
    raise SopsError(f"decrypted value is not a valid {kind}")


_TIME_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)


def go_time(text: str) -> str | None:
    """A ``type:time`` plaintext as sops prints it, or None when Go would not parse it.

    sops decrypts it into a Go ``time.Time`` and prints that with RFC 3339 (nano) in YAML
    and JSON alike: fraction without trailing zeros, ``Z`` for a zero offset. dangan
    keeps it as that text (a string: dangan's YAML has no timestamp type, and Python's
    datetime would lose nanoseconds). Its bytes are what the MAC hashes, as in sops."""
    match = _TIME_RE.fullmatch(text)
    if match is None:
        return None
    day, clock, fraction, zone = match.groups()
    try:
        _dt.datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        return None
    if zone != "Z" and (int(zone[1:3]) > 23 or int(zone[4:6]) > 59):
        return None
    fraction = (fraction or "").rstrip("0")
    zone = "Z" if zone[1:] == "00:00" else zone
    return f"{day}T{clock}{'.' + fraction if fraction else ''}{zone}"


def encrypt_value(value: object, key: bytes, aad: str, iv: bytes | None = None) -> str:
    """Encrypt one leaf. ``iv`` is for tests and vectors; normally it is random."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # 12 ms: only to seal

    kind, plain = _encode(value)
    iv = os.urandom(_IV_SIZE) if iv is None else iv
    sealed = AESGCM(key).encrypt(iv, plain, aad.encode("utf-8"))
    return EncValue(sealed[:-_TAG_SIZE], iv, sealed[-_TAG_SIZE:], kind).format()


def _open_value(enc: str, key: bytes, aad: str) -> tuple[EncValue, bytes]:
    from cryptography.exceptions import InvalidTag  # 12 ms: only to open
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    parsed = parse_enc(enc)
    try:
        plain = AESGCM(key).decrypt(parsed.iv, parsed.data + parsed.tag, aad.encode("utf-8"))
    except InvalidTag:
        raise DecryptionError(
            "authentication failed (wrong key, altered value, or value moved from another field)"
        ) from None
    return parsed, plain


def decrypt_value(enc: str, key: bytes, aad: str) -> object:
    parsed, plain = _open_value(enc, key, aad)
    return _decode(parsed.type, plain)


# --- which leaves are encrypted ------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """The one encryption rule of a file (sops allows a single key rule per file).

    An empty Rule encrypts everything; :meth:`from_metadata` applies sops' default
    ``unencrypted_suffix: _unencrypted`` when a file names no rule. Regexes use Go
    semantics, i.e. an unanchored search, which is ``re.search``.
    """

    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: str = ""
    encrypted_regex: str = ""
    unencrypted_comment_regex: str = ""
    encrypted_comment_regex: str = ""

    def __post_init__(self) -> None:
        given = [name for name in _RULE_FIELDS if getattr(self, name)]
        if len(given) > 1:
            raise SopsError("a file may use only one of the sops encryption rules")
        for name in given:
            if name.endswith("regex"):
                try:
                    re.compile(getattr(self, name))
                except re.error as exc:
                    raise SopsError(f"invalid {name}: {exc}") from None

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> Rule:
        return _rule_of(tuple(str(meta.get(name) or "") for name in _RULE_FIELDS))

    def as_metadata(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in _RULE_FIELDS if getattr(self, name)}

    def should_encrypt(self, path: Sequence[str], comments: Sequence[Sequence[str]] = (),
                       is_comment: bool = False) -> bool:
        """sops' shouldBeEncrypted: each key rule is tested against every path component."""
        if self.unencrypted_suffix:
            return not any(p.endswith(self.unencrypted_suffix) for p in path)
        if self.encrypted_suffix:
            return any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex:
            return not any(re.search(self.unencrypted_regex, p) for p in path)
        if self.encrypted_regex:
            return any(re.search(self.encrypted_regex, p) for p in path)
        if self.unencrypted_comment_regex:
            return not any(re.search(self.unencrypted_comment_regex, c)
                           for group in comments for c in group)
        if self.encrypted_comment_regex:
            # The comment that carries the marker is itself left in clear.
            last = (len(comments) - 1, len(comments[-1]) - 1) if comments else (-1, -1)
            return any(re.search(self.encrypted_comment_regex, c)
                       for i, group in enumerate(comments) for j, c in enumerate(group)
                       if not (is_comment and (i, j) == last))
        return True


# the rule's field names, in sops' order (dataclasses.fields() is slow on a hot path)
_RULE_FIELDS = tuple(f.name for f in fields(Rule))


@functools.lru_cache(maxsize=64)
def _rule_of(values: tuple[str, ...]) -> Rule:
    """A Rule (frozen) made once per distinct set of values: every encrypted record of a
    vault carries the same one, and `check` reads it for each (its regex compiled each time)."""
    if not any(values):
        return Rule(unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX)
    return Rule(*values)


def encrypted_regex_for(names: Iterable[str]) -> str:
    """``^(name1|name2|...)$`` for a category's sensitive property names (docs/format.md §7).

    Sorted, so the regex stored in every record does not change with schema order.
    """
    names = sorted(set(names))
    if not names:
        raise SopsError("no sensitive field names to build encrypted_regex from")
    return "^(" + "|".join(re.escape(n) for n in names) + ")$"


# --- trees -----------------------------------------------------------------------------

_Leaf = Callable[[Any, tuple[str, ...], list[list[str]]], Any]


def _aad(path: Sequence[str]) -> str:
    # Map keys joined with ":" plus a trailing ":"; list indexes are not part of it.
    return "".join(p + ":" for p in path)


def _walk(node: Any, path: tuple[str, ...], stack: list[list[str]], on_leaf: _Leaf) -> Any:
    """Rebuild a tree, calling on_leaf(value, path, comment stack) on every leaf.

    Mirrors sops' walkBranch/walkSlice, including the stack of the comments that precede
    each value (used by the comment-regex rules). None is not a leaf: sops neither
    encrypts nor hashes it.
    """
    if isinstance(node, dict):
        stack = stack + [[]]
        out: dict[Any, Any] = {}
        for key, value in node.items():
            if isinstance(key, Comment):
                stack[-1].append(key.text)
                out[on_leaf(key, path, stack)] = None
                continue
            if not isinstance(key, str):
                raise SopsError(f"non-string key under {_aad(path) or 'the root'}")
            out[key] = _walk(value, path + (key,), stack, on_leaf)
            stack[-1] = []
        return out
    if isinstance(node, list):
        stack = stack + [[]]
        items = []
        for value in node:
            if isinstance(value, Comment):
                stack[-1].append(value.text)
            items.append(_walk(value, path, stack, on_leaf))
            if not isinstance(value, Comment):
                stack[-1] = []
        return items
    if node is None:
        return None
    return on_leaf(node, path, stack)


def _stash(previous: Any, key: bytes) -> dict[tuple[str, str, bytes], deque[str]]:
    """Old ciphertexts by (AAD, type, plaintext), in document order.

    Reusing an old ``ENC[...]`` string for the same plaintext, type and AAD under the same
    key is exactly what sops does (it keeps the IV of every value it decrypted), so an
    unchanged value keeps its ciphertext. Each old string is used at most once: two equal
    values never come to share an IV unless they already did.
    """
    stash: dict[tuple[str, str, bytes], deque[str]] = {}

    def collect(value: Any, path: tuple[str, ...], _stack: list[list[str]]) -> Any:
        text = value.text if isinstance(value, Comment) else value
        if is_encrypted(text):
            try:
                parsed, plain = _open_value(text, key, _aad(path))
            except SopsError:
                return value  # another key or a damaged value: nothing to reuse
            stash.setdefault((_aad(path), parsed.type, plain), deque()).append(text)
        return value

    _walk(previous, (), [], collect)
    return stash


def encrypt_tree(plain: Any, key: bytes, rule: Rule, previous: Any = None) -> Any:
    """Encrypt the leaves the rule selects. ``previous``: the old encrypted tree (same key)."""
    stash = _stash(previous, key) if previous is not None else {}

    def seal(value: Any, path: tuple[str, ...], stack: list[list[str]]) -> Any:
        comment = isinstance(value, Comment)
        if not rule.should_encrypt(path, stack, comment):
            return value
        kind, plain_bytes = _encode(value)
        if not plain_bytes and kind in ("str", "comment"):
            return value  # sops leaves empty strings in clear
        old = stash.get((_aad(path), kind, plain_bytes))
        if not old and kind == "str":
            # a time (or bytes) value sops wrote decrypts to this same text: unchanged,
            # it keeps its ciphertext and so its type
            old = stash.get((_aad(path), "time", plain_bytes)) or \
                stash.get((_aad(path), "bytes", plain_bytes))
        enc = old.popleft() if old else encrypt_value(value, key, _aad(path))
        return Comment(enc) if comment else enc

    return _walk(plain, (), [], seal)


def decrypt_tree(enc_tree: Any, key: bytes, rule: Rule | None = None) -> Any:
    """Decrypt the leaves the rule selects (default rule: sops' ``_unencrypted`` suffix)."""
    rule = rule or Rule(unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX)
    mapping_aads: list[str] = []

    def open_leaf(value: Any, path: tuple[str, ...], stack: list[list[str]]) -> Any:
        if isinstance(value, Comment):
            # Not gated by the rule: parsers disagree on where a comment belongs (below),
            # and an ENC comment that authenticates was encrypted whatever the rule says.
            return _open_comment(value, path) if is_encrypted(value.text) else value
        if not rule.should_encrypt(path, stack, False) or value == "":
            return value
        if not isinstance(value, str):
            raise SopsError(f"{_aad(path)} should be encrypted but holds a clear value")
        try:
            return decrypt_value(value, key, _aad(path))
        except SopsError as exc:
            raise type(exc)(f"{_aad(path)} {exc}") from None

    def _open_comment(value: Comment, path: tuple[str, ...]) -> Comment:
        # YAML parsers disagree on which mapping a comment between two blocks belongs to,
        # and the AAD is that mapping's path; GCM authenticates the right one, so trying
        # the document's other mapping paths is safe.
        if not mapping_aads:
            mapping_aads.extend(_mapping_aads(enc_tree))
        for aad in [_aad(path)] + mapping_aads:
            try:
                opened = decrypt_value(value.text, key, aad)
            except SopsError:
                continue
            return opened if isinstance(opened, Comment) else Comment(str(opened))
        return value  # as sops does: assume a comment written in clear by an old sops

    return _walk(enc_tree, (), [], open_leaf)


def _mapping_aads(tree: Any) -> list[str]:
    found: list[str] = []

    def visit(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            found.append(_aad(path))
            for k, v in node.items():
                if isinstance(k, str):
                    visit(v, path + (k,))
        elif isinstance(node, list):
            for v in node:
                visit(v, path)

    visit(tree, ())
    return list(dict.fromkeys(found))


def compute_mac(plain: Any, rule: Rule, mac_only_encrypted: bool = False) -> str:
    """SHA-512 over every leaf's plaintext bytes in document order, uppercase hex."""
    digest = hashlib.sha512()
    if mac_only_encrypted:
        digest.update(_MAC_ONLY_ENCRYPTED_SEED)

    def hash_leaf(value: Any, path: tuple[str, ...], stack: list[list[str]]) -> Any:
        if not isinstance(value, Comment) and (
            not mac_only_encrypted or rule.should_encrypt(path, stack, False)
        ):
            digest.update(_encode(value)[1])
        return value

    _walk(plain, (), [], hash_leaf)
    return digest.hexdigest().upper()


def needs_encryption(plain: Any, rule: Rule) -> bool:
    """Whether any non-empty leaf falls under the rule (else the record stays plain YAML)."""
    hits: list[bool] = []

    def probe(value: Any, path: tuple[str, ...], stack: list[list[str]]) -> Any:
        if value != "" and rule.should_encrypt(path, stack, isinstance(value, Comment)):
            hits.append(True)
        return value

    _walk(plain, (), [], probe)
    return bool(hits)


def strip_comments(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: strip_comments(v) for k, v in tree.items() if not isinstance(k, Comment)}
    if isinstance(tree, list):
        return [strip_comments(v) for v in tree if not isinstance(v, Comment)]
    return tree


def iter_comments(tree: Any, path: tuple[str, ...] = ()) -> Iterable[tuple[str, Comment]]:
    """(AAD of the enclosing mapping, comment) for every comment, in document order."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            if isinstance(k, Comment):
                yield _aad(path), k
            else:
                yield from iter_comments(v, path + (k,))
    elif isinstance(tree, list):
        for v in tree:
            if isinstance(v, Comment):
                yield _aad(path), v
            else:
                yield from iter_comments(v, path)


# --- metadata and data key -------------------------------------------------------------


@dataclass
class Metadata:
    """The ``sops:`` block. Reading accepts every sops layout; writing emits the current one."""

    age: list[tuple[str, str]]  # (recipient, armored enc) in file order
    lastmodified: str
    mac: str
    rule: Rule
    mac_only_encrypted: bool = False
    version: str = SOPS_VERSION
    other_keys: bool = field(default=False, repr=False)  # pgp/kms/... entries we cannot use

    @classmethod
    def from_dict(cls, raw: Any) -> Metadata:
        if not isinstance(raw, dict):
            raise SopsError("the sops metadata block is not a mapping")
        groups = raw.get("key_groups") or []
        if len(groups) > 1:
            raise SopsError("sops files with several key groups (Shamir) are not supported")
        source = groups[0] if groups else raw
        if not isinstance(source, dict):
            raise SopsError("malformed key_groups in the sops metadata")
        age = []
        for entry in source.get("age") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("enc"), str):
                raise SopsError("malformed age entry in the sops metadata")
            age.append((str(entry.get("recipient", "")), entry["enc"]))
        other = any(source.get(k) for k in ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"))
        lastmodified, mac = raw.get("lastmodified"), raw.get("mac")
        if isinstance(lastmodified, _dt.datetime):  # YAML loaders that resolve timestamps
            lastmodified = _rfc3339(lastmodified, nano=True)
        if not isinstance(lastmodified, str) or not isinstance(mac, str) or not mac:
            raise SopsError("the sops metadata lacks lastmodified or mac")
        return cls(age, lastmodified, mac, Rule.from_metadata(raw),
                   bool(raw.get("mac_only_encrypted")), str(raw.get("version", "")), other)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "age": [{"enc": enc, "recipient": r} for r, enc in self.age],
            "lastmodified": self.lastmodified,
            "mac": self.mac,
            "version": self.version,
            **self.rule.as_metadata(),
        }
        if self.mac_only_encrypted:
            out["mac_only_encrypted"] = True
        return {k: out[k] for k in sorted(out)}

    def mac_aad(self) -> str:
        # sops parses lastmodified and re-formats it as RFC 3339 (seconds) for the AAD.
        try:
            moment = _dt.datetime.fromisoformat(self.lastmodified)
        except ValueError:
            raise SopsError("the sops metadata has a malformed lastmodified") from None
        return _rfc3339(moment, nano=False)


def verify_mac(plain: Any, key: bytes, meta: Metadata) -> None:
    try:
        stored = decrypt_value(meta.mac, key, meta.mac_aad())
    except DecryptionError:
        raise MacMismatch("MAC mismatch: the stored MAC or lastmodified was altered") from None
    computed = compute_mac(plain, meta.rule, meta.mac_only_encrypted)
    if not isinstance(stored, str) or not hmac.compare_digest(stored.upper(), computed):
        raise MacMismatch("MAC mismatch: the file was changed without its key")


def wrap_data_key(key: bytes, recipients: Iterable[str]) -> list[tuple[str, str]]:
    """The data key age-encrypted (armored) to each recipient separately, as sops does."""
    entries = []
    for text in recipients:
        recipient = agekeys.parse_recipient(text)
        armored = pyrage.encrypt(key, [recipient.key], armored=True).decode("ascii")
        entries.append((recipient.text, armored))
    return entries


def unwrap_data_key(meta: Metadata, identities: Sequence[agekeys.Identity],
                    unwrapped: dict[str, bytes] | None = None) -> bytes:
    """The data key, from the first age entry the identities open. `unwrapped`, when given,
    keeps each opened entry's key by its armored text for the next call with the same
    identities: two versions of a record sealed with one data key share the entry (a diff
    opens both), and the X25519 work is the larger part of opening a small record."""
    if not meta.age:
        raise NoMatchingIdentity("the file has no age recipients (only pgp/kms keys?)")
    if not identities:
        raise NoMatchingIdentity("no identity given to open the file")
    damaged = []
    for recipient, enc in meta.age:
        known = unwrapped.get(enc) if unwrapped is not None else None
        if known is not None:
            return known
        try:
            key = pyrage.decrypt(enc.encode("utf-8"), list(identities))
        except pyrage.DecryptError as exc:
            if "No matching keys" not in str(exc):
                damaged.append(recipient)
            continue
        if len(key) != 32:
            raise SopsError(f"the data key wrapped for {recipient} is not 32 bytes")
        if unwrapped is not None:
            unwrapped[enc] = key
        return key
    if damaged:
        raise SopsError(f"corrupted age blob (enc) for recipient {damaged[0]}")
    raise NoMatchingIdentity(
        "none of your identities is a recipient of this file (recipients: "
        + ", ".join(r[:20] + "..." for r, _ in meta.age) + ")"
    )


# --- documents -------------------------------------------------------------------------


def _split(doc: Any) -> tuple[dict[str, Any], Metadata]:
    if not isinstance(doc, dict) or "sops" not in doc:
        raise SopsError("not a sops file: no sops metadata")
    return {k: v for k, v in doc.items() if k != "sops"}, Metadata.from_dict(doc["sops"])


def _open(doc: Any, identities: Sequence[agekeys.Identity],
          unwrapped: dict[str, bytes] | None = None) -> tuple[Any, Metadata, bytes]:
    body, meta = _split(doc)
    key = unwrap_data_key(meta, identities, unwrapped)
    try:
        plain = decrypt_tree(body, key, meta.rule)
        verify_mac(plain, key, meta)
    except RecursionError:
        raise SopsError("document nested too deeply") from None
    return plain, meta, key


def decrypt_document(doc: Any, identities: Sequence[agekeys.Identity],
                     unwrapped: dict[str, bytes] | None = None) -> tuple[Any, Metadata]:
    """Decrypt a sops document (a tree with a ``sops`` key) and verify its MAC.
    `unwrapped`: data keys already opened with these identities (unwrap_data_key)."""
    plain, meta, _key = _open(doc, identities, unwrapped)
    return plain, meta


def _age_only(meta: Metadata) -> None:
    # Rewriting keeps only age entries; silently dropping someone's pgp/kms access is worse
    # than refusing.
    if meta.other_keys:
        raise SopsError("the file also has pgp/kms/vault keys; dangan manages age recipients only "
                        "(use sops for this file)")


def _now() -> str:
    """`lastmodified`: now, or the date of the commit being made when GIT_COMMITTER_DATE
    gives one in ISO 8601 with an offset (how back-dated history is written, e.g. by
    `dangan demo`), so that a record's metadata agrees with the commit that stores it.
    Other spellings of that variable are git's business; they leave the wall clock."""
    moment = _dt.datetime.now(_dt.UTC)
    given = os.environ.get("GIT_COMMITTER_DATE", "")
    try:
        parsed = _dt.datetime.fromisoformat(given) if given else None
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        moment = parsed.astimezone(_dt.UTC)
    return _rfc3339(moment.replace(microsecond=0), nano=False)


def _seal_document(plain: Any, key: bytes, rule: Rule, age: list[tuple[str, str]],
                   previous: tuple[Any, Metadata] | None, now: str | None) -> dict[str, Any]:
    if isinstance(plain, dict) and "sops" in plain:
        raise SopsError("a record may not have a top-level 'sops' field")
    if not isinstance(plain, dict):
        raise SopsError("a sops document must be a mapping")
    try:
        body = encrypt_tree(plain, key, rule, previous[0] if previous else None)
        mac = compute_mac(plain, rule)
    except RecursionError:
        raise SopsError("document nested too deeply") from None
    meta = Metadata(age, "", "", rule)
    old = previous[1] if previous else None
    if old is not None and old.rule == rule and not old.mac_only_encrypted and \
            decrypt_value(old.mac, key, old.mac_aad()) == mac:
        # Nothing hashed changed: keep lastmodified and mac, so a rewrite is no diff.
        meta.lastmodified, meta.mac = old.lastmodified, old.mac
    else:
        meta.lastmodified = now or _now()
        meta.mac = encrypt_value(mac, key, meta.mac_aad())
    return {**body, "sops": meta.to_dict()}


def _reuse_or_wrap(key: bytes, recipients: Sequence[str],
                   old: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # A recipient that stays keeps its blob: age output is randomised, so re-wrapping
    # would change every line of it in the diff for nothing.
    kept = {agekeys.parse_recipient(r).text: enc for r, enc in old if r}
    out = []
    for text in dict.fromkeys(agekeys.parse_recipient(r).text for r in recipients):
        out.append((text, kept[text]) if text in kept else wrap_data_key(key, [text])[0])
    if not out:
        raise SopsError("at least one recipient is needed")
    return out


def encrypt_document(plain: dict[str, Any], recipients: Sequence[str], encrypted_regex: str,
                     previous_doc: dict[str, Any] | None = None,
                     identities: Sequence[agekeys.Identity] = (),
                     now: str | None = None) -> dict[str, Any]:
    """Encrypt a record. With ``previous_doc`` (its current file, opened with
    ``identities``), the data key and every unchanged ciphertext are kept."""
    rule = Rule(encrypted_regex=encrypted_regex)
    if previous_doc is not None and "sops" in previous_doc:
        _old_plain, old_meta, key = _open(previous_doc, identities)
        _age_only(old_meta)
        age = _reuse_or_wrap(key, recipients, old_meta.age)
        body = {k: v for k, v in previous_doc.items() if k != "sops"}
        return _seal_document(plain, key, rule, age, (body, old_meta), now)
    key = os.urandom(32)
    age = _reuse_or_wrap(key, recipients, [])
    return _seal_document(plain, key, rule, age, None, now)


def encrypt_checked(plain: dict[str, Any], recipients: Sequence[str], encrypted_regex: str,
                    now: str | None = None) -> dict[str, Any]:
    """Encrypt a record with a new data key for `recipients` (who may be other people than
    the user: a handover), then prove the document before the key is dropped: its values
    decrypt with that key to exactly `plain`, its MAC verifies, and the data key is wrapped
    for exactly `recipients`. The key never leaves this function; a mismatch is a
    SopsError (without plaintext), and nothing unproven is returned."""
    rule = Rule(encrypted_regex=encrypted_regex)
    key = os.urandom(32)
    age = _reuse_or_wrap(key, recipients, [])
    doc = _seal_document(plain, key, rule, age, None, now)
    body, meta = _split(doc)
    try:
        opened = decrypt_tree(body, key, meta.rule)
        verify_mac(opened, key, meta)
    except DecryptionError:
        raise SopsError("a value sealed just now does not decrypt with its data key") from None
    if opened != plain:
        raise SopsError("a value sealed just now decrypts to something else than its plaintext")
    wanted = {agekeys.parse_recipient(r).text for r in recipients}
    if {r for r, _ in meta.age} != wanted or len(meta.age) != len(wanted):
        raise SopsError("the data key was not wrapped for exactly the recipients given")
    for _recipient, enc in meta.age:
        if not enc.startswith("-----BEGIN AGE ENCRYPTED FILE-----"):
            raise SopsError("a wrapped data key is not an age file")
    return doc


def rewrap(doc: dict[str, Any], identities: Sequence[agekeys.Identity],
           recipients: Sequence[str]) -> dict[str, Any]:
    """sops updatekeys: the same data key for a new recipient set; values untouched."""
    _plain, meta, key = _open(doc, identities)
    _age_only(meta)
    meta.age = _reuse_or_wrap(key, recipients, meta.age)
    meta.version = SOPS_VERSION
    return {**{k: v for k, v in doc.items() if k != "sops"}, "sops": meta.to_dict()}


def rotate(doc: dict[str, Any], identities: Sequence[agekeys.Identity],
           recipients: Sequence[str], now: str | None = None) -> dict[str, Any]:
    """sops rotate: a new data key; every value re-encrypted, the file's rule kept."""
    plain, meta, _old_key = _open(doc, identities)
    _age_only(meta)
    key = os.urandom(32)
    return _seal_document(plain, key, meta.rule, _reuse_or_wrap(key, recipients, []), None, now)


# --- reading sops YAML with its comments -----------------------------------------------


def load_sops_yaml(text: str) -> Any:
    """Parse a sops-written YAML file into a plain tree, comments as :class:`Comment`.

    Scalars are typed as sops' Go YAML reader types them (timestamps stay strings).
    Anchors/aliases and custom tags are refused: sops files never contain them, and an
    alias bomb must not expand.
    """
    from ruamel.yaml import YAML, YAMLError  # lazy: ruamel costs ~50 ms to import
    from ruamel.yaml.constructor import RoundTripConstructor

    class _Constructor(RoundTripConstructor):
        pass

    _Constructor.add_constructor(
        "tag:yaml.org,2002:timestamp", lambda self, node: self.construct_scalar(node)
    )
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    try:
        data = yaml.load(text)
        return _from_ruamel(data, set())
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SopsError(f"invalid YAML{where}: {getattr(exc, 'problem', None) or 'parse error'}") \
            from None
    except RecursionError:
        raise SopsError("YAML nested too deeply") from None


def _comment_lines(ca_entry: Any) -> list[Comment]:
    # ruamel keeps comments as CommentToken objects nested in lists; a token may hold
    # several lines (and blank lines). sops keeps each "#..." line as one comment.
    out: list[Comment] = []
    stack = [ca_entry]
    tokens = []
    while stack:
        item = stack.pop(0)
        if isinstance(item, list):
            stack[:0] = item
        elif item is not None and hasattr(item, "value"):
            tokens.append(item)
    for token in tokens:
        for line in str(token.value).splitlines():
            line = line.strip()
            if line.startswith("#"):
                out.append(Comment(line[1:]))
    return out


def _from_ruamel(node: Any, seen: set[int]) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

    if isinstance(node, (CommentedMap, CommentedSeq)):
        if id(node) in seen:
            raise SopsError("YAML anchors and aliases are not allowed in a sops file")
        seen.add(id(node))
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for c in _comment_lines(node.ca.comment):
            out[c] = None
        for key, value in node.items():
            if not isinstance(key, str):
                raise SopsError("non-string keys are not allowed in a sops file")
            out[str(key)] = _from_ruamel(value, seen)
            for c in _comment_lines(node.ca.items.get(key)):
                out[c] = None
        for c in _comment_lines(getattr(node.ca, "end", None)):
            out[c] = None
        return out
    if isinstance(node, CommentedSeq):
        items: list[Any] = _comment_lines(node.ca.comment)
        for index, value in enumerate(node):
            items.append(_from_ruamel(value, seen))
            items.extend(_comment_lines(node.ca.items.get(index)))
        return items
    if isinstance(node, TaggedScalar):
        raise SopsError("custom YAML tags are not allowed in a sops file")
    if node is None or isinstance(node, bool):
        return node
    if type(node).__name__ == "ScalarBoolean":  # ruamel's anchored bool is an int subclass
        return bool(node)
    for plain in (str, int, float):
        if isinstance(node, plain):
            return plain(node)
    raise SopsError(f"unsupported YAML value of type {type(node).__name__}")


# --- JSON as sops prints it ------------------------------------------------------------


def json_text(tree: Any) -> str:
    """A decrypted tree as ``sops decrypt --output-type json`` prints it, byte for byte.

    sops writes each value with Go's ``encoding/json`` and indents with tabs: floats as
    Go formats them (``1e+21``, ``1.5e-7``, ``-0``, ``1`` for 1.0), ``<``, ``>``, ``&``,
    U+2028 and U+2029 escaped, comments left out."""
    return _json_value(tree, "") + "\n"


def _json_value(node: Any, indent: str) -> str:
    import json

    inner = indent + "\t"
    if isinstance(node, dict):
        items = [(k, v) for k, v in node.items() if not isinstance(k, Comment)]
        if not items:
            return "{}"
        body = ",\n".join(f"{inner}{_json_string(str(k))}: {_json_value(v, inner)}" for k, v in items)
        return "{\n" + body + "\n" + indent + "}"
    if isinstance(node, list):
        items = [v for v in node if not isinstance(v, Comment)]
        if not items:
            return "[]"
        return "[\n" + ",\n".join(inner + _json_value(v, inner) for v in items) + "\n" + indent + "]"
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int):
        return str(int(node))
    if isinstance(node, float):
        return _json_float(float(node))
    if isinstance(node, str):
        return _json_string(node)
    return json.dumps(node)  # not a tree value: json says why


def _json_string(text: str) -> str:
    import json

    out = json.dumps(text, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        out = out.replace(char, escaped)
    return out


def _json_float(value: float) -> str:
    # Go's encoding/json: 'f' format between 1e-6 and 1e21, else 'e' with "e-07" -> "e-7".
    if not math.isfinite(value):
        raise SopsError("JSON has no infinite or NaN numbers")
    size = abs(value)
    if size == 0 or 1e-6 <= size < 1e21:
        return _go_float(value) if value != 0 else ("-0" if math.copysign(1, value) < 0 else "0")
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    sign, digits = exponent[0], exponent[1:].lstrip("0")
    return f"{mantissa}e{sign}{digits.zfill(2) if sign == '+' else digits}"
