"""Keyring backups (docs/format.md §7d, docs/backup.md "Keyring backups"): an epoch vault's
keyring, the secret half that Git never carries, written beside a backup bundle with a stated
expiry.

`NAME-STAMP.keyring.json` beside `NAME-STAMP.bundle`, one JSON object:

    {"format": "dangan-keyring-backup 1", "vault_id": ..., "bundle": "NAME-STAMP.bundle",
     "created": "2026-12-06T22:00:16Z", "expires": "2027-03-06T22:00:16Z",
     "epochs": {"2027.3f9a2c1e": "-----BEGIN AGE ENCRYPTED FILE-----\\n..."}}

Each epoch's value is the text of its `.git/dangan/keyring/EPOCH.age` byte for byte (armored
age, ASCII, already encrypted to its readers), so the file opens nothing without a reader's
key, and a restore writes back exactly the file that was backed up. The expiry is what makes
a shred reach the backups: once the last keyring backup holding an epoch has expired and been
deleted, nothing the company keeps opens that epoch's records.

Pure: bytes in, bytes out; the caller reads, writes and deletes the files.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan.errors import DanganError
from dangan.i18n import Message
from dangan.model.disposal import add_duration, valid_duration
from dangan.model.epochs import EPOCH_ID

FORMAT = "dangan-keyring-backup 1"
SUFFIX = ".keyring.json"
DEFAULT_KEEP = "P90D"  # vault.yaml keyring_backups.keep when absent
ARMOR = "-----BEGIN AGE ENCRYPTED FILE-----"
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_FIELDS = ("format", "vault_id", "bundle", "created", "expires", "epochs")


class KeyringBackupError(DanganError):
    """A keyring backup file that cannot be used; the message says what is wrong with it."""


def path_for(bundle: Path) -> Path:
    """The keyring backup beside a bundle: the same stem, `.keyring.json`."""
    return bundle.with_name(bundle.name.removesuffix(".bundle") + SUFFIX)


def bundle_name(name: str) -> str:
    """The bundle a keyring backup's file name stands beside."""
    return name.removesuffix(SUFFIX) + ".bundle"


def stamp(moment: dt.datetime) -> str:
    """UTC, whole seconds, `Z`: how the file writes its times."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def keep_of(config: Any) -> str:
    """vault.yaml `keyring_backups.keep` (an ISO 8601 duration), P90D when absent. A value
    that is no duration is bad input: a backup must not be written with an expiry nobody
    meant (`dangan check` reports it too: DG114)."""
    section = config.get("keyring_backups") if isinstance(config, dict) else None
    keep = section.get("keep", DEFAULT_KEEP) if isinstance(section, dict) else DEFAULT_KEEP
    if not isinstance(keep, str) or not valid_duration(keep):
        raise DanganError(Message("vault.yaml keyring_backups.keep: {value} is not an ISO 8601 duration like P90D",
                                  value=repr(keep)),
                          Message("set it to how long a keyring backup may be kept, e.g. P90D"))
    return keep


def expiry(created: dt.datetime, keep: str) -> dt.datetime:
    """`created` + `keep`, counted in UTC calendar days (model.disposal.add_duration: a month
    without the day ends on its last day), at the same time of day."""
    created = created.astimezone(dt.UTC)
    day = add_duration(created.date(), keep)
    if day == dt.date.max:
        return dt.datetime.max.replace(tzinfo=dt.UTC)
    return dt.datetime.combine(day, created.timetz())


@dataclass
class KeyringFile:
    """A keyring backup as the file holds it."""

    vault_id: str
    bundle: str
    created: dt.datetime  # UTC, aware
    expires: dt.datetime  # UTC, aware
    epochs: dict[str, str] = field(default_factory=dict)  # epoch id -> its EPOCH.age text

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires

    def render(self) -> bytes:
        doc = {"format": FORMAT, "vault_id": self.vault_id, "bundle": self.bundle,
               "created": stamp(self.created), "expires": stamp(self.expires),
               "epochs": dict(sorted(self.epochs.items()))}
        return (json.dumps(doc, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def _problem(where: str, problem: Message) -> KeyringBackupError:
    return KeyringBackupError(Message("{file}: {problem}", file=where, problem=problem),
                              Message("a keyring backup is written by `dangan backup create`; "
                                      "see docs/format.md §7d"))


def _time(doc: dict[str, Any], key: str, where: str) -> dt.datetime:
    value = doc.get(key)
    if not (isinstance(value, str) and _TIME.fullmatch(value)):
        raise _problem(where, Message("{key} is not a UTC time like 2026-12-06T22:00:16Z", key=key))
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise _problem(where, Message("{key} is not a UTC time like 2026-12-06T22:00:16Z", key=key)) from None


def parse(data: bytes, where: str) -> KeyringFile:
    """A keyring backup's bytes; KeyringBackupError names the first thing wrong (`where` is
    the file's name, for the message)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _problem(where, Message("not readable JSON")) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _problem(where, Message("not a dangan keyring backup ({format})", format=FORMAT))
    extra = sorted(set(doc) - set(_FIELDS))
    if extra:
        raise _problem(where, Message("unknown field(s) {fields}", fields=", ".join(extra)))
    for key in ("vault_id", "bundle"):
        if not (isinstance(doc.get(key), str) and doc[key]):
            raise _problem(where, Message("{key} is missing or empty", key=key))
    if not doc["bundle"].endswith(".bundle") or "/" in doc["bundle"]:
        raise _problem(where, Message("bundle is not a bundle's file name"))
    created, expires = _time(doc, "created", where), _time(doc, "expires", where)
    if expires < created:
        raise _problem(where, Message("it expires before it was created"))
    epochs = doc.get("epochs")
    if not isinstance(epochs, dict):
        raise _problem(where, Message("epochs is not a mapping of epoch ids to keyring files"))
    for epoch, text in epochs.items():
        if not EPOCH_ID.fullmatch(epoch):
            raise _problem(where, Message("{epoch} is not an epoch id", epoch=repr(epoch)))
        if not (isinstance(text, str) and text.isascii() and text.startswith(ARMOR)):
            raise _problem(where, Message("epoch {epoch} is not an armored age file", epoch=epoch))
    return KeyringFile(doc["vault_id"], doc["bundle"], created, expires, dict(epochs))
