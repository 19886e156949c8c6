"""Changing files and committing them all or nothing, even when dangan is killed.

Every command that writes to a vault goes through `write` (Vault.apply for records,
attachments.transact for large files). A write has four steps, and a `kill -9`, a power cut
or a full disk can stop it between any two:

1. The plan. `.git/dangan/pending.json` says what is about to change: for each file, its
   index entry before, where its content before can be found (nowhere: it did not exist; in
   the index: it held what the index holds; or set aside, in the same folder, when it held
   something else: a hard link to it, so that the file is never missing, or a rename where
   the file system has none) and the blob id it will hold. It is written and fsynced before any
   file is touched.
2. The files, written atomically one by one into the work tree.
3. The commit, built in a private index (`.git/dangan/index.pending`: a copy of the
   repository's index, reset to HEAD where something else is staged, plus the changed paths)
   and made by `git commit` with GIT_INDEX_FILE pointing at it. The hooks run as for any
   commit; nothing another writer staged goes into dangan's commit and nothing dangan wrote is
   staged where another writer's `git commit` could take it. git moves HEAD only if it still
   points where it did when the commit began ("cannot lock ref 'HEAD': is at ... but expected
   ...", git's own message, reported as it is); dangan then checks that its commit's parent is
   the HEAD it planned on, and withdraws the commit if another landed in between.
4. The repository's index: the changed paths staged as the commit has them. Then the plan
   (and anything set aside) is removed.

With `commit=False` (`--no-commit`) step 3 is left out and step 4 stages the files.

The next dangan command on the vault (`recover`, run by whoever takes the writers' lock while
a plan is there: its writer is dead) reads the plan. If the commit was made it finishes step
4; if not, it puts every file that still holds what dangan wrote back as it was, and the
index entries too: the vault is as before the command. A file someone changed since is left
alone and named. What is recovered is reported on stderr by the command that found it
(docs/threat-model.md: interrupted commands).

No decrypted content is ever part of a plan: records are written sealed, and what is set
aside is the file as it was on disk.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan.errors import DanganError, GitError
from dangan.git import gitio
from dangan.store.fsutil import remove_empty_dirs, write_atomic

FORMAT = "dangan-pending 1"
PLAN = "pending.json"
INDEX = "index.pending"
BULK = 200  # from this many files: no fsync per file but one sync(), paths staged in bulk
SEARCH = 50  # commits from HEAD searched for the one a killed write made


class Interrupted(DanganError):
    """A plan this dangan cannot read (another version wrote it, or it is damaged)."""


def blob_id(data: bytes) -> str:
    """The id git gives a blob of these bytes (SHA-1 object format)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _set_aside(target: Path, aside: Path) -> None:
    """Keep the file as it was at `aside`: a second name (a hard link; a symbolic link as
    it is), so that the file is never missing while its new content is written — a
    vault.yaml missing after a kill would be "no vault here", and the next command could
    not recover. Renamed where the file system has no hard links."""
    try:
        os.link(target, aside, follow_symlinks=False)
    except FileNotFoundError:
        pass
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.replace(target, aside)


def _blob_of(path: Path) -> str | None:
    """The blob id of a work tree file as it is now, read in pieces (an attachment can be
    large); None when there is none; "link" for a symbolic link (never followed)."""
    try:
        if path.is_symlink():
            return "link"
        with open(path, "rb") as handle:
            digest = hashlib.sha1(b"blob %d\0" % os.fstat(handle.fileno()).st_size)
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


@dataclass
class Recovery:
    """What `recover` did with a plan an interrupted command left."""

    command: str
    pid: int
    started: str
    finished: bool  # True: its commit had been made, the rest was done; False: rolled back
    files: int
    commit: str | None = None
    left: list[str] = field(default_factory=list)  # changed by someone since: left alone
    note: str | None = None  # instead of the usual text

    def describe(self) -> str:
        if self.note:
            return f"`{self.command}`: {self.note}"
        what = f"an interrupted `{self.command}` (process {self.pid}, started {self.started})"
        if self.finished:
            text = f"{what} had committed {str(self.commit)[:12]}; its last step was finished now"
        else:
            text = f"{what} was rolled back: {self.files} file(s) are as before it"
        if self.left:
            shown = ", ".join(self.left[:3]) + (f" and {len(self.left) - 3} more" if len(self.left) > 3 else "")
            text += f"; changed since, left as they are: {shown}"
        return text


def _entry(value: list[Any] | None, path: str) -> gitio.IndexEntry | None:
    return gitio.IndexEntry(value[0], value[1], 0, path) if value else None


class Write:
    """One write: its plan, on disk from `begin` until `done`."""

    def __init__(self, root: Path, git_dir: Path, plan: dict[str, Any]) -> None:
        self.root = root
        self.folder = git_dir / "dangan"
        self.plan = plan

    # ----------------------------------------------------------------- the plan
    @classmethod
    def begin(cls, root: Path, git_dir: Path, changes: Mapping[str, bytes | Path | None], message: str,
              *, commit: bool, signs: bool) -> Write:
        """Read what each file holds now and write the plan (durably), touching nothing else."""
        paths = list(changes)
        bulk = len(paths) >= BULK
        index: dict[str, gitio.IndexEntry | None] = dict.fromkeys(paths)
        wanted = set(paths)
        for entry in gitio.ls_files(root, [] if bulk else paths):
            if entry.path in wanted and entry.stage == 0:
                index[entry.path] = entry
        token = os.urandom(4).hex()
        files = []
        for rel, value in changes.items():
            target = root / rel
            before = index[rel]
            now = _blob_of(target)  # a symbolic link is set aside as it is, never read through
            if now is None:
                work = "absent"
            elif before is not None and before.blob == now and before.mode in ("100644", "100755"):
                work = "index"
            else:
                work = "aside"
            aside = f"{Path(rel).parent.as_posix()}/.{target.name}.{token}.old" if work == "aside" else None
            after = blob_id(value) if isinstance(value, bytes) else (None if value is None else "file")
            temp = None
            if isinstance(value, Path):
                with contextlib.suppress(ValueError):
                    temp = value.resolve().relative_to(root.resolve()).as_posix()
            files.append({"path": rel, "index": [before.mode, before.blob] if before else None,
                          "work": work, "aside": aside, "after": after, "temp": temp})
        plan = {
            "format": FORMAT, "pid": os.getpid(), "command": _command(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "head": gitio.head(root), "message": message, "commit": commit, "signs": signs,
            "staged": False, "made": None, "files": files,
        }
        write = cls(root, git_dir, plan)
        write.save()
        return write

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.folder / PLAN, json.dumps(self.plan, ensure_ascii=False).encode("utf-8"), mode=0o600)

    def done(self) -> None:
        """The write is complete (or wholly undone): what was set aside and the plan go."""
        for item in self.plan["files"]:
            if item["aside"]:
                with contextlib.suppress(FileNotFoundError):
                    (self.root / item["aside"]).unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.folder / INDEX).unlink()
        (self.folder / PLAN).unlink(missing_ok=True)
        _sync_folder(self.folder)

    @property
    def paths(self) -> list[str]:
        return [item["path"] for item in self.plan["files"]]

    # ---------------------------------------------------------------- the files
    def put(self, changes: Mapping[str, bytes | Path | None]) -> None:
        bulk = len(changes) >= BULK
        for item in self.plan["files"]:
            rel = item["path"]
            value = changes[rel]
            target = self.root / rel
            if item["aside"]:
                _set_aside(target, self.root / item["aside"])
            if isinstance(value, bytes):
                write_atomic(target, value, durable=not bulk)
            elif isinstance(value, Path):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(value, target)
            else:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                remove_empty_dirs(target.parent, self.root)
        if bulk:
            os.sync()  # one flush for every file: the commit must not outlive its blobs

    # --------------------------------------------------------------- the commit
    def commit(self, *, sign: bool, empty: bool) -> str | None:
        """Commit the plan's paths through the private index; the commit's id, or None when
        the files are what HEAD holds (nothing to commit is not an error)."""
        private = self.folder / INDEX
        head = self.plan["head"]
        real = Path(os.environ.get("GIT_INDEX_FILE") or gitio.git_dir(self.root) / "index")
        private.unlink(missing_ok=True)
        if head is None:
            gitio.run(["read-tree", "--empty"], self.root, env=gitio.index_env(private))
        else:
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(real, private)
            # the copy keeps the stat data git needs to skip unchanged files; where something
            # else is staged (rare), the private index is reset to HEAD (~1 s at 100,000 files)
            if not private.exists() or gitio.run(["diff-index", "--cached", "--quiet", head, "--"], self.root,
                                                 ok=(0, 1), env=gitio.index_env(private)).returncode == 1:
                gitio.run(["read-tree", "-m", head], self.root, env=gitio.index_env(private))
        gitio.stage(self.root, self.paths, index=private)
        try:
            gitio.commit(self.root, self.plan["message"], [], sign=sign, empty=empty, index=private)
        except GitError:
            # asked only when git refused (it reads the index): the files are what HEAD holds
            if head is not None and gitio.run(["diff-index", "--cached", "--quiet", head, "--"], self.root,
                                              ok=(0, 1), env=gitio.index_env(private)).returncode == 0 \
                    and gitio.head(self.root) == head and not empty:
                return None
            raise
        made = self._find(head)
        if made is None:
            raise GitError("git commit: the new commit is not in the history of HEAD any more",
                           "another writer moved HEAD at the same moment; see `git reflog` and run the command again")
        commit, parents = made
        if parents[:1] != ([head] if head else []):
            # another commit landed between the plan and git reading HEAD: this one, made on
            # the HEAD planned, would undo it; withdrawn while HEAD is still at it
            withdrawn = self._withdraw(commit, parents)
            raise GitError(
                f"git commit: another commit ({(parents[:1] or ['?'])[0][:12]}) landed while dangan was committing"
                + ("; dangan's commit was withdrawn" if withdrawn else f"; dangan's commit {commit[:12]} is on top of it"),
                "look at `git log`, then run the command again" if withdrawn
                else "it undoes the other commit's changes: revert it with `git revert`, then run the command again")
        self.plan["made"] = commit
        self.save()
        return commit

    def _find(self, head: str | None) -> tuple[str, list[str]] | None:
        """The commit git just made, and its parents. HEAD, when its parent is the HEAD
        planned on (another commit on that parent would have failed git's check on HEAD);
        else the newest commit holding the private index's tree."""
        newest = gitio.recent(self.root, "HEAD", 1)
        if newest and newest[0][2][:1] == ([head] if head else []):
            return newest[0][0], newest[0][2]
        tree = gitio.write_tree(self.root, self.folder / INDEX)
        for commit, found, parents in gitio.recent(self.root, "HEAD", SEARCH):
            if found == tree:
                return commit, parents
        return None

    def _withdraw(self, commit: str, parents: list[str]) -> bool:
        if not parents:
            return False
        try:
            gitio.move_head(self.root, parents[0], commit, "dangan: withdrawn, another commit landed meanwhile")
        except GitError:
            return False
        return True

    def stage(self, committed: bool) -> None:
        """The paths staged in the repository's index from the work tree, which holds what
        was just committed (so git records their stat data and reads none of them again, as
        `git add` would). Not committing: the plan says so first, to be undone if killed."""
        if not committed:
            self.plan["staged"] = True
            self.save()
        gitio.stage(self.root, self.paths)

    # ------------------------------------------------------------ rolling back
    def roll_back(self) -> list[str]:
        """Put every file that still holds what this write put there back as it was, and
        its index entry; the paths someone changed since (left alone)."""
        left = []
        blobs = {item["index"][1] for item in self.plan["files"] if item["work"] == "index" and item["index"]}
        contents: dict[str, bytes] = {}
        for item in self.plan["files"]:
            rel = item["path"]
            target = self.root / rel
            if item.get("temp"):  # a large file not yet renamed into place
                with contextlib.suppress(FileNotFoundError):
                    (self.root / item["temp"]).unlink()
            for stray in _temps(target):
                stray.unlink(missing_ok=True)
            aside = self.root / item["aside"] if item["aside"] else None
            now = _blob_of(target)
            ours = now == item["after"] or (item["after"] == "file" and now is not None)
            if aside is not None and (aside.exists() or aside.is_symlink()):
                if ours or now is None:
                    os.replace(aside, target)
                elif now == _blob_of(aside):  # linked aside, never written: as it was
                    aside.unlink()
                else:
                    left.append(rel)
                continue
            if item["work"] == "absent" or item["work"] == "aside":  # aside not made yet: never touched
                if item["work"] == "absent" and ours and now is not None:
                    target.unlink()
                    remove_empty_dirs(target.parent, self.root)
                continue
            before = item["index"][1]
            if now == before:
                continue
            if ours or now is None:
                if not contents and blobs:
                    contents = dict(gitio.cat_blobs(self.root, sorted(blobs)))
                write_atomic(target, contents[before], mode=0o755 if item["index"][0] == "100755" else 0o644)
            else:
                left.append(rel)
        if self.plan["staged"]:
            gitio.restore_index(self.root, {i["path"]: _entry(i["index"], i["path"]) for i in self.plan["files"]})
        return left


def _set_index(root: Path, paths: list[str], commit: str) -> None:
    """The repository's index entries of `paths` made what `commit` holds (removed where it
    holds nothing): one `update-index --index-info`."""
    held = {entry.path: entry for entry in gitio.ls_tree(root, commit, [] if len(paths) >= BULK else paths)}
    gitio.restore_index(root, {path: held.get(path) for path in paths})


def _temps(target: Path) -> Iterable[Path]:
    """write_atomic's temp files for `target` (a kill between create and rename)."""
    try:
        return list(target.parent.glob(f".{glob_escape(target.name)}.*.tmp"))
    except OSError:
        return []


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


_WORD = re.compile(r"[a-z][a-z-]*")


def _command() -> str:
    """`dangan` and its command words (`dangan lend approve`), for people to recognise the
    command by, in the plan file and the next command's notice: the leading lower-case
    words only, so no code, name, path or assigned value (`phone=...`) is ever written."""
    words, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg in ("-C", "--identity", "--sign-key"):  # the global options that take a value
            skip = True
        elif arg.startswith("-"):
            continue
        elif _WORD.fullmatch(arg) and len(words) < 2:
            words.append(arg)
        else:
            break
    return " ".join(["dangan", *words])


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ----------------------------------------------------------------- the API

def write(root: Path, changes: Mapping[str, bytes | Path | None], message: str, *, commit: bool = True,
          signing: Any = None, empty: bool = False, signed_changes: Mapping[str, bytes | None] | None = None
          ) -> str | None:
    """Write (bytes), move into place (a Path: a temp file in the same folder) or delete
    (None) files, and commit them: all or nothing, also when killed (see the module's text).

    The caller holds the writers' lock. `signing`: services.signing.Signing or None;
    `signed_changes`: what its role-act check reads (the records among `changes`). Returns
    the commit's id; None when not committing or when the files are what HEAD holds.
    """
    git_dir = gitio.git_dir(root)
    stale = recover(root, git_dir)
    if stale is not None:  # a dead writer's plan, found by a caller that did not look first
        note(stale)
    token = None
    if commit and signing is not None:
        token = signing.prepare(root, signed_changes if signed_changes is not None else changes, message)
    signs = bool(token is not None and getattr(token, "key", None) is not None)
    job = Write.begin(root, git_dir, changes, message, commit=commit, signs=signs)
    try:
        job.put(changes)
        made = job.commit(sign=bool(token and token.git_signs), empty=empty) if commit else None
        if made is not None and signing is not None:
            made = signing.finish(root, made, token)
            job.plan["made"] = made
    except BaseException:
        # not committed: rolled back; committed but not signed as it must be: withdrawn and
        # rolled back (recover does both, from the plan on disk)
        with contextlib.suppress(Exception):
            recover(root, git_dir)
        raise
    try:
        job.stage(commit)
    except GitError:
        if not commit:
            with contextlib.suppress(Exception):
                recover(root, git_dir)
            raise
        # committed: the index is brought up to date by the next command (the plan stays)
        note(Recovery(job.plan["command"], os.getpid(), job.plan["started"], True, len(job.paths), made,
                      note="committed, but the index could not be updated now; the next dangan command does it"))
        return made
    job.done()
    return made


def note(found: Recovery) -> None:
    _RECOVERED.append(found)


_RECOVERED: list[Recovery] = []


def recovered() -> list[Recovery]:
    """What this process recovered without being asked (for the CLI to report), emptied."""
    found = list(_RECOVERED)
    _RECOVERED.clear()
    return found


def pending(git_dir: Path) -> bool:
    return (git_dir / "dangan" / PLAN).exists()


def recover(root: Path, git_dir: Path) -> Recovery | None:
    """Finish or roll back the write a killed dangan left (the caller holds the writers'
    lock, so the plan's writer is gone); None when there is nothing to do."""
    path = git_dir / "dangan" / PLAN
    try:
        plan = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise Interrupted(f"{path} cannot be read ({exc})",
                          "an interrupted dangan command left it; look at `git status`, put the files right, "
                          "then remove that file") from None
    if not isinstance(plan, dict) or plan.get("format") != FORMAT:
        raise Interrupted(f"{path} was written by another version of dangan",
                          "finish it with that version, or look at `git status`, then remove that file")
    job = Write(root, git_dir, plan)
    made = plan.get("made") or _made_by(root, plan)
    if made is not None and plan.get("signs") and not _signed(root, made) and gitio.head(root) == made \
            and plan.get("head"):
        # dangan was to sign it and was killed first: an unsigned role act is withdrawn
        gitio.move_head(root, plan["head"], made, "dangan: an unsigned commit of an interrupted command withdrawn")
        job.plan["staged"] = True  # the index may have been set: put back as well
        made = None
    if made is not None:
        _set_index(root, job.paths, made)
        job.done()
        return Recovery(plan.get("command", "dangan"), int(plan.get("pid", 0)), str(plan.get("started")),
                        True, len(job.paths), made)
    left = job.roll_back()
    job.done()
    return Recovery(plan.get("command", "dangan"), int(plan.get("pid", 0)), str(plan.get("started")),
                    False, len(job.paths), None, left)


def _made_by(root: Path, plan: dict[str, Any]) -> str | None:
    """The commit a killed write made before it could say so: in the newest commits of HEAD,
    one whose parent is the HEAD it planned on, whose message is its message and whose tree
    holds what it wrote at every path it knew the content of."""
    if not plan.get("commit"):
        return None
    head = plan.get("head")
    message = str(plan.get("message", "")).strip() or "-"
    try:
        candidates = [(c, p) for c, _, p in gitio.recent(root, "HEAD", SEARCH) if p[:1] == ([head] if head else [])]
    except GitError:
        return None
    for commit, _ in candidates:
        if gitio.out(["log", "-1", "--format=%s", commit], root).strip() != message.splitlines()[0].strip():
            continue
        known = {i["path"]: i["after"] for i in plan["files"] if i["after"] != "file"}
        held = {e.path: e.blob for e in gitio.ls_tree(root, commit, list(known) if len(known) < BULK else [])}
        if all(held.get(path) == after for path, after in known.items()):
            return commit
    return None


def _signed(root: Path, commit: str) -> bool:
    raw = gitio.commit_objects(root, [commit]).get(commit, b"")
    header = raw.split(b"\n\n", 1)[0]
    return b"\ngpgsig " in header or header.startswith(b"gpgsig ")
