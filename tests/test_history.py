"""History: dates resolved on the first-parent chain, compliance diffs, log, show --as-of.

Two vaults are built once per module with chosen committer dates (real commits, real
hooks), and the tests only read them:

* `dated`: a clear vault whose history has a pull-request branch with commits dated
  before the `--from` date but merged after it, and a commit with a wrong early
  timestamp; a record destroyed with its disposal certificate.
* `sealed`: a vault with a recipient, where a complaint's sensitive phone number changes,
  keys are re-wrapped (`recipients add`), a clear field changes, and the data key is
  rotated.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from conftest import REPO, Result, git, run_cli, screenshot, snapshot

from dangan.cli.historycmd import render_markdown
from dangan.formats import agekeys
from dangan.formats.yamlio import dump, load_text
from dangan.services import history

VALID = REPO / "tests" / "schema_examples" / "valid"
SCHEMA = json.loads((REPO / "docs" / "diff.schema.json").read_text("utf-8"))

SB = "SB-A01-02-0001"
HJ = "HJ-A01-0001"
WX = "WX-A01-02-0001"
TS = "TS-A01-02-0001"
XH = "XH-0001"


def dated(when: str) -> dict[str, str]:
    return {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}


def ok(result: Result) -> Result:
    assert result.code == 0, result
    assert "Traceback" not in result.err
    return result


def example(name: str, drop: frozenset[str] = frozenset(), **changes: object) -> str:
    """A valid schema example as `new --file` input: no code, category, refs or `drop`ped
    names (at any depth: the sensitive ones, for a vault without recipients)."""
    tree = load_text((VALID / name).read_text("utf-8"))

    def strip(node: object) -> object:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in drop}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    tree = strip({k: v for k, v in tree.items() if k not in ("code", "category", "refs")})
    tree.update(changes)
    return dump(tree)


def dg(root: Path, *args: str, when: str | None = None, key: Path | None = None, home: Path | None = None,
       input: str | None = None) -> Result:
    env = dict(dated(when)) if when else {}
    if home is not None:  # a HOME without keys: no identity at hand
        env["HOME"] = str(home)
    ident = ["--identity", str(key)] if key is not None else []
    return run_cli(["-C", str(root), *ident, *args], input=input, env=env or None)


def commit_all(root: Path, message: str, when: str) -> str:
    env = dict(os.environ, **dated(when))
    subprocess.run(["git", "add", "-A", "vault"], cwd=root, check=True, env=env)
    proc = subprocess.run(["git", "commit", "-q", "-m", message], cwd=root, capture_output=True, text=True,
                          env=env, check=False)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return git(root, "rev-parse", "HEAD").strip()


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def diff_json(root: Path, *args: str, **kw) -> dict:
    result = ok(dg(root, "diff", *args, "--format", "json", **kw))
    doc = json.loads(result.out)
    jsonschema.validate(doc, SCHEMA)  # every JSON diff the tests see has the documented shape
    return doc


def by_code(doc: dict) -> dict[str, dict]:
    return {r["code"]: r for r in doc["records"]}


def fields(record: dict) -> dict[str, dict]:
    return {f["path"]: f for f in record["fields"]}


# ------------------------------------------------------------------ the dated vault

@dataclass
class Dated:
    root: Path
    commits: dict[str, str]
    empty_home: Path


@pytest.fixture(scope="module")
def dated_vault(tmp_path_factory: pytest.TempPathFactory) -> Dated:
    base = tmp_path_factory.mktemp("history")
    root = base / "vault"
    home = base / "home"
    home.mkdir()
    c: dict[str, str] = {}
    # the people the disposal certificate names need their roles (DG112): recipients have both
    people = []
    for name in ("陳立新", "張敏"):
        people += ["--recipient", f"{name}={agekeys.generate_identity()[1]}"]
    ok(run_cli(["init", str(root), "--name", "歷史測試", *people], env=dated("2024-01-01T09:00:00+08:00")))
    c["init"] = head(root)
    files = base / "in"
    files.mkdir()
    (files / "sb.yaml").write_text(example("SB-elevator.yaml"), "utf-8")
    ok(dg(root, "new", "SB", "A01-02", "--file", str(files / "sb.yaml"), when="2024-01-10T10:00:00+08:00"))
    c["sb"] = head(root)
    (files / "hj.yaml").write_text(example("HJ-tank-cleaning.yaml", opened="2021-03-01", closed="2021-03-05",
                                           period_start="2021-03-01", period_end="2021-03-01",
                                           water_test={"tested_on": "2021-03-05", "passed": True}), "utf-8")
    ok(dg(root, "new", "HJ", "A01", "--file", str(files / "hj.yaml"), when="2024-01-10T11:00:00+08:00"))
    c["hj"] = head(root)
    wx = example("WX-scheduled-upkeep.yaml", drop=frozenset({"reporter"}), target=SB, status="done")
    (files / "wx.yaml").write_text(wx, "utf-8")
    ok(dg(root, "new", "WX", "A01-02", "--file", str(files / "wx.yaml"), when="2024-01-20T10:00:00+08:00"))
    c["wx"] = head(root)
    main = git(root, "symbolic-ref", "--short", "HEAD").strip()

    # a pull request: branched on 2024-01-22, commits dated before --from (2024-01-31)
    git(root, "checkout", "-q", "-b", "pr")
    ok(dg(root, "set", WX, "status=closed", when="2024-01-25T15:00:00+08:00"))
    c["pr1"] = head(root)
    ts = example("TS-complaint.yaml", drop=frozenset({"complainant"}), anonymous=True)
    (files / "ts.yaml").write_text(ts, "utf-8")
    ok(dg(root, "new", "TS", "A01-02", "--file", str(files / "ts.yaml"), when="2024-01-28T15:00:00+08:00"))
    c["pr2"] = head(root)
    git(root, "checkout", "-q", main)

    ok(dg(root, "set", SB, "title=2棟1單元乘客電梯（更新）", when="2024-02-05T10:00:00+08:00"))
    c["main3"] = head(root)
    env = dict(os.environ, **dated("2024-02-10T17:00:00+08:00"))
    proc = subprocess.run(["git", "merge", "-q", "--no-ff", "pr", "-m", "Merge pull request #1"], cwd=root,
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    c["merge"] = head(root)
    # a commit made after the merge by a machine whose clock was years behind
    ok(dg(root, "set", SB, "stops=20", when="2023-06-01T12:00:00+08:00"))
    c["early"] = head(root)

    # the tank-cleaning record is destroyed: certificate and removal in one commit
    hj_rel = f"vault/A01/HJ/{HJ}.yaml"
    hj_blob = git(root, "rev-parse", f"HEAD:{hj_rel}").strip()
    cert = load_text((VALID / "XH-certificate.yaml").read_text("utf-8"))
    cert["items"] = [{
        "code": HJ, "category": "HJ", "title": "2024年上半年二次供水水箱清洗消毒",
        "rule": {"keep": "P2Y", "after": "closed", "action": "destroy"},
        "trigger": "2021-03-05", "due": "2023-03-05", "blob": hj_blob,
    }]
    cert.update({"opened": "2024-02-20", "destroyed_at": "2024-02-20T15:00:00+08:00", "plan_as_of": "2024-02-19"})
    (root / "vault" / "XH").mkdir(parents=True)
    (root / "vault" / "XH" / f"{XH}.yaml").write_text(dump(cert), "utf-8")
    (root / hj_rel).unlink()
    c["disposal"] = commit_all(root, f"dangan retention apply: {XH}", "2024-02-20T16:00:00+08:00")
    ok(dg(root, "set", WX, "cost=120", when="2024-03-05T10:00:00+08:00"))
    c["later"] = head(root)
    return Dated(root, c, home)


def test_dates_resolve_on_the_first_parent_chain(dated_vault: Dated) -> None:
    root, c = dated_vault.root, dated_vault.commits
    doc = diff_json(root, "--from", "2024-01-31", "--to", "2024-02-29", home=dated_vault.empty_home)
    # the last first-parent commit by the end of 2024-01-31 (+08:00) is WX's, not the PR's
    # commit of 2024-01-28, which is not on the chain
    assert doc["from"]["commit"] == c["wx"]
    assert doc["from"]["bound"] == "2024-01-31T23:59:59+08:00"
    assert doc["from"]["committed"] == "2024-01-20T10:00:00+08:00"
    assert doc["to"]["commit"] == c["disposal"]
    assert doc["from"]["kind"] == doc["to"]["kind"] == "date"


def test_diff_lists_exactly_the_expected_records_and_fields(dated_vault: Dated) -> None:
    doc = diff_json(dated_vault.root, "--from", "2024-01-31", "--to", "2024-02-29", home=dated_vault.empty_home)
    records = by_code(doc)
    assert {code: r["change"] for code, r in records.items()} == {
        SB: "modified",  # title on main, stops in the early-dated commit
        WX: "modified",  # status on the PR branch, merged on 2024-02-10
        TS: "added",  # on the PR branch, dated 2024-01-28, merged after --from
        HJ: "removed",
        XH: "added",
    }
    assert fields(records[SB]) == {
        "title": {"path": "title", "change": "changed", "old": "2棟1單元乘客電梯", "new": "2棟1單元乘客電梯（更新）",
                  "sensitive": False, "redacted": False},
        "stops": {"path": "stops", "change": "changed", "old": 19, "new": 20,
                                 "sensitive": False, "redacted": False},
    }
    assert list(fields(records[WX])) == ["status"]
    assert fields(records[WX])["status"]["old"] == "done" and fields(records[WX])["status"]["new"] == "closed"
    assert records[HJ]["certificate"]["code"] == XH
    assert records[HJ]["certificate"]["blob_matches"] is True
    assert records[HJ]["title"] == "2024年上半年二次供水水箱清洗消毒"
    assert records[TS]["certificate"] is None and records[TS]["fields"] == []
    assert doc["summary"]["total"] == {"added": 2, "removed": 1, "modified": 2, "records": 5, "metadata_only": 0}
    assert doc["summary"]["by_category"]["SB"] == {"added": 0, "removed": 0, "modified": 1}
    assert doc["summary"]["by_category"]["HJ"] == {"added": 0, "removed": 1, "modified": 0}
    assert doc["metadata_only"] == [] and doc["other_files"] == []


def test_a_wrong_early_timestamp_does_not_pull_a_date_back(dated_vault: Dated) -> None:
    root, c = dated_vault.root, dated_vault.commits
    # 2024-02-07: after main3, before the merge; the commit dated 2023 came after the merge
    before = diff_json(root, "--from", "2024-01-31", "--to", "2024-02-07", home=dated_vault.empty_home)
    assert before["to"]["commit"] == c["main3"]
    assert list(fields(by_code(before)[SB])) == ["title"]
    assert WX not in by_code(before)  # the PR was not merged yet
    # 2024-02-12: after the merge; the early commit counts as made at its parent's date
    after = diff_json(root, "--from", "2024-01-31", "--to", "2024-02-12", home=dated_vault.empty_home)
    assert after["to"]["commit"] == c["early"]
    assert after["to"]["committed"] == "2023-06-01T12:00:00+08:00"
    assert after["to"]["effective"] == "2024-02-10T17:00:00+08:00"
    assert list(fields(by_code(after)[SB])) == ["title", "stops"]
    # a date before the wrong timestamp's own date and before everything: the empty tree
    empty = diff_json(root, "--from", "2023-06-01", "--to", "2024-01-10", home=dated_vault.empty_home)
    assert empty["from"]["commit"] is None
    assert {r["code"]: r["change"] for r in empty["records"]} == {SB: "added", HJ: "added"}


def test_revisions_timestamps_and_the_default_tip(dated_vault: Dated) -> None:
    root, c = dated_vault.root, dated_vault.commits
    doc = diff_json(root, "--from", c["merge"], "--to", c["early"])
    assert doc["from"]["kind"] == "revision" and doc["from"]["commit"] == c["merge"]
    assert list(by_code(doc)) == [SB]
    # an ISO timestamp is that moment (UTC here), not the end of a day
    doc = diff_json(root, "--from", "2024-02-05T01:59:00Z", "--to", "2024-02-05T02:00:00Z")
    assert doc["from"]["commit"] == c["wx"] and doc["to"]["commit"] == c["main3"]
    tip = diff_json(root, "--from", "2024-02-29")
    assert tip["to"]["commit"] == c["later"] and list(by_code(tip)) == [WX]
    assert fields(by_code(tip)[WX])["cost"]["new"] == 120
    # --branch: the PR branch's own first-parent chain
    pr = diff_json(root, "--from", "2024-01-20", "--to", "2024-01-26", "--branch", "pr")
    assert pr["to"]["commit"] == c["pr1"] and pr["branch"] == "pr"


def test_filters_by_category_and_location(dated_vault: Dated) -> None:
    root = dated_vault.root
    doc = diff_json(root, "--from", "2024-01-31", "--to", "2024-02-29", "--category", "SB")
    assert list(by_code(doc)) == [SB] and doc["filters"] == {"category": "SB", "location": None}
    doc = diff_json(root, "--from", "2024-01-31", "--to", "2024-02-29", "--location", "A01-02")
    assert sorted(by_code(doc)) == sorted([SB, WX, TS])
    doc = diff_json(root, "--from", "2024-01-31", "--to", "2024-02-29", "--location", "A01", "--category", "HJ")
    assert list(by_code(doc)) == [HJ]


def test_text_and_markdown_name_the_commits(dated_vault: Dated) -> None:
    root, c = dated_vault.root, dated_vault.commits
    text = ok(dg(root, "diff", "--from", "2024-01-31", "--to", "2024-02-12")).out
    assert c["wx"][:12] in text and c["early"][:12] in text
    assert "counted as 2024-02-10T17:00:00+08:00" in text
    assert f"D {HJ}" not in text  # not destroyed yet by 2024-02-12
    assert "~ stops: 19 -> 20" in text
    full = ok(dg(root, "diff", "--from", "2024-01-31", "--to", "2024-02-29")).out
    assert f"D {HJ}  2024年上半年二次供水水箱清洗消毒 (destroyed by {XH})" in full
    assert "5 record(s) changed: 2 added, 1 removed, 2 modified" in full
    md = ok(dg(root, "diff", "--from", "2024-01-31", "--to", "2024-02-29", "--format", "markdown")).out
    assert f"`{c['wx'][:12]}`" in md and f"`{c['disposal'][:12]}`" in md
    assert "| SB | 0 | 0 | 1 |" in md
    assert "| `stops` | changed | 19 | 20 |" in md
    assert md.count("<details>") == md.count("</details>") == 5


def test_markdown_stays_within_a_comment(dated_vault: Dated) -> None:
    doc = diff_json(dated_vault.root, "--from", "2024-01-31", "--to", "2024-02-29")
    full = render_markdown(doc)
    short = render_markdown(doc, limit=len(full) - 300)
    assert len(short) <= len(full) - 300 + 100  # the limit, plus the line that says so
    assert "more record(s); run `dangan diff --format json` for all." in short
    assert short.count("<details>") < 5


def test_out_writes_a_file_and_nothing_in_the_vault(dated_vault: Dated, tmp_path: Path) -> None:
    root = dated_vault.root
    before = snapshot(root)
    target = tmp_path / "report.md"
    result = ok(dg(root, "diff", "--from", "2024-01-31", "--to", "2024-02-29", "--format", "markdown",
                   "--out", str(target)))
    assert result.out == ""
    assert "5 record(s) changed" in result.err
    assert target.read_text("utf-8").startswith("### dangan diff")
    assert snapshot(root) == before


def test_log_lists_each_commit_touching_a_record(dated_vault: Dated) -> None:
    root, c = dated_vault.root, dated_vault.commits
    doc = json.loads(ok(dg(root, "log", WX, "--json")).out)
    commits = [(e["commit"], e["change"], [f["path"] for f in e["fields"]]) for e in doc["commits"]]
    assert commits[0] == (c["later"], "modified", ["cost"])
    assert (c["pr1"], "modified", ["status"]) in commits
    assert commits[-1][0] == c["wx"] and commits[-1][1] == "added"
    assert len(commits) == 3
    entry = doc["commits"][0]
    assert entry["author"] == "測試員 Tester" and entry["committed"] == "2024-03-05T10:00:00+08:00"
    # a destroyed record keeps its history
    hj = json.loads(ok(dg(root, "log", HJ, "--json")).out)["commits"]
    assert [e["change"] for e in hj] == ["removed", "added"]
    assert hj[0]["commit"] == c["disposal"]
    text = ok(dg(root, "log", SB)).out
    assert "~ stops" in text and "~ title" in text and c["early"][:12] in text


def test_record_at_a_date_and_a_revision(dated_vault: Dated) -> None:
    root, c = dated_vault.root, dated_vault.commits
    from dangan.model.codes import parse_code
    from dangan.store.vault import Vault

    vault = Vault.open(root)
    tree, resolved = history.record_at(vault, parse_code(SB), "2024-02-01")
    assert resolved.commit == c["wx"] and tree["title"] == "2棟1單元乘客電梯"
    tree, resolved = history.record_at(vault, parse_code(SB), c["main3"])
    assert tree["title"] == "2棟1單元乘客電梯（更新）" and tree["stops"] == 19
    tree, _ = history.record_at(vault, parse_code(HJ), "2024-02-19")
    assert tree["code"] == HJ
    with pytest.raises(Exception) as info:
        history.record_at(vault, parse_code(HJ), "2024-02-21")
    assert "no record HJ-A01-0001 as of 2024-02-21" in str(info.value)


@pytest.mark.parametrize(
    "args, message",
    [
        (("diff", "--from", "yesterday-ish"), "is neither a date nor a revision"),
        (("diff", "--from", "--all"), "is neither a date nor a revision"),
        (("diff", "--from", "2024-13-01"), "is not a date"),
        (("diff", "--from", "2024-03-01", "--to", "2024-02-01"), "is after --to"),
        (("diff", "--from", "2024-01-01", "--category", "ZZ"), "unknown category"),
        (("diff", "--from", "2024-01-01", "--location", "a01"), "location"),
        (("diff", "--from", "2024-01-01", "--branch", "nope"), "no branch or revision"),
        (("diff", "--from", "2024-01-01", "--decrypt"), "identit"),
        (("log", "SB-A01-02-0099"), "no record SB-A01-02-0099"),
        (("log", "sb-a01"), "upper case"),
    ],
)
def test_bad_input_is_exit_2_with_a_hint(dated_vault: Dated, args: tuple[str, ...], message: str) -> None:
    before = snapshot(dated_vault.root)
    result = dg(dated_vault.root, *args, home=dated_vault.empty_home)
    assert result.code == 2, result
    assert message in result.err and result.err.startswith("dangan: error: ")
    assert "Traceback" not in result.err and result.out == ""
    assert snapshot(dated_vault.root) == before


def test_html_is_self_contained_escaped_and_opens(dated_vault: Dated, tmp_path: Path) -> None:
    root = dated_vault.root
    doc = diff_json(root, "--from", "2024-01-31", "--to", "2024-02-29")
    doc["records"][0]["title"] = "<script>alert(1)</script> & \"quoted\""
    from dangan.report.diffpage import render_diff

    page = render_diff(doc)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    out = tmp_path / "audit.html"
    ok(dg(root, "diff", "--from", "2024-01-31", "--to", "2024-02-29", "--format", "html", "--out", str(out)))
    html = out.read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "default-src 'none'" in html  # the page may load nothing
    for banned in ("http://", "https://", "<script", "<link", "<img", "@import", "url("):
        assert banned not in html, banned
    assert XH in html and "2024-01-31" in html and dated_vault.commits["disposal"] in html
    shot = tmp_path / "audit.png"
    console = screenshot(out, shot)
    assert shot.stat().st_size > 10_000
    assert console == [], console


@pytest.mark.parametrize(("lang", "title", "headings"), [
    ("zh-Hans", "档案变更报告：2024-01-31 → 2024-02-29", ("比较的提交", "摘要", "档案")),
    ("zh-Hant", "檔案變更報告：2024-01-31 → 2024-02-29", ("比較的提交", "摘要", "檔案")),
])
def test_the_html_diff_speaks_the_interface_language(dated_vault: Dated, tmp_path: Path, lang: str, title: str,
                                                     headings: tuple[str, ...]) -> None:
    """Issue 24 part 1: the page's headings, columns and notes in the interface language, the
    values of the records as stored; English keeps the page it always wrote."""
    root = dated_vault.root
    out = tmp_path / "audit.html"
    ok(run_cli(["--lang", lang, "-C", str(root), "diff", "--from", "2024-01-31", "--to", "2024-02-29",
                "--format", "html", "--out", str(out)]))
    html = out.read_text("utf-8")
    assert f'<html lang="{lang}">' in html and f"<h1>{title}</h1>" in html
    for heading in headings:
        assert f"<h2>{heading}</h2>" in html, heading
    for english in ("Commits compared", "Summary", "record(s) changed", "sensitive values"):
        assert english not in html, english
    assert XH in html and dated_vault.commits["disposal"] in html
    english_out = tmp_path / "english.html"
    ok(run_cli(["--lang", "en", "-C", str(root), "diff", "--from", "2024-01-31", "--to", "2024-02-29",
                "--format", "html", "--out", str(english_out)]))
    english = english_out.read_text("utf-8")
    assert '<html lang="zh-Hant">' in english and "<h2>Commits compared</h2>" in english
    assert "<h1>檔案變更報告 Archive changes: 2024-01-31 → 2024-02-29</h1>" in english


# ------------------------------------------------------------------ the sealed vault

@dataclass
class Sealed:
    root: Path
    alice: Path
    commits: dict[str, str]
    empty_home: Path


NEW_PHONE = "139-2468-1357"
OLD_PHONE = "138-0000-1234"
TS_SEALED = "TS-A01-02-001-0301-0001"


def identities(base: Path) -> dict[str, str]:
    """Alice's and Bob's age identities, written to BASE/alice.key and BASE/bob.key: their
    public keys by name."""
    keys = {}
    for name in ("alice", "bob"):
        secret, public = agekeys.generate_identity()
        agekeys.write_identity_file(base / f"{name}.key", secret, public)
        keys[name] = public
    return keys


@pytest.fixture(scope="module")
def sealed_vault(tmp_path_factory: pytest.TempPathFactory) -> Sealed:
    base = tmp_path_factory.mktemp("sealed")
    home = base / "home"
    home.mkdir()
    keys = identities(base)
    alice = base / "alice.key"
    root = base / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"Alice={keys['alice']}"], env=dated("2024-03-01T09:00:00+08:00")))
    c = {"init": head(root)}
    (base / "ts.yaml").write_text(example("TS-complaint.yaml"), "utf-8")
    ok(dg(root, "new", "TS", "A01-02-001-0301", "--file", str(base / "ts.yaml"), when="2024-03-02T10:00:00+08:00"))
    c["new"] = head(root)
    ok(dg(root, "set", TS_SEALED, f"complainant.phone={NEW_PHONE}", key=alice, when="2024-03-03T10:00:00+08:00"))
    c["phone"] = head(root)
    ok(dg(root, "recipients", "add", "Bob", keys["bob"], key=alice, when="2024-03-04T10:00:00+08:00"))
    c["rewrap"] = head(root)
    ok(dg(root, "set", TS_SEALED, "satisfaction=5", key=alice, when="2024-03-05T10:00:00+08:00"))
    c["clear"] = head(root)
    ok(dg(root, "keys", "rotate", TS_SEALED, key=alice, when="2024-03-06T10:00:00+08:00"))
    c["rotate"] = head(root)
    return Sealed(root, alice, c, home)


def test_sensitive_change_without_a_key_shows_as_changed(sealed_vault: Sealed) -> None:
    s = sealed_vault
    result = ok(dg(s.root, "diff", "--from", "2024-03-02", "--to", "2024-03-03", "--json", home=s.empty_home))
    doc = json.loads(result.out)
    jsonschema.validate(doc, SCHEMA)
    record = by_code(doc)[TS_SEALED]
    assert record["compared"] == "ciphertext" and doc["key_used"] is False
    assert fields(record) == {"complainant.phone": {
        "path": "complainant.phone", "change": "changed", "old": history.MASK, "new": history.MASK,
        "sensitive": True, "redacted": True}}
    assert OLD_PHONE not in result.out and NEW_PHONE not in result.out and "ENC[" not in result.out
    text = ok(dg(s.root, "diff", "--from", "2024-03-02", "--to", "2024-03-03", home=s.empty_home)).out
    assert "complainant.phone: changed (sensitive)" in text and NEW_PHONE not in text


def test_sensitive_change_with_a_key_is_judged_on_plaintext(sealed_vault: Sealed) -> None:
    s = sealed_vault
    result = ok(dg(s.root, "diff", "--from", "2024-03-02", "--to", "2024-03-03", "--json", key=s.alice))
    record = by_code(json.loads(result.out))[TS_SEALED]
    assert record["compared"] == "plaintext"
    assert list(fields(record)) == ["complainant.phone"]
    assert fields(record)["complainant.phone"]["redacted"] is True
    assert NEW_PHONE not in result.out and OLD_PHONE not in result.out
    # rotation re-encrypts every value: changed ciphertext, unchanged plaintext
    rotated = diff_json(s.root, "--from", "2024-03-05", "--to", "2024-03-06", key=s.alice)
    assert rotated["records"] == [] and rotated["metadata_only"] == [TS_SEALED]
    blind = diff_json(s.root, "--from", "2024-03-05", "--to", "2024-03-06", home=s.empty_home)
    assert {f["path"] for f in by_code(blind)[TS_SEALED]["fields"]} >= {"complainant.name", "complainant.phone"}
    assert all(f["sensitive"] and f["redacted"] for f in by_code(blind)[TS_SEALED]["fields"])


def test_decrypt_shows_old_and_new_values(sealed_vault: Sealed) -> None:
    s = sealed_vault
    doc = diff_json(s.root, "--from", "2024-03-02", "--to", "2024-03-03", "--decrypt", key=s.alice)
    assert doc["decrypted"] is True
    assert fields(by_code(doc)[TS_SEALED])["complainant.phone"] == {
        "path": "complainant.phone", "change": "changed", "old": OLD_PHONE, "new": NEW_PHONE,
        "sensitive": True, "redacted": False}
    html = ok(dg(s.root, "diff", "--from", "2024-03-02", "--to", "2024-03-03", "--decrypt", "--format", "html",
                 key=s.alice)).out
    assert OLD_PHONE in html and NEW_PHONE in html


def test_a_rewrap_is_no_field_change(sealed_vault: Sealed) -> None:
    s = sealed_vault
    changed = git(s.root, "diff", "--stat", s.commits["phone"], s.commits["rewrap"], "--", "vault")
    assert TS_SEALED in changed  # the file did change (its sops block)
    for kw in ({"home": s.empty_home}, {"key": s.alice}):
        doc = diff_json(s.root, "--from", "2024-03-03", "--to", "2024-03-04", **kw)
        assert doc["records"] == [] and doc["metadata_only"] == [TS_SEALED]
        # recipients add commits the .sops.yaml the new recipient set gives with vault.yaml
        assert doc["other_files"] == [{"path": ".sops.yaml", "change": "modified"},
                                      {"path": "vault.yaml", "change": "modified"}]
    clear = diff_json(s.root, "--from", "2024-03-04", "--to", "2024-03-05", home=s.empty_home)
    assert list(fields(by_code(clear)[TS_SEALED])) == ["satisfaction"]
    assert fields(by_code(clear)[TS_SEALED])["satisfaction"]["sensitive"] is False


def test_sealed_log_and_record_at(sealed_vault: Sealed) -> None:
    s = sealed_vault
    doc = json.loads(ok(dg(s.root, "log", TS_SEALED, "--json", home=s.empty_home)).out)
    changed = [[f["path"] for f in e["fields"]] for e in doc["commits"]]
    assert len(changed) == 5
    assert changed[1] == ["satisfaction"] and changed[2] == [] and changed[3] == ["complainant.phone"]
    assert all(f["sensitive"] for f in doc["commits"][3]["fields"])
    assert NEW_PHONE not in json.dumps(doc, ensure_ascii=False)
    keyed = json.loads(ok(dg(s.root, "log", TS_SEALED, "--json", key=s.alice)).out)
    assert keyed["commits"][0]["fields"] == [] and keyed["commits"][0]["compared"] == "plaintext"
    from dangan.model.codes import parse_code
    from dangan.store.sealing import Keyring, open_document
    from dangan.store.vault import Vault

    vault = Vault.open(s.root)
    stored, resolved = history.record_at(vault, parse_code(TS_SEALED), "2024-03-02")
    assert resolved.commit == s.commits["new"] and "sops" in stored
    assert open_document(TS_SEALED, stored, Keyring(s.alice))["complainant"]["phone"] == OLD_PHONE


# ------------------------------------------------------------------ many encrypted changes

@dataclass
class Many:
    root: Path
    alice: Path
    before: str
    after: str
    codes: list[str]  # the encrypted records changed between the two commits
    tampered: str  # its new version's MAC does not verify (a clear field changed by hand)
    bobs: str  # its new version is sealed for Bob alone: Alice's key does not open it


@pytest.fixture(scope="module")
def many_vault(tmp_path_factory: pytest.TempPathFactory) -> Many:
    """Eight complaints with sensitive values, each changed in one commit: six as `dangan
    set` would (same data key), one then altered by hand, one re-sealed for Bob alone."""
    from dangan.model.codes import parse_code
    from dangan.store.sealing import Keyring, open_document, seal
    from dangan.store.vault import Vault

    base = tmp_path_factory.mktemp("many")
    keys = identities(base)
    alice = base / "alice.key"
    root = base / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"Alice={keys['alice']}", "--recipient", f"Bob={keys['bob']}"]))
    (base / "ts.yaml").write_text(example("TS-complaint.yaml"), "utf-8")
    codes = [json.loads(ok(dg(root, "new", "TS", f"A01-02-001-03{room:02d}", "--file", str(base / "ts.yaml"),
                                "--json")).out)["code"] for room in range(1, 9)]
    before = head(root)
    vault = Vault.open(root)
    vault.keyring = Keyring(alice)
    names = vault.schemas.categories["TS"].sensitive
    tampered, bobs = codes[2], codes[5]
    for number, text in enumerate(codes):
        code = parse_code(text)
        path = root / code.path
        stored = load_text(path.read_text("utf-8"))
        plain = open_document(text, stored, vault.keyring)
        plain["complainant"]["phone"] = f"139-0000-{number:04d}"
        readers = [keys["bob"]] if text == bobs else vault.recipient_keys("TS")
        doc = dump(seal(code, plain, names, readers, None if text == bobs else stored, vault.keyring))
        if text == tampered:
            assert "\nsatisfaction: 4\n" in doc
            doc = doc.replace("\nsatisfaction: 4\n", "\nsatisfaction: 5\n")
        path.write_text(doc, "utf-8")
    git(root, "add", "-A", "vault")
    git(root, "commit", "-q", "--no-verify", "-m", "phones changed, one record altered, one for Bob alone")
    return Many(root, alice, before, head(root), codes, tampered, bobs)


def test_a_diff_opened_on_two_cores_says_what_one_core_says(many_vault: Many, monkeypatch) -> None:
    m = many_vault
    seen = {}
    for threshold in (10**9, 1):  # one process; half the versions opened by a forked child
        monkeypatch.setattr(history, "PARALLEL_OPEN", threshold)
        seen[threshold] = [diff_json(m.root, "--from", m.before, "--to", m.after, *flags, key=m.alice)
                           for flags in ((), ("--decrypt",))]
    assert seen[1] == seen[10**9]
    judged, revealed = seen[1]
    assert [r["code"] for r in revealed["records"]] == m.codes
    for doc in (judged, revealed):
        records = by_code(doc)
        for number, code in enumerate(m.codes):
            record = records[code]
            if code in (m.tampered, m.bobs):
                assert record["compared"] == "ciphertext", record
                continue
            assert record["compared"] == "plaintext" and not record["notes"], record
            phone = fields(record)["complainant.phone"]
            assert phone["new"] == (f"139-0000-{number:04d}" if doc["decrypted"] else history.MASK)
        [mac] = records[m.tampered]["notes"]
        assert mac.startswith("new version ") and f"{m.tampered}: MAC mismatch" in mac
    # what Alice's key does not open is said when asked to decrypt
    assert by_code(judged)[m.bobs]["notes"] == []
    [locked] = by_code(revealed)[m.bobs]["notes"]
    assert " not decrypted: " in locked and "none of your identities is a recipient" in locked


def test_preopen_gives_each_version_the_outcome_open_would_give(many_vault: Many, monkeypatch) -> None:
    from dangan.model.codes import path_to_code
    from dangan.store.sealing import Keyring
    from dangan.store.vault import Vault

    m = many_vault
    vault = Vault.open(m.root)
    vault.keyring = Keyring(m.alice)
    changes = history.tree_changes(vault, m.before, m.after)
    versions = history.read_versions(vault, [b for c in changes for b in (c.old_blob, c.new_blob) if b])
    wanted = [(str(path_to_code(c.path)), versions[b]) for c in changes for b in (c.old_blob, c.new_blob)]
    assert len(wanted) == 16
    monkeypatch.setattr(history, "PARALLEL_OPEN", 17)
    assert history.Opener(vault, True).preopen(wanted) == 0  # too few: left to open()
    monkeypatch.setattr(history, "PARALLEL_OPEN", 16)
    opener = history.Opener(vault, True)
    assert opener.preopen(wanted) == 8  # the second half, by the child
    assert list(opener.ready) == [(code, v.blob) for code, v in wanted]
    for code, version in wanted:
        assert opener.ready[(code, version.blob)] == history._open_one(code, version.stored, vault.keyring)
    kinds = [opener.ready[(code, v.blob)][0] for code, v in wanted]
    assert kinds.count("problem") == 1 and kinds.count("locked") == 1 and kinds.count("plain") == 14
    assert history.Opener(vault, False).preopen(wanted) == 0  # no key: nothing to open


# ------------------------------------------------------------------ units

def test_field_changes_walk_mappings_and_lists() -> None:
    names = frozenset({"phone"})
    old = {"a": 1, "b": {"c": [1, 2, 3], "phone": "x"}, "gone": True, "sops": {"mac": "1"}}
    new = {"a": 1, "b": {"c": [1, 5], "phone": "y"}, "new": {"phone": "z", "n": 1}, "sops": {"mac": "2"}}
    got = {(f.path, f.change): (f.old, f.new, f.sensitive, f.redacted) for f in history.field_changes(old, new, names, False)}
    assert got == {
        ("b.c.1", "changed"): (2, 5, False, False),
        ("b.c.2", "removed"): (3, None, False, False),
        ("b.phone", "changed"): (history.MASK, history.MASK, True, True),
        ("gone", "removed"): (True, None, False, False),
        ("new", "added"): (None, {"phone": history.MASK, "n": 1}, True, True),
    }
    shown = {f.path: f.new for f in history.field_changes(old, new, names, True)}
    assert shown["new"] == {"phone": "z", "n": 1} and shown["b.phone"] == "y"
    # a type change is a change, even when Python calls the values equal
    assert [f.path for f in history.field_changes({"x": 1}, {"x": True}, names, False)] == ["x"]


def test_sealed_records_take_the_fast_reader_and_agree_with_ruamel(sealed_vault: Sealed) -> None:
    """SOPS records (ENC values, armored enc in literal blocks) are canonical for the fast
    reader, which gives ruamel's tree."""
    from dangan.formats.yamlio import load_fast, load_roundtrip, to_plain

    texts = [git(sealed_vault.root, "show", f"{c}:vault/A01/02/001/0301/TS/{TS_SEALED}.yaml")
             for c in list(sealed_vault.commits.values())[1:]]
    for text in texts:
        fast = load_fast(text)
        assert fast is not None and fast == to_plain(load_roundtrip(text))
    # not canonical: the guard declines and the caller falls back to the full reader
    assert load_fast(texts[0].replace("sops:\n", "sops: # note\n", 1)) is None


# ------------------------------------------------------- a record no command can write

BIG = "1234567890" * 500  # 5,000 digits: past Python's int-to-str limit (4300 by default)


def test_a_record_with_a_5000_digit_integer_stops_no_history_command(vault: Path, tmp_path: Path) -> None:
    """Committed past the hooks, the record is reported as unreadable wherever it appears;
    ls, log, diff and the diff driver (`git log -p`) go on with every other record."""
    from conftest import run_bin

    fields = tmp_path / "sb.yaml"
    fields.write_text(example("SB-elevator.yaml"), encoding="utf-8")
    for _ in range(2):
        ok(run_cli(["-C", str(vault), "new", "SB", "A01-02", "--file", str(fields)]))
    first = git(vault, "rev-parse", "HEAD").strip()
    bad = vault / "vault" / "A01" / "02" / "SB" / "SB-A01-02-0002.yaml"
    bad.write_text(bad.read_text("utf-8").replace("stops: 19\n", f"stops: {BIG}\n"), encoding="utf-8")
    assert BIG in bad.read_text("utf-8")
    git(vault, "add", "-A")
    git(vault, "commit", "-q", "--no-verify", "-m", "floors by hand")
    ok(run_cli(["-C", str(vault), "set", SB, "title=2棟1單元貨梯"]))  # a later, good change

    def user(*args: str) -> Result:
        result = run_bin(["-C", str(vault), *args])
        assert "internal error" not in result.err and "Traceback" not in result.err, result
        return result

    listing = user("ls")
    assert listing.code == 0 and SB in listing.out and "SB-A01-02-0002" not in listing.out
    assert "SB-A01-02-0002.yaml is not readable" in listing.err

    diff = user("diff", "--from", first, "--to", "HEAD")
    assert diff.code == 0, diff
    assert "M SB-A01-02-0001  2棟1單元貨梯" in diff.out and "~ title" in diff.out
    assert "M SB-A01-02-0002" in diff.out
    assert "not readable YAML: line 18: an integer of more than 640 digits" in diff.out
    doc = json.loads(user("diff", "--from", first, "--to", "HEAD", "--format", "json").out)
    jsonschema.validate(doc, SCHEMA)
    assert [r["code"] for r in doc["records"]] == [SB, "SB-A01-02-0002"]

    log = user("log", "SB-A01-02-0002")
    assert log.code == 0 and "floors by hand" in log.out and "an integer of more than 640 digits" in log.out
    entries = json.loads(user("log", SB, "--json").out)["commits"]
    assert [e["change"] for e in entries] == ["modified", "added"]
    assert all("\0" not in e["subject"] for e in entries)  # git's -z had left a NUL on it

    proc = subprocess.run(["git", "log", "-p", "--no-color"], cwd=vault, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr and "fatal" not in proc.stderr
    assert f"+stops: {BIG}" in proc.stdout  # the unreadable version, shown as it is
    assert "+title: 2棟1單元貨梯" in proc.stdout  # and the others through the driver
