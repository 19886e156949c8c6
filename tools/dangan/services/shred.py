"""`dangan keys shred` (crypto-shredding, docs/shredding.md §4): destroy the keys of the
epochs whose records are destroyed, so that the destruction reaches Git history, every
clone and every backup bundle without rewriting any of them.

For each live year epoch whose year has begun by the day of the shred (`--at`):

1. its records still in the vault are looked at: one that is held (a legal hold, BQ) or
   whose end moved (`retention.until`, other readers) is *moved*: sealed, with a new data
   key and its attachments encrypted again, to the epoch it belongs to now, which is past
   the one being shredded (`model.epochs.effective`). Any other record left in it (due and
   not destroyed yet, or not due) makes the epoch *wait*: nothing of it is done.
2. the destroyed records whose last version (the certificates' `blob`) was sealed to it are
   what the shred carries out; an epoch none of whose records was destroyed is left alone.
3. one commit: the moved records, epochs.yaml with the epoch `shredded` (the day and the
   certificate), and a `shreds` entry appended to the disposal certificate (XH) that
   destroyed the last of its records, naming the epoch, its key, its records and the moves.
4. after the commit, the epoch's keyring file is overwritten and deleted. A kill between the
   commit and the deletion leaves the file of an epoch epochs.yaml says is shredded: the next
   `keys shred` (in any clone: it is also how other clones drop their copies) deletes it.

Nothing here prints: `Shred` says what was done and what waits, and the keyring backups
that still hold each epoch (the day the destruction reaches every copy).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan.errors import DanganError, GitError, Refusal
from dangan.formats.yamlio import YamlError, decode, load_text
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model.codes import Code, parse_code
from dangan.model.disposal import Keepers
from dangan.model.epochs import OPEN, end_of, epoch_of, is_year, shreddable
from dangan.model.layout import listed
from dangan.model.timeutil import record_time, stamp
from dangan.store import sealing
from dangan.store.attached import recipients_digest
from dangan.store.epochkeys import EPOCHS, SHREDDED, Epoch, Epochs
from dangan.store.vault import Vault

DISPOSAL = "XH"
HELD, END, READERS, OPEN_RECORD = "held", "end", "readers", "open"  # why a record is moved
DUE, NOT_DUE = "due", "not due"  # why a record makes its epoch wait


@dataclass
class EpochShred:
    """One epoch looked at by a shred: what it holds and what was (or would be) done."""

    epoch: str
    key: str
    destroyed: list[str] = field(default_factory=list)  # destroyed records sealed to it last
    certificate: str | None = None  # the XH that destroyed the last of them
    # (code, why, detail): why one of HELD (detail: the holds), END (its end moved: detail
    # the new epoch's period), READERS (its readers changed), OPEN_RECORD (its end is not
    # known yet: it goes to a later year epoch)
    moved: list[tuple[str, str, str]] = field(default_factory=list)
    # (code, why, day): DUE (due that day, not destroyed yet) or NOT_DUE (due that day)
    waiting: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.waiting and bool(self.destroyed) and self.certificate is not None

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "key": self.key, "destroyed": self.destroyed,
                "certificate": self.certificate,
                "moved": [{"code": c, "why": w, "detail": d} for c, w, d in self.moved],
                "waiting": [{"code": c, "why": w, "due": d} for c, w, d in self.waiting]}


@dataclass
class KeptCopy:
    """A keyring backup that holds a shredded epoch: until it expires (and is deleted),
    restoring it would bring the epoch back."""

    path: Path
    expires: dt.datetime
    epochs: list[str]


@dataclass
class Shred:
    day: dt.date
    shredded: list[EpochShred]  # done (or, dry run, to be done)
    waiting: list[EpochShred]  # something of theirs is still in the vault
    untouched: list[EpochShred]  # nothing of theirs was destroyed
    swept: list[str]  # this clone's copies of epochs shredded before, deleted now
    commit: str | None
    backups: Path | None = None  # the directory whose keyring backups were looked at
    kept_copies: list[KeptCopy] = field(default_factory=list)
    dry_run: bool = False

    def reaches_every_copy(self, epoch: str) -> dt.datetime | None:
        """When the last keyring backup holding `epoch` expires (None: none holds it)."""
        ends = [c.expires for c in self.kept_copies if epoch in c.epochs]
        return max(ends) if ends else None

    def to_json(self) -> dict[str, Any]:
        def reach(e: EpochShred) -> str | None:
            when = self.reaches_every_copy(e.epoch)
            return when.isoformat().replace("+00:00", "Z") if when else None

        return {
            "day": self.day.isoformat(), "dry_run": self.dry_run, "commit": self.commit,
            "shredded": [{**e.to_json(), "last_keyring_backup_expires": reach(e)} for e in self.shredded],
            "waiting": [e.to_json() for e in self.waiting],
            "untouched": [e.epoch for e in self.untouched],
            "swept": self.swept,
            "backups": str(self.backups) if self.backups else None,
            "keyring_backups": [{"file": str(c.path), "expires": c.expires.isoformat().replace("+00:00", "Z"),
                                 "epochs": c.epochs} for c in self.kept_copies],
        }


def sweep(vault: Vault, epochs: Epochs) -> list[str]:
    """Delete this clone's keyring files of the epochs epochs.yaml says are shredded (a
    shred made in another clone, or one killed after its commit)."""
    keys = vault.epoch_keys
    gone = []
    for epoch in keys.held():
        entry = epochs.get(epoch)
        if entry is not None and not entry.live and keys.shred(epoch):
            gone.append(epoch)
    return gone


def _wrapped_epoch(doc: Mapping[str, Any], by_key: Mapping[str, str], by_digest: Mapping[str, str]) -> str | None:
    """The epoch (of those asked about) a record's data key or its attachments are sealed to."""
    block = doc.get("sops")
    if isinstance(block, Mapping):
        for entry in block.get("age") or []:
            if isinstance(entry, Mapping) and str(entry.get("recipient")) in by_key:
                return by_key[str(entry.get("recipient"))]
    for item in listed(doc):
        if str(item.get("recipients")) in by_digest:
            return by_digest[str(item.get("recipients"))]
    return None


def _mentions(data: bytes, needles: list[bytes]) -> bool:
    return any(n in data for n in needles)


@dataclass
class Plan:
    ready: list[EpochShred]
    waiting: list[EpochShred]
    untouched: list[EpochShred]
    moving: dict[str, Code]  # the records of the ready epochs to move first, by code
    blobs: dict[str, str]  # path -> committed blob of every record at HEAD


def plan(vault: Vault, at: dt.datetime) -> Plan:
    """The live year epochs whose year has begun by `at`: ready, waiting or untouched."""
    from dangan.services.retention import committed

    epochs = vault.epochs
    if epochs is None:
        raise DanganError(Message("this vault has no epochs (no epochs.yaml)"),
                          Message("`dangan keys migrate-epochs` makes them; destruction then removes records from the tip only"))
    day = at.astimezone(vault.tz).date()
    candidates = {e.id: EpochShred(e.id, e.key) for e in epochs.live()
                  if shreddable(e.id) and (not is_year(e.id) or int(e.id[:4]) <= day.year)}
    if not candidates:
        return Plan([], [], [], {}, {})
    by_key = {s.key: s.epoch for s in candidates.values()}
    by_digest = {recipients_digest([s.key]): s.epoch for s in candidates.values()}
    needles = [k.encode() for k in by_key] + [d.encode() for d in by_digest]

    state = committed(vault)
    keepers: Keepers | None = None
    moving: dict[str, Code] = {}
    blobs = {blob: (code, path) for code, path, blob in state.entries}
    for blob, data in gitio.cat_blobs(vault.root, list(blobs)):
        code, _path = blobs[blob]
        if code.category == DISPOSAL or not _mentions(data, needles):
            continue
        try:
            doc = load_text(decode(data))
        except YamlError:
            continue  # `dangan check` reports it
        epoch = _wrapped_epoch(doc, by_key, by_digest) if isinstance(doc, dict) else None
        if epoch is None:
            continue
        shred = candidates[epoch]
        category = vault.schemas.categories.get(code.category)
        level = category.level_of(doc) if category is not None else None
        names = [str(r.get("name")) for r in vault.recipients_for(code.category, level)]
        now = epoch_of(vault.config, code.category, doc, names)
        end = end_of(vault.config, code.category, doc)
        if not isinstance(end, dt.date):  # open (its end not known yet), or permanent now
            shred.moved.append((str(code), OPEN_RECORD if end == OPEN else END, str(end)))
            moving[str(code)] = code
            continue
        if now != epoch:
            if now.split(".", 1)[1] != epoch.split(".", 1)[1]:
                shred.moved.append((str(code), READERS, ""))
            else:
                shred.moved.append((str(code), END, now.split(".", 1)[0]))
            moving[str(code)] = code
            continue
        if keepers is None:
            keepers = state.keepers(vault.keyring)
        if keepers.holding(code):
            shred.moved.append((str(code), HELD, ", ".join(keepers.holding(code))))
            moving[str(code)] = code
            continue
        shred.waiting.append((str(code), DUE if end <= day else NOT_DUE, end.isoformat()))

    _destroyed(vault, state.entries, candidates, by_key, by_digest, needles)
    ready = [s for s in candidates.values() if s.ready]
    waiting = [s for s in candidates.values() if s.waiting]
    untouched = [s for s in candidates.values() if not s.waiting and not s.ready]
    keep = {c for s in ready for c, _, _ in s.moved}
    return Plan(ready, waiting, untouched, {c: v for c, v in moving.items() if c in keep},
                {path: blob for _, path, blob in state.entries})


def _destroyed(vault: Vault, entries: list[tuple[Code, str, str]], candidates: dict[str, EpochShred],
               by_key: Mapping[str, str], by_digest: Mapping[str, str], needles: list[bytes]) -> None:
    """Fill each candidate's destroyed records and certificate from the disposal
    certificates: a destroyed record belongs to every epoch that any version of it, in any
    commit of any ref, was sealed to (its last one is the item's `blob`; the earlier ones,
    sealed while it was open or before it was extended, are destroyed with it)."""
    certificates = [(code, blob) for code, _, blob in entries if code.category == DISPOSAL]
    trees = {}
    for blob, data in gitio.cat_blobs(vault.root, [b for _, b in certificates]):
        try:
            trees[blob] = load_text(decode(data))
        except YamlError:
            continue
    destroyed: dict[str, tuple[str, str, dt.datetime, str]] = {}  # path -> (code, certificate, when, blob)
    for code, blob in certificates:
        tree = trees.get(blob)
        if not isinstance(tree, dict):
            continue
        try:
            when = record_time(str(tree.get("destroyed_at")), vault.tz)
        except ValueError:
            continue
        for item in tree.get("items") or []:
            if isinstance(item, dict) and isinstance(item.get("code"), str) and isinstance(item.get("blob"), str):
                try:
                    path = parse_code(item["code"]).path
                except DanganError:
                    continue
                destroyed[path] = (item["code"], str(code), when, item["blob"])
    if not destroyed:
        return
    ever = gitio.blobs_ever_at(vault.root, sorted(destroyed))
    owner: dict[str, str] = {}  # blob -> path
    for path, blobs in ever.items():
        for blob in blobs | {destroyed[path][3]}:
            owner.setdefault(blob, path)
    try:
        found = list(gitio.cat_blobs(vault.root, sorted(owner)))
    except GitError as exc:  # an office's partial clone lacks the destroyed records' blobs
        raise DanganError(Message("the destroyed records' versions cannot be read here: {problem}", problem=str(exc)),
                          Message("shred in a full clone (git clone URL) or on the server")) from None
    latest: dict[str, dt.datetime] = {}
    for blob, data in found:
        if not _mentions(data, needles):
            continue
        try:
            doc = load_text(decode(data))
        except YamlError:
            continue
        epoch = _wrapped_epoch(doc, by_key, by_digest) if isinstance(doc, dict) else None
        if epoch is None:
            continue
        code, certificate, when, _last = destroyed[owner[blob]]
        shred = candidates[epoch]
        if code not in shred.destroyed:
            shred.destroyed.append(code)
        if epoch not in latest or when >= latest[epoch]:
            latest[epoch] = when
            shred.certificate = certificate
    for shred in candidates.values():
        shred.destroyed.sort()


def shred(vault: Vault, at: dt.datetime, by: str, *, backups: Path | None = None,
          dry_run: bool = False) -> Shred:
    """Shred every epoch that is ready as of `at` (module docstring), in one commit."""
    from dangan.services import attachments, records

    if not by.strip():
        raise DanganError(Message("name who carries out the shred (--by)"))
    with vault.lock():
        epochs = vault.epochs
        if epochs is None:
            raise DanganError(Message("this vault has no epochs (no epochs.yaml)"),
                              Message("`dangan keys migrate-epochs` makes them; destruction then removes records from the tip only"))
        swept = [] if dry_run else sweep(vault, epochs)
        found = plan(vault, at)
        ready = found.ready
        day = at.astimezone(vault.tz).date()
        result = Shred(day, ready, found.waiting, found.untouched, swept, None, dry_run=dry_run)
        if dry_run or not ready:
            return _with_backups(vault, result, backups)
        from dangan.services.retention import _uncommitted

        touched = [c.path for c in found.moving.values()] + [parse_code(s.certificate).path for s in ready
                                                               if s.certificate]
        changed = _uncommitted(vault, sorted(set(touched)), found.blobs)
        if changed or _differs(vault, EPOCHS):
            raise Refusal(Message("{path} has changes not committed; a shred commits what it reads",
                                  path=(changed or [EPOCHS])[0]),
                          Message("commit or undo them first (git status)"))
        xh = vault.schemas.categories.get(DISPOSAL)
        if xh is None or "shreds" not in _properties(vault, xh):
            from dangan.formats.resources import standard_dir

            raise Refusal(Message("this vault's schemas/XH.json has no `shreds`: it was written before dangan could shred"),
                          Message("copy {path} over it and commit that (a change of schemas/)",
                                  path=standard_dir("schemas") / "XH.json"))
        changes: dict[str, Any] = {}
        vault.shredding = {s.epoch for s in ready}
        vault.sealed_on = day  # an open record moved goes to the year of day + its keep
        try:
            for text, code in sorted(found.moving.items()):
                plain, rt = vault.read(code)
                stored = rt if rt is not None else plain  # round-trip: its comments stay
                category = vault.schemas.categories[code.category]
                level = category.level_of(plain)
                recipients = vault.sealing_keys(code.category, level, plain)
                new_doc: Any = stored
                if "sops" in stored:
                    try:
                        new_doc = sealing.reseal(stored, recipients, vault.keyring, True, text)
                    except sealing.NoKeyToOpen as exc:
                        raise Refusal(Message("{code} cannot be moved before the shred: {problem}",
                                              code=text, problem=exc.message),
                                      Message("shred with a key that opens it; nothing was done")) from None
                renewed, files = attachments.rewrap(vault, vault, code, new_doc, True)
                changes.update(files)
                changes[code.path] = vault.render(code.path, renewed if renewed is not None else new_doc)
            after = Epochs([Epoch(e.id, e.key, e.state, e.shredded, e.certificate)
                            for e in (vault.epochs or epochs).entries])
            by_certificate: dict[str, list[EpochShred]] = {}
            for s in ready:
                entry = after.get(s.epoch)
                assert entry is not None and s.certificate is not None
                entry.state, entry.shredded, entry.certificate = SHREDDED, day.isoformat(), s.certificate
                by_certificate.setdefault(s.certificate, []).append(s)
            for certificate, done in sorted(by_certificate.items()):
                code = parse_code(certificate)
                plain, _, stored = records.read_plain(vault, code)
                tree = dict(plain)
                tree["shreds"] = list(plain.get("shreds") or []) + [_event(s, at, by, vault) for s in done]
                sealed = records.prepare(vault, code, tree, previous=stored)
                changes[code.path] = vault.render(code.path, sealed)
            changes[EPOCHS] = after.render()
            label = ", ".join(s.epoch for s in ready)
            commit = attachments.transact(vault, changes, f"dangan keys shred: {label} "
                                          f"({', '.join(sorted(by_certificate))})")
        except BaseException:
            attachments.discard_temps(changes.values())
            raise
        finally:
            vault.shredding, vault.sealed_on = set(), None
        result.commit = commit
        vault.__dict__.pop("_epochs_file", None)
        keys = vault.epoch_keys
        for s in ready:  # after the commit: a kill here leaves what `sweep` finishes
            keys.shred(s.epoch)
        vault.keyring.forget()
        return _with_backups(vault, result, backups)


def _differs(vault: Vault, rel: str) -> bool:
    """Whether the work tree's or the index's `rel` differs from HEAD's."""
    from dangan.services.scan import blob_id

    committed = gitio.ls_tree(vault.root, "HEAD", [rel])
    staged = gitio.ls_files(vault.root, [rel])
    try:
        data: bytes | None = (vault.root / rel).read_bytes()
    except FileNotFoundError:
        data = None
    ids = {e.blob for e in committed} | {e.blob for e in staged} | ({blob_id(data)} if data is not None else set())
    return len(ids) > 1 or (data is None) != (not committed)


def _properties(vault: Vault, category: Any) -> Mapping[str, Any]:
    try:
        tree = load_text(decode((vault.root / "schemas" / category.schema).read_bytes()))
    except (OSError, YamlError):
        return {}
    props = tree.get("properties") if isinstance(tree, dict) else None
    return props if isinstance(props, dict) else {}


def _event(s: EpochShred, at: dt.datetime, by: str, vault: Vault) -> dict[str, Any]:
    event: dict[str, Any] = {"at": stamp(at, vault.tz), "by": by, "epoch": s.epoch, "key": s.key,
                             "records": list(s.destroyed)}
    if s.moved:
        event["moved"] = sorted(c for c, _, _ in s.moved)
    return event


def _with_backups(vault: Vault, result: Shred, backups: Path | None) -> Shred:
    """The keyring backups in `backups` (default: the vault's backup directory) that hold
    an epoch shredded now: the destruction reaches every copy when the last one expires."""
    from dangan.services import backup

    where = backups or backup.default_dest(vault.root)
    result.backups = where
    if not where.is_dir():
        return result
    wanted = {s.epoch for s in result.shredded}
    vault_id = str(vault.config.get("id") or "")
    for found in backup.keyring_backups(where, vault_id):
        held = sorted(wanted.intersection(found.epochs))
        if held:
            result.kept_copies.append(KeptCopy(found.path, found.expires, held))
    return result

