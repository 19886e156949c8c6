"""The one renderer of findings (formats/findings.py) and the one HTML helper (formats/html.py).

The outputs themselves are compared end to end elsewhere (test_cli_check.py: the CLI;
test_hooks.py: the hooks; test_warm.py: the warm check against the click path); here: the
two shapes of a finding render alike, and the renderer stays importable by the warm check.
"""
from __future__ import annotations

import json
import subprocess
import sys

from dangan.formats import findings as shown
from dangan.formats import html
from dangan.rules.check import CheckResult, Finding

FOUND = [
    Finding("vault/b.yaml", "DG113", "not in canonical form"),
    Finding("vault/a.yaml", "DG104", "stray file"),
    Finding("vault/a.yaml", "DG102", "title: '翠湖' is too long"),
]


def test_a_finding_and_its_remembered_triple_render_the_same() -> None:
    triples = [[f.path, f.rule, f.message] for f in FOUND]  # as the quick note keeps them
    text = shown.check_text(3, FOUND)
    assert text == shown.check_text(3, triples) == (
        "vault/a.yaml: DG102 title: '翠湖' is too long\n"
        "vault/a.yaml: DG104 stray file\n"
        "vault/b.yaml: DG113 not in canonical form\n"
        "3 file(s) checked, 3 findings\n")
    assert shown.document(3, FOUND) == shown.document(3, triples)
    assert [f.line() for f in sorted(FOUND)] == shown.lines(triples)


def test_the_summary_counts_in_english() -> None:
    assert shown.check_text(0, []) == "0 file(s) checked, 0 findings\n"
    assert shown.check_text(1, FOUND[:1]).endswith("\n1 file(s) checked, 1 finding\n")


def test_the_json_document_keeps_its_shape_and_order() -> None:
    document = CheckResult(checked=2, findings=list(FOUND)).to_json()
    assert list(document) == ["ok", "checked", "findings"]
    assert document["ok"] is False and document["checked"] == 2
    assert [list(f) for f in document["findings"]] == [["path", "rule", "message"]] * 3
    assert [f["rule"] for f in document["findings"]] == ["DG102", "DG104", "DG113"]
    assert CheckResult(checked=5).to_json() == {"ok": True, "checked": 5, "findings": []}
    json.dumps(document, ensure_ascii=False)  # plain data


def test_a_hook_refuses_with_the_lines_and_one_last_line() -> None:
    assert shown.refusal_text("commit", []) == ""
    text = shown.refusal_text("push", FOUND)
    assert text.splitlines() == [*shown.lines(FOUND),
                                 "dangan: push refused: 3 finding(s); fix them and retry"]


def test_the_renderer_is_the_standard_library_alone() -> None:
    """The warm check (store/quick.py) imports it: it may load no other part of dangan than
    the interface language (dangan.i18n, the standard library alone too)."""
    code = ("import sys, dangan.formats.findings; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('dangan'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["dangan", "dangan.formats", "dangan.formats.findings", "dangan.formats.terminal",
                           "dangan.i18n"]


# ------------------------------------------------------------------ HTML

def test_every_value_is_escaped_quotes_too() -> None:
    assert html.esc(None) == "" and html.esc(0) == "0"
    assert html.esc('<a href="x">it\'s & 翠湖</a>') == "&lt;a href=&quot;x&quot;&gt;it&#x27;s &amp; 翠湖&lt;/a&gt;"


def test_a_table_escapes_headers_and_cells_not_the_row_tail() -> None:
    out = html.table(["a<b", None], [["<script>", 1], [None, "x&y"]], row_tail='<td class="fill"></td>')
    assert out == ("<table><thead><tr><th>a&lt;b</th><th></th></tr></thead><tbody>"
                   '<tr><td>&lt;script&gt;</td><td>1</td><td class="fill"></td></tr>'
                   '<tr><td></td><td>x&amp;y</td><td class="fill"></td></tr></tbody></table>')
    assert "<script>" not in out


def test_the_three_pages_take_their_escaping_from_the_one_helper() -> None:
    """No HTML producer escapes on its own any more (the helper is the one place to fix)."""
    from conftest import REPO

    producers = ["report/dashboard.py", "report/diffpage.py", "services/inventory.py"]
    for rel in producers:
        source = (REPO / "tools" / "dangan" / rel).read_text("utf-8")
        assert "from dangan.formats.html import" in source, rel
        assert "html.escape" not in source and "import html" not in source, rel
        assert "Content-Security-Policy\\" not in source, rel  # the policy is html.CSP
