"""A reader's whole answer about one commit and one day, kept (`due`, `gaps`, `stats`).

What `due`, `gaps` and `stats` answer depends only on: the commit judged (its tree and its
history), the day, the options (`stats`: HEAD too, whose records' flags its inventory
section shows), the rules they read from the work tree (vault.yaml and `schemas/`), the
folders an office's checkout holds, the language, and dangan's own code.
The same inputs give the same answer, so it is kept in `.git/dangan/cache/answers/` under
the SHA-256 of all of them and given back as it was computed: `stats` after `due` and
`gaps` of the same day (its sections of those are theirs), the report after `stats`, a
script that asks again. A new commit, another day, an edited vault.yaml or schema, another
option or another version of dangan is another key, computed afresh from the per-blob
caches (services/blobcache.py). Nothing else of the work tree is read by these readers.

What no day changes is kept the same way, once per commit (`groundwork`: a key without the
day), so that another day of a commit already judged reads no record again; a reader may
follow the groundwork of an earlier commit along the files changed since rather than lay
it again from every record.

The newest KEEP answers of each reader are kept (an answer read is made the newest). An
answer holds what the reader shows and nothing else: clear fields only, never decrypted.
A file that cannot be read, is of another key, or cannot be written only costs time.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dangan.git import gitio
from dangan.i18n import language
from dangan.store import fsutil
from dangan.store.forked import behind
from dangan.store.vault import CONFIG, Vault

KEEP = 4
FORMAT = "dangan answer 1"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """dangan's own code: the version and each module's size and time (an edited module is
    another answer, even at the same version number)."""
    import dangan

    base = Path(dangan.__file__).parent
    digest = hashlib.sha256(dangan.__version__.encode())
    for path in sorted(base.rglob("*")):
        if path.suffix in (".py", ".so", ".json", ".yaml"):
            try:
                info = path.stat()
            except OSError:
                continue
            digest.update(f"{path.relative_to(base).as_posix()}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def key(vault: Vault, reader: str, commit: str, day: dt.date | None, **options: Any) -> str:
    """The key of `reader`'s answer about `commit` as of `day` with `options` (JSON values);
    no day: what is kept serves every day of that commit (a groundwork, below)."""
    try:
        config = (vault.root / CONFIG).read_bytes()
    except OSError:
        config = b""
    parts = {
        "format": FORMAT,
        "reader": reader,
        "commit": commit,
        "day": day.isoformat() if day is not None else None,
        "options": options,
        "config": hashlib.sha256(config).hexdigest(),
        "schemas": vault.schemas.fingerprint,
        "folders": vault.record_specs,
        "language": language(),
        "code": code_fingerprint(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _folder(vault: Vault) -> Path:
    return gitio.git_dir(vault.root) / "dangan" / "cache" / "answers"


def _file(vault: Vault, reader: str, found: str) -> Path:
    return _folder(vault) / f"{reader}-{found[:32]}.json"


def load(vault: Vault, reader: str, found: str) -> Any | None:
    """The answer kept under `found` (from key()), or None."""
    path = _file(vault, reader, found)
    try:
        doc = json.loads(path.read_bytes())
        if not isinstance(doc, dict) or doc.get("key") != found or "answer" not in doc:
            return None
    except (OSError, ValueError):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # the newest: the last to be pruned
    return doc["answer"]


def store(vault: Vault, reader: str, found: str, answer: Any, give_back: bool = True, base: str | None = None) -> Any:
    """Keep `answer` under `found`, and only the newest KEEP answers of `reader`; give it
    back as load() will (JSON's types: a tuple is a list, a number key a string), so that
    the first run and the next ones show the same (`give_back=False`: `answer` itself, for
    one made of JSON's types already: then written by a forked child while the command
    shows it, store/forked.py behind). `base`: the key but for the commit (groundwork())."""
    if not give_back:
        behind(lambda: _store(vault, reader, found, answer, base))
        return answer
    return _store(vault, reader, found, answer, base)


def _store(vault: Vault, reader: str, found: str, answer: Any, base: str | None) -> Any:
    try:
        doc = {"key": found, "answer": answer} if base is None else {"key": found, "base": base, "answer": answer}
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, TypeError):
        return answer  # not JSON: not kept
    try:
        folder = _folder(vault)
        folder.mkdir(parents=True, exist_ok=True)
        fsutil.write_atomic(_file(vault, reader, found), data.encode(), durable=False)
        # this reader's own (`gaps-` is not `gaps-ground-`): the name and 32 hex digits
        kept = sorted(folder.glob(f"{reader}-{'[0-9a-f]' * 32}.json"), key=_age, reverse=True)
        for old in kept[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # an answer that cannot be kept only costs time
    return json.loads(data)["answer"]


def groundwork(vault: Vault, name: str, commit: str, form: str, lay: Callable[[], dict[str, Any]],
               give_back: bool = True,
               follow: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None) -> dict[str, Any]:
    """What a reader keeps of `commit` for every day (its groundwork, kept as `name`, under
    the key of an answer without the day): the kept one when its `format` is `form`, else
    lay()'s, kept (`give_back` as for store()).

    `follow(earlier)`, when given, is asked first with the newest groundwork kept of another
    commit with every other input the same (the same key but for the commit: the rules of
    the work tree, the options, the language, dangan's code): the groundwork of `commit`
    from it and the files changed since, or None when it cannot be sure (then lay()). What
    it gives is made of JSON's types (the earlier one, read from JSON, and parts it passed
    through JSON), so it is kept behind the answer, as it is."""
    found = key(vault, name, commit, None)
    kept = load(vault, name, found)
    if isinstance(kept, dict) and kept.get("format") == form:
        return kept
    base = key(vault, name, "", None)
    if follow is not None:
        earlier = _newest(vault, name, base)
        if isinstance(earlier, dict) and earlier.get("format") == form and earlier.get("commit") != commit:
            followed = follow(earlier)
            if followed is not None:
                store(vault, name, found, followed, give_back=False, base=base)
                return followed
    given: dict[str, Any] = store(vault, name, found, lay(), give_back=give_back, base=base)
    return given


def jsonable(value: Any) -> Any:
    """`value` as JSON gives it back (a tuple a list, a number key a string): the parts a
    follow() makes, so that what it keeps is what the next run reads."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def _newest(vault: Vault, name: str, base: str) -> Any | None:
    """The newest answer kept as `name` under the key `base` for another commit (None: the
    newest is of other inputs, or none is kept)."""
    with contextlib.suppress(OSError):
        for path in sorted(_folder(vault).glob(f"{name}-{'[0-9a-f]' * 32}.json"), key=_age, reverse=True):
            try:
                doc = json.loads(path.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and doc.get("base") == base:
                return doc.get("answer")
            return None  # only the newest is read: the others are older still
    return None


def _age(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
