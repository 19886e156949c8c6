"""Benchmark: `dangan gaps` on the large demo (docs/performance.md, issue 21: under 5 s).

Reads the vault only (its caches under `.git/dangan/cache/` are written: `filed.json`,
`gaps-fields.json`). "Cold" deletes those two first (the first run after a clone: the whole
`git log --diff-filter=A` pass and every blob read); "warm" is the next run with the same
tip (a command after the day's commits: only the new blobs and commits are read). The
day judged is the day after the last commit, so every run judges the same thing.

    python bench/bench_gaps.py VAULT     # or measure(vault) from bench/run.py
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 5.0
CACHES = ("filed.json", "gaps-fields.json")


def _last_day(vault: Path) -> str:
    out = subprocess.run(["git", "log", "-1", "--format=%cI"], cwd=vault, capture_output=True, text=True, check=True)
    return (dt.datetime.fromisoformat(out.stdout.strip()).date() + dt.timedelta(days=1)).isoformat()


def _run(args: list[str]) -> tuple[float, float, bytes]:
    """(wall seconds, CPU seconds of dangan and its git children, stdout)."""
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"bench_gaps: {' '.join(args[:4])} failed: {proc.stderr.decode(errors='replace')}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, proc.stdout


def measure(vault: Path, repeat: int = 3) -> list[dict]:
    dangan = str(Path(sys.executable).parent / "dangan")
    cache = Path(vault) / ".git" / "dangan" / "cache"
    args = [dangan, "-C", str(vault), "gaps", "--as-of", _last_day(Path(vault)), "--json"]
    colds, warms, cpus = [], [], []
    doc: dict = {}
    for _ in range(repeat):
        for name in CACHES:
            (cache / name).unlink(missing_ok=True)
        # the answer kept for the day (services/answers.py) would answer both runs: these
        # measure the judging of every record, cold and from the per-blob caches
        shutil.rmtree(cache / "answers", ignore_errors=True)
        wall, _, _ = _run(args)
        colds.append(wall)
        shutil.rmtree(cache / "answers", ignore_errors=True)
        wall, cpu, out = _run(args)
        warms.append(wall)
        cpus.append(cpu)
        doc = json.loads(out)
    cold, warm, cpu = statistics.median(colds), statistics.median(warms), statistics.median(cpus)
    counts = doc.get("counts", {})
    load = os.getloadavg()[0]
    note = (f"{counts.get('total')} gaps ({counts.get('late')} late, {counts.get('missing')} missing, "
            f"{counts.get('original')} originals); warm runs {', '.join(f'{w:.1f} s' for w in warms)}, "
            f"CPU {cpu:.1f} s (dangan and git); load average {load:.1f}")
    return [
        {"name": "gaps, warm (caches of first commits and fields)", "value": warm, "unit": "s",
         "target": f"< {TARGET:.0f} s", "met": warm < TARGET, "note": note},
        {"name": "gaps, cold (no cache: git log pass, every blob read)", "value": cold, "unit": "s",
         "target": f"< {TARGET:.0f} s", "met": cold < TARGET,
         "note": f"cold runs {', '.join(f'{c:.1f} s' for c in colds)}"},
    ]


if __name__ == "__main__":
    for result in measure(Path(sys.argv[1])):
        print(f"{result['name']}: {result['value']:.2f} s (target {result['target']}) {result.get('note', '')}")
