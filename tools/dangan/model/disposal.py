"""Retention and destruction (保管期限與銷毀), the rules (plan §5.3; docs/retention.md):

- the schedule: each category's rule from vault.yaml `retention` (`keep` an ISO 8601
  duration or `permanent`, `after` the field that starts the clock, `action`); a category
  without a rule is kept permanently (nothing is destroyed that nobody decided on);
- due date = trigger + keep (month-end clamping, see `add_duration`), or the record's
  `retention.until` override if that is later; what keeps a record although due (holds,
  loans: `Keepers`), judged by `assess`;
- who may approve, witness and carry out a destruction;
- `certificate_problems`, `certificate_conflicts` and `hold_problems`: DG112, called by the
  check engine.

Pure: no git, no files. The plans, the certificate writing and the hold commands are
`dangan.services.retention`.
"""
from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dangan.errors import DanganError
from dangan.i18n import Message
from dangan.model.codes import Code, CodeError, parse_code, parse_location
from dangan.model.timeutil import record_time

if TYPE_CHECKING:
    from dangan.model.sides import Side


DISPOSAL, HOLD, LOAN, APPRAISAL = "XH", "BQ", "JY", "JD"
# Ledger records are never deleted (DG109), whatever their rule says.
NEVER_DELETED = frozenset({"XH", "BQ", "JD"})  # loans (JY) follow their own rule, P10Y destroy
PLAN_FORMAT = "dangan retention plan 1"

# reasons a record that is not due is kept (plan `not_due[].reasons`)
PERMANENT, NO_TRIGGER, OVERRIDE, HELD, ON_LOAN, LEDGER = (
    "permanent", "no trigger date", "override", "held", "on loan", "ledger")
_DURATION = re.compile(r"P(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)W)?(?:([0-9]+)D)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# ------------------------------------------------------------------- schedule

@dataclass(frozen=True)
class Rule:
    keep: str  # an ISO 8601 duration, or "permanent"
    after: str = "closed"
    action: str = "destroy"
    source: str = "vault.yaml"  # or "none": no rule in vault.yaml, kept permanently

    @property
    def permanent(self) -> bool:
        return self.keep == "permanent"

    def as_dict(self) -> dict[str, str]:
        if self.permanent:
            return {"keep": "permanent"}
        return {"keep": self.keep, "after": self.after, "action": self.action}


def rule_for(config: Mapping[str, Any], category: str) -> Rule:
    """The effective rule of a category (defaults of vault.schema.json: closed, destroy)."""
    given = (config.get("retention") or {}).get(category)
    if not isinstance(given, dict) or not isinstance(given.get("keep"), str):
        return Rule("permanent", source="none")
    keep = given["keep"]
    if keep != "permanent" and not valid_duration(keep):
        return Rule("permanent", source="invalid")  # DG114 reports it; never destroy on it
    return Rule(keep, str(given.get("after") or "closed"), str(given.get("action") or "destroy"))


def schedule(config: Mapping[str, Any], categories: Iterable[str]) -> dict[str, Rule]:
    return {category: rule_for(config, category) for category in sorted(categories)}


def valid_duration(text: str) -> bool:
    return text != "P" and _DURATION.fullmatch(text) is not None


def add_duration(start: dt.date, duration: str) -> dt.date:
    """`start` + an ISO 8601 duration of years, months, weeks, days.

    Years and months first, as calendar months; a day that the target month lacks becomes
    its last day (2016-02-29 + P10Y = 2026-02-28, 2024-01-31 + P1M = 2024-02-29), as in
    XML Schema date arithmetic and the Civil Code's rule for periods (民法典 第二百零二條:
    without a corresponding day, the period ends on the last day of that month). Then
    weeks and days. A date beyond year 9999 is `date.max`: never due in practice.
    """
    match = _DURATION.fullmatch(duration)
    if match is None or duration == "P":
        raise DanganError(Message("{duration} is not an ISO 8601 duration like P10Y, P6M, P2W", duration=repr(duration)))
    years, months, weeks, days = (int(g or 0) for g in match.groups())
    index = start.year * 12 + start.month - 1 + years * 12 + months
    year, month0 = divmod(index, 12)
    if year > dt.MAXYEAR:
        return dt.date.max
    day = min(start.day, calendar.monthrange(year, month0 + 1)[1])
    try:
        return dt.date(year, month0 + 1, day) + dt.timedelta(days=weeks * 7 + days)
    except OverflowError:
        return dt.date.max


def to_day(value: Any, tz: ZoneInfo) -> dt.date | None:
    """A record's date (`YYYY-MM-DD`) or timestamp (its day in the vault's timezone)."""
    if not isinstance(value, str):
        return None
    return _to_day(value, tz)


@functools.lru_cache(maxsize=1 << 16)
def _to_day(value: str, tz: ZoneInfo) -> dt.date | None:
    """to_day() of a text (the readers of a large vault ask the same days again and again)."""
    try:
        if _DATE.fullmatch(value):
            return dt.date.fromisoformat(value)
        return record_time(value, tz).astimezone(tz).date()
    except ValueError:
        return None


def vault_tz(config: Mapping[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(str(config.get("timezone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# ------------------------------------------------------------- holds and loans

def hold_active(tree: Mapping[str, Any]) -> bool:
    """A hold is active until its last event is a release. Only the events decide: `status`
    is derived, and a clear `status: released` without a release event (an edit that
    skipped the hooks) must not lift a hold. A hold without events keeps (the safe side)."""
    events = [e for e in tree.get("events") or [] if isinstance(e, dict)]
    return not events or events[-1].get("action") != "release"


def hold_problems(tree: Mapping[str, Any]) -> list[str]:
    """DG112 for one hold on its own: its `status` says what its events say (as DG111
    does for a loan's). `hold_active` reads the events, so a contradiction is either a
    hand edit of `status` or a release event without its status: both are reported."""
    derived = "active" if hold_active(tree) else "released"
    status = tree.get("status")
    if status is not None and status != derived:
        return [f"status is {status!r} but the events say {derived!r}"]
    return []


def loan_out(tree: Mapping[str, Any]) -> bool:
    """A loan is out after checkout or renew and until return (either signal keeps)."""
    events = [e for e in tree.get("events") or [] if isinstance(e, dict)]
    return tree.get("status") == "out" or (bool(events) and events[-1].get("action") in ("checkout", "renew"))


def target_covers(target: str, code: Code) -> bool:
    """A hold target names the code, a location prefix containing it, or its category."""
    if not isinstance(target, str):
        return False
    if re.fullmatch(r"[A-Z]{2}", target):
        return code.category == target
    try:
        return parse_code(target) == code
    except CodeError:
        pass
    try:
        prefix = parse_location(target)
    except CodeError:
        return False
    return bool(prefix.parts) and prefix.contains(code.location)


@dataclass
class Keepers:
    """The active holds and the loans out, to ask which keep a record."""

    holds: list[tuple[str, list[str]]] = field(default_factory=list)  # (BQ code, targets)
    loans: list[tuple[str, set[str]]] = field(default_factory=list)  # (JY code, codes out)
    # encrypted holds (BQ) read from their clear fields, their MAC not verified (no key)
    unverified: list[str] = field(default_factory=list)

    @classmethod
    def from_trees(cls, holds: Iterable[dict[str, Any]], loans: Iterable[dict[str, Any]]) -> Keepers:
        keepers = cls()
        for tree in holds:
            if hold_active(tree):
                keepers.holds.append((str(tree.get("code")), [t for t in tree.get("targets") or [] if isinstance(t, str)]))
        for tree in loans:
            if loan_out(tree):
                keepers.loans.append((str(tree.get("code")), {c for c in tree.get("records") or [] if isinstance(c, str)}))
        return keepers

    def holding(self, code: Code) -> list[str]:
        return sorted(bq for bq, targets in self.holds if any(target_covers(t, code) for t in targets))

    def lending(self, code: Code) -> list[str]:
        return sorted(jy for jy, lent in self.loans if str(code) in lent)


# ------------------------------------------------------------------ assessment

@dataclass
class Assessment:
    """Whether one record is due as of a day, and if not, why it is kept."""

    code: Code
    title: str
    rule: Rule
    trigger: dt.date | None = None
    rule_due: dt.date | None = None  # trigger + keep
    until: dt.date | None = None  # retention.until override
    reasons: list[str] = field(default_factory=list)  # empty: due
    holds: list[str] = field(default_factory=list)
    loans: list[str] = field(default_factory=list)
    later: bool = False  # simply not yet due by its rule

    @property
    def due(self) -> dt.date | None:
        if self.rule_due is None:
            return None
        return max(self.rule_due, self.until) if self.until else self.rule_due

    @property
    def is_due(self) -> bool:
        return not self.reasons and not self.later


def assess(code: Code, tree: Mapping[str, Any], rule: Rule, as_of: dt.date, tz: ZoneInfo, keepers: Keepers) -> Assessment:
    title = tree.get("title")
    shown = (isinstance(title, str) and title and not title.startswith("ENC[")
             and tree.get("level") != "secret")  # a secret record's title is never shown
    found = Assessment(code, title if shown else str(code), rule)
    if rule.permanent:
        found.reasons.append(PERMANENT)
        return found
    found.trigger = to_day(tree.get(rule.after), tz)
    if found.trigger is None:
        found.reasons.append(NO_TRIGGER)
        return found
    found.rule_due = add_duration(found.trigger, rule.keep)
    override = tree.get("retention")
    if isinstance(override, dict):
        found.until = to_day(override.get("until"), tz)
    if found.rule_due > as_of:
        found.later = True
        return found
    if found.until is not None and found.until > as_of:
        found.reasons.append(OVERRIDE)
    found.holds = keepers.holding(code)
    if found.holds:
        found.reasons.append(HELD)
    found.loans = keepers.lending(code)
    if found.loans:
        found.reasons.append(ON_LOAN)
    if code.category in NEVER_DELETED:
        found.reasons.append(LEDGER)
    return found


def people_with(config: Mapping[str, Any], role: str) -> set[str]:
    return {str(r.get("name")) for r in config.get("recipients") or []
            if isinstance(r, dict) and role in (r.get("roles") or [])}


def witness_problems(approved_by: Any, witnesses: Any) -> list[str]:
    """Two different witnesses (監銷人), neither of them the approver."""
    problems = []
    named = {w.strip() for w in witnesses if isinstance(w, str)} if isinstance(witnesses, list) else set()
    if len(named) < 2:
        problems.append(Message("a destruction needs two different witnesses (監銷人); it has {count}", count=len(named)))
    approver = approved_by.strip() if isinstance(approved_by, str) else ""
    if approver and approver in named:
        problems.append(Message("witness {approver} is the approver; witnesses must be other people", approver=approver))
    return problems


def role_problems(config: Mapping[str, Any], approved_by: Any, carried_out_by: Any) -> list[str]:
    """The approver has the approver role, whoever carried it out the archivist role."""
    problems = []
    approver = approved_by.strip() if isinstance(approved_by, str) else ""
    if approver not in people_with(config, "approver"):
        problems.append(Message("{value} does not have the approver role in vault.yaml", value=approver or 'the approver'))
    if isinstance(carried_out_by, str) and carried_out_by.strip() not in people_with(config, "archivist"):
        problems.append(Message("{carried_out_by} (carried out by) does not have the archivist role in vault.yaml", carried_out_by=carried_out_by))
    return problems


# ----------------------------------------------------------------- DG112 checks

def certificate_problems(tree: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """DG112 for one certificate on its own: witnesses, and items that make no sense.

    The roles of the people are judged when the certificate is added (change level, with
    the vault.yaml of that commit): a person who later loses a role, or leaves and is
    removed from the recipients, must not turn a past, permanent certificate into a finding.
    """
    problems = witness_problems(tree.get("approved_by"), tree.get("witnesses"))
    seen: set[str] = set()
    for item in tree.get("items") or []:
        if not isinstance(item, dict):
            continue
        code = str(item.get("code"))
        if code in seen:
            problems.append(Message("{code} is listed twice", code=code))
        seen.add(code)
        if not code.startswith(f"{item.get('category')}-"):
            problems.append(Message("{code}: category {value} differs from the code's", code=code, value=item.get('category')))
        if isinstance(item.get("rule"), dict) and item["rule"].get("keep") == "permanent":
            problems.append(Message("{code} is kept permanently and cannot be destroyed", code=code))
    tz = vault_tz(config)
    day, as_of = to_day(tree.get("destroyed_at"), tz), to_day(tree.get("plan_as_of"), tz)
    if day is not None and as_of is not None and as_of > day:
        problems.append(Message("destroyed on {day}, before the as-of date of its plan ({as_of})", day=day, as_of=as_of))
    return problems


def _attachments_follow(code: Code, item: Mapping[str, Any], last: Mapping[str, Any], side: Side) -> list[str]:
    """A record's attachments are destroyed with it, and the certificate lists them."""
    from dangan.model.layout import listed, path_of

    has = [(e.get("file"), e.get("sha256")) for e in listed(last)]
    named = [(e.get("file"), e.get("sha256")) for e in item.get("attachments") or [] if isinstance(e, dict)]
    problems = []
    if has != named:
        problems.append(Message("{code}: the certificate lists attachments {value}, its last version {value2} (with their SHA-256)", code=code, value=[f for f, _ in named], value2=[f for f, _ in has]))
    for file, _ in has:
        rel = path_of(code, str(file))
        if rel not in side.removed and side.exists(rel):
            problems.append(Message("{code}: its attachment {file} is left behind; attachments are destroyed with their record", code=code, file=file))
    return problems


def certificate_conflicts(path: str, tree: dict[str, Any], side: Side, old: dict[str, Any] | None = None) -> list[str]:
    """DG112 against the vault, for a certificate a change adds (or items it appends to
    one, `old` being the certificate before): roles (this commit's vault.yaml), and each
    record listed must be removed by the same change in exactly the version listed, and
    have been due on the day of destruction, not held and not on loan (new side)."""
    config = side.config or {}
    problems = role_problems(config, tree.get("approved_by"), tree.get("carried_out_by")) if old is None else []
    known = {i.get("code") for i in (old or {}).get("items") or [] if isinstance(i, dict)}
    tz = vault_tz(config)
    day = to_day(tree.get("destroyed_at"), tz)
    if day is None:
        return problems  # the schema reports it
    keepers = Keepers.from_trees((t for _, t in side.records(HOLD)), (t for _, t in side.records(LOAN)))
    for item in tree.get("items") or []:
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            continue
        if item["code"] in known:
            continue  # judged when it was listed
        try:
            code = parse_code(item["code"])
        except CodeError:
            continue  # the schema reports it
        last = side.blob(str(item.get("blob"))) if isinstance(item.get("blob"), str) else None
        if last is None:
            problems.append(Message("{code}: its last version ({value}) is not in this repository", code=code, value=item.get('blob')))
            continue
        if last.get("code") != str(code):
            problems.append(Message("{code}: blob {value} is a version of {value2}, not of {code}", code=code, value=item.get('blob'), value2=last.get('code')))
            continue
        removed = side.removed.get(code.path)
        if removed is None:
            if side.exists(code.path):
                problems.append(Message("{code} is listed but not removed; a certificate comes with the removal of what it lists (dangan retention apply)", code=code))
            else:
                problems.append(Message("{code} is listed but is not in the vault to be removed", code=code))
            continue
        if item.get("blob") != removed:
            problems.append(Message("{code}: the certificate lists version {value}, but the change removes version {removed}; make a new plan", code=code, value=item.get('blob'), removed=removed))
            continue
        problems += _attachments_follow(code, item, last, side)
        if isinstance(item.get("appraisal"), str):
            problems += _appraisal_agrees(code, item, side)
        rule = rule_for(config, code.category)
        found = assess(code, last, rule, day, tz, keepers)
        if not found.is_due:
            problems.append(Message("{code} {value} on {day}, the day of destruction", code=code, value=_why(found), day=day))
        elif item.get("due") != found.due.isoformat() or item.get("trigger") != found.trigger.isoformat():
            problems.append(Message("{code}: the certificate says trigger {value}, due {value2}; the record's are {trigger}, {due}", code=code, value=item.get('trigger'), value2=item.get('due'), trigger=found.trigger, due=found.due))
    return problems


def _appraisal_agrees(code: Code, item: Mapping[str, Any], side: Side) -> list[str]:
    """The appraisal (JD) a certificate item names decided to destroy that very version.
    A certificate without `appraisal` is not judged here: those written before appraisals
    existed have none, and `approve`/`apply` require one where the rule says review."""
    named = item["appraisal"]
    trees = [t for _, t in side.records(APPRAISAL) if t.get("code") == named]
    if not trees:
        return [f"{code}: its appraisal {named} is not in the vault"]
    for entry in trees[0].get("items") or []:
        if isinstance(entry, dict) and entry.get("code") == str(code) and entry.get("blob") == item.get("blob"):
            if entry.get("decision") == "destroy":
                return []
            return [f"{code}: its appraisal {named} decided to keep it, not to destroy it"]
    return [f"{code}: its appraisal {named} does not appraise this version ({item.get('blob')})"]


def _why(found: Assessment) -> str:
    """Why a record is not destroyed, as a Message (its reasons joined by "and")."""
    if found.later:
        return Message("is not due until {due}", due=found.due)
    parts = []
    for reason in found.reasons:
        if reason == HELD:
            parts.append(Message("is held by {value}", value=', '.join(found.holds)))
        elif reason == ON_LOAN:
            parts.append(Message("is on loan ({value})", value=', '.join(found.loans)))
        elif reason == OVERRIDE:
            parts.append(Message("is kept until {until} (retention.until)", until=found.until))
        elif reason == LEDGER:
            parts.append(Message("is a certificate or hold, never deleted"))
        else:
            parts.append(Message("is not due ({reason})", reason=reason))
    if not parts:
        return ""
    why = parts[0]
    for part in parts[1:]:
        why = Message("{first} and {second}", first=why, second=part)
    return why
