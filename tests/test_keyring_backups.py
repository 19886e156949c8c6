"""Keyring backups (issue 25 stage 5, docs/backup.md "Keyring backups"): an epoch vault's
keyring written beside each bundle with its own expiry, end to end on real vaults.

The epoch vault is test_shredding's (Wang and Li, real age keys, a closed complaint with a
scan and an open one, migrated by `keys migrate-epochs`), backed up with the real CLI into
real bundles. Expired keyring backups are made by back-dating a file's times to 2001 (in the
past whatever day the tests run), never by waiting; a fresh one is compared with its own
`created`, so nothing depends on today's date.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from test_encryption import Key, dg, ok
from test_shredding import SECRETS, TS, before, migrated, open_epoch, year_epoch  # noqa: F401 (fixtures)

from dangan.errors import DanganError
from dangan.formats import keyringbackup as kb
from dangan.formats.yamlio import load_text
from dangan.services import backup

UTC = dt.UTC


def vault_id(root: Path) -> str:
    return str(load_text((root / "vault.yaml").read_text("utf-8"))["id"])


def when(text: str) -> dt.datetime:
    assert text.endswith("Z") and len(text) == 20, text
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def copy_vault(source: Path, tmp_path: Path) -> Path:
    root = tmp_path / "vault"
    shutil.copytree(source, root, symlinks=True)
    return root


def create(root: Path, dest: Path, key: Key) -> dict[str, Any]:
    result = ok(dg(root, "backup", "create", "--dest", str(dest), "--json", key=key))
    doc = json.loads(result.out)
    assert doc["ok"] is True
    return doc


def ring_files(root: Path) -> dict[str, bytes]:
    folder = root / ".git/dangan/keyring"
    return {p.name[:-4]: p.read_bytes() for p in sorted(folder.glob("*.age"))} if folder.exists() else {}


def back_date(path: Path, **changes: Any) -> None:
    """Rewrite a keyring backup with other fields (times in 2001: long expired)."""
    doc = json.loads(path.read_text("ascii"))
    doc.update({"created": "2001-01-01T00:00:00Z", "expires": "2001-04-01T00:00:00Z"}, **changes)
    path.write_text(json.dumps(doc, indent=2) + "\n", "ascii")


def steps(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in doc["steps"]}


@pytest.fixture(scope="module")
def backed_up(migrated: tuple[Path, Key, Key],  # noqa: F811
              tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any], Key, Key]:
    """An epoch vault (with one keyring file more, of an epoch epochs.yaml does not list)
    backed up once with the default expiry: (vault, bundle, create's JSON, Wang, Li)."""
    base = tmp_path_factory.mktemp("kbak")
    root = copy_vault(migrated[0], base)
    stray = root / ".git/dangan/keyring/2030.0a1b2c3d.age"
    shutil.copyfile(root / f".git/dangan/keyring/{year_epoch()}.age", stray)
    doc = create(root, base / "bk", migrated[1])
    return root, Path(doc["bundle"]), doc, migrated[1], migrated[2]


# ------------------------------------------------------------------------- create

def test_create_writes_the_live_held_epochs_beside_the_bundle(backed_up: tuple) -> None:
    root, bundle, doc, _wang, _li = backed_up
    path = bundle.with_name(bundle.name.replace(".bundle", ".keyring.json"))
    assert doc["keyring"]["file"] == str(path) and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text("ascii"))
    assert saved["format"] == "dangan-keyring-backup 1"
    assert saved["vault_id"] == vault_id(root) and saved["bundle"] == bundle.name
    # the epochs epochs.yaml lists as live and this clone holds, each file's text byte for
    # byte; the stray file of an unlisted epoch is left out
    held = ring_files(root)
    assert "2030.0a1b2c3d" in held
    assert sorted(saved["epochs"]) == sorted([year_epoch(), open_epoch()]) == doc["keyring"]["epochs"]
    for epoch, text in saved["epochs"].items():
        assert text.encode("ascii") == held[epoch]
    # no expiry in vault.yaml: P90D from its creation
    created = when(saved["created"])
    assert when(saved["expires"]) == created + dt.timedelta(days=90)
    assert doc["keyring"]["expires"] == saved["expires"]
    assert doc["keyring_expired_removed"] == [] and doc["keyring_warning"] is None
    names = [s["name"] for s in doc["verification"]["steps"]]
    assert names[-2:] == ["check", "keyring"] and doc["verification"]["ok"] is True


def test_the_expiry_is_vault_yamls_keep_and_a_bad_one_is_refused(backed_up: tuple, tmp_path: Path) -> None:
    root = copy_vault(backed_up[0], tmp_path)
    wang = backed_up[3]
    config = (root / "vault.yaml").read_text("utf-8")
    (root / "vault.yaml").write_text(config + "keyring_backups:\n  keep: P1M10D\n", "utf-8")
    doc = create(root, tmp_path / "bk", wang)
    saved = json.loads(Path(doc["keyring"]["file"]).read_text("ascii"))
    created = when(saved["created"])
    if created.day <= 28:  # P1M10D counted by hand: the next month has the day
        month_later = created.replace(year=created.year + created.month // 12, month=created.month % 12 + 1)
        assert when(saved["expires"]) == month_later + dt.timedelta(days=10)
    assert when(saved["expires"]) == kb.expiry(created, "P1M10D")
    assert when(saved["expires"]) > created + dt.timedelta(days=37)
    # a keep that is no duration: exit 2, nothing written
    (root / "vault.yaml").write_text(config + "keyring_backups:\n  keep: 90 days\n", "utf-8")
    before_files = sorted(p.name for p in (tmp_path / "bk").iterdir())
    refused = dg(root, "backup", "create", "--dest", str(tmp_path / "bk"), key=wang)
    assert refused.code == 2 and "keyring_backups.keep" in refused.err, refused
    assert sorted(p.name for p in (tmp_path / "bk").iterdir()) == before_files


def test_create_deletes_the_expired_keyring_backups_of_its_vault_alone(backed_up: tuple, tmp_path: Path) -> None:
    root, bundle, _doc, wang, _li = backed_up
    dest = tmp_path / "bk"
    dest.mkdir()
    for suffix in (".bundle", ".manifest.json", ".keyring.json"):
        shutil.copy(bundle.with_name(bundle.name.replace(".bundle", suffix)), dest)
    old = dest / bundle.name.replace(".bundle", ".keyring.json")
    back_date(old)
    other = dest / "other-20010101T000000Z.keyring.json"  # another vault's, expired too
    shutil.copy(old, other)
    back_date(other, vault_id="another-vault", bundle="other-20010101T000000Z.bundle")
    fresh = dest / "third-20010101T000000Z.keyring.json"  # this vault's, not expired
    shutil.copy(old, fresh)
    back_date(fresh, bundle="third-20010101T000000Z.bundle", expires="9999-01-01T00:00:00Z")
    doc = create(root, dest, wang)
    assert doc["keyring_expired_removed"] == [old.name]
    assert not old.exists() and other.exists() and fresh.exists()
    assert Path(doc["keyring"]["file"]).is_file()
    assert "1 expired keyring backup(s) deleted" in steps(doc["verification"])["keyring"]["detail"]
    text = dg(root, "backup", "create", "--dest", str(dest), key=wang)
    assert text.code == 0 and "keyring backup " in text.err and "expires on" in text.err, text
    # the bundle whose keyring backup was deleted verifies, with a warning: no keyring beside
    result = dg(root, "backup", "verify", str(dest / bundle.name), "--json", key=wang)
    assert result.code == 0, result
    keyring = steps(json.loads(result.out))["keyring"]
    assert keyring["ok"] and keyring["warning"] and "no keyring backup" in keyring["detail"]


def test_an_epoch_vault_whose_clone_holds_no_keyring_gets_its_bundle_and_a_warning(
        migrated: tuple[Path, Key, Key], tmp_path: Path) -> None:  # noqa: F811
    root = copy_vault(migrated[0], tmp_path)
    shutil.rmtree(root / ".git/dangan/keyring")
    result = dg(root, "backup", "create", "--dest", str(tmp_path / "bk"))
    assert result.code == 0, result
    bundle = Path(result.out.strip())
    assert bundle.is_file() and not list((tmp_path / "bk").glob("*.keyring.json"))
    assert "dangan: warning: keyring: " in result.err and "no keyring backup was written" in result.err
    doc = json.loads(ok(dg(root, "backup", "create", "--dest", str(tmp_path / "bk"), "--json")).out)
    assert doc["keyring"] is None and "no keyring backup was written" in doc["keyring_warning"]


# ------------------------------------------------------------------------- verify

def test_verify_passes_a_fresh_keyring_backup_and_fails_an_expired_one(backed_up: tuple, tmp_path: Path) -> None:
    _root, bundle, _doc, wang, _li = backed_up
    result = dg(tmp_path, "backup", "verify", str(bundle), "--json", key=wang)
    assert result.code == 0, result
    doc = json.loads(result.out)
    assert [s["name"] for s in doc["steps"]] == [
        "manifest", "checksum", "header", "restore", "refs", "fsck", "records", "keyring", "check"]
    assert doc["ok"] and not steps(doc)["keyring"]["warning"] and "2 epoch(s), expires on" in steps(doc)["keyring"]["detail"]
    dest = tmp_path / "copy"
    dest.mkdir()
    for suffix in (".bundle", ".manifest.json", ".keyring.json"):
        shutil.copy(bundle.with_name(bundle.name.replace(".bundle", suffix)), dest)
    keyring = dest / bundle.name.replace(".bundle", ".keyring.json")
    back_date(keyring)
    failed = dg(tmp_path, "backup", "verify", str(dest / bundle.name), key=wang)
    assert failed.code == 1, failed
    assert "FAIL keyring" in failed.out
    assert "expired on 2001-04-01T00:00:00Z and must be deleted" in failed.err
    doc = json.loads(dg(tmp_path, "backup", "verify", str(dest / bundle.name), "--json", key=wang).out)
    assert doc["ok"] is False and doc["failure"].startswith("keyring: ")
    assert [s["name"] for s in doc["steps"]][-1] == "keyring"  # it stops there


@pytest.mark.parametrize(("change", "message"), [
    (b"{not json", "not readable JSON"),
    (None, "is the keyring backup of vault another-vault"),
    (b'{"format": "dangan-keyring-backup 1", "vault_id": "x"}', "bundle is missing or empty"),
])
def test_a_malformed_keyring_backup_fails_verify_and_is_reported(backed_up: tuple, tmp_path: Path,
                                                                 change: bytes | None, message: str) -> None:
    _root, bundle, _doc, wang, _li = backed_up
    dest = tmp_path / "copy"
    dest.mkdir()
    for suffix in (".bundle", ".manifest.json", ".keyring.json"):
        shutil.copy(bundle.with_name(bundle.name.replace(".bundle", suffix)), dest)
    keyring = dest / bundle.name.replace(".bundle", ".keyring.json")
    if change is None:
        doc = json.loads(keyring.read_text("ascii"))
        doc["vault_id"] = "another-vault"
        keyring.write_text(json.dumps(doc), "ascii")
    else:
        keyring.write_bytes(change)
    failed = dg(tmp_path, "backup", "verify", str(dest / bundle.name), "--json", key=wang)
    assert failed.code == 1, failed
    doc = json.loads(failed.out)
    assert doc["failure"].startswith("keyring: ") and message in doc["failure"], doc["failure"]
    listed = json.loads(ok(dg(tmp_path, "backup", "ls", str(dest), "--json")).out)["bundles"]
    ring = listed[0]["keyring"]
    assert ring["file"] == keyring.name
    if change is not None:  # unreadable: ls says why, and keyring_backups skips it
        assert message in ring["problem"] and ring["expires"] is None
        assert backup.keyring_backups(dest, vault_id(backed_up[0])) == []
    else:  # another vault's: listed for that vault only
        assert ring["problem"] is None and backup.keyring_backups(dest, "another-vault")[0].path == keyring


def test_the_keyring_backup_format_refuses_what_is_malformed() -> None:
    good = kb.KeyringFile("vid", "v-20261206T220016Z.bundle", dt.datetime(2026, 12, 6, 22, 0, 16, tzinfo=UTC),
                          dt.datetime(2027, 3, 6, 22, 0, 16, tzinfo=UTC),
                          {"2027.0a1b2c3d": "-----BEGIN AGE ENCRYPTED FILE-----\nabc\n-----END AGE ENCRYPTED FILE-----\n"})
    data = good.render()
    assert kb.parse(data, "f") == good
    doc = json.loads(data)
    assert doc["expires"] == "2027-03-06T22:00:16Z" and list(doc) == list(kb._FIELDS)
    cases = {
        "not a dangan keyring backup": {**doc, "format": "dangan-keyring-backup 2"},
        "unknown field(s) note": {**doc, "note": 1},
        "created is not a UTC time": {**doc, "created": "2026-12-06T22:00:16+08:00"},
        "expires is not a UTC time": {**doc, "expires": "2027-02-30T00:00:00Z"},
        "it expires before it was created": {**doc, "expires": "2026-01-01T00:00:00Z"},
        "'2027' is not an epoch id": {**doc, "epochs": {"2027": doc["epochs"]["2027.0a1b2c3d"]}},
        "epoch 2027.0a1b2c3d is not an armored age file": {**doc, "epochs": {"2027.0a1b2c3d": "AGE-SECRET-KEY-1"}},
        "bundle is not a bundle's file name": {**doc, "bundle": "../x.bundle"},
    }
    for message, broken in cases.items():
        with pytest.raises(DanganError) as caught:
            kb.parse(json.dumps(broken).encode(), "f.keyring.json")
        assert caught.value.message.startswith("f.keyring.json: ") and message in caught.value.message, message


# ------------------------------------------------------------------------ restore

def test_restore_brings_the_keyring_and_the_vault_opens_a_sealed_record(backed_up: tuple, tmp_path: Path) -> None:
    root, bundle, _doc, _wang, li = backed_up
    target = tmp_path / "restored"
    result = dg(tmp_path, "backup", "restore", str(bundle), str(target), "--json", key=li)
    assert result.code == 0, result
    doc = json.loads(result.out)
    assert doc["ok"] and not steps(doc)["keyring"]["warning"] and "2 keyring file(s) restored" in steps(doc)["keyring"]["detail"]
    folder = target / ".git/dangan/keyring"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    restored = ring_files(target)
    assert sorted(restored) == sorted([year_epoch(), open_epoch()])  # not the unlisted one
    assert all(restored[e] == ring_files(root)[e] for e in restored)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())
    shown = ok(dg(target, "show", TS, "--decrypt", key=li)).out
    assert all(secret in shown for secret in SECRETS)


def test_without_its_keyring_backup_or_with_an_expired_one_the_restore_opens_nothing(
        backed_up: tuple, tmp_path: Path) -> None:
    _root, bundle, _doc, _wang, li = backed_up
    alone = tmp_path / "alone"
    alone.mkdir()
    for suffix in (".bundle", ".manifest.json"):
        shutil.copy(bundle.with_name(bundle.name.replace(".bundle", suffix)), alone)
    target = tmp_path / "restored"
    result = dg(tmp_path, "backup", "restore", str(alone / bundle.name), str(target), key=li)
    assert result.code == 0, result
    assert "WARN keyring" in result.out and "no keyring backup" in result.err
    assert ring_files(target) == {}
    assert dg(target, "show", TS, "--decrypt", key=li).code != 0  # the keyring is what opens it
    # an expired one: never restored, and the restore says so
    keyring = bundle.with_name(bundle.name.replace(".bundle", ".keyring.json"))
    shutil.copy(keyring, alone)
    back_date(alone / keyring.name)
    again = tmp_path / "again"
    result = dg(tmp_path, "backup", "restore", str(alone / bundle.name), str(again), key=li)
    assert result.code == 0, result
    assert "expired on 2001-04-01T00:00:00Z: its keyring was not restored" in result.err
    assert ring_files(again) == {}


# ---------------------------------------------------------------- ls, prune, the API

def test_ls_prune_and_keyring_backups_list_and_remove_by_expiry(backed_up: tuple, tmp_path: Path) -> None:
    root, bundle, _doc, wang, _li = backed_up
    dest = tmp_path / "bk"
    first = create(root, dest, wang)
    second = create(root, dest, wang)  # a full bundle is made even with nothing new
    old = Path(first["keyring"]["file"])
    back_date(old)
    found = backup.keyring_backups(dest, vault_id(root))
    assert [k.path for k in found] == [old, Path(second["keyring"]["file"])]  # oldest first
    assert found[0].created == dt.datetime(2001, 1, 1, tzinfo=UTC) and found[0].expired()
    assert found[1].epochs == sorted([year_epoch(), open_epoch()]) and not found[1].expired()
    assert found[1].expires.tzinfo is not None and found[1].expired(found[1].expires)
    assert backup.keyring_backups(dest, "another-vault") == []
    listed = ok(dg(root, "backup", "ls", str(dest)))
    assert f"{old.name}  EXPIRED on 2001-04-01T00:00:00Z" in listed.out
    assert f"{Path(second['keyring']['file']).name}  2 epoch(s), expires on {second['keyring']['expires']}" in listed.out
    # prune keeping both bundles: the expired keyring backup goes all the same
    dry = ok(dg(root, "backup", "prune", str(dest), "--keep-last", "5", "--dry-run", "--json"))
    decisions = json.loads(dry.out)["decisions"]
    assert [d["keyring"]["action"] for d in decisions] == ["remove", "keep"] and old.exists()
    ok(dg(root, "backup", "prune", str(dest), "--keep-last", "5"))
    assert not old.exists() and Path(second["keyring"]["file"]).exists()
    # a bundle pruned takes its keyring backup with it, expired or not
    third = create(root, dest, wang)
    pruned = ok(dg(root, "backup", "prune", str(dest), "--keep-last", "1"))
    assert "1 keyring backup(s) removed" in pruned.err, pruned
    assert not Path(second["keyring"]["file"]).exists() and Path(third["keyring"]["file"]).exists()
    assert [k.path.name for k in backup.keyring_backups(dest, vault_id(root))] == [Path(third["keyring"]["file"]).name]
    assert not Path(second["bundle"]).exists()


# --------------------------------------------------------------- no epochs: unchanged

def test_a_vault_without_epochs_backs_up_as_before(before: tuple[Path, Key, Key],  # noqa: F811
                                                   tmp_path: Path) -> None:
    root = copy_vault(before[0], tmp_path)
    doc = create(root, tmp_path / "bk", before[1])
    assert doc["keyring"] is None and doc["keyring_expired_removed"] == [] and doc["keyring_warning"] is None
    assert sorted(p.name for p in (tmp_path / "bk").iterdir()) == sorted(
        [Path(doc["bundle"]).name, Path(doc["manifest"]).name])
    assert "keyring" not in [s["name"] for s in doc["verification"]["steps"]]
    verified = json.loads(ok(dg(root, "backup", "verify", doc["bundle"], "--json", key=before[1])).out)
    assert [s["name"] for s in verified["steps"]] == [
        "manifest", "checksum", "header", "restore", "refs", "fsck", "records", "check"]
    listed = json.loads(ok(dg(root, "backup", "ls", str(tmp_path / "bk"), "--json")).out)["bundles"]
    assert listed[0]["keyring"] is None
    restored = json.loads(ok(dg(root, "backup", "restore", doc["bundle"], str(tmp_path / "r"), "--json")).out)
    assert "keyring" not in [s["name"] for s in restored["steps"]]
    assert not (tmp_path / "r/.git/dangan/keyring").exists()
