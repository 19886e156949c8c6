"""Role acts and who may sign them (DG119, docs/signing.md). Pure: trees in, findings out.

A *role act* is a change whose authority comes from a role that vault.yaml gives a person:

- a loan (JY) approved or rejected: an appended `approve`/`reject` event, by an approver;
- a legal hold (BQ) created, released or extended: each appended event, by an approver;
- a record's retention extended (`retention` added or changed on any record), by an approver;
- the approval of a destruction (a `dangan retention approve` commit), by an approver;
- a destruction carried out (a disposal certificate XH added), by the archivist named in it;
- a handover (a YJ with status handed_over added, `dangan handover record`), by the
  archivist named in it as having handed the records over (`handed_over_by`): it licenses
  the removal of every record it lists, as a certificate does;
- any change of `vault.yaml` (recipients, roles, rules) or of `schemas/`, by an approver.

When the vault.yaml of the parent commit says `signed_role_acts: true`, the commit that
carries a role act must be SSH-signed with a signing key that *that* vault.yaml gives to the
person named in the act (or, for an act that names nobody, to any holder of the role): a
role granted in the same push grants nothing yet. The services judge the signature
(services/signing.py); this module says which acts a change carries and whether a key may
sign them. It reads only clear fields (`events[].action`, `by`, `carried_out_by`,
`retention`), so a checker without any decryption key judges it, as the server does.
"""
from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dangan.formats import sshsig
from dangan.i18n import Message

APPROVER = "approver"
ARCHIVIST = "archivist"
LOAN, HOLD, DISPOSAL, HANDOVER = "JY", "BQ", "XH", "YJ"
LOAN_DECISIONS = frozenset({"approve", "reject"})
# the trailers of an approval commit (`dangan retention approve`)
ACT_TRAILER = "Dangan-Act"
APPROVAL = "retention-approve"


@dataclass(frozen=True)
class Act:
    role: str  # APPROVER or ARCHIVIST
    person: str | None  # who the act names; None: any holder of the role may sign it
    path: str  # the file that carries it (vault/..., vault.yaml, schemas/...; "" for a commit)
    what: str  # how a finding names it: "JY-0003 event 2 (approve by 陳立新)"


def required(config: Mapping[str, Any] | None) -> bool:
    """Whether role acts must be signed under this vault.yaml (an unreadable one: yes)."""
    if config is None:
        return True
    return config.get("signed_role_acts") is True


def _events(tree: Mapping[str, Any] | None) -> list[Any]:
    events = (tree or {}).get("events")
    return list(events) if isinstance(events, list) else []


def record_acts(path: str, code: str, category: str, old: Mapping[str, Any] | None,
                new: Mapping[str, Any] | None) -> list[Act]:
    """The role acts of one record's change (old/new: its trees, None when absent)."""
    if new is None:
        return []  # a removal is judged with the certificate that lists it
    acts: list[Act] = []
    if category in (LOAN, HOLD):
        before = len(_events(old))
        for number, event in enumerate(_events(new)[before:], before + 1):
            if not isinstance(event, dict):
                continue
            action, by = str(event.get("action")), event.get("by")
            if category == LOAN and action not in LOAN_DECISIONS:
                continue  # hand-over, renewal and return are the archivist's daily work
            person = by if isinstance(by, str) and by else None
            acts.append(Act(APPROVER, person, path, Message("{code} event {number} ({action} by {by})",
                                                       code=code, number=number, action=action, by=by)))
    if category == DISPOSAL and old is None:
        by = new.get("carried_out_by")
        person = by if isinstance(by, str) and by else None
        acts.append(Act(ARCHIVIST, person, path, Message("{code} (destruction carried out by {by})",
                                                        code=code, by=by)))
    if category == DISPOSAL:  # a crypto-shred appended (`dangan keys shred`, docs/shredding.md §4)
        shreds = new.get("shreds")
        before = (old or {}).get("shreds")
        done = len(before) if isinstance(before, list) else 0
        for shred in (shreds if isinstance(shreds, list) else [])[done:]:
            by = shred.get("by") if isinstance(shred, dict) else None
            person = by if isinstance(by, str) and by else None
            acts.append(Act(ARCHIVIST, person, path, Message("{code} (shred of epoch {epoch} by {by})", code=code,
                                                            epoch=shred.get("epoch") if isinstance(shred, dict) else None,
                                                            by=by)))
    if category == HANDOVER and old is None and new.get("status") == "handed_over":
        # a receipt (status received) licenses nothing: it records what came in
        by = new.get("handed_over_by")
        person = by if isinstance(by, str) and by else None
        acts.append(Act(ARCHIVIST, person, path, Message("{code} (handover to {to} by {by})",
                                                        code=code, to=new.get("to"), by=by)))
    kept = new.get("retention")
    if kept is not None and kept != (old or {}).get("retention"):
        until = kept.get("until") if isinstance(kept, dict) else kept
        acts.append(Act(APPROVER, None, path, Message("{code} retention kept until {until}",
                                                      code=code, until=until)))
    return acts


def config_act(path: str, old: Any, new: Any) -> list[Act]:
    """A change of vault.yaml or of a schema (its tree, None when absent). The first
    vault.yaml of a vault is trusted as created: adding it is no act."""
    if old is None and path == "vault.yaml":
        return []
    if old == new:
        return []  # the same settings written differently
    return [Act(APPROVER, None, path, Message("{path} changed", path=path))]


def trailers(message: str) -> dict[str, str]:
    """The `Key: value` lines of a commit message's last paragraph (git's trailers)."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    found: dict[str, str] = {}
    if not paragraphs:
        return found
    for line in paragraphs[-1].splitlines():
        key, sep, value = line.partition(": ")
        if sep and key and " " not in key:
            found[key] = value.strip()
    return found


def approval_act(message: str) -> list[Act]:
    """An approval commit (`dangan retention approve`) is an approver's act."""
    found = trailers(message)
    if found.get(ACT_TRAILER) != APPROVAL:
        return []
    by = found.get("Dangan-By") or None
    return [Act(APPROVER, by, "", f"approval of a destruction (plan {found.get('Dangan-Plan', '?')}, by {by})")]


@dataclass(frozen=True)
class Holder:
    name: str
    roles: frozenset[str]
    keys: tuple[sshsig.PublicKey, ...]


def holders(config: Mapping[str, Any] | None) -> list[Holder]:
    """Each recipient with its roles and signing keys (`signing_key`, or `key` when that is
    an SSH key). A key that cannot be read signs nothing (DG114 reports vault.yaml)."""
    out = []
    for entry in (config or {}).get("recipients") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        keys = []
        given = entry.get("signing_key")
        text = given if given is not None else entry.get("key")  # signing_key replaces key
        if isinstance(text, str) and text.startswith("ssh-"):
            with contextlib.suppress(sshsig.SignatureError):
                keys.append(sshsig.parse_public_key(text))
        roles = entry.get("roles") if isinstance(entry.get("roles"), list) else []
        out.append(Holder(entry["name"], frozenset(str(r) for r in roles), tuple(keys)))
    return out


def signer_problem(config: Mapping[str, Any] | None, act: Act, signer: sshsig.PublicKey | None,
                   signed_note: str = "") -> str | None:
    """Why `signer` may not sign `act` under `config` (the parent commit's vault.yaml), or
    None when it may. `signer` None: the commit is not signed (`signed_note` says more)."""
    people = holders(config)
    if act.person is not None:
        named = [h for h in people if h.name == act.person]
        with_role = [h for h in named if act.role in h.roles]
        if not with_role:
            if named:
                return Message("{act}: {person} does not have the {role} role in the parent commit's "
                               "vault.yaml", act=act.what, person=act.person, role=act.role)
            return Message("{act}: {person} is not among its recipients in the parent commit's vault.yaml",
                           act=act.what, person=act.person)
        allowed = [k for h in with_role for k in h.keys]
        whose: str = act.person
    else:
        allowed = [k for h in people if act.role in h.roles for k in h.keys]
        whose = Message("a holder of the {role} role", role=act.role)
    if not allowed:
        return Message("{act}: the parent commit's vault.yaml gives {whose} no signing key "
                       "(recipients[].signing_key)", act=act.what, whose=whose)
    if signer is None:
        return Message("{act} is a role act, but the commit is not signed{note}; it must be signed by {whose}",
                       act=act.what, note=signed_note, whose=whose)
    if signer not in allowed:
        return Message("{act} is signed by {key}, which the parent commit's vault.yaml does not give to "
                       "{whose}", act=act.what, key=signer.fingerprint(), whose=whose)
    return None


def problems(config: Mapping[str, Any] | None, acts: Sequence[Act], signer: sshsig.PublicKey | None,
             signed_note: str = "") -> list[tuple[str, str]]:
    """(path, message) for each act the signer may not sign, when signing is required."""
    if not acts or not required(config):
        return []
    found = []
    for act in acts:
        problem = signer_problem(config, act, signer, signed_note)
        if problem:
            found.append((act.path, problem))
    return found
