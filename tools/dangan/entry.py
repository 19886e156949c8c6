"""The `dangan` executable. The pre-commit hook runs on every commit, so it skips the
command-line layer (click and the command modules cost ~40 ms of a 0.2 s budget) and
calls the check directly; everything else goes through `dangan.cli.main`."""
from __future__ import annotations

import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["hook", "pre-commit"]:
        from .hookrun import pre_commit

        return pre_commit()
    from .cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
