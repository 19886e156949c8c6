"""Attachments as stored (docs/attachments.md): where a record's attachments live
(`folder_of`, `path_of`, `owner`), the names and media types they may have, facts about a
stored file measured once per blob id (`Stored`, `Facts`), and the rules DG115-DG118 on them
(`record_findings`, `file_findings`, `loose_findings`), which the check engine applies to any
source (work tree, index, commit). The operations (attach, get, rm, re-encryption for key
changes) are `dangan.services.attachments`.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dangan.errors import DanganError
from dangan.git import gitio
from dangan.i18n import Message, _
from dangan.model.layout import SUFFIX, folder_of, listed, owner, path_of  # noqa: F401 (part of this module's API)

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

def safe_name(raw: str) -> str:
    """A file name for an attachment: NFC, one path segment, no leading dot, bounded."""
    name = unicodedata.normalize("NFC", raw).strip()
    if name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]  # the stored suffix is added by dangan
    if not name:
        raise DanganError(_("an attachment needs a file name"), _("give --name NAME"))
    bad = sorted({c for c in name if c in _FORBIDDEN or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise DanganError(_("attachment name {name} contains {characters}").format(name=repr(name), characters=shown),
                          _("give a plain file name with --name (no folders, quotes or control characters)"))
    if name.startswith(".") or name.endswith((".", " ")):
        raise DanganError(_("attachment name {name} starts with a dot or ends with a dot or space").format(
            name=repr(name)), _("give another name with --name"))
    if len(name) > MAX_NAME_CHARS or len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise DanganError(_("attachment name {name}... is too long (at most {limit} characters)").format(
            name=repr(name[:40]), limit=MAX_NAME_CHARS), _("give a shorter name with --name"))
    return name


def media_type(name: str, given: str | None) -> str:
    if given is not None:
        value = given.strip().lower()
        if not _MEDIA_TYPE.fullmatch(value):
            raise DanganError(Message("{value} is not a media type", value=repr(given)),
                              Message("example: --type application/pdf"))
        return value
    import mimetypes

    guessed, _encoding = mimetypes.guess_type(name, strict=False)
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
            found.append((rel, "DG115", Message("attachment {file} is listed twice", file=repr(file))))
            continue
        names.add(file.casefold())
        stored = files.get(file + SUFFIX)
        if stored is None:
            found.append((rel, "DG115", Message("listed attachment {file} is missing: no {path}",
                                                file=repr(file), path=f"{folder}/{file}{SUFFIX}")))
            continue
        if stored.sha256 != item.get("sha256") or stored.size != item.get("size"):
            found.append((f"{folder}/{file}{SUFFIX}", "DG115",
                          Message("does not match the SHA-256 and size its record lists; restore it from "
                                  "history or attach it again")))
        if digest is not None and item.get("recipients") != digest:
            found.append((f"{folder}/{file}{SUFFIX}", "DG118",
                          Message("encrypted for other recipients than vault.yaml gives its category; "
                                  "run `dangan keys updatekeys`")))
    for name in sorted(files):
        if not (name.endswith(SUFFIX) and name[: -len(SUFFIX)].casefold() in names):
            found.append((f"{folder}/{name}", "DG116",
                          Message("not listed by its record {code}; add it with `dangan attach`, or remove it",
                                  code=rel.rsplit("/", 1)[1][:-5])))
    return found


def file_findings(rel: str, data: bytes) -> list[tuple[str, str, str]]:
    """DG117 for one file under vault/ that is not a record, from its first bytes."""
    pointer = _lfs_pointer(data[:1024]) if len(data) < 1024 else None
    if pointer is not None or data.startswith((AGE_MAGIC, ARMOR_MAGIC)):
        return []
    return [(rel, "DG117", Message("a clear (unencrypted) file; only records and age-encrypted attachments "
                                   "belong under vault/ (use `dangan attach`)"))]


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
                found.append((rel, "DG116", Message("its record {record} does not exist; attachments go with "
                                                    "their record (remove it, or restore the record)",
                                                    record=record)))
            if facts.age is False and only(rel):
                found.append((rel, "DG117", Message("a clear (unencrypted) file; attachments are stored as "
                                                    "age files (use `dangan attach`)")))
    return found
