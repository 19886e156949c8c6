"""What `dangan demo` does after the build (a verified backup, a diff between two dates, the
HTML report) and the tour it prints: what was done, then a short list of commands to try."""
from __future__ import annotations

import datetime as dt
import re
import shlex
import unicodedata
from pathlib import Path
from typing import Any

from dangan.demo.history import COMPANY, DEMO_APPROVER_KEY, DEMO_KEY, TZ, _t
from dangan.i18n import _
from dangan.model.codes import parse_code
from dangan.services import backup, history
from dangan.store.fsutil import write_atomic
from dangan.store.sealing import Keyring
from dangan.store.vault import Vault

REPORTS = "reports"  # inside the demo vault, ignored by its .gitignore
DIFF_DAYS = 45  # the diff covers the last weeks: the sweep, the overdue loan, open work


def diff_dates(today: dt.date) -> tuple[str, str]:
    return (today - dt.timedelta(days=DIFF_DAYS)).isoformat(), (today - dt.timedelta(days=1)).isoformat()


def after_build(vault: Vault, today: dt.date, backup_too: bool = True, now: dt.datetime | None = None) -> dict[str, Any]:
    """Back up (verified: restored, fsck, every check with the demo key), write a diff
    between two dates and the HTML report as of `today`; without `backup_too` (the large demo)
    only the diff. `now` names the backup (default: the clock). Paths in the result are
    absolute."""
    done: dict[str, Any] = {}
    if backup_too:
        made = backup.create(vault, backup.default_dest(vault.root), keyring=Keyring(vault.root / DEMO_KEY), now=now)
        if not made.ok or made.bundle is None:
            failure = made.verification.failure if made.verification else "not made"
            raise RuntimeError(f"demo: the backup did not verify: {failure}")
        done["backup"] = str(made.bundle)
        done["verified"] = [step.name for step in made.verification.steps] if made.verification else []
    since, until = diff_dates(today)
    reports = vault.root / REPORTS
    reports.mkdir(exist_ok=True)
    document = history.diff(vault, since, until).as_dict()
    from dangan.report.diffpage import render_diff

    out = reports / f"diff-{since}-{until}.html"
    write_atomic(out, render_diff(document).encode("utf-8"))
    done["diff"] = {"from": since, "to": until, "path": str(out), "changed": document["summary"]["total"]["records"]}
    done["report"] = None
    if backup_too:  # the large demo leaves both to the user: on 100,000 records they take minutes
        from dangan.report import dashboard

        done["report"] = str(dashboard.write(vault, reports / "report.html", today))
    return done


_SHELL_SPECIAL = re.compile(r"[\s'\"\\$`!*?#&;|<>(){}\[\]~]")


def _arg(text: str) -> str:
    return shlex.quote(text) if _SHELL_SPECIAL.search(text) or not text else text


def _rel(path: str, root: str) -> str:
    """A path as seen from the vault (after the tour's `cd`)."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(Path("..") / Path(path).relative_to(Path(root).parent))


def _in_script(result: dict[str, Any], text: str) -> str:
    """A text of the tour's own (a title it files, the company's name) in the script of the
    demo's data: simplified for a demo built in zh-Hans (demo/simplified.py)."""
    if result.get("script") == "zh-Hans":
        from dangan.model import script

        return script.fold(text)
    return text


def tour_commands(result: dict[str, Any], now: dt.datetime | None = None) -> list[tuple[str, str]]:
    """(command, what it shows) for the tour; every dangan command works on the demo vault."""
    ex = result["examples"]
    if now is None and result.get("now"):
        now = dt.datetime.fromisoformat(result["now"])  # a demo built for a given day
    now = (now or dt.datetime.now(TZ)).astimezone(TZ).replace(second=0, microsecond=0)
    stamp = _t(now)
    equipment = parse_code(ex["equipment"])
    room = parse_code(ex["room"])
    complaint = parse_code(ex["complaint"])
    done = result.get("done") or {}
    new_wx = [
        "dangan", "new", "WX", str(equipment.location),
        "--set", _in_script(result, "title=1號電梯外呼按鈕失靈"), "--set", "kind=01", "--set", "trade=elevator",
        "--set", f"reported_at={stamp}", "--set", _in_script(result, "fault=3層外呼按鈕按下無反應。"),
        "--set", f"refs={equipment}",
    ]
    resolve = [
        "dangan", "--identity", DEMO_KEY, "set", ex["complaint"], "status=resolved", f"resolved_at={stamp}",
        _in_script(result, "result=已約談樓上裝修施工方，重申施工時間，噪音問題已解決。"),
    ]
    owner = ex.get("owner")
    scan = next((s for s in result.get("scans") or [] if s["code"] == owner), None)
    sealed = [
        (f"dangan show {owner}", _("the owner file: names, ID and phone numbers stay ‹encrypted›")
         + (_("; its scans are listed") if scan else "")),
        (f"dangan --identity {DEMO_KEY} show {owner} --decrypt",
         _("the same opened with the demo key ({key})").format(key=DEMO_KEY)),
    ] if owner else []
    if scan:
        sealed.append((f"dangan --identity {DEMO_KEY} attachments get {owner} {_arg(scan['file'])} --out {REPORTS}",
                       _("decrypt the scanned ID-card copy (an age file beside the record)")))
    stories = []
    if "overdue_loan" in ex:
        stories.append(("dangan lend ls --status overdue",
                        _("the loan to chase today ({code}); `lend ls` lists all").format(code=ex["overdue_loan"])))
    if "certificate" in ex:
        stories.append(("dangan retention plan", _("what is due now, what the hold keeps; `show {code}`: the sweep").format(
            code=ex["certificate"])))
    if "notice" in ex and "notice_complaint" in ex:
        stories.append((f"dangan show {ex['notice']}",
                        _("the filed water-cut notice that answers {code} (投訴停水未提前通知)").format(
                            code=ex["notice_complaint"])))
    if "secret_file" in ex:
        secret = ex["secret_file"]
        stories.append(("dangan ls --category PX", _("{code} is secret (秘密): its title shows as ‹secret›").format(
            code=secret)))
        stories.append((f"dangan --identity {DEMO_APPROVER_KEY} show {secret} --decrypt",
                        _("the approver's key opens the HR file; {key} is refused (vault.yaml `readers`)").format(
                            key=DEMO_KEY)))
    counted = result.get("inventory")
    if counted:
        stories.append((f"dangan inventory sheet --room {_arg(counted['room'])}",
                        _("the next count's sheet: what {code} found missing or damaged is flagged").format(
                            code=counted["code"])))
    if done.get("diff"):
        diff = done["diff"]
        stories.append((f"dangan diff --from {diff['from']} --to {diff['to']}", _("what changed between two dates, destruction included")))
    return [
        (f"cd {_arg(result['path'])}", ""),
        ("dangan ls --category SB --where system=elevator", _("the elevator ledger")),
        (f"dangan ls --location {room.location}",
         _("everything filed for one flat: room, owner, fees, repairs, complaints")),
        *sealed,
        (" ".join(_arg(a) for a in resolve),
         _("resolve the open noise complaint: validated, re-encrypted with the same data key, committed")),
        (f"git log -p -- {complaint.path}",
         _("its history through the dangan diff driver: personal data masked, only changed lines")),
        (" ".join(_arg(a) for a in new_wx), _("file a new repair job; prints its code")),
        *stories,
        ("dangan due", _("what falls due: the overdue safety review, the elevators' maintenance, contracts ending")),
        ("dangan gaps",
         _("what is missing or late: rooms without an owner file, months without an environment record")),
        *([("dangan stats", _("the archive in figures: records, loans, retention, inventory, duties, open work"))]
          if done.get("report") else []),
        ("dangan check", _("every record against its schema")),
        ("git log --oneline | head", _("two years of back-dated history")),
    ]


def done_lines(result: dict[str, Any]) -> list[str]:
    """What the demo did after the build, with the paths of what it wrote."""
    done = result.get("done") or {}
    root = result["path"]
    ex = result["examples"]
    lines = []
    if "certificate" in ex:
        lines.append(_("  loans      {overdue} is out and overdue, {requested} awaits approval, {damaged} came back "
                       "damaged").format(overdue=ex.get("overdue_loan"), requested=ex.get("requested_loan"),
                                         damaged=ex.get("damaged_loan")))
        lines.append(_("  retention  {hold} holds {held} (a lawsuit); last month's sweep destroyed {n} records of the "
                       "old paper archives (certificate {certificate})").format(
            hold=ex.get("hold"), held=ex.get("held_complaint"), n=len(result.get("destroyed") or []),
            certificate=ex["certificate"]))
    counted = result.get("inventory")
    if counted:
        found = ([_("{code} missing").format(code=code) for code in counted["missing"]]
                 + [_("{code} damaged").format(code=code) for code in counted["damaged"]])
        lines.append(_("  inventory  {code} counted {room} on {day}: {found} (flagged on the records)").format(
            code=counted["code"], room=counted["room"], day=counted["day"], found=", ".join(found)))
    if result.get("scans"):
        shown = ", ".join(f"{s['code']} {s['file']}" for s in result["scans"])
        lines.append(_("  scans      {shown} (attached, encrypted beside their records)").format(shown=shown))
    if done.get("backup"):
        lines.append(_("  backup     {path} (verified: {steps})").format(
            path=_rel(done["backup"], root), steps=", ".join(done.get("verified") or [])))
    if done.get("diff"):
        diff = done["diff"]
        lines.append(_("  diff       {path} ({n} records changed {start} .. {end})").format(
            path=_rel(diff["path"], root), n=diff["changed"], start=diff["from"], end=diff["to"]))
    if done.get("report"):
        lines.append(_("  report     {path} (the HTML report; `dangan report` writes it again)").format(
            path=_rel(done["report"], root)))
    return [_("Done for you:"), *lines, ""] if lines else []


def _columns(text: str) -> int:
    """Terminal columns of a text: CJK characters take two, so comments still line up."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def path_line(command: str | None, on_path: str | None) -> str | None:
    """The tour's first line when the dangan that built the demo (`command`) is not the one a
    new shell finds on PATH (`on_path`): put its folder first, as `source .venv/bin/activate`
    would."""
    if not command or (on_path and Path(on_path).resolve() == Path(command).resolve()):
        return None
    return f"export PATH={_arg(str(Path(command).parent))}:\"$PATH\""


def tour(result: dict[str, Any], path_hint: str | None = None) -> str:
    """The text `dangan demo` prints; `path_hint` (see `path_line`) leads the commands."""
    commands = tour_commands(result)
    if path_hint:
        commands.insert(0, (path_hint, _("this dangan on PATH, for this shell")))
    width = max(_columns(cmd) for cmd, _what in commands if _columns(cmd) <= 60)
    projects = result["by_category"].get("XM", 0)
    lines = [
        _("Demo vault ready: {records} records in {commits} commits at {path}").format(
            records=result["records"], commits=result["commits"], path=result["path"]),
        _in_script(result, _("Two years of {company} archives: 翠湖花園 A01 (residential), 星河廣場 B01 (commercial)").format(
            company=COMPANY)) + (_(" and {n} more projects").format(n=projects - 2) if projects > 2 else ""),
        f"({', '.join(f'{k} {v}' for k, v in result['by_category'].items())})",
        *([_("{n} records hold encrypted personal data (invented people); the demo key is {key} - for this "
             "demo only, never for real records").format(n=result["encrypted"], key=DEMO_KEY)]
          if result.get("encrypted") else []),
        "",
        *done_lines(result),
        _("Try:"),
    ]
    for cmd, what in commands:
        what = _in_script(result, what)  # the names a message quotes (投訴停水未提前通知)
        if what and _columns(cmd) <= width:
            lines.append(f"  {cmd}{' ' * (width - _columns(cmd))}  # {what}")
        elif what:
            lines.append(f"  # {what}")
            lines.append(f"  {cmd}")
        else:
            lines.append(f"  {cmd}")
    return "\n".join(lines)
