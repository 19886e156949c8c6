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
