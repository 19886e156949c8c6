"""DG121: dates are real (docs/ci.md, docs/decisions.md "Dates are real").

An act recorded in the archive happened before the commit that records it: a loan's or a
hold's event (`events[].at`), a disposal certificate's destruction (`destroyed_at`, and its
plan's `plan_as_of` day), an inventory's count (`counted_at`), a handover (`handed_over_at`),
an attachment's listing
(`attachments[].added`). So each time a change *adds* is judged against the committer date
of its commit, with `CLOCK_SKEW` of slack; a time already in the parent is not judged again.
The committer date in turn is bounded by the clock of whoever checks the commit (the
server's pre-receive above all): a commit dated in its future is refused too. Together a
writer cannot date an act after the moment the server received it; dating one in the past
(a paper form entered late) stays possible, as it must.

Where the commit does not exist yet (the pre-commit hook, `check --staged`), the bound is the
date the commit will get (`git var GIT_COMMITTER_IDENT`: GIT_COMMITTER_DATE or now) or now,
whichever is earlier.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dangan.errors import DanganError
from dangan.formats.yamlio import YamlError, decode, load_text
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model.codes import path_to_code
from dangan.model.layout import listed, owner
from dangan.model.timeutil import CLOCK_SKEW, record_time
from dangan.rules.check import Finding

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

RULE = "DG121"
# the ledgers whose acts carry times (events, a destruction, a count)
EVENTS = ("JY", "BQ")
STAMPS = {"XH": ("destroyed_at", "plan_as_of"), "PD": ("counted_at",), "YJ": ("handed_over_at",)}
TIMED = frozenset((*EVENTS, *STAMPS))
SKEW_MINUTES = int(CLOCK_SKEW.total_seconds() // 60)
SKEW_TEXT = f"{SKEW_MINUTES} minutes of clock skew allowed"


def commit_times(root: Path, commits: list[tuple[str | None, str]]) -> dict[str, int]:
    """The committer dates of the commits `check_commits` judges, read once for all."""
    return gitio.commit_times(root, [commit for _parent, commit in commits])


def commit_findings(root: Path, changes: list[Any], commit: str, config: Mapping[str, Any],
                    times: Mapping[str, int] | None = None, now: dt.datetime | None = None) -> list[Finding]:
    """DG121 for one commit of history (pre-push, pre-receive, `check --range`): the commit
    dated after `now` (the checker's clock) + skew, and every time it adds dated after it.
    `times`: committer dates already read (`commit_times`)."""
    tz = vault_tz(config)
    stamp = times[commit] if times and commit in times else gitio.commit_times(root, [commit])[commit]
    committed = dt.datetime.fromtimestamp(stamp, tz)
    clock = now or dt.datetime.now(tz)
    found = []
    if committed > clock + CLOCK_SKEW:
        found.append(Finding(commit, RULE, Message(
            "the commit is dated {dated}, after the clock of the machine checking it ({clock}; {skew} "
            "minutes of clock skew allowed); commit again with the right date and time",
            dated=_show(committed, tz), clock=_show(clock, tz), skew=SKEW_MINUTES)))
    found += _late(root, _wanted(changes), None, tz, committed, Message("its commit's date"))
    return found


def staged_findings(root: Path, changes: list[Any], blobs: Mapping[str, bytes],
                    config: Mapping[str, Any], now: dt.datetime | None = None) -> list[Finding]:
    """DG121 for the staged changes (pre-commit, `check --staged`): the commit has no date
    yet, so the bound is the date it will get or now, whichever is earlier."""
    wanted = _wanted(changes)
    if not wanted:
        return []  # git var and the timezone only where a time may be judged: the hook stays lean
    tz = vault_tz(config)
    clock = now or dt.datetime.now(tz)
    pending = gitio.pending_commit_time(root)
    bound, what = clock, Message("now")
    if pending is not None and pending < clock.timestamp():
        bound, what = dt.datetime.fromtimestamp(pending, tz), Message("the date the commit will get")
    return _late(root, wanted, blobs, tz, bound, what)


def added_times(category: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(what, time as written) for each time `new` records that `old` (the parent's
    version, or None for a new record) did not. Only strings: the schema (DG102) judges
    a value of the wrong type, and an encrypted one is not a time anyone can read here."""
    out: list[tuple[str, str]] = []
    if category in EVENTS:
        before = _list(old, "events")
        for i, event in enumerate(_list(new, "events")):
            if not isinstance(event, dict) or (i < len(before) and before[i] == event):
                continue
            if isinstance(event.get("at"), str):
                action, by = event.get("action", "?"), event.get("by", "?")
                out.append((Message("event {number} ({action} by {by})", number=i + 1, action=action, by=by),
                            event["at"]))
    for key in STAMPS.get(category, ()):
        value = new.get(key)
        if isinstance(value, str) and (old is None or old.get(key) != value):
            out.append((key, value))
    before_files = {(i.get("file"), i.get("added")) for i in listed(old or {})}
    for item in listed(new):
        if isinstance(item.get("added"), str) and (item.get("file"), item.get("added")) not in before_files:
            out.append((Message("attachment {file} (added)", file=item.get("file")), item["added"]))
    return out


def _wanted(changes: list[Any]) -> dict[str, Any]:
    """The changed records that may add a time: ledger records, and records with an
    attachment file added or replaced in the change (an attach lists it with `added`)."""
    wanted: dict[str, Any] = {}
    attached = {owner(c.path) for c in changes if c.status in "AMT"} - {None}
    for change in changes:
        if change.status not in "AMT" or change.new is None:
            continue
        # a record's folder is its category: parsing every path of a large import would
        # cost the hook 8 us a file, this test a fraction of that
        path = change.path
        end = path.rfind("/")
        if path[path.rfind("/", 0, end) + 1:end] not in TIMED and path not in attached:
            continue
        if _category(path) is not None:
            wanted[path] = change
    return wanted


def _late(root: Path, wanted: Mapping[str, Any], blobs: Mapping[str, bytes] | None, tz: ZoneInfo,
          bound: dt.datetime, what: Message) -> list[Finding]:
    """DG121 for each time the `wanted` changes add after `bound` (+ skew)."""
    if not wanted:
        return []
    needed = {c.new for c in wanted.values()} | {c.old for c in wanted.values() if c.old and c.status in "MT"}
    data = dict(blobs or {})
    data.update(gitio.cat_blobs(root, [b for b in needed if b not in data]))
    found = []
    for path, change in sorted(wanted.items()):
        new = _tree(data.get(change.new))
        if new is None:
            continue  # the file rules report it (DG101)
        old = _tree(data.get(change.old)) if change.old and change.status in "MT" else None
        for label, text in added_times(_category(path) or "", old, new):
            moment = _moment(text, tz)
            if moment is not None and moment > bound + CLOCK_SKEW:
                found.append(Finding(path, RULE, Message(
                    "{label} is dated {text}, after {what} {bound} ({skew} minutes of clock skew allowed); "
                    "an act is recorded after it happened, never ahead of time",
                    label=label, text=text, what=what, bound=_show(bound, tz), skew=SKEW_MINUTES)))
    return found


def vault_tz(config: Mapping[str, Any]) -> ZoneInfo:
    """vault.yaml's timezone (UTC when unreadable: DG114 reports it), as
    `model.disposal.vault_tz`, which the hook would import 10 ms of calendar code for."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # ~2 ms: only where a time is judged

    try:
        return ZoneInfo(str(config.get("timezone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _moment(text: str, tz: ZoneInfo) -> dt.datetime | None:
    """A timestamp, or a day (its first moment in the vault's timezone); None if neither."""
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min, tz)
        return record_time(text, tz)
    except ValueError:
        return None


def _show(moment: dt.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).replace(microsecond=0).isoformat()


def _list(tree: Mapping[str, Any] | None, key: str) -> list[Any]:
    value = tree.get(key) if tree else None
    return value if isinstance(value, list) else []


def _category(path: str) -> str | None:
    try:
        return path_to_code(path).category
    except DanganError:
        return None


def _tree(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        tree = load_text(decode(data))
    except (YamlError, UnicodeDecodeError, ValueError):
        return None
    return tree if isinstance(tree, dict) else None
