"""An internal error (a bug) leaves a crash log under the vault's .git/dangan/ and says where
(errors.py `internal_error`, docs/cli.md §1, docs/threat-model.md "Crash logs").

The bug is real: a small program replaces one function of dangan with one that fails, then
runs the real entry point (`dangan.entry.main`) — as the `dangan` executable, as git's hook
(through `git config dangan.command`) and on a server's bare repository. The failing
function puts the sensitive value given on the command line into its exception's message,
so the log is checked not to hold it.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from test_hooks import make_remote, remote_refs

from dangan import __version__
from dangan.errors import REDACTED, find_git_dir, shown_argv, write_crash_log

PHONE = "13912345678"
NAME = "王小明"
HINT = re.compile(r"hint: a crash log was written to (?P<path>\S+) \(it holds no record values\); "
                  r"DANGAN_DEBUG=1 prints the traceback")


def crashing(tmp_path: Path, module: str, function: str) -> Path:
    """An executable `dangan` whose `module.function` raises ValueError naming its arguments
    and what the text files under vault/ of its folder hold (a hook's case: a staged value),
    chained to the ValueError of `int()` on them."""
    script = tmp_path / "crashing-dangan"
    script.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, sys\n"
        f"import {module} as target\n"
        "def boom(*args, **kwargs):\n"
        "    held = repr((args, kwargs, [p.read_text() for p in pathlib.Path('vault').glob('**/*.txt')]))\n"
        "    try:\n"
        "        int(held)\n"
        "    except ValueError as exc:\n"
        "        raise ValueError('cannot store ' + held) from exc\n"
        f"target.{function} = boom\n"
        "from dangan.entry import main\n"
        "sys.exit(main(sys.argv[1:]))\n",
        "utf-8",
    )
    script.chmod(0o755)
    return script


def the_log(stderr: str, git_dir: Path) -> str:
    """The crash log the two lines of stderr point to, after checking those lines."""
    lines = stderr.splitlines()
    assert lines[-2] == "dangan: internal error: ValueError", stderr
    m = HINT.fullmatch(lines[-1])
    assert m, stderr
    path = Path(m["path"])
    assert path.parent.resolve() == (git_dir / "dangan").resolve() and re.fullmatch(r"crash-\d{8}T\d{6}Z(-\d+)?\.log", path.name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return path.read_text("utf-8")


def assert_reportable(log: str) -> None:
    assert f"dangan: {__version__}\n" in log
    assert f"python: {platform.python_version()} " in log and sys.executable in log
    assert f"platform: {platform.platform()}\n" in log
    assert re.search(r"^git: git version \d", log, re.M), log
    assert log.count("Traceback (most recent call last):") == 2  # the error and its cause
    assert "The above exception was the direct cause of the following exception:" in log
    assert ', in boom\n' in log and "ValueError: (message withheld" in log


def assert_no_secret(log: str) -> None:
    for secret in (PHONE, NAME, "ValueError: cannot store", os.environ["HOME"], os.environ["GIT_AUTHOR_EMAIL"]):
        assert secret not in log, secret


@pytest.mark.parametrize("argv", [
    ["new", "YZ", "A01", "--set", f"owner.phone={PHONE}", f"--set=owner.name={NAME}"],
    ["set", "YZ-A01-0001", f"owner.phone={PHONE}", f"owner.name={NAME}"],
])
def test_a_crashing_command_writes_a_log_without_the_values_given(vault: Path, tmp_path: Path, argv: list[str]) -> None:
    function = "create" if argv[0] == "new" else "update"
    program = crashing(tmp_path, "dangan.services.records", function)
    before = git(vault, "status", "--porcelain")
    proc = subprocess.run([str(program), "-C", str(vault), *argv], capture_output=True, text=True)
    assert proc.returncode == 3 and proc.stdout == "", proc
    assert "Traceback" not in proc.stderr and PHONE not in proc.stderr
    log = the_log(proc.stderr, vault / ".git")
    assert_reportable(log)
    assert_no_secret(log)
    assert f"in {argv[0]}_cmd\n" in log  # the CLI's frames are there
    if argv[0] == "new":
        shown = f"dangan -C {REDACTED} new {REDACTED} {REDACTED} --set owner.phone={REDACTED} --set=owner.name={REDACTED}"
    else:
        shown = f"dangan -C {REDACTED} set {REDACTED} owner.phone={REDACTED} owner.name={REDACTED}"
    assert f"\ncommand: {shown}\n" in log
    assert git(vault, "status", "--porcelain") == before  # the crash log is inside .git


def test_with_dangan_debug_the_traceback_is_printed_and_the_log_written(vault: Path, tmp_path: Path) -> None:
    program = crashing(tmp_path, "dangan.services.records", "update")
    proc = subprocess.run([str(program), "-C", str(vault), "set", "YZ-A01-0001", f"owner.phone={PHONE}"],
                          capture_output=True, text=True, env={**os.environ, "DANGAN_DEBUG": "1"})
    assert proc.returncode == 3
    assert "Traceback (most recent call last):" in proc.stderr and "ValueError: cannot store" in proc.stderr
    m = re.search(r"^dangan: a crash log was written to (\S+)$", proc.stderr, re.M)
    assert m and PHONE not in Path(m[1]).read_text("utf-8")


def test_a_crashing_pre_commit_hook_writes_a_log_and_refuses(vault: Path, tmp_path: Path) -> None:
    """git runs the hook; the hook runs the dangan named by `git config dangan.command`."""
    git(vault, "config", "dangan.command", str(crashing(tmp_path, "dangan.services.scan", "check_staged")))
    record = vault / "vault" / "A01" / "YZ" / "note.txt"
    record.parent.mkdir(parents=True)
    record.write_text(f"owner phone {PHONE}\n", "utf-8")
    git(vault, "add", "-A")
    head = git(vault, "rev-parse", "HEAD")
    proc = subprocess.run(["git", "commit", "-q", "-m", "a note"], cwd=vault, capture_output=True, text=True)
    assert proc.returncode != 0 and git(vault, "rev-parse", "HEAD") == head, proc
    log = the_log(proc.stderr, vault / ".git")
    assert_reportable(log)
    assert_no_secret(log)
    assert "\ncommand: dangan hook pre-commit\n" in log


def test_a_crashing_server_hook_writes_the_log_in_the_bare_repository(vault: Path, tmp_path: Path) -> None:
    bare = make_remote(vault, tmp_path)
    git(bare, "config", "dangan.command", str(crashing(tmp_path, "dangan.services.scan", "check_commits")))
    proc = subprocess.run(["git", "push", "--no-verify", "origin", "main"], cwd=vault, capture_output=True, text=True)
    assert proc.returncode != 0 and remote_refs(bare) == {}, proc
    # git prefixes the server's lines with "remote: "
    stderr = "\n".join(line.removeprefix("remote: ").rstrip() for line in proc.stderr.splitlines()
                       if line.startswith(("remote: dangan", "remote: hint")))
    log = the_log(stderr, bare)
    assert_reportable(log)
    assert_no_secret(log)
    assert "\ncommand: dangan hook pre-receive\n" in log


# ------------------------------------------------------------------ the parts

def test_the_command_line_keeps_words_options_and_keys_only() -> None:
    r = REDACTED
    assert shown_argv(["-C", "/home/wang/archive", "--identity", "k.txt", "lend", "request", "SB-A01-0001",
                       "--borrower", "王小明", "--note=for the audit", "--json"], ("lend", "request")) == [
        "-C", r, "--identity", r, "lend", "request", r, "--borrower", r, f"--note={r}", "--json"]
    assert shown_argv(["-C/srv/a", "ls", "--where", f"owner.phone={PHONE}", "--search", PHONE], ("ls",)) == [
        f"-C{r}", "ls", "--where", f"owner.phone={r}", "--search", r]
    # a word that only looks like a command is a value; so is a key that is not a field's name
    assert shown_argv(["recipients", "add", "wang", "age1xyz"], ("recipients", "add")) == [
        "recipients", "add", r, r]
    assert shown_argv(["set", "YZ-A01-0001", f"{PHONE} x=1", "--", "-1"], ("set",)) == ["set", r, f"{r}={r}", "--", r]
    assert shown_argv(["hook", "pre-push", "origin", "https://user:token@host/x.git"], ("hook", "pre-push")) == [
        "hook", "pre-push", r, r]


def test_the_git_directory_is_found_from_files_alone(tmp_path: Path) -> None:
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", str(work))
    (work / "a" / "b").mkdir(parents=True)
    assert find_git_dir(str(work / "a" / "b")) == str(work / ".git")
    git(work, "commit", "-q", "--allow-empty", "-m", "first")
    linked = tmp_path / "linked"
    git(work, "worktree", "add", "-q", str(linked))
    assert Path(find_git_dir(str(linked)) or "").resolve() == (work / ".git" / "worktrees" / "linked").resolve()
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    assert find_git_dir(str(bare / "refs")) == str(bare)
    alone = tmp_path / "alone"
    alone.mkdir()
    if find_git_dir(str(alone)) is not None:  # a repository around the temporary folder
        pytest.skip("the temporary folder is inside a git repository")


def test_without_a_usable_git_directory_the_log_goes_to_the_user_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", str(work))
    (work / ".git" / "dangan").write_text("not a folder", "utf-8")  # nothing can be made there
    try:
        raise KeyError(PHONE)
    except KeyError as exc:
        path = write_crash_log(exc, ["-C", str(work), "show", "YZ-A01-0001"], ("show",))
    assert path is not None and Path(path).parent == cache / "dangan"
    log = Path(path).read_text("utf-8")
    assert "KeyError: (message withheld" in log and PHONE not in log
    assert f"command: dangan -C {REDACTED} show {REDACTED}\n" in log
    # neither there nor in the cache: nothing written, and the message says so
    shutil.rmtree(cache)
    cache.write_text("not a folder", "utf-8")
    assert write_crash_log(KeyError("x"), ["-C", str(work), "show"], ("show",)) is None


def test_messages_that_name_code_are_kept(tmp_path: Path) -> None:
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", str(work))
    try:
        None.missing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        path = write_crash_log(exc, ["-C", str(work), "ls"], ("ls",))
    assert path and "AttributeError: 'NoneType' object has no attribute 'missing'" in Path(path).read_text("utf-8")


def test_a_crash_in_the_warm_check_itself_is_caught_and_logged(
        vault: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The standard-library answer of entry.py (store/quick.py) had no guard of its own."""
    from dangan.entry import main
    from dangan.store import quick

    def broken(start: str) -> None:
        raise OSError(f"cannot read {PHONE}")

    monkeypatch.setattr(quick, "answer", broken)
    assert main(["-C", str(vault), "check"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("dangan: internal error: OSError\nhint: a crash log was written to "), err
    log = Path(HINT.search(err)["path"]).read_text("utf-8")  # type: ignore[index]
    assert "OSError: (message withheld" in log and PHONE not in log
    assert f"command: dangan -C {REDACTED} check\n" in log and "in broken\n" in log
