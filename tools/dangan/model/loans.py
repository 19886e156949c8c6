"""Loans (借閱) as JY records: their state machine and rules (docs/lending.md §1).

A loan is an append-only list of events; everything else about its state (status, due date,
who approved it, how it came back) is derived by replaying them. One replay serves three
callers, so that they can never disagree: the check engine (`loan_problems`, DG111 for one
loan; `loan_conflicts`, DG111 against the other loans), the `lend` commands
(`dangan.services.lending`, which refuse a new event when the replay of the loan with that
event appended finds a problem) and the reports (`lend ls`, overdue as of a date). Pure:
no git, no files.
"""
from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dangan.i18n import N_, Message
from dangan.model.sides import Side

CATEGORY = "JY"
DISPOSAL = "XH"
STATUS_AFTER = {
    "request": "requested",
    "approve": "approved",
    "reject": "rejected",
    "checkout": "out",
    "renew": "out",
    "return": "closed",
    # a view (查閱) in the archive room and a certified copy or extract (復制, 摘抄) are one
    # event each: opened and closed at once, never out, never overdue (docs/lending.md §2)
    "view": "viewed",
    "copy": "copied",
}
# the actions a record of the lending log starts with, and what the record then is
FIRST = {"request": "loan", "view": "view", "copy": "copy"}
# the states an action may follow (None: a loan not yet requested)
ALLOWED_AFTER: dict[str, frozenset[str | None]] = {
    "request": frozenset({None}),
    "approve": frozenset({"requested"}),
    "reject": frozenset({"requested", "approved"}),  # an approved loan not handed over may be called off
    "checkout": frozenset({"approved"}),
    "renew": frozenset({"out"}),
    "return": frozenset({"out"}),
    "view": frozenset({None}),
    "copy": frozenset({None}),
}
TERMINAL = frozenset({"rejected", "closed", "viewed", "copied"})
OPEN = frozenset({"requested", "approved", "out"})
ROLE_OF = {"approve": "approver", "reject": "approver", "checkout": "archivist", "renew": "archivist",
           "return": "archivist", "view": "archivist", "copy": "archivist"}
# the forms each kind of record may have: a view is of the original, in the archive room; a
# copy record registers a certified copy (復印件) or an extract (摘抄) handed over for good
FORMS_OF = {"loan": frozenset({"original", "copy", "scan"}), "view": frozenset({"original"}),
            "copy": frozenset({"copy", "extract"})}
WHY_STATE = {
    None: Message("no request yet"),
    "requested": Message("it is requested, not approved"),
    "approved": Message("it is approved, not handed over"),
    "rejected": Message("it was rejected"),
    "out": Message("it is out"),
    "closed": Message("it was returned"),
    "viewed": Message("it is a view, closed when it was recorded"),
    "copied": Message("it is a copy given for good, closed when it was recorded"),
}


# ------------------------------------------------------------------------ rules

@dataclass(frozen=True)
class LendingRules:
    """vault.yaml's `lending` section, its timezone and its role holders."""

    loan_days: int = 7
    max_total_days: int = 30
    # open loans (requested, approved, out) one borrower may hold; None: no limit
    max_open_loans: int | None = None
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
            max_open_loans=_int(lending.get("max_open_loans"), None),
            originals_not_lent=frozenset(str(c) for c in lending.get("originals_not_lent") or []),
            approvers=holders("approver"),
            archivists=holders("archivist"),
            tz=tz,
        )

    def holds(self, role: str, name: str) -> bool:
        return name in (self.approvers if role == "approver" else self.archivists)


def _int(value: Any, default: Any) -> Any:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# ------------------------------------------------------------------ the replay

@dataclass
class LoanState:
    """What the events of a loan say, up to a moment."""

    status: str | None = None
    kind: str | None = None  # loan, view or copy: what the first event made the record
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
    recorded_by: str | None = None  # the archivist of a view or a copy
    pages: int | None = None
    certified_by: str | None = None
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
            problems.append(Message("event {number} is not a mapping", number=number))
            continue
        action = str(event.get("action", ""))
        by = str(event.get("by", ""))
        at = _moment(event.get("at"), rules.tz)
        if until is not None and at is not None and at > until:
            break
        label = Message("event {number} ({action} by {by})", number=number, action=action, by=by)
        if at is None:
            problems.append(Message("{event} has no valid `at` timestamp", event=label))
        elif state.last_at is not None and at < state.last_at:
            problems.append(Message(
                "{event} is dated {at}, before the event it follows ({previous}); events are appended in "
                "time order", event=label, at=event.get("at"), previous=_stamp(state.last_at, rules.tz)))
        if action not in STATUS_AFTER:
            problems.append(Message("{event}: unknown action", event=label))
            continue
        if state.status not in ALLOWED_AFTER[action]:
            problems.append(Message("{event} is out of order: a loan cannot be {done} when {state}",
                                    event=label, done=_past(action), state=WHY_STATE[state.status]))
        role = ROLE_OF.get(action)
        if role is not None and not rules.holds(role, by):
            state.role_problems.append((number, Message(
                "{event}: {by} does not have the {role} role in vault.yaml (recipients[].roles)",
                event=label, by=by, role=role)))
        if number == 1:
            state.kind = FIRST.get(action)
        day = at.astimezone(rules.tz).date() if at is not None else None
        days = event.get("days")
        days = days if isinstance(days, int) and not isinstance(days, bool) else None
        due = _day(event.get("due"))
        if action == "request":
            if by != borrower:
                problems.append(Message("{event}: a loan is requested by its borrower ({borrower})",
                                        event=label, borrower=borrower))
            if days is not None and days > rules.loan_days:
                problems.append(Message(
                    "{event} asks for {days} days; one loan period is at most {limit} days "
                    "(vault.yaml lending.loan_days); ask for less and renew",
                    event=label, days=days, limit=rules.loan_days))
            state.requested_at, state.requested_days = at, days
        elif action == "approve":
            if by == borrower:
                problems.append(Message("{event}: the borrower cannot approve their own loan; an approver who "
                                        "is someone else must", event=label))
            state.approved_by = by
        elif action == "checkout":
            if days is not None and days > rules.loan_days:
                problems.append(Message(
                    "{event} lends for {days} days; one loan period is at most {limit} days "
                    "(vault.yaml lending.loan_days)", event=label, days=days, limit=rules.loan_days))
            if day is not None and days is not None and due is not None and due != day + dt.timedelta(days=days):
                problems.append(Message("{event}: due {due} is not the checkout day {day} + {days} days ({right})",
                                        event=label, due=due, day=day, days=days,
                                        right=day + dt.timedelta(days=days)))
            state.checkout_at, state.checkout_day, state.due = at, day, due
        elif action == "renew":
            if state.due is not None and days is not None and due is not None and due != state.due + dt.timedelta(days=days):
                problems.append(Message(
                    "{event}: due {due} is not the previous due date {previous} + {days} days ({right})",
                    event=label, due=due, previous=state.due, days=days,
                    right=state.due + dt.timedelta(days=days)))
            if state.checkout_day is not None and due is not None:
                limit = state.checkout_day + dt.timedelta(days=rules.max_total_days)
                if due > limit:
                    problems.append(Message(
                        "{event} extends the loan to {due}, past {limit} (checkout {checkout} + {days} days, "
                        "vault.yaml lending.max_total_days)", event=label, due=due, limit=limit,
                        checkout=state.checkout_day, days=rules.max_total_days))
            state.due = due
            state.renewals += 1
        elif action in ("view", "copy"):
            if by == borrower:
                problems.append(Message("{event}: the archivist who records a {action} is not its {whom}",
                                        event=label, action=action, whom=_whom(action)))
            state.requested_at = state.ended_at = at
            state.recorded_by = by
            if action == "copy":
                pages = event.get("pages")
                state.pages = pages if isinstance(pages, int) and not isinstance(pages, bool) else None
                certifier = event.get("certified_by")
                state.certified_by = str(certifier) if certifier is not None else None
                if state.pages is None:
                    problems.append(f"{label}: a copy names its number of pages (pages)")
                if not certifier:
                    problems.append(f"{label}: a copy is certified as matching the original (certified_by)")
                elif certifier == borrower:
                    problems.append(f"{label}: {certifier} receives the copy and cannot certify it")
                elif not rules.holds("archivist", str(certifier)):
                    state.role_problems.append((number, f"{label}: the certifier {certifier} does not have the "
                                                        "archivist role in vault.yaml (recipients[].roles)"))
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
    return Message({"request": "requested", "approve": "approved", "reject": "rejected", "checkout": "checked out",
                    "renew": "renewed", "return": "returned", "view": "viewed", "copy": "copied"}[action])


# the words `_past` and `_whom` give, for the catalogs
_WORDS = (N_("requested"), N_("approved"), N_("rejected"), N_("checked out"), N_("renewed"), N_("returned"),
          N_("viewed"), N_("copied"), N_("viewer"), N_("recipient"))


def _whom(action: str) -> str:
    return Message("viewer" if action == "view" else "recipient")


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
    form = tree.get("form")
    if state.kind is not None and form not in FORMS_OF[state.kind]:
        allowed = ", ".join(sorted(FORMS_OF[state.kind]))
        problems.append(f"form is {form!r}, but a {state.kind} record has the form {allowed}")
    # a view shows the original in the archive room: it never leaves, so the categories whose
    # originals are not lent may be viewed (and copied) all the same
    if form == "original" and state.kind == "loan":
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
    if known == 0 and state.kind == "loan" and rules.max_open_loans is not None:
        problems += _over_limit(path, tree, side, rules)
    if state.status in OPEN or (known == 0 and state.kind in ("view", "copy")):
        destroyed = certificate_index(side.records(DISPOSAL))
        for code in mine:
            if code in destroyed:
                problems.append(Message("{code} was destroyed ({certificate}); a destroyed record cannot be lent",
                                        code=code, certificate=destroyed[code]))
    if state.status == "out" and tree.get("form") == "original":
        for other_path, other in side.records(CATEGORY):
            if other_path == path or other.get("form") != "original":
                continue
            other_state, _ = replay(other, rules)
            if other_state.status != "out":
                continue
            shared = [c for c in mine if c in (other.get("records") or [])]
            for code in shared:
                problems.append(Message(
                    "the original of {code} is already out on {loan}; an original is out on one loan at a time",
                    code=code, loan=other.get("code", other_path)))
    return problems


def _over_limit(path: str, tree: dict[str, Any], side: Side, rules: LendingRules) -> list[str]:
    """A new request by a borrower who already holds `max_open_loans` open loans (their
    other loans requested, approved or out in this commit; views and copies are not loans)."""
    borrower = tree.get("borrower") if isinstance(tree.get("borrower"), dict) else {}
    name = borrower.get("name")
    held = []
    for other_path, other in side.records(CATEGORY):
        if other_path == path or not isinstance(other.get("borrower"), dict):
            continue
        if other["borrower"].get("name") != name:
            continue
        other_state, _ = replay(other, rules)
        if other_state.status in OPEN:
            held.append(str(other.get("code", other_path)))
    if rules.max_open_loans is None or len(held) < rules.max_open_loans:
        return []
    return [Message("{name} already holds {count} open loans ({loans}); at most {limit} (vault.yaml "
                    "lending.max_open_loans)", name=name, count=len(held), loans=", ".join(sorted(held)),
                    limit=rules.max_open_loans)]


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
              note: str | None = None, pages: int | None = None,
              certified_by: str | None = None) -> dict[str, Any]:
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
    if pages is not None:
        event["pages"] = pages
    if certified_by:
        event["certified_by"] = certified_by
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
