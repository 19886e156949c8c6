"""dangan (檔案): property-service archives kept as code in a Git repository."""
from __future__ import annotations

__version__ = "0.1.0"
