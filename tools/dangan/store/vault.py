"""A vault: finding it, its configuration, its records on disk, and changing them safely."""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dangan.errors import DanganError, VaultError
from dangan.formats.schemas import SchemaSet
from dangan.formats.yamlio import YamlError, decode, dump, load_roundtrip, load_text, to_plain
from dangan.git import gitio
from dangan.i18n import Message, _
from dangan.model.codes import Code, CodeError, path_to_code
from dangan.store.epochkeys import EPOCHS, Epoch, EpochKeys, Epochs
from dangan.store.sealing import Keyring

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

CONFIG = "vault.yaml"
KNOWN_VERSIONS = (1,)
RECORDS = "vault"
# epochs made by this process and not yet committed, by vault root: the next `apply` of that
# vault commits them in epochs.yaml with the records sealed to them (store/epochkeys.py)
_NEW_EPOCHS: dict[str, Epochs] = {}


def recipients_of(config: Mapping[str, Any], category: str, level: str | None = None) -> list[dict[str, Any]]:
    """The recipients of a record of `category` at `level` under a vault.yaml (`Vault.recipients_for`)."""
    everyone = [r for r in config.get("recipients") or [] if isinstance(r, dict)]
    allowed = (config.get("access") or {}).get(category)
    chosen = everyone if allowed is None else [r for r in everyone if r.get("name") in allowed]
    if level is None:
        return chosen
    readers = config.get("readers")
    named = readers.get(level) if isinstance(readers, dict) else None
    if named is None:
        return [] if level == "secret" else chosen
    return [r for r in chosen if r.get("name") in named]


def find_root(start: Path) -> Path | None:
    """The first directory from `start` upwards that holds a vault.yaml, like git."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / CONFIG).is_file():
            return candidate
    return None


@dataclass
class Vault:
    """A vault: its folder and vault.yaml, with the keys and settings of this run."""

    root: Path
    config: dict[str, Any]
    keyring: Keyring = field(default_factory=Keyring)
    # signatures of role acts (services.signing.Signing, set by the CLI): `prepare(root,
    # changes, message)` before each commit (it may refuse), `finish(root, commit, token)`
    # after it (it may sign the commit and return the signed one's id). None: commit as is.
    signing: Any = None
    # services.attachments.follow_epochs (set by the CLI): in an epoch vault, `apply`
    # encrypts a written record's attachments again when its epoch moved. None: as given.
    follow: Any = None
    # epochs `keys shred` is shredding (services.shred): the records it keeps are sealed
    # past them, as past a shredded one (model.epochs.effective)
    shredding: set[str] = field(default_factory=set)
    # the day open records are sealed on (model.epochs.open_period); None: the commit's
    sealed_on: dt.date | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        # an epoch vault's keyring also opens the epoch identities the user's keys unlock
        # (docs/shredding.md §3), whoever sets it: the CLI, the hooks, the demo
        super().__setattr__(name, value)
        if (name == "keyring" and isinstance(value, Keyring) and value.epoch_root is None
                and (self.root / EPOCHS).is_file()):
            value.epoch_root = self.root

    @classmethod
    def open(cls, path: Path | None = None, *, search: bool = True) -> Vault:
        base = Path(path) if path is not None else Path.cwd()
        if not base.exists():
            raise VaultError(_("no such directory: {path}").format(path=base))
        root = find_root(base) if search else (base if (base / CONFIG).is_file() else None)
        if root is None:
            raise VaultError(
                _("no vault here: no {config} in {path} or any parent").format(config=CONFIG, path=base.resolve()),
                _("run `dangan init PATH` to create one, or use -C PATH"),
            )
        return cls(root, load_config(root))

    @classmethod
    def for_git_checks(cls, path: Path | None = None) -> Vault:
        """The vault for checks that judge Git objects (staged changes, commit ranges).

        They take vault.yaml and schemas from the index or the commits, so the work tree's
        vault.yaml is not parsed (a broken or deleted one is a DG114 finding there, not an
        error here), and the root falls back to the Git top level.
        """
        base = Path(path) if path is not None else Path.cwd()
        root = find_root(base) if base.exists() else None
        if root is None:
            root = gitio.toplevel(base) if base.exists() else None
        if root is None:
            raise VaultError(_("no vault here: {path} is not in a Git repository").format(path=base.resolve()),
                             _("run this inside a vault, or use -C PATH"))
        return cls(root, {})

    # ---------------------------------------------------------------- settings
    @functools.cached_property
    def schemas(self) -> SchemaSet:
        return SchemaSet.from_dir(self.root / "schemas")

    @functools.cached_property
    def tz(self) -> ZoneInfo:
        # here: zoneinfo costs ~2 ms of imports, which the pre-commit hook does without
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        name = self.config.get("timezone") or "UTC"
        try:
            return ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            raise VaultError(f"{CONFIG}: unknown timezone {name!r}", "use an IANA name like Asia/Shanghai") from None

    def today(self) -> dt.date:
        return dt.datetime.now(self.tz).date()

    @property
    def recipients(self) -> list[dict[str, Any]]:
        return list(self.config.get("recipients") or [])

    def recipient_keys(self, category: str, level: str | None = None) -> list[str]:
        return [str(r["key"]) for r in self.recipients_for(category, level) if isinstance(r, dict) and r.get("key")]

    def recipients_for(self, category: str, level: str | None = None) -> list[dict[str, Any]]:
        """Who may read the encrypted values of a record of `category` at confidentiality
        `level` (None: the category alone): those `access` gives the category, and of them
        those `readers` gives the level when it names any (docs/format.md §3a). A secret
        record with no readers named has no one (sealing it is refused)."""
        return recipients_of(self.config, category, level)

    def level_readers(self, level: str) -> list[str] | None:
        """The names `readers` gives a confidentiality level, None when it gives none."""
        readers = self.config.get("readers")
        named = readers.get(level) if isinstance(readers, dict) else None
        return [str(n) for n in named] if isinstance(named, list) else None

    @functools.cached_property
    def git_dir(self) -> Path:
        return gitio.git_dir(self.root)

    # ------------------------------------------------------------------ epochs
    @functools.cached_property
    def _epochs_file(self) -> Epochs | None:
        from dangan.store import epochkeys

        return epochkeys.load(self.root)

    @property
    def epochs(self) -> Epochs | None:
        """epochs.yaml with the epochs made since (not committed yet), or None: a vault
        without epochs, whose records are sealed to their readers (docs/shredding.md)."""
        made = _NEW_EPOCHS.get(str(self.root))
        return made if made is not None else self._epochs_file

    def epoch_shredded(self, epoch: str) -> bool:
        """Whether an epoch is shredded (epochs.yaml), or being shredded by this process
        (`shredding`, set by `keys shred` while it moves the records it keeps)."""
        if epoch in self.shredding:
            return True
        found = self.epochs.get(epoch) if self.epochs is not None else None
        return found is not None and not found.live

    @property
    def epoch_keys(self) -> EpochKeys:
        return EpochKeys(self.git_dir)

    def sealing_keys(self, category: str, level: str | None, tree: Mapping[str, Any],
                     current: Mapping[str, Any] | None = None) -> list[str]:
        """The keys a record's data key and its attachments' file keys are wrapped to: in an
        epoch vault its epoch's public key alone (the epoch made now when new); otherwise
        the keys of its readers (`recipient_keys`). None of its readers: an empty list.
        `current`: the record as stored (its `sops` block, its attachments' listing), when
        `tree` is not: an open record stays in the epoch it is in (`epoch_key`)."""
        people = self.recipient_keys(category, level)
        if self.epochs is None or not people:
            return people
        return [self.epoch_key(category, level, tree, people, current)]

    def epoch_key(self, category: str, level: str | None, tree: Mapping[str, Any], people: list[str],
                  current: Mapping[str, Any] | None = None) -> str:
        """The public key of a record's epoch (model.epochs); a new epoch's identity is made
        and written to the keyring for `people`, and listed for the next `apply`.

        A record whose end is known goes to its year's epoch, past the shredded ones. An
        open one stays in the live year epoch of its readers it is sealed to (`current`, or
        `tree` as stored); a new one, or one whose epoch is going, goes to the year of its
        earliest end: the day of the commit that seals it plus its rule's keep."""
        from dangan.model.epochs import OPEN, effective, epoch_of, open_period, readers_of

        epochs = self.epochs
        assert epochs is not None
        names = [str(r.get("name")) for r in self.recipients_for(category, level)]
        epoch = epoch_of(self.config, category, tree, names)
        period, readers = epoch.split(".", 1)
        if period == OPEN:
            kept = self.open_epoch_of(current if current is not None else tree, readers)
            if kept is not None:
                return kept.key
            epoch = f"{open_period(self.config, category, self.sealing_day())}.{readers}"
        epoch = effective(epoch, self.epoch_shredded)
        assert readers_of(epoch) == readers
        found = epochs.get(epoch)
        if found is not None:
            return found.key
        keys = self.epoch_keys
        if keys.path(epoch).exists():
            # made by a command that did not commit, or listed on another branch: kept, never
            # replaced (records elsewhere may be sealed to it)
            opened = keys.unlock(self.keyring.identities, only=[epoch])
            if epoch not in opened:
                raise DanganError(Message("epoch {epoch}: this clone's keyring holds it but none of your keys opens it",
                                          epoch=epoch), Message("ask one of its readers to write this record"))
            public = str(opened[epoch].to_public())
        else:
            public, _secret = keys.create(epoch, people)
        made = Epochs(list(epochs.entries))
        made.add(Epoch(epoch, public))
        _NEW_EPOCHS[str(self.root)] = made
        self.keyring.epoch_root = self.root
        self.keyring.forget()  # the new identity opens what is sealed to it from now on
        return public

    def open_epoch_of(self, doc: Mapping[str, Any] | None, readers: str) -> Epoch | None:
        """The epoch an open record is sealed to (its `sops` block, else its attachments'
        listing), when that is a live, shreddable epoch of `readers` not being shredded:
        where it stays (docs/format.md §7c)."""
        from dangan.model.epochs import readers_of, shreddable

        epochs = self.epochs
        if epochs is None or not isinstance(doc, Mapping):
            return None
        found = epochs.sealed_to(dict(doc))
        if (found is None or not found.live or readers_of(found.id) != readers or not shreddable(found.id)
                or found.id in self.shredding):
            return None
        return found

    @functools.cached_property
    def _commit_day(self) -> dt.date:
        stamp = gitio.pending_commit_time(self.root)
        moment = dt.datetime.fromtimestamp(stamp, dt.UTC) if stamp is not None else dt.datetime.now(dt.UTC)
        return moment.astimezone(self.tz).date()

    def sealing_day(self) -> dt.date:
        """The day an open record is sealed on: `sealed_on` when set (`keys shred` sets its
        `--at`), else the committer date of the commit being made (now, or GIT_COMMITTER_DATE)."""
        return self.sealed_on if self.sealed_on is not None else self._commit_day

    def start_epochs(self) -> None:
        """Make this an epoch vault (`keys migrate-epochs`): an empty epochs.yaml, committed
        by the next `apply` with the epochs made for the records sealed meanwhile."""
        if self.epochs is not None:
            raise DanganError(Message("this vault has epochs already ({file})", file=EPOCHS),
                              Message("`dangan keys updatekeys` seals every record to its epoch"))
        _NEW_EPOCHS[str(self.root)] = Epochs([])
        self.keyring.epoch_root = self.root
        self.keyring.forget()

    def epochs_pending(self) -> bool:
        """Whether epochs were made that no `apply` has written yet."""
        return str(self.root) in _NEW_EPOCHS

    def with_new_epochs(self, changes: Mapping[str, Any]) -> Mapping[str, Any]:
        """`changes` and, when epochs were made for them, epochs.yaml listing them."""
        made = _NEW_EPOCHS.pop(str(self.root), None)
        if made is None:
            return changes
        self.__dict__.pop("_epochs_file", None)
        if EPOCHS in changes:  # written by the caller (`keys shred`), from `epochs` with them
            return changes
        return {**changes, EPOCHS: made.render()}

    # ----------------------------------------------------------------- records
    def path_of(self, code: Code) -> Path:
        return self.root / code.path

    @functools.cached_property
    def checkout(self) -> list[str] | None:
        """The folders under vault/ an office's sparse checkout holds (`dangan clone`:
        `vault/A01`, `vault/JY`...), or None when the work tree is whole."""
        folders = gitio.sparse_folders(self.root)
        if folders is None:
            return None
        return [f for f in folders if f.startswith(RECORDS + "/")]

    @property
    def record_specs(self) -> list[str]:
        """The pathspecs of the records to read from a commit: vault/, or in an office's
        checkout the folders it holds, so that no blob of another project is fetched from
        the server (due, gaps, stats read what the office holds)."""
        if self.checkout is None:
            return [RECORDS + "/"]
        return [f"{folder}/" for folder in self.checkout]

    def outside_checkout(self, rel: str) -> bool:
        """Whether `rel` (a path under vault/) lies outside an office's sparse checkout."""
        if self.checkout is None:
            return False
        return not any(rel.startswith(folder + "/") for folder in self.checkout)

    def refuse_outside(self, rel: str, what: str) -> None:
        """Bad input: `what` (at `rel`) is not in this office's checkout. Its records exist
        on the server and in the index; writing there from here would allocate and check
        against a folder this clone does not hold."""
        if not self.outside_checkout(rel):
            return
        held = ", ".join(f.split("/", 1)[1] for f in self.checkout or [] if len(f.split("/")[1]) == 3)
        folder = "/".join(rel.split("/")[:2])
        raise DanganError(Message("{what} is outside this office's checkout (it holds {held} and the "
                                  "company-level records)", what=what, held=held or "no project"),
                          Message("`git sparse-checkout add {folder}` fetches it from the server, or work in "
                                  "a checkout that holds it", folder=folder))

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.root.resolve()).as_posix()

    def record_files(self) -> Iterator[str]:
        """Every file under vault/ in the work tree (relative; folders depth first, in name
        order, each folder's files before its subfolders). Plain `scandir` and string
        paths: pathlib per folder cost more than the listing at 100,000 folders."""
        base = str(self.root) + "/"
        stack = [RECORDS]
        while stack:
            rel = stack.pop()
            subdirs: list[str] = []
            names: list[str] = []
            try:
                with os.scandir(base + rel) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            subdirs.append(entry.name)
                        else:
                            names.append(entry.name)
            except OSError:
                continue
            names.sort()
            for name in names:
                yield f"{rel}/{name}"
            subdirs.sort(reverse=True)
            stack.extend(f"{rel}/{name}" for name in subdirs)

    def record_paths(self) -> Iterator[tuple[Code, str]]:
        for rel in self.record_files():
            try:
                yield path_to_code(rel), rel
            except CodeError:
                continue

    def read(self, code: Code) -> tuple[dict[str, Any], Any]:
        """(plain tree, round-trip tree) of a record; exit 2 if it does not exist."""
        if code.category not in self.schemas.categories:
            known = ", ".join(sorted(self.schemas.categories))
            raise DanganError(_("unknown category {category!r} in code {code!r}").format(category=code.category, code=str(code)),
                              _("known categories: {names}").format(names=known))
        path = self.path_of(code)
        if path.is_symlink():  # it could point anywhere, outside the vault too: never followed
            raise DanganError(Message("{path} is a symbolic link, not a record", path=code.path),
                              Message("replace it with the record's file; `dangan check` reports it (DG104)"))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.refuse_outside(code.path, str(code))  # an office's checkout: it is elsewhere
            raise DanganError(_("no record {code} (no file {path})").format(code=code, path=code.path),
                              _("list records with `dangan ls`")) from None
        except IsADirectoryError:
            raise DanganError(Message("{path} is a folder, not a record file", path=code.path),
                              Message("move it away; `dangan check` reports what is under vault/")) from None
        try:
            rt = load_roundtrip(decode(data))
        except YamlError as exc:
            from dangan.model.threeway import has_markers, markers_refusal

            if has_markers(data):  # a merge git did line by line: say which and the way out
                raise DanganError(*markers_refusal(str(code), code.path, gitio.busy_state(self.root))) from None
            raise DanganError(Message("{path}: {problem}", path=code.path, problem=exc),
                              Message("fix the file, then run `dangan check`")) from None
        return to_plain(rt), rt

    def render(self, rel: str, doc: Any) -> bytes:
        """The bytes to write for `doc` at `rel`, a record that may exist: in sops's form
        when the file there now is an encrypted record in sops's form (so a dangan write
        of a record sops wrote changes only what changed), else in canonical form
        (docs/format.md §4.2)."""
        if isinstance(doc, dict) and "sops" in doc:
            from dangan.formats import sopsrt, sopsyaml

            if sopsrt.has_comments(doc):
                return dump(doc).encode("utf-8")  # sops's form is not known with comments: keep them
            doc = to_plain(doc)  # a round-trip tree without comments: its values only
            try:
                previous: str | None = (self.root / rel).read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                previous = None
            text = sopsyaml.dump_as(doc, previous)
            if text is not None:
                return text.encode("utf-8")
        return dump(doc).encode("utf-8")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The writers' lock; a plan a killed writer left is recovered as soon as it is held."""
        from dangan.store import transaction
        from dangan.store.fsutil import (
            writer_lock,  # tempfile and fcntl only for commands that write
        )

        with writer_lock(self.git_dir / "dangan" / "lock"):
            found = transaction.recover(self.root, self.git_dir)
            if found is not None:
                transaction.note(found)
            _NEW_EPOCHS.pop(str(self.root), None)  # epochs are made under the lock, for its write
            try:
                yield
            finally:
                if _NEW_EPOCHS.pop(str(self.root), None) is not None:
                    self.__dict__.pop("_epochs_file", None)  # not written: epochs.yaml as it is

    # ----------------------------------------------------------------- changes
    def ready_to_write(self) -> None:
        busy = gitio.busy_state(self.root)
        if busy:
            unmerged = sorted({e.path for e in gitio.ls_files(self.root) if e.stage})
            raise VaultError(
                f"the repository is in the middle of {busy}"
                + (f" ({len(unmerged)} path(s) in conflict: {', '.join(unmerged[:3])}"
                   f"{', ...' if len(unmerged) > 3 else ''})" if unmerged else "")
                + "; dangan changes nothing meanwhile",
                _finish_hint(busy, bool(unmerged)),
            )
        if gitio.index_locked(self.root):
            raise VaultError(
                f"the Git index is locked ({self.git_dir / 'index.lock'} exists)",
                "another git process is running; if none is, remove that file",
            )

    def apply(self, changes: Mapping[str, bytes | None], message: str, commit: bool = True, *,
              empty: bool = False) -> str | None:
        """Write (bytes) or delete (None) files, stage them, commit: all or nothing, also
        when dangan is killed half-way (store/transaction.py says how).

        On any failure (a hook refusal, a lock) the work tree and the index are put back
        as they were and the error propagates. The new commit's id is returned; None when
        not committing, or when the files are back to what HEAD holds (nothing to commit is
        not an error: `dangan fmt` putting back a final newline). `empty`: a commit that
        changes no file (an approval, docs/retention.md §3).
        """
        from dangan.store import transaction

        self.ready_to_write()
        if self.follow is not None and self.epochs is not None:
            changes = self.follow(self, changes)
        if not any(isinstance(v, Path) for v in changes.values()):
            changes = self.with_new_epochs(changes)
            return transaction.write(self.root, changes, message, commit=commit, signing=self.signing, empty=empty)
        # attachments encrypted again (temp files): renamed into place by the transaction
        try:
            changes = self.with_new_epochs(changes)
            return transaction.write(self.root, changes, message, commit=commit, signing=self.signing, empty=empty,
                                     signed_changes={p: v for p, v in changes.items() if not isinstance(v, Path)})
        finally:
            for value in changes.values():
                if isinstance(value, Path):
                    value.unlink(missing_ok=True)

    def recover_interrupted(self) -> Any:
        """Finish or roll back what a killed dangan command left (store/transaction.py):
        a Recovery to report, or None. Nothing is done while another dangan writes."""
        from dangan.store import transaction
        from dangan.store.fsutil import LockBusy, writer_lock

        if not transaction.pending(self.git_dir):
            return None
        try:
            with writer_lock(self.git_dir / "dangan" / "lock", timeout=0):
                return transaction.recover(self.root, self.git_dir)
        except LockBusy:
            return None


# what finishes and what gives up each operation gitio.busy_state names
_FINISH = {
    "a merge": ("git commit", "git merge --abort"),
    "a rebase": ("git rebase --continue", "git rebase --abort"),
    "a rebase or am": ("git rebase --continue (or git am --continue)", "git rebase --abort (or git am --abort)"),
    "a cherry-pick": ("git cherry-pick --continue", "git cherry-pick --abort"),
    "a revert": ("git revert --continue", "git revert --abort"),
}


def _finish_hint(busy: str, unmerged: bool) -> str:
    """What to run while git is in the middle of something (docs/team.md §3)."""
    if busy not in _FINISH:
        return "`git bisect reset` ends the bisect"
    finish, abort = _FINISH[busy]
    first = ("settle each record in conflict with `dangan resolve CODE` (its `--set FIELD=VALUE` "
             "changes a field as `set` would), then " if unmerged else "")
    return f"{first}`{finish}` finishes it; `{abort}` gives it up"


def load_config(root: Path) -> dict[str, Any]:
    path = root / CONFIG
    try:
        config = load_text(decode(path.read_bytes()))
    except YamlError as exc:
        raise VaultError(f"{CONFIG}: {exc}", "fix vault.yaml; `dangan check` lists DG114 problems") from None
    version = config.get("dangan")
    if version not in KNOWN_VERSIONS:
        raise VaultError(
            f"{CONFIG} says dangan: {version!r}; this dangan reads vault format "
            f"{', '.join(map(str, KNOWN_VERSIONS))}",
            "upgrade dangan, or check that this is a dangan vault",
        )
    return config

