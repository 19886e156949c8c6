"""Attachments (附件): scans and documents kept with a record, always encrypted (docs/attachments.md).

An attachment of record `CODE` is one standard age file, `FILE.age`, in the folder named by
the code next to the record (`vault/A01/02/001/0301/YZ/YZ-A01-02-001-0301-0001/房產證.pdf.age`),
encrypted to the recipients of the record's category, and listed in the record's
`attachments` (file name, media type, size and SHA-256 of the *stored* file, when, by whom,
a digest of the recipients it was encrypted to). Nothing about the plaintext is stored in
clear. Files are streamed: encrypting, decrypting and hashing never hold a whole file.

This module has the operations: attach, ls, get, rm, re-encryption for key changes. Where
attachments live, what is known of a stored file and the rules DG115-DG118 are
`dangan.store.attached`.
"""
from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import os
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dangan.errors import DanganError, Refusal
from dangan.i18n import Message
from dangan.model.codes import Code
from dangan.store.attached import (
    AGE_MAGIC,
    ARMOR_MAGIC,
    CHUNK,
    SUFFIX,
    folder_of,
    listed,
    media_type,
    owner,
    path_of,
    recipients_digest,
    safe_name,
)
from dangan.store.vault import Vault

# ----------------------------------------------------------------- crypto, files

def _recipients(vault: Vault, category: str, record: dict[str, Any],
                current: dict[str, Any] | None = None) -> tuple[list[Any], list[str]]:
    """The recipients of a record's attachments: those of the record, by its category and
    its confidentiality level (a secret record's attachments only for its readers).
    `current`: the record as stored (an open record's epoch is the one it is in)."""
    from dangan.formats import agekeys

    level = vault.schemas.categories[category].level_of(record)
    keys = vault.sealing_keys(category, level, record, current)
    if not keys:
        raise DanganError(Message("no recipients may read {level} {category} records: attachments are always encrypted", level=level, category=category),
                          Message("add a recipient (`dangan recipients add`) or check vault.yaml `access` and `readers`"))
    try:
        return [agekeys.parse_recipient(k).key for k in keys], keys
    except agekeys.IdentityError as exc:
        raise DanganError(Message("vault.yaml: {exc}", exc=exc)) from None


class _HashingWriter:
    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


class _Journalled:
    """A sink that calls `first()` before the first bytes pass (the access journal)."""

    def __init__(self, handle: IO[bytes], first: Callable[[], None]) -> None:
        self.handle = handle
        self.first = first

    def write(self, data: bytes) -> int:
        self.first()
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


@dataclass
class Sealed:
    """An encrypted file written next to its final place, not yet renamed into it."""

    temp: Path
    sha256: str
    size: int


def _temp_in(folder: Path, name: str) -> tuple[int, Path]:
    import tempfile

    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")  # 0600
    return fd, Path(tmp)


def seal_stream(source: IO[bytes], folder: Path, name: str, recipients: list[Any]) -> Sealed:
    """Encrypt a stream to an age file in `folder` (a temp name; only ciphertext touches disk)."""
    import pyrage

    fd, tmp = _temp_in(folder, name)
    try:
        with os.fdopen(fd, "wb") as handle:
            writer = _HashingWriter(handle)
            pyrage.encrypt_io(source, writer, recipients)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Sealed(tmp, writer.sha256.hexdigest(), writer.size)


def _open_stream(stored: Path, sink: IO[bytes], identities: Sequence[Any], label: str) -> None:
    import pyrage

    if not identities:
        raise DanganError(Message("{label}: no identity given to open it", label=label), Message("give --identity FILE"))
    try:
        with open(stored, "rb") as source:
            pyrage.decrypt_io(source, sink, list(identities))
    except pyrage.DecryptError as exc:
        text = str(exc)
        if "No matching keys" in text or "no matching" in text.lower():
            raise DanganError(Message("{label}: none of your identities is a recipient of it", label=label),
                              Message("ask an archivist to add your key (`dangan recipients add`)")) from None
        raise Refusal(Message("{label}: does not decrypt ({value}); it was damaged or altered", label=label, value=text[:120]),
                      Message("restore it from Git history")) from None


def reseal_file(stored: Path, folder: Path, name: str, identities: Sequence[Any], recipients: list[Any],
                label: str) -> Sealed:
    """Decrypt and encrypt again to `recipients` with a new file key, through a pipe
    between two threads: the plaintext is never on disk and never whole in memory."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def decrypt() -> None:
        try:
            with open(write_fd, "wb", buffering=CHUNK) as sink:
                _open_stream(stored, sink, identities, label)
        except BaseException as exc:  # reported by the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=decrypt, daemon=True)
    worker.start()
    sealed: Sealed | None = None
    try:
        with open(read_fd, "rb", buffering=CHUNK) as source:
            try:
                sealed = seal_stream(source, folder, name, recipients)
            except BaseException:
                while source.read(CHUNK):  # let the decrypting thread finish writing
                    pass
                raise
    finally:
        worker.join()
    if failure:  # a truncated plaintext was encrypted: never keep it
        if sealed is not None:
            sealed.temp.unlink(missing_ok=True)
        raise failure[0]
    assert sealed is not None
    return sealed


HEADER_BYTES = 64 * 1024  # an age header with every recipient of a vault fits


def adopt(vault: Vault, code: Code, path: Path, source: IO[bytes], head: bytes, folder: Path,
          name: str, texts: list[str]) -> Sealed:
    """An existing age file registered as it is (copied, never encrypted again) when it is
    wrapped to the recipients vault.yaml gives the category and opens with the user's
    identity (its payload authenticated to the end). An age header names SSH recipients by
    a tag but X25519 ones not at all: their number is compared, and the user's key proves
    one of them (docs/attachments.md)."""
    from dangan.formats import agekeys

    label = str(path)
    stanzas = agekeys.header_stanzas(head)
    redo = (f"decrypt it and attach the plaintext (`age -d -i KEY -o {path.name.removesuffix(SUFFIX)} "
            f"{path.name}`, then `dangan attach {code} {path.name.removesuffix(SUFFIX)}`), or encrypt "
            f"it with age to exactly the recipients `dangan recipients ls` shows for {code.category}")
    if stanzas is None:
        raise DanganError(Message("{label}: starts like an age file but its header is not readable", label=label), redo)
    have = sorted(s[:2] if s and s[0].startswith("ssh-") else s[:1] for s in stanzas)
    want = sorted(agekeys.stanza_of(agekeys.parse_recipient(t)) for t in texts)
    if have != want:
        raise DanganError(Message("{label}: an age file encrypted for {count} recipient(s) other than the {count2} vault.yaml gives {category}; dangan does not encrypt it twice", label=label, count=len(stanzas), count2=len(texts), category=code.category), redo)
    try:
        identities = vault.keyring.identities
    except DanganError as exc:
        raise DanganError(Message("{label}: an age file; registering it needs your key to prove it opens ({message})", label=label, message=exc.message), Message("give --identity FILE")) from None
    try:
        with open(os.devnull, "wb") as null:
            _open_stream(path, null, identities, label)
    except DanganError as exc:
        raise DanganError(exc.message, redo) from None
    fd, tmp = _temp_in(folder, name)
    try:
        with os.fdopen(fd, "wb") as handle:
            writer = _HashingWriter(handle)
            while chunk := source.read(CHUNK):
                writer.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Sealed(tmp, writer.sha256.hexdigest(), writer.size)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------- one commit

def transact(vault: Vault, changes: Mapping[str, bytes | Path | None], message: str, commit: bool = True) -> str | None:
    """Like Vault.apply, for large files: a Path value is a temp file renamed into place,
    None deletes; an existing file is set aside by renaming (never read into memory) and
    put back, with the index, if anything fails (a hook refusal, a lock, a kill:
    store/transaction.py)."""
    from dangan.store import transaction

    vault.ready_to_write()
    changes = vault.with_new_epochs(changes)
    try:
        return transaction.write(
            vault.root, changes, message, commit=commit, signing=vault.signing,
            # the attachments' bytes carry no act: only the records'
            signed_changes={p: v for p, v in changes.items() if not isinstance(v, Path)},
        )
    finally:
        discard_temps(changes.values())  # those not moved into place


def follow_epochs(vault: Vault, changes: Mapping[str, Any]) -> dict[str, Any]:
    """`changes` with, for each record among them whose epoch moved (it closed, was
    extended, its readers changed: docs/format.md §7c), its attachments encrypted again to
    its new epoch (temp files, by path) and the record listing them: the same commit. What
    `Vault.apply` asks in an epoch vault (`Vault.follow`, set by the CLI)."""
    from dangan.formats.yamlio import YamlError, decode, load_text
    from dangan.model.codes import CodeError, path_to_code
    from dangan.store import sealing

    out = dict(changes)
    for rel, data in changes.items():
        if not (isinstance(data, bytes) and rel.startswith("vault/") and rel.endswith(".yaml")):
            continue
        try:
            code = path_to_code(rel)
            doc = load_text(decode(data))
        except (CodeError, YamlError, DanganError):
            continue
        category = vault.schemas.categories.get(code.category)
        entries = listed(doc)
        if category is None or not entries:
            continue
        level = category.level_of(doc)  # clear fields: the listing, the level, the dates
        digest = recipients_digest(vault.sealing_keys(code.category, level, doc))
        if all(e.get("recipients") == digest for e in entries):
            continue
        plain = sealing.open_document(str(code), doc, vault.keyring) if "sops" in doc else doc
        keys, texts = _recipients(vault, code.category, plain, doc)
        folder = vault.root / folder_of(code)
        renewed = []
        try:
            for entry in listed(plain):
                stored = vault.root / _rel(code, entry)
                item = reseal_file(stored, folder, str(entry["file"]), vault.keyring.identities, keys,
                                   f"{code} {entry['file']}")
                out[_rel(code, entry)] = item.temp
                renewed.append({**entry, "size": item.size, "sha256": item.sha256,
                                "recipients": recipients_digest(texts)})
            new_plain = {**plain, "attachments": renewed}
            if "sops" in doc:
                new_doc: Any = sealing.seal(code, new_plain, category.names_for(level), texts, doc, vault.keyring)
            else:
                new_doc = new_plain
        except BaseException:
            discard_temps(out.values())
            raise
        out[rel] = vault.render(rel, new_doc)
    return out


def discard(sealed: Iterable[Sealed]) -> None:
    for item in sealed:
        item.temp.unlink(missing_ok=True)


def discard_temps(values: Iterable[object]) -> None:
    """Remove the temp files among a change's values (a failed key change)."""
    for value in values:
        if isinstance(value, Path):
            value.unlink(missing_ok=True)


# ------------------------------------------------------------------ operations

@dataclass(frozen=True)
class Changed:
    """What attach or rm did: the record, the attachment files, the commit."""

    code: Code
    files: list[str]
    entries: list[dict[str, Any]]
    commit: str | None


def _rel(code: Code, entry: Mapping[str, Any]) -> str:
    """The stored path of a listed attachment. Its name comes from the record, which a
    hand edit can make `../../x`: a name that is not one plain file name (the schema's
    rule, DG102) is refused before any path is opened, so nothing outside the record's
    folder is ever read, written or removed."""
    name = str(entry.get("file"))
    if not name or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise DanganError(Message("{code} lists an attachment named {name}, which is not one file name", code=code, name=repr(name)),
                          Message("fix the record's attachments list; `dangan check` reports it as DG102"))
    return path_of(code, name)


def _find(entries: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    wanted = unicodedata.normalize("NFC", name.strip())
    if wanted.endswith(SUFFIX):
        wanted = wanted[: -len(SUFFIX)]
    exact = [e for e in entries if e.get("file") == wanted]
    if exact:
        return exact[0]
    folded = [e for e in entries if str(e.get("file", "")).casefold() == wanted.casefold()]
    return folded[0] if len(folded) == 1 else None


def _write_record(vault: Vault, code: Code, plain: dict[str, Any], rt: Any, stored: dict[str, Any],
                  entries: list[dict[str, Any]]) -> bytes:
    """The record with `attachments` set to `entries` (dropped when empty), validated and
    sealed like any change; a clear record keeps its comments."""
    from dangan.formats.yamlio import to_plain
    from dangan.services import records

    tree: Any = rt if rt is not None else copy.deepcopy(plain)
    if entries:
        tree["attachments"] = entries
    elif "attachments" in tree:
        del tree["attachments"]
    sealed = records.prepare(vault, code, to_plain(tree), previous=stored)
    out = tree if (rt is not None and "sops" not in sealed) else sealed
    return vault.render(code.path, out)  # a record sops wrote stays in sops's form


def attach(vault: Vault, code: Code, files: Sequence[Path], by: str, at: dt.datetime,
           name: str | None = None, title: str | None = None, kind: str | None = None,
           commit: bool = True) -> Changed:
    """Encrypt files into the record's folder and list them in the record: one commit."""
    from dangan.model.timeutil import stamp
    from dangan.services import records
    from dangan.store.fsutil import remove_empty_dirs

    if not files:
        raise DanganError(Message("name at least one file to attach"))
    if name is not None and len(files) > 1:
        raise DanganError(Message("--name names one file; attach the files one at a time"))
    if title is not None and (not title.strip() or "\n" in title or len(title) > 500):
        raise DanganError(Message("--title is one line of at most 500 characters"))
    for path in files:
        if not path.is_file():
            raise DanganError(Message("{path}: no such file", path=path) if not path.exists()
                              else Message("{path} is not a regular file", path=path))
    with vault.lock():
        vault.ready_to_write()
        plain, rt, stored = records.read_plain(vault, code)
        current = listed(plain)
        taken = {str(e.get("file", "")).casefold() for e in current}
        names = []
        for path in files:
            chosen = safe_name(name if name is not None else path.name)
            if chosen.casefold() in taken:
                raise DanganError(Message("{code} already has an attachment named {chosen}", code=code, chosen=repr(chosen)),
                                  Message("give another name with --name, or remove the old one (dangan attachments rm)"))
            taken.add(chosen.casefold())
            names.append(chosen)
        keys, texts = _recipients(vault, code.category, plain, stored)
        digest = recipients_digest(texts)
        folder = vault.root / folder_of(code)
        existed = folder.exists()
        sealed: list[Sealed] = []
        try:
            added = []
            for path, chosen in zip(files, names):
                try:
                    with open(path, "rb") as source:
                        head = source.read(HEADER_BYTES)
                        source.seek(0)
                        if head.startswith((AGE_MAGIC, ARMOR_MAGIC)):  # already an age file: as it is
                            item = adopt(vault, code, path, source, head, folder, chosen, texts)
                        else:
                            item = seal_stream(source, folder, chosen, keys)
                except OSError as exc:
                    raise DanganError(Message("{path}: {strerror}", path=path, strerror=exc.strerror)) from None
                sealed.append(item)
                entry: dict[str, Any] = {"file": chosen}
                if title:
                    entry["title"] = title.strip()
                entry.update({"type": media_type(chosen, kind), "size": item.size, "sha256": item.sha256,
                              "added": stamp(at, vault.tz), "by": by, "recipients": digest})
                added.append(entry)
            data = _write_record(vault, code, plain, rt, stored, current + added)
            changes: dict[str, bytes | Path | None] = {code.path: data}
            changes.update({path_of(code, n): s.temp for n, s in zip(names, sealed)})
            commit_id = transact(vault, changes, f"dangan attach: {code} {', '.join(names)}", commit)
        except BaseException:
            discard(sealed)
            if not existed:
                remove_empty_dirs(folder, vault.root)
            raise
    return Changed(code, [path_of(code, n) for n in names], added, commit_id)


def entries_of(vault: Vault, code: Code) -> list[dict[str, Any]]:
    """The listing of a record (no key needed: it is in clear), with each file's path
    and whether it is there."""
    stored, _ = vault.read(code)
    out = []
    for entry in listed(stored):
        rel = _rel(code, entry)
        out.append({**entry, "path": rel, "present": (vault.root / rel).is_file()})
    return out


def _note(vault: Vault, rel: str, code: Code) -> None:
    """The access journal, for a decryption shown to a person (journal.md)."""
    from dangan.store import journal

    journal.note(vault.root, "attachments get", [str(code)], files=[rel], tz=vault.tz)


def get(vault: Vault, code: Code, name: str, out: Path | None, sink: IO[bytes] | None = None,
        journal: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Decrypt one attachment to `out` (0600, written whole or not at all) or to `sink`.

    The stored file is checked against its listing first: age authenticates what it
    decrypts, the listing says it is the file that was attached. `journal(path)` writes
    the access journal entry before any plaintext is produced (the CLI's, with the
    command line and identities; by default a plain entry)."""
    stored, _ = vault.read(code)
    entry = _find(listed(stored), name)
    if entry is None:
        names = ", ".join(str(e.get("file")) for e in listed(stored)) or "none"
        raise DanganError(Message("{code} has no attachment {name}", code=code, name=repr(name)), Message("its attachments: {names}", names=names))
    rel = _rel(code, entry)
    path = vault.root / rel
    if not path.is_file():
        raise Refusal(Message("{rel} is missing (DG115)", rel=rel), Message("restore it from Git history"))
    if sha256_of(path) != entry.get("sha256"):
        raise Refusal(Message("{rel} does not match the SHA-256 its record lists (DG115)", rel=rel),
                      Message("restore it from Git history; `dangan check` lists what else differs"))
    identities = vault.keyring.identities
    label = f"{code} {entry['file']}"
    noted: list[bool] = []

    def note() -> None:  # once, before the first plaintext byte leaves (a failed key: none)
        if not noted:
            noted.append(True)
            if journal is not None:
                journal(rel)
            else:
                _note(vault, rel, code)

    if out is None:
        assert sink is not None
        _open_stream(path, _Journalled(sink, note), identities, label)
        note()  # an empty file
    else:
        out = out.absolute()
        if out.is_dir():
            out = out / str(entry["file"])
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")  # 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                _open_stream(path, _Journalled(handle, note), identities, label)
            note()
            os.replace(tmp, out)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return {"code": str(code), "file": entry["file"], "type": entry.get("type"),
            "out": str(out) if out is not None else None}


def remove(vault: Vault, code: Code, names: Sequence[str], commit: bool = True) -> Changed:
    """Remove attachments and their listing: one commit. A file in the folder that the
    record does not list (DG116) may be removed by its file name too."""
    from dangan.services import records

    if not names:
        raise DanganError(Message("name the attachments to remove"), Message("list them with `dangan attachments ls CODE`"))
    with vault.lock():
        vault.ready_to_write()
        plain, rt, stored = records.read_plain(vault, code)
        current = listed(plain)
        gone: list[str] = []
        drop: list[int] = []
        for name in names:
            entry = _find(current, name)
            if entry is not None:
                drop.append(id(entry))
                gone.append(_rel(code, entry))
                continue
            stray = f"{folder_of(code)}/{name.strip()}"
            if "/" not in name.strip() and owner(stray) is not None and (vault.root / stray).is_file():
                gone.append(stray)
                continue
            raise DanganError(Message("{code} has no attachment {name}", code=code, name=repr(name)), Message("list them with `dangan attachments ls CODE`"))
        if len(set(gone)) != len(gone):
            raise DanganError(Message("an attachment is named twice"))
        kept = [e for e in current if id(e) not in drop]
        changes: dict[str, bytes | Path | None] = {}
        if len(kept) != len(current):
            changes[code.path] = _write_record(vault, code, plain, rt, stored, kept)
        changes.update(dict.fromkeys(gone))
        shown = ", ".join(rel.rsplit("/", 1)[1][: -len(SUFFIX)] if rel.endswith(SUFFIX) else rel.rsplit("/", 1)[1]
                          for rel in gone)
        commit_id = transact(vault, changes, f"dangan attachments rm: {code} {shown}", commit)
    return Changed(code, gone, [e for e in current if id(e) in drop], commit_id)


# ----------------------------------------------------------------- key changes

def owners(vault: Vault) -> set[str]:
    """Codes of the records that have an attachment folder in the work tree."""
    found = set()
    base = vault.root / "vault"
    for dirpath, _dirnames, filenames in os.walk(base):
        if filenames:
            rel = Path(dirpath).relative_to(vault.root).as_posix()
            record = owner(f"{rel}/{filenames[0]}")
            if record is not None:
                found.add(record.rsplit("/", 1)[1][: -len(".yaml")])
    return found


def rewrap(vault: Vault, after: Vault, code: Code, doc: dict[str, Any], force: bool) -> tuple[Any, dict[str, Path]]:
    """Encrypt a record's attachments again (new file keys) for the recipients `after`
    gives its category, when they were encrypted for another set or `force` (a recipient
    removed, keys rotated). Returns (the record's new document or None, temp files by
    path); `doc` is the record's current document (possibly just resealed)."""
    from dangan.store import sealing

    plain = sealing.open_document(str(code), doc, vault.keyring) if "sops" in doc else doc
    entries = listed(plain)
    if not entries:
        return None, {}
    keys, texts = _recipients(after, code.category, plain, doc)
    digest = recipients_digest(texts)
    if not force and all(e.get("recipients") == digest for e in entries):
        return None, {}
    identities = vault.keyring.identities
    folder = vault.root / folder_of(code)
    moves: dict[str, Path] = {}
    renewed = []
    try:
        for entry in entries:
            rel = _rel(code, entry)
            if not (vault.root / rel).is_file():
                raise DanganError(Message("{code}: attachment {rel} is missing (DG115)", code=code, rel=rel),
                                  Message("restore it or remove it (dangan attachments rm) first"))
            item = reseal_file(vault.root / rel, folder, str(entry["file"]), identities, keys, f"{code} {entry['file']}")
            moves[rel] = item.temp
            renewed.append({**entry, "size": item.size, "sha256": item.sha256, "recipients": digest})
    except BaseException:
        for temp in moves.values():
            temp.unlink(missing_ok=True)
        raise
    new_plain = {**plain, "attachments": renewed}
    if "sops" in doc:
        cat = after.schemas.categories[code.category]
        level = cat.level_of(new_plain)
        return sealing.seal(code, new_plain, cat.names_for(level),
                            after.sealing_keys(code.category, level, new_plain, doc), doc, vault.keyring), moves
    _, rt = vault.read(code)
    rt["attachments"] = renewed
    return rt, moves
