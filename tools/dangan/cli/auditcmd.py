"""`dangan audit ls|verify`: read the access journal; `journal_decryption()` writes it for
the commands that show plaintext (services/records.py, historycmd.py, keyscmd.py)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from dangan.cli.base import Context, emit_json, json_option, pass_ctx, row, say
from dangan.errors import DanganError, Refusal
from dangan.git import gitio
from dangan.i18n import _, ngettext
from dangan.model.timeutil import parse_when
from dangan.store import journal
from dangan.store.vault import Vault, find_root

CODES_SHOWN = 6  # codes per line in `audit ls` text; --json has them all


# --------------------------------------------------------------- writing (for commands)

def journal_decryption(ctx: Context, codes: Sequence[str], *, files: Sequence[str] = (),
                       vault: Vault | None = None, root: Path | None = None) -> None:
    """One entry for the running command, before it prints plaintext (JournalError: exit 2).

    The journal is the vault's (`vault`, or the repository at `root`), or the user's when
    the command works outside every vault (`decrypt FILE` of a copied file).
    """
    click_ctx = click.get_current_context()
    if vault is not None:
        root = vault.root
    tz = vault.tz if vault is not None else None
    journal.note(root, click_ctx.command_path.removeprefix("dangan ").strip(), codes,
                 files=files, identities=identities_of(ctx, vault), argv=invocation(click_ctx), tz=tz)


def invocation(click_ctx: click.Context) -> list[str]:
    """The command line as click parsed it (`dangan show CODE --decrypt --identity F`):
    the real argv is not at hand in-process; values are codes, dates, paths, never keys."""
    words: list[str] = []
    chain = []
    current: click.Context | None = click_ctx
    while current is not None:
        chain.append(current)
        current = current.parent
    for level in reversed(chain):
        words.append(level.info_name or "")
        for param in level.command.params:
            value = level.params.get(param.name or "")
            if value in (None, False, (), []) or param.name in ("as_json",):
                continue
            if isinstance(param, click.Argument):
                words += [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
                continue
            flag = max(param.opts, key=len)
            for item in value if isinstance(value, (list, tuple)) else [value]:
                words += [flag] if item is True else [flag, _plain(item)]
    return [w for w in words if w]


def _plain(value: Any) -> str:
    if hasattr(value, "read"):  # an open click.File: its name
        return str(getattr(value, "name", "-"))
    return str(value)


def identities_of(ctx: Context, vault: Vault | None) -> list[dict[str, Any]]:
    """The identities the command held, by public key and recipient name (never secrets)."""
    try:
        held = ctx.keyring.identities
    except DanganError:
        return []
    names = {}
    if vault is not None:
        names = {str(r.get("key", "")).strip().lower(): r.get("name") for r in vault.recipients if isinstance(r, dict)}
    out = []
    for identity in held:
        to_public = getattr(identity, "to_public", None)
        if to_public is None:
            out.append({"kind": "ssh", "key": None, "recipient": None})
            continue
        public = str(to_public())
        out.append({"kind": "age", "key": public, "recipient": names.get(public.lower())})
    if ctx.keyring.explicit is not None:
        for item in out:
            item["file"] = str(ctx.keyring.explicit)
    return out


def vault_of_file(path: Path) -> tuple[Vault | None, Path | None]:
    """`decrypt FILE`: the vault holding FILE (its root even when vault.yaml is broken),
    or (None, None): the user's journal."""
    root = find_root(path.parent) if path.parent.exists() else None
    if root is None or gitio.toplevel(root) is None:  # no Git directory to keep a journal in
        return None, None
    try:
        return Vault.open(root, search=False), root
    except DanganError:
        return None, root


# ------------------------------------------------------------------------- commands

@click.group("audit", epilog="""\b
Examples:
  dangan audit ls --since 2024-06-01
  dangan audit ls --code YZ-A01-02-001-0301-0001 --json
  dangan audit verify
""")
def audit_group() -> None:
    """The local access journal: who decrypted which records, when, with which command."""


def _root(ctx: Context, user: bool) -> tuple[Path | None, Any]:
    if user:
        return None, None
    vault = ctx.vault
    return vault.root, vault.tz


@audit_group.command("ls", epilog="""\b
Examples:
  dangan audit ls
  dangan audit ls --since 2024-06-01 --until 2024-06-30 --by 王芳
  dangan audit ls --code YZ-A01-02-001-0301-0001 --json
  dangan audit ls --user-journal
\b
Text columns: line, time, who (OS user@host), command, codes. The journal is local to this
clone and is not a proof against its own user; see docs/journal.md.
""")
@click.option("--since", metavar="DATE", help="Entries at or after DATE (a bare date: its start, vault timezone).")
@click.option("--until", metavar="DATE", help="Entries up to DATE (a bare date: its end).")
@click.option("--code", metavar="CODE", help="Only entries that name this record code (or decrypted file path).")
@click.option("--by", "who", metavar="NAME", help="Only entries by this person (git user.name) or OS user.")
@click.option("--user-journal", "user", is_flag=True, help="Read the journal of decryptions outside any vault.")
@json_option
@pass_ctx
def audit_ls(ctx: Context, since: str | None, until: str | None, code: str | None, who: str | None,
             user: bool, as_json: bool) -> None:
    """List journal entries, oldest first."""
    root, tz = _root(ctx, user)
    zone = tz or dt.datetime.now().astimezone().tzinfo
    start = parse_when(since, zone) if since else None
    end = parse_when(until, zone, end_of_day=True) if until else None
    if start is not None and end is not None and start > end:
        raise DanganError(_("--since {since} is after --until {until}").format(since=since, until=until))
    found = journal.entries(root, start, end, code, who)
    check = journal.verify(root)
    if not check.intact:
        say(_("dangan: warning: {message}").format(message=_("the journal's hash chain is broken ({n} problem(s)); run `dangan audit verify`").format(
            n=len(check.problems))))
    if as_json:
        emit_json({"journal": str(check.path), "intact": check.intact, "entries": [e.as_dict() for e in found]})
        return
    if not check.exists:
        say(_("no journal yet ({path}): nothing has been decrypted with dangan here").format(path=check.path))
    for entry in found:
        shown = entry.codes + entry.files
        names = ", ".join(shown[:CODES_SHOWN]) + (f" (+{len(shown) - CODES_SHOWN} more)" if len(shown) > CODES_SHOWN else "")
        click.echo(row(str(entry.line), entry.time, f"{entry.who or '-'} ({entry.user}@{entry.host})",
                       entry.command, names))


@audit_group.command("verify", epilog="""\b
Examples:
  dangan audit verify
  dangan audit verify --json
\b
Exit 0: the chain is intact; 1: a line was edited, inserted or removed (named). A cut-off
tail or an altered last line cannot be seen from the file alone.
""")
@click.option("--user-journal", "user", is_flag=True, help="Check the journal of decryptions outside any vault.")
@json_option
@pass_ctx
def audit_verify(ctx: Context, user: bool, as_json: bool) -> None:
    """Check the journal's hash chain line by line."""
    root, _zone = _root(ctx, user)
    check = journal.verify(root)
    if as_json:
        emit_json(check.as_dict())
    elif not check.exists:
        say(_("no journal ({path}): nothing has been decrypted with dangan here").format(path=check.path))
    elif check.intact:
        say(ngettext("{path}: {n} entry, hash chain intact", "{path}: {n} entries, hash chain intact",
                     check.entries).format(path=check.path, n=check.entries))
    if check.intact:
        return
    if as_json:
        raise SystemExit(1)  # the document already lists the problems
    for problem in check.problems:
        click.echo(f"{check.path}: {problem}")
    raise Refusal(_("the access journal has {n} problem(s)").format(n=len(check.problems)),
                  _("compare it with a copy shipped off the machine (syslog); see docs/journal.md"))

COMMANDS = [audit_group]
