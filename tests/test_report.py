"""`dangan report`: one self-contained HTML page with every indicator, rendered by Chromium."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run_cli, screenshot
from test_stats import AS_OF, bulk, commit_files, complaint, dated, ok

from dangan.formats import agekeys
from dangan.report import dashboard

HOSTILE = "<script>alert(1)</script> & \"quoted\""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("report")
    root = base / "vault"
    people = []
    for name in ("陳立新", "張敏"):
        people += ["--recipient", f"{name}={agekeys.generate_identity()[1]}"]
    ok(run_cli(["init", str(root), "--name", "統計測試 <b>", *people], env=dated("2025-01-01T09:00:00+08:00")))
    hostile = complaint("TS-A01-02-0009", "2025-06-25T10:00:00+08:00", "open", title=HOSTILE)
    commit_files(root, [*bulk(), hostile], "2025-06-29T12:00:00+08:00", "records")
    out = base / "report.html"
    result = ok(run_cli(["-C", str(root), "report", "--out", str(out), "--as-of", AS_OF]))
    assert str(out) in result.err
    return out, out.read_text("utf-8")


def test_page_has_every_indicator(page: tuple[Path, str]) -> None:
    _, html = page
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for heading in dashboard.HEADINGS.values():
        if heading == dashboard.HEADINGS["inventory"]:
            continue  # present only when dangan.services.inventory is installed (below)
        assert f"<h2>{heading.replace('&', '&amp;')}</h2>" in html, heading
    assert "2025-06-30" in html and "統計測試 &lt;b&gt;" in html
    assert html.count("<svg") >= 10  # charts are drawn, not just tables
    for code in ("TS-A01-02-0002", "SB-A01-02-0002", "JY-0001", "HJ-A01-0002", "BQ-0001"):
        assert code in html, code  # the list indicators are tables with the codes


def test_inventory_section_when_available(page: tuple[Path, str]) -> None:
    assert dashboard.HEADINGS["inventory"] in page[1]


def test_page_is_self_contained_and_escaped(page: tuple[Path, str]) -> None:
    _, html = page
    assert "default-src 'none'" in html
    for banned in ("http://", "https://", "<script", "<link", "<img", "@import", "<iframe", "<object"):
        assert banned not in html, banned
    assert re.findall(r"url\((?!#)", html) == []  # only clip paths within the page: url(#id)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;" in html
    ids = re.findall(r'\sid="([^"]+)"', html)
    clip_ids = [i for i in ids if i.startswith("p") and len(i) > 8]
    assert len(clip_ids) == len(set(clip_ids))  # charts do not share clip-path ids


def test_renders_in_chromium(page: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = page
    shot = tmp_path / "report.png"
    console = screenshot(out, shot, height=2400)
    assert shot.stat().st_size > 20_000
    assert console == [], console
    from PIL import Image  # matplotlib's own dependency

    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # not one blank colour: text and charts


def test_a_simplified_report_renders_in_chromium(page: tuple[Path, str], tmp_path: Path) -> None:
    """Issue 24 part 1: with --lang zh-Hans the report's headings, tiles, columns and notes are
    simplified Chinese, statuses shown by their labels, the records' values as stored; Chromium
    renders it and its DOM holds the Chinese headings."""
    import subprocess

    from conftest import CHROMIUM

    from dangan import i18n

    root = page[0].parent / "vault"
    out = tmp_path / "报表.html"
    ok(run_cli(["--lang", "zh-Hans", "-C", str(root), "report", "--out", str(out), "--as-of", AS_OF]))
    html = out.read_text("utf-8")
    assert html.startswith('<!DOCTYPE html>\n<html lang="zh-Hans">')
    i18n.set_language("zh-Hans")
    try:
        headings = {key: i18n._(heading) for key, heading in dashboard.HEADINGS.items()}
    finally:
        i18n.set_language("en")
    assert headings["records_category"] == "各类档案数量" and headings["loans"] == "借出及逾期借阅"
    for heading in headings.values():
        assert f"<h2>{heading}</h2>" in html, heading
    for english in ("Records per", "open complaints", "archive report", "category 類別", "none 無"):
        assert english not in html, english
    assert "<th>状态</th>" in html and "<th>类别</th>" in html
    assert "<td>TS</td><td>已受理</td>" in html  # a status by its label, simplified
    assert "<td>BQ</td><td>生效中</td>" in html  # a hold's state (no schema label) by its catalog name
    assert "统计测试 &lt;b&gt;" not in html and "統計測試 &lt;b&gt;" in html  # the vault's name as stored
    console = screenshot(out, tmp_path / "report.png", height=2400)
    assert console == [], console
    dom = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          f"--user-data-dir={tmp_path / 'dom-profile'}", "--dump-dom", out.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for heading in headings.values():
        assert f"<h2>{heading}</h2>" in dom.stdout, heading


def test_report_errors(tmp_path: Path) -> None:
    missing = run_cli(["-C", str(tmp_path), "report", "--out", str(tmp_path / "r.html")])
    assert missing.code == 2 and missing.err.startswith("dangan: error:") and not (tmp_path / "r.html").exists()
    assert run_cli(["report"]).code == 2  # --out is required
