"""store/forked.py: work done by a forked child, its answer as if computed here."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dangan.store.forked import Forked


def test_the_child_computes_and_then_runs_its_after_work(tmp_path: Path) -> None:
    parent = os.getpid()
    done = tmp_path / "written"

    def then() -> None:
        time.sleep(0.2)  # the parent's join waits for it
        done.write_text(str(os.getpid()))

    with Forked(lambda: (os.getpid(), list(range(100_000))), then=then) as child:
        pid, numbers = child.result()
        assert numbers == list(range(100_000))  # more than a pipe holds: read while written
        assert pid != parent  # computed in the child
    assert done.read_text() == str(pid)  # the child's, done by the end of the block


def test_a_child_that_fails_leaves_the_answer_to_the_parent() -> None:
    parent = os.getpid()

    def compute() -> int:
        if os.getpid() != parent:
            os._exit(3)  # the child dies before answering
        return 42

    with Forked(compute) as child:
        assert child.result() == 42
        assert child.result() == 42  # computed once


def test_an_answer_never_read_does_not_hold_the_parent() -> None:
    child = Forked(lambda: b"x" * 5_000_000)  # more than a pipe holds
    # the parent failed before it asked: closing the pipe fails the child's write, it exits
    assert child.join() is False


def test_an_exception_in_the_child_is_raised_by_the_parent() -> None:
    def compute() -> int:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"), Forked(compute) as child:
        child.result()


def test_without_fork_the_work_is_done_here(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delattr(os, "fork")
    done = tmp_path / "written"
    with Forked(lambda: done.write_text("x")):
        pass  # nobody asks: the work is done all the same by the end of the block
    assert done.read_text() == "x"
    with Forked(os.getpid, then=lambda: done.write_text("y")) as child:
        assert child.result() == os.getpid()
    assert done.read_text() == "y"


def test_work_behind_is_done_by_a_child_and_waited_for(tmp_path: Path) -> None:
    """behind(): a child does the work while the parent goes on; join_behind() waits for it.
    In a forked child already, that child does it after it has answered (not a grandchild)."""
    from dangan.store import forked

    parent = os.getpid()
    done = tmp_path / "written"

    def work() -> None:
        time.sleep(0.3)
        done.write_text(str(os.getpid()))

    forked.behind(work)
    assert not done.exists()  # the parent went on
    forked.join_behind()
    assert done.read_text() != str(parent)  # the child's, written by the time join_behind returned

    inner = tmp_path / "inner"

    def in_a_child() -> bool:
        forked.behind(lambda: (time.sleep(0.3), inner.write_text(str(os.getpid()))))
        return inner.exists()  # not yet: done once the child has answered

    with Forked(in_a_child) as child:
        assert child.result() is False
    assert inner.read_text() != str(parent)  # done by the child before its end, which the block waited for
