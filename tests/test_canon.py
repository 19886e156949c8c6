"""The compiled canonical emitter (tools/dangan/_canon.c) gives exactly the answers of the
Python emitter it accelerates (yamlio._dump_fast_py), and the shortcuts it takes hold."""
from __future__ import annotations

import os
import string
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dangan import yamlio

from test_yamlio import keys, records, tricky_strings

canon = yamlio._canon
needs_canon = pytest.mark.skipif(
    canon is None and os.environ.get("DANGAN_PURE_PYTHON") == "1",
    reason="installed without the compiled emitter on purpose (DANGAN_PURE_PYTHON=1)",
)

# text that reaches every branch: the plain-character ranges' edges, astral characters,
# lone surrogates, line breaks, indicators, and the characters that start YAML's other types
edge_chars = st.sampled_from(
    list(" :#-_.+~<=0123456789tTfFnNeE'\"\n\t\r|>")
    + ["\x7e", "\x7f", "\x85", "\xa0", "\xa1", "\u2027", "\u2028", "\u2029", "\u202a", "\ud7ff",
       "\ud800", "\ue000", "\ufefe", "\ufeff", "\uff00", "\ufffd", "\ufffe", "中", "\U0001f600"]
)
edge_text = st.text(edge_chars, max_size=12)
dates = st.from_regex(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}[-+][0-9]{2}:[0-9]{2})?", fullmatch=True
)
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), tricky_strings, edge_text, dates,
    st.text(max_size=40),
)
edge_trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(keys, edge_text, dates), children, max_size=4),
    ),
    max_leaves=25,
)


def test_the_compiled_emitter_is_built() -> None:
    """`make test` installs with a C compiler; a missing module would silently make
    `check --all` several times slower (set DANGAN_PURE_PYTHON=1 to go without it)."""
    if os.environ.get("DANGAN_PURE_PYTHON") == "1":
        pytest.skip("DANGAN_PURE_PYTHON=1")
    assert canon is not None


@needs_canon
@settings(max_examples=400)
@given(st.one_of(records, st.dictionaries(st.one_of(keys, edge_text), edge_trees, min_size=1, max_size=6)))
def test_compiled_and_python_emitters_agree(tree: dict) -> None:
    assert canon.emit(tree) == yamlio._dump_fast_py(tree)


@needs_canon
@given(edge_trees)
def test_agree_on_any_top_level_value(tree: object) -> None:
    compiled = canon.emit(tree)
    expected = yamlio._dump_fast_py(tree)
    if compiled is NotImplemented:  # not a dict: the Python emitter decides
        assert type(tree) is not dict
    else:
        assert compiled == expected


@needs_canon
def test_containers_it_does_not_know_are_left_to_python() -> None:
    assert canon.emit(OrderedDict(a="x")) is NotImplemented
    assert canon.emit({"a": [OrderedDict(b="x")]}) is NotImplemented
    assert yamlio.dump_fast(OrderedDict(a="x")) == "a: x\n"  # the Python emitter took it


@needs_canon
def test_deep_nesting_is_left_to_python() -> None:
    tree: dict = {"leaf": "x"}
    for _ in range(300):
        tree = {"k": tree}
    assert canon.emit(tree) is NotImplemented


@needs_canon
def test_subclassed_scalars_take_the_python_rules() -> None:
    class Text(str):
        pass

    class Number(int):
        pass

    tree = {"a": Text("x"), "b": Number(7), "c": [Text("y")], "d": 1.5}
    assert canon.emit(tree) == yamlio._dump_fast_py(tree)


@needs_canon
def test_a_helper_error_propagates() -> None:
    with pytest.raises(ValueError):  # int too large to print: the same error as in Python
        canon.emit({"a": 10 ** 5000})
    with pytest.raises(ValueError):
        yamlio._dump_fast_py({"a": 10 ** 5000})


# --------------------------------------------- the shortcuts the C code takes, checked

@given(st.sampled_from(sorted(set(string.printable) - set("_~<=+-.0123456789tTfFnN\n\r\x0b\x0c") | {"中", "é"})),
       st.text(max_size=30))
def test_only_the_listed_first_characters_start_another_type(first: str, rest: str) -> None:
    assert yamlio._NOT_STR.match(first + rest) is None


@given(st.text(max_size=10))
def test_a_leading_underscore_always_reads_as_a_string(rest: str) -> None:
    # _NOT_STR alone would read "_1" as an int ([0-9_]+); ruamel picks its resolvers by
    # the first character and has none for "_", which _reads_as_str and the C code follow
    assert yamlio._reads_as_str("_" + rest)


@given(st.sampled_from("tTfFnN"), st.text(max_size=8))
def test_letters_start_only_the_nine_words(first: str, rest: str) -> None:
    text = first + rest
    words = {"true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL"}
    assert (yamlio._NOT_STR.match(text) is not None) == (text in words or text[:-1] in words and text.endswith("\n"))


@given(dates)
def test_date_shapes_read_as_timestamps(text: str) -> None:
    assert yamlio._NOT_STR.match(text) is not None
    assert yamlio._scalar(text) == f"'{text}'"
