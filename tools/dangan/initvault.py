"""`dangan init`: a new vault with the standard schemas, hooks and first commit."""
from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from . import defaults, gitio
from .errors import DanganError
from .resources import standard_dir
from .vault import CONFIG, Vault
from .yamlio import dump

GITATTRIBUTES = "# dangan: records diff through the dangan driver (decrypted for key holders)\nvault/**/*.yaml diff=dangan\n"
_AGE = re.compile(r"age1[0-9a-z]{58}")
_SSH = re.compile(r"ssh-(ed25519|rsa) [A-Za-z0-9+/=]+( .*)?")


def parse_recipient_option(text: str) -> dict[str, Any]:
    name, sep, key = text.partition("=")
    name, key = name.strip(), key.strip()
    if not sep or not name or not key:
        raise DanganError(f"--recipient {text!r} is not NAME=KEY", "example: --recipient 張敏=age1...")
    if not (_AGE.fullmatch(key) or _SSH.fullmatch(key)):
        raise DanganError(
            f"--recipient {name}: not an age recipient (age1...) or an ssh-ed25519/ssh-rsa public key"
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


def install_hooks_config(root: Path) -> None:
    """Hooks and the diff driver live in .git/config, which a clone does not carry:
    `init` and `hook install` set them."""
    gitio.run(["config", "core.hooksPath", "hooks"], root)
    install_diff_driver(root)


def install_diff_driver(root: Path) -> None:
    # textconv shows records decrypted to key holders and masked to others
    gitio.run(["config", "diff.dangan.textconv", "dangan textconv"], root)


def init_vault(path: Path, name: str | None, recipients: list[dict[str, Any]]) -> Vault:
    """Create the vault at `path` and make its first commit; refuse to touch an existing one."""
    path = path.resolve()
    if (path / CONFIG).exists():
        raise DanganError(f"{path} is already a vault ({CONFIG} exists)")
    if path.exists() and not path.is_dir():
        raise DanganError(f"{path} exists and is not a directory")
    names = [r["name"] for r in recipients]
    if len(set(names)) != len(names):
        raise DanganError("two recipients have the same name")
    path.mkdir(parents=True, exist_ok=True)
    created_git = not (path / ".git").exists()
    if created_git:
        gitio.run(["init", "-q", "-b", "main"], path)
    config = vault_config(name or path.name, recipients)
    (path / CONFIG).write_text(dump(config), encoding="utf-8")
    shutil.copytree(standard_dir("schemas"), path / "schemas", dirs_exist_ok=True)
    shutil.copytree(standard_dir("hooks"), path / "hooks", dirs_exist_ok=True)
    (path / ".gitattributes").write_text(GITATTRIBUTES, encoding="utf-8")
    install_hooks_config(path)
    files = [CONFIG, "schemas", "hooks", ".gitattributes"]
    gitio.add(path, files)
    gitio.commit(path, f"dangan init: {config['name']}", files)
    return Vault.open(path, search=False)
