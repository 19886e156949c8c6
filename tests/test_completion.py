"""Shell completion (issue 24 part 4; docs/cli.md "Shell completion"): click's, through the
installed `dangan`, completing commands, record codes, categories and rooms of the vault."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, run_bin, run_cli

from dangan.formats.yamlio import dump, load_text


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("completion") / "vault"
    assert run_cli(["init", str(root), "--name", "補全"]).code == 0
    tree = load_text((REPO / "tests" / "schema_examples" / "valid" / "SB-elevator.yaml").read_text("utf-8"))
    for key in ("code", "category", "refs"):
        tree.pop(key, None)
    tree["custody"] = {"form": "paper", "room": "總部檔案室", "cabinet": "01"}
    for location in ("A01-01", "A01-01", "A01-02"):
        made = run_cli(["-C", str(root), "new", "SB", location, "--file", "-"], input=dump(tree))
        assert made.code == 0, made
    return root


def complete(root: Path, *words: str) -> list[str]:
    """What bash would offer for the last word of `dangan WORDS...`."""
    line = ["dangan", *words]
    result = run_bin([], cwd=root, env={"_DANGAN_COMPLETE": "bash_complete", "COMP_WORDS": " ".join(line),
                                        "COMP_CWORD": str(len(line) - 1)})
    assert result.code == 0, result
    items = [item for item in result.out.splitlines() if item]  # nothing to offer: an empty line
    assert all("," in item for item in items), result
    return [item.split(",", 1)[1] for item in items]


def test_commands_codes_categories_and_rooms_complete(vault: Path) -> None:
    assert complete(vault, "sh") == ["show"]
    assert complete(vault, "show", "SB-A01-01") == ["SB-A01-01-0001", "SB-A01-01-0002"]
    assert complete(vault, "set", "SB-A01-0") == ["SB-A01-01-0001", "SB-A01-01-0002", "SB-A01-02-0001"]
    assert complete(vault, "show", "XM-") == []
    assert "SB" in complete(vault, "new", "S") and "SF" in complete(vault, "new", "S")
    assert complete(vault, "ls", "--category", "Y") == ["YJ", "YX", "YZ"]
    assert complete(vault, "fields", "T") == ["TS", "TZ"]
    assert complete(vault, "inventory", "sheet", "--room", "總") == ["總部檔案室"]
    assert complete(vault, "inventory", "sheet", "--room", "总部档") == ["總部檔案室"]  # either script


def test_completion_outside_a_vault_offers_no_codes(tmp_path: Path) -> None:
    assert complete(tmp_path, "show", "SB") == []
    assert complete(tmp_path, "sh") == ["show"]
