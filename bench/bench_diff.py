"""Benchmark: `dangan diff` between two dates with 1% of the records changed (docs/performance.md).

The given vault is not touched: a clone sharing its objects (`git clone --shared
--no-checkout`, with only vault.yaml and schemas/ checked out) gets ten back-dated commits
on its branch, one a day after the last commit, written with `git fast-import`. Together
they add, remove and modify 1% of the records; encrypted records are re-sealed with the
demo key (as `dangan set` would: unchanged ciphertext kept), so the diff without a key
compares ciphertext and with the key compares plaintext. Both are measured.

    python bench/bench_diff.py VAULT [WORK]     # or measure(vault, work) from bench/run.py
"""
from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tools"))

DAYS = 10
TARGET = 1.5


def _git(args: list[str], cwd: Path, input: bytes | None = None) -> bytes:
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench_diff: git {' '.join(args[:2])} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def _clone(vault: Path, work: Path) -> Path:
    clone = work / "diff-vault"
    if clone.exists():
        shutil.rmtree(clone)
    work.mkdir(parents=True, exist_ok=True)
    _git(["clone", "-q", "--shared", "--no-checkout", str(vault), str(clone)], work)
    _git(["checkout", "HEAD", "--", "vault.yaml", "schemas"], clone)
    for key in vault.glob("DEMO-KEY*.txt"):
        shutil.copy2(key, clone / key.name)
    return clone


def _changes(clone: Path, share: float, seed: int) -> tuple[list[dict[str, bytes | None]], int]:
    """DAYS batches of {path: new bytes or None}; 80% modified, 10% added, 10% removed."""
    from dangan.formats.yamlio import decode, dump, load_text
    from dangan.git import gitio
    from dangan.model.codes import Code, path_to_code
    from dangan.store.sealing import Keyring, seal
    from dangan.store.vault import Vault

    vault = Vault.open(clone)
    key = clone / "DEMO-KEY.txt"
    vault.keyring = Keyring(key if key.exists() else None)
    entries = [e for e in gitio.ls_tree(clone, "HEAD", ["vault/"]) if e.path.endswith(".yaml")]
    rng = random.Random(seed)
    count = max(10, int(len(entries) * share))
    chosen = rng.sample(entries, count)
    blobs = dict(gitio.cat_blobs(clone, [e.blob for e in chosen]))
    ledger = {"JY", "XH", "BQ"}
    used = {e.path for e in entries}
    batches: list[dict[str, bytes | None]] = [{} for _ in range(DAYS)]
    for i, entry in enumerate(chosen):
        code = path_to_code(entry.path)
        tree = load_text(decode(blobs[entry.blob]))
        names = vault.schemas.categories[code.category].sensitive
        recipients = vault.recipient_keys(code.category)
        batch = batches[i % DAYS]
        kind = "modify" if (i % 10 < 8 or code.category in ledger) else ("add" if i % 10 == 8 else "remove")
        if kind == "remove":
            batch[entry.path] = None
            continue
        plain = tree
        if "sops" in tree:
            from dangan.store.sealing import open_document

            plain = open_document(str(code), tree, vault.keyring)
        plain = dict(plain)
        if kind == "add":
            serial = 9000 + i
            new_code = Code(code.category, code.location, serial)
            while new_code.path in used:
                serial += 1
                new_code = Code(code.category, code.location, serial)
            used.add(new_code.path)
            plain["code"] = str(new_code)
            doc = seal(new_code, plain, names, recipients, None, vault.keyring)
            batch[new_code.path] = dump(doc).encode()
        else:
            plain["title"] = f"{plain.get('title', '')}（修訂）"
            plain["notes"] = f"bench change {i}" if code.category not in ledger else plain.get("notes")
            if plain["notes"] is None:
                del plain["notes"]
            doc = seal(code, plain, names, recipients, tree if "sops" in tree else None, vault.keyring)
            batch[entry.path] = dump(doc).encode()
    return batches, count


def _commit(clone: Path, batches: list[dict[str, bytes | None]]) -> tuple[int, int]:
    """Write the batches as back-dated commits on the current branch; (first, last) Unix times."""
    ref = _git(["symbolic-ref", "HEAD"], clone).decode().strip()
    tip = _git(["rev-parse", "HEAD"], clone).decode().strip()
    last = int(_git(["log", "-1", "--format=%ct", "HEAD"], clone).decode())
    stream = bytearray()
    stamps = []
    for day, batch in enumerate(batches, start=1):
        when = last + day * 86400
        stamps.append(when)
        message = f"bench: {len(batch)} records, day {day}".encode()
        stream += f"commit {ref}\ncommitter bench <bench@example.invalid> {when} +0800\n".encode()
        stream += f"data {len(message)}\n".encode() + message + b"\n"
        if day == 1:
            stream += f"from {tip}\n".encode()
        for path, data in sorted(batch.items()):
            if data is None:
                stream += f"D {path}\n".encode()
            else:
                stream += f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n"
        stream += b"\n"
    _git(["fast-import", "--quiet"], clone, input=bytes(stream))
    return last, stamps[-1]


def _day(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone(dt.timedelta(hours=8))).date().isoformat()


def _time(args: list[str], env: dict[str, str], repeat: int) -> tuple[float, bytes]:
    times, out = [], b""
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"bench_diff: {' '.join(args[3:6])} failed: {proc.stderr.decode(errors='replace')}")
        out = proc.stdout
    return statistics.median(times), out


def measure(vault: Path, work: Path, share: float = 0.01, repeat: int = 3) -> list[dict]:
    """The diff between two dates with `share` of the records changed, without and with a key."""
    import json

    dangan = str(Path(sys.executable).parent / "dangan")
    clone = _clone(Path(vault), Path(work))
    try:
        batches, count = _changes(clone, share, seed=20248)
        first, last = _commit(clone, batches)
        records = len(_git(["ls-tree", "-r", "--name-only", "HEAD", "vault/"], clone).splitlines())
        since, until = _day(first), _day(last)
        env = {k: v for k, v in os.environ.items() if k not in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "DANGAN_AGE_KEY_FILE")}
        home = Path(work) / "diff-home"
        home.mkdir(parents=True, exist_ok=True)
        env["HOME"] = str(home)  # no identity at hand: ciphertext comparison
        args = [dangan, "-C", str(clone), "diff", "--from", since, "--to", until, "--format", "json"]
        blind, out = _time(args, env, repeat)
        doc = json.loads(out)
        listed = doc["summary"]["total"]["records"]
        sealed = sum(1 for r in doc["records"] if r["compared"] == "ciphertext")
        results = [{
            "name": f"diff between two dates, {share:.0%} changed ({listed} of {records} records), no key",
            "value": blind, "unit": "s", "target": f"< {TARGET} s", "met": blind < TARGET,
            "note": f"{count} records changed in {DAYS} back-dated commits; {since} -> {until}",
        }]
        key = clone / "DEMO-KEY.txt"
        if key.exists():
            keyed, out = _time([dangan, "-C", str(clone), "--identity", str(key), *args[3:]], env, repeat)
            still = sum(1 for r in json.loads(out)["records"] if r["compared"] == "ciphertext")
            results.append({
                "name": "diff between two dates, 1% changed, with the key (plaintext comparison)",
                "value": keyed, "unit": "s", "target": f"< {TARGET} s", "met": keyed < TARGET,
                "note": f"{sealed - still} of {sealed} changed encrypted records decrypted and compared as plaintext",
            })
        return results
    finally:
        shutil.rmtree(clone, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    target = Path(sys.argv[1])
    scratch = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / ".work"
    for result in measure(target, scratch):
        print(f"{result['name']}: {result['value']:.3f} {result['unit']} (target {result['target']}; "
              f"{'met' if result['met'] else 'NOT met'}) {result.get('note', '')}")
