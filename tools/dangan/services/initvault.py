"""`dangan init`: a new vault with the standard schemas, hooks and first commit."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from dangan.errors import DanganError
from dangan.formats.resources import standard_dir
from dangan.formats.schemas import SchemaSet
from dangan.formats.yamlio import dump
from dangan.git import gitio
from dangan.i18n import Message
from dangan.model import defaults
from dangan.store import sopsconfig
from dangan.store.sopsconfig import SOPS_CONFIG
from dangan.store.vault import CONFIG, Vault

GITATTRIBUTES = (
    "# dangan: records diff through the dangan driver (decrypted for key holders) and merge\n"
    "# field by field through its merge driver (docs/team.md)\n"
    "vault/**/*.yaml diff=dangan merge=dangan\n"
)
MERGE_ATTRIBUTE = "vault/**/*.yaml merge=dangan"
# the editor settings (docs/format.md §3, "Editing by hand"): the YAML language server of
# common editors (VS Code's YAML extension, and the editors that read the same settings)
# validates each category's records against its schema, with completion and allowed values
EDITOR_SETTINGS = ".vscode/settings.json"
_AGE = re.compile(r"age1[0-9a-z]{58}")
_SSH = re.compile(r"ssh-(ed25519|rsa) [A-Za-z0-9+/=]+( .*)?")


def parse_recipient_option(text: str) -> dict[str, Any]:
    name, sep, key = text.partition("=")
    name, key = name.strip(), key.strip()
    if not sep or not name or not key:
        raise DanganError(Message("--recipient {text} is not NAME=KEY", text=repr(text)), Message("example: --recipient 張敏=age1..."))
    if not (_AGE.fullmatch(key) or _SSH.fullmatch(key)):
        raise DanganError(
            Message("--recipient {name}: not an age recipient (age1...) or an ssh-ed25519/ssh-rsa public key", name=name)
        )
    return {"name": name, "key": key, "roles": ["archivist", "approver"]}


def vault_config(name: str, recipients: list[dict[str, Any]], timezone: str = "Asia/Shanghai") -> dict[str, Any]:
    return {
        "dangan": 1,
        "id": str(uuid.uuid4()),
        "name": name,
        "timezone": timezone,
        "recipients": recipients,
        "lending": dict(defaults.LENDING),
        "retention": {k: dict(v) for k, v in defaults.RETENTION.items()},
    }


def installed_command() -> str | None:
    """The absolute path of the `dangan` executable of the running installation (the
    console script beside this interpreter), or None when there is none to name.

    Hooks and the diff driver run it by this path, as pre-commit's hook shim records its
    interpreter: they work when `dangan` is not on PATH (a virtualenv never activated)."""
    here = Path(sys.executable).parent
    for name in ("dangan", "dangan.exe"):
        candidate = here / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate.absolute())
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name in ("dangan", "dangan.exe") and argv0.is_file():
        return str(argv0.absolute())
    return None


def install_hooks_config(root: Path, hooks_path: bool = True) -> None:
    """Hooks and the diff driver live in .git/config, which a clone does not carry:
    `init` and `hook install` set them, with `dangan.command` (the absolute path of this
    dangan) for the hook scripts, which fall back to `dangan` on PATH. Without
    `hooks_path` another hook manager runs the checks (`hook install --no-hooks-path`)."""
    if hooks_path:
        gitio.run(["config", "core.hooksPath", "hooks"], root)
    command = installed_command()
    if command:
        gitio.run(["config", "dangan.command", command], root)
    install_diff_driver(root, command)
    install_merge_driver(root, command)


def add_missing_hooks(root: Path) -> list[str]:
    """Copy into the vault's hooks/ the standard hook scripts it lacks (a vault made by an
    older dangan has no prepare-commit-msg); scripts it has are never overwritten. The
    added paths, for the caller to say: they are the team's to commit."""
    folder = root / "hooks"
    if not folder.is_dir():
        return []
    added = []
    for script in sorted(standard_dir("hooks").iterdir()):
        target = folder / script.name
        if script.is_file() and not target.exists():
            shutil.copy2(script, target)
            added.append(f"hooks/{script.name}")
    return added


def _command_line(command: str | None, verb: str) -> str:
    """A driver's command line: this dangan by its path, else (or when that file has gone)
    the `dangan` on PATH. Git runs it through the shell with its arguments appended."""
    if not command:
        return f"dangan {verb}"
    script = f'd={shlex.quote(command)}; [ -x "$d" ] || d=dangan; exec "$d" {verb} "$@"'
    return f"sh -c {shlex.quote(script)} dangan-{verb}"


def textconv_command(command: str | None) -> str:
    """The diff driver's command line (git appends the file)."""
    return _command_line(command, "textconv")


def merge_driver_command(command: str | None) -> str:
    """The merge driver's command line: git puts its temporary files of the base, ours and
    theirs (%O %A %B, quoted by git) and the record's path (%P) in place."""
    return _command_line(command, "merge-driver") + " %O %A %B %P"


def install_merge_driver(root: Path, command: str | None = None) -> None:
    """Records merge field by field (services.merge). A vault made before the driver
    existed has no `merge=dangan` in its committed .gitattributes: the attribute goes into
    this clone's .git/info/attributes, so the driver works at once, without a commit."""
    gitio.run(["config", "merge.dangan.name", "dangan: records merged field by field"], root)
    gitio.run(["config", "merge.dangan.driver", merge_driver_command(command)], root)
    try:
        committed = (root / ".gitattributes").read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        committed = ""
    if "merge=dangan" in committed:
        return
    info = Path(gitio.out(["rev-parse", "--git-path", "info/attributes"], root).strip())
    info = info if info.is_absolute() else root / info
    try:
        present = info.read_text("utf-8")
    except FileNotFoundError:
        present = ""
    if MERGE_ATTRIBUTE not in present.splitlines():
        info.parent.mkdir(parents=True, exist_ok=True)
        prefix = "" if not present or present.endswith("\n") else "\n"
        info.write_text(f"{present}{prefix}{MERGE_ATTRIBUTE}\n", "utf-8")


def install_diff_driver(root: Path, command: str | None = None) -> None:
    # textconv shows records decrypted to key holders and masked to others
    gitio.run(["config", "diff.dangan.textconv", textconv_command(command)], root)


def editor_settings(schemas: SchemaSet) -> str:
    """`.vscode/settings.json`: each category's schema for the records in its folders
    (`vault/**/SB/*.yaml`: `**` matches no folder too, for company-level records). The
    schemas have no `$id`, so an editor resolves their `$ref`s to the files beside them,
    offline."""
    import json

    mapping = {f"schemas/{category.schema}": [f"vault/**/{code}/*.yaml"]
               for code, category in sorted(schemas.categories.items())}
    return json.dumps({"yaml.schemas": mapping, "yaml.validate": True, "yaml.completion": True},
                      ensure_ascii=False, indent=2) + "\n"


def init_vault(path: Path, name: str | None, recipients: list[dict[str, Any]],
               timezone: str = "Asia/Shanghai") -> Vault:
    """Create the vault at `path` and make its first commit; refuse to touch an existing one.
    `timezone`: a handover's exported vault keeps its source vault's."""
    path = path.resolve()
    if (path / CONFIG).exists():
        raise DanganError(Message("{path} is already a vault ({CONFIG} exists)", path=path, CONFIG=CONFIG))
    if path.exists() and not path.is_dir():
        raise DanganError(Message("{path} exists and is not a directory", path=path))
    names = [r["name"] for r in recipients]
    if len(set(names)) != len(names):
        raise DanganError(Message("two recipients have the same name"))
    path.mkdir(parents=True, exist_ok=True)
    created_git = not (path / ".git").exists()
    if created_git:
        gitio.run(["init", "-q", "-b", "main"], path)
    config = vault_config(name or path.name, recipients, timezone)
    (path / CONFIG).write_text(dump(config), encoding="utf-8")
    shutil.copytree(standard_dir("schemas"), path / "schemas", dirs_exist_ok=True)
    shutil.copytree(standard_dir("hooks"), path / "hooks", dirs_exist_ok=True)
    (path / ".gitattributes").write_text(GITATTRIBUTES, encoding="utf-8")
    # sops's creation rules, so that `sops edit` of a new record writes what dangan would
    schemas = SchemaSet.from_dir(path / "schemas")
    (path / SOPS_CONFIG).write_bytes(sopsconfig.render(config, schemas))
    (path / EDITOR_SETTINGS).parent.mkdir(exist_ok=True)
    (path / EDITOR_SETTINGS).write_text(editor_settings(schemas), encoding="utf-8")
    install_hooks_config(path)
    files = [CONFIG, SOPS_CONFIG, "schemas", "hooks", ".gitattributes", EDITOR_SETTINGS]
    gitio.add(path, files)
    gitio.commit(path, f"dangan init: {config['name']}", files)
    return Vault.open(path, search=False)
