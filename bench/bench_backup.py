"""Benchmark: `dangan backup create` with its verification vs the same steps by hand with git.

docs/performance.md: at most 2x the time of `git bundle create --all`, `git clone --mirror` from
that bundle and `git fsck --full` there. dangan does more (SHA-256, refs against the
manifest, records, the check engine on the restored HEAD); the target says it may cost at
most as much again. Called by bench/run.py as `measure(vault, work)`; runnable alone:

    python bench/bench_backup.py VAULT [WORK]
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
DANGAN = str(BIN / "dangan")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    return env


def _run(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        raise SystemExit(f"bench_backup: {' '.join(args[:4])} failed with {proc.returncode}")
    return elapsed


def by_hand(vault: Path, work: Path) -> float:
    """What an operator would do with git alone to get a bundle and know it restores."""
    bundle = work / "by-hand.bundle"
    mirror = work / "by-hand.git"
    total = _run(["git", "bundle", "create", "-q", str(bundle), "--all"], vault)
    total += _run(["git", "clone", "-q", "--mirror", str(bundle), str(mirror)], work)
    total += _run(["git", "fsck", "--full", "--no-dangling", "--no-progress"], mirror)
    bundle.unlink()
    shutil.rmtree(mirror)
    return total


def with_dangan(vault: Path, work: Path) -> float:
    dest = work / "dangan-backups"
    elapsed = _run([DANGAN, "-C", str(vault), "backup", "create", "--dest", str(dest), "--json"], work)
    shutil.rmtree(dest)
    return elapsed


def measure(vault: Path, work: Path, repeat: int = 2) -> list[dict]:
    """Alternate the two (same cache state for both: the OS page cache warmed by the first
    run of either), median of `repeat` runs each."""
    work.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-backup-", dir=work))
    try:
        records = subprocess.run(["git", "ls-files", "vault/"], cwd=vault, capture_output=True, check=True).stdout.count(b"\n")
        by_hand(vault, scratch)  # warm the page cache for both sides
        ours, peer = [], []
        for _ in range(repeat):
            peer.append(by_hand(vault, scratch))
            ours.append(with_dangan(vault, scratch))
        value, peer_value = statistics.median(ours), statistics.median(peer)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ratio = value / peer_value
    return [{
        "name": f"backup create + verification ({records} records)",
        "value": value, "unit": "s", "target": "<= 2x git bundle + clone --mirror + fsck --full",
        "peer": peer_value, "peer_name": "git by hand", "ratio": ratio, "ratio_kind": "slower", "met": ratio <= 2.0,
        "note": f"git by hand {peer_value:.1f} s; dangan is {ratio:.2f}x of it",
    }]


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    target = Path(sys.argv[1]).resolve()
    scratch_dir = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="bench-"))
    for row in measure(target, scratch_dir):
        print(f"{row['name']}: {row['value']:.2f} s; {row['note']}; met: {row['met']}")
