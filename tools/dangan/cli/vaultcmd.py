"""Vault commands: init, demo, clone."""
from __future__ import annotations

from pathlib import Path

import click

from dangan.cli.base import emit_json, json_option, say
from dangan.i18n import _
from dangan.services.initvault import init_vault, parse_recipient_option


@click.command(
    "init",
    epilog="""\b
Examples:
  dangan init ./archive --name 翠湖花園物業服務檔案
  dangan init ./archive --recipient 張敏=age1...
""",
)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", help="The vault's name (default: the directory name).")
@click.option("--recipient", "recipients", multiple=True, metavar="NAME=KEY", help="A recipient (age or SSH public key); gets both roles.")
@json_option
def init_cmd(path: Path, name: str | None, recipients, as_json: bool) -> None:
    """Create a vault: git init, vault.yaml, standard schemas, hooks, first commit."""
    parsed = [parse_recipient_option(r) for r in recipients]
    vault = init_vault(path, name, parsed)
    if as_json:
        emit_json({"path": str(vault.root), "id": vault.config["id"], "name": vault.config["name"]})
    else:
        click.echo(_("initialised vault {name!r} in {path}").format(name=vault.config["name"], path=vault.root))


@click.command(
    "demo",
    epilog="""\b
Examples:
  dangan demo ./demo-vault
  dangan demo ./big --size large
  dangan demo ./same-as-readme --as-of 2026-11-27
""",
)
@click.argument("path", type=click.Path(path_type=Path), default=Path("dangan-demo"), required=False)
@click.option("--size", type=click.Choice(["small", "large", "xl"]), default="small", show_default=True)
@click.option("--as-of", "as_of", metavar="DAY",
              help="Build the demo as on DAY (YYYY-MM-DD, today or earlier; default today): "
                   "the same day gives the same records and tour.")
@json_option
def demo_cmd(path: Path, size: str, as_of: str | None, as_json: bool) -> None:
    """Build a demo vault with realistic records and print a tour of commands to try.

    The demo is in the interface language's script: with zh-Hans its names, titles and notes
    are in simplified characters and its vault.yaml says `language: zh-Hans`; otherwise they
    are traditional."""
    import sys

    from dangan.demo import build_day, build_demo, tour
    from dangan.i18n import language

    today = build_day(as_of)
    # the demo in the interface language's script: simplified for zh-Hans (demo/simplified.py)
    lang = language()
    if as_json or not sys.stderr.isatty():
        result = build_demo(path, size, today=today, language=lang)
    else:
        with click.progressbar(length=1000, label=_("building the {size} demo").format(size=size), file=sys.stderr) as bar:
            done = 0

            def progress(fraction: float) -> None:
                nonlocal done
                step = int(min(max(fraction, 0.0), 1.0) * 1000)
                if step > done:
                    bar.update(step - done)
                    done = step

            result = build_demo(path, size, today=today, progress=progress, language=lang)
    if as_json:
        emit_json(result)
    else:
        import shutil

        from dangan.demo.tour import path_line
        from dangan.services.initvault import installed_command

        click.echo(tour(result, path_line(installed_command(), shutil.which("dangan"))))
        if result.get("checked") is False:
            click.echo(_("(not checked while building: run `dangan -C {path} check --all`)").format(path=result["path"]))


@click.command(
    "clone",
    epilog="""\b
Examples:
  dangan clone https://git.example.com/archive.git ./archive --projects A01
  dangan clone ssh://server/srv/archive.git ./office --projects A01,B02
""",
)
@click.argument("url")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--projects", required=True, metavar="A01,B02",
              help="The projects to check out (comma-separated); the company-level records come too.")
@json_option
def clone_cmd(url: str, path: Path, projects: str, as_json: bool) -> None:
    """An office's checkout: a partial clone with the named projects checked out (docs/team.md).

    The other projects' records stay on the server and in the index; check, the hooks,
    new, ls, due, gaps and stats work on what is checked out and say what they leave out."""
    from dangan.services.office import clone, parse_projects

    result = clone(url, path, parse_projects(projects))
    if not result.partial:
        say(_("warning: the server sent every file's content: it does not allow partial clones "
              "(git config uploadpack.allowFilter true on the server); this clone holds the whole "
              "vault's history, the checkout only the projects named"))
    if as_json:
        emit_json(result.as_json())
        return
    click.echo(f"cloned {url} into {result.root}")
    click.echo(f"  checked out: {', '.join(result.folders)} (and the files at the top)")
    click.echo(f"  {result.records} records: projects {', '.join(result.projects)} and "
               f"{len(result.categories)} company-level categories")
    if result.outside:
        others = result.others if len(result.others) <= 6 else [
            *result.others[:5], f"{len(result.others) - 5} more projects"]
        click.echo(f"  left out: {result.outside} records of {', '.join(others)} "
                   "(in the index, on the server; never fetched)")
    click.echo("  hooks installed (core.hooksPath = hooks)")


COMMANDS = [init_cmd, demo_cmd, clone_cmd]
