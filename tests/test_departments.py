"""Departments in vault.yaml: who files a record (model/departments.py; docs/format.md §5)."""
from __future__ import annotations

from pathlib import Path

from conftest import run_cli

from dangan.formats.yamlio import dump, load_text
from dangan.model.codes import parse_code
from dangan.model.departments import department_of, parse

CONFIG = {
    "departments": [
        {"name": "工程部", "responsible": "李建國", "people": ["李建國", "王師傅"],
         "files": [{"category": "WX"}, {"category": "SB"}, {"category": "XJ"}]},
        {"name": "安保部", "responsible": "趙剛", "files": [{"category": "XJ", "location": "A01-02"}, {"category": "AQ"}]},
        {"name": "客服部", "responsible": "張敏", "files": [{"category": "TS"}, {"category": "WX", "location": "A02"}]},
    ]
}


def test_the_most_specific_entry_names_the_department() -> None:
    departments = parse(CONFIG)
    assert department_of(departments, parse_code("WX-A01-02-001-0301-0001")).name == "工程部"
    assert department_of(departments, parse_code("WX-A02-01-001-0101-0001")).name == "客服部"  # A02 beats any
    assert department_of(departments, parse_code("XJ-A01-02-0001")).name == "安保部"  # A01-02 beats any
    assert department_of(departments, parse_code("XJ-A01-01-0001")).name == "工程部"
    assert department_of(departments, parse_code("XJ-A01-0001")).name == "工程部"
    assert department_of(departments, parse_code("YZ-A01-02-001-0301-0001")) is None  # unassigned
    assert department_of([], parse_code("TS-A01-02-001-0301-0001")) is None


def test_departments_are_checked_as_part_of_vault_yaml(vault: Path) -> None:
    config = load_text((vault / "vault.yaml").read_text("utf-8"))
    config.update(CONFIG)
    (vault / "vault.yaml").write_text(dump(config), "utf-8")
    assert run_cli(["-C", str(vault), "check", "--all"]).code == 0
    config["departments"][0]["files"].append({"category": "QQ"})
    config["departments"].append({"name": "工程部", "responsible": "某人", "files": []})
    config["departments"][1]["people"] = ["某甲"]
    config["departments"][2]["files"].append({"category": "TS", "location": "not a location"})
    (vault / "vault.yaml").write_text(dump(config), "utf-8")
    result = run_cli(["-C", str(vault), "check", "--all"])
    assert result.code == 1, result
    assert "unknown category 'QQ'" in result.out and "'工程部' is listed twice" in result.out, result.out
    assert "responsible '趙剛' is not among its people" in result.out, result.out
    assert "/departments/2/files/2/location" in result.out, result.out


def test_duty_settings_naming_unknown_categories_are_dg114(vault: Path) -> None:
    config = load_text((vault / "vault.yaml").read_text("utf-8"))
    config["filing"] = {"QQ": {"within": "P7D"}}
    (vault / "vault.yaml").write_text(dump(config), "utf-8")
    result = run_cli(["-C", str(vault), "check", "--all"])
    assert result.code == 1 and "DG114" in result.out and "filing: unknown category 'QQ'" in result.out, result


def test_the_assigner_answers_as_department_of() -> None:
    """`assigner` (the reports' fast path) gives `department_of`'s answer for every code:
    the longest prefix, ties to the department listed first, no entry: None."""
    from dangan.model.codes import parse_code
    from dangan.model.departments import assigner, department_of, parse

    departments = parse({"departments": [
        {"name": "客服部", "files": [{"category": "TS"}, {"category": "WX", "location": "A01-02"}]},
        {"name": "工程部", "files": [{"category": "WX"}, {"category": "SB", "location": "A01"},
                                     {"category": "TS", "location": "A01"}]},
        {"name": "物業B", "files": [{"category": "WX", "location": "A01-02"}, {"category": "SB", "location": "A01-02-001"}]},
    ]})
    codes = ["TS-A01-0001", "TS-B01-0001", "TS-A01-02-0001", "WX-A01-0001", "WX-A01-02-0001",
             "WX-A01-02-001-0101-0001", "WX-A01-03-0001", "SB-A01-02-001-0001", "SB-A01-02-0001",
             "SB-B01-0001", "XJ-A01-0001", "JY-0001"]
    of = assigner(departments)
    for text in codes:
        code = parse_code(text)
        expected = department_of(departments, code)
        assert of(code) == expected, text
    assert of(parse_code("WX-A01-02-0001")).name == "客服部"  # the tie: listed first
    assert of(parse_code("SB-A01-02-001-0001")).name == "物業B"  # the longest prefix
    assert of(parse_code("XJ-A01-0001")) is None
