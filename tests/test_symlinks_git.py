"""A symbolic link under vault/ is refused by every check that reads Git objects, not only
by the work-tree check (issue 19, part 5): the pre-commit hook (a staged link, mode
120000), `check --range` (a commit that holds one, and a single revision), pre-push and the
server's pre-receive. Real links (`ln -s`), real `git add`, real commits firing the real
hooks, a real bare server.

Git stores a link as a blob holding the link's target text, so a rule that reads only the
blob judges that text as if it were a file: a link whose target text is itself a valid
record passed the hook, and a link to a file outside the repository was judged by its
target's name. The mode says what it is: DG104, whatever the text.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, git, run_bin

from dangan.formats.yamlio import dump, load_roundtrip, to_plain

VALID = REPO / "tests" / "schema_examples" / "valid"
SB_REL = "vault/A01/02/SB/SB-A01-02-0001.yaml"
LINK_REL = "vault/A01/02/SB/SB-A01-02-0002.yaml"
STRAY_LINK_REL = "vault/A01/02/SB/notes.txt"


def sb(serial: int) -> str:
    tree: dict[str, Any] = to_plain(load_roundtrip((VALID / "SB-elevator.yaml").read_text("utf-8")))
    tree.pop("refs", None)
    tree["code"] = f"SB-A01-02-{serial:04d}"
    return dump(tree)


def outside(tmp_path: Path) -> Path:
    """A file outside the repository, as a record would read."""
    target = tmp_path / "outside" / "secret.yaml"
    target.parent.mkdir(exist_ok=True)
    target.write_text(sb(2), "utf-8")
    return target


# The links of each case: (link path, target), made with a real `ln -s`.
def links(vault: Path, tmp_path: Path) -> dict[str, dict[str, str]]:
    return {
        # outside the repository, absolute
        "outside-absolute": {LINK_REL: str(outside(tmp_path))},
        # outside the repository, relative (climbs out of the vault)
        "outside-relative": {LINK_REL: os.path.relpath(outside(tmp_path), (vault / LINK_REL).parent)},
        # inside: another record of the vault
        "inside": {LINK_REL: "SB-A01-02-0001.yaml"},
        # not at a record's path
        "stray-name": {STRAY_LINK_REL: str(outside(tmp_path))},
        # the link's target text is a whole valid record for its path: git stores that text
        # as the blob, which the file rules alone would accept
        "target-text-is-a-record": {LINK_REL: sb(2)},
    }


CASES = ["outside-absolute", "outside-relative", "inside", "stray-name", "target-text-is-a-record"]


def ln_s(vault: Path, made: dict[str, str]) -> None:
    for rel, target in made.items():
        (vault / rel).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ln", "-s", "--", target, str(vault / rel)], check=True)
        git(vault, "add", "--", rel)
        staged = git(vault, "ls-files", "-s", "--", rel)
        assert staged.startswith("120000 "), staged  # git holds a link, not a file


def base(vault: Path) -> None:
    (vault / SB_REL).parent.mkdir(parents=True, exist_ok=True)
    (vault / SB_REL).write_text(sb(1), "utf-8")
    git(vault, "add", "--", SB_REL)
    proc = subprocess.run(["git", "commit", "-q", "-m", "a record"], cwd=vault, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def dg104_lines(text: str, rel: str) -> list[str]:
    return [line for line in text.splitlines() if f"{rel}: DG104 " in line and "symbolic link" in line]


@pytest.mark.parametrize("case", CASES)
def test_pre_commit_refuses_a_staged_link(vault: Path, tmp_path: Path, case: str) -> None:
    base(vault)
    made = links(vault, tmp_path)[case]
    ln_s(vault, made)
    head = git(vault, "rev-parse", "HEAD")
    proc = subprocess.run(["git", "commit", "-q", "-m", "a link"], cwd=vault, capture_output=True, text=True)
    assert proc.returncode != 0, proc
    (rel,) = made
    assert dg104_lines(proc.stderr, rel), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert git(vault, "rev-parse", "HEAD") == head
    # the outside file's content never reaches the committer's screen
    assert "蘇州恒達電梯" not in proc.stderr


def commit_link_no_verify(vault: Path, tmp_path: Path, case: str, first: bool = True) -> tuple[str, str]:
    if first:
        base(vault)
    made = links(vault, tmp_path)[case]
    ln_s(vault, made)
    git(vault, "commit", "-q", "--no-verify", "-m", "a link, past the hook")
    (rel,) = made
    return rel, git(vault, "rev-parse", "HEAD").strip()


@pytest.mark.parametrize("case", CASES)
def test_check_range_finds_a_committed_link(vault: Path, tmp_path: Path, case: str) -> None:
    rel, commit = commit_link_no_verify(vault, tmp_path, case)
    for spec in ("HEAD~1..HEAD", "HEAD"):  # each commit of a range; every file of one commit
        result = run_bin(["check", "--range", spec], cwd=vault)
        assert result.code == 1, result
        assert dg104_lines(result.out, rel), result
    result = run_bin(["check", "--all"], cwd=vault)  # and the work tree (session 5)
    assert result.code == 1 and dg104_lines(result.out, rel), result


def test_pre_push_and_pre_receive_refuse_a_committed_link(vault: Path, tmp_path: Path) -> None:
    """A link committed with --no-verify: pre-push refuses it, and so does the server when
    the push skips the local hook. No ref moves on the server."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    shutil.copyfile(REPO / "hooks" / "pre-receive", bare / "hooks" / "pre-receive")
    (bare / "hooks" / "pre-receive").chmod(0o755)
    git(vault, "remote", "add", "origin", str(bare))
    base(vault)
    clean = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=vault, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    before = git(vault, "ls-remote", str(bare))
    rel, _ = commit_link_no_verify(vault, tmp_path, "outside-absolute", first=False)

    local = subprocess.run(["git", "push", "origin", "main"], cwd=vault, capture_output=True, text=True)
    assert local.returncode != 0 and dg104_lines(local.stderr, rel), local.stderr
    server = subprocess.run(["git", "push", "--no-verify", "origin", "main"], cwd=vault,
                            capture_output=True, text=True)
    assert server.returncode != 0, server
    assert [line for line in dg104_lines(server.stderr, rel) if line.startswith("remote: ")], server.stderr
    assert "pre-receive hook declined" in server.stderr
    assert git(vault, "ls-remote", str(bare)) == before


def test_check_all_never_reads_through_a_tracked_link(vault: Path) -> None:
    """A committed link to /dev/zero at a record's path: the work-tree check took the index
    entry for a file and read through the link until memory ran out (internal error). Now
    the link is DG104 and nothing behind it is read. The address space is capped so that
    a regression fails instead of filling the machine's memory."""
    import resource
    import sys

    base(vault)
    ln_s(vault, {LINK_REL: "/dev/zero"})
    git(vault, "commit", "-q", "--no-verify", "-m", "a link to /dev/zero")
    cap = 1 << 31

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    for args in (["check", "--all"], ["check", "--all"], ["check", "--range", "HEAD"]):  # cold, warm
        proc = subprocess.run([str(Path(sys.executable).parent / "dangan"), *args], cwd=vault,
                              capture_output=True, text=True, preexec_fn=limit)
        assert proc.returncode == 1, proc
        assert dg104_lines(proc.stdout, LINK_REL) and "internal error" not in proc.stderr, proc


def test_check_of_a_folder_reports_its_links_without_reading_them(vault: Path, tmp_path: Path) -> None:
    """`check FOLDER` lists the folder's files, links included: each link is DG104 and is
    not read (a link to /dev/zero exhausted memory; one to an outside file was judged as a
    record)."""
    import resource
    import sys

    base(vault)
    ln_s(vault, {LINK_REL: "/dev/zero", STRAY_LINK_REL: str(outside(tmp_path))})
    cap = 1 << 31

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    proc = subprocess.run([str(Path(sys.executable).parent / "dangan"), "check", "vault/A01"], cwd=vault,
                          capture_output=True, text=True, preexec_fn=limit)
    assert proc.returncode == 1, proc
    for rel in (LINK_REL, STRAY_LINK_REL):
        assert dg104_lines(proc.stdout, rel), proc
    assert "internal error" not in proc.stderr and "stray file" not in proc.stdout, proc
