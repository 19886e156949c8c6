"""The `dangan` executable. Two commands skip the command-line layer (click and the
command modules cost ~40 ms): the pre-commit hook, which runs on every commit, and a plain
`dangan [-C DIR] check [--all]`, which CI and people run all the time and whose warm run
has a 0.5 s budget at 100,000 records. Everything else goes through `dangan.cli.main`."""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["hook", "pre-commit"]:
        from dangan.errors import GitError
        from dangan.hook.hookrun import Early, pre_commit

        try:
            early = Early()  # git reads the index while the checker loads
        except (OSError, GitError):
            early = None  # no git here: the check says so the usual way
        return pre_commit(early)
    vault_path = None
    rest = args
    if len(args) >= 2 and args[0] == "-C" and Path(args[1]).is_dir():  # else click explains
        vault_path, rest = Path(args[1]), args[2:]
    if rest in (["check"], ["check", "--all"]):
        from dangan.store.quick import answer

        try:
            remembered = answer(str(vault_path or "."))  # standard library only: ~10 ms of imports
        except KeyboardInterrupt:
            sys.stderr.write("dangan: interrupted\n")
            return 130
        except Exception as exc:  # the last line of defence, as on the other paths
            from dangan.errors import internal_error

            return internal_error(exc, args, ("check",))
        if remembered is not None:
            return _print(*remembered)
        from dangan.hook.hookrun import check_all

        return check_all(vault_path)
    from dangan.cli.main import main as cli_main

    return cli_main(args)


def _print(text: str, code: int) -> int:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
