"""Commands of retentioncmd (being written)."""
from __future__ import annotations

COMMANDS: list = []
