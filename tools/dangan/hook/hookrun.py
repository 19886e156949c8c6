"""What runs without the command-line layer (see entry.py): the pre-commit hook, and
`dangan [-C DIR] check [--all]`, whose warm run must stay well under half a second on
100,000 records (click and the command modules cost ~40 ms of that). Output, messages and
exit codes are those of the CLI (tests/test_cli_check.py compares the two)."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dangan.errors import DanganError, internal_error
from dangan.formats import findings as shown
from dangan.formats.terminal import CountLine, escape
from dangan.git import gitio
from dangan.i18n import N_, _
from dangan.i18n import shown as in_language

if TYPE_CHECKING:
    from dangan.rules.check import CheckResult

# What the pre-commit hook asks git first (changes.staged_changes with check_staged's paths):
# started before the checker is imported, so that git reads the index (~45 ms at 100,000
# files: it parses every entry) while Python loads its modules on the other core.
STAGED = (*gitio.STAGED_DIFF, "HEAD", "--",
          "vault/", "vault.yaml", ".sops.yaml", "epochs.yaml", "schemas/")


class Early:
    """`git STAGED` started in the hook's folder (git runs hooks at the work tree's top)."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.proc = gitio.start(STAGED, stderr=False)

    def result(self, root: Path) -> bytes | None:
        """git's output if it ran for `root` and succeeded (there is a HEAD), else None."""
        out, _ = self.proc.communicate()
        if self.proc.returncode != 0 or os.path.realpath(self.cwd) != os.path.realpath(root):
            return None
        return out


def warn(message: str) -> None:
    """cli/base.py's `warn`, without click."""
    sys.stderr.write(_("dangan: warning: {message}").format(message=in_language(message)) + "\n")


def unverified(count: int) -> None:
    """A committer without a key cannot verify a MAC (DG107): said, since a hand-resolved
    record then passes here and is found only by a key holder (docs/threat-model.md)."""
    warn(_("no key found: the MAC of {count} staged encrypted record(s) was not verified (DG107); "
           "a key in SOPS_AGE_KEY_FILE, DANGAN_AGE_KEY_FILE or ~/.config/sops/age/keys.txt lets "
           "this hook verify it").format(count=count))


def report(result: CheckResult, action: str) -> int:
    """Findings on stderr (git shows them to the committer); exit 1 refuses."""
    if not result.findings:
        return 0
    sys.stderr.write(shown.refusal_text(action, result.findings))
    return 1


def pre_commit(early: Early | None = None) -> int:
    def run() -> int:
        from dangan.services.scan import check_staged
        from dangan.store.sealing import Keyring
        from dangan.store.vault import Vault

        vault = Vault.for_git_checks()
        vault.keyring = Keyring(None, notify=warn)  # a refused key file: said, not silent
        result = check_staged(vault, early=early)
        if result.unverified and not result.findings:
            unverified(result.unverified)
        return report(result, "commit")

    return _guarded(run, ["hook", "pre-commit"], ("hook", "pre-commit"))


# what continues each operation whose commits git makes without the pre-commit hook
_CONTINUE = {"a rebase": "git rebase --continue", "a rebase or am": "git rebase --continue",
             "a cherry-pick": "git cherry-pick --continue", "a revert": "git revert --continue"}


# the operations' names as prepare_commit_msg's message shows them (gitio.busy_state's
# words, translated when shown)
_OPERATIONS = (N_("a rebase"), N_("a rebase or am"), N_("a cherry-pick"), N_("a revert"))


def prepare_commit_msg() -> int:
    """hooks/prepare-commit-msg: git's sequencer (rebase, cherry-pick, revert) commits
    without running pre-commit, so a hand-resolved record would enter history unchecked
    at `git rebase --continue`; prepare-commit-msg runs for those commits too, and a
    refusal stops them. A commit of anything else was checked by pre-commit already."""
    def run() -> int:
        from dangan.services.scan import check_staged
        from dangan.store.sealing import Keyring
        from dangan.store.vault import Vault

        vault = Vault.for_git_checks()
        busy = gitio.busy_state(vault.root)
        if busy not in _CONTINUE and not (gitio.git_dir(vault.root) / "sequencer").is_dir():
            return 0  # a plain commit or a merge: pre-commit ran (or --no-verify was asked)
        vault.keyring = Keyring(None, notify=warn)
        result = check_staged(vault)
        if result.unverified and not result.findings:
            unverified(result.unverified)
        code = report(result, "commit")
        if code:
            finish = _CONTINUE.get(busy or "", "git cherry-pick --continue")
            sys.stderr.write(_("dangan: git runs no pre-commit hook in {operation}: this is dangan's "
                               "check of the commit; fix the files, `git add` them, then `{finish}`").format(
                operation=_(busy or "a cherry-pick"), finish=finish) + "\n")
        return code

    return _guarded(run, ["hook", "prepare-commit-msg"], ("hook", "prepare-commit-msg"))


def framework(early: Early | None = None) -> int:
    """The pre-commit framework's `dangan-check` (.pre-commit-hooks.yaml). One hook, three
    questions, told apart by what git and the framework put in the environment:

    - in a commit (git sets GIT_INDEX_FILE for the hooks of `git commit` and of a merge):
      the staged changes, as hooks/pre-commit checks them — the fast default;
    - with PRE_COMMIT_FROM_REF and PRE_COMMIT_TO_REF (a pre-push, or `pre-commit run
      --from-ref A --to-ref B` in CI): every commit of A..B, as `check --range` does;
    - any other run (`pre-commit run --all-files`, a CI job): the whole vault, as
      `dangan check --all`: a run outside a commit has no staged changes to speak of, and
      passing there on a broken vault would tell CI a lie (issue 20)."""
    if os.environ.get("GIT_INDEX_FILE"):
        return pre_commit(early)
    start, end = os.environ.get("PRE_COMMIT_FROM_REF"), os.environ.get("PRE_COMMIT_TO_REF")
    if start and end:
        def run() -> int:
            from dangan.services.scan import check_commits, commits_in
            from dangan.store.sealing import Keyring
            from dangan.store.vault import Vault

            vault = Vault.for_git_checks()
            keyring = Keyring(None, notify=warn)
            result = check_commits(vault.root, commits_in(vault.root, f"{start}..{end}"), keyring)
            sys.stdout.write(shown.check_text(result.checked, result.findings, result.outside))
            return 1 if result.findings else 0

        return _guarded(run, ["hook", "framework"], ("hook", "framework"))
    return check_all(None)


def check_all(vault_path: Path | None) -> int:
    """`dangan check --all`, printed as cli/checks.py's `_report` prints it."""
    def run() -> int:
        from dangan.services.scan import check_worktree
        from dangan.store.sealing import Keyring
        from dangan.store.vault import Vault

        vault = Vault.open(vault_path)
        vault.keyring = Keyring(None, notify=warn)  # what the CLI's Context gives without --identity
        with CountLine("check", "files checked") as count:  # a cold run of 100,000: ~10 s
            result = check_worktree(vault, progress=count)
        sys.stdout.write(shown.check_text(result.checked, result.findings, result.outside))
        sys.stdout.flush()
        return 1 if result.findings else 0

    argv = ["check", "--all"] if vault_path is None else ["-C", str(vault_path), "check", "--all"]
    return _guarded(run, argv, ("check",))


def _guarded(run: Callable[[], int], argv: list[str], command: tuple[str, ...]) -> int:
    """The CLI's error handling (cli/main.py) for these entry points."""
    try:
        return run()
    except DanganError as exc:
        message = _("dangan: error: {message}").format(message=in_language(exc.message))
        sys.stderr.write(escape(message, lines=True) + "\n")
        if exc.hint:
            sys.stderr.write(escape(_("hint: {hint}").format(hint=in_language(exc.hint))) + "\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(_("dangan: interrupted") + "\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last line of defence: never a bare traceback
        return internal_error(exc, argv, command)
