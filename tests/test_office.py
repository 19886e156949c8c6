"""An office's checkout (issue 26, part 2): `dangan clone URL DIR --projects A01` makes a
blobless partial clone with a cone-mode sparse checkout, and every command works in it
without fetching the blobs of the other projects; the server's pre-receive still judges
everything. Real parts only: the small demo as the company's vault, a bare server
repository with the vault's pre-receive hook, clones over file://.

Whether a blob was fetched is read from git itself: `rev-list --objects --missing=print`
lists the objects a partial clone lacks without fetching them (git 2.39 has no
GIT_NO_LAZY_FETCH)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import DANGAN_BIN, REPO, git, run_bin, run_cli

DAY = "2026-11-27"  # the demo is built as on a fixed day: the same records every run
TARGET = "HT-B01-0001"  # a record of the other project, named across projects


def record_fields(root: Path, rel: str, refs: list[str]) -> str:
    """The fields of a record of the demo, for `new --file`, with `refs` instead of its own."""
    lines = (root / rel).read_text("utf-8").splitlines()
    kept, skipping = [], False
    for line in lines:
        if line.startswith(("code:", "category:")):
            continue
        if line.startswith("refs:"):
            skipping = True
            continue
        if skipping and line.startswith("  "):
            continue
        skipping = False
        kept.append(line)
    return "\n".join(kept + ["refs:", *(f"  - {ref}" for ref in refs)]) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The company's server: the small demo (projects A01 and B01) with a record of A01
    that names one of B01, as a bare repository that allows partial clones and runs the
    vault's pre-receive hook."""
    base = tmp_path_factory.mktemp("office")
    full = base / "full"
    result = run_cli(["demo", str(full), "--as-of", DAY, "--json"])
    assert result.code == 0, result
    wx = base / "wx.yaml"
    wx.write_text(record_fields(full, "vault/A01/WX/WX-A01-0001.yaml", ["SB-A01-0002", TARGET]), "utf-8")
    made = run_bin(["new", "WX", "A01", "--file", str(wx)], cwd=full)
    assert made.code == 0, made
    bare = base / "server.git"
    git(base, "clone", "-q", "--bare", str(full), str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")
    git(bare, "config", "dangan.command", str(DANGAN_BIN))
    shutil.copyfile(REPO / "hooks" / "pre-receive", bare / "hooks" / "pre-receive")
    (bare / "hooks" / "pre-receive").chmod(0o755)
    return bare


@pytest.fixture
def own_server(server: Path, tmp_path: Path) -> Path:
    """A copy of the server for a test that pushes."""
    copy = tmp_path / "server.git"
    shutil.copytree(server, copy, symlinks=True)
    return copy


def clone(server: Path, dest: Path, projects: str = "A01") -> Path:
    result = run_bin(["clone", server.as_uri(), str(dest), "--projects", projects])
    assert result.code == 0, result
    git(dest, "config", "user.name", "測試員 Tester")
    git(dest, "config", "user.email", "tester@example.invalid")
    return dest


def missing(root: Path) -> set[str]:
    """The objects reachable from every ref that the partial clone lacks (never fetched)."""
    out = git(root, "rev-list", "--objects", "--all", "--missing=print")
    return {line[1:].strip() for line in out.splitlines() if line.startswith("?")}


def blobs_under(root: Path, folder: str, rev: str = "HEAD") -> set[str]:
    out = git(root, "ls-tree", "-r", rev, "--", folder + "/")
    return {line.split()[2] for line in out.splitlines()}


def records_under(root: Path, folder: str) -> int:
    """Records (not attachments) under `folder` at HEAD: a .yaml in a category folder."""
    names = git(root, "ls-tree", "-r", "--name-only", "HEAD", "--", folder + "/").splitlines()
    return sum(1 for n in names if n.endswith(".yaml") and len(n.split("/")[-2]) == 2)


# ----------------------------------------------------------------------- the clone

def test_clone_checks_out_the_projects_named_and_the_company_records(server: Path, tmp_path: Path) -> None:
    office = tmp_path / "office"
    result = run_bin(["clone", server.as_uri(), str(office), "--projects", "A01"])
    assert result.code == 0, result
    on_disk = sorted(p.name for p in (office / "vault").iterdir())
    assert "A01" in on_disk and "B01" not in on_disk
    assert {"JY", "XH", "QY", "BZ"} <= set(on_disk)  # company-level records
    for needed in ("vault.yaml", ".sops.yaml", ".gitattributes", "schemas/categories.yaml", "hooks/pre-commit"):
        assert (office / needed).is_file(), needed
    # B01's records are in the index with the skip-worktree bit, their blobs never fetched
    tags = git(office, "ls-files", "-t", "--", "vault/B01/").splitlines()
    assert tags and all(line.startswith("S ") for line in tags)
    lacking = missing(office)
    assert blobs_under(office, "vault/B01") <= lacking
    assert not blobs_under(office, "vault/A01") & lacking
    assert not blobs_under(office, "vault/JY") & lacking
    # hooks and drivers as `dangan init` and `hook install` set them
    assert git(office, "config", "core.hooksPath").strip() == "hooks"
    assert git(office, "config", "dangan.command").strip() == str(DANGAN_BIN)
    assert "textconv" in git(office, "config", "diff.dangan.textconv")
    assert "merge-driver" in git(office, "config", "merge.dangan.driver")
    assert git(office, "config", "core.sparseCheckoutCone").strip() == "true"
    assert git(office, "config", "index.sparse").strip() == "true"
    left = records_under(office, "vault/B01")
    assert f"left out: {left} records of B01" in result.out
    assert "vault/A01" in result.out


def test_clone_json_says_what_it_checked_out(server: Path, tmp_path: Path) -> None:
    result = run_bin(["clone", server.as_uri(), str(tmp_path / "o"), "--projects", "B01,A01", "--json"])
    assert result.code == 0, result
    doc = json.loads(result.out)
    assert doc["projects"] == ["B01", "A01"] and doc["outside"] == 0 and doc["other_projects"] == []
    assert "vault/B01" in doc["folders"] and "vault/A01" in doc["folders"]


def test_a_local_path_is_cloned_as_from_a_server(server: Path, tmp_path: Path) -> None:
    """git ignores --filter for a plain local path and copies every object: dangan gives it
    as file://, so the office is as partial as one cloned from the network."""
    office = tmp_path / "office"
    result = run_bin(["clone", str(server), str(office), "--projects", "A01"])
    assert result.code == 0, result
    assert blobs_under(office, "vault/B01") <= missing(office)
    assert git(office, "config", "remote.origin.promisor").strip() == "true"


def test_a_server_that_ignores_the_filter_is_named(own_server: Path, tmp_path: Path) -> None:
    """A plain server without uploadpack.allowFilter sends every blob: the clone works, and
    says that its .git holds the whole vault (whatever the interface language)."""
    git(own_server, "config", "uploadpack.allowFilter", "false")
    office = tmp_path / "office"
    result = run_bin(["clone", own_server.as_uri(), str(office), "--projects", "A01", "--json"],
                     env={"LANG": "zh_TW.UTF-8", "LC_ALL": "zh_TW.UTF-8"})
    assert result.code == 0, result
    assert json.loads(result.out)["partial"] is False
    assert "uploadpack.allowFilter" in result.err
    assert not blobs_under(office, "vault/B01") & missing(office)  # every blob came
    git(own_server, "config", "uploadpack.allowFilter", "true")
    partial = run_bin(["clone", own_server.as_uri(), str(tmp_path / "o2"), "--projects", "A01", "--json"])
    assert partial.code == 0 and json.loads(partial.out)["partial"] is True
    assert "uploadpack.allowFilter" not in partial.err


@pytest.mark.parametrize("case", ["unknown project", "malformed project", "not empty", "not a vault",
                                  "no commit", "no server"])
def test_bad_input_is_refused_and_leaves_nothing(server: Path, tmp_path: Path, case: str) -> None:
    url, dest, projects = server.as_uri(), tmp_path / "office", "A01"
    if case == "unknown project":
        projects = "A01,C07"
    elif case == "malformed project":
        projects = "A1"
    elif case == "not empty":
        dest.mkdir()
        (dest / "notes.txt").write_text("mine\n", "utf-8")
    elif case == "not a vault":
        plain = tmp_path / "plain"
        git(tmp_path, "init", "-q", "-b", "main", str(plain))
        (plain / "README").write_text("not a vault\n", "utf-8")
        git(plain, "add", "README")
        git(plain, "commit", "-q", "-m", "a plain repository")
        url = plain.as_uri()
    elif case == "no commit":
        empty = tmp_path / "empty.git"
        git(tmp_path, "init", "-q", "--bare", str(empty))
        url = empty.as_uri()
    else:
        url = (tmp_path / "nothing-here.git").as_uri()
    result = run_bin(["clone", url, str(dest), "--projects", projects])
    assert result.code == 2, result
    assert result.err.startswith("dangan: error: ") and "\nhint: " in result.err
    expected = {"unknown project": "C07 is not in the vault", "malformed project": "'A1'",
                "not empty": "is not empty", "not a vault": "no vault.yaml",
                "no commit": "has no commit", "no server": "cannot clone"}[case]
    assert expected in result.err
    if case == "unknown project":
        assert "A01, B01" in result.err  # the hint names the projects there are
    if case == "not empty":
        assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    else:
        assert not dest.exists()


def test_an_empty_directory_stays_empty_after_a_refusal(server: Path, tmp_path: Path) -> None:
    dest = tmp_path / "office"
    dest.mkdir()
    result = run_bin(["clone", server.as_uri(), str(dest), "--projects", "D09"])
    assert result.code == 2, result
    assert dest.is_dir() and not any(dest.iterdir())


# ------------------------------------------------------------ checks in the office

def test_check_all_judges_the_checkout_and_says_what_it_left_out(server: Path, tmp_path: Path) -> None:
    office = clone(server, tmp_path / "office")
    before = missing(office)
    left = records_under(office, "vault/B01")
    assert left > 0
    # WX-A01-0004 (made on the server) names HT-B01-0001, which is not on disk: it exists (index, server)
    assert TARGET in (office / "vault/A01/WX/WX-A01-0004.yaml").read_text("utf-8")
    for _ in range(2):  # cold, then the warm note (store.quick) says the same
        result = run_bin(["check", "--all"], cwd=office)
        assert result.code == 0, result
        assert result.out.endswith(f"0 findings; {left} record(s) outside this checkout not checked "
                                   "(the server's hook and CI check them)\n")
    doc = json.loads(run_bin(["check", "--all", "--json"], cwd=office).out)
    assert doc["ok"] and doc["outside"] == left
    assert missing(office) == before


def test_a_dangling_ref_is_still_found_in_the_office(server: Path, tmp_path: Path) -> None:
    """A code that exists nowhere (not in the work tree, not in the index) is DG108 still."""
    office = clone(server, tmp_path / "office")
    rel = "vault/A01/WX/WX-A01-0004.yaml"
    path = office / rel
    path.write_text(path.read_text("utf-8").replace(TARGET, "HT-B01-0999"), "utf-8")
    result = run_bin(["check", "--all"], cwd=office)
    assert result.code == 1, result
    assert f"{rel}: DG108 refs names HT-B01-0999, which exists nowhere" in result.out


def test_new_commits_through_the_hook_and_the_server_checks_the_push(own_server: Path, tmp_path: Path) -> None:
    office = clone(own_server, tmp_path / "office")
    b01 = blobs_under(office, "vault/B01")
    assert b01 <= missing(office)
    wx = tmp_path / "wx.yaml"
    wx.write_text(record_fields(office, "vault/A01/WX/WX-A01-0001.yaml", [TARGET, "SB-A01-0002"]), "utf-8")
    made = run_bin(["new", "WX", "A01", "--file", str(wx)], cwd=office)
    assert made.code == 0, made
    code = made.out.strip()
    assert code == "WX-A01-0005"  # allocated from the checked-out folder
    assert git(office, "log", "-1", "--format=%s").startswith(f"dangan new: {code}")
    pushed = git(office, "rev-parse", "HEAD").strip()
    git(office, "push", "-q", "origin", "main")
    assert git(own_server, "rev-parse", "main").strip() == pushed
    assert b01 <= missing(office)  # the hook, the check and the push fetched none of B01
    # a commit the local hook would refuse, pushed past it: the server judges it
    rel = f"vault/A01/WX/{code}.yaml"
    (office / rel).write_text((office / rel).read_text("utf-8").replace(TARGET, "HT-B01-0999"), "utf-8")
    git(office, "add", rel)
    refused = run_bin(["hook", "pre-commit"], cwd=office)
    assert refused.code == 1 and "DG108" in refused.err + refused.out, refused
    git(office, "commit", "-q", "--no-verify", "-m", "a dangling reference")
    proc = subprocess.run(["git", "push", "--no-verify", "origin", "main"], cwd=office,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "DG108" in proc.stderr and "HT-B01-0999" in proc.stderr
    assert git(own_server, "rev-parse", "main").strip() == pushed
    assert b01 <= missing(office)


def test_the_commands_read_the_checkout_and_fetch_nothing(server: Path, tmp_path: Path) -> None:
    office = clone(server, tmp_path / "office")
    before = missing(office)
    note = "dangan: note: an office's checkout: A01 and the company-level records only"
    for args in (["ls", "--json"], ["due", "--as-of", DAY, "--json"], ["gaps", "--as-of", DAY, "--json"],
                 ["stats", "--as-of", DAY, "--json"], ["retention", "plan", "--json"]):
        result = run_bin(args, cwd=office)
        assert result.code in (0, 1), (args, result)  # due and gaps: 1 only with --exit-code
        assert note in result.err, args
        assert "B01" not in result.out, args  # nothing of the project not held, no false gap
        assert "A01" in result.out, args
        if args[0] == "stats":  # a warm run answers from what the cold one read of the folders held
            assert (office / ".git/dangan/cache/stats-fields.json").exists()
            assert run_bin(args, cwd=office).out == result.out
    assert missing(office) == before


def test_writing_into_a_project_not_held_is_refused(server: Path, tmp_path: Path) -> None:
    office = clone(server, tmp_path / "office")
    head = git(office, "rev-parse", "HEAD")
    for args in (["new", "HT", "B01", "--set", "title=x"], ["handover", "list", "B01"], ["show", TARGET],
                 ["set", TARGET, "title=x"]):
        result = run_bin(args, cwd=office)
        assert result.code == 2, (args, result)
        assert "is outside this office's checkout (it holds A01" in result.err
        assert "git sparse-checkout add vault/B01" in result.err
    assert git(office, "rev-parse", "HEAD") == head
    assert not (office / "vault/B01").exists()
    backup = run_bin(["backup", "create", "--dest", str(tmp_path / "backups")], cwd=office)
    assert backup.code == 2 and "partial clone" in backup.err, backup


def test_merging_the_other_projects_work_fetches_none_of_it(own_server: Path, tmp_path: Path) -> None:
    """Work on B01 pushed by a whole clone reaches the office through a merge: the office's
    pre-merge-commit and pre-push hooks judge what lies in its checkout and leave B01's
    changes to the server, which checked them when they were pushed."""
    whole = tmp_path / "whole"
    git(tmp_path, "clone", "-q", str(own_server), str(whole))
    assert run_bin(["hook", "install"], cwd=whole).code == 0
    office = clone(own_server, tmp_path / "office")
    wx = tmp_path / "wx.yaml"
    wx.write_text(record_fields(office, "vault/A01/WX/WX-A01-0001.yaml", [TARGET]), "utf-8")
    assert run_bin(["new", "WX", "A01", "--file", str(wx)], cwd=office).code == 0
    changed = run_bin(["set", "HT-B01-0002", "title=星河廣場合同（更正）"], cwd=whole)
    assert changed.code == 0, changed
    git(whole, "push", "-q", "origin", "main")
    git(office, "fetch", "-q", "origin")
    b01 = blobs_under(office, "vault/B01", "origin/main") | blobs_under(office, "vault/B01")
    assert b01 <= missing(office)
    git(office, "merge", "-q", "--no-edit", "origin/main")  # through pre-merge-commit
    assert len(git(office, "rev-list", "--parents", "-1", "HEAD").split()) == 3  # a merge commit
    git(office, "push", "-q", "origin", "main")  # through pre-push, then pre-receive
    assert git(own_server, "rev-parse", "main") == git(office, "rev-parse", "HEAD")
    assert b01 <= missing(office)


def test_a_git_without_ls_files_sparse_still_checks(vault: Path, tmp_path: Path) -> None:
    """git before 2.35 has no `ls-files --sparse` (exit 129, as for any unknown option):
    the check asks again without it, cold and warm. The older git is a shim in front of
    the real one that refuses the option."""
    shim = tmp_path / "bin"
    shim.mkdir()
    real = shutil.which("git")
    (shim / "git").write_text(
        "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = --sparse ] && { echo \"error: unknown option "
        f"'sparse'\" >&2; exit 129; }}; done\nexec {real} \"$@\"\n", "utf-8")
    (shim / "git").chmod(0o755)
    env = {"PATH": f"{shim}:{os.environ['PATH']}"}
    (vault / "vault" / "QY").mkdir(parents=True, exist_ok=True)
    (vault / "vault" / "QY" / "stray.txt").write_text("not a record\n", "utf-8")
    for _ in range(2):  # cold, then warm
        result = run_bin(["check", "--all"], cwd=vault, env=env)
        assert result.code == 1, result
        assert "vault/QY/stray.txt: DG104" in result.out
        assert "outside this checkout" not in result.out
