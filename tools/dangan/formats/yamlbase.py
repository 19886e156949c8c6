"""What both YAML modules share (`yamlio`, the interface and fast paths; `yamlrt`, the
round-trip reader it loads only when needed): the error of an unreadable record and the
limits of what a record may hold. Its own module so that the two import it, not each other.
"""
from __future__ import annotations

import re

MAX_INT_DIGITS = 640
_INT_BOUND = 10 ** MAX_INT_DIGITS


class YamlError(Exception):
    """Not a readable record (DG101). The message never quotes file content."""


_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


_TRAILING_SPACE = re.compile(r"[ \t](?:\n|$)")


def _literal_ok(text: str) -> bool:
    """Can `text` be a literal block: printable lines without trailing blanks, not
    starting with a space or a line break (which would need an indentation indicator)."""
    return (
        not text.startswith((" ", "\n"))
        and _TRAILING_SPACE.search(text) is None
        and text.replace("\n", "").isprintable()
    )


def int_ok(value: int) -> bool:
    """At most MAX_INT_DIGITS digits: convertible to text in any Python process."""
    return -_INT_BOUND < value < _INT_BOUND
