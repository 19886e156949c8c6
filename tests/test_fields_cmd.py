"""`dangan categories` and `dangan fields` explain a vault from its own schemas, and
validation errors point to them (issue 24 part 3, docs/cli.md)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from conftest import snapshot

from dangan.formats import fielddoc
from dangan.formats.schemas import SchemaSet


def registry(vault: Path) -> dict:
    return yaml.safe_load((vault / "schemas" / "categories.yaml").read_text(encoding="utf-8"))["categories"]


def test_categories_lists_every_category_with_levels_retention_and_sensitive_fields(vault: Path, cli) -> None:
    result = cli("categories")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["code", "中文", "English"]
    codes = registry(vault)
    assert len(codes) == 28 and len(lines) == 1 + 28
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == list(codes)  # the registry's order
    for code, entry in codes.items():
        assert entry["zh"] in rows[code] and ", ".join(entry["levels"]) in rows[code]
    assert "P8Y after closed, then destroy" in rows["SB"]
    assert "permanent" in rows["QY"] and "no rule" not in rows["QY"]
    assert "id_number" in rows["YZ"] and "title_deed_no" in rows["YZ"]
    assert rows["SB"].rstrip().endswith("—")  # no sensitive field


def test_categories_json_shape(vault: Path, cli) -> None:
    result = cli("categories", "--json")
    assert result.code == 0, result
    doc = json.loads(result.out)["categories"]
    assert [c["code"] for c in doc] == list(registry(vault))
    sb = next(c for c in doc if c["code"] == "SB")
    assert sb == {
        "code": "SB", "zh": "設備檔案", "en": "equipment file",
        "class": {"code": "maintenance", "zh": "維護保養", "en": "maintenance"},
        "levels": ["project", "building", "unit"],
        "retention": {"keep": "P8Y", "after": "closed", "action": "destroy",
                      "text": "P8Y after closed, then destroy", "source": "vault.yaml"},
        "sensitive": [],
    }
    yz = next(c for c in doc if c["code"] == "YZ")
    assert {"name", "id_number", "phone"} <= set(yz["sensitive"])


def test_a_category_without_a_rule_in_vault_yaml_is_permanent_beside_the_standard(vault: Path, cli) -> None:
    config = yaml.safe_load((vault / "vault.yaml").read_text(encoding="utf-8"))
    del config["retention"]["SB"]
    (vault / "vault.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    doc = json.loads(cli("categories", "--json").out)["categories"]
    sb = next(c for c in doc if c["code"] == "SB")
    # what applies is what `retention plan` applies: without a rule, nothing is ever due
    assert sb["retention"]["source"] == "none" and sb["retention"]["keep"] == "permanent"
    assert sb["retention"]["standard"]["keep"] == "P8Y"
    assert "permanent: no rule in vault.yaml (the standard: P8Y after closed, then destroy)" in cli("categories").out


def test_fields_sb_lists_system_with_its_values_and_labels(cli) -> None:
    result = cli("fields", "SB")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].startswith("SB 設備檔案 — equipment file")
    system = next(i for i, line in enumerate(lines) if line.split()[0] == "system")
    assert lines[system].split()[1:3] == ["string", "yes"]
    assert lines[system + 1].strip().startswith("one of: elevator 電梯, escalator 扶梯, fire_protection 消防")
    names = [line.split()[0] for line in lines[2:] if not line.startswith(" ")]
    assert names[:6] == ["code", "category", "title", "status", "opened", "closed"]
    assert {"equipment_type", "install_location", "custody.room", "retention.until"} <= set(names)


def test_fields_sb_system_lists_each_system_with_its_chinese_label(cli) -> None:
    result = cli("fields", "SB", "system")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == "SB system: string, required"
    values = {line.split()[0]: line.split()[1:] for line in lines[lines.index("allowed values:") + 1:]}
    assert len(values) == 18
    assert values["elevator"] == ["電梯"] and values["lightning_protection"] == ["防雷"]
    assert values["other"] == []  # the description gives it no label: the value alone

    doc = json.loads(cli("fields", "SB", "system", "--json").out)
    assert doc["category"] == "SB" and len(doc["fields"]) == 1
    assert doc["fields"][0]["values"][0] == {"value": "elevator", "label": "電梯"}
    assert doc["fields"][0]["required"] is True


def test_fields_yz_marks_the_sensitive_fields(vault: Path, cli) -> None:
    result = cli("fields", "YZ")
    assert result.code == 0, result
    rows = {line.split()[0]: line for line in result.out.splitlines()[2:] if not line.startswith(" ")}
    assert "🔒" in rows["owners[].name"] and "🔒" in rows["title_deed_no"]
    assert "🔒" not in rows["title"] and "🔒" not in rows["owners[].role"]
    doc = json.loads(cli("fields", "YZ", "--json").out)["fields"]
    marked = {f["name"].rsplit(".", 1)[-1] for f in doc if f["sensitive"]}
    assert marked == set(SchemaSet.from_dir(vault / "schemas").categories["YZ"].sensitive)


def test_nested_fields_and_their_conditions(vault: Path, cli) -> None:
    owners = cli("fields", "YZ", "owners.role")  # brackets are optional
    assert owners.code == 0, owners
    assert owners.out.splitlines()[0] == "YZ owners[].role: string, required"
    assert "  primary   主產權人" in owners.out.splitlines()
    tz = json.loads(cli("fields", "TZ", "withdrawn_reason", "--json").out)["fields"][0]
    assert tz["required"] is False and tz["required_when"] == ["status is withdrawn"]


def test_unknown_category_or_field_is_an_error_with_the_nearest_names(vault: Path, cli) -> None:
    before = snapshot(vault)
    result = cli("fields", "SBX")
    assert result.code == 2 and result.out == ""
    assert result.err.splitlines() == ["dangan: error: no category 'SBX' in this vault's registry; nearest: SB",
                                       "hint: `dangan categories` lists them"]
    result = cli("fields", "SB", "sytem")
    assert result.code == 2 and result.out == ""
    assert result.err.splitlines() == ["dangan: error: SB has no field 'sytem'; nearest: system",
                                       "hint: `dangan fields SB` lists them"]
    assert snapshot(vault) == before


def test_a_value_not_allowed_names_the_values_and_dangan_fields(vault: Path, cli) -> None:
    before = snapshot(vault)
    result = cli("new", "SB", "A01", "--set", "system=lift", "--set", "title=1號梯",
                 "--set", "equipment_type=曳引式乘客電梯", "--set", "install_location=1棟電梯井")
    assert result.code == 2, result
    message, hint = result.err.splitlines()
    assert message == ('dangan: error: SB-A01-0001 is not valid: /system: "lift" is not one of '
                       '"elevator", "escalator" or 16 other candidates')
    assert hint == ("hint: nothing was written; fix the fields and retry; system takes one of elevator, "
                    "escalator, fire_protection, water_supply, drainage, power_supply, lighting, hvac, "
                    "heating, gas, …: `dangan fields SB system` gives their labels")
    assert snapshot(vault) == before


def test_a_missing_field_points_to_its_explanation(cli) -> None:
    result = cli("new", "SB", "A01", "--set", "system=elevator", "--set", "title=1號梯",
                 "--set", "install_location=1棟電梯井")
    assert result.code == 2, result
    assert result.err.splitlines()[-1] == ("hint: nothing was written; fix the fields and retry; "
                                           "`dangan fields SB equipment_type` explains the field")
    unknown = cli("new", "SB", "A01", "--set", "system=elevator", "--set", "title=1號梯",
                  "--set", "equipment_type=x", "--set", "install_location=y", "--set", "colour=red")
    assert unknown.code == 2 and "'colour' was unexpected" in unknown.err
    assert unknown.err.splitlines()[-1].endswith("; `dangan fields SB` lists the fields")


def test_labels_are_read_in_both_written_forms() -> None:
    texts = ["State: active (有效), expired (過期). Kind: elevator 電梯, other, hvac 空調通風."]
    assert fielddoc._label("active", texts) == "有效"
    assert fielddoc._label("elevator", texts) == "電梯"
    assert fielddoc._label("hvac", texts) == "空調通風"
    assert fielddoc._label("other", texts) == ""
    assert fielddoc._label("act", texts) == ""  # a part of another word is not the value


def test_error_pointers_name_fields_as_the_docs_write_them() -> None:
    assert fielddoc.field_of_pointer("/custody/room") == "custody.room"
    assert fielddoc.field_of_pointer("/owners/0/name") == "owners[].name"
    assert fielddoc.field_of_pointer("/refs/2") == "refs"
    assert fielddoc.error_field('/owners/0: "role" is a required property') == (
        "owners[].role", '"role" is a required property')


def test_descriptions_are_shown_in_the_interface_language(cli) -> None:
    """Issue 24 part 2: `dangan fields` gives the standard schemas' descriptions in Chinese
    (simplified or traditional); --json keeps them as the schema writes them."""
    hans = cli("--lang", "zh-Hans", "fields", "SB", "system")
    assert hans.code == 0, hans
    assert "  系统：elevator 电梯、escalator 扶梯" in hans.out and "System (系統)" not in hans.out
    assert "允许值：" in hans.out and "allowed values:" not in hans.out
    hant = cli("--lang", "zh-Hant", "fields", "SB")
    assert hant.code == 0, hant
    title = next(line for line in hant.out.splitlines() if line.startswith("title "))
    assert title.rstrip().endswith("一行可讀的題名。"), title
    english = cli("--lang", "en", "fields", "SB", "system")
    assert "  System (系統): elevator 電梯, escalator 扶梯" in english.out
    doc = json.loads(cli("--lang", "zh-Hans", "fields", "SB", "system", "--json").out)
    assert doc["fields"][0]["description"].startswith("System (系統): elevator 電梯")


def test_every_standard_description_is_in_the_catalogs(tmp_path: Path) -> None:
    """The extractor takes each description `dangan fields` shows, so that test_catalogs
    holds both Chinese catalogs to translating it."""
    from dangan import i18n

    schemas = SchemaSet.from_dir(Path(__file__).parent.parent / "schemas")
    shown = {f.description for code in schemas.categories for f in fielddoc.fields(schemas, code) if f.description}
    with (Path(__file__).parent.parent / "schemas" / "categories.yaml").open("rb") as registry_file:
        extracted = {text for _line, _fn, text, _c in fielddoc.extract_labels(registry_file, None, None, None)}
    assert shown <= extracted
    for language in ("zh-Hans", "zh-Hant"):
        i18n.set_language(language)
        try:
            untranslated = sorted(text for text in shown if i18n._(text) == text)
        finally:
            i18n.set_language("en")
        assert untranslated == [], (language, untranslated[:3])


def test_categories_words_the_retention_rule_in_the_interface_language(cli) -> None:
    """Issue 24 part 1: the retention column in Chinese; --json keeps fielddoc's English text."""
    hans = cli("--lang", "zh-Hans", "categories")
    assert hans.code == 0, hans
    rows = {line.split()[0]: line for line in hans.out.splitlines()[1:]}
    assert "closed 后保管 P8Y，然后 销毁" in rows["SB"] and "after closed" not in hans.out
    doc = json.loads(cli("--lang", "zh-Hans", "categories", "--json").out)
    sb = next(c for c in doc["categories"] if c["code"] == "SB")
    assert sb["retention"]["text"] == "P8Y after closed, then destroy"
