"""Fuzz the compiled reader and emitter under AddressSanitizer and UndefinedBehaviorSanitizer.

`make fuzz` runs it, and CI runs it after the tests (.ci/run); by hand:

    .venv/bin/python tests/fuzz_canon_asan.py [--scale 1.0] [--vault DIR]

1. Builds tools/dangan/_canon.c with -fsanitize=address,undefined into a temporary folder,
   through hatch_build.build_module (the interpreter's own compiler and flags, plus
   -Werror: a new warning fails the run too).
2. Proves that a sanitizer report fails a run: a probe module with a deliberate heap
   overflow, and one with a signed overflow, must each make the fuzzing process exit
   non-zero with the sanitizer's report. Without that proof a broken recipe would pass.
3. Runs itself again with the sanitizer runtime preloaded (the interpreter is not built
   with ASan, so libasan must be loaded first: LD_PRELOAD), PYTHONMALLOC=malloc (so that
   ASan sees the memory of Python objects and PyMem_Malloc too, not pymalloc's arenas) and
   the fuzz: random bytes and line soups through `parse`, generated trees through `emit`
   and back through `parse`, compared with the Python code (tests/test_canon.py's
   strategies), record texts and random bytes through `fields` (the compiled line reader,
   compared with formats/fields.py: tests/test_fields_reader.py's), then every record of --vault (default: this repository's example vault).
   Then tools/dangan/_fsstat.c, built the same way: its walk of the work tree (wide, deep,
   not-UTF-8 and linked entries: tests/test_walk.py's tree, and --vault) against the Python
   walk, and its folder mtimes.
   Hypothesis is derandomized and the example counts are fixed, so every run tries the
   same inputs (~30 s on the 2-core CI VM; --scale multiplies the counts).

Exit status: 0 clean; non-zero on any sanitizer report (the runtime aborts the process), a
disagreement with the Python code, or a failed build. It says "skipped" and exits 0 where
no GCC-style sanitizer runtime exists (not Linux, no libasan).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
# -fno-wrapv: the interpreter's CFLAGS define signed overflow (-fwrapv), which would hide it
PROBE_COMPILE = ["-O1", "-g", "-fno-wrapv", *SANITIZE]
COMPILE = [*PROBE_COMPILE, "-Wall", "-Wextra", "-Werror"]
# examples per property at --scale 1 (about 30 s in all under the sanitizers on the CI VM)
EXAMPLES = {"random_bytes": 3000, "line_soup": 1500, "trees": 600, "field_lines": 1500}

PROBE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

static PyObject *overflow(PyObject *self, PyObject *arg) {
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    char *p = calloc((size_t)n, 1);  /* a size known only at run time: ASan's case, not UBSan's */
    volatile char c = p[n];  /* one past the end */
    free(p);
    return PyLong_FromLong(c);
}

static PyObject *signed_overflow(PyObject *self, PyObject *arg) {
    (void)self;
    int n = (int)PyLong_AsLong(arg);
    return PyLong_FromLong(n + 2147483647);  /* n == 1: undefined */
}

static PyMethodDef methods[] = {
    {"overflow", overflow, METH_O, NULL},
    {"signed_overflow", signed_overflow, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_asan_probe", NULL, -1, methods,
                                    NULL, NULL, NULL, NULL};
PyMODINIT_FUNC PyInit__asan_probe(void) { return PyModule_Create(&module); }
"""


def load(name: str, path: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runtime() -> list[str] | None:
    """The sanitizer runtime libraries of the interpreter's compiler, or None."""
    if not sys.platform.startswith("linux"):
        return None
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        try:
            out = subprocess.run([*cc, f"-print-file-name={name}"], capture_output=True, text=True)
        except OSError:
            return None
        path = out.stdout.strip()
        if out.returncode != 0 or not os.path.isabs(path):  # not found: gcc echoes the name
            return None
        libs.append(path)
    return libs


def sanitized_env(libs: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "LD_PRELOAD": ":".join(libs),
        # leaks: the interpreter keeps objects to its end by design; abort on the first report
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=86",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87",
        "PYTHONMALLOC": "malloc",
        "PYTHONPATH": os.pathsep.join([str(REPO / "tools"), str(REPO / "tests")]),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def parent(args: argparse.Namespace) -> int:
    libs = runtime()
    if libs is None:
        print("fuzz: skipped: no GCC-style sanitizer runtime here (Linux with libasan and libubsan)")
        return 0
    hook = load("hatch_build", str(REPO / "hatch_build.py"))
    with tempfile.TemporaryDirectory(prefix="dangan-fuzz-") as tmp:
        out = Path(tmp)
        probe_c = out / "_asan_probe.c"
        probe_c.write_text(PROBE, encoding="utf-8")
        built = [hook.build_module(REPO / "tools/dangan/_canon.c", out, COMPILE, SANITIZE),
                 hook.build_module(probe_c, out, PROBE_COMPILE, SANITIZE),
                 hook.build_module(REPO / "tools/dangan/_fsstat.c", out, COMPILE, SANITIZE)]
        if None in built:
            print("fuzz: the sanitizer build failed (see above)", file=sys.stderr)
            return 1
        canon, probe, fsstat = (str(p) for p in built)
        env = sanitized_env(libs)
        me = [sys.executable, str(Path(__file__).resolve())]
        for call, report in (("overflow", "AddressSanitizer: heap-buffer-overflow"),
                             ("signed_overflow", "runtime error: signed integer overflow")):
            proc = subprocess.run([*me, "--probe", probe, call], env=env, capture_output=True, text=True)
            if proc.returncode == 0 or report not in proc.stderr:
                print(f"fuzz: the sanitizer did not stop a deliberate {call} (exit {proc.returncode});"
                      f" this recipe would miss real reports:\n{proc.stderr[-3000:]}", file=sys.stderr)
                return 1
        print(f"fuzz: the sanitizers stop a run (both probes caught); fuzzing {Path(canon).name} "
              f"(scale {args.scale}, records of {args.vault})", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([*me, "--child", canon, "--fsstat", fsstat, "--scale", str(args.scale),
                               "--vault", str(args.vault)], env=env)
        print(f"fuzz: {'clean' if proc.returncode == 0 else f'FAILED (exit {proc.returncode})'} "
              f"in {time.perf_counter() - start:.0f} s")
        return 0 if proc.returncode == 0 else 1


def run_probe(library: str, call: str) -> None:
    probe = load("_asan_probe", library)
    getattr(probe, call)(8 if call == "overflow" else 1)


def child(library: str, fsstat_library: str, scale: float, vault: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    canon = load("dangan._canon", library)
    sys.modules["dangan._canon"] = canon  # before yamlio imports the installed one
    fsstat = load("dangan._fsstat", fsstat_library)
    sys.modules["dangan._fsstat"] = fsstat  # before store.quick imports the installed one
    from dangan.formats import yamlio

    assert yamlio._canon is canon, yamlio._canon
    import test_canon as tc

    tc.canon = canon

    def fixed(name: str) -> Any:
        return settings(max_examples=max(1, int(EXAMPLES[name] * scale)), deadline=None,
                        derandomize=True, database=None, suppress_health_check=list(HealthCheck))

    @fixed("random_bytes")
    @given(st.binary(max_size=500))
    def random_bytes(data: bytes) -> None:
        tree = canon.parse(data)
        if tree is not None:
            canon.emit(tree)

    @fixed("line_soup")
    @given(tc.soup)
    def line_soup(lines: list[str]) -> None:
        tc._agrees("".join(lines))

    @fixed("trees")
    @given(st.one_of(tc.records, st.dictionaries(st.one_of(tc.keys, tc.edge_text), tc.edge_trees,
                                                 min_size=1, max_size=6)))
    def trees(tree: dict) -> None:
        text = yamlio._dump_fast_py(tree)
        assert canon.emit(tree) == text
        if text and tree:
            assert tc.same(canon.parse(text.encode()), tree)

    import test_fields_reader as tf

    assert tf._canon is canon

    @fixed("field_lines")
    @given(st.one_of(tf.record(), st.binary(max_size=300)))
    def field_lines(data: bytes) -> None:
        tf.agrees(data)  # `fields`, the compiled line reader, against formats/fields.py's

    for prop in (random_bytes, line_soup, trees, field_lines):
        start = time.perf_counter()
        prop()
        print(f"  {prop.__name__}: {time.perf_counter() - start:.1f} s", flush=True)
    listed = subprocess.run(["git", "ls-files", "vault/"], cwd=vault, capture_output=True, text=True,
                            check=True).stdout.split()
    read = 0
    for rel in listed:
        if rel.endswith(".yaml"):
            data = (vault / rel).read_bytes()
            tree = canon.parse(data)
            if tree is not None:
                read += canon.emit(tree) == data.decode("utf-8")
    print(f"  {read} canonical records of {vault} read and written back", flush=True)
    walks(fsstat, vault)


def walks(fsstat: Any, vault: Path) -> None:
    """_fsstat's walk against the Python walk (tests/test_walk.py), and its mtimes."""
    from array import array

    import test_walk

    from dangan.store import quick

    assert quick._fsstat is fsstat, quick._fsstat
    with tempfile.TemporaryDirectory(prefix="dangan-fuzz-walk-") as tmp:
        test_walk.make_tree(Path(tmp))
        folders = test_walk.agrees(Path(tmp), fsstat.walk)
        names = [b"vault", b"vault/wide", b"vault/missing", b"vault/deep/" + b"/".join(b"level%d" % i for i in range(40))]
        got = array("q")
        got.frombytes(fsstat.mtimes(tmp, b"".join(n + b"\0" for n in names)))
        assert got.tolist() == [os.stat(os.path.join(os.fsencode(tmp), n)).st_mtime_ns if n != b"vault/missing"
                                else -1 for n in names]
    assert fsstat.walk(str(vault), "no-such-folder") is None
    mine = test_walk.agrees(vault, fsstat.walk)
    print(f"  walk: {folders} folders of a made tree and {mine} of {vault} listed as the Python walk lists them",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the example counts")
    parser.add_argument("--vault", type=Path, default=REPO, help="a vault whose records are read too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--fsstat", help=argparse.SUPPRESS)
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        run_probe(*args.probe)
        return 0
    if args.child:
        child(args.child, args.fsstat, args.scale, args.vault)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
