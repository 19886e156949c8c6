"""`dangan import`: all rows validated before any is written, sensitive columns encrypted,
one commit; a bad row is named and nothing is written."""
from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from conftest import git, run_cli, snapshot
from dangan.agekeys import generate_identity, write_identity_file

HEADER = ["location", "title", "kind", "channel", "received_at", "subject", "description",
          "complainant.name", "complainant.phone"]


def row(i: int, phone: str | None = None, room: str = "A01-02-001-0301") -> list[str]:
    return [room, f"投訴 {i}", "complaint", "phone", "2024-04-08T12:35:00+08:00", "noise",
            f"第{i}號投訴：樓上噪音。", f"測試人{i:05d}", phone or f"138-{i:04d}-{i:04d}"]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def keyed(tmp_path: Path):
    """A vault with one recipient, and that recipient's identity file."""
    secret, public = generate_identity()
    key = tmp_path / "keys.txt"
    write_identity_file(key, secret, public)
    root = tmp_path / "vault"
    result = run_cli(["init", str(root), "--recipient", f"張敏={public}"])
    assert result.code == 0, result
    return root, key


def test_import_encrypts_and_commits_once(keyed, tmp_path: Path) -> None:
    root, key = keyed
    rows = [row(i) for i in range(1, 201)]
    sheet = write_csv(tmp_path / "complaints.csv", rows)
    before = git(root, "rev-parse", "HEAD").strip()

    result = run_cli(["-C", str(root), "import", "TS", str(sheet), "--json"])

    assert result.code == 0, result
    answer = json.loads(result.out)
    assert len(answer["codes"]) == 200
    assert answer["codes"][0] == "TS-A01-02-001-0301-0001" and answer["codes"][-1] == "TS-A01-02-001-0301-0200"
    assert git(root, "rev-parse", "HEAD~1").strip() == before  # one commit
    assert "dangan import: 200 TS" in git(root, "log", "-1", "--format=%s")
    assert git(root, "status", "--porcelain") == ""
    # encrypted on disk and in every Git object; opens with the key
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=root,
                             capture_output=True).stdout
    for i in (1, 77, 200):
        name, phone = f"測試人{i:05d}".encode(), f"138-{i:04d}-{i:04d}".encode()
        assert name not in objects and phone not in objects
    shown = run_cli(["-C", str(root), "--identity", str(key), "show", "TS-A01-02-001-0301-0077", "--decrypt", "--json"])
    assert shown.code == 0, shown
    assert json.loads(shown.out)["record"]["complainant"] == {"name": "測試人00077", "phone": "138-0077-0077"}
    assert run_cli(["-C", str(root), "check"]).code == 0


def test_a_bad_row_writes_nothing_and_is_named(keyed, tmp_path: Path) -> None:
    root, _ = keyed
    rows = [row(i) for i in range(1, 51)]
    rows[36][4] = "2024-02-30T10:00:00+08:00"  # line 38 of the file: not a real date
    sheet = write_csv(tmp_path / "bad.csv", rows)
    before = snapshot(root)

    result = run_cli(["-C", str(root), "import", "TS", str(sheet)])

    assert result.code == 2, result
    assert "line 38" in result.err and "received_at" in result.err
    assert "nothing was imported" in result.err
    assert "Traceback" not in result.err
    assert snapshot(root) == before


def test_a_bad_sensitive_value_is_named_without_its_value(keyed, tmp_path: Path) -> None:
    root, _ = keyed
    sheet = write_csv(tmp_path / "bad.csv", [row(1), row(2, phone="SECRET-not-a-phone")])
    before = snapshot(root)
    result = run_cli(["-C", str(root), "import", "TS", str(sheet)])
    assert result.code == 2, result
    assert "line 3" in result.err and "/complainant/phone" in result.err
    assert "SECRET-not-a-phone" not in result.err
    assert snapshot(root) == before


def test_dry_run_and_no_recipients(vault: Path, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "c.csv", [row(1)])
    before = snapshot(vault)
    dry = run_cli(["-C", str(vault), "import", "TS", str(sheet), "--dry-run"])
    # the vault has no recipients: the sensitive columns cannot be encrypted
    assert dry.code == 2 and "no recipients to encrypt for" in dry.err, dry
    assert snapshot(vault) == before


def test_dry_run_writes_nothing(keyed, tmp_path: Path) -> None:
    root, _ = keyed
    sheet = write_csv(tmp_path / "c.csv", [row(1), row(2)])
    before = snapshot(root)
    dry = run_cli(["-C", str(root), "import", "TS", str(sheet), "--dry-run", "--json"])
    assert dry.code == 0, dry
    assert json.loads(dry.out) == {"codes": ["TS-A01-02-001-0301-0001", "TS-A01-02-001-0301-0002"],
                                   "commit": None, "dry_run": True}
    assert snapshot(root) == before


@pytest.mark.parametrize(
    "content,says",
    [
        (b"", "no header row"),
        (b"title,title\nx,y\n", "appears twice"),
        (b"code,title\nTS-0001,x\n", "set by dangan"),
        (b"title\n", "no rows"),
        (b"title\n\xff\xfe\n", "not UTF-8"),
    ],
)
def test_bad_files(vault: Path, tmp_path: Path, content: bytes, says: str) -> None:
    sheet = tmp_path / "s.csv"
    sheet.write_bytes(content)
    before = snapshot(vault)
    result = run_cli(["-C", str(vault), "import", "TS", str(sheet)])
    assert result.code == 2 and says in result.err, result
    assert snapshot(vault) == before


# ------------------------------------------------------------------------ export

def test_export_masks_without_decrypt_and_decrypts_with_a_key(keyed, tmp_path: Path) -> None:
    root, key = keyed
    sheet = write_csv(tmp_path / "c.csv", [row(1), row(2)])
    assert run_cli(["-C", str(root), "import", "TS", str(sheet)]).code == 0

    masked = run_cli(["-C", str(root), "export", "--category", "TS"])
    assert masked.code == 0, masked
    records = json.loads(masked.out)
    assert [r["code"] for r in records] == ["TS-A01-02-001-0301-0001", "TS-A01-02-001-0301-0002"]
    assert records[0]["complainant"] == {"name": "‹encrypted›", "phone": "‹encrypted›"}
    assert "sops" not in records[0] and "測試人" not in masked.out

    out = tmp_path / "plain.csv"
    clear = run_cli(["-C", str(root), "--identity", str(key), "export", "--category", "TS",
                     "--format", "csv", "--decrypt", "--out", str(out)])
    assert clear.code == 0, clear
    assert out.stat().st_mode & 0o077 == 0  # personal data: owner-only file
    table = list(csv.DictReader(io.StringIO(out.read_text("utf-8"))))
    assert [t["complainant.name"] for t in table] == ["測試人00001", "測試人00002"]
    assert table[1]["complainant.phone"] == "138-0002-0002" and table[0]["received_at"] == "2024-04-08T12:35:00+08:00"


def test_exported_csv_imports_again(keyed, tmp_path: Path) -> None:
    """CSV export -> (drop code and category) -> import gives the same fields."""
    root, key = keyed
    assert run_cli(["-C", str(root), "import", "TS", str(write_csv(tmp_path / "c.csv", [row(5)]))]).code == 0
    exported = run_cli(["-C", str(root), "--identity", str(key), "export", "--category", "TS", "--format", "csv", "--decrypt"])
    assert exported.code == 0, exported
    table = list(csv.DictReader(io.StringIO(exported.out)))
    again = io.StringIO()
    columns = [c for c in table[0] if c not in ("code", "category")] + ["location"]
    writer = csv.DictWriter(again, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerow({**table[0], "location": "A01-02-001-0301"})
    sheet = tmp_path / "again.csv"
    sheet.write_text(again.getvalue(), encoding="utf-8")
    result = run_cli(["-C", str(root), "import", "TS", str(sheet), "--json"])
    assert result.code == 0, result
    first = run_cli(["-C", str(root), "--identity", str(key), "show", "TS-A01-02-001-0301-0001", "--decrypt", "--json"])
    second = run_cli(["-C", str(root), "--identity", str(key), "show", "TS-A01-02-001-0301-0002", "--decrypt", "--json"])
    a, b = json.loads(first.out)["record"], json.loads(second.out)["record"]
    assert {k: v for k, v in a.items() if k != "code"} == {k: v for k, v in b.items() if k != "code"}


def test_export_csv_needs_a_category(vault: Path) -> None:
    result = run_cli(["-C", str(vault), "export", "--format", "csv"])
    assert result.code == 2 and "--category" in result.err
