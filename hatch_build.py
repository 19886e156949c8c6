"""Build hook: compiles dangan's C modules for the interpreter that installs the package:
tools/dangan/_canon.c (the canonical reader and emitter, see yamlio.py) and
tools/dangan/_fsstat.c (folder mtimes in one call, see quick.py).

They are optional. Without a C compiler or Python's headers the hook says so and the
package installs as pure Python: the same results, a slower `check --all` (docs/performance.md).
DANGAN_PURE_PYTHON=1 skips the compilation on purpose (and, at run time, makes dangan
leave built modules unused).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCES = (Path("tools/dangan/_canon.c"), Path("tools/dangan/_fsstat.c"))


def compile_module(root: Path, source: Path) -> Path | None:
    """Compile one module next to its source; the path of the library, or None."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    out = root / source.with_name(source.stem + suffix)
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        return _skip(f"Python's headers are not installed ({include}/Python.h)")
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    tmp = out.with_name(out.name + ".tmp")
    cmd = cc + ["-O2", "-fPIC", "-shared", "-std=c11", "-Wall", f"-I{include}",
                str(root / source), "-o", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        return _skip(f"no C compiler ({exc.strerror}: {cc[0]})")
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        return _skip(f"the C compiler failed on {source.name}:\n" + proc.stderr[-2000:])
    os.replace(tmp, out)
    return out


def _skip(why: str) -> None:
    sys.stderr.write(f"dangan: building without a compiled module: {why}\n")
    return None


class CanonBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("DANGAN_PURE_PYTHON") == "1":
            return
        for source in SOURCES:
            built = compile_module(Path(self.root), source)
            if built is None:
                continue
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            if version != "editable":  # an editable install imports it from tools/dangan/
                build_data["force_include"][str(built)] = f"dangan/{built.name}"
