"""Text that reaches a terminal never carries control sequences (issue 19, part 1;
docs/format.md §4.4).

The payloads of the issue — OSC 52 (clipboard), OSC 0 (window title), OSC 8 (hyperlink), CSI
as ESC [ and as the C1 byte U+009B, a bidi override — are refused by `dangan set` in one-line
fields (exit 2, the field named, nothing written). Written by hand into a record and committed
with --no-verify, they come out of `ls`, `show`, `log`, `diff`, `lend ls` and the findings of
`check` inert: the real `dangan` runs in a subprocess and its stdout and stderr are checked
byte for byte. `check` reports DG102 for each field that holds one.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import DANGAN_BIN, REPO, git, snapshot

from dangan.formats import agekeys, sops, terminal
from dangan.formats.schemas import SchemaSet
from dangan.formats.yamlio import dump, load_roundtrip, to_plain

VALID = REPO / "tests" / "schema_examples" / "valid"
SB = "SB-A01-02-0001"
SB_REL = "vault/A01/02/SB/SB-A01-02-0001.yaml"
JY_REL = "vault/JY/JY-0001.yaml"

PAYLOADS = {
    "osc52_clipboard": "\x1b]52;c;cm0gLXJmIH4=\x07",
    "osc0_title": "\x1b]0;owned\x07",
    "osc8_link": "\x1b]8;;https://evil.invalid/\x1b\\click me\x1b]8;;\x1b\\",
    "csi_esc": "\x1b[2J\x1b[31mred",
    "csi_c1": "\x9b2J",
    "bidi_override": "invoice\u202egnp.exe",
    "bidi_isolate": "\u2067abc\u2069",
    "del": "a\x7fb",
    "carriage_return": "ok\rEVIL",
    "line_separator": "a\u2028b",
}
# every code point a terminal could act on; line feeds and tabs are allowed in output text
FORBIDDEN = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029,
                              *range(0x202A, 0x202F), *range(0x2066, 0x206A)]} - {"\n", "\t"}


def _example(name: str) -> dict[str, Any]:
    tree = to_plain(load_roundtrip((VALID / name).read_text("utf-8")))
    tree.pop("refs", None)  # they name records this vault lacks (DG108)
    return tree


def _write(vault: Path, rel: str, tree: dict[str, Any]) -> None:
    path = vault / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(tree), "utf-8")


def _run(vault: Path, *args: str) -> tuple[int, bytes, bytes]:
    """The installed dangan as a user runs it; stdout and stderr as raw bytes."""
    proc = subprocess.run([str(DANGAN_BIN), "-C", str(vault), *args], capture_output=True, env=dict(os.environ))
    return proc.returncode, proc.stdout, proc.stderr


def assert_inert(data: bytes) -> str:
    """`data` is UTF-8 and holds no character a terminal acts on (but line feeds and tabs)."""
    assert b"\x1b" not in data and b"\xc2\x9b" not in data and b"\x07" not in data
    text = data.decode("utf-8")  # strict: no stray C1 byte either
    found = sorted({f"U+{ord(c):04X}" for c in text if c in FORBIDDEN})
    assert not found, found
    return text


@pytest.fixture
def sb_vault(vault: Path) -> Path:
    """A vault with a valid SB record, committed through the hook."""
    _write(vault, SB_REL, _example("SB-elevator.yaml"))
    git(vault, "add", "-A")
    git(vault, "commit", "-q", "-m", "SB by hand")
    return vault


# ------------------------------------------------------------------ refused when written


@pytest.mark.parametrize("name", sorted(PAYLOADS))
@pytest.mark.parametrize("field", ["title", "custody.room", "maintenance_contractor"])
def test_set_refuses_a_control_character_in_a_one_line_field(sb_vault: Path, field: str, name: str) -> None:
    before = snapshot(sb_vault)
    code, out, err = _run(sb_vault, "set", SB, f"{field}=x{PAYLOADS[name]}")
    assert code == 2 and out == b""
    text = assert_inert(err)
    assert f"/{field.replace('.', '/')}: holds U+" in text and "this field allows none" in text
    assert snapshot(sb_vault) == before


@pytest.mark.parametrize("name", ["osc52_clipboard", "csi_c1", "bidi_override", "carriage_return"])
def test_free_text_keeps_line_feeds_and_tabs_and_refuses_the_rest(sb_vault: Path, name: str) -> None:
    assert _run(sb_vault, "set", SB, "notes=line one\n\tline two")[0] == 0
    assert "line one\n\tline two" in (sb_vault / SB_REL).read_text("utf-8").replace("\\n", "\n").replace("\\t", "\t")
    before = snapshot(sb_vault)
    code, _, err = _run(sb_vault, "set", SB, f"notes=fine\n{PAYLOADS[name]}")
    assert code == 2 and "/notes: holds U+" in assert_inert(err) and "only line feeds and tabs" in err.decode()
    assert snapshot(sb_vault) == before


def test_a_sensitive_name_is_refused_without_showing_it() -> None:
    """Sensitive one-line fields (names, numbers) use the same type; the message names the
    code point, never the value."""
    schemas = SchemaSet.from_dir(REPO / "schemas")
    tree = _example("YZ-owner-file.yaml")
    tree["owners"][0]["name"] = "張\x1b]52;c;secret\x07三"
    errors = schemas.errors("YZ", tree)
    assert [path for path, _ in errors] == ["/owners/0/name"]
    assert "U+001B at character 2" in errors[0][1] and "secret" not in errors[0][1]


# ------------------------------------------------------------------ shown inert when present


@pytest.fixture
def hostile(vault: Path) -> Path:
    """A clean SB record, then one where every payload sits in its title, a room and the notes,
    committed by hand (--no-verify) with a hostile subject; and a loan whose borrower is one."""
    sb = _example("SB-elevator.yaml")
    _write(vault, SB_REL, sb)
    git(vault, "add", "-A")
    git(vault, "commit", "-q", "-m", "SB clean")
    every = " ".join(PAYLOADS.values())
    sb["title"] = every
    sb.setdefault("custody", {})["room"] = PAYLOADS["osc8_link"]
    sb["notes"] = "two\nlines " + PAYLOADS["csi_c1"]
    _write(vault, SB_REL, sb)
    jy = _example("JY-loan-closed.yaml")
    jy["borrower"].pop("contact")  # a sensitive value in clear would be DG105
    jy["borrower"]["name"] = PAYLOADS["osc0_title"] + PAYLOADS["bidi_override"]
    _write(vault, JY_REL, jy)
    git(vault, "add", "-A")
    git(vault, "commit", "-q", "--no-verify", "-m", f"by hand {PAYLOADS['osc52_clipboard']}{PAYLOADS['csi_c1']}")
    return vault


@pytest.mark.parametrize("args", [
    ["ls"],
    ["show", SB],
    ["log", SB],
    ["diff", "--from", "HEAD~1"],
    ["diff", "--from", "HEAD~1", "--format", "markdown"],
    ["lend", "ls"],
    ["check", "--all"],
    ["check", "--all", "--json"],
    ["ls", "--json"],
    ["show", SB, "--json"],
    ["log", SB, "--json"],
    ["diff", "--from", "HEAD~1", "--format", "json"],
], ids=" ".join)
def test_every_output_is_inert(hostile: Path, args: list[str]) -> None:
    code, out, err = _run(hostile, *args)
    assert code == (1 if args[0] == "check" else 0), err
    assert_inert(err)
    assert assert_inert(out).strip()


def test_ls_shows_the_characters_escaped_and_json_gives_them_exactly(hostile: Path) -> None:
    title = " ".join(PAYLOADS.values())
    _, out, _ = _run(hostile, "ls")
    line = next(x for x in out.decode().splitlines() if x.startswith(SB))
    assert line.split("\t")[2] == terminal.escape(title)
    assert "\\x1b]52;c;" in line and "\\x9b2J" in line and "invoice\\u202egnp.exe" in line and "ok\\x0dEVIL" in line
    assert len(line.split("\t")) == 6  # a tab or line feed in a value cannot add a column
    _, out, _ = _run(hostile, "ls", "--json")
    assert {item["code"]: item["title"] for item in json.loads(out)}[SB] == title


def test_log_and_show_escape_what_the_commit_and_the_record_hold(hostile: Path) -> None:
    _, out, _ = _run(hostile, "log", SB)
    assert "    by hand \\x1b]52;c;cm0gLXJmIH4=\\x07\\x9b2J\n" in out.decode()
    _, out, _ = _run(hostile, "show", SB)
    shown = out.decode()
    # YAML escapes the controls itself, the bidi overrides are escaped on the way out
    assert "\\e]52;c;" in shown and "\\x9B2J" in shown and "invoice\\u202egnp.exe" in shown


def test_check_reports_each_field_as_dg102_on_one_inert_line(hostile: Path) -> None:
    code, out, _ = _run(hostile, "check", "--all")
    lines = out.decode().splitlines()
    assert code == 1
    found = sorted(x.split(": ", 2)[1].removeprefix("DG102 ") for x in lines if x.startswith(f"{SB_REL}: DG102"))
    assert found == ["/custody/room", "/notes", "/title"], lines
    assert any(x.startswith(f"{JY_REL}: DG102 /borrower/name: holds U+001B at character 1") for x in lines)
    # the warm check (answered from the quick note) prints the same bytes
    again = _run(hostile, "check", "--all")
    assert again[1] == out and again[0] == 1


def test_the_hook_refuses_the_commit_with_inert_findings(sb_vault: Path) -> None:
    tree = _example("SB-elevator.yaml")
    tree["title"] = PAYLOADS["osc52_clipboard"] + PAYLOADS["csi_c1"]
    _write(sb_vault, SB_REL, tree)
    git(sb_vault, "add", "-A")
    proc = subprocess.run(["git", "commit", "-q", "-m", "hostile"], cwd=sb_vault, capture_output=True)
    assert proc.returncode != 0
    err = assert_inert(proc.stderr)
    assert f"{SB_REL}: DG102 /title: holds U+001B" in err


def test_an_error_quoting_the_input_is_inert(sb_vault: Path) -> None:
    code, out, err = _run(sb_vault, "show", "SB-\x1b]0;x\x07")
    assert code == 2 and out == b""
    assert "\\x1b]0;x\\x07" in assert_inert(err)


def test_show_decrypt_and_check_with_a_key_are_inert(tmp_path: Path) -> None:
    """A sealed record whose sensitive name carries payloads (sealed by hand, committed with
    --no-verify): `show --decrypt` prints it inert, and `check` with the key reports DG102
    on the name without showing it."""
    secret, public = agekeys.generate_identity()
    key = tmp_path / "alice.key"
    agekeys.write_identity_file(key, secret, public)
    root = tmp_path / "v"
    subprocess.run([str(DANGAN_BIN), "init", str(root), "--recipient", f"alice={public}"], check=True,
                   capture_output=True)
    tree = to_plain(load_roundtrip((VALID / "TS-complaint.yaml").read_text("utf-8")))
    tree.pop("refs", None)
    tree["complainant"]["name"] = "林" + PAYLOADS["osc52_clipboard"] + PAYLOADS["bidi_override"]
    doc = sops.encrypt_document(tree, [public], "^(complainant|name|phone)$")
    _write(root, "vault/A01/02/001/0301/TS/TS-A01-02-001-0301-0001.yaml", doc)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", "sealed by hand")
    code, out, err = _run(root, "--identity", str(key), "show", tree["code"], "--decrypt")
    assert code == 0, err
    assert "invoice\\u202egnp.exe" in assert_inert(out) and "\\e]52;c;" in out.decode()
    assert_inert(err)
    code, out, err = _run(root, "--identity", str(key), "check", "--all")
    text = assert_inert(out)
    assert code == 1 and "DG102 /complainant/name: holds U+001B at character 2" in text, text
    assert "cm0gLXJmIH4" not in text
    assert_inert(err)


# ------------------------------------------------------------------ the function itself


def test_escape_and_json_safe() -> None:
    assert terminal.escape("a\x1b[2Jb\x9b\u202e\t\n中") == "a\\x1b[2Jb\\x9b\\u202e\\x09\\x0a中"
    assert terminal.escape("a\x1b\t\n", lines=True) == "a\\x1b\t\n"
    assert terminal.escape("C:\\scans ‎ok") == "C:\\scans ‎ok"  # backslash and U+200E stay
    document = json.dumps({"t": "\x1b\x7f\x9b\u2028\u202e\u2069"}, ensure_ascii=False, indent=2)
    safe = terminal.json_safe(document)
    assert json.loads(safe) == json.loads(document)
    assert not FORBIDDEN.intersection(safe.replace("\n", ""))
