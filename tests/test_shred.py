"""`dangan keys shred` end to end (issue 25, docs/shredding.md §4): the destruction reaches
Git history, clones and backups.

One vault made an epoch vault before its first record, with back-dated records: an
approver (陳立新) and an archivist (張敏), real age keys, the real sops and age binaries, real
git, hooks and a bare server with its pre-receive hook. Four complaints (TS, kept three years
after closing):

- DESTROYED filed open on 2021-12-20 (epoch 2024, its earliest end), closed 2022-04-12
  (epoch 2025), with a scan: destroyed on 2026-01-10;
- HELD closed 2022-05-20 (epoch 2025), with a scan, under a legal hold: it must survive;
- EXTENDED closed 2022-06-01, kept until 2031 (it moved to epoch 2031 when extended);
- OPEN not closed, filed 2022-06-02 (epoch 2025, its earliest end).

A clone (the office) and a backup with its keyring backup are made before the destruction.
Then `retention apply` destroys DESTROYED and `keys shred` shreds epochs 2024 and 2025: HELD
moves to 2026 and OPEN to 2029 (the shred's day + P3Y) first. The tests prove from the
outside that no identity the company still holds —
each person's key, the current keyring (exported), the keyring backups not expired —
opens any version of DESTROYED or its scan in any Git object of the vault, the clone or the
bundle, that the keyring backup made before the shred did open it until it expired (so
the test can fail), and that every record kept still opens with dangan, `sops -d` and
`age -d`. Dates are pinned (`--as-of`, `--at`, the commit dates, the backups' clock).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pyrage
import pytest
from conftest import bare_server, git
from test_encryption import ROOM, Key, dg, example, make_key, ok
from test_shredding import (
    SCAN,
    SECRETS,
    age_binary,
    clean_env,
    readers_hash,
    rewrap_by_hand,
    sops_binary,
    stored,
    wrapped_to,
)

from dangan.formats import agekeys, sops
from dangan.formats.yamlio import dump, load_text
from dangan.store import epochkeys

APPROVER, ARCHIVIST = "陳立新", "張敏"
WITNESSES = ("--witness", "錢芳", "--witness", "孫麗")
DESTROYED, HELD, EXTENDED, OPEN = (f"TS-A01-02-001-0301-{n:04d}" for n in (1, 2, 3, 4))
HELD_SCAN = b"%PDF-1.4 the held complaint's form\n"


def path_of(code: str) -> str:
    return f"vault/A01/02/001/0301/TS/{code}.yaml"


def scan_path(code: str, name: str = "scan.pdf") -> str:
    return f"vault/A01/02/001/0301/TS/{code}/{name}.age"


def at(day: str) -> dict[str, str]:
    """The commit dates of a step dated `day` (the hooks judge acts against them)."""
    moment = f"{day}T10:00:00+08:00"  # every act in the past: none may be ahead of now (DG121)
    return {"GIT_AUTHOR_DATE": moment, "GIT_COMMITTER_DATE": moment}


def epoch(year: str) -> str:
    return f"{year}.{readers_hash(APPROVER, ARCHIVIST)}"


def complaint(closed: str | None) -> str:
    text = example("TS-complaint.yaml").replace("2024-", "2022-")  # filed and handled in 2022
    if closed is None:
        text = text.replace("status: closed\n", "status: open\n").replace("closed: '2022-04-12'\n", "")
        return text.split("justified:")[0]
    return text.replace("closed: '2022-04-12'", f"closed: '{closed}'")


def backup_at(root: Path, dest: Path, key: Key, when: dt.datetime) -> object:
    """`dangan backup create --dest DEST` on a pinned clock (its keyring backup's expiry
    counts from it)."""
    from dangan.services import backup
    from dangan.store.sealing import Keyring
    from dangan.store.vault import Vault

    vault = Vault.open(root)
    vault.keyring = Keyring(explicit=key.file)
    made = backup.create(vault, dest, keyring=vault.keyring, now=when)
    assert made.ok, made
    return made


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("shred")
    approver, archivist = make_key(base, "approver"), make_key(base, "archivist")
    root = base / "vault"
    ok(dg(base, "init", str(root), "--recipient", f"{APPROVER}={approver.public}",
          "--recipient", f"{ARCHIVIST}={archivist.public}", env=at("2021-12-01")))
    config = load_text((root / "vault.yaml").read_text("utf-8"))
    config["recipients"][0]["roles"] = ["approver"]
    config["recipients"][1]["roles"] = ["archivist"]
    (root / "vault.yaml").write_text(dump(config), encoding="utf-8")
    subprocess.run(["git", "commit", "-q", "-am", "roles"], cwd=root, check=True, env={**os.environ, **at("2021-12-01")})
    ok(dg(root, "keys", "migrate-epochs", key=archivist, env=at("2021-12-01")))  # before the first record
    # DESTROYED is filed open on 2021-12-20: sealed to 2024 (its earliest end, + P3Y); it
    # closes on 2022-04-12 and moves to 2025; both epochs hold versions of it
    (base / "in.yaml").write_text(complaint(None), "utf-8")
    made = ok(dg(root, "new", "TS", ROOM, "--file", str(base / "in.yaml"), key=archivist, env=at("2021-12-20")))
    assert made.out.strip() == DESTROYED
    ok(dg(root, "set", DESTROYED, "status=closed", "closed=2022-04-12", key=archivist, env=at("2022-04-12")))
    for code, closed in ((HELD, "2022-05-20"), (EXTENDED, "2022-06-01"), (OPEN, None)):
        (base / "in.yaml").write_text(complaint(closed), "utf-8")
        made = ok(dg(root, "new", "TS", ROOM, "--file", str(base / "in.yaml"), key=archivist, env=at("2022-06-02")))
        assert made.out.strip() == code
    (base / "scan.pdf").write_bytes(SCAN)
    (base / "held.pdf").write_bytes(HELD_SCAN)
    ok(dg(root, "attach", DESTROYED, str(base / "scan.pdf"), "--at", "2022-06-03T10:00:00+08:00", key=archivist,
          env=at("2022-06-03")))
    ok(dg(root, "attach", HELD, str(base / "held.pdf"), "--name", "scan.pdf", "--at", "2022-06-03T10:00:00+08:00",
          key=archivist, env=at("2022-06-03")))
    ok(dg(root, "retention", "extend", EXTENDED, "--until", "2031-12-31", "--reason", "涉訴待結",
          key=approver, env=at("2023-01-06")))
    ok(dg(root, "retention", "hold", HELD, "--reason", "業主訴訟，證據保全", "--by", APPROVER,
          "--at", "2025-03-01T09:00:00+08:00", key=approver, env=at("2025-03-01")))
    server = bare_server(base)
    git(root, "remote", "add", "origin", str(server))
    git(root, "push", "-q", "origin", "HEAD:refs/heads/main")
    office = base / "office"
    git(base, "clone", "-q", "-b", "main", str(server), str(office))
    shutil.copytree(root / ".git/dangan/keyring", office / ".git/dangan/keyring")  # runbook step 5
    backups = base / "backups"
    before_backup = backup_at(root, backups, archivist, dt.datetime(2025, 12, 1, 2, 0, tzinfo=dt.UTC))
    # what shredding must make unreadable: every version of the destroyed record and its scan
    waiting = dg(root, "keys", "shred", "--by", ARCHIVIST, "--at", "2026-01-05T09:00:00+08:00", "--dry-run",
                 "--json", key=archivist)
    # the destruction
    plan = base / "plan.yaml"
    ok(dg(root, "retention", "plan", "--as-of", "2025-12-31", "--out", str(plan), key=archivist))
    ok(dg(root, "retention", "approve", str(plan), "--by", APPROVER, key=approver, env=at("2026-01-08")))
    ok(dg(root, "retention", "apply", str(plan), *WITNESSES, "--method", "碎紙機粉碎", "--place", "總部檔案室",
          "--by", ARCHIVIST, "--at", "2026-01-10T10:00:00+08:00", key=archivist, env=at("2026-01-10")))
    dry = dg(root, "keys", "shred", "--by", ARCHIVIST, "--at", "2026-01-15T10:00:00+08:00", "--dry-run",
             "--json", "--backups", str(backups), key=archivist)
    head = git(root, "rev-parse", "HEAD").strip()
    done = ok(dg(root, "keys", "shred", "--by", ARCHIVIST, "--at", "2026-01-15T10:00:00+08:00", "--json",
                 "--backups", str(backups), key=archivist, env=at("2026-01-15")))
    git(root, "push", "-q", "origin", "HEAD:refs/heads/main")  # the server's pre-receive judges it
    git(office, "pull", "-q", "--ff-only")
    return {"base": base, "root": root, "office": office, "server": server, "backups": backups,
            "approver": approver, "archivist": archivist, "waiting": waiting, "dry": dry, "head_before": head,
            "done": json.loads(done.out), "before_backup": before_backup}


def versions(repo: Path, rel: str) -> dict[str, bytes]:
    """Every blob ever stored at `rel` in any commit of `repo` (all refs)."""
    listed = git(repo, "log", "--all", "--format=%H", "--", rel).split()
    found: dict[str, bytes] = {}
    for commit in listed:
        for side in (commit, f"{commit}^"):
            proc = subprocess.run(["git", "rev-parse", "-q", "--verify", f"{side}:{rel}"], cwd=repo,
                                  capture_output=True, text=True, check=False)
            if proc.returncode == 0 and proc.stdout.strip() not in found:
                blob = proc.stdout.strip()
                found[blob] = subprocess.run(["git", "cat-file", "blob", blob], cwd=repo, capture_output=True,
                                             check=True).stdout
    return found


def identities_held(world: dict, *, include_backups: bool = True, now: dt.datetime | None = None) -> list:
    """Every identity the company still holds: each person's key, the keyring of each clone
    (unlocked by them), and the keyring backups in the backup directory not expired at `now`."""
    people = [world["approver"].identity, world["archivist"].identity]
    found = list(people)
    for repo in (world["root"], world["office"]):
        found += epochkeys.EpochKeys(repo / ".git").unlock(people).values()
    if include_backups:
        for path in sorted(world["backups"].glob("*.keyring.json")):
            data = json.loads(path.read_text("utf-8"))
            expires = dt.datetime.fromisoformat(data["expires"].replace("Z", "+00:00"))
            if now is not None and expires <= now:
                continue
            for text in data["epochs"].values():
                secret = pyrage.decrypt(text.encode("ascii"), people).decode("ascii")
                found += agekeys.load_identities(secret)
    return found


def opens(doc_bytes: bytes, identities: list) -> bool:
    doc = load_text(doc_bytes.decode("utf-8"))
    try:
        sops.decrypt_document(doc, identities)
    except sops.NoMatchingIdentity:
        return False
    return True


def file_opens(data: bytes, identities: list) -> bool:
    try:
        pyrage.decrypt(data, identities)
    except pyrage.DecryptError:
        return False
    return True


# --------------------------------------------------------------------------- what it did

def test_before_the_destruction_the_epoch_waits_for_its_due_record(world: dict) -> None:
    result = ok(world["waiting"])
    report = json.loads(result.out)
    assert report["dry_run"] and report["shredded"] == [] and report["commit"] is None
    [waits] = report["waiting"]
    assert waits["epoch"] == epoch("2025")
    assert {"code": DESTROYED, "why": "due", "due": "2025-04-12"} in waits["waiting"]


def test_a_dry_run_says_what_it_would_do_and_changes_nothing(world: dict) -> None:
    report = json.loads(ok(world["dry"]).out)
    assert report["dry_run"] and report["commit"] is None
    assert [e["epoch"] for e in report["shredded"]] == [epoch("2024"), epoch("2025")]
    assert all(e["destroyed"] == [DESTROYED] for e in report["shredded"])


def test_the_shred_records_the_epochs_in_epochs_yaml_and_the_certificate_in_one_commit(world: dict) -> None:
    root, report = world["root"], world["done"]
    assert [e["epoch"] for e in report["shredded"]] == [epoch("2024"), epoch("2025")]
    first, second = report["shredded"]
    assert first["destroyed"] == second["destroyed"] == [DESTROYED]
    assert first["certificate"] == second["certificate"] == "XH-0001"
    assert first["moved"] == []
    assert sorted((m["code"], m["why"]) for m in second["moved"]) == [(HELD, "held"), (OPEN, "open")]
    assert report["waiting"] == []
    assert git(root, "rev-parse", "HEAD~1").strip() == world["head_before"]  # one commit
    changed = set(git(root, "show", "--name-only", "--format=", "HEAD").split())
    assert changed == {"epochs.yaml", "vault/XH/XH-0001.yaml", path_of(HELD), scan_path(HELD), path_of(OPEN)}
    listed = epochkeys.parse((root / "epochs.yaml").read_bytes())
    entries = [listed.get(epoch(year)) for year in ("2024", "2025")]
    for entry in entries:
        assert (entry.state, entry.shredded, entry.certificate) == ("shredded", "2026-01-15", "XH-0001")
    certificate = load_text((root / "vault/XH/XH-0001.yaml").read_text("utf-8"))
    assert certificate["shreds"] == [
        {"at": "2026-01-15T10:00:00+08:00", "by": ARCHIVIST, "epoch": epoch("2024"), "key": entries[0].key,
         "records": [DESTROYED]},
        {"at": "2026-01-15T10:00:00+08:00", "by": ARCHIVIST, "epoch": epoch("2025"), "key": entries[1].key,
         "records": [DESTROYED], "moved": [HELD, OPEN]},
    ]
    # the identities are gone from this clone's keyring, and the vault is clean
    for year in ("2024", "2025"):
        assert not (root / f".git/dangan/keyring/{epoch(year)}.age").exists()
    assert ok(dg(root, "check", "--all", key=world["archivist"])).code == 0


def test_the_held_record_moved_to_the_next_years_epoch_and_still_opens(world: dict, tmp_path: Path) -> None:
    root, archivist = world["root"], world["archivist"]
    listed = epochkeys.parse((root / "epochs.yaml").read_bytes())
    assert wrapped_to(stored(root, path_of(HELD))) == [listed.get(epoch("2026")).key]
    for code in (HELD, EXTENDED, OPEN):  # every record kept opens with dangan
        shown = ok(dg(root, "show", code, "--decrypt", key=archivist)).out
        assert all(secret in shown for secret in SECRETS), code
    out = tmp_path / "held.pdf"
    ok(dg(root, "attachments", "get", HELD, "scan.pdf", "--out", str(out), key=archivist))
    assert out.read_bytes() == HELD_SCAN


def test_every_record_kept_opens_with_sops_and_age_after_export_epochs(world: dict, tmp_path: Path) -> None:
    root = world["root"]
    keys_file = tmp_path / "epochs.txt"
    made = ok(dg(root, "keys", "export-epochs", str(keys_file), key=world["approver"])).out.split()
    assert epoch("2025") not in made and epoch("2026") in made
    env = clean_env(SOPS_AGE_KEY_FILE=str(keys_file))
    for code in (HELD, EXTENDED, OPEN):
        proc = subprocess.run([sops_binary(), "decrypt", path_of(code)], cwd=root, capture_output=True,
                              text=True, env=env, check=False)
        assert proc.returncode == 0 and SECRETS[0] in proc.stdout, (code, proc.stderr)
    proc = subprocess.run([age_binary(), "-d", "-i", str(keys_file), scan_path(HELD)], cwd=root,
                          capture_output=True, check=False)
    assert proc.returncode == 0 and proc.stdout == HELD_SCAN, proc.stderr


# ------------------------------------------------------- the destruction reaches every copy

def test_after_the_shred_and_the_backups_expiry_nothing_opens_the_destroyed_record(world: dict) -> None:
    # the control: until the keyring backup made before the shred expires, it opens the
    # destroyed record's last version (so the checks below can fail)
    report = world["done"]
    [kept] = report["keyring_backups"]
    assert kept["epochs"] == [epoch("2024"), epoch("2025")]
    assert all(e["last_keyring_backup_expires"] == kept["expires"] for e in report["shredded"])
    last = git(world["root"], "rev-parse", f"{world['head_before']}~1:{path_of(DESTROYED)}").strip()
    data = subprocess.run(["git", "cat-file", "blob", last], cwd=world["root"], capture_output=True,
                          check=True).stdout
    assert opens(data, identities_held(world))
    # a backup after the keyring backup's expiry deletes it (backup create sweeps them)
    later = dt.datetime(2026, 4, 1, 2, 0, tzinfo=dt.UTC)
    backup_at(world["root"], world["backups"], world["archivist"], later)
    assert not any(epoch(year) in json.loads(p.read_text("utf-8"))["epochs"]
                   for p in world["backups"].glob("*.keyring.json") for year in ("2024", "2025"))
    # the office clone drops its copy when it runs the shred after pulling
    office = world["office"]
    assert (office / f".git/dangan/keyring/{epoch('2025')}.age").exists()
    swept = ok(dg(office, "keys", "shred", "--by", ARCHIVIST, "--at", "2026-04-01T10:00:00+08:00", "--json",
                  key=world["archivist"]))
    assert json.loads(swept.out)["swept"] == [epoch("2024"), epoch("2025")]
    assert not any((office / f".git/dangan/keyring/{epoch(y)}.age").exists() for y in ("2024", "2025"))
    held = identities_held(world, now=later)
    # every Git object of the vault, the office's clone, and a clone of the last bundle
    bundle = sorted(world["backups"].glob("*.bundle"))[-1]
    restored = world["base"] / "from-bundle"
    git(world["base"], "clone", "-q", str(bundle), str(restored))
    checked = 0
    for repo in (world["root"], office, restored):
        records = versions(repo, path_of(DESTROYED))
        scans = versions(repo, scan_path(DESTROYED))
        assert records and scans
        for data in records.values():
            if b"sops:" in data:
                assert not opens(data, held)
                checked += 1
        for data in scans.values():
            assert not file_opens(data, held)
            checked += 1
    assert checked >= 6
    # the real tools agree: sops and age with every identity held in one keys file
    keys_file = world["base"] / "all-held.txt"
    people = [world["approver"].file.read_text(), world["archivist"].file.read_text()]
    exported = world["base"] / "exported.txt"
    ok(dg(world["root"], "keys", "export-epochs", str(exported), key=world["archivist"]))
    keys_file.write_text("".join(people) + exported.read_text(), "ascii")
    keys_file.chmod(0o600)
    last = versions(world["root"], path_of(DESTROYED))
    sample = world["base"] / "destroyed.yaml"
    sample.write_bytes(next(d for d in last.values() if b"sops:" in d))
    proc = subprocess.run([sops_binary(), "decrypt", str(sample)], capture_output=True, text=True,
                          env=clean_env(SOPS_AGE_KEY_FILE=str(keys_file)), check=False)
    assert proc.returncode != 0 and SECRETS[0] not in proc.stdout
    scan = world["base"] / "destroyed.pdf.age"
    scan.write_bytes(next(iter(versions(world["root"], scan_path(DESTROYED)).values())))
    proc = subprocess.run([age_binary(), "-d", "-i", str(keys_file), str(scan)], capture_output=True, check=False)
    assert proc.returncode != 0 and SCAN not in proc.stdout


# ----------------------------------------------------------------------------- the rules

def test_the_hook_refuses_a_record_sealed_to_the_shredded_epoch(world: dict, tmp_path: Path) -> None:
    """Anyone can wrap to a shredded epoch's public key (it is public): DG123 refuses it."""
    root = tmp_path / "copy"
    shutil.copytree(world["root"], root, symlinks=True)
    listed = epochkeys.parse((root / "epochs.yaml").read_bytes())
    opened = epochkeys.EpochKeys(root / ".git").unlock([world["archivist"].identity])
    rewrap_by_hand(root, path_of(OPEN), list(opened.values()), [listed.get(epoch("2025")).key])
    git(root, "add", path_of(OPEN))
    proc = subprocess.run(["git", "commit", "-q", "-m", "sealed to a shredded epoch"], cwd=root,
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "DG123" in proc.stderr and "shredded" in proc.stderr


def test_nothing_to_shred_says_so(world: dict) -> None:
    result = ok(dg(world["root"], "keys", "shred", "--by", ARCHIVIST, "--at", "2026-02-01T10:00:00+08:00",
                   key=world["archivist"]))
    assert result.out == "" and "nothing to shred" in result.err


def test_a_vault_without_epochs_is_refused(tmp_path: Path) -> None:
    key = make_key(tmp_path, "k")
    root = tmp_path / "vault"
    ok(dg(tmp_path, "init", str(root), "--recipient", f"A={key.public}"))
    refused = dg(root, "keys", "shred", "--by", "A", key=key)
    assert refused.code == 2 and "no epochs" in refused.err


def test_a_shred_appended_to_a_certificate_is_the_archivists_role_act() -> None:
    """With `signed_role_acts`, the commit that appends a shred must be signed by the
    archivist it names (DG119), as the certificate's own commit is."""
    from dangan.rules.acts import ARCHIVIST as ROLE
    from dangan.rules.acts import record_acts

    old = {"carried_out_by": ARCHIVIST, "items": []}
    event = {"at": "2026-01-15T10:00:00+08:00", "by": "周文", "epoch": epoch("2025"), "key": "age1x",
             "records": [DESTROYED]}
    acts = record_acts("vault/XH/XH-0001.yaml", "XH-0001", "XH", old, {**old, "shreds": [event]})
    assert [(a.role, a.person) for a in acts] == [(ROLE, "周文")]
    again = {**old, "shreds": [event, {**event, "by": "錢芳"}]}
    acts = record_acts("vault/XH/XH-0001.yaml", "XH-0001", "XH", {**old, "shreds": [event]}, again)
    assert [(a.role, a.person) for a in acts] == [(ROLE, "錢芳")]  # only what was appended


@pytest.mark.parametrize("change", ["revived", "removed", "rekeyed"])
def test_epochs_yaml_only_grows_and_a_shredded_epoch_stays_shredded(world: dict, tmp_path: Path, change: str) -> None:
    """A writer with push access cannot bring a shredded epoch back (new records would be
    sealed to a key nobody holds), drop an epoch or swap its key: DG114, in the hook and
    on the server."""
    root = tmp_path / "copy"
    shutil.copytree(world["root"], root, symlinks=True)
    tree = load_text((root / "epochs.yaml").read_text("utf-8"))
    entry = next(e for e in tree["epochs"] if e["id"] == epoch("2025"))
    if change == "revived":
        entry["state"] = "live"
        del entry["shredded"], entry["certificate"]
        expected = f"epoch {epoch('2025')} was shredded on 2026-01-15; it never comes back"
    elif change == "removed":
        tree["epochs"].remove(entry)
        expected = f"epoch {epoch('2025')} was removed"
    else:
        entry["key"] = agekeys.generate_identity()[1]
        expected = f"epoch {epoch('2025')}: its key was changed"
    (root / "epochs.yaml").write_text(dump(tree), "utf-8")
    git(root, "add", "epochs.yaml")
    proc = subprocess.run(["git", "commit", "-q", "-m", f"epochs.yaml {change}"], cwd=root,
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "epochs.yaml: DG114" in proc.stderr and expected in proc.stderr, proc.stderr
    git(root, "commit", "-q", "--no-verify", "-m", f"epochs.yaml {change}")
    push = subprocess.run(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], cwd=root,
                          capture_output=True, text=True, check=False)
    assert push.returncode != 0 and "DG114" in push.stderr and expected in push.stderr
