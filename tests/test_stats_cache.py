"""`dangan stats` keeps what it read of each blob (issue 26 part 3; docs/performance.md).

What stats read of a record is kept in `.git/dangan/cache/stats-fields.json` by blob id, with
a stamp naming what was read: a warm run lists the tree, loads the cache and reads only the
blobs it does not hold. These tests prove on real vaults that a warm run answers byte for
byte as a cold one in every output, that after a commit only the changed blob is read again
(the others are taken from the cache even when the cache says something else: a marker
planted in it shows through), that a cache written for other schemas is not used, and that
the cache holds no sensitive value, not even a secret record's field wrongly left in clear.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, git, run_cli
from test_encryption import dg, make_key
from test_levels import HIDDEN_TEXTS
from test_levels import RECORD as SECRET_RECORD
from test_stats import AS_OF, bulk, commit_files, complaint, dated, ok, record

from dangan.formats import agekeys
from dangan.store.vault import Vault

CACHE = Path(".git", "dangan", "cache", "stats-fields.json")
MARK = "from-the-cache"  # a status planted in the cache: shows through where the cache answers
OVERRIDDEN = "HJ-A01-0005"  # a nested retention override: the fast reader declines, the full one reads it
BROKEN = "vault/A01/XM/XM-A01-0002.yaml"  # committed without the hooks: unreadable


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_stats' vault, with a record read by the full reader and an unreadable one."""
    root = tmp_path_factory.mktemp("stats-cache") / "vault"
    people = []
    for name in ("陳立新", "張敏"):  # approver and archivist of the loans
        people += ["--recipient", f"{name}={agekeys.generate_identity()[1]}"]
    ok(run_cli(["init", str(root), "--name", "統計緩存", *people], env=dated("2025-01-01T09:00:00+08:00")))
    override = record("HJ-tank-cleaning.yaml", OVERRIDDEN, opened="2023-04-20", closed="2023-05-01",
                      period_start="2023-04-20", period_end="2023-04-20",
                      water_test={"tested_on": "2023-05-01", "passed": True},
                      retention={"until": "2030-12-31", "reason": "審計延長保管"})
    commit_files(root, [*bulk(), override], "2025-06-29T12:00:00+08:00", "records")
    commit_files(root, [complaint("TS-A01-02-0007", "2025-07-15T10:00:00+08:00", "open")],
                 "2025-07-20T12:00:00+08:00", "a later complaint")
    (root / BROKEN).parent.mkdir(parents=True, exist_ok=True)
    (root / BROKEN).write_text("code: XM-A01-0002\ntitle: [unclosed\n", "utf-8")
    git(root, "add", BROKEN)
    subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "a broken record"], cwd=root, check=True,
                   env=dict(os.environ, **dated("2025-07-25T12:00:00+08:00")))
    return root


@pytest.fixture
def root(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "vault"
    shutil.copytree(built, copy, symlinks=True)
    shutil.rmtree(copy / ".git" / "dangan" / "cache", ignore_errors=True)
    return copy


def stats(root: Path, *args: str, lang: str | None = None) -> Result:
    return ok(run_cli([*(["--lang", lang] if lang else []), "-C", str(root), "stats", *args]))


def cached(root: Path) -> dict[str, Any]:
    return json.loads((root / CACHE).read_bytes())


def forget_answers(root: Path) -> None:
    """Drop the whole answers kept (services/answers.py: the same commit and day would be
    answered from them), so that the next run reads the tree through the per-blob cache."""
    shutil.rmtree(root / CACHE.parent / "answers")


def record_blobs(root: Path, commit: str = "HEAD") -> dict[str, str]:
    """path -> blob id of every file under vault/ in `commit`."""
    out = {}
    for line in git(root, "ls-tree", "-r", commit, "--", "vault/").splitlines():
        meta, path = line.split("\t", 1)
        out[path] = meta.split()[2]
    return out


def test_a_record_that_is_a_list_is_unreadable_not_a_record(root: Path) -> None:
    """A file at a record's path holding a YAML list: the fast field reader finds none of
    its keys, which is no proof that it is a record; the full reader says it is not one."""
    listed = "vault/A01/XM/XM-A01-0003.yaml"
    (root / listed).write_text("- code: XM-A01-0003\n- category: XM\n", "utf-8")
    git(root, "add", listed)
    subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "a list"], cwd=root, check=True,
                   env=dict(os.environ, **dated("2025-07-26T12:00:00+08:00")))
    doc = json.loads(stats(root, "--json").out)  # HEAD's records, whatever the day
    assert doc["records"]["unreadable"] == [BROKEN, listed] and doc["records"]["total"] == 25
    assert cached(root)["trees"][record_blobs(root)[listed]] is None


@pytest.mark.parametrize("lang", [None, "zh-Hant"])
def test_a_warm_run_answers_byte_for_byte_as_a_cold_one(root: Path, lang: str | None) -> None:
    """Every output of stats (text and --json, a past day and today, two languages): the run
    after a cold one answers from the cache, and exactly as the cold run did."""
    for args in (("--as-of", AS_OF), ("--as-of", AS_OF, "--json"), (), ("--json",)):
        shutil.rmtree(root / CACHE.parent, ignore_errors=True)  # cold: due's, gaps' and the indicators' too
        cold = stats(root, *args, lang=lang)
        assert (root / CACHE).exists()
        warm = stats(root, *args, lang=lang)
        assert (warm.out, warm.err) == (cold.out, cold.err), args
    # the last run was of today: one entry per blob of the tree, the broken record's as null
    blobs = record_blobs(root)
    trees = cached(root)["trees"]
    assert set(trees) == set(blobs.values())
    assert trees[blobs[BROKEN]] is None
    doc = json.loads(cold.out)
    assert doc["records"]["unreadable"] == [BROKEN] and doc["records"]["total"] == 25
    # the override was read whole (nested), and kept the record from the destruction list
    override = trees[blobs[f"vault/A01/HJ/{OVERRIDDEN}.yaml"]]
    assert override["retention"] == {"until": "2030-12-31", "reason": "審計延長保管"}
    assert doc["retention"]["kept"]["override"] == 1
    assert OVERRIDDEN not in [e["code"] for e in doc["retention"]["list"]]


def test_only_the_changed_record_is_read_again(root: Path) -> None:
    """A marker planted in the cache shows through for every record but the one committed
    since: that one blob was read from git, the others taken from the cache."""
    stats(root, "--json")
    doc = cached(root)
    before = set(doc["trees"])
    for tree in doc["trees"].values():
        if isinstance(tree, dict):
            tree["status"] = MARK
    (root / CACHE).write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    forget_answers(root)
    marked = json.loads(stats(root, "--json").out)["records"]["by_status"]
    assert {status for by in marked.values() for status in by} == {MARK}  # all of it from the cache

    path, text = complaint("TS-A01-02-0007", "2025-07-15T10:00:00+08:00", "in_progress")
    old = record_blobs(root)[path]
    commit_files(root, [(path, text)], "2025-07-26T12:00:00+08:00", "in progress")
    new = record_blobs(root)[path]
    assert new != old
    forget_answers(root)  # laid from the per-blob cache, not followed from the marked groundwork
    after = json.loads(stats(root, "--json").out)["records"]["by_status"]
    assert after["TS"] == {MARK: 6, "in_progress": 1}  # the changed record alone was read
    assert {status for c, by in after.items() if c != "TS" for status in by} == {MARK}
    trees = cached(root)["trees"]
    assert set(trees) == before - {old} | {new}
    assert trees[new]["status"] == "in_progress"
    assert all(tree["status"] == MARK for blob, tree in trees.items() if blob != new and tree is not None)


def test_a_cache_of_other_schemas_or_fields_is_not_used(root: Path) -> None:
    """The stamp names what was read: the schemas (what a secret record hides) and the
    fields asked (a retention rule's trigger field). Either changed, the run starts afresh."""
    truth = stats(root, "--json").out

    def plant() -> None:
        doc = cached(root)
        for tree in doc["trees"].values():
            if isinstance(tree, dict):
                tree["status"] = MARK
        (root / CACHE).write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
        forget_answers(root)
        assert MARK in stats(root, "--json").out  # the cache answers while its stamp holds

    plant()
    schema = root / "schemas" / "TS.json"
    schema.write_text(schema.read_text("utf-8") + "\n", "utf-8")  # another schema set, same meaning
    assert stats(root, "--json").out == truth
    assert MARK not in (root / CACHE).read_text("utf-8")

    plant()
    assert "'period_end'" not in cached(root)["stamp"]
    config = root / "vault.yaml"
    rule = "  HJ:\n    keep: P2Y\n    after: closed\n"
    assert rule in config.read_text("utf-8")
    config.write_text(config.read_text("utf-8").replace(rule, rule.replace("closed", "period_end")), "utf-8")
    assert Vault.open(root).config["retention"]["HJ"]["after"] == "period_end"
    assert MARK not in stats(root, "--json").out
    assert "'period_end'" in cached(root)["stamp"]


def test_the_cache_holds_no_sensitive_value(tmp_path: Path) -> None:
    """A vault with encrypted records: a complaint's complainant (sensitive), a hold's parties
    (sensitive, a record read whole), a secret record, and a secret record whose title was
    committed in clear by hand. The cache holds none of their protected values, in clear or
    sealed, nor any record's sops block; it does hold the clear fields stats counts."""
    wang = make_key(tmp_path, "wang")
    root = tmp_path / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"Wang={wang.public}"]))
    config = (root / "vault.yaml").read_text("utf-8")
    (root / "vault.yaml").write_text(config.replace("lending:", "readers:\n  secret: [Wang]\nlending:", 1), "utf-8")
    git(root, "commit", "-q", "-am", "secret records are Wang's")
    complaint_text = "\n".join(line for line in (
        Path(__file__).parent / "schema_examples" / "valid" / "TS-complaint.yaml").read_text("utf-8").splitlines()
        if not line.startswith(("code:", "category:", "refs:", "  - FW-"))) + "\n"
    ok(dg(root, "new", "TS", "A01-02-001-0301", "--file", "-", input=complaint_text, key=wang))
    hold = ("title: 證據保全\nstatus: active\nopened: '2025-01-08'\ntargets:\n  - TS\n"
            "reason: 訴訟。\nparties:\n  - 吳志強秘密當事人\nevents:\n  - at: '2025-01-08T10:00:00+08:00'\n"
            "    action: hold\n    by: 陳立新\n    reason: 收到法院傳票。\n")
    ok(dg(root, "new", "BQ", "--file", "-", input=hold, key=wang))
    ok(dg(root, "new", "PX", "--file", "-", input=SECRET_RECORD, key=wang))  # test_levels' secret record
    by_hand = "code: PX-0002\ncategory: PX\nlevel: secret\ntitle: 李四考核不合格\nstatus: planned\n" \
              "opened: '2026-04-01'\ncourse: 考核\ntrainer: 人事部李主任\n"
    (root / "vault/PX/PX-0002.yaml").write_text(by_hand, "utf-8")
    git(root, "add", "vault/PX/PX-0002.yaml")
    git(root, "commit", "-q", "--no-verify", "-m", "by hand, hooks skipped")
    stored = git(root, "show", "HEAD:vault/BQ/BQ-0001.yaml")
    assert "吳志強秘密當事人" not in stored and "ENC[" in stored  # encrypted at rest

    doc = json.loads(stats(root, "--json").out)
    assert doc["records"]["total"] == 4 and doc["holds"]["active"] == 1
    cache = (root / CACHE).read_text("utf-8")
    # what stats counts is there in clear: a complaint's title, the hold (read whole)
    assert "2棟1單元301室投訴樓上裝修噪音" in cache and "證據保全" in cache and "收到法院傳票" in cache
    for text in ("林曉東", "138-0000-1234", "吳志強秘密當事人", *HIDDEN_TEXTS, "李四考核不合格", "人事部李主任"):
        assert text not in cache, text
    trees = cached(root)["trees"]
    blobs = record_blobs(root)
    assert set(trees) == set(blobs.values())
    # the secret records keep only their structural fields; the hold no sops block
    assert set(trees[blobs["vault/PX/PX-0002.yaml"]]) == {"level", "status", "opened"}
    assert "title" not in trees[blobs["vault/PX/PX-0001.yaml"]]
    assert "sops" not in trees[blobs["vault/BQ/BQ-0001.yaml"]] and '"sops"' not in cache
