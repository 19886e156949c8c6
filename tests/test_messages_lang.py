"""The findings of `check` and the hooks' refusals in the interface language (issue 24).

Run with the real `dangan` (subprocesses, as a user and git run it) and real hooks on real
commits and pushes (a bare remote with hooks/pre-receive): a finding line keeps its
`PATH: DGnnn ` prefix in every language and its message is simplified under zh_CN,
traditional under zh_TW and English under C; `check --json` keeps the English messages in
every language; the warm `check` answered from the quick note shows the words of the
language it runs in, not those of the run that filled the note; a server speaks the
language of the pushed vault's vault.yaml.
"""
from __future__ import annotations

import json
import pickle
import re
import subprocess
from pathlib import Path

from conftest import git, run_bin, run_cli
from test_hooks import make_remote, sb, stage

from dangan import i18n
from dangan.formats import findings
from dangan.i18n import Message

SB_REL = "vault/A01/02/SB/SB-A01-02-0001.yaml"
STRAY = "vault/A01/notes.txt"
FINDING = re.compile(r"^(?:remote: )?(?P<path>\S+): (?P<rule>DG\d{3}) (?P<message>.+?)\s*$")

HANS = {"LANG": "zh_CN.UTF-8"}
HANT = {"LANG": "zh_TW.UTF-8"}
C = {"LANG": "C.UTF-8"}


def bad_vault(vault: Path) -> None:
    """A record with a status its schema does not allow (DG102) and a stray file (DG104),
    both committed without the hooks."""
    stage(vault, {SB_REL: sb(status="bogus"), STRAY: "備註\n"})
    git(vault, "commit", "-q", "--no-verify", "-m", "bad")


def lines(text: str) -> dict[tuple[str, str], str]:
    """(path, rule) -> message of each finding line."""
    return {(m["path"], m["rule"]): m["message"] for m in map(FINDING.match, text.splitlines()) if m}


def test_check_speaks_the_language_of_the_locale(vault: Path) -> None:
    bad_vault(vault)
    english = run_bin(["-C", str(vault), "check", "--all"], env=C)
    hans = run_bin(["-C", str(vault), "check", "--all"], env=HANS)
    hant = run_bin(["-C", str(vault), "check", "--all"], env=HANT)
    assert english.code == hans.code == hant.code == 1, (english, hans, hant)
    wanted = {(SB_REL, "DG102"), (STRAY, "DG104")}
    # the prefix people and CI grep is the same in every language
    assert set(lines(english.out)) == set(lines(hans.out)) == set(lines(hant.out)) == wanted
    assert lines(english.out)[SB_REL, "DG102"].startswith('/status: "bogus" is not one of "in_service"')
    assert lines(english.out)[STRAY, "DG104"].startswith("stray file: only records")
    assert english.out.splitlines()[-1].endswith("file(s) checked, 2 findings")
    # simplified: the schema's reason and the rule's own words
    assert re.match(r'^/status："bogus" 不是 "in_service", .*候选值之一$', lines(hans.out)[SB_REL, "DG102"]), hans.out
    assert lines(hans.out)[STRAY, "DG104"].startswith("多余的文件："), hans.out
    assert re.fullmatch(r"已检查 \d+ 个文件，2 项问题", hans.out.splitlines()[-1]), hans.out
    # traditional, in Taiwan's characters
    assert lines(hant.out)[STRAY, "DG104"].startswith("多餘的"), hant.out
    assert re.fullmatch(r"已檢查 \d+ 個文件，2 項問題", hant.out.splitlines()[-1]), hant.out
    assert "问题" not in hant.out and "项" not in hant.out, hant.out


def test_json_keeps_the_english_messages_in_every_language(vault: Path) -> None:
    bad_vault(vault)
    english = json.loads(run_bin(["-C", str(vault), "check", "--all", "--json"], env=C).out)
    hans = json.loads(run_bin(["-C", str(vault), "check", "--all", "--json"], env=HANS).out)
    assert hans == english
    assert {f["rule"] for f in hans["findings"]} == {"DG102", "DG104"}
    assert all(f["message"].isascii() for f in hans["findings"]), hans


def test_the_warm_check_shows_the_words_of_its_own_language(vault: Path) -> None:
    """The quick note remembers structured findings (template and values), not text: a
    note filled by a Chinese run gives English under C, and Chinese again under zh_CN."""
    bad_vault(vault)
    cold = run_bin(["-C", str(vault), "check"], env=HANS)
    assert cold.code == 1 and "多余的文件" in cold.out, cold
    notes = list((vault / ".git" / "dangan" / "cache").glob("tree-*.json"))
    assert len(notes) == 1
    kept = json.loads(notes[0].read_text("utf-8"))["findings"]
    assert {tuple(f[:2]) for f in kept} == {(SB_REL, "DG102"), (STRAY, "DG104")}
    assert all(f[2].isascii() and f[3]["t"] for f in kept), kept  # English text, and its template
    warm = run_bin(["-C", str(vault), "check"], env=C)
    assert warm.code == 1, warm
    assert warm.out == run_bin(["-C", str(vault), "check", "--all"], env=C).out
    assert warm.out.isascii() and "stray file: only records" in warm.out, warm.out
    again = run_bin(["-C", str(vault), "check"], env=HANS)
    assert again.out == cold.out


def git_env(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if k != "DANGAN_LANG"}
    full.update(env)
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=full)


def test_the_pre_commit_hook_refuses_in_the_language_of_the_locale(vault: Path) -> None:
    stage(vault, {SB_REL: sb(status="bogus")})
    hant = git_env(HANT, "commit", "-q", "-m", "bad", cwd=vault)
    assert hant.returncode != 0, hant
    assert set(lines(hant.stderr)) == {(SB_REL, "DG102")}, hant.stderr
    assert "dangan：提交被拒絕：1 項問題；請修正後重試" in hant.stderr, hant.stderr
    english = git_env({**HANT, "DANGAN_LANG": "en"}, "commit", "-q", "-m", "bad", cwd=vault)
    assert "dangan: commit refused: 1 finding(s); fix them and retry" in english.stderr, english.stderr
    assert lines(english.stderr)[SB_REL, "DG102"].startswith('/status: "bogus" is not one of'), english.stderr
    assert git(vault, "rev-list", "--count", "HEAD").strip() == "1"  # nothing committed


def test_check_staged_and_range_speak_it_too(vault: Path) -> None:
    bad_vault(vault)
    ranged = run_bin(["-C", str(vault), "check", "--range", "HEAD~1..HEAD"], env=HANS)
    assert ranged.code == 1 and set(lines(ranged.out)) == {(SB_REL, "DG102"), (STRAY, "DG104")}, ranged
    assert "（提交 " in lines(ranged.out)[STRAY, "DG104"], ranged.out  # the commit, in Chinese
    stage(vault, {SB_REL: sb(status="also-bogus")})
    staged = run_bin(["-C", str(vault), "check", "--staged"], env=HANT)
    assert staged.code == 1 and " 不是 " in lines(staged.out)[SB_REL, "DG102"], staged


def test_pre_push_and_the_server_speak_their_languages(vault: Path, tmp_path: Path) -> None:
    """The local pre-push hook follows DANGAN_LANG; the server (a bare repository, no
    vault.yaml file) the vault.yaml `language` of what is pushed."""
    config = vault / "vault.yaml"
    config.write_text(config.read_text("utf-8") + "language: zh-Hant\n", "utf-8")
    git(vault, "commit", "-q", "-am", "the vault speaks traditional Chinese")
    bare = make_remote(vault, tmp_path)
    bad_vault(vault)

    local = git_env({**C, "DANGAN_LANG": "zh-Hans"}, "push", "origin", "main", cwd=vault)
    assert local.returncode != 0, local
    assert set(lines(local.stderr)) == {(SB_REL, "DG102"), (STRAY, "DG104")}, local.stderr
    assert "dangan：推送被拒绝：2 项问题；请修正后重试" in local.stderr, local.stderr

    server = git_env(C, "push", "--no-verify", "origin", "main", cwd=vault)
    assert server.returncode != 0, server
    remote = [line for line in server.stderr.splitlines() if line.startswith("remote: ")]
    assert {(m["path"], m["rule"]) for m in map(FINDING.match, remote) if m} == {
        (SB_REL, "DG102"), (STRAY, "DG104")}, server.stderr
    assert any("推送被拒絕：2 項問題" in line for line in remote), server.stderr
    assert git(bare, "for-each-ref").strip() == ""  # nothing reached the server


def test_a_command_refused_below_the_cli_speaks_chinese(vault: Path) -> None:
    """Messages made in the model and the services (a malformed code, a bad --set) are
    translated with their values; English stays as it was."""
    hans = run_cli(["--lang", "zh-Hans", "-C", str(vault), "show", "sb-a01-02-0001"])
    assert hans.code == 2 and hans.err.startswith("dangan：错误：档号 'sb-a01-02-0001' 必须大写"), hans
    assert "提示：是否想输入 SB-A01-02-0001？" in hans.err, hans
    english = run_cli(["-C", str(vault), "show", "sb-a01-02-0001"])
    assert english.err.startswith("dangan: error: code 'sb-a01-02-0001' must be upper case"), english
    assigned = run_cli(["--lang", "zh-Hant", "-C", str(vault), "new", "SB", "A01-02", "--set", "notakeyvalue"])
    assert assigned.code == 2 and "'notakeyvalue' 不是 欄位=值" in assigned.err, assigned


def test_a_message_keeps_its_english_and_its_template() -> None:
    """What the check's workers send back and the quick note keeps: the English text
    (what `--json` and code compare) with its template and values."""
    inner = Message("{code} is listed twice", code="SB-A01-02-0001")
    outer = Message("{message} (commit {commit})", message=inner, commit="0123456789")
    assert outer == "SB-A01-02-0001 is listed twice (commit 0123456789)"
    for copy in (pickle.loads(pickle.dumps(outer)), Message.from_json(outer.to_json())):
        assert copy == outer and isinstance(copy, Message) and copy.template == outer.template
        assert isinstance(copy.values["message"], Message)
    path, rule, message = findings.recalled(findings.remembered(("p", "DG108", outer)))
    i18n.set_language("zh-Hans")
    try:
        assert findings.line(path, rule, message) == "p: DG108 SB-A01-02-0001 被列了两次（提交 0123456789）"
        assert findings.line("p", "DG108", "not a message of the catalogs") == "p: DG108 not a message of the catalogs"
    finally:
        i18n.set_language("en")
    assert findings.line(path, rule, message) == "p: DG108 SB-A01-02-0001 is listed twice (commit 0123456789)"


def test_a_commit_the_hook_refuses_in_chinese_is_a_refusal(vault: Path) -> None:
    """dangan's own commits (gitio.commit) tell the vault's hook refusing from git failing by
    the findings' `PATH: DGnnn ` prefix, which every language keeps: the Chinese summary line
    does not say "commit refused" (it did not, and the refusal came out as a git failure)."""
    import os
    import sys

    stage(vault, {SB_REL: sb(status="bogus")})
    script = ("import sys\nfrom pathlib import Path\nfrom dangan.errors import Refusal\n"
              "from dangan.git import gitio\nfrom dangan.i18n import set_language, shown\n"
              "set_language('zh-Hans')\n"
              "try:\n    gitio.commit(Path(sys.argv[1]), 'bad', [sys.argv[2]])\n"
              "except Refusal as exc:\n    print('REFUSAL', shown(exc.message))\n")
    env = {**os.environ, "DANGAN_LANG": "zh-Hans", "LANG": "C.UTF-8"}
    proc = subprocess.run([sys.executable, "-c", script, str(vault), SB_REL], capture_output=True,
                          text=True, env=env, check=False)
    assert proc.stdout.startswith("REFUSAL pre-commit 钩子拒绝了提交："), (proc.stdout, proc.stderr)
    assert f"{SB_REL}: DG102" in proc.stdout
    assert git(vault, "log", "--format=%s", "-1").strip() != "bad"
