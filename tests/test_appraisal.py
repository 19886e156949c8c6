"""Appraisal (鑒定) before destruction, end to end (docs/retention.md §3, plan §5.3).

The back-dated vault of test_retention.py: CW-A01-0001 (P10Y, review) is due on 2026-02-28,
the HJ records (P2Y, destroy) long before. plan -> appraise -> approve -> apply through the
real CLI and the vault's hooks; a `review` record without an appraisal is refused.
"""
from __future__ import annotations

from pathlib import Path

from conftest import git, snapshot
from test_retention import (
    APPROVER,
    ARCHIVIST,
    apply,
    approve,
    commit_files,
    dated,
    dg,
    findings,
    v,
    write_plan,
)

from dangan.formats.yamlio import dump, load_text

__all__ = ["dated", "v"]  # the fixtures, shared with test_retention.py

AT = "2026-03-02T10:00:00+08:00"
APPRAISERS = ("--appraiser", ARCHIVIST, "--appraiser", "王建國")
CW, HJ = "CW-A01-0001", "HJ-A01-0003"


def read(root: Path, rel: str) -> dict:
    return load_text((root / rel).read_text("utf-8"))


def test_plan_appraise_approve_apply(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2026-02-28", "--category", "CW")
    hj_plan = write_plan(v, tmp_path, "2024-03-25", "--category", "HJ")
    kept = dg(v, "retention", "appraise", str(plan_file), *APPRAISERS, "--opinion", "仍有審計價值",
              "--keep", f"{CW}=2031-12-31:涉及未結稅務稽查", "--at", AT)
    assert kept.code == 0 and kept.out == "JD-0001\n", kept
    jd = read(v, "vault/JD/JD-0001.yaml")
    assert jd["appraisers"] == [ARCHIVIST, "王建國"] and jd["plan_as_of"] == "2026-02-28"
    assert jd["appraised_at"] == AT and jd["status"] == "completed"
    [item] = jd["items"]
    assert (item["code"], item["decision"], item["until"], item["reason"], item["opinion"]) == (
        CW, "keep", "2031-12-31", "涉及未結稅務稽查", "仍有審計價值")
    record = read(v, "vault/A01/CW/CW-A01-0001.yaml")
    assert record["retention"] == {"until": "2031-12-31", "reason": "涉及未結稅務稽查（JD-0001鑒定，2026-03-02）"}
    # one commit: the appraisal and the extension, through the hooks
    assert git(v, "show", "--name-only", "--format=%s", "HEAD").split() == [
        "dangan", "retention", "appraise:", "JD-0001", "(0", "to", "destroy,", "1", "kept)",
        "vault/A01/CW/CW-A01-0001.yaml", "vault/JD/JD-0001.yaml"]
    # the plan file carries the decision; the kept record is out of the next plan
    assert load_text(plan_file.read_text("utf-8"))["due"][0]["decision"] == "keep"
    later = dg(v, "retention", "plan", "--as-of", "2026-03-02", "--category", "CW", "--json")
    assert '"due": []' in later.out and "2031-12-31" in later.out, later

    # the HJ records (rule: destroy) appraised for destruction, then approved and destroyed
    document = load_text(hj_plan.read_text("utf-8"))
    codes = [e["code"] for e in document["due"]]
    assert HJ in codes
    destroyed = dg(v, "retention", "appraise", str(hj_plan), *APPRAISERS, "--opinion", "無保存價值", "--at", AT)
    assert destroyed.code == 0 and destroyed.out == "JD-0002\n", destroyed
    assert all(i["decision"] == "destroy" for i in read(v, "vault/JD/JD-0002.yaml")["items"])
    done = apply(v, hj_plan, "--at", AT)
    assert done.code == 0 and done.out == "XH-0001\n", done
    xh = read(v, "vault/XH/XH-0001.yaml")
    assert {i["code"]: i["appraisal"] for i in xh["items"]} == dict.fromkeys(codes, "JD-0002")
    approval = git(v, "log", "-1", "--format=%B", xh["approval"])
    assert "Appraised (鑒定) in JD-0002." in approval
    assert dg(v, "check", "--all").code == 0


def test_a_review_record_needs_an_appraisal(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2026-02-28", "--category", "CW")
    document = load_text(plan_file.read_text("utf-8"))
    document["due"][0]["decision"] = "destroy"  # the hand edit of old: no longer enough
    plan_file.write_text(dump(document), encoding="utf-8")
    before = snapshot(v)
    refused = approve(v, plan_file)
    assert refused.code == 1 and f"{CW} must be appraised" in refused.err, refused
    assert snapshot(v) == before
    # and without an approval, apply refuses too
    head = git(v, "rev-parse", "HEAD").strip()
    refused = dg(v, "retention", "apply", str(plan_file), "--witness", "錢芳", "--witness", "孫麗",
                 "--method", "碎紙機粉碎", "--place", "總部檔案室", "--by", ARCHIVIST, "--at", AT)
    assert refused.code == 1 and git(v, "rev-parse", "HEAD").strip() == head, refused

    appraised = dg(v, "retention", "appraise", str(plan_file), *APPRAISERS, "--opinion", "已無保存價值", "--at", AT)
    assert appraised.code == 0 and appraised.out == "JD-0001\n", appraised
    done = apply(v, plan_file, "--at", AT)
    assert done.code == 0 and done.out == "XH-0001\n", done
    [item] = read(v, "vault/XH/XH-0001.yaml")["items"]
    assert (item["code"], item["appraisal"]) == (CW, "JD-0001")
    assert not (v / "vault/A01/CW/CW-A01-0001.yaml").exists()


def test_a_record_appraised_to_be_kept_is_not_destroyed(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2026-02-28", "--category", "CW")
    document = load_text(plan_file.read_text("utf-8"))
    document["due"][0].update(decision="keep", until="2030-06-30", reason="待審計", opinion="需保留")
    plan_file.write_text(dump(document), encoding="utf-8")
    assert dg(v, "retention", "appraise", str(plan_file), *APPRAISERS, "--at", AT).code == 0
    assert read(v, "vault/A01/CW/CW-A01-0001.yaml")["retention"]["until"] == "2030-06-30"
    # a plan made before the appraisal, decided destroy by hand: refused (kept, and changed)
    old = tmp_path / "old.yaml"
    document["due"][0]["decision"] = "destroy"
    old.write_text(dump(document), encoding="utf-8")
    assert approve(v, old, APPROVER).code == 1


def test_appraise_bad_input_changes_nothing(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2026-02-28", "--category", "CW")
    before = snapshot(v)
    cases = [
        (("--appraiser", ARCHIVIST, "--opinion", "x"), "two different appraisers"),
        (("--appraiser", ARCHIVIST, "--appraiser", ARCHIVIST, "--opinion", "x"), "two different appraisers"),
        ((*APPRAISERS, "--opinion", "x", "--keep", "CW-A01-0001=2031-12-31"), "CODE=DATE:REASON"),
        ((*APPRAISERS, "--opinion", "x", "--keep", "HJ-A01-0001=2031-12-31:x"), "does not list it"),
        ((*APPRAISERS, "--opinion", "x", "--keep", "CW-A01-0001=2026-01-01:x"), "not after the appraisal"),
        ((*APPRAISERS, "--opinion", "x", "--at", "2099-01-01T00:00:00+08:00"), "in the future"),
    ]
    for args, message in cases:
        result = dg(v, "retention", "appraise", str(plan_file), *args, "--at", AT) if "--at" not in args else \
            dg(v, "retention", "appraise", str(plan_file), *args)
        assert result.code == 2 and message in result.err, (args, result)
    undecided = dg(v, "retention", "appraise", str(plan_file), *APPRAISERS, "--opinion", "x", "--at", AT)
    assert undecided.code == 1 and "await a decision: CW-A01-0001" in undecided.err, undecided
    no_opinion = dg(v, "retention", "appraise", str(plan_file), *APPRAISERS, "--at", AT,
                    "--keep", "CW-A01-0001=2031-12-31:x")
    assert no_opinion.code == 2 and "no opinion" in no_opinion.err, no_opinion
    assert snapshot(v) == before


def test_appraisals_are_permanent_and_append_only(v: Path, tmp_path: Path) -> None:
    plan_file = write_plan(v, tmp_path, "2026-02-28", "--category", "CW")
    assert dg(v, "retention", "appraise", str(plan_file), *APPRAISERS, "--opinion", "需保留", "--at", AT,
              "--keep", "CW-A01-0001=2031-12-31:待審計").code == 0
    head = git(v, "rev-parse", "HEAD").strip()
    rel = "vault/JD/JD-0001.yaml"
    jd = read(v, rel)
    jd["items"][0]["decision"] = "destroy"
    jd["items"][0].pop("until")
    jd["items"][0].pop("reason")
    proc = commit_files(v, "change the decision", {rel: jd})
    assert proc.returncode != 0 and (rel, "DG110") in findings(proc.stderr), proc.stderr
    git(v, "reset", "-q", "--hard", head)
    proc = commit_files(v, "forget it", {rel: None})
    assert proc.returncode != 0 and (rel, "DG109") in findings(proc.stderr), proc.stderr
    assert git(v, "rev-parse", "HEAD").strip() == head


def test_a_certificate_naming_a_wrong_appraisal_is_dg112(v: Path, tmp_path: Path) -> None:
    """The hooks judge the appraisal a certificate names (made by hand, past `apply`)."""
    from test_retention import handmade, path_of

    plan_file = write_plan(v, tmp_path, "2026-02-28", "--category", "CW")
    assert dg(v, "retention", "appraise", str(plan_file), *APPRAISERS, "--opinion", "需保留", "--at", AT,
              "--keep", f"{CW}=2031-12-31:待審計").code == 0
    head = git(v, "rev-parse", "HEAD").strip()
    for named, message in (("JD-0009", "JD-0009 is not in the vault"),
                           ("JD-0001", "does not appraise this version")):
        certificate = handmade(v, HJ)
        certificate["items"][0]["appraisal"] = named
        proc = commit_files(v, "by hand", {"vault/XH/XH-0001.yaml": certificate, path_of(HJ): None})
        assert proc.returncode != 0, proc.stderr
        assert ("vault/XH/XH-0001.yaml", "DG112") in findings(proc.stderr) and message in proc.stderr, proc.stderr
        git(v, "reset", "-q", "--hard", head)
    assert git(v, "rev-parse", "HEAD").strip() == head
