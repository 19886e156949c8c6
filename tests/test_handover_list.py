"""`dangan handover list` (docs/handover.md step 1): the 移交清冊 of a prefix as committed,
as a text table, CSV, JSON and a printable HTML page with signature lines.

The vault is test_handover_record's: project A02 (three records, one with a 12-page paper
original, one with a scan, one whose title holds HTML) is listed, A01 is not.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from conftest import git, screenshot, snapshot
from test_handover_record import (  # noqa: F401 (the fixtures)
    ARCHIVIST,
    DATES,
    HANDED,
    HJ2,
    RECORD,
    ROOM_A02,
    SB2,
    WORK_DAY,
    XM2,
    base,
    dg,
    exiting,
    key,
    ok,
    refused,
)

from dangan.model.codes import parse_code
from dangan.services.handover_ledger import COLUMNS


@pytest.fixture
def work(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    for name in DATES:
        monkeypatch.setenv(name, WORK_DAY)
    target = tmp_path / "vault"
    shutil.copytree(base, target, symlinks=True)
    return target


def blobs(root: Path) -> dict[str, str]:
    return {c: git(root, "rev-parse", f"HEAD:{parse_code(c).path}").strip() for c in HANDED}


def test_csv_lists_every_record_under_the_prefix_as_committed(base: Path, tmp_path: Path) -> None:  # noqa: F811
    state = snapshot(base)
    text = ok(dg(base, "handover", "list", "A02", "--format", "csv")).out
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [*COLUMNS, "blob"]
    assert [r["code"] for r in rows] == HANDED
    assert {r["code"]: r["blob"] for r in rows} == blobs(base)
    by = {r["code"]: r for r in rows}
    assert by[HJ2]["pages"] == "12" and by[HJ2]["room"] == ROOM_A02 and by[HJ2]["form"] == "paper"
    assert by[SB2]["attachments"] == "1" and by[SB2]["pages"] == "" and by[SB2]["box"] == "SB-DT"
    assert by[HJ2]["closed"] == "2020-05-20" and by[XM2]["category"] == "XM"
    out = tmp_path / "清冊.csv"
    done = ok(dg(base, "handover", "list", "A02", "--format", "csv", "--out", str(out)))
    assert out.read_bytes().startswith("\ufeff".encode()) and out.read_text("utf-8-sig") == text
    assert "3 record(s) under A02" in done.err
    assert snapshot(base) == state  # a list writes nothing in the vault


def test_json_counts_pages_and_attachments_and_names_the_project(base: Path) -> None:  # noqa: F811
    doc = json.loads(ok(dg(base, "handover", "list", "A02", "--format", "json")).out)
    assert doc["prefix"] == "A02" and doc["count"] == 3 and doc["pages"] == 12 and doc["attachments"] == 1
    assert doc["commit"] == git(base, "rev-parse", "HEAD").strip()
    assert doc["project"] == XM2 and doc["project_status"] == "active"
    assert [r["code"] for r in doc["records"]] == HANDED
    assert doc["records"][0]["paper"] == f"{ROOM_A02} / 01 / 2"
    assert doc["open_loans"] == {} and doc["holds"] == {} and doc["already_handed_over"] == {}
    part = json.loads(ok(dg(base, "handover", "list", "A02-02", "--format", "json")).out)
    assert [r["code"] for r in part["records"]] == [SB2] and part["project"] is None


def test_text_table_by_default(base: Path) -> None:  # noqa: F811
    done = ok(dg(base, "handover", "list", "A02"))
    lines = done.out.splitlines()
    assert lines[0].split("\t") == list(COLUMNS)
    assert [line.split("\t")[0] for line in lines[1:]] == HANDED


def test_html_is_printable_escaped_and_signed_by_four(base: Path, tmp_path: Path) -> None:  # noqa: F811
    page = ok(dg(base, "handover", "list", "A02", "--format", "html")).out
    assert "翠湖二期 &lt;b&gt;&amp;amp;&lt;/b&gt; 項目概況" in page and "<b>" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "@page{size:A4" in page and "@media print" in page
    signatures = page.split("</table>", 1)[1]
    for who in ("移交人", "接收人", "監交人", "日期"):
        assert f"<p>{who} " in signatures and "____" in signatures.split(who, 1)[1].split("</p>", 1)[0]
    assert page.count("<tr>") == len(HANDED) + 1
    assert "共 3 件, 紙質原件 12 頁, 附件 1 個" in page
    out = tmp_path / "清冊.html"
    ok(dg(base, "handover", "list", "A02", "--format", "html", "--out", str(out)))
    assert out.read_text("utf-8") == page
    console = screenshot(out, tmp_path / "清冊.png")
    assert console == []  # the page loads nothing and runs nothing


@pytest.mark.parametrize(("prefix", "fragments"), [
    ("A09", ["no record under A09", "projects: A01", "A02"]),
    ("a0", ["not a location prefix"]),
    ("", ["not of the company's own records"]),
])
def test_an_unknown_prefix_is_bad_input_with_a_hint(base: Path, prefix: str, fragments: list[str]) -> None:  # noqa: F811
    refused(dg(base, "handover", "list", prefix), 2, *fragments)


def test_loans_holds_and_handovers_are_named(work: Path) -> None:
    hold = ok(dg(work, "retention", "hold", HJ2, "--reason", "證據保全", "--by", ARCHIVIST,
                 "--at", "2025-02-01T09:00:00+08:00")).out.strip()
    loan = ok(dg(work, "lend", "request", SB2, "--borrower", "趙偉", "--department", "工程部", "--purpose", "年檢",
                 "--at", "2025-02-02T09:00:00+08:00")).out.strip()
    doc = json.loads(ok(dg(work, "handover", "list", "A02", "--format", "json")).out)
    assert doc["holds"] == {HJ2: [hold]} and doc["open_loans"] == {SB2: [loan]}
    text = ok(dg(work, "handover", "list", "A02"))
    assert f"{HJ2} is held by {hold}" in text.err and f"{SB2} is on open loan {loan}" in text.err
    ok(dg(work, "lend", "reject", loan, "--reason", "移交在即", "--by", ARCHIVIST, "--at", "2025-02-03T09:00:00+08:00"))
    exiting(work)
    ok(dg(work, "handover", "record", "A02-02", *RECORD))
    left = json.loads(ok(dg(work, "handover", "list", "A02", "--format", "json")).out)
    assert [r["code"] for r in left["records"]] == [HJ2, XM2]
    assert left["already_handed_over"] == {SB2: "YJ-0001"}
    refused(dg(work, "handover", "list", "A02-02"), 2, "handed over already (YJ-0001)")
