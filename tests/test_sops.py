"""SOPS format and age keys: real sops vectors, real crypto, real age/ssh-keygen tools."""
from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from dangan.formats import agekeys, sops
from dangan.formats.agekeys import IdentityError
from dangan.formats.sops import (
    Comment,
    DecryptionError,
    MacMismatch,
    NoMatchingIdentity,
    Rule,
    SopsError,
)

# Files written by the real sops (3.7.1) and the sops project's own test keys: see the README.
VECTORS = Path(__file__).resolve().parent / "vectors" / "sops"
PR1031 = VECTORS / "age-pr1031"
KEYWRAP = VECTORS / "age-keywrap"
REGEX = "^(owner_name|phone|id_number)$"
SECRETS = ("張敏", "13800138000", "110101199003071234")
PROPERTY = settings(derandomize=True, deadline=None, max_examples=50)


def record() -> dict:
    return {
        "code": "YZ-A01-02-001-0301-0001",
        "category": "YZ",
        "title": "業主檔案 0301",
        "owner_name": "張敏",
        "phone": "13800138000",
        "contacts": [{"phone": "13800138001", "relation": "spouse"}],
        "id_number": "110101199003071234",
        "area": 89.5,
        "floors": 3,
        "closed": None,
        "tags": ["a", "b"],
    }


def new_identity() -> tuple[pyrage.x25519.Identity, str]:
    secret, public = agekeys.generate_identity()
    return agekeys.load_identities(secret)[0], public


@pytest.fixture(scope="module")
def alice():
    return new_identity()


@pytest.fixture(scope="module")
def bob():
    return new_identity()


def leaves(tree, path=()):
    """(path with list indexes, value) for every leaf, to compare documents line by line."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from leaves(v, path + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from leaves(v, path + (i,))
    else:
        yield path, tree


def changed_paths(a: dict, b: dict) -> set:
    la, lb = dict(leaves(a)), dict(leaves(b))
    return {p for p in la.keys() | lb.keys() if la.get(p) != lb.get(p)}


# --- the sops-written vectors ----------------------------------------------------------


@pytest.fixture(scope="module")
def vector():
    doc = sops.load_sops_yaml((PR1031 / "example.yaml").read_text())
    expected = json.loads((PR1031 / "example.yaml.expected.json").read_text())
    identities = agekeys.load_identities((PR1031 / "keys.txt").read_text())
    return doc, expected, identities


@pytest.mark.parametrize("which", [0, 1])
def test_vector_decrypts_with_either_identity(vector, which):
    doc, expected, identities = vector
    plain, meta = sops.decrypt_document(doc, [identities[which]])
    assert sops.strip_comments(plain) == expected["plaintext"]
    assert type(plain["number"]) is float and plain["somebooleans"] == [True, False]
    assert meta.version == "3.7.1" and meta.rule.unencrypted_suffix == "_unencrypted"
    assert sops.compute_mac(plain, meta.rule) == expected["computed_mac"]
    assert sops.unwrap_data_key(meta, [identities[which]]).hex() == expected["data_key_hex"]


def test_vector_comments_decrypt_at_their_mapping_aad(vector):
    doc, expected, identities = vector
    plain, _ = sops.decrypt_document(doc, identities)
    got = [(aad, c.text) for aad, c in sops.iter_comments(plain)]
    assert got == [(c["aad"], c["text"]) for c in expected["decrypted_comments"]]
    # Comments do not enter the MAC: without them the MAC still verifies.
    key = bytes.fromhex(expected["data_key_hex"])
    sops.verify_mac(sops.strip_comments(plain), key, sops.Metadata.from_dict(doc["sops"]))


def test_keywrap_vector():
    identities = agekeys.load_identities((KEYWRAP / "mockIdentity.txt").read_text())
    recipient = agekeys.parse_recipient((KEYWRAP / "mockRecipient.txt").read_text())
    assert str(identities[0].to_public()) == recipient.text
    blob = (KEYWRAP / "mockEncryptedKey.age.asc").read_text()
    plain = (KEYWRAP / "mockEncryptedKeyPlain.txt").read_bytes()
    assert pyrage.decrypt(blob.encode(), identities) == plain
    # Through the metadata path: it opens, and a 4-byte "data key" is refused.
    meta = sops.Metadata([(recipient.text, blob)], "2022-03-15T22:11:15Z", "x", Rule())
    with pytest.raises(SopsError, match="not 32 bytes"):
        sops.unwrap_data_key(meta, identities)


# --- tampering -------------------------------------------------------------------------


def test_changed_clear_value_fails_the_mac(vector):
    doc, _, identities = vector
    bad = copy.deepcopy(doc)
    bad["nested_unencrypted"]["this"]["is"]["all"] = "going to be changed"
    with pytest.raises(MacMismatch):
        sops.decrypt_document(bad, identities)


def test_reordered_list_and_removed_value_fail_the_mac(vector):
    doc, _, identities = vector
    swapped = copy.deepcopy(doc)
    swapped["an_array"].reverse()  # list elements share one AAD: only the MAC sees order
    removed = copy.deepcopy(doc)
    del removed["myapp1"]
    for bad in (swapped, removed):
        with pytest.raises(MacMismatch):
            sops.decrypt_document(bad, identities)


def test_value_swapped_between_fields_is_caught_by_aad(vector):
    doc, _, identities = vector
    bad = copy.deepcopy(doc)
    db = bad["app2"]["db"]
    db["user"], db["password"] = db["password"], db["user"]
    with pytest.raises(DecryptionError, match="app2:db:") as info:
        sops.decrypt_document(bad, identities)
    for secret in ("eve", "c4r1b0u"):
        assert secret not in str(info.value)


def test_changed_lastmodified_fails_the_mac(vector):
    doc, _, identities = vector
    bad = copy.deepcopy(doc)
    bad["sops"]["lastmodified"] = "2022-03-15T22:11:16Z"
    with pytest.raises(MacMismatch):
        sops.decrypt_document(bad, identities)


@pytest.mark.parametrize("cut", [10, 60, -1])
def test_truncated_enc_value(vector, cut):
    doc, _, identities = vector
    bad = copy.deepcopy(doc)
    bad["app2"]["db"]["password"] = bad["app2"]["db"]["password"][:cut]
    with pytest.raises(SopsError, match="malformed or truncated") as info:
        sops.decrypt_document(bad, identities)
    assert not isinstance(info.value, MacMismatch)


def test_corrupted_enc_blob_is_not_reported_as_a_wrong_key(vector):
    doc, _, identities = vector
    bad = copy.deepcopy(doc)
    for entry in bad["sops"]["age"]:
        lines = entry["enc"].splitlines()
        lines[2] = lines[2][::-1]  # damage the age header inside the armor
        entry["enc"] = "\n".join(lines) + "\n"
    with pytest.raises(SopsError, match="corrupted age blob") as info:
        sops.decrypt_document(bad, identities)
    assert not isinstance(info.value, NoMatchingIdentity)


def test_wrong_identity(vector, alice):
    doc, _, _ = vector
    with pytest.raises(NoMatchingIdentity):
        sops.decrypt_document(doc, [alice[0]])
    with pytest.raises(NoMatchingIdentity):
        sops.decrypt_document(doc, [])


# --- single values and rules -----------------------------------------------------------


KEY = bytes(range(32))


@pytest.mark.parametrize(
    "value, kind, plain",
    [("電話", "str", "電話".encode()), (42, "int", b"42"), (-7, "int", b"-7"),
     (1234568000.0, "float", b"1234568000"), (0.1, "float", b"0.1"), (1e-7, "float", b"0.0000001"),
     (1e22, "float", b"10000000000000000000000"), (True, "bool", b"True"),
     (False, "bool", b"False"), (Comment(" note"), "comment", b" note")],
)
def test_value_types_follow_sops(value, kind, plain):
    enc = sops.encrypt_value(value, KEY, "a:b:")
    parsed = sops.parse_enc(enc)
    assert parsed.type == kind and len(parsed.iv) == 32 and len(parsed.tag) == 16
    assert parsed.format() == enc
    # The plaintext bytes are exactly the README's, checked with AES-GCM directly.
    assert AESGCM(KEY).decrypt(parsed.iv, parsed.data + parsed.tag, b"a:b:") == plain
    back = sops.decrypt_value(enc, KEY, "a:b:")
    if isinstance(value, Comment):
        assert isinstance(back, Comment) and back.text == value.text
    else:
        assert back == value and type(back) is type(value)


def test_same_plaintext_key_aad_and_iv_give_the_same_ciphertext():
    iv = b"\x01" * 32
    assert sops.encrypt_value("x", KEY, "k:", iv) == sops.encrypt_value("x", KEY, "k:", iv)
    assert sops.encrypt_value("x", KEY, "k:", iv) != sops.encrypt_value("x", KEY, "j:", iv)


@pytest.mark.parametrize("bad", [
    "ENC[AES256_GCM,data:abc",
    "ENC[AES256_GCM,data:QQ==,iv:!!,tag:QQ==,type:str]",
    "ENC[AES256_GCM,data:QQ==,iv:QQ==,tag:QQ==,type:str]",
    "ENC[AES256_GCM,data:QQ==,iv:QQ==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:blob]",
    "plain text",
])
def test_malformed_enc(bad):
    with pytest.raises(SopsError):
        sops.parse_enc(bad)


def test_encrypted_regex_is_a_search_on_every_path_component():
    plain = {"phone": "1", "phone2": "2", "contacts": [{"phone": "3", "note": "4"}],
             "owner_name": {"family": "5", "given": ["6", "7"]}, "title": "8", "empty": "",
             "owner_name_note": None}
    enc = sops.encrypt_tree(plain, KEY, Rule(encrypted_regex="^(phone|owner_name)$"))
    assert sops.is_encrypted(enc["phone"]) and enc["phone2"] == "2"
    assert sops.is_encrypted(enc["contacts"][0]["phone"]) and enc["contacts"][0]["note"] == "4"
    owner = enc["owner_name"]
    assert all(sops.is_encrypted(v) for v in [owner["family"], *owner["given"]])
    assert enc["title"] == "8" and enc["empty"] == "" and enc["owner_name_note"] is None
    # Unanchored: "phone" also matches "phone2" (Go regexp.Match semantics).
    assert sops.is_encrypted(sops.encrypt_tree(plain, KEY, Rule(encrypted_regex="phone"))["phone2"])
    # AAD is the path of map keys; list elements share their key's AAD.
    assert sops.decrypt_value(enc["owner_name"]["given"][1], KEY, "owner_name:given:") == "7"
    assert sops.decrypt_tree(enc, KEY, Rule(encrypted_regex="^(phone|owner_name)$")) == plain


def test_other_sops_rules():
    plain = {"a_unencrypted": {"x": "1"}, "b": "2", "c_enc": "3"}
    default = Rule.from_metadata({})
    assert default == Rule(unencrypted_suffix="_unencrypted")
    enc = sops.encrypt_tree(plain, KEY, default)
    assert enc["a_unencrypted"] == {"x": "1"} and sops.is_encrypted(enc["b"])
    enc = sops.encrypt_tree(plain, KEY, Rule(encrypted_suffix="_enc"))
    assert enc["b"] == "2" and sops.is_encrypted(enc["c_enc"])
    enc = sops.encrypt_tree(plain, KEY, Rule(unencrypted_regex="^b$"))
    assert enc["b"] == "2" and sops.is_encrypted(enc["c_enc"])
    with pytest.raises(SopsError, match="only one"):
        Rule(encrypted_regex="x", unencrypted_suffix="_u")
    with pytest.raises(SopsError, match="invalid encrypted_regex"):
        Rule(encrypted_regex="(")


def test_encrypted_comment_regex_rule():
    rule = Rule(encrypted_comment_regex="sops:enc")
    plain = {Comment(" sops:enc"): None, "secret": "s", "clear": "c"}
    enc = sops.encrypt_tree(plain, KEY, rule)
    marker = next(k for k in enc if isinstance(k, Comment))
    assert marker.text == " sops:enc"  # the marker itself stays readable
    assert sops.is_encrypted(enc["secret"]) and enc["clear"] == "c"
    assert sops.strip_comments(sops.decrypt_tree(enc, KEY, rule)) == {"secret": "s", "clear": "c"}


# --- documents -------------------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [
    ("2024-06-01T10:00:00+08:00", "2024-06-01T02:00:00Z"),  # a back-dated commit (dangan demo)
    ("@1717200000 +0800", None),  # git's own spelling: the wall clock
    ("2024-06-01T10:00:00", None),  # no offset: the wall clock
])
def test_lastmodified_follows_a_back_dated_commit(alice, monkeypatch, given, expected):
    import datetime as dt

    monkeypatch.setenv("GIT_COMMITTER_DATE", given)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = sops.encrypt_document(record(), [alice[1]], REGEX)["sops"]["lastmodified"]
    if expected is not None:
        assert stamp == expected
    else:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert before <= moment <= dt.datetime.now(dt.UTC)


def test_metadata_layout_is_current_sops(alice, bob):
    doc = sops.encrypt_document(record(), [alice[1], bob[1]], REGEX, now="2024-05-01T08:00:00Z")
    meta = doc["sops"]
    assert list(doc)[-1] == "sops"
    assert list(meta) == ["age", "encrypted_regex", "lastmodified", "mac", "version"]
    assert meta["encrypted_regex"] == REGEX and meta["version"] == sops.SOPS_VERSION
    assert meta["lastmodified"] == "2024-05-01T08:00:00Z"
    assert [e["recipient"] for e in meta["age"]] == [alice[1], bob[1]]
    for entry in meta["age"]:
        assert list(entry) == ["enc", "recipient"]
        lines = entry["enc"].split("\n")
        assert lines[0] == "-----BEGIN AGE ENCRYPTED FILE-----"
        assert lines[-2:] == ["-----END AGE ENCRYPTED FILE-----", ""]
        assert all(len(line) <= 64 for line in lines)
    assert re.fullmatch(r"ENC\[AES256_GCM,.*,type:str\]", meta["mac"])
    assert doc["code"] == "YZ-A01-02-001-0301-0001" and doc["area"] == 89.5


def test_round_trip_and_no_plaintext_in_the_document(alice, bob):
    doc = sops.encrypt_document(record(), [alice[1], bob[1]], REGEX)
    dumped = json.dumps(doc, ensure_ascii=False)
    assert not any(secret in dumped for secret in SECRETS)
    for identity in (alice[0], bob[0]):
        plain, meta = sops.decrypt_document(doc, [identity])
        assert plain == record()
        assert meta.rule == Rule(encrypted_regex=REGEX)


def ssh_keypair(tmp_path: Path, kind: str) -> tuple[agekeys.Identity, str]:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen not installed")
    path = tmp_path / f"id_{kind}"
    extra = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", "li@example.com",
                    "-f", str(path)], check=True)
    return agekeys.read_identity_file(path)[0], path.with_suffix(".pub").read_text()


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_round_trip_with_ssh_recipient(tmp_path, alice, kind):
    identity, public = ssh_keypair(tmp_path, kind)
    doc = sops.encrypt_document(record(), [alice[1], public], REGEX)
    stored = doc["sops"]["age"][1]["recipient"]
    assert stored.startswith(f"ssh-{kind} ") and "li@example.com" not in stored
    assert sops.decrypt_document(doc, [identity])[0] == record()


def test_unchanged_values_keep_their_ciphertext(alice):
    old = sops.encrypt_document(record(), [alice[1]], REGEX, now="2024-05-01T08:00:00Z")
    same = sops.encrypt_document(record(), [alice[1]], REGEX, old, [alice[0]],
                                 now="2024-06-01T08:00:00Z")
    assert same == old  # nothing changed: not even lastmodified moves

    changed = record()
    changed["phone"] = "13900139000"
    new = sops.encrypt_document(changed, [alice[1]], REGEX, old, [alice[0]],
                                now="2024-06-01T08:00:00Z")
    assert changed_paths(old, new) == {("phone",), ("sops", "mac"), ("sops", "lastmodified")}
    assert sops.decrypt_document(new, [alice[0]])[0] == changed


def test_changing_a_clear_field_moves_only_it_and_the_mac(alice):
    old = sops.encrypt_document(record(), [alice[1]], REGEX, now="2024-05-01T08:00:00Z")
    changed = {**record(), "title": "新標題"}
    new = sops.encrypt_document(changed, [alice[1]], REGEX, old, [alice[0]],
                                now="2024-06-01T08:00:00Z")
    assert changed_paths(old, new) == {("title",), ("sops", "mac"), ("sops", "lastmodified")}


def test_list_insert_keeps_the_other_elements_ciphertext(alice):
    plain = {"phone": ["1", "2", "3"]}
    old = sops.encrypt_document(plain, [alice[1]], REGEX)
    new = sops.encrypt_document({"phone": ["0", "1", "2", "3"]}, [alice[1]], REGEX, old,
                                [alice[0]])
    assert new["phone"][1:] == old["phone"]
    # Equal values never come to share an IV they did not share before.
    twice = sops.encrypt_document({"phone": ["1", "1"]}, [alice[1]], REGEX, old, [alice[0]])
    assert twice["phone"][0] == old["phone"][0] and twice["phone"][1] != twice["phone"][0]


def test_previous_needs_a_matching_identity(alice, bob):
    old = sops.encrypt_document(record(), [alice[1]], REGEX)
    with pytest.raises(NoMatchingIdentity):
        sops.encrypt_document(record(), [alice[1]], REGEX, old, [bob[0]])


def test_rewrap_keeps_the_data_key_and_values(alice, bob):
    doc = sops.encrypt_document(record(), [alice[1]], REGEX)
    both = sops.rewrap(doc, [alice[0]], [alice[1], bob[1]])
    assert changed_paths(doc, both) == {("sops", "age", 1, "enc"),
                                        ("sops", "age", 1, "recipient")}
    assert sops.decrypt_document(both, [bob[0]])[0] == record()
    only_bob = sops.rewrap(both, [bob[0]], [bob[1]])
    with pytest.raises(NoMatchingIdentity):
        sops.decrypt_document(only_bob, [alice[0]])
    key = sops.unwrap_data_key(sops.Metadata.from_dict(only_bob["sops"]), [bob[0]])
    assert key == sops.unwrap_data_key(sops.Metadata.from_dict(doc["sops"]), [alice[0]])


def test_a_data_key_unwrapped_once_opens_each_version_that_shares_it(alice, bob):
    """`diff` opens both versions of a record: an edit keeps the data key and its age
    entries, so the X25519 work is done once (the `unwrapped` keys, by armored entry)."""
    doc = sops.encrypt_document(record(), [alice[1], bob[1]], REGEX)
    edited = sops.encrypt_document({**record(), "phone": "13900000000"}, [alice[1], bob[1]], REGEX, doc, [alice[0]])
    assert edited["sops"]["age"] == doc["sops"]["age"]
    unwrapped: dict[str, bytes] = {}
    assert sops.decrypt_document(doc, [bob[0]], unwrapped)[0] == record()
    bobs_entry = doc["sops"]["age"][1]["enc"]
    assert list(unwrapped) == [bobs_entry]  # Alice's entry is not Bob's to open: not kept
    assert sops.decrypt_document(edited, [bob[0]], unwrapped)[0]["phone"] == "13900000000"
    assert list(unwrapped) == [bobs_entry]
    # the kept key is what opens the entry: a wrong one fails as a wrong key would
    with pytest.raises(DecryptionError):
        sops.decrypt_document(edited, [bob[0]], {bobs_entry: bytes(32)})
    # a version altered by hand still fails its MAC; another record's entry is not in it
    altered = {**edited, "floors": 4}
    with pytest.raises(MacMismatch):
        sops.decrypt_document(altered, [bob[0]], unwrapped)
    with pytest.raises(NoMatchingIdentity):
        sops.decrypt_document(sops.encrypt_document(record(), [alice[1]], REGEX), [bob[0]], unwrapped)


def test_rotate_makes_a_new_data_key(alice, bob):
    doc = sops.encrypt_document(record(), [alice[1]], REGEX)
    rotated = sops.rotate(doc, [alice[0]], [bob[1]])
    old_key = sops.unwrap_data_key(sops.Metadata.from_dict(doc["sops"]), [alice[0]])
    new_key = sops.unwrap_data_key(sops.Metadata.from_dict(rotated["sops"]), [bob[0]])
    assert old_key != new_key
    assert all(rotated[k] != doc[k] for k in ("phone", "owner_name", "id_number"))
    assert sops.decrypt_document(rotated, [bob[0]])[0] == record()


def test_rotate_keeps_a_foreign_files_rule(vector, alice):
    doc, expected, identities = vector
    rotated = sops.rotate(doc, identities[:1], [alice[1]])
    assert rotated["sops"]["unencrypted_suffix"] == "_unencrypted"
    plain, _ = sops.decrypt_document(rotated, [alice[0]])
    assert sops.strip_comments(plain) == expected["plaintext"]


def test_reserved_and_bad_input(alice):
    with pytest.raises(SopsError, match="sops"):
        sops.encrypt_document({"sops": 1}, [alice[1]], REGEX)
    with pytest.raises(SopsError, match="no sops metadata"):
        sops.decrypt_document({"a": 1}, [alice[0]])
    with pytest.raises(SopsError, match="cannot encrypt"):
        sops.encrypt_document({"phone": b"bytes"}, [alice[1]], REGEX)
    with pytest.raises(IdentityError):
        sops.encrypt_document(record(), ["age1notakey"], REGEX)
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(SopsError, match="too deeply"):
        sops.encrypt_document(deep, [alice[1]], REGEX)


def test_encrypted_regex_for():
    assert sops.encrypted_regex_for(["phone", "owner_name", "phone"]) == "^(owner_name|phone)$"
    with pytest.raises(SopsError):
        sops.encrypted_regex_for([])


def test_foreign_pgp_keys_are_not_dropped_silently(vector, alice):
    doc, _, identities = vector
    with_pgp = copy.deepcopy(doc)
    with_pgp["sops"]["pgp"] = [{"fp": "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "enc": "x",
                                "created_at": "2022-03-15T22:11:15Z"}]
    sops.decrypt_document(with_pgp, identities)  # reading is fine
    for change in (lambda: sops.rewrap(with_pgp, identities, [alice[1]]),
                   lambda: sops.rotate(with_pgp, identities, [alice[1]])):
        with pytest.raises(SopsError, match="age recipients only"):
            change()


def test_needs_encryption():
    rule = Rule(encrypted_regex=REGEX)
    assert sops.needs_encryption(record(), rule)
    assert not sops.needs_encryption({"title": "x", "phone": ""}, rule)


# --- an independent reader: the age CLI and AES-GCM by the README rules -------------------


@pytest.mark.skipif(shutil.which("age") is None, reason="age CLI not installed")
def test_document_opens_with_age_cli_and_plain_aes_gcm(tmp_path):
    secret, public = agekeys.generate_identity()
    keyfile = tmp_path / "keys.txt"
    agekeys.write_identity_file(keyfile, secret, public)
    doc = sops.encrypt_document(record(), [public], REGEX)

    enc = doc["sops"]["age"][0]["enc"]
    key = subprocess.run(["age", "-d", "-i", str(keyfile)], input=enc.encode(),
                         capture_output=True, check=True).stdout
    assert len(key) == 32

    def open_value(value: str, aad: str) -> bytes:
        m = re.fullmatch(r"ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:(.*)\]", value)
        data, iv, tag = (base64.b64decode(m.group(i)) for i in (1, 2, 3))
        return AESGCM(key).decrypt(iv, data + tag, aad.encode())

    assert open_value(doc["phone"], "phone:") == b"13800138000"
    assert open_value(doc["owner_name"], "owner_name:") == "張敏".encode()
    assert open_value(doc["contacts"][0]["phone"], "contacts:phone:") == b"13800138001"
    # The MAC: SHA-512 over every leaf's plaintext in document order, AAD = lastmodified.
    digest = hashlib.sha512()
    for part in [b"YZ-A01-02-001-0301-0001", b"YZ", "業主檔案 0301".encode(), "張敏".encode(),
                 b"13800138000", b"13800138001", b"spouse", b"110101199003071234", b"89.5", b"3",
                 b"a", b"b"]:
        digest.update(part)
    mac = open_value(doc["sops"]["mac"], doc["sops"]["lastmodified"])
    assert mac == digest.hexdigest().upper().encode()


def test_yaml_round_trip_through_load_sops_yaml(alice):
    from ruamel.yaml import YAML

    doc = sops.encrypt_document(record(), [alice[1]], REGEX)
    out = io.StringIO()
    YAML().dump(doc, out)
    assert sops.decrypt_document(sops.load_sops_yaml(out.getvalue()), [alice[0]])[0] == record()


def test_comment_placed_elsewhere_by_the_parser_still_decrypts():
    # sops' Go parser makes this a head comment of the root mapping (AAD ""); ruamel hangs
    # it under a_unencrypted.y, a path the rule even leaves in clear.
    enc = sops.encrypt_value(Comment(" top-level note"), KEY, "")
    text = f"a_unencrypted:\n    x: clear\n    y:\n        z: 1\n#{enc}\nb_unencrypted: 1\n"
    plain = sops.decrypt_tree(sops.load_sops_yaml(text), KEY, Rule.from_metadata({}))
    assert [c.text for _, c in sops.iter_comments(plain)] == [" top-level note"]
    assert sops.strip_comments(plain) == {"a_unencrypted": {"x": "clear", "y": {"z": 1}},
                                          "b_unencrypted": 1}


def test_comments_in_lists_round_trip():
    plain = {"items": ["a", Comment(" between"), "b"], Comment(" root"): None}
    enc = sops.encrypt_tree(plain, KEY, Rule())
    assert sops.is_encrypted(enc["items"][1].text)
    back = sops.decrypt_tree(enc, KEY, Rule())
    assert [(aad, c.text) for aad, c in sops.iter_comments(back)] == [
        ("items:", " between"), ("", " root")]
    assert sops.compute_mac(back, Rule()) == sops.compute_mac({"items": ["a", "b"]}, Rule())


@pytest.mark.parametrize("text, message", [
    ("a: &x [1]\nb: *x\n", "aliases"),
    ("a: 1\na: 2\n", "invalid YAML"),
    ("a: !custom 1\n", "tags"),
    ("a: [1\n", "invalid YAML"),
])
def test_load_sops_yaml_refuses(text, message):
    with pytest.raises(SopsError, match=message):
        sops.load_sops_yaml(text)


def test_load_sops_yaml_keeps_timestamps_as_strings():
    assert sops.load_sops_yaml("d: 2024-05-01\nt: 2022-03-15T22:11:15Z\n") == {
        "d": "2024-05-01", "t": "2022-03-15T22:11:15Z"}


# --- identities --------------------------------------------------------------------------


def test_write_identity_file_appends_0600(tmp_path):
    path = tmp_path / "sops" / "age" / "keys.txt"
    first, second = agekeys.generate_identity(), agekeys.generate_identity()
    agekeys.write_identity_file(path, *first)
    agekeys.write_identity_file(path, *second)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert re.match(r"# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\n"
                    rf"# public key: {first[1]}\n{first[0]}\n# created: ", text)
    loaded = agekeys.read_identity_file(path)
    assert [str(i.to_public()) for i in loaded] == [first[1], second[1]]


def test_world_readable_identity_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "keys.txt"
    agekeys.write_identity_file(path, *agekeys.generate_identity())
    os.chmod(path, 0o644)
    with pytest.raises(IdentityError) as info:
        agekeys.read_identity_file(path)
    assert f"chmod 600 {path}" in str(info.value) and "AGE-SECRET" not in str(info.value)
    with pytest.raises(IdentityError, match="chmod 600"):
        agekeys.write_identity_file(path, *agekeys.generate_identity())


def test_load_identities_errors_name_lines_not_keys():
    secret, _ = agekeys.generate_identity()
    with pytest.raises(IdentityError, match="line 2") as info:
        agekeys.load_identities(f"# comment\n{secret[:-3]}\n")
    assert secret[:20] not in str(info.value)
    with pytest.raises(IdentityError, match="no identity"):
        agekeys.load_identities("# only comments\n\n")


def test_passphrase_protected_ssh_key_is_refused_clearly(tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen not installed")
    path = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pw", "-f", str(path)], check=True)
    with pytest.raises(IdentityError, match="passphrase"):
        agekeys.read_identity_file(path)


def test_parse_recipient():
    _, public = agekeys.generate_identity()
    assert agekeys.parse_recipient(f"  {public.upper()}\n").text == public
    for bad in ["age1abc", "ssh-ed25519 AAAA", "pgp:ABCDEF", ""]:
        with pytest.raises(IdentityError):
            agekeys.parse_recipient(bad)
    secret, _ = agekeys.generate_identity()
    with pytest.raises(IdentityError) as info:
        agekeys.parse_recipient(secret)
    assert secret not in str(info.value)


def _keyfile(path: Path) -> str:
    secret, public = agekeys.generate_identity()
    agekeys.write_identity_file(path, secret, public)
    return public


def _publics(identities) -> list[str]:
    return [str(i.to_public()) for i in identities if isinstance(i, pyrage.x25519.Identity)]


def test_identity_lookup_order(tmp_path):
    home = tmp_path / "home"
    default = _keyfile(home / ".config" / "sops" / "age" / "keys.txt")
    dangan_key = _keyfile(tmp_path / "dangan.txt")
    sops_file = _keyfile(tmp_path / "sops.txt")
    env_secret, env_public = agekeys.generate_identity()
    explicit = _keyfile(tmp_path / "explicit.txt")
    env = {"DANGAN_AGE_KEY_FILE": str(tmp_path / "dangan.txt"),
           "SOPS_AGE_KEY_FILE": str(tmp_path / "sops.txt"), "SOPS_AGE_KEY": env_secret}

    assert _publics(agekeys.find_identities(tmp_path / "explicit.txt", env, home)) == [explicit]
    assert _publics(agekeys.find_identities(None, env, home)) == [
        dangan_key, sops_file, env_public, default]
    assert _publics(agekeys.find_identities(None, {}, home)) == [default]
    with pytest.raises(IdentityError, match="does not exist"):
        agekeys.find_identities(None, {"SOPS_AGE_KEY_FILE": str(tmp_path / "nope")}, home)
    with pytest.raises(IdentityError, match="no identity found"):
        agekeys.find_identities(None, {}, tmp_path / "empty-home")


def test_identity_lookup_falls_back_to_ssh_keys(tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen not installed")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    found = agekeys.find_identities(None, {}, home)
    assert len(found) == 1 and isinstance(found[0], pyrage.ssh.Identity)
    os.chmod(key, 0o644)
    with pytest.raises(IdentityError, match=f"chmod 600 {key}"):
        agekeys.find_identities(None, {}, home)


# --- properties --------------------------------------------------------------------------

_scalars = st.one_of(st.text(), st.integers(), st.booleans(), st.none(),
                     st.floats(allow_nan=False, allow_infinity=False))
_keys = st.sampled_from(["phone", "owner_name", "title", "notes", "a", "ab_unencrypted"])
_trees = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)), max_leaves=20)
_documents = st.dictionaries(_keys, _trees, min_size=1, max_size=5)


@PROPERTY
@given(plain=_documents, regex=st.sampled_from(["^(phone|owner_name)$", "a", "^$"]))
def test_property_tree_round_trip(plain, regex):
    rule = Rule(encrypted_regex=regex)
    enc = sops.encrypt_tree(plain, KEY, rule)
    assert sops.decrypt_tree(enc, KEY, rule) == plain
    back = sops.decrypt_tree(enc, KEY, rule)
    assert sops.compute_mac(back, rule) == sops.compute_mac(plain, rule)


@PROPERTY
@given(plain=_documents, new_value=st.text(min_size=1))
def test_property_unchanged_values_keep_ciphertext(plain, new_value):
    rule = Rule()  # encrypt every leaf
    old = sops.encrypt_tree(plain, KEY, rule)
    assert sops.encrypt_tree(plain, KEY, rule, previous=old) == old
    changed = {**plain, "changed_field": new_value}
    new = sops.encrypt_tree(changed, KEY, rule, previous=old)
    assert changed_paths(old, new) == {("changed_field",)}
    assert sops.decrypt_tree(new, KEY, rule) == changed


@settings(derandomize=True, deadline=None, max_examples=20)
@given(plain=_documents)
def test_property_document_round_trip(plain, alice):
    doc = sops.encrypt_document(plain, [alice[1]], "^(phone|owner_name)$")
    assert sops.decrypt_document(doc, [alice[0]])[0] == plain
