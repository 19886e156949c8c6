"""`dangan ls --search` and the `--where` operators: clear values only, never ciphertext or
sensitive fields; every search term must match (AND); case- and width-insensitive."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from conftest import run_cli, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from dangan.formats.agekeys import generate_identity
from dangan.formats.yamlio import dump
from dangan.model.query import Search, clear_values, fold

HEADER = ["location", "title", "kind", "channel", "received_at", "subject", "description",
          "complainant.name", "complainant.phone", "satisfaction"]
ROWS = [
    ["A01-02-001-0301", "2棟301室投訴樓上裝修噪音", "complaint", "phone", "2024-03-02T09:00:00+08:00",
     "noise", "樓上401室週末裝修，電鑽聲很大。", "林曉東", "138-0000-1234", "2"],
    ["A01-02-001-0301", "2棟301室建議增加電梯維保公示", "suggestion", "app", "2024-05-10T14:30:00+08:00",
     "elevator", "希望每月公示電梯維保記錄。Elevator log please", "何靜", "139-0000-5678", "4"],
    ["A01-03-001-0101", "3棟101室投訴電梯異響", "complaint", "visit", "2025-01-15T08:00:00+08:00",
     "elevator", "電梯運行時有異響，影響休息。", "王小明", "137-0000-9999", "5"],
    ["B01-01-001-0201", "星河廣場 ABC 店鋪諮詢停車", "enquiry", "wechat", "2023-12-31T23:59:00+08:00",
     "parking", "詢問月租車位價格（地下一層）。", "趙六", "136-0000-0001", ""],
]
# the codes, in file order, that the import gives those rows
CODES = ["TS-A01-02-001-0301-0001", "TS-A01-02-001-0301-0002", "TS-A01-03-001-0101-0001",
         "TS-B01-01-001-0201-0001"]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vault with a recipient and four complaints (complainants encrypted). Tests only read."""
    tmp = tmp_path_factory.mktemp("ls")
    _, public = generate_identity()
    root = tmp / "vault"
    assert run_cli(["init", str(root), "--recipient", f"張敏={public}"]).code == 0
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(ROWS)
    sheet = tmp / "ts.csv"
    sheet.write_text(out.getvalue(), encoding="utf-8")
    result = run_cli(["-C", str(root), "import", "TS", str(sheet), "--json"])
    assert result.code == 0, result
    assert json.loads(result.out)["codes"] == CODES
    return root


def ls(root: Path, *args: str) -> list[dict]:
    result = run_cli(["-C", str(root), "ls", *args, "--json"])
    assert result.code == 0, result
    return json.loads(result.out)


def codes(root: Path, *args: str) -> list[str]:
    return [item["code"] for item in ls(root, *args)]


def test_search_terms_must_all_match(filled: Path) -> None:
    assert codes(filled, "--search", "電梯") == CODES[1:3]
    assert codes(filled, "--search", "電梯 異響") == [CODES[2]]
    assert codes(filled, "--search", "電梯 停車") == []  # AND: no record has both
    # terms may match different fields: 維保 in the title, 公示 in the description too
    found = ls(filled, "--search", "維保 每月")
    assert [f["code"] for f in found] == [CODES[1]]
    assert found[0]["matched"] == ["title", "description"]


def test_search_ignores_case_and_width(filled: Path) -> None:
    assert codes(filled, "--search", "abc") == [CODES[3]]
    assert codes(filled, "--search", "ＡＢＣ") == [CODES[3]]  # full-width letters
    assert codes(filled, "--search", "elevator LOG") == [CODES[1]]
    assert codes(filled, "--search", "(地下一層)") == [CODES[3]]  # the text has full-width （）


def test_search_and_where_take_simplified_and_traditional_alike(filled: Path) -> None:
    """Issue 24 part 2: the records are written in traditional characters; 电梯 (simplified)
    finds what 電梯 finds, mixed spellings too, and the results show the text as stored."""
    assert codes(filled, "--search", "电梯") == codes(filled, "--search", "電梯") == CODES[1:3]
    assert codes(filled, "--search", "电梯 異响") == [CODES[2]]  # one term in each script, mixed
    found = ls(filled, "--search", "维保 每月")
    assert [f["code"] for f in found] == [CODES[1]] and found[0]["matched"] == ["title", "description"]
    assert found[0]["title"] == "2棟301室建議增加電梯維保公示"  # shown as stored
    assert codes(filled, "--search", "广场 abc") == [CODES[3]]
    assert codes(filled, "--where", "title~电梯") == CODES[1:3]
    assert codes(filled, "--where", "title=3栋101室投诉电梯异响") == [CODES[2]]
    assert codes(filled, "--where", "title!=3栋101室投诉电梯异响") == [CODES[0], CODES[1], CODES[3]]
    # the sensitive values stay out of reach in either script (林晓东 is 林曉東 simplified)
    assert codes(filled, "--search", "林晓东") == []
    assert codes(filled, "--where", "complainant.name=林晓东") == []


def test_script_folding_of_archive_words() -> None:
    """OpenCC's t2s on the words of an archive: each pair folds to one text, and the
    many-to-one characters fold where a simplified writer expects them."""
    from dangan.model import script

    for trad, simp in [("電梯", "电梯"), ("檔案室", "档案室"), ("總部", "总部"), ("翠湖花園", "翠湖花园"),
                       ("業主", "业主"), ("裡", "里"), ("發", "发"), ("後", "后"), ("髮", "发")]:
        assert script.fold(trad) == script.fold(simp) == simp, trad
        assert script.same(trad, simp)
    assert not script.same("電梯", "扶梯")
    assert script.fold("ABC 123") == "ABC 123"
    assert script.matching("总部档案室", ["總部檔案室", "分部檔案室"]) == ["總部檔案室"]
    assert script.nearest("总部档案", ["總部檔案室", "財務室"]) == ["總部檔案室"]


def test_a_term_written_as_stored_matches_where_opencc_converts_phrases() -> None:
    """OpenCC converts 乾 alone to 干 but keeps 乾隆: a term as the record writes it must
    still match (the search also compares the text as typed)."""
    tree = {"title": "乾隆年間檔案"}
    for term in ("乾", "乾隆", "干", "档案"):
        search = Search.parse(term)
        assert search.matched(tree, frozenset()) == (None if term == "干" else ["title"]), term
        assert search.may_match(dump(tree)) or term == "干", term


def test_search_sees_codes_enums_and_dates(filled: Path) -> None:
    assert codes(filled, "--search", "B01-01") == [CODES[3]]
    assert codes(filled, "--search", "suggestion") == [CODES[1]]
    assert codes(filled, "--search", "2025-01") == [CODES[2]]


def test_search_never_matches_sensitive_or_encrypted_values(filled: Path) -> None:
    for secret in ("林曉東", "何靜", "138-0000-1234", "0000"):
        assert codes(filled, "--search", secret) == [], secret
    # a piece of a ciphertext that is really in the file is not searchable either
    text = (filled / "vault/A01/02/001/0301/TS/TS-A01-02-001-0301-0001.yaml").read_text("utf-8")
    cipher = re.search(r"ENC\[AES256_GCM,data:([A-Za-z0-9+/]{8})", text)
    assert cipher is not None
    assert codes(filled, "--search", cipher.group(1)) == []
    assert codes(filled, "--search", "AES256_GCM") == []


def test_a_sensitive_value_wrongly_in_clear_is_not_searchable(filled: Path, tmp_path: Path) -> None:
    """Even a record written by hand with the complainant in clear (check reports it) is
    not found by its sensitive values, and the shortcut on raw text does not change that."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(filled, root, symlinks=True)
    path = root / "vault/A01/03/001/0101/TS/TS-A01-03-001-0101-0002.yaml"
    path.write_text(dump({
        "code": "TS-A01-03-001-0101-0002", "category": "TS", "title": "手寫記錄", "status": "open",
        "opened": "2024-01-01", "kind": "complaint", "channel": "phone", "received_at": "2024-01-01T08:00:00+08:00",
        "subject": "noise", "description": "x", "complainant": {"name": "明文姓名", "phone": "138-1111-2222"},
    }), encoding="utf-8")
    assert codes(root, "--search", "明文姓名") == []
    assert codes(root, "--search", "138-1111") == []
    assert codes(root, "--search", "手寫") == ["TS-A01-03-001-0101-0002"]
    # nor by a comparison (issue 19: `=` used to match the clear value)
    assert codes(root, "--where", "complainant.name=明文姓名") == []
    assert codes(root, "--where", "complainant.phone!=x") == []
    assert codes(root, "--where", "title=手寫記錄") == ["TS-A01-03-001-0101-0002"]


def test_where_operators(filled: Path) -> None:
    assert codes(filled, "--where", "subject=elevator") == CODES[1:3]  # = unchanged: exact
    assert codes(filled, "--where", "subject=eleva") == []
    assert codes(filled, "--where", "subject!=elevator") == [CODES[0], CODES[3]]
    assert codes(filled, "--where", "title~電梯") == CODES[1:3]
    assert codes(filled, "--where", "title~ＡＢＣ") == [CODES[3]]
    assert codes(filled, "--where", "received_at>=2024-05-10") == CODES[1:3]  # the day counts
    assert codes(filled, "--where", "received_at<2024-01-01") == [CODES[3]]
    assert codes(filled, "--where", "received_at<=2024-03-02") == [CODES[0], CODES[3]]
    assert codes(filled, "--where", "satisfaction>=4") == CODES[1:3]  # numbers as numbers
    assert codes(filled, "--where", "satisfaction<10") == CODES[:3]  # no value: no match
    assert codes(filled, "--where", "received_at>=2024-01-01", "--where", "title~投訴") == CODES[0:3:2]
    assert codes(filled, "--search", "電梯", "--location", "A01-03") == [CODES[2]]


@pytest.mark.parametrize("where", ["complainant.name~林", "complainant.phone>=1", "complainant~x"])
def test_where_refuses_to_compare_sensitive_fields(filled: Path, where: str) -> None:
    before = snapshot(filled)
    result = run_cli(["-C", str(filled), "ls", "--where", where])
    assert result.code == 2, result
    assert "sensitive" in result.err and "Traceback" not in result.err
    assert snapshot(filled) == before


@pytest.mark.parametrize("args,says", [
    (["--search", "   "], "--search needs some text"),
    (["--where", "title>="], "nothing to compare"),
    (["--where", "noequals"], "noequals"),
    (["--where", "=x"], "=x"),
    (["--where", "opened>=2025-02-30"], "2025-02-30 is not a day of the calendar"),  # issue 24
    (["--where", "closed=2024-13-01"], "2024-13-01 is not a day of the calendar"),
])
def test_bad_queries(filled: Path, args: list[str], says: str) -> None:
    result = run_cli(["-C", str(filled), "ls", *args])
    assert result.code == 2 and says in result.err, result
    assert "hint: " in result.err


@pytest.mark.parametrize("args,says", [
    (["--category", "SB", "--status", "in_servce"], "no status 'in_servce' in SB records; did you mean in_service"),
    (["--status", "bogus"], "no status 'bogus' in any category; known: "),
    (["--category", "SB", "--where", "sytem=elevator"],
     "no field 'sytem' in SB records; did you mean system? (`dangan fields SB` lists them)"),
    (["--where", "nosuchfield=1"], "no field 'nosuchfield' in any category"),
])
def test_a_filter_no_schema_knows_is_a_warning_with_the_nearest_names(filled: Path, args: list[str],
                                                                      says: str) -> None:
    """An empty listing alone would not say the filter can match nothing (issue 24, part 4)."""
    result = run_cli(["-C", str(filled), "ls", *args])
    assert result.code == 0 and result.out == "", result
    assert result.err.startswith("dangan: warning: ") and says in result.err, result


def test_known_filters_warn_of_nothing(filled: Path) -> None:
    result = run_cli(["-C", str(filled), "ls", "--category", "SB", "--status", "in_service", "--where",
                      "custody.room~檔案", "--where", "opened>=2024-02-29"])
    assert result.code == 0 and "warning" not in result.err, result


def test_json_without_search_is_unchanged(filled: Path) -> None:
    item = ls(filled, "--category", "TS")[0]
    assert set(item) == {"code", "category", "title", "status", "opened", "closed", "path"}


# ----------------------------------------------------- the raw-text shortcut is sound

# what record values hold: CJK, full-width forms, quotes, YAML specials, spaces, newlines
_ALPHABET = "aZ09-_電梯维保號ＡＢ１（）：，'\"#:&*!|>%@` \n\t\\é乾隆干發后後裡"
_text = st.one_of(st.text(_ALPHABET, min_size=1, max_size=30), st.text(min_size=1, max_size=10))


@settings(max_examples=150, deadline=None)
@given(values=st.lists(_text, min_size=1, max_size=4), pick=st.data())
def test_the_raw_text_shortcut_never_hides_a_match(values: list[str], pick) -> None:
    """Whatever a value holds (quotes, escapes, full-width forms, YAML specials), a term
    taken from it passes `may_match` on the dumped file: the shortcut only skips files
    that cannot match."""
    tree = {"code": "TS-A01-0001", "category": "TS", "items": [{"note": v} for v in values], "title": values[0]}
    raw = dump(tree)
    folded = [fold(text) for _, text in clear_values(tree, frozenset())]
    words = [w for text in folded for w in text.split()]
    if not words:
        return
    word = pick.draw(st.sampled_from(words))
    start = pick.draw(st.integers(0, len(word) - 1))
    term = word[start:pick.draw(st.integers(start + 1, len(word)))]
    search = Search.parse(term)
    if search.matched(tree, frozenset()) is not None:
        assert search.may_match(raw), (term, raw)


def _on_a_terminal(args: list[str]) -> str:
    """stdout of the installed dangan run on a pseudo-terminal, as a person sees it."""
    import os
    import pty
    import subprocess

    from conftest import DANGAN_BIN, drain_pty

    main, side = pty.openpty()
    try:
        proc = subprocess.Popen([str(DANGAN_BIN), *args], stdout=side, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        os.close(side)
        shown = drain_pty(main)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(main)
    return shown.decode("utf-8").replace("\r\n", "\n")


def test_on_a_terminal_ls_is_a_table_and_to_a_pipe_tab_separated(filled: Path) -> None:
    """Issue 24 part 4: a header and columns aligned for CJK text (two columns a character)
    on a terminal; the tab-separated lines scripts read, without a header, otherwise."""
    from dangan.formats.terminal import width

    piped = run_cli(["-C", str(filled), "ls"]).out.splitlines()
    table = _on_a_terminal(["-C", str(filled), "ls"]).splitlines()
    assert table[0].split() == ["code", "category", "title", "status", "opened", "closed"]
    assert len(table) == len(piped) + 1 and "\t" not in "".join(table)
    status_at = width(table[0][: table[0].index("status")])
    for line, tsv in zip(table[1:], piped, strict=True):
        cells = tsv.split("\t")
        assert line.startswith(cells[0]) and cells[2] in line
        # the status column starts at the same terminal column on every line
        assert width(line[: line.index(cells[3], len(cells[0]) + len(cells[2]))]) == status_at


def test_csv_listing_has_a_header_and_rfc4180_quoting(filled: Path, tmp_path: Path) -> None:
    """Issue 24 part 4: `--format csv` gives a header line and rows the csv module reads back
    to the same cells as the JSON; a comma, a quote or a line break quotes a cell; a cell a
    spreadsheet would evaluate gets export's `'`; `--format json` is `--json`."""
    import shutil

    plain = run_cli(["-C", str(filled), "ls", "--format", "csv"])
    assert plain.code == 0, plain
    table = list(csv.reader(io.StringIO(plain.out)))
    assert table[0] == ["code", "category", "title", "status", "opened", "closed"]
    assert [r[:4] for r in table[1:]] == [[i["code"], i["category"], i["title"], i["status"]] for i in ls(filled)]
    assert run_cli(["-C", str(filled), "ls", "--format", "json"]).out == run_cli(["-C", str(filled), "ls", "--json"]).out

    root = tmp_path / "copy"
    shutil.copytree(filled, root, symlinks=True)
    made = []
    for serial, title in ((2, '噪音, "週末"\n裝修'), (3, "=HYPERLINK(1)")):
        code = f"TS-A01-03-001-0101-{serial:04d}"
        (root / f"vault/A01/03/001/0101/TS/{code}.yaml").write_text(dump({
            "code": code, "category": "TS", "title": title, "status": "open", "opened": "2024-01-01",
            "kind": "complaint", "channel": "phone", "received_at": "2024-01-01T08:00:00+08:00",
            "subject": "noise", "description": "x"}), encoding="utf-8")
        made.append(code)
    out = run_cli(["-C", str(root), "ls", "--format", "csv", "--location", "A01-03"]).out
    assert out.split("\n")[2:5] == [f'{made[0]},TS,"噪音, ""週末""', '裝修",open,2024-01-01,',
                                    f"{made[1]},TS,'=HYPERLINK(1),open,2024-01-01,"]
    rows = list(csv.reader(io.StringIO(out)))
    assert [r[2] for r in rows[2:]] == ['噪音, "週末"\n裝修', "'=HYPERLINK(1)"]
    tsv = run_cli(["-C", str(root), "ls", "--location", "A01-03"]).out  # the pipe's default: unchanged
    assert tsv.splitlines()[1].split("\t")[:3] == [made[0], "TS", '噪音, "週末"\\x0a裝修']


def test_recipients_ls_as_csv(filled: Path) -> None:
    """The same --format for every listing: recipients ls gives the header and its one row."""
    out = run_cli(["-C", str(filled), "recipients", "ls", "--format", "csv"])
    assert out.code == 0, out
    rows = list(csv.reader(io.StringIO(out.out)))
    assert rows[0] == ["name", "roles", "categories", "key"]
    doc = json.loads(run_cli(["-C", str(filled), "recipients", "ls", "--format", "json"]).out)
    assert [r[0] for r in rows[1:]] == [r["name"] for r in doc] == ["張敏"]
    assert rows[1][3] == doc[0]["key"] and rows[1][3].startswith("age1")


@pytest.mark.parametrize(("args", "loaded"), [(["ls", "--category", "TS"], False),
                                              (["ls", "--where", "subject=noise"], False),
                                              (["ls", "--search", "电梯"], True)])
def test_opencc_is_loaded_only_to_compare_chinese_text(filled: Path, args: list[str], loaded: bool) -> None:
    """The converter costs ~25 ms to load: a command that compares no Chinese text never
    imports it (a fresh interpreter each, so other tests cannot have loaded it)."""
    import subprocess
    import sys

    program = ("import sys\nfrom dangan.entry import main\ncode = main(sys.argv[1:])\n"
               "sys.stderr.write(f'opencc={\"opencc\" in sys.modules} code={code}')\n")
    done = subprocess.run([sys.executable, "-c", program, "-C", str(filled), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.stderr.endswith(f"opencc={loaded} code=0"), done.stderr


def test_a_listing_says_how_far_it_has_read_on_a_terminal(filled: Path) -> None:
    """Issue 24 part 4: `ls` (a search of 100,000 files takes seconds) counts the files it
    has read on one stderr line on a terminal, cleared at the end; a pipe sees nothing."""
    from conftest import on_a_terminal

    piped = run_cli(["-C", str(filled), "ls", "--search", "電梯"])
    assert piped.code == 0 and piped.err == "", piped
    code, out, shown = on_a_terminal(filled, "ls", "--search", "電梯")
    assert code == 0 and out == piped.out
    assert re.search(r"\rls: [0-9,]+ files read…", shown), shown
    assert shown.endswith("\r"), shown  # the line is cleared at the end
