"""The compiled reader and emitter (tools/dangan/_canon.c) against their alternatives, per record.

Not part of `make bench` (docs/performance.md says what it decided). It reads N record files
of a vault into memory, then times, per record and best of --repeat passes:

* each step alone: `_canon.parse`, `_canon.emit`, yaml-rs `loads`, the Python emitter;
* the two ways the bulk reader can accept a canonical file (yamlio.load_bytes): the C reader
  with the C emitter as guard (`_load_compiled`, today) and yaml-rs with the C emitter as
  guard (`load_fast`, what is left without the C reader);

and with `--check` the cold `dangan check --all` of the whole vault both ways (the C reader
switched off by a launcher that makes yamlio._load_compiled decline) and, with --so, with the
other build too; runs alternated, so that the machine's drift hits every way alike.

    python bench/bench_canon.py VAULT [--records 20000] [--so path/to/_canon.so] [--check]

`--so` loads another build of the module for the per-record figures, and adds it to the cold
check (to compare two versions of the C code in one run).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from dangan.formats import yamlio  # noqa: E402

# runs dangan with a given build of _canon (or the installed one: "-") and with or without
# the C reader (without: yamlio._load_compiled declines, so yaml-rs reads and the C emitter
# guards, as in yamlio.load_fast)
LAUNCHER = """
import importlib.util, sys
so, reader = sys.argv[1], sys.argv[2] == "1"
if so != "-":
    spec = importlib.util.spec_from_file_location("dangan._canon", so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["dangan._canon"] = module
import dangan.formats.yamlio as yamlio
if not reader:
    yamlio._load_compiled = lambda data, text: None
from dangan.entry import main
sys.exit(main(sys.argv[3:]))
"""


def load_module(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("dangan._canon", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.configure(yamlio._scalar, yamlio._NOT_STR.match)
    return module


def records(vault: Path, count: int) -> list[bytes]:
    """`count` record files spread evenly over the sorted list of the vault's records."""
    listed = subprocess.run(["git", "ls-files", "vault/"], cwd=vault, capture_output=True,
                            check=True, text=True).stdout.split()
    paths = [p for p in listed if p.endswith(".yaml")]
    step = max(1, len(paths) // count)
    return [(vault / p).read_bytes() for p in paths[::step][:count]]


def per_record(fn: Callable[[Any], Any], items: list[Any], repeat: int) -> float:
    """Best of `repeat` passes, in microseconds per item."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return best / len(items) * 1e6


def cold_check(vault: Path, runs: int, other: str | None) -> dict[str, list[float]]:
    """Cold `check --all` of the whole vault, the ways alternated run by run."""
    check = ["-C", str(vault), "check", "--all"]
    ways = {
        "C reader + C emitter": [sys.executable, "-c", LAUNCHER, "-", "1", *check],
        "yaml-rs + C emitter": [sys.executable, "-c", LAUNCHER, "-", "0", *check],
    }
    if other:
        ways["C reader + C emitter, --so"] = [sys.executable, "-c", LAUNCHER, other, "1", *check]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(ways["C reader + C emitter"], capture_output=True, env=env)  # page cache
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(runs):
        for name, args in ways.items():
            shutil.rmtree(vault / ".git" / "dangan" / "cache", ignore_errors=True)
            start = time.perf_counter()
            proc = subprocess.run(args, capture_output=True, env=env)
            times[name].append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"{name}: exit {proc.returncode}\n{proc.stderr.decode()[-2000:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("vault", type=Path)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--so", help="a build of _canon to load instead of the installed one")
    parser.add_argument("--check", action="store_true", help="also time cold check --all both ways")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    installed = yamlio._canon
    canon = load_module(args.so) if args.so else installed
    if canon is None:
        raise SystemExit("no compiled _canon (pure-Python install)")
    yamlio._canon = canon
    datas = records(args.vault, args.records)
    texts = [d.decode("utf-8") for d in datas]
    trees = [canon.parse(d) for d in datas]
    accepted = sum(t is not None and canon.emit(t) == x for t, x in zip(trees, texts))
    print(f"{len(datas)} records of {args.vault}, {sum(map(len, datas)) / len(datas):.0f} bytes "
          f"on average, {accepted} canonical; module {canon.__file__}")
    rust = yamlio._rust_parser()
    pairs = list(zip(datas, texts))
    rows = [
        ("_canon.parse(bytes)", canon.parse, datas),
        ("_canon.emit(tree)", canon.emit, trees),
        ("yaml_rs.loads(text)", lambda t: rust.loads(t, parse_datetime=False), texts),
        ("_dump_fast_py(tree) (Python emitter)", yamlio._dump_fast_py, trees),
        ("decode + C reader + C emitter guard", lambda p: yamlio._load_compiled(p[0], p[0].decode()), pairs),
        ("decode + yaml-rs + C emitter guard", lambda p: yamlio.load_fast(p[0].decode()), pairs),
    ]
    for name, fn, items in rows:
        print(f"  {name:<40} {per_record(fn, items, args.repeat):7.2f} us/record")
    if args.check:
        for name, times in cold_check(args.vault, args.runs, args.so).items():
            listed = ", ".join(f"{t:.2f}" for t in times)
            print(f"  cold check --all, {name:<22} median {statistics.median(times):.2f} s ({listed})")


if __name__ == "__main__":
    main()
