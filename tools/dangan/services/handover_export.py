"""`dangan handover export` (移交, docs/handover.md step 2): the records of a project, or a
part of it, as a new, self-contained vault for the receiving party.

The exported vault is a vault as `dangan init` lays it out (services.initvault), with its own
`vault.yaml` (a new id, the source's time zone, the receiving party's keys as its only
recipients), the records under the prefix as HEAD holds them, their attachments, and a
manifest, `HANDOVER.json` ("dangan-handover 1"), naming the source vault and commit and every
record and attachment. Sensitive values are sealed again with a new data key for the
receiving party's keys only, each proven against its plaintext while the key is still in
memory (`sealing.seal_checked`); attachments are decrypted and encrypted again through a pipe
(`attachments.reseal_file`). No plaintext is ever written to disk.

It is built under a hidden partial name beside DIR (`.DIR.PID.partial`, ciphertext only) and
verified like a backup before it is renamed to DIR: git fsck, the files against the manifest,
the recipients of every sealed record and attachment, and `check --all` of the new vault.
A failure removes the partial; one a killed export left is removed by the next export to the
same place. References to records outside the export are dropped from the records and listed
in the manifest (docs/decisions.md, "Handover: references outside the export").
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan.errors import DanganError, Refusal
from dangan.formats.schemas import SECRET_MASK
from dangan.formats.yamlio import YamlError, decode, dump, load_text
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model.codes import Code, CodeError, Location, parse_code, parse_location, path_to_code
from dangan.model.layout import folder_of, listed, owner, path_of
from dangan.store import sealing
from dangan.store.vault import CONFIG, RECORDS, Vault

FORMAT = "dangan-handover 1"
MANIFEST = "HANDOVER.json"
_MANIFEST_HINT = "ask for the export again: the manifest is written by `dangan handover export`"
ROLES = ["archivist", "approver"]
# what `dangan init` lays out, the records and the manifest: nothing else is in an export
LAID_OUT = (CONFIG, ".sops.yaml", ".gitattributes", ".vscode/settings.json", MANIFEST)
LAID_OUT_DIRS = ("schemas/", "hooks/", f"{RECORDS}/")
STEPS = ("records", "commit", "fsck", "files", "recipients", "check")

OnStep = Callable[[str], None]


@dataclass
class Exported:
    """What `export` made: the new vault, its manifest, and the verification's steps."""

    path: Path
    manifest: dict[str, Any]
    steps: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        m = self.manifest
        return {"path": str(self.path), "vault": m["vault"], "source": m["source"], "prefix": m["prefix"],
                "records": len(m["records"]), "attachments": len(m["attachments"]),
                "outside_refs": m["outside_refs"],
                "verification": [{"step": s, "detail": d} for s, d in self.steps]}


class _Failed(Exception):
    """A verification step failed: `step` says which, the message what."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


# ------------------------------------------------------------------------- input

def parse_recipients(texts: list[str]) -> list[dict[str, Any]]:
    """`--recipient KEY` or `--recipient NAME=KEY` (an age key or an SSH public key, as
    `recipients add` takes them), as vault.yaml entries with the archivist and approver
    roles: the receiving party runs its vault alone."""
    from dangan.formats import agekeys

    if not texts:
        raise DanganError(Message("name the receiving party's key with --recipient KEY"),
                          Message("an age public key (age1...) or an SSH public key; NAME=KEY names it"))
    out: list[dict[str, Any]] = []
    for i, text in enumerate(texts, 1):
        text = text.strip()
        name, key = "", text
        if not text.startswith(("age1", "ssh-")) and "=" in text:
            name, key = (part.strip() for part in text.split("=", 1))
        try:
            recipient = agekeys.parse_recipient(key)
        except agekeys.IdentityError as exc:
            raise DanganError(Message("--recipient {value}: {exc}", value=repr(text[:60]), exc=exc),
                              Message("give an age public key (age1...) or an SSH public key, optionally NAME=KEY")) from None
        name = name or f"recipient {i}"
        if any(r["name"] == name for r in out):
            raise DanganError(Message("two recipients are named {name}", name=repr(name)), Message("give each --recipient NAME=KEY its own name"))
        if any(r["key"] == recipient.text for r in out):
            raise DanganError(Message("--recipient {name}: that key is given twice", name=name), Message("give each key once"))
        out.append({"name": name, "key": recipient.text, "roles": list(ROLES)})
    return out


def parse_prefix(text: str) -> Location:
    """A location prefix (`B01`, `A01-02`); the company level is not a handover's."""
    if not text.strip():
        raise DanganError(Message("give a location prefix such as B01 or A01-02"), Message("a project or a part of one"))
    try:
        return parse_location(text.strip())
    except CodeError as exc:
        raise DanganError(Message("{text} is not a location prefix: {message}", text=repr(text), message=exc.message),
                          Message("a project (B01), or a part of one (A01-02)")) from None


def folder_for(prefix: Location) -> str:
    return "/".join([RECORDS, *prefix.parts]) + "/"


def uncommitted(root: Path, folder: str) -> list[str]:
    """Paths under `folder` whose work tree or index differs from HEAD, or untracked."""
    raw = gitio.run(["status", "--porcelain", "-z", "--untracked-files=all", "--", folder], root).stdout
    return [item[3:].decode("utf-8", "replace") for item in raw.split(b"\0") if len(item) > 3]


def _check_out(vault: Vault, out: Path) -> Path:
    out = Path(os.path.abspath(out))
    root = vault.root.resolve()
    if out.resolve() == root or root in out.resolve().parents:
        raise DanganError(Message("{out} is inside the vault's work tree", out=out), Message("export to a folder outside the vault"))
    if out.is_symlink() or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
        raise DanganError(Message("{out} exists and is not an empty folder", out=out),
                          Message("give a new folder with --out; an export never writes over anything"))
    if not out.parent.is_dir():
        raise DanganError(Message("{parent} is not a folder", parent=out.parent), Message("create it first, or give another --out"))
    return out


def _sweep_partials(out: Path) -> None:
    """Remove the `.DIR.PID.partial` folders a killed export to `out` left (ciphertext only,
    but a half-built vault must not be mistaken for one): those whose process is gone."""
    for path in out.parent.glob(f".{out.name}.*.partial"):
        pid = path.name.removesuffix(".partial").rsplit(".", 1)[-1]
        if path.is_symlink() or not path.is_dir() or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue


# --------------------------------------------------------------------- the export

@dataclass
class _Item:
    code: Code
    path: str
    blob: str
    stored: dict[str, Any]
    data: bytes  # the blob's bytes: a clear record with nothing to change is exported as it is


def _committed_records(vault: Vault, head: str, folder: str) -> tuple[list[_Item], dict[str, str]]:
    """The records under `folder` at `head` (read from Git objects) and the other files
    there (attachments, path -> blob id): a file that is neither is refused (check reports it)."""
    entries = gitio.ls_tree(vault.root, head, [folder])
    records: dict[str, tuple[Code, str]] = {}
    others: dict[str, str] = {}
    for entry in entries:
        try:
            records[entry.path] = (path_to_code(entry.path), entry.blob)
        except CodeError:
            others[entry.path] = entry.blob
    loose = [rel for rel in others if owner(rel) not in records]
    if loose:
        raise DanganError(Message("{value} is neither a record nor an attachment of one", value=loose[0]),
                          Message("run `dangan check --all` and settle it first"))
    blobs = dict(gitio.cat_blobs(vault.root, [blob for _, blob in records.values()]))
    items = []
    for rel, (code, blob) in sorted(records.items()):
        try:
            stored = load_text(decode(blobs[blob]))
        except YamlError as exc:
            raise DanganError(Message("{rel}: {exc}", rel=rel, exc=exc), Message("run `dangan check --all` and fix it first")) from None
        items.append(_Item(code, rel, blob, stored, blobs[blob]))
    return items, others


def _drop_outside(plain: dict[str, Any], inside: set[str], code: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The record without the codes it names outside the export (DG108 there), and what
    was dropped, for the manifest: `refs` entries, and a paper original's open inventory
    discrepancy (`custody.status` with `custody.inventory`, which names a company-level PD)."""
    dropped: list[dict[str, str]] = []
    tree = dict(plain)
    refs = tree.get("refs")
    if isinstance(refs, list):
        kept = [r for r in refs if not isinstance(r, str) or r in inside]
        dropped += [{"code": code, "field": "refs", "ref": r} for r in refs if isinstance(r, str) and r not in inside]
        if kept:
            tree["refs"] = kept
        else:
            del tree["refs"]
    custody = tree.get("custody")
    if isinstance(custody, dict) and isinstance(custody.get("inventory"), str) and custody["inventory"] not in inside:
        dropped.append({"code": code, "field": "custody.inventory", "ref": custody["inventory"],
                        **({"status": str(custody["status"])} if "status" in custody else {})})
        tree["custody"] = {k: v for k, v in custody.items() if k not in ("inventory", "status")}
        if not tree["custody"]:
            del tree["custody"]
    return tree, dropped


def export(vault: Vault, prefix_text: str, recipient_texts: list[str], out: Path, *,
           now: dt.datetime | None = None, on_step: OnStep | None = None) -> Exported:
    """Build, verify and put in place the exported vault (module docstring)."""
    from dangan.services.scan import blob_id

    prefix = parse_prefix(prefix_text)
    recipients = parse_recipients(recipient_texts)
    out = _check_out(vault, out)
    head = gitio.head(vault.root)
    if head is None:
        raise DanganError(Message("the vault has no commit yet"), Message("an export takes the committed records"))
    folder = folder_for(prefix)
    dirty = uncommitted(vault.root, folder)
    if dirty:
        raise DanganError(Message("{count} uncommitted change(s) under {prefix} (first: {value})", count=len(dirty), prefix=prefix, value=dirty[0]),
                          Message("the export takes the committed versions: commit them, or put them aside (`git stash -u`), then export"))
    items, attachment_files = _committed_records(vault, head, folder)
    if not items:
        raise DanganError(Message("no records under {prefix} at HEAD", prefix=prefix), Message("list them with `dangan ls`"))
    unknown = sorted({i.code.category for i in items} - set(vault.schemas.categories))
    if unknown:
        raise DanganError(Message("unknown category {value} under {prefix}", value=unknown[0], prefix=prefix), Message("run `dangan check --all`"))
    identities = vault.keyring.identities  # one line with a hint when the user has no key
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    _sweep_partials(out)
    partial = out.parent / f".{out.name}.{os.getpid()}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    try:
        return _build(vault, prefix, recipients, out, partial, head, items, attachment_files,
                      identities, now, on_step, blob_id)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _build(vault: Vault, prefix: Location, recipients: list[dict[str, Any]], out: Path, partial: Path,
           head: str, items: list[_Item], attachment_files: dict[str, str], identities: list[Any],
           now: dt.datetime, on_step: OnStep | None, blob_id: Callable[[bytes], str]) -> Exported:
    from dangan.formats import agekeys
    from dangan.services import attachments
    from dangan.services.initvault import init_vault
    from dangan.store.attached import recipients_digest

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    source_name = str(vault.config.get("name") or vault.root.name)
    name = f"{source_name} {prefix} 移交 handover {now.date().isoformat()}"
    timezone = str(vault.config.get("timezone") or "UTC")
    step("records")
    target = init_vault(partial, name, recipients, timezone)
    if any(vault.schemas.categories[i.code.category].level_of(i.stored) == "secret" for i in items):
        # the receiving party takes the secret records over: all its recipients read them
        # (it names its own readers afterwards), so the exported vault says so
        target.config["readers"] = {"secret": [str(r["name"]) for r in recipients]}
        changes_config: bytes | None = dump(target.config).encode("utf-8")
    else:
        changes_config = None
    keys = [r["key"] for r in recipients]
    age_keys = [agekeys.parse_recipient(k).key for k in keys]
    digest = recipients_digest(keys)
    inside = {str(i.code) for i in items}
    changes: dict[str, bytes | Path | None] = {}
    records: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    outside: list[dict[str, str]] = []
    try:
        for item in items:
            code = item.code
            plain = sealing.open_document(str(code), item.stored, vault.keyring)
            tree, dropped = _drop_outside(plain, inside, str(code))
            outside += dropped
            entries = listed(tree)
            renewed = []
            for entry in entries:
                rel = path_of(code, str(entry.get("file")))
                if rel not in attachment_files or not (vault.root / rel).is_file():
                    raise DanganError(Message("{code}: listed attachment {rel} is not committed (DG115)", code=code, rel=rel),
                                      Message("run `dangan check --all` and settle it first"))
                sealed = attachments.reseal_file(vault.root / rel, partial / folder_of(code), str(entry["file"]),
                                                 identities, age_keys, f"{code} {entry['file']}")
                changes[rel] = sealed.temp
                renewed.append({**entry, "size": sealed.size, "sha256": sealed.sha256, "recipients": digest})
                files.append({"record": str(code), "file": str(entry["file"]), "path": rel,
                              "source_blob": attachment_files[rel], "size": sealed.size,
                              "sha256": sealed.sha256})
            if renewed:
                tree["attachments"] = renewed
            category = target.schemas.categories[code.category]
            level = category.level_of(tree)
            if "sops" not in item.stored and tree == plain:
                data = item.data  # a clear record unchanged: its bytes, comments and all
            else:
                data = dump(sealing.seal_checked(code, tree, category.names_for(level),
                                                 target.recipient_keys(code.category, level))).encode("utf-8")
            changes[item.path] = data
            records.append({"code": str(code), "path": item.path, "category": code.category,
                            "title": SECRET_MASK if level == "secret" else str(tree.get("title", "")),
                            "source_blob": item.blob,
                            "blob": blob_id(data), "attachments": len(renewed)})
        manifest = {
            "format": FORMAT,
            "source": {"vault": source_name, "id": str(vault.config.get("id") or ""), "commit": head,
                       "timezone": timezone},
            "vault": {"name": name, "id": str(target.config["id"])},
            "prefix": str(prefix),
            "exported_at": now.isoformat().replace("+00:00", "Z"),
            "exported_by": gitio.author_name(vault.root),
            "recipients": [{"name": r["name"], "key": r["key"]} for r in recipients],
            "records": records,
            "attachments": files,
            "outside_refs": outside,
        }
        changes[MANIFEST] = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        if changes_config is not None:
            changes["vault.yaml"] = changes_config
        step("commit")
        message = f"dangan handover export: {len(records)} record(s) under {prefix} from {source_name} at {head[:12]}"
        try:
            attachments.transact(target, changes, message)
        except DanganError as exc:  # the new vault's own hook: what the source holds fails its rules
            raise Refusal(Message("the exported vault's commit was refused: {message}", message=exc.message),
                          Message("nothing was kept; `dangan check --all` in this vault lists what to fix first")) from None
    except BaseException:
        attachments.discard_temps(changes.values())
        raise
    steps = verify_export(partial, manifest, keys, on_step)
    # the records leave the company, readable by others: the access journal says who sent
    # which, before the export is put in place (a journal that cannot be written stops it)
    from dangan.store import journal

    journal.note(vault.root, "handover export", [r["code"] for r in records],
                 files=[f["path"] for f in files], tz=vault.tz)
    os.replace(partial, out)  # onto an empty folder, or a new name: either is atomic
    return Exported(out, manifest, steps)


# -------------------------------------------------------------------- verification

def verify_export(root: Path, manifest: dict[str, Any], keys: list[str],
                  on_step: OnStep | None = None) -> list[tuple[str, str]]:
    """The backup's proof for an exported vault (its HEAD, from Git objects): a failed step
    is a Refusal naming it. `keys`: the recipients every sealed file must have, exactly."""
    done: list[tuple[str, str]] = []
    for name, check in (("fsck", lambda: _fsck(root)), ("files", lambda: _files(root, manifest)),
                        ("recipients", lambda: _recipients(root, manifest, keys)),
                        ("check", lambda: _check(root))):
        if on_step is not None:
            on_step(name)
        try:
            done.append((name, check()))
        except _Failed as exc:
            raise Refusal(Message("the exported vault failed its verification at {step}: {exc}", step=exc.step, exc=exc),
                          Message("nothing was kept; fix what it names and export again")) from None
    return done


def _fsck(root: Path) -> str:
    proc = gitio.run(["fsck", "--full", "--no-dangling", "--no-progress"], root, check=False)
    if proc.returncode != 0:
        text = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
        raise _Failed("fsck", f"git fsck --full: {text[0] if text else 'failed'}")
    return "git fsck --full: clean"


def _files(root: Path, manifest: dict[str, Any]) -> str:
    """HEAD holds exactly what the manifest lists under vault/, with the blob ids it gives,
    the manifest itself, and what `dangan init` lays out; nothing else."""
    entries = {e.path: e.blob for e in gitio.ls_tree(root, "HEAD")}
    problems = files_problems(entries, manifest, root)
    if problems:
        raise _Failed("files", problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return f"{len(manifest['records'])} record(s), {len(manifest['attachments'])} attachment(s), as the manifest lists"


def files_problems(entries: dict[str, str], manifest: dict[str, Any], root: Path) -> list[str]:
    """What differs between a tree (path -> blob id) and a manifest: shared with import."""
    from dangan.store.attached import measure_blobs

    problems = []
    wanted = {r["path"]: r["blob"] for r in manifest["records"]}
    files = {a["path"]: a for a in manifest["attachments"]}
    under = {p: b for p, b in entries.items() if p.startswith(f"{RECORDS}/")}
    for path in sorted(set(under) - set(wanted) - set(files)):
        problems.append(f"{path} is in the exported vault but not in its manifest")
    for path, blob in sorted(wanted.items()):
        if path not in under:
            problems.append(f"{path} is in the manifest but not in the exported vault")
        elif under[path] != blob:
            problems.append(f"{path} is not the version the manifest names (blob {under[path][:12]}, "
                            f"manifest {blob[:12]})")
    facts = measure_blobs(root, [under[p] for p in files if p in under])
    for path, entry in sorted(files.items()):
        stored = facts.get(under.get(path, ""))
        if stored is None:
            problems.append(f"{path} is in the manifest but not in the exported vault")
        elif (stored.sha256, stored.size) != (entry["sha256"], entry["size"]):
            problems.append(f"{path} does not match the SHA-256 and size the manifest lists")
    for path in sorted(entries):
        if path.startswith(LAID_OUT_DIRS) or path in LAID_OUT:
            continue
        problems.append(f"{path} is not part of an exported vault")
    return problems


def _recipients(root: Path, manifest: dict[str, Any], keys: list[str]) -> str:
    """Every sealed record's data key is wrapped for exactly `keys`; every attachment's age
    header has one stanza per key, of its type (an X25519 stanza does not name its
    recipient, an SSH one shows a tag: the most a header tells without a private key)."""
    from dangan.formats import agekeys, sops

    wanted = {agekeys.parse_recipient(k).text for k in keys}
    stanzas = sorted(agekeys.stanza_of(agekeys.parse_recipient(k)) for k in keys)
    entries = {e.path: e.blob for e in gitio.ls_tree(root, "HEAD", [f"{RECORDS}/"])}
    sealed = 0
    blobs = dict(gitio.cat_blobs(root, [entries[r["path"]] for r in manifest["records"]]))
    for record in manifest["records"]:
        doc = load_text(decode(blobs[entries[record["path"]]]))
        if "sops" not in doc:
            continue
        try:
            have = [r for r, _ in sops.Metadata.from_dict(doc["sops"]).age]
        except sops.SopsError as exc:
            raise _Failed("recipients", f"{record['path']}: {exc}") from None
        if set(have) != wanted or len(have) != len(wanted):
            raise _Failed("recipients", f"{record['path']} is sealed for other keys than the receiving party's")
        sealed += 1
    heads = dict(gitio.cat_blobs(root, [entries[a["path"]] for a in manifest["attachments"]]))
    for item in manifest["attachments"]:
        found = agekeys.header_stanzas(heads[entries[item["path"]]][:64 * 1024])
        if found is None:
            raise _Failed("recipients", f"{item['path']}: not an age file")
        have = sorted(s[:2] if s[0].startswith("ssh-") else s[:1] for s in found if s)  # grease left out
        if have != stanzas:
            raise _Failed("recipients", f"{item['path']} is encrypted for other keys than the receiving party's")
    return (f"{sealed} sealed record(s) and {len(manifest['attachments'])} attachment(s) "
            f"for exactly the {len(keys)} key(s) given")


def _check(root: Path) -> str:
    """`dangan check --all` of the exported vault's HEAD; any finding fails the export."""
    from dangan.services.scan import check_tree

    result = check_tree(root, "HEAD", None)
    if result.findings:
        first = result.findings[0]
        raise _Failed("check", f"{len(result.findings)} finding(s), first: {first.path}: {first.rule} {first.message}")
    return f"dangan check --all: {result.checked} file(s), clean"


def read_manifest(root: Path, rev: str | None = "HEAD") -> dict[str, Any]:
    """The manifest of an exported vault, from its commit `rev` (or the work tree: None)."""
    try:
        data = gitio.file_at(root, rev, MANIFEST) if rev is not None else (root / MANIFEST).read_bytes()
    except (OSError, DanganError):
        data = None
    if data is None:
        raise DanganError(Message("{root} has no committed {MANIFEST}: not an exported vault", root=root, MANIFEST=MANIFEST),
                          Message("give the folder `dangan handover export` made"))
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DanganError(Message("{MANIFEST} is not readable JSON ({exc})", MANIFEST=MANIFEST, exc=exc), _MANIFEST_HINT) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DanganError(Message("{MANIFEST} is not a handover manifest ({FORMAT})", MANIFEST=MANIFEST, FORMAT=FORMAT), _MANIFEST_HINT)
    for key, kind in (("source", dict), ("vault", dict), ("prefix", str), ("records", list),
                      ("attachments", list), ("outside_refs", list), ("recipients", list)):
        if not isinstance(manifest.get(key), kind):
            raise DanganError(Message("{MANIFEST}: `{key}` is missing or malformed", MANIFEST=MANIFEST, key=key), _MANIFEST_HINT)
    for record in manifest["records"]:
        if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in
                                                   ("code", "path", "category", "title", "source_blob", "blob")):
            raise DanganError(Message("{MANIFEST}: a malformed record entry", MANIFEST=MANIFEST), _MANIFEST_HINT)
        try:
            if parse_code(record["code"]).path != record["path"]:
                raise DanganError(Message("{MANIFEST}: {value} is not at {value2}", MANIFEST=MANIFEST, value=record['code'], value2=record['path']), _MANIFEST_HINT)
        except CodeError as exc:
            raise DanganError(Message("{MANIFEST}: {message}", MANIFEST=MANIFEST, message=exc.message), _MANIFEST_HINT) from None
    for item in manifest["attachments"]:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("record", "file", "path", "sha256")) \
                or not isinstance(item.get("size"), int):
            raise DanganError(Message("{MANIFEST}: a malformed attachment entry", MANIFEST=MANIFEST), _MANIFEST_HINT)
    return manifest
