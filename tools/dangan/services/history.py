"""History: dates resolved to commits, compliance diffs between them, a record's log.

Dates (docs/history.md §1). A date resolves on the *first-parent chain* of a branch: the
commits that were the branch's tip one after another. Commits of a merged pull-request
branch are not on it (the merge is, dated when it was merged), so a pull-request commit
made before a date but merged after it never counts as "before the date". Committer dates
are not trusted to be monotonic: a commit dated earlier than its first parent (a wrong
clock) counts as made at its parent's date, so the chain's *effective* dates never go
backwards and one bad timestamp cannot pull a date back past it (the way `git log
--since` stops at the first early commit). A bare date means the end of that day in the
vault's timezone.

Diffs read only what changed between the two commits (`git diff-tree`), then the changed
blobs in one `git cat-file --batch`. Records are compared by fields (dotted paths); the
`sops:` block is never a field, so a re-wrap (`keys updatekeys`) is no field change.
Sensitive values are compared as plaintext when a key opens both sides, otherwise by
ciphertext (dangan keeps the ciphertext of unchanged values); they are shown only when
asked to decrypt.

Everything here returns data; the command layer formats it.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dangan.errors import CodeError, DanganError, GitError
from dangan.formats.schemas import is_enc
from dangan.formats.yamlio import YamlError, decode, load_text
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model.codes import Code, Location, path_to_code
from dangan.store.vault import Vault

FORMAT = "dangan-diff/1"
MASK = "‹encrypted›"
DISPOSAL = "XH"
_DATE_OR_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ].*)?")
_MISSING = object()


# ------------------------------------------------------------------ date -> commit

@dataclass(frozen=True)
class ChainCommit:
    commit: str
    committed: int  # committer date (Unix time) as recorded
    effective: int  # never earlier than the first parent's effective date
    subject: str


@dataclass(frozen=True)
class Resolved:
    """What a WHEN given on the command line resolved to."""

    given: str
    kind: str  # "date" (on the first-parent chain) or "revision"
    bound: str | None  # for dates: the moment compared with (end of day, vault timezone)
    commit: str | None  # None: before the first commit (the empty tree)
    committed: str | None  # the commit's own committer date, vault timezone
    effective: str | None  # for dates: the date the chain order gives it, if different
    subject: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "given": self.given, "kind": self.kind, "bound": self.bound, "commit": self.commit,
            "committed": self.committed, "effective": self.effective, "subject": self.subject,
        }


def _iso(ts: int, vault: Vault) -> str:
    return dt.datetime.fromtimestamp(ts, vault.tz).isoformat()


def branch_tip(vault: Vault, branch: str | None) -> str | None:
    """The commit at the tip of `branch` (default: the current branch, HEAD)."""
    tip = gitio.commit_of(vault.root, branch or "HEAD")
    if tip:
        return tip
    if branch is None:
        return None  # a repository without commits
    raise DanganError(Message("no branch or revision {branch}", branch=repr(branch)), Message("list branches with `git branch -a`"))


def first_parent_chain(vault: Vault, tip: str) -> list[ChainCommit]:
    """The first-parent chain from the root to `tip`, with effective dates."""
    raw = gitio.run(
        ["log", "--first-parent", "--reverse", "--format=%H%x1f%ct%x1f%s%x1e", tip], vault.root
    ).stdout.decode("utf-8", "replace")
    chain: list[ChainCommit] = []
    floor = None
    for item in raw.split("\x1e"):
        item = item.strip("\n")
        if not item:
            continue
        commit, ts, subject = item.split("\x1f", 2)
        committed = int(ts)
        floor = committed if floor is None else max(floor, committed)
        chain.append(ChainCommit(commit, committed, floor, subject))
    return chain


def looks_like_date(text: str) -> bool:
    return _DATE_OR_TIME.fullmatch(text.strip()) is not None


def resolve(vault: Vault, when: str, branch: str | None = None,
            chain: list[ChainCommit] | None = None) -> Resolved:
    """A date (YYYY-MM-DD or ISO 8601 timestamp) or a Git revision, as a commit."""
    from dangan.model.timeutil import parse_when

    if not looks_like_date(when):
        commit = gitio.commit_of(vault.root, when) if when else None  # never an option to git
        if not commit:
            raise DanganError(
                Message("{when} is neither a date nor a revision", when=repr(when)),
                Message("give YYYY-MM-DD, an ISO 8601 timestamp, or a commit/tag/branch"),
            )
        line = gitio.out(["log", "-1", "--format=%ct%x1f%s", commit], vault.root).strip("\n")
        ts, subject = line.split("\x1f", 1)
        return Resolved(when, "revision", None, commit, _iso(int(ts), vault), None, subject)
    bound = parse_when(when, vault.tz, end_of_day=True)
    limit = int(bound.timestamp())
    if chain is None:
        tip = branch_tip(vault, branch)
        chain = first_parent_chain(vault, tip) if tip else []
    found: ChainCommit | None = None
    for item in chain:  # effective dates never decrease: the last one within the bound
        if item.effective <= limit:
            found = item
        else:
            break
    bound_text = bound.astimezone(vault.tz).isoformat()
    if found is None:
        return Resolved(when, "date", bound_text, None, None, None, None)
    effective = _iso(found.effective, vault) if found.effective != found.committed else None
    return Resolved(when, "date", bound_text, found.commit, _iso(found.committed, vault), effective, found.subject)


def resolve_pair(vault: Vault, since: str, until: str | None, branch: str | None) -> tuple[Resolved, Resolved]:
    """`--from` and `--to` (default: the tip of the branch) against one chain."""
    tip = branch_tip(vault, branch)
    if tip is None:
        raise DanganError(Message("the vault has no commits yet"), Message("there is no history to compare"))
    chain = first_parent_chain(vault, tip)
    start = resolve(vault, since, branch, chain)
    if until is None:
        last = chain[-1]
        end = Resolved("tip", "revision", None, last.commit, _iso(last.committed, vault), None, last.subject)
    else:
        end = resolve(vault, until, branch, chain)
    if start.bound and end.bound and start.bound > end.bound:
        raise DanganError(Message("--from {since} is after --to {until}", since=since, until=until), Message("give the earlier date as --from"))
    return start, end


# ------------------------------------------------------------------ field changes

@dataclass(frozen=True)
class FieldChange:
    path: str  # dotted: owners.0.phone
    change: str  # added | removed | changed
    old: Any
    new: Any
    sensitive: bool
    redacted: bool  # sensitive values replaced by ‹encrypted›

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.change, "old": self.old, "new": self.new,
                "sensitive": self.sensitive, "redacted": self.redacted}


def _contains_sensitive(value: Any, names: frozenset[str], inside: bool) -> bool:
    if isinstance(value, dict):
        return any(_contains_sensitive(v, names, inside or k in names) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_sensitive(v, names, inside) for v in value)
    return (inside or is_enc(value)) and value not in (None, "")


def _masked(value: Any, names: frozenset[str], inside: bool) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, names, inside or k in names) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, names, inside) for v in value]
    if (inside or is_enc(value)) and value not in (None, ""):
        return MASK
    return value


def field_changes(old: Any, new: Any, names: frozenset[str], reveal: bool) -> list[FieldChange]:
    """The changed fields of two versions of a record (plaintext or as stored).

    Mappings and lists are compared member by member; a member on one side only is one
    change with its whole value. The `sops` block is not a field. Without `reveal`,
    sensitive values (under a name in `names`, or ciphertext) are replaced by ‹encrypted›.
    """
    out: list[FieldChange] = []

    def emit(path: str, change: str, a: Any, b: Any, inside: bool) -> None:
        sensitive = any(
            v is not _MISSING and _contains_sensitive(v, names, inside) for v in (a, b)
        )
        redact = sensitive and not reveal
        shown = [None if v is _MISSING else (_masked(v, names, inside) if redact else v) for v in (a, b)]
        out.append(FieldChange(path, change, shown[0], shown[1], sensitive, redact))

    def walk(a: Any, b: Any, path: str, inside: bool) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            keys = list(a) + [k for k in b if k not in a]
            for key in keys:
                if not path and key == "sops":
                    continue
                sub = f"{path}.{key}" if path else str(key)
                deeper = inside or key in names
                if key not in b:
                    emit(sub, "removed", a[key], _MISSING, deeper)
                elif key not in a:
                    emit(sub, "added", _MISSING, b[key], deeper)
                else:
                    walk(a[key], b[key], sub, deeper)
        elif isinstance(a, list) and isinstance(b, list):
            for i in range(max(len(a), len(b))):
                sub = f"{path}.{i}" if path else str(i)
                if i >= len(b):
                    emit(sub, "removed", a[i], _MISSING, inside)
                elif i >= len(a):
                    emit(sub, "added", _MISSING, b[i], inside)
                else:
                    walk(a[i], b[i], sub, inside)
        elif type(a) is not type(b) or a != b:  # 1 and true are different values
            emit(path, "changed", a, b, inside)

    walk(old, new, "", False)
    return out


# ------------------------------------------------------------------ reading versions

@dataclass
class Version:
    """One stored version of a record, and its plaintext when a key opened it."""

    blob: str
    stored: dict[str, Any] | None
    plain: dict[str, Any] | None = None
    problem: str | None = None  # unreadable, or its MAC does not verify
    locked: str | None = None  # why the key at hand did not open it

    @property
    def encrypted(self) -> bool:
        return self.stored is not None and "sops" in self.stored


def _parse(blob: str, data: bytes) -> Version:
    try:
        text = decode(data)
        tree = load_text(text)  # SOPS records too: the fast reader handles their literal blocks
    except YamlError as exc:
        return Version(blob, None, problem=f"not readable YAML: {exc}")
    if not isinstance(tree, dict):
        return Version(blob, None, problem="not a mapping")
    return Version(blob, tree)


def read_versions(vault: Vault, blobs: Iterable[str]) -> dict[str, Version]:
    """Parsed versions by blob id, all through one `git cat-file --batch`."""
    wanted = [b for b in dict.fromkeys(blobs) if b and b != gitio.ZERO]
    return {blob: _parse(blob, data) for blob, data in gitio.cat_blobs(vault.root, wanted)}


# From this many encrypted versions to open on, a diff opens them ahead of comparing, half in
# a forked child (store/forked.py) and half here: at a million records a 1% change decrypts
# ~3,500 versions, 1.4 s on one core. The child breaks even at ~50 on an idle machine and
# costs ~10 ms when the other core is busy (docs/performance.md "Decrypting a diff on two
# cores").
PARALLEL_OPEN = 200


def _open_one(code: str, stored: dict[str, Any], keyring: Any,
              unwrapped: dict[str, bytes] | None = None) -> tuple[str, Any]:
    """("plain", plaintext) or ("problem" | "locked", why): what Opener.open records."""
    from dangan.store.sealing import IntegrityError, open_document

    try:
        return "plain", open_document(code, stored, keyring, unwrapped)
    except IntegrityError as exc:  # altered outside dangan: always worth a note
        return "problem", exc.message
    except DanganError as exc:  # not a recipient of this record
        return "locked", exc.message


class Opener:
    """Decrypts versions when a key is at hand; remembers why it could not."""

    def __init__(self, vault: Vault, use_key: bool) -> None:
        self.vault = vault
        self.use_key = use_key
        self.ready: dict[tuple[str, str], tuple[str, Any]] = {}  # (code, blob): preopen()'s outcome
        self.unwrapped: dict[str, bytes] = {}  # data keys: a record's two versions share one

    def open(self, code: str, version: Version) -> None:
        if not self.use_key or version.stored is None or version.plain is not None:
            return
        if not version.encrypted:
            version.plain = version.stored
            return
        outcome = self.ready.get((code, version.blob))
        kind, value = outcome if outcome is not None else _open_one(code, version.stored, self.vault.keyring, self.unwrapped)
        if kind == "plain":
            version.plain = value
        elif kind == "problem":
            version.problem = value
        else:
            version.locked = value

    def preopen(self, wanted: Iterable[tuple[str, Version]]) -> int:
        """Open ahead, on both cores, the encrypted versions that open() will be asked for
        (code, version), when there are PARALLEL_OPEN of them or more; open() then takes
        each outcome as it would have computed it, in its own order, so that the notes are
        the same. The plaintexts come back through a pipe, never a file. How many were
        opened by a child (0: none, all is left to open())."""
        if not self.use_key:
            return 0
        todo = list({(code, v.blob): (code, v.blob, v.stored) for code, v in wanted
                     if v.encrypted and v.plain is None}.values())
        if len(todo) < PARALLEL_OPEN:
            return 0
        from dangan.store.forked import Forked

        keyring, unwrapped = self.vault.keyring, self.unwrapped

        def part(items: list[tuple[str, str, Any]]) -> list[tuple[str, Any]]:
            return [_open_one(code, stored, keyring, unwrapped) for code, _blob, stored in items]

        # two halves that keep a record's versions together (they share a data key)
        half = max(1, len(todo) // 2)
        while half < len(todo) and todo[half][0] == todo[half - 1][0]:
            half += 1
        mine, theirs = todo[:half], todo[half:]
        # the first one here, before the fork: it loads the cryptography modules for both
        opened = part(mine[:1])
        with Forked(lambda: part(theirs)) as child:
            opened += part(mine[1:])
            opened += child.result()
        for (code, blob, _stored), outcome in zip(mine + theirs, opened, strict=True):
            self.ready[(code, blob)] = outcome
        return len(theirs)


def compare(code: str, old: Version | None, new: Version | None, names: frozenset[str],
            opener: Opener, reveal: bool) -> tuple[list[FieldChange], str, list[str]]:
    """(field changes, "plaintext" | "ciphertext", notes) between two versions."""
    notes: list[str] = []
    for side, version in (("old", old), ("new", new)):
        if version is not None:
            opener.open(code, version)
            if version.problem:
                notes.append(f"{side} version {version.blob[:12]}: {version.problem}")
            elif version.locked and reveal:
                notes.append(f"{side} version {version.blob[:12]} not decrypted: {version.locked}")
    if (old is not None and old.stored is None) or (new is not None and new.stored is None):
        return [], "none", notes
    sides = [v for v in (old, new) if v is not None]
    if not any(v.encrypted for v in sides):
        return field_changes(old.stored if old else {}, new.stored if new else {}, names, reveal), "plaintext", notes
    if opener.use_key and all(v.plain is not None for v in sides):
        a = old.plain if old is not None else {}
        b = new.plain if new is not None else {}
        return field_changes(a, b, names, reveal), "plaintext", notes
    a = old.stored if old is not None else {}
    b = new.stored if new is not None else {}
    # ciphertext cannot be shown as a value: reveal only what is clear
    return field_changes(a, b, names, False), "ciphertext", notes


# ------------------------------------------------------------------ the diff

@dataclass
class RecordChange:
    code: str
    category: str
    path: str
    change: str  # added | removed | modified
    title: str
    old_blob: str | None
    new_blob: str | None
    compared: str
    fields: list[FieldChange] = field(default_factory=list)
    certificate: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "category": self.category, "path": self.path, "change": self.change,
            "title": self.title, "old_blob": self.old_blob, "new_blob": self.new_blob,
            "compared": self.compared, "certificate": self.certificate,
            "fields": [f.as_dict() for f in self.fields], "notes": self.notes,
        }


@dataclass
class Diff:
    vault_id: str | None
    vault_name: str | None
    timezone: str
    branch: str
    start: Resolved
    end: Resolved
    category: str | None
    location: str | None
    decrypted: bool
    key_used: bool
    records: list[RecordChange]
    metadata_only: list[str]
    other_files: list[dict[str, str]]

    def summary(self) -> dict[str, Any]:
        kinds = ("added", "removed", "modified")
        by_category: dict[str, dict[str, int]] = {}
        for record in self.records:
            counts = by_category.setdefault(record.category, dict.fromkeys(kinds, 0))
            counts[record.change] += 1
        total = {kind: sum(c[kind] for c in by_category.values()) for kind in kinds}
        total["records"] = len(self.records)
        total["metadata_only"] = len(self.metadata_only)
        return {"total": total, "by_category": dict(sorted(by_category.items()))}

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON document of `dangan diff --format json` (docs/history.md)."""
        return {
            "format": FORMAT,
            "vault": {"id": self.vault_id, "name": self.vault_name, "timezone": self.timezone},
            "branch": self.branch,
            "from": self.start.as_dict(),
            "to": self.end.as_dict(),
            "filters": {"category": self.category, "location": self.location},
            "decrypted": self.decrypted,
            "key_used": self.key_used,
            "summary": self.summary(),
            "records": [r.as_dict() for r in self.records],
            "metadata_only": self.metadata_only,
            "other_files": self.other_files,
        }


@dataclass(frozen=True)
class TreeChange:
    path: str
    old_blob: str | None
    new_blob: str | None
    status: str  # A | D | M | T


def tree_changes(vault: Vault, old: str | None, new: str | None) -> list[TreeChange]:
    """Every file that differs between two commits (None: the empty tree)."""
    empty = empty_tree(vault) if old is None or new is None else ""
    raw = gitio.run(
        ["diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", "--relative", old or empty, new or empty],
        vault.root,
    ).stdout
    parts = raw.split(b"\0")
    changes = []
    for i in range(0, len(parts) - 1, 2):
        meta = parts[i].decode()
        if not meta.startswith(":"):
            continue
        _m1, _m2, a, b, status = meta[1:].split(" ")
        path = parts[i + 1].decode("utf-8", "surrogateescape")
        changes.append(TreeChange(path, None if a == gitio.ZERO else a, None if b == gitio.ZERO else b, status[0]))
    return changes


def empty_tree(vault: Vault) -> str:
    return gitio.run(["hash-object", "-t", "tree", "--stdin"], vault.root, input=b"").stdout.decode().strip()


def _certificates(vault: Vault, commit: str | None, removed: set[str]) -> dict[str, dict[str, Any]]:
    """For each removed code, the disposal certificate on the `to` side that lists it."""
    if not removed or commit is None:
        return {}
    entries = [e for e in gitio.ls_tree(vault.root, commit, [f"vault/{DISPOSAL}/"]) if e.path.endswith(".yaml")]
    versions = read_versions(vault, [e.blob for e in entries])
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        version = versions.get(entry.blob)
        if version is None or version.stored is None:
            continue
        for item in version.stored.get("items") or []:
            if isinstance(item, dict) and item.get("code") in removed and item["code"] not in found:
                found[item["code"]] = {
                    "code": str(version.stored.get("code") or entry.path.rsplit("/", 1)[-1][:-5]),
                    "listed_blob": item.get("blob"),
                }
    return found


def _title(version: Version | None) -> str:
    if version is None or version.stored is None:
        return ""
    title = version.stored.get("title")
    return "" if title is None or is_enc(title) else str(title)


def diff(
    vault: Vault,
    since: str,
    until: str | None = None,
    *,
    branch: str | None = None,
    category: str | None = None,
    location: Location | None = None,
    decrypt: bool = False,
) -> Diff:
    """The compliance diff between two dates or revisions (docs/history.md §2)."""
    if category is not None and category not in vault.schemas.categories:
        known = ", ".join(sorted(vault.schemas.categories))
        raise DanganError(Message("unknown category {category}", category=repr(category)), Message("known categories: {known}", known=known))
    start, end = resolve_pair(vault, since, until, branch)
    # --decrypt without an identity is exit 2 before any work; otherwise a key at hand
    # is used to judge sensitive changes on plaintext
    use_key = bool(vault.keyring.identities) if decrypt else vault.keyring.available()
    opener = Opener(vault, use_key)
    changed: list[tuple[Code, TreeChange]] = []
    other: list[dict[str, str]] = []
    for item in tree_changes(vault, start.commit, end.commit):
        try:
            code = path_to_code(item.path)
        except CodeError:
            if category is None and location is None:
                other.append({"path": item.path, "change": {"A": "added", "D": "removed"}.get(item.status, "modified")})
            continue
        if category is not None and code.category != category:
            continue
        if location is not None and not location.contains(code.location):
            continue
        changed.append((code, item))
    versions = read_versions(vault, [b for _, c in changed for b in (c.old_blob, c.new_blob) if b])
    # the versions compare() will open below: both sides of each modified record
    opener.preopen((str(code), v) for code, c in changed if c.old_blob and c.new_blob
                   for v in (versions.get(c.old_blob), versions.get(c.new_blob)) if v is not None)
    removed = {str(code) for code, c in changed if c.new_blob is None}
    certificates = _certificates(vault, end.commit, removed)
    records: list[RecordChange] = []
    metadata_only: list[str] = []
    for code, item in changed:
        old = versions.get(item.old_blob) if item.old_blob else None
        new = versions.get(item.new_blob) if item.new_blob else None
        cat = vault.schemas.category(code.category)
        names = _names(cat, old, new)
        text = str(code)
        kind = "added" if old is None else "removed" if new is None else "modified"
        if kind == "modified":
            fields, compared, notes = compare(text, old, new, names, opener, decrypt)
            if not fields and not notes:
                metadata_only.append(text)  # a re-wrap, formatting or comments
                continue
        else:
            fields, compared, notes = [], "none", []
            version = old if new is None else new
            if version is not None and version.problem:
                notes.append(version.problem)
        record = RecordChange(text, code.category, item.path, kind, _title(new) or _title(old),
                              item.old_blob, item.new_blob, compared, fields, notes=notes)
        if kind == "removed":
            cert = certificates.get(text)
            if cert is not None:
                record.certificate = {**cert, "blob_matches": cert["listed_blob"] == item.old_blob}
        records.append(record)
    records.sort(key=lambda r: (r.category, r.code))
    config = vault.config or {}
    return Diff(
        vault_id=config.get("id"), vault_name=config.get("name"), timezone=str(vault.tz),
        branch=branch or _branch_name(vault), start=start, end=end, category=category,
        location=str(location) if location is not None else None, decrypted=decrypt,
        key_used=use_key, records=records, metadata_only=sorted(metadata_only), other_files=other,
    )


def _branch_name(vault: Vault) -> str:
    return gitio.symbolic_head(vault.root, short=True) or "HEAD"


# ------------------------------------------------------------------ one record

@dataclass
class LogEntry:
    commit: str
    author: str
    authored: str
    committed: str
    subject: str
    change: str  # added | removed | modified
    blob: str | None
    compared: str
    fields: list[FieldChange]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit, "author": self.author, "authored": self.authored,
            "committed": self.committed, "subject": self.subject, "change": self.change,
            "blob": self.blob, "compared": self.compared,
            "fields": [{"path": f.path, "change": f.change, "sensitive": f.sensitive} for f in self.fields],
            "notes": self.notes,
        }


def _commits_touching(vault: Vault, code: Code, branch: str | None) -> Iterator[tuple[list[str], tuple[str, str] | None]]:
    raw = gitio.run(
        ["log", "--no-renames", "--raw", "--no-abbrev", "-z",
         "--format=%x1e%H%x1f%an%x1f%at%x1f%ct%x1f%s", branch or "HEAD", "--", code.path],
        vault.root,
    ).stdout.decode("utf-8", "surrogateescape")
    for chunk in raw.split("\x1e")[1:]:
        head, _, rest = chunk.partition("\n")
        meta = head.rstrip("\0").split("\x1f")  # with -z git ends the format line "\0\n"
        blobs = None
        for token in rest.split("\0"):
            token = token.strip("\n")
            if token.startswith(":"):
                parts = token[1:].split(" ")
                blobs = (parts[2], parts[3])
                break
        yield meta, blobs


def log(vault: Vault, code: Code, branch: str | None = None) -> list[LogEntry]:
    """Each commit that touched the record (newest first), with the fields it changed."""
    if code.category not in vault.schemas.categories:
        known = ", ".join(sorted(vault.schemas.categories))
        raise DanganError(Message("unknown category {category} in code {value}", category=repr(code.category), value=repr(str(code))), Message("known categories: {known}", known=known))
    if branch_tip(vault, branch) is None:
        raise DanganError(Message("the vault has no commits yet"))
    touching = [(meta, blobs) for meta, blobs in _commits_touching(vault, code, branch) if blobs]
    if not touching:
        raise DanganError(Message("no record {code} in the history of {value}", code=code, value=branch or 'this branch'),
                          Message("list records with `dangan ls`"))
    versions = read_versions(vault, [b for _, blobs in touching for b in blobs if b != gitio.ZERO])
    opener = Opener(vault, vault.keyring.available())
    cat = vault.schemas.categories[code.category]
    entries = []
    for meta, (a, b) in touching:
        commit, author, at, ct, subject = meta
        old = versions.get(a) if a != gitio.ZERO else None
        new = versions.get(b) if b != gitio.ZERO else None
        kind = "added" if old is None else "removed" if new is None else "modified"
        fields, compared, notes = compare(str(code), old, new, _names(cat, old, new), opener, False)
        entries.append(LogEntry(commit, author, _iso(int(at), vault), _iso(int(ct), vault), subject, kind,
                                None if b == gitio.ZERO else b, compared, fields, notes))
    return entries


def _names(cat: Any, *versions: Version | None) -> frozenset[str]:
    """What two versions of a record hide: the sensitive names, and a secret version's
    hidden fields (a record may change level between them)."""
    if cat is None:
        return frozenset()
    return frozenset().union(cat.sensitive, *(cat.names_of(v.stored) for v in versions
                                              if v is not None and isinstance(v.stored, dict)))


def record_at(vault: Vault, code: Code, when: str, branch: str | None = None) -> tuple[dict[str, Any], Resolved]:
    """The stored record (sops block included) as of a date or revision, and that commit.

    `show --as-of` masks or decrypts it like the current file.
    """
    if code.category not in vault.schemas.categories:
        known = ", ".join(sorted(vault.schemas.categories))
        raise DanganError(Message("unknown category {category} in code {value}", category=repr(code.category), value=repr(str(code))), Message("known categories: {known}", known=known))
    resolved = resolve(vault, when, branch)
    entries = gitio.ls_tree(vault.root, resolved.commit, [code.path]) if resolved.commit else []
    entry = next((e for e in entries if e.path == code.path), None)
    if entry is None:
        at = f" (commit {resolved.commit[:12]})" if resolved.commit else " (before the first commit)"
        raise DanganError(Message("no record {code} as of {when}{at}", code=code, when=when, at=at), Message("see its history with `dangan log {code}`", code=code))
    version = read_versions(vault, [entry.blob]).get(entry.blob)
    if version is None or version.stored is None:
        problem = version.problem if version else "missing object"
        raise GitError(f"{code.path} at {resolved.commit[:12]}: {problem}")
    return version.stored, resolved
