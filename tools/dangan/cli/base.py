"""Shared pieces of the command layer: the vault context and output helpers."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dangan import i18n
from dangan.formats.terminal import columns, escape, json_safe
from dangan.i18n import N_, _
from dangan.store.sealing import Keyring
from dangan.store.vault import Vault

F = TypeVar("F", bound=Callable[..., Any])


def warn(message: str) -> None:
    """A warning on stderr: the command goes on (e.g. without a key that was refused)."""
    click.echo(_("dangan: warning: {message}").format(message=i18n.shown(message)), err=True)


def office_note(vault: Vault) -> None:
    """On stderr, in an office's checkout (`dangan clone`): what the listing or the figures
    that follow cover — the projects held and the company-level records, not the others,
    whose files this clone never fetches (docs/team.md)."""
    if vault.checkout is None:
        return
    held = sorted(f.split("/")[1] for f in vault.checkout if len(f.split("/")[1]) == 3)
    click.echo(f"dangan: note: an office's checkout: {', '.join(held) or 'no project'} and the "
               "company-level records only; the other projects are on the server", err=True)


class Context:
    """What the group options give every command; the vault is opened on first use."""

    def __init__(self, vault_path: Path | None, identity: Path | None = None) -> None:
        self.vault_path = vault_path
        self.keyring = Keyring(identity, notify=warn)
        self.sign_key: Path | None = None
        self._vault: Vault | None = None

    def path(self, given: Path) -> Path:
        """A command-line path: relative ones are relative to -C PATH, as with git -C."""
        if given.is_absolute() or self.vault_path is None:
            return given
        return self.vault_path / given

    @property
    def git_vault(self) -> Vault:
        """The vault for checks of Git objects (its work tree vault.yaml is not parsed)."""
        vault = Vault.for_git_checks(self.vault_path)
        vault.keyring = self.keyring
        return vault

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            self._vault = Vault.open(self.vault_path)
            # what a killed dangan left is finished or undone before anything reads the vault
            found = self._vault.recover_interrupted()
            if found is not None:
                warn(found.describe())
            click.get_current_context().call_on_close(_report_recovered)
        self._vault.keyring = self.keyring
        from dangan.services.attachments import follow_epochs
        from dangan.services.signing import Signing

        self._vault.signing = Signing(self.sign_key)
        self._vault.follow = follow_epochs
        return self._vault


def _report_recovered() -> None:
    """What a write recovered or left for the next command, found after the vault was opened."""
    from dangan.store import transaction

    for found in transaction.recovered():
        warn(found.describe())


pass_ctx = click.make_pass_decorator(Context)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(func)


def listing_options(func: F) -> F:
    """`--format text|csv|json` and `--json` (the same as `--format json`) of a listing."""
    return click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text",
                        show_default=True, help="text: a table on a terminal, tab-separated lines to a pipe; "
                        "csv: a header line and RFC 4180 rows; json: as --json.")(json_option(func))


def _set_identity(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_object(Context).keyring = Keyring(value, notify=warn)


def identity_option(func: F) -> F:
    """`--identity FILE` after the command too (it is also a global option)."""
    return click.option(
        "--identity",
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        is_eager=True,
        callback=_set_identity,
        help="age or SSH identity file to decrypt with.",
    )(func)


def _set_sign_key(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_object(Context).sign_key = value


def sign_key_option(func: F) -> F:
    """`--sign-key FILE`: the SSH private key dangan signs this command's commit with
    (docs/signing.md); also a global option, and DANGAN_SIGNING_KEY."""
    return click.option(
        "--sign-key",
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        is_eager=True,
        callback=_set_sign_key,
        help="SSH private key to sign the commit with (role acts: docs/signing.md).",
    )(func)


def no_commit_option(func: F) -> F:
    """`--no-commit`; every command that commits also takes `--sign-key`."""
    return click.option("--no-commit", is_flag=True, help="Write and stage, but do not commit.")(sign_key_option(func))


def localize(command: click.Command) -> click.Command:
    """`command`, its subcommands and their options with their help in the interface language.

    click's help texts are made at import, before the language is chosen; the English texts
    (the msgids: a command's docstring as inspect.cleandoc leaves it, an option's `help=`) are
    kept on each object the first time and the shown ones set from them on every call, so a
    process may change language (the tests do) and a command is translated however it is
    reached (the lazy group, a group's own subcommands, tests/test_help.py's walk)."""
    import inspect

    from dangan.i18n import language

    todo = [command]
    while todo:
        cmd = todo.pop()
        if getattr(cmd, "_dangan_language", None) == language():
            continue
        cmd._dangan_language = language()  # type: ignore[attr-defined]
        english = cmd.__dict__.setdefault("_dangan_msgids", {
            "help": inspect.cleandoc(cmd.help) if cmd.help else cmd.help,
            "short_help": cmd.short_help, "epilog": cmd.epilog})
        cmd.help = _(english["help"]) if english["help"] else english["help"]
        cmd.short_help = _(english["short_help"]) if english["short_help"] else _first_sentence(cmd.help)
        cmd.epilog = _examples(english["epilog"])
        for param in cmd.params:
            if isinstance(param, click.Option):
                shown = param.__dict__.setdefault("_dangan_msgid", param.help)
                param.help = _(shown) if shown else shown
        if isinstance(cmd, click.Group):
            todo += list(cmd.commands.values())
    return command


def _first_sentence(text: str | None) -> str | None:
    """The list of commands shows each one's first sentence; click finds it by spaces and
    full stops, which Chinese has not (it would show "..."): a translated help gives its own,
    up to the first 。. English help keeps click's way (None)."""
    if not text or "。" not in text:
        return None
    first = text.split("\n\n")[0]
    for stop in "。；：":
        first = first.split(stop)[0]
    return first + "。"


_HEADINGS = (N_("Examples:"), N_("Example:"))


def _examples(epilog: str | None) -> str | None:
    """An epilog in the interface language: its headings ("Examples:") and explanatory
    paragraphs translated (i18n.epilog_paragraphs, the msgids the extractor takes); the
    command lines under them are the same in every language."""
    if not epilog:
        return epilog
    from dangan.i18n import epilog_paragraphs

    for text in epilog_paragraphs(epilog):
        shown = _(text)
        if shown != text:
            epilog = epilog.replace(text, shown, 1)
    return epilog


def emit_json(document: Any) -> None:
    """The document, exact, with the characters a terminal acts on as JSON escapes: its
    first two levels indented by two spaces, each value below them on one line (a gap, a
    finding, a record of a listing: one line each, for `grep` and for the eye)."""
    sys.stdout.write(json_safe(json_layout(document)) + "\n")


def json_layout(value: Any, depth: int = 2, level: int = 0) -> str:
    """JSON text of `value`, indented by two spaces at its first `depth` levels, each
    container below them on one line (as `json.dumps(value, ensure_ascii=False)` writes it).
    Python's encoder indents in Python (0.57 s for the 32,536 gaps of the large demo); on
    one line each, in C: 0.21 s for the same, all told."""
    if level >= depth or not isinstance(value, dict | list | tuple) or not value:
        return _one_line(value)
    pad, end = "\n" + "  " * (level + 1), "\n" + "  " * level
    if isinstance(value, dict):
        items = [f"{_json_key(key)}: {json_layout(item, depth, level + 1)}" for key, item in value.items()]
        return "{" + pad + ("," + pad).join(items) + end + "}"
    return "[" + pad + ("," + pad).join(json_layout(item, depth, level + 1) for item in value) + end + "]"


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return _one_line(key)
    return _one_line(next(iter(json.loads(json.dumps({key: 0})))))  # json's own spelling of 1, True, None


def _make_one_line() -> Callable[[Any], str]:
    """`json.dumps(value, ensure_ascii=False)`, without the encoder made anew at each call
    (its cost is most of a small value's): the standard library's C encoder, made once, when
    this Python has it as 3.11-3.13 do."""
    from json import encoder

    plain = json.JSONEncoder(ensure_ascii=False).encode
    try:
        # no markers (None): a dict of them kept between calls would keep the ids of a call
        # that failed half-way; the documents are trees, made here, never circular
        made = encoder.c_make_encoder(None, json.JSONEncoder().default, encoder.encode_basestring,  # type: ignore[misc]
                                      None, ": ", ", ", False, False, True)

        def one(value: Any) -> str:
            return "".join(made(value, 0))

        probe = {"a": [1, 2.5, None, True, "檔\u2028"], "b": {}}
        if one(probe) == plain(probe):
            return one
    except (AttributeError, TypeError):
        pass
    return plain


_one_line = _make_one_line()


def say(message: str) -> None:
    """Human messages that are not the command's answer go to stderr, with control
    characters and bidi overrides escaped (a message may quote a value or a file name)."""
    click.echo(escape(message, lines=True), err=True)


def listing(header: list[str], rows: list[list[str]], fmt: str = "text") -> None:
    """The rows of a listing (`ls`, `lend ls`, `recipients ls`): on a terminal a table with
    a header line and aligned columns (CJK characters counted double); to a pipe or a file
    tab-separated lines without a header, as scripts have always read them (`--json` for a
    document). `csv`: a header line and the rows quoted by the csv module (RFC 4180: a
    comma, quote or line break in a cell quotes it), a cell a spreadsheet would evaluate
    (`=...`) written with a `'` in front as `export` writes it; exact to a pipe, with the
    characters a terminal acts on escaped on a terminal."""
    if fmt == "csv":
        import csv
        import io

        from dangan.services.exchange import as_written

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([as_written(cell) for cell in cells] for cells in rows)
        text = buffer.getvalue()
        sys.stdout.write(escape(text, lines=True) if sys.stdout.isatty() else text)
        return
    if sys.stdout.isatty():
        for line in columns(header, rows):
            click.echo(line)
        return
    for cells in rows:
        click.echo(row(*cells))


def _labelling() -> bool:
    """Labels instead of stored values: in a table for people (a terminal) in Chinese. A
    pipe gets the stored values in every language, as scripts read them (and `--json`)."""
    from dangan.i18n import language

    return language() != "en" and sys.stdout.isatty()


def shown_status(status: str) -> str:
    """A loan's state in `lend ls`'s table: its name in the interface language on a terminal."""
    return _(status) if _labelling() else status


def status_labels(vault: Vault) -> Callable[[str, str], str]:
    """(category, status) → what `ls`'s table shows: on a terminal in Chinese the label the
    category's schema gives the status (formats.fielddoc, in the interface language's script
    through the catalogs), else the stored value, which never changes."""
    if not _labelling():
        return lambda category, status: status
    from dangan.formats import fielddoc

    known: dict[str, dict[str, str]] = {}

    def label(category: str, status: str) -> str:
        if category not in known:
            try:
                known[category] = fielddoc.labels_of(vault.schemas, category).get("status", {})
            except Exception:  # a broken schema: `dangan check` says so; the table shows values
                known[category] = {}
        found = known[category].get(status)
        return _(found) if found else status

    return label


# ------------------------------------------------------------ shell completion
# click's completion (docs/cli.md "Shell completion") asks these for the values of an
# argument or option; each returns what matches the text typed so far and never fails (a
# completion that raises prints a traceback into the user's command line).

def _completion_vault(ctx: click.Context) -> Vault | None:
    try:
        path = ctx.find_root().params.get("vault_path")
        return Vault.open(Path(path) if path else None)
    except Exception:  # no vault here, or a broken one: nothing to offer
        return None


def complete_code(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Record codes of the work tree that start with `incomplete`. The folders a code's
    typed location names are walked, not the whole vault (SB-A01-02… walks vault/A01/02)."""
    import os

    vault = _completion_vault(ctx)
    if vault is None:
        return []
    typed = incomplete.upper()
    folder = vault.root / "vault"
    for part in typed.split("-")[1:-1]:  # the complete segments after the category
        if not (folder / part).is_dir():
            break
        folder = folder / part
    found = []
    for _folder, dirs, files in os.walk(folder):
        dirs.sort()
        found += [name[:-5] for name in sorted(files) if name.endswith(".yaml") and name.startswith(typed)]
        if len(found) > 500:
            break
    return found


def complete_category(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    vault = _completion_vault(ctx)
    if vault is None:
        return []
    try:
        return [code for code in sorted(vault.schemas.categories) if code.startswith(incomplete.upper())]
    except Exception:  # a broken registry: `dangan check` reports it
        return []


def complete_room(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """The archive rooms the records name (`custody.room`), by one `git grep` of the work tree."""
    vault = _completion_vault(ctx)
    if vault is None:
        return []
    try:
        from dangan.model.script import fold
        from dangan.services.due import rooms_named

        typed = fold(incomplete)  # 总 completes 總部檔案室 too
        return [room for room in sorted(rooms_named(vault)) if room.startswith(incomplete)
                or fold(room).startswith(typed)]
    except Exception:  # git missing, no commit: nothing to offer
        return []


def row(*fields: str) -> str:
    """One line of tab-separated fields, each shown inert: a tab or a line feed inside a
    value is escaped too, so the columns stay columns (docs/format.md §4.4)."""
    return "\t".join(escape(field) for field in fields)
