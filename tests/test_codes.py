"""Archive codes and their paths (docs/format.md §2)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dangan.errors import CodeError
from dangan.model.codes import (
    Code,
    Location,
    code_path,
    next_serial,
    parse_code,
    parse_location,
    path_to_code,
)

SPEC_TABLE = [
    ("YZ-A01-02-001-0301-0001", "vault/A01/02/001/0301/YZ/YZ-A01-02-001-0301-0001.yaml"),
    ("SB-A01-02-0003", "vault/A01/02/SB/SB-A01-02-0003.yaml"),
    ("HT-B02-0001", "vault/B02/HT/HT-B02-0001.yaml"),
    ("JY-0042", "vault/JY/JY-0042.yaml"),
]


@pytest.mark.parametrize("text,path", SPEC_TABLE)
def test_spec_examples(text: str, path: str) -> None:
    code = parse_code(text)
    assert code.path == path
    assert str(code) == text
    assert path_to_code(path) == code


def test_levels_and_property_type() -> None:
    assert parse_code("JY-0042").level == "company"
    assert parse_code("HT-B02-0001").level == "project"
    assert parse_code("SB-A01-02-0003").level == "building"
    assert parse_code("SB-A01-02-001-0003").level == "unit"
    assert parse_code("YZ-A01-02-001-0301-0001").level == "room"
    assert parse_code("HT-C07-0001").location.property_type == "industrial"


def test_serial_beyond_9999() -> None:
    code = parse_code("WX-A01-10000")
    assert code.serial == 10000 and str(code) == "WX-A01-10000"


BAD = [
    "yz-A01-0001",  # lower case
    "YZ-A1-0001",  # project width
    "YZ-A01-2-0001",  # building width
    "YZ-A01-02-01-0001",  # unit width
    "YZ-A01-02-001-301-0001",  # room width
    "YZ-A01-02-001-0301-0001-0001",  # extra segment
    "YZ-A00-0001",  # all-zero project
    "YZ-A01-00-0001",  # all-zero building
    "YZ-A01-02-000-0001",  # all-zero unit
    "YZ-A01-02-001-0000-0001",  # all-zero room
    "YZ-A01-0000",  # all-zero serial
    "YZ-A01-001",  # short serial
    "YZ-A01-00001",  # over-padded serial
    "YZ-E01-0001",  # property type not A-D
    "Y-0001",
    "YZZ-0001",
    "檔案-0001",  # non-ASCII
    "YZ-A01-０００１",  # full-width digits
    "../YZ-0001",
    "YZ/A01-0001",
    "YZ-A01-0001/../../etc",
    "YZ-A01-0001 ",
    "",
    "-",
    "YZ-" + "0" * 100 + "1",  # very long
    "YZ--0001",
    "YZ-A01-0001\n",
]


@pytest.mark.parametrize("text", BAD)
def test_malformed_codes_are_rejected_with_the_input_quoted(text: str) -> None:
    with pytest.raises(CodeError) as info:
        parse_code(text)
    message = info.value.message
    assert message and "\n" not in message
    if 0 < len(text) <= 40 and text.isprintable():
        assert repr(text) in message  # names the offending input


def test_path_must_be_the_derived_path() -> None:
    with pytest.raises(CodeError):
        path_to_code("vault/A01/SB/SB-A01-02-0003.yaml")
    with pytest.raises(CodeError):
        path_to_code("vault/A01/02/SB/SB-A01-02-0003.yml")
    with pytest.raises(CodeError):
        path_to_code("records/A01/02/SB/SB-A01-02-0003.yaml")


def test_location_prefix_containment() -> None:
    a01 = parse_location("A01")
    assert a01.contains(parse_location("A01-02-001"))
    assert not a01.contains(parse_location("A02-02"))
    assert parse_location("").contains(a01)


def test_next_serial_never_reuses() -> None:
    assert next_serial(set()) == 1
    assert next_serial({1, 2, 7}) == 8


# ---------------------------------------------------------------- properties

categories = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)


@st.composite
def codes(draw: st.DrawFn) -> Code:
    depth = draw(st.integers(0, 4))
    parts: list[str] = []
    if depth >= 1:
        parts.append(draw(st.sampled_from("ABCD")) + f"{draw(st.integers(1, 99)):02d}")
    if depth >= 2:
        parts.append(f"{draw(st.integers(1, 99)):02d}")
    if depth >= 3:
        parts.append(f"{draw(st.integers(1, 999)):03d}")
    if depth >= 4:
        parts.append(f"{draw(st.integers(1, 9999)):04d}")
    return Code(draw(categories), Location(tuple(parts)), draw(st.integers(1, 10**7)))


@given(codes())
def test_code_text_path_round_trip(code: Code) -> None:
    assert parse_code(str(code)) == code
    assert path_to_code(code.path) == code
    assert code.path == "/".join(["vault", *code.location.parts, code.category, f"{code}.yaml"])  # format.md §2


@given(codes(), codes())
def test_distinct_codes_have_distinct_paths(a: Code, b: Code) -> None:
    assert (a == b) == (a.path == b.path)
    assert (a == b) == (str(a) == str(b))


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_code_error(text: str) -> None:
    try:
        code = parse_code(text)
    except CodeError:
        return
    assert str(code) == text  # anything accepted is already in its one canonical spelling


_CODE_LIKE = st.text(alphabet="ABCDYZ0123456789-", max_size=30)


@given(st.one_of(_CODE_LIKE, codes().map(str), st.text(max_size=30)))
def test_fast_path_agrees_with_the_full_parser(text: str) -> None:
    """parse_code's one-regex fast path accepts exactly what the part-by-part parser does."""
    from dangan.model.codes import _parse_code_slowly

    def outcome(parse):  # type: ignore[no-untyped-def]
        try:
            return parse(text)
        except CodeError:
            return "refused"

    assert outcome(parse_code) == outcome(_parse_code_slowly)
    path = outcome(code_path)
    assert path == (outcome(parse_code).path if path != "refused" else "refused")  # DG108's shortcut
