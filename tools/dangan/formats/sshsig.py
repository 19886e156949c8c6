"""SSH signatures (OpenSSH PROTOCOL.sshsig) and the signature header of git commits.

This is the format `ssh-keygen -Y sign` writes and git uses for commit signatures with
``gpg.format=ssh``. dangan reads and writes it itself so that the pre-receive hook can verify
every pushed commit without starting ``ssh-keygen`` once per commit, and so that dangan can
sign without ``ssh-keygen`` being installed. Accepted keys: ``ssh-ed25519`` and ``ssh-rsa``
of at least 2048 bits (signatures ``rsa-sha2-512`` or ``rsa-sha2-256``, never SHA-1).

Parsing, fingerprints and the commit header are the standard library alone; ``cryptography``
is imported inside the functions that sign or verify, so a hook that imports this module and
meets no signature pays nothing for it.

Error messages name what is wrong, never key material.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from typing import Any

_MAGIC = b"SSHSIG"
_VERSION = 1
_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_END = "-----END SSH SIGNATURE-----"
_WRAP = 70  # ssh-keygen's line width inside the armor
_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
_RSA_MIN_BITS = 2048
_RSA_SIG_HASHES = ("rsa-sha2-512", "rsa-sha2-256")

_KEY_HINT = "use an ssh-ed25519 key (ssh-keygen -t ed25519) or ssh-rsa of 3072 bits"
_AGENT_HINT = (
    "for a key protected by a passphrase, let git sign through ssh-agent: git config "
    "gpg.format ssh; git config user.signingKey ~/.ssh/id_ed25519.pub; git config commit.gpgSign true"
)

# git's commit header that holds the signature (SHA-1 repositories), and the prefix every
# signature header shares (`gpgsig-sha256` in SHA-256 repositories): see git's commit.c
_SIG_HEADER = b"gpgsig"
_COMMIT_NAMESPACE = "git"  # the namespace git signs commits in


class SignatureError(ValueError):
    """A key or signature that cannot be used: a one-line message, and `hint` (or None)
    saying what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# ------------------------------------------------------------------ SSH wire encoding


class _Reader:
    """The SSH wire format (RFC 4251, section 5): uint32 lengths, strings, mpints."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise SignatureError(f"{self.what} is truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def string(self) -> bytes:
        return self.take(self.uint32())

    def text(self) -> str:
        raw = self.string()
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise SignatureError(f"{self.what} holds a name that is not ASCII") from None

    def mpint(self) -> int:
        raw = self.string()
        if raw and raw[0] & 0x80:
            raise SignatureError(f"{self.what} holds a negative number")
        return int.from_bytes(raw, "big")

    def end(self) -> None:
        if self.pos != len(self.data):
            raise SignatureError(f"{self.what} has {len(self.data) - self.pos} bytes too many")


def _string(data: bytes | str) -> bytes:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return struct.pack(">I", len(raw)) + raw


def _mpint(value: int) -> bytes:
    # positive, big-endian, minimal, with a leading zero byte when the high bit is set
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b""
    return _string(raw)


# ------------------------------------------------------------------ public keys


@dataclass(frozen=True)
class PublicKey:
    """An SSH public key: its algorithm name and its wire encoding (`blob`, what the base64 of
    an authorized_keys line decodes to). Equal when both are."""

    algo: str  # "ssh-ed25519" or "ssh-rsa"
    blob: bytes

    def fingerprint(self) -> str:
        """``SHA256:...`` as ``ssh-keygen -lf`` prints it (base64 without padding)."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")

    def line(self) -> str:
        """``ssh-ed25519 AAAA...``: the key as an authorized_keys line, without a comment."""
        return f"{self.algo} {base64.b64encode(self.blob).decode('ascii')}"

    def _crypto_key(self) -> Any:
        """The key as a `cryptography` object (imported here: only signing and verifying
        need it)."""
        fields = _key_fields(self.blob, self.algo)
        if self.algo == "ssh-ed25519":
            from cryptography.hazmat.primitives.asymmetric import ed25519

            return ed25519.Ed25519PublicKey.from_public_bytes(fields[0])
        from cryptography.hazmat.primitives.asymmetric import rsa

        e, n = fields
        return rsa.RSAPublicNumbers(e, n).public_key()


def _key_fields(blob: bytes, algo: str | None = None) -> tuple[Any, ...]:
    """Check a public key blob and return its fields: (raw 32 bytes,) for ed25519, (e, n) for
    RSA. `algo` is the name the blob must carry (the prefix of the line it came from)."""
    reader = _Reader(blob, "the public key")
    inner = reader.text()
    if algo is not None and inner != algo:
        raise SignatureError(
            f"the public key says {algo!r} but its data is a {inner!r} key", _KEY_HINT
        )
    if inner == "ssh-ed25519":
        raw = reader.string()
        reader.end()
        if len(raw) != 32:
            raise SignatureError(f"an ssh-ed25519 key has 32 bytes, not {len(raw)}")
        return (raw,)
    if inner == "ssh-rsa":
        e = reader.mpint()
        n = reader.mpint()
        reader.end()
        if e < 3 or e % 2 == 0:
            raise SignatureError("the ssh-rsa key has an invalid public exponent")
        if n.bit_length() < _RSA_MIN_BITS:
            raise SignatureError(
                f"the ssh-rsa key has {n.bit_length()} bits, fewer than {_RSA_MIN_BITS}",
                "make a new key: ssh-keygen -t ed25519 (or -t rsa -b 3072)",
            )
        return (e, n)
    raise SignatureError(f"unsupported key type {_clip(inner)!r}", _KEY_HINT)


def _key_from_blob(blob: bytes, algo: str | None = None) -> PublicKey:
    _key_fields(blob, algo)
    return PublicKey(_Reader(blob, "the public key").text(), blob)


def parse_public_key(text: str) -> PublicKey:
    """``ssh-ed25519 AAAA... [comment]`` or ``ssh-rsa AAAA... [comment]`` (a line of
    authorized_keys or a ``.pub`` file). Other key types (ecdsa, security keys), RSA keys
    below 2048 bits and anything malformed are a SignatureError."""
    parts = text.strip().split()
    if len(parts) < 2:
        raise SignatureError(
            f"not an SSH public key: {_clip(text.strip())!r}",
            "give a line like 'ssh-ed25519 AAAA... comment' (the contents of a .pub file)",
        )
    algo, data = parts[0], parts[1]
    if algo not in ("ssh-ed25519", "ssh-rsa"):
        raise SignatureError(f"unsupported key type {_clip(algo)!r}", _KEY_HINT)
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"the {algo} public key is not valid base64") from None
    return _key_from_blob(blob, algo)


def _clip(text: str, width: int = 40) -> str:
    # Public keys are not secret, but a pasted private key must never be echoed whole.
    if "PRIVATE" in text.upper():
        return "<private key material>"
    return text if len(text) <= width else text[:width] + "..."


# ------------------------------------------------------------------ private keys


class PrivateKey:
    """An unencrypted ed25519 or RSA private key that signs (``sign_raw``)."""

    def __init__(self, key: Any, public: PublicKey) -> None:
        self._key = key  # the cryptography private key object
        self.public = public

    def sign_raw(self, data: bytes) -> tuple[str, bytes]:
        """Sign `data` as SSH does: (signature algorithm, signature bytes) — ``ssh-ed25519``,
        or ``rsa-sha2-512`` (PKCS#1 v1.5 with SHA-512) for RSA."""
        if self.public.algo == "ssh-ed25519":
            return "ssh-ed25519", self._key.sign(data)
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return "rsa-sha2-512", self._key.sign(data, padding.PKCS1v15(), hashes.SHA512())

    def __repr__(self) -> str:  # never the key material
        return f"PrivateKey({self.public.algo} {self.public.fingerprint()})"


_PRIVATE_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_PRIVATE_END = "-----END OPENSSH PRIVATE KEY-----"


def load_private_key(data: bytes, path_for_messages: str = "") -> PrivateKey:
    """An unencrypted OpenSSH private key (``ssh-keygen -t ed25519 -N ''``, or ``-t rsa -b
    3072 -N ''``). A key with a passphrase is refused with a hint to let git sign through
    ssh-agent instead; other formats and key types are refused too."""
    where = f"{path_for_messages}: " if path_for_messages else ""
    text = data.decode("ascii", "replace").strip()
    if not (text.startswith(_PRIVATE_BEGIN) and text.endswith(_PRIVATE_END)):
        raise SignatureError(
            f"{where}not an OpenSSH private key",
            "give a key in the format ssh-keygen writes (-----BEGIN OPENSSH PRIVATE KEY-----); "
            "ssh-keygen -p -f FILE rewrites an older one in it",
        )
    body = "".join(text[len(_PRIVATE_BEGIN):-len(_PRIVATE_END)].split())
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{where}the private key is not valid base64") from None
    # openssh-key-v1: magic, ciphername, kdfname, kdfoptions, number of keys, public key...
    if not raw.startswith(b"openssh-key-v1\0"):
        raise SignatureError(f"{where}not an openssh-key-v1 private key")
    reader = _Reader(raw[len(b"openssh-key-v1\0"):], f"{where}the private key")
    cipher = reader.text()
    if cipher != "none":
        raise SignatureError(f"{where}the private key is protected by a passphrase", _AGENT_HINT)
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    try:
        key = serialization.load_ssh_private_key(data, password=None)
    except UnsupportedAlgorithm as exc:  # a key type cryptography does not know
        raise SignatureError(f"{where}unsupported private key ({exc})", _KEY_HINT) from None
    except (ValueError, TypeError) as exc:
        # cryptography's messages describe the format, never the key
        raise SignatureError(f"{where}unreadable private key ({exc})") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw_pub = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        blob = _string("ssh-ed25519") + _string(raw_pub)
    elif isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        blob = _string("ssh-rsa") + _mpint(numbers.e) + _mpint(numbers.n)
    else:
        raise SignatureError(f"{where}unsupported private key type", _KEY_HINT)
    try:
        public = _key_from_blob(blob)
    except SignatureError as exc:  # an RSA key too short
        raise SignatureError(where + exc.message, exc.hint) from None
    return PrivateKey(key, public)


# ------------------------------------------------------------------ signatures


def _signed_data(namespace: str, hash_name: str, message: bytes) -> bytes:
    """What the key signs (PROTOCOL.sshsig): the magic, the namespace, an empty reserved
    string, the hash name and the hash of the message."""
    digest = _HASHES[hash_name](message).digest()
    return _MAGIC + _string(namespace) + _string(b"") + _string(hash_name) + _string(digest)


def _check_namespace(namespace: str) -> None:
    if not namespace:
        raise SignatureError("the signature namespace is empty")


def sign(key: PrivateKey, message: bytes, namespace: str = "git") -> str:
    """The armored SSH signature of `message`, byte for byte what ``ssh-keygen -Y sign -n
    NAMESPACE`` writes (hash sha512; an ed25519 signature is deterministic, so the same)."""
    _check_namespace(namespace)
    sig_algo, sig = key.sign_raw(_signed_data(namespace, "sha512", message))
    blob = (
        _MAGIC + struct.pack(">I", _VERSION) + _string(key.public.blob) + _string(namespace)
        + _string(b"") + _string("sha512") + _string(_string(sig_algo) + _string(sig))
    )
    b64 = base64.b64encode(blob).decode("ascii")
    lines = [b64[i:i + _WRAP] for i in range(0, len(b64), _WRAP)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"


def _dearmor(armored: str) -> bytes:
    text = armored.strip()
    if not text.startswith(_BEGIN):
        raise SignatureError("not an SSH signature (no -----BEGIN SSH SIGNATURE----- line)")
    if not text.endswith(_END):
        raise SignatureError("the SSH signature is truncated (no -----END SSH SIGNATURE----- line)")
    body = "".join(text[len(_BEGIN):-len(_END)].split())
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the SSH signature is not valid base64") from None


def verify(armored: str, message: bytes, namespace: str = "git") -> PublicKey:
    """The key that made `armored`, a valid SSH signature of `message` in `namespace`; a
    SignatureError saying why otherwise. The key is not judged here: whether it may sign is
    the caller's question."""
    _check_namespace(namespace)
    reader = _Reader(_dearmor(armored), "the SSH signature")
    if reader.take(6) != _MAGIC:
        raise SignatureError("not an SSH signature (wrong magic)")
    version = reader.uint32()
    if version != _VERSION:
        raise SignatureError(f"unsupported SSH signature version {version}")
    key_blob = reader.string()
    sig_namespace = reader.string()
    reader.string()  # reserved: ignored, as ssh-keygen does (it is not signed)
    hash_name = reader.text()
    sig_blob = reader.string()
    reader.end()
    if sig_namespace != namespace.encode("utf-8"):
        shown = sig_namespace.decode("utf-8", "replace")
        raise SignatureError(f"the signature is for namespace {_clip(shown)!r}, not {namespace!r}")
    if hash_name not in _HASHES:
        raise SignatureError(f"unsupported signature hash {_clip(hash_name)!r}")
    key = _key_from_blob(key_blob)
    sig_reader = _Reader(sig_blob, "the signature")
    sig_algo = sig_reader.text()
    sig = sig_reader.string()
    sig_reader.end()
    data = _signed_data(namespace, hash_name, message)
    if not _valid(key, sig_algo, sig, data):
        raise SignatureError(f"the signature does not verify (key {key.fingerprint()})")
    return key


def _valid(key: PublicKey, sig_algo: str, sig: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    crypto_key = key._crypto_key()
    try:
        if key.algo == "ssh-ed25519":
            if sig_algo != "ssh-ed25519":
                raise SignatureError(f"an ssh-ed25519 key with a {_clip(sig_algo)!r} signature")
            if len(sig) != 64:
                return False
            crypto_key.verify(sig, data)
            return True
        if sig_algo == "ssh-rsa":
            raise SignatureError(
                "the RSA signature uses SHA-1 (ssh-rsa), which is refused",
                "sign again with a current ssh-keygen (it writes rsa-sha2-512)",
            )
        if sig_algo not in _RSA_SIG_HASHES:
            raise SignatureError(f"an ssh-rsa key with a {_clip(sig_algo)!r} signature")
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        size = (crypto_key.key_size + 7) // 8
        if len(sig) > size:
            return False
        # OpenSSH accepts a signature shorter than the modulus (leading zeros dropped)
        sig = sig.rjust(size, b"\0")
        digest = hashes.SHA512() if sig_algo == "rsa-sha2-512" else hashes.SHA256()
        crypto_key.verify(sig, data, padding.PKCS1v15(), digest)
        return True
    except InvalidSignature:
        return False


# ------------------------------------------------------------------ git commits


def split_commit(raw: bytes) -> tuple[bytes, str | None]:
    """A raw commit object (what ``git cat-file commit X`` prints) → (the payload git signs,
    the armored signature or None).

    The payload is the object without its ``gpgsig`` header and that header's continuation
    lines, and without any other header that starts with ``gpgsig`` (``gpgsig-sha256``); the
    signature is the ``gpgsig`` header's value with the one space that starts each
    continuation line removed. This follows git's parse_buffer_signed_by_header (commit.c)
    line for line, so the payload is exactly the bytes git verifies.
    """
    payload: list[bytes] = []
    signature: list[bytes] = []
    in_signature = saw_signature = other_signature = False
    prefix = _SIG_HEADER + b" "
    pos, tail = 0, len(raw)
    while pos < tail:
        nl = raw.find(b"\n", pos)
        nxt = nl + 1 if nl >= 0 else tail
        line = raw[pos:nxt]
        sig: bytes | None = None
        if in_signature and line.startswith(b" "):
            sig = line[1:]
        elif line.startswith(prefix):
            sig = line[len(prefix):]
            other_signature = False
        elif line.startswith(_SIG_HEADER):
            other_signature = True
        elif other_signature and not line.startswith(b" "):
            other_signature = False
        if sig is not None:
            signature.append(sig)
            saw_signature = in_signature = True
        else:
            if line.startswith(b"\n"):
                nxt = tail  # the end of the header: the rest (the message) as it is
                line = raw[pos:]
            if not other_signature:
                payload.append(line)
            in_signature = False
        pos = nxt
    if not saw_signature:
        return b"".join(payload), None
    return b"".join(payload), b"".join(signature).decode("utf-8", "replace")


def sign_commit(raw: bytes, key: PrivateKey) -> bytes:
    """The commit object `raw` signed with `key`: any signature header removed, and a new
    ``gpgsig`` header (namespace ``git``) inserted where git's sign_with_header puts it — at
    the end of the header, before the blank line, each line after the first indented by one
    space — so that ``git verify-commit`` accepts the object."""
    payload, _ = split_commit(raw)
    armored = sign(key, payload, _COMMIT_NAMESPACE).encode("ascii")
    end_of_header = payload.find(b"\n\n")
    at = len(payload) if end_of_header < 0 else end_of_header + 1
    header = b"".join(
        (_SIG_HEADER if i == 0 else b"") + b" " + line
        for i, line in enumerate(armored.splitlines(keepends=True))
    )
    return payload[:at] + header + payload[at:]


def verify_commit(raw: bytes) -> PublicKey | None:
    """The key that signed the commit object `raw`; None when it is unsigned; SignatureError
    when the signature is invalid or not an SSH signature (PGP, X.509)."""
    payload, armored = split_commit(raw)
    if armored is None:
        return None
    first = armored.lstrip().split("\n", 1)[0].strip()
    if first != _BEGIN:
        kind = (
            "a PGP signature" if first.startswith("-----BEGIN PGP")
            else "an X.509 signature" if first.startswith("-----BEGIN SIGNED MESSAGE")
            else "an unknown kind of signature"
        )
        raise SignatureError(
            f"the commit is signed, but with {kind}, not an SSH signature",
            "sign commits with an SSH key: git config gpg.format ssh",
        )
    return verify(armored, payload, _COMMIT_NAMESPACE)
