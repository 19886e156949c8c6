"""`dangan demo` in simplified Chinese (issue 24: "the demo is built in the vault's language and
script"): with zh-Hans the demo company in Suzhou writes simplified characters, in its records,
its vault.yaml, its history and the tour it prints (demo/simplified.py). The traditional demo
(any other language) is tests/test_demo.py's."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import git, run_cli

from dangan.model import script

DAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def hans(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("hans") / "vault"
    result = run_cli(["--lang", "zh-Hans", "demo", str(path), "--as-of", DAY.isoformat()])
    assert result.code == 0, result
    return path, result.out


def test_the_records_and_settings_are_in_simplified_characters(hans: tuple[Path, str]) -> None:
    path, _ = hans
    config = (path / "vault.yaml").read_text("utf-8")
    assert "language: zh-Hans" in config and "安和物业示例档案库" in config
    assert script.fold(config) == config  # no traditional character left in the settings
    clear = "".join(p.read_text("utf-8") for p in sorted((path / "vault").rglob("*.yaml")))
    assert "翠湖花园" in clear and "翠湖花園" not in clear
    assert script.fold(clear) == clear, next(
        line for line in clear.splitlines() if script.fold(line) != line)
    authors = set(git(path, "log", "--format=%an").split("\n")) - {""}
    assert authors and all(script.fold(name) == name for name in authors), authors


def test_the_simplified_demo_passes_check_and_says_its_script(hans: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = hans
    checked = run_cli(["-C", str(path), "--identity", str(path / "DEMO-KEY.txt"), "check", "--all"])
    assert checked.code == 0, checked
    other = tmp_path / "json"
    doc = json.loads(run_cli(["--lang", "zh-Hans", "demo", str(other), "--as-of", DAY.isoformat(), "--json"]).out)
    assert doc["script"] == "zh-Hans" and doc["records"] > 100


def test_the_tour_is_simplified_and_its_commands_work(hans: tuple[Path, str]) -> None:
    path, out = hans
    assert "翠湖花园" in out and "翠湖花園" not in out and "Try:" not in out
    assert "title=1号电梯外呼按钮失灵" in out
    room = json.loads(run_cli(["--lang", "zh-Hans", "-C", str(path), "ls", "--category", "SB",
                               "--where", "system=elevator", "--json"]).out)
    assert room and all(script.fold(r["title"]) == r["title"] for r in room)
    # the vault says zh-Hans: a command run in it speaks simplified without --lang
    listed = run_cli(["-C", str(path), "fields", "SB", "system"], env={"LANG": "C.UTF-8"})
    assert "允许值：" in listed.out, listed
