"""`due`, `gaps` and `stats` keep their whole answer per commit and day (services/answers.py;
issue 26, docs/performance.md).

On a real vault, driven through the CLI: the run after a cold one answers byte for byte as
it did, from the kept answer (a marker planted in it shows through); anything the answer
depends on — a new commit, another day, an option, an uncommitted edit of vault.yaml or of a
schema, the language — is another key and computed afresh; only the newest answers are
kept; and `stats`' inventory section shows the flags of HEAD's records, so that a change
not committed neither shows nor spoils the kept answer.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import Result, run_cli
from test_stats import AS_OF, bulk, commit_files, complaint, dated, ok, record

from dangan.formats import agekeys
from dangan.services import answers

KEPT = Path(".git", "dangan", "cache", "answers")
MARK = "planted-in-the-kept-answer"
READERS = ("due", "gaps", "stats")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("answers") / "vault"
    people = []
    for name in ("陳立新", "張敏"):  # approver and archivist of the loans
        people += ["--recipient", f"{name}={agekeys.generate_identity()[1]}"]
    ok(run_cli(["init", str(root), "--name", "答案", *people], env=dated("2025-01-01T09:00:00+08:00")))
    commit_files(root, bulk(), "2025-06-29T12:00:00+08:00", "records")
    return root


@pytest.fixture
def root(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "vault"
    shutil.copytree(built, copy, symlinks=True)
    shutil.rmtree(copy / ".git" / "dangan" / "cache", ignore_errors=True)
    return copy


def run(root: Path, *args: str, lang: str | None = None) -> Result:
    return ok(run_cli([*(["--lang", lang] if lang else []), "-C", str(root), *args]))


def kept(root: Path, reader: str) -> list[Path]:
    """The kept answers of `reader` (not `gaps`' groundwork, `gaps-ground-*`)."""
    return sorted(path for path in (root / KEPT).glob(f"{reader}-*.json")
                  if len(path.stem) == len(reader) + 33)


def plant(root: Path, reader: str) -> None:
    """Write MARK as the commit of every kept answer of `reader` (each output shows it)."""
    files = kept(root, reader)
    assert files, reader
    for path in files:
        doc = json.loads(path.read_bytes())
        doc["answer"]["commit"] = MARK
        path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")


@pytest.mark.parametrize("reader", READERS)
def test_the_next_run_answers_as_the_first_from_the_kept_answer(root: Path, reader: str) -> None:
    for args in ((), ("--json",), ("--as-of", AS_OF), ("--as-of", AS_OF, "--json")):
        shutil.rmtree(root / KEPT.parent, ignore_errors=True)  # cold: every cache of the readers
        first = run(root, reader, *args)
        assert len(kept(root, reader)) == 1, args
        again = run(root, reader, *args)
        assert (again.out, again.err) == (first.out, first.err), args
    plant(root, reader)
    assert MARK in run(root, reader, "--as-of", AS_OF, "--json").out  # read back, not computed


@pytest.mark.parametrize("reader", READERS)
def test_whatever_the_answer_depends_on_is_another_key(root: Path, reader: str) -> None:
    truth = run(root, reader, "--as-of", AS_OF, "--json").out
    assert MARK not in truth

    def planted() -> bool:
        plant(root, reader)
        return MARK in run(root, reader, "--as-of", AS_OF, "--json").out

    assert planted()
    # the language (the text of an answer may be in it)
    assert MARK not in run(root, reader, "--as-of", AS_OF, "--json", lang="zh-Hant").out
    # another day
    assert MARK not in run(root, reader, "--as-of", "2025-07-01", "--json").out
    # vault.yaml edited, not committed (the rules are the work tree's)
    assert planted()
    config = root / "vault.yaml"
    before = config.read_text("utf-8")
    config.write_text(before + "# a note\n", "utf-8")
    assert run(root, reader, "--as-of", AS_OF, "--json").out == truth
    config.write_text(before, "utf-8")
    # a schema edited, not committed
    assert planted()
    schema = root / "schemas" / "TS.json"
    text = schema.read_text("utf-8")
    schema.write_text(text + "\n", "utf-8")
    assert run(root, reader, "--as-of", AS_OF, "--json").out == truth
    schema.write_text(text, "utf-8")
    # a new commit on that day is another commit judged
    assert planted()
    commit_files(root, [complaint("TS-A01-02-0031", "2025-06-30T09:00:00+08:00", "open")],
                 "2025-06-30T12:00:00+08:00", "one more complaint")
    fresh = run(root, reader, "--as-of", AS_OF, "--json").out
    assert MARK not in fresh
    assert json.loads(fresh)["commit"] != json.loads(truth)["commit"]


def test_only_the_newest_answers_are_kept(root: Path) -> None:
    days = [f"2025-07-{day:02d}" for day in range(1, answers.KEEP + 3)]
    for day in days:
        run(root, "gaps", "--as-of", day, "--json")
    files = kept(root, "gaps")
    assert len(files) == answers.KEEP
    plant(root, "gaps")
    # the newest are those kept: the last day asked is answered from them, the first is not
    assert MARK in run(root, "gaps", "--as-of", days[-1], "--json").out
    assert MARK not in run(root, "gaps", "--as-of", days[0], "--json").out


def test_stats_takes_the_inventory_flags_of_head(root: Path) -> None:
    """The inventory section shows today's rooms and flags as committed (HEAD's records,
    docs/stats.md): a record of a new room in the work tree only is not counted, and the
    answer kept holds; once committed, HEAD is another and so is the answer."""
    first = json.loads(run(root, "stats", "--json").out)
    path, text = record("XM-residential.yaml", "XM-A01-0009", custody={"form": "paper", "room": "測試檔案室"})
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text, "utf-8")  # not committed
    again = json.loads(run(root, "stats", "--json").out)
    assert again == first
    shutil.rmtree(root / KEPT)  # computed, not read back: the same
    assert json.loads(run(root, "stats", "--json").out) == first
    plant(root, "stats")
    commit_files(root, [], "2026-01-05T12:00:00+08:00", "the flagged record")
    after = json.loads(run(root, "stats", "--json").out)
    assert after["commit"] != MARK
    rooms = {item["room"]: item for item in after["inventory"]}
    assert rooms["測試檔案室"]["open_discrepancies"] == 0
    assert "測試檔案室" not in {item["room"] for item in first["inventory"]}
