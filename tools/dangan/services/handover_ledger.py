"""The ledger half of a handover (移交, docs/handover.md steps 1 and 3): the list (移交清冊)
and the record (YJ, status handed_over).

Both read the last commit, never the work tree: a handover gives the records in a version
that the other side can check (`items[].blob`, `source.commit`), so `record` refuses while a
record under the prefix has changes not yet committed. Neither decrypts: code, title, dates,
custody, `received.pages` and the attachments' listing are clear fields (an encrypted value
shows empty).

Functions here take a Vault and plain arguments and return results; they never print.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from dangan.errors import CodeError, DanganError, Refusal
from dangan.formats.html import CSP, esc, table
from dangan.formats.schemas import is_enc
from dangan.formats.yamlio import dump, tree_or_none
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model import handover as handovers
from dangan.model import timeutil
from dangan.model.codes import Code, Location, parse_location
from dangan.model.disposal import Keepers, hold_active
from dangan.services import records
from dangan.store.vault import RECORDS, Vault

CATEGORY = handovers.CATEGORY
PROJECT = "XM"
EXITING = "exiting"
OPEN_LOANS = ("requested", "approved", "out")
# A record is at most 256 KiB (DG101): a large handover's items are split into volumes (冊) as a
# certificate's are (retention.volumes).
COLUMNS = ("code", "category", "title", "status", "opened", "closed", "form", "room", "cabinet", "shelf", "box",
           "pages", "attachments")
PREFIX_HINT = "give a location prefix such as B01 (a project) or B01-02 (a part of it): dangan handover list B01"


# ------------------------------------------------------------------ the list

@dataclass(frozen=True)
class Row:
    """One record of the list (移交清冊), from its committed version."""

    code: str
    category: str
    title: str
    status: str
    opened: str
    closed: str
    form: str  # custody.form: paper, electronic, both, or "" when unknown
    room: str
    cabinet: str
    shelf: str
    box: str
    pages: int | None  # received.pages: pages of the paper original received
    attachments: int
    blob: str
    path: str

    @property
    def paper(self) -> str:
        """Where the paper original is kept, in one line ("" when there is none)."""
        if self.form == "electronic":
            return ""
        return " / ".join(p for p in (self.room, self.cabinet, self.shelf, self.box) if p)

    def cells(self) -> list[str]:
        return [self.code, self.category, self.title, self.status, self.opened, self.closed, self.form, self.room,
                self.cabinet, self.shelf, self.box, "" if self.pages is None else str(self.pages),
                str(self.attachments)]


@dataclass
class Listing:
    """Every record under a prefix at the last commit, and what stands in a handover's way."""

    prefix: str
    vault: str
    commit: str
    rows: list[Row]
    project: str | None = None  # the project's XM code, when the prefix is a whole project
    project_status: str | None = None
    already: dict[str, str] = field(default_factory=dict)  # code -> YJ: handed over before
    loans: dict[str, list[str]] = field(default_factory=dict)  # code -> open loans (JY)
    holds: dict[str, list[str]] = field(default_factory=dict)  # code -> active holds (BQ)

    def document(self) -> dict[str, Any]:
        return {
            "format": "dangan handover list 1",
            "prefix": self.prefix, "vault": self.vault, "commit": self.commit,
            "project": self.project, "project_status": self.project_status,
            "count": len(self.rows),
            "pages": sum(r.pages or 0 for r in self.rows),
            "attachments": sum(r.attachments for r in self.rows),
            "records": [{k: v for k, v in asdict(r).items() if k != "path"} | {"paper": r.paper} for r in self.rows],
            "already_handed_over": dict(sorted(self.already.items())),
            "open_loans": dict(sorted(self.loans.items())),
            "holds": dict(sorted(self.holds.items())),
        }


def _text(value: Any) -> str:
    """A clear one-line value ('' when absent, nested or encrypted)."""
    if value is None or is_enc(value) or isinstance(value, (dict, list)):
        return ""
    return str(value)


def parse_prefix(text: str) -> Location:
    """A location prefix of a project or a part of it (not the company level)."""
    try:
        location = parse_location(text)
    except CodeError as exc:
        raise DanganError(Message("{text} is not a location prefix: {exc}", text=repr(text), exc=exc), PREFIX_HINT) from None
    if not location.parts:
        raise DanganError(Message("a handover is of a project or a part of it, not of the company's own records"),
                          PREFIX_HINT)
    return location


def _committed(vault: Vault) -> tuple[str, list[tuple[Code, str, str]]]:
    """(HEAD, its records as (code, path, blob)): the listing `retention plan` works from."""
    from dangan.services.retention import committed

    found = committed(vault)
    return found.commit, found.entries


def _projects(entries: list[tuple[Code, str, str]], trees: dict[str, Any]) -> str:
    names = []
    for code, _path, blob in entries:
        if code.category == PROJECT and len(code.location.parts) == 1:
            title = _text((trees.get(blob) or {}).get("title"))
            names.append(f"{code.location}" + (f" ({title})" if title else ""))
    return ", ".join(sorted(set(names))) or "no project (XM) is filed yet"


def listing(vault: Vault, prefix: str) -> Listing:
    """The list (移交清冊) of the records under `prefix` at the last commit, without those a
    handover already gave away. An unknown prefix is bad input, with the projects known."""
    location = parse_prefix(prefix)
    vault.refuse_outside("/".join([RECORDS, *location.parts, ""]), f"project {location.parts[0]}")
    commit, entries = _committed(vault)
    under = [(c, p, b) for c, p, b in entries if location.contains(c.location)]
    yj = [b for c, _, b in entries if c.category == CATEGORY]
    xm = [b for c, _, b in entries if c.category == PROJECT and len(c.location.parts) == 1]
    data = dict(gitio.cat_blobs(vault.root, {b for _, _, b in under} | set(yj) | set(xm)))
    trees = {blob: tree_or_none(content) for blob, content in data.items()}
    already = handovers.handovers_of(trees[b] for b in yj)
    found = Listing(str(location), _vault_name(vault), commit, [])
    found.already = {str(c): already[str(c)] for c, _, _ in under if str(c) in already}
    for code, path, blob in sorted(under, key=lambda e: (e[0].location.parts, e[0].category, e[0].serial)):
        if str(code) in already:
            continue
        tree = trees.get(blob)
        if not isinstance(tree, dict):
            raise DanganError(Message("{path} cannot be read as a record", path=path), Message("run `dangan check` and fix it first"))
        found.rows.append(_row(code, path, blob, tree))
    if not found.rows:
        if found.already:
            given = ", ".join(sorted(set(found.already.values())))
            raise DanganError(Message("every record under {location} was handed over already ({given})", location=location, given=given),
                              "dangan show " + sorted(set(found.already.values()))[0])
        raise DanganError(Message("no record under {location} at the last commit", location=location),
                          Message("projects: {value}", value=_projects(entries, trees)))
    project = Location(location.parts[:1])
    for code, _path, blob in entries:
        if code.category == PROJECT and code.location == project:
            if len(location.parts) == 1:
                found.project = str(code)
                found.project_status = _text((trees.get(blob) or {}).get("status")) or None
            break
    _keepers(vault, found, [c for c, _, _ in under if str(c) not in already])
    return found


def _keepers(vault: Vault, found: Listing, codes: list[Code]) -> None:
    """The open loans (work tree: a loan decided today counts) and the active holds."""
    from dangan.services import lending

    open_loans = [loan for loan in lending.loans(vault, "all") if loan.status in OPEN_LOANS]
    holds = [tree for _path, tree in _work_tree_holds(vault)]
    keepers = Keepers.from_trees(holds, [])
    for code in codes:
        lent = sorted(loan.code for loan in open_loans if str(code) in loan.records)
        if lent:
            found.loans[str(code)] = lent
        held = keepers.holding(code)
        if held:
            found.holds[str(code)] = held


def _work_tree_holds(vault: Vault) -> list[tuple[str, dict[str, Any]]]:
    base = vault.root / RECORDS / "BQ"
    out = []
    for path in sorted(base.glob("BQ-*.yaml")) if base.is_dir() else []:
        tree = tree_or_none(path.read_bytes())
        if isinstance(tree, dict) and hold_active(tree):
            out.append((vault.rel(path), tree))
    return out


def _row(code: Code, path: str, blob: str, tree: dict[str, Any]) -> Row:
    custody = tree.get("custody") if isinstance(tree.get("custody"), dict) else {}
    received = tree.get("received") if isinstance(tree.get("received"), dict) else {}
    pages = received.get("pages")
    listed = tree.get("attachments")
    return Row(
        code=str(code), category=code.category, title=_text(tree.get("title")) or str(code),
        status=_text(tree.get("status")), opened=_text(tree.get("opened")), closed=_text(tree.get("closed")),
        form=_text(custody.get("form")), room=_text(custody.get("room")), cabinet=_text(custody.get("cabinet")),
        shelf=_text(custody.get("shelf")), box=_text(custody.get("box")),
        pages=pages if isinstance(pages, int) and not isinstance(pages, bool) else None,
        attachments=len([a for a in listed if isinstance(a, dict)]) if isinstance(listed, list) else 0,
        blob=blob, path=path,
    )


def _vault_name(vault: Vault) -> str:
    return str(vault.config.get("name") or vault.config.get("id") or vault.root.name)


def as_csv(found: Listing) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((*COLUMNS, "blob"))
    for row in found.rows:
        writer.writerow((*row.cells(), row.blob))
    return buffer.getvalue()


def as_json(found: Listing) -> str:
    return json.dumps(found.document(), ensure_ascii=False, indent=2) + "\n"


_CSS = """
@page{size:A4;margin:15mm}
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:1.5rem;color:#111}
h1{font-size:1.3rem;margin:0 0 .2rem}p{margin:.2rem 0}
table{border-collapse:collapse;width:100%;margin:.8rem 0;font-size:.85rem}
th,td{border:1px solid #888;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}thead{display:table-header-group}tr{break-inside:avoid}td:nth-child(2){white-space:nowrap}
.sign{margin-top:2rem;display:grid;grid-template-columns:1fr 1fr;gap:1.5rem 4rem;break-inside:avoid}
.muted{color:#555}
@media print{body{margin:0}}
"""


def as_html(found: Listing, day: dt.date) -> str:
    """The printable list: A4, no script, no external resource, every value escaped, and the
    signature lines of the four people of a handover."""
    headers = ("#", "檔案編號 code", "類別", "題名 title", "狀態", "形成日期 opened", "辦結日期 closed",
               "原件存放位置 paper", "頁數 pages", "附件 scans")
    cells = [[str(n), r.code, r.category, r.title, r.status, r.opened, r.closed, r.paper,
              "" if r.pages is None else str(r.pages), str(r.attachments)] for n, r in enumerate(found.rows, 1)]
    pages = sum(r.pages or 0 for r in found.rows)
    scans = sum(r.attachments for r in found.rows)
    return (
        "<!DOCTYPE html>\n<html lang=\"zh\"><head><meta charset=\"utf-8\">"
        f"{CSP}"
        f"<title>移交清冊 {esc(found.prefix)}</title><style>{_CSS}</style></head><body>"
        f"<h1>檔案移交清冊 Handover list — {esc(found.prefix)}</h1>"
        f"<p>{esc(found.vault)} · 版本 commit {esc(found.commit[:12])} · 製表 {esc(day.isoformat())}</p>"
        f"<p>共 {len(found.rows)} 件, 紙質原件 {pages} 頁, 附件 {scans} 個</p>"
        + table(headers, cells) +
        "<div class=\"sign\"><p>移交人 handed over by: ____________</p><p>接收人 received by: ____________</p>"
        "<p>監交人 witness: ____________</p><p>日期 date: ____________</p></div></body></html>\n"
    )


# ------------------------------------------------------------------ the record

@dataclass
class Recorded:
    """What `handover record` wrote."""

    codes: list[str]  # the YJ record(s): one, or volumes (冊) of a large handover
    paths: list[str]
    commit: str | None
    prefix: str
    to: str
    count: int
    held: dict[str, list[str]]  # handed over, but may not be removed while held


def record(vault: Vault, prefix: str, to: str, received_by: str, witnesses: list[str], by: str | None,
           at: str | None = None, title: str | None = None, commit: bool = True) -> Recorded:
    """Write the YJ record (status handed_over) of every record under `prefix`, as committed.

    Refused (nothing written): bad names, a whole project whose XM is not `exiting`, records
    under the prefix out on loan or with uncommitted changes. A hold does not stop the
    handover: the records go, but this vault's copy may not be removed while it is held
    (DG109), and the result names those."""
    from dangan.services.lending import person

    who = person(vault, by)
    names = {"--to": to, "--received-by": received_by}
    for option, value in names.items():
        if not value or not value.strip():
            raise DanganError(Message("{option} is empty", option=option), Message("name the receiving organisation and its receiver"))
    witnesses = [w.strip() for w in witnesses if w and w.strip()]
    if not witnesses:
        raise DanganError(Message("a handover needs a witness (監交人)"), Message("give --witness NAME"))
    if len(set(witnesses)) != len(witnesses):
        raise DanganError(Message("a witness is named twice"), Message("give each --witness once"))
    if who.strip() in witnesses or received_by.strip() in witnesses:
        raise DanganError(Message("a witness must be someone other than who hands over and who receives"),
                          Message("give --witness NAME of a third person (e.g. of the street office)"))
    if who.strip() == received_by.strip():
        raise DanganError(Message("who hands over and who receives are the same person"), Message("give --received-by NAME of the receiving organisation"))
    moment = timeutil.parse_at(at, vault.tz)
    with vault.lock():
        found = listing(vault, prefix)
        if found.project is not None and found.project_status != EXITING:
            raise DanganError(
                Message("project {prefix}'s profile {project} has status {project_status}, not exiting (撤場交接中); a whole project is handed over when it is leaving", prefix=found.prefix, project=found.project, project_status=found.project_status),
                Message("dangan set {project} status=exiting, then run this again", project=found.project))
        if found.loans:
            shown = "; ".join(f"{c} ({', '.join(j)})" for c, j in list(found.loans.items())[:5])
            raise Refusal(Message("{count} record(s) under {prefix} are on open loans: {shown}", count=len(found.loans), prefix=found.prefix, shown=shown),
                          Message("return or reject those loans first (dangan lend return / lend reject); nothing was written"))
        changed = _uncommitted(vault, found)
        if changed:
            raise DanganError(Message("{count} record(s) under {prefix} have changes not committed: {value}", count=len(changed), prefix=found.prefix, value=', '.join(changed[:5])), Message("commit or discard them first; a handover gives the committed version"))
        items = [_item(r) for r in found.rows]
        from dangan.services.retention import volumes as split

        volumes = split(items)
        first = records.allocate(vault, CATEGORY, Location())
        changes: dict[str, bytes | None] = {}
        codes: list[Code] = []
        base_title = title or f"{found.prefix}檔案移交{to.strip()}"
        for number, group in enumerate(volumes, 1):
            code = Code(CATEGORY, Location(), first.serial + number - 1)
            name = base_title + (f"（第{number}冊，共{len(volumes)}冊）" if len(volumes) > 1 else "")
            tree: dict[str, Any] = {
                "code": str(code), "category": CATEGORY, "title": name, "status": handovers.HANDED_OVER,
                "opened": moment.astimezone(vault.tz).date().isoformat(),
                "scope": [found.prefix], "to": to.strip(),
                "handed_over_at": timeutil.stamp(moment, vault.tz), "handed_over_by": who.strip(),
                "received_by": received_by.strip(), "witnesses": witnesses,
                "source": {"vault": found.vault, "commit": found.commit},
                "items": group,
            }
            changes[code.path] = dump(records.prepare(vault, code, tree)).encode()
            codes.append(code)
        shown = " ".join(str(c) for c in codes)
        message = f"dangan handover record: {shown} {found.prefix} to {to.strip()}, {len(items)} record(s)"
        commit_id = vault.apply(changes, message, commit)
    return Recorded([str(c) for c in codes], [c.path for c in codes], commit_id, found.prefix, to.strip(),
                    len(items), dict(found.holds))


def _item(row: Row) -> dict[str, Any]:
    item: dict[str, Any] = {"code": row.code, "category": row.category, "title": row.title, "blob": row.blob}
    if row.pages is not None:
        item["pages"] = row.pages
    if row.paper:
        item["paper"] = row.paper
    if row.attachments:
        item["attachments"] = row.attachments
    return item


def _uncommitted(vault: Vault, found: Listing) -> list[str]:
    """Records of the list whose index entry or work-tree file differs from the committed one."""
    from dangan.services.scan import blob_id

    paths = [r.path for r in found.rows]
    staged = {e.path: e.blob for e in gitio.ls_files(vault.root, paths) if e.stage == 0}
    changed = []
    for row in found.rows:
        try:
            data = (vault.root / row.path).read_bytes()
        except FileNotFoundError:
            changed.append(row.code)
            continue
        if staged.get(row.path) != row.blob or blob_id(data) != row.blob:
            changed.append(row.code)
    return changed
