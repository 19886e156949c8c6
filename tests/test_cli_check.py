"""End to end: `dangan check` on hand-broken files, its sources, and the pre-commit hook.

Each broken file is written by hand (committed with `git commit --no-verify`, or only
written to the work tree) and must give exactly its DG id, at its path, with exit 1, in
both the text (`PATH: DGnnn message`) and the JSON output.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, git, run_bin, snapshot

from dangan.formats.yamlio import dump, load_roundtrip, to_plain

VALID = REPO / "tests" / "schema_examples" / "valid"
LINE = re.compile(r"^(?P<path>\S+): (?P<rule>DG\d{3}) (?P<message>.+)$")

SB_REL = "vault/A01/02/SB/SB-A01-02-0001.yaml"
BIG = "1234567890" * 500  # 5,000 digits: past Python's int-to-str limit (4300 by default)


def example(name: str) -> dict[str, Any]:
    """A valid example without `refs` (they name records a fresh vault lacks: DG108)."""
    tree = to_plain(load_roundtrip((VALID / name).read_text("utf-8")))
    tree.pop("refs", None)
    return tree


def sb_record(**changes: Any) -> dict[str, Any]:
    tree = example("SB-elevator.yaml")
    assert tree["code"] == "SB-A01-02-0001"
    tree.update(changes)
    return tree


def sb_text(**changes: Any) -> str:
    return dump(sb_record(**changes))


def findings(out: str) -> list[tuple[str, str, str]]:
    """(path, rule, message) of every finding line of the text report."""
    found = []
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            found.append((m["path"], m["rule"], m["message"]))
    return found


def write(root: Path, rel: str, data: str | bytes) -> None:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    target.write_bytes(data)


def commit_no_verify(root: Path, rel: str, data: str | bytes, message: str = "by hand") -> str:
    write(root, rel, data)
    git(root, "add", "--", rel)
    git(root, "commit", "-q", "--no-verify", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


# ------------------------------------------------------------------ broken files


@dataclass
class Broken:
    rel: str
    data: bytes
    rule: str
    mention: str | None = None  # a text the message must contain (the JSON path, a name)
    secrets: tuple[str, ...] = ()  # texts the output must never contain


def _b(text: str) -> bytes:
    return text.encode("utf-8")


def _yz_clear() -> bytes:
    tree = example("YZ-owner-file.yaml")
    return _b(dump(tree))


def _not_canonical() -> bytes:
    # the same tree with its custody mapping in flow style
    text = sb_text(custody={"form": "both", "cabinet": "04"})
    block = "custody:\n  form: both\n  cabinet: '04'\n"
    assert block in text
    return _b(text.replace(block, "custody: {form: both, cabinet: '04'}\n"))


def _four_space_indent() -> bytes:
    text = sb_text(custody={"form": "both", "cabinet": "04"})
    block = "custody:\n  form: both\n  cabinet: '04'\n"
    assert block in text
    return _b(text.replace(block, "custody:\n    form: both\n    cabinet: '04'\n"))


def _xm_at_building() -> bytes:
    tree = example("XM-residential.yaml")
    tree["code"] = "XM-A01-02-0001"
    return _b(dump(tree))


BROKEN: dict[str, Callable[[], Broken]] = {
    # DG101: not a readable record
    "DG101-syntax": lambda: Broken(
        SB_REL, _b("code: SB-A01-02-0001\ntitle: [unclosed\nstatus: in_service\n"), "DG101"
    ),
    "DG101-duplicate-key": lambda: Broken(
        SB_REL, _b(sb_text() + "title: 又一個標題\n"), "DG101", "duplicate"
    ),
    "DG101-alias": lambda: Broken(
        SB_REL,
        _b(sb_text().replace("system: elevator\n", "system: &s elevator\n") + "notes: *s\n"),
        "DG101",
    ),
    "DG101-bom": lambda: Broken(SB_REL, b"\xef\xbb\xbf" + _b(sb_text()), "DG101", "BOM"),
    "DG101-not-utf8": lambda: Broken(
        SB_REL, _b(sb_text()) + b"notes: caf\xe9 \xff\n", "DG101", "UTF-8"
    ),
    "DG101-too-large": lambda: Broken(
        SB_REL, _b(sb_text(notes="很長" * 140_000)), "DG101", "256 KiB"
    ),
    "DG101-not-a-mapping": lambda: Broken(SB_REL, _b("- SB-A01-02-0001\n- 電梯\n"), "DG101"),
    "DG101-tag": lambda: Broken(
        SB_REL, _b(sb_text().replace("system: elevator", "system: !equipment elevator")), "DG101"
    ),
    # values that cannot be written back canonically (an internal error until issue 15)
    "DG101-5000-digit-integer": lambda: Broken(
        SB_REL, _b(sb_text().replace("stops: 19\n", f"stops: {BIG}\n")), "DG101",
        "an integer of more than 640 digits",
    ),
    "DG101-huge-hex-integer": lambda: Broken(
        SB_REL, _b(sb_text().replace("stops: 19\n", "stops: 0x" + "f" * 5000 + "\n")), "DG101",
        "an integer of more than 640 digits",
    ),
    "DG101-infinity": lambda: Broken(
        SB_REL, _b(sb_text().replace("rated_speed: 1.75\n", "rated_speed: .inf\n")), "DG101",
        "/rated_speed: an infinite or NaN number",
    ),
    "DG101-lone-surrogate": lambda: Broken(
        SB_REL, _b(sb_text().replace("model: HDK-1000/1.75\n", 'model: "HDK\\ud800"\n')), "DG101",
        "/model: a lone surrogate",
    ),
    # DG102: schema
    "DG102-enum": lambda: Broken(SB_REL, _b(sb_text(status="bogus")), "DG102", "/status"),
    "DG102-date": lambda: Broken(
        SB_REL, _b(sb_text(installed="2023-02-30")), "DG102", "/installed"
    ),
    "DG102-negative-area": lambda: Broken(
        "vault/A01/01/002/1802/FW/FW-A01-01-002-1802-0001.yaml",
        _b(dump({**example("FW-room.yaml"), "gross_area": -89.56})),
        "DG102",
        "/gross_area",
    ),
    "DG102-unknown-field": lambda: Broken(SB_REL, _b(sb_text(colour="紅色")), "DG102", "colour"),
    "DG102-nested": lambda: Broken(
        SB_REL, _b(sb_text(custody={"form": "stone"})), "DG102", "/custody/form"
    ),
    # DG103: code, path, category, level
    "DG103-wrong-path": lambda: Broken(
        "vault/A01/02/SB/SB-A01-02-0002.yaml",
        _b(sb_text()),
        "DG103",
        "vault/A01/02/SB/SB-A01-02-0001.yaml",
    ),
    "DG103-wrong-folder": lambda: Broken(
        "vault/A01/03/SB/SB-A01-02-0001.yaml", _b(sb_text()), "DG103"
    ),
    "DG103-category-differs": lambda: Broken(SB_REL, _b(sb_text(category="WX")), "DG103", "WX"),
    "DG103-level-not-allowed": lambda: Broken(
        "vault/A01/02/XM/XM-A01-02-0001.yaml", _xm_at_building(), "DG103", "building"
    ),
    "DG103-malformed-code": lambda: Broken(
        SB_REL, _b(sb_text(code="sb-a01-02-0001")), "DG103", "sb-a01-02-0001"
    ),
    "DG103-no-code": lambda: Broken(
        SB_REL, _b(dump({k: v for k, v in sb_record().items() if k != "code"})), "DG103", "code"
    ),
    # DG104: stray files, unknown category
    "DG104-stray-txt": lambda: Broken(
        "vault/A01/02/SB/readme.txt", _b("紙質原件在檔案室\n"), "DG104"
    ),
    "DG104-unknown-category": lambda: Broken(
        "vault/A01/ZZ/ZZ-A01-0001.yaml",
        _b(
            dump(
                {
                    "code": "ZZ-A01-0001",
                    "category": "ZZ",
                    "title": "未知",
                    "status": "active",
                    "opened": "2024-01-01",
                }
            )
        ),
        "DG104",
        "ZZ",
    ),
    # DG105: a plaintext leak; the message never shows the value
    "DG105-clear-sensitive": lambda: Broken(
        "vault/A01/02/001/0301/YZ/YZ-A01-02-001-0301-0001.yaml",
        _yz_clear(),
        "DG105",
        "owners",
        (
            "林曉東",
            "320506198507151234",
            "138-0000-1234",
            "lin.xd@example.com",
            "H12345678",
            "6012345",
        ),
    ),
    # DG113: valid, not canonical
    "DG113-flow-style": lambda: Broken(SB_REL, _not_canonical(), "DG113", "dangan fmt"),
    "DG113-unquoted-date": lambda: Broken(
        SB_REL, _b(sb_text().replace("opened: '2019-05-10'", "opened: 2019-05-10")), "DG113"
    ),
    "DG113-indent": lambda: Broken(SB_REL, _four_space_indent(), "DG113"),
    "DG113-crlf": lambda: Broken(SB_REL, _b(sb_text().replace("\n", "\r\n")), "DG113"),
    "DG113-no-final-newline": lambda: Broken(SB_REL, _b(sb_text().rstrip("\n")), "DG113"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_file_gives_its_rule(vault: Path, cli, case: str) -> None:
    broken = BROKEN[case]()
    committed = sorted(BROKEN).index(case) % 2 == 0  # half committed, half only in the work tree
    if committed:
        commit_no_verify(vault, broken.rel, broken.data, f"broken: {case}")
    else:
        write(vault, broken.rel, broken.data)

    result = cli("check")
    assert result.code == 1, result
    assert "Traceback" not in result.out + result.err
    found = findings(result.out)
    assert found, result
    assert {path for path, _, _ in found} == {broken.rel}, found
    assert {rule for _, rule, _ in found} == {broken.rule}, found
    if broken.mention:
        assert any(broken.mention in message for _, _, message in found), found

    as_json = cli("check", "--json")
    assert as_json.code == 1, as_json
    doc = json.loads(as_json.out)
    assert doc["ok"] is False
    assert {(f["path"], f["rule"]) for f in doc["findings"]} == {(broken.rel, broken.rule)}
    assert sorted((f["path"], f["rule"], f["message"]) for f in doc["findings"]) == sorted(found)

    for secret in broken.secrets:
        assert secret not in result.out + result.err
        assert secret not in as_json.out + as_json.err


def test_good_records_have_no_findings(vault: Path, cli) -> None:
    commit_no_verify(vault, SB_REL, sb_text())
    result = cli("check")
    assert result.code == 0, result
    assert findings(result.out) == []
    doc = json.loads(cli("check", "--json").out)
    assert doc["ok"] is True and doc["findings"] == [] and doc["checked"] >= 1


def test_all_rules_at_once_are_each_reported(vault: Path, cli) -> None:
    cases = [
        "DG101-syntax",
        "DG104-stray-txt",
        "DG104-unknown-category",
        "DG105-clear-sensitive",
        "DG102-negative-area",
    ]
    expected = set()
    for case in cases:
        broken = BROKEN[case]()
        write(vault, broken.rel, broken.data)
        expected.add((broken.rel, broken.rule))
    result = cli("check")
    assert result.code == 1, result
    assert {(p, r) for p, r, _ in findings(result.out)} == expected
    assert result.out.splitlines()[-1].endswith(f"{len(findings(result.out))} findings")


# ------------------------------------------------------------------------- DG114


def _vault_yaml(vault: Path, change: Callable[[dict[str, Any]], None]) -> None:
    tree = to_plain(load_roundtrip((vault / "vault.yaml").read_text("utf-8")))
    change(tree)
    (vault / "vault.yaml").write_text(dump(tree), encoding="utf-8")


def _schema(vault: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = vault / "schemas" / name
    doc = json.loads(path.read_text("utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _both_ways(doc: dict[str, Any]) -> None:
    # `relation` is sensitive inside household_members; here a clear top-level one
    doc["properties"]["relation"] = {
        "type": "string",
        "description": "A clear field with a sensitive name.",
    }


DG114_CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "vault-empty-name": (
        lambda v: _vault_yaml(v, lambda t: t.update(name="")),
        "vault.yaml",
        "/name",
    ),
    "vault-unknown-field": (
        lambda v: _vault_yaml(v, lambda t: t.update(colour="red")),
        "vault.yaml",
        "colour",
    ),
    "vault-bad-loan-days": (
        lambda v: _vault_yaml(v, lambda t: t["lending"].update(loan_days="seven")),
        "vault.yaml",
        "/lending/loan_days",
    ),
    "vault-access-unknown-person": (
        lambda v: _vault_yaml(v, lambda t: t.update(access={"CW": ["無名氏"]})),
        "vault.yaml",
        "/access/CW",
    ),
    "schema-metaschema": (
        lambda v: _schema(v, "SB.json", lambda d: d["properties"]["stops"].update(type="integr")),
        "schemas/SB.json",
        "stops",
    ),
    "schema-sensitive-both-ways": (
        lambda v: _schema(v, "YZ.json", _both_ways),
        "schemas/YZ.json",
        "relation",
    ),
}


@pytest.mark.parametrize("case", sorted(DG114_CASES))
def test_config_and_schema_problems_are_dg114(vault: Path, cli, case: str) -> None:
    breaker, rel, mention = DG114_CASES[case]
    breaker(vault)
    result = cli("check")
    assert result.code == 1, result
    assert "Traceback" not in result.out + result.err
    found = findings(result.out)
    assert {(p, r) for p, r, _ in found} == {(rel, "DG114")}, found
    assert any(mention in m for _, _, m in found), found
    doc = json.loads(cli("check", "--json").out)
    assert {(f["path"], f["rule"]) for f in doc["findings"]} == {(rel, "DG114")}


# ---------------------------------------------------------------------- sources


def test_check_paths_only_checks_those(vault: Path, cli) -> None:
    bad_sb = SB_REL
    bad_fw = "vault/A01/01/002/1802/FW/FW-A01-01-002-1802-0001.yaml"
    write(vault, bad_sb, sb_text(status="bogus"))
    write(vault, bad_fw, dump({**example("FW-room.yaml"), "gross_area": -1}))

    one = cli("check", str(vault / bad_sb))
    assert one.code == 1, one
    assert {(p, r) for p, r, _ in findings(one.out)} == {(bad_sb, "DG102")}

    folder = cli("check", str(vault / "vault/A01/01"))
    assert folder.code == 1, folder
    assert {(p, r) for p, r, _ in findings(folder.out)} == {(bad_fw, "DG102")}

    both = cli("check", str(vault / bad_sb), str(vault / bad_fw), "--json")
    assert both.code == 1, both
    assert {(f["path"], f["rule"]) for f in json.loads(both.out)["findings"]} == {
        (bad_sb, "DG102"),
        (bad_fw, "DG102"),
    }

    write(vault, bad_fw, dump(example("FW-room.yaml")))
    fixed = cli("check", str(vault / bad_fw))
    assert fixed.code == 0, fixed


def test_check_paths_are_relative_to_the_vault_given_with_C(vault: Path, cli) -> None:
    """`-C` works like git's: PATH arguments are taken relative to the vault."""
    write(vault, SB_REL, sb_text(status="bogus"))
    result = cli("check", SB_REL)
    assert result.code == 1, result
    assert {(p, r) for p, r, _ in findings(result.out)} == {(SB_REL, "DG102")}


def test_check_path_outside_or_missing(vault: Path, cli, tmp_path: Path) -> None:
    missing = cli("check", str(vault / "vault/A01/99/SB/SB-A01-99-0001.yaml"))
    assert missing.code == 2, missing
    assert missing.err.startswith("dangan: error: ")
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(sb_text(), encoding="utf-8")
    result = cli("check", str(outside))
    assert result.code == 2, result
    assert "outside" in result.err


def test_check_staged_reads_the_index(vault: Path, cli) -> None:
    write(vault, SB_REL, sb_text(status="bogus"))
    git(vault, "add", SB_REL)
    write(vault, SB_REL, sb_text())  # fixed in the work tree only

    staged = cli("check", "--staged")
    assert staged.code == 1, staged
    found = findings(staged.out)
    assert {(p, r) for p, r, _ in found} == {(SB_REL, "DG102")}
    assert any("/status" in m for _, _, m in found)
    staged_json = cli("check", "--staged", "--json")
    assert staged_json.code == 1
    assert [(f["path"], f["rule"]) for f in json.loads(staged_json.out)["findings"]] == [
        (SB_REL, "DG102")
    ]

    work = cli("check", "--all")
    assert work.code == 0, work
    assert cli("check").code == 0

    # and the other way round: a bad work tree over a good index
    git(vault, "add", SB_REL)
    write(vault, SB_REL, sb_text(status="bogus"))
    assert cli("check", "--staged").code == 0
    assert cli("check").code == 1


def test_check_staged_sees_a_staged_stray_file(vault: Path, cli) -> None:
    write(vault, "vault/A01/notes.txt", "stray\n")
    git(vault, "add", "vault/A01/notes.txt")
    (vault / "vault/A01/notes.txt").unlink()
    result = cli("check", "--staged")
    assert result.code == 1, result
    assert {(p, r) for p, r, _ in findings(result.out)} == {("vault/A01/notes.txt", "DG104")}


def test_check_range(vault: Path, cli) -> None:
    start = git(vault, "rev-parse", "HEAD").strip()
    bad = commit_no_verify(vault, SB_REL, sb_text(status="bogus"), "bad record")
    good = commit_no_verify(vault, SB_REL, sb_text(), "fix record")
    other = commit_no_verify(vault, "vault/A01/02/SB/readme.txt", "stray\n", "stray file")

    first = cli("check", "--range", f"{start}..{bad}")
    assert first.code == 1, first
    assert {(p, r) for p, r, _ in findings(first.out)} == {(SB_REL, "DG102")}

    fixed = cli("check", "--range", f"{bad}..{good}", "--json")
    assert fixed.code == 0, fixed
    assert json.loads(fixed.out)["findings"] == []

    last = cli("check", "--range", f"{good}..{other}")
    assert last.code == 1, last
    assert {(p, r) for p, r, _ in findings(last.out)} == {("vault/A01/02/SB/readme.txt", "DG104")}

    # the end state has the stray file; whether the bad intermediate commit is also reported
    # (every commit of a push is checked) is left open by the spec
    whole = cli("check", "--range", f"{start}..{other}")
    assert whole.code == 1, whole
    reported = {(p, r) for p, r, _ in findings(whole.out)}
    assert ("vault/A01/02/SB/readme.txt", "DG104") in reported
    assert reported <= {("vault/A01/02/SB/readme.txt", "DG104"), (SB_REL, "DG102")}

    bogus = cli("check", "--range", "nosuchref..HEAD")
    assert bogus.code == 2, bogus
    assert "nosuchref" in bogus.err


def test_check_sources_are_exclusive(vault: Path, cli) -> None:
    result = cli("check", "--staged", "--all")
    assert result.code == 2, result
    assert result.err.startswith("dangan: error: ")


# ------------------------------------------------------------- the pre-commit hook


def _git_commit(root: Path, message: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "commit", "-q", "-m", message],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
    )


def test_hook_is_installed(vault: Path) -> None:
    assert git(vault, "config", "core.hooksPath").strip() == "hooks"
    assert (vault / "hooks" / "pre-commit").stat().st_mode & 0o111


@pytest.mark.parametrize(
    "case",
    [
        "DG102-enum",
        "DG101-duplicate-key",
        "DG105-clear-sensitive",
        "DG104-stray-txt",
        "DG113-flow-style",
        "DG101-5000-digit-integer",
        "DG101-lone-surrogate",
    ],
)
def test_pre_commit_hook_refuses_a_bad_record(vault: Path, case: str) -> None:
    broken = BROKEN[case]()
    write(vault, broken.rel, broken.data)
    git(vault, "add", "--", broken.rel)
    before = snapshot(vault)
    proc = _git_commit(vault, f"try {case}")
    assert proc.returncode != 0, proc
    assert broken.rule in proc.stderr
    assert broken.rel in proc.stderr
    assert "Traceback" not in proc.stderr
    for secret in broken.secrets:
        assert secret not in proc.stderr + proc.stdout
    assert snapshot(vault) == before


def test_pre_commit_hook_lets_a_good_record_through(vault: Path) -> None:
    head = git(vault, "rev-parse", "HEAD").strip()
    write(vault, SB_REL, sb_text())
    git(vault, "add", SB_REL)
    proc = _git_commit(vault, "good record")
    assert proc.returncode == 0, proc
    assert git(vault, "rev-parse", "HEAD~1").strip() == head
    assert git(vault, "status", "--porcelain") == ""


def test_pre_commit_hook_checks_the_index_not_the_work_tree(vault: Path) -> None:
    write(vault, SB_REL, sb_text(status="bogus"))
    git(vault, "add", SB_REL)
    write(vault, SB_REL, sb_text())  # looks fine on disk, but the index is what is committed
    before = snapshot(vault)
    proc = _git_commit(vault, "sneaky")
    assert proc.returncode != 0, proc
    assert "DG102" in proc.stderr
    assert snapshot(vault) == before


def test_check_real_executable(vault: Path) -> None:
    write(vault, SB_REL, sb_text(status="bogus"))
    result = run_bin(["check"], cwd=vault / "vault" / "A01")
    assert result.code == 1, result
    assert {(p, r) for p, r, _ in findings(result.out)} == {(SB_REL, "DG102")}
    assert "Traceback" not in result.err
    as_json = run_bin(["-C", str(vault), "check", "--json"])
    assert as_json.code == 1, as_json
    assert json.loads(as_json.out)["findings"][0]["rule"] == "DG102"


def test_a_5000_digit_integer_committed_past_the_hook_is_one_finding(vault: Path) -> None:
    """The user's report: one record with a 5,000-digit integer, committed with
    --no-verify, made check, check --all and check --range die with "internal error:
    ValueError". Now each names it in one DG101 line (exit 1), cold and warm, with and
    without the compiled reader; the other record stays clean; the hook refuses the file."""
    good_rel = SB_REL.replace("0001", "0002")
    commit_no_verify(vault, good_rel, sb_text(code="SB-A01-02-0002"), "a good record")
    base = git(vault, "rev-parse", "HEAD").strip()
    bad = sb_text().replace("stops: 19\n", f"stops: {BIG}\n")
    commit = commit_no_verify(vault, SB_REL, bad, "floors by hand")
    line = f"{SB_REL}: DG101 line 18: an integer of more than 640 digits (quote it if it is text)"
    assert bad.splitlines()[17].startswith("stops: 1234567890")

    def user(*args: str, env: dict[str, str] | None = None) -> list[str]:
        result = run_bin(["-C", str(vault), *args], env=env)
        assert result.code == 1, result
        assert "internal error" not in result.err and "Traceback" not in result.err, result
        assert BIG[:50] not in result.out + result.err  # the value is never echoed
        return [x for x in result.out.splitlines() if LINE.match(x)]

    for _ in range(2):  # cold, then warm (the quick path)
        assert user("check") == [line]
        assert user("check", "--all") == [line]
    assert user("check", "--all", env={"DANGAN_PURE_PYTHON": "1"}) == [line]
    assert user("check", "--range", f"{base}..HEAD") == [f"{line} (commit {commit[:10]})"]
    doc = json.loads(run_bin(["-C", str(vault), "check", "--all", "--json"]).out)
    assert [(f["path"], f["rule"]) for f in doc["findings"]] == [(SB_REL, "DG101")]

    # the hook refuses the same file with the finding (and the record's fix goes through)
    write(vault, SB_REL, bad.replace("stops: 1234567890", "stops: 9876543210"))
    git(vault, "add", SB_REL)
    before = snapshot(vault)
    proc = _git_commit(vault, "more floors")
    assert proc.returncode == 1, proc
    assert "DG101 line 18: an integer of more than 640 digits" in proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(vault) == before
    write(vault, SB_REL, sb_text())
    git(vault, "add", SB_REL)
    assert _git_commit(vault, "fixed").returncode == 0
    assert run_bin(["-C", str(vault), "check", "--all"]).code == 0


def test_a_symlinked_record_is_a_finding_and_never_followed(vault: Path, cli, tmp_path: Path) -> None:
    """A record that is a link to a file outside the vault (issue 19): the work-tree check
    reports it (DG104) instead of checking the outside file, and `show` refuses it; a
    folder where a record belongs is one line too, not an internal error."""
    example = (REPO / "tests/schema_examples/valid/HJ-tank-cleaning.yaml").read_text("utf-8")
    fields = tmp_path / "hj.yaml"
    fields.write_text("".join(line + "\n" for line in example.splitlines()
                              if not line.startswith(("code:", "category:", "refs:"))), "utf-8")
    made = cli("new", "HJ", "A01", "--file", str(fields))
    assert made.code == 0, made
    code = made.out.strip()
    rel = f"vault/A01/HJ/{code}.yaml"
    outside = tmp_path / "outside.yaml"
    outside.write_bytes((vault / rel).read_bytes())  # a valid record, outside the vault
    (vault / rel).unlink()
    (vault / rel).symlink_to(outside)
    checked = cli("check", "--all")
    assert checked.code == 1 and f"{rel}: DG104 a symbolic link" in checked.out, checked
    shown = cli("show", code)
    assert shown.code == 2 and "is a symbolic link" in shown.err and "Traceback" not in shown.err, shown
    assert shown.out == ""
    (vault / rel).unlink()
    (vault / rel).mkdir()
    folder = cli("show", code)
    assert folder.code == 2 and "is a folder, not a record file" in folder.err, folder


def _on_a_terminal_stderr(args: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the installed dangan with stderr on a pseudo-terminal."""
    import os
    import pty

    from conftest import DANGAN_BIN, drain_pty

    main, side = pty.openpty()
    try:
        proc = subprocess.Popen([str(DANGAN_BIN), *args], stdout=subprocess.PIPE, stderr=side,
                                stdin=subprocess.DEVNULL)
        os.close(side)
        out, _ = proc.communicate(timeout=120)
        shown = drain_pty(main)
    finally:
        os.close(main)
    return proc.returncode, out.decode("utf-8"), shown.decode("utf-8")


def test_check_all_counts_on_a_terminal_and_says_nothing_to_a_pipe(vault: Path) -> None:
    """Issue 24 part 4: a cold `check --all` of a large vault takes seconds; on a terminal one
    stderr line counts the files checked and is cleared at the end; a pipe sees nothing and
    stdout is the same either way."""
    commit_no_verify(vault, SB_REL, sb_text())
    code, out, err = _on_a_terminal_stderr(["-C", str(vault), "check", "--all"])  # cold: no note yet
    assert code == 0 and out == "1 file(s) checked, 0 findings\n", (code, out, err)
    assert err.startswith("\rcheck: 1 files checked…"), err
    assert err.endswith("\r") and "\n" not in err  # one line, cleared at the end
    piped = run_bin(["-C", str(vault), "check", "--all"], cwd=vault)
    assert piped.code == 0 and piped.err == "" and piped.out == out, piped
    # a folder goes through the command-line layer (cli/checks.py): the same line
    code, out, err = _on_a_terminal_stderr(["-C", str(vault), "check", "vault/A01"])
    assert code == 0 and out == "1 file(s) checked, 0 findings\n", (code, out, err)
    assert err.startswith("\rcheck: 1 files checked…") and err.endswith("\r") and "\n" not in err, err
    assert run_bin(["-C", str(vault), "check", "vault/A01"], cwd=vault).err == ""
