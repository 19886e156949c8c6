"""`make bench-xl` (issue 26): the targets of docs/performance.md at one million records.

Builds (once, kept in bench/.work/xl) `dangan demo --size xl`, about 1,000,000 records with
two years of history, then measures in one run, each with its comparison where the issue
names one:

- `check --all` cold (< 60 s) and its speed against check-jsonschema on a fixed sample (every
  50th record of the sorted listing: the peer takes ~12 ms a record, the whole vault would
  take hours), compared per record (>= 20x); warm (< 1 s); peak memory (< 1 GB);
- `check --all` warm where git uses Watchman (`core.fsmonitor`, git's sample hook): the
  same < 1 s, asked of the monitor instead of stating every file and folder;
- the pre-commit hook with one staged record (< 0.25 s);
- an office's checkout of one project (`dangan clone file://... --projects A01`, < 2 min from
  a local server), and in it `check --all` cold and warm and the hook (< 0.15 s);
- `diff` between two dates with 1% changed (< 5 s), without and with the key;
- `due`, `gaps` and `stats`, cold, warm, another day and after a new commit (< 10 s);
- `backup create` with its verification against the same steps by hand with git (<= 2x).

Nothing fails on a time: misses are reported as misses. The table goes into
docs/performance.md under "<!-- results-xl -->" (bench/run.py writes the 100,000-record one).

    python bench/bench_xl.py [--rebuild] [--no-write] [--vault DIR] [--only check,hook,...]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as common  # noqa: E402  (bench/run.py: the runner, the peer, the table)

DANGAN = common.DANGAN
SAMPLE_EVERY = 50
PARTS = ("check", "monitor", "hook", "office", "diff", "readers", "backup")
# git's own hook for Watchman (Debian's git puts its sample hooks here)
FSMONITOR_HOOK = Path("/usr/share/git-core/templates/hooks/fsmonitor-watchman.sample")
WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")


def xl_vault(rebuild: bool) -> tuple[Path, float | None]:
    path = common.WORK / "xl"
    if rebuild and path.exists():
        shutil.rmtree(path)
    built = None
    if not (path / "vault.yaml").exists():
        if path.exists():
            shutil.rmtree(path)
        common.WORK.mkdir(parents=True, exist_ok=True)
        print("building the xl demo vault (once; kept in bench/.work/xl) ...", flush=True)
        start = time.perf_counter()
        common.run([DANGAN, "demo", str(path), "--size", "xl"], cwd=common.WORK)
        built = time.perf_counter() - start
        print(f"  built in {built:.0f} s", flush=True)
    return path, built


def _row(name: str, value: float, unit: str, target: str, met: bool, note: str = "", **extra: object) -> dict:
    row = {"name": name, "value": value, "unit": unit, "target": target, "met": met, **extra}
    if note:
        row["note"] = note
    return row


def bench_check(vault: Path, results: list[dict]) -> None:
    listed = common.run(["git", "ls-files", "vault/"], cwd=vault).stdout.decode().splitlines()
    n = len(listed)
    common.clear_cache(vault)
    common.run([DANGAN, "check", "--all"], cwd=vault)  # the page cache, as a user's second command
    colds = []
    for _ in range(2):
        common.clear_cache(vault)
        seconds, proc = common.timed([DANGAN, "check", "--all"], cwd=vault)
        colds.append(seconds)
    cold = statistics.median(colds)
    summary = proc.stdout.decode(errors="replace").strip().splitlines()[-1:]
    warm, _ = common.timed([DANGAN, "check", "--all"], cwd=vault, repeat=5)
    common.clear_cache(vault)
    rss = common.peak_rss_mb([DANGAN, "check", "--all"], vault)
    sample = sorted(listed)[::SAMPLE_EVERY]
    peer = common.check_jsonschema_peer(vault, sample)
    ratio = (peer / len(sample)) / (cold / n) if peer else None
    note = " ".join(summary) + f" cold runs {', '.join(f'{c:.1f} s' for c in colds)}"
    if peer:
        note += (f"; check-jsonschema {peer:.1f} s for {len(sample)} records (every {SAMPLE_EVERY}th): "
                 f"{peer / len(sample) * 1000:.2f} ms a record against dangan's {cold / n * 1000:.3f} ms")
    results.append(_row(f"check --all, cold ({n} records)", cold, "s", "< 60 s and >= 20x check-jsonschema a record",
                        cold < 60 and (ratio or 0) >= 20, note, peer=peer, ratio=ratio))
    results.append(_row("check --all, warm (nothing changed)", warm, "s", "< 1 s", warm < 1))
    results.append(_row("peak memory of check --all (cold)", rss, "MB", "< 1000 MB", rss < 1000))


def bench_monitor(vault: Path, results: list[dict]) -> None:
    """The warm check where git uses a file-system monitor: Watchman watches the work tree
    (one inotify watch a folder: the limit is raised when it is too low and this runs as
    root, as Watchman's documentation tells an administrator to), git's sample hook is
    `core.fsmonitor`, the index carries the monitor's token. Undone at the end."""
    name = "check --all, warm, git using Watchman (core.fsmonitor)"
    watchman = shutil.which("watchman")
    if watchman is None or not FSMONITOR_HOOK.exists():
        missing = "watchman" if watchman is None else str(FSMONITOR_HOOK)
        results.append(_row(name, 0.0, "s", "< 1 s", False, f"not measured: {missing} not found"))
        return
    listed = common.run(["git", "ls-files", "vault/"], cwd=vault).stdout.decode().splitlines()
    folders = {"vault"}
    for rel in listed:
        parent = rel.rpartition("/")[0]
        while parent and parent not in folders:
            folders.add(parent)
            parent = parent.rpartition("/")[0]
    needed = len(folders) + 100_000  # the rest of the work tree, and room
    notes = []
    limit = int(WATCHES.read_text())
    if limit < needed:
        try:
            WATCHES.write_text(f"{needed}\n")
            notes.append(f"fs.inotify.max_user_watches raised from {limit} to {needed}")
        except OSError as error:
            results.append(_row(name, 0.0, "s", "< 1 s", False,
                                f"not measured: {len(folders)} folders, fs.inotify.max_user_watches {limit} ({error})"))
            return
    hook = vault / ".git" / "fsmonitor-watchman"
    # `version` is answered by the client alone: only the service lists its watches
    running = common.run([watchman, "--no-spawn", "watch-list"], cwd=vault, check=False).returncode == 0
    try:
        crawl, _ = common.timed([watchman, "watch-project", str(vault)], cwd=vault)
        shutil.copy(FSMONITOR_HOOK, hook)
        common.run(["git", "config", "core.fsmonitor", str(hook)], cwd=vault)
        common.run(["git", "config", "core.untrackedCache", "true"], cwd=vault)
        token, _ = common.timed(["git", "update-index", "--fsmonitor"], cwd=vault)
        first_status, _ = common.timed(["git", "status", "--porcelain"], cwd=vault)  # builds the untracked cache
        first, _ = common.timed([DANGAN, "check", "--all"], cwd=vault)  # the index was rewritten
        warm, proc = common.timed([DANGAN, "check", "--all"], cwd=vault, repeat=5)
        status, _ = common.timed(["git", "status", "--porcelain"], cwd=vault, repeat=3)
        notes.append(f"Watchman's first crawl of {len(folders)} folders {crawl:.0f} s; `git update-index "
                     f"--fsmonitor` {token:.0f} s; the first git status (untracked cache) {first_status:.1f} s; "
                     f"the check after them {first:.1f} s; git status then {status:.2f} s; "
                     + " ".join(proc.stdout.decode(errors="replace").strip().splitlines()[-1:]))
        results.append(_row(name, warm, "s", "< 1 s", warm < 1, "; ".join(notes)))
    finally:
        common.run(["git", "config", "--unset", "core.fsmonitor"], cwd=vault, check=False)
        common.run(["git", "config", "--unset", "core.untrackedCache"], cwd=vault, check=False)
        common.run(["git", "update-index", "--no-fsmonitor", "--no-untracked-cache"], cwd=vault, check=False)
        common.run([watchman, "watch-del", str(vault)], cwd=vault, check=False)
        if not running:  # the service this run started (its memory: gigabytes at a million)
            common.run([watchman, "shutdown-server"], cwd=vault, check=False)
        hook.unlink(missing_ok=True)


def bench_hook(vault: Path, results: list[dict], target: float, label: str, rel: str | None = None) -> None:
    rows: list[dict] = []
    common.bench_hook(vault, rows, rel)
    row = rows[0]
    results.append(_row(f"pre-commit hook, one staged record ({label})", row["value"], "s", f"< {target} s",
                        row["value"] < target))


def bench_office(vault: Path, results: list[dict]) -> None:
    office = common.WORK / "xl-office"
    if office.exists():
        shutil.rmtree(office)
    # the server as docs/team.md sets it up: partial clones allowed (without it, git sends
    # every blob, and `dangan clone` says so: the first run measured that, 124 s)
    common.run(["git", "config", "uploadpack.allowFilter", "true"], cwd=vault)
    seconds, proc = common.timed([DANGAN, "clone", f"file://{vault}", str(office), "--projects", "A01", "--json"],
                                 cwd=common.WORK)
    partial = json.loads(proc.stdout)["partial"]
    held = sum(1 for _ in (office / "vault").rglob("*.yaml"))  # what the checkout holds
    results.append(_row("office checkout of one project (clone --projects A01 from a local server)", seconds, "s",
                        "< 120 s", seconds < 120,
                        f"{held} records checked out; {'partial' if partial else 'FULL (the server sent every blob)'} clone"))
    try:
        common.clear_cache(office)
        common.run([DANGAN, "check", "--all"], cwd=office)
        common.clear_cache(office)
        cold, _ = common.timed([DANGAN, "check", "--all"], cwd=office)
        warm, _ = common.timed([DANGAN, "check", "--all"], cwd=office, repeat=5)
        results.append(_row("office: check --all, cold", cold, "s", "as at 100,000 records (< 8 s)", cold < 8))
        results.append(_row("office: check --all, warm", warm, "s", "as at 100,000 records (< 0.5 s)", warm < 0.5))
        held_files = sorted(str(p.relative_to(office)) for p in (office / "vault" / "A01").rglob("*.yaml"))
        rel = held_files[len(held_files) // 2]
        bench_hook(office, results, 0.15, "office checkout of one project", rel)
    finally:
        shutil.rmtree(office, ignore_errors=True)


def bench_readers(vault: Path, results: list[dict]) -> None:
    """`due`, `gaps` and `stats`: cold (dangan's cache removed), warm (the next run: the
    answer kept for that commit and day, services/answers.py), warm on another day of the
    same commit (the day before: no answer kept for it, judged from what the reader keeps
    per commit, its groundwork) and warm after a new commit (one record changed, as a day's
    work is: the groundwork of the commit before followed along the files changed)."""
    for command in (["due"], ["gaps"], ["stats"]):
        common.clear_cache(vault)
        cold, _ = common.timed([DANGAN, *command], cwd=vault)
        warm, _ = common.timed([DANGAN, *command], cwd=vault, repeat=3)
        day = (dt.date.today() - dt.timedelta(days=1)).isoformat()
        other, _ = common.timed([DANGAN, *command, "--as-of", day], cwd=vault)
        name = command[0]
        results.append(_row(f"{name}, cold", cold, "s", "< 10 s", cold < 10))
        results.append(_row(f"{name}, warm (the answer kept for the commit and day)", warm, "s", "< 10 s",
                            warm < 10, f"load average {os.getloadavg()[0]:.1f}"))
        results.append(_row(f"{name}, warm caches, another day of the commit (--as-of {day}: its groundwork)",
                            other, "s", "< 10 s", other < 10))
    undo = _new_commit(vault)
    try:
        for name in ("due", "gaps", "stats"):
            seconds, _ = common.timed([DANGAN, name], cwd=vault)
            results.append(_row(f"{name}, warm caches, a new commit (one record changed: its groundwork followed)", seconds, "s",
                                "< 10 s", seconds < 10, f"load average {os.getloadavg()[0]:.1f}"))
    finally:
        undo()


def _new_commit(vault: Path) -> Callable[[], None]:
    """One record's clear title edited and committed now, as a day's work is; gives what
    takes the commit back out (the vault is the benchmark's, kept between runs)."""
    files = common.run(["git", "ls-files", "vault/"], cwd=vault).stdout.decode().splitlines()
    for rel in files[len(files) // 2:] + files:
        text = (vault / rel).read_bytes()
        if "/TS/" in rel and re.search(rb"\ntitle: [^\"'|>&*!%@`{\[E]", text):  # plain, clear
            break
    else:
        raise SystemExit("bench: no record with a clear title to change")
    (vault / rel).write_bytes(text.replace(b"\ntitle: ", "\ntitle: 更正".encode(), 1))
    common.run(["git", "commit", "-q", "--no-verify", "-m", "bench: one record changed", "--", rel], cwd=vault)
    return lambda: common.run(["git", "reset", "-q", "--hard", "HEAD~1"], cwd=vault)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="rebuild the xl vault")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    parser.add_argument("--vault", type=Path, help="use this vault instead of the xl demo")
    parser.add_argument("--only", default=",".join(PARTS), metavar="PARTS",
                        help=f"measure only these, comma-separated (default all: {','.join(PARTS)})")
    args = parser.parse_args()
    parts = {part.strip() for part in args.only.split(",") if part.strip()}
    if parts - set(PARTS):
        parser.error(f"--only: unknown {', '.join(sorted(parts - set(PARTS)))}; known: {', '.join(PARTS)}")
    common.WORK.mkdir(parents=True, exist_ok=True)
    common.run([sys.executable, "-m", "compileall", "-q", str(common.REPO / "tools" / "dangan")])
    if args.vault:
        vault, built = args.vault.resolve(), None
    else:
        vault, built = xl_vault(args.rebuild)
    results: list[dict] = []
    if built is not None:
        results.append(_row("building the xl demo (dangan demo --size xl)", built, "s", "(no target)", True))
    if "check" in parts:
        bench_check(vault, results)
    if "monitor" in parts:
        bench_monitor(vault, results)
    if "hook" in parts:
        bench_hook(vault, results, 0.25, "full checkout")
    if "office" in parts:
        bench_office(vault, results)
    from bench_backup import measure as bench_backup  # noqa: E402
    from bench_diff import measure as bench_diff  # noqa: E402

    if "diff" in parts:
        for row in bench_diff(vault, common.WORK / "xl-work"):
            row["target"], row["met"] = "< 5 s", row["value"] < 5
            results.append(row)
    if "readers" in parts:
        bench_readers(vault, results)
    if "backup" in parts:
        results += bench_backup(vault, common.WORK / "xl-work")
    if parts != set(PARTS) and results:  # said on the first row: the table is not the whole run
        partial = f"a partial run (--only {','.join(p for p in PARTS if p in parts)})"
        results[0]["note"] = f"{partial}; {results[0]['note']}" if results[0].get("note") else partial
    common.report(results, not args.no_write, marker="results-xl")


if __name__ == "__main__":
    main()
