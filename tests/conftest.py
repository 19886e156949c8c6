"""Shared fixtures: real Git repositories in temporary directories, the real CLI.

Git never sees the developer's own configuration: HOME points into a temporary directory,
global and system config are switched off, and the identity comes from the environment.
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
DANGAN_BIN = Path(sys.executable).parent / "dangan"

# Deterministic property tests in CI: same examples every run, no deadline flakiness.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=200, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

_HOME = Path(tempfile.mkdtemp(prefix="dangan-test-home-"))
# removed when this process (or xdist worker) ends: a run left one folder per worker in /tmp
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
# where `dangan edit` puts the decrypted copy (store/scratch.py): never the machine's own
_RUNTIME = _HOME / "run"
_RUNTIME.mkdir(mode=0o700)
os.environ.update(
    {
        "HOME": str(_HOME),
        "XDG_RUNTIME_DIR": str(_RUNTIME),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "測試員 Tester",
        "GIT_AUTHOR_EMAIL": "tester@example.invalid",
        "GIT_COMMITTER_NAME": "測試員 Tester",
        "GIT_COMMITTER_EMAIL": "tester@example.invalid",
        "EDITOR": "false",
        "LANG": "C.UTF-8",
    }
)
for _var in ("VISUAL", "DANGAN_AGE_KEY_FILE", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
             "XDG_CONFIG_HOME", "DANGAN_DEBUG", "GIT_DIR", "GIT_INDEX_FILE"):
    os.environ.pop(_var, None)
# the hooks of test vaults find the dangan of this environment
os.environ["PATH"] = f"{DANGAN_BIN.parent}{os.pathsep}{os.environ.get('PATH', '')}"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


def run_cli(args: Sequence[str], input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    """`dangan ARGS` in-process through main(): the same parsing, errors and exit codes."""
    from dangan.cli.main import main

    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        code = main(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        return Result(code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace"))


def path_without_dangan() -> str:
    """PATH without the folders that hold a `dangan`: a shell where it is not installed."""
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p and not (Path(p) / "dangan").exists())


def run_bin(args: Sequence[str], cwd: Path | None = None, input: bytes | None = None, env: dict[str, str] | None = None) -> Result:
    """The installed `dangan` executable in a subprocess, as a user runs it."""
    full = dict(os.environ)
    full.update(env or {})
    proc = subprocess.run([str(DANGAN_BIN), *args], cwd=cwd, input=input, capture_output=True, env=full)
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


def installed_tool(name: str, hint: str) -> str:
    """The path of a command the test extra installs beside this Python (sops,
    check-jsonschema), or on PATH; the test is skipped, saying `hint`, when it is neither."""
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.skip(f"{name} not installed ({hint})")
    return found


def drain_pty(fd: int) -> bytes:
    """Everything written to a pseudo-terminal (its main side) until the other side closes."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def on_a_terminal(root: Path, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, what a pseudo-terminal on stderr showed) of `dangan -C ROOT ARGS`:
    what a user sees of the progress lines, which only a terminal gets."""
    import pty

    main, side = pty.openpty()
    try:
        proc = subprocess.Popen([str(DANGAN_BIN), "-C", str(root), *args],
                                stdout=subprocess.PIPE, stderr=side, stdin=subprocess.DEVNULL)
        os.close(side)
        out, _ = proc.communicate(timeout=60)
        shown = drain_pty(main).decode("utf-8")
    finally:
        os.close(main)
    return proc.returncode, out.decode("utf-8"), shown


def bare_server(parent: Path, name: str = "remote.git") -> Path:
    """A bare repository under `parent` with this repository's pre-receive hook: a server."""
    bare = parent / name
    git(parent, "init", "-q", "--bare", str(bare))
    shutil.copyfile(REPO / "hooks" / "pre-receive", bare / "hooks" / "pre-receive")
    (bare / "hooks" / "pre-receive").chmod(0o755)
    return bare


def git(root: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def sops_config(root: Path) -> bytes:
    """The .sops.yaml that the vault.yaml and schemas/ of `root`'s work tree give: what a
    hand edit of recipients or `access` commits with vault.yaml (DG114 otherwise)."""
    from dangan.formats.schemas import SchemaSet
    from dangan.store import sopsconfig
    from dangan.store.vault import load_config

    return sopsconfig.render(load_config(root), SchemaSet.from_dir(root / "schemas"))


def snapshot(root: Path) -> tuple[str, str, str]:
    """What must not change when a command fails: HEAD, the index, the work tree status."""
    head = git(root, "rev-parse", "HEAD", check=False).strip()
    index = git(root, "ls-files", "-s")
    status = git(root, "status", "--porcelain", "--untracked-files=all", "--ignored")
    return head, index, status


@pytest.fixture(scope="session")
def template_vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised, empty vault per test process; tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "vault"
    result = run_cli(["init", str(path), "--name", "測試檔案庫"])
    assert result.code == 0, result
    return path


@pytest.fixture
def vault(template_vault: Path, tmp_path: Path) -> Path:
    """A fresh empty vault (a copy of the template: `git init` once per process)."""
    target = tmp_path / "vault"
    shutil.copytree(template_vault, target, symlinks=True)
    return target


@pytest.fixture
def cli(vault: Path):
    """`cli("new", "SB", ...)` runs dangan on the test vault."""

    def call(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
        return run_cli(["-C", str(vault), *args], input=input, env=env)

    return call


CHROMIUM = Path("/usr/bin/chromium")


def screenshot(page: Path, shot: Path, height: int = 1600) -> list[str]:
    """Render an HTML file in headless Chromium into `shot` (PNG); skips the test when
    Chromium is not installed (.ci/run installs it). Returns the console and security
    messages the page caused (a self-contained page causes none)."""
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (.ci/run installs it)")
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={shot.parent / (shot.stem + '-profile')}", "--enable-logging=stderr", "--v=0",
         f"--window-size=1200,{height}", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists()
    return [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Content Security Policy" in line]


def iter_files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if ".git" not in path.parts and path.is_file():
            yield path
