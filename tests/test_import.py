"""`dangan import`: all rows validated before any is written, sensitive columns encrypted,
one commit; a bad row is named and nothing is written."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import time
from pathlib import Path

import pytest
from conftest import git, run_cli, snapshot

from dangan.formats.agekeys import generate_identity, write_identity_file

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


def test_headers_may_be_the_fields_chinese_names_in_either_script(keyed, tmp_path: Path) -> None:
    """Issue 24 part 2: a column may name a field by the Chinese name its description gives
    (`dangan fields TS` shows them: 題名, 受理時間, 姓名), traditional or simplified alike."""
    root, key = keyed
    sheet = tmp_path / "zh.csv"
    sheet.write_text("location,题名,類型,受理渠道,受理时间,事由,投诉/建议内容,姓名,電話\n"
                     "A01-02-001-0301,電梯異響,complaint,phone,2024-04-08T12:35:00+08:00,elevator,夜間異響,林曉東,138-0000-1234\n",
                     encoding="utf-8")
    result = run_cli(["-C", str(root), "import", "TS", str(sheet), "--json"])
    assert result.code == 0, result
    shown = run_cli(["-C", str(root), "--identity", str(key), "show", json.loads(result.out)["codes"][0],
                     "--decrypt", "--json"])
    record = json.loads(shown.out)["record"]
    assert (record["title"], record["kind"], record["channel"], record["subject"]) == (
        "電梯異響", "complaint", "phone", "elevator")
    assert record["received_at"] == "2024-04-08T12:35:00+08:00" and record["description"] == "夜間異響"
    assert record["complainant"] == {"name": "林曉東", "phone": "138-0000-1234"}
    # a field named twice (by its path and by its name) is refused before any row is read
    twice = tmp_path / "twice.csv"
    twice.write_text("title,題名\na,b\n", encoding="utf-8")
    refused = run_cli(["-C", str(root), "import", "TS", str(twice)])
    assert refused.code == 2 and "two columns name the field 'title'" in refused.err, refused


@pytest.mark.parametrize("head", ["標題", "标题"])
def test_the_everyday_word_for_a_title_is_a_header_too(keyed, tmp_path: Path, head: str) -> None:
    """Issue 24 part 4: 標題 (标题), the everyday word, names `title` as the archival 題名 does."""
    root, key = keyed
    sheet = tmp_path / "title.csv"
    sheet.write_text(f"location,{head},kind,channel,received_at,subject,description,complainant.name,"
                     "complainant.phone\n"
                     "A01-02-001-0301,垃圾清運不及時,complaint,phone,2024-04-09T08:00:00+08:00,cleaning,垃圾桶滿溢,林曉東,"
                     "138-0000-5678\n",
                     encoding="utf-8")
    result = run_cli(["-C", str(root), "import", "TS", str(sheet), "--json"])
    assert result.code == 0, result
    shown = run_cli(["-C", str(root), "--identity", str(key), "show", json.loads(result.out)["codes"][0],
                     "--decrypt", "--json"])
    assert json.loads(shown.out)["record"]["title"] == "垃圾清運不及時"


def test_a_bad_row_writes_nothing_and_is_named(keyed, tmp_path: Path) -> None:
    root, _ = keyed
    rows = [row(i) for i in range(1, 51)]
    rows[36][4] = "2024-02-30T10:00:00+08:00"  # line 38 of the file: not a real date
    sheet = write_csv(tmp_path / "bad.csv", rows)
    before = snapshot(root)

    result = run_cli(["-C", str(root), "import", "TS", str(sheet)])

    assert result.code == 2, result
    assert "row 38, column received_at" in result.err
    assert "nothing was imported" in result.err
    assert "Traceback" not in result.err
    assert snapshot(root) == before


def test_a_bad_sensitive_value_is_named_without_its_value(keyed, tmp_path: Path) -> None:
    root, _ = keyed
    sheet = write_csv(tmp_path / "bad.csv", [row(1), row(2, phone="SECRET-not-a-phone")])
    before = snapshot(root)
    result = run_cli(["-C", str(root), "import", "TS", str(sheet)])
    assert result.code == 2, result
    assert "row 3, column complainant.phone" in result.err
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
                                   "commit": None, "dry_run": True, "errors": []}
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


# ------------------------------------------------------------------------- .xlsx

def write_xlsx(path: Path, header: list[str], rows: list[list], title: str = "投訴") -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "說明"  # the first sheet is a cover note; the data is on another
    sheet.append(["這一頁不是數據"])
    data = book.create_sheet(title)
    data.append(header)
    for r in rows:
        data.append(r)
    book.save(path)
    return path


XLSX_HEADER = HEADER + ["anonymous", "deadline", "satisfaction"]


def xlsx_row(i: int, **changes) -> list:
    import datetime as dt

    cells = dict(zip(XLSX_HEADER, [
        "A01-02-001-0301", f"投訴 {i}", "complaint", "phone", dt.datetime(2024, 4, 8, 12, 35), "noise",
        f"第{i}號投訴。", f"測試人{i:05d}", 13800000000 + i, False, dt.datetime(2024, 4, 15), 4,
    ]))
    cells.update(changes)
    return [cells[h] for h in XLSX_HEADER]


def test_xlsx_cells_are_typed_by_the_schema(keyed, tmp_path: Path) -> None:
    """Excel's datetimes become the schema's forms in the vault's time zone, a phone typed
    as a number keeps its digits (no `.0`), booleans and integers stay typed, an empty
    cell leaves the field out."""
    root, key = keyed
    book = write_xlsx(tmp_path / "c.xlsx", XLSX_HEADER, [xlsx_row(1), xlsx_row(2, deadline=None, satisfaction=None, anonymous=True)])
    wrong_sheet = run_cli(["-C", str(root), "import", "TS", str(book)])  # the cover sheet
    assert wrong_sheet.code == 2 and "row" in wrong_sheet.err, wrong_sheet
    result = run_cli(["-C", str(root), "import", "TS", str(book), "--sheet", "投訴", "--json"])
    assert result.code == 0, result
    assert json.loads(result.out)["codes"] == ["TS-A01-02-001-0301-0001", "TS-A01-02-001-0301-0002"]
    first = json.loads(run_cli(["-C", str(root), "--identity", str(key), "show", "TS-A01-02-001-0301-0001",
                                "--decrypt", "--json"]).out)["record"]
    assert first["received_at"] == "2024-04-08T12:35:00+08:00"  # the vault's zone: Asia/Shanghai
    assert first["deadline"] == "2024-04-15"
    assert first["complainant"] == {"name": "測試人00001", "phone": "13800000001"}
    assert first["anonymous"] is False and first["satisfaction"] == 4
    second = json.loads(run_cli(["-C", str(root), "--identity", str(key), "show", "TS-A01-02-001-0301-0002",
                                 "--decrypt", "--json"]).out)["record"]
    assert "deadline" not in second and "satisfaction" not in second and second["anonymous"] is True
    stored = (root / "vault/A01/02/001/0301/TS/TS-A01-02-001-0301-0001.yaml").read_text("utf-8")
    assert "13800000001" not in stored and "ENC[" in stored


def test_xlsx_errors_name_row_and_column_without_sensitive_values(keyed, tmp_path: Path) -> None:
    import datetime as dt

    root, _ = keyed
    rows = [xlsx_row(i) for i in range(1, 6)]
    rows[1] = xlsx_row(2, deadline=dt.datetime(2024, 4, 15, 9, 30))  # a time in a date field
    rows[3] = xlsx_row(4, **{"complainant.phone": 320506198507151234})  # 18 digits: Excel lost some
    rows[4] = xlsx_row(5, satisfaction="很好")
    book = write_xlsx(tmp_path / "bad.xlsx", XLSX_HEADER, rows)
    before = snapshot(root)
    result = run_cli(["-C", str(root), "import", "TS", str(book), "--sheet", "投訴", "--json"])
    assert result.code == 2, result
    errors = json.loads(result.out)["errors"]
    assert [e.split(":")[0] for e in errors] == [
        "row 3, column deadline", "row 5, column complainant.phone", "row 6, column satisfaction"]
    assert "15 digits" in errors[1] and "320506" not in result.out + result.err
    assert "row 3, column deadline" in result.err and "nothing was imported" in result.err
    assert snapshot(root) == before


@pytest.mark.parametrize("content,args,says", [
    (b"PK\x03\x04 not really a zip", [], "not a readable .xlsx"),
    (None, ["--sheet", "nope"], "no sheet 'nope'"),
    (b"title\nx\n", ["--sheet", "x"], "--sheet is for .xlsx"),
])
def test_bad_workbooks(vault: Path, tmp_path: Path, content: bytes | None, args: list[str], says: str) -> None:
    path = tmp_path / "s.xlsx"
    if content is None:
        write_xlsx(path, ["title"], [["x"]])
    else:
        path.write_bytes(content)
    before = snapshot(vault)
    result = run_cli(["-C", str(vault), "import", "TS", str(path), *args])
    assert result.code == 2 and says in result.err, result
    assert "Traceback" not in result.err
    assert snapshot(vault) == before


# ------------------------------------------------------------------ 10,000 rows

def rows_10k() -> list[list[str]]:
    return [row(i, phone=f"138-{i % 10_000:04d}-{i % 10_000:04d}", room=f"A01-{1 + i % 5:02d}-001-{101 + i % 40:04d}")
            for i in range(1, 10_001)]


def test_10000_rows_with_one_bad_row_write_nothing_and_name_it(keyed, tmp_path: Path) -> None:
    root, _ = keyed
    rows = rows_10k()
    rows[7501][5] = "loud-music"  # spreadsheet row 7,503: not a subject the schema knows
    sheet = write_csv(tmp_path / "big-bad.csv", rows)
    before = snapshot(root)
    start = time.perf_counter()
    result = run_cli(["-C", str(root), "import", "TS", str(sheet)])
    print(f"\n10,000 rows, one bad: refused in {time.perf_counter() - start:.1f} s")
    assert result.code == 2, result
    assert "1 error(s)" in result.err and "row 7503, column subject" in result.err, result.err
    assert snapshot(root) == before


def test_10000_rows_land_in_one_commit_encrypted(keyed, tmp_path: Path) -> None:
    root, key = keyed
    sheet = write_csv(tmp_path / "big.csv", rows_10k())
    before = git(root, "rev-parse", "HEAD").strip()
    start = time.perf_counter()
    result = run_cli(["-C", str(root), "import", "TS", str(sheet), "--json"])
    print(f"\n10,000 rows imported, encrypted and committed in {time.perf_counter() - start:.1f} s")
    assert result.code == 0, result
    codes = json.loads(result.out)["codes"]
    assert len(codes) == len(set(codes)) == 10_000
    assert git(root, "rev-parse", "HEAD~1").strip() == before  # one commit
    changed = git(root, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split()
    assert len(changed) == 10_000 and git(root, "status", "--porcelain") == ""
    # every record file holds ciphertext for the complainant, no clear name or phone
    for rel in changed:
        text = (root / rel).read_text("utf-8")
        assert "name: ENC[AES256_GCM," in text and "phone: ENC[AES256_GCM," in text, rel
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=root,
                             capture_output=True).stdout
    for i in (1, 4_321, 7_503, 9_999):
        assert f"測試人{i:05d}".encode() not in objects and f"138-{i:04d}-{i:04d}".encode() not in objects
    code = codes[7_501]
    shown = run_cli(["-C", str(root), "--identity", str(key), "show", code, "--decrypt", "--json"])
    assert json.loads(shown.out)["record"]["complainant"]["name"] == "測試人07502"
