"""A handover from end to end (issue 22 part 2, docs/handover.md steps 1 to 4).

The two halves are built and tested apart (test_handover_list, test_handover_record,
test_handover_export, test_handover_import); this walks one building of the example vault
through all four steps as an archivist would, and checks that they agree with each other:
the list, the exported vault and the YJ name the same records in the same versions, the
records leave the company's reports, their removal passes the hooks and a real server's
pre-receive, and the receiving vault files exactly them with a receipt naming the same
source commit.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import REPO, Result, git, run_cli
from test_handover_export import age_key, company_key, dg, make_source

from dangan.formats.yamlio import load_text

PREFIX = "A01-02"
FOLDER = "vault/A01/02/"


def ok(result: Result) -> Result:
    assert result.code == 0, result
    return result


def test_a_building_handed_over_from_the_list_to_the_receiving_vault(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    receiving_key, receiving_public = age_key(keys, "owners-committee")
    ours = company_key(keys)
    source = make_source(tmp_path)
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    shutil.copyfile(REPO / "hooks" / "pre-receive", bare / "hooks" / "pre-receive")
    (bare / "hooks" / "pre-receive").chmod(0o755)
    git(source, "remote", "add", "origin", str(bare))
    git(source, "push", "-q", "origin", "HEAD:main")

    # 1. the list: every record under the prefix, as committed
    listed = json.loads(ok(dg(source, "handover", "list", PREFIX, "--format", "json")).out)
    rows = listed["records"] if isinstance(listed, dict) else listed
    codes = {row["code"] for row in rows}
    committed = {p for p in git(source, "ls-tree", "-r", "--name-only", "HEAD", "--", FOLDER).split()
                 if p.endswith(".yaml")}
    assert codes and len(codes) == len(committed)

    # 2. the exported vault: exactly those records, readable by the receiving key alone
    out = tmp_path / "to-the-committee"
    ok(dg(source, "handover", "export", PREFIX, "--recipient", f"業委會={receiving_public}", "--out", str(out),
          key=ours))
    manifest = json.loads((out / "HANDOVER.json").read_text("utf-8"))
    assert {r["code"] for r in manifest["records"]} == codes
    head = git(source, "rev-parse", "HEAD").strip()
    assert manifest["source"]["commit"] == head

    def reports() -> str:
        return "".join(ok(dg(source, *args)).out for args in (
            ["retention", "plan", "--json"], ["due", "--within", "P10Y", "--json"], ["gaps", "--json"],
            ["inventory", "sheet"]))

    held = {code for code in codes if code in reports()}
    assert held, "the records under the prefix are in the company's reports before the handover"

    # 3. the record: the YJ lists the same records in the versions exported
    done = json.loads(ok(dg(source, "handover", "record", PREFIX, "--to", "翠湖花園業主委員會",
                            "--received-by", "周明", "--witness", "陳建華", "--by", "張敏", "--json")).out)
    assert len(done["codes"]) == 1 and done["count"] == len(codes)
    yj_code = done["codes"][0]
    yj = load_text((source / "vault" / "YJ" / f"{yj_code}.yaml").read_text("utf-8"))
    assert yj["status"] == "handed_over" and yj["source"]["commit"] == head
    exported_blobs = {r["code"]: r["source_blob"] for r in manifest["records"]}
    assert {item["code"]: item["blob"] for item in yj["items"]} == exported_blobs
    # ... and they leave the company's reports (retention plan, due, gaps, the inventory sheet)
    after = reports()
    assert not {code for code in codes if code in after}, after

    # 4. the company removes its copies: the hooks and the server accept it with the YJ
    git(source, "rm", "-q", "-r", "--", FOLDER)
    made = subprocess.run(["git", "commit", "-q", "-m", f"{PREFIX} handed over ({yj_code}): our copies removed"],
                          cwd=source, capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    ok(dg(source, "check", "--all"))
    pushed = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=source, capture_output=True,
                            text=True, check=False)
    assert pushed.returncode == 0, pushed.stderr

    # 5. the receiving side files exactly those records, with a receipt of the same source
    target = tmp_path / "committee"
    ok(run_cli(["init", str(target), "--name", "業委會檔案庫", "--recipient", f"周明={receiving_public}"]))
    ok(dg(target, "handover", "import", str(out), "--from", "蘇州安和物業服務有限公司", "--received-by", "周明",
          "--witness", "陳建華", key=receiving_key))
    filed = {p.rsplit("/", 1)[1].removesuffix(".yaml")
             for p in git(target, "ls-tree", "-r", "--name-only", "HEAD", "--", FOLDER).split() if p.endswith(".yaml")}
    assert filed == codes
    receipts = git(target, "ls-tree", "-r", "--name-only", "HEAD", "--", "vault/YJ").split()
    assert len(receipts) == 1
    receipt = load_text((target / receipts[0]).read_text("utf-8"))
    assert receipt["status"] == "received" and receipt["source"]["commit"] == head
    assert {item["code"] for item in receipt["items"]} == codes
    ok(dg(target, "check", "--all"))
