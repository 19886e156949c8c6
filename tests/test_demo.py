"""`dangan demo`: the small demo vault is valid, deterministic (but for ciphertext), has two
years of back-dated history, keeps its invented personal data encrypted to its own demo key
(never in clear in any Git object), and every command of its tour works on it.

The demo is built twice per test process (once through the CLI, once through the API for
the determinism check); both builds take a few seconds.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import git, run_cli, snapshot

from dangan import agekeys, sops
from dangan.codes import path_to_code
from dangan.demo import (
    DEMO_APPROVER,
    DEMO_ARCHIVIST,
    DEMO_KEY,
    DEMO_KEY_LABEL,
    id_check_digit,
    tour,
    tour_commands,
)
from dangan.schemas import sensitive_leaves
from dangan.yamlio import decode, load_text

ENC = re.compile(r"ENC\[AES256_GCM,[^\]]*\]")


def _records(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted((root / "vault").rglob("*.yaml"))
    }


def _stored(root: Path) -> dict[str, dict[str, Any]]:
    """Every record as stored (SOPS documents still encrypted)."""
    return {str(path_to_code(rel)): load_text(decode(data)) for rel, data in _records(root).items()}


def _trees(root: Path) -> dict[str, dict[str, Any]]:
    """Every record in plaintext, opened with the demo key."""
    identities = agekeys.read_identity_file(root / DEMO_KEY)
    out = {}
    for code, doc in _stored(root).items():
        out[code] = sops.decrypt_document(doc, identities)[0] if "sops" in doc else doc
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The small demo built through the CLI: (path, what it printed)."""
    path = tmp_path_factory.mktemp("demo") / "vault"
    result = run_cli(["demo", str(path)])
    assert result.code == 0, result
    return path, result.out


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A second build, with --json into an existing empty directory: its summary (and its
    files, for the determinism check)."""
    path = tmp_path_factory.mktemp("demo2")
    result = run_cli(["demo", str(path), "--json"])
    assert result.code == 0, result
    document = json.loads(result.out)
    assert {"path", "records", "commits", "by_category", "examples"} <= set(document)
    assert document["path"] == str(path.resolve())
    return document


def test_demo_vault_passes_check(demo: tuple[Path, str]) -> None:
    path, _ = demo
    result = run_cli(["-C", str(path), "check"])
    assert result.code == 0, result
    result = run_cli(["-C", str(path), "fmt", "--check"])
    assert result.code == 0, result
    assert git(path, "status", "--porcelain") == ""


def test_numbers_are_as_reported(demo: tuple[Path, str], summary: dict[str, Any]) -> None:
    path, out = demo
    records = _records(path)
    assert 80 <= summary["records"] <= 180
    assert len(records) == summary["records"]
    assert sum(summary["by_category"].values()) == summary["records"]
    by_category: dict[str, int] = {}
    for rel in records:
        code = path_to_code(rel)
        by_category[code.category] = by_category.get(code.category, 0) + 1
    assert by_category == summary["by_category"]
    commits = int(git(path, "rev-list", "--count", "HEAD").strip())
    assert commits == summary["commits"]
    assert f"{summary['records']} records in {summary['commits']} commits" in out
    for category in ("QY", "XM", "HT", "LD", "FW", "SB", "WX", "XJ", "HJ", "AQ", "TS", "SF", "CW"):
        assert by_category.get(category, 0) >= 1, category


def test_both_projects_and_examples(demo: tuple[Path, str], summary: dict[str, Any]) -> None:
    trees = _trees(demo[0])
    assert trees["XM-A01-0001"]["property_type"] == "residential"
    assert trees["XM-B01-0001"]["property_type"] == "commercial"
    ex = summary["examples"]
    assert set(ex) >= {"equipment", "repair", "complaint", "room", "project", "owner"}
    assert all(code in trees for code in ex.values())
    assert ex["project"] == "XM-A01-0001"
    assert trees[ex["equipment"]]["system"] == "elevator"
    assert trees[ex["equipment"]]["category"] == "SB"
    assert trees[ex["repair"]]["status"] == "done"
    assert ex["equipment"] in trees[ex["repair"]]["refs"]
    assert trees[ex["complaint"]]["status"] in ("open", "in_progress")
    assert trees[ex["room"]]["category"] == "FW"
    assert trees[ex["owner"]]["category"] == "YZ" and ex["room"] in trees[ex["owner"]]["refs"]
    # open work at the end of the history, as in a real archive
    statuses = {(t["category"], t["status"]) for t in trees.values()}
    assert ("WX", "closed") in statuses and ("TS", "closed") in statuses


def test_refs_point_to_existing_records(demo: tuple[Path, str]) -> None:
    trees = _trees(demo[0])
    for code, tree in trees.items():
        for ref in tree.get("refs", []):
            assert ref in trees, f"{code} refers to {ref}"
        for key in ("target", "plan", "contract"):
            if isinstance(tree.get(key), str):
                assert tree[key] in trees, f"{code}: {key} {tree[key]}"


def test_demo_keys_are_labelled_private_and_ignored(demo: tuple[Path, str]) -> None:
    path, out = demo
    for name in (DEMO_KEY, "DEMO-KEY-approver.txt"):
        key = path / name
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_text(encoding="utf-8").splitlines()[0] == DEMO_KEY_LABEL
        assert len(agekeys.read_identity_file(key)) == 1
    assert DEMO_KEY in out and "never for real records" in out
    assert git(path, "check-ignore", DEMO_KEY).strip() == DEMO_KEY
    assert DEMO_KEY not in git(path, "ls-files")
    config = load_text((path / "vault.yaml").read_text(encoding="utf-8"))
    public = str(agekeys.read_identity_file(path / DEMO_KEY)[0].to_public())
    assert config["recipients"][0] == {"name": DEMO_ARCHIVIST, "key": public, "roles": ["archivist", "approver"]}
    assert config["recipients"][1]["name"] == DEMO_APPROVER and config["recipients"][1]["roles"] == ["approver"]


def test_personal_data_is_encrypted(demo: tuple[Path, str], summary: dict[str, Any]) -> None:
    from dangan.vault import Vault

    path, _ = demo
    vault = Vault.open(path)
    stored = _stored(path)
    trees = _trees(path)
    sealed = {code for code, doc in stored.items() if "sops" in doc}
    assert summary["encrypted"] == len(sealed)
    for category in ("YZ", "ZH", "TS"):
        codes = [c for c in trees if c[:2] == category]
        assert codes and sum(c in sealed for c in codes) >= len(codes) * 0.6, category
    recipients = {r["key"] for r in vault.recipients}
    for code in sealed:
        names = vault.schemas.categories[code[:2]].sensitive
        assert {r["recipient"] for r in stored[code]["sops"]["age"]} == recipients, code
        assert stored[code]["sops"]["encrypted_regex"] == sops.encrypted_regex_for(names)
        assert list(sensitive_leaves(trees[code], names)), code
        assert vault.schemas.errors(code[:2], trees[code]) == [], code  # the plaintext is valid
    for code in set(trees) - sealed:
        assert not list(sensitive_leaves(trees[code], vault.schemas.categories[code[:2]].sensitive)), code
    # invented, well-formed people: every owner has a name, an ID number (check digit right,
    # a county code nobody has) and a 1xx-0000-nnnn mobile
    owners = [o for c, t in trees.items() if c[:2] == "YZ" for o in t["owners"]]
    assert owners and all(o["name"] and o["phone"][3:9] == "-0000-" for o in owners)
    for owner in owners:
        number = owner["id_number"]
        assert number[:6] == "320599" and id_check_digit(number[:17]) == number[17]


def test_owner_decrypts_with_the_demo_key(demo: tuple[Path, str], summary: dict[str, Any]) -> None:
    path, _ = demo
    owner = summary["examples"]["owner"]
    name = _trees(path)[owner]["owners"][0]["name"]
    masked = run_cli(["-C", str(path), "show", owner])
    assert masked.code == 0, masked
    assert "‹encrypted›" in masked.out and name not in masked.out
    opened = run_cli(["-C", str(path), "--identity", str(path / DEMO_KEY), "show", owner, "--decrypt"])
    assert opened.code == 0, opened
    assert f"name: {name}" in opened.out
    checked = run_cli(["-C", str(path), "check"], env={"SOPS_AGE_KEY_FILE": str(path / DEMO_KEY)})
    assert checked.code == 0, checked  # every MAC verifies, the plaintext is valid


def test_no_plaintext_in_any_git_object(demo: tuple[Path, str]) -> None:
    path, _ = demo
    from dangan.vault import Vault

    vault = Vault.open(path)
    stored = _stored(path)
    trees = _trees(path)
    # every sensitive value of every version of every sealed record
    identities = agekeys.read_identity_file(path / DEMO_KEY)
    secret: set[str] = set()
    clear: list[str] = []
    for code, tree in trees.items():
        names = vault.schemas.categories[code[:2]].sensitive
        rel = path_to_code_path(code)
        if "sops" in stored[code]:
            for commit in git(path, "log", "--format=%H", "--", rel).split():
                doc = load_text(git(path, "show", f"{commit}:{rel}"))
                plain = sops.decrypt_document(doc, identities)[0]
                secret.update(v for _, v in sensitive_leaves(plain, names) if isinstance(v, str))
        clear.append(ENC.sub("", json.dumps(tree, ensure_ascii=False)) if "sops" not in stored[code] else "")
    # a value that also occurs in clear text (a name like a staff member's) proves nothing
    corpus = "\n".join(clear)
    checked = sorted(v for v in secret if len(v) >= 3 and v not in corpus)
    assert len(checked) >= 50
    objects = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=path, capture_output=True, check=True
    ).stdout
    assert len(objects) > 100_000
    leaked = [v for v in checked if v.encode("utf-8") in objects]
    assert leaked == []
    for name in (DEMO_KEY, "DEMO-KEY-approver.txt"):
        secret_key = next(line for line in (path / name).read_text().splitlines() if line.startswith("AGE-SECRET-KEY-"))
        assert secret_key.encode() not in objects


def test_history_is_back_dated_over_two_years(demo: tuple[Path, str]) -> None:
    path, _ = demo
    lines = git(path, "log", "--format=%aI %cI %s").splitlines()
    authored = [dt.datetime.fromisoformat(line.split()[0]) for line in lines]
    committed = [dt.datetime.fromisoformat(line.split()[1]) for line in lines]
    assert authored == committed
    assert committed == sorted(committed, reverse=True)  # newest first, no time travel
    span = committed[0] - committed[-1]
    assert dt.timedelta(days=700) <= span <= dt.timedelta(days=740)
    assert committed[0] <= dt.datetime.now(dt.UTC)
    assert committed[0] >= dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    subjects = [line.split(" ", 2)[2] for line in lines]
    assert subjects[-1].startswith("dangan init:")
    assert any(s.startswith("dangan new: ") for s in subjects)
    assert any(s.startswith("dangan set: ") for s in subjects)
    # every record was added by a commit dated on or after the day it was opened
    log = git(path, "log", "--diff-filter=A", "--name-only", "--format=%x00%cI", "--", "vault")
    opened = {code: tree["opened"] for code, tree in _trees(path).items()}
    for block in log.split("\0")[1:]:
        stamp, *names = block.strip().splitlines()
        day = stamp[:10]
        for name in filter(None, names):
            assert opened[str(path_to_code(name))] <= day, name
    last = committed[0].date().isoformat()
    for code, tree in _trees(path).items():
        assert tree.get("closed") is None or tree["opened"] <= tree["closed"] <= last, code


def test_repair_goes_from_assigned_to_done_in_history(demo: tuple[Path, str]) -> None:
    path, _ = demo
    closed = [c for c, t in _trees(path).items() if t["category"] == "WX" and t["status"] == "closed"]
    rel = path_to_code_path(closed[0])
    versions = git(path, "log", "--format=%H", "--", rel).split()
    assert len(versions) >= 2
    first = load_text(git(path, "show", f"{versions[-1]}:{rel}"))
    assert first["status"] in ("reported", "assigned")


def path_to_code_path(code: str) -> str:
    from dangan.codes import parse_code

    return parse_code(code).path


def _without_ciphertext(data: bytes) -> str:
    """A record's text with what is random in every build masked: ciphertext (values, MAC),
    the wrapped data keys and the (freshly generated) recipients."""
    text = ENC.sub("ENC[...]", decode(data))
    text = re.sub(r"-----BEGIN AGE ENCRYPTED FILE-----\n(?:.*\n)*?\s*-----END AGE ENCRYPTED FILE-----", "AGE", text)
    return re.sub(r"recipient: age1[0-9a-z]+", "recipient: age1...", text)


def test_deterministic(demo: tuple[Path, str], summary: dict[str, Any]) -> None:
    first = _records(demo[0])
    second = _records(Path(summary["path"]))
    assert first.keys() == second.keys()
    plain = [rel for rel, data in first.items() if b"\nsops:\n" not in data]
    assert len(plain) < len(first)
    assert {rel: first[rel] for rel in plain} == {rel: second[rel] for rel in plain}
    assert {rel: _without_ciphertext(data) for rel, data in first.items()} == {
        rel: _without_ciphertext(data) for rel, data in second.items()
    }
    assert _trees(demo[0]) == _trees(Path(summary["path"]))


def test_tour_commands_work(demo: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, out = demo
    assert "Try:" in out
    work = tmp_path / "vault"
    shutil.copytree(path, work, symlinks=True)  # the tour changes the vault
    monkeypatch.chdir(work)  # as after the tour's `cd`: DEMO-KEY.txt is a relative path
    lines = [line.strip() for line in out.splitlines()]
    assert f"cd {path}" in lines or f"cd {shlex.quote(str(path))}" in lines
    commands = [shlex.split(line, comments=True) for line in lines if line.startswith(("dangan ", "git "))]
    assert 10 <= sum(argv[0] == "dangan" for argv in commands) <= 14, commands
    outputs: dict[str, str] = {}
    for argv in commands:
        if argv[0] == "git":
            argv = argv[: argv.index("|")] if "|" in argv else argv
            proc = subprocess.run(argv, cwd=work, capture_output=True, text=True, env={**os.environ, "GIT_PAGER": "cat"}, check=False)
            assert proc.returncode == 0, (argv, proc.stderr)
            outputs[" ".join(argv)] = proc.stdout
            continue
        result = run_cli(["-C", str(work), *argv[1:]])
        assert result.code == 0, (argv, result)
        outputs[" ".join(argv[1:])] = result.out
    assert outputs["ls --category SB --where system=elevator"].count("SB-") >= 4
    owner = next(out for cmd, out in outputs.items() if cmd.startswith("--identity") and cmd.endswith("--decrypt"))
    assert "‹encrypted" not in owner and re.search(r"id_number: '?320599", owner)
    # the diff driver: the complaint's history masks the complainant, shows the tour's change
    history = next(out for cmd, out in outputs.items() if cmd.startswith("git log -p"))
    assert re.search(r"\+  name: ‹encrypted [0-9a-f]{8}›", history), history
    assert "+status: resolved" in history and "ENC[" not in history and "sops:" not in history
    new_code = next(out for cmd, out in outputs.items() if cmd.startswith("new WX")).strip()
    assert new_code.startswith("WX-A01-01-")
    assert (work / path_to_code_path(new_code)).is_file()
    assert run_cli(["-C", str(work), "check"]).code == 0


def test_tour_lists_commands_in_order() -> None:
    result = {
        "path": "/tmp/x y",
        "records": 1,
        "commits": 2,
        "by_category": {"SB": 1},
        "examples": {
            "equipment": "SB-A01-01-0001",
            "repair": "WX-A01-01-0002",
            "complaint": "TS-A01-02-001-0301-0001",
            "room": "FW-A01-02-001-0301-0001",
            "project": "XM-A01-0001",
            "owner": "YZ-A01-02-001-0301-0001",
        },
    }
    text = tour(result)
    assert "cd '/tmp/x y'" in text
    commands = [cmd for cmd, _ in tour_commands(result)]
    assert commands[-1].startswith("git log")
    assert any(cmd.startswith("dangan show WX-A01-01-0002") for cmd in commands)
    assert any(cmd.startswith("dangan ls --location A01-01 --status done") for cmd in commands)
    assert f"dangan --identity {DEMO_KEY} show YZ-A01-02-001-0301-0001 --decrypt" in commands
    assert "git log -p -- vault/A01/02/001/0301/TS/TS-A01-02-001-0301-0001.yaml" in commands


def test_refuses_non_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("keep me\n", encoding="utf-8")
    before = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
    result = run_cli(["demo", str(target)])
    assert result.code == 2, result
    assert "not empty" in result.err
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == before
    assert (target / "notes.txt").read_text(encoding="utf-8") == "keep me\n"


def test_refuses_an_existing_vault(demo: tuple[Path, str]) -> None:
    path, _ = demo
    before = snapshot(path)
    result = run_cli(["demo", str(path)])
    assert result.code == 2, result
    assert snapshot(path) == before


def test_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    result = run_cli(["demo", str(target)])
    assert result.code == 2, result
    assert target.read_text(encoding="utf-8") == "x"



def test_large_profile_in_miniature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The large demo's machinery (all four kinds of project, commits split by office,
    sampled validation) on a few projects. `check=True`: every record
    checked with the demo key (schemas, MACs, canonical form DG113), or the build fails."""
    from dataclasses import replace

    from dangan import demo as demo_module

    mini = replace(demo_module.PROFILES["large"], residential=2, commercial=1, industrial=1, public=1,
                   buildings_range=(2, 2), floors=6, shops_per_floor=4, validate_every=7)
    monkeypatch.setitem(demo_module.PROFILES, "large", mini)
    fractions: list[float] = []
    result = demo_module.build_demo(tmp_path / "big", "large", progress=fractions.append, check=True)
    path = Path(result["path"])
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 1 and len(fractions) > 50
    types = {t["property_type"] for c, t in _stored(path).items() if c.startswith("XM-")}
    assert types == {"residential", "commercial", "industrial", "public"}
    assert 0.1 <= result["encrypted"] / result["records"] <= 0.35
    assert git(path, "status", "--porcelain") == ""
    subjects = git(path, "log", "--format=%s").splitlines()
    # the residential estates (A..) and the other projects commit apart, as two offices
    for commit in git(path, "rev-list", "HEAD", "--max-count=40").split():
        files = git(path, "show", "--name-only", "--format=", commit).split()
        assert len({f.startswith("vault/A") for f in files}) <= 1, commit
    firsts = {re.match(r"dangan \w+: \w\w-(\w)", s).group(1) for s in subjects if re.match(r"dangan \w+: \w\w-\w", s)}
    assert {"A", "B", "C", "D"} <= firsts or {"A", "B"} <= firsts
