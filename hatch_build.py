"""Build hook: compiles dangan's C modules for the interpreter that installs the package:
tools/dangan/_canon.c (the canonical reader and emitter, see formats/yamlio.py) and
tools/dangan/_fsstat.c (folder mtimes in one call, see store/quick.py, and the cold check's
walk of the work tree, see services/scan.py; POSIX only).

They are compiled by setuptools' build_ext, the standard extension build: the compiler, its
flags and the module's file name (EXT_SUFFIX) are the installing interpreter's own
(sysconfig: gcc or clang on Linux and macOS, MSVC on Windows), not a hand-made command line.
The module is built in a temporary folder and copied next to its source, where an editable
install imports it; a wheel gets it as dangan/<name><EXT_SUFFIX>.

They are optional. Without a C compiler, Python's headers or setuptools the hook says so
in one line and the package installs as pure Python: the same results, a slower
`check --all` (docs/performance.md). DANGAN_PURE_PYTHON=1 skips the compilation on purpose
(and, at run time, makes dangan leave built modules unused).
"""
from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # imported without hatchling by tests/test_canon.py, to call build_module
    BuildHookInterface = object  # type: ignore[assignment,misc]

SOURCES = (Path("tools/dangan/_canon.c"),) + (
    (Path("tools/dangan/_fsstat.c"),) if os.name == "posix" else ()  # fstatat(2)
)


def build_module(source: Path, out_dir: Path, compile_args: Sequence[str] = (),
                 link_args: Sequence[str] = ()) -> Path | None:
    """Compile `source` (an absolute path) into out_dir/<stem><EXT_SUFFIX>: that path, or
    None after one line on stderr saying why not. `compile_args`/`link_args` are added to
    the interpreter's own flags (tests/fuzz_canon_asan.py adds the sanitizers)."""
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        return _skip(f"Python's headers are not installed ({include}/Python.h)")
    try:
        from setuptools import Distribution, Extension
        from setuptools.command.build_ext import build_ext
        from setuptools.errors import CCompilerError, ExecError, PlatformError
    except ImportError:
        return _skip("setuptools, which drives the C compiler, is not installed")
    ext = Extension(f"dangan.{source.stem}", [str(source)], extra_compile_args=list(compile_args),
                    extra_link_args=list(link_args))
    with tempfile.TemporaryDirectory(prefix="dangan-build-") as tmp:
        dist = Distribution({"name": "dangan", "ext_modules": [ext]})
        dist.verbose = 0  # the compiler's own messages still reach stderr
        cmd = build_ext(dist)
        cmd.build_lib = tmp
        cmd.build_temp = os.path.join(tmp, "objects")
        cmd.ensure_finalized()
        try:
            cmd.run()
        except OSError as exc:  # the compiler named by sysconfig (or $CC) is not there
            return _skip(f"no C compiler to build {source.name} ({_first_line(exc)})")
        except (CCompilerError, ExecError, PlatformError) as exc:  # its messages are above
            return _skip(f"the C compiler failed on {source.name} ({_first_line(exc)})")
        built = Path(cmd.get_ext_fullpath(ext.name))
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / built.name
        partial = out.with_name(out.name + ".tmp")
        shutil.copyfile(built, partial)
        os.replace(partial, out)  # a running dangan never sees half a library
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _skip(why: str) -> None:
    sys.stderr.write(f"dangan: building without a compiled module: {why}\n")
    return None


class CanonBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("DANGAN_PURE_PYTHON") == "1":
            return
        root = Path(self.root)
        for source in SOURCES:
            built = build_module(root / source, (root / source).parent)
            if built is None:
                continue
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            if version != "editable":  # an editable install imports it from tools/dangan/
                build_data["force_include"][str(built)] = f"dangan/{built.name}"
