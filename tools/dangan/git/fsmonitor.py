"""The file-system monitor that git's `core.fsmonitor` hook asks: Watchman.

On Linux, git 2.39 has no monitor of its own; `core.fsmonitor` names a hook (git ships one,
`fsmonitor-watchman`) that asks Watchman which files changed since a clock. A warm `check
--all` (store/quick.py) asks Watchman the same question about vault/ instead of stating
every file and folder: at 956,977 records that is 5 ms against 3–4 s (docs/performance.md).

Asked only when `watchman` is on PATH and git itself is set to use a monitor
(`core.fsmonitor` set and not false); never starts the Watchman service (`--no-spawn`), and never starts a
watch: an unwatched work tree, a service that is not running, an error, a clock of another
Watchman instance (`is_fresh_instance`) all answer "do not know", and the caller stats as
before. Standard library only (the warm check's fast path imports it).
"""
from __future__ import annotations

import json
import os
import subprocess

from dangan.errors import GitError
from dangan.git import gitio

FALSE = ("", "false", "no", "off", "0")
TIMEOUT = 30  # seconds: a query waits for Watchman to see every change made before it


def installed() -> bool:
    """A `watchman` executable on PATH (looked up without shutil: the warm check's fast
    path imports nothing it can do without)."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", "watchman")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return True
    return False


def enabled(root: str) -> bool:
    """Watchman is installed and git here is set to use a file-system monitor (whether
    Watchman runs and watches this work tree is for the questions to find out). Without
    Watchman on PATH, git is not asked: a git process saved on every check."""
    if not installed():
        return False
    try:
        proc = gitio.run(["config", "--get", "core.fsmonitor"], root, check=False)
    except GitError:
        return False
    return proc.returncode == 0 and proc.stdout.decode("utf-8", "replace").strip().lower() not in FALSE


def _ask(command: list) -> dict | None:
    try:
        proc = subprocess.run(["watchman", "--no-spawn", "-j", "--no-pretty"], input=json.dumps(command).encode(),
                              capture_output=True, timeout=TIMEOUT)
        answer = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if not isinstance(answer, dict) or "error" in answer or not isinstance(answer.get("clock"), str):
        return None
    return answer


def clock(root: str) -> str | None:
    """Watchman's clock for the work tree `root` once it has seen every change made before
    this call (its sync cookie), or None (not watched, not running, an error)."""
    answer = _ask(["clock", os.path.realpath(root), {"sync_timeout": TIMEOUT * 1000}])
    return answer["clock"] if answer is not None else None


def unchanged_since(root: str, since: str, under: str) -> tuple[str | None, bool]:
    """(Watchman's clock now, True if nothing under the folder `under` of `root` — a file
    or a folder, made, changed or removed — changed since the clock `since`). False
    whenever Watchman cannot say: an error, a clock of an earlier instance of the service."""
    query = {"since": since, "fields": ["name"], "expression": ["dirname", under],
             "empty_on_fresh_instance": True}
    answer = _ask(["query", os.path.realpath(root), query])
    if answer is None:
        return None, False
    files = answer.get("files")
    quiet = answer.get("is_fresh_instance") is False and isinstance(files, list) and not files
    return answer["clock"], quiet
