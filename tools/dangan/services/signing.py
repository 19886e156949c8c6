"""Signed role acts (DG119, docs/signing.md): judging a history's signatures, and signing
a writer's commits.

Judging (`history_findings`, called by `scan.check_commits` for `check --range`, pre-push
and pre-receive): for each commit, the role acts it carries (`rules.acts`) are judged with
the vault.yaml of its first parent (a root commit: its own, "trusted as created"), and its
SSH signature (`formats.sshsig`, no ssh-keygen started) must be by a key that vault.yaml
gives to the person the act names. A merge carries only what it changed against every
parent (what came from a branch was judged in the branch's own commits). A certificate
(XH) names the approval it carries out; the approval must be an earlier commit of the
history, made by the approver the certificate names, listing every record destroyed.

Signing (`Signing`, set on the vault by the CLI; `store.vault.Vault.apply` calls it around
each commit): before the commit, the acts of the change are worked out against HEAD's
vault.yaml and the signer's key is checked, so that a commit the server would refuse is
never made; after it, dangan signs the commit itself when given a key file (`--sign-key`,
`DANGAN_SIGNING_KEY`), or git signed it with the user's own SSH signing settings.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dangan import i18n
from dangan.errors import DanganError, Refusal
from dangan.formats import sshsig
from dangan.formats.yamlio import YamlError, decode, load_text
from dangan.git import gitio
from dangan.i18n import Message
from dangan.i18n import shown as in_language
from dangan.model.codes import CodeError, path_to_code
from dangan.rules import acts as role_acts
from dangan.rules.changes import parse_raw
from dangan.rules.check import Finding
from dangan.store.vault import CONFIG, RECORDS

SCHEMAS = "schemas/"
WATCHED = (RECORDS + "/", CONFIG, SCHEMAS)
SIGN_HINT = ("give your SSH signing key: `--sign-key FILE` or DANGAN_SIGNING_KEY=FILE, or configure git's SSH "
             "signing (git config gpg.format ssh; git config user.signingKey ~/.ssh/id_ed25519.pub); "
             "docs/signing.md")


# ----------------------------------------------------------------------- commits

@dataclass
class CommitInfo:
    id: str
    parents: list[str]
    message: str
    raw: bytes


def parse_commit(commit_id: str, raw: bytes) -> CommitInfo:
    head, _, body = raw.partition(b"\n\n")
    parents = [line[7:].decode() for line in head.split(b"\n") if line.startswith(b"parent ")]
    return CommitInfo(commit_id, parents, body.decode("utf-8", "replace"), raw)


def _tree(path: str, data: bytes | None) -> Any:
    """A file's tree for comparing versions: YAML records and vault.yaml, JSON schemas;
    bytes that do not parse compare as bytes."""
    if data is None:
        return None
    try:
        if path.endswith(".json"):
            return json.loads(data)
        return load_text(decode(data))
    except (YamlError, ValueError):
        return data


class Configs:
    """vault.yaml at each commit asked for, read once (`known`: already read, e.g. by the
    file rules of the same range; None for one that is missing or unreadable)."""

    def __init__(self, root: Path, known: Mapping[str, dict[str, Any] | None] | None = None) -> None:
        self.root = root
        self.cache: dict[str, dict[str, Any] | None] = dict(known or {})

    def at(self, commit: str) -> dict[str, Any] | None:
        if commit not in self.cache:
            data = gitio.file_at(self.root, commit, CONFIG)
            tree = _tree(CONFIG, data) if data is not None else None
            self.cache[commit] = tree if isinstance(tree, dict) else None
        return self.cache[commit]


def _changed(root: Path, base: str | None, commit: str) -> dict[str, tuple[str | None, str | None]]:
    """path -> (old blob, new blob) of what `commit` changed against `base` (watched paths)."""
    args = ["diff-tree", "--no-commit-id", "-r", "-z", "--raw", "--no-renames"]
    if base is None:
        args.append("--root")
        spec = [commit]
    else:
        spec = [base, commit]
    raw = gitio.run([*args, *spec, "--", *WATCHED], root).stdout
    return {c.path: (c.old, c.new) for c in parse_raw(raw)}


def change_acts(path_blobs: Mapping[str, tuple[bytes | None, bytes | None]]) -> list[role_acts.Act]:
    """The role acts of a change given as path -> (old bytes, new bytes). Only ledgers and
    settings are parsed, and a record whose bytes name no `retention:` (no override to
    extend): the others carry no act."""
    found: list[role_acts.Act] = []
    for path, (old, new) in sorted(path_blobs.items()):
        if not path.endswith((".yaml", ".json")):
            continue  # an attachment
        if not _worth_reading(path) and b"retention:" not in (old or b"") + (new or b""):
            continue
        if path == CONFIG or path.startswith(SCHEMAS):
            found += role_acts.config_act(path, _tree(path, old), _tree(path, new))
            continue
        try:
            code = path_to_code(path)
        except CodeError:
            continue  # an attachment or a stray file: no act
        old_tree, new_tree = _tree(path, old), _tree(path, new)
        found += role_acts.record_acts(path, str(code), code.category,
                                       old_tree if isinstance(old_tree, dict) else None,
                                       new_tree if isinstance(new_tree, dict) else None)
    return found


def _worth_reading(path: str) -> bool:
    """Whether a changed path may carry an act whatever its content: ledgers, settings."""
    if path == CONFIG or path.startswith(SCHEMAS):
        return True
    parts = path.split("/")
    return len(parts) > 1 and parts[1] in (role_acts.LOAN, role_acts.HOLD, role_acts.DISPOSAL, role_acts.HANDOVER)


def _acts_of(root: Path, info: CommitInfo, changed: dict[str, tuple[str | None, str | None]]
             ) -> list[role_acts.Act]:
    for other in info.parents[1:]:  # a merge carries what it changed against every parent
        theirs = _changed(root, other, info.id)
        changed = {p: blobs for p, blobs in changed.items() if p in theirs}
    data = dict(gitio.cat_blobs(root, {b for pair in changed.values() for b in pair if b}))
    found = change_acts({path: (data.get(old) if old else None, data.get(new) if new else None)
                         for path, (old, new) in changed.items()})
    if len(info.parents) <= 1:  # a merge's message approves nothing
        found += role_acts.approval_act(info.message)
    return found


def in_commit(message: str, commit: str) -> Message:
    """A finding's message with the (short) commit it was found in."""
    return Message("{message} (commit {commit})", message=message, commit=commit)


def signer_of(info: CommitInfo) -> tuple[sshsig.PublicKey | None, str]:
    """The key that signed a commit, and a note when there is none or it is invalid."""
    try:
        key = sshsig.verify_commit(info.raw)
    except sshsig.SignatureError as exc:
        return None, Message(" validly (its signature: {reason})", reason=str(exc))
    return key, ""


def history_findings(root: Path, commits: list[tuple[str | None, str]],
                     configs: Mapping[str, dict[str, Any] | None] | None = None,
                     certificates_added: set[str] | None = None) -> list[Finding]:
    """DG119 for each commit of a history (`check --range`, pre-push, pre-receive), and the
    approval that each certificate added there names (DG119 too).

    `configs`: vault.yaml of commits already read (scan.check_commits reads each commit's);
    `certificates_added`: the commits that add a certificate, when the caller knows. Where
    vault.yaml does not ask for signatures and no certificate is added, a commit costs
    nothing more than its vault.yaml."""
    if not commits:
        return []
    raws = gitio.commit_objects(root, [c for _, c in commits])
    read = Configs(root, configs)
    findings: list[Finding] = []
    for _parent, commit in commits:
        info = parse_commit(commit, raws[commit])
        base = info.parents[0] if info.parents else commit  # a root: its own, trusted as created
        config = read.at(base)
        need = role_acts.required(config)
        if not need and certificates_added is not None and commit not in certificates_added:
            continue
        changed = _changed(root, info.parents[0] if info.parents else None, commit)
        short = commit[:10]
        if need:
            acts = _acts_of(root, info, changed)
            signer, note = signer_of(info) if acts else (None, "")
            for path, message in role_acts.problems(config, acts, signer, note):
                findings.append(Finding(path or CONFIG, "DG119", in_commit(message, short)))
        findings += [Finding(p, "DG119", in_commit(m, short))
                     for p, m in certificate_approvals(root, info, changed, need, read)]
    return findings


# ------------------------------------------------------------------ approvals

@dataclass
class Approval:
    commit: str
    by: str | None
    plan: str | None
    as_of: str | None
    listed: dict[str, str] = field(default_factory=dict)  # code -> blob


def read_approval(info: CommitInfo) -> Approval | None:
    """The approval a commit records (`dangan retention approve`), or None."""
    found = role_acts.trailers(info.message)
    if found.get(role_acts.ACT_TRAILER) != role_acts.APPROVAL:
        return None
    listed = {}
    for line in info.message.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[1]) in (40, 64) and "-" in parts[0]:
            listed[parts[0]] = parts[1]
    return Approval(info.id, found.get("Dangan-By"),
                    found.get("Dangan-Plan"), found.get("Dangan-As-Of"), listed)


def approval_problems(root: Path, certificate: Mapping[str, Any], code: str, side: str,
                      configs: Configs | None = None, need_signature: bool = False) -> list[str]:
    """Why the approval a certificate names does not back it (empty: it does). `side` is
    the commit that adds the certificate (or HEAD, for one about to be made)."""
    ref = certificate.get("approval")
    if not isinstance(ref, str):
        return [Message("{code} names no approval: a destruction carries out an approval that the approver "
                        "made and signed (`dangan retention approve`)", code=code)] if need_signature else []
    if not gitio.has_object(root, ref) or gitio.object_types(root, [ref]) != ["commit"]:
        return [Message("{code} names the approval {value}, which is not a commit of this repository", code=code, value=ref[:10])]
    if not gitio.is_ancestor(root, ref, side):
        return [Message("{code} names the approval {value}, which is not an earlier commit of its history", code=code, value=ref[:10])]
    info = parse_commit(ref, gitio.commit_objects(root, [ref])[ref])
    approval = read_approval(info)
    if approval is None:
        return [Message("{code} names {value} as its approval, but that commit approves nothing (it has no Dangan-Act: retention-approve)", code=code, value=ref[:10])]
    problems = []
    if approval.by != certificate.get("approved_by"):
        problems.append(Message("{code} says it was approved by {value}, but its approval {value2} was made by {by}", code=code, value=certificate.get('approved_by'), value2=ref[:10], by=approval.by))
    if approval.as_of != certificate.get("plan_as_of"):
        problems.append(Message("{code} carries out a plan as of {value}, but its approval {value2} approved one as of {as_of}", code=code, value=certificate.get('plan_as_of'), value2=ref[:10], as_of=approval.as_of))
    items = certificate.get("items") if isinstance(certificate.get("items"), list) else []
    unlisted = [str(i.get("code")) for i in items
                if isinstance(i, dict) and approval.listed.get(str(i.get("code"))) != i.get("blob")]
    if unlisted:
        problems.append(Message("{code} destroys {count} record(s) that its approval {value} does not list as approved in that version: {value2}", code=code, count=len(unlisted), value=ref[:10], value2=', '.join(unlisted[:5])))
    if need_signature and configs is not None:
        config = configs.at(info.parents[0] if info.parents else ref)
        signer, note = signer_of(info)
        for _path, message in role_acts.problems(config, role_acts.approval_act(info.message), signer, note):
            problems.append(Message("{code} carries out approval {value}: {message}", code=code, value=ref[:10], message=message))
    return problems


def certificate_approvals(root: Path, info: CommitInfo, changed: dict[str, tuple[str | None, str | None]],
                          need: bool, configs: Configs) -> list[tuple[str, str]]:
    """(path, message) for each certificate a commit adds whose approval does not back it
    (`need`: signatures are required, so a certificate must name a signed approval)."""
    added = [(p, new) for p, (old, new) in changed.items()
             if old is None and new and p.startswith(f"{RECORDS}/{role_acts.DISPOSAL}/")]
    if not added:
        return []
    out = []
    data = dict(gitio.cat_blobs(root, [b for _, b in added]))
    for path, blob in added:
        tree = _tree(path, data[blob])
        if not isinstance(tree, dict):
            continue
        for message in approval_problems(root, tree, str(tree.get("code", path)), info.id, configs, need):
            out.append((path, message))
    return out


# ------------------------------------------------------------------- signing

@dataclass
class Token:
    key: sshsig.PrivateKey | None  # dangan signs with it
    git_signs: bool  # git signs (the user's own SSH signing settings)


class Signing:
    """What a writing command does about signatures; `Vault.apply` calls `prepare` before
    and `finish` after its commit."""

    def __init__(self, key_file: Path | None = None) -> None:
        given = key_file or (Path(os.environ["DANGAN_SIGNING_KEY"]) if os.environ.get("DANGAN_SIGNING_KEY") else None)
        self.key_file = given
        self._key: sshsig.PrivateKey | None = None

    def private_key(self) -> sshsig.PrivateKey | None:
        if self.key_file is None:
            return None
        if self._key is None:
            try:
                data = self.key_file.read_bytes()
            except OSError as exc:
                raise DanganError(Message("cannot read the signing key {key_file}: {strerror}", key_file=self.key_file, strerror=exc.strerror),
                                  Message("give the file of your SSH private key (e.g. ~/.ssh/id_ed25519)")) from None
            try:
                self._key = sshsig.load_private_key(data, str(self.key_file))
            except sshsig.SignatureError as exc:
                raise DanganError(Message("{key_file}: {exc}", key_file=self.key_file, exc=exc), SIGN_HINT) from None
        return self._key

    def git_key(self, root: Path) -> tuple[bool, sshsig.PublicKey | None]:
        """Whether git is set up to sign with SSH, and its public key when it can be told."""
        if (gitio.config_get(root, "gpg.format") or "").lower() != "ssh":
            return False, None
        value = gitio.config_get(root, "user.signingKey")
        if not value:
            return False, None
        if value.startswith("key::"):
            text = value[5:]
        else:
            path = Path(os.path.expanduser(value))
            candidates = [path] if path.suffix == ".pub" else [path, path.with_name(path.name + ".pub")]
            text = ""
            for candidate in candidates:
                try:
                    first = candidate.read_text("utf-8", "replace").strip()
                except OSError:
                    continue
                if first.startswith("ssh-"):
                    text = first
                    break
        try:
            return True, sshsig.parse_public_key(text) if text else None
        except sshsig.SignatureError:
            return True, None

    def prepare(self, root: Path, changes: Mapping[str, bytes | None], message: str) -> Token | None:
        """Check that the commit about to be made can be signed as its role acts require;
        the Token says who signs. Raises (nothing is committed) when it cannot."""
        head = gitio.head(root)
        if head is None:
            return None  # the first commit: its vault.yaml is trusted as created
        config_data = gitio.file_at(root, head, CONFIG)
        config = _tree(CONFIG, config_data) if config_data is not None else None
        config = config if isinstance(config, dict) else None
        key = self.private_key()
        git_signs, git_public = (False, None) if key is not None else self.git_key(root)
        needed = role_acts.required(config)
        if not needed and key is None:
            return None
        acts = self.acts(root, head, changes, message) if needed else []
        if acts:
            signer = key.public if key is not None else git_public
            if key is None and not git_signs:
                first = acts[0]
                raise DanganError(Message("{what} is a role act and vault.yaml says signed_role_acts: true; the commit must be signed", what=first.what), SIGN_HINT)
            if signer is not None:
                problems = role_acts.problems(config, acts, signer)
                if problems:
                    raise Refusal("DG119 " + i18n._("; ").join(in_language(m) for _path, m in problems[:3]),
                                  Message("sign with the key vault.yaml gives to the person named (recipients[].signing_key); nothing was written"))
        return Token(key, git_signs and key is None)

    @staticmethod
    def acts(root: Path, head: str, changes: Mapping[str, bytes | None], message: str) -> list[role_acts.Act]:
        """The role acts of the commit about to be made on `head`."""
        watched = [p for p in changes if p == CONFIG or p.startswith((SCHEMAS, RECORDS + "/"))]
        wanted = set(watched)
        blobs = {e.path: e.blob for e in (gitio.ls_tree(root, head, watched) if watched else [])
                 if e.path in wanted}
        data = dict(gitio.cat_blobs(root, blobs.values()))
        return (change_acts({path: (data.get(blobs[path]) if path in blobs else None, changes[path])
                             for path in watched})
                + role_acts.approval_act(message))

    def finish(self, root: Path, commit: str, token: Token | None) -> str:
        """Sign the new commit with dangan's key (git signed it already otherwise)."""
        if token is None or token.key is None:
            return commit
        raw = gitio.commit_objects(root, [commit])[commit]
        signed = sshsig.sign_commit(raw, token.key)
        new = gitio.write_commit(root, signed)
        gitio.move_head(root, new, commit, "dangan: signed")
        return new
