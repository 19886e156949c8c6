"""Record text: reading, the canonical form, and the fast bulk reader.

Two readers produce the same tree for every file they both accept:

* `load_roundtrip` (ruamel.yaml, YAML 1.2): keeps comments and key order; used to edit and
  to write. Timestamps stay strings (dates are quoted strings in records), and anchors,
  aliases, tags and duplicate keys are refused.
* the fast readers, used for bulk reading: `_canon.parse` (compiled, tools/dangan/_canon.c:
  reads only the canonical layout) and `load_fast` (yaml-rs, a Rust parser) for what it
  declines; ~300x and ~100x faster than ruamel. They accept a file only when
  `dump_fast(tree)` reproduces the file byte for byte. `dump_fast` emits the
  canonical form for the trees it knows how to write (and gives up otherwise), and the
  property tests prove `load_roundtrip(dump_fast(t)) == t`. So whenever the fast reader
  accepts a text, the round-trip reader reads the same tree from it; everything else goes
  to the round-trip reader. A fast accept also proves the file is canonical (DG113).

The tree model shared by both: dict (str keys, document order), list, str, int, float,
bool, None. `to_plain` turns ruamel's subclasses into these. Only values every part of
dangan can write back are in it (`value_problem`): integers of at most MAX_INT_DIGITS
digits, finite floats, strings without lone surrogates. A text holding anything else is
not a readable record (DG101), so no command meets a value it cannot print or emit.
"""
from __future__ import annotations

import functools
import math
import os
import re
from typing import Any

from dangan.formats.yamlbase import (  # noqa: F401 (yamlio is the interface)
    MAX_INT_DIGITS,
    YamlError,
    _literal_ok,
    int_ok,
)
from dangan.i18n import Message

MAX_RECORD_BYTES = 256 * 1024
BOM = b"\xef\xbb\xbf"

# Python converts an int of more than sys.get_int_max_str_digits() digits neither to nor
# from text (ValueError: the cost is quadratic); the limit is 4300 by default and may be
# set as low as 640 (PYTHONINTMAXSTRDIGITS) but no lower. A record's integer must be
# writable in every dangan process, so records hold at most 640 digits: far beyond any
# count, area or amount, and independent of how the process was started. dangan never
# raises the process's limit.
_SURROGATE = re.compile("[\ud800-\udfff]")


# --------------------------------------------------------------------------- reading

def decode(data: bytes) -> str:
    """Check the byte-level rules of DG101 and return the text."""
    if len(data) > MAX_RECORD_BYTES:
        raise YamlError(Message("larger than 256 KiB ({count} bytes)", count=len(data)))
    if data.startswith(BOM):
        raise YamlError(Message("starts with a byte-order mark (BOM); save as UTF-8 without BOM"))
    if b"\x00" in data:
        raise YamlError(Message("contains NUL bytes; not a text file"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(Message("not UTF-8 (invalid byte at offset {start})", start=exc.start)) from None


MAX_FLOW_DEPTH = 100


def _too_deep(text: str) -> bool:
    """More than MAX_FLOW_DEPTH nested [ or { (counted without regard to quoting).

    A recursive parser would spend seconds before giving up on 10,000 levels; records
    never nest like this, so such a text is refused up front (block nesting is bounded
    by the size limit: each level costs a line of growing indentation).
    """
    if text.count("[") + text.count("{") <= MAX_FLOW_DEPTH:
        return False
    depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                return True
        elif ch in "]}" and depth:
            depth -= 1
    return False


def _yaml() -> Any:
    """ruamel's YAML object configured for dangan (loaded on first use)."""
    from dangan.formats import yamlrt

    return yamlrt.make_yaml()


def _literals(node: Any) -> Any:
    from dangan.formats import yamlrt

    return yamlrt.literals(node)


def _ruamel_container(tree: Any) -> bool:
    return type(tree).__module__.startswith("ruamel.")


# A block scalar with an explicit indentation indicator as a list item (`- |4-`): YAML
# counts the indicator from the item's dash, Go's yaml.v3 (so sops) from the list's parent,
# and writes `- |4-` for a string that starts with a line feed. Read by the spec the value
# is empty and its lines a comment; read as sops meant, they are the value. Neither reading
# can be trusted to be the writer's, so such a text is refused (DG101), never misread.
_ITEM_INDICATOR = re.compile(r"^[ ]*(?:-[ ]+)+[|>](?:[1-9][-+]?|[-+][1-9])[ ]*(?:#.*)?$", re.M)


def _ambiguous_item(text: str) -> None:
    if ("- |" in text or "- >" in text) and (found := _ITEM_INDICATOR.search(text)):
        line = text.count("\n", 0, found.start()) + 1
        raise YamlError(Message("line {line}: a block scalar with an indentation indicator in a list item ({value}): YAML readers disagree on where its text starts (sops writes this for a value that begins with a line break); write the value quoted", line=line, value=repr(found.group().strip())))


def load_roundtrip(text: str) -> Any:
    """Parse one record for editing (a ruamel tree that keeps comments and order).
    Raises YamlError for anything DG101 refuses."""
    from dangan.formats import yamlrt

    _ambiguous_item(text)
    if _too_deep(text):
        raise YamlError(Message("nested too deeply (more than {limit} levels of [ or {brace})", limit=MAX_FLOW_DEPTH, brace="{"))
    tree = yamlrt.load(text)
    if not isinstance(tree, dict):
        kind = "empty" if tree is None else f"a {type(tree).__name__}"
        raise YamlError(Message("the document is {kind}, not a mapping of fields", kind=kind))
    _check_keys(tree)
    return tree


def _check_keys(node: Any) -> None:
    """Keys are strings, and every value is one a record may hold (`value_problem`)."""
    if isinstance(node, dict):
        for key in node:
            if not isinstance(key, str):
                raise YamlError(Message("key {key} is not a string", key=repr(key)))
    problem = value_problem(node)
    if problem is not None:
        raise YamlError(problem)


def value_problem(tree: Any, path: str = "") -> str | None:
    """Why `tree` holds a value no record may hold (one line naming its field, never
    quoting it), or None. Such values cannot be written back: an integer too long for
    Python to print, an infinite or NaN float (JSON, and so JSON Schema, has neither), a
    lone surrogate (from a "\\ud800" escape: UTF-8 cannot store it), a key that is not a
    string, a type outside the tree model."""
    kind = tree.__class__
    if kind is str or isinstance(tree, str):
        if _SURROGATE.search(tree) is None:
            return None
        return f"{path or '/'}: a lone surrogate (a \\uD800-\\uDFFF escape), which UTF-8 cannot store"
    if tree is None or isinstance(tree, bool):
        return None
    if isinstance(tree, int):
        if int_ok(tree):
            return None
        return f"{path or '/'}: an integer of more than {MAX_INT_DIGITS} digits (quote it if it is text)"
    if isinstance(tree, float):
        if math.isfinite(tree):
            return None
        return f"{path or '/'}: an infinite or NaN number (.inf, .nan, or too large for a float)"
    if isinstance(tree, dict):
        for key, value in tree.items():
            if not isinstance(key, str):
                return f"{path or '/'}: a key that is not a string ({type(key).__name__})"
            if _SURROGATE.search(key) is not None:
                return f"{path or '/'}: a key with a lone surrogate (a \\uD800-\\uDFFF escape)"
            problem = value_problem(value, f"{path}/{key}")
            if problem is not None:
                return problem
        return None
    if isinstance(tree, list):
        for i, item in enumerate(tree):
            problem = value_problem(item, f"{path}/{i}")
            if problem is not None:
                return problem
        return None
    return f"{path or '/'}: a value of type {type(tree).__name__}, which records do not hold"


def to_plain(node: Any) -> Any:
    """ruamel's node subclasses -> plain dict/list/str/int/float/bool/None."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    raise YamlError(Message("unsupported value of type {type}", type=type(node).__name__))


def load_text(text: str) -> dict[str, Any]:
    """The plain tree of a text, by the fastest reader that is provably right.

    Besides canonical texts, the fast reader also takes canonical texts with whole-line
    comments and blank lines (vault.yaml, categories.yaml, commented records): the guard
    then compares the emitter's output with the text minus those lines. A removed line that
    was really content (inside a literal block) is in the parsed tree, so the emitter
    writes it and the comparison fails: such texts go to the round-trip reader.
    """
    _ambiguous_item(text)
    tree = _load_compiled_text(text)
    if tree is None:
        tree = load_fast(text)
    if tree is None and ("#" in text or "\n\n" in text):
        tree = load_fast(text, _COMMENT_LINE.sub("", text))
    if tree is not None:
        return tree
    return to_plain(load_roundtrip(text))


_COMMENT_LINE = re.compile(r"^[ \t]*(?:#[^\n]*)?\n", re.M)


def load_bytes(data: bytes) -> tuple[dict[str, Any], bool]:
    """(plain tree, is_canonical) of a record file's bytes; raises YamlError (DG101)."""
    text = decode(data)
    tree = _load_compiled(data, text)
    if tree is not None:
        return tree, True
    tree = load_fast(text)
    if tree is not None:
        return tree, True
    rt = load_roundtrip(text)
    return to_plain(rt), dump(rt) == text


def tree_or_none(data: bytes | None) -> dict[str, Any] | None:
    """The plain tree of a record's bytes, or None when it is absent or not a readable
    record (the file rules report why: DG101). For readers that skip what they cannot use."""
    if data is None:
        return None
    try:
        tree = load_text(decode(data))
    except YamlError:
        return None
    return tree if isinstance(tree, dict) else None


# --------------------------------------------------------------------------- writing

def dump(tree: Any) -> str:
    """The canonical text of a record (comments kept when `tree` came from ruamel)."""
    fast = dump_fast(tree) if not _ruamel_container(tree) else None
    if fast is not None:
        return fast
    from dangan.formats import yamlrt

    return yamlrt.dump(tree)


def canonical(text: str) -> str:
    """Rewrite a record text in canonical form, keeping comments (`dangan fmt`)."""
    return dump(load_roundtrip(text))


# ------------------------------------------------------------- fast reader and emitter

_yaml_rs: Any = False  # loaded on first use (10 ms; a warm `check --all` never needs it)


def _rust_parser() -> Any:
    """yaml-rs, or None. A hard dependency; the guard keeps a broken wheel from breaking
    reads."""
    global _yaml_rs
    if _yaml_rs is False:
        try:
            import yaml_rs
        except ImportError:  # pragma: no cover - exercised only with a broken install
            yaml_rs = None
        _yaml_rs = yaml_rs
    return _yaml_rs

# The plain scalars that YAML 1.2 (ruamel's resolver, version 1.2) reads as something other
# than a string: bool, float, int, merge, null, timestamp, value. Copied from ruamel's
# implicit resolvers so that the hot path needs no resolver object; the property tests
# compare the emitter's output with ruamel's own.
_NOT_STR_PATTERN = (
    r"""^(?:true|True|TRUE|false|False|FALSE
    |[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN)
    |[-+]?0b[0-1_]+
    |[-+]?0o?[0-7_]+
    |[-+]?[0-9_]+
    |[-+]?0x[0-9a-fA-F_]+
    |<<
    |~|null|Null|NULL|
    |[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    |[0-9][0-9][0-9][0-9]\ *-[0-9][0-9]?\ *-[0-9][0-9]?
     (?:[Tt]|[\ \t]+)[0-9][0-9]?
     \ *:[0-9][0-9]\ *:[0-9][0-9]\ *(?:\.[0-9]*)?
     (?:[\ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?
    |=)$"""
)
_STR_TAG = "tag:yaml.org,2002:str"
# Characters that may appear in a plain scalar written by the fast emitter: printable ASCII
# (indicator rules are checked separately) and printable non-ASCII, without the YAML line
# breaks NEL/LS/PS, the BOM and the no-break space.
_PLAIN_CHARS_PATTERN = r"[\x20-\x7e\u00a1-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*"


# Compiled on first use: the two cost ~5 ms at import. The first is asked only of a string
# that starts like another type; the second is the Python emitter's and sops' writer's alone
# (the compiled emitter has its own), so a pre-commit hook never compiles it.
@functools.cache
def _not_str() -> re.Pattern[str]:
    return re.compile(_NOT_STR_PATTERN, re.X)


@functools.cache
def _plain_chars() -> re.Pattern[str]:
    return re.compile(_PLAIN_CHARS_PATTERN)


def _not_str_match(text: str) -> re.Match[str] | None:
    """Does YAML 1.2 read the plain scalar `text` as something other than a string?"""
    return _not_str().match(text)


def _plain_chars_only(text: str) -> bool:
    return _plain_chars().fullmatch(text) is not None


_INDICATOR_START = set("-?:,[]{}#&*!|>'\"%@`")


def _plain_syntax(text: str) -> bool:
    """Can `text` be written as a plain scalar, by rules simple enough to be sure of?"""
    if not text or text[0] in _INDICATOR_START or text[0] == " " or text[-1] == " ":
        return False
    if ": " in text or " #" in text or text.endswith(":") or not _plain_chars_only(text):
        return False
    return not text.startswith(("---", "..."))


def _reads_as_str(text: str) -> bool:
    # ruamel picks resolvers by first character: none of them starts with "_"
    return text[0] == "_" or _not_str_match(text) is None


def _plain_ok(text: str) -> bool:
    return _plain_syntax(text) and _reads_as_str(text)


def _scalar(value: Any) -> str | None:
    """The canonical text of a scalar, or None when only the full emitter knows it."""
    if type(value) is str and value:  # the common case first
        if not _plain_syntax(value):
            return None  # indicators, ': ', quotes...: ruamel's own analysis decides
        # plain unless YAML would read it as another type ('2024-01-01', '01', 'true')
        return value if _reads_as_str(value) else f"'{value}'"
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        # beyond the bound str() may fail (Python's digit limit): no canonical text then,
        # and the readers refuse such a text (DG101)
        return str(value) if int_ok(value) else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = repr(value)
        return text if "e" not in text else None
    if isinstance(value, str):
        if value == "":
            return "''"
        if not _plain_syntax(value):
            return None  # indicators, ': ', quotes...: ruamel's own analysis decides
        # plain unless YAML would read it as another type ('2024-01-01', '01', 'true')
        return value if _reads_as_str(value) else f"'{value}'"
    return None


def dump_fast(tree: Any) -> str | None:
    """The canonical text of a plain tree, or None when the tree needs the full emitter.

    Done by the compiled `_canon.emit` when it is built (a build hook compiles it on
    install; without a C compiler the package works without it), which gives the same
    answers as `_dump_fast_py` (property-tested) and leaves it the trees it does not take.
    """
    if _canon is not None:
        text = _canon.emit(tree)
        if text is not NotImplemented:
            return text
    return _dump_fast_py(tree)


def _dump_fast_py(tree: Any) -> str | None:
    """dump_fast in Python: the definition the compiled emitter follows."""
    if not isinstance(tree, dict):
        return None
    out: list[str] = []
    if not tree:
        return "{}\n"
    if _mapping(tree, 0, out) is None:
        return None
    return "".join(out)


# Remembered results, bounded (cleared when full): keys recur in every record; short
# values (states, kinds, names, dates) recur across records, long ones (titles, times,
# ciphertext) rarely do and are not kept.
_KEYS: dict[str, bool] = {}
_LINES: dict[tuple[str, str], str] = {}  # (key, short one-line value) -> "key: text\n"
_SHORT = 24
_MEMO_MAX = 1 << 15
MAX_KEY = 1024  # YAML 1.2, section 7.4: an implicit key is at most 1024 characters


def _key_ok(key: Any) -> bool:
    ok = _KEYS.get(key) if key.__class__ is str else False
    if ok is None:
        # YAML allows an implicit (plain) key of at most 1024 characters: ruamel refuses a
        # longer one, so no canonical file holds it (the C emitter's key_ok agrees)
        ok = len(key) <= MAX_KEY and _plain_ok(key)
        if len(_KEYS) >= _MEMO_MAX:
            _KEYS.clear()
        _KEYS[key] = ok
    return ok


def _mapping(node: dict, indent: int, out: list[str], first_prefix: str | None = None) -> bool | None:
    pad = " " * indent
    lead = pad if first_prefix is None else first_prefix
    lines = _LINES
    for key, value in node.items():
        kind = value.__class__
        if kind is str:
            if "\n" in value:
                if not _key_ok(key):
                    return None
                block = _literal(value, indent + 2)
                if block is None:
                    return None
                out.append(f"{lead}{key}: {block}")
            else:
                line = lines.get((key, value))
                if line is None:
                    if not _key_ok(key):
                        return None
                    text = _scalar(value)
                    if text is None:
                        return None
                    line = f"{key}: {text}\n"
                    if len(value) <= _SHORT:
                        if len(lines) >= _MEMO_MAX:
                            lines.clear()
                        lines[(key, value)] = line
                out.append(lead + line)
        elif kind is dict or kind is list:
            if not _key_ok(key):
                return None
            if not value:
                out.append(f"{lead}{key}: {{}}\n" if kind is dict else f"{lead}{key}: []\n")
            else:
                out.append(f"{lead}{key}:\n")
                if (_mapping if kind is dict else _sequence)(value, indent + 2, out) is None:
                    return None
        else:
            if not _key_ok(key):
                return None
            text = _scalar(value)
            if text is None:
                return None
            out.append(f"{lead}{key}: {text}\n" if text else f"{lead}{key}:\n")
        lead = pad
    return True


def _literal(value: str, indent: int) -> str | None:
    """A literal block (`|`, `|-`, `|+` and its lines), as ruamel writes one."""
    if not _literal_ok(value) or not _plain_chars_only(value.replace("\n", "")):
        return None
    if value.endswith("\n\n"):
        chomp = "+"
    elif value.endswith("\n"):
        chomp = ""
    else:
        chomp = "-"
    body = value[:-1] if value.endswith("\n") else value
    pad = " " * indent
    lines = "".join(f"{pad}{line}\n" if line else "\n" for line in body.split("\n"))
    return f"|{chomp}\n{lines}"


def _sequence(node: list, indent: int, out: list[str]) -> bool | None:
    pad = " " * indent
    for item in node:
        if isinstance(item, dict):
            if not item:
                return None
            if _mapping(item, indent + 2, out, first_prefix=f"{pad}- ") is None:
                return None
        elif isinstance(item, list):
            return None
        elif type(item) is str and "\n" in item:
            block = _literal(item, indent + 2)
            if block is None:
                return None
            out.append(f"{pad}- {block}")
        else:
            text = _scalar(item)
            if not text:  # None (give up) or "" (null item: ruamel writes "-" alone)
                return None
            out.append(f"{pad}- {text}\n")
    return True


try:  # the compiled reader and emitter (tools/dangan/_canon.c), when the build compiled it
    if os.environ.get("DANGAN_PURE_PYTHON") == "1":
        raise ImportError("DANGAN_PURE_PYTHON=1")
    from dangan import _canon
except ImportError:
    _canon = None
else:
    _canon.configure(_scalar, _not_str_match)


def _load_compiled(data: bytes, text: str) -> dict[str, Any] | None:
    """The tree of a canonical record by the compiled reader, or None (then the others try).

    `_canon.parse` reads only the canonical layout, and its tree is accepted only when the
    emitter gives the text back byte for byte: the same guard as load_fast's, so the parser
    cannot make a wrong tree acceptable, only make a canonical file go the slower way."""
    if _canon is None:
        return None
    tree = _canon.parse(data)
    if tree is None or _canon.emit(tree) != text:
        return None
    return tree


def _load_compiled_text(text: str) -> dict[str, Any] | None:
    """`_load_compiled` for a text: every reader of records tries the compiled reader
    first, then yaml-rs, then ruamel (one read path; the hook no longer loads yaml-rs for
    canonical records)."""
    if _canon is None:
        return None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the round-trip reader says why
        return None
    return _load_compiled(data, text)


def load_fast(text: str, expected: str | None = None) -> dict[str, Any] | None:
    """The tree of a canonical record text, or None if the text is not provably canonical.

    `expected` is what the emitter must reproduce (default: the text itself).
    """
    parser = _rust_parser()
    if parser is None or "\t" in text or "\r" in text or _too_deep(text):
        return None
    try:
        tree = parser.loads(text, parse_datetime=False)
    except Exception:  # any parse problem: let the round-trip reader describe it
        return None
    if not isinstance(tree, dict) or not tree:
        return None
    return tree if dump_fast(tree) == (text if expected is None else expected) else None
