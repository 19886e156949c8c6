"""Departments and what they file: who is responsible for a record (plan §4: 明確各部門的
檔案責任人員; plan §4.3: 客服部門、維修部門、安保部門等相關部門將產生的檔案材料及時提交給
檔案管理人員).

vault.yaml `departments` (docs/format.md §5, validated by schemas/vault.schema.json):

    departments:
      - name: 工程部
        responsible: 李建國          # 檔案責任人員: the person who answers for the filing
        people: [李建國, 王師傅]     # optional: who else works there (for reports)
        files:                       # what the department files
          - {category: WX}
          - {category: SB}
          - {category: XJ, location: A01}   # only under this location prefix

A record belongs to the department whose `files` entry matches its category and the longest
location prefix (an entry without `location` matches every location, as the shortest
prefix); ties go to the department listed first. A record no entry matches belongs to no
department ("unassigned" in reports). Pure: no files, no git.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dangan.i18n import Message
from dangan.model.codes import Code

UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class Department:
    name: str
    responsible: str | None
    people: tuple[str, ...] = ()
    files: tuple[tuple[str, str | None], ...] = field(default_factory=tuple)  # (category, location prefix)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "responsible": self.responsible, "people": list(self.people),
                "files": [{"category": c, **({"location": loc} if loc else {})} for c, loc in self.files]}


def parse(config: Mapping[str, Any]) -> list[Department]:
    """The departments of a vault.yaml (already validated by its schema; anything malformed
    is skipped rather than guessed at: DG114 reports it)."""
    found = []
    for entry in config.get("departments") or []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            continue
        files = []
        for item in entry.get("files") or []:
            if isinstance(item, Mapping) and isinstance(item.get("category"), str):
                location = item.get("location")
                files.append((item["category"], location if isinstance(location, str) and location else None))
        people = tuple(p for p in entry.get("people") or [] if isinstance(p, str))
        responsible = entry.get("responsible") if isinstance(entry.get("responsible"), str) else None
        found.append(Department(entry["name"], responsible, people, tuple(files)))
    return found


def _covers(prefix: str | None, location: str) -> bool:
    return prefix is None or location == prefix or location.startswith(prefix + "-")


def department_of(departments: Sequence[Department], code: Code) -> Department | None:
    """The department that files `code`: the most specific `files` entry wins."""
    location = str(code.location)
    best: tuple[int, int, Department] | None = None
    for order, department in enumerate(departments):
        for category, prefix in department.files:
            if category != code.category or not _covers(prefix, location):
                continue
            rank = len(prefix) if prefix else -1
            if best is None or rank > best[0] or (rank == best[0] and order < best[1]):
                best = (rank, order, department)
    return best[2] if best else None


def assigner(departments: Sequence[Department]) -> Callable[[Code], Department | None]:
    """`department_of` for many codes (the reports of a whole vault): the entries of each
    category are ranked once, most specific first, and a category whose entries name no
    location answers without looking at the code's location."""
    ranked: dict[str, list[tuple[int, int, str | None, Department]]] = {}
    for order, department in enumerate(departments):
        for category, prefix in department.files:
            ranked.setdefault(category, []).append((-(len(prefix) if prefix else -1), order, prefix, department))
    for entries in ranked.values():
        entries.sort(key=lambda e: (e[0], e[1]))
    plain = {category: entries[0][3] for category, entries in ranked.items() if entries[0][2] is None}

    def of(code: Code) -> Department | None:
        if code.category in plain:
            return plain[code.category]
        location = str(code.location)
        for _, _, prefix, department in ranked.get(code.category, ()):
            if _covers(prefix, location):
                return department
        return None

    return of


def named(departments: Sequence[Department], name: str) -> Department | None:
    """The department called `name`, also written in the other script (工程部 or 客服中心/客服中心)."""
    from dangan.model import script

    return (next((d for d in departments if d.name == name), None)
            or next((d for d in departments if script.same(d.name, name)), None))


def problems(config: Mapping[str, Any], categories: Sequence[str]) -> list[str]:
    """Cross-checks the schema cannot make (DG114): unique names, known categories, the
    responsible person among the department's people when people are listed."""
    out = []
    seen: set[str] = set()
    for department in parse(config):
        if department.name in seen:
            out.append(Message("departments: {name} is listed twice", name=repr(department.name)))
        seen.add(department.name)
        for category, _ in department.files:
            if category not in categories:
                out.append(Message("departments: {name} files unknown category {category}", name=repr(department.name), category=repr(category)))
        if department.people and department.responsible and department.responsible not in department.people:
            out.append(Message("departments: {name}: responsible {responsible} is not among its people", name=repr(department.name), responsible=repr(department.responsible)))
    return out
