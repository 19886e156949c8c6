"""Where the standard schemas and hooks are: inside the wheel, or at the repository root.

The wheel carries the root `schemas/` and `hooks/` as `dangan/_data/...` (pyproject's
force-include); a source checkout or editable install reads them from the root itself,
so there is one source and no copy in the tree.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # dangan/ (this module is dangan/formats/)


def standard_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the standard {name}/ directory is missing from this installation")
