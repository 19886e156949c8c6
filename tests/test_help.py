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
