"""The change rules (docs/ci.md): they judge a change, not a file.

A change is what `git diff --cached HEAD` (the staged index, gitio.STAGED_DIFF), `git diff-tree A B` (a
pushed or received commit against its parent, or `--range`) reports under `vault/`:
(status, path, old blob, new blob). Each rule reads only the blobs it needs.

- DG108 `refs` (or `custody.inventory`) names a code that exists nowhere (on the new side)
  and was never destroyed nor handed over;
- DG109 a record was deleted without a disposal certificate or a handover (YJ, status
  handed_over) on the new side listing it, or while a legal hold covers it and only a
  handover licenses it, or a permanent ledger record (XH, BQ, JD, YJ) was deleted at all;
- DG110 a ledger record's history was rewritten: only appending is allowed. Sealing the
  same values again for other recipients (a re-wrap or a rotation) is not a rewrite:
  `ledger_rewrites` tells the two apart, on plaintext where a key opens both versions.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dangan.errors import DanganError
from dangan.formats.yamlio import YamlError, decode, load_text
from dangan.git import gitio
from dangan.i18n import N_, Message
from dangan.model import handover as handovers
from dangan.model.codes import Code, path_to_code
from dangan.rules.check import (
    DISPOSAL_FOLDER,
    Finding,
    Named,
    dangling_refs,
    destroyed_codes,
    named_codes,
    not_a_file,
)
from dangan.store.attached import owner
from dangan.store.epochkeys import EPOCHS
from dangan.store.vault import RECORDS

if TYPE_CHECKING:
    from dangan.store.sealing import Keyring

# Append-only records (DG110): loans, certificates, holds, appraisals, handovers and inventory
# results (PD: a count's findings are evidence and must not be rewritten after the fact).
LEDGER = ("JY", "XH", "BQ", "JD", "YJ", "PD")
# Certificates, holds, appraisals (JD) and handovers (YJ) are permanent. Loans are ledger records
# too (append-only) but have a retention rule of their own (JY P10Y, destroy): they go with a
# certificate.
PERMANENT = ("XH", "BQ", "JD", "YJ")
PERMANENT_KIND = {"XH": "disposal certificate", "BQ": "legal hold", "JD": "appraisal", "YJ": "handover"}
# DG109 for each (the whole sentence a message of its own: Chinese words it by the kind)
_PERMANENT_NOTE = {
    "XH": N_("{code} is a disposal certificate; they are permanent and never deleted"),
    "BQ": N_("{code} is a legal hold; they are permanent and never deleted"),
    "JD": N_("{code} is a appraisal; they are permanent and never deleted"),  # English as it was
    "YJ": N_("{code} is a handover; they are permanent and never deleted"),
}
# Ledger records that are not even appended to: a handover's items are its licence (DG109).
WRITTEN_ONCE = ("YJ",)
# Fields of a ledger record that may change: `status` is derived from the events.
DERIVED = frozenset({"status", "sops"})
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's id of the empty tree


@dataclass(frozen=True)
class Change:
    """One changed path as `git diff --raw` gives it: status, path, old and new blob ids, mode."""

    status: str  # A, M, D, T
    path: str
    old: str | None
    new: str | None
    mode: str = "100644"  # of the new side (git's "000000" for a deletion)


def split_not_files(changes: list[Change]) -> tuple[list[Change], list[Finding]]:
    """(the changes the rules read, DG104 for each link or submodule a change adds): the
    blob of a link is its target's text, which no rule may judge as a record's content."""
    kept, found = [], []
    for change in changes:
        message = not_a_file(change.mode) if change.status in "AMT" else None
        if message is None:
            kept.append(change)
        else:
            found.append(Finding(change.path, "DG104", message))
    return kept, found


def parse_raw(raw: bytes) -> list[Change]:
    """`git diff-* -z --raw --no-renames` output."""
    parts = raw.split(b"\0")
    changes = []
    i = 0
    while i + 1 < len(parts) and parts[i]:
        meta = parts[i].decode().lstrip(":").split()
        path = parts[i + 1].decode("utf-8", "surrogateescape")
        old = None if set(meta[2]) == {"0"} else meta[2]
        new = None if set(meta[3]) == {"0"} else meta[3]
        changes.append(Change(meta[4][0], path, old, new, meta[1]))
        i += 2
    return changes


def staged_changes(root: Path, extra: tuple[str, ...] = (), early: bytes | None = None) -> tuple[list[Change], bool]:
    """The index against HEAD (everything is added when there is no HEAD yet), under
    vault/ and the `extra` paths; and whether there is a HEAD. `early` is the output of
    the same command against HEAD, already run (hookrun.STAGED)."""
    args = list(gitio.STAGED_DIFF)
    if early is not None:
        return parse_raw(early), True
    proc = gitio.run([*args, "HEAD", "--", RECORDS + "/", *extra], root, check=False)
    if proc.returncode == 0:
        return parse_raw(proc.stdout), True
    raw = gitio.run([*args, EMPTY_TREE, "--", RECORDS + "/", *extra], root).stdout
    return parse_raw(raw), False


def commit_changes(root: Path, old: str | None, new: str, also: tuple[str, ...] = ()) -> list[Change]:
    """The changes of vault/ (and of the files `also` names) from `old` to `new`."""
    base = old or EMPTY_TREE
    raw = gitio.run(["diff-tree", "-r", "-z", "--raw", "--no-renames", base, new, "--", RECORDS + "/", *also],
                    root).stdout
    return parse_raw(raw)


def epochs_findings(root: Path, changes: list[Change]) -> list[Finding]:
    """DG114 for a change of epochs.yaml among `changes` (store.epochkeys.transition_problems):
    it only grows, and a shredded epoch stays shredded. Judged without a key, in every hook."""
    from dangan.store.epochkeys import transition_problems

    found: list[Finding] = []
    for change in changes:
        if change.path != EPOCHS or not change.old:
            continue
        if change.status == "D" or not change.new:
            problems = transition_problems(b"", None)
        else:
            data = dict(gitio.cat_blobs(root, {change.old, change.new}))
            problems = transition_problems(data.get(change.old), data.get(change.new))
        found += [Finding(change.path, "DG114", p) for p in problems]
    return found


def existing_paths(root: Path, side: str, paths: set[str]) -> set[str]:
    """Which of `paths` exist on `side` (':' for the index, or a commit id). A failing git
    raises (gitio.object_types): read as "all missing", every reference would be DG108."""
    if not paths:
        return set()
    ordered = sorted(paths)
    if gitio.partial_clone(root):  # an office's clone: never fetch a blob to see it exists
        return gitio.paths_in(root, side, ordered)
    prefix = ":" if side == ":" else f"{side}:"
    kinds = gitio.object_types(root, [f"{prefix}{p}" for p in ordered])
    return {path for path, kind in zip(ordered, kinds) if kind is not None}


def _present(root: Path, side: str, paths: set[str], changes: list[Change],
             has_head: bool | None = None) -> set[str]:
    """Which `paths` exist on the change's new side. For the index, derived from HEAD and
    the staged changes: asking git about the index reads all of it (30 ms at 100,000).
    `has_head`: whether there is a HEAD, when the caller knows (None: git is asked)."""
    if side != ":" or not paths:
        return existing_paths(root, side, paths)
    added = {c.path for c in changes if c.status in "AMT"}
    deleted = {c.path for c in changes if c.status == "D"}
    unknown = {p for p in paths if p not in added and p not in deleted}
    if has_head is None:
        has_head = gitio.head(root) is not None
    in_head = existing_paths(root, "HEAD", unknown) if has_head else set()
    return {p for p in paths if p in added or p in in_head}


def destroyed_on(root: Path, side: str) -> set[str]:
    """Codes listed in the disposal certificates on `side` (':' index, or a commit)."""
    folder = DISPOSAL_FOLDER
    entries = gitio.ls_files(root, [folder]) if side == ":" else gitio.ls_tree(root, side, [folder])
    return destroyed_codes(_tree(data) for _blob, data in gitio.cat_blobs(root, [e.blob for e in entries]))


def handed_over_on(root: Path, side: str) -> set[str]:
    """Codes listed by the handovers (YJ, status handed_over) on `side` (':' index, or a
    commit): records this company gave away, which may be gone from its vault."""
    folder = f"{RECORDS}/{handovers.CATEGORY}/"
    entries = gitio.ls_files(root, [folder]) if side == ":" else gitio.ls_tree(root, side, [folder])
    entries = [e for e in entries if e.stage == 0]
    return handovers.handed_over_codes(_tree(data) for _blob, data in gitio.cat_blobs(root, [e.blob for e in entries]))


def _tree(data: bytes) -> dict[str, Any] | None:
    try:
        tree = load_text(decode(data))
    except YamlError:
        return None  # the file rules report DG101
    return tree if isinstance(tree, dict) else None


def _is_ledger(path: str) -> bool:
    code = _code(path)
    return code is not None and code.category in LEDGER


def _code(path: str) -> Code | None:
    try:
        return path_to_code(path)
    except DanganError:
        return None


def blobs_needed(changes: list[Change]) -> set[str]:
    """The blobs the rules read: new sides, and old sides of changed ledger records.
    Attachments are not read here: they may be large, and are measured by blob id."""
    wanted = {c.new for c in changes if c.new and c.status in "AMT" and owner(c.path) is None}
    wanted |= {c.old for c in changes if c.old and c.status in "MT" and _is_ledger(c.path)}
    return {b for b in wanted if b}


def change_findings(root: Path, changes: list[Change], side: str,
                    blobs: dict[str, bytes] | None = None,
                    config: dict[str, Any] | None = None,
                    keyring: Keyring | None = None, has_head: bool | None = None) -> list[Finding]:
    """DG108-DG110 for one change whose new side is `side` (':' index, or a commit id).

    `blobs` may bring the contents already read (blob id -> bytes). `keyring`, when it
    holds a key, lets DG110 compare a rotated ledger record on its plaintext. `has_head`
    (the index's side): whether there is a HEAD, when the caller knows it already (the
    pre-commit hook's diff against HEAD says so: a git process less)."""
    findings: list[Finding] = []
    wanted = blobs_needed(changes)
    blobs = dict(blobs or {})
    missing = [b for b in wanted if b not in blobs]
    blobs.update(gitio.cat_blobs(root, missing))
    destroyed: set[str] | None = None
    given: set[str] | None = None

    def certificates() -> set[str]:
        nonlocal destroyed
        if destroyed is None:
            destroyed = destroyed_on(root, side)
        return destroyed

    def handed() -> set[str]:
        nonlocal given
        if given is None:
            given = handed_over_on(root, side)
        return given

    # DG108: codes named by added or changed records (rules.check.named_codes)
    named: dict[str, Named] = {}
    for change in changes:
        if change.status in "AMT" and change.new in blobs and _code(change.path) is not None:
            pairs = named_codes(_tree(blobs[change.new]), change.path)
            if pairs:
                named[change.path] = pairs
    findings += dangling_refs(named, lambda paths: _present(root, side, paths, changes, has_head),
                              lambda: certificates() | handed())

    # DG109: deletions
    licensed_by_handover: list[tuple[str, Code]] = []
    for change in changes:
        if change.status != "D":
            continue
        code = _code(change.path)
        if code is None:
            continue
        if code.category in PERMANENT:
            findings.append(Finding(change.path, "DG109", Message(_PERMANENT_NOTE[code.category], code=code)))
        elif str(code) in certificates():
            continue
        elif str(code) in handed():
            licensed_by_handover.append((change.path, code))
        else:
            findings.append(Finding(
                change.path, "DG109",
                Message("{code} was deleted without a disposal certificate or a handover listing it; use "
                        "`dangan retention apply`, or `dangan handover record` for records handed over",
                        code=code),
            ))
    if licensed_by_handover:
        findings += _held_handed_over(root, side, licensed_by_handover)

    # DG110: ledger history is append-only
    opener = _opener(keyring)
    for change in changes:
        code = _code(change.path)
        if change.status not in "MT" or code is None or code.category not in LEDGER:
            continue
        old, new = _tree(blobs.get(change.old or "", b"")), _tree(blobs[change.new]) if change.new else None
        if old is None or new is None:
            continue
        if code.category in WRITTEN_ONCE:
            if {k: v for k, v in old.items() if k != "sops"} != {k: v for k, v in new.items() if k != "sops"}:
                findings.append(Finding(change.path, "DG110", Message(
                    "{code} was changed; a handover is written once and never edited (an item appended "
                    "would license another removal)", code=code)))
            continue
        for problem in ledger_rewrites(old, new, opener):
            findings.append(Finding(change.path, "DG110", problem))

    # DG111/DG112: the workflows' rules that look beyond one record
    ledger = []
    for change in changes:
        code = _code(change.path)
        if change.status in "AMT" and change.new and code is not None and code.category in LEDGER:
            tree = _tree(blobs[change.new])
            if tree is not None:
                old = _tree(blobs[change.old]) if change.old and change.old in blobs else None
                ledger.append((change.path, tree, old))
    if ledger and config is not None:
        from dangan.model.sides import Side
        from dangan.rules.domain import change_rules

        cat = gitio.BlobCat(root)
        removed = {c.path: c.old for c in changes if c.status == "D" and c.old}
        try:
            found = change_rules(ledger, Side(
                _side_records(root, side), lambda blob: _tree_or_none(cat.get(blob)), config,
                removed, lambda path: bool(existing_paths(root, side, {path})),
            ))
        finally:
            cat.close()
        findings += [Finding(path, rule, message) for path, rule, message in found]
    return findings


def _held_handed_over(root: Path, side: str, removed: list[tuple[str, Code]]) -> list[Finding]:
    """DG109 for handed-over records removed while a legal hold on the new side covers them:
    the handover gives the records away, but a hold keeps this company's copy until it is
    released (docs/decisions.md, "Handover and legal holds")."""
    from dangan.model.disposal import Keepers

    holds = [tree for _path, tree in _side_records(root, side)("BQ")]
    keepers = Keepers.from_trees(holds, [])
    found = []
    for path, code in removed:
        held = keepers.holding(code)
        if held:
            found.append(Finding(path, "DG109", Message(
                "{code} was handed over, but is held by {holds}; its copy may be removed once the hold "
                "is released (`dangan retention release`)", code=code, holds=", ".join(held))))
    return found


def _tree_or_none(data: bytes | None) -> dict[str, Any] | None:
    return _tree(data) if data is not None else None


def _side_records(root: Path, side: str):  # type: ignore[no-untyped-def]
    cache: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def records(category: str) -> list[tuple[str, dict[str, Any]]]:
        if category not in cache:
            folder = f"{RECORDS}/{category}/"
            entries = gitio.ls_files(root, [folder]) if side == ":" else gitio.ls_tree(root, side, [folder])
            entries = [e for e in entries if e.stage == 0]
            data = dict(gitio.cat_blobs(root, [e.blob for e in entries]))
            cache[category] = [(e.path, t) for e in entries if (t := _tree(data[e.blob])) is not None]
        return cache[category]

    return records
def rewritten(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How `new` rewrites `old` rather than appending to it (empty when it only appends)."""
    problems = []
    for key, before in old.items():
        if key in DERIVED:
            continue
        if key not in new:
            problems.append(Message("field `{field}` was removed; ledger records are append-only", field=key))
            continue
        after = new[key]
        if isinstance(before, list) and isinstance(after, list):
            if after[: len(before)] != before:
                problems.append(Message("existing entries of `{field}` were changed or removed; only "
                                        "appending is allowed", field=key))
        elif before is None:
            continue  # an empty field may be filled in once (e.g. `closed`)
        elif after != before:
            problems.append(Message("field `{field}` was changed; ledger records are append-only", field=key))
    return problems


@dataclass(frozen=True)
class Sealed:
    """An encrypted leaf as a keyless reader knows it: its sops type and the length of its
    ciphertext, which AES-GCM keeps equal to the plaintext's length (in UTF-8 bytes)."""

    type: str
    length: int


def rekeyed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether `new` carries the marks of `old` sealed under a new data key (sops rotate):
    both are sops documents, no age stanza and no encrypted value of `old` is left, and
    the MAC changed. A re-wrap (same data key) keeps every ciphertext and needs no help.

    Only the shape is evidence: anyone can wrap a new data key for the recipients' public
    keys, so this says nothing about the values; `ledger_rewrites` compares what it can."""
    if not isinstance(old.get("sops"), dict) or not isinstance(new.get("sops"), dict):
        return False
    from dangan.formats import sops  # pyrage and cryptography load only for sealed ledger changes

    try:
        before, after = sops.Metadata.from_dict(old["sops"]), sops.Metadata.from_dict(new["sops"])
    except sops.SopsError:
        return False
    if not after.age or {enc for _, enc in before.age} & {enc for _, enc in after.age}:
        return False
    old_values, new_values = set(_enc_leaves(old)), set(_enc_leaves(new))
    return bool(old_values) and not old_values & new_values and before.mac != after.mac


def _enc_leaves(tree: Any) -> list[str]:
    from dangan.formats.sops import is_encrypted

    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key != "sops" or node is not tree:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif is_encrypted(node):
            found.append(node)

    walk(tree)
    return found


def _sealed_view(tree: Any) -> Any:
    """`tree` with each well-formed ENC[...] value replaced by its `Sealed` shape."""
    from dangan.formats.sops import SopsError, is_encrypted, parse_enc

    if isinstance(tree, dict):
        return {key: _sealed_view(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_sealed_view(value) for value in tree]
    if is_encrypted(tree):
        try:
            parsed = parse_enc(tree)
        except SopsError:
            return tree
        return Sealed(parsed.type, len(parsed.data))
    return tree


Opener = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def _opener(keyring: Keyring | None) -> Opener | None:
    """Plaintext of a stored sops document with its MAC verified, or None when the key
    does not open it (or it fails to verify: DG107 reports that where a key is)."""
    if keyring is None:
        return None

    def open_(tree: dict[str, Any]) -> dict[str, Any] | None:
        if not keyring.available():
            return None
        import copy

        from dangan.formats import sops

        try:
            plain, _meta = sops.decrypt_document(copy.deepcopy(tree), keyring.identities)
        except sops.SopsError:
            return None
        stripped = sops.strip_comments(plain)
        return stripped if isinstance(stripped, dict) else None

    return open_


def ledger_rewrites(old: dict[str, Any], new: dict[str, Any], opener: Opener | None = None) -> list[str]:
    """DG110 for two stored versions of a ledger record (docs/decisions.md, "Key changes").

    A re-wrap keeps every ciphertext, so the stored trees compare as they are. A rotation
    re-encrypts every value: then encrypted values are compared by type and length only,
    and every clear value, key and list length as always, which is all a keyless checker
    (pre-receive, CI) can see. When `opener` opens both versions, their plaintexts must
    also pass, so a value changed under cover of a rotation is found."""
    new_key = rekeyed(old, new)
    if not new_key:
        return rewritten(*_reencrypted_files(old, new, False))
    problems = rewritten(*_reencrypted_files(_sealed_view(old), _sealed_view(new), True))
    if opener is not None:
        before, after = opener(old), opener(new)
        if before is not None and after is not None:
            problems += [Message("{problem} (under a new data key)", problem=p) for p in rewritten(*_reencrypted_files(before, after, True))
                         if p not in problems]
    return problems


# What encrypting an attachment again changes in its listing (attachments.rewrap).
_FILE_FACTS = ("size", "sha256", "recipients")


def _reencrypted_files(old: dict[str, Any], new: dict[str, Any], new_key: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """`old` and `new` without the facts of the attachments encrypted again between them.

    Key changes encrypt a record's attachments again with new file keys (age cannot
    re-wrap a file key), which changes each listing's `size`, `sha256` and `recipients`:
    allowed for an entry whose `recipients` digest changed, or for every entry when the
    record itself was re-keyed. Its `file`, `title` and `type` must stay; the content of
    the stored file is not compared (threat-model.md: DG115 ties it to the new listing)."""
    before, after = old.get("attachments"), new.get("attachments")
    if not isinstance(before, list) or not isinstance(after, list):
        return old, new
    kept_before, kept_after = list(before), list(after)
    for i, (a, b) in enumerate(zip(before, after)):
        if not isinstance(a, dict) or not isinstance(b, dict) or a.get("file") != b.get("file"):
            continue
        if new_key or a.get("recipients") != b.get("recipients"):
            kept_before[i] = {k: v for k, v in a.items() if k not in _FILE_FACTS}
            kept_after[i] = {k: v for k, v in b.items() if k not in _FILE_FACTS}
    return {**old, "attachments": kept_before}, {**new, "attachments": kept_after}
