"""Bad input gets a clear answer and loses nothing (docs/quality.md §1).

Every case: exit 2 (1 for a refusal), a one- or two-line `dangan: error: ...` message on
stderr that names the input, nothing on stdout, no traceback, and the vault exactly as it
was (HEAD, index, work tree and untracked files: `snapshot`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, git, run_bin, run_cli, snapshot

from dangan.formats.yamlio import dump, load_roundtrip, to_plain

VALID = REPO / "tests" / "schema_examples" / "valid"


def fields(name: str = "SB-elevator.yaml", **changes: Any) -> dict[str, Any]:
    tree = to_plain(load_roundtrip((VALID / name).read_text("utf-8")))
    for key in ("code", "category", "refs"):
        tree.pop(key, None)
    tree.update(changes)
    return tree


def assert_clean_error(result, *names: str, code: int = 2) -> None:
    """Exit code, a short `dangan: error:` message naming the input, no traceback."""
    assert result.code == code, result
    assert "Traceback" not in result.out + result.err, result
    assert result.out == "", result
    lines = result.err.rstrip("\n").splitlines()
    assert 1 <= len(lines) <= 2, result
    assert lines[0].startswith("dangan: error: "), result
    for name in names:
        assert name in result.err, (name, result)


def no_record_files(vault: Path) -> bool:
    return (
        not any(p.is_file() for p in (vault / "vault").rglob("*"))
        if (vault / "vault").exists()
        else True
    )


@pytest.fixture
def record(vault: Path) -> str:
    """One committed, valid SB record to aim `set` at (written by hand: fast)."""
    rel = "vault/A01/02/SB/SB-A01-02-0001.yaml"
    (vault / rel).parent.mkdir(parents=True)
    (vault / rel).write_text(
        dump({"code": "SB-A01-02-0001", "category": "SB", **fields()}), encoding="utf-8"
    )
    git(vault, "add", rel)
    git(vault, "commit", "-q", "--no-verify", "-m", "SB-A01-02-0001 by hand")
    return "SB-A01-02-0001"


# ---------------------------------------------------------------- malformed codes

LONG = "SB-A01-02-" + "1" * 10_000
MALFORMED = {
    "lower-case": "sb-a01-02-0001",
    "mixed-case": "Sb-A01-02-0001",
    "project-width": "SB-A1-02-0001",
    "building-width": "SB-A01-2-0001",
    "unit-width": "SB-A01-02-01-0001",
    "room-width": "SB-A01-02-001-301-0001",
    "serial-width": "SB-A01-02-001",
    "serial-over-padded": "SB-A01-02-00001",
    "property-type": "SB-E01-02-0001",
    "zero-project": "SB-A00-02-0001",
    "zero-building": "SB-A01-00-0001",
    "zero-unit": "SB-A01-02-000-0001",
    "zero-room": "SB-A01-02-001-0000-0001",
    "zero-serial": "SB-A01-02-0000",
    "extra-segment": "SB-A01-02-001-0301-0001-0001",
    "empty-segment": "SB-A01--02-0001",
    "no-serial": "SB",
    "three-letter-category": "SBX-A01-02-0001",
    "digit-category": "S1-A01-02-0001",
    "full-width": "SB-Ａ01-02-0001",
    "chinese": "設備-A01-02-0001",
    "accent": "SB-A01-02-0001é",
    "dotdot": "../SB-A01-02-0001",
    "slash": "SB-A01/02-0001",
    "inner-dotdot": "SB-A01-02-../../0001",
    "backslash": "SB-A01\\02-0001",
    "space": "SB-A01-02-0001 ",
    "newline": "SB-A01-02-0001\nx",
    "nul": "SB-A01\x00-02-0001",
    "empty": "",
    "ten-thousand": LONG,
}


@pytest.mark.parametrize("command", ["show", "set"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_code(vault: Path, cli, record: str, command: str, case: str) -> None:
    code = MALFORMED[case]
    before = snapshot(vault)
    args = [command, code, *(["title=新標題"] if command == "set" else [])]
    result = cli(*args)
    shown = code[:40].split("\\")[0]  # repr() doubles a backslash in the message
    printable = shown.isprintable() and shown.strip() == shown and shown != ""
    assert_clean_error(result, *([shown] if printable else []))
    assert len(result.err) < 500, "the message must not echo a huge input"
    assert snapshot(vault) == before


@pytest.mark.parametrize("command", ["show", "set"])
def test_unknown_category_in_a_code(vault: Path, cli, record: str, command: str) -> None:
    before = snapshot(vault)
    result = cli(command, "ZZ-A01-02-0001", *(["title=x"] if command == "set" else []))
    assert_clean_error(result, "ZZ")
    assert "unknown category" in result.err
    assert snapshot(vault) == before


def test_code_of_a_record_that_does_not_exist(vault: Path, cli, record: str) -> None:
    before = snapshot(vault)
    for args in (
        ("show", "SB-A01-02-0002"),
        ("set", "SB-A01-02-0002", "title=x"),
        ("edit", "SB-A01-02-0002"),
    ):
        assert_clean_error(cli(*args), "SB-A01-02-0002")
    assert snapshot(vault) == before


def test_malformed_code_real_executable(vault: Path) -> None:
    before = snapshot(vault)
    for code in ("sb-a01-02-0001", "../../etc/passwd", LONG):
        result = run_bin(["-C", str(vault), "show", code])
        assert_clean_error(result)
    assert snapshot(vault) == before


# ------------------------------------------------------------ YAML given to new


def _laughs() -> bytes:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


GOOD = dump(fields()).encode("utf-8")
BAD_YAML: dict[str, tuple[bytes, str | None]] = {
    # case: (bytes, a word the message should contain)
    "syntax": (b"title: [unclosed\nsystem: elevator\n", None),
    "bad-indent": (b"title: x\n  system: elevator\n system: y\n", None),
    "duplicate-key": (GOOD + b"title: \xe5\x8f\x88\xe4\xb8\x80\xe5\x80\x8b\n", "duplicate"),
    "anchor-alias": (
        GOOD.replace(b"system: elevator", b"system: &s elevator") + b"install_location: *s\n",
        "anchor",
    ),
    "alias-only": (b"title: *nowhere\n", None),
    "merge-key": (b"base: &b {title: x}\n<<: *b\n", None),
    "billion-laughs": (_laughs(), "anchor"),
    "custom-tag": (GOOD.replace(b"system: elevator", b"system: !equipment elevator"), "tag"),
    "python-tag": (b'title: !!python/object/apply:os.system ["echo pwned"]\n', "tag"),
    "binary-tag": (b"title: !!binary aGVsbG8=\n", "tag"),
    "set-tag": (b"tags: !!set {a, b}\n", "tag"),
    "list": (b"- title\n- system\n", "mapping"),
    "scalar": (b"just a line of text\n", "mapping"),
    "empty": (b"", None),
    "null": (b"null\n", None),
    "several-documents": (GOOD + b"---\n" + GOOD, "document"),
    "non-utf8": (GOOD + b"notes: \xff\xfe caf\xe9\n", "UTF-8"),
    "gbk": ("title: 電梯\n".encode("gbk"), "UTF-8"),
    "bom": (b"\xef\xbb\xbf" + GOOD, "BOM"),
    "nul": (GOOD + b"notes: a\x00b\n", "NUL"),
    "deep-nesting": (b"notes: " + b"[" * 10_000 + b"]" * 10_000 + b"\n", None),
    "deep-block-nesting": (
        "".join(f"{'  ' * i}k{i}:\n" for i in range(10_000)).encode() + b"  " * 10_000 + b"v: 1\n",
        None,
    ),
    "non-string-key": (GOOD + b"1: one\n", None),
    "null-key": (GOOD + b"~: nothing\n", None),
    # values no record can be written with (format.md 4.1)
    "5000-digit-integer": (GOOD.replace(b"stops: 19\n", b"stops: " + b"7" * 5000 + b"\n"), "640 digits"),
    "hex-integer": (GOOD.replace(b"stops: 19\n", b"stops: 0x" + b"f" * 5000 + b"\n"), "640 digits"),
    "infinity": (GOOD.replace(b"rated_speed: 1.75\n", b"rated_speed: -.inf\n"), "infinite"),
    "lone-surrogate": (GOOD + b'notes: "\\udc80"\n', "surrogate"),
}


@pytest.mark.parametrize("case", sorted(BAD_YAML))
def test_bad_yaml_given_to_new(vault: Path, cli, tmp_path: Path, case: str) -> None:
    data, word = BAD_YAML[case]
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(data)
    before = snapshot(vault)
    started = time.monotonic()
    result = cli("new", "SB", "A01-02", "--file", str(path))
    elapsed = time.monotonic() - started
    assert_clean_error(result, path.name)
    if word:
        assert word.lower() in result.err.lower(), result
    assert snapshot(vault) == before
    assert no_record_files(vault)
    if case == "billion-laughs":
        assert elapsed < 10, "an alias bomb must be refused, not expanded"


def test_fifty_megabyte_file(vault: Path, cli, tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.write(b"title: huge\nnotes: ")
        chunk = b"x" * (1 << 20)
        for _ in range(50):
            handle.write(chunk)
        handle.write(b"\n")
    before = snapshot(vault)
    result = cli("new", "SB", "A01-02", "--file", str(path))
    assert_clean_error(result, "huge.yaml", "256 KiB")
    assert snapshot(vault) == before
    assert no_record_files(vault)


def test_missing_fields_file(vault: Path, cli, tmp_path: Path) -> None:
    # a usage error reported by click (Usage: ... Error: ...): exit 2, names the file
    before = snapshot(vault)
    result = cli("new", "SB", "A01-02", "--file", str(tmp_path / "nope.yaml"))
    assert result.code == 2, result
    assert "nope.yaml" in result.err and "Traceback" not in result.err
    assert result.out == ""
    assert snapshot(vault) == before


@pytest.mark.parametrize("case", ["billion-laughs", "python-tag", "several-documents", "bom"])
def test_bad_yaml_on_stdin_real_executable(vault: Path, case: str) -> None:
    data, word = BAD_YAML[case]
    before = snapshot(vault)
    result = run_bin(["-C", str(vault), "new", "SB", "A01-02", "--file", "-"], input=data)
    assert_clean_error(result, "stdin")
    if word:
        assert word.lower() in result.err.lower()
    assert snapshot(vault) == before
    assert no_record_files(vault)


# ------------------------------------------------------------------ wrong types

WRONG_TYPES: dict[str, tuple[str, dict[str, Any], str]] = {
    # case: (example, changes, the JSON path or field the message names)
    "date-not-real": ("SB-elevator.yaml", {"installed": "2023-02-30"}, "/installed"),
    "date-not-a-date": ("SB-elevator.yaml", {"opened": "yesterday"}, "/opened"),
    "date-as-timestamp": ("SB-elevator.yaml", {"opened": "2024-01-01T10:00:00"}, "/opened"),
    "negative-area": ("FW-room.yaml", {"gross_area": -89.5}, "/gross_area"),
    "zero-area": ("FW-room.yaml", {"gross_area": 0}, "/gross_area"),
    "unknown-field": ("SB-elevator.yaml", {"colour": "紅色"}, "colour"),
    "unknown-nested-field": (
        "SB-elevator.yaml",
        {"custody": {"form": "paper", "drawer": "3"}},
        "drawer",
    ),
    "number-for-string": ("SB-elevator.yaml", {"asset_no": 42}, "/asset_no"),
    "string-for-integer": ("SB-elevator.yaml", {"stops": "19"}, "/stops"),
    "bool-for-string": ("SB-elevator.yaml", {"model": True}, "/model"),
    "list-for-string": ("SB-elevator.yaml", {"title": ["a", "b"]}, "/title"),
    "bad-enum": ("SB-elevator.yaml", {"system": "teleporter"}, "/system"),
    "missing-required": ("SB-elevator.yaml", {"title": None}, "title"),
}
LOCATIONS = {"SB-elevator.yaml": ("SB", "A01-02"), "FW-room.yaml": ("FW", "A01-02-001-0301")}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_wrong_types_given_with_file(vault: Path, cli, tmp_path: Path, case: str) -> None:
    name, changes, where = WRONG_TYPES[case]
    tree = fields(name, **changes)
    if changes.get("title", "") is None:
        del tree["title"]
    path = tmp_path / "fields.yaml"
    path.write_text(dump(tree), encoding="utf-8")
    before = snapshot(vault)
    category, location = LOCATIONS[name]
    result = cli("new", category, location, "--file", str(path))
    assert_clean_error(result, where)
    assert snapshot(vault) == before
    assert no_record_files(vault)


def test_fields_file_must_not_set_code_or_category(vault: Path, cli, tmp_path: Path) -> None:
    before = snapshot(vault)
    for extra in ({"code": "SB-A01-02-0007"}, {"category": "SB"}, {"sops": {"version": "3.9"}}):
        path = tmp_path / "fields.yaml"
        path.write_text(dump({**fields(), **extra}), encoding="utf-8")
        result = cli("new", "SB", "A01-02", "--file", str(path))
        assert_clean_error(result, next(iter(extra)))
    assert snapshot(vault) == before


@pytest.mark.parametrize(
    "assignment",
    [
        "stops=nineteen",
        "stops=",
        "rated_speed=fast",
        "rated_speed=nan",
        "noequals",
        "=x",
        "custody..form=x",
        "title.sub=x",
        "stops=" + "9" * 5000,
        "stops=-" + "9" * 641,
        "rated_speed=" + "9" * 5000,
        'custody={"form": NaN}',
        'custody={"form": ' + "9" * 700 + "}",
    ],
    ids=lambda a: a if len(a) < 40 else a[:20] + f"...({len(a)} characters)",
)
def test_bad_set_values(vault: Path, cli, tmp_path: Path, assignment: str) -> None:
    path = tmp_path / "fields.yaml"
    path.write_text(dump(fields()), encoding="utf-8")
    before = snapshot(vault)
    result = cli("new", "SB", "A01-02", "--file", str(path), "--set", assignment)
    assert_clean_error(result)
    assert len(result.err) < 500, "the message must not echo a huge input"
    assert snapshot(vault) == before
    assert no_record_files(vault)


# ------------------------------------------------------- missing or wrong vault


@pytest.mark.parametrize(
    "args",
    [("ls",), ("show", "SB-A01-02-0001"), ("check",), ("new", "SB", "A01-02", "--set", "title=x")],
)
def test_no_vault_here(tmp_path: Path, args: tuple[str, ...]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(["-C", str(empty), *args])
    assert_clean_error(result, "no vault")
    assert list(empty.iterdir()) == []


def test_no_vault_real_executable(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_bin(["ls"], cwd=empty)
    assert_clean_error(result, "no vault")
    missing = run_bin(["-C", str(tmp_path / "does-not-exist"), "ls"])
    assert missing.code == 2, missing
    assert "Traceback" not in missing.err
    assert list(empty.iterdir()) == []


def test_git_repository_without_vault_yaml(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    result = run_cli(["-C", str(repo), "new", "SB", "A01-02", "--set", "title=x"])
    assert_clean_error(result, "no vault")
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


@pytest.mark.parametrize("version", ["99", "2", "'1'", "0", "null"])
def test_unknown_vault_version(vault: Path, cli, tmp_path: Path, version: str) -> None:
    text = (vault / "vault.yaml").read_text("utf-8")
    assert text.startswith("dangan: 1\n")
    (vault / "vault.yaml").write_text(
        text.replace("dangan: 1\n", f"dangan: {version}\n", 1), encoding="utf-8"
    )
    path = tmp_path / "fields.yaml"
    path.write_text(dump(fields()), encoding="utf-8")
    before = snapshot(vault)
    for args in (("new", "SB", "A01-02", "--file", str(path)), ("ls",), ("show", "SB-A01-02-0001")):
        result = cli(*args)
        assert_clean_error(result, "dangan: " + {"null": "None"}.get(version, version))
    assert snapshot(vault) == before


def test_unknown_vault_version_real_executable(vault: Path) -> None:
    text = (vault / "vault.yaml").read_text("utf-8")
    (vault / "vault.yaml").write_text(
        text.replace("dangan: 1\n", "dangan: 99\n", 1), encoding="utf-8"
    )
    before = snapshot(vault)
    result = run_bin(["-C", str(vault), "new", "SB", "A01-02", "--set", "title=x"])
    assert_clean_error(result, "99")
    assert snapshot(vault) == before


def test_unreadable_vault_yaml(vault: Path, cli) -> None:
    (vault / "vault.yaml").write_bytes(b"dangan: 1\nname: [broken\n")
    before = snapshot(vault)
    result = cli("ls")
    assert_clean_error(result, "vault.yaml")
    assert snapshot(vault) == before


# ------------------------------------------------------------ busy repositories


def _merge_head(vault: Path) -> None:
    (vault / ".git" / "MERGE_HEAD").write_text(git(vault, "rev-parse", "HEAD"))


def _rebase(vault: Path) -> None:
    (vault / ".git" / "rebase-merge").mkdir()


def _index_lock(vault: Path) -> None:
    (vault / ".git" / "index.lock").write_bytes(b"")


BUSY = {
    "merge": (_merge_head, "merge"),
    "rebase": (_rebase, "rebase"),
    "index-lock": (_index_lock, "index.lock"),
}


@pytest.mark.parametrize("case", sorted(BUSY))
def test_busy_repository(vault: Path, cli, record: str, tmp_path: Path, case: str) -> None:
    make_busy, word = BUSY[case]
    make_busy(vault)
    path = tmp_path / "fields.yaml"
    path.write_text(dump(fields()), encoding="utf-8")
    before = snapshot(vault)
    rel = "vault/A01/02/SB/SB-A01-02-0001.yaml"
    data = (vault / rel).read_bytes()

    created = cli("new", "SB", "A01-02", "--file", str(path))
    assert_clean_error(created, word)
    changed = cli("set", record, "stops=20")
    assert_clean_error(changed, word)

    assert snapshot(vault) == before
    assert (vault / rel).read_bytes() == data
    assert not (vault / "vault/A01/02/SB/SB-A01-02-0002.yaml").exists()
    leftovers = [
        p for p in (vault / "vault").rglob("*") if p.is_file() and p.name != "SB-A01-02-0001.yaml"
    ]
    assert leftovers == []
    # reading still works
    assert cli("show", record).code == 0


def test_busy_repository_real_executable(vault: Path, tmp_path: Path) -> None:
    _merge_head(vault)
    before = snapshot(vault)
    result = run_bin(
        ["-C", str(vault), "new", "SB", "A01-02", "--file", "-"], input=dump(fields()).encode()
    )
    assert_clean_error(result, "merge")
    assert snapshot(vault) == before


# ------------------------------------------------- categories and levels for new


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("ZZ", "A01"), ("ZZ", "unknown category")),
        (("zz", "A01"), ("zz",)),
        (("sb", "A01-02"), ("sb",)),
        (("S", "A01-02"), ("S",)),
        (("設備", "A01-02"), ()),
        (("XM", "A01-02"), ("XM", "building")),
        (("SB",), ("SB", "company")),
        (("YZ", "A01-02-001"), ("YZ", "unit")),
        (("JY", "A01"), ("JY", "project")),
        (("SB", "A1-02"), ("A1",)),
        (("SB", "A01-02-001-0301-0001"), ()),
        (("SB", "A00-02"), ("A00",)),
        (("SB", "../A01"), ()),
        (("SB", "A01/02"), ()),
        (("SB", "E01"), ("E01",)),
    ],
)
def test_new_unknown_category_or_level(
    vault: Path, cli, tmp_path: Path, args: tuple[str, ...], names: tuple[str, ...]
) -> None:
    path = tmp_path / "fields.yaml"
    path.write_text(dump(fields()), encoding="utf-8")
    before = snapshot(vault)
    result = cli("new", *args, "--file", str(path))
    assert_clean_error(result, *names)
    assert snapshot(vault) == before
    assert no_record_files(vault)


def test_ls_bad_filters(vault: Path, cli, record: str) -> None:
    before = snapshot(vault)
    assert_clean_error(cli("ls", "--category", "ZZ"), "ZZ")
    assert_clean_error(cli("ls", "--location", "A1"), "A1")
    assert_clean_error(cli("ls", "--where", "noequals"), "noequals")
    assert snapshot(vault) == before


def test_json_mode_keeps_stdout_clean_on_error(vault: Path, cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"title: [\n")
    result = cli("new", "SB", "A01-02", "--file", str(path), "--json")
    assert_clean_error(result, "bad.yaml")
    shown = cli("show", "SB-A01-02-0009", "--json")
    assert_clean_error(shown, "SB-A01-02-0009")
    with pytest.raises(json.JSONDecodeError):
        json.loads(shown.out or "")


def test_refs_to_a_missing_code_write_nothing(vault: Path, cli, tmp_path: Path) -> None:
    """Refused (by dangan or by the pre-commit hook it runs): the vault is left as it was."""
    path = tmp_path / "fields.yaml"
    path.write_text(dump(fields(refs=["HT-A01-0003"])), encoding="utf-8")
    before = snapshot(vault)
    result = cli("new", "SB", "A01-02", "--file", str(path))
    assert_clean_error(result, "HT-A01-0003")
    assert snapshot(vault) == before
    assert no_record_files(vault)
