"""The `dangan` executable. Two commands skip the command-line layer (click and the
command modules cost ~40 ms): the pre-commit hook, which runs on every commit, and a plain
`dangan [-C DIR] check [--all]`, which CI and people run all the time and whose warm run
has a 0.5 s budget at 100,000 records. Everything else goes through `dangan.cli.main`."""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args)
    finally:
        from dangan import i18n

        i18n.set_language("en")  # an in-process caller (the tests) gets English back


def _speak(args: list[str]) -> None:
    """The language of the paths that skip the CLI, chosen as cli/main.py chooses it
    (`--lang` is the CLI's: these paths have none): DANGAN_LANG, vault.yaml, the locale."""
    from dangan import i18n

    i18n.set_language(i18n.choose_for(args))


def _main(args: list[str]) -> int:
    if args == ["hook", "pre-commit"] or args == ["hook", "framework"]:
        from dangan.errors import GitError
        from dangan.hook.hookrun import Early, framework, pre_commit

        if args[1] == "framework" and not os.environ.get("GIT_INDEX_FILE"):
            _speak(args)
            return framework()  # not a commit: a range or the whole vault (no early diff)
        try:
            early = Early()  # git reads the index while the checker loads
        except (OSError, GitError):
            early = None  # no git here: the check says so the usual way
        _speak(args)  # after git is started: reading a catalog costs a few ms
        return pre_commit(early)
    if args[:2] == ["hook", "prepare-commit-msg"]:  # git's arguments follow: unused
        from dangan.hook.hookrun import prepare_commit_msg

        _speak(args)
        return prepare_commit_msg()
    vault_path = None
    rest = args
    if len(args) >= 2 and args[0] == "-C" and Path(args[1]).is_dir():  # else click explains
        vault_path, rest = Path(args[1]), args[2:]
    if rest in (["check"], ["check", "--all"]):
        from dangan.store.quick import answer

        _speak(args)
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
    _unwind_on_signals()
    from dangan.cli.main import main as cli_main

    code = cli_main(args)
    if _received:
        # the command unwound (finally blocks, the scratch folders) after SIGTERM or SIGHUP:
        # the shell's code for that signal, whatever the unwinding returned
        import signal

        with contextlib.suppress(OSError):  # a closed terminal cannot take the message
            sys.stderr.write(f"dangan: stopped by {signal.Signals(_received[0]).name}\n")
            sys.stderr.flush()
        return 128 + _received[0]
    return code


_received: list[int] = []


def _unwind_on_signals() -> None:
    """SIGTERM (`kill`, a service manager) and SIGHUP (a closed terminal) unwind dangan as
    Ctrl-C does: a SystemExit is raised where the program is, so every `finally` runs and
    `dangan edit` removes its folder of plaintext (store/scratch.py). Only here, in the
    executable: the hook's and the warm check's paths above keep the default (a kill leaves
    nothing there in plaintext), and in-process callers (the tests) keep their own handlers."""
    import signal

    owner = os.getpid()

    def unwind(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a forked worker of the check's pool dies as it would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if _received:
            return  # already unwinding: a second signal must not cut the cleanup short
        _received.append(signum)
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:  # nohup's SIG_IGN stays ignored
            signal.signal(signum, unwind)


def _print(text: str, code: int) -> int:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
