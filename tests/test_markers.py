"""Git's own conflict markers in records (issue 20, part 2), and what every command says
while git is in the middle of a merge or a rebase.

A clone that never ran `dangan hook install` has no merge driver: `git pull` merges the
records line by line and leaves `<<<<<<<`/`=======`/`>>>>>>>` inside `ENC[...]` lines and
the sops block. `check` (work tree, staged, range) reports a finding that names the merge
and the commands that undo it, instead of a YAML parse error; `show`, `set` and `edit`
refuse with the same way out; a writing command refused mid-merge or mid-rebase says what
finishes or aborts it. The fixtures are test_merge.py's: a bare server with the real
pre-receive, alice's clone and a real age key; bob's clone here has no driver.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import run_bin, snapshot
from test_merge import SB, SB_PATH, TS, TS_PATH, dg, g, key, ok, origin  # noqa: F401 (fixtures)

from dangan.model.threeway import has_markers

MARKERS = "git conflict markers"


@pytest.fixture
def pulled(origin: Path, tmp_path: Path, key: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """alice changed the phone (encrypted) and the model; bob, in a clone without the
    driver, the handler and the model: git's line merge conflicts in both records."""
    import shutil

    top = tmp_path / "team"
    shutil.copytree(origin, top, symlinks=True)
    alice, bare, bob = top / "alice", top / "server.git", top / "bob"
    k = key["file"]
    g(alice, "remote", "set-url", "origin", str(bare))
    g(top, "clone", "-q", str(bare), str(bob))  # no `dangan hook install`: no driver
    g(bob, "config", "pull.rebase", "false")
    ok(dg(alice, "set", TS, "complainant.phone=139-1111-2222", key=k))
    ok(dg(alice, "set", SB, "model=A"))
    g(alice, "push", "-q")
    ok(dg(bob, "set", TS, "handler=李雷", key=k))
    ok(dg(bob, "set", SB, "model=B"))
    return {"alice": alice, "bob": bob, "bare": bare, "key": k}


def _merge(team: dict[str, Any]) -> Path:
    bob = team["bob"]
    merged = g(bob, "pull", "--no-edit", check=False, key=team["key"])
    assert merged.returncode != 0 and "CONFLICT (content)" in merged.stdout, merged
    text = (bob / TS_PATH).read_text("utf-8")
    # the markers are where the issue found them: around ENC[...] lines and the mac
    assert re.search(r"<<<<<<< HEAD\n  phone: ENC\[", text), text
    # (lastmodified is inside the markers too unless both sides wrote in the same second)
    assert re.search(r"<<<<<<< HEAD\n(  lastmodified: .*\n)?  mac: ENC\[", text), text
    return bob


def _one_finding(out: str, path: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith(f"{path}: ")]
    assert len(lines) == 1, out
    return lines[0]


def test_markers_are_a_finding_naming_the_merge_and_the_way_out(pulled: dict[str, Any]) -> None:
    bob = _merge(pulled)
    checked = dg(bob, "check")
    assert checked.code == 1, checked
    for path, code in ((TS_PATH, TS), (SB_PATH, SB)):
        line = _one_finding(checked.out, path)
        assert "DG101" in line and MARKERS in line, line
        assert f"git checkout -m -- {path}" in line and f"dangan resolve {code}" in line, line
        assert "could not find expected" not in line  # not the YAML parser's words
    # the same through the installed executable's fast path (the warm check and hookrun)
    warm = run_bin(["check"], cwd=bob)
    assert warm.code == 1 and _one_finding(warm.out, TS_PATH) == _one_finding(checked.out, TS_PATH), warm


def test_reading_commands_refuse_with_the_way_out(pulled: dict[str, Any]) -> None:
    bob, k = _merge(pulled), pulled["key"]
    before = snapshot(bob)
    for args in (["show", TS], ["show", "--decrypt", TS], ["set", SB, "model=C"],
                 ["set", "--no-commit", TS, "handler=韓梅梅"], ["edit", SB]):
        result = dg(bob, *args, key=k)
        assert result.code == 2, (args, result)
        assert MARKERS in result.err and "could not find expected" not in result.err, (args, result)
        assert "git checkout -m -- " in result.err and "dangan resolve " in result.err, (args, result)
        assert "git merge --abort" in result.err, (args, result)
    assert snapshot(bob) == before


NEW_SB = ["new", "SB", "A01-02", "--set", "title=2號梯", "--set", "system=elevator",
          "--set", "equipment_type=passenger_elevator", "--set", "install_location=2號樓"]


def test_writing_commands_mid_merge_say_what_finishes_it(pulled: dict[str, Any]) -> None:
    bob = _merge(pulled)
    before = snapshot(bob)
    result = dg(bob, *NEW_SB)
    assert result.code == 2, result
    assert "in the middle of a merge" in result.err and "2 path(s) in conflict" in result.err, result
    assert "dangan resolve CODE" in result.err and "`git commit` finishes it" in result.err, result
    assert "`git merge --abort` gives it up" in result.err, result
    assert snapshot(bob) == before


def test_the_way_out_works_resolve_after_git_add(pulled: dict[str, Any]) -> None:
    """What the finding says, done: the markers were even staged (`git add`); `git checkout
    -m` brings the conflict back and `dangan resolve` merges it field by field, without
    any driver configured."""
    bob, k = _merge(pulled), pulled["key"]
    g(bob, "add", TS_PATH, SB_PATH)
    staged = run_bin(["hook", "pre-commit"], cwd=bob)
    assert staged.code == 1 and MARKERS in _one_finding(staged.err, TS_PATH), staged
    g(bob, "checkout", "-m", "--", TS_PATH, SB_PATH)
    assert has_markers((bob / TS_PATH).read_bytes())  # git's line merge again: no driver here
    ok(dg(bob, "resolve", TS, key=k))  # nothing in conflict field by field
    ok(dg(bob, "resolve", SB, "--set", "model=C"))
    done = g(bob, "commit", "--no-edit", key=k, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ok(dg(bob, "check", "--all", key=k))
    assert ok(dg(bob, "show", "--decrypt", TS, key=k)).out.count("139-1111-2222") == 1


def test_markers_committed_are_found_in_a_range(pulled: dict[str, Any]) -> None:
    bob = _merge(pulled)
    g(bob, "commit", "--no-verify", "-qam", "markers committed")
    result = dg(bob, "check", "--range", "HEAD~1..HEAD")
    assert result.code == 1
    line = _one_finding(result.out, TS_PATH)
    assert MARKERS in line and "(commit " in line, line
    # after the merge the way out is the committed record
    shown = dg(bob, "show", TS)
    assert shown.code == 2 and f"git checkout HEAD -- {TS_PATH}" in shown.err, shown


def test_a_rebase_refusal_names_rebase_continue(pulled: dict[str, Any]) -> None:
    bob = pulled["bob"]
    ok(dg(bob, "hook", "install"))  # with the driver: a readable conflict, then the refusal
    rebased = g(bob, "pull", "--rebase", key=pulled["key"], check=False)
    assert rebased.returncode != 0
    result = dg(bob, "set", "--no-commit", SB, "model=D")
    assert result.code == 2 and "in the middle of a rebase" not in result.err  # the record itself refuses first
    assert f"dangan resolve {SB}" in result.err, result
    other = dg(bob, *NEW_SB)
    assert other.code == 2 and "in the middle of a rebase" in other.err, other
    assert "`git rebase --continue` finishes it" in other.err and "git rebase --abort" in other.err, other


def test_has_markers_only_on_line_starts() -> None:
    assert has_markers(b"a: 1\n<<<<<<< HEAD\nb: 2\n=======\nb: 3\n>>>>>>> x\n")
    assert has_markers(b"a: 1\n=======\n")
    assert not has_markers(b"description: |\n  <<<<<<< HEAD\n  =======\n")  # inside a value
    assert not has_markers(b"a: '<<<<<<< x'\n")
