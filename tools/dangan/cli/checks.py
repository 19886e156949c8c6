"""Check commands: check, fmt, hook."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from dangan import i18n
from dangan.cli.base import (
    Context,
    emit_json,
    identity_option,
    json_option,
    no_commit_option,
    pass_ctx,
    say,
)
from dangan.errors import DanganError
from dangan.formats import findings as shown
from dangan.formats import sopsyaml
from dangan.formats.terminal import CountLine, escape
from dangan.formats.yamlio import YamlError, canonical, decode
from dangan.git import gitio
from dangan.hook import hookrun
from dangan.i18n import _
from dangan.rules import check as checks
from dangan.services import scan
from dangan.services.initvault import add_missing_hooks, install_hooks_config
from dangan.store.vault import CONFIG


def _report(result: checks.CheckResult, as_json: bool) -> None:
    # written as the hook and the warm check write it (not click.echo, which would strip
    # escape sequences that the others keep): the three outputs are the same bytes
    if as_json:
        emit_json(shown.document(result.checked, result.findings, result.outside))
    else:
        sys.stdout.write(shown.check_text(result.checked, result.findings, result.outside))
    if result.findings:
        raise SystemExit(1)


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
    vault = ctx.git_vault if (staged or rev_range) else ctx.vault
    chosen = sum(bool(x) for x in (paths, all_, staged, rev_range))
    if chosen > 1:
        raise DanganError(_("give only one of PATH..., --all, --staged, --range"))
    if staged:
        result = scan.check_staged(vault)
    elif rev_range:
        if ".." in rev_range:
            result = scan.check_commits(vault.root, scan.commits_in(vault.root, rev_range), vault.keyring)
        else:
            result = scan.check_tree(vault.root, _commit(vault, rev_range), vault.keyring)
    elif paths:
        with CountLine("check", "files checked") as count:
            result = scan.check_worktree(vault, scan.expand_paths(vault, [ctx.path(p) for p in paths]), progress=count)
    else:
        with CountLine("check", "files checked") as count:  # a cold run of 100,000 files: ~10 s
            result = scan.check_worktree(vault, progress=count)
    _report(result, as_json)


def _commit(vault, rev: str) -> str:
    commit = gitio.commit_of(vault.root, rev)  # a failing git raises, it is no "not a commit"
    if commit is None:
        raise DanganError(_("{rev!r} is not a commit in this repository").format(rev=rev))
    return commit


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
    rels = scan.expand_paths(vault, [ctx.path(p) for p in paths]) if paths else list(vault.record_files())
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
        if new != text and not sopsyaml.text_in_sops_form(text):  # sops's form is kept
            changes[rel] = new.encode("utf-8")
    if not check_only and changes:
        with vault.lock():
            vault.apply(changes, f"dangan fmt: {len(changes)} file(s)", not no_commit)
    if as_json:
        emit_json({"changed": sorted(changes), "unreadable": unreadable, "written": not check_only})
    else:
        line = _("would reformat {path}") if check_only else _("reformatted {path}")
        for rel in sorted(changes):
            click.echo(line.format(path=escape(rel)))
        summary = (_("{n} file(s) would reformat, {unchanged} unchanged") if check_only
                   else _("{n} file(s) reformatted, {unchanged} unchanged"))
        click.echo(summary.format(n=len(changes), unchanged=len(rels) - len(changes) - len(unreadable)))
    if unreadable or (check_only and changes):
        raise SystemExit(1)


@click.group(
    "hook",
    epilog="""\b
Examples:
  dangan hook install               # in a fresh clone
  git commit                        # runs hooks/pre-commit -> dangan hook pre-commit
""",
)
def hook_group() -> None:
    """What the scripts in hooks/ call (and `hook install` for a fresh clone)."""


@hook_group.command("pre-commit", epilog="\b\nExample:\n  git add vault/ && dangan hook pre-commit   # what git runs before a commit")
@pass_ctx
def hook_pre_commit(ctx: Context) -> None:
    """Check the staged changes (git runs this before each commit)."""
    raise SystemExit(hookrun.report(scan.check_staged(ctx.git_vault), "commit"))


@hook_group.command(
    "pre-push",
    context_settings={"ignore_unknown_options": True},
    epilog="\b\nExample (what git runs; ref lines on stdin):\n  echo 'refs/heads/main LOCAL refs/heads/main REMOTE' | dangan hook pre-push origin URL",
)
@click.argument("args", nargs=-1)
@pass_ctx
def hook_pre_push(ctx: Context, args) -> None:
    """Check every commit being pushed (ref lines on stdin, as git gives them)."""
    vault = ctx.git_vault
    commits: list[tuple[str | None, str]] = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) != 4 or set(parts[1]) == {"0"}:
            continue  # a deleted ref brings nothing to check
        local, remote = parts[1], parts[3]
        if set(remote) != {"0"} and _known(vault.root, remote):
            spec = [f"{remote}..{local}"]
        else:
            spec = [local, "--not", "--remotes"]
        commits += _commits(vault.root, spec)
    _hook_report(scan.check_commits(vault.root, list(dict.fromkeys(commits)), vault.keyring), "push")


@hook_group.command(
    "framework",
    epilog="\b\nExample (what the pre-commit framework's dangan-check runs):\n  pre-commit run dangan-check --all-files",
)
def hook_framework() -> None:
    """The pre-commit framework's hook: staged changes in a commit, the refs' range in a push,
    else the whole vault (docs/ci.md)."""
    raise SystemExit(hookrun.framework())


@hook_group.command(
    "prepare-commit-msg",
    context_settings={"ignore_unknown_options": True},
    epilog="\b\nExample (what git runs for each commit of a rebase):\n  git rebase --continue",
)
@click.argument("args", nargs=-1)
def hook_prepare_commit_msg(args) -> None:
    """Check the staged changes of a commit git makes without pre-commit (rebase, cherry-pick, revert)."""
    raise SystemExit(hookrun.prepare_commit_msg())


@hook_group.command(
    "pre-receive",
    epilog="\b\nExample (on the server, in the bare repository; 'old new ref' lines on stdin):\n  cp hooks/pre-receive /srv/git/archive.git/hooks/",
)
def hook_pre_receive() -> None:
    """Check every commit a push brings to a server's (bare) repository; no --no-verify here."""
    root = Path.cwd()
    commits: list[tuple[str | None, str]] = []
    updates: list[tuple[str, str, str]] = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        updates.append((parts[0], parts[1], parts[2]))
        if set(parts[1]) == {"0"}:
            continue  # a deletion brings no commit (DG120 judges it)
        old, new = parts[0], parts[1]
        spec = [f"{old}..{new}"] if set(old) != {"0"} else [new, "--not", "--all"]
        commits += _commits(root, spec)
    _server_language(root, updates)
    result = scan.check_commits(root, list(dict.fromkeys(commits)), None, use_cache=False)
    result.findings = scan.receive_findings(root, updates) + result.findings
    _hook_report(result, "push")


def _server_language(root: Path, updates: list[tuple[str, str, str]]) -> None:
    """A server's repository is bare: there is no vault.yaml file for the CLI to read its
    `language` from. Unless `--lang` or DANGAN_LANG chose, the refusal speaks the language
    of the vault.yaml of the server's HEAD, else of the first commit pushed (a first push
    to an empty repository), else the locale's, as the CLI had chosen."""
    if click.get_current_context().find_root().params.get("lang") or \
            os.environ.get("DANGAN_LANG") in i18n.LANGUAGES:
        return
    for rev in ["HEAD", *(new for _old, new, _ref in updates if set(new) != {"0"})]:
        try:
            text = gitio.file_at(root, rev, CONFIG)
        except DanganError:
            continue
        configured = i18n.from_config(text.decode("utf-8", "replace")) if text is not None else None
        if configured is not None:
            i18n.set_language(configured)
            return


def _known(root: Path, rev: str) -> bool:
    return gitio.commit_of(root, rev) is not None


def _commits(root: Path, spec: list[str]) -> list[tuple[str | None, str]]:
    out = []
    raw = gitio.run(["rev-list", "--reverse", "--parents", *spec], root).stdout.decode()
    for line in raw.splitlines():
        ids = line.split()
        out.append((ids[1] if len(ids) > 1 else None, ids[0]))
    return out


@hook_group.command(
    "install",
    epilog="\b\nExamples:\n  git clone server:archive.git && cd archive && dangan hook install\n"
           "  dangan hook install --no-hooks-path && pre-commit install   # hooks run by the pre-commit framework",
)
@click.option("--no-hooks-path", "no_hooks_path", is_flag=True,
              help="Set up the diff and merge drivers only; another hook manager (pre-commit) runs the checks.")
@pass_ctx
def hook_install(ctx: Context, no_hooks_path: bool) -> None:
    """Set core.hooksPath to the vault's hooks/ and the diff and merge drivers (for a fresh clone)."""
    vault = ctx.vault
    current = gitio.config_get(vault.root, "core.hooksPath")
    if no_hooks_path:
        if current == "hooks":
            raise DanganError(
                _("core.hooksPath is set to dangan's hooks/, where `pre-commit install` refuses to install"),
                _("unset it first (`git config --unset core.hooksPath`), then run this again"),
            )
        install_hooks_config(vault.root, hooks_path=False)
        click.echo(_("diff driver: dangan textconv; merge driver: dangan merge-driver; hooks: left to "
                     "your hook manager (the pre-commit framework's dangan-check, docs/ci.md)"))
        return
    if current not in (None, "hooks"):
        raise DanganError(
            _("core.hooksPath is already set to {current!r} (another hook manager?)").format(current=current),
            _("unset it (`git config --unset core.hooksPath`), or keep that manager and run "
              "`dangan hook install --no-hooks-path` (it must call `dangan hook pre-commit`)"),
        )
    if current is None and any(
        p.is_file() and not p.name.endswith(".sample") for p in (vault.git_dir / "hooks").glob("*")
    ):
        raise DanganError(
            _("{path} holds hooks of another tool").format(path=vault.git_dir / "hooks"),
            _("remove them, or keep that manager and run `dangan hook install --no-hooks-path` "
              "(the pre-commit framework: its dangan-check hook, docs/ci.md)"),
        )
    install_hooks_config(vault.root)
    added = add_missing_hooks(vault.root)
    click.echo(_("hooks installed: core.hooksPath = hooks; diff driver: dangan textconv; "
                 "merge driver: dangan merge-driver"))
    if added:  # a vault made by an older dangan: the new hook scripts, for the team to commit
        click.echo(_("added {names} (this dangan's hook scripts the vault lacked); commit them so that "
                     "every clone runs them: git add hooks && git commit").format(names=", ".join(added)), err=True)


def _hook_report(result: checks.CheckResult, action: str) -> None:
    code = hookrun.report(result, action)
    if code:
        raise SystemExit(code)


COMMANDS = [check_cmd, fmt_cmd, hook_group]
