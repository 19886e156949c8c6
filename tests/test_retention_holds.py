"""Legal holds are verified (issue 17, part 4; docs/retention.md §4).

`retention plan` and `retention apply` read every hold through its MAC when a key opens it
and refuse while one fails; without a key they say which encrypted holds they could not
verify, and apply refuses unless told to trust them. A hold's `status` that contradicts its
events is DG112, and only the events decide whether a hold is active.

One back-dated vault per module whose recipients' keys the tests hold (an approver and an
archivist), plus a stranger's key that opens nothing. Dates are pinned (`--as-of`, `--at`).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, git, run_cli, snapshot
from test_retention import APPROVER, ARCHIVIST, WITNESSES, commit_files, findings, hj, path_of

from dangan.formats.agekeys import generate_identity, write_identity_file
from dangan.formats.yamlio import dump, load_text
from dangan.model.disposal import hold_active, hold_problems

HELD = "HJ-A01-0002"  # closed 2022-02-28, P2Y: due 2024-02-28
OTHER = "HJ-A01-0001"  # closed 2022-03-25: due 2024-03-25, never held
AS_OF = "2024-03-25"
BQ = "vault/BQ/BQ-0001.yaml"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vault whose two recipients' identities are in keys/ next to it (0600)."""
    base = tmp_path_factory.mktemp("holds")
    root = base / "vault"
    keys = base / "keys"
    keys.mkdir(mode=0o700)
    publics = []
    for name in ("approver", "archivist", "stranger"):
        secret, public = generate_identity()
        write_identity_file(keys / f"{name}.txt", secret, public)
        publics.append(public)
    made = run_cli(["init", str(root), "--recipient", f"{APPROVER}={publics[0]}",
                    "--recipient", f"{ARCHIVIST}={publics[1]}"])
    assert made.code == 0, made
    config = load_text((root / "vault.yaml").read_text("utf-8"))
    config["recipients"][0]["roles"] = ["approver"]
    config["recipients"][1]["roles"] = ["archivist"]
    (root / "vault.yaml").write_text(dump(config), encoding="utf-8")
    git(root, "add", "vault.yaml")
    files = {path_of(f"HJ-A01-{n:04d}"): hj(n, closed) for n, closed in ((1, "2022-03-25"), (2, "2022-02-28"))}
    proc = commit_files(root, "records and roles", files, "2022-04-01T10:00:00+08:00")
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def kv(keyed: Path, tmp_path: Path) -> Path:
    """A copy of the keyed vault (and its keys) that a test may change."""
    shutil.copytree(keyed.parent, tmp_path / "copy", symlinks=True)
    return tmp_path / "copy" / "vault"


def key(root: Path, name: str = "archivist") -> str:
    return str(root.parent / "keys" / f"{name}.txt")


def dg(root: Path, *args: str) -> Result:
    return run_cli(["-C", str(root), *args])


def plan(root: Path, *extra: str) -> Result:
    return dg(root, "retention", "plan", "--as-of", AS_OF, *extra)


def plan_doc(root: Path, *extra: str) -> dict[str, Any]:
    result = plan(root, "--json", *extra)
    assert result.code == 0, result
    return json.loads(result.out)


def write_plan(root: Path, *extra: str) -> Path:
    out = root.parent / "plan.yaml"
    made = plan(root, "--out", str(out), *extra)
    assert made.code == 0, made
    return out


def apply(root: Path, plan_file: Path, *extra: str) -> Result:
    """The approver approves the plan (`retention approve`, with the same identity), then
    the archivist applies it. A refused approval is the answer; when the apply is refused,
    the approval commit (it changes no file) is dropped again: the vault is as it was."""
    head = git(root, "rev-parse", "HEAD").strip()
    identity = list(extra[extra.index("--identity"):extra.index("--identity") + 2]) if "--identity" in extra else []
    approved = dg(root, "retention", "approve", str(plan_file), "--by", APPROVER, *identity)
    if approved.code != 0:
        return approved
    done = dg(root, "retention", "apply", str(plan_file), *WITNESSES,
              "--method", "碎紙機粉碎", "--place", "總部檔案室", "--by", ARCHIVIST,
              "--at", "2024-03-26T10:00:00+08:00", *extra)
    if done.code != 0:
        git(root, "reset", "-q", "--soft", head)
    return done


def encrypted_hold(root: Path) -> None:
    """BQ-0001 over HELD, with a party: sealed with SOPS, its MAC covers every value."""
    held = dg(root, "retention", "hold", HELD, "--reason", "業主訴訟，證據保全", "--by", APPROVER,
              "--case", "(2024)蘇0506民初1號", "--party", "林曉東", "--at", "2024-03-01T09:00:00+08:00")
    assert held.code == 0 and held.out == "BQ-0001\n", held
    stored = (root / BQ).read_text("utf-8")
    assert "sops:" in stored and "林曉東" not in stored


def forge_release(root: Path, status: str = "released", event: bool = True) -> None:
    """Lift the hold without a key: edit the clear status, append a release event, and
    commit past the hooks (the reproduction of issue 17, part 4)."""
    tree = load_text((root / BQ).read_text("utf-8"))
    tree["status"] = status
    if event:
        tree["events"].append({"at": "2024-03-10T09:00:00+08:00", "action": "release", "by": APPROVER,
                               "reason": "已結案"})
    proc = commit_files(root, "release BQ-0001", {BQ: tree}, verify=False)
    assert proc.returncode == 0, proc.stderr


def test_a_forged_release_is_refused_with_a_key(kv: Path) -> None:
    encrypted_hold(kv)
    assert [i["code"] for i in plan_doc(kv, "--identity", key(kv))["due"]] == [OTHER]
    # a plan made without a key trusts the clear fields of the forged release, and says so
    forge_release(kv)
    keyless = write_plan(kv)
    document = load_text(keyless.read_text("utf-8"))
    assert [i["code"] for i in document["due"]] == [OTHER, HELD]
    assert document["unverified_holds"] == ["BQ-0001"]

    refused = plan(kv, "--identity", key(kv))
    assert refused.code == 1, refused
    assert "BQ-0001" in refused.err and "fail verification" in refused.err and "restore it" in refused.err
    assert refused.out == ""
    before = snapshot(kv)
    for extra in (("--identity", key(kv)), ("--identity", key(kv, "approver"))):
        done = apply(kv, keyless, *extra)
        assert done.code == 1 and "BQ-0001" in done.err and "fail verification" in done.err, done
        assert snapshot(kv) == before and (kv / path_of(HELD)).exists()
    # without a key apply refuses too: it cannot tell a forged release from a real one
    done = apply(kv, keyless)
    assert done.code == 1 and "could not be verified without a key: BQ-0001" in done.err, done
    assert "--accept-unverified-holds" in done.err and snapshot(kv) == before
    # and `dangan check` with the key names the altered hold
    checked = dg(kv, "--identity", key(kv), "check")
    assert checked.code == 1 and (BQ, "DG107") in findings(checked.out), checked


def test_a_hold_edited_only_in_its_status_still_holds(kv: Path) -> None:
    """`status: released` without a release event lifts nothing, with or without a key."""
    encrypted_hold(kv)
    forge_release(kv, event=False)
    document = plan_doc(kv)
    assert [i["code"] for i in document["due"]] == [OTHER]
    assert [i["holds"] for i in document["not_due"] if i["code"] == HELD] == [["BQ-0001"]]
    assert plan(kv, "--identity", key(kv)).code == 1  # and the MAC gives it away


def test_without_a_key_the_plan_says_what_it_could_not_verify(kv: Path) -> None:
    encrypted_hold(kv)
    text = plan(kv)
    assert text.code == 0, text
    assert ("not verified: 1 encrypted hold(s) could not be verified without a key: BQ-0001;"
            in text.out.splitlines()[1]), text
    assert plan_doc(kv)["unverified_holds"] == ["BQ-0001"]
    # a key that is no recipient of the hold verifies nothing either
    assert plan_doc(kv, "--identity", key(kv, "stranger"))["unverified_holds"] == ["BQ-0001"]
    verified = plan(kv, "--identity", key(kv))
    assert verified.code == 0 and "not verified" not in verified.out, verified
    document = plan_doc(kv, "--identity", key(kv))
    assert document["unverified_holds"] == [] and [i["code"] for i in document["due"]] == [OTHER]
    # the key may also come from the environment, as for every command that decrypts
    env = run_cli(["-C", str(kv), "retention", "plan", "--as-of", AS_OF, "--json"],
                  env={"SOPS_AGE_KEY_FILE": key(kv, "approver")})
    assert env.code == 0 and json.loads(env.out)["unverified_holds"] == [], env


def test_a_hold_released_by_dangan_is_accepted(kv: Path) -> None:
    encrypted_hold(kv)
    released = dg(kv, "retention", "release", "BQ-0001", "--reason", "判決生效", "--by", APPROVER,
                  "--at", "2024-03-10T09:00:00+08:00", "--identity", key(kv))
    assert released.code == 0, released
    plan_file = write_plan(kv, "--identity", key(kv))
    document = load_text(plan_file.read_text("utf-8"))
    assert [i["code"] for i in document["due"]] == [OTHER, HELD] and document["unverified_holds"] == []
    before = snapshot(kv)
    keyless = apply(kv, plan_file)
    assert keyless.code == 1 and "could not be verified" in keyless.err and snapshot(kv) == before, keyless
    done = apply(kv, plan_file, "--identity", key(kv), "--json")
    assert done.code == 0, done
    assert json.loads(done.out)["destroyed"] == [OTHER, HELD] and json.loads(done.out)["unverified_holds"] == []
    assert not (kv / path_of(HELD)).exists() and "warning" not in done.err


def test_apply_without_a_key_proceeds_only_when_told(kv: Path) -> None:
    encrypted_hold(kv)
    released = dg(kv, "retention", "release", "BQ-0001", "--reason", "判決生效", "--by", APPROVER,
                  "--at", "2024-03-10T09:00:00+08:00", "--identity", key(kv))
    assert released.code == 0, released
    plan_file = write_plan(kv)
    done = apply(kv, plan_file, "--accept-unverified-holds")
    assert done.code == 0, done
    assert "warning: 1 encrypted hold(s) could not be verified without a key: BQ-0001" in done.err
    assert not (kv / path_of(HELD)).exists()


def test_a_clear_hold_needs_no_key(kv: Path) -> None:
    """A hold without parties has no sops block and no MAC: nothing to verify or report."""
    held = dg(kv, "retention", "hold", HELD, "--reason", "稽查", "--by", APPROVER, "--at", "2024-03-01T09:00:00+08:00")
    assert held.code == 0, held
    assert "sops" not in (kv / BQ).read_text("utf-8")
    document = plan_doc(kv)
    assert document["unverified_holds"] == [] and [i["code"] for i in document["due"]] == [OTHER]
    assert apply(kv, write_plan(kv)).code == 0


def test_an_unreadable_hold_refuses_the_plan(kv: Path) -> None:
    """A hold that cannot be read keeps nothing it names: the plan refuses rather than drop it."""
    encrypted_hold(kv)
    (kv / BQ).write_text("code: BQ-0001\n  broken: [\n", encoding="utf-8")
    git(kv, "add", BQ)
    git(kv, "commit", "-q", "--no-verify", "-m", "break BQ-0001")
    for extra in ((), ("--identity", key(kv))):
        refused = plan(kv, *extra)
        assert refused.code == 1 and "BQ-0001 is not readable" in refused.err, refused


@pytest.mark.parametrize("status, events, wrong", [
    ("released", ["hold"], "status is 'released' but the events say 'active'"),
    ("active", ["hold", "release"], "status is 'active' but the events say 'released'"),
])
def test_a_status_that_contradicts_the_events_is_dg112(kv: Path, status: str, events: list[str], wrong: str) -> None:
    tree = load_text((Path(__file__).parent / "schema_examples/valid/BQ-hold.yaml").read_text("utf-8"))
    tree.update(code="BQ-0001", targets=[HELD], status=status)
    tree.pop("parties", None)
    tree.pop("refs", None)
    first = tree["events"][0]
    tree["events"] = [{**first, "action": action, "at": f"2024-03-0{n + 1}T09:00:00+08:00"}
                      for n, action in enumerate(events)]
    before = snapshot(kv)
    refused = commit_files(kv, "a hold by hand", {BQ: tree})
    assert refused.returncode != 0 and f"{BQ}: DG112 {wrong}" in refused.stderr, refused.stderr
    git(kv, "reset", "-q", "--hard")
    assert snapshot(kv) == before
    assert commit_files(kv, "a hold by hand", {BQ: tree}, verify=False).returncode == 0
    checked = dg(kv, "check")
    assert checked.code == 1 and f"{BQ}: DG112 {wrong}" in checked.out, checked
    # the events decide, whatever the status says
    due = [i["code"] for i in plan_doc(kv)["due"]]
    assert due == ([OTHER] if events == ["hold"] else [OTHER, HELD])
    # consistent again: no finding
    tree["status"] = "active" if events == ["hold"] else "released"
    assert hold_problems(tree) == []


def test_hold_active_reads_the_events_only() -> None:
    hold = {"events": [{"action": "hold"}]}
    assert hold_active({**hold, "status": "released"}) and hold_active({**hold, "status": "active"})
    released = {"events": [{"action": "hold"}, {"action": "release"}]}
    assert not hold_active({**released, "status": "active"}) and not hold_active(released)
    assert hold_active({"status": "released"})  # no events: the safe side keeps
    assert hold_problems({"status": "released"}) == ["status is 'released' but the events say 'active'"]
    assert hold_problems(hold) == []  # no status: nothing to contradict
