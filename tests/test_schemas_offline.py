"""The schemas work in stock tools, offline (issue 24 part 5; docs/format.md §3).

A vault made by `dangan init` holds schemas without `$id`, so that check-jsonschema (and
an editor's YAML language server) resolves `common.json` to the file beside the schema
instead of an unreachable host, and `.vscode/settings.json` associates each category's
records with its schema.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import REPO, installed_tool, run_cli

from dangan.formats.yamlio import dump, load_text


def check_jsonschema() -> str:
    return installed_tool("check-jsonschema", "the test extra has it")


def test_check_jsonschema_validates_a_record_offline(tmp_path: Path) -> None:
    root = tmp_path / "vault"
    assert run_cli(["init", str(root), "--name", "離線"]).code == 0
    tree = load_text((REPO / "tests" / "schema_examples" / "valid" / "SB-elevator.yaml").read_text("utf-8"))
    for key in ("code", "category", "refs"):
        tree.pop(key, None)
    made = run_cli(["-C", str(root), "new", "SB", "A01-01", "--file", "-", "--json"], input=dump(tree))
    assert made.code == 0, made
    record = root / json.loads(made.out)["path"]
    exe = check_jsonschema()
    # no network either way: a proxy that does not exist would make any fetch fail
    env = {"PATH": "/usr/bin:/bin", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "HOME": str(tmp_path)}
    passed = subprocess.run([exe, "--schemafile", "schemas/SB.json", str(record)], cwd=root, capture_output=True,
                            text=True, env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "ok -- validation done" in passed.stdout
    # and it judges: a value outside the category's enum is refused, naming the field
    bad = tmp_path / "SB-bad.yaml"
    bad.write_text(record.read_text("utf-8").replace("system: elevator", "system: lift"), "utf-8")
    refused = subprocess.run([exe, "--schemafile", "schemas/SB.json", str(bad)], cwd=root, capture_output=True,
                             text=True, env=env)
    assert refused.returncode == 1 and "lift" in refused.stdout, refused.stdout + refused.stderr


def test_every_schema_resolves_beside_itself_and_the_editor_knows_each_category(tmp_path: Path) -> None:
    root = tmp_path / "vault"
    assert run_cli(["init", str(root), "--name", "編輯器"]).code == 0
    for schema in (root / "schemas").glob("*.json"):
        assert "$id" not in json.loads(schema.read_text("utf-8")), schema.name
    settings = json.loads((root / ".vscode" / "settings.json").read_text("utf-8"))
    registry = load_text((root / "schemas" / "categories.yaml").read_text("utf-8"))["categories"]
    expected = {f"schemas/{entry['schema']}": [f"vault/**/{code}/*.yaml"] for code, entry in registry.items()}
    assert settings["yaml.schemas"] == expected
    assert all((root / path).exists() for path in settings["yaml.schemas"])
    # committed with the rest of the first commit
    tracked = subprocess.run(["git", "ls-files", ".vscode"], cwd=root, capture_output=True, text=True).stdout
    assert tracked.split() == [".vscode/settings.json"]
