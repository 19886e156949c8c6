"""The epoch keys of a vault (crypto-shredding, docs/shredding.md, sections 2 and 3):
`epochs.yaml`, the public half, tracked; and the keyring, the secret half, never tracked.

- `epochs.yaml` at the vault's root lists each epoch: its id (`model.epochs`), its public
  key (an age X25519 recipient), its state (`live` or `shredded`) and, once shredded, the day
  and the disposal certificate (XH) that recorded it. A vault without the file has no epochs:
  records are sealed to people as before. `problems` is DG114 for it.
- The keyring: one file per epoch, `EPOCH.age` under `.git/dangan/keyring/` (inside the Git
  directory, so never tracked, never in a bundle), holding the epoch's identity
  (`AGE-SECRET-KEY-1...`) age-encrypted to the people who may read its records. Deleting the
  file (overwritten first: `EpochKeys.shred`) is what destroys the epoch.

The class is `EpochKeys`, not a keyring: `store.sealing.Keyring` is the user's identities.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan.errors import DanganError
from dangan.formats.yamlio import YamlError, decode, dump, load_text
from dangan.i18n import Message
from dangan.model.codes import CodeError, parse_code

# model.epochs (EPOCH_ID, shreddable) is imported by the functions that use it: it brings
# model.disposal (~3 ms), which a pre-commit hook never needs (the vault imports this module)

EPOCHS = "epochs.yaml"
KEYRING = "keyring"  # under .git/dangan/
LIVE, SHREDDED = "live", "shredded"
HEADER = ("# The vault's epochs (docs/format.md, epochs.yaml): written by dangan, the public half of\n"
          "# the keyring. The identities are never here: .git/dangan/keyring/ holds them.\n")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIELDS = {"id", "key", "state", "shredded", "certificate"}


@dataclass
class Epoch:
    """One entry of epochs.yaml."""

    id: str
    key: str  # the age1... recipient
    state: str = LIVE
    shredded: str | None = None  # YYYY-MM-DD
    certificate: str | None = None  # the XH code

    @property
    def live(self) -> bool:
        return self.state == LIVE

    def as_dict(self) -> dict[str, str]:
        out = {"id": self.id, "key": self.key, "state": self.state}
        if self.shredded is not None:
            out["shredded"] = self.shredded
        if self.certificate is not None:
            out["certificate"] = self.certificate
        return out


@dataclass
class Epochs:
    """epochs.yaml read: the entries in file order, by id."""

    entries: list[Epoch] = field(default_factory=list)

    def get(self, epoch: str) -> Epoch | None:
        return next((e for e in self.entries if e.id == epoch), None)

    def by_key(self, key: str) -> Epoch | None:
        return next((e for e in self.entries if e.key == key), None)

    def live(self) -> list[Epoch]:
        return [e for e in self.entries if e.live]

    def sealed_to(self, doc: Any) -> Epoch | None:
        """The one epoch a stored record is sealed to: the single recipient of its `sops`
        block, or, for a record without one, the single recipient set its attachments list
        (a live epoch's). None when it names none, several, or a key that is no epoch."""
        from dangan.model.layout import listed
        from dangan.store.attached import recipients_digest

        if not isinstance(doc, dict):
            return None
        block = doc.get("sops")
        if isinstance(block, dict):
            keys = {str(e.get("recipient")) for e in block.get("age") or [] if isinstance(e, dict)}
            return self.by_key(next(iter(keys))) if len(keys) == 1 else None
        digests = {str(i.get("recipients")) for i in listed(doc)}
        if len(digests) != 1:
            return None
        return next((e for e in self.live() if recipients_digest([e.key]) in digests), None)

    def add(self, epoch: Epoch) -> None:
        if self.get(epoch.id) is not None:
            raise ValueError(f"epoch {epoch.id} is already listed")
        self.entries.append(epoch)
        self.entries.sort(key=lambda e: e.id)

    def render(self) -> bytes:
        return (HEADER + dump({"epochs": [e.as_dict() for e in self.entries]})).encode("utf-8")


def problems(data: bytes) -> list[str]:
    """DG114 for epochs.yaml: what makes it unusable or contradictory. The messages start
    with the entry's place (`/epochs/3/key: ...`)."""
    try:
        tree = load_text(decode(data))
    except YamlError as exc:
        return [str(exc)]
    if not isinstance(tree, dict) or set(tree) != {"epochs"} or not isinstance(tree["epochs"], list):
        return ["/: expected one key, `epochs`, a list of epochs"]
    from dangan.formats import agekeys  # pyrage only when there is a file to judge
    from dangan.model.epochs import EPOCH_ID, shreddable

    found: list[str] = []
    ids: set[str] = set()
    keys: set[str] = set()
    for number, entry in enumerate(tree["epochs"]):
        where = f"/epochs/{number}"
        if not isinstance(entry, dict):
            found.append(f"{where}: expected a mapping with id, key and state")
            continue
        extra = sorted(set(entry) - _FIELDS)
        if extra:
            found.append(f"{where}: unknown field(s) {', '.join(map(str, extra))}")
        missing = [k for k in ("id", "key", "state") if k not in entry]
        if missing:
            found.append(f"{where}: missing {', '.join(missing)}")
        epoch, key, state = entry.get("id"), entry.get("key"), entry.get("state")
        if "id" in entry:
            if not (isinstance(epoch, str) and EPOCH_ID.fullmatch(epoch)):
                found.append(f"{where}/id: {epoch!r} is not an epoch id (YEAR.xxxxxxxx, open.xxxxxxxx "
                             "or permanent.xxxxxxxx)")
            elif epoch in ids:
                found.append(f"{where}/id: {epoch} is listed twice")
            else:
                ids.add(epoch)
        if "key" in entry:
            try:
                recipient = agekeys.parse_recipient(str(key)) if isinstance(key, str) else None
            except agekeys.IdentityError:
                recipient = None
            if recipient is None or recipient.kind != "x25519" or recipient.text != key:
                found.append(f"{where}/key: not an age X25519 recipient in lower case (age1...)")
            elif key in keys:
                found.append(f"{where}/key: the key of another epoch")
            else:
                keys.add(key)
        if "state" in entry and state not in (LIVE, SHREDDED):
            found.append(f"{where}/state: {state!r} is neither {LIVE} nor {SHREDDED}")
        if state == SHREDDED:
            if isinstance(epoch, str) and EPOCH_ID.fullmatch(epoch) and not shreddable(epoch):
                found.append(f"{where}: {epoch} is never shredded (a permanent epoch)")
            day = entry.get("shredded")
            if not (isinstance(day, str) and _DAY.fullmatch(day) and _valid_day(day)):
                found.append(f"{where}/shredded: a shredded epoch needs the day (YYYY-MM-DD)")
            if not _certificate(entry.get("certificate")):
                found.append(f"{where}/certificate: a shredded epoch needs the disposal certificate "
                             "(an XH code) that recorded it")
        elif state == LIVE and ("shredded" in entry or "certificate" in entry):
            found.append(f"{where}: a live epoch has no shredded day or certificate")
    return found


def transition_problems(old: bytes | None, new: bytes | None) -> list[str]:  # new None: deleted
    """DG114 for a change of epochs.yaml: it only grows. An epoch is never removed (the
    records of history name its key), its key never changes (a record sealed to the old one
    would be judged against another), and a shredded epoch never comes back live nor
    changes its day or certificate (its identity is gone: what would be sealed to it, no
    one could open). Either side unreadable: the file rule says so."""
    if new is None:
        return [f"{EPOCHS} was deleted; an epoch vault keeps it for ever (its records name its keys)"]
    if old is None or problems(old) or problems(new):
        return []
    before, after = parse(old), parse(new)
    found = []
    for entry in before.entries:
        now = after.get(entry.id)
        if now is None:
            found.append(f"epoch {entry.id} was removed; epochs are never removed")
        elif now.key != entry.key:
            found.append(f"epoch {entry.id}: its key was changed; an epoch's key never changes")
        elif not entry.live and (now.live or (now.shredded, now.certificate) != (entry.shredded, entry.certificate)):
            found.append(f"epoch {entry.id} was shredded on {entry.shredded}; it never comes back and its "
                         "record never changes")
    return found


def _valid_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _certificate(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return parse_code(value).category == "XH"
    except CodeError:
        return False


def parse(data: bytes) -> Epochs:
    """epochs.yaml as entries; a broken file is bad input (DG114 says what is wrong)."""
    found = problems(data)
    if found:
        raise DanganError(Message("{file}: {problem}", file=EPOCHS, problem=found[0]),
                          Message("`dangan check` lists its problems (DG114)"))
    tree = load_text(decode(data))
    return Epochs([Epoch(str(e["id"]), str(e["key"]), str(e["state"]),
                         e.get("shredded"), e.get("certificate")) for e in tree["epochs"]])


def load(root: Path) -> Epochs | None:
    """The work tree's epochs.yaml, or None when the vault has no epochs (the default)."""
    try:
        data = (root / EPOCHS).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DanganError(Message("{file}: {problem}", file=EPOCHS, problem=exc.strerror)) from None
    return parse(data)


@dataclass
class EpochKeys:
    """The keyring of one clone: `.git/dangan/keyring/EPOCH.age`, one file per epoch."""

    git_dir: Path

    @property
    def directory(self) -> Path:
        return self.git_dir / "dangan" / KEYRING

    def path(self, epoch: str) -> Path:
        from dangan.model.epochs import EPOCH_ID

        if not EPOCH_ID.fullmatch(epoch):
            raise ValueError(f"not an epoch id: {epoch!r}")
        return self.directory / f"{epoch}.age"

    def held(self) -> list[str]:
        """The epochs this clone's keyring has a file for, sorted."""
        from dangan.model.epochs import EPOCH_ID

        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(n[:-4] for n in names if n.endswith(".age") and EPOCH_ID.fullmatch(n[:-4]))

    def create(self, epoch: str, readers: Sequence[str]) -> tuple[str, str]:
        """A new epoch identity, encrypted to `readers` (age or SSH recipients) and written
        0600: (its public key, its secret). Refused when the epoch has a file already."""
        from dangan.formats import agekeys

        if not readers:
            raise DanganError(Message("epoch {epoch}: nobody to encrypt its identity to", epoch=epoch),
                              Message("vault.yaml gives its records no recipient"))
        target = self.path(epoch)
        if target.exists():
            raise DanganError(Message("epoch {epoch}: {path} exists already", epoch=epoch, path=target),
                              Message("an epoch identity is never replaced; `dangan check` says which is used"))
        secret, public = agekeys.generate_identity()
        self.write(epoch, secret, readers)
        return public, secret

    def write(self, epoch: str, secret: str, readers: Sequence[str]) -> None:
        """(Re)write an epoch's file: its identity encrypted to `readers` (adding or removing
        a person re-encrypts it; the identity stays)."""
        import pyrage

        from dangan.formats import agekeys
        from dangan.store.fsutil import write_atomic

        try:
            keys = [agekeys.parse_recipient(r).key for r in readers]
        except agekeys.IdentityError as exc:
            raise DanganError(Message("epoch {epoch}: {problem}", epoch=epoch, problem=exc)) from None
        data = pyrage.encrypt(f"{secret}\n".encode("ascii"), keys, armored=True)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.path(epoch), data, mode=0o600)

    def unlock(self, identities: Sequence[Any], only: Iterable[str] | None = None) -> dict[str, Any]:
        """epoch -> its identity, for every keyring file one of `identities` opens (the
        others are skipped: an epoch of records the user may not read)."""
        import pyrage

        from dangan.formats import agekeys

        wanted = set(only) if only is not None else None
        out: dict[str, Any] = {}
        if not identities:
            return out
        for epoch in self.held():
            if wanted is not None and epoch not in wanted:
                continue
            try:
                data = self.path(epoch).read_bytes()
                secret = pyrage.decrypt(data, list(identities)).decode("ascii")
                found = agekeys.load_identities(secret, f"{KEYRING}/{epoch}.age")
            except (OSError, pyrage.DecryptError, UnicodeDecodeError, agekeys.IdentityError):
                continue
            out[epoch] = found[0]
        return out

    def shred(self, epoch: str) -> bool:
        """Destroy an epoch's file: overwritten with random bytes, synced, then unlinked
        (`fsutil.shred`; on a journaling or copy-on-write file system the overwrite may land
        elsewhere, the unlink is what dangan can promise). False when absent."""
        from dangan.store.fsutil import shred

        return shred(self.path(epoch))
