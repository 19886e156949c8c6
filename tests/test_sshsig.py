"""SSH signatures (formats/sshsig.py) against the real tools: what dangan signs, `ssh-keygen
-Y verify` and `git verify-commit` accept, and what ssh-keygen and git sign, dangan verifies.
Keys are made by ssh-keygen in temporary directories."""
from __future__ import annotations

import base64
import hashlib
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

from dangan.formats.sshsig import (
    PublicKey,
    SignatureError,
    load_private_key,
    parse_public_key,
    sign,
    sign_commit,
    split_commit,
    verify,
    verify_commit,
)

needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (OpenSSH) is not installed"
)

MESSAGE = "檔案 record 2026\nsecond line\n".encode()


def keygen(folder: Path, name: str, *args: str) -> Path:
    """A new key pair made by ssh-keygen without a passphrase (or with `-N` given in args)."""
    path = folder / name
    extra = list(args) if "-N" in args else [*args, "-N", ""]
    subprocess.run(["ssh-keygen", "-q", "-C", f"{name}@example.invalid", "-f", str(path), *extra],
                   check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (OpenSSH) is not installed")
    folder = tmp_path_factory.mktemp("sshkeys")
    return {
        "ed25519": keygen(folder, "ed", "-t", "ed25519"),
        "rsa": keygen(folder, "rsa", "-t", "rsa", "-b", "3072"),
        "other": keygen(folder, "other", "-t", "ed25519"),
    }


def public(path: Path) -> PublicKey:
    return parse_public_key(path.with_suffix(".pub").read_text())


def private(path: Path):
    return load_private_key(path.read_bytes(), str(path))


def allowed_signers(tmp_path: Path, key_path: Path) -> Path:
    path = tmp_path / f"allowed_signers_{key_path.name}"
    path.write_text(f"someone {public(key_path).line()}\n")
    return path


def ssh_keygen_verify(tmp_path: Path, signers: Path, armored: str, message: bytes,
                      namespace: str = "git") -> subprocess.CompletedProcess[bytes]:
    sig = tmp_path / "msg.sig"
    sig.write_text(armored)
    return subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "someone", "-n", namespace,
         "-s", str(sig)], input=message, capture_output=True)


def ssh_keygen_sign(tmp_path: Path, key_path: Path, message: bytes, *options: str) -> str:
    msg = tmp_path / "msg"
    msg.write_bytes(message)
    sig = tmp_path / "msg.sig"
    sig.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-Y", "sign", "-n", "git", "-f", str(key_path), *options,
                    str(msg)], check=True, capture_output=True)
    return sig.read_text()


def wire(*fields: bytes | str) -> bytes:
    out = b""
    for f in fields:
        raw = f.encode() if isinstance(f, str) else f
        out += struct.pack(">I", len(raw)) + raw
    return out


def armor(blob: bytes) -> str:
    b64 = base64.b64encode(blob).decode()
    lines = [b64[i:i + 70] for i in range(0, len(b64), 70)]
    return "\n".join(["-----BEGIN SSH SIGNATURE-----", *lines, "-----END SSH SIGNATURE-----"]) + "\n"


def sshsig_blob(key_blob: bytes, sig_algo: str, sig: bytes, hash_name: str = "sha512",
                namespace: str = "git", magic: bytes = b"SSHSIG", version: int = 1) -> bytes:
    return (magic + struct.pack(">I", version) + wire(key_blob, namespace, b"", hash_name)
            + wire(wire(sig_algo, sig)))


def signed_data(message: bytes, hash_name: str = "sha512", namespace: str = "git") -> bytes:
    digest = hashlib.new(hash_name, message).digest()
    return b"SSHSIG" + wire(namespace, b"", hash_name, digest)


# ------------------------------------------------------------------ keys


@needs_ssh_keygen
@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_public_key_fingerprint_and_line_match_ssh_keygen(keys: dict[str, Path], kind: str) -> None:
    path = keys[kind]
    pub_text = path.with_suffix(".pub").read_text()
    key = parse_public_key(pub_text)
    listed = subprocess.run(["ssh-keygen", "-lf", str(path.with_suffix(".pub"))],
                            check=True, capture_output=True, text=True).stdout.split()
    assert key.fingerprint() == listed[1]
    assert key.line() == " ".join(pub_text.split()[:2])
    assert key.algo == ("ssh-ed25519" if kind == "ed25519" else "ssh-rsa")
    # the private key knows the same public key; the comment is not part of it
    assert private(path).public == key
    assert parse_public_key(key.line()) == key
    assert key != public(keys["other"])


@needs_ssh_keygen
def test_parse_public_key_refuses_other_types_and_garbage(tmp_path: Path, keys: dict[str, Path]) -> None:
    ecdsa = keygen(tmp_path, "ec", "-t", "ecdsa")
    with pytest.raises(SignatureError, match="unsupported key type 'ecdsa-sha2-nistp256'") as exc:
        parse_public_key(ecdsa.with_suffix(".pub").read_text())
    assert "ssh-ed25519" in (exc.value.hint or "")
    short = keygen(tmp_path, "short", "-t", "rsa", "-b", "1024")
    with pytest.raises(SignatureError, match="1024 bits, fewer than 2048"):
        parse_public_key(short.with_suffix(".pub").read_text())
    ed_b64 = public(keys["ed25519"]).line().split()[1]
    with pytest.raises(SignatureError, match="says 'ssh-rsa' but its data is a 'ssh-ed25519' key"):
        parse_public_key(f"ssh-rsa {ed_b64} liar")
    for garbage in ("", "ssh-ed25519", "hello world", "ssh-ed25519 !!!not-base64!!!",
                    "ssh-ed25519 " + base64.b64encode(b"\0\0\0\x0bssh-ed25519").decode(),
                    "ssh-ed25519 " + ed_b64[:-8],
                    "sk-ssh-ed25519@openssh.com " + ed_b64,
                    "-----BEGIN OPENSSH PRIVATE KEY----- AAAA"):
        with pytest.raises(SignatureError) as exc:
            parse_public_key(garbage)
        assert "\n" not in str(exc.value)
        assert "PRIVATE" not in str(exc.value)


@needs_ssh_keygen
def test_load_private_key_refuses_encrypted_and_other_formats(tmp_path: Path) -> None:
    locked = keygen(tmp_path, "locked", "-t", "ed25519", "-N", "a passphrase")
    with pytest.raises(SignatureError, match="protected by a passphrase") as exc:
        load_private_key(locked.read_bytes(), str(locked))
    assert str(locked) in str(exc.value)
    assert "gpg.format ssh" in exc.value.hint and "user.signingKey" in exc.value.hint
    assert "commit.gpgSign" in exc.value.hint
    pem = keygen(tmp_path, "pem", "-t", "rsa", "-b", "2048", "-m", "PEM")
    with pytest.raises(SignatureError, match="not an OpenSSH private key"):
        load_private_key(pem.read_bytes())
    ecdsa = keygen(tmp_path, "ec", "-t", "ecdsa")
    with pytest.raises(SignatureError, match="unsupported"):
        load_private_key(ecdsa.read_bytes())
    short = keygen(tmp_path, "short", "-t", "rsa", "-b", "1024")
    with pytest.raises(SignatureError, match="fewer than 2048"):
        load_private_key(short.read_bytes())
    with pytest.raises(SignatureError, match="not an OpenSSH private key"):
        load_private_key(b"garbage")


def test_importing_the_module_does_not_load_cryptography() -> None:
    code = ("import sys, dangan.formats.sshsig as s; s.parse_public_key("
            "'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGYGJgs9B2fVWrwsM7X1k+4pjm9VR9oDS3tvfpmyUTjN');"
            "print('cryptography' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ signatures


@needs_ssh_keygen
@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_our_signature_is_accepted_by_ssh_keygen(tmp_path: Path, keys: dict[str, Path], kind: str) -> None:
    armored = sign(private(keys[kind]), MESSAGE)
    assert armored.startswith("-----BEGIN SSH SIGNATURE-----\n")
    assert armored.endswith("\n-----END SSH SIGNATURE-----\n")
    assert max(len(line) for line in armored.splitlines()) == 70
    signers = allowed_signers(tmp_path, keys[kind])
    ok = ssh_keygen_verify(tmp_path, signers, armored, MESSAGE)
    assert ok.returncode == 0, ok.stderr
    assert b"Good" in ok.stdout
    # and ssh-keygen is not a pushover: a changed message, another namespace, another key
    assert ssh_keygen_verify(tmp_path, signers, armored, MESSAGE + b"x").returncode != 0
    assert ssh_keygen_verify(tmp_path, signers, armored, MESSAGE, namespace="file").returncode != 0
    other = allowed_signers(tmp_path, keys["other"])
    assert ssh_keygen_verify(tmp_path, other, armored, MESSAGE).returncode != 0
    assert verify(armored, MESSAGE) == public(keys[kind])


@needs_ssh_keygen
def test_ed25519_signature_is_byte_for_byte_ssh_keygens(tmp_path: Path, keys: dict[str, Path]) -> None:
    # ed25519 signatures are deterministic: same key, message and namespace, same armor
    assert sign(private(keys["ed25519"]), MESSAGE) == ssh_keygen_sign(tmp_path, keys["ed25519"], MESSAGE)


@needs_ssh_keygen
@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_ssh_keygen_signature_is_verified(tmp_path: Path, keys: dict[str, Path], kind: str) -> None:
    armored = ssh_keygen_sign(tmp_path, keys[kind], MESSAGE)
    assert verify(armored, MESSAGE, "git") == public(keys[kind])
    assert verify(armored.replace("\n", "\r\n"), MESSAGE) == public(keys[kind])
    # sha256 is accepted too
    armored256 = ssh_keygen_sign(tmp_path, keys[kind], MESSAGE, "-O", "hashalg=sha256")
    assert armored256 != armored
    assert verify(armored256, MESSAGE) == public(keys[kind])
    with pytest.raises(SignatureError, match="does not verify"):
        verify(armored, MESSAGE[:-1] + b"!")
    with pytest.raises(SignatureError, match="namespace 'git', not 'file'"):
        verify(armored, MESSAGE, "file")
    lines = armored.splitlines()
    with pytest.raises(SignatureError, match="truncated"):
        verify("\n".join(lines[:-2]), MESSAGE)
    with pytest.raises(SignatureError, match="truncated|not valid base64"):
        verify("\n".join([*lines[:2], lines[-1]]), MESSAGE)
    with pytest.raises(SignatureError, match="not an SSH signature"):
        verify("", MESSAGE)
    with pytest.raises(SignatureError, match="not valid base64"):
        verify(armored.replace(lines[1][:4], "!!!!", 1), MESSAGE)
    # another key put in place of the signer's: the signature is not that key's
    other = public(keys["other"])
    assert verify(armored, MESSAGE) != other
    blob = base64.b64decode("".join(lines[1:-1]))
    signer_blob = public(keys[kind]).blob
    assert blob[10:14 + len(signer_blob)] == wire(signer_blob)
    swapped = blob[:10] + wire(other.blob) + blob[14 + len(signer_blob):]
    with pytest.raises(SignatureError, match="does not verify|ssh-ed25519 key with a 'rsa-sha2-512'"):
        verify(armor(swapped), MESSAGE)


@needs_ssh_keygen
def test_verify_refuses_malformed_and_weak_signatures(keys: dict[str, Path]) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key

    ed = private(keys["ed25519"])
    sig_algo, sig = ed.sign_raw(signed_data(MESSAGE))
    good = sshsig_blob(ed.public.blob, sig_algo, sig)
    assert verify(armor(good), MESSAGE) == ed.public  # the builder is right
    for blob, error in [
        (sshsig_blob(ed.public.blob, sig_algo, sig, magic=b"SSHSIX"), "wrong magic"),
        (sshsig_blob(ed.public.blob, sig_algo, sig, version=2), "version 2"),
        (sshsig_blob(ed.public.blob, sig_algo, sig, hash_name="sha1"), "unsupported signature hash 'sha1'"),
        (good + b"\0", "1 bytes too many"),
        (good[:-3], "truncated"),
    ]:
        with pytest.raises(SignatureError, match=error):
            verify(armor(blob), MESSAGE)
    # an RSA signature over SHA-1 ("ssh-rsa"), valid as such, is refused
    rsa_path = keys["rsa"]
    rsa_key = load_ssh_private_key(rsa_path.read_bytes(), None)
    rsa_pub = public(rsa_path)
    sha1_sig = rsa_key.sign(signed_data(MESSAGE), padding.PKCS1v15(), hashes.SHA1())
    with pytest.raises(SignatureError, match=r"SHA-1 \(ssh-rsa\), which is refused"):
        verify(armor(sshsig_blob(rsa_pub.blob, "ssh-rsa", sha1_sig)), MESSAGE)
    # while the same built by hand with rsa-sha2-256 verifies
    sha256_sig = rsa_key.sign(signed_data(MESSAGE), padding.PKCS1v15(), hashes.SHA256())
    assert verify(armor(sshsig_blob(rsa_pub.blob, "rsa-sha2-256", sha256_sig)), MESSAGE) == rsa_pub
    with pytest.raises(SignatureError, match="does not verify"):
        verify(armor(sshsig_blob(rsa_pub.blob, "rsa-sha2-512", sha256_sig)), MESSAGE)
    with pytest.raises(SignatureError, match="namespace is empty"):
        sign(ed, MESSAGE, "")


@needs_ssh_keygen
def test_short_rsa_signature_is_accepted_as_ssh_keygen_does(tmp_path: Path, keys: dict[str, Path]) -> None:
    # PKCS#1 v1.5 is deterministic: look for a message whose signature starts with a zero
    # byte (1 in 256) and send it without that byte, as some signers do; OpenSSH pads it back
    rsa = private(keys["rsa"])
    for i in range(5000):
        message = f"message {i}\n".encode()
        sig_algo, sig = rsa.sign_raw(signed_data(message))
        if sig[0] == 0:
            break
    else:
        raise AssertionError("no signature with a leading zero byte in 5000 tries")
    short = armor(sshsig_blob(rsa.public.blob, sig_algo, sig[1:]))
    assert verify(short, message) == rsa.public
    ok = ssh_keygen_verify(tmp_path, allowed_signers(tmp_path, keys["rsa"]), short, message)
    assert ok.returncode == 0, ok.stderr
    with pytest.raises(SignatureError, match="does not verify"):
        verify(armor(sshsig_blob(rsa.public.blob, sig_algo, b"\1" + sig)), message)


# ------------------------------------------------------------------ commits


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # pinned dates: a commit re-made by `--amend` is the same object, whatever the clock says
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-03-01T09:00:00+08:00")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-01T09:00:00+08:00")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("one\n")
    git(root, "add", "a.txt")
    return root


def git_signed_commit(root: Path, key_path: Path, message: str = "signed by git") -> bytes:
    git(root, "-c", "gpg.format=ssh", "-c", f"user.signingKey={key_path}", "commit", "-q", "-S",
        "--allow-empty", "-m", message)
    return cat_commit(root, "HEAD")


def cat_commit(root: Path, rev: str) -> bytes:
    return subprocess.run(["git", "cat-file", "commit", rev], cwd=root, check=True,
                          capture_output=True).stdout


def write_commit(root: Path, raw: bytes, ref: str = "HEAD") -> str:
    oid = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=root,
                         input=raw, check=True, capture_output=True).stdout.decode().strip()
    git(root, "update-ref", ref, oid)
    return oid


def git_verify(root: Path, signers: Path, rev: str = "HEAD") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", rev],
                          cwd=root, capture_output=True, text=True)


@needs_ssh_keygen
@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_commit_signed_by_git_is_verified(tmp_path: Path, repo: Path, keys: dict[str, Path], kind: str) -> None:
    raw = git_signed_commit(repo, keys[kind])
    assert b"\ngpgsig -----BEGIN SSH SIGNATURE-----\n" in raw
    assert verify_commit(raw) == public(keys[kind])
    payload, armored = split_commit(raw)
    assert armored is not None and b"gpgsig" not in payload
    # the split is what git signed: ssh-keygen itself agrees
    ok = ssh_keygen_verify(tmp_path, allowed_signers(tmp_path, keys[kind]), armored, payload)
    assert ok.returncode == 0, ok.stderr
    # one byte of the message changed
    tampered = raw.replace(b"signed by git", b"signed by gig")
    assert tampered != raw
    with pytest.raises(SignatureError, match="does not verify"):
        verify_commit(tampered)


def test_unsigned_commit_is_none(repo: Path) -> None:
    git(repo, "commit", "-q", "-m", "unsigned")
    raw = cat_commit(repo, "HEAD")
    assert verify_commit(raw) is None
    assert split_commit(raw) == (raw, None)


@needs_ssh_keygen
def test_sign_commit_is_accepted_by_git_verify_commit(tmp_path: Path, repo: Path, keys: dict[str, Path]) -> None:
    git(repo, "commit", "-q", "-m", "to be signed")
    unsigned = cat_commit(repo, "HEAD")
    signed = sign_commit(unsigned, private(keys["ed25519"]))
    assert split_commit(signed)[0] == unsigned
    write_commit(repo, signed)
    assert cat_commit(repo, "HEAD") == signed
    ok = git_verify(repo, allowed_signers(tmp_path, keys["ed25519"]))
    assert ok.returncode == 0, ok.stderr
    assert "Good" in ok.stderr
    bad = git_verify(repo, allowed_signers(tmp_path, keys["other"]))
    assert bad.returncode != 0
    assert "No principal matched" in bad.stderr, bad.stderr
    # git's own signature of the same commit is byte for byte ours (ed25519 is deterministic)
    git(repo, "-c", "gpg.format=ssh", "-c", f"user.signingKey={keys['ed25519']}", "commit", "-q",
        "--amend", "--no-edit", "-S")
    assert cat_commit(repo, "HEAD") == signed


@needs_ssh_keygen
def test_sign_commit_replaces_an_existing_signature(tmp_path: Path, repo: Path, keys: dict[str, Path]) -> None:
    raw = git_signed_commit(repo, keys["other"])
    # an extra gpgsig-sha256 header (as a repository converted between hash functions has)
    eoh = raw.index(b"\n\n") + 1
    with_both = raw[:eoh] + b"gpgsig-sha256 -----BEGIN SSH SIGNATURE-----\n AAAA\n -----END SSH SIGNATURE-----\n" + raw[eoh:]
    assert verify_commit(with_both) == public(keys["other"])
    resigned = sign_commit(with_both, private(keys["rsa"]))
    assert resigned.count(b"gpgsig") == 1
    assert b"gpgsig-sha256" not in resigned
    assert verify_commit(resigned) == public(keys["rsa"])
    write_commit(repo, resigned)
    ok = git_verify(repo, allowed_signers(tmp_path, keys["rsa"]))
    assert ok.returncode == 0, ok.stderr
    bad = git_verify(repo, allowed_signers(tmp_path, keys["other"]))
    assert bad.returncode != 0
    assert "No principal matched" in bad.stderr, bad.stderr


@needs_ssh_keygen
def test_sign_commit_merge_and_multiline_message(tmp_path: Path, repo: Path, keys: dict[str, Path]) -> None:
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "b.txt").write_text("side\n")
    git(repo, "add", "b.txt")
    git(repo, "commit", "-q", "-m", "side")
    git(repo, "checkout", "-q", "main")
    (repo / "c.txt").write_text("main\n")
    git(repo, "add", "c.txt")
    git(repo, "commit", "-q", "-m", "main")
    message = "合併 side\n\nfirst paragraph\n  indented line\n\n\ngpgsig in the body is not a header\n"
    git(repo, "merge", "-q", "--no-ff", "side", "-m", message)
    unsigned = cat_commit(repo, "HEAD")
    assert unsigned.count(b"\nparent ") == 2
    signed = sign_commit(unsigned, private(keys["ed25519"]))
    assert split_commit(signed) == (unsigned, split_commit(signed)[1])
    assert signed.endswith(unsigned[unsigned.index(b"\n\n"):])  # the message is untouched
    write_commit(repo, signed)
    ok = git_verify(repo, allowed_signers(tmp_path, keys["ed25519"]))
    assert ok.returncode == 0, ok.stderr
    assert verify_commit(signed) == public(keys["ed25519"])
    assert git(repo, "log", "-1", "--format=%B").startswith("合併 side\n\nfirst paragraph\n  indented")


@needs_ssh_keygen
def test_verify_commit_refuses_a_pgp_signature(repo: Path, keys: dict[str, Path]) -> None:
    git(repo, "commit", "-q", "-m", "pgp")
    raw = cat_commit(repo, "HEAD")
    eoh = raw.index(b"\n\n") + 1
    pgp = raw[:eoh] + (b"gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n"
                       b" -----END PGP SIGNATURE-----\n") + raw[eoh:]
    payload, armored = split_commit(pgp)
    assert payload == raw
    assert armored == "-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n-----END PGP SIGNATURE-----\n"
    with pytest.raises(SignatureError, match="with a PGP signature, not an SSH signature"):
        verify_commit(pgp)
    # a PGP-signed commit re-signed with SSH
    assert verify_commit(sign_commit(pgp, private(keys["ed25519"]))) == public(keys["ed25519"])
