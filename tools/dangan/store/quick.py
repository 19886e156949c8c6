"""A warm `check --all`: the remembered result, when nothing it depends on has changed.

The memo (`TreeMemo`, format.md §8) is the whole result of the last `check --all`, valid
while the index, git's stat check of every tracked file, every folder's mtime under vault/
and the untracked files' stats are unchanged. `check_worktree` (services/scan.py) asks it first.

Where git uses a file-system monitor (`core.fsmonitor`: Watchman), `probe` asks it first
(git/fsmonitor.py): nothing under vault/ changed since the clock kept in the memo, and the
same index, make the memo valid without stating anything.

`answer` does the same with the standard library only (and `git.gitio`, which starts git and
imports nothing heavier), for the executable's fast path (entry.py): importing the checker
(schemas, YAML, dataclasses...) costs ~80 ms on the benchmark machine, a sixth of the 0.5 s
budget of a warm check of 100,000 records. It cannot compute the rules' fingerprint (that
needs the parsed vault.yaml and the identities' public keys), so the full path leaves a note
beside the memo (`quick.json`): a stamp of the raw inputs of that fingerprint — dangan's
version, the bytes of schemas/ and vault.yaml, the identity sources' file stats — and the
fingerprint they gave. When the stamp is the same, the fingerprint is; anything unusual
(another identity source, a Git work tree whose .git is a file, an unreadable file) sends
the command down the full path, which decides.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from typing import Any

from dangan import __version__
from dangan.errors import GitError
from dangan.formats import findings as shown  # the standard library alone, as this module
from dangan.git import fsmonitor, gitio

try:  # the compiled folder stats (tools/dangan/_fsstat.c), when the build compiled them
    if os.environ.get("DANGAN_PURE_PYTHON") == "1":
        raise ImportError("DANGAN_PURE_PYTHON=1")
    from dangan import _fsstat
except ImportError:
    _fsstat = None

CONFIG = "vault.yaml"
SOPS_CONFIG = ".sops.yaml"
EPOCHS = "epochs.yaml"  # store.epochkeys.EPOCHS (this module imports no more of the store)
RECORDS = "vault"
STAMP_FILE = "quick.json"
GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY")
# where find_identities (formats/agekeys.py) looks when no --identity is given
IDENTITY_VARS = ("DANGAN_AGE_KEY_FILE", "SOPS_AGE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_FILE")
IDENTITY_FILES = (".ssh/id_ed25519", ".ssh/id_rsa")  # and the keys file (agekeys.default_keys_file)


class Folders:
    """The folders under vault/ with their mtimes, as the memo keeps them: the names (UTF-8,
    each ended by NUL) in one bytearray and the mtimes in an int64 array, in the order found.
    At 956,977 records, holding them so instead of in a dict of names to mtimes took the
    cold check's peak memory from 945 MB to 772 MB (docs/performance.md)."""

    def __init__(self) -> None:
        from array import array  # the cold check's: the warm path never makes one

        self.names = bytearray()
        self.mtimes = array("q")

    @classmethod
    def packed(cls, names: bytes, mtimes: bytes) -> Folders:
        """As the compiled walk gives them: the names each ended by NUL, the mtimes packed."""
        folders = cls()
        folders.names = bytearray(names)
        folders.mtimes.frombytes(mtimes)
        return folders

    def add(self, rel: str, mtime_ns: int) -> None:
        self.names += rel.encode("utf-8", "surrogateescape") + b"\0"
        self.mtimes.append(mtime_ns)

    def __len__(self) -> int:
        return len(self.mtimes)

    def joined(self) -> bytes:
        """The names joined by NUL, as the memo's file holds them."""
        return bytes(self.names[:-1])


class TreeMemo:
    """The whole result of `check --all`, valid while nothing under vault/ changed.

    "Nothing changed" is decided without reading or listing files: the index is byte for
    byte the same (its checksum), git's stat check finds the same modified files, every
    folder under vault/ has the same mtime (a file created, removed or renamed changes its
    folder's mtime) and every untracked or modified file has the same size and mtime.
    """

    def __init__(self, directory: str | None, root: str, git_dir: str, fingerprint: str) -> None:
        self.path = os.path.join(directory, f"tree-{fingerprint}.json") if directory else None
        self.root = root
        self.git_dir = git_dir
        self._memo: dict[str, Any] | None | bool = False
        # Watchman's clock, taken by `probe` before anything under vault/ was read: saved
        # with the memo, the next `probe` asks what changed since (git/fsmonitor.py)
        self.clock: str | None = None

    def index_checksum(self) -> str:
        """The index's trailing checksum. git 2.40's `index.skipHash` (on with
        `feature.manyFiles`) writes zeros there instead: then the index file's size, mtime
        and inode stand for it (git rewrites the index through a new file on every change)."""
        path = os.path.join(self.git_dir, "index")
        try:
            with open(path, "rb") as handle:
                handle.seek(-20, os.SEEK_END)
                tail = handle.read(20)
                if tail.strip(b"\0"):
                    return tail.hex()
                st = os.fstat(handle.fileno())
                return f"unhashed:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
        except OSError:
            return ""

    def _stats(self, paths: Any) -> dict[str, list[int]]:
        out = {}
        base = self.root + "/"
        for rel in paths:
            try:
                st = os.stat(base + rel)
            except OSError:
                continue
            out[rel] = [st.st_size, st.st_mtime_ns]
        return out

    def _load(self) -> dict[str, Any] | None:
        if self._memo is False:
            try:
                with open(self.path or "", encoding="utf-8") as handle:
                    self._memo = json.load(handle)
            except (OSError, ValueError):
                self._memo = None
        return self._memo if isinstance(self._memo, dict) else None

    def exists(self) -> bool:
        """A memo was written (whether it still holds is `lookup`'s question)."""
        return self.path is not None and os.path.exists(self.path)

    def folders_unchanged(self) -> bool:
        """Every folder under vault/ has the mtime it had when the memo was written.

        The folders (100,000 in a large vault) are kept in a binary file beside the memo:
        names joined by NUL, then their mtimes as 64-bit integers (JSON took 0.1 s)."""
        memo = self._load()
        if memo is None or self.path is None:
            return False
        try:
            with open(self.path[: -len(".json")] + ".dirs", "rb") as handle:
                raw = handle.read()
        except OSError:
            return False
        names_raw, _, times_raw = raw.partition(b"\0\0\0")
        count = names_raw.count(b"\0") + 1
        if len(times_raw) != 8 * count or count != memo.get("dir_count"):
            return False
        if _fsstat is not None:  # one call, GIL released: about half the time of os.stat
            try:
                return _fsstat.mtimes(self.root, names_raw + b"\0") == times_raw
            except OSError:
                return False
        from array import array

        mtimes = array("q")
        mtimes.frombytes(times_raw)
        base = self.root + "/"
        stat = os.stat
        try:  # plain strings: pathlib costs more than the stat calls themselves
            names = names_raw.decode("utf-8", "surrogateescape").split("\0")
            return [stat(base + rel).st_mtime_ns for rel in names] == mtimes.tolist()
        except OSError:
            return False

    def lookup(self, dirty: set[str]) -> tuple[int, list[list[str]], int] | None:
        """(files checked, [path, rule, message] of each finding, records outside a sparse
        checkout) remembered, if the index,
        git's stat check and the untracked files say nothing changed (call after
        `folders_unchanged` said so)."""
        memo = self._load()
        if memo is None:
            return None
        if memo.get("index") != self.index_checksum() or set(memo.get("dirty", [])) != dirty:
            return None
        if self._stats(memo.get("extras", {})) != memo.get("extras", {}):
            return None
        return memo.get("checked", 0), memo.get("findings", []), memo.get("outside", 0)

    def since(self) -> str | None:
        """The monitor's clock the memo was valid at, if it has one."""
        memo = self._load()
        clock = memo.get("monitor") if memo is not None else None
        return clock if isinstance(clock, str) else None

    def lookup_quiet(self) -> tuple[set[str], tuple[int, list[list[str]], int]] | None:
        """(the modified files, the result) remembered, if the index is the same: for when
        the monitor says nothing under vault/ changed since the memo's clock (so git's stat
        check, the folders and the untracked files would say what they said then)."""
        memo = self._load()
        if memo is None or memo.get("index") != self.index_checksum():
            return None
        return set(memo.get("dirty", [])), (memo.get("checked", 0), memo.get("findings", []), memo.get("outside", 0))

    def keep_clock(self) -> None:
        """Write the monitor's clock into a memo found valid by stating everything, so that
        the next check asks the monitor instead."""
        memo = self._load()
        if memo is None or self.path is None or self.clock is None or memo.get("monitor") == self.clock:
            return
        memo["monitor"] = self.clock
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(memo, handle)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def save(self, index_checksum: str, dirty: set[str], dirs: Folders,
             extras: list[str], checked: int, findings: list[list[str]], outside: int = 0) -> None:
        if self.path is None:
            return
        memo = {
            "index": index_checksum,
            "dirty": sorted(dirty),
            "dir_count": len(dirs),
            "extras": self._stats(extras),
            "checked": checked,
            "findings": findings,
            "outside": outside,
        }
        if self.clock is not None:
            memo["monitor"] = self.clock

        directory = os.path.dirname(self.path)
        stem = os.path.basename(self.path)[: -len(".json")]
        try:
            os.makedirs(directory, exist_ok=True)
            for name in os.listdir(directory):
                if name.startswith("tree-") and not name.startswith(stem + "."):
                    os.unlink(os.path.join(directory, name))
            tmp = os.path.join(directory, stem + ".tmp")
            with open(tmp, "wb") as handle:
                handle.write(dirs.joined() + b"\0\0\0" + dirs.mtimes.tobytes())
            os.replace(tmp, os.path.join(directory, stem + ".dirs"))
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(memo, handle)
            os.replace(tmp, self.path)
        except OSError:
            pass


def probe(root: str, memo: TreeMemo | None
          ) -> tuple[set[str] | None, tuple[int, list[list[str]], int] | None]:
    """(the files git's stat check reports modified under vault/ — None if git failed —,
    the remembered result if still valid).

    git's stat of every tracked file runs while this process stats the folders.
    `git ls-files -m` rather than `git diff-files`: the same files, but one stat each
    (diff-files makes two) and a file whose stat changed but not its content is not
    reported. Measured on 2 cores at 100,000 files: ls-files -m 0.24-0.26 s, diff-files
    0.20-0.24 s with its preload threads (both cores) and 0.40-0.46 s without.

    Where git uses a file-system monitor (`core.fsmonitor`, Watchman on Linux), the monitor
    is asked first: nothing under vault/ changed since the memo's clock and the same index
    make the memo valid with no stat at all (5 ms against 3-4 s at 956,977 records). Its
    clock, taken before anything is stated, is kept in the memo (`memo.clock`)."""
    if memo is not None and fsmonitor.enabled(root):
        since = memo.since()
        if since is None:
            memo.clock = fsmonitor.clock(root)
        else:
            memo.clock, quiet = fsmonitor.unchanged_since(root, since, RECORDS)
            if quiet and (kept := memo.lookup_quiet()) is not None:
                return kept
    # --sparse: an office's sparse index stays sparse (expanding it costs 0.6 s at 100,000)
    args = ("ls-files", "--sparse", "-m", "-z", "--", RECORDS + "/")
    try:
        differ = gitio.start(args, root, stderr=False)  # on failure the full path asks again
    except GitError:
        return None, None
    unchanged = memo is not None and memo.folders_unchanged()
    try:
        out = gitio.finish(differ, args, ok=(0, gitio.USAGE))
        if differ.returncode == gitio.USAGE:  # a git older than 2.35: no --sparse, no sparse index
            older = args[:1] + args[2:]
            out = gitio.finish(gitio.start(older, root, stderr=False), older)
    except GitError:  # the full path asks again and says what failed
        return None, None
    dirty = {p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p}
    remembered = memo.lookup(dirty) if memo is not None and unchanged else None
    if remembered is not None and memo is not None:
        memo.keep_clock()  # no clock, or the same files as at the memo's: the next asks the monitor
    return dirty, remembered


# ------------------------------------------------------------- the standard-library path

def stamp(root: str) -> str | None:
    """A digest of the raw inputs of the rules' fingerprint (scan.Rules.fingerprint) when
    no --identity is given, or None when they cannot be stated cheaply (SOPS_AGE_KEY holds
    a key itself; a file cannot be read)."""
    if os.environ.get("SOPS_AGE_KEY"):
        return None
    digest = hashlib.sha256(f"dangan {__version__} quick 5\0".encode())
    try:
        with open(os.path.join(root, CONFIG), "rb") as handle:
            digest.update(b"config\0" + handle.read() + b"\0")
        try:  # .sops.yaml (store.sopsconfig): DG114 judges it, when there is one
            with open(os.path.join(root, SOPS_CONFIG), "rb") as handle:
                digest.update(b"sops\0" + handle.read() + b"\0")
        except FileNotFoundError:
            digest.update(b"no sops\0")
        try:  # epochs.yaml (store.epochkeys): DG114 judges it, in an epoch vault
            with open(os.path.join(root, EPOCHS), "rb") as handle:
                digest.update(b"epochs\0" + handle.read() + b"\0")
        except FileNotFoundError:
            pass  # no epochs: the stamp of a vault without them is what it was
        schemas = os.path.join(root, "schemas")
        for name in sorted(os.listdir(schemas)):
            path = os.path.join(schemas, name)
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    digest.update(name.encode("utf-8", "surrogateescape") + b"\0" + handle.read() + b"\0")
        home = os.path.expanduser("~")
        xdg = os.environ.get("XDG_CONFIG_HOME") or ""
        config_home = xdg if os.path.isabs(xdg) else os.path.join(home, ".config")
        sources = [os.environ.get(var) or "" for var in IDENTITY_VARS]
        sources += [os.path.join(config_home, "sops", "age", "keys.txt")]
        sources += [os.path.join(home, name) for name in IDENTITY_FILES]
        for source in sources:  # the identity files' identity, never their content
            digest.update(source.encode("utf-8", "surrogateescape") + b"\0")
            if source:
                try:
                    st = os.stat(os.path.expanduser(source))
                except FileNotFoundError:
                    digest.update(b"absent\0")
                else:
                    if st.st_mode & 0o077:  # refused: the full path says why (agekeys._too_open)
                        return None
                    digest.update(f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_mode}\0".encode())
    except OSError:
        return None
    return digest.hexdigest()


def remember_fingerprint(directory: str | None, root: str, fingerprint: str, before: str | None) -> None:
    """Leave the note that lets `answer` find the memo (after a full check). `before` is
    the stamp taken before the rules were read (None: leave no note, e.g. with --identity);
    if the inputs changed meanwhile, the fingerprint may not be theirs: no note."""
    current = stamp(root)
    if directory is None or current is None or current != before:
        return
    note = {"stamp": current, "fingerprint": fingerprint}
    try:
        with open(os.path.join(directory, STAMP_FILE), encoding="utf-8") as handle:
            if json.load(handle) == note:
                return
    except (OSError, ValueError):
        pass
    try:
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, STAMP_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(note, handle)
        os.replace(tmp, os.path.join(directory, STAMP_FILE))
    except OSError:
        pass


def find_root(start: str) -> str | None:
    """vault.find_root without pathlib: the first folder upwards with a vault.yaml."""
    here = os.path.realpath(start)
    while True:
        if os.path.isfile(os.path.join(here, CONFIG)):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def answer(start: str) -> tuple[str, int] | None:
    """(what `check --all` prints, its exit code) from the memo, or None: run the check."""
    if any(os.environ.get(var) for var in GIT_ENV):  # git would not use .git/index
        return None
    root = find_root(start)
    if root is None:
        return None
    git_dir = os.path.join(root, ".git")
    if not os.path.isdir(git_dir):  # a linked work tree or a vault inside a bigger repository
        return None
    directory = os.path.join(git_dir, "dangan", "cache")
    try:
        with open(os.path.join(directory, STAMP_FILE), encoding="utf-8") as handle:
            note = json.load(handle)
        fingerprint = str(note["fingerprint"])
        if note["stamp"] != stamp(root) or not fingerprint.isalnum():
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    _, remembered = probe(root, TreeMemo(directory, root, git_dir, fingerprint))
    if remembered is None:
        return None
    checked, findings, outside = remembered
    return shown.check_text(checked, [shown.recalled(f) for f in findings], outside), 1 if findings else 0
