"""`dangan handover import` (接管, docs/handover.md step 4): an exported vault's records,
their attachments and a YJ receipt (status `received`) in an existing vault, in one commit.

The exported vault is verified first, as `handover export` verified it (git fsck, its
committed files exactly as HANDOVER.json lists them, nothing else, nothing uncommitted).
Each record is read from the export's commit and opened with the user's key (the receiving
party's), its codes mapped when `--map OLD=NEW` says so (the record's own code, every value
that is the code of an imported record, such as `refs`, `target`, `equipment`, and every
location value under OLD), checked like `dangan import` (schema, level, references, and no
code that exists here or was destroyed here: one collision refuses the whole import), sealed
again for this vault's recipients with each value proven against its plaintext, and its
attachments encrypted again through a pipe. Everything, the YJ included, lands in one
transaction (`attachments.transact` → store/transaction.py): a kill leaves nothing half done.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dangan import i18n
from dangan.errors import DanganError, Refusal
from dangan.formats.yamlio import YamlError, decode, dump, load_text
from dangan.git import gitio
from dangan.i18n import Message
from dangan.i18n import shown as in_language
from dangan.model.codes import Code, CodeError, Location, parse_code, parse_location
from dangan.model.layout import folder_of, listed, path_of
from dangan.services import handover_export
from dangan.store import sealing
from dangan.store.vault import Vault

RECEIPT = "YJ"
_LOCATION = re.compile(r"[ABCD][0-9]{2}(?:-[0-9]{2}(?:-[0-9]{3}(?:-[0-9]{4})?)?)?")
SHOWN = 5  # problems named in the one-line error
_KEY_HINT = "the export opens with the receiving party's key (its vault.yaml names it): give --identity FILE"


@dataclass(frozen=True)
class Received:
    """What `receive` did: (code in the export, code here) per record, the receipt, the commit."""

    codes: list[tuple[str, str]]
    attachments: int
    receipt: str
    commit: str | None
    source: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"records": [{"code": old, "filed_as": new} for old, new in self.codes],
                "attachments": self.attachments, "receipt": self.receipt, "commit": self.commit,
                "source": self.source}


# ------------------------------------------------------------------------- input

def parse_maps(texts: list[str]) -> list[tuple[Location, Location]]:
    """`--map OLD=NEW`: location prefixes of the same level (B01=C03, A01-02=C03-01)."""
    maps: list[tuple[Location, Location]] = []
    for text in texts:
        old_text, sep, new_text = text.partition("=")
        if not sep:
            raise DanganError(Message("--map {text} is not OLD=NEW", text=repr(text)), Message("example: --map B01=C03"))
        try:
            old, new = parse_location(old_text.strip()), parse_location(new_text.strip())
        except CodeError as exc:
            raise DanganError(Message("--map {text}: {message}", text=repr(text), message=exc.message), Message("example: --map B01=C03")) from None
        if not old.parts or len(old.parts) != len(new.parts):
            raise DanganError(Message("--map {text}: OLD and NEW must be locations of the same level", text=repr(text)),
                              Message("a project for a project (B01=C03), a building for a building (B01-02=C03-01)"))
        if any(o == old for o, _ in maps):
            raise DanganError(Message("--map {old}=... is given twice", old=old), Message("map each location once"))
        maps.append((old, new))
    return sorted(maps, key=lambda m: -len(m[0].parts))  # the most specific first


def _one_line(value: str, what: str) -> str:
    value = value.strip()
    if not value or "\n" in value or len(value) > 100:
        raise DanganError(Message("{what} must be one line of 1 to 100 characters", what=what), Message("give a name, e.g. 王芳"))
    return value


def _mapped_location(location: Location, maps: list[tuple[Location, Location]]) -> Location:
    for old, new in maps:
        if old.contains(location):
            return Location(new.parts + location.parts[len(old.parts):])
    return location


def _remap(node: Any, codes: dict[str, str], maps: list[tuple[Location, Location]]) -> Any:
    """Every value that is the code of an imported record becomes its new code; every
    location value under a mapped prefix its new location. Keys are never changed."""
    if isinstance(node, dict):
        return {k: _remap(v, codes, maps) for k, v in node.items()}
    if isinstance(node, list):
        return [_remap(v, codes, maps) for v in node]
    if isinstance(node, str):
        if node in codes:
            return codes[node]
        if maps and _LOCATION.fullmatch(node):
            try:
                return str(_mapped_location(parse_location(node), maps))
            except CodeError:
                return node
    return node


# ------------------------------------------------------------------ verification

def verify_folder(folder: Path) -> dict[str, Any]:
    """The manifest of an exported vault that is as `handover export` left it; anything
    else is refused, naming what differs (exit 2: nothing was read into the vault)."""
    if not (folder / ".git").exists():
        raise DanganError(Message("{folder} is not an exported vault (no Git repository there)", folder=folder),
                          Message("give the folder `dangan handover export` made"))
    if gitio.head(folder) is None:
        raise DanganError(Message("{folder} has no commit: not an exported vault", folder=folder),
                          Message("give the folder `dangan handover export` made"))
    manifest = handover_export.read_manifest(folder, "HEAD")
    try:
        handover_export._fsck(folder)
    except handover_export._Failed as exc:
        raise DanganError(Message("the exported vault is damaged: {exc}", exc=exc), Message("ask for the export again")) from None
    raw = gitio.run(["status", "--porcelain", "-z", "--untracked-files=all"], folder).stdout
    changed = [item[3:].decode("utf-8", "replace") for item in raw.split(b"\0") if len(item) > 3]
    if changed:
        raise DanganError(Message("the exported vault was changed after the export: {first} and {more} more",
                                  first=changed[0], more=len(changed) - 1) if len(changed) > 1 else
                          Message("the exported vault was changed after the export: {first}", first=changed[0]),
                          Message("ask for the export again, or restore it as it was made (`git status` there)"))
    entries = {e.path: e.blob for e in gitio.ls_tree(folder, "HEAD")}
    problems = handover_export.files_problems(entries, manifest, folder)
    config = gitio.file_at(folder, "HEAD", "vault.yaml")
    try:
        vault_id = load_text(decode(config)).get("id") if config else None
    except YamlError:
        vault_id = None
    if vault_id != manifest["vault"].get("id"):
        problems.append(Message("its vault.yaml is not the one the manifest names"))
    if gitio.count_commits(folder, ["HEAD"]) != 2:
        problems.append(Message("its history is not the export's two commits (dangan init, the export)"))
    if problems:
        raise DanganError(Message("the exported vault does not match its manifest: {first} (and {more} more)",
                                  first=problems[0], more=len(problems) - 1) if len(problems) > 1 else
                          Message("the exported vault does not match its manifest: {first}", first=problems[0]),
                          Message("ask for the export again; nothing was imported"))
    return manifest


# ------------------------------------------------------------------------ import

def receive(vault: Vault, folder: Path, map_texts: list[str], from_org: str, received_by: str,
            witnesses: list[str], by: str | None, *, now: dt.datetime | None = None) -> Received:
    """Verify, open, map, check, seal and write the export's records with their YJ receipt."""
    from dangan.services import attachments, records
    from dangan.store.attached import recipients_digest

    from_org = _one_line(from_org, "--from")
    received_by = _one_line(received_by, "--received-by")
    witnesses = list(dict.fromkeys(_one_line(w, "--witness") for w in witnesses))
    if not witnesses:
        raise DanganError(Message("name at least one witness"), Message("--witness NAME (repeatable)"))
    maps = parse_maps(map_texts)
    folder = Path(os.path.abspath(folder))
    if folder.resolve() == vault.root.resolve():
        raise DanganError(Message("the exported vault is this vault"), Message("give the folder `dangan handover export` made"))
    manifest = verify_folder(folder)
    handed_over_by = by or manifest.get("exported_by")
    if not isinstance(handed_over_by, str) or not handed_over_by.strip():
        raise DanganError(Message("the manifest does not say who made the export"), Message("name who handed the records over: --by NAME"))
    handed_over_by = _one_line(handed_over_by, "--by")
    prefix = parse_location(manifest["prefix"])
    unused = [f"{old}={new}" for old, new in maps if not (old.contains(prefix) or prefix.contains(old))]
    if unused:
        raise DanganError(Message("--map {value}: the export holds nothing under it (it is {prefix})", value=unused[0], prefix=prefix),
                          Message("map its prefix: --map {prefix}=NEW", prefix=prefix))
    codes = {r["code"]: str(_new_code(parse_code(r["code"]), maps)) for r in manifest["records"]}
    try:
        identities = vault.keyring.identities
    except DanganError as exc:
        raise DanganError(exc.message, _KEY_HINT) from None
    blobs = dict(gitio.cat_blobs(folder, [r["blob"] for r in manifest["records"]]))
    now = (now or dt.datetime.now(dt.UTC)).astimezone(vault.tz).replace(microsecond=0)
    with vault.lock():
        vault.ready_to_write()
        problems = _collisions(vault, codes)
        if problems:
            raise DanganError(Message("{count} code(s) of the export are taken here: {problems}", count=len(problems),
                                      problems=i18n._("; ").join(in_language(p) for p in problems[:SHOWN])),
                              Message("file them under a free location with --map OLD=NEW; nothing was imported"))
        changes: dict[str, bytes | Path | None] = {}
        items: list[dict[str, Any]] = []
        attached = 0
        errors: list[str] = []
        try:
            for record in manifest["records"]:
                old = parse_code(record["code"])
                new = parse_code(codes[record["code"]])
                if new.category not in vault.schemas.categories:
                    errors.append(Message("{old}: this vault has no category {category}", old=old, category=new.category))
                    continue
                try:
                    records.check_category(vault, new.category, new.location)
                except DanganError as exc:
                    errors.append(Message("{new}: {message}", new=new, message=exc.message))
                    continue
                stored = load_text(decode(blobs[record["blob"]]))
                try:
                    plain = sealing.open_document(str(old), stored, vault.keyring)
                except Refusal:
                    raise
                except DanganError as exc:
                    raise DanganError(exc.message, _KEY_HINT) from None
                tree = _remap(plain, codes, maps)
                errors += [f"{new}: {e}" for e in records.validation_errors(vault, new.category, tree)]
                errors += [f"{new}: {e}" for e in _missing_refs(vault, tree, set(codes.values()))]
                level = vault.schemas.categories[new.category].level_of(tree)
                keys_text = vault.sealing_keys(new.category, level, tree)  # an epoch vault: the epoch's
                if level == "secret" and not keys_text:
                    errors.append(Message("{new}: a secret record, and no reader of secret records here may read {category} (vault.yaml `readers` and `access`)", new=new, category=new.category))
                    continue
                renewed = []
                entries = listed(tree)
                if entries:
                    from dangan.formats import agekeys

                    if not keys_text:
                        errors.append(Message("{new}: no recipient here may read {category}, and its attachments are always encrypted", new=new, category=new.category))
                        continue
                    age_keys = [agekeys.parse_recipient(k).key for k in keys_text]
                    digest = recipients_digest(keys_text)
                    for entry in entries:
                        source = folder / path_of(old, str(entry.get("file")))
                        try:
                            sealed = attachments.reseal_file(source, vault.root / folder_of(new), str(entry["file"]),
                                                             identities, age_keys, f"{old} {entry['file']}")
                        except Refusal:
                            raise
                        except DanganError as exc:
                            raise DanganError(exc.message, _KEY_HINT) from None
                        changes[path_of(new, str(entry["file"]))] = sealed.temp
                        renewed.append({**entry, "size": sealed.size, "sha256": sealed.sha256, "recipients": digest})
                    tree["attachments"] = renewed
                    attached += len(renewed)
                if errors:
                    continue
                names = vault.schemas.categories[new.category].names_for(level)
                changes[new.path] = dump(sealing.seal_checked(new, tree, names, keys_text)).encode("utf-8")
                item: dict[str, Any] = {"code": str(old), "category": old.category, "title": record["title"],
                                        "blob": record["source_blob"]}
                if renewed:
                    item["attachments"] = len(renewed)
                if str(new) != str(old):
                    item["mapped_to"] = str(new)
                items.append(item)
            if errors:
                raise DanganError(Message("{count} problem(s), nothing was imported: {problems}", count=len(errors),
                                          problems=i18n._("; ").join(in_language(e) for e in errors[:SHOWN])),
                                  Message("fix them on the exporting side, or map the codes with --map OLD=NEW"))
            receipt = records.allocate(vault, RECEIPT, Location())
            tree = {
                "code": str(receipt), "category": RECEIPT,
                "title": f"接收 {from_org} 移交的 {prefix} 檔案 ({len(items)} 件)",
                "status": "received", "opened": now.date().isoformat(),
                "scope": [str(prefix)], "from": from_org,
                "handed_over_at": manifest["exported_at"],
                "handed_over_by": handed_over_by, "received_by": received_by, "witnesses": witnesses,
                "source": {"vault": str(manifest["source"].get("vault") or ""),
                           "commit": str(manifest["source"].get("commit") or "")},
                "items": items,
            }
            changes[receipt.path] = dump(records.prepare(vault, receipt, tree)).encode("utf-8")
            clash = next((rel for rel in changes if (vault.root / rel).exists()), None)
            if clash is not None:
                raise DanganError(Message("{clash} already exists; nothing was imported", clash=clash),
                                  Message("run `dangan check`; another writer may have been at work"))
            message = (f"dangan handover import: {len(items)} record(s) of {prefix} from {from_org}"
                       f" ({manifest['source'].get('vault')} at {str(manifest['source'].get('commit'))[:12]}), "
                       f"receipt {receipt}")
            commit = attachments.transact(vault, changes, message)
        except BaseException:
            attachments.discard_temps(changes.values())
            # the attachment folders made for the temps: an empty one left behind would
            # read as a collision (an attachment folder here) to the next import
            from dangan.store.fsutil import remove_empty_dirs

            for value in changes.values():
                if isinstance(value, Path):
                    remove_empty_dirs(value.parent, vault.root)
            raise
    return Received(list(codes.items()), attached, str(receipt), commit,
                    dict(manifest["source"]))


def _new_code(code: Code, maps: list[tuple[Location, Location]]) -> Code:
    return Code(code.category, _mapped_location(code.location, maps), code.serial)


def _collisions(vault: Vault, codes: dict[str, str]) -> list[str]:
    """Codes the import would file that exist here, have an attachment folder here, or
    were destroyed here (a destroyed code is never used again)."""
    from dangan.services.records import destroyed_codes

    destroyed = destroyed_codes(vault)
    found = []
    for old, new in codes.items():
        code = parse_code(new)
        shown = new if new == old else f"{new} (from {old})"
        if (vault.root / code.path).exists() or (vault.root / folder_of(code)).exists():
            found.append(Message("{shown} exists", shown=shown))
        elif new in destroyed:
            found.append(Message("{shown} was destroyed here", shown=shown))
    return found


def _missing_refs(vault: Vault, tree: dict[str, Any], incoming: set[str]) -> list[str]:
    """DG108 before writing: each code the record names exists here, comes with the
    import, or was destroyed here."""
    from dangan.services.records import destroyed_codes

    named = [("refs", r) for r in tree.get("refs") or [] if isinstance(r, str)]
    custody = tree.get("custody")
    if isinstance(custody, dict) and isinstance(custody.get("inventory"), str):
        named.append(("custody.inventory", custody["inventory"]))
    missing = []
    destroyed: set[str] | None = None
    for name, ref in named:
        if ref in incoming:
            continue
        try:
            if vault.path_of(parse_code(ref)).exists():
                continue
        except CodeError:
            continue  # the schema reports it
        if destroyed is None:
            destroyed = destroyed_codes(vault)
        if ref not in destroyed:
            missing.append(Message("/{name}: {ref} exists nowhere here and was never destroyed", name=name, ref=ref))
    return missing
