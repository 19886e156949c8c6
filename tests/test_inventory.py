"""Inventory of paper originals (盤點): sheets in shelf order, recorded results, flags.

One module-scoped vault (a recipient, so a YZ owner file is encrypted) holds records with
custody in two rooms, on several cabinets and shelves, some electronic only, one without
custody and one original out on loan. Tests that write work on a copy of it.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Result, git, run_cli, snapshot
from hypothesis import given
from hypothesis import strategies as st

from dangan.formats import agekeys
from dangan.formats.yamlio import dump, load_text
from dangan.services import inventory
from dangan.store.vault import Vault

ARCHIVIST = "張敏"  # recipient with both roles (init --recipient)
WITNESS = "陳立新"
ROOM_A = "總部檔案室"
ROOM_B = "翠湖花園客服中心檔案室"

# (title, custody) of the QY records, created in this order: QY-0001, QY-0002, ...
PLACES: list[tuple[str, dict[str, str] | None]] = [
    ("二架十層", {"form": "paper", "room": ROOM_A, "cabinet": "02", "shelf": "10", "box": "1"}),       # 0001
    ("二架二層一盒", {"form": "both", "room": ROOM_A, "cabinet": "02", "shelf": "2", "box": "1"}),     # 0002
    ("十號櫃", {"form": "paper", "room": ROOM_A, "cabinet": "10", "shelf": "1"}),                      # 0003
    ("二架二層十盒", {"form": "paper", "room": ROOM_A, "cabinet": "02", "shelf": "2", "box": "10"}),    # 0004
    ("二架二層九盒 <b>&amp;</b>", {"form": "paper", "room": ROOM_A, "cabinet": "02", "shelf": "2", "box": "9"}),  # 0005
    ("只有電子版", {"form": "electronic", "room": ROOM_A, "cabinet": "02", "shelf": "1"}),            # 0006
    ("一號櫃未上架", {"form": "paper", "room": ROOM_A, "cabinet": "01"}),                              # 0007
    ("一號櫃一層", {"form": "paper", "room": ROOM_A, "cabinet": "01", "shelf": "1", "box": "3"}),       # 0008
    ("別的檔案室", {"form": "paper", "room": ROOM_B, "cabinet": "01", "shelf": "1"}),                  # 0009
    ("沒有保管位置", None),                                                                           # 0010
    ("借出的原件", {"form": "paper", "room": ROOM_A, "cabinet": "05", "shelf": "1"}),                  # 0011
]
YZ = "YZ-A01-01-001-0101-0001"  # encrypted owner file, room A cabinet 03
YZ_FIELDS = f"""\
title: 1棟1單元101室業主檔案
status: active
opened: '2019-07-08'
owners:
  - role: primary
    owner_kind: person
    name: 林曉東
    phone: 138-0000-1234
title_deed_no: 蘇(2019)蘇州市不動產權第6012345號
custody:
  form: paper
  room: {ROOM_A}
  cabinet: '03'
  shelf: '1'
  box: YZ-01
"""
# room A in shelf order: cabinet 01 (shelf 1, then the unshelved one), 02 shelf 2 boxes
# 1 < 9 < 10, 02 shelf 10, 03 (YZ), 05, 10 (natural order: 10 after 5, not after 1)
ROOM_A_ORDER = ["QY-0008", "QY-0007", "QY-0002", "QY-0005", "QY-0004", "QY-0001", YZ, "QY-0011", "QY-0003"]
LOANED = "QY-0011"


def dg(root: Path, *args: str) -> Result:
    return run_cli(["-C", str(root), *args])


def ok(result: Result) -> Result:
    assert result.code == 0, result
    return result


def bad_input(result: Result, *fragments: str) -> None:
    assert result.code == 2, result
    assert result.err.startswith("dangan: error:") and "Traceback" not in result.err, result
    for fragment in fragments:
        assert fragment in result.err, result


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    secret, public = agekeys.generate_identity()
    path = tmp_path_factory.mktemp("keys") / "archivist.key"
    agekeys.write_identity_file(path, secret, public)
    return path, public


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, key: tuple[Path, str]) -> Path:
    root = tmp_path_factory.mktemp("base") / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"{ARCHIVIST}={key[1]}"]))
    for title, custody in PLACES:
        sets = ["--set", f"title={title}", "--set", "doc_type=business_licence", "--set", "certificate_no=320506000412876",
                "--set", "issuer=蘇州市市場監督管理局", "--set", "issued=2016-03-18"]
        for field, value in (custody or {}).items():
            sets += ["--set", f"custody.{field}={value}"]
        ok(dg(root, "new", "QY", *sets, "--no-commit"))
    (root / "yz.yaml").write_text(YZ_FIELDS, "utf-8")
    assert ok(dg(root, "new", "YZ", "A01-01-001-0101", "--file", str(root / "yz.yaml"), "--no-commit")).out.strip() == YZ
    (root / "yz.yaml").unlink()
    git(root, "commit", "-q", "-m", "records with custody")
    # the original of QY-0011 is out on loan: not on the shelf, so not missing
    loan = ok(dg(root, "lend", "request", LOANED, "--borrower", "趙偉", "--department", "工程部", "--purpose", "年檢",
                 "--form", "original", "--at", "2025-01-02T09:00:00+08:00")).out.strip()
    ok(dg(root, "lend", "approve", loan, "--by", ARCHIVIST, "--at", "2025-01-02T10:00:00+08:00"))
    ok(dg(root, "lend", "checkout", loan, "--by", ARCHIVIST, "--at", "2025-01-02T11:00:00+08:00"))
    return root


@pytest.fixture
def work(base: Path, tmp_path: Path) -> Path:
    target = tmp_path / "vault"
    shutil.copytree(base, target, symlinks=True)
    return target


def sheet_rows(root: Path, *args: str) -> list[dict[str, str]]:
    text = ok(dg(root, "inventory", "sheet", *args)).out
    return list(csv.DictReader(io.StringIO(text)))


def filled(root: Path, results: dict[str, tuple[str, str]], extra: list[dict[str, str]] = (),
           room: str = ROOM_A, default: str = "found") -> Path:
    """The room's sheet with results filled in (`default` for rows not in `results`)."""
    rows = sheet_rows(root, "--room", room)
    for row in rows:
        row["result"], row["note"] = results.get(row["code"], (default, ""))
    out = root.parent / "filled.csv"
    with out.open("w", encoding="utf-8-sig", newline="") as handle:  # as a spreadsheet saves it
        writer = csv.DictWriter(handle, fieldnames=list(inventory.SHEET_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
        for item in extra:
            writer.writerow({k: item.get(k, "") for k in inventory.SHEET_COLUMNS})
    return out


def record_file(root: Path, code: str) -> dict:
    return load_text((root / Vault.open(root).path_of(__import__("dangan.model.codes").model.codes.parse_code(code))).read_text("utf-8"))


def commits(root: Path) -> int:
    return int(git(root, "rev-list", "--count", "HEAD").strip())


# -------------------------------------------------------------------- sheets

def test_sheet_lists_exactly_the_room_in_shelf_order(base: Path) -> None:
    rows = sheet_rows(base, "--room", ROOM_A)
    assert [r["code"] for r in rows] == ROOM_A_ORDER  # no electronic-only, other room or custody-less record
    assert list(rows[0]) == list(inventory.SHEET_COLUMNS)
    assert all(r["result"] == "" and r["note"] == "" for r in rows)
    by_code = {r["code"]: r for r in rows}
    assert by_code[LOANED]["on_loan"].startswith("JY-") and by_code["QY-0001"]["on_loan"] == ""
    assert by_code[YZ]["title"] == "1棟1單元101室業主檔案" and by_code[YZ]["category"] == "YZ"

    assert [r["code"] for r in sheet_rows(base, "--room", ROOM_A, "--cabinet", "02")] == ROOM_A_ORDER[2:6]
    assert [r["code"] for r in sheet_rows(base, "--room", ROOM_B)] == ["QY-0009"]
    assert [r["code"] for r in sheet_rows(base)] == ROOM_A_ORDER + ["QY-0009"]  # every room, by room
    # a room no record names is refused with the rooms that exist, not an empty sheet (issue 24),
    # the nearest first whatever the script it is typed in
    bad_input(dg(base, "inventory", "sheet", "--room", "沒有這個檔案室"), "no record's paper original is in a room")
    mistyped = dg(base, "inventory", "sheet", "--room", "总部档按室")
    bad_input(mistyped, "'总部档按室'")
    assert f"did you mean {ROOM_A}" in mistyped.err and ROOM_B in mistyped.err

    doc = json.loads(ok(dg(base, "inventory", "sheet", "--room", ROOM_A, "--json")).out)
    assert doc["count"] == len(ROOM_A_ORDER) and [r["code"] for r in doc["records"]] == ROOM_A_ORDER
    bad_input(dg(base, "inventory", "sheet", "--cabinet", "02"), "--cabinet needs --room")


def test_a_room_in_the_other_script_is_the_room(base: Path) -> None:
    """Issue 24 part 2: 翠湖花园客服中心档案室 (simplified) is the room the records write
    翠湖花園客服中心檔案室: the full sheet, the room shown as stored; the same for counting."""
    assert [r["code"] for r in sheet_rows(base, "--room", "总部档案室")] == ROOM_A_ORDER
    assert sheet_rows(base, "--room", "翠湖花园客服中心档案室") == sheet_rows(base, "--room", ROOM_B)
    doc = json.loads(ok(dg(base, "inventory", "sheet", "--room", "总部档案室", "--cabinet", "02", "--json")).out)
    assert doc["room"] == ROOM_A and [r["code"] for r in doc["records"]] == ROOM_A_ORDER[2:6]
    assert {r["room"] for r in doc["records"]} == {ROOM_A}


def test_sheet_html_is_escaped_and_never_decrypts(base: Path, key: tuple[Path, str]) -> None:
    page = ok(dg(base, "--identity", str(key[0]), "inventory", "sheet", "--room", ROOM_A, "--format", "html")).out
    assert "二架二層九盒 &lt;b&gt;&amp;amp;&lt;/b&gt;" in page and "<b>" not in page
    for secret in ("林曉東", "138-0000-1234", "6012345", "ENC["):
        assert secret not in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count("<tr>") == len(ROOM_A_ORDER) + 1
    out = base.parent / "sheet.html"
    ok(dg(base, "inventory", "sheet", "--room", ROOM_A, "--format", "html", "--out", str(out)))
    assert out.read_text("utf-8").count("<tr>") == len(ROOM_A_ORDER) + 1


@pytest.mark.parametrize(("lang", "title", "column", "witness"), [
    ("zh-Hans", "档案盘点表 — 總部檔案室", "档案编号", "复核人：____________"),
    ("zh-Hant", "檔案盤點表 — 總部檔案室", "檔案編號", "複核人：____________"),
])
def test_the_sheet_speaks_the_interface_language(base: Path, lang: str, title: str, column: str,
                                                 witness: str) -> None:
    """Issue 24 part 1: the printed sheet in the interface language, its values (the room,
    the titles) as stored; English keeps the sheet it always printed."""
    page = ok(run_cli(["--lang", lang, "-C", str(base), "inventory", "sheet", "--room", ROOM_A,
                       "--format", "html"])).out
    assert f'<html lang="{lang}">' in page and f"<h1>{title}</h1>" in page
    assert f"<th>{column}</th>" in page and witness in page
    assert "Inventory sheet" not in page and "counted by" not in page
    assert page.count("<tr>") == len(ROOM_A_ORDER) + 1
    english = ok(run_cli(["--lang", "en", "-C", str(base), "inventory", "sheet", "--room", ROOM_A,
                          "--format", "html"])).out
    assert '<html lang="zh">' in english and "<h1>檔案盤點表 Inventory sheet — 總部檔案室</h1>" in english
    assert "<th>檔案編號 code</th>" in english and "盤點人 counted by: ____________" in english


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=2, max_size=8))
def test_natural_key_orders_numbers_as_numbers(numbers: list[int]) -> None:
    labels = [f"第{n}層" for n in numbers]
    assert sorted(labels, key=inventory.natural_key) == [f"第{n}層" for n in sorted(numbers)]


# ----------------------------------------------------------- recording results

def test_record_flags_missing_and_damaged_in_one_commit(work: Path, key: tuple[Path, str]) -> None:
    before = commits(work)
    sheet = filled(work, {
        "QY-0004": ("缺失", "盒內無此件"),           # a Chinese result word
        YZ: ("damaged", "封皮受潮"),                  # encrypted: needs the key
        LOANED: ("", ""),                             # out on loan: not counted
        "QY-0003": ("", ""),                          # not counted
    }, extra=[{"code": "QY-0009", "result": "misplaced", "note": "誤放入02號櫃"}])
    done = json.loads(ok(dg(work, "--identity", str(key[0]), "inventory", "record", str(sheet), "--by", ARCHIVIST,
                            "--witness", WITNESS, "--at", "2025-03-01T15:00:00+08:00", "--json")).out)
    assert done["code"] == "PD-0001" and done["place"] == ROOM_A and done["cabinet"] is None
    assert done["results"] == {"found": 5, "missing": 1, "damaged": 1, "misplaced": 1}
    assert done["not_counted"] == ["QY-0011", "QY-0003"]
    assert sorted(done["flagged"]) == sorted(["QY-0004", YZ]) and done["cleared"] == []
    assert commits(work) == before + 1
    message = git(work, "log", "-1", "--format=%s").strip()
    assert message.startswith("dangan inventory record: PD-0001") and "QY-0004" in message
    changed = git(work, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == sorted(["vault/PD/PD-0001.yaml", "vault/QY/QY-0004.yaml",
                                      "vault/A01/01/001/0101/YZ/YZ-A01-01-001-0101-0001.yaml"])

    pd = record_file(work, "PD-0001")
    assert (pd["status"], pd["place"], pd["by"], pd["checked_by"]) == ("completed", ROOM_A, ARCHIVIST, WITNESS)
    assert pd["counted_at"] == "2025-03-01T15:00:00+08:00" and pd["opened"] == pd["closed"] == "2025-03-01"
    # sheet order, then the code found where it does not belong
    assert [r["code"] for r in pd["results"]] == [c for c in ROOM_A_ORDER if c not in ("QY-0011", "QY-0003")] + ["QY-0009"]
    assert {"code": "QY-0004", "result": "missing", "note": "盒內無此件"} in pd["results"]

    assert record_file(work, "QY-0004")["custody"]["status"] == "missing"
    assert record_file(work, "QY-0004")["custody"]["inventory"] == "PD-0001"
    assert "status" not in record_file(work, "QY-0009")["custody"]  # misplaced is not flagged
    yz = record_file(work, YZ)
    assert yz["custody"]["status"] == "damaged" and yz["owners"][0]["name"].startswith("ENC[")
    shown = ok(dg(work, "--identity", str(key[0]), "show", YZ, "--decrypt")).out
    assert "status: damaged" in shown and "林曉東" in shown  # still opens: MAC recomputed with the key
    ok(dg(work, "--identity", str(key[0]), "check", "--all"))

    summary = {r["room"]: r for r in inventory.room_summary(Vault.open(work), dt.date(2025, 3, 2))}
    assert summary[ROOM_A]["last_inventory"] == "2025-03-01" and summary[ROOM_A]["inventory"] == "PD-0001"
    assert summary[ROOM_A]["open_discrepancies"] == 2
    assert summary[ROOM_A]["discrepancies"] == [
        {"code": "QY-0004", "result": "missing", "note": "盒內無此件"},
        {"code": YZ, "result": "damaged", "note": "封皮受潮"},
    ]
    assert summary[ROOM_B] == {"room": ROOM_B, "last_inventory": None, "inventory": None,
                               "open_discrepancies": 0, "discrepancies": []}
    # as of the day before the count: no inventory yet, nothing open
    earlier = {r["room"]: r for r in inventory.room_summary(Vault.open(work), dt.date(2025, 2, 28))}
    assert earlier[ROOM_A]["last_inventory"] is None and earlier[ROOM_A]["open_discrepancies"] == 0
    # the sheet of the next inventory shows the open flags
    assert {r["code"]: r["flagged"] for r in sheet_rows(work, "--room", ROOM_A)}["QY-0004"] == "missing"


def test_a_count_of_a_room_named_in_the_other_script_records_the_room_as_stored(work: Path) -> None:
    """--room 总部档案室 counts 總部檔案室: the PD record and the room summary name the room
    as the records write it, not a second room."""
    sheet = filled(work, {"QY-0004": ("missing", ""), LOANED: ("", "")})
    done = json.loads(ok(dg(work, "inventory", "record", str(sheet), "--by", ARCHIVIST, "--witness", WITNESS,
                            "--room", "总部档案室", "--at", "2025-03-01T15:00:00+08:00", "--json")).out)
    assert done["place"] == ROOM_A and record_file(work, done["code"])["place"] == ROOM_A
    summary = inventory.room_summary(Vault.open(work), dt.date(2025, 3, 2))
    assert [r["room"] for r in summary] == [ROOM_A, ROOM_B]
    assert summary[0]["inventory"] == done["code"] and summary[0]["open_discrepancies"] == 1


def test_reinventory_clears_the_flag_of_a_found_original(work: Path, key: tuple[Path, str]) -> None:
    first = filled(work, {"QY-0004": ("missing", "不在盒內"), "QY-0001": ("damaged", "水漬"), LOANED: ("", "")})
    ok(dg(work, "inventory", "record", str(first), "--by", ARCHIVIST, "--witness", WITNESS, "--at", "2025-03-01"))
    # the next count finds QY-0004 again and does not get to QY-0001
    second = filled(work, {"QY-0004": ("found", "已尋回"), "QY-0001": ("", ""), LOANED: ("", "")})
    done = json.loads(ok(dg(work, "inventory", "record", str(second), "--by", ARCHIVIST, "--witness", WITNESS,
                            "--at", "2025-06-01", "--json")).out)
    assert done["code"] == "PD-0002" and done["cleared"] == ["QY-0004"] and done["flagged"] == []
    custody = record_file(work, "QY-0004")["custody"]
    assert "status" not in custody and "inventory" not in custody
    assert record_file(work, "QY-0001")["custody"]["inventory"] == "PD-0001"  # not counted: flag stands
    rows = json.loads(ok(dg(work, "inventory", "rooms", "--as-of", "2025-06-02", "--json")).out)
    room = next(r for r in rows if r["room"] == ROOM_A)
    assert (room["last_inventory"], room["inventory"], room["open_discrepancies"]) == ("2025-06-01", "PD-0002", 1)
    assert room["discrepancies"] == [{"code": "QY-0001", "result": "damaged", "note": "水漬"}]
    listed = ok(dg(work, "inventory", "ls")).out.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["PD-0001", "PD-0002"]


def test_flagging_an_encrypted_record_needs_its_key(work: Path) -> None:
    before = snapshot(work)
    sheet = filled(work, {YZ: ("missing", ""), LOANED: ("", "")})
    bad_input(dg(work, "inventory", "record", str(sheet), "--by", ARCHIVIST, "--witness", WITNESS),
              YZ, "needs their key", "hint: give --identity")
    assert snapshot(work) == before
    # found, with no flag to clear, the encrypted record is not touched: no key needed
    sheet = filled(work, {LOANED: ("", "")})
    ok(dg(work, "inventory", "record", str(sheet), "--by", ARCHIVIST, "--witness", WITNESS))


CASES = [
    ({"QY-0002": ("lost", "")}, [], "column result: 'lost' is not one of"),
    ({"QY-0002": ("", "有說明沒結果")}, [], "column result: QY-0002 has a note but no result"),
    ({}, [{"code": "QY-99", "result": "found"}], "column code: 'QY-99' is not an archive code"),
    ({}, [{"code": "QY-0099", "result": "misplaced"}], "QY-0099 is no record of this vault"),
    ({}, [{"code": "QY-0002", "result": "found"}], "QY-0002 is already counted on row 4"),
    ({}, [{"code": "QY-0009", "result": "found"}], "QY-0009 is not on the sheet of"),
    ({}, [{"code": "", "result": "found"}], "column code: a result without a code"),
    ({LOANED: ("missing", "")}, [], "is out on loan JY-0001"),
    ({}, [{"code": "QY-0009", "room": ROOM_B, "result": "misplaced"}], "the rows name 2 rooms"),
]


@pytest.mark.parametrize("results, extra, message", CASES)
def test_bad_rows_are_exit_2_and_nothing_is_written(work: Path, results, extra, message) -> None:
    sheet = filled(work, results, extra)
    before = snapshot(work)
    result = dg(work, "inventory", "record", str(sheet), "--by", ARCHIVIST, "--witness", WITNESS)
    bad_input(result, message, "row " if "column" in message else "")
    assert "hint:" in result.err
    assert snapshot(work) == before


def test_other_bad_input(work: Path) -> None:
    before = snapshot(work)
    empty = filled(work, {}, default="")
    bad_input(dg(work, "inventory", "record", str(empty), "--by", ARCHIVIST, "--witness", WITNESS), "nothing was counted")
    good = filled(work, {LOANED: ("", "")})
    bad_input(dg(work, "inventory", "record", str(good), "--by", WITNESS, "--witness", WITNESS), "someone other")
    bad_input(dg(work, "inventory", "record", str(good), "--by", ARCHIVIST, "--witness", WITNESS, "--at", "昨天"),
              "not a date")
    no_column = work.parent / "no-result.csv"
    no_column.write_text("code,note\nQY-0001,x\n", "utf-8")
    bad_input(dg(work, "inventory", "record", str(no_column), "--by", ARCHIVIST, "--witness", WITNESS), "no `result` column")
    bad_input(dg(work, "inventory", "record", str(work.parent / "absent.csv"), "--by", ARCHIVIST, "--witness", WITNESS),
              "cannot read")
    assert snapshot(work) == before


def test_cabinet_inventory_and_misplaced_codes(work: Path) -> None:
    rows = sheet_rows(work, "--room", ROOM_A, "--cabinet", "02")
    out = work.parent / "cabinet.csv"
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(inventory.SHEET_COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "result": "found"})
        # a record of cabinet 01 of the same room turned up in cabinet 02
        writer.writerow({"code": "QY-0008", "result": "misplaced", "note": "放錯櫃"})
    done = json.loads(ok(dg(work, "inventory", "record", str(out), "--cabinet", "02", "--by", ARCHIVIST,
                            "--witness", WITNESS, "--json")).out)
    assert done["cabinet"] == "02" and done["results"]["misplaced"] == 1 and done["not_counted"] == []
    pd = record_file(work, done["code"])
    assert pd["cabinet"] == "02" and pd["title"].startswith(f"{ROOM_A} 02櫃盤點")


def test_custody_part_reads_what_the_whole_record_says() -> None:
    """The sheet parses only the title and custody lines; it must agree with a full read,
    comments inside custody included, for every example record and every file of the
    example vault."""
    folder = Path(__file__).parent
    files = sorted((folder / "schema_examples/valid").glob("*.yaml")) + sorted((folder.parent / "vault").rglob("*.yaml"))
    commented = ("code: QY-0001\ncategory: QY\ntitle: '0012'\nstatus: active\nopened: '2016-03-18'\ncustody:\n"
                 "  # moved in 2024\n  form: paper\n  room: 總部檔案室\n\n  cabinet: '01'\nrefs:\n  - QY-0002\n")
    samples = [p.read_bytes() for p in files] + [commented.encode()]
    with_custody = 0
    for data in samples:
        whole = load_text(data.decode("utf-8"))
        if "custody" not in whole:
            continue
        with_custody += 1
        assert inventory._custody_part(data) == {"title": whole["title"], "custody": whole["custody"]}
    assert with_custody >= 20


def test_a_recorded_result_cannot_be_rewritten(work: Path) -> None:
    """PD is append-only (DG110): a real commit that changes a recorded result is refused."""
    sheet = filled(work, {"QY-0004": ("missing", "不在盒內"), LOANED: ("", "")})
    ok(dg(work, "inventory", "record", str(sheet), "--by", ARCHIVIST, "--witness", WITNESS, "--at", "2025-03-01"))
    path = work / "vault/PD/PD-0001.yaml"
    text = path.read_text("utf-8")
    assert "result: missing" in text
    path.write_text(text.replace("result: missing", "result: found", 1), "utf-8")
    git(work, "add", "vault/PD/PD-0001.yaml")
    refused = subprocess.run(["git", "commit", "-q", "-m", "tidy the count"], cwd=work, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "DG110" in refused.stdout + refused.stderr


def test_a_flag_must_name_an_existing_inventory(work: Path) -> None:
    """custody.inventory is a reference (DG108): a hand-made flag naming no PD is refused."""
    path = work / "vault/QY/QY-0004.yaml"
    text = path.read_text("utf-8")
    assert "custody:\n" in text and "  status:" not in text
    path.write_text(text.replace("custody:\n", "custody:\n  inventory: PD-0099\n  status: missing\n", 1), "utf-8")
    git(work, "add", "vault/QY/QY-0004.yaml")
    refused = subprocess.run(["git", "commit", "-q", "-m", "flag by hand"], cwd=work, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "DG108" in refused.stdout + refused.stderr and "custody.inventory names PD-0099" in refused.stdout + refused.stderr


def test_the_room_summary_greps_but_answers_as_a_full_read(work: Path) -> None:
    """`room_summary` finds rooms and flags with `git grep` and parses only those records; it
    must answer exactly as reading every record does: a line of a literal block that reads
    like a room or a flag is no room or flag, and a flagged record not committed yet counts
    (the flags are the work tree's)."""
    ok(dg(work, "new", "QY", "--set", "title=誘餌", "--set", "doc_type=business_licence",
          "--set", "certificate_no=320506000412877", "--set", "issuer=蘇州市市場監督管理局",
          "--set", "issued=2016-03-18", "--set", "notes=第一行\n  room: 不存在的庫房\n  status: missing\n末行"))
    decoy = next(p for p in (work / "vault/QY").glob("QY-*.yaml") if "誘餌" in p.read_text("utf-8"))
    assert "  room: 不存在的庫房\n" in decoy.read_text("utf-8")  # the decoy lines are there, indented
    flagged = work / "vault/QY/QY-0004.yaml"
    tree = load_text(flagged.read_text("utf-8"))
    tree["custody"]["status"] = "damaged"
    tree["custody"]["inventory"] = "PD-0001"
    flagged.write_text(dump(tree), "utf-8")  # in the work tree only
    vault = Vault.open(work)
    fast = inventory.room_summary(vault, dt.date(2025, 3, 2))
    every = list(inventory._custodies(vault))
    walked = sorted(every, key=lambda found: inventory._walk_order(found[0].path))
    assert [found[0] for found in walked] == [found[0] for found in every]  # the same order as the walk
    original = inventory._custodies_of_rooms
    inventory._custodies_of_rooms = lambda vault, commit=None: inventory._custodies(vault)
    try:
        slow = inventory.room_summary(vault, dt.date(2025, 3, 2))
    finally:
        inventory._custodies_of_rooms = original
    assert fast == slow
    assert "不存在的庫房" not in [r["room"] for r in fast]
    assert any(d["code"] == "QY-0004" and d["result"] == "damaged" for r in fast for d in r["discrepancies"])


def test_the_room_summary_of_a_commit_is_that_of_its_records(work: Path) -> None:
    """`stats` asks for the flags of HEAD (today's, as committed): a flag set in the work tree
    only is not one of them. HEAD's records are read from the work tree's files while they
    are HEAD's, from HEAD's blobs otherwise: the same answer, which is the work tree's once
    the change is committed."""
    day = dt.date(2025, 3, 2)
    flagged = work / "vault/QY/QY-0004.yaml"
    tree = load_text(flagged.read_text("utf-8"))
    tree["custody"]["status"] = "damaged"
    tree["custody"]["inventory"] = "PD-0001"
    head = git(work, "rev-parse", "HEAD").strip()
    vault = Vault.open(work)
    clean = inventory.room_summary(vault, day, head)  # the work tree is HEAD's: its files read
    assert clean == inventory.room_summary(vault, day)
    flagged.write_text(dump(tree), "utf-8")  # in the work tree only: HEAD's blobs read
    assert inventory.room_summary(vault, day, head) == clean
    dirty = inventory.room_summary(vault, day)
    assert dirty != clean
    assert any(d["code"] == "QY-0004" for r in dirty for d in r["discrepancies"])
    git(work, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-am", "QY-0004 damaged")  # PD-0001 not filed
    now = git(work, "rev-parse", "HEAD").strip()
    assert inventory.room_summary(vault, day, now) == dirty
    (work / "vault/QY/QY-0004.yaml").unlink()  # gone from the work tree, not from HEAD
    assert inventory.room_summary(vault, day, now) == dirty


def test_the_rooms_of_a_new_commit_follow_those_of_the_last(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 26: `stats` asks for HEAD's rooms and flags after every commit; what was found
    for the last commit is followed along the files changed (no `git grep` of every record)
    and answers as the grep does: a room's only record moved to another room, a record
    flagged, a decoy whose literal block reads like a room and a flag, a new room. When
    every record kept as naming a room changed, the grep runs again."""
    vault = Vault.open(work)
    grep = inventory._custodies_of_rooms
    calls: list[str] = []

    def counted(vault: Vault, commit: str | None = None, kept: dict | None = None):
        calls.append(commit or "")
        return grep(vault, commit, kept)

    monkeypatch.setattr(inventory, "_custodies_of_rooms", counted)

    def pairs(found) -> list[tuple[str, dict]]:  # what room_summary reads: the code and its custody
        return [(str(code), custody) for code, _tree, custody in found]

    def commit(message: str) -> str:
        git(work, "add", "-A")
        git(work, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", message)
        return git(work, "rev-parse", "HEAD").strip()

    first = git(work, "rev-parse", "HEAD").strip()
    assert pairs(inventory._custodies_of_commit(vault, first)) == pairs(grep(vault, first))
    assert len(calls) == 1
    moved = work / "vault/QY/QY-0009.yaml"  # the only record of room B
    moved.write_text(moved.read_text("utf-8").replace(ROOM_B, "新檔案室"), "utf-8")
    flagged = work / "vault/QY/QY-0004.yaml"
    tree = load_text(flagged.read_text("utf-8"))
    tree["custody"].update(status="damaged", inventory="PD-0001")
    flagged.write_text(dump(tree), "utf-8")
    ok(dg(work, "new", "QY", "--set", "title=誘餌", "--set", "doc_type=business_licence",
          "--set", "certificate_no=320506000412877", "--set", "issuer=蘇州市市場監督管理局",
          "--set", "issued=2016-03-18", "--set", "notes=第一行\n  room: 不存在的庫房\n  status: missing\n末行",
          "--set", f"custody.room={ROOM_B}", "--set", "custody.form=paper", "--no-commit"))
    second = commit("moved, flagged, a decoy")
    followed = inventory._custodies_of_commit(vault, second)
    assert len(calls) == 1  # followed: no grep
    assert pairs(followed) == pairs(grep(vault, second))
    rooms = {found[2]["room"] for found in followed}
    assert {"新檔案室", ROOM_B} <= rooms and "不存在的庫房" not in rooms
    assert any(str(found[0]) == "QY-0004" and found[2]["status"] == "damaged" for found in followed)
    # the last record naming room A moves: followed, two kept namers left of the three
    kept = json.loads((work / ".git" / "dangan" / "cache" / inventory.ROOMS_CACHE).read_bytes())["trees"]
    namers = kept["namers"][ROOM_A]
    assert len(namers) == inventory.NAMERS and ROOM_A not in kept["complete"]

    def move(rel: str, room: str) -> None:
        path = work / rel
        path.write_text(path.read_text("utf-8").replace(f"room: {ROOM_A}", f"room: {room}"), "utf-8")

    move(namers[0], "第二檔案室")
    third = commit("the last of room A moved")
    assert pairs(inventory._custodies_of_commit(vault, third)) == pairs(grep(vault, third))
    assert len(calls) == 1
    # then the two left: older records still name room A, which only the grep knows
    for rel in namers[1:]:
        move(rel, "第二檔案室")
    fourth = commit("two more moved")
    assert pairs(inventory._custodies_of_commit(vault, fourth)) == pairs(grep(vault, fourth))
    assert len(calls) == 2 and calls[-1] == fourth  # grepped again
    assert ROOM_A in {found[2]["room"] for found in grep(vault, fourth)}
