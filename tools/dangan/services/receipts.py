"""`dangan receive`: the archivist received and checked a record's paper original
(plan §4.3: 相關部門將產生的檔案材料及時提交給檔案管理人員。檔案管理人員對收到的材料進行初步分類
和整理; docs/duties.md "Paper originals").

A receipt is a field of the record itself, `received: {from, pages, by, at}`, written like
any `set`: validated against the schema, sealed again when the record is encrypted (the
SOPS MAC covers the clear fields too, so an encrypted record needs its key), committed with
the hooks on. All the codes of one call go in one commit, or none.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from dangan.errors import DanganError
from dangan.i18n import Message
from dangan.model import departments as deps
from dangan.model import timeutil
from dangan.model.codes import Code, parse_code
from dangan.services import records
from dangan.services.lending import person
from dangan.store.vault import Vault


@dataclass(frozen=True)
class Received:
    codes: list[str]
    receipt: dict[str, Any]
    commit: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"codes": self.codes, "received": self.receipt, "commit": self.commit}


def receive(vault: Vault, codes: list[str], source: str, pages: int, by: str | None,
            at: str | None = None, commit: bool = True) -> Received:
    """Record the receipt of the paper originals of `codes`, handed over by `source`."""
    if not codes:
        raise DanganError(Message("no code given"), Message("give the codes of the records whose originals were received"))
    source = source.strip()
    if not source:
        raise DanganError(Message("--from is empty"), Message("give the department that handed the originals over"))
    departments = deps.parse(vault.config)
    if departments:
        if (known := deps.named(departments, source)) is None:
            names = ", ".join(d.name for d in departments)
            raise DanganError(Message("--from {source} is not a department of vault.yaml", source=repr(source)), Message("give one of: {names}", names=names))
        source = known.name  # recorded as vault.yaml writes it, whatever the script typed
    if pages < 1:
        raise DanganError(Message("--pages {pages}: a paper original has at least one page", pages=pages), Message("give the pages counted"))
    who = person(vault, by)
    moment = timeutil.parse_at(at, vault.tz)
    parsed: list[Code] = []
    for text in codes:
        code = parse_code(text)
        if code in parsed:
            raise DanganError(Message("{code} is given twice", code=code), Message("give each code once"))
        parsed.append(code)
    receipt = {"from": source, "pages": pages, "by": who, "at": timeutil.stamp(moment, vault.tz)}
    with vault.lock():
        changes: dict[str, bytes | None] = {}
        for code in parsed:
            if not vault.path_of(code).exists():
                raise DanganError(Message("{code} does not exist", code=code), Message("check the code: dangan ls"))
            plain, rt, stored = records.read_plain(vault, code)
            before = plain.get("received")
            if isinstance(before, dict):
                raise DanganError(
                    Message("{code}: its original was already received on {value} from {value2}", code=code, value=before.get('at'), value2=before.get('from')),
                    Message("a receipt is recorded once; nothing was written"))
            new = copy.deepcopy(plain)
            new["received"] = dict(receipt)
            if rt is not None:
                rt["received"] = dict(receipt)
            sealed = records.prepare(vault, code, new, previous=stored)
            out = rt if (rt is not None and "sops" not in sealed) else sealed  # a clear record keeps its comments
            changes[code.path] = vault.render(code.path, out)
        shown = ", ".join(str(c) for c in parsed[:3]) + (f" (+{len(parsed) - 3} more)" if len(parsed) > 3 else "")
        commit_id = vault.apply(changes, f"dangan receive: {shown} from {source}", commit)
    return Received([str(c) for c in parsed], receipt, commit_id)
