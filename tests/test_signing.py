"""Signed role acts (issue 17; docs/signing.md, DG119), against a real bare server.

Keys are made by the real `ssh-keygen`; commits are signed by dangan (`--sign-key`) or by git
itself (`gpg.format=ssh`, which runs ssh-keygen), and dangan's signatures are checked by `git
verify-commit` too. The server is a bare repository running dangan's `pre-receive` hook.

The vault: 陳立新 approver, 張敏 archivist, 王芳 a reader; each with an SSH signing key in
vault.yaml, and `signed_role_acts: true`. One closed hygiene record (HJ, due since 2022) to
hold and destroy, one equipment record (SB) to lend.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, Result, git, run_cli, snapshot

from dangan.formats.agekeys import generate_identity, write_identity_file
from dangan.formats.yamlio import dump, load_text
from dangan.model.codes import parse_code

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (OpenSSH 8.2+)")

APPROVER, ARCHIVIST, READER, BORROWER = "陳立新", "張敏", "王芳", "趙偉"
VALID = REPO / "tests" / "schema_examples" / "valid"
HJ = "HJ-A01-0001"
HJ_PATH = parse_code(HJ).path
SB = "SB-A01-02-0001"
WITNESSES = ("--witness", "錢芳", "--witness", "孫麗")


def dg(root: Path, *args: str) -> Result:
    return run_cli(["-C", str(root), *args])


def ssh_key(folder: Path, name: str) -> tuple[Path, str]:
    """An ed25519 key pair made by ssh-keygen: (private key file, public key line)."""
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path, (folder / f"{name}.pub").read_text().strip()


def example(name: str, **changes: object) -> dict:
    tree = load_text((VALID / name).read_text("utf-8"))
    for key in ("refs", "retention"):
        tree.pop(key, None)
    tree.update(changes)
    return tree


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: ssh_key(folder, tag) for name, tag in
            ((APPROVER, "approver"), (ARCHIVIST, "archivist"), (READER, "reader"))}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, tuple[Path, str]]) -> Path:
    root = tmp_path_factory.mktemp("signed") / "vault"
    pairs = {name: generate_identity() for name in keys}
    ages = {name: public for name, (_secret, public) in pairs.items()}
    secret, public = pairs[APPROVER]
    write_identity_file(root.parent / "approver.age", secret, public)  # to open the encrypted hold
    made = run_cli(["init", str(root), *[a for name, key in ages.items() for a in ("--recipient", f"{name}={key}")]])
    assert made.code == 0, made
    config = load_text((root / "vault.yaml").read_text("utf-8"))
    roles = {APPROVER: ["approver"], ARCHIVIST: ["archivist"], READER: []}
    for entry in config["recipients"]:
        entry["roles"] = roles[entry["name"]]
        entry["signing_key"] = keys[entry["name"]][1]
    config["signed_role_acts"] = True
    (root / "vault.yaml").write_text(dump(config), encoding="utf-8")
    records = {HJ: example("HJ-tank-cleaning.yaml", code=HJ, title="水箱清洗", closed="2020-03-25"),
               SB: example("SB-elevator.yaml", code=SB)}
    for code, tree in records.items():
        target = root / parse_code(code).path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump(tree), encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "signing keys and records")  # signing is not required yet
    return root


@pytest.fixture
def v(base: Path, tmp_path: Path) -> Path:
    """A copy of the vault with a bare server (dangan's pre-receive) holding its history."""
    root = tmp_path / "vault"
    shutil.copytree(base, root, symlinks=True)
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    hook = bare / "hooks" / "pre-receive"
    shutil.copyfile(REPO / "hooks" / "pre-receive", hook)
    hook.chmod(0o755)
    git(root, "remote", "add", "origin", str(bare))
    pushed = push(root)
    assert pushed.returncode == 0, pushed.stderr
    return root


def push(root: Path, *args: str, verify: bool = False) -> subprocess.CompletedProcess[str]:
    """Push to the server; without the local pre-push hook unless `verify`: a writer with push
    access can skip their own hooks, the server judges."""
    options = [] if verify else ["--no-verify"]
    return subprocess.run(["git", "push", "-q", *options, "origin", "HEAD:main", *args], cwd=root,
                          capture_output=True, text=True, check=False)


def refused(proc: subprocess.CompletedProcess[str], rule: str = "DG119") -> bool:
    return proc.returncode != 0 and rule in proc.stderr and "pre-receive hook declined" in proc.stderr


def request(root: Path) -> str:
    made = dg(root, "lend", "request", SB, "--borrower", BORROWER, "--department", "工程部",
              "--purpose", "年檢", "--days", "3")
    assert made.code == 0, made
    return made.out.strip()


def approve_by_hand(root: Path) -> None:
    """The loan's approval by 陳立新 written into the file without dangan (not committed)."""
    path = next(p for p in git(root, "ls-files", "vault").split() if "/JY/" in p)
    tree = load_text((root / path).read_text("utf-8"))
    tree["events"].append({"at": tree["events"][0]["at"], "action": "approve", "by": APPROVER})
    tree["status"] = "approved"
    (root / path).write_text(dump(tree), encoding="utf-8")


def allowed_signers(tmp_path: Path, *publics: str) -> Path:
    path = tmp_path / "allowed_signers"
    path.write_text("".join(f"person@example.invalid namespaces=\"git\" {p}\n" for p in publics))
    return path


def verify_commit(root: Path, signers: Path, rev: str = "HEAD") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", rev], cwd=root,
                          capture_output=True, text=True, check=False)


# ------------------------------------------------------------------ loans

def test_a_loan_approved_with_the_approvers_key_is_accepted(v: Path, keys, tmp_path: Path) -> None:
    loan = request(v)  # a request is nobody's role act: unsigned is fine
    approved = dg(v, "lend", "approve", loan, "--by", APPROVER, "--sign-key", str(keys[APPROVER][0]))
    assert approved.code == 0, approved
    # git itself accepts dangan's signature, with the approver's key and only with it
    assert verify_commit(v, allowed_signers(tmp_path, keys[APPROVER][1])).returncode == 0
    assert verify_commit(v, allowed_signers(tmp_path, keys[READER][1])).returncode != 0
    assert dg(v, "check", "--range", "origin/main..HEAD").code == 0
    pushed = push(v)
    assert pushed.returncode == 0, pushed.stderr


def test_an_unsigned_approval_is_refused_by_dangan_and_by_the_server(v: Path) -> None:
    loan = request(v)
    before = snapshot(v)
    unsigned = dg(v, "lend", "approve", loan, "--by", APPROVER)
    assert unsigned.code == 2 and "must be signed" in unsigned.err and "--sign-key" in unsigned.err, unsigned
    assert snapshot(v) == before
    # the same approval by hand, committed without dangan: the server refuses it
    approve_by_hand(v)
    git(v, "commit", "-q", "-am", "approve by hand")
    checked = dg(v, "check", "--range", "origin/main..HEAD")
    assert checked.code == 1 and "DG119" in checked.out and "not signed" in checked.out, checked
    local = push(v, verify=True)  # the writer's own pre-push hook says no first
    assert local.returncode != 0 and "DG119" in local.stderr and "pre-receive" not in local.stderr
    pushed = push(v)
    assert refused(pushed), pushed.stderr
    assert f"{loan} event 2 (approve by {APPROVER}) is a role act, but the commit is not signed" in pushed.stderr


def test_an_approval_signed_with_someone_elses_key_is_refused(v: Path, keys) -> None:
    loan = request(v)
    before = snapshot(v)
    wrong = dg(v, "lend", "approve", loan, "--by", APPROVER, "--sign-key", str(keys[ARCHIVIST][0]))
    assert wrong.code == 1 and "DG119" in wrong.err, wrong
    assert snapshot(v) == before
    # signed by git with the archivist's key (ssh-keygen), committed by hand: refused on the server
    approve_by_hand(v)
    git(v, "-c", "gpg.format=ssh", "-c", f"user.signingKey={keys[ARCHIVIST][0]}", "commit", "-q", "-S", "-am", "x")
    pushed = push(v)
    assert refused(pushed), pushed.stderr
    assert "which the parent commit's vault.yaml does not give to 陳立新" in pushed.stderr


def test_gits_own_ssh_signing_is_used_and_accepted(v: Path, keys, tmp_path: Path) -> None:
    """An approver who set up git's SSH signing (ssh-keygen, an agent) needs no --sign-key."""
    loan = request(v)
    git(v, "config", "gpg.format", "ssh")
    git(v, "config", "user.signingKey", f"{keys[APPROVER][0]}.pub")
    approved = dg(v, "lend", "approve", loan, "--by", APPROVER)
    assert approved.code == 0, approved
    assert verify_commit(v, allowed_signers(tmp_path, keys[APPROVER][1])).returncode == 0
    pushed = push(v)
    assert pushed.returncode == 0, pushed.stderr


def test_a_key_granted_in_the_same_push_grants_nothing(v: Path, keys) -> None:
    """王芳 makes herself an approver and approves with her own key in one push: refused,
    because her vault.yaml change is itself a role act that an approver must sign."""
    config = load_text((v / "vault.yaml").read_text("utf-8"))
    for entry in config["recipients"]:
        if entry["name"] == READER:
            entry["roles"] = ["approver"]
    (v / "vault.yaml").write_text(dump(config), encoding="utf-8")
    git(v, "-c", "gpg.format=ssh", "-c", f"user.signingKey={keys[READER][0]}", "commit", "-q", "-S", "-am",
        "roles")
    loan = request(v)
    approved = dg(v, "lend", "approve", loan, "--by", READER, "--sign-key", str(keys[READER][0]))
    assert approved.code == 0, approved  # locally her new role is in force: the server decides
    pushed = push(v)
    assert refused(pushed), pushed.stderr
    assert "vault.yaml changed" in pushed.stderr and "does not give to a holder of the approver role" in pushed.stderr
    # the same change signed by the approver is accepted, and then her approval too
    git(v, "reset", "-q", "--hard", "origin/main")
    config_change = dg(v, "--sign-key", str(keys[APPROVER][0]), "recipients", "ls")
    assert config_change.code == 0
    (v / "vault.yaml").write_text(dump(config), encoding="utf-8")
    git(v, "-c", "gpg.format=ssh", "-c", f"user.signingKey={keys[APPROVER][0]}", "commit", "-q", "-S", "-am",
        "roles, signed by the approver")
    loan = request(v)
    assert dg(v, "lend", "approve", loan, "--by", READER, "--sign-key", str(keys[READER][0])).code == 0
    pushed = push(v)
    assert pushed.returncode == 0, pushed.stderr


# ------------------------------------------------------------------- holds

def test_a_hold_lifted_by_hand_is_refused_and_a_signed_release_accepted(v: Path, keys, base: Path) -> None:
    held = dg(v, "retention", "hold", HJ, "--reason", "訴訟", "--by", APPROVER, "--party", "某業主",
              "--sign-key", str(keys[APPROVER][0]))
    assert held.code == 0, held
    assert push(v).returncode == 0
    hold = held.out.strip()
    path = f"vault/BQ/{hold}.yaml"
    # the reproduction: clear status edited, a release event appended, --no-verify
    text = (v / path).read_text("utf-8").replace("status: active", "status: released")
    tree = load_text(text)
    tree["events"].append({"at": tree["events"][0]["at"], "action": "release", "by": APPROVER, "reason": "x"})
    (v / path).write_text(dump(tree), encoding="utf-8")
    git(v, "commit", "-q", "--no-verify", "-am", "release")
    pushed = push(v)
    assert refused(pushed), pushed.stderr
    assert f"{hold} event 2 (release by {APPROVER})" in pushed.stderr
    git(v, "reset", "-q", "--hard", "origin/main")
    identity = base.parent / "approver.age"
    released = dg(v, "retention", "release", hold, "--reason", "結案", "--by", APPROVER,
                  "--sign-key", str(keys[APPROVER][0]), "--identity", str(identity))
    assert released.code == 0, released
    pushed = push(v)
    assert pushed.returncode == 0, pushed.stderr


# ------------------------------------------------------------- destruction

def plan_file(root: Path, tmp_path: Path) -> Path:
    out = tmp_path / "plan.yaml"
    made = dg(root, "retention", "plan", "--as-of", "2024-01-01", "--category", "HJ", "--out", str(out))
    assert made.code == 0, made
    return out


def test_a_destruction_approved_and_carried_out_by_signed_commits(v: Path, keys, tmp_path: Path) -> None:
    plan = plan_file(v, tmp_path)
    unapproved = dg(v, "retention", "apply", str(plan), *WITNESSES, "--method", "碎紙機粉碎", "--place", "檔案室",
                    "--by", ARCHIVIST, "--sign-key", str(keys[ARCHIVIST][0]))
    assert unapproved.code == 1 and "has not been approved" in unapproved.err, unapproved
    wrong = dg(v, "retention", "approve", str(plan), "--by", APPROVER, "--sign-key", str(keys[ARCHIVIST][0]))
    assert wrong.code == 1 and "DG119" in wrong.err, wrong
    # the approver, on their own machine: a signed commit that changes no file, pushed
    approved = dg(v, "retention", "approve", str(plan), "--by", APPROVER, "--sign-key", str(keys[APPROVER][0]))
    assert approved.code == 0, approved
    assert push(v).returncode == 0
    done = dg(v, "retention", "apply", str(plan), *WITNESSES, "--method", "碎紙機粉碎", "--place", "檔案室",
              "--by", ARCHIVIST, "--sign-key", str(keys[ARCHIVIST][0]))
    assert done.code == 0, done
    certificate = load_text((v / "vault/XH/XH-0001.yaml").read_text("utf-8"))
    assert certificate["approval"] == approved.out.strip() and certificate["approved_by"] == APPROVER
    pushed = push(v)
    assert pushed.returncode == 0, pushed.stderr


def test_an_approval_signed_by_the_wrong_key_backs_no_destruction(v: Path, keys, tmp_path: Path) -> None:
    plan = plan_file(v, tmp_path)
    approved = dg(v, "retention", "approve", str(plan), "--by", APPROVER, "--sign-key", str(keys[APPROVER][0]))
    assert approved.code == 0
    # the archivist forges an approval: the same commit re-signed with their own key
    raw = subprocess.run(["git", "cat-file", "commit", "HEAD"], cwd=v, capture_output=True, check=True).stdout
    from dangan.formats import sshsig

    forged = sshsig.sign_commit(raw, sshsig.load_private_key(keys[ARCHIVIST][0].read_bytes()))
    new = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=v, input=forged,
                         capture_output=True, check=True).stdout.decode().strip()
    git(v, "update-ref", "HEAD", new)
    done = dg(v, "retention", "apply", str(plan), *WITNESSES, "--method", "碎紙機粉碎", "--place", "檔案室",
              "--by", ARCHIVIST, "--sign-key", str(keys[ARCHIVIST][0]))
    assert done.code == 1 and "DG119" in done.err, done
    pushed = push(v)
    assert refused(pushed) and "approval of a destruction" in pushed.stderr, pushed.stderr


def test_a_certificate_without_an_approval_is_refused_by_the_server(v: Path, keys) -> None:
    certificate = load_text((VALID / "XH-certificate.yaml").read_text("utf-8"))
    blob = git(v, "rev-parse", f"HEAD:{HJ_PATH}").strip()
    item = dict(certificate["items"][0], code=HJ, category="HJ", blob=blob, trigger="2020-03-25", due="2022-03-25",
                rule={"keep": "P2Y", "after": "closed", "action": "destroy"}, title="水箱清洗")
    certificate.update(code="XH-0001", approved_by=APPROVER, carried_out_by=ARCHIVIST, items=[item],
                       plan_as_of="2024-01-01", witnesses=["錢芳", "孫麗"])
    certificate.pop("approval", None)
    (v / "vault/XH").mkdir(parents=True)
    (v / "vault/XH/XH-0001.yaml").write_text(dump(certificate), encoding="utf-8")
    git(v, "rm", "-q", HJ_PATH)
    git(v, "add", "-A")
    env = {**os.environ}
    subprocess.run(["git", "-c", "gpg.format=ssh", "-c", f"user.signingKey={keys[ARCHIVIST][0]}", "commit", "-q",
                    "-S", "--no-verify", "-m", "destroyed"], cwd=v, check=True, env=env)
    pushed = push(v)
    assert refused(pushed), pushed.stderr
    assert "XH-0001 names no approval" in pushed.stderr


def test_a_release_signed_by_another_key_is_refused(v: Path, keys, base: Path) -> None:
    held = dg(v, "retention", "hold", HJ, "--reason", "訴訟", "--by", APPROVER, "--sign-key", str(keys[APPROVER][0]))
    assert held.code == 0, held
    assert push(v).returncode == 0
    hold = held.out.strip()
    before = snapshot(v)
    wrong = dg(v, "retention", "release", hold, "--reason", "結案", "--by", APPROVER,
               "--sign-key", str(keys[ARCHIVIST][0]))
    assert wrong.code == 1 and "DG119" in wrong.err and "does not give to 陳立新" in wrong.err, wrong
    assert snapshot(v) == before


def test_an_approvers_key_swapped_in_the_same_push_is_refused(v: Path, keys) -> None:
    """The archivist puts their own key in place of the approver's and approves as 陳立新:
    the approval holds under the new vault.yaml, but the swap needed the old key."""
    config = load_text((v / "vault.yaml").read_text("utf-8"))
    for entry in config["recipients"]:
        if entry["name"] == APPROVER:
            entry["signing_key"] = keys[ARCHIVIST][1]
    (v / "vault.yaml").write_text(dump(config), encoding="utf-8")
    git(v, "-c", "gpg.format=ssh", "-c", f"user.signingKey={keys[ARCHIVIST][0]}", "commit", "-q", "-S", "-am", "keys")
    loan = request(v)
    assert dg(v, "lend", "approve", loan, "--by", APPROVER, "--sign-key", str(keys[ARCHIVIST][0])).code == 0
    pushed = push(v)
    assert refused(pushed), pushed.stderr
    lines = [line for line in pushed.stderr.splitlines() if "DG119" in line]
    assert len(lines) == 1 and "remote: vault.yaml: DG119 vault.yaml changed is signed by" in lines[0], pushed.stderr


def test_a_merge_keeps_the_signed_approval_and_a_squash_loses_it(v: Path, keys) -> None:
    """On a pull request's branch the approver signs; a merge commit (unsigned, as a host
    makes it) carries no act of its own and is accepted; a squash of the same branch is one
    unsigned commit that carries the approval: refused."""
    loan = request(v)
    assert push(v).returncode == 0
    trunk = git(v, "rev-parse", "--abbrev-ref", "HEAD").strip()
    git(v, "switch", "-q", "-c", "loan")
    assert dg(v, "lend", "approve", loan, "--by", APPROVER, "--sign-key", str(keys[APPROVER][0])).code == 0
    git(v, "switch", "-q", trunk)
    (v / "notes.txt").write_text("meanwhile\n", encoding="utf-8")  # main moved on: a real merge
    git(v, "add", "notes.txt")
    git(v, "commit", "-q", "-m", "meanwhile")
    base = git(v, "rev-parse", "HEAD").strip()
    git(v, "merge", "-q", "--no-ff", "--no-edit", "loan")
    assert len(git(v, "rev-list", "--parents", "-1", "HEAD").split()) == 3
    assert dg(v, "check", "--range", f"{base}..HEAD").code == 0
    pushed = push(v)
    assert pushed.returncode == 0, pushed.stderr
    # the squash: the same change as one new commit, without the approver's signature
    git(v, "reset", "-q", "--hard", base)
    git(v, "merge", "-q", "--squash", "loan")
    git(v, "commit", "-q", "--no-verify", "-m", "squashed")
    checked = dg(v, "check", "--range", f"{base}..HEAD")
    assert checked.code == 1 and f"{loan} event 2 (approve by {APPROVER}) is a role act" in checked.out, checked
