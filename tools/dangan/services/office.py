"""`dangan clone`: an office's checkout of a vault — a partial clone (no file's content
but what it checks out) with a cone-mode sparse checkout of the named projects, the
company-level records and everything at the top that the rules need (docs/team.md,
"An office's checkout").

The records of the other projects stay in the index with the skip-worktree bit and on the
server: they exist, and the commands say what they leave out rather than call them missing
(`Vault.checkout` and `record_specs`, scan's `left_out` and `within_checkout`)."""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dangan.errors import DanganError
from dangan.formats.schemas import SchemaSet
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model.codes import parse_location
from dangan.services import attachments
from dangan.services.initvault import install_hooks_config
from dangan.store.vault import CONFIG, RECORDS

CATEGORY = re.compile(r"[A-Z]{2}")  # a category's folder (model.codes's grammar)


@dataclass
class Cloned:
    """What `clone` checked out and left out."""

    root: Path
    projects: list[str]
    categories: list[str]  # the company-level category folders
    folders: list[str]  # the cone: what `git sparse-checkout list` says
    records: int  # records in the work tree
    outside: int  # records of the other projects, in the index and on the server only
    others: list[str] = field(default_factory=list)  # those projects
    partial: bool = True  # False: the server ignored the filter and sent every file's content

    def as_json(self) -> dict[str, object]:
        return {"path": str(self.root), "projects": self.projects, "categories": self.categories,
                "folders": self.folders, "records": self.records, "outside": self.outside,
                "other_projects": self.others, "partial": self.partial}


def parse_projects(text: str) -> list[str]:
    """`A01,B02` → ['A01', 'B02']: project codes only, each once."""
    projects: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            location = parse_location(part)
        except DanganError as exc:
            raise DanganError(Message("--projects: {message}", message=exc.message), Message("example: --projects A01,B02")) from None
        if len(location.parts) != 1:
            raise DanganError(Message("--projects: {part} is not a project (a letter A-D and two digits)", part=repr(part)),
                              Message("example: --projects A01,B02"))
        if part not in projects:
            projects.append(part)
    if not projects:
        raise DanganError(Message("--projects names no project"), Message("example: --projects A01,B02"))
    return projects


def clone(url: str, dest: Path, projects: list[str]) -> Cloned:
    """Clone the vault at `url` into `dest` as an office checkout of `projects`; on any
    refusal or failure nothing is left behind (a `dest` that existed empty stays, empty)."""
    dest = dest.absolute()
    if dest.exists() and not dest.is_dir():
        raise DanganError(Message("{dest} exists and is not a directory", dest=dest), Message("give a new or empty directory"))
    existed = dest.exists()
    if existed and any(os.scandir(dest)):
        raise DanganError(Message("{dest} is not empty", dest=dest), Message("give a new or empty directory"))
    if not dest.parent.is_dir():
        raise DanganError(Message("{parent} does not exist", parent=dest.parent), Message("create it first, or give another directory"))
    # a local path: git ignores --filter for it (and hardlinks every object); as file:// it
    # is cloned as from a server, partially
    local = Path(url)
    if "://" not in url and ":" not in url.split("/", 1)[0] and local.is_dir():
        url = local.resolve().as_uri()
    try:
        try:
            partial = gitio.clone_partial(url, dest, dest.parent)
        except DanganError as exc:
            raise DanganError(Message("cannot clone {url}: {message}", url=url, message=exc.message),
                              Message("check the URL, that the server allows partial clones (uploadpack.allowFilter) and that you may read it")) from None
        cloned = _set_up(url, dest, projects)
        cloned.partial = partial
        return cloned
    except BaseException:
        _remove(dest, existed)
        raise


def _remove(dest: Path, existed: bool) -> None:
    if not existed:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for entry in os.scandir(dest):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)


def _set_up(url: str, root: Path, projects: list[str]) -> Cloned:
    if gitio.head(root) is None:
        raise DanganError(Message("{url} is not a vault: it has no commit", url=url), Message("give the URL of a dangan vault"))
    top = gitio.top_entries(root, "HEAD")
    if ("blob", CONFIG) not in top:
        raise DanganError(Message("{url} is not a vault: no {CONFIG} in its HEAD", url=url, CONFIG=CONFIG), Message("give the URL of a dangan vault"))
    inside = gitio.top_entries(root, "HEAD", RECORDS) if ("tree", RECORDS) in top else []
    folders = [name for kind, name in inside if kind == "tree"]
    known = sorted(name for name in folders if _is_project(name))
    unknown = [p for p in projects if p not in known]
    if unknown:
        raise DanganError(Message("project {value} is not in the vault at {url}", value=', '.join(unknown), url=url),
                          Message("its projects: {value}", value=', '.join(known) or 'none'))
    categories = sorted(name for name in folders if CATEGORY.fullmatch(name))
    # every folder at the top but vault/ (schemas/, hooks/, .vscode/...: small, and what
    # the rules and hooks read); the files at the top come in any case in cone mode
    cone = [name for kind, name in top if kind == "tree" and name != RECORDS]
    cone += [f"{RECORDS}/{name}" for name in categories + projects]
    gitio.sparse_checkout(root, cone)
    # the company-level folders of categories with no record yet: a `dangan new` there must
    # write inside the checkout (nothing to fetch: they are empty at HEAD)
    try:
        schemas = SchemaSet.from_dir(root / "schemas")
        filed = sorted(code for code, category in schemas.categories.items() if "company" in category.levels)
    except DanganError:
        filed = []  # unreadable schemas: `dangan check` says why (DG114)
    more = [f"{RECORDS}/{code}" for code in filed if code not in categories]
    if more:
        gitio.sparse_add(root, more)
        categories = sorted(categories + [code for code in filed if code not in categories])
    install_hooks_config(root)
    tagged = gitio.tagged_files(root, [f"{RECORDS}/"])  # S: skip-worktree, left out
    return Cloned(root, projects, categories, gitio.sparse_folders(root) or cone,
                  sum(1 for tag, p in tagged if tag != "S" and is_record(p)),
                  sum(1 for tag, p in tagged if tag == "S" and is_record(p)),
                  [name for name in known if name not in projects])


def _is_project(name: str) -> bool:
    try:
        return len(parse_location(name).parts) == 1
    except DanganError:
        return False


def is_record(path: str) -> bool:
    """A record's file under vault/, not a file of an attachment folder."""
    return path.endswith(".yaml") and attachments.owner(path) is None
