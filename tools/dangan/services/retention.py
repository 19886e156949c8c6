"""Retention and destruction (保管期限與銷毀): schedules, plans, holds, certificates
(plan §5.3; docs/retention.md).

- The schedule: each category's rule from vault.yaml `retention` (`keep` an ISO 8601
  duration or `permanent`, `after` the field that starts the clock, `action`); a category
  without a rule is kept permanently (nothing is destroyed that nobody decided on).
- Due date = trigger + keep (month-end clamping, see `add_duration`), or the record's
  `retention.until` override if that is later.
- A plan (`make_plan`) reads the committed vault (HEAD) and lists what is due as of a day
  and, with the reason, what is kept although its rule alone would not keep it: held (BQ),
  on loan (JY out), `retention.until`, no trigger date, permanent.
- `appraise_plan` records the appraisal (鑒定, JD-nnnn) of a plan's records: destroy, or
  keep until a new date (the record's `retention.until`, in the same commit);
- `apply_plan` re-checks a plan, writes the disposal certificate XH-nnnn and removes the
  records in one commit; `hold`, `release`, `extend` change the records that keep others.
- `certificate_problems` and `certificate_conflicts` are DG112, called by the check engine.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dangan import i18n
from dangan.errors import DanganError, Refusal
from dangan.formats.yamlio import YamlError, decode, dump, load_text
from dangan.git import gitio
from dangan.i18n import Message
from dangan.i18n import shown as in_language
from dangan.model.codes import Code, CodeError, Location, parse_code, parse_location, path_to_code
from dangan.model.disposal import (
    APPRAISAL,
    DISPOSAL,
    HOLD,
    LOAN,
    NO_TRIGGER,
    OVERRIDE,
    PERMANENT,
    PLAN_FORMAT,
    Assessment,
    Keepers,
    Rule,
    _why,
    add_duration,
    assess,
    hold_active,
    people_with,
    role_problems,
    rule_for,
    schedule,
    to_day,
    witness_problems,
)
from dangan.model.timeutil import record_time, stamp
from dangan.rules.acts import ACT_TRAILER, APPROVAL, required
from dangan.rules.changes import handed_over_on
from dangan.services import records, signing
from dangan.store.vault import Vault

if TYPE_CHECKING:
    from dangan.store.sealing import Keyring

# ------------------------------------------------------------------ the vault at HEAD

@dataclass
class Committed:
    """The records of the last commit: (code, path, blob), and their trees on demand."""

    root: Path
    commit: str
    entries: list[tuple[Code, str, str]]

    def trees(self, blobs: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        return {blob: _tree(data) for blob, data in gitio.cat_blobs(self.root, blobs)}

    def category(self, category: str) -> list[dict[str, Any]]:
        wanted = [blob for code, _, blob in self.entries if code.category == category]
        return [t for t in self.trees(wanted).values() if t is not None]

    def keepers(self, keyring: Keyring | None = None) -> Keepers:
        """The active holds and the loans out. Every hold is read through its MAC when a
        key opens it (Refusal naming the holds that fail); an encrypted hold no key at hand
        opens is read from its clear fields and listed in `unverified`."""
        holds, unverified = _verified_holds(self, keyring)
        keepers = Keepers.from_trees(holds, self.category(LOAN))
        keepers.unverified = unverified
        return keepers


def committed(vault: Vault) -> Committed:
    commit = gitio.head(vault.root)
    if commit is None:
        raise DanganError(Message("the vault has no commit yet"), Message("commit the records first"))
    entries = []
    for entry in gitio.ls_tree(vault.root, commit, vault.record_specs):  # an office: its folders
        try:
            entries.append((path_to_code(entry.path), entry.path, entry.blob))
        except CodeError:
            continue  # a stray file: `dangan check` reports it
    return Committed(vault.root, commit, entries)


def _identities(keyring: Keyring | None) -> list[Any]:
    """The identities to verify with: none without a keyring or a key; an identity given
    with --identity that cannot be loaded is bad input (exit 2), as for every command."""
    if keyring is None or (keyring.explicit is None and not keyring.available()):
        return []
    return list(keyring.identities)


def _verified_holds(state: Committed, keyring: Keyring | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Every committed hold (BQ), opened and verified where a key allows: (trees, codes of
    the encrypted holds left unverified). Refusal when a hold cannot be read or fails its
    MAC: it may have been edited to lift it (a clear `status` or a release event appended
    without the data key), and destroying what it might hold cannot be undone.

    A hold without a `sops` block (no parties) has no MAC; it is taken as committed, and
    the append-only rule DG110 and the hooks guard it (docs/decisions.md)."""
    from dangan.formats import sops

    identities = _identities(keyring)
    entries = [(code, blob) for code, _, blob in state.entries if code.category == HOLD]
    trees = state.trees([blob for _, blob in entries])
    holds: list[dict[str, Any]] = []
    unverified: list[str] = []
    failed: list[str] = []
    for code, blob in entries:
        tree = trees.get(blob)
        if tree is None:
            failed.append(f"{code} is not readable")
            continue
        if "sops" not in tree:
            holds.append(tree)
            continue
        if not identities:
            unverified.append(str(code))
            holds.append(tree)
            continue
        try:
            plain, _ = sops.decrypt_document(tree, identities)
        except sops.NoMatchingIdentity:
            unverified.append(str(code))  # a key, but not one of this hold's recipients
            holds.append(tree)
            continue
        except sops.SopsError as exc:  # MAC mismatch, failed authentication, broken block
            failed.append(f"{code}: {exc}")
            continue
        holds.append(plain)
    if failed:
        raise Refusal(Message("legal hold(s) fail verification, nothing is done while they do: {value}", value=_some(failed)),
                      Message("a hold was altered outside dangan: restore it from Git history (`git log -p vault/BQ`), release holds only with `dangan retention release`; see `dangan check`"))
    return holds, sorted(unverified)


def unverified_note(codes: list[str]) -> str:
    """The line a plan and a disposal carry when encrypted holds went unverified."""
    return (f"{len(codes)} encrypted hold(s) could not be verified without a key: {', '.join(codes)}; "
            "their clear fields were trusted (give --identity FILE of a recipient to verify them)")


def _tree(data: bytes) -> dict[str, Any] | None:
    try:
        tree = load_text(decode(data))
    except YamlError:
        return None
    return tree if isinstance(tree, dict) else None


# ------------------------------------------------------------------------ plan

@dataclass
class Plan:
    vault_id: str
    as_of: dt.date
    made_at: str
    commit: str
    category: str | None
    due: list[dict[str, Any]]
    not_due: list[dict[str, Any]]
    later: int  # records simply not yet due
    unreadable: list[str]
    unverified_holds: list[str] = field(default_factory=list)  # encrypted, MAC not verified: no key

    def document(self) -> dict[str, Any]:
        return {
            "plan": PLAN_FORMAT,
            "vault": self.vault_id,
            "as_of": self.as_of.isoformat(),
            "made_at": self.made_at,
            "commit": self.commit,
            "category": self.category,
            "due": self.due,
            "not_due": self.not_due,
            "later": self.later,
            "unreadable": self.unreadable,
            "unverified_holds": self.unverified_holds,
        }


def _due_entry(found: Assessment, path: str, blob: str) -> dict[str, Any]:
    # a person decides each `review` record: change it to destroy, or remove the entry
    return {**_item(found, blob), "decision": "destroy" if found.rule.action == "destroy" else "review"}


def _kept_entry(found: Assessment) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": str(found.code), "category": found.code.category, "reasons": list(found.reasons)}
    if found.due is not None:
        entry["due"] = found.due.isoformat()
    if found.until is not None and OVERRIDE in found.reasons:
        entry["until"] = found.until.isoformat()
    if found.holds:
        entry["holds"] = found.holds
    if found.loans:
        entry["loans"] = found.loans
    return entry


def make_plan(vault: Vault, as_of: dt.date, category: str | None = None, now: dt.datetime | None = None) -> Plan:
    """What is due as of `as_of` in the committed vault, and what is kept and why."""
    if category is not None and category not in vault.schemas.categories:
        raise DanganError(Message("unknown category {category}", category=repr(category)), Message("known: {value}", value=', '.join(sorted(vault.schemas.categories))))
    state = committed(vault)
    keepers = state.keepers(vault.keyring)
    rules = schedule(vault.config, vault.schemas.categories)
    handed = handed_over_on(vault.root, state.commit)  # given away (YJ): no longer ours to sweep
    chosen = [(c, p, b) for c, p, b in state.entries
              if (category is None or c.category == category) and str(c) not in handed]
    # permanent records need not be read: their rule alone keeps them
    to_read = {b for c, _, b in chosen if not rules.get(c.category, Rule("permanent")).permanent}
    texts = dict(gitio.cat_blobs(vault.root, to_read))
    due: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    later = 0
    unreadable: list[str] = []
    for code, path, blob in sorted(chosen, key=lambda item: str(item[0])):
        rule = rules.get(code.category, Rule("permanent", source="none"))
        if rule.permanent:
            kept.append({"code": str(code), "category": code.category, "reasons": [PERMANENT]})
            continue
        quick = _at_a_glance(texts[blob], rule, as_of)
        if quick == "later":
            later += 1
            continue
        if quick == NO_TRIGGER:
            kept.append({"code": str(code), "category": code.category, "reasons": [NO_TRIGGER]})
            continue
        tree = _tree(texts[blob])
        if tree is None:
            unreadable.append(path)
            continue
        found = assess(code, tree, rule, as_of, vault.tz, keepers)
        if found.is_due:
            due.append(_due_entry(found, path, blob))
        elif found.later:
            later += 1
        else:
            kept.append(_kept_entry(found))
    moment = now or dt.datetime.now(vault.tz)
    return Plan(str(vault.config.get("id", "")), as_of, stamp(moment, vault.tz), state.commit, category,
                due, kept, later, unreadable, keepers.unverified)


def _at_a_glance(data: bytes, rule: Rule, as_of: dt.date) -> str | None:
    """"later" or "no trigger date" when the text alone shows it, else None (parse it).

    The canonical reader costs ~0.25 ms a record; most records of a sweep are simply not
    due yet or still open, which the trigger line of a canonical text shows. Every answer
    given here can only keep a record (an odd text that fools it is kept, never destroyed);
    anything else goes through the full reader, and the hooks judge every certificate.
    """
    text = data.decode("utf-8", "replace")
    lines = re.findall(rf"^{re.escape(rule.after)}:(.*)$", text, re.MULTILINE)
    if not lines:
        return NO_TRIGGER
    if len(lines) > 1:
        return None
    value = lines[0]
    if value in ("", " null", " ''"):
        return NO_TRIGGER
    match = re.fullmatch(r" '([0-9]{4}-[0-9]{2}-[0-9]{2})'", value)
    if match is None:
        return None
    try:
        start = dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None
    return "later" if add_duration(start, rule.keep) > as_of else None


def read_plan(data: bytes, name: str) -> dict[str, Any]:
    try:  # a plan is not a record: no 256 KiB limit
        doc = load_text(data.decode("utf-8"))
    except (YamlError, UnicodeDecodeError) as exc:
        raise DanganError(Message("{name}: {exc}", name=name, exc=exc), Message("give a plan written by `dangan retention plan --out`")) from None
    if not isinstance(doc, dict) or doc.get("plan") != PLAN_FORMAT:
        raise DanganError(Message("{name} is not a retention plan", name=name), Message("make one with `dangan retention plan --out PLAN.yaml`"))
    if not isinstance(doc.get("due"), list) or to_day(doc.get("as_of"), ZoneInfo("UTC")) is None:
        raise DanganError(Message("{name}: a plan needs `as_of` and a `due` list", name=name))
    return doc


# ----------------------------------------------------------------------- apply

@dataclass(frozen=True)
class Disposal:
    approved_by: str | None  # None: the approver of the plan's approval
    witnesses: list[str]
    carried_out_by: str
    method: str
    place: str
    at: dt.datetime
    title: str | None = None


@dataclass(frozen=True)
class Applied:
    codes: list[Code]  # one certificate, or several when the items exceed one record's size
    destroyed: list[str]
    commit: str | None
    unverified_holds: list[str] = field(default_factory=list)  # accepted with unverified_holds_ok


def _plan_day(vault: Vault, plan: dict[str, Any]) -> dt.date:
    """The day a plan is as of, once it is known to be this vault's (appraise, approve
    and apply each start here)."""
    if plan.get("vault") != vault.config.get("id"):
        raise DanganError(Message("the plan was made for another vault"), Message("make a new plan in this vault"))
    as_of = to_day(plan.get("as_of"), vault.tz)
    assert as_of is not None  # read_plan checked it
    return as_of


def apply_plan(vault: Vault, plan: dict[str, Any], disposal: Disposal, commit: bool = True,
               unverified_holds_ok: bool = False) -> Applied:
    """Re-check a plan, write certificate XH-nnnn and remove its records: one commit.

    Every hold is verified with the key at hand; an encrypted hold that no key opens
    refuses the disposal unless `unverified_holds_ok` (docs/retention.md §4)."""
    as_of = _plan_day(vault, plan)
    day = disposal.at.astimezone(vault.tz).date()
    if as_of > day:
        raise Refusal(Message("the plan is as of {as_of}, after the day of the destruction ({day})", as_of=as_of, day=day),
                      Message("records are destroyed only once due: make a plan as of today"))
    listed = _decided(plan)
    approval = find_approval(vault, plan, listed, as_of)
    if disposal.approved_by not in (None, approval.by):
        raise Refusal(Message("the plan was approved by {by} (commit {value}), not by {approved_by}", by=approval.by, value=approval.commit[:10], approved_by=disposal.approved_by), Message("leave out --approved-by: the approval names its approver"))
    disposal = dataclasses.replace(disposal, approved_by=approval.by)
    problems = (witness_problems(disposal.approved_by, disposal.witnesses)
                + role_problems(vault.config, disposal.approved_by, disposal.carried_out_by))
    if problems:
        raise Refusal(i18n._("; ").join(in_language(p) for p in problems), Message("roles are given in vault.yaml `recipients`; nothing was written"))
    with vault.lock():
        vault.ready_to_write()
        current, items, unverified = _recheck(vault, listed, as_of, unverified_holds_ok)
        appraised = appraisals_for(vault, listed)
        items = [_named(item, appraised.get(item["code"])) for item in items]
        codes, changes = _certificates(vault, items, disposal, as_of, approval.commit)
        changes.update({path: None for _, path, _ in current})
        files = _attachment_files(vault, [path for _, path, _ in current])
        changes.update(dict.fromkeys(files))
        shown = codes[0] if len(codes) == 1 else f"{codes[0]}..{codes[-1]}"
        message = f"dangan retention apply: {shown} ({len(current)} record(s) destroyed)"
        if files:  # set aside, not read into memory, in case the commit is refused
            from dangan.services.attachments import transact

            commit_id = transact(vault, dict(changes), message, commit)
        else:
            commit_id = vault.apply(changes, message, commit)
    return Applied(codes, [str(code) for code, _, _ in current], commit_id, unverified)


def _decided(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's entries to destroy, every one decided `destroy` (else Refusal), none
    twice. An entry decided `keep` (by an appraisal, `retention appraise`) is not destroyed
    and leaves the plan, as if it had been deleted."""
    listed = [e for e in plan["due"] if isinstance(e, dict) and e.get("decision") != "keep"]
    waiting = [str(e.get("code")) for e in listed if e.get("decision") not in ("destroy",)]
    if waiting:
        raise Refusal(Message("{count} record(s) await a decision: {value}", count=len(waiting), value=', '.join(waiting[:5])),
                      Message("the appraisers decide each: set `decision: destroy` or `keep` in the plan and record it with `dangan retention appraise`, or remove the entry to keep the record"))
    if not listed:
        raise DanganError(Message("the plan lists nothing to destroy"))
    if len({str(e.get("code")) for e in listed}) != len(listed):
        raise DanganError(Message("the plan lists a record twice"))
    return listed


# ------------------------------------------------------------------ appraisal

@dataclass(frozen=True)
class Appraisal:
    """The appraisers' step (鑒定): who, when, and the decisions not written in the plan."""

    appraisers: list[str]
    at: dt.datetime
    opinion: str | None = None  # for every entry without an `opinion:` of its own
    keeps: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (until, reason)
    title: str | None = None


@dataclass(frozen=True)
class Appraised:
    code: Code
    destroy: list[str]
    kept: list[str]
    commit: str | None
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> decision fields


def appraise_plan(vault: Vault, plan: dict[str, Any], appraisal: Appraisal, commit: bool = True) -> Appraised:
    """Record the appraisal (鑒定記錄) JD-nnnn of every entry of a plan: destroy, or keep
    until a new date with the reason. A kept record gets `retention: {until, reason}` (as
    `retention extend` sets it) in the same commit, so it leaves the sweep with the reason
    on the record itself; `approve` and `apply` then refuse a `review` record that no
    appraisal decided to destroy (docs/retention.md §3)."""
    as_of = _plan_day(vault, plan)
    day = appraisal.at.astimezone(vault.tz).date()
    if as_of > day:
        raise Refusal(Message("the plan is as of {as_of}, after the day of the appraisal ({day})", as_of=as_of, day=day),
                      Message("records are appraised once due: make a plan as of today"))
    people = [a.strip() for a in appraisal.appraisers if a.strip()]
    if len(set(people)) < 2 or len(set(people)) != len(people):
        raise DanganError(Message("an appraisal needs at least two different appraisers (鑒定人); given: {value}", value=', '.join(people)),
                          Message("give --appraiser NAME once for each, at least twice"))
    entries = [e for e in plan["due"] if isinstance(e, dict)]
    if not entries:
        raise DanganError(Message("the plan lists nothing to appraise"))
    codes = [str(e.get("code")) for e in entries]
    if len(set(codes)) != len(codes):
        raise DanganError(Message("the plan lists a record twice"))
    stray = sorted(set(appraisal.keeps) - set(codes))
    if stray:
        raise DanganError(Message("--keep {value}: the plan does not list it", value=stray[0]), Message("keep only records of the plan"))
    decided, waiting, problems = _decisions(entries, appraisal, day, vault)
    if waiting:
        raise Refusal(Message("{count} record(s) await a decision: {value}", count=len(waiting), value=', '.join(waiting[:5])),
                      Message("set `decision: destroy` or `decision: keep` (with `until:` and `reason:`) in the plan, or give --keep CODE=DATE:REASON"))
    if problems:
        raise DanganError(_some(problems), Message("each entry needs an opinion (`opinion:` or --opinion); a kept one a new date after the appraisal and a reason"))
    with vault.lock():
        vault.ready_to_write()
        current, items, _ = _recheck(vault, [entry for entry, _ in decided], as_of, unverified_ok=True)
        jd = records.allocate(vault, APPRAISAL, Location())
        changes: dict[str, bytes | None] = {}
        listed = []
        for (_, decision), (code, path, _blob), item in zip(decided, current, items):
            keys = ("code", "category", "title", "rule", "due", "blob")
            listed.append({**{k: item[k] for k in keys}, **decision})
            if decision["decision"] == "keep":
                plain, _, stored = records.read_plain(vault, code)
                tree = copy.deepcopy(plain)
                tree["retention"] = {"until": decision["until"], "reason": f"{decision['reason']}（{jd}鑒定，{day}）"}
                changes[path] = vault.render(path, records.prepare(vault, code, tree, previous=stored))
        tree = {
            "code": str(jd),
            "category": APPRAISAL,
            "title": appraisal.title or f"{as_of.isoformat()}到期檔案鑒定記錄",
            "status": "completed",
            "opened": day.isoformat(),
            "appraisers": people,
            "appraised_at": stamp(appraisal.at, vault.tz),
            "plan_as_of": as_of.isoformat(),
            "items": listed,
        }
        changes[jd.path] = dump(records.prepare(vault, jd, tree)).encode()
        destroy = [i["code"] for i in listed if i["decision"] == "destroy"]
        kept = [i for i in listed if i["decision"] == "keep"]
        body = "".join(f"{i['code']} kept until {i['until']}: {i['reason']}\n" for i in kept)
        message = (f"dangan retention appraise: {jd} ({len(destroy)} to destroy, {len(kept)} kept)\n\n"
                   f"Appraisers (鑒定人): {', '.join(people)}; plan as of {as_of}.\n" + (f"\n{body}" if body else ""))
        commit_id = vault.apply(changes, message, commit)
    decisions = {i["code"]: {k: i[k] for k in ("decision", "opinion", "until", "reason") if k in i} for i in listed}
    return Appraised(jd, destroy, [i["code"] for i in kept], commit_id, decisions)


def record_decisions(plan: dict[str, Any], appraised: Appraised) -> dict[str, Any]:
    """The plan with the appraisal's decisions written into its entries (`appraisal:`
    names the JD), for the approver to read; the approval digest is unchanged, as it
    covers the records to destroy in the versions the plan saw."""
    document = copy.deepcopy(plan)
    for entry in document.get("due") or []:
        if isinstance(entry, dict) and str(entry.get("code")) in appraised.decisions:
            entry.update(appraised.decisions[str(entry.get("code"))], appraisal=str(appraised.code))
    return document


def _decisions(entries: list[dict[str, Any]], appraisal: Appraisal, day: dt.date, vault: Vault
               ) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[str], list[str]]:
    """(entry, decision fields) for each entry; the codes still undecided; bad decisions."""
    decided, waiting, problems = [], [], []
    for entry in entries:
        code = str(entry.get("code"))
        choice, until, reason = entry.get("decision"), entry.get("until"), entry.get("reason")
        if code in appraisal.keeps:
            choice, (until, reason) = "keep", appraisal.keeps[code]
        if choice not in ("destroy", "keep"):
            waiting.append(code)
            continue
        opinion = entry.get("opinion") or appraisal.opinion
        if not isinstance(opinion, str) or not opinion.strip():
            problems.append(f"{code} has no opinion (鑒定意見)")
            continue
        decision: dict[str, Any] = {"decision": choice, "opinion": opinion.strip()}
        if choice == "keep":
            new = to_day(str(until), vault.tz) if until is not None else None
            if new is None or not isinstance(reason, str) or not reason.strip():
                problems.append(f"{code} is kept without a new date (until: YYYY-MM-DD) and a reason")
                continue
            if new <= day:
                problems.append(f"{code} is kept until {new}, not after the appraisal ({day})")
                continue
            decision.update(until=new.isoformat(), reason=reason.strip())
        decided.append((entry, decision))
    return decided, waiting, problems


def appraisals_for(vault: Vault, listed: list[dict[str, Any]]) -> dict[str, str]:
    """For each plan entry to destroy, the appraisal (JD) that decided so for the version
    listed (the newest that appraised it counts). Refusal when a record whose rule says
    `review` has none, or when an appraisal decided to keep the record."""
    state = committed(vault)
    mine = sorted((e for e in state.entries if e[0].category == APPRAISAL), key=lambda e: e[0].serial)
    trees = state.trees([blob for _, _, blob in mine])
    latest: dict[str, tuple[str, Any, Any]] = {}
    for code, _, blob in mine:
        for item in (trees.get(blob) or {}).get("items") or []:
            if isinstance(item, dict):
                latest[str(item.get("code"))] = (str(code), item.get("blob"), item.get("decision"))
    named: dict[str, str] = {}
    refused: list[str] = []
    for entry in listed:
        text = str(entry.get("code"))
        found = latest.get(text)
        if found is not None and found[1] == entry.get("blob"):
            if found[2] != "destroy":
                refused.append(f"{text} was appraised to be kept ({found[0]})")
            else:
                named[text] = found[0]
            continue
        rule = rule_for(vault.config, text.split("-", 1)[0])
        planned = entry.get("rule") if isinstance(entry.get("rule"), dict) else {}
        if rule.action == "review" or planned.get("action") == "review":
            refused.append(f"{text} must be appraised (its rule says review) and has no appraisal of this version")
    if refused:
        raise Refusal(Message("refused: {value}", value=_some(refused)),
                      Message("the appraisers decide first: `dangan retention appraise PLAN.yaml --appraiser NAME --appraiser NAME`; nothing was written"))
    return named


def _named(item: dict[str, Any], appraisal: str | None) -> dict[str, Any]:
    """A certificate item naming the appraisal that decided its destruction."""
    if appraisal is None:
        return item
    files = {"attachments": item["attachments"]} if "attachments" in item else {}
    return {**{k: v for k, v in item.items() if k != "attachments"}, "appraisal": appraisal, **files}


def _appraised_line(named: dict[str, str]) -> str:
    codes = sorted(set(named.values()))
    return f"Appraised (鑒定) in {', '.join(codes)}.\n\n" if codes else ""


# ------------------------------------------------------------------- approval

def plan_digest(vault_id: str, as_of: dt.date, listed: list[dict[str, Any]]) -> str:
    """What an approval approves: the vault, the as-of day and each record in the version
    the plan saw (code and blob id), in a fixed order. Editing the plan after the approval
    (adding an entry) gives another digest, which nobody approved."""
    lines = sorted(f"{e.get('code')} {e.get('blob')}\n" for e in listed)
    text = f"{vault_id}\n{as_of.isoformat()}\n" + "".join(lines)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Approved:
    commit: str | None
    by: str
    plan: str
    count: int


def approve_plan(vault: Vault, plan: dict[str, Any], by: str, commit: bool = True) -> Approved:
    """The approver's step (審批): one commit that changes no file and names every record of
    the plan in the version the plan saw; signed by the approver where vault.yaml asks for
    signed role acts (DG119). `apply` carries out only an approved plan and names the
    approval in its certificate."""
    as_of = _plan_day(vault, plan)
    listed = _decided(plan)
    if by not in people_with(vault.config, "approver"):
        raise Refusal(Message("{by} does not have the approver role in vault.yaml (recipients[].roles)", by=by),
                      Message("the approver approves: roles are given in vault.yaml `recipients`"))
    digest = plan_digest(str(vault.config.get("id")), as_of, listed)
    with vault.lock():
        vault.ready_to_write()
        # what is approved is due now, unchanged since the plan; a hold that fails its MAC
        # refuses here too, one that no key of the approver opens is left to `apply`
        _recheck(vault, listed, as_of, unverified_ok=True)
        appraised = appraisals_for(vault, listed)
        if gitio.run(["diff", "--cached", "--quiet"], vault.root, ok=(0, 1)).returncode == 1:
            raise DanganError(Message("other changes are staged"), Message("commit or unstage them first: an approval changes no file"))
        if not commit:
            return Approved(None, by, digest, len(listed))
        body = "".join(sorted(f"{e.get('code')} {e.get('blob')}\n" for e in listed))
        message = (f"dangan retention approve: {len(listed)} record(s) as of {as_of}\n\n"
                   f"Approves the destruction of these records, each in the version named:\n\n{body}\n"
                   f"{_appraised_line(appraised)}"
                   f"{ACT_TRAILER}: {APPROVAL}\nDangan-By: {by}\nDangan-Plan: {digest}\n"
                   f"Dangan-As-Of: {as_of.isoformat()}\n")
        made = vault.apply({}, message, empty=True)
    return Approved(made, by, digest, len(listed))


def find_approval(vault: Vault, plan: dict[str, Any], listed: list[dict[str, Any]], as_of: dt.date) -> Any:
    """The approval of exactly this plan in the history of HEAD (the newest), checked as
    the hooks will check the certificate that names it; Refusal when there is none."""
    digest = plan_digest(str(vault.config.get("id")), as_of, listed)
    found = gitio.commits_with(vault.root, "HEAD", f"Dangan-Plan: {digest}") if gitio.head(vault.root) else []
    if not found:
        raise Refusal(Message("the plan has not been approved (no approval of it in this branch's history)"),
                      Message("the approver runs `dangan retention approve PLAN.yaml --by NAME` (signed where vault.yaml asks for signed role acts), then pull and apply; docs/retention.md §3"))
    raw = gitio.commit_objects(vault.root, found[:1])[found[0]]
    approval = signing.read_approval(signing.parse_commit(found[0], raw))
    assert approval is not None and approval.by is not None
    stub = {"approval": found[0], "approved_by": approval.by, "plan_as_of": as_of.isoformat(),
            "items": [{"code": e.get("code"), "blob": e.get("blob")} for e in listed]}
    config = signing.Configs(vault.root)
    need = required(config.at("HEAD"))
    problems = signing.approval_problems(vault.root, stub, "the plan", "HEAD", config, need)
    if problems:
        raise Refusal("DG119 " + i18n._("; ").join(in_language(p) for p in problems[:3]), Message("the approver approves again, signing with their own key"))
    return approval


def _with_attachments(item: dict[str, Any], tree: Mapping[str, Any]) -> dict[str, Any]:
    """A certificate item names the attachments destroyed with the record (file, SHA-256
    of the stored file, as its last version lists them)."""
    from dangan.store.attached import listed

    files = [{"file": e.get("file"), "sha256": e.get("sha256")} for e in listed(tree)]
    return {**item, "attachments": files} if files else item


def _attachment_files(vault: Vault, paths: list[str]) -> list[str]:
    """Every committed file in the attachment folders of the records at `paths`."""
    folders = [path[: -len(".yaml")] + "/" for path in paths]
    found: list[str] = []
    for start in range(0, len(folders), 500):  # bounded command lines
        found += [e.path for e in gitio.ls_tree(vault.root, "HEAD", folders[start : start + 500])]
    return found


def _some(problems: list[str]) -> str:
    """At most five problems, in the interface language (shown at once: a refusal's text)."""
    more = i18n._("; and {n} more").format(n=len(problems) - 5) if len(problems) > 5 else ""
    return i18n._("; ").join(in_language(p) for p in problems[:5]) + more


def _recheck(vault: Vault, listed: list[dict[str, Any]], as_of: dt.date, unverified_ok: bool = False
             ) -> tuple[list[tuple[Code, str, str]], list[dict[str, Any]], list[str]]:
    """The plan's records as committed now, their certificate items and the holds left
    unverified; Refusal if any changed since the plan (blob id), has uncommitted changes,
    or is no longer due, or if a hold fails verification or cannot be verified."""
    state = committed(vault)
    at_head = {str(code): (code, path, blob) for code, path, blob in state.entries}
    stale: list[str] = []
    current: list[tuple[Code, str, str]] = []
    for entry in listed:
        text = str(entry.get("code"))
        if text not in at_head:
            stale.append(f"{text} is no longer in the vault")
        elif entry.get("blob") != at_head[text][2]:
            stale.append(f"{text} changed since the plan was made")
        else:
            current.append(at_head[text])
    if stale:
        raise Refusal(Message("the plan is stale: {value}", value=_some(stale)),
                      Message("make a new plan (`dangan retention plan --out PLAN.yaml`) and have it approved"))
    uncommitted = _uncommitted(vault, [path for _, path, _ in current], {p: b for _, p, b in current})
    if uncommitted:
        raise Refusal(Message("{value} has uncommitted changes", value=', '.join(uncommitted[:5])), Message("commit or restore them first"))
    keepers = state.keepers(vault.keyring)
    if keepers.unverified and not unverified_ok:
        raise Refusal(Message("{count} encrypted hold(s) could not be verified without a key: {value}; nothing was written", count=len(keepers.unverified), value=', '.join(keepers.unverified)),
                      Message("give --identity FILE of a recipient of the holds, or --accept-unverified-holds to trust their clear fields"))
    trees = state.trees([blob for _, _, blob in current])
    refused: list[str] = []
    items = []
    for code, _path, blob in current:
        tree = trees.get(blob)
        if tree is None:
            refused.append(f"{code} is not readable")
            continue
        found = assess(code, tree, rule_for(vault.config, code.category), as_of, vault.tz, keepers)
        if found.is_due:
            items.append(_with_attachments(_item(found, blob), tree))
        else:
            refused.append(Message("{code} {why} (plan as of {as_of})", code=code, why=_why(found), as_of=as_of))
    if refused:
        raise Refusal(Message("refused: {value}", value=_some(refused)), Message("nothing was written; make a new plan"))
    return current, items, keepers.unverified


def _certificates(vault: Vault, items: list[dict[str, Any]], disposal: Disposal,
                  as_of: dt.date, approval: str) -> tuple[list[Code], dict[str, bytes | None]]:
    """Certificate XH-nnnn (or consecutive volumes of it) for the items, ready to write."""
    groups = volumes(items)
    first = records.allocate(vault, DISPOSAL, Location())
    changes: dict[str, bytes | None] = {}
    codes = []
    for number, group in enumerate(groups, 1):
        xh = Code(DISPOSAL, Location(), first.serial + number - 1)
        title = disposal.title or f"{as_of.isoformat()}到期檔案銷毀清冊"
        if len(groups) > 1:
            title += f"（第{number}冊，共{len(groups)}冊）"
        tree = {
            "code": str(xh),
            "category": DISPOSAL,
            "title": title,
            "status": "destroyed",
            "opened": disposal.at.astimezone(vault.tz).date().isoformat(),
            "approved_by": disposal.approved_by,
            "approval": approval,
            "witnesses": list(disposal.witnesses),
            "carried_out_by": disposal.carried_out_by,
            "method": disposal.method,
            "place": disposal.place,
            "destroyed_at": stamp(disposal.at, vault.tz),
            "plan_as_of": as_of.isoformat(),
            "items": group,
        }
        changes[xh.path] = dump(records.prepare(vault, xh, tree)).encode()
        codes.append(xh)
    return codes, changes


# A record is at most 256 KiB (DG101); a certificate's items stay well below that.
VOLUME_BYTES = 192 * 1024


def volumes(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The items split into volumes (冊) that each fit one record: certificates (XH), and
    handovers (YJ, services.handover_ledger)."""
    groups: list[list[dict[str, Any]]] = [[]]
    size = 0
    for item in items:
        cost = len(dump({"items": [item]}).encode())
        if groups[-1] and size + cost > VOLUME_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += cost
    return groups


def _item(found: Assessment, blob: str) -> dict[str, Any]:
    assert found.trigger is not None and found.due is not None
    return {
        "code": str(found.code),
        "category": found.code.category,
        "title": found.title,
        "rule": found.rule.as_dict(),
        "trigger": found.trigger.isoformat(),
        "due": found.due.isoformat(),
        "blob": blob,
    }


def _uncommitted(vault: Vault, paths: list[str], blobs: dict[str, str]) -> list[str]:
    """Paths whose index entry or work tree file differs from the committed blob."""
    from dangan.services.scan import blob_id

    staged = {e.path: e.blob for e in gitio.ls_files(vault.root, paths) if e.stage == 0}
    changed = []
    for path in paths:
        try:
            data = (vault.root / path).read_bytes()
        except FileNotFoundError:
            changed.append(path)
            continue
        if staged.get(path) != blobs[path] or blob_id(data) != blobs[path]:
            changed.append(path)
    return changed


# ------------------------------------------------------------- holds, extensions

def _event(at: dt.datetime, action: str, by: str, reason: str, tz: ZoneInfo) -> dict[str, str]:
    return {"at": stamp(at, tz), "action": action, "by": by, "reason": reason}


def hold(vault: Vault, targets: list[str], reason: str, by: str, at: dt.datetime, case: str | None = None,
         authority: str | None = None, title: str | None = None, parties: list[str] = (),
         commit: bool = True) -> records.Written:
    """A legal hold BQ-nnnn over codes, location prefixes or categories."""
    if not targets:
        raise DanganError(Message("name what to hold: record codes, location prefixes (A01-02) or categories (TS)"))
    checked = [check_target(vault, t) for t in targets]
    if len(set(checked)) != len(checked):
        raise DanganError(Message("a target is named twice"))
    tree: dict[str, Any] = {
        "title": title or f"保全凍結：{'、'.join(checked)}"[:200],
        "status": "active",
        "opened": at.astimezone(vault.tz).date().isoformat(),
        "targets": checked,
        "reason": reason,
    }
    if case:
        tree["case"] = case
    if authority:
        tree["authority"] = authority
    if parties:
        tree["parties"] = list(parties)
    tree["events"] = [_event(at, "hold", by, reason, vault.tz)]
    with vault.lock():
        code = records.allocate(vault, HOLD, Location())
        tree = {"code": str(code), "category": HOLD, **tree}
        sealed = records.prepare(vault, code, tree)
        commit_id = vault.apply({code.path: dump(sealed).encode()}, f"dangan retention hold: {code} {', '.join(checked)}", commit)
    return records.Written(code, code.path, commit_id)


def check_target(vault: Vault, target: str) -> str:
    """A hold target as given, if it is a known category, a location or an existing code."""
    text = target.strip()
    if re.fullmatch(r"[A-Z]{2}", text):
        if text not in vault.schemas.categories:
            raise DanganError(Message("unknown category {text}", text=repr(text)), Message("known: {value}", value=', '.join(sorted(vault.schemas.categories))))
        return text
    try:
        code = parse_code(text)
    except CodeError:
        code = None
    if code is not None:
        if not vault.path_of(code).exists():
            if text in records.destroyed_codes(vault):
                raise DanganError(Message("{text} was already destroyed; there is nothing left to hold", text=text))
            raise DanganError(Message("no record {text}", text=text), Message("list records with `dangan ls`"))
        return text
    try:
        location = parse_location(text)
    except CodeError:
        raise DanganError(Message("{target} is not a record code, a location prefix or a category", target=repr(target)),
                          Message("examples: TS-A01-02-0003, A01-02, TS")) from None
    if not location.parts:
        raise DanganError(Message("an empty target holds nothing"))
    return text


def release(vault: Vault, hold_code: Code, by: str, reason: str, at: dt.datetime, commit: bool = True) -> records.Written:
    """End a hold by appending a release event (the hold record itself stays forever)."""
    if hold_code.category != HOLD:
        raise DanganError(Message("{hold_code} is not a legal hold (BQ-nnnn)", hold_code=hold_code))
    with vault.lock():
        plain, _, stored = records.read_plain(vault, hold_code)
        if not hold_active(plain):
            raise Refusal(Message("{hold_code} was already released", hold_code=hold_code))
        events = list(plain.get("events") or [])
        last = events[-1].get("at") if events and isinstance(events[-1], dict) else None
        if isinstance(last, str) and record_time(last, vault.tz) > at:
            raise Refusal(Message("the release ({value}) would be dated before the hold's last event ({last})", value=stamp(at, vault.tz), last=last))
        tree = copy.deepcopy(plain)
        tree["events"] = events + [_event(at, "release", by, reason, vault.tz)]
        tree["status"] = "released"
        sealed = records.prepare(vault, hold_code, tree, previous=stored)
        commit_id = vault.apply({hold_code.path: vault.render(hold_code.path, sealed)}, f"dangan retention release: {hold_code}", commit)
    return records.Written(hold_code, hold_code.path, commit_id)


def extend(vault: Vault, code: Code, until: dt.date, reason: str, commit: bool = True) -> records.Written:
    """Keep one record at least until `until` (`retention: {until, reason}`)."""
    if code.category not in vault.schemas.categories:
        raise DanganError(Message("unknown category {category} in code {code}", category=repr(code.category), code=code))
    with vault.lock():
        plain, _, stored = records.read_plain(vault, code)
        previous = plain.get("retention") if isinstance(plain.get("retention"), dict) else None
        old = to_day((previous or {}).get("until"), vault.tz)
        if old is not None and until < old:
            raise Refusal(Message("{code} is already kept until {old}; extend never shortens", code=code, old=old),
                          Message("give a later date"))
        tree = copy.deepcopy(plain)
        tree["retention"] = {"until": until.isoformat(), "reason": reason}
        sealed = records.prepare(vault, code, tree, previous=stored)
        commit_id = vault.apply({code.path: vault.render(code.path, sealed)}, f"dangan retention extend: {code} until {until}", commit)
    return records.Written(code, code.path, commit_id)


