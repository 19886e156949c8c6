"""What the readers of a whole commit (`due`, `gaps`) read of each record, by blob id.

A blob never changes, so what was read of it is never stale: the cache is keyed by blob id
and by a stamp naming what was read (the fields asked for), and a run with other fields asked
starts afresh. Each file keeps the blobs of its last run only (the records of one tree), so
it does not grow with the history. A whole answer about one tree can be kept the same way,
with the tree's id as the stamp (`due`'s archive rooms). A cache that cannot be read or
written only costs time.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dangan.git import gitio
from dangan.store import fsutil


def _path(root: Path, name: str) -> Path:
    return gitio.git_dir(root) / "dangan" / "cache" / name


def load(root: Path, name: str, stamp: str) -> dict[str, Any]:
    """blob id -> what was read of it, when the cache `name` was written for `stamp`."""
    try:
        doc = json.loads(_path(root, name).read_bytes())
        found = doc["trees"] if doc.get("stamp") == stamp else {}
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def load_any(root: Path, name: str) -> tuple[str | None, dict[str, Any]]:
    """(stamp, what it holds) of the cache `name`, whatever its stamp ((None, {}) when it
    cannot be read): what was kept of an earlier tree, for the next one to follow."""
    try:
        doc = json.loads(_path(root, name).read_bytes())
        stamp, found = doc["stamp"], doc["trees"]
        return (stamp, found) if isinstance(stamp, str) and isinstance(found, dict) else (None, {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, {}


def store(root: Path, name: str, stamp: str, trees: dict[str, Any]) -> None:
    try:
        cache = _path(root, name)
        cache.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"stamp": stamp, "trees": trees}, ensure_ascii=False, separators=(",", ":"))
        fsutil.write_atomic(cache, data.encode(), durable=False)
    except (OSError, ValueError, TypeError):
        pass  # a cache that cannot be written only costs time
