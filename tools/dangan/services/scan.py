"""Running the rules over many files fast: sources, the result cache, parallel workers.

A *source* is a set of (path, blob id) pairs under `vault/` plus the `vault.yaml` and
`schemas/` that judge them: the work tree, the index, or a commit (the server-side hook has
no work tree, so everything here can read from Git objects alone).

File rules depend only on a file's path and bytes and on the rules (schemas, recipients,
identities), so their results are cached by (path, blob id) under `.git/dangan/cache/`,
in a file named by the rules' fingerprint: content-addressed, never stale, invalidated by a
schema, vault.yaml or dangan version change. Only clean results are kept; files with
findings are simply checked again.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dangan import __version__
from dangan.errors import DanganError, GitError
from dangan.formats import findings as shown
from dangan.formats.schemas import SchemaSet
from dangan.formats.yamlio import YamlError, decode, load_text
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model.handover import CATEGORY as HANDOVER
from dangan.model.handover import handed_over_codes
from dangan.rules.check import (
    DISPOSAL_FOLDER,
    LINK,
    CheckResult,
    Finding,
    Named,
    check_config_tree,
    dangling_refs,
    destroyed_codes,
    judge_file,
    not_a_file,
)
from dangan.store import attached as attachments
from dangan.store.epochkeys import EPOCHS
from dangan.store.sealing import Keyring
from dangan.store.sopsconfig import SOPS_CONFIG
from dangan.store.vault import CONFIG, RECORDS, Vault

if TYPE_CHECKING:  # quick and fsutil are imported where used: the pre-commit hook needs neither
    from dangan.store import quick

# the files at the root that judge the records with schemas/ (epochs.yaml: an epoch vault's)
SETTINGS = (CONFIG, SOPS_CONFIG, EPOCHS)
SMALL = 64  # below this many files the per-file cache is not worth loading
PARALLEL_MIN = 2000  # below this, worker start-up costs more than it saves
CHUNK = 1000


@dataclass
class Rules:
    """What judges files: one vault.yaml and schemas/ (from the work tree, index or a commit)."""

    schemas: SchemaSet
    config_bytes: bytes | None
    keyring: Keyring | None = None
    config: dict[str, Any] = field(default_factory=dict)
    sops_bytes: bytes | None = None  # .sops.yaml (store.sopsconfig), None when there is none
    epochs_bytes: bytes | None = None  # epochs.yaml (store.epochkeys), None: a vault without epochs

    def __post_init__(self) -> None:
        try:
            loaded = load_text(decode(self.config_bytes)) if self.config_bytes is not None else {}
        except YamlError:
            loaded = {}
        self.config = loaded if isinstance(loaded, dict) else {}

    @property
    def recipients(self) -> dict[str, list[str]]:
        """category -> keys, and `category:level` -> keys for each confidentiality level
        (what DG106 and DG118 expect of a record at that level)."""
        from dangan.formats.schemas import CONFIDENTIALITY
        from dangan.store.vault import recipients_of

        out = {}
        for category in self.schemas.categories:
            out[category] = [str(r.get("key")) for r in recipients_of(self.config, category)]
            for level in CONFIDENTIALITY:
                out[f"{category}:{level}"] = [str(r.get("key")) for r in recipients_of(self.config, category, level)]
        return out

    @functools.cached_property
    def epochs(self) -> Any:
        """epochs.yaml read (store.epochkeys.Epochs), rules.check.BROKEN when it cannot be
        (DG114 says why), None in a vault without epochs."""
        if self.epochs_bytes is None:
            return None
        from dangan.rules.check import BROKEN
        from dangan.store import epochkeys

        try:
            return epochkeys.parse(self.epochs_bytes)
        except DanganError:
            return BROKEN

    def fingerprint(self) -> str:
        # "rules 7": findings remembered with their messages' templates (any language);
        # "rules 6": confidentiality levels (DG122, recipients by level); "rules 5": DG101
        # names git's conflict markers, DG107 the commands that restore a
        # record, DG108 is judged on the work tree and links are DG104 by mode, so a whole
        # tree's findings remembered by an older dangan are not shown
        digest = hashlib.sha256(f"dangan {__version__} rules 7\0".encode())
        digest.update(self.schemas.fingerprint.encode())
        # all of vault.yaml, not only the recipients: the loan rules (DG111) read the
        # lending settings and the certificate rules (DG112) the timezone
        digest.update(b"\0" if self.config_bytes is None else b"\1" + self.config_bytes)
        # .sops.yaml: only DG114 reads it, but the whole-tree memo is keyed by this
        digest.update(b"\0" if self.sops_bytes is None else b"\1" + self.sops_bytes)
        if self.epochs_bytes is not None:  # an epoch vault (a vault without keeps its fingerprint)
            digest.update(b"\2" + self.epochs_bytes)
        if self.keyring is not None and self.keyring.available():
            # DG107 and plaintext validation run only with a key: results differ by key
            digest.update("".join(sorted(str(i.to_public()) for i in self.keyring.identities)).encode())
        return digest.hexdigest()[:32]

    def config_findings(self, root: Path | None = None) -> list[Finding]:
        """DG114 for this vault.yaml and schemas/. A pure function of their bytes, so with a
        `root` the result is kept in its cache (the metaschema run and the walk of every
        schema cost a pre-commit hook ~25 ms otherwise)."""
        directory = cache_dir(root) if root is not None else None
        if directory is None:
            return check_config_tree(self.schemas, self.config_bytes, self.sops_bytes, self.epochs_bytes)
        digest = hashlib.sha256(f"dangan {__version__} config 3\0".encode())
        digest.update(self.schemas.fingerprint.encode())
        digest.update(b"\0" if self.config_bytes is None else b"\1" + self.config_bytes)
        digest.update(b"\0" if self.sops_bytes is None else b"\1" + self.sops_bytes)
        if self.epochs_bytes is not None:
            digest.update(b"\2" + self.epochs_bytes)
        path = directory / f"config-{digest.hexdigest()[:32]}.json"
        try:
            return [Finding(*shown.recalled(f)) for f in json.loads(path.read_text("utf-8"))]
        except (OSError, ValueError, TypeError):
            pass
        found = check_config_tree(self.schemas, self.config_bytes, self.sops_bytes, self.epochs_bytes)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for old in directory.glob("config-*.json"):
                old.unlink(missing_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps([shown.remembered(f) for f in found]), "utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
        return found


def rules_from_worktree(vault: Vault) -> Rules:
    config = vault.root / CONFIG
    sops = vault.root / SOPS_CONFIG
    epochs = vault.root / EPOCHS
    return Rules(vault.schemas, config.read_bytes() if config.exists() else None, vault.keyring,
                 sops_bytes=sops.read_bytes() if sops.is_file() else None,
                 epochs_bytes=epochs.read_bytes() if epochs.is_file() else None)


def _rules_from_entries(root: Path, entries: list[gitio.IndexEntry], keyring: Keyring | None) -> Rules:
    wanted = {e.blob: e.path for e in entries if e.path in SETTINGS or e.path.startswith("schemas/")}
    blobs = dict(gitio.cat_blobs(root, wanted))
    files: dict[str, bytes] = {}
    config: bytes | None = None
    sops: bytes | None = None
    epochs: bytes | None = None
    for e in entries:
        if e.path == CONFIG:
            config = blobs[e.blob]
        elif e.path == SOPS_CONFIG:
            sops = blobs[e.blob]
        elif e.path == EPOCHS:
            epochs = blobs[e.blob]
        elif e.path.startswith("schemas/") and "/" not in e.path[len("schemas/"):]:
            files[e.path[len("schemas/"):]] = blobs[e.blob]
    return Rules(SchemaSet(files or None), config, keyring, sops_bytes=sops, epochs_bytes=epochs)


def rules_from_commit(root: Path, rev: str, keyring: Keyring | None) -> Rules:
    return _rules_from_entries(root, gitio.ls_tree(root, rev, [*SETTINGS, "schemas/"]), keyring)


def _rules_preferring_worktree(root: Path, entries: list[gitio.IndexEntry], keyring: Keyring | None) -> Rules:
    """The vault.yaml and schemas of `entries` (HEAD's or the index's), read from the work
    tree when the bytes are equal."""
    files: dict[str, bytes] = {}
    config: bytes | None = None
    sops: bytes | None = None
    epochs: bytes | None = None
    for e in entries:
        try:
            data = (root / e.path).read_bytes()
        except OSError:
            return _rules_from_entries(root, entries, keyring)
        if blob_id(data) != e.blob:
            return _rules_from_entries(root, entries, keyring)
        if e.path == CONFIG:
            config = data
        elif e.path == SOPS_CONFIG:
            sops = data
        elif e.path == EPOCHS:
            epochs = data
        elif "/" not in e.path[len("schemas/"):]:
            files[e.path[len("schemas/"):]] = data
    return Rules(SchemaSet(files or None), config, keyring, sops_bytes=sops, epochs_bytes=epochs)


def rules_from_index(root: Path, keyring: Keyring | None) -> Rules:
    """The staged vault.yaml and schemas (read from the work tree when the same bytes)."""
    entries = [e for e in gitio.ls_files(root, [*SETTINGS, "schemas/"]) if e.stage == 0]
    return _rules_preferring_worktree(root, entries, keyring)


# -------------------------------------------------------------------------- cache

class Cache:
    """Clean (path, blob) results for one rules fingerprint, and the codes each file names.

    One file of 24-byte entries: the 16-byte key, then the id of the codes the file names
    (`rules.check.named_codes`; 8 zero bytes when none), whose lists are kept once per id
    in a second file of JSON lines (most records name the same few codes). DG108 judges
    references across files, so a cached file must still say what it names: without its
    list (a torn write), an entry is a miss and the file is read again."""

    ENTRY = 24

    def __init__(self, directory: Path | None, fingerprint: str) -> None:
        self.path = directory / f"check-{fingerprint}.bin" if directory else None
        self.refs_path = directory / f"refs-{fingerprint}.jsonl" if directory else None
        self.known: dict[bytes, bytes] = {}  # key -> id of what it names
        self.named: dict[bytes, Named] = {}  # id -> (field, code) pairs
        self.new: list[bytes] = []
        self.new_named: list[bytes] = []  # the ids first named since: their lists are in `named`
        if self.path is None or self.refs_path is None:
            return
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            self.named = _read_lists(self.refs_path.read_bytes())
        except FileNotFoundError:
            self.named = {}  # no file named a code yet
        size = self.ENTRY
        usable = len(data) - len(data) % size  # a torn last append is ignored
        self.known = {data[i : i + 16]: data[i + 16 : i + size] for i in range(0, usable, size)}

    @staticmethod
    def key(path: str, blob: str) -> bytes:
        return hashlib.blake2b(f"{path}\0{blob}".encode(), digest_size=16).digest()

    def add(self, entries: bytes, lists: Mapping[bytes, Named]) -> None:
        """Entries (key and id, `_named_id`, packed) of files checked since the cache was
        read, so none is known yet, and the lists of their ids. Kept for `save` only: a
        `Cache` answers for what was on disk when it was read."""
        if entries:
            self.new.append(entries)
        for ident, pairs in lists.items():
            if ident not in self.named:
                self.named[ident] = pairs
                self.new_named.append(ident)

    def save(self) -> None:
        if self.path is None or self.refs_path is None or not self.new:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for pattern in ("check-*.bin", "refs-*.jsonl"):
                for old in self.path.parent.glob(pattern):
                    if old not in (self.path, self.refs_path):
                        old.unlink(missing_ok=True)  # results of older rules are never used again
            if self.new_named:  # the lists first: an entry read without its list is a miss
                lines = [json.dumps([i.hex(), self.named[i]]) + "\n" for i in self.new_named]
                with open(self.refs_path, "a", encoding="utf-8") as handle:
                    handle.write("".join(lines))
            with open(self.path, "ab") as handle:
                handle.write(b"".join(self.new))
        except OSError:
            pass  # a cache that cannot be written only costs time
        self.new = []
        self.new_named = []


NAMES_NONE = bytes(8)  # the id of naming no code


def _read_lists(raw: bytes) -> dict[bytes, Named]:
    """The lists of the cache's JSON lines (`[id, [[field, code], ...]]`), parsed as one
    document (a third of the time of a `json.loads` per line at 25,000 lines); a torn
    line sends it line by line, skipping what does not parse (its entries are misses)."""
    lines = raw.splitlines()
    try:
        return {bytes.fromhex(ident): pairs for ident, pairs in json.loads(b"[" + b",".join(lines) + b"]")}
    except (ValueError, TypeError):
        pass
    named: dict[bytes, Named] = {}
    for line in lines:
        try:
            ident, pairs = json.loads(line)
            if all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
                named[bytes.fromhex(ident)] = pairs
        except (ValueError, TypeError):
            continue
    return named


@functools.lru_cache(maxsize=1 << 16)
def _named_id(named: Named) -> bytes:
    """An id of what a file names, from its content (so processes writing at once agree)."""
    if not named:
        return NAMES_NONE
    # repr of a tuple of strings is unambiguous and the same in every process (json.dumps
    # costs several times as much, for each of the ~25,000 distinct lists of a large vault)
    return hashlib.blake2b(repr(named).encode("utf-8", "backslashreplace"), digest_size=8).digest()


def cache_dir(root: Path) -> Path | None:
    return _cache_dir(str(root))


@functools.lru_cache(maxsize=16)
def _cache_dir(root: str) -> Path | None:
    """Asked by several steps of one command: one `git rev-parse` per root."""
    try:
        return gitio.git_dir(Path(root)) / "dangan" / "cache"
    except Exception:
        return None


# ------------------------------------------------------------------------ checking

_RULES: Rules | None = None  # set in the parent before forking workers
_ROOT = ""  # where workers read work tree files (items without bytes)
_FOLDERS: attachments.Folders = {}  # record path -> its attachment folder's files
_DIGESTS: dict[str, str] = {}  # record path -> digest of those files (part of its cache key)


def _key(path: str, blob: str) -> bytes:
    """A record's result depends on its attachment folder too: the folder's files (names
    and blob ids) join its key. A record without attachments keeps the plain key."""
    digest = _DIGESTS.get(path)
    return Cache.key(path, blob if digest is None else f"{blob}\0{digest}")


# files checked, findings, the clean files' cache entries (key and `_named_id`), and what the
# files name: (position in the chunk, id) for each file that names a code, with each id's list
# once (the parent names the file by its own path string: at a million records, a copy of
# each path sent back would cost it 100 MB)
Batch = tuple[int, list[Finding], bytes, list[tuple[int, bytes]], dict[bytes, Named]]

def _read(path: str) -> bytes:
    """A file's bytes by plain system calls (cheaper than open().read() at 100,000 files).
    A short read of a regular file is its end: a record takes one call. A link is never
    followed (it could name a file outside the vault, or /dev/zero): it fails, as a file
    that is gone does, and the listing reports it (DG104)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        data = os.read(fd, READ_SIZE)
        if len(data) < READ_SIZE:
            return data
        chunks = [data]
        while chunk := os.read(fd, READ_SIZE):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


READ_SIZE = 64 * 1024


def _check_chunk(items: list[tuple[str, str, bytes | None]]) -> Batch:
    """Runs in a worker: a little to send back (findings, and the clean files' cache keys
    packed in one bytes object), since pickling per-file results costs the parent."""
    assert _RULES is not None
    recipients = _RULES.recipients
    findings: list[Finding] = []
    clean: list[bytes] = []
    names: list[tuple[int, bytes]] = []
    lists: dict[bytes, Named] = {}
    checked = 0
    for position, (path, blob, data) in enumerate(items):
        if data is None:  # a work tree file: read here, in parallel, not in the parent
            try:
                data = _read(_ROOT + path)
            except OSError:
                continue
        checked += 1
        found, named = judge_file(_RULES.schemas, path, data, _RULES.keyring, recipients, _RULES.config,
                                  _FOLDERS.get(path), _RULES.epochs)
        ident = _named_id(named)
        if named:
            names.append((position, ident))
            lists[ident] = named
        if found:
            findings.extend(found)
        else:
            clean.append(_key(path, blob) + ident)
    return checked, findings, b"".join(clean), names, lists

def check_blobs(
    root: Path,
    rules: Rules,
    items: list[tuple[str, str]],
    read: Callable[[list[tuple[str, str]]], Iterator[tuple[str, str, bytes]]] | None,
    use_cache: bool = True,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    meanwhile: Callable[[], None] | None = None,
    folders: attachments.Folders | None = None,
    named: dict[str, Named] | None = None,
) -> list[Finding]:
    """File rules over (path, blob) pairs; `read` yields (path, blob, bytes) for misses,
    or is None for work tree files, which the workers read themselves.

    `folders` gives each record's attachment folder (what DG115/DG116/DG118 judge). None
    means `items` are every file of a source (a commit's tree): the attachments among them
    are then measured here, judged with their records, and not read as files.

    `meanwhile` runs in a thread of this process while the workers check, started only
    once they are forked (a process must not fork while another of its threads runs
    arbitrary code); it has finished when this returns.

    `named`, when given, receives what each file names (path -> `named_codes`), from the
    cache for the files it vouches for: what DG108 judges across the files of a source."""
    global _RULES, _ROOT, _FOLDERS, _DIGESTS
    loose: list[Finding] = []
    if folders is None:
        items, folders, loose = _whole_source(root, items, read is None, use_cache)
    _FOLDERS = folders
    _DIGESTS = {path: attachments.folder_digest(files) for path, files in folders.items() if files}
    # a handful of files is checked faster than the cache of 100,000 keys is loaded
    cache = Cache(cache_dir(root) if use_cache and len(items) > SMALL else None, rules.fingerprint())
    misses = []
    known, lists, none = cache.known, cache.named, NAMES_NONE
    for item in items:  # a hit: known, and what it names (none, or its list) at hand
        p, b = item
        ident = known.get(_key(p, b))
        if ident is None or (ident != none and ident not in lists):
            misses.append(item)  # the same pair: a copy of each costs 64 MB at a million
        elif ident != none and named is not None:
            named[p] = lists[ident]
    if progress:
        progress(len(items) - len(misses))
    findings: list[Finding] = []
    _RULES, _ROOT = rules, str(root) + "/"
    source = ((p, b, None) for p, b in misses) if read is None else read(misses)
    results: Iterable[Batch]
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if len(misses) >= PARALLEL_MIN and workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        # every chunk is submitted at once (Executor.map); kept here until its result is in
        # (the results name their files by position), then let go
        chunks: list[list[tuple[str, str, bytes | None]] | None] = []

        def submitted() -> Iterator[list[tuple[str, str, bytes | None]]]:
            for chunk in _chunks(source, CHUNK):
                chunks.append(chunk)
                yield chunk

        # Objects that exist now (the 100,000 paths, the schemas) are never garbage: frozen,
        # the workers' collector neither walks them nor writes to their pages, which would
        # copy the parent's memory page by page into every worker (the gc docs' advice).
        gc.freeze()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"))
        helper = None
        try:
            for started in [pool.submit(int) for _ in range(workers)]:
                started.result()  # every worker forked before any thread of ours starts
            if meanwhile is not None:
                import threading

                helper = threading.Thread(target=meanwhile, daemon=True)
                helper.start()
            results = pool.map(_check_chunk, submitted())  # every chunk submitted on return
            for number, batch in enumerate(results):
                chunk, chunks[number] = chunks[number], None
                assert chunk is not None
                _collect(batch, chunk, cache, findings, progress, named)
        finally:
            pool.shutdown(cancel_futures=True)
            gc.unfreeze()
            if helper is not None:
                helper.join()
    else:
        if meanwhile is not None:
            meanwhile()
        for chunk in _chunks(source, CHUNK):
            _collect(_check_chunk(chunk), chunk, cache, findings, progress, named)
    cache.save()
    return findings + loose


def _split(items: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(files judged one by one, attachment files judged with their record)."""
    owner = attachments.owner
    kept, attached = [], []
    for item in items:
        rel = item[0]
        end = rel.rfind("/")
        # inline of owner()'s first test: a record's parent folder is its category
        if end - rel.rfind("/", 0, end) <= 7 or owner(rel) is None:
            kept.append(item)
        else:
            attached.append(item)
    return kept, attached


def _whole_source(root: Path, items: list[tuple[str, str]], worktree: bool,
                  use_cache: bool) -> tuple[list[tuple[str, str]], attachments.Folders, list[Finding]]:
    """Every file of a source: its attachments measured (by blob id, cached), grouped by
    record, and the loose ones found (DG116 without a record, DG117 clear)."""
    kept, attached = _split(items)
    if not attached:
        return kept, {}, []
    facts = attachments.Facts(root, use_cache)
    if worktree:
        measured = [(rel, facts.for_worktree(rel, blob)) for rel, blob in attached]
    else:
        by_blob = facts.for_blobs(blob for _, blob in attached)
        measured = [(rel, by_blob.get(blob)) for rel, blob in attached]
    facts.save()
    folders = attachments.group((rel, s) for rel, s in measured if s is not None)
    present = {rel for rel, _ in kept}
    loose = [Finding(*f) for f in attachments.loose_findings(folders, present.__contains__)]
    return kept, folders, loose


def _touched(changes: list[Any]) -> tuple[set[str], list[str]]:
    """The records a change touches (a record changed or deleted, a file of its folder
    changed), and the pathspecs that list them and their attachment folders."""
    owner = attachments.owner
    touched: set[str] = set()
    for change in changes:
        record = owner(change.path)
        if record is not None:
            touched.add(record)
        elif change.path.endswith(".yaml"):
            touched.add(change.path)
    if not touched:
        return touched, []
    if len(touched) > 500:  # a big change: one listing beats a huge pathspec
        return touched, [RECORDS + "/"]
    return touched, [spec for record in sorted(touched) for spec in (record, record[:-5] + "/")]


def _change_context(root: Path, side: str, changes: list[Any], has_head: bool = True,
                    use_cache: bool = True, head: list[gitio.IndexEntry] | None = None,
                    ) -> tuple[attachments.Folders, list[tuple[str, str]], list[Finding]]:
    """For a change (index or commit `side`): the attachment folders of the records it
    touches (a record changed or deleted, a file of its folder changed), as they are on
    the new side; the unchanged records to judge again with them; and the loose files.
    `head`: HEAD's entries of `_touched`'s pathspecs when the caller listed them already."""
    owner = attachments.owner
    touched, specs = _touched(changes)
    if not touched:
        return {}, [], []
    entries: dict[str, str] = {}
    if side != ":":
        entries = {e.path: e.blob for e in gitio.ls_tree(root, side, specs)}
    else:  # HEAD and the staged changes: asking git about the index reads all of it
        if head is not None:
            entries = {e.path: e.blob for e in head}
        elif has_head:
            entries = {e.path: e.blob for e in gitio.ls_tree(root, "HEAD", specs)}
        for change in changes:
            if change.status == "D":
                entries.pop(change.path, None)
            elif change.new is not None:
                entries[change.path] = change.new
    present = {record for record in touched if record in entries}
    files = [(rel, blob) for rel, blob in entries.items() if owner(rel) in touched]
    facts = attachments.Facts(root, use_cache)
    by_blob = facts.for_blobs(blob for _, blob in files)
    facts.save()
    folders = attachments.group((rel, by_blob[blob]) for rel, blob in files if blob in by_blob)
    changed = {c.path for c in changes if c.status in "AMT"}
    loose = [Finding(*f) for f in attachments.loose_findings(folders, present.__contains__, changed.__contains__)]
    again = [(record, entries[record]) for record in sorted(present - changed)]  # touched by attachments only
    return folders, again, loose


def _collect(batch: Batch, chunk: list[tuple[str, str, bytes | None]], cache: Cache, findings: list[Finding],
             progress: Callable[[int], None] | None, named: dict[str, Named] | None) -> None:
    checked, found, clean, names, lists = batch
    findings.extend(found)
    cache.add(clean, lists)
    if named is not None:
        known = cache.named  # each id's list once, whichever batch brought it (add put it there)
        named.update((chunk[position][0], known[ident]) for position, ident in names)
    if progress:
        progress(checked)


def _chunks(items: Iterable[tuple[str, str, bytes | None]], size: int) -> Iterator[list[tuple[str, str, bytes | None]]]:
    chunk: list[tuple[str, str, bytes | None]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def blob_reader(root: Path) -> Callable[[list[tuple[str, str]]], Iterator[tuple[str, str, bytes]]]:
    """Read misses from Git objects (index or commit sources)."""

    def read(items: list[tuple[str, str]]) -> Iterator[tuple[str, str, bytes]]:
        by_blob: dict[str, list[str]] = {}
        for path, blob in items:
            by_blob.setdefault(blob, []).append(path)
        for blob, data in gitio.cat_blobs(root, by_blob):
            for path in by_blob[blob]:
                yield path, blob, data

    return read


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


NOT_FILES = (b"120000", b"160000")  # git's modes of a symbolic link and a submodule


INDEX_LISTING = ("-s", "-z", "--", RECORDS + "/")  # index_blobs' question (`ls-files --sparse`)


def start_index_listing(root: Path) -> gitio.Process | None:
    """`index_blobs`' git, started now, for a caller that has other work for git first (the
    cold check's stat of every file: both read the index at once). None if it cannot start:
    `index_blobs` asks again, and reports any failure."""
    try:
        return gitio.start(("ls-files", "--sparse", *INDEX_LISTING), root, stderr=False)
    except GitError:
        return None


def index_blobs(root: Path, trees: dict[str, str] | None = None,
                started: gitio.Process | None = None) -> dict[str, str]:
    """path -> blob id of the stage-0 index entries under vault/ (bulk, no objects).

    `--sparse`: an office's sparse index keeps each folder left out as one entry (a tree);
    listed as it is, not expanded into its files (0.006 s instead of 0.6 s for a checkout of
    one project of the 100,000-record demo). Those folders go into `trees` (path -> tree id)."""
    raw = None
    if started is not None:  # from start_index_listing; on any failure, asked again below
        with contextlib.suppress(GitError):
            raw = gitio.finish(started, ("ls-files", "--sparse", *INDEX_LISTING))
    if raw is None:
        raw = gitio.ls_files_sparse(root, INDEX_LISTING)
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        if item:
            meta, _, path = item.partition(b"\t")
            if meta[:6] == SPARSE_DIR:
                if trees is not None:
                    trees[path.decode("utf-8", "surrogateescape").rstrip("/")] = meta[7:47].decode()
            # stage 0, and a file: a link's blob is its target's text (the listing finds it)
            elif meta.endswith(b" 0") and meta[:6] not in NOT_FILES:
                out[path.decode("utf-8", "surrogateescape")] = meta[7:47].decode()
    return out


SPARSE_DIR = b"040000"  # a sparse index's entry for a folder outside the cone


def dirty_files(root: Path) -> set[str]:
    """Tracked files whose work tree content may differ from the index (git's stat check)."""
    # as quick.probe; --sparse: a sparse index is not expanded (it has nothing to stat there)
    raw = gitio.ls_files_sparse(root, ["-m", "-z", "--", RECORDS + "/"])
    return {p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0") if p}


@dataclass
class Listing:
    """Every file and folder under vault/, with folder mtimes taken before listing."""

    files: list[str]
    dirs: quick.Folders
    links: list[str] = field(default_factory=list)  # symbolic links: never followed, DG104




def list_worktree(root: Path) -> Listing:
    """Every file and folder under vault/. A folder's mtime is read (from its parent's
    entry) before the folder is listed, so a change made meanwhile shows next time.
    Plain `scandir` with one stat per folder: half the time of os.walk at 100,000 folders;
    the compiled walk (`_fsstat.walk`), where it is built, lists the same without a Python
    object per entry and without the GIL (docs/performance.md)."""
    from dangan.store import quick

    walk = getattr(quick._fsstat, "walk", None)
    if walk is not None:
        return walked(walk(str(root), RECORDS))
    return _list_worktree_py(root)


def walked(found: tuple[bytes, bytes, bytes, bytes] | None) -> Listing:
    """The Listing of what `_fsstat.walk` found (None: vault/ is not there)."""
    from dangan.store import quick

    if found is None:
        return Listing([], quick.Folders())
    files, names, mtimes, links = found
    return Listing(_split_names(files), quick.Folders.packed(names, mtimes), sorted(_split_names(links)))


def _list_worktree_py(root: Path) -> Listing:
    """list_worktree without the compiled walk."""
    from dangan.store import quick

    files: list[str] = []
    dirs = quick.Folders()
    links: list[str] = []
    base = str(root) + "/"
    try:
        dirs.add(RECORDS, os.stat(base + RECORDS).st_mtime_ns)
    except OSError:
        return Listing(files, dirs)
    stack = [RECORDS]
    scandir = os.scandir
    while stack:
        rel = stack.pop()
        subdirs: list[str] = []
        names: list[str] = []
        try:
            with scandir(base + rel) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        sub = f"{rel}/{entry.name}"
                        dirs.add(sub, entry.stat(follow_symlinks=False).st_mtime_ns)
                        subdirs.append(sub)
                    elif entry.is_symlink():
                        links.append(f"{rel}/{entry.name}")
                    else:
                        names.append(f"{rel}/{entry.name}")
        except OSError:
            continue  # vanished while listing: its parent's mtime has changed
        names.sort()
        files.extend(names)
        subdirs.sort(reverse=True)
        stack.extend(subdirs)
    return Listing(files, dirs, sorted(links))


def _split_names(raw: bytes) -> list[str]:
    """Paths each ended by NUL, as str (bytes that are not UTF-8 kept as os.fsdecode does)."""
    return raw.decode("utf-8", "surrogateescape").split("\0")[:-1] if raw else []


def worktree_items(vault: Vault, only: list[str] | None = None,
                   listing: Listing | None = None, index: dict[str, str] | None = None,
                   dirty: set[str] | None = None) -> list[tuple[str, str]]:
    """(path, blob id) of the work tree's files under vault/ without reading clean ones.

    Tracked files git reports unchanged (stat cache) have their index blob id; modified and
    untracked files are read and hashed.
    """
    root = vault.root
    index = index_blobs(root) if index is None else index
    dirty = dirty_files(root) if dirty is None else dirty
    if only is not None:
        paths = only
    else:
        paths = (listing or list_worktree(root)).files
    items = []
    for rel in paths:
        blob = index.get(rel)
        if blob is None or rel in dirty:
            try:
                blob = blob_id((root / rel).read_bytes())
            except OSError:
                continue
        items.append((rel, blob))
    return items


# ---------------------------------------------------------------------- what to check

def _dedupe(findings: list[Finding]) -> list[Finding]:
    return sorted(set(findings))


def check_worktree(vault: Vault, paths: list[str] | None = None, use_cache: bool = True,
                   progress: Callable[[int], None] | None = None) -> CheckResult:
    """File rules over the work tree (all of vault/, or `paths`), plus DG114 for --all."""
    from dangan.store import quick

    # the raw inputs of the rules' fingerprint, read before the rules: the note for the
    # standard-library path is left only if they are still the same at the end
    stamp = quick.stamp(str(vault.root)) if use_cache and paths is None and vault.keyring.explicit is None else None
    rules = rules_from_worktree(vault)
    root = vault.root
    if paths is not None:
        return _check_paths(vault, rules, paths, use_cache, progress)
    memo = None
    if use_cache and (directory := cache_dir(root)) is not None:
        memo = quick.TreeMemo(str(directory), str(root), str(directory.parent.parent), rules.fingerprint())
    left: dict[str, str] = {}  # an office's sparse index: folder -> tree, of those left out
    index: dict[str, str] | None = None
    if memo is None or not memo.exists():
        # no memo to hold (cold): git states every file in a thread while this one reads
        # the index's listing (2.4 s and 1.8 s at a million records; both read the index)
        from concurrent.futures import ThreadPoolExecutor

        early = start_index_listing(root)
        with ThreadPoolExecutor(1) as thread:
            probing = thread.submit(quick.probe, str(root), memo)
            try:
                index = index_blobs(root, left, early)
            except BaseException:
                gitio.stop(early)
                raise
        probed, remembered = probing.result()
    else:
        probed, remembered = quick.probe(str(root), memo)
    dirty = probed if probed is not None else dirty_files(root)
    if memo is not None:
        index_checksum = memo.index_checksum()
        if remembered is not None:
            quick.remember_fingerprint(str(directory), str(root), rules.fingerprint(), stamp)
            checked, found, outside = remembered
            return CheckResult(checked, [Finding(*shown.recalled(f)) for f in found], outside=outside)
    # Cold: listing a million folders takes seconds, so it runs in a thread (the compiled
    # walk releases the GIL; the scandir walk spends its time in system calls, which do too)
    # while the workers check the tracked files the index names; the untracked or modified
    # ones follow.
    listed: list[Listing] = []
    if index is None:
        index = index_blobs(root, left)
    # an office's sparse checkout: the records left out are in the index (skip-worktree)
    # but not on disk; they are not judged here, and not reported missing either
    outside = 0
    if vault.checkout is not None:
        skipped = {rel: blob for rel, blob in index.items() if vault.outside_checkout(rel)}
        index = {rel: blob for rel, blob in index.items() if rel not in skipped}
        outside = sum(1 for rel in skipped if _is_record(rel)) + records_in_trees(root, left)
    tracked, attached = _split([(rel, blob) for rel, blob in index.items() if rel not in dirty])
    # attachments are judged with their record; git's stat check says these are clean,
    # so their facts are those of the index blob (cached by blob id)
    facts = attachments.Facts(root, use_cache)
    folders = attachments.group((rel, s) for rel, blob in attached if (s := facts.for_worktree(rel, blob)))
    named: dict[str, Named] = {}  # what each record names, for DG108 across the tree
    findings = check_blobs(root, rules, tracked, None, use_cache, progress=progress,
                           meanwhile=lambda: listed.append(list_worktree(root)), folders=folders,
                           named=named)
    if not listed:  # the listing thread failed: list here, and let any error surface
        listed.append(list_worktree(root))
    listing = listed[0]
    on_disk = set(listing.files)
    findings = [f for f in findings if f.path in on_disk]  # deleted in the work tree
    extras = [rel for rel in listing.files if rel not in index or rel in dirty]
    extra_files = [rel for rel in extras if attachments.owner(rel) is not None]
    extra_items = worktree_items(vault, [rel for rel in extras if attachments.owner(rel) is None],
                                 index=index, dirty=dirty)
    new_files = attachments.group((rel, s) for rel in extra_files if (s := facts.for_worktree(rel, None)))
    if new_files:  # untracked or modified attachments: judge their records again
        for record, files in new_files.items():
            folders.setdefault(record, {}).update(files)
        findings = [f for f in findings if f.path not in new_files and attachments.owner(f.path) not in new_files]
        again = {rel for rel, _ in extra_items}
        extra_items += [(r, index[r]) for r in sorted(new_files) if r in index and r in on_disk and r not in again]
    facts.save()
    for rel, _ in extra_items:  # judged again below: what they name now
        named.pop(rel, None)
    findings += check_blobs(root, rules, extra_items, None, use_cache, progress=progress, folders=folders,
                            named=named)
    for gone in [p for p in named if p not in on_disk]:  # in place: a copy costs 80 MB at a million
        del named[gone]
    findings += worktree_refs(root, named, on_disk)
    findings += [Finding(*f) for f in attachments.loose_findings(folders, on_disk.__contains__)]
    findings += [Finding(rel, "DG104", LINK) for rel in listing.links]
    findings += rules.config_findings(root if use_cache else None)
    stored = sum(len(files) for files in folders.values())
    checked = sum(1 for rel, _ in tracked if rel in on_disk) + len(extra_items) + stored
    result = CheckResult(checked, _dedupe(findings), outside=outside)
    if memo is not None:
        memo.save(index_checksum, dirty, listing.dirs, extras, checked,
                  [shown.remembered(f) for f in result.findings], outside)
        quick.remember_fingerprint(str(directory), str(root), rules.fingerprint(), stamp)
    return result


def left_out(root: Path, paths: Iterable[str]) -> set[str]:
    """Those of `paths` (files under vault/, not in the work tree) that an office's sparse
    checkout left out and that exist: outside its folders and in HEAD (the trees alone are
    read, which a partial clone holds: no blob is fetched). Empty in a whole work tree."""
    folders = gitio.sparse_folders(root)
    if folders is None:
        return set()
    prefixes = tuple(f"{folder}/" for folder in folders)
    outside = sorted(p for p in paths if not p.startswith(prefixes))
    if not outside or gitio.head(root) is None:
        return set()
    return gitio.paths_in(root, "HEAD", outside)


def within_checkout(root: Path, changes: list[Any], cone: list[Any] | None = None) -> list[Any]:
    """The changes an office's checkout judges: those inside its folders (and outside
    vault/). A change to another project's record reaches an office only with work merged
    from the server, which checked it there; judging it here would fetch its blobs. In a
    whole work tree every change (one `is_dir` per project touched, no git asked while each
    changed record's project folder is on disk). `cone` carries the folders between calls."""
    tops = {c.path.split("/", 2)[1] for c in changes if c.path.startswith(RECORDS + "/") and c.path.count("/") >= 2}
    if all(os.path.isdir(f"{root}/{RECORDS}/{top}") for top in tops):
        return changes
    if cone is None:
        folders = gitio.sparse_folders(root)
    else:
        if not cone:
            cone.append(gitio.sparse_folders(root))
        folders = cone[0]
    if folders is None:
        return changes
    prefixes = tuple(f"{folder}/" for folder in folders)
    return [c for c in changes if not c.path.startswith(RECORDS + "/") or c.path.startswith(prefixes)]


def _is_record(rel: str) -> bool:
    """A record's file under vault/, not a file of an attachment folder."""
    return rel.endswith(".yaml") and attachments.owner(rel) is None


def records_in_trees(root: Path, trees: Mapping[str, str]) -> int:
    """How many records the folders `trees` (path -> tree id: what a sparse index keeps of
    the folders an office left out) hold. A tree never changes: the count of each is kept
    in .git/dangan/cache/outside.json, and only a new tree is listed (`ls-tree -r`, trees
    only: nothing is fetched)."""
    from dangan.store import fsutil

    if not trees:
        return 0
    directory = cache_dir(root)
    path = directory / "outside.json" if directory is not None else None
    try:
        known = json.loads(path.read_bytes()) if path is not None else {}
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    counts = {tree: known[tree] for tree in trees.values() if isinstance(known.get(tree), int)}
    for folder, tree in trees.items():
        if tree not in counts:
            names = gitio.run(["ls-tree", "-r", "-z", "--name-only", tree], root).stdout.split(b"\0")
            counts[tree] = sum(1 for n in names if n and _is_record(
                f"{folder}/{n.decode('utf-8', 'surrogateescape')}"))
    if path is not None and counts != known:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fsutil.write_atomic(path, json.dumps(counts).encode(), durable=False)
        except OSError:
            pass  # a cache that cannot be written only costs time
    return sum(counts[tree] for tree in trees.values())


def _is_file(path: Path) -> bool:
    """A file, not a link (a link under vault/ is DG104 and stands for no record)."""
    return not path.is_symlink() and path.is_file()


def worktree_refs(root: Path, named: dict[str, Named], records: set[str] | Callable[[str], bool]) -> list[Finding]:
    """DG108 in the work tree: the codes `named` (path -> what it names) whose file is not
    among `records` (the files under vault/, or a test of one path) and that no disposal
    certificate nor handover in the work tree lists (read only when a code is missing)."""
    exists = records.__contains__ if isinstance(records, set) else records

    def read(folder: Path) -> list[Any]:
        trees = []
        for entry in sorted(os.scandir(folder), key=lambda e: e.name) if folder.is_dir() else []:
            if entry.name.endswith(".yaml") and entry.is_file(follow_symlinks=False):
                try:
                    trees.append(load_text(decode(_read(entry.path))))
                except (OSError, YamlError):
                    continue  # unreadable: DG101 says so
        return trees

    def destroyed() -> set[str]:  # destroyed, or handed over (YJ): existing elsewhere
        return (destroyed_codes(read(root / DISPOSAL_FOLDER))
                | handed_over_codes(read(root / RECORDS / HANDOVER)))

    def present(paths: set[str]) -> set[str]:
        there = {p for p in paths if exists(p)}
        return there | left_out(root, paths - there) if len(there) < len(paths) else there

    return dangling_refs(named, present, destroyed)


def _check_paths(vault: Vault, rules: Rules, paths: list[str], use_cache: bool,
                 progress: Callable[[int], None] | None) -> CheckResult:
    """`check PATH...`: the files given; a record with its attachment folder, and an
    attachment with its record."""
    root = vault.root
    dirty = dirty_files(root)
    index = index_blobs(root)
    records: set[str] = set()
    plain: list[str] = []
    links = [rel for rel in paths if (root / rel).is_symlink()]  # DG104, never read through
    for rel in paths:
        if rel in links:
            continue
        record = attachments.owner(rel)
        if record is None:
            plain.append(rel)
        records.add(record or rel)
    facts = attachments.Facts(root, use_cache)
    measured = []
    for record in sorted(r for r in records if r.endswith(".yaml")):
        folder = root / record[:-5]
        if folder.is_dir():
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                rel = f"{record[:-5]}/{entry.name}"
                if entry.is_symlink():
                    links.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    measured.append((rel, facts.for_worktree(rel, None if rel in dirty else index.get(rel))))
    facts.save()
    folders = attachments.group((rel, s) for rel, s in measured if s is not None)
    wanted = plain + [r for r in sorted(folders) if r not in plain and (root / r).is_file()]
    items = worktree_items(vault, wanted, index=index, dirty=dirty)
    named: dict[str, Named] = {}
    findings = check_blobs(root, rules, items, None, use_cache, progress=progress, folders=folders,
                           named=named)
    findings += worktree_refs(root, named, lambda rel: _is_file(root / rel))
    findings += [Finding(rel, "DG104", LINK) for rel in sorted(set(links))]
    findings += [Finding(*f) for f in attachments.loose_findings(folders, lambda r: (root / r).is_file())]
    return CheckResult(len(items) + len(measured), _dedupe(findings))


def check_staged(vault: Vault, use_cache: bool = True, early: Any = None) -> CheckResult:
    """What the pre-commit hook checks: the staged changes against HEAD, judged by the
    staged vault.yaml and schemas. Unchanged files were checked when they were committed."""
    from dangan.rules.changes import (
        blobs_needed,
        change_findings,
        epochs_findings,
        split_not_files,
        staged_changes,
    )
    from dangan.rules.dates import staged_findings as staged_dates

    root = vault.root
    # `early`: the hook's hookrun.Early, git's answer to the same question started sooner
    every, has_head = staged_changes(root, (*SETTINGS, "schemas/"), early.result(root) if early else None)
    changes = [c for c in every if c.path.startswith(RECORDS + "/")]
    epochs_changed = [c for c in every if c.path == EPOCHS]
    from_head = has_head and len(changes) == len(every)
    changes = within_checkout(root, changes)
    changes, links = split_not_files(changes)  # a staged link: DG104, its blob never read
    head = None
    if from_head:
        # vault.yaml and schemas/ are staged as in HEAD: read HEAD's (a small tree, where
        # the index of a big vault costs a full read), listed with the changed records'
        # folders (_change_context): one git process for both
        listed = gitio.ls_tree(root, "HEAD", [*SETTINGS, "schemas/", *_touched(changes)[1]])
        head = [e for e in listed if e.path.startswith(RECORDS + "/")]
        settings = [e for e in listed if not e.path.startswith(RECORDS + "/")]
        rules = _rules_preferring_worktree(root, settings, vault.keyring)
    else:
        rules = rules_from_index(root, vault.keyring)
    folders, again, loose = _change_context(root, ":", changes, has_head, use_cache, head)
    items, _ = _split([(c.path, c.new) for c in changes if c.new is not None and c.status in "AMT"])
    items += again
    # one read for both kinds of rules (attachments are measured, never read whole)
    blobs = dict(gitio.cat_blobs(root, blobs_needed(changes) | {blob for _, blob in again}))

    def read(wanted: list[tuple[str, str]]) -> Iterator[tuple[str, str, bytes]]:
        return ((path, blob, blobs[blob]) for path, blob in wanted)

    findings = check_blobs(root, rules, items, read, use_cache, folders=folders) + loose + links
    findings += change_findings(root, changes, ":", blobs, rules.config, vault.keyring, has_head)
    findings += epochs_findings(root, epochs_changed)
    findings += staged_dates(root, changes, blobs, rules.config)
    findings += rules.config_findings(root if use_cache else None)
    result = CheckResult(len(items), _dedupe(findings))
    if not vault.keyring.available():  # the MAC of these went unverified: the hook says so
        result.unverified = sum(1 for _, blob in items if b"\nsops:" in blobs.get(blob, b""))
    return result


def commits_in(root: Path, spec: str) -> list[tuple[str | None, str]]:
    """(first parent or None, commit) for each commit of `A..B` (oldest first)."""
    if spec.startswith("-"):
        raise DanganError(Message("{spec} is not a revision range", spec=repr(spec)))
    proc = gitio.run(["rev-list", "--reverse", "--parents", spec, "--"], root, check=False)
    if proc.returncode != 0:
        raise DanganError(Message("{spec} is not a revision range of this repository", spec=repr(spec)),
                          Message("example: main..HEAD"))
    out = []
    for line in proc.stdout.decode().splitlines():
        ids = line.split()
        out.append((ids[1] if len(ids) > 1 else None, ids[0]))
    return out


ZERO = frozenset("0")
DEFAULT_PROTECTED = ("main",)


def protected_branches(root: Path, commit: str) -> set[str]:
    """The branches vault.yaml of `commit` protects (`protected_branches`, default main)."""
    data = gitio.file_at(root, commit, CONFIG)
    names: list[str] = list(DEFAULT_PROTECTED)
    try:
        config = load_text(decode(data)) if data is not None else None
    except YamlError:
        config = None  # an unreadable vault.yaml protects the default (DG114 reports it)
    given = config.get("protected_branches") if isinstance(config, dict) else None
    if isinstance(given, list) and all(isinstance(b, str) for b in given):
        names = given
    return {f"refs/heads/{name}" for name in names}


def receive_findings(root: Path, updates: list[tuple[str, str, str]]) -> list[Finding]:
    """DG120 for a push's ref updates (old, new, ref), judged on the server before any ref
    moves: a protected branch (vault.yaml of the ref's current tip: nobody unprotects a
    branch in the push that rewrites it) or a tag must never lose history, neither by a
    non-fast-forward update nor by deletion. New refs and other branches are free."""
    found: list[Finding] = []
    for old, new, ref in updates:
        if set(old) == ZERO:
            continue  # a new ref drops nothing
        tag = ref.startswith("refs/tags/")
        if not tag and ref not in protected_branches(root, old):
            continue
        kind = Message("tag") if tag else Message("protected branch")
        if set(new) == ZERO:
            found.append(Finding(ref, "DG120", Message(
                "deleting the {kind} {ref} would drop its history from the archive; the server keeps it",
                kind=kind, ref=ref)))
        elif not gitio.is_ancestor(root, old, new):
            dropped = gitio.count_commits(root, [old, "--not", new])
            found.append(Finding(ref, "DG120", Message(
                "a non-fast-forward update of the {kind} {ref} would drop {count} commit(s) ({start}..) "
                "from the archive's history; add commits on top instead (git revert)",
                kind=kind, ref=ref, count=dropped, start=old[:10])))
    return found


def check_commits(root: Path, commits: list[tuple[str | None, str]], keyring: Keyring | None,
                  use_cache: bool = True) -> CheckResult:
    """Every commit against its first parent: file rules on what it changed, change rules,
    and DG114, each judged by that commit's own vault.yaml and schemas."""
    from dangan.rules.changes import (
        change_findings,
        commit_changes,
        epochs_findings,
        split_not_files,
    )
    from dangan.rules.dates import commit_findings as commit_dates
    from dangan.rules.dates import commit_times
    from dangan.services import signing  # history checks only: the pre-commit hook never needs it

    findings: list[Finding] = []
    checked = 0
    times = commit_times(root, commits)  # DG121: every committer date in one git call
    configs: dict[str, dict[str, Any] | None] = {}  # DG119: each commit's vault.yaml
    certificates: set[str] = set()  # DG119: the commits that add a disposal certificate
    cone: list[Any] = []  # an office's folders, asked once (within_checkout)
    for parent, commit in commits:
        rules = rules_from_commit(root, commit, keyring)
        configs[commit] = rules.config if rules.config else None
        every = commit_changes(root, parent, commit, (EPOCHS,))
        changes = [c for c in every if c.path != EPOCHS]
        changes, links = split_not_files(within_checkout(root, changes, cone))
        if any(c.status == "A" and c.path.startswith(f"{RECORDS}/XH/") for c in changes):
            certificates.add(commit)
        folders, again, loose = _change_context(root, commit, changes, use_cache=use_cache)
        items, _ = _split([(c.path, c.new) for c in changes if c.new is not None and c.status in "AMT"])
        items += again
        checked += len(items)
        found = check_blobs(root, rules, items, blob_reader(root), use_cache, folders=folders) + loose + links
        found += change_findings(root, changes, commit, None, rules.config, keyring)
        found += epochs_findings(root, [c for c in every if c.path == EPOCHS])
        found += commit_dates(root, changes, commit, rules.config, times)
        found += rules.config_findings(root if use_cache else None)
        short = commit[:10]
        findings += [Finding(f.path, f.rule, signing.in_commit(f.message, short)) for f in found]
    findings += signing.history_findings(root, commits, configs, certificates)  # DG119: who signed
    return CheckResult(checked, _dedupe(findings))


def check_tree(root: Path, rev: str, keyring: Keyring | None, use_cache: bool = True) -> CheckResult:
    """Every file of one commit (e.g. `check --range B` with a single revision)."""
    from dangan.rules.changes import destroyed_on, handed_over_on

    rules = rules_from_commit(root, rev, keyring)
    entries = gitio.ls_tree(root, rev, [RECORDS + "/"])
    items = [(e.path, e.blob) for e in entries if not_a_file(e.mode) is None]
    named: dict[str, Named] = {}
    findings = check_blobs(root, rules, items, blob_reader(root), use_cache, named=named)
    findings += [Finding(e.path, "DG104", message) for e in entries if (message := not_a_file(e.mode))]
    paths = {path for path, _ in items}  # DG108: the commit's files are its records
    findings += dangling_refs(named, paths.intersection,
                              lambda: destroyed_on(root, rev) | handed_over_on(root, rev))
    findings += rules.config_findings(root if use_cache else None)
    return CheckResult(len(items), _dedupe(findings))


def expand_paths(vault: Vault, given: Iterable[Path]) -> list[str]:
    """Command-line paths (files or folders) as vault-relative paths."""
    rels: list[str] = []
    root = vault.root.resolve()
    for item in given:
        full = item.resolve()
        if not full.exists():
            raise DanganError(Message("{path}: no such file or directory", path=item))
        try:
            rel = full.relative_to(root).as_posix()
        except ValueError:
            raise DanganError(Message("{path} is outside the vault at {root}", path=item, root=root)) from None
        if full.is_dir():
            prefix = "" if rel == "." else rel + "/"
            rels.extend(r for r in vault.record_files() if r.startswith(prefix))
        else:
            rels.append(rel)
    return list(dict.fromkeys(rels))
