"""`--json`'s layout (cli/base.py): the same document as json.dumps, its first two levels
indented, each value below them on one line."""
from __future__ import annotations

import json

import pytest

from dangan.cli.base import json_layout


@pytest.mark.parametrize("document", [
    {}, [], "檔案", 3, None, 2.5, {"a": {}}, {"a": []}, {"k": (1, 2)},
    {1: "int key", False: "bool key", None: "null key", 1.5: "float key"},
    {"gaps": [{"code": "WX-A01-0001", "what": "檔\u2028案", "n": [1, {"x": None}]}], "counts": {"late": 1}},
])
def test_the_same_document(document: object) -> None:
    assert json.loads(json_layout(document)) == json.loads(json.dumps(document))


def test_two_levels_indented_the_rest_on_one_line() -> None:
    text = json_layout({"counts": {"late": 1}, "gaps": [{"kind": "late", "code": "WX-A01-0001", "extra": [1, 2]}]})
    assert text.splitlines() == [
        "{",
        '  "counts": {',
        '    "late": 1',
        "  },",
        '  "gaps": [',
        '    {"kind": "late", "code": "WX-A01-0001", "extra": [1, 2]}',
        "  ]",
        "}",
    ]


def test_a_value_json_cannot_write_is_refused_and_the_next_is_written() -> None:
    with pytest.raises(TypeError):
        json_layout({"a": {"b": {"c": object()}}})
    assert json_layout({"a": {"b": {"c": 1}}}) == '{\n  "a": {\n    "b": {"c": 1}\n  }\n}'
