"""The compiled walk of the work tree (`_fsstat.walk`) lists what the Python walk lists.

The cold `check --all` lists every file and folder under vault/ (1.1 million folders at a
million records); `services/scan.list_worktree` asks the compiled walk where it is built
and walks with os.scandir otherwise. Both must give the same files, links and folder mtimes
(the warm check's memo compares those mtimes). `tests/fuzz_canon_asan.py` runs `agrees` on
these trees under the sanitizers too.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from dangan.services import scan
from dangan.store import quick

needs_walk = pytest.mark.skipif(getattr(quick._fsstat, "walk", None) is None,
                                reason="pure-Python install (test_canon checks when it may be)")


def make_tree(root: Path) -> None:
    """Folders wide and deep, names long and short, not UTF-8, links, an empty folder."""
    top = root / "vault"
    (top / "A01" / "02" / "TS").mkdir(parents=True)
    (top / "A01" / "02" / "TS" / "TS-A01-02-0001.yaml").write_bytes(b"code: TS-A01-02-0001\n")
    (top / "A01" / "02" / "TS" / "TS-A01-02-0001").mkdir()  # an attachment folder
    (top / "A01" / "02" / "TS" / "TS-A01-02-0001" / "scan.pdf.age").write_bytes(b"x")
    (top / "empty").mkdir()
    wide = top / "wide"
    wide.mkdir()
    for i in range(300):  # more entries than one growth of the C buffers
        (wide / f"{'n' * (i % 90)}{i:03d}.yaml").write_bytes(b"")
    for i in range(70):
        (wide / f"sub{i:02d}").mkdir()
        (wide / f"sub{i:02d}" / "f").write_bytes(b"")
    deep = top / "deep"
    for i in range(40):
        deep = deep / f"level{i}"
    deep.mkdir(parents=True)
    (deep / "bottom.yaml").write_bytes(b"")
    (top / "中文").mkdir()
    (top / "中文" / "檔案.yaml").write_bytes(b"")
    os.symlink("../A01", top / "link-to-folder")
    os.symlink("/etc/passwd", top / "A01" / "link-to-file.yaml")
    os.symlink("missing", top / "dangling")
    raw = os.fsencode(top / "empty") + b"/not-utf8-\xff\xfe.yaml"
    with open(raw, "wb"):
        pass
    os.mkfifo(top / "A01" / "a-fifo")  # neither a folder nor a link: a file to the listing


def agrees(root: Path, walk: object) -> int:
    """The compiled walk's listing equals the Python one's; the number of folders."""
    compiled = scan.walked(walk(str(root), "vault"))  # type: ignore[operator]
    python = scan._list_worktree_py(root)
    assert set(compiled.files) == set(python.files)
    # the same order, but for names that are not UTF-8 (bytes order there, not str's)
    utf8 = [f for f in compiled.files if f.isprintable() and "\udcff" not in f and "\udcfe" not in f]
    assert utf8 == [f for f in python.files if f in set(utf8)]
    assert compiled.links == python.links
    folders = dict(zip(compiled.dirs.joined().split(b"\0"), compiled.dirs.mtimes, strict=True))
    expected = dict(zip(python.dirs.joined().split(b"\0"), python.dirs.mtimes, strict=True))
    assert folders == expected
    assert len(folders) == len(compiled.dirs)
    return len(folders)


@needs_walk
def test_the_compiled_walk_lists_what_scandir_lists(tmp_path: Path) -> None:
    make_tree(tmp_path)
    # vault; A01, 02, TS and the attachment folder; empty; wide and its 70; deep and its 40; 中文
    assert agrees(tmp_path, quick._fsstat.walk) == 1 + 4 + 1 + 71 + 41 + 1
    listing = scan.list_worktree(tmp_path)
    assert "vault/A01/02/TS/TS-A01-02-0001/scan.pdf.age" in listing.files
    assert "vault/A01/a-fifo" in listing.files
    assert listing.links == ["vault/A01/link-to-file.yaml", "vault/dangling", "vault/link-to-folder"]
    # a folder's files, sorted, before its subfolders
    at = listing.files.index("vault/A01/02/TS/TS-A01-02-0001.yaml")
    assert listing.files[at + 1] == "vault/A01/02/TS/TS-A01-02-0001/scan.pdf.age"


@needs_walk
def test_no_vault_folder_is_an_empty_listing(tmp_path: Path) -> None:
    assert quick._fsstat.walk(str(tmp_path), "vault") is None
    listing = scan.list_worktree(tmp_path)
    assert listing.files == [] and len(listing.dirs) == 0
    assert len(scan._list_worktree_py(tmp_path).dirs) == 0
    with pytest.raises(OSError):
        quick._fsstat.walk(str(tmp_path / "missing"), "vault")


@needs_walk
def test_a_vault_that_is_a_link_is_followed_as_os_stat_does(tmp_path: Path) -> None:
    real = tmp_path / "real"
    make_tree(real)
    os.symlink(real / "vault", tmp_path / "vault")
    assert agrees(tmp_path, quick._fsstat.walk) > 100


@needs_walk
def test_a_folder_that_cannot_be_read_is_left_out_by_both(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    make_tree(tmp_path)
    locked = tmp_path / "vault" / "wide"
    locked.chmod(0)
    try:
        agrees(tmp_path, quick._fsstat.walk)
        assert not any(f.startswith("vault/wide/") for f in scan.list_worktree(tmp_path).files)
    finally:
        locked.chmod(0o755)


def test_without_the_compiled_walk_the_listing_is_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path)
    compiled = scan.list_worktree(tmp_path)
    monkeypatch.setattr(quick, "_fsstat", None)
    python = scan.list_worktree(tmp_path)
    assert sorted(compiled.files) == sorted(python.files) and compiled.links == python.links
