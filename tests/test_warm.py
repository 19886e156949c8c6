"""A warm `check --all`: the remembered result is used exactly while nothing it depends on
changed, and the executable's standard-library path prints what the full check prints.

Every case runs a real `dangan check --all` first (which leaves the memo and the note
quick.json), changes one thing, and asks `quick.answer` (the fast path of entry.py) whether
it would answer from the memo; then the real executable must print the right result.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, git, run_bin
from test_cli_check import sb_text

from dangan.store import quick

VALID = REPO / "tests" / "schema_examples" / "valid"
SB = "vault/A01/02/SB/SB-A01-02-0001.yaml"
LOAN = "vault/JY/JY-0002.yaml"


@pytest.fixture
def v(vault: Path) -> Path:
    """A vault with one committed record and a full check behind it."""
    target = vault / SB
    target.parent.mkdir(parents=True)
    target.write_text(sb_text(), "utf-8")
    git(vault, "add", "-A")
    git(vault, "commit", "-q", "-m", "SB")
    first = run_bin(["-C", str(vault), "check", "--all"])
    assert first.code == 0, first
    return vault


def cli_path(root: Path, *args: str) -> tuple[str, str, int]:
    """`dangan ARGS` forced through the click layer (the executable would take the fast path)."""
    code = "import sys; from dangan.cli.main import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=root, capture_output=True, text=True)
    return proc.stdout, proc.stderr, proc.returncode


def remembered(root: Path) -> bool:
    return quick.answer(str(root)) is not None


def test_a_second_check_is_answered_from_the_memo_with_the_same_output(v: Path) -> None:
    answer = quick.answer(str(v))
    assert answer is not None
    out, err, code = cli_path(v, "-C", str(v), "check", "--all")
    assert answer == (out, code) == ("1 file(s) checked, 0 findings\n", 0)
    second = run_bin(["-C", str(v), "check"])
    assert (second.out, second.code, second.err) == (out, 0, "")


def test_remembered_findings_are_printed_as_the_full_check_prints_them(v: Path) -> None:
    bad = v / "vault/A01/02/SB/SB-A01-02-0002.yaml"
    bad.write_text(sb_text(code="SB-A01-02-0002", category="WX"), "utf-8")
    (v / "vault/A01/02/SB/notes.txt").write_text("stray\n", "utf-8")
    full = run_bin(["check", "--all"], cwd=v)
    assert full.code == 1 and "DG103" in full.out and "DG104" in full.out, full
    assert remembered(v)
    again = run_bin(["check", "--all"], cwd=v / "vault")  # found from a subfolder too
    out, _, code = cli_path(v, "check", "--all")
    assert (again.out, again.code) == (full.out, 1) == (out, code)


@pytest.mark.parametrize("change", [
    "edit in place, same size", "new untracked file", "new folder", "untracked file removed",
    "staged change", "vault.yaml edited", "schema edited", "identity file appears",
])
def test_any_change_it_depends_on_sends_the_check_down_the_full_path(
        v: Path, change: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    stray = v / "vault/A01/02/SB/scratch.txt"
    if change == "untracked file removed":
        stray.write_text("x\n", "utf-8")
    assert run_bin(["check"], cwd=v, env={"HOME": str(home)}).out  # the memo as of now
    assert remembered(v)
    record = v / SB
    if change == "edit in place, same size":
        text = record.read_text("utf-8")
        record.write_text(text.replace("category: SB", "category: WX"), "utf-8")
        assert record.read_text("utf-8") != text
        assert len(record.read_bytes()) == len(text.encode())
    elif change == "new untracked file":
        (v / "vault/A01/02/SB/other.txt").write_text("x\n", "utf-8")
    elif change == "new folder":
        (v / "vault/B01").mkdir()
        (v / "vault/B01/x.yaml").write_text("a: 1\n", "utf-8")
    elif change == "untracked file removed":
        stray.unlink()
    elif change == "staged change":
        record.write_text(record.read_text("utf-8").replace("title: ", "title: x"), "utf-8")
        git(v, "add", SB)
    elif change == "vault.yaml edited":
        with open(v / "vault.yaml", "a", encoding="utf-8") as handle:
            handle.write("# a comment\n")
    elif change == "schema edited":
        with open(v / "schemas/categories.yaml", "a", encoding="utf-8") as handle:
            handle.write("# a comment\n")
    elif change == "identity file appears":
        key = home / ".config/sops/age/keys.txt"
        key.parent.mkdir(parents=True)
        key.write_text("# not a key\n", "utf-8")
    assert not remembered(v)


def test_a_touched_but_unchanged_file_keeps_the_memo(v: Path) -> None:
    os.utime(v / SB, (1_000_000_000, 1_000_000_000))
    assert remembered(v)  # git compares the content of a file whose stat changed
    assert run_bin(["check"], cwd=v).out == "1 file(s) checked, 0 findings\n"


@pytest.mark.parametrize("variable", ["SOPS_AGE_KEY", "GIT_INDEX_FILE", "GIT_DIR"])
def test_what_it_cannot_see_through_is_left_to_the_full_path(
        v: Path, variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, "AGE-SECRET-KEY-1X" if variable == "SOPS_AGE_KEY" else str(v / ".git/other"))
    assert not remembered(v)


def test_no_note_no_answer(v: Path) -> None:
    (v / ".git/dangan/cache" / quick.STAMP_FILE).unlink()
    assert not remembered(v)
    run_bin(["check"], cwd=v)  # the full path (it found the memo valid) leaves the note again
    assert remembered(v)


def test_with_an_identity_flag_no_note_is_left(v: Path, tmp_path: Path) -> None:
    (v / ".git/dangan/cache" / quick.STAMP_FILE).unlink()
    key = tmp_path / "key.txt"
    assert run_bin(["keys", "generate", "--out", str(key)]).code == 0
    assert run_bin(["--identity", str(key), "check", "--all"], cwd=v).code == 0
    assert not (v / ".git/dangan/cache" / quick.STAMP_FILE).exists()


def test_the_lending_settings_are_part_of_the_cached_result(vault: Path) -> None:
    """Regression: the per-file cache and the memo were keyed by the recipients only, so a
    stricter `lending.originals_not_lent` left a remembered clean loan clean."""
    target = vault / LOAN
    target.parent.mkdir(parents=True)
    target.write_text((VALID / "JY-loan-out.yaml").read_text("utf-8"), "utf-8")
    before = run_bin(["check", "--all"], cwd=vault)
    assert "DG111" not in before.out, before
    config = vault / "vault.yaml"
    config.write_text(config.read_text("utf-8").replace("    - ZH\n", "    - ZH\n    - SB\n"), "utf-8")
    after = run_bin(["check", "--all"], cwd=vault)
    assert f"{LOAN}: DG111 SB-A01-01-0002 is lent as an original" in after.out, after


def test_the_fast_path_reports_errors_like_the_cli(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    fast = run_bin(["-C", str(empty), "check"])
    out, err, code = cli_path(tmp_path, "-C", str(empty), "check")
    assert (fast.code, fast.out, fast.err) == (code, out, err) == (2, "", fast.err)
    assert "no vault here" in fast.err
    a_file = tmp_path / "file"
    a_file.write_text("x", "utf-8")
    clicked = run_bin(["-C", str(a_file), "check"])  # not a folder: click says so, as always
    assert clicked.code == 2 and "is a file" in clicked.err, clicked


@pytest.mark.skipif(quick._fsstat is None, reason="pure-Python install (test_canon checks when it may be)")
def test_the_compiled_folder_stats_agree_with_os_stat(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    names = ["a", "a/b", "missing", "a/b/../b", "中文"]
    (tmp_path / "中文").mkdir()
    packed = quick._fsstat.mtimes(str(tmp_path), b"".join(n.encode() + b"\0" for n in names))
    from array import array

    got = array("q")
    got.frombytes(packed)
    expected = [os.stat(tmp_path / n).st_mtime_ns if (tmp_path / n).exists() else -1 for n in names]
    assert got.tolist() == expected
    with pytest.raises(OSError):
        quick._fsstat.mtimes(str(tmp_path / "missing"), b"a\0")


def test_without_the_compiled_stats_the_answers_are_the_same(v: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quick, "_fsstat", None)
    assert remembered(v)
    (v / "vault/A01/02/SB/other.txt").write_text("x\n", "utf-8")
    assert not remembered(v)


def test_the_hook_asks_git_early_what_check_staged_asks() -> None:
    from dangan.git import gitio
    from dangan.hook import hookrun
    from dangan.services.scan import SETTINGS
    from dangan.store.vault import RECORDS

    assert gitio.STAGED_DIFF[:2] == ("diff", "--cached") and "--raw" in gitio.STAGED_DIFF
    asked = (*gitio.STAGED_DIFF, "HEAD", "--", RECORDS + "/", *SETTINGS, "schemas/")
    assert asked == hookrun.STAGED


def test_the_hook_on_a_first_commit(template_vault: Path, tmp_path: Path) -> None:
    """No HEAD yet: the early `git diff --cached HEAD` fails and the hook asks again against
    the empty tree; a bad record is refused, a good one committed."""
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for src in template_vault.iterdir():  # the vault's files, not its history
        if src.name != ".git":
            subprocess.run(["cp", "-r", str(src), str(root / src.name)], check=True)
    assert run_bin(["hook", "install"], cwd=root).code == 0
    target = root / SB
    target.parent.mkdir(parents=True)
    target.write_text(sb_text(category="WX"), "utf-8")
    git(root, "add", "-A")
    refused = subprocess.run(["git", "commit", "-q", "-m", "first"], cwd=root, capture_output=True, text=True)
    assert refused.returncode != 0 and f"{SB}: DG103" in refused.stderr, refused
    assert git(root, "rev-parse", "--verify", "-q", "HEAD", check=False) == ""
    target.write_text(sb_text(), "utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    assert git(root, "ls-files", SB).strip() == SB


@pytest.mark.parametrize("entry", ["cli", "fast path"])
def test_an_unexpected_error_is_one_line_not_a_traceback(
        vault: Path, entry: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from dangan.services import scan

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(scan, "check_worktree", broken)
    if entry == "cli":
        from conftest import run_cli

        result = run_cli(["-C", str(vault), "check", "--all", "--json"])
        code, err = result.code, result.err
    else:
        from dangan.entry import main

        code = main(["-C", str(vault), "check"])
        err = capsys.readouterr().err
    assert code == 3
    log = re.fullmatch(r"dangan: internal error: RuntimeError\n"
                       r"hint: a crash log was written to (\S+) \(it holds no record values\); "
                       r"DANGAN_DEBUG=1 prints the traceback\n", err)
    assert log and Path(log[1]).parent == vault / ".git" / "dangan", err
    assert "RuntimeError: (message withheld" in Path(log[1]).read_text("utf-8")  # more: test_crash.py
    monkeypatch.setenv("DANGAN_DEBUG", "1")
    if entry == "fast path":
        assert main(["-C", str(vault), "check"]) == 3
        debug = capsys.readouterr().err
        assert "Traceback" in debug and "RuntimeError: a bug" in debug


def test_an_index_without_its_checksum_is_known_by_its_file(tmp_path: Path) -> None:
    """git 2.40's index.skipHash (feature.manyFiles) writes zeros where the index's checksum
    goes: the memo must not take two such indexes for the same one."""
    from dangan.store.quick import TreeMemo

    git_dir = tmp_path / ".git"
    git_dir.mkdir()
    index = git_dir / "index"
    index.write_bytes(b"DIRC" + b"\1" * 40 + b"\0" * 20)
    memo = TreeMemo(None, str(tmp_path), str(git_dir), "f")
    first = memo.index_checksum()
    assert first.startswith("unhashed:")
    replaced = tmp_path / "index.new"
    replaced.write_bytes(b"DIRC" + b"\2" * 40 + b"\0" * 20)  # another index, same size
    os.utime(replaced, ns=(1, 1))
    os.replace(replaced, index)  # as git writes it: a new file renamed over the old
    assert memo.index_checksum() not in ("", first)
    index.write_bytes(b"DIRC" + b"\1" * 40 + bytes(range(1, 21)))
    assert memo.index_checksum() == bytes(range(1, 21)).hex()  # a hashed index: its checksum
