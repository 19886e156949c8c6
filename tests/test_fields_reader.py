"""formats/fields.read: the compiled line reader answers as the Python one (issue 21).

`read` runs `_canon.fields`, the compiled copy of `fields._read_lines`, when the build made
it. These tests build record texts from the awkward cases (plain texts YAML reads otherwise,
quotes, comments, literal blocks, nested blocks and lists, repeated keys, a sops block, bytes
that are not UTF-8) and check that both give the same answer or raise the same error;
tests/fuzz_canon_asan.py runs the same comparison under the sanitizers.
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dangan.formats import fields
from dangan.formats.yamlio import _canon

pytestmark = pytest.mark.skipif(_canon is None, reason="the compiled reader is not built")

WANTED = frozenset({"status", "opened", "kind", "count"})
NESTED = frozenset({"custody", "received"})

SCALARS = ["active", "2025-03-01", "'quoted'", "'it''s'", "\"double\"", "null", "~", "12", "-3",
           "007", "1.5", "true", "false", "True", "a # b", "trailing ", "{}", "[]", "[a, b]",
           "&anchor x", "*alias", "!tag x", "'", "''", "電梯 維修", "'12'", "'null'", "x: y"]
KEYS = ["status", "opened", "kind", "count", "custody", "received", "notes", "code"]
CHILD_KEYS = ["room", "form", "by", "on", "Room", "pages", "電梯"]


def _outcome(read, data: bytes) -> object:
    try:
        return read(data, WANTED, NESTED)
    except (UnicodeDecodeError, ValueError) as error:
        return type(error)


def agrees(data: bytes) -> None:
    assert _outcome(_canon.fields, data) == _outcome(fields._read_lines, data)


@st.composite
def block(draw: st.DrawFn, indent: int) -> str:
    pad = " " * indent
    shape = draw(st.sampled_from(["mapping", "list", "literal"]))
    if shape == "literal":
        return "|\n" + "".join(f"{pad}{draw(st.sampled_from(['a', 'b: c', '- d']))}\n"
                               for _ in range(draw(st.integers(1, 2))))
    if shape == "list":
        return "\n" + "".join(f"{pad}{draw(st.sampled_from(['', '  ']))}- {draw(st.sampled_from(SCALARS[:6]))}\n" for _ in range(draw(st.integers(1, 2))))
    lines = []
    for key in draw(st.lists(st.sampled_from(CHILD_KEYS), min_size=1, max_size=3)):
        if draw(st.integers(0, 4)) == 0:
            lines.append(f"{pad}{key}:" + draw(block(indent + 2)))
        else:
            lines.append(f"{pad}{key}: {draw(st.sampled_from(SCALARS))}\n")
    return "\n" + "".join(lines)


@st.composite
def record(draw: st.DrawFn) -> bytes:
    lines = []
    for key in draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=6)):
        form = draw(st.integers(0, 5))
        if form == 0:
            lines.append(f"{key}:" + draw(block(2)))
        elif form == 1:
            lines.append(f"{key}:\n")
        else:
            lines.append(f"{key}: {draw(st.sampled_from(SCALARS))}\n")
    if draw(st.booleans()):
        lines.append("sops:\n  age:\n    - recipient: age1x\n  version: 3.9.0\n")
    return "".join(lines).encode()


@given(record())
def test_both_readers_answer_alike(data: bytes) -> None:
    agrees(data)


@given(st.lists(st.sampled_from(["status: x\n", "custody:\n", "  room: '01'\n", "  Room: a\n", "sops:\n",
                                 "  x: 1\n", "\n", "kind: \xe9\n", "opened:\n", "count: 1" + "0" * 5000 + "\n",
                                 "received: ''\n", "sops:x\n", "status:\n", " status: y\n", "\xff: 1\n"]), max_size=8),
       st.binary(max_size=30))
def test_line_soups_and_stray_bytes(lines: list[str], tail: bytes) -> None:
    agrees("".join(lines).encode("utf-8", "surrogateescape") + tail)


CANONICAL = (b"code: KF-A01-0001\nstatus: closed\nopened: '2025-03-01'\nkind: complaint\ncount: 3\n"
             b"custody:\n  room: A01-R1\n  form: paper\n  shelves:\n    - a\nreceived:\n  by: Lin\n  pages: 4\n"
             b"notes: |\n  one\n  two\nsops:\n  age:\n    - recipient: age1x\n  version: 3.9.0\n")


def test_a_canonical_record() -> None:
    expected = {"status": "closed", "opened": "2025-03-01", "kind": "complaint", "count": 3,
                "custody": {"room": "A01-R1", "form": "paper", "shelves": None}, "received": {"by": "Lin", "pages": 4}}
    assert fields._read_lines(CANONICAL, WANTED, NESTED) == expected
    assert _canon.fields(CANONICAL, WANTED, NESTED) == expected


@pytest.mark.parametrize("line", [b"status: null\n", b"status: a # b\n", b"count: 1.5\n", b"status: 'x'' y'\n",
                                  b"custody: {}\n", b"status: []\n", b"status: 'it''s'\n", b"status: x\nstatus: y\n",
                                  b"custody:\n  room: 'a\n", b"count: -007\n"])
def test_awkward_lines(line: bytes) -> None:
    agrees(b"code: KF-A01-0001\n" + line)


@pytest.mark.parametrize("text", [b"- code: KF-A01-0001\n- status: x\n", b"", b"status\n", b"status:x\nkind: y\n",
                                  b"\nstatus: x\n", b" status: x\n", b"# note\nstatus: x\n", b"'status': x\n",
                                  b"[status]\n", b"--- \nstatus: x\n", b":\n"])
def test_a_text_that_does_not_start_as_a_mapping_is_left_to_the_full_parser(text: bytes) -> None:
    # a list, a scalar or an odd start: not sure it is a record, so not {} (a record without
    # fields) but None: the caller parses it whole and finds whether it is one
    assert fields._read_lines(text, WANTED, NESTED) is None
    assert _canon.fields(text, WANTED, NESTED) is None


@pytest.mark.parametrize("text", [b"status: x\n", b"status:\n  x: 1\n", b"status:", b"code: a:b\n", b"Z9_ x: 1\n"])
def test_a_mapping_is_read(text: bytes) -> None:
    assert fields._read_lines(text, WANTED, NESTED) is not None
    agrees(text)
