"""End to end: the record commands (new, show, ls, set, edit, fmt) on real Git vaults.

Every category of the standard registry is created at every level it allows, with the
fields of its valid schema example (minus the sensitive ones: the test vault has no
recipients), and must land at its derived path, schema-valid, canonical and committed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, git, run_bin, snapshot

from dangan.formats.schemas import SchemaSet
from dangan.formats.yamlio import dump, load_bytes, load_roundtrip, to_plain

VALID = REPO / "tests" / "schema_examples" / "valid"
LEVEL_LOCATION = {
    "company": "",
    "project": "A01",
    "building": "A01-02",
    "unit": "A01-02-001",
    "room": "A01-02-001-0301",
}
LEVEL_DEPTH = {"company": 0, "project": 1, "building": 2, "unit": 3, "room": 4}


# ------------------------------------------------------------------------ helpers


def _registry() -> dict[str, tuple[str, ...]]:
    """Category -> allowed levels, read at collection time from the shipped registry."""
    tree = to_plain(load_roundtrip((REPO / "schemas" / "categories.yaml").read_text("utf-8")))
    return {code: tuple(entry["levels"]) for code, entry in tree["categories"].items()}


CATEGORY_LEVELS = [(cat, level) for cat, levels in _registry().items() for level in levels]


def expected_code(category: str, location: str, serial: int = 1) -> str:
    return "-".join([category, *([location] if location else []), f"{serial:04d}"])


def expected_path(category: str, location: str, serial: int = 1) -> str:
    """The derived path, computed here independently of dangan.model.codes."""
    folders = location.split("-") if location else []
    return "/".join(
        ["vault", *folders, category, expected_code(category, location, serial) + ".yaml"]
    )


def strip_keys(node: Any, names: frozenset[str]) -> Any:
    if isinstance(node, dict):
        return {k: strip_keys(v, names) for k, v in node.items() if k not in names}
    if isinstance(node, list):
        return [strip_keys(v, names) for v in node]
    return node


def read_yaml(path: Path) -> dict[str, Any]:
    return to_plain(load_roundtrip(path.read_text("utf-8")))


def example(category: str, level: str) -> dict[str, Any]:
    """The valid example of a category best fitting a level (same level, project letter A)."""
    candidates = sorted(VALID.glob(f"{category}-*.yaml"))
    assert candidates, f"no valid example for {category}"

    def score(path: Path) -> tuple[int, int, str]:
        parts = read_yaml(path)["code"].split("-")[1:-1]
        return (
            len(parts) != LEVEL_DEPTH[level],
            bool(parts) and not parts[0].startswith("A"),
            path.name,
        )

    return read_yaml(min(candidates, key=score))


# `refs` of the examples name records that do not exist in a fresh vault (DG108)
NOT_GIVEN = ("code", "category", "refs")


def clear_fields(
    vault: Path, category: str, level: str, schemas: SchemaSet | None = None
) -> dict[str, Any]:
    """Fields of the example without code, category, refs and every sensitive property."""
    sensitive = (schemas or SchemaSet(vault / "schemas")).categories[category].sensitive
    tree = {k: v for k, v in example(category, level).items() if k not in NOT_GIVEN}
    return strip_keys(tree, sensitive)


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def status(root: Path) -> str:
    return git(root, "status", "--porcelain", "--untracked-files=all")


def write_fields(tmp_path: Path, fields: dict[str, Any], name: str = "fields.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dump(fields), encoding="utf-8")
    return path


def new_record(
    cli, tmp_path: Path, category: str, location: str, fields: dict[str, Any], *extra: str
) -> str:
    path = write_fields(tmp_path, fields, f"{category}-{location or 'company'}.yaml")
    args = ["new", category, *([location] if location else []), "--file", str(path), *extra]
    result = cli(*args)
    assert result.code == 0, result
    return result.out.strip()


def sb_fields() -> dict[str, Any]:
    return {k: v for k, v in example("SB", "building").items() if k not in NOT_GIVEN}


def xm_fields() -> dict[str, Any]:
    return {k: v for k, v in example("XM", "project").items() if k not in NOT_GIVEN}


def commit_by_hand(
    root: Path, rel: str, text: str | bytes, message: str, verify: bool = False
) -> str:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        target.write_text(text, encoding="utf-8")
    else:
        target.write_bytes(text)
    git(root, "add", rel)
    git(root, "commit", "-q", "-m", message, *([] if verify else ["--no-verify"]))
    return head(root)


def assert_error(result, code: int = 2) -> None:
    assert result.code == code, result
    assert "Traceback" not in result.out + result.err
    lines = result.err.strip().splitlines()
    assert 1 <= len(lines) <= 2, result
    assert lines[0].startswith("dangan: error: "), result


# ------------------------------------------------- every category at every level


def grant_roles(cli, fields: dict) -> None:
    """Make everyone who acts in a ledger record (`by`, `approved_by`) a recipient with
    both roles, as the lending and retention rules require."""
    from dangan.formats.agekeys import generate_identity

    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("by", "approved_by") and isinstance(value, str):
                    names.add(value)
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(fields)
    for name in sorted(names):
        added = cli("recipients", "add", name, generate_identity()[1], "--role", "archivist", "--role", "approver")
        assert added.code == 0, added


@pytest.mark.parametrize(
    ("category", "level"), CATEGORY_LEVELS, ids=[f"{c}-{lv}" for c, lv in CATEGORY_LEVELS]
)
def test_new_every_category_and_level(
    vault: Path, cli, tmp_path: Path, category: str, level: str
) -> None:
    schemas = SchemaSet(vault / "schemas")
    assert level in schemas.categories[category].levels
    location = LEVEL_LOCATION[level]
    fields = clear_fields(vault, category, level, schemas)
    assert not set(fields) & schemas.categories[category].sensitive
    if category == "JY":
        grant_roles(cli, fields)  # approvals and hand-overs need role holders (DG111)
    before = head(vault)
    # certificates come with the removal of what they list, appraisals with a plan, handovers
    # with the list of what was handed over
    writer = {"XH": "retention apply", "JD": "retention appraise", "YJ": "handover record"}
    if category in writer:
        refused = cli("new", category, "--file", "-", input=dump(fields))
        assert refused.code == 2, refused
        assert writer[category] in refused.err, refused
        assert head(vault) == before and status(vault) == ""
        return

    result = cli(
        "new",
        category,
        *([location] if location else []),
        "--file",
        "-",
        "--json",
        input=dump(fields),
    )

    assert result.code == 0, result
    answer = json.loads(result.out)
    code, rel = expected_code(category, location), expected_path(category, location)
    assert set(answer) == {"code", "path", "commit"}
    assert answer["code"] == code
    assert answer["path"] == rel
    # one new commit on top of the old HEAD, naming the code, touching only that file
    assert answer["commit"] == head(vault)
    assert git(vault, "rev-parse", "HEAD~1").strip() == before
    assert code in git(vault, "log", "-1", "--format=%B")
    assert git(vault, "show", "--name-only", "--format=", "HEAD").split() == [rel]
    assert status(vault) == ""
    # the file: canonical, with exactly the given fields after code and category
    data = (vault / rel).read_bytes()
    tree, canonical = load_bytes(data)
    assert canonical
    assert list(tree)[:2] == ["code", "category"]
    assert tree == {"code": code, "category": category, **fields}

    shown = cli("show", code, "--json")
    assert shown.code == 0, shown
    assert json.loads(shown.out) == {"code": code, "path": rel, "record": tree, "damage": []}

    listed = cli("ls", "--category", category, "--json")
    assert listed.code == 0, listed
    assert [item["code"] for item in json.loads(listed.out)] == [code]

    # set, then edit with a scripted editor, on the same record (staged only: the commits
    # of set and edit have their own tests); fmt finds nothing to do
    changed = cli("set", code, "notes=核對無誤", "--no-commit")
    assert changed.code == 0, changed
    assert read_yaml(vault / rel)["notes"] == "核對無誤"
    # the editor adds a tag: an addition, which even the append-only ledger records allow
    editor = tmp_path / "editor.sh"
    editor.write_text(
        "#!/bin/sh\n"
        "if grep -q '^tags:$' \"$1\"; then sed -i 's/^tags:$/tags:\\n  - 已編輯/' \"$1\"\n"
        "else printf 'tags:\\n  - 已編輯\\n' >> \"$1\"; fi\n",
        encoding="utf-8",
    )
    editor.chmod(0o755)
    edited = cli("edit", code, "--no-commit", env={"EDITOR": str(editor)})
    assert edited.code == 0, edited
    final, canonical = load_bytes((vault / rel).read_bytes())
    assert canonical
    assert final == {**tree, "notes": "核對無誤", "tags": ["已編輯", *tree.get("tags", [])]}
    assert git(vault, "rev-list", "--count", f"{before}..HEAD").strip() == "1"
    assert status(vault) == f"M  {rel}\n"
    fmt = cli("fmt", "--check", str(vault / rel))
    assert fmt.code == 0, fmt
    check = cli("check", str(vault / rel))
    assert check.code == 0, check
    assert check.out.endswith("1 file(s) checked, 0 findings\n")


def test_new_from_a_file_prints_the_code(vault: Path, cli, tmp_path: Path) -> None:
    result = cli("new", "SB", "A01-02", "--file", str(write_fields(tmp_path, sb_fields())))
    assert result.code == 0, result
    assert result.out == "SB-A01-02-0001\n"
    assert result.err == ""
    assert (vault / "vault/A01/02/SB/SB-A01-02-0001.yaml").is_file()
    assert status(vault) == ""


def test_new_from_stdin_real_executable_json(vault: Path) -> None:
    before = head(vault)
    result = run_bin(
        ["-C", str(vault), "new", "XM", "A01", "--file", "-", "--json"],
        input=dump(xm_fields()).encode(),
    )
    assert result.code == 0, result
    assert "Traceback" not in result.err
    answer = json.loads(result.out)
    assert answer == {
        "code": "XM-A01-0001",
        "path": "vault/A01/XM/XM-A01-0001.yaml",
        "commit": head(vault),
    }
    assert git(vault, "rev-parse", "HEAD~1").strip() == before
    assert "XM-A01-0001" in git(vault, "log", "-1", "--format=%s")
    assert status(vault) == ""
    assert load_bytes((vault / answer["path"]).read_bytes())[1]


def test_new_fills_opened_and_status(vault: Path, cli, tmp_path: Path) -> None:
    fields = {k: v for k, v in sb_fields().items() if k not in ("opened", "status")}
    code = new_record(cli, tmp_path, "SB", "A01-02", fields)
    tree = read_yaml(vault / expected_path("SB", "A01-02"))
    assert code == "SB-A01-02-0001"
    assert isinstance(tree["opened"], str) and len(tree["opened"]) == 10
    assert isinstance(tree["status"], str) and tree["status"]
    assert cli("check").code == 0


# -------------------------------------------------------------- serial allocation


def test_serials_count_up_in_one_place(vault: Path, cli, tmp_path: Path) -> None:
    first = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    second = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    other_place = new_record(cli, tmp_path, "SB", "A01-03", sb_fields())
    assert (first, second, other_place) == ("SB-A01-02-0001", "SB-A01-02-0002", "SB-A01-03-0001")
    for code, loc, serial in (
        (first, "A01-02", 1),
        (second, "A01-02", 2),
        (other_place, "A01-03", 1),
    ):
        assert read_yaml(vault / expected_path("SB", loc, serial))["code"] == code


def _certificate(listing: list[str]) -> str:
    tree = {k: v for k, v in example("XH", "company").items() if k != "refs"}
    tree["items"] = [
        {**tree["items"][0], "code": code, "category": code[:2], "title": f"已銷毀 {code}"}
        for code in listing
    ]
    return dump(tree)


def test_destroyed_code_is_never_reused(vault: Path, cli, tmp_path: Path) -> None:
    assert new_record(cli, tmp_path, "SB", "A01-02", sb_fields()) == "SB-A01-02-0001"
    assert new_record(cli, tmp_path, "SB", "A01-02", sb_fields()) == "SB-A01-02-0002"
    # destroy 0002 by hand: remove the file, file a certificate listing it
    git(vault, "rm", "-q", "vault/A01/02/SB/SB-A01-02-0002.yaml")
    commit_by_hand(
        vault, "vault/XH/XH-0001.yaml", _certificate(["SB-A01-02-0002"]), "銷毀 SB-A01-02-0002"
    )
    assert not (vault / "vault/A01/02/SB/SB-A01-02-0002.yaml").exists()

    assert new_record(cli, tmp_path, "SB", "A01-02", sb_fields()) == "SB-A01-02-0003"
    assert not (vault / "vault/A01/02/SB/SB-A01-02-0002.yaml").exists()
    assert (vault / "vault/A01/02/SB/SB-A01-02-0003.yaml").is_file()


def test_certificate_alone_reserves_its_codes(vault: Path, cli, tmp_path: Path) -> None:
    commit_by_hand(vault, "vault/XH/XH-0001.yaml", _certificate(["SB-A01-02-0002"]), "銷毀清冊")
    assert new_record(cli, tmp_path, "SB", "A01-02", sb_fields()) == "SB-A01-02-0003"
    # other places are not affected
    assert new_record(cli, tmp_path, "SB", "A01-05", sb_fields()) == "SB-A01-05-0001"


def test_new_no_commit_only_stages(vault: Path, cli, tmp_path: Path) -> None:
    before = head(vault)
    path = write_fields(tmp_path, sb_fields())
    result = cli("new", "SB", "A01-02", "--file", str(path), "--no-commit", "--json")
    assert result.code == 0, result
    answer = json.loads(result.out)
    rel = "vault/A01/02/SB/SB-A01-02-0001.yaml"
    assert answer == {"code": "SB-A01-02-0001", "path": rel, "commit": None}
    assert head(vault) == before
    assert status(vault) == f"A  {rel}\n"
    assert git(vault, "diff", "--cached", "--name-only").split() == [rel]
    assert cli("check", "--staged").code == 0


# ------------------------------------------------------------------ --set typing


def test_set_values_are_typed_by_the_schema(vault: Path, cli, tmp_path: Path) -> None:
    fields = {
        k: v
        for k, v in sb_fields().items()
        if k not in ("asset_no", "stops", "rated_speed", "custody")
    }
    path = write_fields(tmp_path, fields)
    result = cli(
        "new",
        "SB",
        "A01-02",
        "--file",
        str(path),
        "--set",
        "asset_no=0042",
        "--set",
        "stops=3",
        "--set",
        "rated_speed=1.75",
        "--set",
        "custody.form=paper",
        "--set",
        "custody.cabinet=04",
    )
    assert result.code == 0, result
    text = (vault / expected_path("SB", "A01-02")).read_text("utf-8")
    tree = read_yaml(vault / expected_path("SB", "A01-02"))
    assert tree["asset_no"] == "0042"
    assert tree["stops"] == 3 and type(tree["stops"]) is int
    assert tree["rated_speed"] == 1.75
    assert tree["custody"] == {"form": "paper", "cabinet": "04"}
    assert "stops: 3\n" in text
    assert "asset_no: '0042'\n" in text


def test_phone_like_string_stays_a_string(vault: Path, cli, tmp_path: Path) -> None:
    fields = {k: v for k, v in xm_fields().items() if k != "service_phone"}
    path = write_fields(tmp_path, fields)
    result = cli("new", "XM", "A01", "--file", str(path), "--set", "service_phone=051265881234")
    assert result.code == 0, result
    tree = read_yaml(vault / "vault/A01/XM/XM-A01-0001.yaml")
    assert tree["service_phone"] == "051265881234"
    assert cli("set", "XM-A01-0001", "service_phone=13800001234").code == 0
    assert read_yaml(vault / "vault/A01/XM/XM-A01-0001.yaml")["service_phone"] == "13800001234"
    assert cli("check").code == 0


@pytest.mark.parametrize("value", ["three", "3.5", "", "1e999", "0x10"])
def test_bad_number_is_refused(vault: Path, cli, tmp_path: Path, value: str) -> None:
    path = write_fields(tmp_path, sb_fields())
    before = snapshot(vault)
    result = cli("new", "SB", "A01-02", "--file", str(path), "--set", f"stops={value}")
    assert_error(result)
    assert "stops" in result.err
    assert snapshot(vault) == before
    assert not (vault / "vault/A01").exists()


# ------------------------------------------------------------- sensitive values


def test_sensitive_value_in_new_file_is_refused(vault: Path, cli, tmp_path: Path) -> None:
    full = {k: v for k, v in read_yaml(VALID / "YZ-owner-file.yaml").items() if k not in NOT_GIVEN}
    path = write_fields(tmp_path, full)
    before = snapshot(vault)
    result = cli("new", "YZ", "A01-02-001-0301", "--file", str(path))
    assert_error(result)
    assert "no recipients to encrypt for" in result.err
    for secret in ("林曉東", "138-0000-1234", "320506198507151234"):
        assert secret not in result.err + result.out
    assert snapshot(vault) == before
    assert not (vault / "vault/A01").exists()


def test_sensitive_value_in_new_set_is_refused(vault: Path, cli, tmp_path: Path) -> None:
    fields = clear_fields(vault, "ZH", "room")
    path = write_fields(tmp_path, fields)
    before = snapshot(vault)
    result = cli("new", "ZH", "A01-02-001-0301", "--file", str(path), "--set", "phone=13912345678")
    assert_error(result)
    assert "no recipients to encrypt for" in result.err
    assert "13912345678" not in result.err + result.out
    assert snapshot(vault) == before


def test_sensitive_value_in_set_is_refused(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "ZH", "A01-02-001-0301", clear_fields(vault, "ZH", "room"))
    rel = expected_path("ZH", "A01-02-001-0301")
    data = (vault / rel).read_bytes()
    before = snapshot(vault)
    result = cli("set", code, "tenant_name=王小明")
    assert_error(result)
    assert "no recipients to encrypt for" in result.err
    assert "王小明" not in result.err + result.out
    assert snapshot(vault) == before
    assert (vault / rel).read_bytes() == data


# ------------------------------------------------------------------- show and ls


def test_show_text_and_json(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    text = cli("show", code)
    assert text.code == 0, text
    assert text.out.startswith(f"code: {code}\ncategory: SB\n")
    assert "system: elevator\n" in text.out
    assert "  cabinet: '04'\n" in text.out
    as_json = cli("show", code, "--json")
    assert as_json.code == 0, as_json
    doc = json.loads(as_json.out)
    assert set(doc) == {"code", "path", "record", "damage"}
    assert doc["code"] == code and doc["path"] == "vault/A01/02/SB/SB-A01-02-0001.yaml"
    assert doc["record"]["stops"] == 19 and doc["record"]["custody"]["cabinet"] == "04"
    assert as_json.err == ""


def test_show_unknown_record(vault: Path, cli) -> None:
    result = cli("show", "SB-A01-02-0009")
    assert_error(result)
    assert "SB-A01-02-0009" in result.err


def test_ls_filters(vault: Path, cli, tmp_path: Path) -> None:
    sb = sb_fields()
    elevator = new_record(cli, tmp_path, "SB", "A01-02", sb)
    pumps = new_record(
        cli,
        tmp_path,
        "SB",
        "A01",
        {**sb, "system": "water_supply", "title": "生活水泵", "status": "standby"},
    )
    repair = new_record(cli, tmp_path, "WX", "A01-02-001-0301", clear_fields(vault, "WX", "room"))
    elsewhere = new_record(cli, tmp_path, "SB", "B02-01", {**sb, "title": "商場電梯"})

    def codes(*args: str) -> list[str]:
        result = cli("ls", *args, "--json")
        assert result.code == 0, result
        return sorted(item["code"] for item in json.loads(result.out))

    assert codes() == sorted([elevator, pumps, repair, elsewhere])
    assert codes("--category", "SB") == sorted([elevator, pumps, elsewhere])
    assert codes("--location", "A01-02") == sorted([elevator, repair])
    assert codes("--location", "A01") == sorted([elevator, pumps, repair])
    assert codes("--status", "standby") == [pumps]
    assert codes("--where", "system=elevator") == sorted([elevator, elsewhere])
    assert codes("--where", "system=elevator", "--location", "B02") == [elsewhere]
    assert codes("--where", "custody.cabinet=04") == sorted([elevator, pumps, elsewhere])
    assert codes("--category", "XM") == []

    doc = json.loads(cli("ls", "--category", "SB", "--location", "A01-02", "--json").out)
    assert doc == [
        {
            "code": elevator,
            "category": "SB",
            "title": sb["title"],
            "status": sb["status"],
            "opened": sb["opened"],
            "closed": None,
            "path": "vault/A01/02/SB/SB-A01-02-0001.yaml",
        }
    ]
    text = cli("ls", "--category", "SB", "--location", "A01-02")
    assert text.code == 0, text
    assert (
        text.out == "\t".join([elevator, "SB", sb["title"], sb["status"], sb["opened"], ""]) + "\n"
    )


def test_ls_unknown_category(vault: Path, cli) -> None:
    result = cli("ls", "--category", "ZZ")
    assert_error(result)
    assert "ZZ" in result.err


# --------------------------------------------------------------------------- set


def test_set_changes_one_field_and_commits(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    rel = expected_path("SB", "A01-02")
    old = read_yaml(vault / rel)
    before = head(vault)
    result = cli("set", code, "status=under_repair", "--json")
    assert result.code == 0, result
    assert json.loads(result.out) == {"code": code, "changed": True, "commit": head(vault)}
    assert git(vault, "rev-parse", "HEAD~1").strip() == before
    message = git(vault, "log", "-1", "--format=%s").strip()
    assert code in message and "status" in message and message.startswith("dangan set")
    assert git(vault, "show", "--name-only", "--format=", "HEAD").split() == [rel]
    new, canonical = load_bytes((vault / rel).read_bytes())
    assert canonical
    assert new == {**old, "status": "under_repair"}
    assert list(new) == list(old)
    assert status(vault) == ""
    # the diff is that one line
    diff = git(vault, "diff", "-U0", "HEAD~1", "HEAD", "--", rel)
    changed = [
        ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
    ]
    assert changed == [f"-status: {old['status']}", "+status: under_repair"]


def test_set_unset_and_same_value(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    rel = expected_path("SB", "A01-02")
    result = cli("set", code, "--unset", "warranty_until")
    assert result.code == 0, result
    assert "warranty_until" not in read_yaml(vault / rel)
    before = snapshot(vault)
    same = cli("set", code, "system=elevator")
    assert same.code == 0, same
    assert "nothing changed" in same.err
    assert snapshot(vault) == before


def test_set_keeps_comments(vault: Path, cli, tmp_path: Path) -> None:
    tree = {"code": "SB-A01-02-0001", "category": "SB", **sb_fields()}
    text = dump(tree)
    text = "# 2棟電梯台賬，紙質原件在04櫃\n" + text.replace(
        "system: elevator\n", "system: elevator  # 曳引式\n"
    )
    rel = "vault/A01/02/SB/SB-A01-02-0001.yaml"
    commit_by_hand(vault, rel, text, "hand-written record", verify=True)
    assert cli("check", str(vault / rel)).code == 0
    result = cli("set", "SB-A01-02-0001", "stops=20")
    assert result.code == 0, result
    after = (vault / rel).read_text("utf-8")
    assert after.startswith("# 2棟電梯台賬，紙質原件在04櫃\n")
    assert "system: elevator  # 曳引式\n" in after
    assert "stops: 20\n" in after
    assert read_yaml(vault / rel) == {**tree, "stops": 20}
    assert status(vault) == ""
    assert cli("check", str(vault / rel)).code == 0


@pytest.mark.parametrize(
    "assignment",
    [
        "status=bogus",
        "installed=2023-02-30",
        "stops=-4",
        "colour=red",
        "stops=many",
        "opened=yesterday",
    ],
)
def test_set_invalid_value_changes_nothing(
    vault: Path, cli, tmp_path: Path, assignment: str
) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    rel = expected_path("SB", "A01-02")
    data = (vault / rel).read_bytes()
    before = snapshot(vault)
    result = cli("set", code, assignment)
    assert_error(result)
    assert assignment.split("=")[0] in result.err
    assert snapshot(vault) == before
    assert (vault / rel).read_bytes() == data


def test_set_fixed_fields_are_refused(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    before = snapshot(vault)
    for args in (("code=SB-A01-02-0005",), ("category=WX",), ("--unset", "code")):
        result = cli("set", code, *args)
        assert_error(result)
    assert snapshot(vault) == before


# -------------------------------------------------------------------------- edit


def _editor(tmp_path: Path, name: str, body: str) -> str:
    """A python editor script; `$EDITOR` is run through the shell with the file appended."""
    script = tmp_path / name
    script.write_text(
        "import os, sys, pathlib\np = pathlib.Path(sys.argv[1])\n" + body, encoding="utf-8"
    )
    return f"{sys.executable} {script}"


def test_edit_with_sed(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    rel = expected_path("SB", "A01-02")
    old = read_yaml(vault / rel)
    script = tmp_path / "sed-editor.sh"
    script.write_text('#!/bin/sh\nexec sed -i "s/^stops: .*/stops: 21/" "$1"\n', encoding="utf-8")
    script.chmod(0o755)
    before = head(vault)
    result = cli("edit", code, env={"EDITOR": str(script)})
    assert result.code == 0, result
    assert result.out.strip() == code
    assert read_yaml(vault / rel) == {**old, "stops": 21}
    assert git(vault, "rev-parse", "HEAD~1").strip() == before
    message = git(vault, "log", "-1", "--format=%s").strip()
    assert message.startswith("dangan edit") and code in message
    assert status(vault) == ""
    assert load_bytes((vault / rel).read_bytes())[1]


def test_edit_reopens_with_errors_until_valid(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    rel = expected_path("SB", "A01-02")
    old = read_yaml(vault / rel)
    log = tmp_path / "seen"
    log.mkdir()
    editor = _editor(
        tmp_path,
        "editor.py",
        f"log = pathlib.Path({str(log)!r})\n"
        "n = len(list(log.iterdir())) + 1\n"
        "text = p.read_text('utf-8')\n"
        "(log / str(n)).write_text(text, 'utf-8')\n"
        "if n == 1:\n"
        "    p.write_text(text.replace('status: in_service', 'status: bogus'), 'utf-8')\n"
        "else:\n"
        "    p.write_text(text.replace('status: bogus', 'status: under_repair'), 'utf-8')\n",
    )
    result = cli("edit", code, env={"EDITOR": editor})
    assert result.code == 0, result
    seen = sorted(log.iterdir(), key=lambda p: int(p.name))
    assert len(seen) == 2
    first, second = (p.read_text("utf-8") for p in seen)
    assert not first.startswith("# dangan:")
    header = [ln for ln in second.splitlines() if ln.startswith("# dangan: ")]
    assert header and second.startswith("# dangan: ")
    assert any("/status" in ln for ln in header), header
    assert "status: bogus" in second
    final = (vault / rel).read_text("utf-8")
    assert "# dangan:" not in final
    assert read_yaml(vault / rel) == {**old, "status": "under_repair"}
    assert load_bytes(final.encode())[1]
    assert status(vault) == ""


def test_edit_unchanged_is_no_change(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    before = snapshot(vault)
    result = cli("edit", code, env={"EDITOR": "true"})
    assert result.code == 0, result
    assert "no changes" in result.err
    assert snapshot(vault) == before


def test_edit_abandoned_after_error(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    rel = expected_path("SB", "A01-02")
    data = (vault / rel).read_bytes()
    counter = tmp_path / "count"
    editor = _editor(
        tmp_path,
        "editor.py",
        f"c = pathlib.Path({str(counter)!r})\n"
        "n = int(c.read_text()) + 1 if c.exists() else 1\n"
        "c.write_text(str(n))\n"
        "if n == 1:\n"
        "    p.write_text(p.read_text('utf-8').replace('stops: 19', 'stops: -19'), 'utf-8')\n",
    )
    before = snapshot(vault)
    result = cli("edit", code, env={"EDITOR": editor})
    assert result.code == 1, result
    assert "abandoned" in result.err
    assert "Traceback" not in result.err
    assert counter.read_text() == "2"
    assert snapshot(vault) == before
    assert (vault / rel).read_bytes() == data


def test_edit_temp_file_is_private_and_removed(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    record = tmp_path / "record.json"
    editor = _editor(
        tmp_path,
        "editor.py",
        "import json, stat\n"
        f"pathlib.Path({str(record)!r}).write_text(json.dumps({{'path': str(p), "
        "'mode': stat.S_IMODE(p.stat().st_mode), 'dir': stat.S_IMODE(p.parent.stat().st_mode)}))\n"
        "p.write_text(p.read_text('utf-8').replace('stops: 19', 'stops: 18'), 'utf-8')\n",
    )
    result = cli("edit", code, env={"EDITOR": editor})
    assert result.code == 0, result
    seen = json.loads(record.read_text())
    assert seen["mode"] == 0o600
    assert seen["dir"] & 0o077 == 0
    assert not Path(seen["path"]).exists()
    assert not Path(seen["path"]).parent.exists()
    assert not Path(seen["path"]).is_relative_to(vault)
    assert read_yaml(vault / expected_path("SB", "A01-02"))["stops"] == 18


def test_edit_failing_editor_writes_nothing(vault: Path, cli, tmp_path: Path) -> None:
    code = new_record(cli, tmp_path, "SB", "A01-02", sb_fields())
    before = snapshot(vault)
    result = cli("edit", code, env={"EDITOR": "false"})
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert snapshot(vault) == before


# --------------------------------------------------------------------------- fmt

NON_CANONICAL = """\
# 手寫的設備台賬
code: SB-A01-02-0001
category: SB
title: 2棟1單元乘客電梯
status: in_service
opened: 2019-05-10
system: elevator
equipment_type: 曳引式乘客電梯
install_location: 2棟1單元電梯井
stops: 19
custody: {form: paper, cabinet: '04'}
tags:
    - 電梯
    - 特種設備
"""


def test_fmt_rewrites_canonically_and_keeps_comments(vault: Path, cli) -> None:
    rel = "vault/A01/02/SB/SB-A01-02-0001.yaml"
    commit_by_hand(vault, rel, NON_CANONICAL, "hand-written, not canonical")
    tree_before = read_yaml(vault / rel)
    assert load_bytes(NON_CANONICAL.encode())[1] is False

    check_before = cli("fmt", "--check")
    assert check_before.code == 1, check_before
    assert rel in check_before.out
    assert (vault / rel).read_text("utf-8") == NON_CANONICAL

    before = head(vault)
    result = cli("fmt")
    assert result.code == 0, result
    text = (vault / rel).read_text("utf-8")
    assert text.startswith("# 手寫的設備台賬\n")
    assert "opened: '2019-05-10'\n" in text
    assert "custody:\n  form: paper\n  cabinet: '04'\n" in text
    assert "tags:\n  - 電梯\n  - 特種設備\n" in text
    assert load_bytes(text.encode()) == (tree_before, True)
    assert git(vault, "rev-parse", "HEAD~1").strip() == before
    assert "fmt" in git(vault, "log", "-1", "--format=%s")
    assert git(vault, "show", "--name-only", "--format=", "HEAD").split() == [rel]
    assert status(vault) == ""

    check_after = cli("fmt", "--check")
    assert check_after.code == 0, check_after
    assert cli("check").code == 0


def test_fmt_putting_back_what_head_holds_makes_no_commit(vault: Path, cli) -> None:
    """A record whose final newline was lost in the work tree: fmt restores HEAD's bytes,
    succeeds and makes no empty commit (it used to fail with "git commit failed"; issue 19)."""
    rel = "vault/A01/02/SB/SB-A01-02-0001.yaml"
    commit_by_hand(vault, rel, NON_CANONICAL, "hand-written")
    assert cli("fmt").code == 0  # committed in canonical form
    committed = (vault / rel).read_bytes()
    (vault / rel).write_bytes(committed.rstrip(b"\n"))
    before = head(vault)
    result = cli("fmt")
    assert result.code == 0, result
    assert "1 file(s) reformatted" in result.out
    assert (vault / rel).read_bytes() == committed
    assert head(vault) == before and status(vault) == ""


def test_fmt_check_json_and_no_commit(vault: Path, cli) -> None:
    rel = "vault/A01/02/SB/SB-A01-02-0001.yaml"
    commit_by_hand(vault, rel, NON_CANONICAL, "hand-written")
    result = cli("fmt", "--check", "--json")
    assert result.code == 1, result
    assert json.loads(result.out) == {"changed": [rel], "unreadable": [], "written": False}
    before = head(vault)
    staged = cli("fmt", "--no-commit", str(vault / rel))
    assert staged.code == 0, staged
    assert head(vault) == before
    assert status(vault) == f"M  {rel}\n"
    assert cli("check", "--staged").code == 0
