"""The demo in simplified characters (issue 24: "the demo is built in the vault's language and
script"; the demo company is in Suzhou, where people write simplified).

The demo's texts are some fifteen hundred string literals spread over its modules (names,
rooms, departments, titles, notes, the people it invents), and many of them must agree with
one another: a handler with a department's responsible person in vault.yaml, a witness with
a recipient, a room with the sheet that counts it. Rather than wrap each literal, a
simplified build runs the same generator loaded from the same source files with their text
converted by OpenCC t2s (model/script.py, the maintained converter; identifiers and syntax
are ASCII and stay as they are): `package()` returns that copy as the package
`dangan.demo._hans`, whose modules import one another and not the traditional ones. What
the copy writes through its own serialiser is converted once more (`SIMPLIFIED` in
demo/__init__.py), for the few words that come from below the demo (a loan form's name).
The tour module is not copied: its messages are msgids of the catalogs (they must stay as
written); `tour.tour` converts the text it prints instead.

Nothing is cached on disk: the converted source is compiled in memory, once per process.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "dangan.demo._hans"
_HERE = Path(__file__).resolve().parent
_MODULES = frozenset({"history", "people", "scans", "practice", "stories"})
# `dangan.demo` as a module name in an import, but not the tour (shared, see above) nor this
_IMPORT = re.compile(r"\bdangan\.demo(?=[ .])(?!\.(?:tour|simplified)\b)")


class _Loader(importlib.abc.SourceLoader):
    """A demo module's source, its text in simplified characters and its imports of the demo
    pointed at the copy."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get_filename(self, fullname: str) -> str:
        return str(self.path)

    def get_data(self, path: str) -> bytes:
        from dangan.model import script

        text = Path(path).read_text("utf-8")
        return script.fold(_IMPORT.sub(PACKAGE, text)).encode("utf-8")

    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        if module.__name__ == PACKAGE:
            module.SIMPLIFIED = True  # type: ignore[attr-defined]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname == PACKAGE:
            return importlib.util.spec_from_loader(fullname, _Loader(_HERE / "__init__.py"), is_package=True)
        head, _dot, name = fullname.rpartition(".")
        if head == PACKAGE and name in _MODULES:
            return importlib.util.spec_from_loader(fullname, _Loader(_HERE / f"{name}.py"))
        return None


_FINDER = _Finder()


def package() -> ModuleType:
    """The demo generator with its texts in simplified characters (imported on first use)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    import importlib

    return importlib.import_module(PACKAGE)


def fold_tree(value: Any) -> Any:
    """`value` (a record's tree) with every string in simplified characters."""
    from dangan.model import script

    if isinstance(value, str):
        return script.fold(value)
    if isinstance(value, dict):
        return {key: fold_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [fold_tree(item) for item in value]
    return value
