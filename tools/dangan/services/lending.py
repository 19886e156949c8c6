"""Lending (借閱), the commands: `request`, `approve`, `reject`, `checkout`, `renew`,
`give_back` for return, `view` and `register_copy` (a view in the archive room and a
certified copy or extract: one event each, nothing to return), and the reports (`loans`, `damage_reports`, `summary`). They take a
Vault and plain arguments, lock, write one JY record and commit, return results and never
print. The state machine and the rules they obey are `dangan.model.loans`
(docs/lending.md §1): a command refuses a new event when the replay of the loan with it
appended finds a problem."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dangan.errors import DanganError, Refusal
from dangan.formats.yamlio import YamlError, decode, dump, load_text
from dangan.git import gitio
from dangan.i18n import N_, Message, _
from dangan.i18n import shown as in_language
from dangan.model import timeutil
from dangan.model.codes import Code, Location, parse_code
from dangan.model.loans import (
    CATEGORY,
    DISPOSAL,
    LendingRules,
    LoanState,
    certificate_index,
    loan_conflicts,
    loan_problems,
    new_event,
    replay,
    with_event,
)
from dangan.model.sides import Side
from dangan.services import records
from dangan.store.vault import RECORDS, Vault

# ------------------------------------------------------------- the commands

FORMS = ("original", "copy", "scan")
COPY_FORMS = ("copy", "extract")
FORM_ZH = {"original": "原件", "copy": "複印件", "scan": "掃描件", "extract": "摘抄"}
CONDITIONS = ("intact", "damaged", "lost")
HINT = N_("nothing was written; the lending rules are in docs/lending.md")


@dataclass(frozen=True)
class Done:
    """What a lending command wrote."""

    code: str
    path: str
    commit: str | None
    status: str
    due: str | None


def person(vault: Vault, by: str | None) -> str:
    """`--by NAME`, by default the author git would record (GIT_AUTHOR_NAME, user.name)."""
    return by if by else timeutil.default_person(gitio.author_name(vault.root))


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


def _refuse_if(code: Code | str, problems: list[str], borrower: str | None = None) -> None:
    if problems:
        roles = all(" role in vault.yaml" in p for p in problems)
        hint = (_("nothing was written; roles are given to recipients: `dangan recipients add NAME KEY "
                  "--role approver`") if roles else _(HINT))
        if borrower is not None and all("lending.max_open_loans" in p for p in problems):
            hint = _("nothing was written; a loan must come back (or be rejected) first: "
                     "`dangan lend ls --borrower {borrower}`").format(borrower=borrower)
        raise Refusal(_("{code}: DG111 {problems}").format(
            code=code, problems=_("; ").join(in_language(p) for p in dict.fromkeys(problems))), hint)


def _lent_codes(vault: Vault, texts: list[str]) -> list[str]:
    """The codes to lend: existing records (a destroyed one is refused, an unknown one is
    bad input)."""
    if not texts:
        raise DanganError(_("no records to lend"), _("give one or more archive codes"))
    codes = [parse_code(t) for t in texts]
    shown = [str(c) for c in codes]
    if len(set(shown)) != len(shown):
        raise DanganError(_("a code is given twice"), _("list each record once"))
    unknown = [c for c in codes if c.category not in vault.schemas.categories]
    if unknown:
        raise DanganError(_("unknown category {category} in code {code}").format(
            category=repr(unknown[0].category), code=unknown[0]))
    missing = [c for c in codes if not vault.path_of(c).is_file()]
    if missing:
        destroyed = certificate_index(_work_tree(vault).records(DISPOSAL))
        gone = [Message("{code} was destroyed ({certificate}); a destroyed record cannot be lent",
                        code=c, certificate=destroyed[str(c)]) for c in missing if str(c) in destroyed]
        never = [str(c) for c in missing if str(c) not in destroyed]
        if never:
            raise DanganError(_("no record {codes} (no such file)").format(codes=", ".join(never)),
                              _("list records with `dangan ls`"))
        _refuse_if("lend request", gone)
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
        raise DanganError(_("unknown form {form}").format(form=repr(form)),
                          _("forms: {forms}").format(forms=", ".join(FORMS)))
    rules = LendingRules.from_config(vault.config)
    moment = timeutil.parse_at(at, vault.tz)
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
        problems = loan_problems(tree, vault.config) + loan_conflicts(code.path, tree, _work_tree(vault))
        _refuse_if(code, problems, borrower)
        sealed = records.prepare(vault, code, tree)
        message = f"dangan lend request: {code} {' '.join(lent)}"
        commit_id = vault.apply({code.path: dump(sealed).encode()}, message, commit)
    return Done(str(code), code.path, commit_id, "requested", None)


def _one_event(vault: Vault, action: str, codes: list[str], name: str, department: str, purpose: str,
               form: str, event: Callable[[dt.datetime, LendingRules], dict[str, Any]], at: str | None,
               title: str, commit: bool) -> Done:
    """A record of the lending log that is one event, opened and closed at once (a view, a
    copy): refused like a loan's event on any DG111 problem, with the roles judged now."""
    rules = LendingRules.from_config(vault.config)
    moment = timeutil.parse_at(at, vault.tz)
    with vault.lock():
        lent = _lent_codes(vault, codes)
        code = records.allocate(vault, CATEGORY, Location())
        more = f" 等{len(lent)}件" if len(lent) > 1 else ""
        day = moment.astimezone(rules.tz).date().isoformat()
        tree: dict[str, Any] = {
            "code": str(code),
            "category": CATEGORY,
            "title": f"{title} {lent[0]}{more}（{FORM_ZH[form]}）",
            "status": "requested",
            "opened": day,
            "records": lent,
            "borrower": {"name": name, "department": department},
            "purpose": purpose,
            "form": form,
            "events": [],
        }
        tree = with_event(tree, event(moment, rules), rules)
        problems = loan_problems(tree, vault.config) + loan_conflicts(code.path, tree, _work_tree(vault))
        _refuse_if(code, problems)
        sealed = records.prepare(vault, code, tree)
        message = f"dangan lend {action}: {code} {' '.join(lent)}"
        commit_id = vault.apply({code.path: dump(sealed).encode()}, message, commit)
    return Done(str(code), code.path, commit_id, str(tree["status"]), None)


def view(vault: Vault, codes: list[str], borrower: str, department: str, purpose: str, by: str | None = None,
         at: str | None = None, commit: bool = True) -> Done:
    """A view (查閱) of originals in the archive room, recorded by the archivist who
    supervised it: one event, `viewed` at once, never out, never overdue. The categories
    whose originals are not lent may be viewed: the original does not leave the room."""
    who = person(vault, by)
    return _one_event(vault, "view", codes, borrower, department, purpose, "original",
                      lambda moment, rules: new_event("view", moment, who, rules, LoanState()), at, "查閱", commit)


def register_copy(vault: Vault, codes: list[str], given_to: str, department: str, purpose: str, pages: int,
                  certified_by: str, form: str = "copy", by: str | None = None, at: str | None = None,
                  commit: bool = True) -> Done:
    """A copy or an extract (檔案復制, 摘抄) given for good: who made it, how many pages, the
    archivist who certified that it matches the original, to whom: `copied`, nothing to
    return."""
    if form not in COPY_FORMS:
        raise DanganError(_("unknown form {form} for a copy").format(form=repr(form)),
                          _("forms: {forms}").format(forms=", ".join(COPY_FORMS)))
    if pages < 1:
        raise DanganError(_("--pages {pages}: a copy has at least one page").format(pages=pages),
                          _("give --pages N, the pages handed over"))
    who = person(vault, by)
    return _one_event(
        vault, "copy", codes, given_to, department, purpose, form,
        lambda moment, rules: new_event("copy", moment, who, rules, LoanState(), pages=pages,
                                        certified_by=certified_by),
        at, "復制" if form == "copy" else "摘抄", commit)


def _loan_code(text: str) -> Code:
    code = parse_code(text)
    if code.category != CATEGORY:
        raise DanganError(_("{code} is not a loan").format(code=code),
                          _("loans are {category}-nnnn codes; list them with `dangan lend ls`").format(
                              category=CATEGORY))
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
        commit_id = vault.apply({code.path: vault.render(code.path, sealed)}, f"dangan lend {action}: {code}", commit)
    after, _ = replay(new, rules)
    due = after.due.isoformat() if after.due and after.status == "out" else None
    return Done(str(code), code.path, commit_id, str(after.status), due)


def approve(vault: Vault, loan: str, by: str | None = None, at: str | None = None, commit: bool = True) -> Done:
    who, moment = person(vault, by), timeutil.parse_at(at, vault.tz)
    return _append(vault, loan, "approve", lambda s, r: new_event("approve", moment, who, r, s), commit)


def reject(vault: Vault, loan: str, reason: str, by: str | None = None, at: str | None = None,
           commit: bool = True) -> Done:
    if not reason or not reason.strip():
        raise DanganError(_("a rejection needs a reason"), _("give --reason TEXT"))
    who, moment = person(vault, by), timeutil.parse_at(at, vault.tz)
    return _append(vault, loan, "reject", lambda s, r: new_event("reject", moment, who, r, s, reason=reason), commit)


def checkout(vault: Vault, loan: str, by: str | None = None, days: int | None = None, at: str | None = None,
             commit: bool = True) -> Done:
    """Hand over: due = the checkout day (in the vault's timezone) + days."""
    who, moment = person(vault, by), timeutil.parse_at(at, vault.tz)

    def make(state: LoanState, rules: LendingRules) -> dict[str, Any]:
        granted = days if days is not None else (state.requested_days or rules.loan_days)
        return new_event("checkout", moment, who, rules, state, days=granted)

    return _append(vault, loan, "checkout", make, commit)


def renew(vault: Vault, loan: str, days: int, by: str | None = None, reason: str | None = None,
          at: str | None = None, commit: bool = True) -> Done:
    """Extend: the new due date is the previous one + days, never past checkout + max_total_days."""
    who, moment = person(vault, by), timeutil.parse_at(at, vault.tz)
    return _append(vault, loan, "renew",
                   lambda s, r: new_event("renew", moment, who, r, s, days=days, reason=reason), commit)


def give_back(vault: Vault, loan: str, condition: str, by: str | None = None, note: str | None = None,
              at: str | None = None, commit: bool = True) -> Done:
    """Take back (`lend return`): intact, damaged or lost; damaged and lost need a note."""
    if condition not in CONDITIONS:
        raise DanganError(_("unknown condition {condition}").format(condition=repr(condition)),
                          _("conditions: {conditions}").format(conditions=", ".join(CONDITIONS)))
    if condition != "intact" and not (note and note.strip()):
        raise DanganError(_("a {condition} return needs a note").format(condition=condition),
                          _("give --note TEXT: what is damaged or lost, and what was done"))
    who, moment = person(vault, by), timeutil.parse_at(at, vault.tz)
    return _append(vault, loan, "return",
                   lambda s, r: new_event("return", moment, who, r, s, condition=condition, note=note), commit)


# -------------------------------------------------------------------- reports

LIST_STATUSES = ("all", "requested", "approved", "rejected", "out", "overdue", "closed", "viewed", "copied")


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
    kind: str = "loan"  # loan, view or copy
    recorded_by: str | None = None  # the archivist of a view or a copy
    pages: int | None = None
    certified_by: str | None = None


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
        kind=state.kind or "loan",
        recorded_by=state.recorded_by,
        pages=state.pages,
        certified_by=state.certified_by,
    )


def unknown_borrower(vault: Vault, borrower: str) -> str | None:
    """A warning when no loan, view or copy ever names `borrower` (a filter that can only
    match nothing), with the nearest names the ledger has; None when one does."""
    from dangan.model import script

    rules = LendingRules.from_config(vault.config)
    names = set()
    for path, tree in _work_tree(vault).records(CATEGORY):
        item = row(path, tree, rules, vault.today())
        if item is not None and item.borrower:
            names.add(item.borrower)
    if script.matching(borrower, names):
        return None
    near = script.nearest(borrower, sorted(names))
    return f"no loan names the borrower {borrower!r}" + (f"; did you mean {', '.join(near)}?" if near else "")


def loans(vault: Vault, status: str = "all", as_of: dt.date | None = None, borrower: str | None = None,
          record: str | None = None) -> list[LoanRow]:
    """Loans as of a day: `overdue` = out and due before that day, with days overdue. A
    borrower matches in either script (张敏 is 張敏: model/script.py)."""
    from dangan.model import script

    if status not in LIST_STATUSES:
        raise DanganError(_("unknown status {status}").format(status=repr(status)),
                          _("statuses: {statuses}").format(statuses=", ".join(LIST_STATUSES)))
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
        if borrower is not None and item.borrower != borrower and not script.same(item.borrower, borrower):
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
    counts = {s: sum(1 for r in rows if r.status == s)
              for s in ("requested", "approved", "out", "closed", "rejected", "viewed", "copied")}
    counts["overdue"] = sum(1 for r in rows if r.overdue)
    counts["damaged"] = sum(1 for r in rows if r.condition == "damaged")
    counts["lost"] = sum(1 for r in rows if r.condition == "lost")
    return counts
