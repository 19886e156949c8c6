from __future__ import annotations

from dangan.cli.main import entry

entry()
