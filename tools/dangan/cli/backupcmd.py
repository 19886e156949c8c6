"""Backup commands (備份): backup create, verify, restore, mirror, ls, prune."""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import click

from dangan.cli.base import Context, emit_json, identity_option, json_option, pass_ctx, say
from dangan.errors import DanganError
from dangan.i18n import N_, _, shown
from dangan.services import backup
from dangan.store.vault import find_root

# the names of services.backup's steps as the progress bar shows them, in the interface language
_STEP_NAMES = (N_("bundle"), N_("manifest"), N_("checksum"), N_("header"), N_("restore"), N_("refs"),
               N_("fsck"), N_("records"), N_("check"), N_("done"), N_("backup"), N_("verify"), N_("keyring"))


class _Steps:
    """A progress bar over named steps, on a terminal only and never with --json."""

    def __init__(self, steps: Sequence[str], label: str, as_json: bool) -> None:
        self.index = {name: i for i, name in enumerate(steps)}
        self.bar = None
        self.done = 0
        if not as_json and sys.stderr.isatty() and sys.stdout.isatty():
            self.bar = click.progressbar(length=len(steps), label=_(label), file=sys.stderr,
                                         show_eta=False, item_show_func=lambda s: _(s) if s else s)

    def __enter__(self) -> Self:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            if exc[0] is None:
                self.bar.update(self.bar.length - self.done, "done")
            self.bar.__exit__(*exc)

    def __call__(self, name: str) -> None:
        if self.bar is None:
            return
        position = self.index.get(name, self.done)
        self.bar.update(max(0, position - self.done), name)
        self.done = max(self.done, position)


def _print_steps(verification: backup.Verification) -> None:
    for s in verification.steps:
        click.echo(f"  {('WARN' if s.warning else 'ok  ') if s.ok else 'FAIL'} {s.name:<9} {shown(s.detail)}")


def _warn(verification: backup.Verification) -> None:
    """Findings in the vault's content, or no usable keyring backup: the backup stands, the
    operator is told."""
    warned = [s for s in verification.steps if s.ok and s.warning]
    for s in warned:
        say(_("dangan: warning: {message}").format(message=f"{s.name}: {shown(s.detail)}"))
    if any(s.name == "check" for s in warned):
        say(_("hint: {hint}").format(hint=_("the backup is good; fix the vault itself: `dangan check --all` lists every finding")))


def _fail(verification: backup.Verification, what: str) -> None:
    bad = next((s for s in verification.steps if not s.ok), None)
    failure = f"{bad.name}: {shown(bad.detail)}" if bad else verification.failure
    say(_("dangan: error: {message}").format(message=f"{what}: {failure}"))
    raise SystemExit(1)


def _keyring_report(created: backup.Created) -> None:
    """What `create` did with the keyring backups (stderr: stdout stays the bundle's path)."""
    if created.keyring is not None:
        say(_("keyring backup {file}: {n} epoch(s), expires on {date}").format(
            file=created.keyring.path.name, n=len(created.keyring.epochs),
            date=created.keyring.to_json()["expires"]))
    for name in created.keyring_expired_removed:
        say(_("expired keyring backup deleted: {file}").format(file=name))


def _backup_dir(ctx: Context, given: Path | None) -> Path:
    if given is not None:
        return ctx.path(given)
    root = find_root(ctx.vault_path or Path.cwd())
    if root is None:
        raise DanganError(_("no backup directory given and no vault here"),
                          _("give DIR, or run inside a vault (or -C PATH)"))
    return backup.default_dest(root)


@click.group(
    "backup",
    epilog="""\b
Examples:
  dangan backup create --dest /mnt/offsite/archive-backups --incremental
  dangan backup verify /mnt/offsite/archive-backups/檔案庫-20240301T013000Z.bundle
  dangan backup mirror offsite
""",
)
def backup_group() -> None:
    """Backups (備份): verified bundles, restore, an append-only offsite mirror, pruning.

    A bundle counts as a backup only once it has been restored: `create` and `verify`
    prove that by restoring into a temporary directory (see docs/backup.md).
    """


@backup_group.command(
    "create",
    epilog="""\b
Examples:
  dangan backup create --dest /mnt/offsite/archive-backups
  dangan backup create --dest /mnt/offsite/archive-backups --incremental --json
""",
)
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the bundle and its manifest (default: VAULT-backups beside the vault).")
@click.option("--incremental", is_flag=True, help="Only what is new since the latest bundle in DEST.")
@json_option
@identity_option
@pass_ctx
def create_cmd(ctx: Context, dest: Path | None, incremental: bool, as_json: bool) -> None:
    """Bundle every ref with a manifest; report success only after verifying it.

    Prints the bundle's path. Exit 1 when verification fails (no bundle is kept then).
    Findings in the vault's records do not fail it: they are printed as warnings.
    """
    vault = ctx.vault
    target = ctx.path(dest) if dest is not None else backup.default_dest(vault.root)
    with _Steps(backup.CREATE_STEPS, "backup", as_json) as steps:
        created = backup.create(vault, target, incremental, ctx.keyring, on_step=steps)
    if as_json:
        emit_json(created.to_json())
    elif created.unchanged_since:
        say(_("nothing changed since {since}: no new bundle written").format(since=created.unchanged_since))
        _keyring_report(created)
    elif created.ok and created.bundle is not None and created.manifest is not None:
        m = created.manifest
        basis = f" on {m.basis}" if m.basis else ""
        say(_("{kind} bundle{basis}: {refs} ref(s), {records} record(s), {size} bytes; verified").format(
            kind=m.kind, basis=basis, refs=len(m.refs), records=m.records, size=m.size))
        _keyring_report(created)
        click.echo(str(created.bundle))
    if created.ok and created.verification is not None and not as_json:
        _warn(created.verification)  # stderr: stdout stays the bundle's path alone
    if not created.ok and created.verification is not None:
        if not as_json:
            _print_steps(created.verification)
        say(_("dangan: error: {message}").format(message=_("the new bundle failed verification and was removed: {failure}").format(
            failure=created.verification.failure)))
        if created.kind == "incremental":
            say(_("hint: {hint}").format(hint=_("if a bundle it builds on is damaged, make a full one: `dangan backup create` without "
                                       "--incremental")))
        else:
            say(_("hint: {hint}").format(hint=_("see docs/backup.md; `dangan check --all` shows findings in the vault itself")))
        raise SystemExit(1)


@backup_group.command(
    "verify",
    epilog="""\b
Examples:
  dangan backup verify /mnt/offsite/archive-backups/檔案庫-20240301T020000Z.bundle
  dangan backup verify BUNDLE --json
""",
)
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@identity_option
@pass_ctx
def verify_cmd(ctx: Context, bundle: Path, as_json: bool) -> None:
    """Prove a bundle restores: checksum, refs, trial restore, git fsck --full, checks.

    An incremental bundle is verified with the bundles it builds on. Exit 1 naming the
    step that failed.
    """
    path = ctx.path(bundle)
    root = find_root(ctx.vault_path or Path.cwd())
    with _Steps(backup.VERIFY_STEPS, "verify", as_json) as steps:
        result = backup.verify_file(path, ctx.keyring, cache_from=root, on_step=steps)
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(f"{path.name}: {'verified' if result.ok else 'FAILED'}")
        _print_steps(result)
        if result.ok:
            _warn(result)
    if not result.ok:
        _fail(result, f"{path.name} failed verification")


@backup_group.command(
    "restore",
    epilog="""\b
Examples:
  dangan backup restore /mnt/offsite/archive-backups/檔案庫-20240301T020000Z.bundle ./restored
""",
)
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@json_option
@identity_option
@pass_ctx
def restore_cmd(ctx: Context, bundle: Path, directory: Path, as_json: bool) -> None:
    """Make a working vault in DIRECTORY (new or empty) with every ref, hooks installed, checked."""
    target = ctx.path(directory).absolute()
    with _Steps(backup.RESTORE_STEPS, "restore", as_json) as steps:
        result = backup.restore(ctx.path(bundle), target, ctx.keyring, on_step=steps)
    if as_json:
        emit_json(result.to_json())
    else:
        _print_steps(result.verification)
        if result.verification.ok:
            click.echo(str(target))
            _warn(result.verification)
    if not result.verification.ok:
        kept = f" (the restored vault is at {target})" if result.written else " (nothing was written)"
        _fail(result.verification, f"restore failed{kept}")


@backup_group.command(
    "mirror",
    epilog="""\b
Examples:
  dangan backup mirror offsite
  dangan backup mirror /mnt/usb/archive.git --json
""",
)
@click.argument("remote")
@json_option
@pass_ctx
def mirror_cmd(ctx: Context, remote: str, as_json: bool) -> None:
    """Push every ref to REMOTE without force and without deleting there, then compare.

    Refs that diverged (a rewritten history, a moved tag) are refused and reported: exit 1,
    and the remote keeps what it had.
    """
    result = backup.mirror(ctx.vault.root, remote)
    if as_json:
        emit_json(result.to_json())
    else:
        for ref in result.pushed:
            click.echo(f"pushed    {ref}")
        for ref, why in sorted(result.rejected.items()):
            click.echo(f"REFUSED   {ref}: {why}")
        for ref in result.remote_only:
            click.echo(f"kept      {ref} (only on the remote; a mirror never deletes)")
        for ref, pair in sorted(result.differ.items()):
            if ref not in result.rejected:
                click.echo(f"DIFFERS   {ref}: local {pair['local']}, remote {pair['remote']}")
        say(_("{pushed} pushed, {unchanged} already there, {refused} refused, {remote} only on the remote").format(
            pushed=len(result.pushed), unchanged=len(result.unchanged), refused=len(result.rejected),
            remote=len(result.remote_only)))
    if not result.ok:
        say(_("dangan: error: {message}").format(message=_("{n} ref(s) on {remote} differ from this vault").format(n=len(result.differ), remote=remote)))
        say(_("hint: {hint}").format(hint=_("a diverged ref means local history was rewritten or the remote moved; "
                                   "see docs/backup.md \"Mirror refused\"")))
        raise SystemExit(1)


@backup_group.command(
    "ls",
    epilog="""\b
Examples:
  dangan backup ls /mnt/offsite/archive-backups
  dangan backup ls --json
""",
)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@json_option
@pass_ctx
def ls_cmd(ctx: Context, directory: Path | None, as_json: bool) -> None:
    """List the bundles in DIRECTORY (default: the vault's backup directory), oldest first."""
    entries = backup.list_bundles(_backup_dir(ctx, directory))
    if as_json:
        emit_json({"bundles": [e.to_json() for e in entries]})
        return
    for e in entries:
        info: dict[str, Any] = e.to_json()
        kind = info["kind"] or "?"
        basis = f" on {info['basis']}" if info["basis"] else ""
        size = f"{info['size']} B" if info["size"] is not None else "missing"
        line = f"{e.path.name}  {kind}{basis}  {info['refs'] or 0} refs  {info['records'] or 0} records  {size}"
        click.echo(line + (f"  ! {e.problem}" if e.problem else ""))
        ring = info["keyring"]
        if ring is not None:
            if ring["problem"]:
                state = _("unreadable: {problem}").format(problem=shown(ring["problem"]))
            elif ring["expired"]:
                state = _("EXPIRED on {date}: delete it (`dangan backup prune` or the next `dangan backup create`)").format(
                    date=ring["expires"])
            else:
                state = _("{n} epoch(s), expires on {date}").format(n=len(ring["epochs"]), date=ring["expires"])
            click.echo(f"  {ring['file']}  {state}")
    say(_("{n} bundle(s)").format(n=len(entries)))


@backup_group.command(
    "prune",
    epilog="""\b
Examples:
  dangan backup prune /mnt/offsite/archive-backups --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 7 --dry-run
""",
)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--keep-last", type=click.IntRange(0), default=0, help="Keep the N newest bundles.")
@click.option("--keep-daily", type=click.IntRange(0), default=0, help="Keep the newest bundle of each of the last N days that have one.")
@click.option("--keep-weekly", type=click.IntRange(0), default=0, help="... of the last N ISO weeks.")
@click.option("--keep-monthly", type=click.IntRange(0), default=0, help="... of the last N months.")
@click.option("--keep-yearly", type=click.IntRange(0), default=0, help="... of the last N years.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@json_option
@pass_ctx
def prune_cmd(ctx: Context, directory: Path | None, keep_last: int, keep_daily: int, keep_weekly: int,
              keep_monthly: int, keep_yearly: int, dry_run: bool, as_json: bool) -> None:
    """Thin out old bundles by restic-style keep rules; never one a kept incremental needs.

    Days, weeks, months and years are counted in the vault's timezone (from the manifests).
    """
    keep = {"last": keep_last, "daily": keep_daily, "weekly": keep_weekly, "monthly": keep_monthly, "yearly": keep_yearly}
    decisions = backup.prune(_backup_dir(ctx, directory), keep, dry_run)
    removed = [d for d in decisions if not d.keep]
    if as_json:
        emit_json({"dry_run": dry_run, "decisions": [d.to_json() for d in decisions]})
        return
    for d in decisions:
        reasons = f"  ({', '.join(d.reasons)})" if d.reasons else ""
        click.echo(f"{'keep' if d.keep else 'remove':<6} {d.entry.path.name}{reasons}")
        if d.entry.keyring_path is not None:
            why = f"  ({shown(d.keyring_reason)})" if d.keyring_reason else ""
            click.echo(f"{'remove' if d.keyring_remove else 'keep':<6} {d.entry.keyring_path.name}{why}")
    line = _("{kept} kept, {n} would be removed") if dry_run else _("{kept} kept, {n} removed")
    say(line.format(kept=len(decisions) - len(removed), n=len(removed)))
    rings = sum(1 for d in decisions if d.keyring_remove)
    if rings:
        line = _("{n} keyring backup(s) would be removed") if dry_run else _("{n} keyring backup(s) removed")
        say(line.format(n=rings))


COMMANDS = [backup_group]
