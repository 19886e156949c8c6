"""All Git access goes through this module: one choke point for subprocess calls.

Plumbing (`ls-files`, `cat-file --batch`, `diff-tree`) for anything touching many files;
The plumbing commands are run directly (a library such as GitPython walks trees ~60x slower than `git ls-tree`).

Every call checks git's exit status: `run` raises GitError naming the command unless the
caller says which statuses are answers (`ok`, e.g. 1 for "no such ref") or reads the status
itself (`check=False`); a process started with `start` ends with `finish`, which does the
same. The module stays light (the standard library that subprocess needs, and
`dangan.errors`; no dataclasses): the warm `check` (store/quick.py) and the pre-commit hook
import it before anything else.
"""
from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dangan.errors import GitError
from dangan.i18n import Message

ZERO = "0" * 40
# The staged changes in git's raw form (`git diff --cached`, which reads a sparse index
# as it is; `diff-index` expands it first: 0.007 s against 0.68 s in an office's checkout
# of one project of the 100,000-record demo, the same 0.04 s in a whole one). The options
# keep the porcelain to plumbing's output whatever the user's configuration.
STAGED_DIFF = ("diff", "--cached", "--no-abbrev", "--no-color", "--no-ext-diff", "-z", "--raw",
               "--no-renames")
USAGE = 129  # git's exit status for an option it does not know (an older git)


def ls_files_sparse(root: Path, args: Sequence[str]) -> bytes:
    """`git ls-files --sparse ARGS`: a sparse index listed as it is, each folder left out
    one entry (a tree), not expanded. A git older than 2.35 lacks the option (and makes no
    sparse index): asked again without it."""
    proc = run(["ls-files", "--sparse", *args], root, check=False)
    if proc.returncode == USAGE:
        proc = run(["ls-files", *args], root)
    elif proc.returncode != 0:
        raise failure(["ls-files", *args], proc.stderr, proc.stdout, proc.returncode)
    return proc.stdout


def failure(args: Sequence[str], stderr: bytes | None, stdout: bytes | None = None, status: int | None = None
            ) -> GitError:
    """The error for `git ARGS` that failed: the command and git's reason (its `fatal:`
    line when it gives one, which comes after the `error:` lines leading to it)."""
    message = (stderr or b"").decode("utf-8", "replace").strip() or (stdout or b"").decode(
        "utf-8", "replace"
    ).strip()
    lines = message.splitlines()
    first = next((line for line in lines if line.startswith("fatal:")), lines[0] if lines else None)
    if first is None:
        first = "failed" if status is None else f"failed (exit status {status})"
    return GitError(f"git {command(args)}: {first}")


def command(args: Sequence[str]) -> str:
    """The git command `args` run, past the options before it (`-c core.fsync=none`)."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-c", "-C") else 1
    return args[i] if i < len(args) else "".join(args[:1])


def run(
    args: Sequence[str],
    cwd: Path,
    *,
    input: bytes | None = None,
    check: bool = True,
    ok: tuple[int, ...] = (0,),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git ARGS` in `cwd`; raise GitError with git's own message on failure.

    `ok`: the exit statuses that are answers rather than failures (`(0, 1)` for
    `rev-parse --verify -q`, `config --get`, `symbolic-ref -q`, `diff --quiet`, whose 1
    means "no"; 128 and the rest still raise). `check=False`: the caller reads
    `returncode` itself and says what a failure means."""
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, input=input, capture_output=True, env=full_env
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH", "install git") from None
    if check and proc.returncode not in ok:
        raise failure(args, proc.stderr, proc.stdout, proc.returncode)
    return proc


Process = subprocess.Popen[bytes]  # what `start` gives (callers outside this module import no subprocess)


def start(
    args: Sequence[str],
    cwd: Path | str | None = None,
    *,
    stdin: bool = False,
    stdout: bool = True,
    stderr: bool = True,
) -> subprocess.Popen[bytes]:
    """Start `git ARGS` in `cwd` (None: here) and return at once, for a caller that works
    while git does (the hook's early `diff --cached`, the warm check's stat of every file) or
    streams into or out of it (`fast-import`, `cat-file --batch`). `stdin`, `stdout`,
    `stderr`: a pipe, else /dev/null. `stderr=False` for a caller that acts on the exit
    status alone and asks again to report a failure (the warm check and the hook: a second
    pipe makes `communicate` poll, measured ~4 ms of a ~80 ms warm check). End it with
    `finish`."""
    try:
        return subprocess.Popen(
            ["git", *args], cwd=cwd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stderr else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH", "install git") from None


def finish(proc: subprocess.Popen[bytes], args: Sequence[str], *, ok: tuple[int, ...] = (0,)) -> bytes:
    """Wait for a process from `start` (closing its stdin) and return what it wrote on
    stdout; raise GitError naming `git ARGS` if its exit status is not in `ok`."""
    _close_stdin(proc)
    proc.stdin = None  # closed: communicate would flush it
    out, err = proc.communicate()
    if proc.returncode not in ok:
        raise failure(args, err, out, proc.returncode)
    return out or b""


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """End a process from `start` whose answer is no longer wanted (None: nothing to do)."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
    with contextlib.suppress(ValueError):  # already finished: its pipes are closed
        proc.communicate()  # reaped, and its pipes closed


def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None and not proc.stdin.closed:
        # BrokenPipeError: it died early, its status and stderr say why; ValueError: a feeding
        # thread (stream_blobs) closed it at the same moment
        with contextlib.suppress(BrokenPipeError, ValueError):
            proc.stdin.close()


def out(args: Sequence[str], cwd: Path) -> str:
    return run(args, cwd).stdout.decode("utf-8", "surrogateescape")


def toplevel(path: Path) -> Path | None:
    """The work tree's top, or None outside a work tree (whatever git's reason)."""
    proc = run(["rev-parse", "--show-toplevel"], path, check=False)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.decode().strip())


@functools.lru_cache(maxsize=16)
def git_dir(root: Path) -> Path:
    """The repository's git folder. A work tree's own `.git` folder, when nothing in the
    environment points git elsewhere, is the one git would name: taken without asking
    (a git process is ~3 ms of every hook); anything else (a linked work tree's `.git`
    file, a vault inside a larger repository, GIT_DIR) is asked of git."""
    if not os.environ.get("GIT_DIR") and not os.environ.get("GIT_COMMON_DIR"):
        own = os.path.join(os.path.realpath(root), ".git")
        if os.path.isdir(own):
            return Path(own)
    return Path(out(["rev-parse", "--absolute-git-dir"], root).strip())


def head(root: Path) -> str | None:
    """HEAD's commit, or None before the first commit (git's exit status 1); a broken
    repository raises rather than looking empty."""
    return commit_of(root, "HEAD")


def commit_of(root: Path, rev: str) -> str | None:
    """The commit `rev` names, or None when it names none (exit status 1)."""
    if rev.startswith("-"):  # never an option to git
        return None
    proc = run(["rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], root, ok=(0, 1))
    return proc.stdout.decode().strip() or None


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    """Whether `older` is reachable from `newer` (`merge-base --is-ancestor`: 1 is no)."""
    return run(["merge-base", "--is-ancestor", older, newer], root, ok=(0, 1)).returncode == 0


def merge_base(root: Path, one: str, other: str) -> str | None:
    """The best common ancestor of two commits (`merge-base`), or None when they have none."""
    found = run(["merge-base", one, other], root, ok=(0, 1))
    return found.stdout.decode().strip() or None if found.returncode == 0 else None


def count_commits(root: Path, spec: Sequence[str]) -> int:
    """`rev-list --count SPEC`: how many commits the range names."""
    return int(run(["rev-list", "--count", *spec], root).stdout.decode().strip() or 0)


def commit_times(root: Path, commits: Sequence[str]) -> dict[str, int]:
    """The committer date of each commit (full ids), as Unix seconds (`%ct`), in one git
    process for a whole range (DG121 bounds a commit's events by its date)."""
    if not commits:
        return {}
    given = "".join(f"{c}\n" for c in commits).encode()
    raw = run(["log", "--no-walk=unsorted", "--stdin", "--format=%H %ct"], root, input=given).stdout
    times = {}
    for line in raw.decode().splitlines():
        commit, _, stamp = line.partition(" ")
        times[commit] = int(stamp)
    return times


def pending_commit_time(root: Path) -> int | None:
    """The committer date the next commit will get (`git var GIT_COMMITTER_IDENT`: now, or
    GIT_COMMITTER_DATE when a hook runs under a back-dated commit); None when git knows no
    committer identity (the commit itself will then fail and say why)."""
    proc = run(["var", "GIT_COMMITTER_IDENT"], root, check=False)
    if proc.returncode != 0:
        return None
    parts = proc.stdout.decode("utf-8", "replace").split()
    try:
        return int(parts[-2])
    except (IndexError, ValueError):
        return None


def symbolic_head(root: Path, *, short: bool = False) -> str | None:
    """The branch HEAD points to (`refs/heads/main`, or `main` if `short`), or None when
    HEAD is detached (exit status 1)."""
    proc = run(["symbolic-ref", "-q", *(["--short"] if short else []), "HEAD"], root, ok=(0, 1))
    return proc.stdout.decode().strip() or None


def has_object(root: Path, oid: str) -> bool:
    """Whether the object `oid` (a full id) is in the repository (`cat-file -e`: 1 is no).
    Anything but a full hexadecimal id names no object (git would call it invalid: 128)."""
    if len(oid) not in (40, 64) or oid.strip("0123456789abcdef"):
        return False
    return run(["cat-file", "-e", oid], root, ok=(0, 1)).returncode == 0


def config_get(root: Path, key: str) -> str | None:
    """A setting's value, or None when it is not set (exit status 1)."""
    proc = run(["config", "--get", key], root, ok=(0, 1))
    return proc.stdout.decode().strip() or None


def author_name(root: Path) -> str | None:
    """The name git would write as the author of a commit made here: GIT_AUTHOR_NAME from
    the environment, else `author.name`, else `user.name` — or None where git would only
    guess one from the system account (dangan then asks for a name instead)."""
    given = os.environ.get("GIT_AUTHOR_NAME", "").strip()
    return given or config_get(root, "author.name") or config_get(root, "user.name")


def busy_state(root: Path) -> str | None:
    """'merge', 'rebase', ... when the repository is in the middle of something."""
    gd = git_dir(root)
    for name, what in (
        ("MERGE_HEAD", "a merge"),
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase or am"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
        ("BISECT_LOG", "a bisect"),
    ):
        if (gd / name).exists():
            return what
    return None


def index_locked(root: Path) -> bool:
    return (git_dir(root) / "index.lock").exists()


class IndexEntry:
    """An entry of the index or of a tree. A plain class: a dataclass costs ~8 ms to import
    and a NamedTuple ~1.5 ms to create, measured in the warm check, which imports gitio."""

    __slots__ = ("mode", "blob", "stage", "path")

    def __init__(self, mode: str, blob: str, stage: int, path: str) -> None:
        self.mode, self.blob, self.stage, self.path = mode, blob, stage, path

    def _key(self) -> tuple[str, str, int, str]:
        return (self.mode, self.blob, self.stage, self.path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IndexEntry) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "IndexEntry(mode={!r}, blob={!r}, stage={!r}, path={!r})".format(*self._key())


def ls_files(root: Path, pathspec: Sequence[str] = ()) -> list[IndexEntry]:
    """The index (honours GIT_INDEX_FILE, so hooks see what is being committed)."""
    raw = run(["ls-files", "-s", "-z", "--", *pathspec], root).stdout
    entries = []
    for item in raw.split(b"\0"):
        if not item:
            continue
        meta, path = item.split(b"\t", 1)
        mode, blob, stage = meta.decode().split()
        entries.append(IndexEntry(mode, blob, int(stage), path.decode("utf-8", "surrogateescape")))
    return entries


def tree_text(root: Path, commit: str, pathspec: Sequence[str]) -> bytes:
    """What `git ls-tree -r -z COMMIT -- PATHSPEC` prints, for the readers of a whole commit
    (`due`, `gaps`, `stats`). When COMMIT is HEAD and nothing is staged under PATHSPEC, the
    index holds that very tree, and git lists it from there: at a million records 0.7 s
    (and 0.4 s to ask whether anything is staged) against 5 s to inflate 1.1 million tree
    objects. The same lines in the same order (the index is sorted as a tree is walked);
    a git without `ls-files --format` (before 2.38), an intent-to-add entry (staged, for
    `diff-index`) or a submodule (which the index cannot call a commit here) takes `ls-tree`."""
    if commit == head(root):
        quiet = run(["diff-index", "--cached", "--quiet", "HEAD", "--", *pathspec], root, check=False)
        if quiet.returncode == 0:
            listed = run(["ls-files", "-z", "--format=%(objectmode) blob %(objectname)%x09%(path)", "--", *pathspec],
                         root, check=False)
            gitlink = b"160000 "
            if listed.returncode == 0 and not listed.stdout.startswith(gitlink) and b"\x00" + gitlink not in listed.stdout:
                return listed.stdout
    return run(["ls-tree", "-r", "-z", commit, "--", *pathspec], root).stdout


def ls_tree(root: Path, rev: str, pathspec: Sequence[str] = ()) -> list[IndexEntry]:
    raw = run(["ls-tree", "-r", "-z", rev, "--", *pathspec], root).stdout
    entries = []
    for item in raw.split(b"\0"):
        if not item:
            continue
        meta, path = item.split(b"\t", 1)
        mode, kind, blob = meta.decode().split()
        if kind == "blob":
            entries.append(IndexEntry(mode, blob, 0, path.decode("utf-8", "surrogateescape")))
    return entries


def object_types(root: Path, names: Sequence[str]) -> list[str | None]:
    """The type of the object each of `names` names (an id, `REV:PATH`, `:PATH` in the
    index) — `blob`, `tree`... — or None where there is none, through one `git cat-file
    --batch-check`. A git that fails raises: it never makes everything look missing."""
    if not names:
        return []
    lines = "".join(f"{name}\n" for name in names).encode("utf-8", "surrogateescape")
    answers = run(["cat-file", "--batch-check"], root, input=lines).stdout.split(b"\n")[: len(names)]
    if len(answers) < len(names) or not answers[-1]:
        raise GitError(f"git cat-file --batch-check: {len(names)} names asked, fewer answers")
    # "<id> <type> <size>", or "<name> missing" / "<name> ambiguous"
    return [fields[1].decode() if len(fields) == 3 else None for fields in (a.split() for a in answers)]


def cat_blobs(root: Path, blobs: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """(blob id, content) for each id, through one `git cat-file --batch` process."""
    for blob, size, pieces in stream_blobs(root, blobs, chunk=None):
        if size is None:
            raise GitError(f"git cat-file: object {blob} is missing")
        yield blob, b"".join(pieces)


def read_blobs(root: Path, blobs: Sequence[str], read: Callable[[str, bytes], Any],
               processes: int = 2, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """read(blob, content) of every blob, through two `git cat-file` processes at once (git
    inflates while the caller parses), or one where the caller keeps the other core busy
    (`gaps` runs its `git log` pass meanwhile); each content is dropped once read. For the
    readers of a whole commit (stats, due, gaps). `progress(1)` is told of each blob read,
    from one thread at a time (a terminal's count line: a cold read of 100,000 takes seconds)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    if progress is not None:
        lock, plain, tell = threading.Lock(), read, progress

        def read(blob: str, content: bytes) -> Any:
            with lock:
                tell(1)
            return plain(blob, content)

    def part(ids: Sequence[str]) -> dict[str, Any]:
        return {blob: read(blob, content) for blob, content in cat_blobs(root, ids)}

    if len(blobs) < 2000 or processes < 2:
        return part(blobs)
    half = len(blobs) // 2
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(part, (blobs[:half], blobs[half:]))
    return {**first, **second}


def stream_blobs(root: Path, blobs: Iterable[str], chunk: int | None = 1 << 20
                 ) -> Iterator[tuple[str, int | None, Iterator[bytes]]]:
    """(blob id, size or None when missing, its content in pieces of at most `chunk`
    bytes; None: in one piece) for each id, through one `git cat-file --batch` process,
    so that a large blob (a scanned attachment) is never held whole. Whatever a caller
    leaves unread of one blob is skipped before the next. The process has exited when
    the iteration ends."""
    ids = list(dict.fromkeys(blobs))
    if not ids:
        return
    proc = start(BATCH_ALL, root, stdin=True)
    assert proc.stdin is not None and proc.stdout is not None
    out = proc.stdout
    import threading

    def feed() -> None:
        try:
            proc.stdin.write("".join(f"{b}\n" for b in ids).encode())  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError):
            pass  # git ended early (and the reader closed our end): the reader says why

    def pieces(blob: str, left: list[int]) -> Iterator[bytes]:
        while left[0]:
            data = out.read(left[0] if chunk is None else min(chunk, left[0]))
            if not data:
                raise GitError(f"git cat-file: object {blob} is truncated")
            left[0] -= len(data)
            yield data

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for blob in ids:
            line = out.readline()
            if not line:  # git ended without answering: not "missing", a failure
                raise _died(proc, BATCH_ALL)
            header = line.split()
            if len(header) < 3:  # "<id> missing"
                yield blob, None, iter(())
                continue
            left = [int(header[2])]
            content = pieces(blob, left)
            yield blob, left[0], content
            for _ in content:  # what the caller did not read
                pass
            out.read(1)  # the newline after the content
    finally:
        writer.join()
        out.close()
        _end(proc)


BATCH = ("cat-file", "--batch")
# every id is written before the first answer is read: git may buffer its answers instead of
# writing each blob on its own (~0.1 s less system time for 72,000 records)
BATCH_ALL = ("cat-file", "--batch", "--buffer")


def _died(proc: subprocess.Popen[bytes], args: Sequence[str]) -> GitError:
    """The error for a streaming git that stopped answering: its exit status and stderr."""
    _close_stdin(proc)
    err = b""
    if proc.stderr is not None:
        err = proc.stderr.read()
        proc.stderr.close()
    proc.wait()
    if proc.returncode:
        return failure(args, err, None, proc.returncode)
    return GitError(f"git {command(args)}: ended before answering")


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Wait for a cat-file process that has answered everything it was asked.

    Its stdin may still be open in processes forked meanwhile (the check's workers inherit
    every descriptor), so it might never see end of input: terminate it instead of waiting
    forever.
    """
    try:
        proc.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


class BlobCat:
    """One long-lived `git cat-file --batch` for blobs asked for one at a time (a
    certificate's items), instead of a process per blob."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None

    def get(self, blob: str) -> bytes | None:
        if not blob or any(c not in "0123456789abcdef" for c in blob):
            return None
        return self._ask(blob)

    def at(self, commit: str, path: str) -> bytes | None:
        """The blob at `path` in `commit` (None where there is none), by git's `COMMIT:PATH`."""
        if not commit or any(c not in "0123456789abcdef" for c in commit) or "\n" in path:
            return None
        return self._ask(f"{commit}:{path}")

    def _ask(self, name: str) -> bytes | None:
        if self.proc is None:
            self.proc = start(BATCH, self.root, stdin=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(f"{name}\n".encode("utf-8", "surrogateescape"))
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # git ended: the empty answer below says so
        line = self.proc.stdout.readline()
        if not line:  # not "missing": git failed
            error = _died(self.proc, BATCH)
            self.proc.stdout.close()
            self.proc = None
            raise error
        header = line.split()
        if len(header) < 3 or header[-1] == b"missing":
            return None
        data = self.proc.stdout.read(int(header[2]))
        self.proc.stdout.read(1)
        return data if header[1] == b"blob" else None

    def close(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.close()
            self.proc.stdout.close()
            _end(self.proc)
            self.proc = None


def worktree_holds(root: Path, commit: str, pathspec: Sequence[str]) -> bool:
    """Whether the work tree's tracked files under `pathspec` are those of `commit` (`git
    diff --quiet`: git stats them, and reads only what the stat data does not vouch for).
    A reader of a commit then lets git read files, three times faster than inflating blobs."""
    return run(["diff", "--quiet", commit, "--", *pathspec], root, ok=(0, 1)).returncode == 0


def add(root: Path, paths: Sequence[str]) -> None:
    if paths:
        run(["add", "-A", "--", *paths], root)


def stage(root: Path, paths: Sequence[str], index: Path | None = None) -> None:
    """`git add -A -- PATHS` for many paths: one `update-index` reading them from stdin
    (added, modified or removed as the work tree has them), without pathspec matching.
    `index`: stage into that index file instead of the repository's (GIT_INDEX_FILE)."""
    if paths:
        run(["update-index", "--add", "--remove", "-z", "--stdin"], root,
            input=b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths), env=index_env(index))


def index_env(index: Path | None) -> dict[str, str] | None:
    """The environment that points git at another index file (None: the repository's)."""
    return {"GIT_INDEX_FILE": str(index)} if index is not None else None


def restore_index(root: Path, entries: Mapping[str, IndexEntry | None], index: Path | None = None) -> None:
    """Put the index entries of `entries` back as they were (None: not in the index)."""
    lines = []
    for path, entry in entries.items():
        if entry is None:
            lines.append(f"0 {ZERO}\t{path}\n")
        else:
            lines.append(f"{entry.mode} {entry.blob}\t{path}\n")
    if lines:
        run(["update-index", "--index-info"], root, input="".join(lines).encode("utf-8", "surrogateescape"),
            env=index_env(index))


def commit(root: Path, message: str, paths: Sequence[str], *, sign: bool = False, empty: bool = False,
           index: Path | None = None) -> str:
    """Commit exactly `paths` (other staged changes stay staged); return the new commit.

    The vault's hooks run as for any commit; PATH is extended with this interpreter's
    bin directory so that they find the same dangan that is committing. `sign`: git signs
    the commit itself (`-S`, the user's gpg.format=ssh and user.signingKey: ssh-keygen and
    its agent). `empty`: a commit that changes no file (an approval, docs/retention.md §3).
    `index`: commit the whole of that index file (GIT_INDEX_FILE; `paths` must be empty),
    and return HEAD as git left it: the caller (store/transaction.py) finds its own commit,
    since another may land on top at once.
    """
    bindir = str(Path(sys.executable).parent)
    env = {"PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    env.update(index_env(index) or {})
    options = ["-S"] * sign + ["--allow-empty"] * empty
    proc = run(["commit", "-q", *options, "-m", message, "--", *paths], root, env=env, check=False)
    if proc.returncode != 0:
        text = proc.stderr.decode("utf-8", "replace").strip()
        lines = [line for line in text.splitlines() if ": DG1" in line]
        # the vault's own hook said no (its findings' `PATH: DGnnn ` prefix is the same in every
        # interface language; its summary line is not): a refusal, exit 1
        if lines or "commit refused" in text:
            from dangan.errors import Refusal

            shown = "; ".join(lines[:3]) + (f"; and {len(lines) - 3} more" if len(lines) > 3 else "")
            raise Refusal(Message("the pre-commit hook refused the commit: {findings}", findings=shown),
                          Message("nothing was changed; fix the findings and retry"))
        if text:
            raise failure(["commit"], proc.stderr, None, proc.returncode)
        # nothing on stderr: git said why on stdout, last ("nothing to commit, ...")
        said = [line for line in proc.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
        raise GitError(f"git commit: {said[-1].strip() if said else f'failed (exit status {proc.returncode})'}")
    return out(["rev-parse", "HEAD"], root).strip()


def write_tree(root: Path, index: Path | None = None) -> str:
    """The tree an index holds (`write-tree`: its cache-tree makes this cheap after a commit)."""
    return run(["write-tree"], root, env=index_env(index)).stdout.decode().strip()


def recent(root: Path, rev: str, count: int) -> list[tuple[str, str, list[str]]]:
    """(commit, tree, parents) of the `count` newest commits reachable from `rev`."""
    raw = run(["log", f"-{count}", "--format=%H %T %P", rev, "--"], root).stdout.decode()
    found = []
    for line in raw.splitlines():
        commit, tree, *parents = line.split()
        found.append((commit, tree, parents))
    return found


def staged_differs(root: Path, paths: Sequence[str]) -> bool:
    """Whether the index differs from HEAD at `paths` (all of them when empty): whether a
    commit of them would record anything. No HEAD yet: everything staged is new."""
    if head(root) is None:
        return True
    return run(["diff", "--cached", "--quiet", "HEAD", "--", *paths], root, ok=(0, 1)).returncode == 1


def commit_objects(root: Path, commits: Iterable[str]) -> dict[str, bytes]:
    """The raw objects of commits (what `git cat-file commit X` prints), by id, in one
    `cat-file --batch`: their headers, signature and message."""
    return dict(cat_blobs(root, commits))


def write_commit(root: Path, raw: bytes) -> str:
    """Store a commit object made by hand (a commit signed by dangan); its id."""
    return run(["hash-object", "-t", "commit", "-w", "--stdin"], root, input=raw).stdout.decode().strip()


def move_head(root: Path, new: str, old: str, reason: str) -> None:
    """Point HEAD (its branch) at `new`, only if it is still at `old` (update-ref's check)."""
    run(["update-ref", "-m", reason, "HEAD", new, old], root)


def commits_with(root: Path, rev: str, text: str) -> list[str]:
    """The commits reachable from `rev` whose message contains `text` (fixed string),
    newest first."""
    return run(["rev-list", "--fixed-strings", f"--grep={text}", rev, "--"], root).stdout.decode().split()


def blobs_ever_at(root: Path, paths: Sequence[str], chunk: int = 400) -> dict[str, set[str]]:
    """Every blob each of `paths` held in any commit reachable from any ref (`git log --all
    --raw`, merges against each parent): the versions a destruction must reach."""
    found: dict[str, set[str]] = {p: set() for p in paths}
    for start in range(0, len(paths), chunk):
        part = paths[start:start + chunk]
        raw = run(["log", "--all", "-m", "--format=", "--raw", "--no-renames", "--no-abbrev", "-z",
                   "--", *part], root).stdout
        fields = raw.split(b"\0")
        for i in range(0, len(fields) - 1, 2):
            meta, path = fields[i].decode("ascii", "replace").split(), fields[i + 1].decode("utf-8", "surrogateescape")
            if len(meta) >= 4 and path in found:
                for blob in (meta[2], meta[3]):
                    if blob.strip("0"):
                        found[path].add(blob)
    return found


def file_at(root: Path, rev: str, path: str) -> bytes | None:
    """A file's content at a commit, or None when the commit has no such file."""
    entries = [e for e in ls_tree(root, rev, [path]) if e.path == path]
    if not entries:
        return None
    return next(iter(cat_blobs(root, [entries[0].blob])))[1]


# ------------------------------------------------------------- office checkouts (sparse)

def clone_partial(url: str, dest: Path, cwd: Path) -> bool:
    """`git clone --filter=blob:none --no-checkout URL DEST`: every commit and tree, no
    file's content; the checkout that follows fetches the blobs of its cone alone. False
    when the server ignored the filter (no `uploadpack.allowFilter`) and sent every blob:
    git says so in a warning only, read here in git's own English (`LC_ALL=C`)."""
    proc = run(["clone", "-q", "--filter=blob:none", "--no-checkout", "--", url, str(dest)], cwd,
               env={"LC_ALL": "C"})
    return b"filtering not recognized by server" not in proc.stderr


def top_entries(root: Path, rev: str, folder: str = "") -> list[tuple[str, str]]:
    """(kind `blob`/`tree`/`commit`, name) of the entries directly in `folder` ("" the
    top) at `rev`: trees only, which a blobless clone holds."""
    spec = [f"{folder.rstrip('/')}/"] if folder else []
    raw = run(["ls-tree", "-z", rev, "--", *spec], root).stdout
    found = []
    for item in raw.split(b"\0"):
        if item:
            meta, _, path = item.partition(b"\t")
            name = path.decode("utf-8", "surrogateescape").rsplit("/", 1)[-1]
            found.append((meta.split()[1].decode(), name))
    return found


def sparse_checkout(root: Path, folders: Sequence[str]) -> None:
    """Cone-mode sparse checkout with a sparse index of `folders` (the files at the top
    and directly in each folder's parents come with them, as cone mode gives), then the
    checkout of HEAD: git fetches the cone's blobs in one batch."""
    run(["sparse-checkout", "init", "--cone", "--sparse-index"], root)
    run(["sparse-checkout", "set", "--", *folders], root)
    branch = symbolic_head(root, short=True)
    run(["checkout", "-q", *([branch] if branch else ["--detach", "HEAD"])], root)


def sparse_add(root: Path, folders: Sequence[str]) -> None:
    """Add `folders` to a cone-mode sparse checkout (`sparse-checkout add`)."""
    run(["sparse-checkout", "add", "--", *folders], root)


def sparse_folders(root: Path) -> list[str] | None:
    """The folders of a cone-mode sparse checkout (`sparse-checkout list`), or None when
    the work tree is whole (no sparse checkout, or a non-cone one, which dangan treats as
    whole: its patterns name files, not folders)."""
    if (config_get(root, "core.sparseCheckout") or "").lower() != "true":
        return None
    if (config_get(root, "core.sparseCheckoutCone") or "").lower() != "true":
        return None
    return [line for line in out(["sparse-checkout", "list"], root).splitlines() if line]


def tagged_files(root: Path, pathspec: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(tag, path) of the index's files (`ls-files -t`, a sparse index expanded): `S` for
    those with the skip-worktree bit — the files a sparse checkout leaves out of the work
    tree, which exist nonetheless —, `H` for the others in the index."""
    raw = run(["ls-files", "-t", "-z", "--", *pathspec], root).stdout
    return [(item[:1].decode(), item[2:].decode("utf-8", "surrogateescape"))
            for item in raw.split(b"\0") if item]


@functools.lru_cache(maxsize=16)
def partial_clone(root: Path) -> bool:
    """Whether the repository is a partial clone (a promisor remote: `remote.NAME.promisor`,
    or `extensions.partialClone` as older gits write it): a blob it lacks is fetched from
    the server when asked for, so questions that need no content must not ask for the
    object (`paths_in`)."""
    pattern = r"^(extensions\.partialclone|remote\..*\.promisor)$"
    raw = run(["config", "--get-regexp", pattern], root, ok=(0, 1)).stdout.decode("utf-8", "replace")
    return any(line.split(" ", 1)[-1].strip().lower() not in ("false", "no", "off", "0")
               for line in raw.splitlines())


def paths_in(root: Path, side: str, paths: Sequence[str]) -> set[str]:
    """Which `paths` exist on `side` (':' the index, or a commit), from trees and the
    index alone: `cat-file --batch-check` would fetch each missing blob of a partial clone
    from the server (git 2.39 does, even for `%(objectname)`)."""
    found: set[str] = set()
    for start in range(0, len(paths), 1000):  # the command line stays short
        chunk = list(paths[start:start + 1000])
        args = (["ls-files", "-z", "--", *chunk] if side == ":"
                else ["ls-tree", "-r", "-z", "--name-only", side, "--", *chunk])
        raw = run(["--literal-pathspecs", *args], root).stdout
        found.update(p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0") if p)
    return found & set(paths)
