"""Attachments (附件): scans and documents kept with a record, always encrypted (docs/attachments.md).

An attachment of record `CODE` is one standard age file, `FILE.age`, in the folder named by
the code next to the record (`vault/A01/02/001/0301/YZ/YZ-A01-02-001-0301-0001/房產證.pdf.age`),
encrypted to the recipients of the record's category, and listed in the record's
`attachments` (file name, media type, size and SHA-256 of the *stored* file, when, by whom,
a digest of the recipients it was encrypted to). Nothing about the plaintext is stored in
clear. Files are streamed: encrypting, decrypting and hashing never hold a whole file.

This module has the operations (attach, ls, get, rm, re-encryption for key changes) and
what the check engine needs to judge attachments in any source (work tree, index, commit):
`owner` (which record a path belongs to), `Stored` facts about a stored file measured once
per blob id, and the rules DG115-DG118 (`record_findings`, `loose_findings`).
"""
from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import functools
import json
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dangan.git import gitio
from dangan.model.codes import Code, CodeError, parse_code
from dangan.errors import DanganError, Refusal
from dangan.store.vault import Vault

SUFFIX = ".age"
AGE_MAGIC = b"age-encryption.org/v1\n"
ARMOR_MAGIC = b"-----BEGIN AGE ENCRYPTED FILE-----"
LFS_MAGIC = b"version https://git-lfs.github.com/spec/v1\n"
CHUNK = 1 << 20
MAX_NAME_CHARS = 120
MAX_NAME_BYTES = 180  # + ".age" + a temp prefix and suffix stays below 255 bytes
_FORBIDDEN = set('/\\<>:"|?*') | {chr(c) for c in range(32)} | {"\x7f"}
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
FIELDS = ("file", "title", "type", "size", "sha256", "added", "by", "recipients")


# ------------------------------------------------------------------------ paths

def folder_of(code: Code) -> str:
    """`vault/.../CAT/CODE`: the folder of a record's attachments, next to CODE.yaml."""
    return code.path[: -len(".yaml")]


def path_of(code: Code, file: str) -> str:
    return f"{folder_of(code)}/{file}{SUFFIX}"


def owner(rel: str) -> str | None:
    """The path of the record whose attachment folder holds `rel`, or None.

    Called for every file of a vault: a record's parent folder is its category (two
    letters), so two `rfind`s settle nearly every path without parsing anything."""
    end = rel.rfind("/")
    start = rel.rfind("/", 0, end)
    if end - start <= 7:  # shorter than the shortest code, JY-0001
        return None
    folder = rel[:end]
    try:
        code = parse_code(folder[start + 1:])
    except CodeError:
        return None
    record = folder + ".yaml"
    return record if code.path == record else None


def safe_name(raw: str) -> str:
    """A file name for an attachment: NFC, one path segment, no leading dot, bounded."""
    name = unicodedata.normalize("NFC", raw).strip()
    if name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]  # the stored suffix is added by dangan
    if not name:
        raise DanganError("an attachment needs a file name", "give --name NAME")
    bad = sorted({c for c in name if c in _FORBIDDEN or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise DanganError(f"attachment name {name!r} contains {shown}",
                          "give a plain file name with --name (no folders, quotes or control characters)")
    if name.startswith(".") or name.endswith((".", " ")):
        raise DanganError(f"attachment name {name!r} starts with a dot or ends with a dot or space",
                          "give another name with --name")
    if len(name) > MAX_NAME_CHARS or len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise DanganError(f"attachment name {name[:40]!r}... is too long (at most {MAX_NAME_CHARS} characters)",
                          "give a shorter name with --name")
    return name


def media_type(name: str, given: str | None) -> str:
    if given is not None:
        value = given.strip().lower()
        if not _MEDIA_TYPE.fullmatch(value):
            raise DanganError(f"{given!r} is not a media type", "example: --type application/pdf")
        return value
    import mimetypes

    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def recipients_digest(keys: Iterable[str]) -> str:
    """A short digest of a recipient set (canonical keys, sorted): says in the listing
    which set a file was encrypted to, so a check tells when vault.yaml moved on (DG118)."""
    return _digest(tuple(keys))


@functools.lru_cache(maxsize=64)
def _digest(keys: tuple[str, ...]) -> str:
    from dangan.formats import agekeys

    texts = set()
    for key in keys:
        try:
            texts.add(agekeys.parse_recipient(key).text)
        except agekeys.IdentityError:
            texts.add(key.strip())
    return hashlib.sha256("\n".join(sorted(texts)).encode()).hexdigest()[:16]


# ------------------------------------------------------------- stored files

@dataclass(frozen=True)
class Stored:
    """What the rules need to know of a stored attachment, a function of its blob."""

    blob: str
    sha256: str
    size: int
    age: bool | None  # None: unknown (a Git LFS pointer stands for the file)


class _Measure:
    """Hashes bytes as they pass: git blob id (needs the size first), SHA-256, the header."""

    def __init__(self, size: int | None) -> None:
        self.sha1 = hashlib.sha1(b"blob %d\0" % size) if size is not None else None
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.head = b""

    def update(self, data: bytes) -> None:
        if self.sha1 is not None:
            self.sha1.update(data)
        self.sha256.update(data)
        if len(self.head) < len(LFS_MAGIC) + 200:
            self.head += data[:300]
        self.size += len(data)

    def stored(self, blob: str) -> Stored:
        pointer = _lfs_pointer(self.head) if self.size < 1024 else None
        if pointer is not None:
            return Stored(blob, pointer[0], pointer[1], None)
        age = self.head.startswith(AGE_MAGIC) or self.head.startswith(ARMOR_MAGIC)
        return Stored(blob, self.sha256.hexdigest(), self.size, age)


def _lfs_pointer(head: bytes) -> tuple[str, int] | None:
    """(sha256, size) of the file a Git LFS pointer stands for: LFS names files by the
    SHA-256 of their content, which is what the listing records of the stored file."""
    if not head.startswith(LFS_MAGIC):
        return None
    oid = re.search(rb"^oid sha256:([0-9a-f]{64})$", head, re.MULTILINE)
    size = re.search(rb"^size ([0-9]+)$", head, re.MULTILINE)
    if oid is None or size is None:
        return None
    return oid.group(1).decode(), int(size.group(1))


def measure_file(path: Path) -> tuple[str, Stored]:
    """(git blob id, facts) of a work tree file, read once in chunks."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        m = _Measure(size)
        while chunk := handle.read(CHUNK):
            m.update(chunk)
    assert m.sha1 is not None
    blob = m.sha1.hexdigest() if m.size == size else _Measure(m.size).sha1.hexdigest()  # type: ignore[union-attr]
    return blob, m.stored(blob)


def measure_blobs(root: Path, blobs: Iterable[str]) -> dict[str, Stored]:
    """Facts of Git blobs, streamed through one `git cat-file --batch` (no blob is held
    whole). The process has exited when this returns: callers fork check workers later."""
    out: dict[str, Stored] = {}
    for blob, size, pieces in gitio.stream_blobs(root, (b for b in blobs if b), CHUNK):
        if size is None:
            continue  # missing: the listing rules report what is absent
        m = _Measure(None)
        for piece in pieces:
            m.update(piece)
        out[blob] = m.stored(blob)
    return out


class Facts:
    """Facts by blob id, kept in `.git/dangan/cache/attachments.json` so that a warm
    check never hashes an unchanged file again (a blob id names its content)."""

    def __init__(self, root: Path, use_cache: bool = True) -> None:
        self.root = root
        self.known: dict[str, Stored] = {}
        self.dirty = False
        self.path: Path | None = None
        if not use_cache:
            return
        with contextlib.suppress(Exception):
            self.path = gitio.git_dir(root) / "dangan" / "cache" / "attachments.json"
        if self.path is None:
            return
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            self.known = {b: Stored(b, s, int(n), a) for b, (s, n, a) in raw.items()}
        except (OSError, ValueError, TypeError):
            self.known = {}

    def for_blobs(self, blobs: Iterable[str]) -> dict[str, Stored]:
        """From the cache, or streamed from Git objects."""
        wanted = set(blobs)
        missing = wanted - self.known.keys()
        if missing:
            self.known.update(measure_blobs(self.root, missing))
            self.dirty = True
        return {b: self.known[b] for b in wanted if b in self.known}

    def for_worktree(self, rel: str, blob: str | None) -> Stored | None:
        """A work tree file: its index blob when git's stat check says it is clean (then
        the cache answers), else measured from the file (blob id computed as it is read)."""
        if blob is not None and blob in self.known:
            return self.known[blob]
        try:
            measured_blob, facts = measure_file(self.root / rel)
        except OSError:
            return None
        self.known[measured_blob] = facts
        self.dirty = True
        return facts

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({b: [s.sha256, s.size, s.age] for b, s in self.known.items()}), "utf-8")
            os.replace(tmp, self.path)
        self.dirty = False


Folders = dict[str, dict[str, Stored]]  # record path -> {file name in its folder -> facts}


def group(entries: Iterable[tuple[str, Stored]]) -> Folders:
    folders: Folders = {}
    for rel, facts in entries:
        record = owner(rel)
        if record is not None:
            folders.setdefault(record, {})[rel.rsplit("/", 1)[1]] = facts
    return folders


def folder_digest(files: Mapping[str, Stored]) -> str:
    """Part of a record's check cache key: its result depends on its folder's files."""
    return hashlib.blake2b("\0".join(f"{n}\0{s.blob}" for n, s in sorted(files.items())).encode(),
                           digest_size=12).hexdigest()


# ------------------------------------------------------------------------ rules

def listed(tree: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = tree.get("attachments")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def record_findings(rel: str, tree: Mapping[str, Any], files: Mapping[str, Stored] | None,
                    wanted: list[str] | None) -> list[tuple[str, str, str]]:
    """(path, rule, message) for one record and the files of its folder: DG115 a listed
    attachment is missing or differs from its listing, DG116 a file it does not list,
    DG118 encrypted for another recipient set than vault.yaml gives (`wanted`)."""
    files = files or {}
    folder = rel[: -len(".yaml")]
    found: list[tuple[str, str, str]] = []
    names: set[str] = set()
    digest = recipients_digest(wanted) if wanted is not None and listed(tree) else None
    for item in listed(tree):
        file = item.get("file")
        if not isinstance(file, str):
            continue  # the schema reports it
        if file.casefold() in names:
            found.append((rel, "DG115", f"attachment {file!r} is listed twice"))
            continue
        names.add(file.casefold())
        stored = files.get(file + SUFFIX)
        if stored is None:
            found.append((rel, "DG115", f"listed attachment {file!r} is missing: no {folder}/{file}{SUFFIX}"))
            continue
        if stored.sha256 != item.get("sha256") or stored.size != item.get("size"):
            found.append((f"{folder}/{file}{SUFFIX}", "DG115",
                          "does not match the SHA-256 and size its record lists; restore it from history "
                          "or attach it again"))
        if digest is not None and item.get("recipients") != digest:
            found.append((f"{folder}/{file}{SUFFIX}", "DG118",
                          "encrypted for other recipients than vault.yaml gives its category; "
                          "run `dangan keys updatekeys`"))
    for name in sorted(files):
        if not (name.endswith(SUFFIX) and name[: -len(SUFFIX)].casefold() in names):
            found.append((f"{folder}/{name}", "DG116",
                          f"not listed by its record {rel.rsplit('/', 1)[1][:-5]}; "
                          "add it with `dangan attach`, or remove it"))
    return found


def file_findings(rel: str, data: bytes) -> list[tuple[str, str, str]]:
    """DG117 for one file under vault/ that is not a record, from its first bytes."""
    pointer = _lfs_pointer(data[:1024]) if len(data) < 1024 else None
    if pointer is not None or data.startswith(AGE_MAGIC) or data.startswith(ARMOR_MAGIC):
        return []
    return [(rel, "DG117", "a clear (unencrypted) file; only records and age-encrypted attachments "
                           "belong under vault/ (use `dangan attach`)")]


def loose_findings(folders: Folders, present: Callable[[str], bool],
                   only: Callable[[str], bool] = lambda rel: True) -> list[tuple[str, str, str]]:
    """DG116 for files in the folder of a record that does not exist (an attachment left
    behind when its record went), DG117 for any stored file that is not an age file.
    `only` limits DG117 to files a change touched (others were judged before)."""
    found: list[tuple[str, str, str]] = []
    for record, files in folders.items():
        folder = record[: -len(".yaml")]
        exists = present(record)
        for name, facts in sorted(files.items()):
            rel = f"{folder}/{name}"
            if not exists:
                found.append((rel, "DG116", f"its record {record} does not exist; attachments go with their "
                                            "record (remove it, or restore the record)"))
            if facts.age is False and only(rel):
                found.append((rel, "DG117", "a clear (unencrypted) file; attachments are stored as age files "
                                            "(use `dangan attach`)"))
    return found


# ----------------------------------------------------------------- crypto, files

def _recipients(vault: Vault, category: str) -> tuple[list[Any], list[str]]:
    from dangan.formats import agekeys

    keys = vault.recipient_keys(category)
    if not keys:
        raise DanganError(f"no recipients may read {category}: attachments are always encrypted",
                          "add a recipient (`dangan recipients add`) or check vault.yaml `access`")
    try:
        return [agekeys.parse_recipient(k).key for k in keys], keys
    except agekeys.IdentityError as exc:
        raise DanganError(f"vault.yaml: {exc}") from None


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
        raise DanganError(f"{label}: no identity given to open it", "give --identity FILE")
    try:
        with open(stored, "rb") as source:
            pyrage.decrypt_io(source, sink, list(identities))
    except pyrage.DecryptError as exc:
        text = str(exc)
        if "No matching keys" in text or "no matching" in text.lower():
            raise DanganError(f"{label}: none of your identities is a recipient of it",
                              "ask an archivist to add your key (`dangan recipients add`)") from None
        raise Refusal(f"{label}: does not decrypt ({text[:120]}); it was damaged or altered",
                      "restore it from Git history") from None


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
    put back, with the index, if anything fails (a hook refusal, a lock)."""
    from dangan.store.fsutil import remove_empty_dirs, write_atomic

    vault.ready_to_write()
    root = vault.root
    paths = list(changes)
    before: dict[str, gitio.IndexEntry | None] = {rel: None for rel in paths}
    for entry in gitio.ls_files(root, paths):
        before[entry.path] = entry
    aside: dict[str, Path] = {}
    token = os.urandom(4).hex()
    try:
        for rel, value in changes.items():
            target = root / rel
            if target.exists():
                backup = target.with_name(f".{target.name}.{token}.old")
                os.replace(target, backup)
                aside[rel] = backup
            if isinstance(value, bytes):
                write_atomic(target, value)
            elif isinstance(value, Path):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(value, target)
        gitio.add(root, paths)
        result = gitio.commit(root, message, paths) if commit else None
    except BaseException:
        for rel, value in changes.items():
            target = root / rel
            if rel in aside:
                os.replace(aside[rel], target)
            elif value is not None:
                target.unlink(missing_ok=True)
                remove_empty_dirs(target.parent, root)
            if isinstance(value, Path):
                value.unlink(missing_ok=True)
        with contextlib.suppress(gitio.GitError):
            gitio.restore_index(root, before)
        raise
    for rel, backup in aside.items():
        backup.unlink(missing_ok=True)
    for rel, value in changes.items():
        if value is None:
            remove_empty_dirs((root / rel).parent, root)
    return result


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
    from dangan.services import records
    from dangan.formats.yamlio import dump, to_plain

    tree: Any = rt if rt is not None else copy.deepcopy(plain)
    if entries:
        tree["attachments"] = entries
    elif "attachments" in tree:
        del tree["attachments"]
    sealed = records.prepare(vault, code, to_plain(tree), previous=stored)
    out = tree if (rt is not None and "sops" not in sealed) else sealed
    return dump(out).encode()


def attach(vault: Vault, code: Code, files: Sequence[Path], by: str, at: dt.datetime,
           name: str | None = None, title: str | None = None, kind: str | None = None,
           commit: bool = True) -> Changed:
    """Encrypt files into the record's folder and list them in the record: one commit."""
    from dangan.services import records
    from dangan.store.fsutil import remove_empty_dirs
    from dangan.model.timeutil import stamp

    if not files:
        raise DanganError("name at least one file to attach")
    if name is not None and len(files) > 1:
        raise DanganError("--name names one file; attach the files one at a time")
    if title is not None and (not title.strip() or "\n" in title or len(title) > 500):
        raise DanganError("--title is one line of at most 500 characters")
    for path in files:
        if not path.is_file():
            raise DanganError(f"{path}: no such file" if not path.exists() else f"{path} is not a regular file")
    with vault.lock():
        vault.ready_to_write()
        plain, rt, stored = records.read_plain(vault, code)
        current = listed(plain)
        taken = {str(e.get("file", "")).casefold() for e in current}
        names = []
        for path in files:
            chosen = safe_name(name if name is not None else path.name)
            if chosen.casefold() in taken:
                raise DanganError(f"{code} already has an attachment named {chosen!r}",
                                  "give another name with --name, or remove the old one (dangan attachments rm)")
            taken.add(chosen.casefold())
            names.append(chosen)
        keys, texts = _recipients(vault, code.category)
        digest = recipients_digest(texts)
        folder = vault.root / folder_of(code)
        existed = folder.exists()
        sealed: list[Sealed] = []
        try:
            added = []
            for path, chosen in zip(files, names):
                try:
                    with open(path, "rb") as source:
                        item = seal_stream(source, folder, chosen, keys)
                except OSError as exc:
                    raise DanganError(f"{path}: {exc.strerror}") from None
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
        rel = path_of(code, str(entry.get("file")))
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
        raise DanganError(f"{code} has no attachment {name!r}", f"its attachments: {names}")
    rel = path_of(code, str(entry["file"]))
    path = vault.root / rel
    if not path.is_file():
        raise Refusal(f"{rel} is missing (DG115)", "restore it from Git history")
    if sha256_of(path) != entry.get("sha256"):
        raise Refusal(f"{rel} does not match the SHA-256 its record lists (DG115)",
                      "restore it from Git history; `dangan check` lists what else differs")
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
        raise DanganError("name the attachments to remove", "list them with `dangan attachments ls CODE`")
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
                gone.append(path_of(code, str(entry["file"])))
                continue
            stray = f"{folder_of(code)}/{name.strip()}"
            if "/" not in name.strip() and owner(stray) is not None and (vault.root / stray).is_file():
                gone.append(stray)
                continue
            raise DanganError(f"{code} has no attachment {name!r}", "list them with `dangan attachments ls CODE`")
        if len(set(gone)) != len(gone):
            raise DanganError("an attachment is named twice")
        kept = [e for e in current if id(e) not in drop]
        changes: dict[str, bytes | Path | None] = {}
        if len(kept) != len(current):
            changes[code.path] = _write_record(vault, code, plain, rt, stored, kept)
        changes.update({rel: None for rel in gone})
        shown = ", ".join(rel.rsplit("/", 1)[1][: -len(SUFFIX)] if rel.endswith(SUFFIX) else rel.rsplit("/", 1)[1]
                          for rel in gone)
        commit_id = transact(vault, changes, f"dangan attachments rm: {code} {shown}", commit)
    return Changed(code, gone, [e for e in current if id(e) in drop], commit_id)


# ----------------------------------------------------------------- key changes

def owners(vault: Vault) -> set[str]:
    """Codes of the records that have an attachment folder in the work tree."""
    found = set()
    base = vault.root / "vault"
    for dirpath, dirnames, filenames in os.walk(base):
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
    keys, texts = _recipients(after, code.category)
    digest = recipients_digest(texts)
    if not force and all(e.get("recipients") == digest for e in entries):
        return None, {}
    identities = vault.keyring.identities
    folder = vault.root / folder_of(code)
    moves: dict[str, Path] = {}
    renewed = []
    try:
        for entry in entries:
            rel = path_of(code, str(entry.get("file")))
            if not (vault.root / rel).is_file():
                raise DanganError(f"{code}: attachment {rel} is missing (DG115)",
                                  "restore it or remove it (dangan attachments rm) first")
            item = reseal_file(vault.root / rel, folder, str(entry["file"]), identities, keys, f"{code} {entry['file']}")
            moves[rel] = item.temp
            renewed.append({**entry, "size": item.size, "sha256": item.sha256, "recipients": digest})
    except BaseException:
        for temp in moves.values():
            temp.unlink(missing_ok=True)
        raise
    new_plain = {**plain, "attachments": renewed}
    if "sops" in doc:
        names = after.schemas.categories[code.category].sensitive
        return sealing.seal(code, new_plain, names, after.recipient_keys(code.category), doc, vault.keyring), moves
    _, rt = vault.read(code)
    rt["attachments"] = renewed
    return rt, moves
