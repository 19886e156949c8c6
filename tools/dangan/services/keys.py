"""Recipients and data keys of a vault: generate, add, remove, updatekeys, rotate, decrypt."""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dangan.errors import DanganError, Refusal
from dangan.formats.yamlio import YamlError, decode, dump, load_roundtrip, load_text, to_plain
from dangan.i18n import Message
from dangan.model.codes import Code, path_to_code
from dangan.store import sealing, sopsconfig
from dangan.store.vault import CONFIG, Vault

ROLES = ("archivist", "approver")


@dataclass(frozen=True)
class KeyChange:
    """What a recipients/keys command did: the codes it re-wrapped or rotated, its commit."""

    rewrapped: list[str]
    rotated: list[str]
    commit: str | None
    # vault.yaml as edited by hand went with the records (updatekeys and rotate)
    hand_edited_config: bool = False
    sops_config: bool = False  # .sops.yaml rewritten in that commit (store.sopsconfig)


def default_identity_file() -> Path:
    """Where sops looks by default: $XDG_CONFIG_HOME/sops/age/keys.txt (or ~/.config/...)."""
    import os

    from dangan.formats import agekeys

    return agekeys.default_keys_file(os.environ, Path.home())


def generate(out: Path | None) -> tuple[str, Path]:
    """A new age identity appended to `out` (0600); returns (public key, file)."""
    from dangan.formats import agekeys

    path = out or default_identity_file()
    secret, public = agekeys.generate_identity()
    try:
        agekeys.write_identity_file(path, secret, public)
    except agekeys.IdentityError as exc:
        raise DanganError(str(exc)) from None
    return public, path


def encrypted_records(vault: Vault) -> list[tuple[Code, dict[str, Any]]]:
    """Every record stored with a sops block, as (code, stored document)."""
    found = []
    for rel in vault.record_files():
        if not rel.endswith(".yaml"):
            continue
        try:
            code = path_to_code(rel)
            text = decode((vault.root / rel).read_bytes())
            tree = load_text(text)
            if "sops" in tree and "#" in text:  # comments: re-sealed in place (sealing.reseal)
                tree = load_roundtrip(text)
        except (DanganError, YamlError):
            continue  # check reports unreadable files; key changes skip them
        if "sops" in tree:
            found.append((code, tree))
    return found


def _with_config(vault: Vault, change: Callable[[Any], None]) -> tuple[Vault, bytes]:
    """The vault as it would be after `change` to vault.yaml (comments kept), and its bytes."""
    rt = load_roundtrip(decode((vault.root / CONFIG).read_bytes()))
    change(rt)
    text = dump(rt)
    return Vault(vault.root, to_plain(load_roundtrip(text)), vault.keyring), text.encode()


def _reseal(vault: Vault, after: Vault, rotate_for: Callable[[Code], bool], message: str,
            config: bytes | None, commit: bool, only: set[str] | None = None) -> KeyChange:
    """Re-wrap (or rotate) every encrypted record for the recipients `after` gives, and
    encrypt attachments again where their recipients change (always with new file keys:
    age has no re-wrap of a file key, and a removed recipient must lose the new versions).

    A record that would lose a recipient is rotated, whatever `rotate_for` says: the data
    key they could unwrap must not keep opening its new values (a recipient taken off by
    hand in vault.yaml, or `access` narrowed, then `updatekeys`). `config` is vault.yaml's
    new text; without one, a hand edit of vault.yaml (the work tree's differs from HEAD's)
    is what the records are resealed for, so it is committed with them: the hook judges
    the records by the vault.yaml of the same commit.

    .sops.yaml is rewritten from `after` whenever it would change (store.sopsconfig), in
    the same commit: this is how `updatekeys` mends a stale one, and then the hand edits
    of vault.yaml and schemas/ it follows go with it (the hook judges it by them)."""
    from dangan.services import attachments

    changes: dict[str, bytes | Path | None] = {}
    rewrapped: list[str] = []
    rotated: list[str] = []
    with_files = attachments.owners(vault)
    sealed = {str(code): (code, doc) for code, doc in encrypted_records(vault)}
    clear = [(code, vault.read(code)[0]) for code in sorted(_codes(with_files)) if str(code) not in sealed]
    try:
        for code, doc in [*sealed.values(), *clear]:
            if only is not None and str(code) not in only:
                continue
            level = after.schemas.categories[code.category].level_of(doc)
            recipients = after.sealing_keys(code.category, level, doc)
            if not recipients:
                raise Refusal(
                    f"{code}: no recipient would be left for category {code.category}"
                    + (" (a secret record: its readers in vault.yaml `readers`)" if level == "secret" else ""),
                    Message("keep at least one recipient who may read it (vault.yaml `access` and `readers`)"),
                )
            rotate = rotate_for(code) or _loses_a_recipient(doc, recipients)
            new_doc: Any = sealing.reseal(doc, recipients, vault.keyring, rotate, str(code)) if "sops" in doc else doc
            if str(code) in with_files:
                renewed, moves = attachments.rewrap(vault, after, code, new_doc, rotate)
                changes.update(moves)
                new_doc = renewed if renewed is not None else new_doc
            if new_doc is not doc and new_doc != doc:
                changes[code.path] = vault.render(code.path, new_doc)
                (rotated if rotate else rewrapped).append(str(code))
        sops_config = sopsconfig.render(after.config, after.schemas)
        if _committed(vault, sopsconfig.SOPS_CONFIG) != sops_config:
            changes[sopsconfig.SOPS_CONFIG] = sops_config
            if config is None:
                changes.update(_edited_schemas(vault))
        elif _read(vault.root / sopsconfig.SOPS_CONFIG) != sops_config:
            _restore(vault, sopsconfig.SOPS_CONFIG, sops_config)  # a work tree edit: HEAD's is right
        hand_edited = config is None and bool(changes) and (config := _edited_config(vault)) is not None
        if config is not None:
            changes[CONFIG] = config
    except BaseException:
        attachments.discard_temps(changes.values())
        raise
    if not changes:
        return KeyChange(rewrapped, rotated, None)
    if hand_edited:
        message += " (with vault.yaml as edited)"
    if any(rel.startswith("schemas/") for rel in changes):
        message += " (with schemas/ as edited)"
    if any(isinstance(value, Path) for value in changes.values()):
        commit_id = attachments.transact(vault, changes, message, commit)
    else:
        commit_id = vault.apply({k: v for k, v in changes.items() if not isinstance(v, Path)}, message, commit)
    return KeyChange(rewrapped, rotated, commit_id, hand_edited, sopsconfig.SOPS_CONFIG in changes)


def _loses_a_recipient(doc: dict[str, Any], recipients: list[str]) -> bool:
    """Whether a stored record is wrapped for someone `recipients` no longer names."""
    if "sops" not in doc:
        return False
    from dangan.formats import agekeys, sops

    try:
        stored = {agekeys.parse_recipient(r).text for r, _ in sops.Metadata.from_dict(doc["sops"]).age if r}
        wanted = {agekeys.parse_recipient(r).text for r in recipients}
    except (sops.SopsError, agekeys.IdentityError):
        return False  # sealing.reseal reports what is wrong with it
    return bool(stored - wanted)


def _edited_config(vault: Vault) -> bytes | None:
    """vault.yaml of the work tree when it differs from HEAD's (or there is no HEAD)."""
    from dangan.git import gitio
    from dangan.services.scan import blob_id

    try:
        data = (vault.root / CONFIG).read_bytes()
    except OSError:
        return None
    committed = gitio.ls_tree(vault.root, "HEAD", [CONFIG]) if gitio.head(vault.root) else []
    if committed and committed[0].blob == blob_id(data):
        return None
    return data


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _committed(vault: Vault, rel: str) -> bytes | None:
    """The bytes of `rel` in HEAD (None: not there, or no HEAD)."""
    from dangan.git import gitio

    entries = gitio.ls_tree(vault.root, "HEAD", [rel]) if gitio.head(vault.root) else []
    return dict(gitio.cat_blobs(vault.root, [entries[0].blob]))[entries[0].blob] if entries else None


def _restore(vault: Vault, rel: str, data: bytes) -> None:
    """Put a file back as HEAD has it (`data`), in the work tree and the index."""
    from dangan.git import gitio
    from dangan.store.fsutil import write_atomic

    write_atomic(vault.root / rel, data)
    gitio.add(vault.root, [rel])


def _edited_schemas(vault: Vault) -> dict[str, bytes | None]:
    """The files of schemas/ whose work-tree bytes differ from HEAD's (None: deleted)."""
    from dangan.git import gitio
    from dangan.services.scan import blob_id

    committed = {e.path: e.blob for e in gitio.ls_tree(vault.root, "HEAD", ["schemas/"])} if gitio.head(vault.root) else {}
    folder = vault.root / "schemas"
    present = {f"schemas/{p.name}": p for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
    edited: dict[str, bytes | None] = {}
    for rel, path in present.items():
        data = path.read_bytes()
        if committed.get(rel) != blob_id(data):
            edited[rel] = data
    edited.update({rel: None for rel in committed if rel not in present and "/" not in rel[len("schemas/"):]})
    return edited


def _codes(texts: set[str]) -> list[Code]:
    from dangan.model.codes import parse_code

    return [parse_code(text) for text in texts]


def add_recipient(vault: Vault, name: str, key: str, roles: list[str], commit: bool = True) -> KeyChange:
    from dangan.formats import agekeys

    try:
        recipient = agekeys.parse_recipient(key)
    except agekeys.IdentityError as exc:
        raise DanganError(str(exc)) from None
    if not name.strip():
        raise DanganError(Message("a recipient needs a name"))
    for existing in vault.recipients:
        if existing.get("name") == name:
            raise DanganError(Message("{name} is already a recipient", name=repr(name)), Message("remove them first to change their key"))
        try:
            if agekeys.parse_recipient(str(existing.get("key", ""))).text == recipient.text:
                raise DanganError(Message("that key already belongs to {value}", value=repr(existing.get('name'))))
        except agekeys.IdentityError:
            pass
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise DanganError(Message("unknown role {value}", value=repr(bad[0])), Message("roles: {value}", value=', '.join(ROLES)))

    def change(config: Any) -> None:
        entry = {"name": name, "key": recipient.text, "roles": list(dict.fromkeys(roles))}
        if config.get("recipients") is None:
            config["recipients"] = []
        config["recipients"].append(entry)

    with vault.lock():
        after, config = _with_config(vault, change)
        return _reseal(vault, after, lambda code: False, f"dangan recipients add: {name}", config, commit)


def remove_recipient(vault: Vault, name: str, commit: bool = True) -> KeyChange:
    """Remove a recipient; every record they could read gets a new data key."""
    if not any(r.get("name") == name for r in vault.recipients):
        raise DanganError(Message("{name} is not a recipient", name=repr(name)), Message("list them with `dangan recipients ls`"))

    def change(config: Any) -> None:
        config["recipients"] = [r for r in config.get("recipients") or [] if r.get("name") != name]
        for category, people in list((config.get("access") or {}).items()):
            config["access"][category] = [p for p in people or [] if p != name]
        for level, people in list((config.get("readers") or {}).items()):
            config["readers"][level] = [p for p in people or [] if p != name]

    def could_read(code: Code) -> bool:
        return any(r.get("name") == name for r in vault.recipients_for(code.category))

    with vault.lock():
        after, config = _with_config(vault, change)
        return _reseal(vault, after, could_read, f"dangan recipients remove: {name}", config, commit)


def updatekeys(vault: Vault, commit: bool = True) -> KeyChange:
    with vault.lock():
        return _reseal(vault, vault, lambda code: False, "dangan keys updatekeys", None, commit)


def migrate_epochs(vault: Vault, commit: bool = True) -> KeyChange:
    """Make the vault an epoch vault in one commit (docs/shredding.md §5): epochs.yaml, an
    epoch per year and readers in the keyring, and every encrypted record and attachment
    sealed to its epoch with a new data key (the old one is wrapped to people in history)."""
    with vault.lock():
        vault.start_epochs()
        try:
            change = _reseal(vault, vault, lambda code: True, "dangan keys migrate-epochs", None, commit)
        except sealing.NoKeyToOpen as exc:
            raise DanganError(exc.message, "the migration opens every encrypted record and commits nothing "
                              "until it has: use keys that open them all (DANGAN_AGE_KEY_FILE and "
                              "SOPS_AGE_KEY_FILE may name two files, e.g. an archivist's and a reader's "
                              "of secret records)") from None
        if vault.epochs_pending():  # nothing was sealed: epochs.yaml alone
            return KeyChange([], [], vault.apply({}, "dangan keys migrate-epochs", commit))
        return change


EXPORT_HEADER = "# dangan epoch keys (dangan keys export-epochs): the live epochs of a vault\n"


@dataclass(frozen=True)
class Exported:
    file: Path
    epochs: list[str]
    unreadable: list[str]  # live epochs none of the user's keys opens (or this clone lacks)


def export_epochs(vault: Vault, out: Path) -> Exported:
    """The live epoch identities the user's keys unlock, as an age keys file (0600) that
    `sops -d` and `age -d` read (SOPS_AGE_KEY_FILE=FILE, `age -d -i FILE`). A file that is
    not such an export is never overwritten: it may be someone's own keys."""
    from dangan.store.fsutil import write_atomic

    epochs = vault.epochs
    if epochs is None:
        raise DanganError(Message("this vault has no epochs (no epochs.yaml)"),
                          Message("`dangan keys migrate-epochs` makes them; until then records open with your own key"))
    try:
        first = out.read_text("utf-8").splitlines(keepends=True)[:1]
    except FileNotFoundError:
        first = None
    except (OSError, UnicodeDecodeError):
        first = [""]
    if first is not None and first != [EXPORT_HEADER]:
        raise DanganError(Message("{path} exists and is not a file `dangan keys export-epochs` wrote", path=out),
                          Message("give a new file name; a keys file is never overwritten"))
    opened = vault.keyring.epochs()
    live = epochs.live()
    chosen = [e for e in live if e.id in opened]
    if not chosen:
        raise DanganError(Message("none of your keys opens a live epoch of this vault's keyring"),
                          Message("ask one of their readers; this clone's keyring is .git/dangan/keyring/"))
    text = EXPORT_HEADER + "".join(
        f"# epoch: {e.id}\n# public key: {e.key}\n{opened[e.id]}\n" for e in chosen)
    write_atomic(out, text.encode("ascii"), mode=0o600)
    return Exported(out, [e.id for e in chosen], [e.id for e in live if e.id not in opened])


def rotate(vault: Vault, codes: list[Code], commit: bool = True) -> KeyChange:
    only = {str(c) for c in codes} if codes else None
    if only:
        stored = {str(code) for code, _ in encrypted_records(vault)}
        missing = sorted(only - stored)
        if missing:
            raise DanganError(Message("{value} is not an encrypted record of this vault", value=missing[0]))
    with vault.lock():
        label = " ".join(sorted(only)) if only else "all"
        return _reseal(vault, vault, lambda code: True, f"dangan keys rotate: {label}", None, commit, only)


def decrypt_file(path: Path, keyring: sealing.Keyring) -> tuple[Any, str]:
    """Any sops YAML or JSON file: (plaintext tree, 'yaml' or 'json'). A YAML file's tree
    is a round-trip tree holding its comments, decrypted, as `sops -d` prints them."""
    from dangan.formats import sops, sopsrt

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DanganError(Message("{path}: {strerror}", path=path, strerror=exc.strerror)) from None
    try:
        text = decode(data) if len(data) <= 256 * 1024 else data.decode("utf-8")
    except (YamlError, UnicodeDecodeError) as exc:
        raise DanganError(Message("{path}: {exc}", path=path, exc=exc)) from None
    kind = "json" if path.suffix.lower() == ".json" else "yaml"
    try:
        doc = json.loads(text) if kind == "json" else load_roundtrip(text)
    except (ValueError, sops.SopsError, YamlError) as exc:
        raise DanganError(Message("{path}: not a readable sops {kind} file ({value})", path=path, kind=kind, value=str(exc)[:120])) from None
    if not isinstance(doc, dict) or "sops" not in doc:
        raise DanganError(Message("{path}: not a sops file (no sops metadata)", path=path))
    try:
        if kind == "yaml":
            return sopsrt.decrypt_commented(doc, keyring.identities), kind
        plain, _meta = sops.decrypt_document(doc, keyring.identities)
    except sops.NoMatchingIdentity as exc:
        raise DanganError(Message("{path}: {exc}", path=path, exc=exc)) from None
    except sops.SopsError as exc:
        raise Refusal(Message("{path}: {exc}", path=path, exc=exc), Message("the file was changed without its key, or is damaged")) from None
    return sops.strip_comments(plain), kind


def recipients_table(vault: Vault) -> list[dict[str, Any]]:
    categories = sorted(vault.schemas.categories)
    rows = []
    for r in vault.recipients:
        readable = [c for c in categories if any(x.get("name") == r.get("name") for x in vault.recipients_for(c))]
        rows.append({"name": r.get("name"), "key": r.get("key"), "roles": list(r.get("roles") or []),
                     "categories": readable if len(readable) < len(categories) else ["*"]})
    return rows


def textconv(vault: Vault | None, path: Path, keyring: sealing.Keyring) -> str:
    """What the Git diff driver shows for a record: decrypted for key holders, else masked.

    Never fails: a file it cannot read is shown as it is.
    """
    from dangan.formats import sops
    from dangan.services.records import masked

    data = path.read_bytes()
    try:
        tree = load_text(decode(data))
    except YamlError:
        return data.decode("utf-8", "replace")
    try:
        if "sops" not in tree or vault is None:
            return dump({k: v for k, v in tree.items() if k != "sops"})
        category = vault.schemas.category(str(tree.get("category", "")))
        names = category.names_of(tree) if category else frozenset()
        if keyring.available():
            try:
                if b"#" in data:  # comments: shown decrypted, as `sops -d` shows them
                    from dangan.formats import sopsrt
                    return dump(sopsrt.decrypt_commented(load_roundtrip(decode(data)), keyring.identities))
                plain, _ = sops.decrypt_document(copy.deepcopy(tree), keyring.identities)
                return dump(sops.strip_comments(plain))
            except sops.SopsError:
                pass
        return dump(masked(tree, names, fingerprint=True))
    except Exception:  # a diff must always show something
        return data.decode("utf-8", "replace")
