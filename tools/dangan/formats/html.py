"""HTML for the self-contained pages: the compliance diff (`report/diffpage.py`), the
statistics report (`report/dashboard.py`) and the inventory sheet (`services/inventory.py`).

One place that escapes (`esc`: every value taken from a record goes through it), builds the
tables the pages share (`table`) and says that a page loads and runs nothing (`CSP`). It
lives in `formats`, not in `report`, because a service (the inventory sheet) may not import
the layer above it.
"""
from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

# A page loads nothing and runs no script; inline styles only.
CSP = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"


def esc(value: Any) -> str:
    """`value` as HTML text: None is empty, anything else its str(), with &, <, > and both
    quotes escaped (so the result may also stand inside an attribute's quotes)."""
    return html.escape("" if value is None else str(value), quote=True)


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], row_tail: str = "") -> str:
    """A table with a header row and one row per item of `rows`, every cell escaped.
    `row_tail` is HTML (not escaped) ending each row, e.g. empty cells to be filled in by hand."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + row_tail + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
