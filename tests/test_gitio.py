"""gitio's batch reader of blobs, on a real repository."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dangan.errors import GitError
from dangan.git import gitio


def _blob(root: Path, data: bytes) -> str:
    proc = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=root, input=data, capture_output=True, check=True)
    return proc.stdout.decode().strip()


def test_stream_blobs_in_pieces_skipping_what_a_caller_leaves(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    big, small, third = os.urandom(3_000_000), b"small\n", b"third blob\n"
    ids = [_blob(tmp_path, big), _blob(tmp_path, small), _blob(tmp_path, third)]
    missing = "0" * 40
    seen = []
    for blob, size, pieces in gitio.stream_blobs(tmp_path, [ids[0], missing, ids[1], ids[2]], chunk=1 << 20):
        if blob == ids[0]:
            first = next(pieces)  # read one piece and leave the rest: the reader skips it
            assert size == len(big) and first == big[: 1 << 20]
        else:
            seen.append((blob, size, b"".join(pieces)))
    assert seen == [(missing, None, b""), (ids[1], len(small), small), (ids[2], len(third), third)]
    assert dict(gitio.cat_blobs(tmp_path, ids)) == dict(zip(ids, [big, small, third]))
    with pytest.raises(GitError, match="missing"):
        list(gitio.cat_blobs(tmp_path, [missing]))


# ------------------------------------------------ exit statuses (issue 16), real repositories

def _repo(root: Path) -> str:
    """A repository with one commit holding vault/A.yaml on branch main; its commit id."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    (root / "vault").mkdir()
    (root / "vault" / "A.yaml").write_text("a: 1\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q",
                    "--no-verify", "-m", "one"], cwd=root, check=True)
    return gitio.out(["rev-parse", "HEAD"], root).strip()


def _corrupt(root: Path, oid: str) -> None:
    """Overwrite the loose object `oid` with bytes that do not inflate: git exits 128 on it."""
    path = root / ".git" / "objects" / oid[:2] / oid[2:]
    path.chmod(0o644)
    path.write_bytes(b"not a zlib stream")


def test_existing_paths_raises_when_cat_file_fails(tmp_path: Path) -> None:
    """Regression: a failing `cat-file --batch-check` (exit 128, nothing on stdout) was read
    as "every path missing", so every reference of a change would have been DG108."""
    from dangan.rules.changes import existing_paths

    _repo(tmp_path)
    wanted = {"vault/A.yaml", "vault/B.yaml"}
    assert existing_paths(tmp_path, "HEAD", wanted) == {"vault/A.yaml"}
    assert existing_paths(tmp_path, ":", wanted) == {"vault/A.yaml"}
    _corrupt(tmp_path, gitio.out(["rev-parse", "HEAD^{tree}"], tmp_path).strip())
    with pytest.raises(GitError, match=r"^git cat-file: fatal: .*corrupt"):
        existing_paths(tmp_path, "HEAD", wanted)


def test_existing_paths_raises_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dangan.rules.changes import existing_paths

    _repo(tmp_path)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(GitError, match=r"^git cat-file: fatal: not a git repository"):
        existing_paths(tmp_path, "HEAD", {"vault/A.yaml"})


def test_answers_with_exit_status_one_and_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ok=(0, 1)`: 1 is git's "no"; anything else is a failure that names the command."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    assert gitio.head(tmp_path) is None  # no commit yet: exit 1
    assert gitio.config_get(tmp_path, "dangan.nothing") is None
    commit = _repo(tmp_path)
    tree = gitio.out(["rev-parse", "HEAD^{tree}"], tmp_path).strip()
    assert gitio.head(tmp_path) == commit
    assert gitio.commit_of(tmp_path, "main") == commit
    assert gitio.commit_of(tmp_path, "no-such-branch") is None
    assert gitio.commit_of(tmp_path, tree) is None  # a tree is no commit
    assert gitio.commit_of(tmp_path, "--all") is None  # never an option to git
    assert gitio.symbolic_head(tmp_path) == "refs/heads/main"
    assert gitio.symbolic_head(tmp_path, short=True) == "main"
    assert gitio.has_object(tmp_path, tree) and not gitio.has_object(tmp_path, "f" * 40)
    assert not gitio.has_object(tmp_path, "HEAD") and not gitio.has_object(tmp_path, "-e")
    subprocess.run(["git", "checkout", "-q", "--detach"], cwd=tmp_path, check=True)
    assert gitio.symbolic_head(tmp_path) is None
    assert gitio.run(["diff", "--cached", "--quiet"], tmp_path, ok=(0, 1)).returncode == 0

    with (tmp_path / ".git" / "config").open("a") as handle:
        handle.write("[broken\n")  # git config: exit 3, not "not set"
    with pytest.raises(GitError, match=r"^git config: fatal: bad config line"):
        gitio.config_get(tmp_path, "dangan.nothing")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    for call in (lambda: gitio.head(tmp_path), lambda: gitio.symbolic_head(tmp_path),
                 lambda: gitio.has_object(tmp_path, tree),
                 lambda: gitio.run(["diff", "--cached", "--quiet"], tmp_path, ok=(0, 1))):
        with pytest.raises(GitError, match=r"^git [a-z-]+: "):
            call()


def test_object_types(tmp_path: Path) -> None:
    _repo(tmp_path)
    names = ["HEAD:vault/A.yaml", "HEAD:vault", "HEAD:vault/B.yaml", ":vault/A.yaml"]
    assert gitio.object_types(tmp_path, names) == ["blob", "tree", None, "blob"]
    assert gitio.object_types(tmp_path, []) == []


def test_start_and_finish(tmp_path: Path) -> None:
    """The streaming calls check the exit status too."""
    _repo(tmp_path)
    proc = gitio.start(("ls-files", "-z"), tmp_path)
    assert gitio.finish(proc, ("ls-files", "-z")) == b"vault/A.yaml\0"
    args = ("hash-object", "--stdin")
    proc = gitio.start(args, tmp_path, stdin=True)
    assert proc.stdin is not None
    proc.stdin.write(b"a: 1\n")
    assert gitio.finish(proc, args).decode().strip() == gitio.ls_files(tmp_path)[0].blob
    args = ("rev-parse", "--verify", "no-such-ref")
    with pytest.raises(GitError, match=r"^git rev-parse: fatal: Needed a single revision"):
        gitio.finish(gitio.start(args, tmp_path), args)
    proc = gitio.start(("-c", "core.fsync=none", "cat-file", "-t", "no-such-ref"), tmp_path)
    with pytest.raises(GitError, match=r"^git cat-file: fatal: Not a valid object name"):  # past -c
        gitio.finish(proc, ("-c", "core.fsync=none", "cat-file", "-t", "no-such-ref"))


def test_batch_readers_raise_when_git_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cat-file --batch that dies answers nothing: that is a failure, not "missing"."""
    _repo(tmp_path)
    blob = gitio.ls_files(tmp_path)[0].blob
    cat = gitio.BlobCat(tmp_path)
    assert cat.get(blob) == b"a: 1\n" and cat.get("f" * 40) is None
    cat.close()
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(GitError, match=r"^git cat-file: fatal: not a git repository"):
        list(gitio.stream_blobs(tmp_path, [blob]))
    with pytest.raises(GitError, match=r"^git cat-file: fatal: not a git repository"):
        gitio.BlobCat(tmp_path).get(blob)


def test_fast_import_failure_is_a_git_error(tmp_path: Path) -> None:
    """The demo's history writer streams into `git fast-import` through gitio.start: a
    stream git refuses (a parent that does not exist) ends in git's own message."""
    import datetime as dt

    from dangan.demo.history import _at, _History

    _repo(tmp_path)
    history = _History(tmp_path, "f" * 40)
    history.commit(_at(dt.date(2020, 1, 2), 9), "two", [("vault/B.yaml", b"b: 2\n")])
    with pytest.raises(GitError, match=r"^git fast-import: fatal: "):
        history.close()


def test_the_early_starts_go_through_gitio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm check's stat probe and the hook's early diff-index run git via gitio.start
    and read its status: a failing git sends them down the full path (None), never to a
    wrong answer."""
    from dangan.hook.hookrun import Early
    from dangan.store.quick import probe

    _repo(tmp_path)
    (tmp_path / "vault" / "A.yaml").write_text("a: 2\n")
    assert probe(str(tmp_path), None) == ({"vault/A.yaml"}, None)
    monkeypatch.chdir(tmp_path)
    early = Early()
    assert early.result(tmp_path) == b""  # nothing staged under vault/
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    assert probe(str(tmp_path), None) == (None, None)
    assert Early().result(tmp_path) is None


def test_the_index_listing_started_early_answers_or_is_asked_again(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The cold check starts its index listing while git states every file: the answer is
    the one asked later, a failing early git is asked again (which says what failed), and an
    early process no longer wanted is stopped and reaped."""
    from dangan.services import scan

    _repo(tmp_path)
    listed = scan.index_blobs(tmp_path)
    assert list(listed) == ["vault/A.yaml"]
    assert scan.index_blobs(tmp_path, None, scan.start_index_listing(tmp_path)) == listed
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    early = scan.start_index_listing(tmp_path)
    assert early is not None
    with pytest.raises(GitError, match="^git ls-files"):
        scan.index_blobs(tmp_path, None, early)
    monkeypatch.delenv("GIT_DIR")
    waiting = gitio.start(("cat-file", "--batch"), tmp_path, stdin=True)
    gitio.stop(waiting)
    assert waiting.returncode is not None and waiting.stdout is not None and waiting.stdout.closed
    gitio.stop(waiting)  # again: nothing left to do
    gitio.stop(None)


# ------------------------------------------------ git is started in dangan/git alone

PACKAGE = Path(__file__).resolve().parents[1] / "tools" / "dangan"


def git_starts(source: str) -> list[int]:
    """Lines of `source` that start git: a call given an argument list whose first element
    is "git" (`subprocess.run(["git", ...])`, `Popen(("git", *args))`), the string "git"
    itself (`os.execvp("git", ...)`, `shutil.which("git")`) or a command line "git ..."
    run by a shell (`shell=True`, `os.system`); a message "git fsck: ..." is none of these."""
    import ast

    def is_git(node: ast.expr, shell: bool) -> bool:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value == "git" or (shell and node.value.startswith("git "))
        if isinstance(node, ast.JoinedStr) and node.values:
            return shell and is_git(node.values[0], shell)
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            return is_git(node.elts[0], False)
        return False

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            shell = name in ("system", "popen", "getoutput", "getstatusoutput") or any(
                k.arg == "shell" for k in node.keywords)
            if any(is_git(a, shell) for a in [*node.args, *(k.value for k in node.keywords)]):
                found.append(node.lineno)
    return found


def test_no_module_outside_dangan_git_starts_git() -> None:
    """Issue 16: git is started through dangan.git.gitio only, which checks every exit
    status. (make lint's import-linter contract keeps subprocess out of the other
    packages; this catches what an import contract cannot, e.g. an exec or a shell line.)"""
    assert git_starts('import subprocess\nsubprocess.run(["git", "cat-file", "--batch-check"])\n') == [2]
    assert git_starts('p = Popen(("git", *STAGED))\nos.execvp("git", a)\nos.system(f"git {x}")\n') == [1, 2, 3]
    assert git_starts('call(f"git {x}", shell=True)\nraise GitError(f"git fsck: {m}")\n') == [1]
    assert git_starts('gitio.run(["cat-file", "-e", oid], root)\nprint("git")\n') == [2]  # print: a false alarm, fine
    files = sorted(p for p in PACKAGE.rglob("*.py") if "git" not in p.relative_to(PACKAGE).parts[:1])
    assert len(files) > 50 and PACKAGE / "rules" / "changes.py" in files
    offenders = [f"{path.relative_to(PACKAGE)}:{line}" for path in files
                 for line in git_starts(path.read_text(encoding="utf-8"))]
    # the one exception: the crash log's `git --version` (errors.internal_error), which must
    # not lean on the layers that may just have failed (docs/decisions.md)
    crash = [o for o in offenders if o.startswith("errors.py:")]
    assert len(crash) == 1, crash
    offenders = [o for o in offenders if o not in crash]
    assert offenders == [], "start git through dangan.git.gitio: " + ", ".join(offenders)


def test_tree_text_lists_from_the_index_only_when_it_holds_the_commit(tmp_path: Path, monkeypatch) -> None:
    """`gitio.tree_text` is `ls-tree -r -z` of the commit, byte for byte, whether the index
    answered (HEAD, nothing staged) or not (a staged change, an intent-to-add entry, an older
    commit)."""
    from conftest import git

    root = tmp_path / "repo"
    (root / "vault" / "A01" / "WX").mkdir(parents=True)
    git(tmp_path, "init", "-q", str(root))
    for name in ("WX-A01-0001.yaml", "WX-A01-0002.yaml", "a.b"):
        (root / "vault" / "A01" / "WX" / name).write_text(name)
    (root / "vault" / "A01.yaml").write_text("x")
    (root / "other.txt").write_text("y")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    first = git(root, "rev-parse", "HEAD").strip()
    (root / "vault" / "A01" / "WX" / "WX-A01-0001.yaml").write_text("changed")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "two")
    head = git(root, "rev-parse", "HEAD").strip()
    used: list[str] = []
    plain = gitio.run

    def run(args, *rest, **options):  # type: ignore[no-untyped-def]
        used.append(args[0])
        return plain(args, *rest, **options)

    monkeypatch.setattr(gitio, "run", run)

    def ls_tree(commit: str) -> bytes:
        return plain(["ls-tree", "-r", "-z", commit, "--", "vault/"], root).stdout

    assert gitio.tree_text(root, head, ["vault/"]) == ls_tree(head)
    assert "ls-files" in used and "ls-tree" not in used  # the index answered
    used.clear()
    assert gitio.tree_text(root, first, ["vault/"]) == ls_tree(first)  # not HEAD
    assert used[-1] == "ls-tree"
    (root / "vault" / "A01" / "WX" / "WX-A01-0002.yaml").write_text("staged")
    git(root, "add", "vault/A01/WX/WX-A01-0002.yaml")
    used.clear()
    assert gitio.tree_text(root, head, ["vault/"]) == ls_tree(head)  # the staged blob is not HEAD's
    assert used[-1] == "ls-tree"
    git(root, "reset", "-q")
    (root / "vault" / "A01" / "WX" / "WX-A01-0003.yaml").write_text("new")
    git(root, "add", "-N", "vault/A01/WX/WX-A01-0003.yaml")
    used.clear()
    assert gitio.tree_text(root, head, ["vault/"]) == ls_tree(head)  # an intent-to-add entry
    assert used[-1] == "ls-tree"


def test_git_dir_is_what_git_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A work tree's own .git is taken without asking git; a linked work tree (its .git a
    file), a folder inside a work tree and GIT_DIR are asked of git: every answer is git's."""
    main = tmp_path / "main"
    subprocess.run(["git", "init", "-q", str(main)], check=True)
    subprocess.run(["git", "-C", str(main), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q",
                    "--allow-empty", "-m", "first"], check=True)
    subprocess.run(["git", "-C", str(main), "worktree", "add", "-q", str(tmp_path / "linked")], check=True)
    (main / "sub").mkdir()

    def git_says(where: Path) -> Path:
        out = subprocess.run(["git", "rev-parse", "--absolute-git-dir"], cwd=where, capture_output=True, check=True)
        return Path(out.stdout.decode().strip())

    gitio.git_dir.cache_clear()
    for where in (main, main / "sub", tmp_path / "linked"):
        assert gitio.git_dir(where) == git_says(where)
    assert gitio.git_dir(main) == main.resolve() / ".git"
    assert gitio.git_dir(tmp_path / "linked") != main / ".git"
    other = tmp_path / "other.git"
    subprocess.run(["git", "init", "-q", "--bare", str(other)], check=True)
    monkeypatch.setenv("GIT_DIR", str(other))
    gitio.git_dir.cache_clear()  # remembered per folder for a command's life
    assert gitio.git_dir(main) == other.resolve() == git_says(main)
