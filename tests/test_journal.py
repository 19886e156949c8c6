"""The access journal (issue 9, item 4): every decryption shown to a person is one entry.

Real vaults with a real age recipient, the real CLI, real `git log -p` through the diff
driver. What is proved: each decrypting command appends exactly one entry naming its codes
and command; commands that do not show plaintext append none; `audit ls` filters; a
tampered middle line fails `audit verify` (exit 1) while a cut-off tail cannot (as
documented); a journal that cannot be written refuses the decryption (exit 2, no
plaintext); concurrent writers do not interleave; no sensitive value reaches the journal.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DANGAN_BIN, REPO, Result, git, run_cli

from dangan.formats import agekeys
from dangan.store import journal

VALID = REPO / "tests" / "schema_examples" / "valid"
ROOM = "A01-02-001-0301"
TS_CODE = "TS-A01-02-001-0301-0001"
TS_PATH = f"vault/A01/02/001/0301/TS/{TS_CODE}.yaml"
YZ_CODE = "YZ-A01-02-001-0301-0001"
# sensitive values of the two examples (by hand, not derived with dangan's code)
SECRETS = ("林曉東", "138-0000-1234", "320506198507151234", "lin.xd@example.com", "H12345678", "蘇EDF1234")
TESTER = "測試員 Tester"


@dataclass
class Sealed:
    root: Path
    key: Path
    public: str


def example(name: str) -> str:
    """A schema example as `new --file` input (no code, category or refs)."""
    kept, in_refs = [], False
    for line in (VALID / name).read_text("utf-8").splitlines(keepends=True):
        if not line.startswith(" "):
            in_refs = line.startswith("refs:")
        if not (in_refs or line.startswith(("code:", "category:"))):
            kept.append(line)
    return "".join(kept)


def dg(root: Path, *args: str, key: Path | None = None, env: dict[str, str] | None = None) -> Result:
    ident = ["--identity", str(key)] if key is not None else []
    return run_cli(["-C", str(root), *ident, *args], env=env)


def ok(result: Result) -> Result:
    assert result.code == 0, result
    return result


def lines(root: Path) -> list[dict]:
    path = root / ".git" / "dangan" / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(raw) for raw in path.read_text("utf-8").splitlines()]


def new_entries(root: Path, before: int) -> list[dict]:
    return lines(root)[before:]


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Sealed:
    """A vault encrypting for Alice, with a TS and a YZ record, and a later change to TS
    (so `diff` has a modified record) — committed on back-dated days."""
    base = tmp_path_factory.mktemp("journal")
    secret, public = agekeys.generate_identity()
    key = base / "alice.key"
    agekeys.write_identity_file(key, secret, public)
    root = base / "vault"
    first = {"GIT_COMMITTER_DATE": "2024-03-01T10:00:00+08:00", "GIT_AUTHOR_DATE": "2024-03-01T10:00:00+08:00"}
    ok(run_cli(["init", str(root), "--recipient", f"Alice={public}"], env=first))
    for name in ("TS-complaint.yaml", "YZ-owner-file.yaml"):
        fields = base / name
        fields.write_text(example(name), "utf-8")
        ok(dg(root, "new", name[:2], ROOM, "--file", str(fields), key=key, env=first))
    later = {"GIT_COMMITTER_DATE": "2024-03-05T10:00:00+08:00", "GIT_AUTHOR_DATE": "2024-03-05T10:00:00+08:00"}
    ok(dg(root, "set", TS_CODE, "complainant.phone=139-2468-1357", key=key, env=later))
    return Sealed(root, key, public)


@pytest.fixture
def copy(sealed: Sealed, tmp_path: Path) -> Sealed:
    """A private copy for tests that change the vault or its journal."""
    target = tmp_path / "vault"
    shutil.copytree(sealed.root, target, symlinks=True)
    shutil.rmtree(target / ".git" / "dangan", ignore_errors=True)
    return Sealed(target, sealed.key, sealed.public)


# ------------------------------------------------------------- one entry per decryption

DECRYPTING = {
    "show": (("show", TS_CODE, "--decrypt"), [TS_CODE], "show"),
    "show --as-of": (("show", TS_CODE, "--decrypt", "--as-of", "2024-03-02"), [TS_CODE], "show"),
    "show --json": (("show", YZ_CODE, "--decrypt", "--json"), [YZ_CODE], "show"),
    "export": (("export", "--category", "TS", "--decrypt"), [TS_CODE], "export"),
    "diff": (("diff", "--from", "2024-03-02", "--decrypt"), [TS_CODE], "diff"),
    "decrypt": (("decrypt", "{root}/" + TS_PATH), [TS_CODE], "decrypt"),
}


@pytest.mark.parametrize("name", DECRYPTING)
def test_each_decrypting_command_appends_one_entry(sealed: Sealed, name: str) -> None:
    args, codes, command = DECRYPTING[name]
    args = tuple(a.replace("{root}", str(sealed.root)) for a in args)
    before = len(lines(sealed.root))
    result = ok(dg(sealed.root, *args, key=sealed.key))
    assert "138-0000-1234" in result.out or "林曉東" in result.out  # it did show plaintext
    added = new_entries(sealed.root, before)
    assert len(added) == 1, added
    entry = added[0]
    assert entry["command"] == command
    assert entry["codes"] == codes
    assert entry["who"] == TESTER and entry["user"] and entry["host"]
    assert entry["argv"][:3] == ["dangan", "-C", str(sealed.root)] and command in entry["argv"]
    assert entry["argv"][3:5] == ["--identity", str(sealed.key)]
    assert entry["identities"] == [{"kind": "age", "key": sealed.public, "recipient": "Alice", "file": str(sealed.key)}]
    assert entry["time"][:4] >= "2024" and entry["time"].endswith("+08:00")  # the vault's timezone
    if command == "decrypt":
        assert entry["files"] == [str((sealed.root / TS_PATH).resolve())]


def test_edit_of_an_encrypted_record_is_journaled_before_the_editor_opens(copy: Sealed) -> None:
    """The editor sees plaintext: the entry exists while it runs (the editor checks)."""
    editor = copy.root.parent / "editor.sh"
    journal_file = copy.root / ".git" / "dangan" / "journal.jsonl"
    editor.write_text(f"#!/bin/sh\ngrep -q '\"codes\":\\[\"{TS_CODE}\"\\]' {journal_file} || exit 7\n", "utf-8")
    editor.chmod(0o700)
    result = ok(dg(copy.root, "edit", TS_CODE, key=copy.key, env={"EDITOR": str(editor)}))
    assert "no changes" in result.err
    assert [e["command"] for e in lines(copy.root)] == ["edit"]


def test_the_diff_driver_journals_each_decrypted_version(copy: Sealed) -> None:
    """`git log -p` runs `dangan textconv` for both versions of the changed record."""
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(copy.key), PATH=f"{DANGAN_BIN.parent}{os.pathsep}{os.environ['PATH']}")
    shown = subprocess.run(["git", "log", "-p", "-1", "--", TS_PATH], cwd=copy.root, env=env,
                           capture_output=True, check=True, text=True).stdout
    assert "+  phone: 139-2468-1357" in shown
    entries = lines(copy.root)
    assert len(entries) == 2 and {e["command"] for e in entries} == {"textconv"}
    assert all(e["codes"] == [TS_CODE] for e in entries)
    # without a key the driver shows fingerprints and journals nothing
    env.pop("SOPS_AGE_KEY_FILE")
    masked = subprocess.run(["git", "log", "-p", "-1", "--", TS_PATH], cwd=copy.root, env=env,
                            capture_output=True, check=True, text=True).stdout
    assert "‹encrypted" in masked and len(lines(copy.root)) == 2


NOT_DECRYPTING = [
    ("show", TS_CODE),
    ("show", YZ_CODE, "--json"),
    ("ls",),
    ("export", "--category", "TS"),
    ("log", TS_CODE),
    ("diff", "--from", "2024-03-02"),  # compares plaintext with the key, shows only "changed"
    ("check", "--all"),  # verifies MACs with the key, shows no value
]


def test_commands_that_show_no_plaintext_append_nothing(sealed: Sealed) -> None:
    before = len(lines(sealed.root))
    for args in NOT_DECRYPTING:
        result = ok(dg(sealed.root, *args, key=sealed.key))
        assert "林曉東" not in result.out, args
    assert len(lines(sealed.root)) == before


def test_no_sensitive_value_reaches_the_journal(sealed: Sealed) -> None:
    ok(dg(sealed.root, "export", "--decrypt", key=sealed.key))
    ok(dg(sealed.root, "show", YZ_CODE, "--decrypt", key=sealed.key))
    text = (sealed.root / ".git" / "dangan" / "journal.jsonl").read_text("utf-8")
    assert text and not [s for s in SECRETS if s in text]
    assert "AGE-SECRET-KEY" not in text.upper()
    mode = (sealed.root / ".git" / "dangan" / "journal.jsonl").stat().st_mode & 0o777
    assert mode == 0o600


# ----------------------------------------------------------------------- audit ls

def test_audit_ls_filters_and_json(copy: Sealed) -> None:
    ok(dg(copy.root, "show", TS_CODE, "--decrypt", key=copy.key))
    ok(dg(copy.root, "show", YZ_CODE, "--decrypt", key=copy.key, env={"GIT_AUTHOR_NAME": "王芳"}))
    ok(dg(copy.root, "export", "--decrypt", key=copy.key))

    every = json.loads(ok(dg(copy.root, "audit", "ls", "--json")).out)
    assert every["intact"] is True and [e["line"] for e in every["entries"]] == [1, 2, 3]
    assert [e["command"] for e in every["entries"]] == ["show", "show", "export"]

    def codes_of(*args: str) -> list[list[str]]:
        return [e["codes"] for e in json.loads(ok(dg(copy.root, "audit", "ls", "--json", *args)).out)["entries"]]

    assert codes_of("--code", YZ_CODE) == [[YZ_CODE], [TS_CODE, YZ_CODE]]
    assert codes_of("--by", "王芳") == [[YZ_CODE]]
    assert len(codes_of("--by", "测试员 Tester")) == 2  # the name in the other script (測試員)
    assert len(codes_of("--by", TESTER)) == 2
    assert codes_of("--by", "nobody") == []
    today = every["entries"][0]["time"][:10]
    assert len(codes_of("--since", today, "--until", today)) == 3
    assert codes_of("--until", "2000-01-01") == []
    assert codes_of("--since", "2999-01-01") == []

    text = ok(dg(copy.root, "audit", "ls", "--by", "王芳")).out.splitlines()
    assert len(text) == 1 and text[0].split("\t")[0] == "2" and "王芳" in text[0] and YZ_CODE in text[0]
    assert dg(copy.root, "audit", "ls", "--since", "someday").code == 2
    assert dg(copy.root, "audit", "ls", "--since", "2024-02-01", "--until", "2024-01-01").code == 2


def test_audit_on_a_vault_without_a_journal(copy: Sealed) -> None:
    listed = ok(dg(copy.root, "audit", "ls"))
    assert listed.out == "" and "no journal yet" in listed.err
    assert json.loads(ok(dg(copy.root, "audit", "verify", "--json")).out)["exists"] is False


# ------------------------------------------------------------------- audit verify

def three_entries(copy: Sealed) -> Path:
    for code in (TS_CODE, YZ_CODE, TS_CODE):
        ok(dg(copy.root, "show", code, "--decrypt", key=copy.key))
    return copy.root / ".git" / "dangan" / "journal.jsonl"


def test_verify_reports_an_edited_middle_line(copy: Sealed) -> None:
    path = three_entries(copy)
    assert "3 entries, hash chain intact" in ok(dg(copy.root, "audit", "verify")).err
    raw = path.read_text("utf-8").splitlines(keepends=True)
    raw[1] = raw[1].replace(YZ_CODE, TS_CODE)  # someone hides that they opened YZ
    path.write_text("".join(raw), "utf-8")
    result = dg(copy.root, "audit", "verify")
    assert result.code == 1, result
    assert "line 3: does not follow line 2" in result.out
    doc = json.loads(dg(copy.root, "audit", "verify", "--json").out)
    assert doc["intact"] is False and len(doc["problems"]) == 1
    assert "broken" in dg(copy.root, "audit", "ls").err  # ls warns too


@pytest.mark.parametrize("damage", ["delete middle", "delete first", "garbage line"])
def test_verify_reports_removed_and_inserted_lines(copy: Sealed, damage: str) -> None:
    path = three_entries(copy)
    raw = path.read_text("utf-8").splitlines(keepends=True)
    if damage == "delete middle":
        del raw[1]
    elif damage == "delete first":
        del raw[0]
    else:
        raw.insert(1, "not json\n")
    path.write_text("".join(raw), "utf-8")
    result = dg(copy.root, "audit", "verify")
    assert result.code == 1 and "line " in result.out, result


def test_a_cut_off_tail_is_not_detectable_as_documented(copy: Sealed) -> None:
    path = three_entries(copy)
    raw = path.read_text("utf-8").splitlines(keepends=True)
    path.write_text("".join(raw[:2]), "utf-8")
    assert ok(dg(copy.root, "audit", "verify")).code == 0


def test_a_torn_last_line_is_kept_apart_and_reported(copy: Sealed) -> None:
    path = three_entries(copy)
    with open(path, "ab") as handle:
        handle.write(b'{"time":"2024')  # a write cut short by a crash
    ok(dg(copy.root, "show", TS_CODE, "--decrypt", key=copy.key))
    result = dg(copy.root, "audit", "verify", "--json")
    assert result.code == 1
    assert json.loads(result.out)["problems"] == ["line 4: not a journal entry (torn write or edited)"]
    assert len(json.loads(ok(dg(copy.root, "audit", "ls", "--json")).out)["entries"]) == 4


# -------------------------------------------------------------------- fail closed

@pytest.mark.parametrize("args", [
    ("show", TS_CODE, "--decrypt"),
    ("show", YZ_CODE, "--decrypt", "--json"),
    ("export", "--decrypt", "--format", "json"),
    ("diff", "--from", "2024-03-02", "--decrypt"),
    ("decrypt", "{root}/" + TS_PATH),
])
def test_an_unwritable_journal_refuses_the_decryption(copy: Sealed, args: tuple[str, ...]) -> None:
    (copy.root / ".git" / "dangan" / "journal.jsonl").mkdir(parents=True)  # cannot be opened for writing
    args = tuple(a.replace("{root}", str(copy.root)) for a in args)
    result = dg(copy.root, *args, key=copy.key)
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.startswith("dangan: error: cannot write the access journal") and "Traceback" not in result.err
    assert not [s for s in SECRETS if s in result.out + result.err]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
def test_a_read_only_journal_directory_refuses(copy: Sealed) -> None:
    folder = copy.root / ".git" / "dangan"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o500)
    try:
        result = dg(copy.root, "show", TS_CODE, "--decrypt", key=copy.key)
    finally:
        folder.chmod(0o700)
    assert result.code == 2 and result.out == ""


def test_the_diff_driver_falls_back_to_the_masked_view(copy: Sealed) -> None:
    (copy.root / ".git" / "dangan" / "journal.jsonl").mkdir(parents=True)
    result = ok(dg(copy.root, "textconv", str(copy.root / TS_PATH), key=copy.key))
    assert "‹encrypted" in result.out and "林曉東" not in result.out
    assert "showing the record masked" in result.err


# ----------------------------------------------------------------- where and how

def test_concurrent_writers_never_interleave(copy: Sealed) -> None:
    script = ("import sys; from pathlib import Path; from dangan.store import journal\n"
              "for i in range(40): journal.note(Path(sys.argv[1]), 'show', [f'TS-A01-{sys.argv[2]}-{i:04d}'], who='x')\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(copy.root), tag]) for tag in ("01", "02", "03")]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    check = journal.verify(copy.root)
    assert check.intact and check.entries == 120, check
    assert len({e.codes[0] for e in journal.entries(copy.root)}) == 120


def test_worktrees_share_the_clone_journal(copy: Sealed) -> None:
    tree = copy.root.parent / "tree"
    git(copy.root, "worktree", "add", "-q", str(tree))
    ok(dg(tree, "show", TS_CODE, "--decrypt", key=copy.key))
    assert [e["codes"] for e in lines(copy.root)] == [[TS_CODE]]
    assert json.loads(ok(dg(tree, "audit", "ls", "--json")).out)["journal"] == str(
        copy.root / ".git" / "dangan" / "journal.jsonl")


def test_a_copied_record_decrypted_outside_any_vault_goes_to_the_user_journal(copy: Sealed, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "copy.yaml"
    outside.parent.mkdir()
    shutil.copy(copy.root / TS_PATH, outside)
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state)}
    ok(run_cli(["--identity", str(copy.key), "decrypt", str(outside)], env=env))
    entry = json.loads((state / "dangan" / "journal.jsonl").read_text("utf-8"))
    assert entry["codes"] == [TS_CODE] and entry["files"] == [str(outside.resolve())]
    listed = json.loads(ok(run_cli(["-C", str(copy.root), "audit", "ls", "--user-journal", "--json"], env=env)).out)
    assert [e["codes"] for e in listed["entries"]] == [[TS_CODE]]
    assert lines(copy.root) == []
