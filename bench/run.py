"""dangan benchmarks (`make bench`): each target of docs/performance.md.

Builds (once, cached under bench/.work/) the large demo vault, then measures each figure and
its comparison in the same run, prints a table and writes docs/performance.md. These are
measurements, not tests: nothing here fails on a time; misses are reported as misses.

    python bench/run.py [--records N] [--rebuild] [--no-write]
"""
from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
BIN = Path(sys.executable).parent
DANGAN = str(BIN / "dangan")
ENV = dict(os.environ)
ENV.update(
    {
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # no identity from the user's home: the figures are those of a reviewer or CI
        "HOME": tempfile.mkdtemp(prefix="bench-home-"),
    }
)
atexit.register(shutil.rmtree, ENV["HOME"], ignore_errors=True)  # one folder a run, not left behind
# PYTHONDONTWRITEBYTECODE would make every run compile dangan from source (~60 ms of
# a 0.2 s hook): measure an installed dangan, whose bytecode is compiled once (main()).
for _var in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "DANGAN_AGE_KEY_FILE", "PYTHONDONTWRITEBYTECODE"):
    ENV.pop(_var, None)


def run(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(args, cwd=cwd, env=env or ENV, capture_output=True)
    if check and proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        raise SystemExit(f"bench: {' '.join(args[:3])} failed with {proc.returncode}")
    return proc


def timed(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, repeat: int = 1,
          before: Callable[[], object] | None = None) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    """The median wall time of `repeat` runs (`before()` untimed ahead of each)."""
    times = []
    proc = None
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        proc = run(args, cwd, env)
        times.append(time.perf_counter() - start)
    assert proc is not None
    return statistics.median(times), proc


def peak_rss_mb(args: list[str], cwd: Path) -> float:
    """Peak resident memory of a command and its children, via GNU time or rusage."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if Path(gnu_time).exists():
        proc = subprocess.run([gnu_time, "-f", "%M", *args], cwd=cwd, env=ENV, capture_output=True)
        try:
            return int(proc.stderr.decode().strip().splitlines()[-1]) / 1024
        except (ValueError, IndexError):
            pass
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    run(args, cwd)
    return max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


# ------------------------------------------------------------------------- vault

def large_vault(rebuild: bool) -> Path:
    path = WORK / "large"
    if rebuild and path.exists():
        shutil.rmtree(path)
    if not (path / "vault.yaml").exists():
        if path.exists():
            shutil.rmtree(path)
        WORK.mkdir(parents=True, exist_ok=True)
        print("building the large demo vault (once; kept in bench/.work/) ...", flush=True)
        start = time.perf_counter()
        run([DANGAN, "demo", str(path), "--size", "large"], cwd=WORK)
        print(f"  built in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def record_count(vault: Path) -> int:
    out = run(["git", "ls-files", "vault/"], cwd=vault).stdout
    return out.count(b"\n")


def clear_cache(vault: Path) -> None:
    shutil.rmtree(vault / ".git" / "dangan" / "cache", ignore_errors=True)


def forget_answers(vault: Path) -> None:
    """Drop the whole answers `due`, `gaps` and `stats` kept (services/answers.py)."""
    shutil.rmtree(vault / ".git" / "dangan" / "cache" / "answers", ignore_errors=True)


# -------------------------------------------------------------------------- peers

def check_jsonschema_peer(vault: Path, sample: list[str] | None = None) -> float | None:
    """check-jsonschema on the same files against the same schemas (their at-rest view):
    every record of the vault, or the paths of `sample` (bench/bench_xl.py).

    Schemas are written without `$id` so that relative `$ref`s resolve to files (the
    `.invalid` ids would send it to the network). One invocation per category, all timed.
    """
    exe = BIN / "check-jsonschema"
    if not exe.exists():
        return None
    sys.path.insert(0, str(REPO / "tools"))
    from dangan.formats.schemas import SchemaSet  # noqa: E402

    schemas = SchemaSet.from_dir(vault / "schemas")
    views = schemas._at_rest_documents()
    out = Path(tempfile.mkdtemp(prefix="peer-schemas-", dir=WORK))
    for name, doc in views.items():
        doc = dict(doc)
        doc.pop("$id", None)
        (out / name).write_text(json.dumps(doc), encoding="utf-8")
    files: dict[str, list[str]] = {}
    listed = sample if sample is not None else run(["git", "ls-files", "vault/"], cwd=vault).stdout.decode().splitlines()
    for rel in listed:
        files.setdefault(rel.rsplit("/", 2)[-2], []).append(rel)
    total = 0.0
    for category, rels in sorted(files.items()):
        if category not in schemas.categories:
            continue
        schema = out / schemas.categories[category].schema
        for i in range(0, len(rels), 5000):  # stay under the argument-length limit
            start = time.perf_counter()
            run([str(exe), "--schemafile", str(schema), "--disable-formats", "*", *rels[i : i + 5000]], cwd=vault)
            total += time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return total


# ----------------------------------------------------------------------- measures

def bench_check(vault: Path, results: list[dict]) -> None:
    n = record_count(vault)
    colds = []
    # "cold" is without dangan's cache (docs/format.md §8), not with the OS page cache emptied:
    # one untimed run first, so that the three timed ones read the files from memory as a
    # user's second command does (this VM also reclaims idle page cache on its own)
    clear_cache(vault)
    run([DANGAN, "check", "--all"], cwd=vault)
    for _ in range(3):
        clear_cache(vault)
        seconds, proc = timed([DANGAN, "check", "--all"], cwd=vault)
        colds.append(seconds)
    cold = statistics.median(colds)
    findings = proc.stdout.decode(errors="replace").strip().splitlines()[-1:]
    findings.append(f"cold runs: {', '.join(f'{c:.1f} s' for c in colds)} (median reported)")
    warm, _ = timed([DANGAN, "check", "--all"], cwd=vault, repeat=11)  # sub-second: median of many
    clear_cache(vault)
    rss = peak_rss_mb([DANGAN, "check", "--all"], vault)
    peer = check_jsonschema_peer(vault)
    ratio = (peer / cold) if peer else None
    results.append({"name": f"check --all, cold ({n} records)", "value": cold, "unit": "s", "target": "< 8 s and >= 20x check-jsonschema",
                    "peer": peer, "ratio": ratio, "met": cold < 8 and (ratio or 0) >= 20, "note": " ".join(findings)})
    results.append({"name": "check --all, warm (nothing changed)", "value": warm, "unit": "s", "target": "< 0.5 s", "met": warm < 0.5})
    results.append({"name": "peak memory of check --all (cold)", "value": rss, "unit": "MB", "target": "< 300 MB", "met": rss < 300})


def bench_hook(vault: Path, results: list[dict], rel: str | None = None) -> None:
    """The pre-commit hook's command with one changed record staged (what `git commit`
    runs before it writes the commit): `rel`, or the record in the middle of the listing."""
    if rel is None:
        files = run(["git", "ls-files", "vault/"], cwd=vault).stdout.decode().splitlines()
        rel = files[len(files) // 2]
    path = vault / rel
    original = path.read_bytes()
    path.write_bytes(original.replace(b"\ntitle: ", b"\ntitle: x", 1))
    run(["git", "add", rel], cwd=vault)
    try:
        hook, _ = timed([DANGAN, "hook", "pre-commit"], cwd=vault, repeat=11)  # median of many: a noisy VM
    finally:
        path.write_bytes(original)
        run(["git", "add", rel], cwd=vault)
    results.append({"name": "pre-commit hook, one staged record", "value": hook, "unit": "s", "target": "< 0.2 s", "met": hook < 0.2})


def bench_new(results: list[dict]) -> None:
    """`dangan new` with encryption for 3 recipients and its commit (hook included)."""
    sys.path.insert(0, str(REPO / "tools"))
    from dangan.formats import agekeys  # noqa: E402

    tmp = Path(tempfile.mkdtemp(prefix="bench-new-", dir=WORK))
    try:
        keys = [agekeys.generate_identity() for _ in range(3)]
        keyfile = tmp / "keys.txt"
        keyfile.write_text("\n".join(s for s, _ in keys) + "\n")
        keyfile.chmod(0o600)
        args = [DANGAN, "init", str(tmp / "v")]
        for i, (_, public) in enumerate(keys):
            args += ["--recipient", f"person{i}={public}"]
        run(args)
        fields = (REPO / "tests" / "schema_examples" / "valid").glob("TS-*.yaml")
        text = next(iter(sorted(fields))).read_text("utf-8")
        body = "".join(line + "\n" for line in text.splitlines() if not line.startswith(("code:", "category:")))
        body = body.split("\nrefs:")[0] + "\n"
        env = dict(ENV, SOPS_AGE_KEY_FILE=str(keyfile))
        times = []
        for _ in range(5):
            start = time.perf_counter()
            proc = subprocess.run([DANGAN, "-C", str(tmp / "v"), "new", "TS", "A01-02-001-0301", "--file", "-"], input=body.encode(), env=env, capture_output=True)
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"bench: new failed: {proc.stderr.decode(errors='replace')}")
        value = statistics.median(times)
        results.append({"name": "new with encryption for 3 recipients + commit", "value": value, "unit": "s", "target": "< 0.6 s", "met": value < 0.6})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_import(results: list[dict]) -> None:
    """`dangan import` of a 10,000-row CSV of complaints into a vault with a recipient:
    every row validated, the complainant's name and phone encrypted, one commit (hook
    included)."""
    import csv
    import io

    sys.path.insert(0, str(REPO / "tools"))
    from dangan.formats import agekeys  # noqa: E402

    tmp = Path(tempfile.mkdtemp(prefix="bench-import-", dir=WORK))
    try:
        _, public = agekeys.generate_identity()
        run([DANGAN, "init", str(tmp / "v"), "--recipient", f"person0={public}"])
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["location", "title", "kind", "channel", "received_at", "subject", "description",
                         "complainant.name", "complainant.phone"])
        for i in range(1, 10_001):
            writer.writerow([f"A01-{1 + i % 5:02d}-001-{101 + i % 40:04d}", f"投訴 {i}", "complaint", "phone",
                             "2024-04-08T12:35:00+08:00", "noise", f"第{i}號投訴：樓上噪音。", f"測試人{i:05d}",
                             f"138-{i % 10000:04d}-{i % 10000:04d}"])
        sheet = tmp / "complaints.csv"
        sheet.write_text(out.getvalue(), encoding="utf-8")
        value, proc = timed([DANGAN, "-C", str(tmp / "v"), "import", "TS", str(sheet)])
        if proc.returncode != 0:
            raise SystemExit(f"bench: import failed: {proc.stderr.decode(errors='replace')}")
        results.append({"name": "import 10,000 CSV rows (encrypted) + one commit", "value": value, "unit": "s",
                        "target": "< 30 s", "met": value < 30})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_due(vault: Path, results: list[dict]) -> None:
    """`dangan due` (issue 21): the obligations as of today, on the whole large vault. Warm:
    one untimed run first (the OS page cache and dangan's caches of what was read), then the
    median of three. Cold: the median of three runs each without dangan's caches (the first
    run after a clone or after every record changed)."""
    cache = vault / ".git" / "dangan" / "cache"
    run([DANGAN, "due"], cwd=vault)
    # the answer kept for the day (services/answers.py) would answer every run: these measure
    # the judging of every record, from the per-blob caches and cold
    seconds, proc = timed([DANGAN, "due"], cwd=vault, repeat=3, before=lambda: forget_answers(vault))
    head = proc.stdout.decode(errors="replace").splitlines()[:1]
    results.append({"name": f"due, warm ({record_count(vault)} records)", "value": seconds, "unit": "s",
                    "target": "< 5 s", "met": seconds < 5, "note": " ".join(head)})
    colds = []
    for _ in range(3):
        for name in ("due-fields.json", "due-rooms.json"):
            (cache / name).unlink(missing_ok=True)
        forget_answers(vault)
        colds.append(timed([DANGAN, "due"], cwd=vault, repeat=1)[0])
    cold = statistics.median(colds)
    results.append({"name": "due, cold (no cache: every record of an obligation's category read, rooms grepped)",
                    "value": cold, "unit": "s", "target": "< 5 s", "met": cold < 5,
                    "note": f"cold runs {', '.join(f'{c:.1f} s' for c in colds)}; load average {os.getloadavg()[0]:.1f}"})


def report(results: list[dict], write: bool, marker: str = "results") -> None:
    """Print the table and, with `write`, put it in docs/performance.md after `<!-- marker -->`
    (replacing what was there up to the next heading)."""
    lines = ["| benchmark | measured | target | comparison | met |", "|---|---|---|---|---|"]
    for r in results:
        value = f"{r['value']:.3f} {r['unit']}" if r["unit"] == "s" else f"{r['value']:.0f} {r['unit']}"
        comparison = ""
        if r.get("peer"):
            peer = r.get("peer_name", "check-jsonschema")
            if r.get("ratio_kind") == "slower":
                comparison = f"{peer} {r['peer']:.1f} s; dangan takes {r['ratio']:.2f}x its time"
            else:
                comparison = f"{peer} {r['peer']:.1f} s; dangan is {r['ratio']:.1f}x faster"
        elif "peer" in r:
            comparison = "check-jsonschema not installed"
        met = "yes" if r["met"] else "**no**"
        lines.append(f"| {r['name']} | {value} | {r['target']} | {comparison} | {met} |")
        if r.get("note"):
            lines.append(f"|  | {r['note']} | | | |")
    table = "\n".join(lines)
    print(table)
    if write:
        doc = REPO / "docs" / "performance.md"
        text = doc.read_text("utf-8") if doc.exists() else "# Performance\n\n"
        tag = f"<!-- {marker} -->"
        head, found, rest = text.partition(tag)
        if not found:
            head, rest = head.rstrip("\n") + "\n\n", ""
        following = rest.find("\n## ")  # the next section (another run's results) stays
        stamp = f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}."
        section = f"{tag}\n{stamp}\n\n{table}\n"
        if following >= 0:
            section += "\n" + rest[following:].lstrip("\n")
        doc.write_text(head + section, encoding="utf-8")
        print(f"written to {doc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the large vault")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    parser.add_argument("--vault", type=Path, help="use this vault instead of the large demo")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "compileall", "-q", str(REPO / "tools" / "dangan")])  # as pip does on install
    vault = args.vault or large_vault(args.rebuild)
    results: list[dict] = []
    bench_check(vault, results)
    bench_hook(vault, results)
    bench_new(results)
    bench_import(results)
    bench_due(vault, results)
    sys.path.insert(0, str(HERE))
    from bench_backup import measure as bench_backup  # noqa: E402
    from bench_diff import measure as bench_diff  # noqa: E402
    from bench_gaps import measure as bench_gaps  # noqa: E402

    results += bench_diff(vault, WORK)
    results += bench_backup(vault, WORK)
    results += bench_gaps(vault)
    report(results, not args.no_write)


if __name__ == "__main__":
    main()
