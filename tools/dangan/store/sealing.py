"""Records and keys: sealing sensitive values for a vault's recipients, and opening them.

The format is `sops` (SOPS documents) and the key files `agekeys`; this module knows the
vault: which names are sensitive in a category, who may read it (`access`), where the
user's identities are. Errors become DanganError: a missing or wrong key is bad input
(exit 2); a record that fails its MAC or authentication is a refusal (exit 1).
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan.errors import DanganError, Refusal
from dangan.formats.schemas import is_enc, sensitive_leaves
from dangan.i18n import Message
from dangan.model.codes import Code


class IntegrityError(Refusal):
    """A record's MAC or ciphertext does not verify: it was altered outside dangan."""


class NoKeyToOpen(DanganError):
    """A key change (`reseal`) met a record that none of the user's keys opens."""


def restore_hint(where: str) -> str:
    """How to put back a record that fails its MAC, by the commands that do it. `where` is
    its path or a label that starts with its code; a hand-resolved merge is the usual cause,
    and while the merge is still open git can merge it again."""
    from dangan.model.codes import parse_code

    if where.endswith(".yaml"):
        path, name = where, where.rsplit("/", 1)[-1].removesuffix(".yaml")
    else:
        try:
            code = parse_code(where.split(" ")[0])
            path, name = code.path, str(code)
        except DanganError:
            path, name = "PATH", "CODE"
    return Message("`git checkout HEAD -- {path}` restores the committed version (`git log --oneline -- "
                   "{path}` lists older ones: `git checkout COMMIT -- {path}`); during a merge or rebase, "
                   "`git checkout -m -- {path}` then `dangan resolve {name}` merges it again",
                   path=path, name=name)


@dataclass
class Keyring:
    """The user's identities, found lazily (only a command that decrypts asks for them).

    `notify` (set by the entry points: the CLI, the hooks) is told, once, why a key file
    was refused when a command goes on without a key — `check` without DG107, the diff
    driver showing records masked — instead of doing so silently."""

    explicit: Path | None = None
    notify: Callable[[str], None] | None = field(default=None, repr=False, compare=False)
    refused: bool = field(default=False, init=False, repr=False, compare=False)  # a key file refused
    # an epoch vault's root (set by store.vault.Vault): its keyring's epoch identities that
    # the user's keys unlock are identities too (docs/shredding.md §3)
    epoch_root: Path | None = field(default=None, init=False, repr=False, compare=False)

    @functools.cached_property
    def own(self) -> list[Any]:
        """The user's own identities (key files), without the epochs they unlock."""
        from dangan.formats import agekeys

        try:
            return agekeys.find_identities(self.explicit, os.environ, Path.home())
        except agekeys.IdentityError as exc:
            self.refused = not isinstance(exc, agekeys.NoIdentity)
            raise DanganError(str(exc), Message("give --identity FILE, or set SOPS_AGE_KEY_FILE")) from None

    @functools.cached_property
    def identities(self) -> list[Any]:
        if self.epoch_root is None:
            return self.own
        return [*self.own, *self.epochs().values()]

    def epochs(self, identities: list[Any] | None = None) -> dict[str, Any]:
        """epoch -> identity, for the epochs of this clone's keyring that `identities` (the
        user's own, by default) unlock; nothing outside an epoch vault."""
        if self.epoch_root is None:
            return {}
        from dangan.git import gitio
        from dangan.store.epochkeys import EpochKeys

        return EpochKeys(gitio.git_dir(self.epoch_root)).unlock(self.own if identities is None else identities)

    def forget(self) -> None:
        """Find the identities again on the next use (an epoch was just made)."""
        for cached in ("identities", "_available"):
            self.__dict__.pop(cached, None)

    @functools.cached_property
    def _available(self) -> bool:
        try:
            return bool(self.identities)
        except DanganError as exc:
            if self.notify is not None and self.refused:
                self.notify(Message("{message}; going on without a key", message=exc.message))
            return False

    def available(self) -> bool:
        """True when an identity can be loaded (check uses keys only when there are some).
        Asked once per record by check: the answer, like the identities, is kept."""
        return self._available


@functools.lru_cache(maxsize=256)
def regex_for(names: frozenset[str]) -> str:
    from dangan.formats import sops  # cryptography and pyrage load only when needed
    return sops.encrypted_regex_for(names)


@functools.lru_cache(maxsize=256)
def _canonical_recipients(recipients: tuple[str, ...]) -> frozenset[str]:
    """The recipients as records store them (checked for every encrypted record)."""
    from dangan.formats import agekeys

    try:
        return frozenset(agekeys.parse_recipient(r).text for r in recipients)
    except agekeys.IdentityError:
        return frozenset(recipients)


def canonical_recipient(text: str) -> str:
    """A recipient as records store it (an SSH key without its comment); as given when
    it is not a key (DG114 reports it)."""
    return next(iter(_canonical_recipients((text,))))


def recipient_keys(config_recipients: list[dict[str, Any]]) -> list[str]:
    return [str(r["key"]) for r in config_recipients]


def has_clear_sensitive(tree: dict[str, Any], names: frozenset[str]) -> bool:
    return any(value not in (None, "") and not is_enc(value) for _, value in sensitive_leaves(tree, names))


def seal(
    code: Code,
    plain: dict[str, Any],
    names: frozenset[str],
    recipients: list[str],
    previous: dict[str, Any] | None,
    keyring: Keyring,
) -> dict[str, Any]:
    """The document to write for a plaintext record.

    Without sensitive values the record is plain YAML (no sops block). Otherwise a SOPS
    document: with `previous` (the current file) its data key and the ciphertext of every
    unchanged value are kept, so a review diff shows only what changed.
    """
    from dangan.formats import agekeys, sops, sopsrt  # cryptography and pyrage: only when needed
    prior = previous if previous is not None and "sops" in previous else None
    if not has_clear_sensitive(plain, names):
        # the record turns clear: its clear comments stay, encrypted ones cannot
        return sopsrt.carry_comments(prior, plain) if prior is not None else plain
    present = sorted({path[0] for path, v in sensitive_leaves(plain, names) if v not in (None, "")})
    if not recipients:
        raise DanganError(
            Message("{code}: no recipients to encrypt for (sensitive field(s): {value})", code=code, value=', '.join(present)),
            Message("add a recipient to vault.yaml (`dangan recipients add`), or leave these fields out"),
        )
    if prior is not None and _loses_readers(prior, recipients):
        # Someone who could read the record may not any more (it became secret, or its
        # readers changed): the data key they could unwrap from the stored version must not
        # seal what they may not read. A new key, and no comment of the old version.
        from dangan.formats import yamlio

        prior, plain = None, yamlio.to_plain(plain)
    try:
        sealed = sops.encrypt_document(
            plain,
            recipients,
            regex_for(names),
            previous_doc=prior,
            identities=keyring.identities if prior is not None else (),
        )
        # `previous` read as a round-trip tree: its comments stay (the data key is kept,
        # so encrypted comments keep their ciphertext)
        return sopsrt.carry_comments(prior, sealed) if prior is not None else sealed
    except sops.NoMatchingIdentity as exc:
        raise DanganError(Message("{code}: {exc}", code=code, exc=exc), Message("changing an encrypted record needs one of its keys")) from None
    except sops.MacMismatch as exc:
        raise IntegrityError(f"{code}: {exc}", restore_hint(str(code))) from None
    except sops.SopsError as exc:
        raise DanganError(Message("{code}: {exc}", code=code, exc=exc)) from None
    except agekeys.IdentityError as exc:
        raise DanganError(Message("{code}: {exc}", code=code, exc=exc)) from None


def _loses_readers(prior: dict[str, Any], recipients: list[str]) -> bool:
    """True when a stored encrypted record is readable by someone not in `recipients`."""
    from dangan.formats import sops

    try:
        had = {r for r, _ in sops.Metadata.from_dict(prior["sops"]).age}
    except sops.SopsError:
        return True
    return not had <= _canonical_recipients(tuple(recipients))


def seal_checked(code: Code, plain: dict[str, Any], names: frozenset[str],
                 recipients: list[str]) -> dict[str, Any]:
    """A record sealed with a new data key for `recipients`, who need not include the user
    (a handover's receiving party), each value proven against `plain` before the key is
    dropped (`sops.encrypt_checked`). A record without sensitive values stays plain."""
    from dangan.formats import agekeys, sops  # cryptography and pyrage: only when needed

    if not has_clear_sensitive(plain, names):
        return plain
    if not recipients:
        raise DanganError(Message("{code}: no recipients to encrypt for", code=code),
                          Message("give at least one recipient who may read it"))
    try:
        return sops.encrypt_checked(plain, recipients, regex_for(names))
    except agekeys.IdentityError as exc:
        raise DanganError(Message("{code}: {exc}", code=code, exc=exc)) from None
    except sops.SopsError as exc:
        raise Refusal(Message("{code}: sealing failed its proof: {exc}", code=code, exc=exc),
                      Message("nothing was kept; run the command again, and report it if it repeats")) from None


@contextlib.contextmanager
def _opening(label: str, keyring: Keyring | None = None) -> Iterator[None]:
    """What opening a record can go wrong with, as dangan's errors: no key of ours opens
    it (exit 2), or it was altered outside dangan (IntegrityError, exit 1)."""
    from dangan.formats import sops

    try:
        yield
    except sops.NoMatchingIdentity as exc:
        if getattr(keyring, "epoch_root", None) is not None:  # an epoch vault, docs/format.md §7c
            raise DanganError(Message("{label}: {exc}", label=label, exc=exc), Message(
                "an epoch vault: none of the epoch identities your key opens in this clone's "
                "keyring (.git/dangan/keyring/) is its epoch; copy its file from the clone "
                "that made it, or ask one of its readers")) from None
        raise DanganError(Message("{label}: {exc}", label=label, exc=exc),
                          Message("ask an archivist to add your key (`dangan recipients add`)")) from None
    except (sops.MacMismatch, sops.DecryptionError) as exc:
        raise IntegrityError(f"{label}: {exc}",
                             f"the file was altered outside dangan: {restore_hint(label)}") from None
    except sops.SopsError as exc:
        raise IntegrityError(f"{label}: {exc}") from None


def _holds_ciphertext(node: Any) -> bool:
    if isinstance(node, str):
        return is_enc(node)
    if isinstance(node, dict):
        return any(_holds_ciphertext(v) for v in node.values())
    if isinstance(node, list):
        return any(_holds_ciphertext(v) for v in node)
    return False


def open_document(label: str, doc: dict[str, Any], keyring: Keyring,
                  unwrapped: dict[str, bytes] | None = None) -> dict[str, Any]:
    """The plaintext of a stored record (MAC verified); a plain record is returned as is.
    `unwrapped` keeps the data keys opened with this keyring, for the next record that
    shares one (sops.unwrap_data_key): a diff opens both versions of a record."""
    from dangan.formats import sops  # cryptography and pyrage load only when needed
    if "sops" not in doc:
        if _holds_ciphertext(doc):  # its sops block was removed: nothing can open it
            raise IntegrityError(f"{label} holds encrypted values (ENC[...]) but no sops block, so nothing "
                                 "can decrypt them (DG106)",
                                 f"the file was altered outside dangan: {restore_hint(label)}")
        return doc
    with _opening(label, keyring):
        plain, _meta = sops.decrypt_document(doc, keyring.identities, unwrapped)
    return sops.strip_comments(plain)


def open_commented(label: str, doc: Any, keyring: Keyring) -> Any:
    """A stored record read as a round-trip tree, opened with its comments
    (`formats.sopsrt.Opened`: the plaintext tree with comments decrypted, and how each
    comment was stored, to seal it again as it was)."""
    from dangan.formats import sopsrt  # cryptography and pyrage load only when needed

    with _opening(label, keyring):
        return sopsrt.open_commented(doc, keyring.identities)


def seal_commented(edited: Any, sealed: dict[str, Any], opened: Any) -> Any:
    """`dangan edit`: the edited tree's comments encrypted as they were stored."""
    from dangan.formats import sopsrt
    return sopsrt.seal_commented(edited, sealed, opened)


def reseal(doc: dict[str, Any], recipients: list[str], keyring: Keyring, rotate: bool, label: str) -> dict[str, Any]:
    """`keys updatekeys` (same data key, new recipients) or `keys rotate` (new data key).
    A round-trip `doc` keeps its comments (re-encrypted under the new key on rotation)."""
    from dangan.formats import sops, sopsrt  # cryptography and pyrage load only when needed
    try:
        if rotate:
            return sopsrt.rotate_commented(doc, keyring.identities, recipients)
        return sopsrt.carry_comments(doc, sops.rewrap(doc, keyring.identities, recipients))
    except sops.NoMatchingIdentity as exc:
        raise NoKeyToOpen(Message("{label}: {exc}", label=label, exc=exc),
                          Message("one of the current recipients must run this")) from None
    except (sops.MacMismatch, sops.DecryptionError) as exc:
        raise IntegrityError(f"{label}: {exc}") from None
    except sops.SopsError as exc:
        raise DanganError(Message("{label}: {exc}", label=label, exc=exc)) from None


REENCRYPT = Message("decrypt it (`sops decrypt -i FILE`) and encrypt it again inside the vault "
                    "(`sops encrypt -i FILE`), where .sops.yaml gives the rule")
_RULE_NAMES = ("encrypted_regex", "unencrypted_regex", "encrypted_suffix", "unencrypted_suffix",
               "encrypted_comment_regex", "unencrypted_comment_regex")
_LITERAL = re.compile(r"(?:[^.^$*+?{}\[\]\\|()]|\\.)+")


def describe_rule(meta: Any) -> str:
    """The sops rule a `sops:` block names, for a message: sops's default rule when none."""
    given = [(k, meta.get(k)) for k in _RULE_NAMES if isinstance(meta, dict) and meta.get(k)]
    if not given:
        return Message("sops's default rule (every value encrypted)")
    name, value = given[0]
    if (name, value) == ("unencrypted_suffix", "_unencrypted"):
        return Message("{name} {value} (sops's default rule: every value encrypted)",
                       name=name, value=repr(str(value)))
    return f"{name} {str(value)!r}"


@functools.lru_cache(maxsize=64)
def regex_names(regex: str) -> frozenset[str] | None:
    """The key names an `encrypted_regex` of the form ``^(a|b|...)$`` (or ``^(?:a|b)$``)
    selects, in any order and escaping; None for any other regex. Such a regex selects
    exactly the keys named, as the vault's does when the names are the same: dangan accepts
    it (docs/decisions.md), while an equivalence of arbitrary regexes is not decided."""
    match = re.fullmatch(r"\^\((?:\?:)?(.*)\)\$", regex, re.S)
    if match is None:
        return None
    names = set()
    for alternative in match.group(1).split("|"):
        if not _LITERAL.fullmatch(alternative):
            return None
        names.add(re.sub(r"\\(.)", r"\1", alternative))
    return frozenset(names)


def record_of_another_rule(doc: dict[str, Any]) -> str | None:
    """The one finding (DG106) for a record sops encrypted without the vault's rule so
    that its `code` is ciphertext (sops's default rule encrypts every value): nothing of it
    can be judged without the key, and a DG103 about a 139-character code says nothing."""
    code = doc.get("code")
    if "sops" not in doc or not (isinstance(code, str) and code.startswith("ENC[")):
        return None
    return Message("encrypted with {rule}, not the vault's rule: even `code` is encrypted, so dangan "
                   "cannot file it; {fix}", rule=describe_rule(doc["sops"]), fix=REENCRYPT)


def structure_problems(doc: dict[str, Any], names: frozenset[str], recipients: list[str],
                       leaves: list[tuple[tuple[str, ...], Any]] | None = None) -> list[str]:
    """DG106: what is wrong with a stored record's SOPS structure (no key needed)."""
    from dangan.formats import sops  # cryptography and pyrage load only when needed
    problems: list[str] = []
    if leaves is None:
        leaves = list(sensitive_leaves(doc, names))
    enc_present = any(is_enc(v) for _, v in leaves)
    if "sops" not in doc:
        if enc_present:
            problems.append(Message("encrypted values but no `sops:` block; the record cannot be decrypted"))
        return problems
    if not enc_present:
        problems.append(Message("a `sops:` block but no encrypted values; remove the block"))
    try:
        meta = sops.Metadata.from_dict(doc["sops"])
    except sops.SopsError as exc:
        return problems + [Message("malformed sops block: {reason}", reason=str(exc))]
    if not names:
        problems.append(Message("the category has no sensitive fields but the record has a sops block"))
        return problems
    expected = regex_for(names)
    if meta.rule.encrypted_regex != expected and regex_names(meta.rule.encrypted_regex) != names:
        problems.append(Message("encrypted with {rule}, not the vault's encrypted_regex {expected}; {fix}",
                                rule=describe_rule(doc["sops"]), expected=repr(expected), fix=REENCRYPT))
    wanted = _canonical_recipients(tuple(recipients))
    have = {r for r, _ in meta.age}
    if have != wanted:
        problems.append(Message("recipients differ from those vault.yaml gives this category and level; "
                                "run `dangan keys updatekeys`"))
    for _path, value in leaves:
        if isinstance(value, str) and value.startswith("ENC[") and not is_enc(value):
            problems.append(Message("a malformed ENC[...] value"))
            break
    return problems
