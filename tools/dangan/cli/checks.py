"""Check commands: check, fmt, hook."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import check as checks
from .. import gitio
from ..errors import DanganError
from ..initvault import install_hooks_config
from ..yamlio import YamlError, canonical, decode
from .base import identity_option, Context, emit_json, json_option, no_commit_option, pass_ctx, say


def _report(result: checks.CheckResult, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_json())
    else:
        for finding in sorted(result.findings):
            click.echo(finding.line())
        n = len(result.findings)
        click.echo(f"{result.checked} file(s) checked, {n} finding{'s' if n != 1 else ''}")
    if result.findings:
        raise SystemExit(1)


def _progress(items: list, label: str, as_json: bool):
    if as_json or not sys.stdout.isatty() or len(items) < 500:
        return _Null(items)
    return click.progressbar(items, label=label, file=sys.stderr)


class _Null:
    def __init__(self, items: list) -> None:
        self.items = items

    def __enter__(self) -> list:
        return self.items

    def __exit__(self, *exc: object) -> None:
        return None


@click.command(
    "check",
    epilog="""\b
Examples:
  dangan check                      # every file (same as --all)
  dangan check vault/A01/02         # one folder
  dangan check --staged             # what is about to be committed
  dangan check --range main..HEAD --json
""",
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--all", "all_", is_flag=True, help="Check every file of the vault (default).")
@click.option("--staged", is_flag=True, help="Check the staged index, not the work tree.")
@click.option("--range", "rev_range", metavar="A..B", help="Check the files changed between two commits.")
@json_option
@identity_option
@pass_ctx
def check_cmd(ctx: Context, paths, all_: bool, staged: bool, rev_range: str | None, as_json: bool) -> None:
    """Run the coding rules; print `PATH: DGnnn message` lines; exit 1 on any finding."""
    vault = ctx.vault
    chosen = sum(bool(x) for x in (paths, all_, staged, rev_range))
    if chosen > 1:
        raise DanganError("give only one of PATH..., --all, --staged, --range")
    if staged:
        result = checks.run_checks(vault, checks.staged(vault), include_config=True)
    elif rev_range:
        result = checks.run_checks(vault, checks.range_files(vault, rev_range), include_config=True)
    elif paths:
        rels = checks.expand_paths(vault, paths)
        result = checks.run_checks(vault, checks.work_tree(vault, rels), include_config=False)
    else:
        rels = list(vault.record_files())
        with _progress(rels, "checking", as_json) as items:
            result = checks.run_checks(vault, checks.work_tree(vault, items), include_config=True)
    _report(result, as_json)


@click.command(
    "fmt",
    epilog="""\b
Examples:
  dangan fmt --check
  dangan fmt vault/A01/02/SB/SB-A01-02-0001.yaml
""",
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@no_commit_option
@json_option
@pass_ctx
def fmt_cmd(ctx: Context, paths, check_only: bool, no_commit: bool, as_json: bool) -> None:
    """Rewrite records in canonical form (comments kept, ciphertext never touched)."""
    vault = ctx.vault
    rels = checks.expand_paths(vault, paths) if paths else list(vault.record_files())
    changes: dict[str, bytes] = {}
    unreadable: list[str] = []
    for rel in rels:
        if not rel.endswith(".yaml"):
            continue
        data = (vault.root / rel).read_bytes()
        try:
            text = decode(data)
            new = canonical(text)
        except YamlError as exc:
            unreadable.append(rel)
            say(f"{rel}: DG101 {exc}")
            continue
        if new != text:
            changes[rel] = new.encode("utf-8")
    if not check_only and changes:
        with vault.lock():
            vault.apply(changes, f"dangan fmt: {len(changes)} file(s)", not no_commit)
    if as_json:
        emit_json({"changed": sorted(changes), "unreadable": unreadable, "written": not check_only})
    else:
        verb = "would reformat" if check_only else "reformatted"
        for rel in sorted(changes):
            click.echo(f"{verb} {rel}")
        click.echo(f"{len(changes)} file(s) {verb}, {len(rels) - len(changes) - len(unreadable)} unchanged")
    if unreadable or (check_only and changes):
        raise SystemExit(1)


@click.group("hook")
def hook_group() -> None:
    """What the scripts in hooks/ call (and `hook install` for a fresh clone)."""


@hook_group.command("pre-commit")
@pass_ctx
def hook_pre_commit(ctx: Context) -> None:
    """Check the staged index (git runs this before each commit)."""
    result = checks.run_checks(ctx.vault, checks.staged(ctx.vault), include_config=True)
    _hook_report(result, "commit")


@hook_group.command("pre-push", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1)
@pass_ctx
def hook_pre_push(ctx: Context, args) -> None:
    """Check every commit range being pushed (refs read from stdin, as git gives them)."""
    vault = ctx.vault
    result = checks.CheckResult()
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) != 4 or set(parts[1]) == {"0"}:
            continue
        local_sha, remote_sha = parts[1], parts[3]
        known = set(remote_sha) != {"0"} and gitio.run(["cat-file", "-e", f"{remote_sha}^{{commit}}"], vault.root, check=False).returncode == 0
        spec = f"{remote_sha}..{local_sha}" if known else local_sha
        part = checks.run_checks(vault, checks.range_files(vault, spec), include_config=True)
        result.checked += part.checked
        result.findings.extend(f for f in part.findings if f not in result.findings)
    _hook_report(result, "push")


@hook_group.command("install")
@pass_ctx
def hook_install(ctx: Context) -> None:
    """Set core.hooksPath to the vault's hooks/ (for a fresh clone)."""
    vault = ctx.vault
    current = gitio.config_get(vault.root, "core.hooksPath")
    if current not in (None, "hooks"):
        raise DanganError(
            f"core.hooksPath is already set to {current!r} (another hook manager?)",
            "unset it (`git config --unset core.hooksPath`) or make that manager call `dangan hook pre-commit`",
        )
    if current is None and any(
        p.is_file() and not p.name.endswith(".sample") for p in (vault.git_dir / "hooks").glob("*")
    ):
        raise DanganError(
            f"{vault.git_dir / 'hooks'} holds hooks of another tool",
            "remove them or call `dangan hook pre-commit` from them, then run this again",
        )
    install_hooks_config(vault.root)
    click.echo("hooks installed: core.hooksPath = hooks; diff driver: dangan textconv")


def _hook_report(result: checks.CheckResult, action: str) -> None:
    if not result.findings:
        return
    for finding in sorted(result.findings):
        click.echo(finding.line(), err=True)
    click.echo(f"dangan: {action} refused: {len(result.findings)} finding(s); fix them and retry", err=True)
    raise SystemExit(1)


COMMANDS = [check_cmd, fmt_cmd, hook_group]
