"""`dangan handover record` (docs/handover.md step 3): the YJ record, what it takes out of
the reports, and the removal it licenses, through the real hooks and a real bare server.

One module-scoped vault (a recipient with both roles) holds two residential projects: A02
is handed over (its profile XM, a closed hygiene record due for destruction with a paper
original of 12 pages, an elevator with custody in the project's archive room, a statutory
inspection and a scan), A01 stays (a hygiene record that refers to one of A02's, an elevator
in the head office's room). Tests that write work on a copy of it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, Result, git, run_cli, snapshot

from dangan.formats import agekeys
from dangan.formats.yamlio import dump, load_text
from dangan.model.codes import parse_code, parse_location
from dangan.model.layout import folder_of
from dangan.services import records
from dangan.store.vault import Vault

VALID = REPO / "tests" / "schema_examples" / "valid"
ARCHIVIST = "張敏"  # recipient with both roles (init --recipient)
ROOM_A01, ROOM_A02 = "總部檔案室", "翠湖二期客服中心檔案室"
XM2, HJ2, SB2 = "XM-A02-0001", "HJ-A02-0001", "SB-A02-02-0001"
XM1, HJ1, SB1 = "XM-A01-0001", "HJ-A01-0001", "SB-A01-02-0001"
HANDED = [HJ2, XM2, SB2]  # in the list's order: location, then category
# Every commit is dated (GIT_*_DATE), so that the reports of a day see a known history: the
# base on 2025-01-10, what a test commits on 2025-03-01 (the handover's day).
BASE_DAY, WORK_DAY = "2025-01-10T12:00:00+08:00", "2025-03-01T12:00:00+08:00"
DATES = ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE")
RECORD = ["--to", "翠湖二期業主委員會", "--received-by", "周明", "--witness", "陳建華", "--by", ARCHIVIST,
          "--at", "2025-03-01T10:00:00+08:00"]


def dg(root: Path, *args: str) -> Result:
    return run_cli(["-C", str(root), *args])


def ok(result: Result) -> Result:
    assert result.code == 0, result
    return result


def refused(result: Result, code: int, *fragments: str) -> None:
    assert result.code == code, result
    lines = result.err.strip().splitlines()
    assert lines[0].startswith("dangan: error: "), result
    assert any(line.startswith("hint: ") or "hint" in line for line in lines[1:]), result
    for fragment in fragments:
        assert fragment in result.err, result


def example(name: str, code: str, **changes: object) -> dict:
    tree = load_text((VALID / name).read_text("utf-8"))
    tree.pop("refs", None)
    tree.update(code=code, **changes)
    return tree


def write(root: Path, tree: dict) -> None:
    path = root / parse_code(str(tree["code"])).path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(tree), "utf-8")


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    secret, public = agekeys.generate_identity()
    path = tmp_path_factory.mktemp("keys") / "archivist.key"
    agekeys.write_identity_file(path, secret, public)
    return path, public


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, key: tuple[Path, str]) -> Path:
    root = tmp_path_factory.mktemp("base") / "vault"
    saved = {name: os.environ.get(name) for name in DATES}
    os.environ.update(dict.fromkeys(DATES, BASE_DAY))
    try:
        _build(root, key)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return root


def _build(root: Path, key: tuple[Path, str]) -> None:
    ok(run_cli(["init", str(root), "--recipient", f"{ARCHIVIST}={key[1]}"]))
    received = {"from": "工程部", "pages": 12, "by": ARCHIVIST, "at": "2020-05-21T10:00:00+08:00"}
    records = [
        example("XM-residential.yaml", XM1),
        example("XM-residential.yaml", XM2, title="翠湖二期 <b>&amp;</b> 項目概況"),
        example("HJ-tank-cleaning.yaml", HJ1, opened="2020-05-14", closed="2020-05-20", refs=[HJ2]),
        example("HJ-tank-cleaning.yaml", HJ2, opened="2020-05-14", closed="2020-05-20", received=received,
                custody={"form": "paper", "room": ROOM_A02, "cabinet": "01", "shelf": "2"}),
        example("SB-elevator.yaml", SB1, custody={"form": "paper", "room": ROOM_A01, "cabinet": "04"}),
        example("SB-elevator.yaml", SB2, custody={"form": "both", "room": ROOM_A02, "cabinet": "04",
                                                  "shelf": "1", "box": "SB-DT"}),
    ]
    for tree in records:
        write(root, tree)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "two projects")  # through the pre-commit hook
    scan = root.parent / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 elevator certificate\n")
    ok(dg(root, "--identity", str(key[0]), "attach", SB2, str(scan), "--title", "檢驗合格證",
          "--at", "2025-01-10T11:00:00+08:00"))


@pytest.fixture
def work(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in DATES:
        monkeypatch.setenv(name, WORK_DAY)
    target = tmp_path / "vault"
    shutil.copytree(base, target, symlinks=True)
    return target


def exiting(root: Path) -> None:
    ok(dg(root, "set", XM2, "status=exiting"))


def handed_over(root: Path) -> str:
    exiting(root)
    return ok(dg(root, "handover", "record", "A02", *RECORD)).out.strip()


def remove(root: Path, codes: list[str]) -> None:
    """`git rm` the records and their attachment folders (not committed)."""
    for text in codes:
        code = parse_code(text)
        git(root, "rm", "-q", code.path)
        if (root / folder_of(code)).exists():
            git(root, "rm", "-q", "-r", folder_of(code))


def commit(root: Path, message: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "commit", "-q", "-m", message, *args], cwd=root, capture_output=True, text=True,
                          check=False)


def make_remote(root: Path, tmp_path: Path) -> Path:
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    hook = bare / "hooks" / "pre-receive"
    shutil.copyfile(REPO / "hooks" / "pre-receive", hook)
    hook.chmod(0o755)
    git(root, "remote", "add", "origin", str(bare))
    return bare


def push(root: Path, verify: bool = False) -> subprocess.CompletedProcess[str]:
    """Without the local pre-push hook unless `verify`: then the server judges alone."""
    return subprocess.run(["git", "push", "-q", *([] if verify else ["--no-verify"]), "origin", "HEAD:main"],
                          cwd=root, capture_output=True, text=True, check=False)


# ------------------------------------------------------------------ the record

def test_record_writes_the_yj_with_each_record_as_committed(work: Path) -> None:
    exiting(work)
    before = git(work, "rev-parse", "HEAD").strip()
    blobs = {c: git(work, "rev-parse", f"HEAD:{parse_code(c).path}").strip() for c in HANDED}
    done = ok(dg(work, "handover", "record", "A02", *RECORD, "--witness", "劉芳", "--json"))
    doc = json.loads(done.out)
    assert doc["codes"] == ["YJ-0001"] and doc["count"] == 3 and doc["held"] == {}
    assert git(work, "rev-parse", "HEAD").strip() == doc["commit"]
    assert git(work, "status", "--porcelain").strip() == ""
    tree = load_text((work / "vault/YJ/YJ-0001.yaml").read_text("utf-8"))
    assert tree["status"] == "handed_over" and tree["scope"] == ["A02"]
    assert tree["to"] == "翠湖二期業主委員會" and tree["received_by"] == "周明"
    assert tree["handed_over_by"] == ARCHIVIST and tree["witnesses"] == ["陳建華", "劉芳"]
    assert tree["handed_over_at"] == "2025-03-01T10:00:00+08:00" and tree["opened"] == "2025-03-01"
    assert tree["source"] == {"vault": load_text((work / "vault.yaml").read_text("utf-8"))["name"], "commit": before}
    items = {i["code"]: i for i in tree["items"]}
    assert list(items) == HANDED
    assert {c: i["blob"] for c, i in items.items()} == blobs
    assert items[HJ2]["pages"] == 12 and items[HJ2]["paper"] == f"{ROOM_A02} / 01 / 2"
    assert items[SB2]["attachments"] == 1 and "pages" not in items[SB2]
    assert items[XM2]["title"] == "翠湖二期 <b>&amp;</b> 項目概況"
    ok(dg(work, "check", "--all"))
    # handed over already: a second record finds nothing left to hand over
    refused(dg(work, "handover", "record", "A02", *RECORD), 2, "handed over already", "YJ-0001")


def test_a_whole_project_is_handed_over_only_when_its_profile_says_exiting(work: Path) -> None:
    state = snapshot(work)
    refused(dg(work, "handover", "record", "A02", *RECORD), 2, XM2, "exiting", f"dangan set {XM2} status=exiting")
    assert snapshot(work) == state
    # a part of a project may be handed over while the project goes on
    done = ok(dg(work, "handover", "record", "A02-02", *RECORD))
    assert done.out.strip() == "YJ-0001"
    tree = load_text((work / "vault/YJ/YJ-0001.yaml").read_text("utf-8"))
    assert [i["code"] for i in tree["items"]] == [SB2]


@pytest.mark.parametrize(("args", "fragments"), [
    (["A09", *RECORD], ["no record under A09", "A01", "A02"]),
    (["a02x", *RECORD], ["not a location prefix"]),
    (["A02", *RECORD[:-2], "--at", "2099-01-01"], ["future"]),
    (["A02", "--to", " ", *RECORD[2:]], ["--to is empty"]),
    (["A02", *RECORD[:4], "--witness", "周明", *RECORD[6:]], ["witness must be someone other"]),
    (["A02", *RECORD[:4], "--witness", ARCHIVIST, *RECORD[6:]], ["witness must be someone other"]),
])
def test_bad_input_is_one_line_with_a_hint_and_changes_nothing(work: Path, args: list[str],
                                                               fragments: list[str]) -> None:
    exiting(work)
    state = snapshot(work)
    refused(dg(work, "handover", "record", *args), 2, *fragments)
    assert snapshot(work) == state


def test_uncommitted_changes_under_the_prefix_refuse_it(work: Path) -> None:
    exiting(work)
    path = work / parse_code(HJ2).path
    path.write_text(path.read_text("utf-8").replace("水箱清洗", "水箱清洗（改）"), "utf-8")
    state = snapshot(work)
    refused(dg(work, "handover", "record", "A02", *RECORD), 2, "not committed", HJ2)
    assert snapshot(work) == state


def test_records_out_on_loan_refuse_the_handover(work: Path) -> None:
    exiting(work)
    loan = ok(dg(work, "lend", "request", SB2, "--borrower", "趙偉", "--department", "工程部", "--purpose", "年檢",
                 "--form", "original", "--at", "2025-01-02T09:00:00+08:00")).out.strip()
    ok(dg(work, "lend", "approve", loan, "--by", ARCHIVIST, "--at", "2025-01-02T10:00:00+08:00"))
    ok(dg(work, "lend", "checkout", loan, "--by", ARCHIVIST, "--at", "2025-01-02T11:00:00+08:00"))
    state = snapshot(work)
    refused(dg(work, "handover", "record", "A02", *RECORD), 1, "open loans", SB2, loan, "lend return")
    assert snapshot(work) == state
    listed = ok(dg(work, "handover", "list", "A02"))
    assert f"{SB2} is on open loan {loan}" in listed.err
    ok(dg(work, "lend", "return", loan, "--by", ARCHIVIST, "--condition", "intact",
          "--at", "2025-01-05T09:00:00+08:00"))
    assert ok(dg(work, "handover", "record", "A02", *RECORD)).out.strip() == "YJ-0001"
    # the closed loan stays in the company's ledger and still names the record removed
    remove(work, HANDED)
    made = commit(work, "A02's copies removed; the loan that had SB-A02-02-0001 out stays")
    assert made.returncode == 0, made.stderr
    ok(dg(work, "check", "--all"))
    assert SB2 in ok(dg(work, "lend", "ls", "--json")).out


# ------------------------------------------------------------ out of the reports

def plan_codes(root: Path) -> set[str]:
    doc = json.loads(ok(dg(root, "retention", "plan", "--as-of", "2025-06-30", "--json")).out)
    return {e["code"] for e in doc["due"]} | {e["code"] for e in doc["not_due"]}


def sheet_codes(root: Path) -> set[str]:
    doc = json.loads(ok(dg(root, "inventory", "sheet", "--json")).out)
    return {r["code"] for r in doc["records"]}


def due_subjects(root: Path) -> set[str]:
    doc = json.loads(ok(dg(root, "due", "--as-of", "2025-04-01", "--within", "P1Y", "--json")).out)
    return {json.dumps(o, ensure_ascii=False) for o in doc["obligations"]}


def gap_codes(root: Path) -> list[dict]:
    return json.loads(ok(dg(root, "gaps", "--as-of", "2025-06-30", "--json")).out)["gaps"]


def test_handed_over_records_leave_sweeps_inventories_due_gaps_and_statistics(work: Path) -> None:
    exiting(work)
    # before: A02's records are in every report
    assert {HJ2, HJ1} <= plan_codes(work)
    assert {SB2, HJ2, SB1} <= sheet_codes(work)
    assert any(SB2 in o for o in due_subjects(work)) and any(SB1 in o for o in due_subjects(work))
    assert any(ROOM_A02 in o for o in due_subjects(work))
    a02_gaps = [g for g in gap_codes(work) if g["location"].startswith("A02")]
    assert a02_gaps  # the same expectations as A01 (e.g. a project's regular records)
    stats = json.loads(ok(dg(work, "stats", "--as-of", "2025-06-30", "--json")).out)["records"]
    assert stats["by_project"]["A02"] == 3 and stats["handed_over"] == 0

    ok(dg(work, "handover", "record", "A02", *RECORD))
    plan = plan_codes(work)
    assert HJ1 in plan and not {HJ2, XM2, SB2} & plan
    sheet = sheet_codes(work)
    assert SB1 in sheet and not {SB2, HJ2} & sheet
    due = due_subjects(work)
    assert any(SB1 in o for o in due) and not any("A02" in o for o in due)
    assert not any(ROOM_A02 in o for o in due)  # its archive room is no longer counted
    assert not [g for g in gap_codes(work) if g["location"].startswith("A02")]
    assert [g for g in gap_codes(work) if g["location"].startswith("A01")]
    stats = json.loads(ok(dg(work, "stats", "--as-of", "2025-06-30", "--json")).out)["records"]
    assert "A02" not in stats["by_project"] and stats["by_project"]["A01"] == 3
    assert stats["handed_over"] == 3 and stats["handed_over_by_project"] == {"A02": 3}
    assert stats["by_category"]["YJ"] == 1
    # the statistics of a day before the handover still count them as held
    before = json.loads(ok(dg(work, "stats", "--as-of", "2025-02-28", "--json")).out)["records"]
    assert before["by_project"]["A02"] == 3 and before["handed_over"] == 0


# -------------------------------------------------------- the removal it licenses

def test_removing_the_handed_over_records_is_accepted_by_the_hooks_and_the_server(work: Path,
                                                                                   tmp_path: Path) -> None:
    bare = make_remote(work, tmp_path)
    assert push(work).returncode == 0
    handed_over(work)
    remove(work, HANDED)
    made = commit(work, "A02 handed over to its owners' committee (YJ-0001): our copies removed")
    assert made.returncode == 0, made.stderr  # pre-commit: DG109 accepts the YJ, DG108 the ref of HJ-A01
    assert not (work / folder_of(parse_code(SB2))).exists()
    ok(dg(work, "check", "--all"))
    ok(dg(work, "check", "--range", "HEAD~3..HEAD"))
    pushed = push(work, verify=True)  # the local pre-push hook, then the server's pre-receive
    assert pushed.returncode == 0, pushed.stderr
    assert git(work, "ls-remote", str(bare)).split()[0] == git(work, "rev-parse", "HEAD").strip()
    # HJ-A01 still names HJ-A02: it exists elsewhere now, as a destroyed record does
    assert HJ2 in (work / parse_code(HJ1).path).read_text("utf-8")
    # the serials of the handed-over records are not given again
    assert str(records.allocate(Vault.open(work), "HJ", parse_location("A02"))) == "HJ-A02-0002"


def test_removing_records_the_handover_does_not_list_is_dg109(work: Path, tmp_path: Path) -> None:
    make_remote(work, tmp_path)
    assert push(work).returncode == 0
    handed_over(work)
    remove(work, [*HANDED, SB1])
    made = commit(work, "also A01's elevator")
    assert made.returncode != 0 and "DG109" in made.stderr and SB1 in made.stderr, made.stderr
    assert HJ2 not in made.stderr.split("DG109", 1)[1]  # the licensed ones are not findings
    forced = commit(work, "also A01's elevator", "--no-verify")
    assert forced.returncode == 0
    pushed = push(work)
    assert pushed.returncode != 0 and "DG109" in pushed.stderr and "pre-receive hook declined" in pushed.stderr
    assert SB1 in pushed.stderr


def test_removing_a_projects_records_without_a_handover_is_dg109(work: Path) -> None:
    remove(work, HANDED)
    made = commit(work, "A02 gone")
    assert made.returncode != 0
    assert made.stderr.count("DG109") >= 3 and "dangan handover record" in made.stderr, made.stderr


def test_a_received_yj_licenses_no_removal(work: Path) -> None:
    handed_over(work)
    path = work / "vault/YJ/YJ-0001.yaml"
    tree = load_text(path.read_text("utf-8"))
    tree.update(code="YJ-0002", status="received", **{"from": tree.pop("to")})
    (work / "vault/YJ/YJ-0002.yaml").write_text(dump(tree), "utf-8")
    git(work, "rm", "-q", "vault/YJ/YJ-0001.yaml")
    git(work, "add", "vault/YJ/YJ-0002.yaml")
    remove(work, HANDED)
    made = commit(work, "a receipt is no licence")
    assert made.returncode != 0 and "DG109" in made.stderr and XM2 in made.stderr, made.stderr


def test_a_handover_edited_afterwards_is_dg110(work: Path) -> None:
    handed_over(work)
    path = work / "vault/YJ/YJ-0001.yaml"
    tree = load_text(path.read_text("utf-8"))
    tree["items"] = [*tree["items"], {"code": SB1, "category": "SB", "title": "電梯",
                                      "blob": git(work, "rev-parse", f"HEAD:{parse_code(SB1).path}").strip()}]
    path.write_text(dump(tree), "utf-8")
    git(work, "add", str(path))
    made = commit(work, "hand over one more")
    assert made.returncode != 0 and "DG110" in made.stderr, made.stderr
    git(work, "checkout", "HEAD", "--", str(path))
    git(work, "rm", "-q", str(path))
    made = commit(work, "forget the handover")
    assert made.returncode != 0 and "DG109" in made.stderr and "permanent" in made.stderr, made.stderr


# ------------------------------------------------------------------ legal holds

def test_held_records_are_handed_over_but_kept_until_the_hold_is_released(work: Path) -> None:
    hold = ok(dg(work, "retention", "hold", HJ2, "--reason", "訴訟證據保全", "--by", ARCHIVIST,
                 "--at", "2025-02-01T09:00:00+08:00")).out.strip()
    exiting(work)
    done = ok(dg(work, "handover", "record", "A02", *RECORD))
    assert f"{HJ2} is held by {hold}" in done.err
    remove(work, HANDED)
    made = commit(work, "removed while held")
    assert made.returncode != 0 and "DG109" in made.stderr and f"held by {hold}" in made.stderr, made.stderr
    assert SB2 not in made.stderr.split("DG109", 1)[1]
    git(work, "reset", "-q", "--hard")
    ok(dg(work, "retention", "release", hold, "--reason", "案件已結案", "--by", ARCHIVIST,
          "--at", "2025-03-01T11:00:00+08:00"))
    remove(work, HANDED)
    made = commit(work, "removed once released")
    assert made.returncode == 0, made.stderr


# ------------------------------------------------------------------ signed acts

@pytest.fixture
def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Path]]:
    """A vault whose vault.yaml asks for signed role acts (an approver and an archivist, each
    with an SSH signing key) with project A02's elevator and hygiene record, and a server."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen (OpenSSH 8.2+)")
    from test_signing import ssh_key

    for name in DATES:
        monkeypatch.setenv(name, WORK_DAY)
    people = {"陳立新": ["approver"], ARCHIVIST: ["archivist"]}
    ssh = {name: ssh_key(tmp_path, f"key{n}") for n, name in enumerate(people)}
    root = tmp_path / "vault"
    ok(run_cli(["init", str(root), *[a for name in people
                                       for a in ("--recipient", f"{name}={agekeys.generate_identity()[1]}")]]))
    config = load_text((root / "vault.yaml").read_text("utf-8"))
    for entry in config["recipients"]:
        entry["roles"] = people[entry["name"]]
        entry["signing_key"] = ssh[entry["name"]][1]
    config["signed_role_acts"] = True
    (root / "vault.yaml").write_text(dump(config), "utf-8")
    write(root, example("SB-elevator.yaml", SB2))
    write(root, example("HJ-tank-cleaning.yaml", HJ2, opened="2020-05-14", closed="2020-05-20"))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "signing keys, project A02")
    make_remote(root, tmp_path)
    assert push(root).returncode == 0
    return root, {name: path for name, (path, _public) in ssh.items()}


def test_a_handover_is_the_archivists_signed_act(signed: tuple[Path, dict[str, Path]]) -> None:
    root, keys = signed
    state = snapshot(root)
    refused(dg(root, "handover", "record", "A02", *RECORD), 2, "YJ-0001", "must be signed")
    assert snapshot(root) == state
    wrong = dg(root, "handover", "record", "A02", *RECORD, "--sign-key", str(keys["陳立新"]))
    assert wrong.code == 1 and "DG119" in wrong.err, wrong
    assert snapshot(root) == state
    ok(dg(root, "handover", "record", "A02", *RECORD, "--sign-key", str(keys[ARCHIVIST])))
    remove(root, [HJ2, SB2])
    assert commit(root, "A02's copies removed").returncode == 0  # a removal is no act
    pushed = push(root)
    assert pushed.returncode == 0, pushed.stderr
    # a handover committed unsigned by hand is refused by the server
    tree = load_text((root / "vault/YJ/YJ-0001.yaml").read_text("utf-8"))
    tree.update(code="YJ-0002", title="再次移交")
    (root / "vault/YJ/YJ-0002.yaml").write_text(dump(tree), "utf-8")
    git(root, "add", "vault/YJ/YJ-0002.yaml")
    assert commit(root, "unsigned handover", "--no-verify").returncode == 0
    forced = push(root)
    assert forced.returncode != 0 and "DG119" in forced.stderr and "YJ-0002" in forced.stderr, forced.stderr


def test_a_handover_dated_after_its_commit_is_dg121(work: Path) -> None:
    exiting(work)
    state = snapshot(work)
    late = dg(work, "handover", "record", "A02", *RECORD[:-2], "--at", "2025-03-02T10:00:00+08:00")
    assert late.code == 1 and "DG121" in late.err and "handed_over_at" in late.err, late
    assert snapshot(work) == state


def test_a_large_handover_is_split_into_volumes_that_license_together(work: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A YJ is a record (at most 256 KiB): a long list takes several volumes (冊) in one
    commit, as a certificate does (retention.volumes); together they license every removal."""
    from dangan.services import retention

    monkeypatch.setattr(retention, "VOLUME_BYTES", 500)  # about one item a volume
    exiting(work)
    before = git(work, "rev-parse", "HEAD").strip()
    doc = json.loads(ok(dg(work, "handover", "record", "A02", *RECORD, "--json")).out)
    assert len(doc["codes"]) >= 2 and doc["count"] == len(HANDED)
    assert git(work, "rev-parse", "HEAD~1").strip() == before  # one commit
    volumes = [load_text((work / "vault" / "YJ" / f"{code}.yaml").read_text("utf-8")) for code in doc["codes"]]
    assert [item["code"] for vol in volumes for item in vol["items"]] == HANDED
    assert all(f"共{len(volumes)}冊" in vol["title"] for vol in volumes)
    remove(work, HANDED)
    made = commit(work, "A02 handed over in volumes: our copies removed")
    assert made.returncode == 0, made.stderr
    ok(dg(work, "check", "--all"))
