"""age identities (private keys) and recipients (public keys) for dangan.

dangan uses the same key files as sops and age, so one key serves both tools:
age X25519 keys files (as written by ``age-keygen``) and OpenSSH ed25519/RSA keys.
All cryptography is pyrage's; this module only finds, parses and checks key files.

Error messages name files and line numbers, never key material.
"""
from __future__ import annotations

import datetime as _dt
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import pyrage

# What pyrage.decrypt accepts as an identity.
Identity: TypeAlias = pyrage.x25519.Identity | pyrage.ssh.Identity

_SSH_KINDS = ("ssh-ed25519", "ssh-rsa")


class IdentityError(Exception):
    """A key file or key string that cannot be used; the message says what to do."""


class NoIdentity(IdentityError):
    """No identity anywhere dangan looks: not a refusal, a user without a key."""


def default_keys_file(env: Mapping[str, str], home: Path) -> Path:
    """sops's default keys file: ``$XDG_CONFIG_HOME/sops/age/keys.txt``, or under
    ``~/.config`` when that is unset or empty (Go's os.UserConfigDir, which sops uses; a
    relative XDG_CONFIG_HOME is refused by Go, and ignored here for the same file)."""
    xdg = env.get("XDG_CONFIG_HOME") or ""
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return base / "sops" / "age" / "keys.txt"


@dataclass(frozen=True)
class Recipient:
    """A validated public key. ``text`` is the canonical form stored in ``sops.age``."""

    text: str
    kind: str  # "x25519", "ssh-ed25519" or "ssh-rsa"
    key: Any = field(compare=False, repr=False)  # the pyrage recipient object


def parse_recipient(s: str) -> Recipient:
    """Validate an ``age1...`` X25519 recipient or an ``ssh-ed25519``/``ssh-rsa`` public key.

    The SSH comment (often a name or e-mail address) is dropped from the canonical text:
    it is not part of the key and would otherwise be copied into every record.
    """
    text = s.strip()
    if text.lower().startswith("age1"):
        # Bech32 is case-insensitive but age and sops print lower case.
        canonical = text.lower()
        try:
            key = pyrage.x25519.Recipient.from_str(canonical)
        except pyrage.RecipientError as exc:
            raise IdentityError(f"not a valid age recipient ({exc}): {_clip(text)}") from None
        return Recipient(canonical, "x25519", key)
    parts = text.split()
    if len(parts) >= 2 and parts[0] in _SSH_KINDS:
        canonical = f"{parts[0]} {parts[1]}"
        try:
            key = pyrage.ssh.Recipient.from_str(canonical)
        except pyrage.RecipientError:
            raise IdentityError(f"not a valid {parts[0]} public key: {_clip(text)}") from None
        return Recipient(canonical, parts[0], key)
    raise IdentityError(
        f"unknown recipient {_clip(text)!r}: expected age1..., ssh-ed25519 ... or ssh-rsa ..."
    )


def _clip(text: str, width: int = 40) -> str:
    # Public keys are not secret, but a pasted private key must never be echoed whole.
    if "SECRET" in text.upper() or "PRIVATE" in text.upper():
        return "<private key material>"
    return text if len(text) <= width else text[:width] + "..."


def generate_identity() -> tuple[str, str]:
    """A new X25519 identity: (``AGE-SECRET-KEY-1...``, ``age1...``)."""
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def write_identity_file(path: Path, secret: str, public: str) -> None:
    """Append a key to an age keys file the way age-keygen writes it, creating it 0600.

    Appending, never truncating: a keys file often holds several keys, and overwriting one
    loses every record encrypted to it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    created = _dt.datetime.now().astimezone().replace(microsecond=0).isoformat()
    block = f"# created: {created}\n# public key: {public}\n{secret}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        st = os.fstat(fd)
        if _too_open(st.st_mode):
            raise IdentityError(_perm_message(path, st.st_mode))
        if st.st_size > 0:
            with open(path, "rb") as existing:
                existing.seek(-1, os.SEEK_END)
                if existing.read(1) != b"\n":
                    block = "\n" + block
        os.write(fd, block.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def load_identities(text: str, source: str = "<key>") -> list[Identity]:
    """Parse an age keys file (comments, blank lines, several keys) or an OpenSSH private key."""
    if "-----BEGIN" in text:
        try:
            return [pyrage.ssh.Identity.from_buffer(text.encode("utf-8"))]
        except pyrage.IdentityError as exc:
            if "decrypted" in str(exc):
                raise IdentityError(
                    f"{source}: passphrase-protected SSH keys are not supported; "
                    "use an age key (age-keygen) or an unprotected key"
                ) from None
            raise IdentityError(f"{source}: not a usable SSH private key ({exc})") from None
    identities: list[Identity] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("AGE-PLUGIN-"):
            raise IdentityError(
                f"{source}, line {number}: age plugin identities are not supported"
            )
        if not line.startswith("AGE-SECRET-KEY-1"):
            raise IdentityError(
                f"{source}, line {number}: not an age identity (AGE-SECRET-KEY-1...)"
            )
        try:
            identities.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise IdentityError(f"{source}, line {number}: malformed age identity") from None
    if not identities:
        raise IdentityError(f"{source}: no identity found")
    return identities


def read_identity_file(path: Path) -> list[Identity]:
    """Load identities from a file, refusing one that group or others can access."""
    path = Path(path)
    try:
        st = path.stat()
        if _too_open(st.st_mode):
            raise IdentityError(_perm_message(path, st.st_mode))
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IdentityError(f"cannot read identity file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise IdentityError(f"identity file {path} is not UTF-8 text") from None
    return load_identities(text, str(path))


def find_identities(explicit: Path | None, env: Mapping[str, str], home: Path) -> list[Identity]:
    """The identities to try, in order.

    ``--identity FILE`` alone when given (like ``age -i``). Otherwise every source that
    exists, in this order: ``DANGAN_AGE_KEY_FILE``, ``SOPS_AGE_KEY_FILE``, ``SOPS_AGE_KEY``
    (the key itself), ``$XDG_CONFIG_HOME/sops/age/keys.txt`` (default
    ``~/.config/sops/age/keys.txt``), ``SOPS_AGE_SSH_PRIVATE_KEY_FILE``,
    ``~/.ssh/id_ed25519``, ``~/.ssh/id_rsa`` — what sops 3.11 reads (age/keysource.go;
    sops tries them all, so the order only decides which is tried first), so one key serves
    both tools. A file named by the user must exist; default locations are skipped when
    absent, and a default SSH key protected by a passphrase is skipped (it may serve ssh
    alone). The ``*_CMD`` variables of sops (a command that prints a key) are not run.
    """
    if explicit is not None:
        return read_identity_file(explicit)
    found: list[Identity] = []
    for var in ("DANGAN_AGE_KEY_FILE", "SOPS_AGE_KEY_FILE"):
        if env.get(var):
            path = Path(env[var]).expanduser()
            if not path.exists():
                raise IdentityError(f"{var} names {path}, which does not exist")
            found += read_identity_file(path)
    if env.get("SOPS_AGE_KEY"):
        found += load_identities(env["SOPS_AGE_KEY"], "SOPS_AGE_KEY")
    default = default_keys_file(env, home)
    if default.exists():
        found += read_identity_file(default)
    if env.get("SOPS_AGE_SSH_PRIVATE_KEY_FILE"):
        path = Path(env["SOPS_AGE_SSH_PRIVATE_KEY_FILE"]).expanduser()
        if not path.exists():
            raise IdentityError(f"SOPS_AGE_SSH_PRIVATE_KEY_FILE names {path}, which does not exist")
        found += read_identity_file(path)
    for name in ("id_ed25519", "id_rsa"):
        path = home / ".ssh" / name
        if path.exists():
            try:
                found += read_identity_file(path)
            except IdentityError as exc:
                if "passphrase" not in str(exc):
                    raise
    if not found:
        raise NoIdentity(
            "no identity found: pass --identity FILE, set SOPS_AGE_KEY_FILE, "
            f"or create {default} (dangan keys generate)"
        )
    return found


def _too_open(mode: int) -> bool:
    # The same rule as OpenSSH: a private key must be accessible to its owner only.
    return os.name == "posix" and bool(stat.S_IMODE(mode) & 0o077)


def _perm_message(path: Path, mode: int) -> str:
    return (
        f"identity file {path} is accessible by group or others "
        f"(mode {stat.S_IMODE(mode):04o}); fix it with: chmod 600 {path}"
    )


# ------------------------------------------------------------------- age file headers

_AGE_MAGIC = b"age-encryption.org/v1\n"
_ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"


def header_stanzas(head: bytes) -> list[list[str]] | None:
    """The recipient stanzas' first lines (``["X25519", share]``, ``["ssh-ed25519", tag,
    share]``...) of an age file whose first bytes are `head` (binary or armored), or None
    when `head` does not hold a whole age header. Bodies and the header MAC are skipped:
    the payload's authentication is the decryption's business. A grease stanza (a type
    ending in `-grease`, which rage adds to some headers so that readers keep skipping what
    they do not know) names no recipient and is left out."""
    if head.startswith(_ARMOR_BEGIN):
        import base64
        import binascii

        lines = head.split(b"\n")[1:]
        text = b"".join(line.strip() for line in lines[: len(lines) - 1] if not line.startswith(b"-----END"))
        try:
            head = base64.b64decode(text[: len(text) - len(text) % 4])
        except (binascii.Error, ValueError):
            return None
    if not head.startswith(_AGE_MAGIC):
        return None
    lines = head[len(_AGE_MAGIC):].split(b"\n")
    stanzas: list[list[str]] = []
    i = 0
    while i < len(lines) - 1:  # the last piece may be cut short
        line = lines[i]
        if line.startswith(b"---"):
            return stanzas
        if not line.startswith(b"-> "):
            return None
        stanza = line[3:].decode("ascii", "replace").split()
        if not (stanza and stanza[0].endswith("-grease")):
            stanzas.append(stanza)  # rage adds a random `*-grease` stanza, which readers skip
        i += 1
        while i < len(lines) - 1 and len(lines[i]) == 64:  # full body lines; a short one ends it
            i += 1
        i += 1
    return None


def stanza_of(recipient: Recipient) -> list[str]:
    """What an age header shows of a stanza for `recipient`: its type, and for an SSH key
    the tag (the first 4 bytes of the SHA-256 of the key, as age's agessh computes it). An
    X25519 stanza shows nothing of its recipient: only its type can be compared."""
    if recipient.kind == "x25519":
        return ["X25519"]
    import base64
    import hashlib

    wire = base64.b64decode(recipient.text.split()[1])
    tag = base64.b64encode(hashlib.sha256(wire).digest()[:4]).decode().rstrip("=")
    return [recipient.kind, tag]
