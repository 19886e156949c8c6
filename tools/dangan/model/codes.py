"""Archive codes (檔號) and the paths derived from them (docs/format.md §2).

    code     = category "-" [ location "-" ] serial
    location = project [ "-" building [ "-" unit [ "-" room ] ] ]

Code -> path is a pure function and path -> code its inverse.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from dangan.errors import CodeError
from dangan.i18n import Message

LEVELS = ("company", "project", "building", "unit", "room")
MAX_CODE_LENGTH = 64

_CATEGORY = re.compile(r"[A-Z]{2}")
_PROJECT = re.compile(r"[ABCD][0-9]{2}")
_SERIAL = re.compile(r"[0-9]{4,9}")
_PART = (  # location parts in fixed order: (regex, level name)
    (_PROJECT, "project"),
    (re.compile(r"[0-9]{2}"), "building"),
    (re.compile(r"[0-9]{3}"), "unit"),
    (re.compile(r"[0-9]{4}"), "room"),
)
_PROPERTY_TYPES = {"A": "residential", "B": "commercial", "C": "industrial", "D": "public"}


def _quote(text: str) -> str:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return repr(shown)


@dataclass(frozen=True, order=True)
class Location:
    """project [building [unit [room]]]; an empty location is the company level."""

    parts: tuple[str, ...] = ()

    @property
    def level(self) -> str:
        return LEVELS[len(self.parts)]

    @property
    def property_type(self) -> str | None:
        return _PROPERTY_TYPES[self.parts[0][0]] if self.parts else None

    def __str__(self) -> str:
        return "-".join(self.parts)

    def contains(self, other: Location) -> bool:
        return other.parts[: len(self.parts)] == self.parts


@dataclass(frozen=True, order=True)
class Code:
    """An archive code (檔號): category, location and serial, e.g. `TS-A01-02-001-0301-0001`."""

    category: str
    location: Location
    serial: int

    def __str__(self) -> str:
        parts = [self.category, *self.location.parts, f"{self.serial:04d}"]
        return "-".join(parts)

    @property
    def level(self) -> str:
        return self.location.level

    @property
    def path(self) -> str:
        """The path of this record relative to the vault root, with forward slashes."""
        parts, category = self.location.parts, self.category
        if not parts:
            return f"vault/{category}/{category}-{self.serial:04d}.yaml"
        return f"vault/{'/'.join(parts)}/{category}/{category}-{'-'.join(parts)}-{self.serial:04d}.yaml"


def parse_location(text: str) -> Location:
    """Parse `A01-02-001-0301` (or a prefix of it); '' is the company level."""
    if text == "":
        return Location()
    _check_text(text, "location")
    if "" in text.split("-"):
        raise CodeError(Message("location {value} has an empty part", value=_quote(text)))
    parts = text.split("-")
    if len(parts) > len(_PART):
        raise CodeError(
            Message("location {value} has {count} parts; at most 4 (project-building-unit-room)", value=_quote(text), count=len(parts)),
            Message("example: A01-02-001-0301"),
        )
    for part, (regex, level) in zip(parts, _PART):
        if not regex.fullmatch(part):
            raise CodeError(
                Message("location {value}: {level} {value2} is malformed", value=_quote(text), level=level, value2=_quote(part)),
                Message("project = A-D + 2 digits, building 2 digits, unit 3 digits, room 4 digits"),
            )
        if set(part.lstrip("ABCD")) == {"0"}:
            raise CodeError(Message("location {value}: {level} {value2} is all zeros", value=_quote(text), level=level, value2=_quote(part)))
    return Location(tuple(parts))


def _check_text(text: str, what: str) -> None:
    if len(text) > MAX_CODE_LENGTH:
        raise CodeError(Message("{what} {value} is too long ({count} characters)", what=what, value=_quote(text), count=len(text)))
    if not text.isascii() or not text.isprintable():
        raise CodeError(Message("{what} {value} contains characters other than A-Z, 0-9 and '-'", what=what, value=_quote(text)))
    if "/" in text or "\\" in text or "." in text:
        raise CodeError(Message("{what} {value} contains a path character", what=what, value=_quote(text)))
    if text != text.strip() or " " in text:
        raise CodeError(Message("{what} {value} contains spaces", what=what, value=_quote(text)))


# a well-formed code in one match (ASCII digits only: [0-9], not \d); the checks that a
# regular expression states badly (all-zero parts) follow. Anything else takes the slow
# path, which says what is wrong.
_WELL_FORMED = re.compile(
    r"[A-Z]{2}(?:-[ABCD][0-9]{2}(?:-[0-9]{2}(?:-[0-9]{3}(?:-[0-9]{4})?)?)?)?-(?:[0-9]{4}|[1-9][0-9]{4,8})"
)
# an all-zero part of a well-formed code (A00, 00, 000, 0000, serial 0000): the slow path says so
_ZERO_PART = re.compile(r"-[ABCD]?0+(?=-|$)")


def path_regex(category: str) -> str:
    """A regular expression (Go RE2 and Python alike) that matches the derived paths of
    the records of `category`, relative to the vault root: `.sops.yaml`'s `path_regex`
    (store.sopsconfig). Any location depth: the level rule is DG103's, not sops's."""
    if not _CATEGORY.fullmatch(category):
        raise CodeError(Message("category {value} is not two capital letters", value=_quote(category)))
    location = r"(?:[ABCD][0-9]{2}/(?:[0-9]{2}/(?:[0-9]{3}/(?:[0-9]{4}/)?)?)?)?"
    return rf"^vault/{location}{category}/{category}-[0-9A-Z-]+\.yaml$"


def parse_code(text: str) -> Code:
    """Parse an archive code, from both ends: category first, serial last."""
    if text.__class__ is str and _WELL_FORMED.fullmatch(text) and not _ZERO_PART.search(text):
        parts = text.split("-")
        return Code(parts[0], Location(tuple(parts[1:-1])), int(parts[-1]))
    return _parse_code_slowly(text)


def code_path(text: str) -> str:
    """`parse_code(text).path`, without making the Code: DG108 asks it of every code the
    records name (300,000 at a million records). A well-formed code is its own text in the
    file name (`str(parse_code(text)) == text`); anything else takes parse_code's way."""
    if text.__class__ is str and _WELL_FORMED.fullmatch(text) and not _ZERO_PART.search(text):
        parts = text.split("-")
        if len(parts) == 2:
            return f"vault/{parts[0]}/{text}.yaml"
        return f"vault/{'/'.join(parts[1:-1])}/{parts[0]}/{text}.yaml"
    return parse_code(text).path


def _parse_code_slowly(text: str) -> Code:
    if not isinstance(text, str):
        raise CodeError(Message("code must be a string, not {type}", type=type(text).__name__))
    _check_text(text, "code")
    if text != text.upper():
        raise CodeError(Message("code {value} must be upper case", value=_quote(text)), Message("did you mean {value}?", value=text.upper()))
    parts = text.split("-")
    if len(parts) < 2 or "" in parts:
        raise CodeError(Message("code {value} is malformed", value=_quote(text)), Message("example: YZ-A01-02-001-0301-0001"))
    category, serial = parts[0], parts[-1]
    if not _CATEGORY.fullmatch(category):
        raise CodeError(Message("code {value}: category {value2} is not two letters A-Z", value=_quote(text), value2=_quote(category)))
    if not _SERIAL.fullmatch(serial):
        raise CodeError(
            Message("code {value}: serial {value2} must be 4 or more digits", value=_quote(text), value2=_quote(serial)),
            Message("serials are zero-padded to four: 0001"),
        )
    if int(serial) == 0:
        raise CodeError(Message("code {value}: serial is all zeros", value=_quote(text)))
    if len(serial) > 4 and serial.startswith("0"):
        raise CodeError(Message("code {value}: serial {value2} is over-padded", value=_quote(text), value2=_quote(serial)))
    try:
        location = parse_location("-".join(parts[1:-1]))
    except CodeError as exc:
        raise CodeError(Message("code {value}: {message}", value=_quote(text), message=exc.message), exc.hint) from None
    return Code(category, location, int(serial))


def path_to_code(path: str) -> Code:
    """Inverse of Code.path; raises CodeError when `path` is not a derived path."""
    segments = path.split("/")
    if len(segments) < 3 or segments[0] != "vault" or not segments[-1].endswith(".yaml"):
        raise CodeError(Message("{value} is not a record path (vault/.../CAT/CODE.yaml)", value=_quote(path)))
    code = parse_code(segments[-1][: -len(".yaml")])
    if code.path != path:
        raise CodeError(Message("{value} is not the path of {code} (expected {path})", value=_quote(path), code=code, path=code.path))
    return code


def next_serial(used: set[int] | list[int]) -> int:
    """1 + the largest serial ever used (work tree and disposal certificates)."""
    return max(used, default=0) + 1
