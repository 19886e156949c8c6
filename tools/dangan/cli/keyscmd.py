"""Key commands: keys generate/updatekeys/rotate, recipients ls/add/remove, decrypt, textconv."""
from __future__ import annotations

from pathlib import Path

import click

from dangan import i18n
from dangan.cli.base import (
    Context,
    complete_code,
    emit_json,
    identity_option,
    json_option,
    listing,
    listing_options,
    no_commit_option,
    pass_ctx,
    say,
    sign_key_option,
)
from dangan.errors import DanganError
from dangan.formats.terminal import escape
from dangan.formats.yamlio import dump
from dangan.i18n import _
from dangan.model.codes import parse_code
from dangan.services import keys
from dangan.store.sealing import Keyring
from dangan.store.vault import Vault


def _report(change: keys.KeyChange, as_json: bool, what: str) -> None:
    if as_json:
        emit_json({"rewrapped": change.rewrapped, "rotated": change.rotated, "commit": change.commit,
                   "hand_edited_vault_yaml": change.hand_edited_config})
        return
    say(_("{what}: {n} record(s) re-wrapped, {rotated} rotated").format(
        what=what, n=len(change.rewrapped), rotated=len(change.rotated)))
    if change.hand_edited_config:
        say(_("vault.yaml (edited by hand) committed with them") if change.commit
            else _("vault.yaml (edited by hand) staged with them"))
    if change.sops_config:
        say(_(".sops.yaml rewritten from vault.yaml and schemas/ (committed)") if change.commit
            else _(".sops.yaml rewritten from vault.yaml and schemas/ (staged)"))
    if change.commit:
        click.echo(change.commit)


@click.group("keys", epilog="\b\nExamples:\n  dangan keys generate\n  dangan keys updatekeys\n  dangan keys rotate YZ-A01-02-001-0301-0001")
def keys_group() -> None:
    """Identities and data keys."""


@keys_group.command(
    "generate",
    epilog="""\b
Examples:
  dangan keys generate
  dangan keys generate --out ./archivist.key
""",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Identity file (default ~/.config/sops/age/keys.txt; appended).")
@json_option
def keys_generate(out: Path | None, as_json: bool) -> None:
    """Create an age identity (file 0600, appended, never overwritten); print its public key."""
    public, path = keys.generate(out)
    if as_json:
        emit_json({"recipient": public, "file": str(path)})
    else:
        say(_("identity written to {path}").format(path=path))
        click.echo(public)


@keys_group.command("updatekeys", epilog="\b\nExample:\n  dangan keys updatekeys")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def keys_updatekeys(ctx: Context, no_commit: bool, as_json: bool) -> None:
    """Re-wrap every record's data key for the recipients in vault.yaml.

    A record that would lose a recipient gets a new data key instead. After a hand edit of
    vault.yaml, the edit is committed together with the records.
    """
    _report(keys.updatekeys(ctx.vault, not no_commit), as_json, "updatekeys")


@keys_group.command("rotate", epilog="\b\nExamples:\n  dangan keys rotate\n  dangan keys rotate YZ-A01-02-001-0301-0001")
@click.argument("codes", nargs=-1, shell_complete=complete_code)
@no_commit_option
@json_option
@identity_option
@pass_ctx
def keys_rotate(ctx: Context, codes, no_commit: bool, as_json: bool) -> None:
    """New data keys for the given records (default: all); values re-encrypted."""
    _report(keys.rotate(ctx.vault, [parse_code(c) for c in codes], not no_commit), as_json, "rotate")


@keys_group.command("migrate-epochs", epilog="\b\nExample:\n  dangan keys migrate-epochs")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def keys_migrate_epochs(ctx: Context, no_commit: bool, as_json: bool) -> None:
    """Make this an epoch vault (crypto-shredding, docs/shredding.md), in one commit.

    epochs.yaml is written, an epoch identity is made in this clone's keyring
    (.git/dangan/keyring/) for each retention end year and readers, and every encrypted
    record and attachment gets a new data key wrapped to its epoch alone.
    """
    _report(keys.migrate_epochs(ctx.vault, not no_commit), as_json, "migrate-epochs")
    say(_("dangan: note: {path} now holds the only copy of the epoch identities; `dangan backup` does not "
          "include it yet: copy it somewhere safe (docs/shredding.md, runbook)").format(
        path=ctx.vault.epoch_keys.directory))


@keys_group.command("export-epochs", epilog="\b\nExamples:\n  dangan keys export-epochs epochs.txt\n"
                    "  SOPS_AGE_KEY_FILE=epochs.txt sops -d vault/.../CODE.yaml")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@identity_option
@pass_ctx
def keys_export_epochs(ctx: Context, file: Path, as_json: bool) -> None:
    """Write the live epoch identities your keys unlock to an age keys file (0600), for
    `sops -d` and `age -d`. A file that is not such an export is never overwritten."""
    made = keys.export_epochs(ctx.vault, ctx.path(file))
    if as_json:
        emit_json({"file": str(made.file), "epochs": made.epochs, "unreadable": made.unreadable})
        return
    say(_("{n} epoch identity(ies) written to {path} (0600)").format(n=len(made.epochs), path=made.file))
    if made.unreadable:
        say(_("not written, none of your keys opens them: {epochs}").format(epochs=", ".join(made.unreadable)))
    for epoch in made.epochs:
        click.echo(epoch)


@keys_group.command(
    "shred",
    epilog="""\b
Examples:
  dangan keys shred --by 周文 --dry-run
  dangan keys shred --by 周文 --at 2028-01-15T10:00:00+08:00 --backups /mnt/offsite/archive-backups
""",
)
@click.option("--by", "by", metavar="NAME", help="Archivist who carries it out (default: git's author name).")
@click.option("--at", "at", metavar="WHEN", help="When (default: now); epochs of its year and before are looked at.")
@click.option("--backups", type=click.Path(file_okay=False, path_type=Path),
              help="Where the keyring backups are (default: the vault's backup directory).")
@click.option("--dry-run", "dry_run", is_flag=True, help="Say what would be shredded, moved and why others wait; change nothing.")
@sign_key_option
@json_option
@identity_option
@pass_ctx
def keys_shred(ctx: Context, by: str | None, at: str | None, backups: Path | None, dry_run: bool,
               as_json: bool) -> None:
    """Destroy the keys of the epochs whose records are destroyed (docs/shredding.md).

    After `retention apply`: for each year epoch whose records are all destroyed or kept,
    the kept ones (held, extended) are sealed to a later epoch, the epoch is marked
    shredded in epochs.yaml and in its disposal certificate (XH `shreds`), in one commit,
    and then its identity is overwritten and deleted from this clone's keyring. Also
    deletes this clone's copies of epochs shredded elsewhere. Reports the keyring backups
    that still hold a shredded epoch: the destruction reaches every copy when they expire.
    """
    from dangan.cli.retentioncmd import _person
    from dangan.model.timeutil import parse_at
    from dangan.services import shred as shredding

    vault = ctx.vault
    done = shredding.shred(vault, parse_at(at, vault.tz), _person(vault, by), backups=ctx.path(backups) if backups else None,
                           dry_run=dry_run)
    if as_json:
        emit_json(done.to_json())
        return
    for epoch in done.swept:
        say(_("epoch {epoch}: shredded before; this clone's copy of its key deleted now").format(epoch=epoch))
    for e in done.shredded:
        line = (_("epoch {epoch} would be shredded ({certificate}): {n} destroyed record(s)") if done.dry_run
                else _("epoch {epoch} shredded ({certificate}): {n} destroyed record(s)"))
        say(line.format(epoch=e.epoch, certificate=e.certificate, n=len(e.destroyed)))
        for code, why, detail in e.moved:
            if why == shredding.HELD:
                say(_("  {code} is held ({holds}): sealed to a later epoch first").format(code=code, holds=detail))
            elif why == shredding.OPEN_RECORD:
                say(_("  {code} is open (its end not known yet): sealed to a later epoch first").format(code=code))
            elif why == shredding.END and detail == "permanent":
                say(_("  {code} is kept permanently now: sealed to its epoch first").format(code=code))
            elif why == shredding.END:
                say(_("  {code} is kept until {year}: sealed to its epoch first").format(code=code, year=detail))
            else:
                say(_("  {code} has other readers now: sealed to their epoch first").format(code=code))
        until = done.reaches_every_copy(e.epoch)
        if until is not None:
            names = ", ".join(c.path.name for c in done.kept_copies if e.epoch in c.epochs)
            say(_("  keyring backups still hold it until {day} ({names}): the destruction reaches every copy "
                  "when they expire and are deleted").format(day=until.date().isoformat(), names=names))
        elif done.backups is not None:
            say(_("  no keyring backup in {path} holds it: with this clone's copy gone, no key the company "
                  "keeps there opens its records in any commit, clone or bundle").format(path=done.backups))
    for e in done.waiting:
        code, why, day = e.waiting[0]
        line = (_("epoch {epoch} waits: {code} was due on {day} and is not destroyed yet") if why == shredding.DUE
                else _("epoch {epoch} waits: {code} is not due until {day}"))
        more = len(e.waiting) - 1
        say(line.format(epoch=e.epoch, code=code, day=day) + (_(" ({n} more)").format(n=more) if more else ""))
    if not done.shredded and not done.waiting and not done.swept:
        say(_("nothing to shred as of {day}").format(day=done.day.isoformat()))
    if done.commit:
        click.echo(done.commit)


@click.group("recipients", epilog="\b\nExamples:\n  dangan recipients ls\n  dangan recipients add 李強 age1... --role approver\n  dangan recipients remove 李強")
def recipients_group() -> None:
    """Who can read sensitive fields (vault.yaml `recipients`)."""


@recipients_group.command("ls", epilog="\b\nExample:\n  dangan recipients ls --json")
@listing_options
@pass_ctx
def recipients_ls(ctx: Context, fmt: str, as_json: bool) -> None:
    """List recipients, their roles and the categories they can read."""
    as_json = as_json or fmt == "json"
    rows = keys.recipients_table(ctx.vault)
    if as_json:
        emit_json(rows)
        return
    header = [_("name"), _("roles"), _("categories"), _("key")] if fmt == "text" else ["name", "roles", "categories", "key"]
    listing(header, [[str(r["name"]), ",".join(r["roles"]) or "-", ",".join(r["categories"]), str(r["key"])]
                     for r in rows], fmt)


@recipients_group.command(
    "add",
    epilog="""\b
Examples:
  dangan recipients add 李強 age1... --role approver
  dangan recipients add 王芳 "ssh-ed25519 AAAA... wang@example.com" --role archivist
""",
)
@click.argument("name")
@click.argument("key")
@click.option("--role", "roles", multiple=True, type=click.Choice(keys.ROLES), help="archivist and/or approver (default: none, a reader).")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def recipients_add(ctx: Context, name: str, key: str, roles, no_commit: bool, as_json: bool) -> None:
    """Add a recipient and re-wrap every encrypted record they may read (needs your key)."""
    _report(keys.add_recipient(ctx.vault, name, key, list(roles), not no_commit), as_json, _("added {name}").format(name=name))


@recipients_group.command("remove", epilog="\b\nExample:\n  dangan recipients remove 李強")
@click.argument("name")
@no_commit_option
@json_option
@identity_option
@pass_ctx
def recipients_remove(ctx: Context, name: str, no_commit: bool, as_json: bool) -> None:
    """Remove a recipient; the records they could read get new data keys."""
    _report(keys.remove_recipient(ctx.vault, name, not no_commit), as_json, _("removed {name}").format(name=name))


@click.command(
    "decrypt",
    epilog="""\b
Examples:
  dangan decrypt vault/A01/02/001/0301/YZ/YZ-A01-02-001-0301-0001.yaml
  dangan --identity keys.txt decrypt secrets.json
""",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@identity_option
@pass_ctx
def decrypt_cmd(ctx: Context, file: Path, as_json: bool) -> None:
    """Print the decrypted content of any SOPS YAML or JSON file (MAC checked)."""
    path = ctx.path(file)
    _epochs_of(ctx, path)
    plain, kind = keys.decrypt_file(path, ctx.keyring)
    _journal_file(ctx, path, plain)
    if as_json or kind == "json":
        from dangan.formats import sops  # as `sops decrypt --output-type json` prints it
        click.echo(sops.json_text(plain), nl=False)
    else:
        click.echo(escape(dump(plain), lines=True), nl=False)  # bidi overrides: format.md §4.4


@click.command("textconv", hidden=True, epilog="\b\nExample (what git runs for records, via .gitattributes):\n  git config diff.dangan.textconv 'dangan textconv'")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@identity_option
@pass_ctx
def textconv_cmd(ctx: Context, file: Path) -> None:
    """Git diff driver: a record decrypted for key holders, masked for others."""
    try:
        vault: Vault | None = ctx.vault
    except DanganError:
        vault = None
    shown = keys.textconv(vault, file, ctx.keyring)
    if vault is not None and ctx.keyring.available():
        masked = keys.textconv(vault, file, _NoKeys())
        if shown != masked:  # the key holder's view: plaintext a person will read
            from dangan.cli.auditcmd import journal_decryption
            from dangan.store.journal import JournalError

            try:  # git runs the driver once per version of each record a diff shows
                journal_decryption(ctx, _codes_in(file), vault=vault)
            except JournalError as exc:  # a diff must still show something: the masked view
                say(_("dangan: warning: {message}").format(message=_("{message}; showing the record masked").format(
                    message=i18n.shown(exc.message))))
                shown = masked
    click.echo(escape(shown, lines=True), nl=False)  # git shows it on a terminal: format.md §4.4


def _epochs_of(ctx: Context, path: Path) -> None:
    """A file of an epoch vault opens with the epoch identities your keys unlock."""
    from dangan.store.epochkeys import EPOCHS
    from dangan.store.vault import find_root

    root = find_root(path.parent) if path.parent.is_dir() else None
    if root is not None and ctx.keyring.epoch_root is None and (root / EPOCHS).is_file():
        ctx.keyring.epoch_root = root


class _NoKeys(Keyring):
    """A keyring that holds nothing: the diff driver's view for someone without a key."""

    def available(self) -> bool:
        return False


def _codes_in(file: Path) -> list[str]:
    """The code a record file names (git hands the driver a temporary copy)."""
    from dangan.formats.yamlio import YamlError, decode, load_text

    try:
        code = load_text(decode(file.read_bytes())).get("code")
    except (OSError, YamlError, AttributeError):
        return []
    return [code] if isinstance(code, str) else []


def _journal_file(ctx: Context, path: Path, plain: object) -> None:
    """`decrypt FILE`: journaled in the vault that holds FILE, else (a copy, or a file that
    is no record) in the user's journal; a record is named by its code wherever it lies."""
    from dangan.cli.auditcmd import journal_decryption, vault_of_file

    vault, root = vault_of_file(path)
    code = plain.get("code") if isinstance(plain, dict) else None
    try:
        codes = [str(parse_code(code))] if isinstance(code, str) else []
    except DanganError:
        codes = []
    journal_decryption(ctx, codes, files=[str(path.resolve())], vault=vault, root=root)

COMMANDS = [keys_group, recipients_group, decrypt_cmd, textconv_cmd]
