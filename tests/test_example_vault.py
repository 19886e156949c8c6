"""The example vault of the product repository (vault/, vault.yaml): valid without a key and
with the committed EXAMPLE key, which opens its encrypted owner, tenant and complaint records.

The key is copied to a temporary file and made 0600: Git does not keep file modes, and a key
file others can read is refused.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from dangan.formats import agekeys
from dangan.formats.yamlio import decode, load_text

EXAMPLE_KEY = REPO / "tests" / "example-key" / "EXAMPLE-KEY.txt"
OWNER = "YZ-A01-01-001-0101-0001"


@pytest.fixture
def key(tmp_path: Path) -> Path:
    copy = tmp_path / "example-key.txt"
    shutil.copyfile(EXAMPLE_KEY, copy)
    copy.chmod(0o600)
    return copy


def _stored() -> dict[str, dict]:
    return {p.stem: load_text(decode(p.read_bytes())) for p in sorted((REPO / "vault").rglob("*.yaml"))}


def test_the_key_is_labelled_as_an_example() -> None:
    first = EXAMPLE_KEY.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# EXAMPLE KEY") and "never use it for real data" in first
    assert "EXAMPLE ONLY" in (EXAMPLE_KEY.parent / "README.md").read_text(encoding="utf-8")


def test_the_example_key_is_the_vaults_recipient(key: Path) -> None:
    config = load_text((REPO / "vault.yaml").read_text(encoding="utf-8"))
    public = str(agekeys.read_identity_file(key)[0].to_public())
    assert [r["key"] for r in config["recipients"]] == [public]
    stored = _stored()
    sealed = {code for code, doc in stored.items() if "sops" in doc}
    assert {c[:2] for c in sealed} == {"YZ", "ZH", "TS"}
    assert sum(c[:2] == "YZ" for c in sealed) >= 3 and sum(c[:2] == "ZH" for c in sealed) >= 2
    for code in sealed:
        assert [a["recipient"] for a in stored[code]["sops"]["age"]] == [public]


def test_check_passes_without_a_key() -> None:
    result = run_cli(["-C", str(REPO), "check", "--all"])
    assert result.code == 0, result


def test_check_passes_with_the_example_key(key: Path) -> None:
    result = run_cli(["-C", str(REPO), "check", "--all"], env={"SOPS_AGE_KEY_FILE": str(key)})
    assert result.code == 0, result


def test_show_decrypt_gives_the_owner(key: Path) -> None:
    masked = run_cli(["-C", str(REPO), "show", OWNER])
    assert masked.code == 0, masked
    assert "王小明" not in masked.out and "‹encrypted›" in masked.out
    opened = run_cli(["-C", str(REPO), "--identity", str(key), "show", OWNER, "--decrypt"])
    assert opened.code == 0, opened
    assert "name: 王小明" in opened.out
    assert "138-0000-0101" in opened.out


def test_no_plaintext_of_the_example_people_in_the_files() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "vault").rglob("*.yaml"))
    for value in ("王小明", "張建國", "孫浩然", "陳美玲", "錢文華", "138-0000-0101", "320599"):
        assert value not in text
