"""The CI templates of docs/ci/ (GitHub Actions, GitLab CI) do what docs/ci.md says: they
install dangan from its Git URL, fetch the whole history, and their check steps — run here
by a shell as the CI would, in a clone whose request brings a commit that skipped the
hooks — fail on that commit and pass without it."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from conftest import DANGAN_BIN, REPO, git
from test_hooks import SB_REL, commit, commit_no_verify, sb

from dangan.formats.yamlio import load_roundtrip, to_plain

TEMPLATES = REPO / "docs" / "ci"


def _load(name: str) -> dict:
    return to_plain(load_roundtrip((TEMPLATES / name).read_text(encoding="utf-8")))


def _shell(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = f"{DANGAN_BIN.parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env, "PATH": path}, check=False)


def _request(vault: Path, tmp_path: Path, bad: bool) -> tuple[Path, str]:
    """A clone of the vault's server copy with a branch of one good commit (and, when `bad`,
    one that skipped the hooks, mended by the next: only history is bad); (clone, base)."""
    tmp_path.mkdir()
    bare = tmp_path / "server.git"
    git(tmp_path, "clone", "-q", "--bare", str(vault), str(bare))
    clone = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    base = git(clone, "rev-parse", "HEAD").strip()
    run = subprocess.run([str(DANGAN_BIN), "-C", str(clone), "hook", "install"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run
    git(clone, "checkout", "-q", "-b", "request")
    commit(clone, "an elevator", {SB_REL: sb()})
    if bad:
        commit_no_verify(clone, "bad status", {SB_REL: sb(status="bogus")})
        commit(clone, "mended", {SB_REL: sb()})
    return clone, base


def _install_line_ok(command: str, url: str) -> None:
    assert command.strip() in ('pip install "$DANGAN_GIT"',), command
    # a commit id: dangan has no release tags (docs/ci.md, "The pre-commit framework")
    assert re.fullmatch(r"git\+https://\S+\.git@(v\d+\.\d+\.\d+|[0-9a-f]{40})", url), url


def test_github_actions_template(vault: Path, tmp_path: Path) -> None:
    doc = _load("github-actions.yml")
    steps = doc["jobs"]["check"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    runs = [s for s in steps if "run" in s]
    _install_line_ok(runs[0]["run"], doc["env"]["DANGAN_GIT"])
    checks = [s["run"].replace("${{ github.base_ref }}", "main") for s in runs[1:]]
    assert [s.get("if") for s in runs[1:]] == ["github.event_name == 'pull_request'", None]
    for bad in (True, False):
        clone, _ = _request(vault, tmp_path / ("bad" if bad else "good"), bad)
        results = [_shell(script, clone, {}) for script in checks]
        if bad:  # the request's commits are checked one by one: the bad one is found
            assert results[0].returncode == 1 and "DG102" in results[0].stdout, results[0]
        else:
            assert results[0].returncode == 0, results[0]
        assert results[1].returncode == 0, results[1]  # the tip is fine either way


def test_gitlab_ci_template(vault: Path, tmp_path: Path) -> None:
    doc = _load("gitlab-ci.yml")
    assert doc["variables"]["GIT_DEPTH"] == 0
    job = doc["dangan"]
    (install,) = job["before_script"]
    _install_line_ok(install, doc["variables"]["DANGAN_GIT"])
    assert {rule["if"] for rule in job["rules"]} == {
        '$CI_PIPELINE_SOURCE == "merge_request_event"', "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}
    script = "\n".join(job["script"])
    for bad in (True, False):
        clone, base = _request(vault, tmp_path / ("bad" if bad else "good"), bad)
        merge_request = _shell(script, clone, {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base})
        branch = _shell(script, clone, {"CI_MERGE_REQUEST_DIFF_BASE_SHA": ""})
        if bad:
            # the request's bad commit is found by --range; the tip is fine again
            assert merge_request.returncode == 1 and "DG102" in merge_request.stdout, merge_request
        else:
            assert merge_request.returncode == 0, merge_request
        assert branch.returncode == 0, branch
