"""Merging records: git's merge driver for `vault/**/*.yaml` and `dangan resolve`.

Git hands the driver three versions of a record (base, ours, theirs) in merges, rebases
and cherry-picks. An encrypted record is opened with the user's identity, its plaintext
merged field by field (`model.threeway`), and sealed again as `set` seals it
(`records.prepare`: validation, then the data key and the ciphertext of every value that
did not change are kept), so the MAC is valid and the diff shows only what changed.

What cannot be merged — both sides changed a field differently, no key opens the record,
the merged record is not valid — stays a conflict: the driver writes a readable
description (not a record, never ciphertext cut by markers) in place of the file and
git keeps the three versions in its index (stages 1-3). `resolve` reads them from there,
merges again with the user's answers and stages the result, through the same validation
and sealing. Nothing here prints; docs/team.md and docs/format.md §11 say what the user
sees.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan.errors import DanganError, GitError, VaultError
from dangan.formats.yamlio import YamlError, decode, dump, load_roundtrip, to_plain
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model.codes import Code, CodeError, path_to_code
from dangan.model.threeway import (
    ABSENT,
    CONFLICT_KEY,
    changed_fields,
    dotted,
    merge3,
    put,
    value_at,
)
from dangan.services import records
from dangan.store import sealing
from dangan.store.sealing import Keyring
from dangan.store.vault import Vault

SIDES = ("base", "ours", "theirs")
SHOWN_ABSENT = "‹absent›"


@dataclass
class Side:
    """One version of a record: its bytes, round-trip tree and plain tree."""

    data: bytes
    rt: Any
    plain: dict[str, Any]

    @property
    def encrypted(self) -> bool:
        return "sops" in self.plain


@dataclass
class Conflict:
    """Why a record could not be merged, and the fields to settle (masked values)."""

    code: str
    reason: str
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    needs_key: bool = False


@dataclass
class Outcome:
    data: bytes | None = None  # the merged record's bytes
    conflict: Conflict | None = None


@dataclass
class Choices:
    """`dangan resolve`'s answers: fields to take from a side, assignments as for `set`."""

    ours: list[str] = field(default_factory=list)
    theirs: list[str] = field(default_factory=list)
    assignments: list[str] = field(default_factory=list)


class Unreadable(Exception):
    """A version that is no YAML mapping: git's own text merge takes the file."""


def _side(data: bytes | None) -> Side | None:
    if data is None or not data.strip():
        return None  # added on both sides (no base), or an empty file
    try:
        rt = load_roundtrip(decode(data))
    except YamlError as exc:
        raise Unreadable(str(exc)) from None
    plain = to_plain(rt)
    if not isinstance(plain, dict) or CONFLICT_KEY in plain:
        raise Unreadable("not a record")
    return Side(data, rt, plain)


def _body(side: Side | None) -> Any:
    return {k: v for k, v in side.plain.items() if k != "sops"} if side is not None else ABSENT


# ------------------------------------------------------------------- the merge

def merge_record(vault: Vault, code: Code, sides: dict[str, Side | None], keyring: Keyring,
                 choices: Choices | None = None) -> Outcome:
    """Merge the three versions of a record; with `choices`, settle conflicts with them.

    Without choices a record that is not valid once merged is a conflict (the driver);
    with them it is the RecordError `set` gives (`resolve`)."""
    base, ours, theirs = (sides[s] for s in SIDES)
    category = vault.schemas.category(code.category)
    # what any side hides (a side may be secret, docs/format.md §3a)
    names = frozenset().union(*(category.names_of(s.plain) for s in (base, ours, theirs) if s is not None),
                              category.sensitive) if category is not None else frozenset()
    encrypted = any(s is not None and s.encrypted for s in (base, ours, theirs))
    plains: dict[str, Any] = {}
    if encrypted:
        if not keyring.available():
            return Outcome(conflict=_keyless(code, sides, names, "no key at hand"))
        try:
            for name in SIDES:
                side = sides[name]
                plains[name] = (sealing.open_document(f"{code} ({name})", side.plain, keyring)
                                if side is not None else ABSENT)
        except DanganError as exc:
            return Outcome(conflict=_keyless(code, sides, names, exc.message))
    else:
        plains = {name: _body(sides[name]) for name in SIDES}
    merged = merge3(plains["base"], plains["ours"], plains["theirs"])
    tree = merged.tree
    open_paths = list(merged.conflicts)
    if choices is not None:
        open_paths = _apply(vault, code, tree, plains, open_paths, choices)
    if open_paths:
        return Outcome(conflict=Conflict(
            str(code), Message("both sides changed the same field(s) differently"),
            _shown_fields(open_paths, sides, names)))
    keeper = _keeper(sides, keyring) if encrypted else ours
    try:
        sealed = records.prepare(vault, code, tree, previous=keeper.rt if keeper is not None else None)
    except DanganError as exc:
        if choices is not None:
            raise
        both = sorted(set(map(dotted, changed_fields(plains["base"], plains["ours"])))
                      & set(map(dotted, changed_fields(plains["base"], plains["theirs"]))))
        return Outcome(conflict=Conflict(
            str(code), Message("the merged record is not valid: {error}", error=exc.message),
            _shown_fields([tuple(p.split(".")) for p in both], sides, names)))
    return Outcome(data=_render(sealed, tree, ours))


def _apply(vault: Vault, code: Code, tree: dict[str, Any], plains: dict[str, Any],
           open_paths: list[tuple[str | int, ...]], choices: Choices) -> list[tuple[str | int, ...]]:
    """Settle conflicts with the user's answers; the paths still open."""
    by_name = {dotted(p): p for p in open_paths}
    answered: set[str] = set()
    for side, wanted in (("ours", choices.ours), ("theirs", choices.theirs)):
        for name in wanted:
            path = by_name.get(name)
            if path is None:
                listed = ", ".join(by_name) or "none"
                raise DanganError(Message("--{side} {name}: not a field in conflict (in conflict: {listed})", side=side, name=name, listed=listed),
                                  Message("use --set FIELD=VALUE to change any other field"))
            put(tree, path, copy.deepcopy(value_at(plains[side], path)))
            answered.add(name)
    if choices.assignments:
        records.apply_assignments(vault, code.category, tree, list(choices.assignments))
        for text in choices.assignments:
            key = records.parse_assignment(text)[0]
            answered.update(n for n in by_name if n == key or n.startswith(key + "."))
    return [p for name, p in by_name.items() if name not in answered]


def _keeper(sides: dict[str, Side | None], keyring: Keyring) -> Side | None:
    """The version whose data key the merged record keeps: ours', unless theirs changed
    the key and ours did not (a rotation, which may have shut someone out, wins)."""
    from dangan.formats import sops

    ours, theirs, base = sides["ours"], sides["theirs"], sides["base"]
    if ours is None or not ours.encrypted:
        return theirs if theirs is not None and theirs.encrypted else ours
    if theirs is None or not theirs.encrypted:
        return ours

    def key(side: Side | None) -> bytes | None:
        if side is None or not side.encrypted:
            return None
        try:
            return sops.unwrap_data_key(sops.Metadata.from_dict(side.plain["sops"]), keyring.identities)
        except (sops.SopsError, DanganError):
            return None

    mine, other, old = key(ours), key(theirs), key(base)
    if mine is not None and other is not None and mine != other and old == mine:
        return theirs
    return ours


def _render(sealed: dict[str, Any], tree: dict[str, Any], ours: Side | None) -> bytes:
    """The merged record's bytes: in sops's form when ours is (as `set` writes), a clear
    record with ours' comments (its round-trip tree brought to the merged values)."""
    if "sops" not in sealed:
        if ours is not None and "sops" not in ours.plain:
            out = copy.deepcopy(ours.rt)
            _patch(out, records.order_fields(tree))
            return dump(out).encode("utf-8")
        return dump(sealed).encode("utf-8")
    from dangan.formats import sopsrt, sopsyaml

    if ours is not None and not sopsrt.has_comments(sealed):
        text = sopsyaml.dump_as(to_plain(sealed), decode(ours.data))
        if text is not None:
            return text.encode("utf-8")
    return dump(sealed).encode("utf-8")


def _patch(rt: Any, plain: dict[str, Any]) -> None:
    """Make a round-trip mapping equal to `plain`, keeping what did not change (and so the
    comments on it); new keys go last."""
    for key in [k for k in rt if k not in plain]:
        del rt[key]
    for key, value in plain.items():
        if key in rt and isinstance(rt[key], dict) and isinstance(value, dict):
            _patch(rt[key], value)
        elif key not in rt or to_plain(rt[key]) != value:
            rt[key] = value


def _keyless(code: Code, sides: dict[str, Side | None], names: frozenset[str], why: str) -> Conflict:
    """The conflict of an encrypted record nobody here can open: the MAC covers every
    value, so even changes to different clear fields cannot be sealed without the key.
    The fields listed are those both sides changed, compared as stored."""
    bodies = {name: _body(sides[name]) for name in SIDES}
    theirs = set(changed_fields(bodies["base"], bodies["theirs"]))
    both = [p for p in changed_fields(bodies["base"], bodies["ours"]) if p in theirs]
    reason = Message("an encrypted record changed on both sides, and merging it needs a key that opens it "
                     "({why}): ask one of its recipients to run `dangan resolve {code}`, or take one side "
                     "as it is with `dangan resolve {code} --take ours` (or theirs)", why=why, code=code)
    return Conflict(str(code), reason, _shown_fields(both, sides, names), needs_key=True)


def _shown_fields(paths: list[tuple[str | int, ...]], sides: dict[str, Side | None],
                  names: frozenset[str]) -> dict[str, dict[str, Any]]:
    """Each field's three values as a reader without a key sees them: clear values as
    they are, sensitive ones as `‹encrypted 1a2b3c4d›` (a hash of the ciphertext, as the
    diff driver shows them), never plaintext."""
    masked = {name: records.masked(side.plain, names, fingerprint=True) if side is not None else {}
              for name, side in sides.items()}
    shown: dict[str, dict[str, Any]] = {}
    for path in paths:
        values = {}
        for name in SIDES:
            value = value_at(masked[name], path)
            values[name] = SHOWN_ABSENT if value is ABSENT else value
        shown[dotted(path)] = values
    return shown


# ------------------------------------------------------------ the conflict text

def describe(conflict: Conflict, during: str | None = None) -> str:
    """What the driver leaves in the work tree: YAML, readable, and not a record (DG101
    names the command that resolves it)."""
    code = conflict.code
    lines = [
        f"# dangan: merge conflict in {code}. This file is not a record until it is resolved;",
        "# Git keeps the three versions in its index (git show :1:PATH base, :2:PATH ours, :3:PATH theirs).",
        f"# Resolve:  dangan resolve {code} --ours FIELD | --theirs FIELD | --set FIELD=VALUE (each field)",
        f"#           dangan resolve {code} --take ours|theirs (one side's whole record, as stored)",
        "# Abort:    git merge --abort (or git rebase --abort, git cherry-pick --abort)",
    ]
    info: dict[str, Any] = {"code": code, "reason": conflict.reason}
    if during is not None and "rebase" in during:
        info["sides"] = ("in a rebase, ours is the branch being rebased onto and theirs is "
                         "your commit being replayed")
    if conflict.fields:
        info["fields"] = conflict.fields
    info["resolve"] = f"dangan resolve {code}"
    return "\n".join(lines) + "\n" + dump({CONFLICT_KEY: info})


# ------------------------------------------------------------------ the driver

@dataclass
class DriverResult:
    merged: bool
    message: str


def driver(root: Path, base: Path, ours: Path, theirs: Path, rel: str, keyring: Keyring) -> DriverResult:
    """`dangan merge-driver %O %A %B %P`: merge into `ours` (git's %A); merged or not."""
    try:
        vault = Vault.open(root)
        vault.keyring = keyring  # an epoch vault's keyring opens its epochs (format.md §7c)
        code = path_to_code(rel)
        if code.category not in vault.schemas.categories:
            raise Unreadable(f"unknown category {code.category}")
        sides = {name: _side(path.read_bytes()) for name, path in zip(SIDES, (base, ours, theirs), strict=True)}
    except (Unreadable, CodeError, VaultError, YamlError) as exc:
        return _text_merge(root, base, ours, theirs, rel, str(exc))
    outcome = merge_record(vault, code, sides, keyring)
    if outcome.conflict is None:
        assert outcome.data is not None
        ours.write_bytes(outcome.data)
        return DriverResult(True, Message("dangan: merged {code} field by field", code=code))
    during = gitio.busy_state(vault.root)
    ours.write_text(describe(outcome.conflict, during), encoding="utf-8")
    fields = ", ".join(outcome.conflict.fields)
    if fields and not outcome.conflict.needs_key:
        return DriverResult(False, Message("dangan: CONFLICT in {code}: {reason} ({fields}); see `dangan resolve "
                                           "{code}`", code=code, reason=outcome.conflict.reason, fields=fields))
    return DriverResult(False, Message("dangan: CONFLICT in {code}: {reason}; see `dangan resolve {code}`",
                                       code=code, reason=outcome.conflict.reason))


def _text_merge(root: Path, base: Path, ours: Path, theirs: Path, rel: str, why: str) -> DriverResult:
    """A file the driver cannot read as a record: git's own line merge, unless it holds
    ciphertext (markers must never cut a sops document), which stays ours and conflicts."""
    texts = [p.read_bytes() for p in (base, ours, theirs)]
    if any(b"ENC[" in t or b"\nsops:" in t for t in texts):
        return DriverResult(False, Message("dangan: CONFLICT in {path}: not readable as a record ({why}); left as "
                                           "ours: take a side with `git checkout --ours|--theirs`", path=rel, why=why))
    proc = gitio.run(["merge-file", "-L", "ours", "-L", "base", "-L", "theirs", str(ours), str(base), str(theirs)],
                     root, check=False)
    if proc.returncode == 0:
        return DriverResult(True, Message("dangan: merged {path} line by line ({why})", path=rel, why=why))
    return DriverResult(False, Message("dangan: CONFLICT in {path}: not readable as a record ({why}); merged line "
                                       "by line", path=rel, why=why))


# ------------------------------------------------------------------ resolve

@dataclass
class Resolved:
    code: str
    path: str
    remaining: list[str]  # paths still in conflict
    next_step: str  # the git command that finishes the merge, rebase or cherry-pick


def stages(vault: Vault, code: Code) -> dict[str, bytes | None]:
    """The three versions of a record in conflict, from Git's index (stages 1-3)."""
    entries = [e for e in gitio.ls_files(vault.root, [code.path]) if e.path == code.path and e.stage]
    if not entries:
        raise DanganError(Message("{code} is not in a merge conflict", code=code),
                          Message("`git status` lists the paths in conflict; `dangan show` shows the record"))
    blobs = {e.blob: e.stage for e in entries}
    found: dict[str, bytes | None] = dict.fromkeys(SIDES)
    for blob, data in gitio.cat_blobs(vault.root, list(blobs)):
        for entry in entries:
            if entry.blob == blob:
                found[SIDES[entry.stage - 1]] = data
    return found


def in_conflict(vault: Vault, code: Code) -> bool:
    """Whether the record is in a merge conflict (unmerged in the index)."""
    try:
        return any(e.stage for e in gitio.ls_files(vault.root, [code.path]) if e.path == code.path)
    except GitError:
        return False


def conflict_of(vault: Vault, code: Code, keyring: Keyring) -> Conflict | None:
    """The record's conflict as it stands (None: it would merge now, e.g. a key is at hand)."""
    raw = stages(vault, code)
    try:
        sides = {name: _side(data) for name, data in raw.items()}
    except Unreadable as exc:
        return Conflict(str(code), f"a version is not readable as a record ({exc})")
    if sides["ours"] is None or sides["theirs"] is None:
        gone = "ours" if sides["ours"] is None else "theirs"
        return Conflict(str(code), f"{gone} deleted the record; keep the other side's with "
                                   f"`dangan resolve {code} --take {'theirs' if gone == 'ours' else 'ours'}`, "
                                   f"or delete it with `git rm {code.path}`")
    outcome = merge_record(vault, code, sides, keyring)
    return outcome.conflict


def resolve(vault: Vault, code: Code, choices: Choices, take: str | None = None) -> Resolved:
    """Finish a record's conflict: merge again with `choices` (or take one side's record
    as stored), validate and seal as `set` does, write it and stage it (`git add`)."""
    with vault.lock():
        raw = stages(vault, code)
        if take is not None:
            data = raw[take]
            if data is None:
                raise DanganError(Message("{take} has no {code} (that side deleted it)", take=take, code=code),
                                  Message("delete it with `git rm {path}`, or take the other side", path=code.path))
        else:
            try:
                sides = {name: _side(d) for name, d in raw.items()}
            except Unreadable as exc:
                raise DanganError(Message("{code}: a version is not readable as a record ({exc})", code=code, exc=exc),
                                  Message("take a side with --take ours|theirs")) from None
            if sides["ours"] is None or sides["theirs"] is None:
                raise DanganError(Message("{code}: one side deleted the record", code=code),
                                  Message("--take the side that has it, or `git rm {path}`", path=code.path))
            outcome = merge_record(vault, code, sides, vault.keyring, choices)
            if outcome.conflict is not None:
                conflict = outcome.conflict
                if conflict.needs_key:
                    raise DanganError(Message("{code}: {reason}", code=code, reason=conflict.reason))
                raise DanganError(
                    Message("{code}: still in conflict: {value}", code=code, value=', '.join(conflict.fields)),
                    Message("answer each field with --ours FIELD, --theirs FIELD or --set FIELD=VALUE"),
                )
            assert outcome.data is not None
            data = outcome.data
        from dangan.store.fsutil import write_atomic

        write_atomic(vault.path_of(code), data)
        gitio.add(vault.root, [code.path])
    remaining = sorted({e.path for e in gitio.ls_files(vault.root) if e.stage})
    return Resolved(str(code), code.path, remaining, next_step(vault.root, remaining))


def next_step(root: Path, remaining: list[str]) -> str:
    """What finishes the operation in progress once nothing is in conflict."""
    if remaining:
        return f"{len(remaining)} path(s) still in conflict: {', '.join(remaining[:5])}"
    busy = gitio.busy_state(root) or ""
    if "cherry-pick" in busy:
        return "git cherry-pick --continue"
    if "rebase" in busy:
        return "git rebase --continue"
    if "revert" in busy:
        return "git revert --continue"
    return "git commit"
