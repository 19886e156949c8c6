"""The pre-commit framework (https://pre-commit.com) checks what it claims (issue 20, part 4).

The real `pre-commit` (the test extra installs it) builds dangan from a clone of this
repository at a commit — the way a team pins it (docs/ci.md) — in a virtualenv it
pip-installs from the package index. That build takes a minute, so there is one: the
clone and PRE_COMMIT_HOME are shared by the tests of this file, and both tests name the
same repository and rev, which pre-commit's store keys its build by.

A vault holds a record broken by a commit made with `--no-verify`. `pre-commit try-repo`
and a `.pre-commit-config.yaml` pinned by `pre-commit autoupdate --freeze` both fail on it
with `pre-commit run --all-files`, naming the record; a commit run checks the staged
changes only; and pre-commit's hooks and dangan's drivers live together after `dangan hook
install --no-hooks-path` (while `core.hooksPath`, which `dangan init` sets, makes
`pre-commit install` refuse).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import DANGAN_BIN, REPO, git, run_cli

SB_REL = "vault/A01/02/SB/SB-A01-02-0001.yaml"
SB_FIELDS = ["--set", "title=1號樓1號客梯", "--set", "system=elevator",
             "--set", "equipment_type=passenger_elevator", "--set", "install_location=1號樓"]


def pre_commit_bin() -> str:
    local = DANGAN_BIN.parent / "pre-commit"
    found = str(local) if local.exists() else shutil.which("pre-commit")
    if found is None:
        pytest.skip("the pre-commit framework is not installed (the test extra has it)")
    return found


@pytest.fixture(scope="module")
def dangan_repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A clone of this repository with its uncommitted changes committed (as try-repo
    does), its commit id, and one PRE_COMMIT_HOME for the module's builds."""
    pre_commit_bin()
    top = tmp_path_factory.mktemp("precommit")
    clone = top / "dangan"
    subprocess.run(["git", "clone", "-q", "--no-local", str(REPO), str(clone)], check=True)
    patch = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=REPO, capture_output=True,
                           check=True).stdout
    if patch:
        subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=clone, input=patch, check=True)
    untracked = git(REPO, "ls-files", "--others", "--exclude-standard", "-z").split("\0")
    for rel in filter(None, untracked):  # new files not yet added (a test being written)
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, clone / rel)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "--allow-empty", "--no-verify", "-m", "the work tree under test")
    return {"url": clone.as_uri(), "rev": git(clone, "rev-parse", "HEAD").strip(),
            "home": str(top / "cache")}


def run_pc(root: Path, repo: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PRE_COMMIT_HOME=repo["home"], PRE_COMMIT_COLOR="never")
    return subprocess.run([pre_commit_bin(), *args], cwd=root, capture_output=True, text=True,
                          env=env, timeout=900, check=False)


@pytest.fixture
def broken(vault: Path) -> Path:
    """A vault whose last commit (made with --no-verify) breaks a record's schema (DG102)."""
    assert run_cli(["-C", str(vault), "new", "SB", "A01-02", *SB_FIELDS]).code == 0
    path = vault / SB_REL
    path.write_text(path.read_text("utf-8").replace("status: in_service", "status: bogus"), "utf-8")
    assert "status: bogus" in path.read_text("utf-8")
    git(vault, "commit", "-q", "--no-verify", "-am", "a broken record")
    assert run_cli(["-C", str(vault), "check"]).code == 1
    return vault


def names_the_record(proc: subprocess.CompletedProcess[str]) -> None:
    said = proc.stdout + proc.stderr
    assert proc.returncode == 1, said
    assert re.search(rf"^{re.escape(SB_REL)}: DG102 /status", said, re.M), said
    assert "Failed" in said, said


@pytest.mark.slow
def test_try_repo_all_files_checks_the_whole_vault(broken: Path, dangan_repo: dict[str, str]) -> None:
    def try_repo() -> subprocess.CompletedProcess[str]:
        return run_pc(broken, dangan_repo, "try-repo", dangan_repo["url"], "dangan-check",
                      "--ref", dangan_repo["rev"], "--all-files")

    names_the_record(try_repo())
    path = broken / SB_REL  # fixed in the work tree (not even staged): the whole vault passes
    path.write_text(path.read_text("utf-8").replace("status: bogus", "status: standby"), "utf-8")
    fixed = try_repo()
    assert fixed.returncode == 0 and "Passed" in fixed.stdout, fixed.stdout + fixed.stderr


@pytest.mark.slow
def test_a_pinned_config_with_pre_commit_install(broken: Path, dangan_repo: dict[str, str]) -> None:
    vault = broken
    config = vault / ".pre-commit-config.yaml"
    config.write_text(f"repos:\n  - repo: {dangan_repo['url']}\n    rev: main\n    hooks:\n"
                      "      - id: dangan-check\n", "utf-8")
    # the pin docs/ci.md gives: the repository has no tags, so autoupdate writes a commit id
    pinned = run_pc(vault, dangan_repo, "autoupdate", "--freeze")
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    assert f"rev: {dangan_repo['rev']}" in config.read_text("utf-8"), config.read_text("utf-8")
    git(vault, "add", ".pre-commit-config.yaml")
    git(vault, "commit", "-q", "-m", "pre-commit config")  # dangan's own hook: staged is clean

    # --all-files (what a CI job runs) checks the whole vault and names the broken record
    names_the_record(run_pc(vault, dangan_repo, "run", "--all-files"))

    # dangan init set core.hooksPath: pre-commit will not install its hook beside it
    refused = run_pc(vault, dangan_repo, "install")
    assert refused.returncode != 0 and "core.hooksPath" in refused.stdout + refused.stderr, refused
    wrong = run_cli(["-C", str(vault), "hook", "install", "--no-hooks-path"])
    assert wrong.code == 2 and "git config --unset core.hooksPath" in wrong.err, wrong
    # the way docs/ci.md gives: pre-commit runs the hooks, dangan keeps its drivers
    git(vault, "config", "--unset", "core.hooksPath")
    installed = run_pc(vault, dangan_repo, "install", "--hook-type", "pre-commit",
                       "--hook-type", "pre-merge-commit", "--hook-type", "pre-push")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert run_cli(["-C", str(vault), "hook", "install"]).code == 2  # dangan will not take over
    drivers = run_cli(["-C", str(vault), "hook", "install", "--no-hooks-path"])
    assert drivers.code == 0, drivers
    assert git(vault, "config", "--get", "core.hooksPath", check=False) == ""
    assert "merge-driver" in git(vault, "config", "merge.dangan.driver")
    assert "textconv" in git(vault, "config", "diff.dangan.textconv")

    # a commit runs pre-commit's hook, which checks the staged changes only (the fast
    # default): an unrelated good record commits though the broken one is in HEAD ...
    made = run_cli(["-C", str(vault), "new", "SB", "A01-02", *SB_FIELDS, "--no-commit"])
    assert made.code == 0, made
    good = subprocess.run(["git", "commit", "-m", "a good record"], cwd=vault, capture_output=True,
                          text=True, env=dict(os.environ, PRE_COMMIT_HOME=dangan_repo["home"]))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "dangan check" in good.stdout + good.stderr  # pre-commit's hook ran dangan's check
    # ... and a bad staged change is refused, naming it
    path = vault / SB_REL
    path.write_text(path.read_text("utf-8").replace("status: bogus", "status: wrong"), "utf-8")
    git(vault, "add", SB_REL)
    head = git(vault, "rev-parse", "HEAD")
    bad = subprocess.run(["git", "commit", "-m", "still broken"], cwd=vault, capture_output=True,
                         text=True, env=dict(os.environ, PRE_COMMIT_HOME=dangan_repo["home"]))
    assert bad.returncode != 0, bad.stdout + bad.stderr
    assert f"{SB_REL}: DG102 /status" in bad.stdout + bad.stderr
    assert git(vault, "rev-parse", "HEAD") == head


def test_the_rev_docs_give_exists_and_has_the_hook() -> None:
    """docs/ci.md pins a commit id (the repository has no tags): it must be a commit of this
    repository whose .pre-commit-hooks.yaml runs the hook that checks the whole vault."""
    text = (REPO / "docs" / "ci.md").read_text("utf-8")
    revs = re.findall(r"^\s+rev: ([0-9a-f]{40})\b", text, re.M)
    assert revs, "docs/ci.md gives no commit id as rev"
    if git(REPO, "rev-parse", "--is-shallow-repository").strip() == "true":
        pytest.skip("a shallow clone lacks the history the pinned commit is in")
    for rev in revs:
        hooks = git(REPO, "show", f"{rev}:.pre-commit-hooks.yaml")
        assert "id: dangan-check" in hooks and "entry: dangan hook framework" in hooks, rev
