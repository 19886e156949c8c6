"""Simplified and traditional characters as one (issue 24, part 2): 电梯 finds 電梯.

Everything that compares Chinese text a person typed with text a vault holds (`ls --search`,
`--where`, a borrower, a room, an import's column headers, the nearest names a warning
suggests) compares `fold(a)` with `fold(b)`; what is shown stays the text as stored.

`fold` is OpenCC's `t2s` (traditional to simplified, the maintained converter and its
dictionaries, not a table of our own) applied to both sides. Simplified is the canonical
script because t2s is many-to-one where s2t must guess: 後 and 后 both fold to 后, 裡 and
里 to 里, 發 and 髮 to 发, so a simplified word never misses its traditional spelling; the
price is that a few traditional words that differ fold together (後 "after" with 后
"queen"), which a search or a filter on an archive can bear. OpenCC converts phrases, not
only characters, so a word may fold differently alone than inside a longer one (乾 alone
is 干, 乾隆 stays): a search therefore also matches the text as typed (model/query.py).
docs/decisions.md records the choice.

The converter is built on first use (opencc import and t2s dictionaries: ~25 ms) and kept:
a command that never compares Chinese text does not pay for it, and ASCII never reaches it.
"""
from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """`text` in the one script it is compared in (simplified); other characters unchanged."""
    if text.isascii():
        return text
    return _converter().convert(text)


def same(a: str, b: str) -> bool:
    """Are `a` and `b` the same text but for the script (电梯 and 電梯)?"""
    return a == b or (not (a.isascii() and b.isascii()) and fold(a) == fold(b))


def matching(wanted: str, names: Any) -> list[str]:
    """The names (as stored) that are `wanted` but for the script, in their order."""
    key = fold(wanted)
    return [name for name in names if name == wanted or fold(name) == key]


def nearest(wanted: str, names: Any, n: int = 3, cutoff: float = 0.3) -> list[str]:
    """difflib's close matches of `wanted` among `names`, compared folded, shown as stored."""
    import difflib

    by_fold: dict[str, str] = {}
    for name in names:
        by_fold.setdefault(fold(name), name)
    return [by_fold[m] for m in difflib.get_close_matches(fold(wanted), list(by_fold), n=n, cutoff=cutoff)]
