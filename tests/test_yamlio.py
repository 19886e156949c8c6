"""Record text: the two readers agree, the canonical form round-trips, DG101 inputs fail."""
from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dangan.formats import yamlio
from dangan.formats.yamlio import YamlError, load_roundtrip, load_text

# ------------------------------------------------------------------ strategies

keys = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
    st.sampled_from(["title", "status", "yes", "no", "on", "null", "true", "y", "01", "12:30"]),
)
tricky_strings = st.sampled_from(
    [
        "", " ", "yes", "no", "on", "off", "y", "n", "true", "True", "null", "~", "NULL", "1",
        "01", "0o17", "0x1F", "1_000", "1e3", ".inf", ".nan", "12:30", "2024-01-01",
        "2024-02-30", "2024-01-01T10:00:00+08:00", "+86 138-0000-0000", "13800000000",
        "a: b", "a #b", "#x", "- x", "[x]", "{x}", "&a", "*a", "!t", "|", ">", "'", '"', "%",
        "@", "`", "=", "<<", "---", "...", "中文", "翠湖花園 2棟", "ENC[AES256_GCM,data:abc=,iv:a,tag:b,type:str]",
        "line1\nline2", "line1\nline2\n", "trailing \nspace", "\ttab", "a\u2028b", "\u00a0", "é",
        "x" * 300,
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    tricky_strings,
    st.text(max_size=30),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=20,
)
records = st.dictionaries(keys, trees, min_size=1, max_size=6)


def same(a: object, b: object) -> bool:
    """Equality that also tells floats from ints and bools (1 == 1.0 == True in Python)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)  # type: ignore[arg-type]
    return a == b


# ------------------------------------------------------------------ properties

@given(records)
def test_dump_then_roundtrip_reader_gives_the_tree_back(tree: dict) -> None:
    text = yamlio.dump(tree)
    assert same(yamlio.to_plain(yamlio.load_roundtrip(text)), tree)


@given(records)
def test_fast_emitter_agrees_with_ruamel(tree: dict) -> None:
    fast = yamlio.dump_fast(tree)
    assume(fast is not None)
    import io

    out = io.StringIO()
    yamlio._yaml().dump(yamlio._literals(tree), out)
    assert fast == out.getvalue()


@given(records)
def test_fast_reader_accepts_only_what_the_roundtrip_reader_reads_identically(tree: dict) -> None:
    text = yamlio.dump(tree)
    fast = yamlio.load_fast(text)
    slow = yamlio.to_plain(yamlio.load_roundtrip(text))
    if fast is not None:
        assert same(fast, slow)
    assert same(yamlio.load_text(text), slow)


@given(records)
def test_canonical_form_is_stable(tree: dict) -> None:
    text = yamlio.dump(tree)
    assert yamlio.canonical(text) == text
    parsed, is_canonical = yamlio.load_bytes(text.encode())
    assert is_canonical
    assert same(parsed, tree)


@given(st.text(max_size=200))
def test_arbitrary_text_never_disagrees(text: str) -> None:
    """Whatever the text, both readers agree or the fast one declines."""
    fast = yamlio.load_fast(text)
    try:
        slow = yamlio.to_plain(yamlio.load_roundtrip(text))
    except YamlError:
        assert fast is None
        return
    if fast is not None:
        assert same(fast, slow)


@given(st.lists(st.sampled_from(["a: 1\n", "b: yes\n", "c: '01'\n", "d:\n", "  - x\n", "e: 1.50\n", "f: 0017\n", "g: True\n", "# note\n", "h: [1, 2]\n", "i: {j: k}\n", "k: 2024-01-01\n", "l: ~\n", "m: 0o17\n", "n: \"x\"\n"]), min_size=1, max_size=8))
def test_line_soup_never_disagrees(lines: list[str]) -> None:
    text = "".join(lines)
    fast = yamlio.load_fast(text)
    try:
        slow = yamlio.to_plain(yamlio.load_roundtrip(text))
    except YamlError:
        assert fast is None
        return
    if fast is not None:
        assert same(fast, slow)


# ------------------------------------------------------------------ examples

def test_yaml_1_1_scalars_are_strings() -> None:
    tree = yamlio.load_text("a: yes\nb: 12:30\nc: on\n")
    assert tree == {"a": "yes", "b": "12:30", "c": "on"}


def test_dates_stay_strings_and_are_written_quoted() -> None:
    tree = yamlio.load_text("opened: 2024-01-01\n")
    assert tree == {"opened": "2024-01-01"}
    assert yamlio.dump(tree) == "opened: '2024-01-01'\n"


def test_phone_given_as_string_stays_string() -> None:
    assert yamlio.load_text("phone: '13800000000'\n") == {"phone": "13800000000"}


def test_comments_and_order_survive_canonical() -> None:
    text = "code: X\n# the owner moved out\ntitle: t\nz: 1\na: 2\n"
    assert yamlio.canonical(text) == text


def test_flow_style_and_indentation_are_canonicalised() -> None:
    assert yamlio.canonical("a: [1, 2]\nb: {c: d}\n") == "a:\n  - 1\n  - 2\nb:\n  c: d\n"
    assert yamlio.canonical("a:\n    - 1\n") == "a:\n  - 1\n"


def test_multiline_strings_are_literal_blocks() -> None:
    assert yamlio.dump({"notes": "first\nsecond\n"}) == "notes: |\n  first\n  second\n"


BAD = {
    "syntax": b"a: [1, 2\n",
    "duplicate key": b"a: 1\na: 2\n",
    "anchor": b"a: &x 1\n",
    "alias": b"a: &x [1]\nb: *x\n",
    "billion laughs": b"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c, *c]\n",
    "custom tag": b"a: !python/object 1\n",
    "std tag": b"a: !!str 1\n",
    "merge key": b"<<: {a: 1}\n",
    "not a mapping": b"- 1\n- 2\n",
    "scalar document": b"just text\n",
    "empty": b"",
    "two documents": b"a: 1\n---\nb: 2\n",
    "non-utf8": b"a: \xff\xfe\n",
    "bom": b"\xef\xbb\xbfa: 1\n",
    "nul": b"a: 1\x00\n",
    "too large": b"a: " + b"x" * (256 * 1024) + b"\n",
    "deep nesting": b"a: " + b"[" * 10000 + b"]" * 10000 + b"\n",
    "deep block nesting": b"".join(b"  " * i + b"k:\n" for i in range(3000)),
    "int key": b"1: a\n",
    # values no record may hold: Python cannot print the integers (more than 4300 digits by
    # default, 640 at the lowest setting), JSON has no infinity or NaN, UTF-8 no surrogates
    "5,000-digit integer": b"floors: " + b"1234567890" * 500 + b"\n",
    "641-digit integer": b"floors: " + b"9" * 641 + b"\n",
    "negative 5,000-digit integer": b"floors: -" + b"9" * 5000 + b"\n",
    "5,000-digit hex integer": b"floors: 0x" + b"f" * 5000 + b"\n",
    "octal integer past the bound": b"floors: 0o" + b"7" * 800 + b"\n",
    "big integer in a list": b"a:\n  - 1\n  - " + b"9" * 5000 + b"\n",
    "infinity": b"a: .inf\n",
    "negative infinity": b"a: -.inf\n",
    "nan": b"a: .nan\n",
    "float overflowing to infinity": b"a: 1e400\n",
    "lone surrogate": b'a: "x\\ud800y"\n',
    "surrogate pair escapes": b'a: "\\ud83d\\ude00"\n',
    "lone surrogate key": b'"\\udfff": 1\n',
}

# what each of them must say (the message names the problem, never the value)
UNWRITABLE = {
    "5,000-digit integer": "line 1: an integer of more than 640 digits",
    "641-digit integer": "line 1: an integer of more than 640 digits",
    "negative 5,000-digit integer": "line 1: an integer of more than 640 digits",
    "5,000-digit hex integer": "line 1: an integer of more than 640 digits",
    "octal integer past the bound": "line 1: an integer of more than 640 digits",
    "big integer in a list": "line 3: an integer of more than 640 digits",
    "infinity": "/a: an infinite or NaN number",
    "negative infinity": "/a: an infinite or NaN number",
    "nan": "/a: an infinite or NaN number",
    "float overflowing to infinity": "/a: an infinite or NaN number",
    "lone surrogate": "/a: a lone surrogate",
    "surrogate pair escapes": "/a: a lone surrogate",
    "lone surrogate key": "a key with a lone surrogate",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_unreadable_inputs_raise_yaml_error(name: str) -> None:
    with pytest.raises(YamlError) as info:
        yamlio.load_bytes(BAD[name])
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("name", sorted(UNWRITABLE))
def test_values_no_record_may_hold_are_named_and_no_fast_reader_takes_them(name: str) -> None:
    data = BAD[name]
    with pytest.raises(YamlError, match=UNWRITABLE[name]):
        yamlio.load_bytes(data)
    assert yamlio.load_fast(data.decode()) is None
    assert yamlio._load_compiled(data, data.decode()) is None
    assert yamlio.tree_or_none(data) is None


def test_value_problem_names_the_field_never_the_value() -> None:
    """What the writers (records.prepare) refuse, in a message that quotes nothing."""
    tree = {"a": [1, {"b": 10 ** 700}], "c": float("nan"), "d": "x\ud800"}
    assert yamlio.value_problem(tree) == "/a/1/b: an integer of more than 640 digits (quote it if it is text)"
    assert yamlio.value_problem({"c": float("-inf")}).startswith("/c: an infinite or NaN number")
    assert yamlio.value_problem({"d": ["ok", "x\ud800"]}).startswith("/d/1: a lone surrogate")
    assert yamlio.value_problem({"e": {1, 2}}) == "/e: a value of type set, which records do not hold"
    assert yamlio.value_problem({"ok": [10 ** 640 - 1, 1.5, None, True, "中"]}) is None


@given(st.integers(630, 650), st.booleans())
def test_every_reader_draws_the_integer_bound_at_the_same_place(digits: int, negative: bool) -> None:
    """640 digits are read by all three readers (canonical: the compiled one takes it);
    641 by none; and whatever reads the text can write it back."""
    number = ("-" if negative else "") + "9" * digits
    data = f"a: {number}\nb: x\n".encode()
    if digits <= yamlio.MAX_INT_DIGITS:
        assert yamlio.load_bytes(data) == ({"a": int(number), "b": "x"}, True)
        assert yamlio.load_fast(data.decode()) == {"a": int(number), "b": "x"}
        if yamlio._canon is not None:
            assert yamlio._load_compiled(data, data.decode()) == {"a": int(number), "b": "x"}
        assert yamlio.dump(yamlio.load_roundtrip(data.decode())) == data.decode()
    else:
        with pytest.raises(YamlError, match="more than 640 digits"):
            yamlio.load_bytes(data)
        assert yamlio.load_fast(data.decode()) is None
        assert yamlio._load_compiled(data, data.decode()) is None


@given(st.text(alphabet="0123456789.-+_eExobaT :Z~nulNLtrfsi<=N", min_size=1, max_size=14))
def test_plain_scalar_typing_matches_ruamels_resolver(text: str) -> None:
    """The emitter's own copy of YAML 1.2 typing agrees with ruamel's resolver."""
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver

    ruamel_str = str(VersionedResolver(version=(1, 2)).resolve(ScalarNode, text, (True, False))) == "tag:yaml.org,2002:str"
    ours_str = yamlio._reads_as_str(text)
    assert ruamel_str == ours_str


@given(records, st.lists(st.tuples(st.integers(0, 50), st.sampled_from(["# note\n", "\n", "   # indented note\n", "#\n", "  \n"])), max_size=4))
def test_comment_lines_never_make_the_readers_disagree(tree: dict, inserts: list) -> None:
    """Whole-line comments and blank lines anywhere (even inside literal blocks)."""
    lines = yamlio.dump(tree).splitlines(keepends=True)
    for position, line in sorted(inserts, reverse=True):
        lines.insert(min(position, len(lines)), line)
    text = "".join(lines)
    try:
        slow = yamlio.to_plain(yamlio.load_roundtrip(text))
    except YamlError:
        return
    assert same(yamlio.load_text(text), slow)


def test_commented_config_takes_the_fast_path() -> None:
    text = "# heading\nname: x\n\nlist:\n  # inside\n  - a\n"
    assert yamlio.load_fast(text) is None
    assert yamlio.load_fast(text, yamlio._COMMENT_LINE.sub("", text)) == {"name": "x", "list": ["a"]}
    assert yamlio.load_text(text) == {"name": "x", "list": ["a"]}


def test_a_comment_like_line_inside_a_literal_block_is_content() -> None:
    text = "notes: |\n  first\n  # not a comment\n"
    assert yamlio.load_text(text) == {"notes": "first\n# not a comment\n"}


@pytest.mark.parametrize("text", [
    "a:\n    - |4-\n\n      #\n",  # what sops writes for ["\n#"]: by the spec an empty value and a comment
    "a:\n  - - |2+\n\n      x\n",
    "a:\n  - >-1\n   x\n",
])
def test_a_list_item_block_with_an_indentation_indicator_is_refused_not_misread(text: str) -> None:
    for reader in (load_text, load_roundtrip):
        with pytest.raises(YamlError, match="indentation indicator in a list item"):
            reader(text)
    assert load_text("a: |4-\n\n    #\n") == {"a": "\n#"}  # a mapping's value: every reader agrees
