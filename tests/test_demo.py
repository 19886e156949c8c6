"""`dangan demo`: the small demo vault is valid, deterministic, has two years of back-dated
history, and every command of its tour works on it.

The demo is built twice per test process (once through the CLI, once through the API for
the determinism check); both builds take a few seconds.
"""
from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import git, run_cli, snapshot

from dangan.codes import path_to_code
from dangan.demo import tour, tour_commands
from dangan.yamlio import decode, load_text


def _records(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted((root / "vault").rglob("*.yaml"))
    }


def _trees(root: Path) -> dict[str, dict[str, Any]]:
    return {str(path_to_code(rel)): load_text(decode(data)) for rel, data in _records(root).items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The small demo built through the CLI: (path, what it printed)."""
    path = tmp_path_factory.mktemp("demo") / "vault"
    result = run_cli(["demo", str(path)])
    assert result.code == 0, result
    return path, result.out


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A second build, with --json into an existing empty directory: its summary (and its
    files, for the determinism check)."""
    path = tmp_path_factory.mktemp("demo2")
    result = run_cli(["demo", str(path), "--json"])
    assert result.code == 0, result
    document = json.loads(result.out)
    assert {"path", "records", "commits", "by_category", "examples"} <= set(document)
    assert document["path"] == str(path.resolve())
    return document


def test_demo_vault_passes_check(demo: tuple[Path, str]) -> None:
    path, _ = demo
    result = run_cli(["-C", str(path), "check"])
    assert result.code == 0, result
    result = run_cli(["-C", str(path), "fmt", "--check"])
    assert result.code == 0, result
    assert git(path, "status", "--porcelain") == ""


def test_numbers_are_as_reported(demo: tuple[Path, str], summary: dict[str, Any]) -> None:
    path, out = demo
    records = _records(path)
    assert 80 <= summary["records"] <= 180
    assert len(records) == summary["records"]
    assert sum(summary["by_category"].values()) == summary["records"]
    by_category: dict[str, int] = {}
    for rel in records:
        code = path_to_code(rel)
        by_category[code.category] = by_category.get(code.category, 0) + 1
    assert by_category == summary["by_category"]
    commits = int(git(path, "rev-list", "--count", "HEAD").strip())
    assert commits == summary["commits"]
    assert f"{summary['records']} records in {summary['commits']} commits" in out
    for category in ("QY", "XM", "HT", "LD", "FW", "SB", "WX", "XJ", "HJ", "AQ", "TS", "SF", "CW"):
        assert by_category.get(category, 0) >= 1, category


def test_both_projects_and_examples(demo: tuple[Path, str], summary: dict[str, Any]) -> None:
    trees = _trees(demo[0])
    assert trees["XM-A01-0001"]["property_type"] == "residential"
    assert trees["XM-B01-0001"]["property_type"] == "commercial"
    ex = summary["examples"]
    assert set(ex) >= {"equipment", "repair", "complaint", "room", "project"}
    assert all(code in trees for code in ex.values())
    assert ex["project"] == "XM-A01-0001"
    assert trees[ex["equipment"]]["system"] == "elevator"
    assert trees[ex["equipment"]]["category"] == "SB"
    assert trees[ex["repair"]]["status"] == "done"
    assert ex["equipment"] in trees[ex["repair"]]["refs"]
    assert trees[ex["complaint"]]["status"] in ("open", "in_progress")
    assert trees[ex["room"]]["category"] == "FW"
    # open work at the end of the history, as in a real archive
    statuses = {(t["category"], t["status"]) for t in trees.values()}
    assert ("WX", "closed") in statuses and ("TS", "closed") in statuses


def test_refs_point_to_existing_records(demo: tuple[Path, str]) -> None:
    trees = _trees(demo[0])
    for code, tree in trees.items():
        for ref in tree.get("refs", []):
            assert ref in trees, f"{code} refers to {ref}"
        for key in ("target", "plan", "contract"):
            if isinstance(tree.get(key), str):
                assert tree[key] in trees, f"{code}: {key} {tree[key]}"


def test_no_sensitive_fields(demo: tuple[Path, str]) -> None:
    from dangan.schemas import sensitive_leaves
    from dangan.vault import Vault

    vault = Vault.open(demo[0])
    for code, tree in _trees(demo[0]).items():
        names = vault.schemas.categories[code[:2]].sensitive
        assert not list(sensitive_leaves(tree, names)), code
        assert "sops" not in tree


def test_history_is_back_dated_over_two_years(demo: tuple[Path, str]) -> None:
    path, _ = demo
    lines = git(path, "log", "--format=%aI %cI %s").splitlines()
    authored = [dt.datetime.fromisoformat(line.split()[0]) for line in lines]
    committed = [dt.datetime.fromisoformat(line.split()[1]) for line in lines]
    assert authored == committed
    assert committed == sorted(committed, reverse=True)  # newest first, no time travel
    span = committed[0] - committed[-1]
    assert dt.timedelta(days=700) <= span <= dt.timedelta(days=740)
    assert committed[0] <= dt.datetime.now(dt.UTC)
    assert committed[0] >= dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    subjects = [line.split(" ", 2)[2] for line in lines]
    assert subjects[-1].startswith("dangan init:")
    assert any(s.startswith("dangan new: ") for s in subjects)
    assert any(s.startswith("dangan set: ") for s in subjects)
    # every record was added by a commit dated on or after the day it was opened
    log = git(path, "log", "--diff-filter=A", "--name-only", "--format=%x00%cI", "--", "vault")
    opened = {code: tree["opened"] for code, tree in _trees(path).items()}
    for block in log.split("\0")[1:]:
        stamp, *names = block.strip().splitlines()
        day = stamp[:10]
        for name in filter(None, names):
            assert opened[str(path_to_code(name))] <= day, name
    last = committed[0].date().isoformat()
    for code, tree in _trees(path).items():
        assert tree.get("closed") is None or tree["opened"] <= tree["closed"] <= last, code


def test_repair_goes_from_assigned_to_done_in_history(demo: tuple[Path, str]) -> None:
    path, _ = demo
    closed = [c for c, t in _trees(path).items() if t["category"] == "WX" and t["status"] == "closed"]
    rel = path_to_code_path(closed[0])
    versions = git(path, "log", "--format=%H", "--", rel).split()
    assert len(versions) >= 2
    first = load_text(git(path, "show", f"{versions[-1]}:{rel}"))
    assert first["status"] in ("reported", "assigned")


def path_to_code_path(code: str) -> str:
    from dangan.codes import parse_code

    return parse_code(code).path


def test_deterministic(demo: tuple[Path, str], summary: dict[str, Any]) -> None:
    first = _records(demo[0])
    second = _records(Path(summary["path"]))
    assert first.keys() == second.keys()
    assert first == second


def test_tour_commands_work(demo: tuple[Path, str], tmp_path: Path) -> None:
    path, out = demo
    assert "Try:" in out
    work = tmp_path / "vault"
    shutil.copytree(path, work, symlinks=True)  # the tour changes the vault
    lines = [line.strip() for line in out.splitlines()]
    assert f"cd {path}" in lines or f"cd {shlex.quote(str(path))}" in lines
    commands = [shlex.split(line, comments=True) for line in lines if line.startswith("dangan ")]
    assert 8 <= len(commands) <= 11, commands
    outputs: dict[str, str] = {}
    for argv in commands:
        result = run_cli(["-C", str(work), *argv[1:]])
        assert result.code == 0, (argv, result)
        outputs[" ".join(argv[1:])] = result.out
    assert outputs["ls --category SB --where system=elevator"].count("SB-") >= 4
    new_code = next(out for cmd, out in outputs.items() if cmd.startswith("new WX")).strip()
    assert new_code.startswith("WX-A01-01-")
    assert (work / path_to_code_path(new_code)).is_file()
    assert run_cli(["-C", str(work), "check"]).code == 0


def test_tour_lists_commands_in_order() -> None:
    result = {
        "path": "/tmp/x y",
        "records": 1,
        "commits": 2,
        "by_category": {"SB": 1},
        "examples": {
            "equipment": "SB-A01-01-0001",
            "repair": "WX-A01-01-0002",
            "complaint": "TS-A01-02-001-0301-0001",
            "room": "FW-A01-02-001-0301-0001",
            "project": "XM-A01-0001",
        },
    }
    text = tour(result)
    assert "cd '/tmp/x y'" in text
    commands = [cmd for cmd, _ in tour_commands(result)]
    assert commands[-1].startswith("git log")
    assert any(cmd.startswith("dangan show WX-A01-01-0002") for cmd in commands)
    assert any(cmd.startswith("dangan ls --location A01-01 --status done") for cmd in commands)


def test_refuses_non_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("keep me\n", encoding="utf-8")
    before = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
    result = run_cli(["demo", str(target)])
    assert result.code == 2, result
    assert "not empty" in result.err
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == before
    assert (target / "notes.txt").read_text(encoding="utf-8") == "keep me\n"


def test_refuses_an_existing_vault(demo: tuple[Path, str]) -> None:
    path, _ = demo
    before = snapshot(path)
    result = run_cli(["demo", str(path)])
    assert result.code == 2, result
    assert snapshot(path) == before


def test_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    result = run_cli(["demo", str(target)])
    assert result.code == 2, result
    assert target.read_text(encoding="utf-8") == "x"

