"""Comments of SOPS records through round-trip (ruamel) trees: decrypted to be shown,
kept and re-encrypted when a record is written again.

`formats.sops` works on plain trees, where comments have no place to stay. A record file
read with `yamlio.load_roundtrip` is a ruamel tree that carries its comments; this module
decrypts and encrypts those comments in place, and lays a newly sealed document over the
old tree so that every comment of what stays is kept (docs/format.md §7, "Comments").

What sops does, read in its source (sops.go, stores/yaml, aes/cipher.go; 3.11.0) and
checked against the sops 3.11.0 binary:

- a comment is encrypted like a leaf of the mapping (or list) that holds it: the rule is
  asked with that container's path, and the AAD is that path (`complainant:`); with
  dangan's `encrypted_regex` the comments inside a sensitive mapping are encrypted, those
  of the record's top level are not;
- comments never enter the MAC;
- an encrypted comment in a list is written by sops 3.11 as a list *item*
  (`- ENC[…,type:comment]`), which sops reads back as a comment; dangan reads both forms
  and writes the comment form (`#ENC[…]`), which sops reads as well;
- a comment that does not decrypt is shown as it is (sops: "possibly unencrypted comment").

No printing, no files. ruamel is imported lazily, like everywhere in `formats`.
"""
from __future__ import annotations

import copy
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dangan.formats import agekeys, sops

_LINE = re.compile(r"(?m)^([ \t]*)#([^\n]*)$")


def _is_rt(node: Any) -> bool:
    return type(node).__module__.startswith("ruamel.")


def _comment_item(value: Any) -> bool:
    """A list item that is an encrypted comment (how sops 3.11 writes them in lists)."""
    if not sops.is_encrypted(value):
        return False
    try:
        return sops.parse_enc(value).type == "comment"
    except sops.SopsError:
        return False


def _tokens(tree: Any) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """(comment token, path of the container whose `ca` holds it), each token once."""
    seen: set[int] = set()

    def flat(entry: Any) -> Iterator[Any]:
        if isinstance(entry, list):
            for item in entry:
                yield from flat(item)
        elif entry is not None and isinstance(getattr(entry, "value", None), str):
            yield entry

    def visit(node: Any, path: tuple[str, ...]) -> Iterator[tuple[Any, tuple[str, ...]]]:
        ca = getattr(node, "ca", None)
        if ca is not None:
            if isinstance(node, dict):
                # slot 3: the lines between a key and its nested value belong to that value
                for key, entry in ca.items.items():
                    if isinstance(entry, list) and len(entry) > 3 and \
                            isinstance(node.get(key), (dict, list)):
                        for token in flat(entry[3]):
                            if id(token) not in seen:
                                seen.add(id(token))
                                yield token, path + (str(key),)
            entries = [ca.comment, *ca.items.values(), getattr(ca, "end", None)]
            for token in flat(entries):
                if id(token) not in seen:
                    seen.add(id(token))
                    yield token, path
        if isinstance(node, dict):
            for key, value in node.items():
                yield from visit(value, path + (str(key),))
        elif isinstance(node, list):
            for value in node:
                yield from visit(value, path)

    yield from visit(tree, ())


def has_comments(tree: Any) -> bool:
    """Whether a round-trip tree carries any comment (clear, encrypted, or an encrypted
    comment stored as a list item)."""
    if not _is_rt(tree):
        return False
    if next(_tokens(tree), None) is not None:
        return True

    def items(node: Any) -> bool:
        if isinstance(node, dict):
            return any(items(v) for v in node.values())
        if isinstance(node, list):
            return any(_comment_item(v) or items(v) for v in node)
        return False

    return items(tree)


def _copy(tree: Any) -> Any:
    """A deep copy whose comments all print: ruamel's emitter marks a comment it wrote
    (`pre_done`) and a copy of a tree already dumped would keep that mark and skip it."""
    out = copy.deepcopy(tree)
    for token, _path in _tokens(out):
        if getattr(token, "pre_done", None):
            token.pre_done = None
    return out


def _rewrite(token: Any, change: Callable[[str], str]) -> None:
    """Apply `change` to the text after `#` of every comment line of a token."""
    token.value = _LINE.sub(lambda m: f"{m.group(1)}#{change(m.group(2))}", token.value)


def _mapping_aads(tree: Any) -> list[str]:
    found: list[str] = []

    def visit(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            found.append(sops._aad(path))
            for key, value in node.items():
                visit(value, path + (str(key),))
        elif isinstance(node, list):
            found.append(sops._aad(path))
            for value in node:
                visit(value, path)

    visit(tree, ())
    return list(dict.fromkeys(found))


def _open_comment(text: str, key: bytes, aads: Sequence[str]) -> tuple[str, str] | None:
    """(plaintext, AAD) of an encrypted comment, or None when it does not open.

    ruamel and go-yaml (sops) do not always hang a comment on the same mapping, and the
    AAD is the mapping's path: GCM authenticates the right one, so trying the document's
    container paths (the token's own first) is safe."""
    for aad in aads:
        try:
            opened = sops.decrypt_value(text, key, aad)
        except sops.SopsError:
            continue
        return (opened.text if isinstance(opened, sops.Comment) else str(opened)), aad
    return None


# --- laying a new tree over an old one -----------------------------------------------


def _kind(value: Any) -> tuple[str, Any]:
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, kind):
            return name, kind(value)
    return type(value).__name__, value


def overlay(node: Any, new: Any) -> Any:
    """Make a ruamel container hold `new` (a plain tree), in place, keeping the comments
    of every key that stays; returns the container (or `new` when it cannot be kept)."""
    if isinstance(node, dict) and isinstance(new, dict) and _is_rt(node):
        for key in [k for k in node if k not in new]:
            del node[key]
        for index, (key, value) in enumerate(new.items()):
            if key not in node:
                node.insert(index, key, value)
            else:
                merged = _merged(node[key], value)
                if merged is not node[key]:  # setting a key again can lose its comments
                    node[key] = merged
        return node
    if isinstance(node, list) and isinstance(new, list) and _is_rt(node):
        kept = [i for i, item in enumerate(node) if not _comment_item(item)]
        if len(kept) == len(new):
            for i, value in zip(kept, new, strict=True):
                node[i] = _merged(node[i], value)
            return node
        items, rest = [], iter(new)
        for item in node:
            if _comment_item(item):
                items.append(item)
            else:
                nxt = next(rest, _END)
                if nxt is not _END:
                    items.append(_merged(item, nxt))
        items.extend(rest)
        node[:] = items
        return node
    return new


_END = object()


def _merged(old: Any, new: Any) -> Any:
    if isinstance(new, (dict, list)):
        return overlay(old, new)
    return old if _kind(old) == _kind(new) else new


# --- reading -------------------------------------------------------------------------


@dataclass
class Opened:
    """A stored record opened with its comments."""

    plain: Any  # the decrypted round-trip tree, without `sops`, comments decrypted
    meta: sops.Metadata
    key: bytes
    # plaintext of each encrypted comment -> (AAD, ciphertext), in document order
    encrypted: dict[str, deque[tuple[str, str]]] = field(default_factory=dict)
    clear: Counter[str] = field(default_factory=Counter)


def open_commented(doc: Any, identities: Sequence[agekeys.Identity]) -> Opened:
    """Decrypt a stored round-trip document, values and comments (MAC verified)."""
    plain, meta, key = sops._open(doc, identities)
    out = _copy(doc)
    del out["sops"]
    aads = _mapping_aads(out)
    opened = Opened(out, meta, key)

    def reveal(text: str, path: tuple[str, ...]) -> str:
        if sops.is_encrypted(text):
            found = _open_comment(text, key, [sops._aad(path), *aads])
            if found is not None:
                opened.encrypted.setdefault(found[0], deque()).append((found[1], text))
                return found[0]
        opened.clear[text] += 1
        return text

    for token, path in _tokens(out):
        _rewrite(token, lambda text, path=path: reveal(text, path))
    _items_to_comments(out, key, aads, opened)
    overlay(out, sops.strip_comments(plain))
    return opened


def _items_to_comments(tree: Any, key: bytes, aads: list[str], opened: Opened,
                       path: tuple[str, ...] = ()) -> None:
    """sops 3.11's `- ENC[…,type:comment]` list items become comment lines."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            _items_to_comments(value, key, aads, opened, path + (str(name),))
        return
    if not isinstance(tree, list):
        return
    for value in tree:
        _items_to_comments(value, key, aads, opened, path)
    if not any(_comment_item(item) for item in tree) or not _is_rt(tree):
        return
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    pending: list[str] = []
    items: list[Any] = []
    notes: dict[int, list[str]] = {}
    for item in tree:
        if _comment_item(item):
            found = _open_comment(item, key, [sops._aad(path), *aads])
            if found is not None:
                opened.encrypted.setdefault(found[0], deque()).append((found[1], item))
                pending.append(found[0])
            continue
        if pending:
            notes[len(items)] = pending
            pending = []
        items.append(item)
    if pending:  # comments after the last item go before it (rare; their text is kept)
        notes.setdefault(max(len(items) - 1, 0), []).extend(pending)
    tree[:] = items
    tree.ca.items.clear()
    for index, texts in notes.items():
        token = CommentToken("".join(f"#{t}\n" for t in texts), CommentMark(2), None)
        tree.ca.items[index] = [None, [token], None, None]


def decrypt_commented(doc: Any, identities: Sequence[agekeys.Identity]) -> Any:
    """The plaintext round-trip tree of a stored document, comments decrypted."""
    return open_commented(doc, identities).plain


# --- writing -------------------------------------------------------------------------


def carry_comments(previous: Any, sealed: dict[str, Any], old_key: bytes | None = None,
                   new_key: bytes | None = None) -> Any:
    """The sealed document laid over the previous stored round-trip tree, so that the
    comments of every field that stays are kept (encrypted ones as they were; with a new
    data key, `keys rotate`, re-encrypted with the same AAD)."""
    if not _is_rt(previous):
        return sealed
    out = overlay(_copy(previous), {k: v for k, v in sealed.items() if k != "sops"})
    if "sops" in sealed:
        out["sops"] = sealed["sops"]
    elif "sops" in out:
        del out["sops"]
    if old_key is not None and new_key is not None and old_key != new_key:
        aads = _mapping_aads(out)
        for token, path in _tokens(out):
            _rewrite(token, lambda text, path=path: _rekey(text, path, aads, old_key, new_key))
        _rekey_items(out, (), aads, old_key, new_key)
    elif "sops" not in sealed:
        _drop_encrypted(out)  # no data key any more: an encrypted comment cannot stay
    return out


def rotate_commented(doc: Any, identities: Sequence[agekeys.Identity],
                     recipients: Sequence[str]) -> Any:
    """`sops.rotate` of a round-trip document: a new data key, every value and every
    encrypted comment re-encrypted (comments with the AAD they had)."""
    plain, meta, old_key = sops._open(doc, identities)
    sops._age_only(meta)
    key = os.urandom(32)
    age = sops._reuse_or_wrap(key, recipients, [])
    sealed = sops._seal_document(sops.strip_comments(plain), key, meta.rule, age, None, None)
    return carry_comments(doc, sealed, old_key, key)


def _rekey(text: str, path: tuple[str, ...], aads: list[str], old: bytes, new: bytes) -> str:
    if not sops.is_encrypted(text):
        return text
    found = _open_comment(text, old, [sops._aad(path), *aads])
    if found is None:
        return text
    return sops.encrypt_value(sops.Comment(found[0]), new, found[1])


def _rekey_items(node: Any, path: tuple[str, ...], aads: list[str], old: bytes, new: bytes) -> None:
    if isinstance(node, dict):
        for name, value in node.items():
            if name != "sops":
                _rekey_items(value, path + (str(name),), aads, old, new)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if _comment_item(item):
                node[i] = _rekey(item, path, aads, old, new)
            else:
                _rekey_items(item, path, aads, old, new)


def _drop_encrypted(tree: Any) -> None:
    for token, _path in _tokens(tree):
        token.value = "".join(line for line in token.value.splitlines(keepends=True)
                              if not line.strip().startswith("#ENC[AES256_GCM,"))


def seal_commented(edited: Any, sealed: dict[str, Any], opened: Opened) -> Any:
    """`dangan edit` of an encrypted record: the edited round-trip tree (comments in clear,
    as the editor showed them) with the sealed values, each comment encrypted as it was
    (same ciphertext when its text and key are unchanged); a new comment is encrypted
    when sops would encrypt it: the rule asked with the path of the container that holds
    it, that path as AAD."""
    out = overlay(_copy(edited), {k: v for k, v in sealed.items() if k != "sops"})
    out["sops"] = sealed["sops"]
    meta = sops.Metadata.from_dict(sealed["sops"])
    encrypted = {text: deque(entries) for text, entries in opened.encrypted.items()}
    clear = Counter(opened.clear)

    def seal(text: str, path: tuple[str, ...]) -> str:
        if path[:1] == ("sops",) or not text.strip():
            return text
        if encrypted.get(text):
            aad, old = encrypted[text].popleft()
            if _open_comment(old, opened.key, [aad]) is not None:
                return old
            return sops.encrypt_value(sops.Comment(text), opened.key, aad)
        if clear[text] > 0:
            clear[text] -= 1
            return text
        if meta.rule.should_encrypt(path, [[text]], True):
            return sops.encrypt_value(sops.Comment(text), opened.key, sops._aad(path))
        return text

    for token, path in _tokens(out):
        _rewrite(token, lambda text, path=path: seal(text, path))
    return out
