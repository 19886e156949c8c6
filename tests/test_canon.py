"""The compiled canonical emitter (tools/dangan/_canon.c) gives exactly the answers of the
Python emitter it accelerates (yamlio._dump_fast_py), and the shortcuts it takes hold."""
from __future__ import annotations

import os
import string
import sys
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_yamlio import keys, records, same, tricky_strings

from dangan.formats import yamlio

canon = yamlio._canon
needs_canon = pytest.mark.skipif(
    canon is None, reason="pure-Python install (the first test says whether it may be)",
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
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}([-+][0-9]{2}:[0-9]{2}|Z))?", fullmatch=True
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


def can_compile() -> bool:
    """What hatch_build.py needs: the interpreter's C compiler, Python's headers and
    setuptools (whose build_ext drives the compiler)."""
    import importlib.util
    import shlex
    import shutil
    import sysconfig
    from pathlib import Path

    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return (bool(cc) and shutil.which(cc[0]) is not None and headers.exists()
            and importlib.util.find_spec("setuptools") is not None)


def test_the_compiled_modules_are_built_where_they_can_be() -> None:
    """Where a C compiler is, the install must have built the modules: a failed build
    would silently make `check --all` twice as slow. Without a compiler (or with
    DANGAN_PURE_PYTHON=1) dangan runs as pure Python, which the other tests cover."""
    if os.environ.get("DANGAN_PURE_PYTHON") == "1" or not can_compile():
        pytest.skip("no C compiler here, or DANGAN_PURE_PYTHON=1: pure Python")
    from dangan.store import quick

    assert canon is not None
    assert quick._fsstat is not None


def _hatch_build():
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("hatch_build", REPO / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(name: str, path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"dangan.{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_hook_builds_modules_for_this_interpreter(tmp_path) -> None:
    """hatch_build.build_module compiles through setuptools' build_ext: each module is
    named with this interpreter's EXT_SUFFIX, imports, and works."""
    import sysconfig

    from conftest import REPO

    if not can_compile():
        pytest.skip("no C compiler, Python headers or setuptools here: pure Python")
    hook = _hatch_build()
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    built = {source.stem: hook.build_module(REPO / source, tmp_path / "out") for source in hook.SOURCES}
    for stem, path in built.items():
        assert path == tmp_path / "out" / f"{stem}{suffix}", built
        assert path.is_file()
    compiled = _load("_canon", built["_canon"])
    compiled.configure(yamlio._scalar, yamlio._not_str_match)
    tree = {"code": "SB-A01-02-0001", "date": "2024-01-31", "n": 3, "notes": "中文\nline 2\n",
            "items": [{"a": 1.5, "b": None}, "x"], "empty": {}}
    text = yamlio._dump_fast_py(tree)
    assert text is not None and compiled.emit(tree) == text
    assert compiled.parse(text.encode()) == tree
    if "_fsstat" in built:
        fsstat = _load("_fsstat", built["_fsstat"])
        (tmp_path / "d").mkdir()
        packed = fsstat.mtimes(str(tmp_path), b"d\0missing\0")
        assert len(packed) == 16
        assert int.from_bytes(packed[:8], sys.byteorder, signed=True) == (tmp_path / "d").stat().st_mtime_ns
        assert int.from_bytes(packed[8:], sys.byteorder, signed=True) == -1


@pytest.mark.skipif(os.name != "posix", reason="$CC names the compiler on POSIX systems")
def test_without_a_compiler_the_hook_says_so_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    from conftest import REPO

    if not can_compile():
        pytest.skip("no C compiler, Python headers or setuptools here")
    hook = _hatch_build()
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert hook.build_module(REPO / "tools/dangan/_canon.c", tmp_path / "out") is None
    err = capsys.readouterr().err
    assert err.startswith("dangan: building without a compiled module: ") and err.count("\n") == 1, err
    assert "_canon" in err and not (tmp_path / "out").exists()


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
@pytest.mark.parametrize("late", ["", "é", "中", "\U0001f600"], ids=["ascii", "latin-1", "cjk", "astral"])
@pytest.mark.parametrize("early", ["", "é", "中"], ids=["ascii", "latin-1", "cjk"])
def test_long_texts_widen_and_grow_the_writer_alike(early: str, late: str) -> None:
    """The emitter's buffer starts as 4 KiB of 1-byte characters on the stack: texts past
    it, and wider characters arriving after it has grown, give the same str as Python's,
    down to its internal width (a str built too wide would still compare equal)."""
    tree = {"a": f"x{early}", "items": [f"line {i} {'y' * 40}" for i in range(300)],
            "notes": "\n".join(f"para {i} {'z' * 60}" for i in range(80)) + "\n", "z": f"end{late}"}
    compiled = canon.emit(tree)
    expected = yamlio._dump_fast_py(tree)
    if late == "\U0001f600":  # outside the plain characters: both leave it to ruamel
        assert compiled is None and expected is None
        return
    assert expected is not None and len(expected) > 4096 * 4
    assert compiled == expected
    assert sys.getsizeof(compiled) == sys.getsizeof(expected)  # same kind: compact, narrowest
    assert same(canon.parse(compiled.encode()), tree)


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
    class Unprintable(int):
        def __str__(self) -> str:
            raise ValueError("cannot print")

    with pytest.raises(ValueError, match="cannot print"):  # the same error as in Python
        canon.emit({"a": Unprintable(7)})
    with pytest.raises(ValueError, match="cannot print"):
        yamlio._dump_fast_py({"a": Unprintable(7)})


@pytest.mark.parametrize("value", [
    10 ** yamlio.MAX_INT_DIGITS, -(10 ** yamlio.MAX_INT_DIGITS), 10 ** 5000, 16 ** 5000,
    float("inf"), float("-inf"), float("nan"),
], ids=["1e640", "-1e640", "1e5000", "16**5000", "inf", "-inf", "nan"])
def test_no_canonical_text_for_a_value_records_cannot_hold(value: object) -> None:
    """Past 640 digits str() may raise (Python's digit limit; 4300 by default): both
    emitters give up instead, with or without the compiled module, and so does dump_fast
    in the sequence branch."""
    for tree in ({"a": value}, {"a": [value]}, {"a": {"b": value}}):
        assert yamlio._dump_fast_py(tree) is None
        assert yamlio.dump_fast(tree) is None
        if canon is not None:
            assert canon.emit(tree) is None


@pytest.mark.parametrize("value", [10 ** yamlio.MAX_INT_DIGITS - 1, -(10 ** yamlio.MAX_INT_DIGITS - 1),
                                   2 ** 63, -(2 ** 63) - 1, 2 ** 64],
                         ids=["640 nines", "-640 nines", "2**63", "-2**63-1", "2**64"])
def test_integers_up_to_the_bound_are_written_exactly(value: int) -> None:
    text = yamlio.dump_fast({"a": value})
    assert text == f"a: {value}\n"
    assert yamlio._dump_fast_py({"a": value}) == text
    assert yamlio.load_bytes(text.encode()) == ({"a": value}, True)


# --------------------------------------------- the shortcuts the C code takes, checked

@given(st.sampled_from(sorted(set(string.printable) - set("_~<=+-.0123456789tTfFnN\n\r\x0b\x0c") | {"中", "é"})),
       st.text(max_size=30))
def test_only_the_listed_first_characters_start_another_type(first: str, rest: str) -> None:
    assert yamlio._not_str_match(first + rest) is None


@given(st.text(max_size=10))
def test_a_leading_underscore_always_reads_as_a_string(rest: str) -> None:
    # _NOT_STR_PATTERN alone would read "_1" as an int ([0-9_]+); ruamel picks its resolvers by
    # the first character and has none for "_", which _reads_as_str and the C code follow
    assert yamlio._reads_as_str("_" + rest)


@given(st.sampled_from("tTfFnN"), st.text(max_size=8))
def test_letters_start_only_the_nine_words(first: str, rest: str) -> None:
    text = first + rest
    words = {"true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL"}
    assert (yamlio._not_str_match(text) is not None) == (text in words or text[:-1] in words and text.endswith("\n"))


@given(dates)
def test_date_shapes_read_as_timestamps(text: str) -> None:
    assert yamlio._not_str_match(text) is not None
    assert yamlio._scalar(text) == f"'{text}'"


@given(st.text(max_size=12), st.characters(min_codepoint=0x80), st.text(max_size=12))
def test_a_text_with_any_character_past_ascii_reads_as_a_string(before: str, other: str, after: str) -> None:
    # every resolver matches ASCII alone ([0-9], not \d): the C code does not ask them
    assert yamlio._not_str_match(before + other + after) is None


@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_digits_alone_read_as_an_int(text: str) -> None:
    assert yamlio._not_str_match(text) is not None
    assert yamlio._scalar(text) == f"'{text}'"


@needs_canon
@pytest.mark.parametrize("text", ["12", "0", "007", "2024-01-31T00:30:00Z", "2024-01-31T00:30:00z", "1棟2單元",
                                  "3.9.4", "2024-05", "1-2-0301", "12W", "+1", "1_000", "３"])
def test_the_shortcuts_write_what_the_python_emitter_writes(text: str) -> None:
    tree = {"a": text, "b": [text], "c": {"d": text}}
    assert canon.emit(tree) == yamlio._dump_fast_py(tree)


# ------------------------------------------------------------ the compiled reader

def _roundtrip(text: str) -> object:
    try:
        return yamlio.to_plain(yamlio.load_roundtrip(text))
    except yamlio.YamlError:
        return yamlio.YamlError


@needs_canon
@settings(max_examples=400)
@given(st.one_of(records, st.dictionaries(st.one_of(keys, edge_text), edge_trees, min_size=1, max_size=6)))
def test_the_compiled_reader_reads_every_canonical_text(tree: dict) -> None:
    """Complete: whatever the emitter writes, the compiled reader gives the tree back
    (so canonical records never fall back to the slower readers)."""
    text = yamlio._dump_fast_py(tree)
    if text is None or not tree:
        return
    parsed = canon.parse(text.encode("utf-8"))
    assert same(parsed, tree)
    assert same(yamlio._load_compiled(text.encode("utf-8"), text), tree)


soup = st.lists(
    st.sampled_from([
        "a: 1\n", "b: x\n", "c: '01'\n", "d:\n", "  - x\n", "  - y: 1\n", "    z: 2\n", "  e: f\n",
        "- x\n", "g: |\n", "g: |-\n", "g: |+\n", "  text\n", "    more\n", "\n", "h: {}\n", "i: []\n",
        "j: ''\n", "k: 'x'y'\n", "l: 1.50\n", "m: -0\n", "n: true\n", "o: True\n", "p: 2024-01-01\n",
        "q: '2024-01-01'\n", "r: \"s\"\n", "s: a: b\n", "t:  u\n", "u: 1.5\n", "a: 2\n", "v:x\n",
        "w: \t\n", "x: 中文\n", "y: é\n", ": z\n", "  \n", "z: - a\n", "aa: 1e3\n", "bb: 00\n",
    ]),
    min_size=1, max_size=10,
)


def _agrees(text: str) -> None:
    """The compiled reader accepts a text only when ruamel reads the same tree from it."""
    data = text.encode("utf-8")
    compiled = yamlio._load_compiled(data, text)
    if compiled is not None:
        assert same(compiled, _roundtrip(text))
        assert yamlio.load_bytes(data) == (compiled, True)


@needs_canon
@settings(max_examples=600)
@given(soup)
def test_line_soup_never_makes_the_compiled_reader_disagree(lines: list[str]) -> None:
    _agrees("".join(lines))


@needs_canon
@given(records, st.integers(0, 10_000), st.sampled_from(["", " ", "\n", "-", ":", "'", "|", "  ", "#", "x"]),
       st.integers(0, 2))
def test_edited_canonical_texts_never_make_it_disagree(tree: dict, at: int, insert: str, cut: int) -> None:
    text = yamlio.dump(tree)
    at %= len(text) + 1
    _agrees(text[:at] + insert + text[at + cut:])


@needs_canon
@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_declined_safely(data: bytes) -> None:
    tree = canon.parse(data)
    assert tree is None or type(tree) is dict


@needs_canon
@pytest.mark.parametrize("data", [
    b"", b"\n", b"a", b"a:", b"a: 1", b"a: |\n", b"- a\n", b"  a: 1\n", b"a: 1\na: 2\n",
    b"a:\n  - \n", b"a: |\n  x\n b: 1\n", b"a: '\n", b"a: ''x\n", b"\xff: 1\n", b"a: \xe4\xb8\n",
    b"a: " + b"9" * 5000 + b"\n", b"a: " + b"1." + b"5" * 100 + b"\n",
])
def test_malformed_or_unusual_bytes_are_declined_or_checked(data: bytes) -> None:
    tree = canon.parse(data)
    if tree is not None:  # read: the emitter guard decides (a long number is fine to read)
        text = data.decode("utf-8", "replace")
        assert (yamlio._load_compiled(data, text) is not None) == (canon.emit(tree) == text)


@needs_canon
def test_deep_blocks_are_declined_not_overflowing() -> None:
    lines = "".join(" " * (2 * i) + f"k{i}:\n" for i in range(400)) + " " * 800 + "x: 1\n"
    assert canon.parse(lines.encode()) is None


# ------------------------------------- the same results with and without the C modules

def test_check_all_gives_the_same_results_in_pure_python(tmp_path) -> None:
    """The repository's example vault (encrypted records, attachments, ledgers) plus
    hand-broken files: `check --all` with the compiled modules and with
    DANGAN_PURE_PYTHON=1 (which the modules honour at run time too) report the same."""
    import shutil
    import subprocess

    from conftest import REPO, git, run_bin

    root = tmp_path / "v"
    root.mkdir()
    for name in ("vault", "schemas", "vault.yaml", ".gitattributes"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        elif src.exists():
            shutil.copy(src, root / name)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", "example vault")
    sb = next((root / "vault").rglob("SB-*.yaml"))
    text = sb.read_text("utf-8")
    (sb.parent / "SB-A01-02-0099.yaml").write_text("# a comment\n" + text.replace(sb.stem, "SB-A01-02-0099"), "utf-8")
    (sb.parent / "SB-A01-02-0098.yaml").write_text("code: [unclosed\n", "utf-8")
    (sb.parent / "SB-A01-02-0096.yaml").write_text(text.replace(sb.stem, "SB-A01-02-0096").replace("category: SB", "category:  SB"), "utf-8")
    (sb.parent / "SB-A01-02-0097.yaml").write_text(text.replace(sb.stem, "SB-A01-02-0097").replace("category: SB", "category: WX"), "utf-8")
    results = []
    for env in ({}, {"DANGAN_PURE_PYTHON": "1"}):
        shutil.rmtree(root / ".git" / "dangan", ignore_errors=True)  # judge, do not remember
        result = run_bin(["check", "--all", "--json"], cwd=root, env=env)
        results.append((result.code, result.out))
    assert results[0] == results[1]
    code, out = results[0]
    assert code == 1
    for rule in ("DG113", "DG101", "DG103"):
        assert f'"rule": "{rule}"' in out, out
    assert subprocess.run([sys.executable, "-c", "import dangan.formats.yamlio as y; assert y._canon is None"],
                          env={**os.environ, "DANGAN_PURE_PYTHON": "1"}).returncode == 0


@pytest.mark.parametrize("length, readable", [(1024, True), (1025, False)])
def test_a_key_longer_than_yaml_allows_is_unreadable_on_every_path(length: int, readable: bool) -> None:
    """YAML limits an implicit key to 1024 characters and ruamel enforces it; the compiled
    reader used to accept a longer one as canonical (issue 19). Both emitters now give it
    up, so the fast path declines and every reader says the same: DG101."""
    key = "鍵" * length  # characters, not bytes
    text = f"code: X\n{key}: 1\n"
    assert (yamlio._dump_fast_py({"code": "X", key: 1}) == text) is readable
    if canon is not None:
        assert (canon.emit({"code": "X", key: 1}) == text) is readable
    if readable:
        assert yamlio.load_bytes(text.encode()) == ({"code": "X", key: 1}, True)
    else:
        with pytest.raises(yamlio.YamlError):
            yamlio.load_bytes(text.encode())
        with pytest.raises(yamlio.YamlError):
            yamlio.load_roundtrip(text)
