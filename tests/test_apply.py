"""Vault.apply: all or nothing, for a few files and in bulk (BULK files or more: one sync,
one `update-index --stdin`, a commit of the whole index when nothing else is staged)."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, snapshot
from test_cli_check import sb_text

from dangan.errors import Refusal
from dangan.store.transaction import BULK
from dangan.store.vault import Vault


def rel(n: int) -> str:
    return f"vault/A01/02/SB/SB-A01-02-{n:04d}.yaml"


def records(numbers: range, **changes: str) -> dict[str, bytes | None]:
    return {rel(n): sb_text(code=f"SB-A01-02-{n:04d}", **changes).encode() for n in numbers}


@pytest.fixture
def v(vault: Path) -> Vault:
    opened = Vault.open(vault)
    files = records(range(1, 11))
    files.update({extra(n): f"note {n}\n".encode() for n in range(1, 4)})
    opened.apply(files, "ten records and three notes")
    return opened


def extra(n: int) -> str:
    """Files outside vault/ (deleting a record needs a disposal certificate: DG109)."""
    return f"notes/note-{n}.txt"


@pytest.mark.parametrize("count", [5, BULK + 50])
def test_writes_modifications_and_deletions_land_in_one_commit(v: Vault, count: int) -> None:
    changes = records(range(11, 11 + count))
    changes.update(records(range(1, 4), title="改過的標題"))
    changes.update({extra(n): None for n in range(1, 4)})
    before = git(v.root, "rev-parse", "HEAD").strip()
    commit = v.apply(changes, "many changes")
    assert git(v.root, "rev-parse", "HEAD~1").strip() == before
    assert git(v.root, "rev-parse", "HEAD").strip() == commit
    changed = git(v.root, "diff", "--name-status", before, commit).split("\n")
    assert len([line for line in changed if line]) == count + 6
    assert git(v.root, "status", "--porcelain", "--untracked-files=all") == ""
    for n in range(1, 4):
        assert not (v.root / extra(n)).exists()
    assert not (v.root / "notes").exists()  # emptied folders go too
    assert "改過的標題" in (v.root / rel(2)).read_text("utf-8")


def test_in_bulk_other_staged_changes_stay_staged(v: Vault) -> None:
    other = v.root / "notes.md"
    other.write_text("not for this commit\n", "utf-8")
    git(v.root, "add", "notes.md")
    v.apply(records(range(11, 11 + BULK)), "bulk")
    assert git(v.root, "diff", "--cached", "--name-only").split() == ["notes.md"]
    assert "notes.md" not in git(v.root, "show", "--name-only", "--format=", "HEAD")


@pytest.mark.parametrize("count", [5, BULK + 50])
def test_a_refused_commit_changes_nothing(v: Vault, count: int) -> None:
    changes = records(range(11, 11 + count))
    changes.update(records(range(1, 3), title="改過的標題"))
    changes[extra(1)] = None
    changes[rel(11)] = sb_text(code="SB-A01-02-0011", category="WX").encode()  # DG103: the hook refuses
    before = snapshot(v.root)
    files_before = sorted(p.relative_to(v.root).as_posix() for p in v.root.rglob("*") if ".git" not in p.parts)
    with pytest.raises(Refusal) as info:
        v.apply(changes, "refused")
    assert "DG103" in info.value.message
    assert snapshot(v.root) == before
    assert sorted(p.relative_to(v.root).as_posix() for p in v.root.rglob("*") if ".git" not in p.parts) == files_before
