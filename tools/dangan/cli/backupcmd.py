"""Commands of backupcmd (being written)."""
from __future__ import annotations

COMMANDS: list = []
