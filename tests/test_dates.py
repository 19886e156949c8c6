"""Dates are real (issue 17 part 3, DG121; docs/ci.md, docs/decisions.md "Dates are real").

Nothing is recorded ahead of time: `--at` refuses a time after now (+ the clock skew), the
checks refuse an event, certificate or count dated after the commit that records it, and
the server refuses a commit dated in its future. Every case runs real commands, real
commits through the hooks (or around them with --no-verify) and a real bare server with
dangan's pre-receive.

Nothing here depends on today's date: the past is pinned (2024-2025, before any day this
suite runs on) and "the future" is computed from the clock (years ahead), so the tests
marked `today` also pass under the faked days of tests/test_calendar.py.
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, git, run_cli, snapshot
from test_hooks import (  # noqa: F401 (staffed_template: the fixture `vault` builds on)
    JY_REL,
    SB_REL,
    XH2_REL,
    bq,
    bq_released,
    commit,
    found,
    head,
    jy,
    jy_requested,
    jy_returned,
    make_remote,
    messages,
    push,
    remote_refs,
    sb,
    sb_certificate,
    sb_closed,
    staffed_template,
    stage,
)

from dangan.errors import DanganError
from dangan.model.timeutil import CLOCK_SKEW, parse_at
from dangan.rules.dates import added_times

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def vault(staffed_template: Path, tmp_path: Path) -> Path:  # noqa: F811
    """test_hooks' vault: no records, `STAFF` with their roles in vault.yaml."""
    import shutil

    target = tmp_path / "vault"
    shutil.copytree(staffed_template, target, symlinks=True)
    return target


def future(years: int = 1) -> dt.datetime:
    """A moment `years` ahead of the clock (faked or not), at 10:00 in Asia/Shanghai."""
    now = dt.datetime.now(SHANGHAI)
    return now.replace(year=now.year + years, month=6, day=15, hour=10, minute=0, second=0, microsecond=0)


def dated(when: str) -> dict[str, str]:
    return {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}


def commit_dated(root: Path, message: str, files: dict[str, Any], when: str,
                 verify: bool = False) -> subprocess.CompletedProcess[str]:
    """Stage the files and commit them with the given author and committer date."""
    stage(root, files)
    args = ["git", "commit", "-q", "-m", message] + ([] if verify else ["--no-verify"])
    return subprocess.run(args, cwd=root, capture_output=True, text=True, env=dated(when), check=False)


def dg(root: Path, *args: str) -> Result:
    return run_cli(["-C", str(root), *args])


def check_range(root: Path, spec: str) -> Result:
    return dg(root, "check", "--range", spec)


def refused_at(result: Result) -> None:
    """Exit 2, one `dangan: error:` line about --at in the future, and a hint."""
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert lines[0].startswith("dangan: error: --at ") and "is in the future" in lines[0], result
    assert any(line.startswith("hint: ") for line in lines[1:]), result


# ----------------------------------------------------------- --at never in the future

def test_parse_at_allows_the_clock_skew_and_no_more() -> None:
    tz = SHANGHAI
    now = dt.datetime(2025, 3, 1, 9, 0, tzinfo=tz)
    assert parse_at("2025-03-01T09:05:00+08:00", tz, now) == now + CLOCK_SKEW  # at the skew
    assert parse_at("2020-01-01", tz, now) == dt.datetime(2020, 1, 1, tzinfo=tz)  # any past time
    assert parse_at("2025-03-01T01:04:59Z", tz, now) < now + CLOCK_SKEW  # another offset, same instant
    with pytest.raises(DanganError, match="in the future"):
        parse_at("2025-03-01T09:05:01+08:00", tz, now)
    with pytest.raises(DanganError, match="in the future"):
        parse_at("2025-03-02", tz, now)  # a bare date is its midnight: tomorrow's is ahead
    assert parse_at(None, tz, now) <= dt.datetime.now(tz)  # no --at: now, always allowed


@pytest.mark.today
def test_every_at_option_refuses_the_future_and_writes_nothing(vault: Path, tmp_path: Path) -> None:
    commit(vault, "a record and a loan", {SB_REL: sb(), JY_REL: jy_requested()})
    assert dg(vault, "retention", "hold", "SB", "--reason", "訴訟", "--by", "陳立新",
              "--at", "2025-01-02T10:00:00+08:00").code == 0
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 scan\n")
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("code,result\n", encoding="utf-8")
    plan = tmp_path / "plan.yaml"
    assert dg(vault, "retention", "plan", "--out", str(plan)).code == 0
    when = future().isoformat()
    commands = [
        ("lend", "request", "SB-A01-02-0001", "--borrower", "趙偉", "--department", "工程部",
         "--purpose", "年檢", "--form", "copy"),
        ("lend", "approve", "JY-0002", "--by", "陳立新"),
        ("lend", "reject", "JY-0002", "--by", "陳立新", "--reason", "不需要"),
        ("lend", "checkout", "JY-0002", "--by", "張敏"),
        ("lend", "renew", "JY-0002", "--by", "張敏", "--days", "3"),
        ("lend", "return", "JY-0002", "--by", "張敏", "--condition", "intact"),
        ("retention", "hold", "SB", "--reason", "訴訟", "--by", "陳立新"),
        ("retention", "release", "BQ-0001", "--reason", "結案", "--by", "陳立新"),
        ("retention", "apply", str(plan), "--approved-by", "陳立新", "--witness", "錢芳", "--witness", "孫麗",
         "--method", "碎紙機粉碎", "--place", "總部檔案室", "--by", "張敏"),
        ("attach", "SB-A01-02-0001", str(scan), "--by", "張敏"),
        ("inventory", "record", str(sheet), "--by", "張敏", "--witness", "陳立新"),
    ]
    before = snapshot(vault)
    for command in commands:
        refused_at(dg(vault, *command, "--at", when))
        assert snapshot(vault) == before, command
    # the same command dated in the past is taken
    done = dg(vault, "lend", "approve", "JY-0002", "--by", "陳立新", "--at", "2024-11-04T09:30:00+08:00")
    assert done.code == 0, done


# ---------------------------------------------- 2035: a destruction dated in the future

@pytest.mark.today
def test_a_destruction_in_the_future_is_refused_by_the_cli(vault: Path, tmp_path: Path) -> None:
    """`retention plan --as-of` a far day is a question anyone may ask; `apply --at` that
    day is recording an act that has not happened."""
    commit(vault, "a scrapped elevator", {SB_REL: sb_closed()})
    day = future(9).date().isoformat()
    plan = tmp_path / "sweep.yaml"
    made = dg(vault, "retention", "plan", "--as-of", day, "--out", str(plan))
    assert made.code == 0 and "SB-A01-02-0001" in plan.read_text("utf-8"), made
    before = snapshot(vault)
    applied = dg(vault, "retention", "apply", str(plan), "--approved-by", "陳立新", "--witness", "錢芳",
                 "--witness", "孫麗", "--method", "碎紙機粉碎", "--place", "總部檔案室", "--by", "張敏",
                 "--at", f"{day}T15:00:00+08:00")
    refused_at(applied)
    assert snapshot(vault) == before
    assert not (vault / "vault/XH").exists()


@pytest.mark.today
def test_a_destruction_in_the_future_made_by_hand_is_refused(vault: Path, tmp_path: Path) -> None:
    """The same destruction written by hand and committed as of that day: the pre-commit
    hook refuses it (the event is after now), and with --no-verify the server's pre-receive
    refuses the commit dated in its future; nothing moves on the server."""
    bare = make_remote(vault, tmp_path)
    commit(vault, "a scrapped elevator", {SB_REL: sb_closed()})
    assert push(vault, "origin", "main").returncode == 0
    before = remote_refs(bare)
    later = future(9)
    certificate = sb_certificate(vault, opened=later.date().isoformat(), destroyed_at=later.isoformat(),
                                 plan_as_of=later.date().isoformat())
    files: dict[str, Any] = {XH2_REL: certificate, SB_REL: None}

    hooked = commit_dated(vault, "destroyed", files, later.isoformat(), verify=True)
    assert hooked.returncode != 0, hooked
    assert found(hooked.stderr) == {(XH2_REL, "DG121")}, hooked.stderr
    assert "destroyed_at is dated " + later.isoformat() + ", after now " in hooked.stderr

    sneaked = commit_dated(vault, "destroyed", {}, later.isoformat())  # as staged, past the hook
    assert sneaked.returncode == 0, sneaked
    sha = head(vault)
    proc = push(vault, "--no-verify", "origin", "main")
    assert proc.returncode != 0, proc
    assert found(proc.stderr, remote=True) == {(sha, "DG121")}, proc.stderr
    assert f"the commit is dated {later.isoformat()}, after the clock of the machine checking it" in proc.stderr
    assert "pre-receive hook declined" in proc.stdout + proc.stderr
    assert remote_refs(bare) == before
    # pre-push and `check --range` judge by their own clock the same way
    assert (sha, "DG121") in found(push(vault, "origin", "main").stderr, remote=False)
    ranged = check_range(vault, f"{sha}~1..{sha}")
    assert ranged.code == 1 and (sha, "DG121") in found(ranged.out + ranged.err), ranged


def test_a_certificate_dated_after_its_commit_is_refused(vault: Path, tmp_path: Path) -> None:
    """Back-dating the commit does not help: a certificate destroyed on 2024-12-20 15:00
    cannot be in a commit of 2024-12-20 12:00. The hook knows the date the commit will get
    (GIT_COMMITTER_DATE); past the hook, check --range and the server find it."""
    bare = make_remote(vault, tmp_path)
    commit(vault, "a scrapped elevator", {SB_REL: sb_closed()})
    assert push(vault, "origin", "main").returncode == 0
    before = remote_refs(bare)
    base = head(vault)
    files: dict[str, Any] = {XH2_REL: sb_certificate(vault), SB_REL: None}
    early = "2024-12-20T12:00:00+08:00"

    hooked = commit_dated(vault, "destroyed", files, early, verify=True)
    assert hooked.returncode != 0 and found(hooked.stderr) == {(XH2_REL, "DG121")}, hooked.stderr
    assert ("destroyed_at is dated 2024-12-20T15:00:00+08:00, after the date the commit will get "
            "2024-12-20T12:00:00+08:00 (5 minutes of clock skew allowed)") in hooked.stderr

    assert commit_dated(vault, "destroyed", {}, early).returncode == 0  # as staged, past the hook
    sha = head(vault)
    ranged = check_range(vault, f"{base}..HEAD")
    assert ranged.code == 1, ranged
    assert found(ranged.out + ranged.err) == {(XH2_REL, "DG121")}, ranged
    assert messages(ranged.out + ranged.err) == [
        "destroyed_at is dated 2024-12-20T15:00:00+08:00, after its commit's date 2024-12-20T12:00:00+08:00 "
        "(5 minutes of clock skew allowed); an act is recorded after it happened, never ahead of time "
        f"(commit {sha[:10]})"]
    proc = push(vault, "--no-verify", "origin", "main")
    assert proc.returncode != 0 and found(proc.stderr, remote=True) == {(XH2_REL, "DG121")}, proc.stderr
    assert remote_refs(bare) == before

    # the same destruction committed after it happened is accepted everywhere
    git(vault, "reset", "-q", "--hard", base)
    honest = commit_dated(vault, "destroyed", files, "2024-12-20T15:30:00+08:00", verify=True)
    assert honest.returncode == 0, honest.stderr
    assert check_range(vault, f"{base}..HEAD").code == 0
    accepted = push(vault, "--no-verify", "--force", "origin", "main")
    assert accepted.returncode == 0, accepted
    assert remote_refs(bare)["refs/heads/main"] == head(vault)


def test_within_the_clock_skew_is_accepted(vault: Path) -> None:
    base = commit(vault, "a scrapped elevator", {SB_REL: sb_closed()})
    files: dict[str, Any] = {XH2_REL: sb_certificate(vault), SB_REL: None}
    # destroyed at 15:00:00; committed at 14:55:00 by a clock 5 minutes slow
    proc = commit_dated(vault, "destroyed", files, "2024-12-20T14:55:00+08:00", verify=True)
    assert proc.returncode == 0, proc.stderr
    assert check_range(vault, f"{base}..HEAD").code == 0
    git(vault, "reset", "-q", "--hard", base)
    proc = commit_dated(vault, "destroyed", files, "2024-12-20T14:54:59+08:00")
    assert proc.returncode == 0
    assert found(check_range(vault, f"{base}..HEAD").out) == {(XH2_REL, "DG121")}


# -------------------------------------------------------------- events after their commit

def test_an_event_dated_after_its_commit_is_refused_once(vault: Path, tmp_path: Path) -> None:
    """A loan whose checkout (2024-11-04 09:45) is committed at 09:35: DG121 names the
    event. Events already in the parent are not judged again: the honest next commit (the
    return) is clean."""
    bare = make_remote(vault, tmp_path)
    base = commit(vault, "a record", {SB_REL: sb()})
    assert push(vault, "origin", "main").returncode == 0
    before = remote_refs(bare)
    assert commit_dated(vault, "a loan", {JY_REL: jy()}, "2024-11-04T09:35:00+08:00").returncode == 0
    early = head(vault)
    assert commit_dated(vault, "returned", {JY_REL: jy_returned()}, "2024-11-08T16:10:00+08:00",
                        verify=True).returncode == 0

    ranged = check_range(vault, f"{base}..HEAD")
    assert ranged.code == 1
    text = ranged.out + ranged.err
    assert found(text) == {(JY_REL, "DG121")}, text
    assert [m for m in messages(text) if m.startswith("event")] == [
        "event 3 (checkout by 張敏) is dated 2024-11-04T09:45:00+08:00, after its commit's date "
        "2024-11-04T09:35:00+08:00 (5 minutes of clock skew allowed); an act is recorded after it "
        f"happened, never ahead of time (commit {early[:10]})"]

    proc = push(vault, "--no-verify", "origin", "main")
    assert proc.returncode != 0 and found(proc.stderr, remote=True) == {(JY_REL, "DG121")}, proc.stderr
    assert f"(commit {early[:10]})" in proc.stderr
    assert remote_refs(bare) == before


def test_loans_and_holds_dated_properly_are_accepted(vault: Path, tmp_path: Path) -> None:
    """The acts of the other tests, dated at or before their commits, by hand and through
    the real commands with --at in the past: the server takes them."""
    bare = make_remote(vault, tmp_path)
    commit(vault, "a record", {SB_REL: sb()})
    assert commit_dated(vault, "a loan", {JY_REL: jy()}, "2024-11-04T10:00:00+08:00", verify=True).returncode == 0
    assert commit_dated(vault, "returned", {JY_REL: jy_returned()}, "2024-11-08T16:00:00+08:00",
                        verify=True).returncode == 0
    hold = "vault/BQ/BQ-0001.yaml"
    assert commit_dated(vault, "a hold", {hold: bq()}, "2025-03-01T10:00:00+08:00", verify=True).returncode == 0
    assert commit_dated(vault, "released", {hold: bq_released()}, "2025-07-01T10:00:00+08:00",
                        verify=True).returncode == 0
    asked = dg(vault, "lend", "request", "SB-A01-02-0001", "--borrower", "趙偉", "--department", "工程部",
               "--purpose", "年檢", "--at", "2025-01-06T09:00:00+08:00")
    assert asked.code == 0, asked
    assert dg(vault, "lend", "approve", "JY-0003", "--by", "陳立新", "--at", "2025-01-06T10:00:00+08:00").code == 0
    proc = push(vault, "--no-verify", "origin", "main")
    assert proc.returncode == 0, proc
    assert remote_refs(bare)["refs/heads/main"] == head(vault)
    assert check_range(vault, "HEAD~6..HEAD").code == 0


def test_a_hold_release_dated_after_its_commit_is_refused(vault: Path) -> None:
    hold = "vault/BQ/BQ-0001.yaml"
    base = commit(vault, "a record", {SB_REL: sb()})
    assert commit_dated(vault, "a hold", {hold: bq()}, "2025-03-01T10:00:00+08:00").returncode == 0
    # released on 2025-06-30 10:00 in a commit of the day before
    assert commit_dated(vault, "released", {hold: bq_released()}, "2025-06-29T10:00:00+08:00").returncode == 0
    text = check_range(vault, f"{base}..HEAD").out
    assert found(text) == {(hold, "DG121")}, text
    assert any(m.startswith("event 2 (release by 陳立新) is dated 2025-06-30T10:00:00+08:00") for m in messages(text))


# ------------------------------------------------------------------ what a change adds

def test_added_times_are_only_what_the_change_adds() -> None:
    loan = jy()
    assert [label for label, _ in added_times("JY", None, loan)] == [
        "event 1 (request by 趙偉)", "event 2 (approve by 陳立新)", "event 3 (checkout by 張敏)"]
    assert added_times("JY", loan, jy_returned()) == [("event 4 (return by 張敏)", "2024-11-08T16:00:00+08:00")]
    assert added_times("BQ", bq(), bq()) == []
    rewritten = jy()
    rewritten["events"][1]["at"] = "2024-11-05T09:30:00+08:00"  # a rewrite (DG110) is judged too
    assert added_times("JY", loan, rewritten) == [("event 2 (approve by 陳立新)", "2024-11-05T09:30:00+08:00")]
    certificate = {"destroyed_at": "2024-12-20T15:00:00+08:00", "plan_as_of": "2024-12-15"}
    assert added_times("XH", None, certificate) == [("destroyed_at", "2024-12-20T15:00:00+08:00"),
                                                     ("plan_as_of", "2024-12-15")]
    assert added_times("XH", certificate, certificate) == []
    assert added_times("PD", None, {"counted_at": "2025-06-30T15:00:00+08:00"}) == [
        ("counted_at", "2025-06-30T15:00:00+08:00")]
    scan = {"file": "a.pdf", "added": "2025-01-02T10:00:00+08:00", "sha256": "0" * 64}
    rewrapped = {**scan, "sha256": "1" * 64}  # encrypted again for new recipients: same act
    assert added_times("SB", {"attachments": [scan]}, {"attachments": [rewrapped]}) == []
    second = {"file": "b.pdf", "added": "2025-02-03T10:00:00+08:00"}
    assert added_times("SB", {"attachments": [scan]}, {"attachments": [scan, second]}) == [
        ("attachment b.pdf (added)", "2025-02-03T10:00:00+08:00")]
    assert added_times("JY", None, {"events": [{"at": "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"}]}) == [
        ("event 1 (? by ?)", "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]")]  # not a time: never judged


def test_an_attachment_listed_after_its_commit_is_refused(vault: Path, tmp_path: Path) -> None:
    base = commit(vault, "a record", {SB_REL: sb()})
    scan = tmp_path / "nameplate.pdf"
    scan.write_bytes(b"%PDF-1.4 nameplate\n")
    attached = dg(vault, "attach", "SB-A01-02-0001", str(scan), "--by", "張敏",
                  "--at", "2025-02-03T10:00:00+08:00", "--no-commit")
    assert attached.code == 0, attached
    proc = subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "scan"], cwd=vault, capture_output=True,
                          text=True, env=dated("2025-02-01T10:00:00+08:00"), check=False)
    assert proc.returncode == 0, proc
    text = check_range(vault, f"{base}..HEAD").out
    assert found(text) == {(SB_REL, "DG121")}, text
    assert any(m.startswith("attachment nameplate.pdf (added) is dated 2025-02-03T10:00:00+08:00")
               for m in messages(text))
