"""Confidentiality levels (issue 23, part 2; docs/format.md §3a), end to end on real vaults.

Two people: Wang (a reader of secret records) and Li (an archivist who is not). A secret
training record (PX) is filed with `dangan new --set level=secret`; the tests prove from the
outside that its blob holds none of what it hides, that Li's key and the `age` CLI with it
cannot open it while `sops -d` with Wang's key does, that ls, search, export, stats and the
report show nothing of it, that a hand-made secret record with a clear field is refused by
the pre-commit hook and by the server's pre-receive hook, and that a change of level seals
the record again with a new data key when someone loses it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import bare_server, git, run_cli
from test_encryption import Key, dg, make_key, ok

from dangan.formats import sops
from dangan.formats.yamlio import load_text

TITLE = "王小明 年度考核不合格及調崗決定"
HIDDEN_TEXTS = (TITLE, "人事行政部", "檔案崗位年度考核", "王小明", "多次遺失借閱登記", "調離檔案崗位")
RECORD = f"""\
level: secret
title: {TITLE}
status: completed
opened: 2026-03-02
closed: 2026-03-09
course: 檔案崗位年度考核
trainer: 人事行政部
held_at: 2026-03-02T09:00:00+08:00
hours: 2
attendees: [王小明]
assessment: {{method: written, held_on: 2026-03-09, pass_mark: 60}}
results:
  - {{name: 王小明, result: failed, score: "41", remark: 多次遺失借閱登記}}
notes: 調離檔案崗位
"""
CODE = "PX-0001"
PATH = f"vault/PX/{CODE}.yaml"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Key, Key]:
    """A vault with Wang and Li, `readers: {secret: [Wang]}`, and the secret record."""
    base = tmp_path_factory.mktemp("levels")
    wang, li = make_key(base, "wang"), make_key(base, "li")
    root = base / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"Wang={wang.public}", "--recipient", f"Li={li.public}"]))
    refused = dg(root, "new", "PX", "--file", "-", input=RECORD, key=li)
    assert refused.code == 2 and "names no readers of secret records" in refused.err
    assert "readers: {secret:" in refused.err and not (root / PATH).exists()
    config = (root / "vault.yaml").read_text("utf-8")
    (root / "vault.yaml").write_text(config.replace("lending:", "readers:\n  secret: [Wang]\nlending:", 1), "utf-8")
    git(root, "commit", "-q", "-am", "secret records are Wang's")
    # Li files it without being able to read it afterwards (a writer need not be a reader)
    assert ok(dg(root, "new", "PX", "--file", "-", input=RECORD, key=li)).out.strip() == CODE
    return root, wang, li


def stored(root: Path) -> dict:
    return load_text((root / PATH).read_text("utf-8"))


def test_the_blob_hides_every_field_but_the_structural_ones(setup: tuple[Path, Key, Key]) -> None:
    root, wang, _li = setup
    blob = git(root, "show", f"HEAD:{PATH}")
    assert not [text for text in HIDDEN_TEXTS if text in blob]
    doc = load_text(blob)
    clear = {k for k, v in doc.items() if k != "sops" and not (isinstance(v, str) and v.startswith("ENC["))
             and not isinstance(v, (list, dict))}
    assert clear == {"code", "category", "level", "status", "opened", "closed", "held_at"}
    assert doc["hours"].endswith(",type:int]")  # a number keeps its type, as sops writes it
    assert doc["results"][0]["result"].startswith("ENC[") and doc["assessment"]["method"].startswith("ENC[")
    assert [r["recipient"] for r in doc["sops"]["age"]] == [wang.public]
    assert TITLE not in git(root, "log", "--format=%B")  # the commit names the code only
    assert git(root, "log", "-1", "--format=%s").strip() == f"dangan new: {CODE}"


def test_a_reader_outside_the_level_cannot_open_it(setup: tuple[Path, Key, Key]) -> None:
    root, wang, li = setup
    refused = dg(root, "show", CODE, "--decrypt", key=li)
    assert refused.code == 2 and "recipient" in refused.err and TITLE not in refused.out + refused.err
    opened = ok(dg(root, "show", CODE, "--decrypt", key=wang))
    assert TITLE in opened.out and "多次遺失借閱登記" in opened.out


@pytest.mark.skipif(shutil.which("age") is None, reason="age CLI not installed")
def test_sops_opens_it_for_its_reader_alone(setup: tuple[Path, Key, Key]) -> None:
    root, wang, li = setup
    from test_sops_writer import clean_env, sops_binary

    env = clean_env(wang.file)
    proc = subprocess.run([sops_binary(), "decrypt", PATH], cwd=root, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    plain = load_text(proc.stdout)
    assert plain["title"] == TITLE and plain["hours"] == 2 and plain["results"][0]["score"] == "41"
    env = clean_env(li.file)
    proc = subprocess.run([sops_binary(), "decrypt", PATH], cwd=root, capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and TITLE not in proc.stdout
    enc = stored(root)["sops"]["age"][0]["enc"]
    by_age = subprocess.run(["age", "-d", "-i", str(li.file)], input=enc.encode(), capture_output=True)
    assert by_age.returncode != 0


def test_listings_exports_and_reports_show_nothing_of_it(setup: tuple[Path, Key, Key], tmp_path: Path) -> None:
    root, _wang, li = setup
    listed = ok(dg(root, "ls"))
    assert f"{CODE}\tPX\t‹secret›\tcompleted\t2026-03-02\t2026-03-09" in listed.out
    for term in ("王小明", "考核", "人事", "written", "failed"):
        assert CODE not in ok(dg(root, "ls", "--search", term)).out, term
    assert CODE not in ok(dg(root, "ls", "--where", "course~考核")).out
    assert CODE in ok(dg(root, "ls", "--where", "status=completed")).out  # structural: in clear
    masked = ok(dg(root, "export", "--category", "PX", "--format", "json"))
    # with --decrypt, Li (not a reader) still gets it masked, and the export goes on
    decrypted = ok(dg(root, "export", "--category", "PX", "--format", "json", "--decrypt", key=li))
    assert json.loads(decrypted.out)[0]["title"] == "‹encrypted›"
    stats = ok(dg(root, "stats", "--json"))
    assert json.loads(stats.out)["records"]["total"] == 1
    ok(dg(root, "report", "--out", str(tmp_path / "r.html")))
    plan = ok(dg(root, "retention", "plan"))
    shown = masked.out + decrypted.out + stats.out + (tmp_path / "r.html").read_text("utf-8") + plan.out
    assert not [text for text in HIDDEN_TEXTS if text in shown]


def test_a_hand_made_secret_record_in_clear_is_refused_by_both_hooks(setup: tuple[Path, Key, Key],
                                                                     tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(setup[0], root, symlinks=True)
    hand = "code: PX-0002\ncategory: PX\nlevel: secret\ntitle: 李四考核\nstatus: planned\nopened: '2026-04-01'\n" \
           "course: 考核\ntrainer: 人事行政部\n"
    (root / "vault/PX/PX-0002.yaml").write_text(hand, "utf-8")
    git(root, "add", "vault/PX/PX-0002.yaml")
    commit = subprocess.run(["git", "commit", "-q", "-m", "by hand"], cwd=root, capture_output=True, text=True)
    assert commit.returncode != 0
    assert "vault/PX/PX-0002.yaml: DG122 field /title of a secret record holds a clear value" in commit.stderr
    assert "李四考核" not in commit.stderr  # the value is never printed
    # a writer without hooks commits it anyway: the server refuses the push
    git(root, "commit", "-q", "--no-verify", "-m", "by hand")
    bare = bare_server(tmp_path)
    push = subprocess.run(["git", "push", "-q", str(bare), "HEAD:refs/heads/main"], cwd=root,
                          capture_output=True, text=True)
    assert push.returncode != 0 and "DG122" in push.stderr
    assert git(bare, "for-each-ref").strip() == ""


def test_ledgers_cannot_be_secret_and_readers_must_be_recipients(setup: tuple[Path, Key, Key],
                                                                 tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(setup[0], root, symlinks=True)
    before = git(root, "rev-parse", "HEAD")
    refused = dg(root, "new", "PD", "--file", "-", key=setup[2],
                 input="level: secret\ntitle: 盤點\nstatus: planned\nopened: 2026-04-01\nplace: 總部檔案室\n")
    assert refused.code == 2 and "PD records cannot be secret" in refused.err
    assert git(root, "rev-parse", "HEAD") == before
    config = (root / "vault.yaml").read_text("utf-8")
    (root / "vault.yaml").write_text(config.replace("secret: [Wang]", "secret: [Wang, Zhao]"), "utf-8")
    check = dg(root, "check")
    assert check.code == 1 and "vault.yaml: DG114 /readers/secret: 'Zhao' is not a recipient" in check.out


def test_a_change_of_level_reseals_with_a_new_key_when_a_reader_is_lost(setup: tuple[Path, Key, Key],
                                                                          tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(setup[0], root, symlinks=True)
    _, wang, li = setup
    ok(dg(root, "set", CODE, "level=internal", key=wang))
    internal = stored(root)
    assert internal["level"] == "internal" and internal["title"] == TITLE  # declassified: in clear
    assert {r["recipient"] for r in internal["sops"]["age"]} == {wang.public, li.public}
    key_internal = sops.unwrap_data_key(sops.Metadata.from_dict(internal["sops"]), [li.identity])
    ok(dg(root, "set", CODE, "level=secret", key=li))
    secret = stored(root)
    assert [r["recipient"] for r in secret["sops"]["age"]] == [wang.public]
    assert secret["title"].startswith("ENC[")
    # Li could unwrap the internal version's key from history: the secret one has another
    key_secret = sops.unwrap_data_key(sops.Metadata.from_dict(secret["sops"]), [wang.identity])
    assert key_secret != key_internal
    with pytest.raises(sops.SopsError):
        sops.decrypt_value(secret["title"], key_internal, "title:")
    assert ok(dg(root, "check", key=wang)).out.endswith("0 findings\n")


def test_updatekeys_follows_a_change_of_readers(setup: tuple[Path, Key, Key], tmp_path: Path) -> None:
    root = tmp_path / "vault"
    shutil.copytree(setup[0], root, symlinks=True)
    _, wang, li = setup
    config = (root / "vault.yaml").read_text("utf-8")
    (root / "vault.yaml").write_text(config.replace("secret: [Wang]", "secret: [Wang, Li]"), "utf-8")
    stale = dg(root, "check")
    assert stale.code == 1 and f"{PATH}: DG106 recipients differ" in stale.out
    ok(dg(root, "keys", "updatekeys", key=wang))
    assert {r["recipient"] for r in stored(root)["sops"]["age"]} == {wang.public, li.public}
    assert TITLE in ok(dg(root, "show", CODE, "--decrypt", key=li)).out
    assert git(root, "status", "--porcelain") == ""  # vault.yaml went into the same commit


def test_a_handover_carries_a_secret_record_to_the_receiving_readers(tmp_path: Path) -> None:
    """A secret record of the building handed over: the exported vault seals it for the
    receiving party and names them its readers, the manifest shows no title; the receiving
    vault imports it only when it names readers of secret records, and seals it for them."""
    from test_handover_export import PREFIX, age_key, company_key, export, make_source
    from test_handover_import import FROM

    keys = tmp_path / "keys"
    keys.mkdir()
    theirs, their_public = age_key(keys, "next-company")
    ours = company_key(keys)
    source = make_source(tmp_path)
    config = (source / "vault.yaml").read_text("utf-8")
    names = [r["name"] for r in load_text(config)["recipients"]]
    (source / "vault.yaml").write_text(config.replace("lending:", f"readers:\n  secret: [{names[0]}]\nlending:", 1),
                                       "utf-8")
    git(source, "commit", "-q", "--no-verify", "-am", "secret readers")
    code = next(p.rsplit("/", 1)[1][:-5] for p in git(source, "ls-files", f"vault/{PREFIX.replace('-', '/')}").split()
                if "/TS/" in p)
    ok(dg(source, "set", code, "level=secret", key=Key(ours, "", None)))
    title = load_text(git(source, "show", f"HEAD~1:{git(source, 'ls-files', f'*{code}.yaml').strip()}"))["title"]
    out = tmp_path / "export"
    ok(export(source, out, ours, f"新物業={their_public}"))
    manifest = json.loads((out / "HANDOVER.json").read_text("utf-8"))
    assert [r["title"] for r in manifest["records"] if r["code"] == code] == ["‹secret›"]
    assert title not in (out / "HANDOVER.json").read_text("utf-8")
    assert load_text((out / "vault.yaml").read_text("utf-8"))["readers"] == {"secret": ["新物業"]}
    exported = load_text(next(out.rglob(f"{code}.yaml")).read_text("utf-8"))
    assert exported["level"] == "secret" and exported["title"].startswith("ENC[")
    assert [r["recipient"] for r in exported["sops"]["age"]] == [their_public]
    # the receiving vault: refused without readers of secret records, then filed for them
    target = tmp_path / "ours"
    ok(run_cli(["init", str(target), "--name", "新物業檔案庫", "--recipient", f"王芳={their_public}"]))
    options = ["--from", FROM, "--received-by", "王芳", "--witness", "李主任"]
    refused = dg(target, "handover", "import", str(out), *options, key=Key(theirs, their_public, None))
    assert refused.code != 0 and "a secret record" in refused.err and code in refused.err, refused
    assert git(target, "status", "--porcelain", "--untracked-files=all") == "", "the refusal left something"
    assert not list((target / "vault").rglob("*")), "nor an empty attachment folder (a collision next time)"
    config = (target / "vault.yaml").read_text("utf-8")
    (target / "vault.yaml").write_text(config.replace("lending:", "readers:\n  secret: [王芳]\nlending:", 1), "utf-8")
    git(target, "commit", "-q", "-am", "secret records are 王芳's")
    ok(dg(target, "handover", "import", str(out), *options, key=Key(theirs, their_public, None)))
    filed = load_text(next((target / "vault").rglob(f"{code}.yaml")).read_text("utf-8"))
    assert filed["level"] == "secret" and [r["recipient"] for r in filed["sops"]["age"]] == [their_public]
    assert title in ok(dg(target, "show", code, "--decrypt", key=Key(theirs, their_public, None))).out
