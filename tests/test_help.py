"""Every command and subcommand documents itself with an example (docs/cli.md)."""
from __future__ import annotations

import click
import pytest
from conftest import run_cli

from dangan.cli.main import cli


def _walk(cmd: click.Command, path: list[str]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, f"{name} is listed but does not load"
            yield from _walk(sub, path + [name])


COMMANDS = [path for path, _ in _walk(cli, [])]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "dangan")
def test_help_has_an_example(path: list[str]) -> None:
    result = run_cli([*path, "--help"])
    assert result.code == 0, result
    assert "Example" in result.out, f"`dangan {' '.join(path)} --help` has no example"
    assert "Usage: dangan" in result.out


def test_version() -> None:
    from dangan import __version__

    result = run_cli(["--version"])
    assert result.code == 0 and __version__ in result.out


@pytest.mark.parametrize("typed, says", [
    (["shwo"], "No such command 'shwo'. Did you mean 'show'?"),  # the commands are loaded lazily
    (["lnd", "ls"], "No such command 'lnd'. Did you mean 'lend'?"),
    (["lend", "reqest"], "Did you mean one of: 'reject', 'request'?"),  # a group's own, from click
])
def test_a_mistyped_command_gets_the_nearest_names(typed: list[str], says: str) -> None:
    result = run_cli(typed)
    assert result.code == 2 and says in result.err, result
    assert result.err.startswith("dangan: error: ") and "hint: see `dangan" in result.err


def test_an_unknown_command_far_from_any_gets_no_guess() -> None:
    result = run_cli(["xyzzy"])
    assert result.code == 2 and "No such command 'xyzzy'." in result.err and "Did you mean" not in result.err


def test_the_paragraphs_of_an_epilog_are_translated_and_its_commands_are_not() -> None:
    """Issue 24 part 2: an epilog's explanatory paragraphs and `Example (...)` headings speak
    the interface language; the command lines under them stay as written."""
    hans = run_cli(["--lang", "zh-Hans", "ls", "--help"])
    assert hans.code == 0, hans
    assert "--where takes FIELD=VALUE" not in hans.out and "--where 可写 FIELD=VALUE" in hans.out
    assert "  dangan ls --category WX --status done" in hans.out and "示例：" in hans.out
    merge = run_cli(["--lang", "zh-Hant", "merge-driver", "--help"])
    assert merge.code == 0 and "示例（git 為檔案執行的命令" in merge.out, merge
    english = run_cli(["--lang", "en", "ls", "--help"])
    assert "--where takes FIELD=VALUE (exact)" in english.out
