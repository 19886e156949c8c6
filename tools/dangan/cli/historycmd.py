"""Commands of historycmd (being written)."""
from __future__ import annotations

COMMANDS: list = []
