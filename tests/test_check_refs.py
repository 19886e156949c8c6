"""DG108 judged from the work tree: `check --all` (cold, warm, and warm through the per-file
cache), `check PATH` and `check --range REV` find a reference that names no record, as the
hook does (issue 19, part 8).

Records are written by hand and committed with `--no-verify` (a clone without hooks): what
the work-tree check exists to catch. Each check runs the installed executable, as a user
does, so the warm run takes the standard-library path (store/quick.py) when it can.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conftest import REPO, git, run_bin

from dangan.formats.yamlio import dump, load_roundtrip, to_plain

VALID = REPO / "tests" / "schema_examples" / "valid"
LINE = re.compile(r"^(?P<path>\S+): (?P<rule>DG\d{3}) (?P<message>.+)$")

TARGET = "SB-A01-02-0999"  # the record the others name (no sensitive fields)
TARGET_REL = "vault/A01/02/SB/SB-A01-02-0999.yaml"
PD_REL = "vault/PD/PD-0001.yaml"
XH_REL = "vault/XH/XH-0001.yaml"
COUNT = 70  # more than scan.SMALL (64): the per-file cache is used


def sb_rel(serial: int) -> str:
    return f"vault/A01/02/SB/SB-A01-02-{serial:04d}.yaml"


def example(name: str, **changes: Any) -> dict[str, Any]:
    tree = to_plain(load_roundtrip((VALID / name).read_text("utf-8")))
    tree.pop("refs", None)
    tree.update(changes)
    return tree


def sb(serial: int = 1, **changes: Any) -> str:
    return dump(example("SB-elevator.yaml", code=f"SB-A01-02-{serial:04d}", **changes))


def target() -> str:
    return sb(999)


def write(root: Path, files: dict[str, str | None]) -> None:
    for rel, text in files.items():
        path = root / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")


def commit_no_verify(root: Path, files: dict[str, str | None], message: str = "by hand") -> None:
    write(root, files)
    git(root, "add", "-A", "--", "vault")
    git(root, "commit", "-q", "--no-verify", "-m", message)


def check(root: Path, *args: str) -> tuple[int, list[tuple[str, str, str]]]:
    result = run_bin(["check", *(args or ("--all",))], cwd=root)
    assert result.code in (0, 1), result
    found = [(m["path"], m["rule"], m["message"]) for line in result.out.splitlines() if (m := LINE.match(line))]
    return result.code, found


def dg108(found: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return sorted((path, message) for path, rule, message in found if rule == "DG108")


def missing(field: str, code: str) -> str:
    return f"{field} names {code}, which exists nowhere and was never destroyed nor handed over"


def cache(root: Path) -> Path:
    return root / ".git" / "dangan" / "cache"


# --------------------------------------------------------------------------- check --all

def test_check_all_finds_a_ref_naming_no_record_cold_and_warm(vault: Path) -> None:
    """The case of the issue: a `refs` entry naming a code that exists nowhere passed
    `check --all` with 0 findings; only the hook found it. Now every run finds it, with the
    hook's message (`check --range` judges the same commit with the change rules)."""
    commit_no_verify(vault, {sb_rel(1): sb(1, refs=[TARGET])})
    want = [(sb_rel(1), missing("refs", TARGET))]
    for _ in range(2):  # cold, then answered by the remembered result
        code, found = check(vault)
        assert code == 1 and dg108(found) == want, found
    code, history = check(vault, "--range", "HEAD~1..HEAD")
    assert [(p, m.rsplit(" (commit ", 1)[0]) for p, m in dg108(history)] == want


def test_custody_inventory_naming_no_count_is_found(vault: Path) -> None:
    """`custody.inventory` is a reference too (decisions.md), judged the same way."""
    tree = example("SB-elevator.yaml")
    tree["custody"] = {**tree["custody"], "inventory": "PD-0099", "status": "missing"}
    commit_no_verify(vault, {sb_rel(1): dump(tree)})
    code, found = check(vault)
    assert code == 1 and dg108(found) == [(sb_rel(1), missing("custody.inventory", "PD-0099"))], found


def test_a_ref_to_a_present_or_destroyed_record_is_no_finding(vault: Path) -> None:
    """The work tree decides: the record there (tracked or not) answers the reference; once
    its file is gone, only a disposal certificate in the work tree listing it does."""
    commit_no_verify(vault, {sb_rel(1): sb(1, refs=[TARGET]), TARGET_REL: target()})
    code, found = check(vault)
    assert dg108(found) == [], found
    write(vault, {TARGET_REL: None})  # deleted in the work tree only
    code, found = check(vault)
    assert code == 1 and dg108(found) == [(sb_rel(1), missing("refs", TARGET))], found
    certificate = example("XH-certificate.yaml")
    certificate["items"][0] = {**certificate["items"][0], "code": TARGET, "category": "SB"}
    write(vault, {XH_REL: dump(certificate)})  # untracked: the work tree is what is judged
    code, found = check(vault)
    assert dg108(found) == [], found


def test_a_record_that_comes_back_clears_the_finding(vault: Path) -> None:
    """The remembered result is not reused once the named record appears."""
    commit_no_verify(vault, {sb_rel(1): sb(1, refs=[TARGET])})
    assert dg108(check(vault)[1])
    write(vault, {TARGET_REL: target()})
    code, found = check(vault)
    assert dg108(found) == [], found


# ------------------------------------------------------------------ the per-file cache

def many(vault: Path) -> list[tuple[str, str]]:
    """COUNT records naming TARGET, which is there: a clean check fills the cache."""
    commit_no_verify(vault, {**{sb_rel(i): sb(i, refs=[TARGET]) for i in range(1, COUNT + 1)},
                             TARGET_REL: target()})
    code, found = check(vault)
    assert code == 0 and found == [], found
    return [(sb_rel(i), missing("refs", TARGET)) for i in range(1, COUNT + 1)]


def test_the_per_file_cache_keeps_what_each_file_names(vault: Path) -> None:
    """A warm check that reads no unchanged record still judges their references: the
    named record is removed (a commit: the index and a folder change, so the whole-tree memo
    is not used) and each of the COUNT records, vouched for by the cache, is DG108."""
    want = many(vault)
    lists = list(cache(vault).glob("refs-*.jsonl"))
    assert len(lists) == 1 and TARGET in lists[0].read_text("utf-8")
    commit_no_verify(vault, {TARGET_REL: None})
    code, found = check(vault)
    assert code == 1 and dg108(found) == want, found


def test_the_cached_lists_are_what_a_warm_check_judges(vault: Path) -> None:
    """Proof that the unchanged records were not read again: their cached list is edited to
    name another code, and the warm check (memo removed, per-file cache kept) reports that
    code; without the per-file cache the records themselves are read and the real code is."""
    many(vault)
    lists = next(cache(vault).glob("refs-*.jsonl"))
    lists.write_text(lists.read_text("utf-8").replace(TARGET, "SB-A01-02-0777"), "utf-8")
    for memo in cache(vault).glob("tree-*"):
        memo.unlink()
    code, found = check(vault)
    assert code == 1 and {m for _, m in dg108(found)} == {missing("refs", "SB-A01-02-0777")}, found
    assert len(dg108(found)) == COUNT


def test_entries_without_their_list_are_read_again(vault: Path) -> None:
    """A lost or torn list file (the entries survive): those entries are misses, the files
    are read again and every reference is still judged."""
    want = many(vault)
    for lists in cache(vault).glob("refs-*.jsonl"):
        lists.write_text('["0011223344556677", [["refs", "SB-A01-', "utf-8")  # torn
    commit_no_verify(vault, {TARGET_REL: None})
    code, found = check(vault)
    assert code == 1 and dg108(found) == want, found


# ------------------------------------------------------------------- the other sources

def test_check_paths_and_a_single_revision_judge_refs(vault: Path) -> None:
    """`check PATH` (the file, judged against the work tree) and `check --range REV` (every
    file of one commit, judged against that commit) apply DG108 as `check --all` does."""
    commit_no_verify(vault, {sb_rel(1): sb(1, refs=[TARGET]), sb_rel(2): sb(2)})
    want = [(sb_rel(1), missing("refs", TARGET))]
    code, found = check(vault, str(vault / sb_rel(1)))
    assert code == 1 and dg108(found) == want, found
    code, found = check(vault, str(vault / sb_rel(2)))
    assert code == 0 and found == [], found
    code, found = check(vault, "--range", "HEAD")
    assert code == 1 and dg108(found) == want, found
    commit_no_verify(vault, {TARGET_REL: target()})
    assert dg108(check(vault, "--range", "HEAD")[1]) == []
    assert dg108(check(vault, "--range", "HEAD~1")[1]) == want  # that commit lacked it
