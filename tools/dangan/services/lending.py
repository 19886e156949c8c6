"""Lending (借閱): loans as JY records, their state machine and rules (docs/lending.md §1).

A loan is an append-only list of events; everything else about its state (status, due date,
who approved it, how it came back) is derived by replaying them. One replay serves three
callers, so that they can never disagree: the check engine (`loan_problems`, DG111 for one
loan; `loan_conflicts`, DG111 against the other loans), the `lend` commands (which refuse a
new event when the replay of the loan with that event appended finds a problem) and the
reports (`lend ls`, overdue as of a date).

Below the rules: the command core (`request`, `approve`, `reject`, `checkout`, `renew`,
`give_back` for return) and the reports (`loans`, `loans_of`). They take a Vault and plain
arguments, return results and never print.
"""
from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dangan.git import gitio
from dangan.services import records
from dangan.model import timeutil
from dangan.model.codes import Code, Location, parse_code
from dangan.rules.domain import Side
from dangan.errors import DanganError, Refusal
from dangan.store.vault import RECORDS, Vault
from dangan.formats.yamlio import YamlError, decode, dump, load_text

CATEGORY = "JY"
DISPOSAL = "XH"
STATUS_AFTER = {
    "request": "requested",
    "approve": "approved",
    "reject": "rejected",
    "checkout": "out",
    "renew": "out",
    "return": "closed",
}
# the states an action may follow (None: a loan not yet requested)
ALLOWED_AFTER: dict[str, frozenset[str | None]] = {
    "request": frozenset({None}),
    "approve": frozenset({"requested"}),
    "reject": frozenset({"requested", "approved"}),  # an approved loan not handed over may be called off
    "checkout": frozenset({"approved"}),
    "renew": frozenset({"out"}),
    "return": frozenset({"out"}),
}
TERMINAL = frozenset({"rejected", "closed"})
OPEN = frozenset({"requested", "approved", "out"})
ROLE_OF = {"approve": "approver", "reject": "approver", "checkout": "archivist", "renew": "archivist", "return": "archivist"}
WHY_STATE = {
    None: "no request yet",
    "requested": "it is requested, not approved",
    "approved": "it is approved, not handed over",
    "rejected": "it was rejected",
    "out": "it is out",
    "closed": "it was returned",
}


# ------------------------------------------------------------------------ rules

@dataclass(frozen=True)
class LendingRules:
    """vault.yaml's `lending` section, its timezone and its role holders."""

    loan_days: int = 7
    max_total_days: int = 30
    originals_not_lent: frozenset[str] = frozenset()
    # recipients of vault.yaml holding each role (roles live on recipients only: a vault
    # without recipients has nobody who may approve or hand over)
    approvers: frozenset[str] = frozenset()
    archivists: frozenset[str] = frozenset()
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LendingRules:
        lending = config.get("lending") if isinstance(config.get("lending"), dict) else {}
        people = [r for r in config.get("recipients") or [] if isinstance(r, dict)]

        def holders(role: str) -> frozenset[str]:
            return frozenset(str(r.get("name")) for r in people if role in (r.get("roles") or []))

        try:
            tz = ZoneInfo(str(config.get("timezone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            tz = ZoneInfo("UTC")  # DG114 reports the timezone itself
        return cls(
            loan_days=_int(lending.get("loan_days"), 7),
            max_total_days=_int(lending.get("max_total_days"), 30),
            originals_not_lent=frozenset(str(c) for c in lending.get("originals_not_lent") or []),
            approvers=holders("approver"),
            archivists=holders("archivist"),
            tz=tz,
        )

    def holds(self, role: str, name: str) -> bool:
        return name in (self.approvers if role == "approver" else self.archivists)


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# ------------------------------------------------------------------ the replay

@dataclass
class LoanState:
    """What the events of a loan say, up to a moment."""

    status: str | None = None
    requested_at: dt.datetime | None = None
    requested_days: int | None = None
    approved_by: str | None = None
    checkout_at: dt.datetime | None = None
    checkout_day: dt.date | None = None
    due: dt.date | None = None
    renewals: int = 0
    ended_at: dt.datetime | None = None  # return or rejection
    condition: str | None = None
    note: str | None = None
    returned_by: str | None = None
    last_at: dt.datetime | None = None
    events: int = 0
    # (event number, problem) for events by someone without the role they need: judged
    # at change level, for the events a change appends (see loan_conflicts)
    role_problems: list[tuple[int, str]] = field(default_factory=list)


def _moment(text: Any, tz: ZoneInfo) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _day(text: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def replay(tree: dict[str, Any], rules: LendingRules, until: dt.datetime | None = None) -> tuple[LoanState, list[str]]:
    """The state after the events (those at or before `until`), and every rule they break."""
    state = LoanState()
    problems: list[str] = []
    borrower = str((tree.get("borrower") or {}).get("name", "")) if isinstance(tree.get("borrower"), dict) else ""
    events = tree.get("events") if isinstance(tree.get("events"), list) else []
    for number, event in enumerate(events, start=1):
        if not isinstance(event, dict):
            problems.append(f"event {number} is not a mapping")
            continue
        action = str(event.get("action", ""))
        by = str(event.get("by", ""))
        at = _moment(event.get("at"), rules.tz)
        if until is not None and at is not None and at > until:
            break
        label = f"event {number} ({action} by {by})"
        if at is None:
            problems.append(f"{label} has no valid `at` timestamp")
        elif state.last_at is not None and at < state.last_at:
            problems.append(
                f"{label} is dated {event.get('at')}, before the event it follows ({_stamp(state.last_at, rules.tz)}); "
                "events are appended in time order"
            )
        if action not in STATUS_AFTER:
            problems.append(f"{label}: unknown action")
            continue
        if state.status not in ALLOWED_AFTER[action]:
            problems.append(f"{label} is out of order: a loan cannot be {_past(action)} when {WHY_STATE[state.status]}")
        role = ROLE_OF.get(action)
        if role is not None and not rules.holds(role, by):
            state.role_problems.append((number, f"{label}: {by} does not have the {role} role in vault.yaml (recipients[].roles)"))
        day = at.astimezone(rules.tz).date() if at is not None else None
        days = event.get("days")
        days = days if isinstance(days, int) and not isinstance(days, bool) else None
        due = _day(event.get("due"))
        if action == "request":
            if by != borrower:
                problems.append(f"{label}: a loan is requested by its borrower ({borrower})")
            if days is not None and days > rules.loan_days:
                problems.append(
                    f"{label} asks for {days} days; one loan period is at most {rules.loan_days} days "
                    "(vault.yaml lending.loan_days); ask for less and renew"
                )
            state.requested_at, state.requested_days = at, days
        elif action == "approve":
            if by == borrower:
                problems.append(f"{label}: the borrower cannot approve their own loan; an approver who is someone else must")
            state.approved_by = by
        elif action == "checkout":
            if days is not None and days > rules.loan_days:
                problems.append(
                    f"{label} lends for {days} days; one loan period is at most {rules.loan_days} days "
                    "(vault.yaml lending.loan_days)"
                )
            if day is not None and days is not None and due is not None and due != day + dt.timedelta(days=days):
                problems.append(f"{label}: due {due} is not the checkout day {day} + {days} days ({day + dt.timedelta(days=days)})")
            state.checkout_at, state.checkout_day, state.due = at, day, due
        elif action == "renew":
            if state.due is not None and days is not None and due is not None and due != state.due + dt.timedelta(days=days):
                problems.append(
                    f"{label}: due {due} is not the previous due date {state.due} + {days} days "
                    f"({state.due + dt.timedelta(days=days)})"
                )
            if state.checkout_day is not None and due is not None:
                limit = state.checkout_day + dt.timedelta(days=rules.max_total_days)
                if due > limit:
                    problems.append(
                        f"{label} extends the loan to {due}, past {limit} (checkout {state.checkout_day} + "
                        f"{rules.max_total_days} days, vault.yaml lending.max_total_days)"
                    )
            state.due = due
            state.renewals += 1
        elif action in ("return", "reject"):
            state.ended_at = at
            if action == "return":
                state.condition = event.get("condition")
                state.note = event.get("note")
                state.returned_by = by
        state.status = STATUS_AFTER[action]
        state.events = number
        if at is not None and (state.last_at is None or at > state.last_at):
            state.last_at = at
    return state, problems


def _past(action: str) -> str:
    return {"request": "requested", "approve": "approved", "reject": "rejected", "checkout": "checked out",
            "renew": "renewed", "return": "returned"}[action]


def _stamp(moment: dt.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).replace(microsecond=0).isoformat()


def _category(code: Any) -> str:
    return code.split("-", 1)[0] if isinstance(code, str) else ""


def loan_problems(tree: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """DG111 for one loan: its events against docs/lending.md §1 and vault.yaml's `lending`.

    The roles of the people are judged where the loan changes (`loan_conflicts`, with the
    vault.yaml of that commit), not here: an approver who later leaves and is removed from
    the recipients must not turn every loan they once approved into a finding of `check`.
    """
    rules = LendingRules.from_config(config)
    state, problems = replay(tree, rules)
    if tree.get("form") == "original":
        for code in tree.get("records") or []:
            if _category(code) in rules.originals_not_lent:
                problems.append(
                    f"{code} is lent as an original, but vault.yaml lending.originals_not_lent lists "
                    f"{_category(code)}: lend a copy or a scan"
                )
    if state.status is not None and tree.get("status") != state.status:
        problems.append(f"status is {tree.get('status')!r} but the events say {state.status!r}")
    closed = tree.get("closed")
    if state.status in TERMINAL and state.ended_at is not None:
        ended = state.ended_at.astimezone(rules.tz).date().isoformat()
        if closed != ended:
            problems.append(f"closed is {closed!r} but the loan ended on {ended} (its last event)")
    elif state.status in OPEN and closed is not None:
        problems.append(f"closed is {closed!r} but the loan is still {state.status}")
    return problems


def loan_conflicts(path: str, tree: dict[str, Any], side: Side, old: dict[str, Any] | None = None) -> list[str]:
    """DG111 for a loan a change adds or extends: the roles of the people who acted in the
    events it appends (judged by this commit's vault.yaml, so an approver who later leaves
    does not make old events wrong), an original out on two loans at once, a destroyed
    record lent. `old` is the loan before the change."""
    rules = LendingRules.from_config(side.config or {})
    state, _ = replay(tree, rules)
    mine = [c for c in tree.get("records") or [] if isinstance(c, str)]
    known = len(old.get("events") or []) if isinstance(old, dict) and isinstance(old.get("events"), list) else 0
    problems: list[str] = [message for number, message in state.role_problems if number > known]
    if state.status in OPEN:
        destroyed = certificate_index(side.records(DISPOSAL))
        for code in mine:
            if code in destroyed:
                problems.append(f"{code} was destroyed ({destroyed[code]}); a destroyed record cannot be lent")
    if state.status == "out" and tree.get("form") == "original":
        for other_path, other in side.records(CATEGORY):
            if other_path == path or other.get("form") != "original":
                continue
            other_state, _ = replay(other, rules)
            if other_state.status != "out":
                continue
            shared = [c for c in mine if c in (other.get("records") or [])]
            for code in shared:
                problems.append(
                    f"the original of {code} is already out on {other.get('code', other_path)}; "
                    "an original is out on one loan at a time"
                )
    return problems


def certificate_index(certificates: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """code -> the disposal certificate that destroyed it."""
    found: dict[str, str] = {}
    for path, tree in certificates:
        for item in tree.get("items") or []:
            if isinstance(item, dict) and isinstance(item.get("code"), str):
                found.setdefault(item["code"], str(tree.get("code") or path))
    return found


# ------------------------------------------------------------ events to append

def new_event(action: str, at: dt.datetime, by: str, rules: LendingRules, state: LoanState,
              days: int | None = None, reason: str | None = None, condition: str | None = None,
              note: str | None = None) -> dict[str, Any]:
    """The event a command appends, with its derived fields (the due date)."""
    event: dict[str, Any] = {"at": _stamp(at, rules.tz), "action": action, "by": by}
    if action in ("request", "checkout", "renew") and days is not None:
        event["days"] = days
    if action == "checkout" and days is not None:
        event["due"] = (at.astimezone(rules.tz).date() + dt.timedelta(days=days)).isoformat()
    if action == "renew" and days is not None and state.due is not None:
        event["due"] = (state.due + dt.timedelta(days=days)).isoformat()
    if reason:
        event["reason"] = reason
    if condition:
        event["condition"] = condition
    if note:
        event["note"] = note
    return event


def with_event(tree: dict[str, Any], event: dict[str, Any], rules: LendingRules) -> dict[str, Any]:
    """A copy of the loan with `event` appended and its derived fields (status, closed) set."""
    out = copy.deepcopy(tree)
    out.setdefault("events", []).append(event)
    state, _ = replay(out, rules)
    if state.status is not None:
        out["status"] = state.status
    if state.status in TERMINAL and state.ended_at is not None:
        out["closed"] = state.ended_at.astimezone(rules.tz).date().isoformat()
    return out


# ------------------------------------------------------------- the commands

FORMS = ("original", "copy", "scan")
FORM_ZH = {"original": "原件", "copy": "複印件", "scan": "掃描件"}
CONDITIONS = ("intact", "damaged", "lost")
HINT = "nothing was written; the lending rules are in docs/lending.md"


@dataclass(frozen=True)
class Done:
    """What a lending command wrote."""

    code: str
    path: str
    commit: str | None
    status: str
    due: str | None


def person(vault: Vault, by: str | None) -> str:
    """`--by NAME`, by default `git config user.name`."""
    return by if by else timeutil.default_person(gitio.config_get(vault.root, "user.name"))


def _work_tree(vault: Vault) -> Side:
    """The work tree's records, as the check engine's change rules see a commit's."""
    cache: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def records_of(category: str) -> list[tuple[str, dict[str, Any]]]:
        if category not in cache:
            folder = vault.root / RECORDS / category
            found: list[tuple[str, dict[str, Any]]] = []
            for path in sorted(folder.glob(f"{category}-*.yaml")) if folder.is_dir() else []:
                try:
                    tree = load_text(decode(path.read_bytes()))
                except YamlError:
                    continue  # check reports it (DG101)
                if isinstance(tree, dict):
                    found.append((vault.rel(path), tree))
            cache[category] = found
        return cache[category]

    return Side(records=records_of, blob=lambda _blob: None, config=vault.config)


def _refuse_if(code: Code | str, problems: list[str]) -> None:
    if problems:
        roles = all(" role in vault.yaml" in p for p in problems)
        hint = ("nothing was written; roles are given to recipients: `dangan recipients add NAME KEY --role approver`"
                if roles else HINT)
        raise Refusal(f"{code}: DG111 " + "; ".join(dict.fromkeys(problems)), hint)


def _lent_codes(vault: Vault, texts: list[str]) -> list[str]:
    """The codes to lend: existing records (a destroyed one is refused, an unknown one is
    bad input)."""
    if not texts:
        raise DanganError("no records to lend", "give one or more archive codes")
    codes = [parse_code(t) for t in texts]
    shown = [str(c) for c in codes]
    if len(set(shown)) != len(shown):
        raise DanganError("a code is given twice", "list each record once")
    unknown = [c for c in codes if c.category not in vault.schemas.categories]
    if unknown:
        raise DanganError(f"unknown category {unknown[0].category!r} in code {unknown[0]}")
    missing = [c for c in codes if not vault.path_of(c).is_file()]
    if missing:
        destroyed = certificate_index(_work_tree(vault).records(DISPOSAL))
        gone = [f"{c} was destroyed ({destroyed[str(c)]})" for c in missing if str(c) in destroyed]
        never = [str(c) for c in missing if str(c) not in destroyed]
        if never:
            raise DanganError(f"no record {', '.join(never)} (no such file)", "list records with `dangan ls`")
        _refuse_if("lend request", [f"{g}; a destroyed record cannot be lent" for g in gone])
    return shown


def request(
    vault: Vault,
    codes: list[str],
    borrower: str,
    department: str,
    purpose: str,
    form: str = "copy",
    days: int | None = None,
    contact: str | None = None,
    at: str | None = None,
    title: str | None = None,
    commit: bool = True,
) -> Done:
    """A new loan JY-nnnn in state `requested`, requested by the borrower."""
    if form not in FORMS:
        raise DanganError(f"unknown form {form!r}", f"forms: {', '.join(FORMS)}")
    rules = LendingRules.from_config(vault.config)
    moment = timeutil.parse_when(at, vault.tz)
    with vault.lock():
        lent = _lent_codes(vault, codes)
        code = records.allocate(vault, CATEGORY, Location())
        person_record: dict[str, Any] = {"name": borrower, "department": department}
        if contact:
            person_record["contact"] = contact
        more = f" 等{len(lent)}件" if len(lent) > 1 else ""
        tree: dict[str, Any] = {
            "code": str(code),
            "category": CATEGORY,
            "title": title or f"借閱 {lent[0]}{more}（{FORM_ZH[form]}）",
            "status": "requested",
            "opened": moment.astimezone(rules.tz).date().isoformat(),
            "records": lent,
            "borrower": person_record,
            "purpose": purpose,
            "form": form,
            "events": [new_event("request", moment, borrower, rules, LoanState(), days=days)],
        }
        _refuse_if(code, loan_problems(tree, vault.config))
        sealed = records.prepare(vault, code, tree)
        message = f"dangan lend request: {code} {' '.join(lent)}"
        commit_id = vault.apply({code.path: dump(sealed).encode()}, message, commit)
    return Done(str(code), code.path, commit_id, "requested", None)


def _loan_code(text: str) -> Code:
    code = parse_code(text)
    if code.category != CATEGORY:
        raise DanganError(f"{code} is not a loan", f"loans are {CATEGORY}-nnnn codes; list them with `dangan lend ls`")
    return code


def _append(vault: Vault, loan: str, action: str,
            make: Callable[[LoanState, LendingRules], dict[str, Any]], commit: bool) -> Done:
    """Append one event to a loan: replay, refuse on any DG111 problem, write, commit."""
    code = _loan_code(loan)
    rules = LendingRules.from_config(vault.config)
    with vault.lock():
        plain, _rt, stored = records.read_plain(vault, code)
        state, _ = replay(plain, rules)
        new = with_event(plain, make(state, rules), rules)
        problems = loan_problems(new, vault.config) + loan_conflicts(code.path, new, _work_tree(vault))
        _refuse_if(code, problems)
        sealed = records.prepare(vault, code, new, previous=stored)
        commit_id = vault.apply({code.path: dump(sealed).encode()}, f"dangan lend {action}: {code}", commit)
    after, _ = replay(new, rules)
    due = after.due.isoformat() if after.due and after.status == "out" else None
    return Done(str(code), code.path, commit_id, str(after.status), due)


def approve(vault: Vault, loan: str, by: str | None = None, at: str | None = None, commit: bool = True) -> Done:
    who, moment = person(vault, by), timeutil.parse_when(at, vault.tz)
    return _append(vault, loan, "approve", lambda s, r: new_event("approve", moment, who, r, s), commit)


def reject(vault: Vault, loan: str, reason: str, by: str | None = None, at: str | None = None,
           commit: bool = True) -> Done:
    if not reason or not reason.strip():
        raise DanganError("a rejection needs a reason", "give --reason TEXT")
    who, moment = person(vault, by), timeutil.parse_when(at, vault.tz)
    return _append(vault, loan, "reject", lambda s, r: new_event("reject", moment, who, r, s, reason=reason), commit)


def checkout(vault: Vault, loan: str, by: str | None = None, days: int | None = None, at: str | None = None,
             commit: bool = True) -> Done:
    """Hand over: due = the checkout day (in the vault's timezone) + days."""
    who, moment = person(vault, by), timeutil.parse_when(at, vault.tz)

    def make(state: LoanState, rules: LendingRules) -> dict[str, Any]:
        granted = days if days is not None else (state.requested_days or rules.loan_days)
        return new_event("checkout", moment, who, rules, state, days=granted)

    return _append(vault, loan, "checkout", make, commit)


def renew(vault: Vault, loan: str, days: int, by: str | None = None, reason: str | None = None,
          at: str | None = None, commit: bool = True) -> Done:
    """Extend: the new due date is the previous one + days, never past checkout + max_total_days."""
    who, moment = person(vault, by), timeutil.parse_when(at, vault.tz)
    return _append(vault, loan, "renew",
                   lambda s, r: new_event("renew", moment, who, r, s, days=days, reason=reason), commit)


def give_back(vault: Vault, loan: str, condition: str, by: str | None = None, note: str | None = None,
              at: str | None = None, commit: bool = True) -> Done:
    """Take back (`lend return`): intact, damaged or lost; damaged and lost need a note."""
    if condition not in CONDITIONS:
        raise DanganError(f"unknown condition {condition!r}", f"conditions: {', '.join(CONDITIONS)}")
    if condition != "intact" and not (note and note.strip()):
        raise DanganError(f"a {condition} return needs a note", "give --note TEXT: what is damaged or lost, and what was done")
    who, moment = person(vault, by), timeutil.parse_when(at, vault.tz)
    return _append(vault, loan, "return",
                   lambda s, r: new_event("return", moment, who, r, s, condition=condition, note=note), commit)


# -------------------------------------------------------------------- reports

LIST_STATUSES = ("all", "requested", "approved", "rejected", "out", "overdue", "closed")


@dataclass(frozen=True)
class LoanRow:
    """One loan as of a day (JSON shape of `lend ls`, docs/lending.md)."""

    code: str
    status: str
    overdue: bool
    days_overdue: int
    due: str | None
    records: list[str]
    borrower: str
    department: str
    form: str
    purpose: str
    requested: str | None
    approved_by: str | None
    checked_out: str | None
    renewals: int
    ended: str | None
    condition: str | None
    note: str | None
    path: str


def row(path: str, tree: dict[str, Any], rules: LendingRules, as_of: dt.date) -> LoanRow | None:
    """The loan as its events up to the end of `as_of` (vault timezone) say; None before its request."""
    until = dt.datetime.combine(as_of, dt.time.max).replace(tzinfo=rules.tz)
    state, _ = replay(tree, rules, until)
    if state.status is None:
        return None
    overdue = state.status == "out" and state.due is not None and state.due < as_of
    borrower = tree.get("borrower") if isinstance(tree.get("borrower"), dict) else {}

    def day(moment: dt.datetime | None) -> str | None:
        return moment.astimezone(rules.tz).date().isoformat() if moment else None

    return LoanRow(
        code=str(tree.get("code", path)),
        status=state.status,
        overdue=overdue,
        days_overdue=(as_of - state.due).days if overdue and state.due else 0,
        due=state.due.isoformat() if state.due and state.status == "out" else None,
        records=[str(c) for c in tree.get("records") or []],
        borrower=str(borrower.get("name", "")),
        department=str(borrower.get("department", "")),
        form=str(tree.get("form", "")),
        purpose=str(tree.get("purpose", "")),
        requested=day(state.requested_at),
        approved_by=state.approved_by,
        checked_out=day(state.checkout_at),
        renewals=state.renewals,
        ended=day(state.ended_at),
        condition=state.condition,
        note=state.note,
        path=path,
    )


def loans(vault: Vault, status: str = "all", as_of: dt.date | None = None, borrower: str | None = None,
          record: str | None = None) -> list[LoanRow]:
    """Loans as of a day: `overdue` = out and due before that day, with days overdue."""
    if status not in LIST_STATUSES:
        raise DanganError(f"unknown status {status!r}", f"statuses: {', '.join(LIST_STATUSES)}")
    if record is not None:
        record = str(parse_code(record))
    rules = LendingRules.from_config(vault.config)
    day = as_of or vault.today()
    found = []
    for path, tree in _work_tree(vault).records(CATEGORY):
        item = row(path, tree, rules, day)
        if item is None:
            continue
        if status == "overdue" and not item.overdue:
            continue
        if status not in ("all", "overdue") and item.status != status:
            continue
        if borrower is not None and item.borrower != borrower:
            continue
        if record is not None and record not in item.records:
            continue
        found.append(item)
    return sorted(found, key=lambda r: _serial(r.code))


def _serial(code: str) -> tuple[int, str]:
    tail = code.rsplit("-", 1)[-1]
    return (int(tail), code) if tail.isdigit() else (0, code)


def damage_reports(vault: Vault, code: str) -> list[dict[str, Any]]:
    """Loans that returned the record `code` damaged or lost (for `dangan show CODE`)."""
    return [
        {"loan": r.code, "returned": r.ended, "condition": r.condition, "note": r.note, "borrower": r.borrower}
        for r in loans(vault, "closed", record=code)
        if r.condition in ("damaged", "lost")
    ]


def summary(vault: Vault, as_of: dt.date | None = None) -> dict[str, int]:
    """Lending indicators for `stats`: loans by state, overdue, damaged and lost returns."""
    rows = loans(vault, "all", as_of)
    counts = {s: sum(1 for r in rows if r.status == s) for s in ("requested", "approved", "out", "closed", "rejected")}
    counts["overdue"] = sum(1 for r in rows if r.overdue)
    counts["damaged"] = sum(1 for r in rows if r.condition == "damaged")
    counts["lost"] = sum(1 for r in rows if r.condition == "lost")
    return counts
