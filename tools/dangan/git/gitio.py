"""All Git access goes through this module: one choke point for subprocess calls.

Plumbing (`ls-files`, `cat-file --batch`, `diff-tree`) for anything touching many files;
The plumbing commands are run directly (a library such as GitPython walks trees ~60x slower than `git ls-tree`).
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dangan.errors import GitError

ZERO = "0" * 40


def run(
    args: Sequence[str],
    cwd: Path,
    *,
    input: bytes | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git ARGS` in `cwd`; raise GitError with git's own message on failure."""
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
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip() or proc.stdout.decode(
            "utf-8", "replace"
        ).strip()
        first = message.splitlines()[0] if message else f"git {args[0]} failed"
        raise GitError(f"git {args[0]}: {first}")
    return proc


def out(args: Sequence[str], cwd: Path) -> str:
    return run(args, cwd).stdout.decode("utf-8", "surrogateescape")


def toplevel(path: Path) -> Path | None:
    proc = run(["rev-parse", "--show-toplevel"], path, check=False)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.decode().strip())


@functools.lru_cache(maxsize=16)
def git_dir(root: Path) -> Path:
    return Path(out(["rev-parse", "--absolute-git-dir"], root).strip())


def head(root: Path) -> str | None:
    proc = run(["rev-parse", "--verify", "-q", "HEAD"], root, check=False)
    return proc.stdout.decode().strip() or None


def config_get(root: Path, key: str) -> str | None:
    proc = run(["config", "--get", key], root, check=False)
    return proc.stdout.decode().strip() or None


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


@dataclass(frozen=True)
class IndexEntry:
    mode: str
    blob: str
    stage: int
    path: str


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


def cat_blobs(root: Path, blobs: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """(blob id, content) for each id, through one `git cat-file --batch` process."""
    for blob, size, pieces in stream_blobs(root, blobs, chunk=None):
        if size is None:
            raise GitError(f"git cat-file: object {blob} is missing")
        yield blob, b"".join(pieces)


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
    proc = subprocess.Popen(
        ["git", "cat-file", "--batch"],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    out = proc.stdout
    import threading

    def feed() -> None:
        try:
            proc.stdin.write("".join(f"{b}\n" for b in ids).encode())  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass

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
            header = out.readline().split()
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


class BlobCat:
    """One long-lived `git cat-file --batch` for blobs asked for one at a time (a
    certificate's items), instead of a process per blob."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None

    def get(self, blob: str) -> bytes | None:
        if self.proc is None:
            self.proc = subprocess.Popen(
                ["git", "cat-file", "--batch"], cwd=self.root,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if not blob or any(c not in "0123456789abcdef" for c in blob):
            return None
        self.proc.stdin.write(f"{blob}\n".encode())
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
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


def add(root: Path, paths: Sequence[str]) -> None:
    if paths:
        run(["add", "-A", "--", *paths], root)


def stage(root: Path, paths: Sequence[str]) -> None:
    """`git add -A -- PATHS` for many paths: one `update-index` reading them from stdin
    (added, modified or removed as the work tree has them), without pathspec matching."""
    if paths:
        run(["update-index", "--add", "--remove", "-z", "--stdin"], root,
            input=b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths))


def restore_index(root: Path, entries: dict[str, IndexEntry | None]) -> None:
    """Put the index entries of `entries` back as they were (None: not in the index)."""
    lines = []
    for path, entry in entries.items():
        if entry is None:
            lines.append(f"0 {ZERO}\t{path}\n")
        else:
            lines.append(f"{entry.mode} {entry.blob}\t{path}\n")
    if lines:
        run(["update-index", "--index-info"], root, input="".join(lines).encode())


def commit(root: Path, message: str, paths: Sequence[str]) -> str:
    """Commit exactly `paths` (other staged changes stay staged); return the new commit.

    The vault's hooks run as for any commit; PATH is extended with this interpreter's
    bin directory so that they find the same dangan that is committing.
    """
    bindir = str(Path(sys.executable).parent)
    path_env = bindir + os.pathsep + os.environ.get("PATH", "")
    proc = run(["commit", "-q", "-m", message, "--", *paths], root, env={"PATH": path_env}, check=False)
    if proc.returncode != 0:
        text = proc.stderr.decode("utf-8", "replace").strip()
        if "commit refused" in text:  # the vault's own hook said no: a refusal, exit 1
            from dangan.errors import Refusal

            lines = [line for line in text.splitlines() if ": DG1" in line]
            shown = "; ".join(lines[:3]) + (f"; and {len(lines) - 3} more" if len(lines) > 3 else "")
            raise Refusal(f"the pre-commit hook refused the commit: {shown}", "nothing was changed; fix the findings and retry")
        first = text.splitlines()[0] if text else "git commit failed"
        raise GitError(f"git commit: {first}")
    return out(["rev-parse", "HEAD"], root).strip()
