"""`dangan due`: each kind of obligation found when unmet and not when met, as of dates
before and after its deadline, in text and --json.

The vault (Asia/Shanghai, begun 2025-01-01) is committed in back-dated commits: on
2025-01-10 every obligation is open; on 2025-04-15 each is met (a renewal, a move-out, a
review, a superseded certificate, an inspection, an upkeep job, a decommissioning, an
actual end, a resolution, a whole-room count). Every call passes --as-of.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Result, run_cli
from test_stats import commit_files, dated  # the back-dated commits both vaults are built from

from dangan.formats.yamlio import dump, load_text
from dangan.model import obligations
from dangan.services import due as due_service

VALID = REPO / "tests" / "schema_examples" / "valid"
SENSITIVE = frozenset({"complainant", "reporter", "contact", "parties", "client_contact", "tenant_name",
                       "id_type", "id_number", "phone", "email", "applicant", "foreman", "refs",
                       "monthly_rent", "deposit", "fees", "contract_amount"})
HT, ZH, AQ, QY = "HT-A01-0001", "ZH-A01-01-002-1802-0001", "AQ-A01-0001", "QY-0001"
SB1, SB2, ZX, TS = "SB-A01-02-0001", "SB-A01-02-0002", "ZX-A01-02-002-0502-0001", "TS-A01-02-001-0301-0001"
ROOM, HQ, CELLAR = "翠湖花園客服中心檔案室", "總部檔案室", "地下室檔案庫"
CONFIG_EXTRA = f"""departments:
  - name: 工程部
    responsible: 李建國
    files:
      - category: SB
      - category: WX
  - name: 客服部
    responsible: 周敏
    files:
      - category: TS
      - category: ZH
      - category: ZX
  - name: 檔案室
    responsible: 張敏
    files:
      - category: PD
inventory:
  rooms:
    {HQ}: P6M
"""


def record(example: str, code: str, **changes: Any) -> tuple[str, str]:
    """(path, text) of a schema example under a new code, without sensitive fields or refs."""
    tree = {k: v for k, v in load_text((VALID / example).read_text("utf-8")).items() if k not in SENSITIVE}
    tree.update(code=code, category=code[:2], **changes)
    tree = {k: v for k, v in tree.items() if v is not None}
    parts = code.split("-")
    return "/".join(["vault", *parts[1:-1], parts[0], f"{code}.yaml"]), dump(tree)


def custody(room: str) -> dict[str, str]:
    return {"form": "paper", "room": room, "cabinet": "01"}


def upkeep(code: str, day: str) -> tuple[str, str]:
    return record("WX-scheduled-upkeep.yaml", code, target=SB1, opened=day, closed=day,
                  reported_at=f"{day}T08:00:00+08:00", scheduled_for=day, started=f"{day}T09:00:00+08:00",
                  finished=f"{day}T11:00:00+08:00")


def complaint(**changes: Any) -> tuple[str, str]:
    base: dict[str, Any] = {"status": "open", "received_at": "2025-01-08T10:00:00+08:00", "opened": "2025-01-08",
                            "deadline": "2025-01-25", "closed": None, "resolved_at": None, "return_visit": None,
                            "result": None, "satisfaction": None, "actions": None, "justified": None}
    base.update(changes)
    return record("TS-complaint.yaml", TS, **base)


def plan(review_due: str) -> tuple[str, str]:
    return record("AQ-drill.yaml", AQ, status="active", closed=None, kind="emergency_plan", plan=None, held_at=None,
                  topic=None, trainer=None, participants=None, hours=None, evaluation=None, place=None,
                  title="翠湖花園消防應急預案", opened="2024-03-01", plan_version="2024版", effective="2024-03-01",
                  review_due=review_due)


def decoration(**changes: Any) -> tuple[str, str]:
    base: dict[str, Any] = {"status": "approved", "closed": None, "deposit_refunded": None, "actual_end": None,
                            "inspections": None, "planned_start": "2024-12-20", "planned_end": "2025-02-20",
                            "opened": "2024-12-10"}
    base.update(changes)
    return record("ZX-decoration.yaml", ZX, **base)


def first_commit() -> list[tuple[str, str]]:
    return [
        record("HT-subcontract.yaml", HT, end="2025-03-31", custody=custody(ROOM)),
        record("ZH-residential-tenant.yaml", ZH, lease_end="2025-02-28"),
        plan("2025-03-01"),
        record("QY-iso-certificate.yaml", QY, valid_until="2025-03-15", custody=custody(HQ)),
        record("SB-elevator.yaml", SB1, inspection_expires="2025-03-20", custody=custody(ROOM)),
        # never maintained: from commissioning, 2024-12-01 + P1M
        record("SB-elevator.yaml", SB2, installed="2024-12-01", maintenance_interval="P1M", custody=custody(ROOM)),
        upkeep("WX-A01-02-0001", "2025-01-05"),  # SB1: next maintenance 2025-01-20
        decoration(),
        complaint(),
        # a room only an unread category names (found by git grep)
        record("FW-room.yaml", "FW-A01-02-001-0301-0001", custody=custody(CELLAR)),
    ]


def second_commit() -> list[tuple[str, str]]:
    pd = record("PD-inventory.yaml", "PD-0001", opened="2025-04-14", closed="2025-04-14", place=ROOM, scope=None,
                counted_at="2025-04-14T14:00:00+08:00", results=[])
    cabinet_only = record("PD-inventory.yaml", "PD-0002", opened="2025-04-14", closed="2025-04-14", place=HQ,
                          cabinet="01", scope=None, counted_at="2025-04-14T16:00:00+08:00", results=[])
    return [
        record("HT-subcontract.yaml", HT, end="2026-03-31", custody=custody(ROOM)),  # renewed
        record("ZH-residential-tenant.yaml", ZH, lease_end="2025-02-28", moved_out="2025-02-28"),
        plan("2028-03-01"),  # reviewed
        record("QY-iso-certificate.yaml", QY, status="superseded", valid_until="2025-03-15", custody=custody(HQ)),
        record("SB-elevator.yaml", SB1, inspection_date="2025-03-18", inspection_expires="2026-03-20",
               custody=custody(ROOM)),
        record("SB-elevator.yaml", SB2, installed="2024-12-01", maintenance_interval="P1M", status="decommissioned",
               decommissioned="2025-04-01", custody=custody(ROOM)),
        upkeep("WX-A01-02-0002", "2025-04-10"),  # SB1: next maintenance 2025-04-25
        decoration(status="accepted", actual_end="2025-02-18"),
        complaint(status="resolved", resolved_at="2025-01-20T10:00:00+08:00", result="已處理。"),
        pd, cabinet_only,
    ]


@pytest.fixture(scope="module")
def fixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("due") / "vault"
    result = run_cli(["init", str(root), "--name", "期限測試"], env=dated("2025-01-01T09:00:00+08:00"))
    assert result.code == 0, result
    config = (root / "vault.yaml").read_text("utf-8") + CONFIG_EXTRA
    commit_files(root, [("vault.yaml", config), *first_commit()], "2025-01-10T12:00:00+08:00", "records")
    commit_files(root, second_commit(), "2025-04-15T12:00:00+08:00", "obligations met")
    return root


def due(root: Path, *args: str) -> Result:
    return run_cli(["-C", str(root), "due", *args])


def doc_of(root: Path, *args: str) -> dict[str, Any]:
    result = due(root, *args, "--json")
    assert result.code in (0, 1), result
    return json.loads(result.out)


def listed(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["subject"], o["field"]): o for o in doc["obligations"]}


def test_before_the_deadlines_only_what_falls_due_within_the_window(fixed: Path) -> None:
    doc = doc_of(fixed, "--as-of", "2025-01-15")
    found = listed(doc)
    assert set(found) == {(SB2, "maintenance_interval"), (SB1, "maintenance_interval"), (TS, "deadline")}
    assert found[(SB2, "maintenance_interval")]["due"] == "2025-01-01"  # commissioned 2024-12-01 + P1M
    assert found[(SB2, "maintenance_interval")]["state"] == "overdue"
    assert found[(SB2, "maintenance_interval")]["days_overdue"] == 14
    assert found[(SB1, "maintenance_interval")]["due"] == "2025-01-20"  # upkeep 2025-01-05 + 15 days
    assert found[(SB1, "maintenance_interval")]["days_left"] == 5
    assert found[(TS, "deadline")]["days_left"] == 10
    assert doc["overdue"] == 1 and doc["upcoming"] == 2 and doc["until"] == "2025-02-14"
    assert [o["due"] for o in doc["obligations"]] == sorted(o["due"] for o in doc["obligations"])


def test_after_the_deadlines_every_unmet_obligation_is_overdue(fixed: Path) -> None:
    doc = doc_of(fixed, "--as-of", "2025-04-10")  # the records of 2025-01-10
    found = listed(doc)
    expected = {
        (HT, "end"): 10, (ZH, "lease_end"): 41, (AQ, "review_due"): 40, (QY, "valid_until"): 26,
        (SB1, "inspection_expires"): 21, (SB1, "maintenance_interval"): 80, (SB2, "maintenance_interval"): 99,
        (ZX, "planned_end"): 49, (TS, "deadline"): 75,
    }
    assert {key: o["days_overdue"] for key, o in found.items()} == expected
    assert all(o["state"] == "overdue" for o in found.values())
    assert found[(AQ, "review_due")]["zh"] == "應急預案修訂"
    assert doc["commit"] is not None and doc["committed"].startswith("2025-01-10")


def test_each_met_obligation_is_gone(fixed: Path) -> None:
    doc = doc_of(fixed, "--as-of", "2025-04-20")  # the records of 2025-04-15
    assert list(listed(doc)) == [(SB1, "maintenance_interval")]  # the next one: 2025-04-10 + 15 days
    assert doc["obligations"][0]["due"] == "2025-04-25"
    assert "WX-A01-02-0002" in doc["obligations"][0]["basis"]
    assert doc["overdue"] == 0
    assert due(fixed, "--as-of", "2025-04-20").code == 0  # nothing overdue: exit 0


def test_archive_room_counts(fixed: Path) -> None:
    doc = doc_of(fixed, "--as-of", "2025-04-20", "--within", "P1Y")
    rooms = {o["subject"]: o for o in doc["obligations"] if o["kind"] == "count"}
    # the vault began 2025-01-01; HQ has its own interval (P6M) and only a cabinet was counted
    assert rooms[HQ]["due"] == "2025-07-01"
    assert rooms[ROOM]["due"] == "2026-04-14"  # PD-0001's whole-room count + P1Y
    assert "PD-0001" in rooms[ROOM]["basis"]
    assert rooms[CELLAR]["due"] == "2026-01-01"  # named by an FW record only; never counted
    assert rooms[HQ]["department"] == "檔案室" and rooms[HQ]["responsible"] == "張敏"
    late = listed(doc_of(fixed, "--as-of", "2025-07-05"))
    assert late[(HQ, "inventory")]["days_overdue"] == 4
    before = doc_of(fixed, "--as-of", "2025-04-10", "--within", "P1Y")  # before PD-0001
    assert {o["subject"]: o["due"] for o in before["obligations"] if o["kind"] == "count"}[ROOM] == "2026-01-01"


def test_text_lines_name_the_department_and_the_responsible_person(fixed: Path) -> None:
    result = due(fixed, "--as-of", "2025-04-10")
    assert result.code == 0, result  # a report: 0, as stats and lend ls
    assert due(fixed, "--as-of", "2025-04-10", "--exit-code").code == 1  # something is overdue
    assert due(fixed, "--as-of", "2024-01-01", "--exit-code").code == 0  # nothing yet
    lines = result.out.splitlines()
    assert lines[0].endswith("9 overdue, 0 due by 2025-05-10")
    line = next(x for x in lines if f"  {SB1}  inspection_expires  " in x)
    assert line.startswith("2025-03-20  21 d overdue  ")
    assert "特種設備定期檢驗 (statutory inspection)  工程部 李建國  2棟1單元乘客電梯" in line
    assert any(f"  {AQ}  review_due  " in x and "  unassigned  " in x for x in lines)
    assert len(lines) == 10


def test_department_filter(fixed: Path) -> None:
    doc = doc_of(fixed, "--as-of", "2025-04-10", "--department", "工程部")
    assert {(o["subject"], o["field"]) for o in doc["obligations"]} == {
        (SB1, "inspection_expires"), (SB1, "maintenance_interval"), (SB2, "maintenance_interval")}
    assert {o["responsible"] for o in doc["obligations"]} == {"李建國"}
    unassigned = doc_of(fixed, "--as-of", "2025-04-10", "--department", "unassigned")
    assert {o["subject"] for o in unassigned["obligations"]} == {HT, AQ, QY}
    # the department in the other script is the department (issue 24 part 2), named as vault.yaml writes it
    archive = doc_of(fixed, "--as-of", "2025-04-10", "--department", "檔案室")
    simplified = doc_of(fixed, "--as-of", "2025-04-10", "--department", "档案室")
    assert simplified == archive and simplified["department"] == "檔案室"  # refused (exit 2) before


def test_before_the_first_commit_nothing_is_due(fixed: Path) -> None:
    doc = doc_of(fixed, "--as-of", "2024-12-01")
    assert doc["commit"] is None and doc["obligations"] == []


@pytest.mark.parametrize("args, words", [
    (["--within", "30 days"], "not an ISO 8601 duration"),
    (["--department", "財務部"], "no department"),
    (["--as-of", "2025-02-30"], "not a real date"),
])
def test_bad_input_is_refused(fixed: Path, args: list[str], words: str) -> None:
    result = due(fixed, *args, "--as-of", "2025-04-10") if "--as-of" not in args else due(fixed, *args)
    assert result.code == 2, result
    assert words in result.err and result.out == ""


def test_marks_of_the_standard_schemas() -> None:
    found = {}
    for name in ("HT", "ZH", "AQ", "QY", "SB", "ZX", "TS"):
        schema = json.loads((REPO / "schemas" / f"{name}.json").read_text("utf-8"))
        found.update({(m.category, m.field): m for m in obligations.marks_of(name, schema)})
    assert set(found) == {("HT", "end"), ("ZH", "lease_end"), ("AQ", "review_due"), ("QY", "valid_until"),
                          ("SB", "inspection_expires"), ("SB", "maintenance_interval"), ("ZX", "planned_end"),
                          ("TS", "deadline")}
    assert found[("SB", "maintenance_interval")].derived == obligations.MAINTENANCE
    # a malformed mark (no open_while) is skipped rather than guessed at
    assert obligations.marks_of("XX", {"properties": {"d": {"x-dangan-obligation": {"duty": "x"}}}}) == []


@pytest.mark.parametrize("value, expected", [
    (15, "P15D"), ("15", "P15D"), ("P1M", "P1M"), ("P0D", None), (0, None), (True, None), ("often", None)])
def test_maintenance_interval(value: Any, expected: str | None) -> None:
    assert obligations.interval(value) == expected


def test_what_was_read_is_kept_and_the_work_tree_never_counts(fixed: Path, tmp_path: Path) -> None:
    """The second run answers from `.git/dangan/cache` (what was read of each blob, the rooms
    of each tree) exactly as the first; an uncommitted edit of the work tree changes neither
    (the rooms come from the commit, the work tree only grepped when it holds the commit),
    and a commit of it does."""
    import shutil

    root = tmp_path / "vault"
    shutil.copytree(fixed, root, symlinks=True)
    cache = root / ".git" / "dangan" / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    cold = doc_of(root, "--as-of", "2025-04-20", "--within", "P1Y")
    assert (cache / "due-fields.json").exists() and (cache / "due-rooms.json").exists()
    assert doc_of(root, "--as-of", "2025-04-20", "--within", "P1Y") == cold
    rooms = {o["subject"] for o in cold["obligations"] if o["kind"] == "count"}
    assert CELLAR in rooms

    fw = root / "vault" / "A01" / "02" / "001" / "0301" / "FW" / "FW-A01-02-001-0301-0001.yaml"
    fw.write_text(fw.read_text("utf-8").replace(CELLAR, "新檔案庫"), "utf-8")
    shutil.rmtree(cache)  # a cold run beside the edit: the commit's rooms, not the work tree's
    dirty = doc_of(root, "--as-of", "2025-04-20", "--within", "P1Y")
    assert {o["subject"] for o in dirty["obligations"] if o["kind"] == "count"} == rooms

    commit_files(root, [(str(fw.relative_to(root)), fw.read_text("utf-8"))], "2025-04-21T12:00:00+08:00", "moved")
    after = {o["subject"] for o in doc_of(root, "--as-of", "2025-04-21", "--within", "P1Y")["obligations"] if o["kind"] == "count"}
    assert after == rooms - {CELLAR} | {"新檔案庫"}


def test_another_day_of_the_same_commit_is_judged_from_the_groundwork(fixed: Path, tmp_path: Path) -> None:
    """The obligations of the records' dates (with their departments) and what the rooms'
    counts read are kept per commit: another day of it is judged from that groundwork, a
    marker planted in it shows through, and each day judges as a run without it does."""
    root = tmp_path / "copy"
    shutil.copytree(fixed, root, symlinks=True)
    cache = root / ".git" / "dangan" / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    doc_of(root, "--as-of", "2025-01-12")  # the commit of 2025-01-10
    grounds = list((cache / "answers").glob(f"{due_service.GROUND}-*.json"))
    assert len(grounds) == 1
    shutil.copytree(root, tmp_path / "cold", symlinks=True)
    kept = json.loads(grounds[0].read_bytes())
    assert kept["answer"]["field"][0][1] == SB2  # soonest first: commissioned 2024-12-01 + P1M
    kept["answer"]["field"][0][7] = "planted in the groundwork"
    grounds[0].write_text(json.dumps(kept, ensure_ascii=False), "utf-8")
    assert listed(doc_of(root, "--as-of", "2025-01-15"))[(SB2, "maintenance_interval")]["basis"] \
        == "planted in the groundwork"
    assert "planted" not in due(root, "--as-of", "2025-04-20", "--within", "P1Y").out  # another commit
    cold = tmp_path / "cold"
    days = [("2025-01-15",), ("2025-02-20", "--within", "P1Y"), ("2025-04-10", "--department", "工程部"),
            ("2025-04-20", "--within", "P1Y"), ("2025-07-05",), ("2026-01-01",)]
    warm = {day: doc_of(cold, "--as-of", *day) for day in days}
    for day in days:
        shutil.rmtree(cold / ".git" / "dangan" / "cache")
        assert warm[day] == doc_of(cold, "--as-of", *day), day


def test_a_new_commit_follows_the_archive_rooms_of_the_last(fixed: Path, tmp_path: Path) -> None:
    """The archive rooms (`git grep` of every record: 12 s at a million) of a new commit
    are those of the last, followed along the files changed between them, with a few
    records naming each room kept: a room planted among the kept ones shows through, a new
    room named by an added record appears, and when every kept namer of a room changed the
    whole grep runs again. Each answer is the one of a run without any cache."""
    root = tmp_path / "copy"
    shutil.copytree(fixed, root, symlinks=True)
    cache = root / ".git" / "dangan" / "cache"
    shutil.rmtree(cache, ignore_errors=True)

    def rooms(where: Path) -> set[str]:
        doc = doc_of(where, "--as-of", "2025-05-20", "--within", "P1Y")
        return {o["subject"] for o in doc["obligations"] if o["kind"] == "count"}

    def fresh() -> set[str]:
        cold = tmp_path / "cold"
        shutil.rmtree(cold, ignore_errors=True)
        shutil.copytree(root, cold, symlinks=True)
        shutil.rmtree(cold / ".git" / "dangan" / "cache")
        return rooms(cold)

    assert rooms(root) == {ROOM, HQ, CELLAR}  # the grep, the namers kept
    kept = cache / due_service.ROOMS
    doc = json.loads(kept.read_bytes())
    assert doc["trees"]["namers"][CELLAR] == ["vault/A01/02/001/0301/FW/FW-A01-02-001-0301-0001.yaml"]
    doc["trees"]["namers"]["PLANTED"] = doc["trees"]["namers"][ROOM]
    kept.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    commit_files(root, [record("FW-room.yaml", "FW-A01-02-001-0302-0001", custody=custody("新庫房")),
                        complaint(status="resolved", resolved_at="2025-01-20T10:00:00+08:00", result="已回訪。")],
                 "2025-05-10T12:00:00+08:00", "a new room, an edit")
    assert rooms(root) == {ROOM, HQ, CELLAR, "新庫房", "PLANTED"}  # followed from the kept rooms
    assert fresh() == {ROOM, HQ, CELLAR, "新庫房"}
    # CELLAR's only namer names another room now: the grep again (the planted room is gone)
    commit_files(root, [record("FW-room.yaml", "FW-A01-02-001-0301-0001", custody=custody("別處"))],
                 "2025-05-11T12:00:00+08:00", "moved")
    assert rooms(root) == fresh() == {ROOM, HQ, "新庫房", "別處"}


def laid(fixed: Path, followed: Path) -> Path:
    """A copy of `fixed` without caches, with the groundwork of its second commit laid."""
    shutil.copytree(fixed, followed, symlinks=True)
    shutil.rmtree(followed / ".git" / "dangan" / "cache", ignore_errors=True)
    doc_of(followed, "--as-of", "2025-04-20")
    return followed


def planted_copy(followed: Path, planted: Path) -> Path:
    """A copy of `followed` whose groundwork holds a marker (HT's end, as its basis): it
    shows through where the groundwork is followed, and goes where it is laid again."""
    shutil.copytree(followed, planted, symlinks=True)
    ground = next((planted / ".git" / "dangan" / "cache" / "answers").glob(f"{due_service.GROUND}-*.json"))
    kept = json.loads(ground.read_bytes())
    row = next(row for row in kept["answer"]["field"] if row[1] == HT)
    row[7] = "planted in the groundwork"
    ground.write_text(json.dumps(kept, ensure_ascii=False), "utf-8")
    return planted


def test_an_amended_commit_follows_the_groundwork_of_the_one_it_replaced(fixed: Path, tmp_path: Path) -> None:
    """A commit beside the one whose groundwork is kept (`git commit --amend` with a later
    upkeep job and a lease changed): `due` judges the records' content alone, so the tree
    diff between the two is all it follows; a marker shows through, and every day is as a
    cold run gives it."""
    import os
    import subprocess

    from conftest import git

    followed = laid(fixed, tmp_path / "followed")
    replaced = git(followed, "rev-parse", "HEAD").strip()
    planted = planted_copy(followed, tmp_path / "planted")
    for root in (followed, planted):
        for rel, text in (upkeep("WX-A01-02-0003", "2025-05-01"),
                          record("ZH-residential-tenant.yaml", ZH, lease_end="2026-02-28")):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, "utf-8")
        git(root, "add", "-A")
        subprocess.run(["git", "commit", "-q", "--amend", "--no-edit", "--reset-author"], cwd=root, check=True,
                       env=dict(os.environ, **dated("2025-05-03T12:00:00+08:00")))
    assert subprocess.run(["git", "merge-base", "--is-ancestor", replaced, "HEAD"], cwd=followed).returncode == 1
    shown = listed(doc_of(planted, "--as-of", "2025-05-05", "--within", "P2Y"))
    assert shown[(HT, "end")]["basis"] == "planted in the groundwork"  # followed, not laid again
    cold = tmp_path / "cold"
    shutil.copytree(followed, cold, symlinks=True)
    for day in [("2025-05-05",), ("2025-05-20", "--within", "P1Y"), ("2026-01-01", "--within", "P2Y")]:
        warm = doc_of(followed, "--as-of", *day)
        shutil.rmtree(cold / ".git" / "dangan" / "cache", ignore_errors=True)
        assert warm == doc_of(cold, "--as-of", *day), day
    assert listed(doc_of(followed, "--as-of", "2025-05-05"))[(SB1, "maintenance_interval")]["due"] == "2025-05-16"


def test_a_new_commit_follows_the_groundwork_of_the_last(fixed: Path, tmp_path: Path) -> None:
    """Issue 26: the groundwork of a commit is followed from that of its ancestor along the
    records changed: a later upkeep job moves its equipment's next maintenance, a lease and
    a plan change, an inventory is added, a decoration is deleted; a marker planted in the
    earlier groundwork shows through, and every day is judged as a run without any cache
    judges it. When the last upkeep job of an equipment changes (an earlier one may be
    the last now), it is laid again from every record."""
    import os
    import subprocess

    from conftest import git

    followed = laid(fixed, tmp_path / "followed")
    planted = planted_copy(followed, tmp_path / "planted")

    def change(root: Path) -> None:
        commit_files(root, [
            upkeep("WX-A01-02-0003", "2025-05-01"),  # SB1: next maintenance 2025-05-16
            record("ZH-residential-tenant.yaml", ZH, lease_end="2026-02-28"),
            plan("2025-06-01"),
            record("PD-inventory.yaml", "PD-0003", opened="2025-05-02", closed="2025-05-02", place=HQ, scope=None,
                   counted_at="2025-05-02T14:00:00+08:00", results=[]),
        ], "2025-05-03T12:00:00+08:00", "may")
        git(root, "rm", "-q", "--", record("ZX-decoration.yaml", ZX)[0])
        subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "decoration taken out"], cwd=root,
                       env=dict(os.environ, **dated("2025-05-04T12:00:00+08:00")), check=True)

    for root in (followed, planted):
        change(root)
    shown = listed(doc_of(planted, "--as-of", "2025-05-05", "--within", "P2Y"))
    assert shown[(HT, "end")]["basis"] == "planted in the groundwork"  # followed, not laid again
    cold = tmp_path / "cold"
    shutil.copytree(followed, cold, symlinks=True)
    days = [("2025-05-05",), ("2025-05-20", "--within", "P1Y"), ("2025-06-10", "--department", "工程部"),
            ("2026-01-01", "--within", "P2Y")]
    for day in days:
        warm = doc_of(followed, "--as-of", *day)
        shutil.rmtree(cold / ".git" / "dangan" / "cache", ignore_errors=True)
        assert warm == doc_of(cold, "--as-of", *day), day
    assert listed(doc_of(followed, "--as-of", "2025-05-05"))[(SB1, "maintenance_interval")]["due"] == "2025-05-16"
    # the last upkeep job of SB1 moved earlier: laid again, the marker gone
    commit_files(planted, [upkeep("WX-A01-02-0003", "2025-04-01")], "2025-05-06T12:00:00+08:00", "a date fixed")
    shown = listed(doc_of(planted, "--as-of", "2025-05-07", "--within", "P2Y"))
    assert shown[(HT, "end")]["basis"] != "planted in the groundwork"
    assert shown[(SB1, "maintenance_interval")]["due"] == "2025-04-25"  # WX-A01-02-0002 of 10 April is the last
