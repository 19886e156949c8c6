"""Backups (備份, plan §5.1, §6.2; docs/backup.md): verified bundles, restore, an append-only mirror, pruning.

A backup is a Git bundle of every ref (branches, tags, notes, refs/dangan/*, anything under
refs/) plus a manifest JSON beside it. A bundle is trusted only once it has been restored:
`git bundle verify` reads the header and checks prerequisites but never the pack data, so
`verify` checks the manifest's SHA-256, the refs, restores into a temporary repository
(which makes index-pack hash every object), runs `git fsck --full` there and the check
engine on the restored HEAD. `create` writes under a hidden name and renames only after that.
Findings of that check are the vault's own (committed past the hooks): they are reported as
warnings and never cost the vault its backup.

Incremental bundles carry only objects not reachable from their basis's refs; git leaves
unchanged refs out of such a bundle, so the manifest, not the bundle header, is the full list
of refs after the backup. Restores apply the chain oldest first and then set the refs to the
manifest exactly (update-ref), which also recreates refs a plain clone would drop.

In an epoch vault a keyring backup (formats/keyringbackup.py) is written beside each bundle
once the bundle is in place, with an expiry; expired ones are shredded by the next `create`
or `prune`, fail `verify` and are never restored (docs/backup.md "Keyring backups"): the
shred of an epoch reaches every copy when the last keyring backup holding it expires.

Nothing here prints: callers get dataclasses and pass `on_step` for progress.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dangan import __version__
from dangan.errors import DanganError, GitError
from dangan.formats import keyringbackup as kb
from dangan.formats.yamlio import YamlError, decode, load_text
from dangan.git import gitio
from dangan.i18n import Message
from dangan.store import scratch
from dangan.store.epochkeys import EPOCHS, EpochKeys, Epochs
from dangan.store.epochkeys import parse as parse_epochs
from dangan.store.fsutil import shred, write_atomic
from dangan.store.sealing import Keyring
from dangan.store.vault import CONFIG, RECORDS, Vault

FORMAT = "dangan-backup 1"
STAMP = "%Y%m%dT%H%M%SZ"
_BUNDLE = re.compile(r"^(?P<name>.+)-(?P<stamp>\d{8}T\d{6}Z)\.bundle$")
_UNSAFE = re.compile(r"[^\w.-]+")

OnStep = Callable[[str], None]
# `keyring` runs only where there is a keyring backup beside the bundle or the vault has
# epochs (docs/backup.md "Keyring backups"); before `check`, so that a restore's check opens
# the records sealed to epochs with the keyring it has just restored
VERIFY_STEPS = ("manifest", "checksum", "header", "restore", "refs", "fsck", "records", "keyring", "check")
# create verifies the bundle first and writes its keyring backup after
CREATE_STEPS = ("bundle", *(s for s in VERIFY_STEPS if s != "keyring"), "keyring")
RESTORE_STEPS = VERIFY_STEPS


class _Fail(Exception):
    """A verification step failed; the message says what, in an operator's words."""


class _Warn(Exception):
    """A verification step passed with something to tell: the check found findings in the
    vault's own content (they were committed, so the bundle faithfully holds them)."""


# --------------------------------------------------------------------------- manifest

@dataclass
class Manifest:
    bundle: str
    vault_id: str
    vault_name: str
    created: str  # ISO 8601, UTC
    timezone: str  # the vault's: prune buckets days in it
    kind: str  # "full" or "incremental"
    basis: str | None  # file name of the bundle this one builds on (same directory)
    basis_sha256: str | None
    prerequisites: list[str]
    head: str | None  # the branch HEAD names; None when detached
    head_commit: str
    refs: dict[str, str]  # every ref after this backup -> object id
    records: int
    size: int
    sha256: str
    dangan_version: str = __version__
    format: str = FORMAT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> Manifest:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise _Fail(f"{where} is not a dangan backup manifest ({FORMAT})")
        try:
            manifest = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError as exc:
            raise _Fail(f"{where}: missing fields ({exc})") from None
        if manifest.kind not in ("full", "incremental") or not isinstance(manifest.refs, dict):
            raise _Fail(f"{where}: malformed manifest")
        if (manifest.kind == "incremental") != bool(manifest.basis):
            raise _Fail(f"{where}: an incremental manifest names its basis, a full one none")
        return manifest


def manifest_path(bundle: Path) -> Path:
    return bundle.with_name(bundle.name.removesuffix(".bundle") + ".manifest.json")


def read_manifest(bundle: Path) -> Manifest:
    path = manifest_path(bundle)
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise _Fail(f"no manifest {path.name} beside {bundle.name}") from None
    except (OSError, ValueError) as exc:
        raise _Fail(f"{path.name} is not readable JSON ({exc})") from None
    return Manifest.from_json(data, path.name)


def bundle_time(name: str) -> dt.datetime | None:
    match = _BUNDLE.match(name)
    if not match:
        return None
    return dt.datetime.strptime(match["stamp"], STAMP).replace(tzinfo=dt.UTC)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Header:
    refs: dict[str, str]  # without HEAD
    head: str | None
    prerequisites: list[str]


def read_header(bundle: Path) -> Header:
    """The bundle's header (`# v2 git bundle`, `-prerequisite`, `oid ref` lines, blank line)."""
    try:
        with open(bundle, "rb") as handle:
            raw = handle.read(1 << 16)
            while b"\n\n" not in raw:
                more = handle.read(1 << 20)
                if not more:
                    raise _Fail(f"{bundle.name}: the bundle header is cut short")
                raw += more
    except OSError as exc:
        raise _Fail(f"{bundle.name}: cannot read ({exc.strerror})") from None
    lines = raw.split(b"\n\n", 1)[0].decode("utf-8", "replace").splitlines()
    if not lines or lines[0] not in ("# v2 git bundle", "# v3 git bundle"):
        raise _Fail(f"{bundle.name} is not a Git bundle")
    refs: dict[str, str] = {}
    head = None
    prereqs = []
    for line in lines[1:]:
        if line.startswith("@"):  # v3 capabilities
            continue
        if line.startswith("-"):
            prereqs.append(line[1:].split(" ", 1)[0])
            continue
        oid, _, ref = line.partition(" ")
        if ref == "HEAD":
            head = oid
        else:
            refs[ref] = oid
    return Header(refs, head, prereqs)


# ----------------------------------------------------------------------- repository

def for_each_ref(root: Path) -> dict[str, str]:
    """Every ref of the repository (all of refs/, not only branches and tags)."""
    raw = gitio.out(["for-each-ref", "--format=%(objectname) %(refname)"], root)
    return dict(reversed(line.split(" ", 1)) for line in raw.splitlines() if line)  # type: ignore[misc]


def head_of(root: Path) -> tuple[str | None, str]:
    """(branch HEAD names or None when detached, commit)."""
    commit = gitio.head(root)
    if commit is None:
        raise DanganError(Message("{root} has no commit to back up", root=root), Message("commit something first"))
    return gitio.symbolic_head(root), commit


def record_count(root: Path, rev: str) -> int:
    raw = gitio.run(["ls-tree", "-r", "-z", "--name-only", rev, "--", RECORDS + "/"], root).stdout
    return sum(1 for name in raw.split(b"\0") if name.endswith(b".yaml"))


def vault_id_at(root: Path, rev: str) -> str | None:
    name = f"{rev}:{CONFIG}"
    if gitio.object_types(root, [name]) != ["blob"]:  # no vault.yaml there (a failing git raises)
        return None
    try:
        config = load_text(decode(gitio.run(["cat-file", "blob", name], root).stdout))
    except YamlError:
        return None
    return str(config.get("id")) if isinstance(config, dict) and config.get("id") else None


def default_dest(vault_root: Path) -> Path:
    """Beside the vault, never inside it: a backup in the work tree dies with it."""
    return vault_root.parent / f"{vault_root.name}-backups"


# --------------------------------------------------------------------------- verify

@dataclass
class StepResult:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # passed, but the operator must hear `detail` (findings)


@dataclass
class Verification:
    bundle: str
    chain: list[str] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def failure(self) -> str | None:
        bad = next((s for s in self.steps if not s.ok), None)
        return f"{bad.name}: {bad.detail}" if bad else None

    @property
    def warnings(self) -> list[str]:
        return [f"{s.name}: {s.detail}" for s in self.steps if s.ok and s.warning]

    def to_json(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "ok": self.ok, "chain": self.chain,
                "failure": self.failure, "warnings": self.warnings,
                "steps": [asdict(s) for s in self.steps]}


class _Runner:
    """Runs named steps in order, stopping at the first failure."""

    def __init__(self, result: Verification, on_step: OnStep | None) -> None:
        self.result = result
        self.on_step = on_step

    def __call__(self, name: str, fn: Callable[[], str]) -> bool:
        if self.on_step:
            self.on_step(name)
        try:
            detail = fn()
        except _Fail as exc:
            self.result.steps.append(StepResult(name, False, _detail(exc)))
            return False
        except GitError as exc:
            self.result.steps.append(StepResult(name, False, exc.message))
            return False
        except _Warn as exc:
            self.result.steps.append(StepResult(name, True, _detail(exc), warning=True))
            return True
        self.result.steps.append(StepResult(name, True, detail))
        return True


def _detail(exc: Exception) -> str:
    """A step's outcome as raised: a Message stays one (the CLI shows it in the interface
    language; JSON has its English text)."""
    return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], Message) else str(exc)


def _content_findings(found: list[Any], checked: int) -> str:
    """The check step's outcome. Findings are the vault's, not the bundle's: the refs and
    fsck steps have proved the restored objects are the committed ones, so a bundle of a
    vault with a bad record is still a faithful backup, and refusing it would leave that
    vault without one. They are reported (a warning), never a failure."""
    if not found:
        return f"check: {checked} file(s), no findings"
    raise _Warn(f"{len(found)} finding(s) in the vault's records as committed (the bundle holds "
                f"them as they are), first: {found[0].line()}")


def _guarded(check: Callable[[], str]) -> Callable[[], str]:
    """The check step never stops a backup: a check that breaks on some record (a bug)
    is reported as a warning, after the steps that prove the bundle have passed."""
    def run() -> str:
        try:
            return check()
        except (_Fail, _Warn, GitError):
            raise
        except Exception as exc:  # noqa: BLE001 - reported, with the way to see the traceback
            raise _Warn(f"the check stopped with an internal error ({type(exc).__name__}); "
                        "the bundle restored and is intact; run `DANGAN_DEBUG=1 dangan check --all` "
                        "and report the traceback") from None
    return run


Chain = list[tuple[Path, Manifest]]


def _chain(bundle: Path, manifest: Manifest) -> Chain:
    """The bundle and the bundles it builds on, oldest (the full one) first."""
    chain = [(bundle, manifest)]
    seen = {bundle.name}
    while chain[0][1].basis:
        child_path, child = chain[0]
        basis = bundle.parent / str(child.basis)
        if basis.name in seen:
            raise _Fail(f"{child_path.name}: its basis chain loops at {basis.name}")
        if not basis.exists():
            raise _Fail(f"{child_path.name} is incremental and needs its basis {basis.name}, "
                        f"which is not in {bundle.parent}")
        base = read_manifest(basis)
        if base.vault_id != child.vault_id:
            raise _Fail(f"{basis.name} belongs to another vault than {child_path.name}")
        seen.add(basis.name)
        chain.insert(0, (basis, base))
    return chain


def _checksums(chain: Chain) -> str:
    for i, (path, manifest) in enumerate(chain):
        size = path.stat().st_size
        if size != manifest.size:
            raise _Fail(f"{path.name} is {size} bytes, its manifest says {manifest.size} (truncated or altered)")
        digest = sha256_of(path)
        if digest != manifest.sha256:
            raise _Fail(f"{path.name}: SHA-256 {digest[:16]}... differs from the manifest's {manifest.sha256[:16]}... (the file is damaged)")
        if i + 1 < len(chain) and chain[i + 1][1].basis_sha256 != manifest.sha256:
            raise _Fail(f"{chain[i + 1][0].name} was built on another {path.name} (basis checksum differs)")
    return f"{len(chain)} bundle(s), SHA-256 and size as in their manifests"


def _headers(chain: Chain) -> str:
    for path, manifest in chain:
        header = read_header(path)
        if manifest.kind == "full" and header.refs != manifest.refs:
            raise _Fail(f"{path.name}: its refs differ from the manifest's ({_ref_diff(manifest.refs, header.refs)})")
        wrong = {r: o for r, o in header.refs.items() if manifest.refs.get(r) != o}
        if wrong:
            raise _Fail(f"{path.name}: refs not as in the manifest: {', '.join(sorted(wrong))}")
        if sorted(header.prerequisites) != sorted(manifest.prerequisites):
            raise _Fail(f"{path.name}: its prerequisites differ from the manifest's")
    return f"{len(chain[-1][1].refs)} ref(s) as in the manifest"


def _ref_diff(expected: dict[str, str], actual: dict[str, str]) -> str:
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(r for r in set(expected) & set(actual) if expected[r] != actual[r])
    parts = []
    for label, refs in (("missing", missing), ("unexpected", extra), ("different", changed)):
        if refs:
            shown = ", ".join(refs[:5]) + (", ..." if len(refs) > 5 else "")
            parts.append(f"{label}: {shown}")
    return "; ".join(parts)


def _apply_chain(repo: Path, chain: Chain, update_head_ok: bool = False) -> str:
    """Fetch every bundle of the chain into `repo`, then set its refs to the manifest's."""
    for path, _manifest in chain:
        args = ["fetch", "-q", "--no-write-fetch-head"]
        if update_head_ok:
            args.append("--update-head-ok")
        proc = gitio.run([*args, str(path), "+refs/*:refs/*"], repo, check=False)
        if proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise _Fail(f"{path.name} does not restore: {message[-1] if message else 'git fetch failed'}")
    final = chain[-1][1]
    lines = [f"update {ref} {oid}\n" for ref, oid in sorted(final.refs.items())]
    lines += [f"delete {ref}\n" for ref in sorted(set(for_each_ref(repo)) - set(final.refs))]
    proc = gitio.run(["update-ref", "--stdin"], repo, input="".join(lines).encode(), check=False)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _Fail(f"refs of the manifest cannot be set: {message[0] if message else 'update-ref failed'}")
    if final.head:
        gitio.run(["symbolic-ref", "HEAD", final.head], repo)
    else:
        gitio.run(["update-ref", "--no-deref", "HEAD", final.head_commit], repo)
    return f"{len(chain)} bundle(s) fetched into a new repository"


def _refs_equal(repo: Path, manifest: Manifest) -> str:
    actual = for_each_ref(repo)
    if actual != manifest.refs:
        raise _Fail(f"restored refs differ from the manifest ({_ref_diff(manifest.refs, actual)})")
    return f"{len(actual)} ref(s) restored, each as in the manifest"


def _fsck(repo: Path) -> str:
    proc = gitio.run(["fsck", "--full", "--no-dangling", "--no-progress"], repo, check=False)
    if proc.returncode != 0:
        text = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
        raise _Fail(f"git fsck --full: {text[0] if text else 'failed'}")
    return "git fsck --full: clean"


def _records(repo: Path, manifest: Manifest) -> str:
    found = record_count(repo, "HEAD")
    if found != manifest.records:
        raise _Fail(f"{found} record(s) restored, the manifest says {manifest.records}")
    vault_id = vault_id_at(repo, "HEAD")
    if vault_id != manifest.vault_id:
        raise _Fail(f"the restored vault.yaml has id {vault_id}, the manifest {manifest.vault_id}")
    return f"{found} record(s), vault id {vault_id}"


def _check(repo: Path, rev: str, keyring: Keyring | None) -> str:
    """`check --all` on the restored HEAD, from Git objects (the trial has no work tree):
    what scan.check_tree does, with blobs read a chunk at a time by a `git cat-file` that
    has exited before the next is started. scan.blob_reader keeps one cat-file running
    while the worker pool forks; the workers inherit its stdin pipe, it never sees EOF and
    the check hangs once 2,000 or more blobs miss the cache."""
    from dangan.rules.check import CheckResult
    from dangan.services.scan import CHUNK, check_blobs, rules_from_commit

    rules = rules_from_commit(repo, rev, keyring)
    items = [(e.path, e.blob) for e in gitio.ls_tree(repo, rev, [RECORDS + "/"])]

    def read(wanted: list[tuple[str, str]]) -> Iterable[tuple[str, str, bytes]]:
        for start in range(0, len(wanted), CHUNK):
            part = wanted[start : start + CHUNK]
            blobs = dict(gitio.cat_blobs(repo, [blob for _, blob in part]))
            for path, blob in part:
                yield path, blob, blobs[blob]

    findings = check_blobs(repo, rules, items, read)  # type: ignore[arg-type]
    findings += rules.config_findings()
    result = CheckResult(len(items), sorted(set(findings)))
    return _content_findings(result.findings, result.checked)


def _seed_cache(source: Path | None, repo: Path) -> None:
    """Check results are keyed by (path, blob id, rules), and blob ids are what fsck just
    proved: results the source vault already has hold for the restored blobs too
    (the cache is keyed by content, docs/format.md §8, so a restored copy may reuse it)."""
    if source is None:
        return
    try:
        cache = gitio.git_dir(source) / "dangan" / "cache"
        target = repo / "dangan" / "cache"
        target.mkdir(parents=True, exist_ok=True)
        for item in cache.glob("check-*.bin"):
            shutil.copyfile(item, target / item.name)
    except (OSError, DanganError):
        pass  # without the cache the check is only slower


def _return_cache(repo: Path, source: Path | None) -> None:
    """The trial's results go back to the source vault when it has fewer: the next backup
    (and `check --all`) of a vault that was never checked in full is then warm."""
    if source is None:
        return
    try:
        cache = gitio.git_dir(source) / "dangan" / "cache"
        for item in (repo / "dangan" / "cache").glob("check-*.bin"):
            mine = cache / item.name
            if not mine.exists() or mine.stat().st_size < item.stat().st_size:
                cache.mkdir(parents=True, exist_ok=True)
                tmp = cache / f".{item.name}.{os.getpid()}.tmp"
                shutil.copyfile(item, tmp)
                os.replace(tmp, mine)
    except (OSError, DanganError):
        pass


# ------------------------------------------------------------------ keyring backups

@dataclass
class KeyringBackup:
    """A keyring backup in a backup directory (formats/keyringbackup.py): an epoch vault's
    keyring as it was when its bundle was made, kept until `expires`. `keys shred` reads
    these: an epoch's destruction reaches every copy when the last one holding it expires."""

    path: Path
    created: dt.datetime  # UTC, aware
    expires: dt.datetime  # UTC, aware
    epochs: list[str]  # the epoch ids it holds, sorted
    vault_id: str = ""
    bundle: str = ""  # the file name of the bundle it was written beside

    def expired(self, now: dt.datetime | None = None) -> bool:
        return (now or dt.datetime.now(dt.UTC)) >= self.expires

    def to_json(self, now: dt.datetime | None = None) -> dict[str, Any]:
        return {"file": self.path.name, "bundle": self.bundle, "created": kb.stamp(self.created),
                "expires": kb.stamp(self.expires), "expired": self.expired(now), "epochs": self.epochs}


def _read_keyring(path: Path) -> tuple[KeyringBackup, kb.KeyringFile]:
    """The file at `path`; KeyringBackupError when it cannot be read or used."""
    try:
        if path.is_symlink() or not path.is_file():
            raise kb.KeyringBackupError(Message("{file} is not a regular file", file=path.name))
        data = path.read_bytes()
    except OSError as exc:
        raise kb.KeyringBackupError(Message("{file}: cannot read ({problem})", file=path.name,
                                            problem=exc.strerror)) from None
    found = kb.parse(data, path.name)
    return KeyringBackup(path, found.created, found.expires, sorted(found.epochs), found.vault_id,
                         found.bundle), found


def _keyring_files(directory: Path) -> list[Path]:
    try:
        names = sorted(p.name for p in directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [directory / n for n in names if n.endswith(kb.SUFFIX) and not n.startswith(".")]


def keyring_backups(dest: Path, vault_id: str) -> list[KeyringBackup]:
    """The keyring backups of vault `vault_id` in the backup directory `dest`, oldest first
    (by creation). Files that cannot be read, are malformed or belong to another vault are
    skipped (`backup ls` and `backup verify` report them). A missing `dest`: none."""
    found = []
    for path in _keyring_files(dest):
        try:
            backup, _file = _read_keyring(path)
        except DanganError:
            continue
        if backup.vault_id == vault_id:
            found.append(backup)
    return sorted(found, key=lambda b: (b.created, b.path.name))


def remove_expired_keyrings(dest: Path, vault_id: str | None, now: dt.datetime,
                            keep: Iterable[Path] = ()) -> list[str]:
    """Shred (overwrite, sync, unlink: fsutil.shred) every keyring backup in `dest` of
    `vault_id` (None: of any vault) whose expiry has passed, but those in `keep`; their
    names. An unreadable file is left alone: nobody can say when it expires."""
    spared = {p.name for p in keep}
    removed = []
    for path in _keyring_files(dest):
        if path.name in spared:
            continue
        try:
            backup, _file = _read_keyring(path)
        except DanganError:
            continue
        if (vault_id is None or backup.vault_id == vault_id) and backup.expired(now):
            shred(path)
            removed.append(path.name)
    return removed


def _epochs_at(repo: Path, rev: str) -> Epochs | None:
    """epochs.yaml at `rev` (None: not an epoch vault there); DanganError when broken."""
    name = f"{rev}:{EPOCHS}"
    if gitio.object_types(repo, [name]) != ["blob"]:
        return None
    return parse_epochs(gitio.run(["cat-file", "blob", name], repo).stdout)


def _is_epoch_vault(repo: Path, rev: str) -> bool:
    try:
        return _epochs_at(repo, rev) is not None
    except DanganError:
        return True  # the file is there, broken (DG114): a vault with epochs all the same


def _day(moment: dt.datetime) -> str:
    return kb.stamp(moment)


def _write_keyring(root: Path, bundle: Path, vault_id: str, head_commit: str, keep: str,
                   now: dt.datetime) -> KeyringBackup | None:
    """The keyring backup of `bundle`: every epoch that epochs.yaml at the bundled commit
    lists as live and this clone's keyring holds, each file's text as it is. None when the
    clone holds none of them (nothing is written then)."""
    epochs = _epochs_at(root, head_commit)
    live = {e.id for e in epochs.live()} if epochs is not None else set()
    ring = EpochKeys(gitio.git_dir(root))
    texts = {}
    for epoch in ring.held():
        if epoch not in live:
            continue
        try:
            texts[epoch] = ring.path(epoch).read_bytes().decode("ascii")
        except (OSError, UnicodeDecodeError):
            continue  # not a keyring file dangan wrote: nothing to keep of it
    if not texts:
        return None
    created = now.astimezone(dt.UTC).replace(microsecond=0)
    contents = kb.KeyringFile(vault_id, bundle.name, created, kb.expiry(created, keep), texts)
    path = kb.path_for(bundle)
    write_atomic(path, contents.render(), mode=0o600)
    return KeyringBackup(path, contents.created, contents.expires, sorted(texts), vault_id, bundle.name)


def _check_keyring(path: Path, manifest: Manifest, epoch_vault: bool, now: dt.datetime) -> str:
    """`backup verify`'s keyring step: the keyring backup beside the bundle parses, names
    the bundle's vault and the bundle, and has not expired. An epoch vault's bundle with none
    beside it is a warning: the bundle is good, but a restore from it alone opens nothing
    sealed to an epoch."""
    if not path.exists() and not path.is_symlink():
        if epoch_vault:
            raise _Warn(Message("no keyring backup {file} beside the bundle: the vault has epochs, and a vault "
                                "restored from this bundle alone cannot open the records sealed to them",
                                file=path.name))
        return Message("no keyring backup (the vault has no epochs)")
    try:
        found, _file = _read_keyring(path)
    except DanganError as exc:
        raise _Fail(exc.message) from None
    if found.vault_id != manifest.vault_id:
        raise _Fail(Message("{file} is the keyring backup of vault {other}, the bundle's vault is {vault}",
                            file=path.name, other=found.vault_id, vault=manifest.vault_id))
    if found.bundle != manifest.bundle:
        raise _Fail(Message("{file} was written beside {other}, not beside {bundle}",
                            file=path.name, other=found.bundle, bundle=manifest.bundle))
    if found.expired(now):
        raise _Fail(Message("{file} expired on {date} and must be deleted: `dangan backup create` or "
                            "`dangan backup prune` deletes it", file=path.name, date=_day(found.expires)))
    return Message("{file}: {n} epoch(s), expires on {date}", file=path.name, n=len(found.epochs),
                   date=_day(found.expires))


def _restore_keyring(path: Path, manifest: Manifest, target: Path, now: dt.datetime) -> str:
    """`backup restore`'s keyring step: the epoch files of the keyring backup beside the
    bundle into TARGET/.git/dangan/keyring/ (0700, files 0600), for the epochs the restored
    epochs.yaml lists as live. Never from an expired backup. Nothing here fails the restore
    (the vault is restored); what was not restored is a warning."""
    from dangan.store import epochkeys

    try:
        epochs = epochkeys.load(target)
    except DanganError as exc:
        raise _Warn(Message("the restored epochs.yaml cannot be read ({problem}): no keyring file restored",
                            problem=exc.message)) from None
    present = path.exists() or path.is_symlink()
    if epochs is None:
        if present:
            raise _Warn(Message("the restored vault has no epochs.yaml: {file} was not used", file=path.name))
        return Message("no keyring backup (the vault has no epochs)")
    if not present:
        raise _Warn(Message("no keyring backup {file} beside the bundle: the restored vault cannot open the "
                            "records sealed to its epochs until their keyring files are copied into "
                            ".git/dangan/keyring/", file=path.name))
    try:
        found, contents = _read_keyring(path)
    except DanganError as exc:
        raise _Warn(Message("{problem}: no keyring file restored", problem=exc.message)) from None
    if found.vault_id != manifest.vault_id or found.bundle != manifest.bundle:
        raise _Warn(Message("{file} is not this bundle's keyring backup (it names {other}): no keyring file restored",
                            file=path.name, other=found.bundle))
    if found.expired(now):
        raise _Warn(Message("{file} expired on {date}: its keyring was not restored (an expired keyring backup "
                            "is never restored) and it must be deleted", file=path.name, date=_day(found.expires)))
    ring = EpochKeys(gitio.git_dir(target))
    live = {e.id for e in epochs.live()}
    wanted = sorted(live & set(contents.epochs))
    ring.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ring.directory.chmod(0o700)
    for epoch in wanted:
        write_atomic(ring.path(epoch), contents.epochs[epoch].encode("ascii"), mode=0o600)
    missing = sorted(live - set(contents.epochs))
    if missing:
        raise _Warn(Message("{n} keyring file(s) restored from {file}; {m} live epoch(s) are not in it "
                            "(their records stay closed until their files are copied in): {epochs}",
                            n=len(wanted), file=path.name, m=len(missing), epochs=", ".join(missing)))
    return Message("{n} keyring file(s) restored from {file}, which expires on {date}",
                   n=len(wanted), file=path.name, date=_day(found.expires))


def verify(bundle: Path, keyring: Keyring | None = None, *, manifest: Manifest | None = None,
           cache_from: Path | None = None, on_step: OnStep | None = None,
           work: Path | None = None, keyring_backup: bool = True,
           now: dt.datetime | None = None) -> Verification:
    """Every step of `backup verify` (docs/backup.md); the result names the first that failed.
    `keyring_backup=False` leaves out the keyring step (`create` verifies the bundle before
    its keyring backup is written)."""
    bundle = Path(os.path.abspath(bundle))  # git runs in the trial repository
    result = Verification(bundle.name if manifest is None else manifest.bundle)
    step = _Runner(result, on_step)
    state: dict[str, Any] = {}

    def load() -> str:
        found = manifest or read_manifest(bundle)
        if not bundle.exists():
            raise _Fail(f"no bundle {bundle}")
        state["manifest"] = found
        state["chain"] = _chain(bundle, found)
        result.chain = [m.bundle for _, m in state["chain"]]
        if found.kind == "full":
            return "full bundle"
        return f"incremental, {len(state['chain']) - 1} bundle(s) in its basis chain"

    if not step("manifest", load):
        return result
    chain: Chain = state["chain"]
    final: Manifest = state["manifest"]
    if not (step("checksum", lambda: _checksums(chain)) and step("header", lambda: _headers(chain))):
        return result
    # the trial repository: ciphertext as committed (and a copy of the vault's check cache),
    # but as big as the history, so on disk in the temp folder, not in RAM; removed however
    # dangan ends, and by the next command's sweep after a kill -9 (store/scratch.py)
    with scratch.folder("verify", plaintext=False, parent=work) as box:
        trial = box / "trial.git"
        gitio.run(["init", "-q", "--bare", str(trial)], box)
        (
            step("restore", lambda: _apply_chain(trial, chain))
            and step("refs", lambda: _refs_equal(trial, final))
            and step("fsck", lambda: _fsck(trial))
            and step("records", lambda: _records(trial, final))
            and (not keyring_backup or _verify_keyring(step, bundle, final, trial, now))
            and (_seed_cache(cache_from, trial) or True)
            and step("check", _guarded(lambda: _check(trial, final.head_commit, keyring)))
            and (_return_cache(trial, cache_from) or True)
        )
    return result


def _verify_keyring(step: _Runner, bundle: Path, manifest: Manifest, trial: Path,
                    now: dt.datetime | None) -> bool:
    """The keyring step, where it has something to judge: a keyring backup beside the bundle,
    or a vault with epochs at the bundled commit. Otherwise no step (a vault without epochs
    verifies as it always did)."""
    path = kb.path_for(bundle)
    epoch_vault = _is_epoch_vault(trial, manifest.head_commit)
    if not (epoch_vault or path.exists() or path.is_symlink()):
        return True
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return step("keyring", lambda: _check_keyring(path, manifest, epoch_vault, moment))


def verify_file(bundle: Path, keyring: Keyring | None = None, *, cache_from: Path | None = None,
                on_step: OnStep | None = None, now: dt.datetime | None = None) -> Verification:
    if not bundle.is_file():
        raise DanganError(Message("no bundle file {bundle}", bundle=bundle), Message("list bundles with `dangan backup ls DIR`"))
    return verify(bundle, keyring, cache_from=cache_from, on_step=on_step, now=now)


# --------------------------------------------------------------------------- create

@dataclass
class Created:
    kind: str
    bundle: Path | None
    manifest: Manifest | None
    verification: Verification | None
    unchanged_since: str | None = None  # an incremental found nothing new since this bundle
    # an epoch vault's keyring backup, written beside the bundle (None: none written)
    keyring: KeyringBackup | None = None
    keyring_expired_removed: list[str] = field(default_factory=list)  # file names, shredded
    keyring_warning: str | None = None  # an epoch vault got no keyring backup: why

    @property
    def ok(self) -> bool:
        return self.unchanged_since is not None or (self.verification is not None and self.verification.ok)

    def to_json(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "ok": self.ok,
            "bundle": str(self.bundle) if self.bundle and self.ok else None,
            "manifest": str(manifest_path(self.bundle)) if self.bundle and self.ok else None,
            "kind": self.kind,
            "basis": m.basis if m else self.unchanged_since,
            "unchanged_since": self.unchanged_since,
            "refs": len(m.refs) if m else None,
            "records": m.records if m else None,
            "size": m.size if m else None,
            "sha256": m.sha256 if m else None,
            "verification": self.verification.to_json() if self.verification else None,
            "keyring": {"file": str(self.keyring.path), "expires": kb.stamp(self.keyring.expires),
                        "epochs": self.keyring.epochs} if self.keyring else None,
            "keyring_expired_removed": self.keyring_expired_removed,
            "keyring_warning": self.keyring_warning,
        }


def _slug(name: str) -> str:
    return _UNSAFE.sub("-", name).strip("-.") or "vault"


def _latest(dest: Path, vault_id: str) -> tuple[Path, Manifest] | None:
    best: tuple[dt.datetime, Path, Manifest] | None = None
    for entry in list_bundles(dest):
        if entry.manifest is None or entry.manifest.vault_id != vault_id or entry.time is None:
            continue
        if best is None or entry.time > best[0]:
            best = (entry.time, entry.path, entry.manifest)
    return (best[1], best[2]) if best else None


PARTIAL_AGE = 3600  # seconds: a bundle being written or verified is younger, or its writer alive


def _sweep_partials(dest: Path, now: float | None = None) -> list[Path]:
    """Remove the `.NAME.PID.partial` files a killed `backup create` left in `dest`: those
    whose process is gone and that are over an hour old (the folder may be shared with
    another machine, whose process ids mean nothing here: the age guards those). The
    files hold ciphertext only; they are removed because they can be as big as a backup."""
    removed = []
    now = time.time() if now is None else now
    for path in dest.glob(".*.partial"):
        pid = path.name.removesuffix(".partial").rsplit(".", 1)[-1]
        try:
            if path.is_symlink() or not path.is_file() or now - path.stat().st_mtime < PARTIAL_AGE:
                continue
            if pid.isdigit():
                try:
                    os.kill(int(pid), 0)
                    continue  # still running here
                except ProcessLookupError:
                    pass
                except PermissionError:
                    continue  # someone else's, running
            path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed


def _free_name(dest: Path, slug: str, now: dt.datetime) -> str:
    # two backups in one second: the later one takes the next free second, so names stay
    # unique and sort by time
    moment = now.replace(microsecond=0)
    while True:
        name = f"{slug}-{moment:{STAMP}}.bundle"
        taken = (dest / name, manifest_path(dest / name), kb.path_for(dest / name))
        if not any(p.exists() or p.is_symlink() for p in taken):
            return name
        moment += dt.timedelta(seconds=1)


def _has_object(root: Path, oid: str) -> bool:
    return gitio.has_object(root, oid)


def create(vault: Vault, dest: Path, incremental: bool = False, keyring: Keyring | None = None,
           *, on_step: OnStep | None = None, now: dt.datetime | None = None) -> Created:
    """Bundle every ref, write the manifest, verify; rename into place only when verified."""
    root = vault.root
    vault_id = str(vault.config.get("id") or "")
    if not vault_id:
        raise DanganError(Message("{CONFIG} has no id", CONFIG=CONFIG), Message("every vault made by `dangan init` has one"))
    if gitio.partial_clone(root):  # a bundle holds every blob: it would fetch them all
        raise DanganError(Message("this is an office's partial clone (dangan clone): it lacks the other projects' files, and a bundle would fetch every one from the server"),
                          Message("make backups on the server or in a full clone (git clone URL)"))
    dest = Path(os.path.abspath(dest))
    if dest.resolve() == root.resolve() or root.resolve() in dest.resolve().parents:
        raise DanganError(Message("{dest} is inside the vault's work tree", dest=dest),
                          Message("a backup there dies with the vault and `git add -A` would commit it; use --dest outside it"))
    dest.mkdir(parents=True, exist_ok=True)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    # an epoch vault's keyring backups: the expiry is read before anything is written, so
    # that a vault.yaml with a bad one is refused with nothing made (exit 2)
    epoch_vault = gitio.head(root) is not None and _is_epoch_vault(root, "HEAD")
    keep = kb.keep_of(vault.config) if epoch_vault else kb.DEFAULT_KEEP
    basis = _latest(dest, vault_id) if incremental else None
    _sweep_partials(dest)
    if on_step:
        on_step("bundle")
    for _ in range(3):  # refs moved while bundling: try again with a fresh snapshot
        head, head_commit = head_of(root)
        refs = for_each_ref(root)
        if basis is not None and basis[1].refs == refs and basis[1].head == head:
            unchanged = Created("incremental", None, None, None, unchanged_since=basis[0].name)
            if epoch_vault:  # no new bundle, but an expired keyring backup goes all the same
                unchanged.keyring_expired_removed = remove_expired_keyrings(dest, vault_id, now)
            return unchanged
        name = _free_name(dest, _slug(str(vault.config.get("name") or root.name)), now)
        partial = dest / f".{name}.{os.getpid()}.partial"
        kind, prereq_of = "full", None
        exclude = [oid for oid in dict.fromkeys(basis[1].refs.values()) if _has_object(root, oid)] if basis else []
        if exclude:
            proc = gitio.run(["bundle", "create", "-q", str(partial), "--all", "--stdin"], root,
                             input="".join(f"^{oid}\n" for oid in exclude).encode(), check=False)
            if proc.returncode == 0:
                kind, prereq_of = "incremental", basis
            elif b"empty bundle" not in proc.stderr:
                raise GitError(f"git bundle: {proc.stderr.decode('utf-8', 'replace').strip()}")
            # nothing new but refs moved (a deleted or re-pointed ref): a full bundle says it
        if kind == "full":
            gitio.run(["bundle", "create", "-q", str(partial), "--all"], root)
        try:
            header = read_header(partial)
        except _Fail as exc:
            partial.unlink(missing_ok=True)
            raise GitError(f"git bundle wrote an unreadable bundle: {exc}") from None
        if all(refs.get(r) == o for r, o in header.refs.items()) and (kind != "full" or header.refs == refs):
            break
        partial.unlink(missing_ok=True)
    else:
        raise GitError("refs kept changing while the bundle was written", "run `dangan backup create` again")
    manifest = Manifest(
        bundle=name, vault_id=vault_id, vault_name=str(vault.config.get("name") or ""),
        created=now.isoformat().replace("+00:00", "Z"), timezone=str(vault.config.get("timezone") or "UTC"),
        kind=kind, basis=prereq_of[0].name if prereq_of else None,
        basis_sha256=prereq_of[1].sha256 if prereq_of else None,
        prerequisites=header.prerequisites, head=head, head_commit=head_commit, refs=refs,
        records=record_count(root, head_commit), size=partial.stat().st_size, sha256=sha256_of(partial),
    )
    # the partial file is verified under the name its manifest will have, basis beside it
    verification = verify(partial, keyring, manifest=manifest, cache_from=root, on_step=on_step,
                          keyring_backup=False)
    if not verification.ok:
        partial.unlink(missing_ok=True)
        return Created(kind, dest / name, manifest, verification)
    final = dest / name
    os.replace(partial, final)
    write_atomic(manifest_path(final), (json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n").encode())
    created = Created(kind, final, manifest, verification)
    if epoch_vault or _is_epoch_vault(root, head_commit):
        if on_step:
            on_step("keyring")
        keep = keep if epoch_vault else kb.keep_of(vault.config)
        _keyring_after(created, root, final, vault_id, head_commit, keep, now)
    return created


def _keyring_after(created: Created, root: Path, bundle: Path, vault_id: str, head_commit: str,
                   keep: str, now: dt.datetime) -> None:
    """An epoch vault's keyring backup beside the verified bundle, then the expired ones of
    the vault in that directory shredded; reported as the verification's `keyring` step (a
    warning when this clone holds no keyring file to back up: the bundle stands)."""
    assert created.verification is not None
    written = _write_keyring(root, bundle, vault_id, head_commit, keep, now)
    created.keyring = written
    created.keyring_expired_removed = remove_expired_keyrings(
        bundle.parent, vault_id, now, keep=[written.path] if written else [])
    removed = Message("; {n} expired keyring backup(s) deleted", n=len(created.keyring_expired_removed)) \
        if created.keyring_expired_removed else ""
    if written is None:
        created.keyring_warning = Message(
            "this clone holds no keyring file of a live epoch: no keyring backup was written, and a vault "
            "restored from this bundle cannot open the records sealed to its epochs{removed}", removed=removed)
        created.verification.steps.append(StepResult("keyring", True, created.keyring_warning, warning=True))
        return
    detail = Message("{file}: {n} epoch(s), expires on {date}{removed}", file=written.path.name,
                     n=len(written.epochs), date=_day(written.expires), removed=removed)
    created.verification.steps.append(StepResult("keyring", True, detail))


# -------------------------------------------------------------------------- restore

@dataclass
class Restored:
    path: Path
    verification: Verification
    written: bool  # False when nothing was made (the bundle failed before restoring)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "written": self.written, **self.verification.to_json()}


def restore(bundle: Path, target: Path, keyring: Keyring | None = None,
            *, on_step: OnStep | None = None, now: dt.datetime | None = None) -> Restored:
    """A working vault in `target` with every ref of the bundle, hooks installed, checked;
    in an epoch vault with the keyring of the unexpired keyring backup beside the bundle."""
    from dangan.services.initvault import install_hooks_config
    from dangan.services.scan import check_worktree

    if not bundle.is_file():
        raise DanganError(Message("no bundle file {bundle}", bundle=bundle), Message("list bundles with `dangan backup ls DIR`"))
    bundle, target = Path(os.path.abspath(bundle)), Path(os.path.abspath(target))
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DanganError(Message("{target} exists and is not empty", target=target), Message("restore into a new directory"))
    result = Verification(bundle.name)
    step = _Runner(result, on_step)
    state: dict[str, Any] = {}

    def load() -> str:
        state["manifest"] = read_manifest(bundle)
        state["chain"] = _chain(bundle, state["manifest"])
        result.chain = [m.bundle for _, m in state["chain"]]
        return f"{state['manifest'].kind} bundle of {state['manifest'].vault_name}"

    if not (step("manifest", load) and step("checksum", lambda: _checksums(state["chain"]))
            and step("header", lambda: _headers(state["chain"]))):
        return Restored(target, result, False)
    manifest: Manifest = state["manifest"]
    made = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    branch = (manifest.head or "refs/heads/main").removeprefix("refs/heads/")
    gitio.run(["init", "-q", "-b", branch, str(target)], target)
    if not step("restore", lambda: _apply_chain(target, state["chain"], update_head_ok=True)):
        # nothing usable was made: leave no half-restored repository behind
        shutil.rmtree(target / ".git", ignore_errors=True)
        if made:
            shutil.rmtree(target, ignore_errors=True)
        return Restored(target, result, False)
    gitio.run(["reset", "-q", "--hard", "HEAD"], target)
    install_hooks_config(target)

    def check_restored() -> str:
        restored = Vault.open(target, search=False)
        restored.keyring = keyring or Keyring()
        found = check_worktree(restored)
        return _content_findings(found.findings, found.checked)

    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    keyring_file = kb.path_for(bundle)

    def keyring_step() -> bool:
        """Where there is a keyring backup beside the bundle or the vault has epochs."""
        if not (keyring_file.exists() or keyring_file.is_symlink() or (target / EPOCHS).exists()):
            return True
        return step("keyring", lambda: _restore_keyring(keyring_file, manifest, target, moment))

    (
        step("refs", lambda: _refs_equal(target, manifest))
        and step("fsck", lambda: _fsck(target))
        and step("records", lambda: _records(target, manifest))
        and keyring_step()
        and step("check", _guarded(check_restored))
    )
    return Restored(target, result, True)


# --------------------------------------------------------------------------- mirror

@dataclass
class Mirrored:
    remote: str
    pushed: list[str] = field(default_factory=list)  # new or fast-forwarded
    unchanged: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # ref -> git's reason
    differ: dict[str, dict[str, str | None]] = field(default_factory=dict)  # after: local vs remote
    remote_only: list[str] = field(default_factory=list)  # kept there: a mirror never deletes

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.differ

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def ls_remote(root: Path, remote: str) -> dict[str, str]:
    raw = gitio.out(["ls-remote", "--refs", remote], root)
    out = {}
    for line in raw.splitlines():
        oid, _, ref = line.partition("\t")
        if ref.startswith("refs/"):
            out[ref] = oid
    return out


def mirror(root: Path, remote: str) -> Mirrored:
    """Push every ref with no force and no deletion, then compare `git ls-remote`.

    A refspec without `+` makes git refuse any non-fast-forward update and any changed tag,
    and without `--prune`/`--mirror` nothing is deleted there: a damaged or rewritten local
    repository cannot destroy the offsite copy. `--no-verify`: a backup copies what the
    vault holds, findings included; the remote's own pre-receive hook still runs.
    """
    if remote.startswith("-"):
        raise DanganError(Message("{remote} is not a remote", remote=repr(remote)))
    result = Mirrored(remote)
    local = for_each_ref(root)
    proc = gitio.run(["push", "--porcelain", "--no-verify", remote, "refs/*:refs/*"], root, check=False)
    seen = False
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or len(parts[0]) != 1:
            continue
        seen = True
        flag, refs, summary = parts[0], parts[1], parts[2]
        ref = refs.split(":", 1)[-1]
        if flag == "!":
            result.rejected[ref] = summary
        elif flag == "=":
            result.unchanged.append(ref)
        else:
            result.pushed.append(ref)
    if proc.returncode != 0 and not seen:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        hint = "check that the remote exists and is reachable (`git ls-remote REMOTE`)"
        if any("--mirror" in line for line in message):
            hint = f"unset remote.{remote}.mirror: a mirror push would delete and force-update there"
        raise GitError(f"git push to {remote}: {message[0] if message else 'failed'}", hint)
    after = ls_remote(root, remote)
    for ref, oid in local.items():
        if after.get(ref) != oid:
            result.differ[ref] = {"local": oid, "remote": after.get(ref)}
    result.remote_only = sorted(set(after) - set(local))
    return result


# ------------------------------------------------------------------------ ls, prune

@dataclass
class Entry:
    path: Path
    time: dt.datetime | None
    manifest: Manifest | None
    problem: str | None = None
    keyring_path: Path | None = None  # the keyring backup beside the bundle, when there is one
    keyring: KeyringBackup | None = None  # it, read (None: unreadable, see keyring_problem)
    keyring_problem: str | None = None

    def keyring_json(self, now: dt.datetime | None = None) -> dict[str, Any] | None:
        if self.keyring_path is None:
            return None
        if self.keyring is None:
            return {"file": self.keyring_path.name, "expires": None, "expired": None, "epochs": None,
                    "problem": self.keyring_problem}
        return {**self.keyring.to_json(now), "problem": None}

    def to_json(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "bundle": self.path.name,
            "time": self.time.isoformat().replace("+00:00", "Z") if self.time else None,
            "kind": m.kind if m else None, "basis": m.basis if m else None,
            "vault_id": m.vault_id if m else None, "vault_name": m.vault_name if m else None,
            "refs": len(m.refs) if m else None, "records": m.records if m else None,
            "size": self.path.stat().st_size if self.path.exists() else None,
            "problem": self.problem,
            "keyring": self.keyring_json(),
        }


def list_bundles(directory: Path) -> list[Entry]:
    """The bundles in `directory`, oldest first; manifest problems are reported, not raised."""
    if not directory.is_dir():
        raise DanganError(Message("no backup directory {directory}", directory=directory), Message("make one with `dangan backup create --dest DIR`"))
    entries = []
    names = {p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")}
    for name in sorted(n for n in names if n.endswith(".bundle")):
        path = directory / name
        try:
            manifest: Manifest | None = read_manifest(path)
            problem = None
        except _Fail as exc:
            manifest, problem = None, str(exc)
        when = bundle_time(name)
        if when is None and problem is None:
            problem = "name does not end in -YYYYmmddTHHMMSSZ.bundle"
        if manifest is not None and manifest.basis and manifest.basis not in names:
            problem = f"basis {manifest.basis} is missing: this bundle cannot be restored"
        entries.append(Entry(path, when, manifest, problem))
    for name in sorted(n for n in names if n.endswith(".manifest.json")):
        bundle = name.removesuffix(".manifest.json") + ".bundle"
        if bundle not in names:
            entries.append(Entry(directory / bundle, bundle_time(bundle), None, f"{name} has no bundle"))
    listed = {e.path.name for e in entries}
    for name in sorted(n for n in names if n.endswith(kb.SUFFIX)):
        bundle = kb.bundle_name(name)
        if bundle not in listed:  # a keyring backup whose bundle is gone (removed by hand)
            entries.append(Entry(directory / bundle, bundle_time(bundle), None, f"{name} has no bundle"))
    for entry in entries:
        beside = kb.path_for(entry.path)
        if beside.name in names:
            entry.keyring_path = beside
            try:
                entry.keyring, _file = _read_keyring(beside)
            except DanganError as exc:
                entry.keyring_problem = exc.message
    return sorted(entries, key=lambda e: (e.time or dt.datetime.min.replace(tzinfo=dt.UTC), e.path.name))


_BUCKETS: dict[str, Callable[[dt.datetime], str]] = {
    "last": lambda t: t.isoformat(),
    "daily": lambda t: f"{t:%Y-%m-%d}",
    "weekly": lambda t: f"{t.isocalendar()[0]:04d}-W{t.isocalendar()[1]:02d}",
    "monthly": lambda t: f"{t:%Y-%m}",
    "yearly": lambda t: f"{t:%Y}",
}


@dataclass
class Decision:
    entry: Entry
    keep: bool
    reasons: list[str] = field(default_factory=list)
    # the keyring backup beside the bundle: removed with its bundle, or alone once expired
    keyring_remove: bool = False
    keyring_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        keyring = self.entry.keyring_path
        return {"bundle": self.entry.path.name, "action": "keep" if self.keep else "remove",
                "reasons": self.reasons, "kind": self.entry.manifest.kind if self.entry.manifest else None,
                "time": self.entry.time.isoformat().replace("+00:00", "Z") if self.entry.time else None,
                "keyring": None if keyring is None else {
                    "file": keyring.name, "action": "remove" if self.keyring_remove else "keep",
                    "reason": self.keyring_reason}}


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def plan_prune(entries: Iterable[Entry], keep: dict[str, int]) -> list[Decision]:
    """restic's rules: newest first, for each rule keep the newest bundle of each of the
    last N days (weeks, months, years) that have one, in the vault's timezone; then keep
    every bundle a kept incremental builds on. Bundles without a readable manifest are left
    alone (kept, with the reason)."""
    if not any(n > 0 for n in keep.values()):
        raise DanganError(Message("no keep rule given: prune would remove every bundle"),
                          Message("give at least one of --keep-last/--keep-daily/--keep-weekly/--keep-monthly/--keep-yearly"))
    decisions: list[Decision] = []
    groups: dict[str, list[Decision]] = {}
    for entry in entries:
        decision = Decision(entry, False)
        decisions.append(decision)
        if entry.manifest is None or entry.time is None:
            decision.keep = True
            decision.reasons.append(f"left alone: {entry.problem}")
            continue
        groups.setdefault(entry.manifest.vault_id, []).append(decision)
    for group in groups.values():
        newest_first = sorted(group, key=lambda d: d.entry.time, reverse=True)  # type: ignore[arg-type,return-value]
        for rule, count in keep.items():
            if count <= 0:
                continue
            last = None
            for decision in newest_first:
                if count == 0:
                    break
                assert decision.entry.time is not None and decision.entry.manifest is not None
                local = decision.entry.time.astimezone(_zone(decision.entry.manifest.timezone))
                bucket = _BUCKETS[rule](local)
                if bucket != last:
                    decision.keep = True
                    decision.reasons.append(f"{rule} {bucket}" if rule != "last" else "last")
                    last = bucket
                    count -= 1
        by_name = {d.entry.path.name: d for d in group}
        for decision in newest_first:
            if not decision.keep or decision.entry.manifest is None:
                continue
            child = decision.entry
            while child.manifest is not None and child.manifest.basis:
                base = by_name.get(child.manifest.basis)
                if base is None:
                    break
                note = f"basis of {child.path.name}"
                if note not in base.reasons:
                    base.reasons.append(note)
                base.keep = True
                child = base.entry
    return decisions


def plan_keyrings(decisions: Iterable[Decision], now: dt.datetime) -> None:
    """Which keyring backups go: the one beside a bundle that is removed (whatever its
    state), and every expired one (of any vault: the expiry is the file's own). A file that
    cannot be read beside a kept bundle is left alone: nobody can say when it expires."""
    for decision in decisions:
        entry = decision.entry
        if entry.keyring_path is None:
            continue
        if not decision.keep:
            decision.keyring_remove, decision.keyring_reason = True, Message("with its bundle")
        elif entry.keyring is not None and entry.keyring.expired(now):
            decision.keyring_remove = True
            decision.keyring_reason = Message("expired on {date}", date=_day(entry.keyring.expires))


def prune(directory: Path, keep: dict[str, int], dry_run: bool = False,
          now: dt.datetime | None = None) -> list[Decision]:
    decisions = plan_prune(list_bundles(directory), keep)
    plan_keyrings(decisions, (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    if not dry_run:
        for decision in decisions:
            if decision.keyring_remove and decision.entry.keyring_path is not None:
                if decision.entry.keyring_path.is_symlink():
                    decision.entry.keyring_path.unlink(missing_ok=True)  # never written through
                else:
                    shred(decision.entry.keyring_path)
            if not decision.keep:
                decision.entry.path.unlink(missing_ok=True)
                manifest_path(decision.entry.path).unlink(missing_ok=True)
    return decisions
