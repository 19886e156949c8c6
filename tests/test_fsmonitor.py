"""A warm `check --all` where git uses a file-system monitor (`core.fsmonitor`, Watchman):
the remembered result is used when Watchman says nothing under vault/ changed since the
memo's clock, without stating any file or folder; every change is still seen, and any doubt
(Watchman restarted, stopped, not set up) sends the check down the stat path as before.

A real Watchman service per test, on its own socket: a `watchman` first on PATH passes
`--sockname` to the real one (the 4.9 client does not read WATCHMAN_SOCK), so dangan and git's
own hook (the sample `fsmonitor-watchman` git ships) both reach it. .ci/run installs Watchman.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, run_bin
from test_cli_check import sb_text

from dangan.git import fsmonitor, gitio
from dangan.store import quick

WATCHMAN = shutil.which("watchman")
SAMPLE = Path("/usr/share/git-core/templates/hooks/fsmonitor-watchman.sample")
SB = "vault/A01/02/SB/SB-A01-02-0001.yaml"

pytestmark = pytest.mark.skipif(WATCHMAN is None, reason="watchman not installed (.ci/run installs it)")


class Service:
    """A Watchman service of the test's own, and the PATH that reaches it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.sock = home / "sock"
        bin_dir = home / "bin"
        bin_dir.mkdir(exist_ok=True)
        wrapper = bin_dir / "watchman"
        wrapper.write_text(f'#!/bin/sh\nexec {WATCHMAN} --sockname={self.sock} "$@"\n', "utf-8")
        wrapper.chmod(0o755)
        self.bin = bin_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(WATCHMAN), "--foreground", f"--sockname={self.sock}", f"--logfile={self.home}/log",
             f"--statefile={self.home}/state", f"--pidfile={self.home}/pid", "--no-save-state"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):  # `version` answers without a service: `watch-list` needs one
            listed = self.ask("watch-list")
            if listed.returncode == 0 and '"roots"' in listed.stdout:
                return
            time.sleep(0.05)
        raise AssertionError("watchman did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def ask(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / "watchman"), "--no-spawn", *args], capture_output=True, text=True)


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    home = Path(tempfile.mkdtemp(prefix="wm-", dir="/tmp"))  # a socket's path must be short
    running = Service(home)
    running.start()
    monkeypatch.setenv("PATH", f"{running.bin}:{os.environ['PATH']}")
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def v(vault: Path, service: Service) -> Path:
    """A vault with one committed record, watched, git set to use the monitor, a full check
    behind it."""
    target = vault / SB
    target.parent.mkdir(parents=True)
    target.write_text(sb_text(), "utf-8")
    git(vault, "add", "-A")
    git(vault, "commit", "-q", "-m", "SB")
    if SAMPLE.exists():  # git's own hook, for git's own commands
        hook = vault / ".git/fsmonitor-watchman"
        shutil.copy(SAMPLE, hook)
        git(vault, "config", "core.fsmonitor", str(hook))
    else:
        git(vault, "config", "core.fsmonitor", "true")
    watched = service.ask("watch-project", str(vault))
    assert watched.returncode == 0 and "error" not in watched.stdout, watched
    git(vault, "update-index", "--fsmonitor")
    first = run_bin(["-C", str(vault), "check", "--all"])
    assert first.code == 0, first
    return vault


def memo_of(root: Path) -> dict:
    (found,) = (root / ".git/dangan/cache").glob("tree-*.json")
    return json.loads(found.read_text("utf-8"))


def answered_without_stating(root: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """quick.answer (the executable's fast path) gives the remembered result with every
    way of stating the work tree made to fail (False: it stated, or did not remember)."""
    def no_stat(*_: object, **__: object) -> None:
        raise Stated

    with monkeypatch.context() as patched:
        patched.setattr(quick.TreeMemo, "folders_unchanged", no_stat)
        patched.setattr(quick.gitio, "start", no_stat)
        try:
            return quick.answer(str(root)) is not None
        except Stated:
            return False


class Stated(Exception):
    """The warm check stated the work tree (git's stat check or the folders')."""


def test_the_memo_keeps_watchmans_clock_and_a_warm_check_asks_it_alone(
        v: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = memo_of(v).get("monitor")
    assert isinstance(clock, str) and clock.startswith("c:")
    assert fsmonitor.enabled(str(v))
    assert answered_without_stating(v, monkeypatch)
    again = run_bin(["check", "--all"], cwd=v)
    assert (again.out, again.code) == ("1 file(s) checked, 0 findings\n", 0)


@pytest.mark.parametrize("change", [
    "edit in place, same size and mtime", "new untracked file", "new empty folder",
    "record removed", "staged change",
])
def test_every_change_is_seen(v: Path, change: str, monkeypatch: pytest.MonkeyPatch) -> None:
    record = v / SB
    if change == "edit in place, same size and mtime":
        text = record.read_text("utf-8")
        before = record.stat()
        record.write_text(text.replace("category: SB", "category: WX"), "utf-8")
        os.utime(record, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert record.stat().st_size == before.st_size
    elif change == "new untracked file":
        (v / "vault/A01/02/SB/other.txt").write_text("x\n", "utf-8")
    elif change == "new empty folder":
        (v / "vault/B01").mkdir()
    elif change == "record removed":
        record.unlink()
    elif change == "staged change":
        record.write_text(record.read_text("utf-8").replace("title: ", "title: x"), "utf-8")
        git(v, "add", SB)
    assert not answered_without_stating(v, monkeypatch)
    full = run_bin(["check", "--all"], cwd=v)
    expected = {
        "edit in place, same size and mtime": ("DG103", 1),
        "new untracked file": ("DG104", 1),
        "new empty folder": ("1 file(s) checked, 0 findings", 0),
        "record removed": ("0 file(s) checked", 0),
        "staged change": ("1 file(s) checked, 0 findings", 0),
    }[change]
    assert expected[0] in full.out and full.code == expected[1], full


def test_a_restarted_watchman_is_not_trusted_then_the_memo_takes_its_new_clock(
        v: Path, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    old = memo_of(v)["monitor"]
    service.stop()
    service.start()
    assert service.ask("watch-project", str(v)).returncode == 0
    # a clock of the earlier service: Watchman says it is a fresh instance, dangan stats
    assert not answered_without_stating(v, monkeypatch)
    assert quick.answer(str(v)) is not None  # nothing changed: the stat path says so
    new = memo_of(v)["monitor"]
    assert new != old and new.startswith("c:")
    assert answered_without_stating(v, monkeypatch)


def test_an_unwatched_work_tree_is_stated(v: Path, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    assert service.ask("watch-del", str(v)).returncode == 0
    assert not answered_without_stating(v, monkeypatch)
    assert quick.answer(str(v)) is not None
    (v / "vault/A01/02/SB/other.txt").write_text("x\n", "utf-8")
    assert quick.answer(str(v)) is None


def test_without_core_fsmonitor_watchman_is_not_asked(vault: Path, service: Service) -> None:
    target = vault / SB
    target.parent.mkdir(parents=True)
    target.write_text(sb_text(), "utf-8")
    git(vault, "add", "-A")
    git(vault, "commit", "-q", "-m", "SB")
    assert service.ask("watch-project", str(vault)).returncode == 0
    assert not fsmonitor.enabled(str(vault))
    git(vault, "config", "core.fsmonitor", "false")
    assert not fsmonitor.enabled(str(vault))
    assert run_bin(["-C", str(vault), "check", "--all"]).code == 0
    assert "monitor" not in memo_of(vault)
    assert gitio.run(["config", "--get", "core.fsmonitor"], vault).stdout.strip() == b"false"


def test_without_watchman_on_path_git_is_not_asked(v: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fsmonitor.enabled(str(v))
    monkeypatch.setenv("PATH", "/nonexistent")
    asked = []
    monkeypatch.setattr(fsmonitor.gitio, "run", lambda *a, **k: asked.append(a))
    assert not fsmonitor.installed() and not fsmonitor.enabled(str(v)) and asked == []
