"""The interface languages (issue 24, parts 1 and 6): the catalogs are complete and match the
code, and the real CLI speaks simplified Chinese, traditional Chinese or English as `--lang`,
DANGAN_LANG, vault.yaml's `language` and the locale say, in that order.

The messages of the code are extracted here the way `make catalogs` does it (Babel with
babel.cfg, whose extractor also takes click's help texts), so a message added to the code
without a translation in both Chinese catalogs fails this test, as does a fuzzy entry, a
placeholder lost in translation or a .mo file that no longer matches its .po."""
from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from conftest import REPO, git, run_bin, run_cli

from dangan import i18n

LOCALE = REPO / "tools" / "dangan" / "i18n" / "locale"
CATALOGS = ("zh_Hans", "zh_Hant")


def _code_messages() -> set[tuple[str | None, str]]:
    """(context, msgid) of every message of the code (a plural by its singular)."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: set[tuple[str | None, str]] = set()
    for _file, _line, message, _comments, context in extract_from_dir(
            str(REPO), method_map, options_map):
        found.add((context, _key(message)))
    return found


def _po(name: str):
    with (LOCALE / name / "LC_MESSAGES" / "dangan.po").open("rb") as f:
        return read_po(f, locale=name)


def _key(message_id: str | tuple[str, ...] | list[str]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


MESSAGES = _code_messages()


def test_the_code_has_messages_to_translate() -> None:
    # the extractor finds the three kinds: _() texts, option help, command docstrings
    ids = {m for _context, m in MESSAGES}
    assert "dangan: error: {message}" in ids
    assert "Only records with this status." in ids  # an option's help=
    assert "List records: code, category, title, status, opened, closed." in ids  # a docstring
    assert "Usage:" in ids  # click's own, listed in cli/clicktext.py


def test_the_template_is_the_code_s_messages() -> None:
    with (LOCALE / "dangan.pot").open("rb") as f:
        template = {(m.context, _key(m.id)) for m in read_po(f) if m.id}
    code = MESSAGES
    assert sorted(code - template) == [], "run `make catalogs`: the code has messages the .pot lacks"
    assert sorted(template - code) == [], "run `make catalogs`: the .pot has messages the code dropped"


@pytest.mark.parametrize("name", CATALOGS)
def test_every_message_has_a_reviewed_translation(name: str) -> None:
    catalog = _po(name)
    assert not catalog.fuzzy, f"{name}: the catalog's header is marked fuzzy"
    entries = {(m.context, _key(m.id)): m for m in catalog if m.id}
    missing, fuzzy, empty = [], [], []
    for message in MESSAGES:
        entry = entries.get(message)
        if entry is None:
            missing.append(message)
            continue
        strings = entry.string if isinstance(entry.string, tuple | list) else (entry.string,)
        if not all(s.strip() for s in strings):
            empty.append(entry.id)
        if entry.fuzzy:
            fuzzy.append(entry.id)
    assert missing == [], f"{name}: not in the catalog (run `make catalogs`, then translate)"
    assert empty == [], f"{name}: no translation"
    assert fuzzy == [], f"{name}: fuzzy (a draft nobody reviewed)"


_FIELD = re.compile(r"\{[^{}]*\}|%\([a-z]+\)s")


@pytest.mark.parametrize("name", CATALOGS)
def test_translations_keep_the_placeholders(name: str) -> None:
    """A `{code}` or `{n}` lost or renamed would raise KeyError or drop a value at run time."""
    wrong = []
    for entry in _po(name):
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple | list) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple | list) else (entry.string,)
        wanted = sorted(set(_FIELD.findall(ids[-1])))
        wrong += [(ids[0], s) for s in strings if sorted(set(_FIELD.findall(s))) != wanted]
    assert wrong == []


def test_the_scripts_differ_where_they_should() -> None:
    """The traditional catalog is not the simplified one: the archive's words in each script."""
    hans = {_key(m.id): m.string for m in _po("zh_Hans") if m.id}
    hant = {_key(m.id): m.string for m in _po("zh_Hant") if m.id}
    assert hans["unknown category {category!r}"] == "未知类别 {category!r}"
    assert hant["unknown category {category!r}"] == "未知類別 {category!r}"
    assert "借阅" in hans["Only this borrower's loans."] and "借閱" in hant["Only this borrower's loans."]
    simplified_only = set("档阅归还销库录类别")
    assert [t for t in hant.values() if isinstance(t, str) and simplified_only & set(t)] == []


@pytest.mark.parametrize("name", CATALOGS)
def test_the_compiled_catalog_matches_its_po(name: str) -> None:
    """The .mo files are committed (no build step for an editable install or a wheel):
    each must say what its .po says (`make catalogs` compiles them)."""
    compiled = io.BytesIO()
    write_mo(compiled, _po(name))
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    with (LOCALE / name / "LC_MESSAGES" / "dangan.mo").open("rb") as f:
        committed = gettext.GNUTranslations(f)
    messages = {k: v for k, v in committed._catalog.items() if k != ""}  # "": the header
    assert messages == {k: v for k, v in fresh._catalog.items() if k != ""}, \
        f"run `make catalogs`: {name}/dangan.mo is stale"


# ------------------------------------------------------------------ choosing the language

@pytest.mark.parametrize("environ, language", [
    ({"LANG": "zh_CN.UTF-8"}, "zh-Hans"),
    ({"LANG": "zh_SG.UTF-8"}, "zh-Hans"),
    ({"LANG": "zh_Hans_CN.UTF-8"}, "zh-Hans"),
    ({"LANG": "zh_TW.UTF-8"}, "zh-Hant"),
    ({"LANG": "zh_HK.UTF-8"}, "zh-Hant"),
    ({"LANG": "zh_MO"}, "zh-Hant"),
    ({"LANG": "zh_Hant_TW.UTF-8"}, "zh-Hant"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "zh"}, "en"),  # no script, no region: English rather than a guess
    ({}, "en"),
    ({"LC_ALL": "zh_TW.UTF-8", "LANG": "zh_CN.UTF-8"}, "zh-Hant"),  # LC_ALL first, as setlocale
    ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "C"}, "zh-Hans"),
    ({"LC_ALL": "C", "LC_MESSAGES": "zh_CN.UTF-8"}, "en"),
])
def test_the_locale_names_a_language(environ: dict[str, str], language: str) -> None:
    assert i18n.from_locale(environ) == language


def test_a_vault_setting_that_cannot_be_read_is_no_setting(tmp_path: Path) -> None:
    assert i18n.from_vault(tmp_path) is None  # no vault.yaml up to /
    (tmp_path / "vault.yaml").write_text("language: klingon\n", encoding="utf-8")
    assert i18n.from_vault(tmp_path / "sub" / "dir") is None  # not one of ours: the locale decides
    (tmp_path / "vault.yaml").write_bytes(b"\xff\xfe language: [zh-Hant\n")
    assert i18n.from_vault(tmp_path) is None
    (tmp_path / "vault.yaml").write_text("name: x\nlanguage: 'zh-Hant'  # 繁體\n", encoding="utf-8")
    assert i18n.from_vault(tmp_path / "sub") == "zh-Hant"


def test_the_group_options_are_read_before_click() -> None:
    env = {"LANG": "zh_CN.UTF-8"}
    assert i18n.choose_for(["--lang", "en", "ls"], env) == "en"
    assert i18n.choose_for(["--lang=zh-Hant", "ls"], env) == "zh-Hant"
    assert i18n.choose_for(["-C", "/nonexistent", "ls"], env) == "zh-Hans"
    # a command's own words are not the group's option
    assert i18n.choose_for(["set", "SB-A01-02-0001", "--lang", "en"], env) == "zh-Hans"


# ------------------------------------------------------------------ the real CLI

def _unknown_category(vault: Path, env: dict[str, str], *options: str):
    return run_bin([*options, "-C", str(vault), "ls", "--category", "ZZ"], env=env)


def test_the_locale_speaks_simplified_traditional_or_english(vault: Path) -> None:
    hans = _unknown_category(vault, {"LANG": "zh_CN.UTF-8"})
    assert hans.code == 2 and hans.out == ""
    assert hans.err.startswith("dangan：错误：未知类别 'ZZ'\n提示：已有："), hans
    hant = _unknown_category(vault, {"LANG": "zh_TW.UTF-8"})
    assert hant.code == 2 and hant.err.startswith("dangan：錯誤：未知類別 'ZZ'\n提示：已有："), hant
    english = _unknown_category(vault, {"LANG": "C.UTF-8"})
    assert english.code == 2 and english.err.startswith("dangan: error: unknown category 'ZZ'\nhint: known: "), english


def test_an_error_and_its_hint_in_chinese(vault: Path) -> None:
    result = run_bin(["-C", str(vault), "set", "SB-A01-02-0001"], env={"LANG": "zh_HK.UTF-8"})
    assert result.code == 2
    assert result.err == "dangan：錯誤：沒有要修改的內容\n提示：請給出 KEY=VALUE 對或 --unset KEY\n", result
    result = run_bin(["-C", str(vault), "nosuch"], env={"LANG": "zh_CN.UTF-8"})
    assert result.code == 2
    assert result.err == "dangan：错误：没有这个命令：'nosuch'。\n提示：参见 `dangan --help`\n", result


def test_help_in_each_language() -> None:
    hans = run_bin(["ls", "--help"], env={"LANG": "zh_CN.UTF-8"})
    assert hans.code == 0
    assert "用法: dangan ls" in hans.out and "列出档案：档号、类别" in hans.out and "示例：" in hans.out
    assert "显示此帮助并退出。" in hans.out and "只列此状态的档案。" in hans.out
    hant = run_bin(["--help"], env={"LANG": "zh_TW.UTF-8"})
    assert hant.code == 0 and "選項:" in hant.out and "新增一份檔案。" in hant.out, hant
    english = run_bin(["ls", "--help"], env={"LANG": "C.UTF-8"})
    assert "Usage: dangan ls" in english.out and "Only records with this status." in english.out


def test_lang_over_env_over_vault_over_locale(vault: Path) -> None:
    """Each source in turn, the ones above it absent, then all at once."""
    config = vault / "vault.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "language: zh-Hant\n", encoding="utf-8")
    git(vault, "commit", "-qam", "language")
    assert run_cli(["-C", str(vault), "check"]).code == 0  # the schema knows the key

    def said(*options: str, env: dict[str, str]) -> str:
        return _unknown_category(vault, {"LANG": "zh_CN.UTF-8", **env}, *options).err.split("'")[0]

    assert said(env={}) == "dangan：錯誤：未知類別 "  # the vault over the locale
    assert said(env={"DANGAN_LANG": "en"}) == "dangan: error: unknown category "  # env over vault
    assert said("--lang", "zh-Hans", env={"DANGAN_LANG": "en"}) == "dangan：错误：未知类别 "
    assert said("--lang", "en", env={"DANGAN_LANG": "zh-Hans"}) == "dangan: error: unknown category "
    # a value dangan does not know is no choice: the next source decides
    assert said(env={"DANGAN_LANG": "fr"}) == "dangan：錯誤：未知類別 "


def test_an_unknown_lang_is_a_usage_error() -> None:
    result = run_cli(["--lang", "fr", "ls"])
    assert result.code == 2 and "'fr' is not one of 'zh-Hans', 'zh-Hant', 'en'" in result.err, result


def test_in_process_callers_get_english_back(vault: Path) -> None:
    chinese = run_cli(["--lang", "zh-Hans", "-C", str(vault), "ls", "--category", "ZZ"])
    assert "未知类别" in chinese.err
    assert i18n.language() == "en" and i18n._("nothing to change") == "nothing to change"
    english = run_cli(["-C", str(vault), "ls", "--category", "ZZ"])
    assert english.err.startswith("dangan: error: unknown category"), english


def test_reports_in_chinese(vault: Path) -> None:
    result = run_cli(["--lang", "zh-Hans", "-C", str(vault), "stats"])
    assert result.code == 0, result
    assert "档案：0" in result.out and "借阅：" in result.out, result
    result = run_cli(["--lang", "zh-Hant", "-C", str(vault), "gaps"])
    assert result.code == 0 and result.out.startswith("缺漏，截至 "), result


def test_labels_of_statuses_and_values_in_each_script(vault: Path) -> None:
    """The schemas' labels (traditional) through the catalogs: simplified for zh-Hans, as
    written for zh-Hant; the stored value stays what it was in the table's pipe form and in
    the record."""
    from test_ls import _on_a_terminal

    made = run_cli(["-C", str(vault), "new", "SB", "A01-02", "--set", "title=1號樓1號客梯",
                    "--set", "system=elevator", "--set", "equipment_type=乘客電梯",
                    "--set", "install_location=1號樓電梯井"])
    assert made.code == 0, made
    table = _on_a_terminal(["--lang", "zh-Hans", "-C", str(vault), "ls"]).splitlines()
    assert table[0].split() == ["档号", "类别", "题名", "状态", "开始", "结束"]
    assert table[1].split()[:4] == ["SB-A01-02-0001", "SB", "1號樓1號客梯", "在用"]  # the record's title as stored
    assert "\t" in run_cli(["--lang", "zh-Hans", "-C", str(vault), "ls"]).out  # a pipe: values
    assert "in_service" in run_cli(["--lang", "zh-Hans", "-C", str(vault), "ls"]).out
    hant = _on_a_terminal(["--lang", "zh-Hant", "-C", str(vault), "ls"]).splitlines()
    assert hant[0].split()[:2] == ["檔號", "類別"] and hant[1].split()[3] == "在用"
    # the allowed values with their labels (the description above them is the schema's text)
    values = run_cli(["--lang", "zh-Hans", "-C", str(vault), "fields", "SB", "status"]).out.split("允许值：\n")[1]
    assert values.split("\n")[2].split() == ["under_repair", "维修中"], values
    values = run_cli(["--lang", "zh-Hant", "-C", str(vault), "fields", "SB", "status"]).out.split("允許值：\n")[1]
    assert values.split("\n")[2].split() == ["under_repair", "維修中"], values
    categories = run_cli(["--lang", "zh-Hans", "-C", str(vault), "categories"])
    assert "设备" in categories.out and "維護保養" not in categories.out, categories


def test_a_value_not_allowed_gets_its_hint_in_chinese(vault: Path) -> None:
    """The hint a service composes ("nothing was written; fix the fields and retry; …") is
    translated piece by piece, the allowed values named as stored."""
    result = run_cli(["--lang", "zh-Hans", "-C", str(vault), "new", "SB", "A01-02", "--set", "title=1號樓1號客梯",
                      "--set", "equipment_type=乘客電梯", "--set", "install_location=1號樓電梯井",
                      "--set", "system=lift"])
    assert result.code == 2 and result.err.startswith("dangan：错误："), result
    hint = result.err.splitlines()[1]
    assert hint.startswith("提示：未写入任何内容；请修正字段后重试；system 只能取以下值之一：elevator, escalator"), hint
    assert hint.endswith("`dangan fields SB system` 列出其标签"), hint
    assert git(vault, "status", "--porcelain") == ""  # nothing written


def test_every_help_text_click_shows_is_in_the_catalogs() -> None:
    """Walked through click itself, not the extractor: a help given through a name the
    extractor cannot follow (`help=AS_OF_HELP` without N_()) would show English here."""
    import inspect

    import click

    from dangan.cli.main import cli

    texts: set[str] = set()

    def walk(cmd: click.Command) -> None:
        texts.update(t for t in (cmd.help, cmd.short_help) if t)
        texts.update(p.help for p in cmd.params if isinstance(p, click.Option) and p.help)
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name))

    walk(cli)  # English: the group's own help is the docstring as click keeps it
    texts = {inspect.cleandoc(t) for t in texts}
    for name in CATALOGS:
        translated = {m.id for m in _po(name) if m.id and m.string}
        assert sorted(texts - translated) == [], name


def test_the_demo_prints_its_tour_in_the_interface_language(tmp_path: Path) -> None:
    """The demo's summary, its "done for you" lines and the tour's comments follow the
    language (the commands themselves are the same in every language)."""
    result = run_cli(["--lang", "zh-Hant", "demo", str(tmp_path / "v"), "--as-of", "2026-11-27"])
    assert result.code == 0, result
    out = result.out
    assert out.startswith("示例檔案庫已建好：") and "\n已為您完成：\n" in out and "\n試一試：\n" in out
    assert "# 電梯台帳" in out and "dangan ls --category SB --where system=elevator" in out
    assert "Demo vault ready" not in out and "Try:" not in out
