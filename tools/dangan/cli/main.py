"""The `dangan` command: a thin click layer over the core.

`main(argv) -> int` is the one place where errors become exit codes (like pre-commit's
error_handler): DanganError -> its exit code (2 bad input, 1 refusal), Ctrl-C -> 130,
anything unexpected -> 3 with a one-line message (a traceback only with DANGAN_DEBUG=1).
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from dangan import __version__, i18n
from dangan.cli.base import Context, localize
from dangan.cli.clicktext import click_speaks
from dangan.errors import DanganError, internal_error
from dangan.formats.terminal import escape
from dangan.i18n import N_, _

EPILOG_MAIN = """\b
Examples:
  dangan init ./archive --name 翠湖花園物業檔案
  dangan -C ./archive new FW A01-02-001-0301 --set title=2單元0301室 --set area=89.5
  dangan -C ./archive check
"""


# command name -> the module that defines it; a module is imported only when one of its
# commands runs (or for --help), so `dangan check` does not pay for backups or lending
LAZY = {
    "init": "vaultcmd", "demo": "vaultcmd", "clone": "vaultcmd",
    "new": "records", "show": "records", "import": "records", "export": "records", "set": "records", "edit": "records", "ls": "records",
    "check": "checks", "fmt": "checks", "hook": "checks",
    "keys": "keyscmd", "recipients": "keyscmd", "decrypt": "keyscmd", "textconv": "keyscmd",
    "lend": "lendcmd", "retention": "retentioncmd", "backup": "backupcmd",
    "diff": "historycmd", "log": "historycmd",
    "attach": "attachcmd", "attachments": "attachcmd",
    "stats": "statscmd", "report": "statscmd",
    "inventory": "inventorycmd",
    "due": "duecmd",
    "audit": "auditcmd",
    "merge-driver": "mergecmd", "resolve": "mergecmd",
    "gaps": "gapscmd", "receive": "gapscmd",
    "handover": "handovercmd",
    "categories": "fieldscmd", "fields": "fieldscmd",
}

# the hooks and the diff driver run on every commit and every `git diff`: no sweep there
NO_SWEEP = ("hook", "textconv")


class LazyGroup(click.Group):
    """click's documented pattern for loading subcommands on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(LAZY)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module_name = LAZY.get(name)
        if module_name is None:
            return None
        import importlib

        module = importlib.import_module(f"{__package__}.{module_name}")
        command = next((c for c in module.COMMANDS if c.name == name), None)
        return localize(command) if command is not None else None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """click suggests the nearest names from `self.commands`, which a lazy group leaves
        empty: `dangan shwo` says "Did you mean 'show'?" as `dangan lend reqest` does."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            import difflib

            name = args[0] if args else ""
            close = difflib.get_close_matches(name, list(LAZY)) if name not in LAZY else []
            if not close or exc.message != _("No such command {name!r}.").format(name=name):
                raise
            quoted = ", ".join(repr(c) for c in close)
            hint = (_("Did you mean {possibility}?").format(possibility=quoted) if len(close) == 1
                    else _("(Did you mean one of: {possibilities}?)").format(possibilities=quoted))
            raise click.UsageError(_("No such command {name!r}.").format(name=name) + " " + hint, ctx) from None


@click.group(cls=LazyGroup, epilog=EPILOG_MAIN, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "vault_path",
    type=click.Path(file_okay=False, path_type=Path),
    help="Act on the vault at PATH (default: found from the current directory upwards).",
)
@click.option(
    "--identity",
    type=click.Path(dir_okay=False, path_type=Path),
    help="age or SSH identity file to decrypt with (default: SOPS_AGE_KEY_FILE, ...).",
)
@click.option(
    "--sign-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SSH private key to sign role acts with (default: DANGAN_SIGNING_KEY, git's SSH signing).",
)
@click.option(
    "--lang",
    type=click.Choice(i18n.LANGUAGES),
    help="Interface language (default: DANGAN_LANG, vault.yaml's language, the locale).",
)
@click.version_option(__version__, prog_name="dangan")
@click.pass_context
def cli(ctx: click.Context, vault_path: Path | None, identity: Path | None, sign_key: Path | None,
        lang: str | None) -> None:
    """dangan (檔案): property-service archives kept as code in a Git repository.

    Every record is a YAML file validated by a JSON Schema, at a path derived from its
    archive code; sensitive fields are encrypted (SOPS with age); Git is the database.
    """
    ctx.obj = Context(vault_path, identity)
    ctx.obj.sign_key = sign_key
    if ctx.invoked_subcommand not in NO_SWEEP:
        from dangan.store import scratch

        scratch.sweep()  # what a killed dangan left (an editor's copy): quick, never fails


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # the language is chosen before click parses anything: its help and its errors speak it
    i18n.set_language(i18n.choose_for(args))
    click_speaks()
    localize(cli)
    try:
        return _run(args)
    finally:
        if (forked := sys.modules.get("dangan.store.forked")) is not None:
            forked.join_behind()  # what a reader keeps, written behind its output (store/forked.py)
        i18n.set_language("en")  # an in-process caller (the tests) gets English back
        localize(cli)


def _run(args: list[str]) -> int:
    try:
        cli.main(args=args, prog_name="dangan", standalone_mode=False)
        return 0
    except DanganError as exc:
        # a message may quote the input, a value or a file name: shown inert (format.md §4.4)
        click.echo(escape(_("dangan: error: {message}").format(message=i18n.shown(exc.message)), lines=True), err=True)
        if exc.hint:
            click.echo(escape(_("hint: {hint}").format(hint=_hint(exc.hint))), err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # commands exit 1 for "the answer is no"
        return exc.code if isinstance(exc.code, int) else 1
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "dangan"
        click.echo(escape(_("dangan: error: {message}").format(message=exc.format_message()), lines=True),
                   err=True)
        click.echo(escape(_("hint: see `{command} --help`").format(command=command)), err=True)
        return 2
    except click.ClickException as exc:
        click.echo(escape(_("dangan: error: {message}").format(message=exc.format_message()), lines=True),
                   err=True)
        return 2
    except click.Abort:
        click.echo(_("dangan: interrupted"), err=True)
        return 130
    except KeyboardInterrupt:
        click.echo(_("dangan: interrupted"), err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last line of defence: never a bare traceback
        return internal_error(exc, args, _command_words(args))


# the pieces of hints the services compose with "; " (services/records.py: a record that
# does not validate), translated one by one by _hint
HINT_PARTS = (N_("nothing was written"), N_("fix the fields and retry"), N_("; "))


def _hint(hint: str) -> str:
    """A hint in the interface language: whole, or else piece by piece where a service
    joined several with "; " (each piece a message of its own, the values already in)."""
    whole = i18n.shown(hint)
    if whole != hint or "; " not in hint or isinstance(hint, i18n.Message):
        return whole
    return _("; ").join(_(part) for part in hint.split("; "))


def _command_words(args: list[str]) -> tuple[str, ...]:
    """The words of the command that `args` run (("lend", "approve")), for the crash log,
    which shows them and redacts every other word. Only names known to be commands count;
    asking click again could fail again, so anything unexpected gives fewer words."""
    try:
        i = 0
        while i < len(args) and args[i].startswith("-"):
            i += 2 if args[i] in ("-C", "--identity") else 1
        if i >= len(args) or args[i] not in LAZY:
            return ()
        command = cli.get_command(click.Context(cli), args[i])
        if (isinstance(command, click.Group) and i + 1 < len(args)
                and args[i + 1] in command.list_commands(click.Context(command))):
            return args[i], args[i + 1]
        return (args[i],)
    except Exception:  # a crash while reporting a crash: show no words
        return ()


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
