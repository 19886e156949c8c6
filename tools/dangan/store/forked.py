"""Work done on the other core by a forked child, for the readers of a whole commit and
for `diff` (half of the records it decrypts, services/history.py).

`gaps` ends with work on one core while the other is idle: the rules that need only the
records (the expected records), and writing what it read to its caches (a JSON encoding of
70,000 entries). Python threads share one interpreter lock, so a thread would not run them
at the same time; a forked child does, and inherits the records without copying them
through a pipe. Only the child's answer comes back, pickled (the parent made it, so it is
trusted like the parent's own memory).

    with Forked(compute, then=write_caches) as child:
        ...                       # the parent's own part
        answer = child.result()   # compute()'s value, as if called here
    # the child has ended: its `then` (the cache writes) is done

The child runs `compute`, sends its value, closes the pipe, then runs `then` (whose
failure only costs the next run time) and exits with `os._exit` (no flush of the parent's
buffers, no atexit). When the child fails, cannot be forked, or the platform has no fork,
`result()` computes in this process instead: the same answer, slower. Objects that exist
at the fork are frozen (`gc.freeze`) so that the child's collector does not copy the
parent's memory page by page. Fork only where no thread of ours is running.

`behind(work)` is the same child with nothing to answer: what a reader keeps of its answer
(a JSON encoding of 100 MB at a million records) is written by it while the command shows
the answer; the command line waits for it (`join_behind`) before it ends, so the next
command finds it written. In a forked child already, that child does it once it has sent
its answer (`stats` waits for the `gaps` section, not for what `gaps` keeps).
"""
from __future__ import annotations

import gc
import os
import pickle
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_behind: list[Forked[None]] = []
_in_child = False
_after_answer: list[Callable[[], Any]] = []  # in a child: behind() work, done once it has answered


class Forked(Generic[T]):
    def __init__(self, compute: Callable[[], T], then: Callable[[], Any] | None = None) -> None:
        self._compute, self._then = compute, then
        self._pid: int | None = None
        self._fd: int | None = None
        self._answer: tuple[bool, Any] | None = None
        if not hasattr(os, "fork"):
            return
        read, write = os.pipe()
        gc.freeze()
        try:
            pid = os.fork()
        except OSError:  # no memory or process left for a child: the work is done here
            gc.unfreeze()
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # pragma: no cover - the child (its work is checked through the parent)
            self._child(read, write)
        gc.unfreeze()  # the child keeps its frozen generation: it exits soon
        os.close(write)
        self._pid, self._fd = pid, read

    def _child(self, read: int, write: int) -> None:  # pragma: no cover - runs in the child
        global _in_child
        _in_child = True
        _behind.clear()  # the parent's to wait for
        _after_answer.clear()  # a grandchild: its parent's, done by its parent
        code = 0
        try:
            os.close(read)
            try:
                data = pickle.dumps(self._compute(), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:
                data, code = b"", 1
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(write, view):]
                os.close(write)
            except OSError:  # the parent closed the pipe: it will not ask
                code = code or 3
                return
            for work in [*_after_answer, *([self._then] if self._then is not None and code == 0 else [])]:
                try:
                    work()
                except BaseException:
                    code = code or 2
        finally:
            os._exit(code)

    def result(self) -> T:
        """compute()'s value: the child's, or computed here when the child had none."""
        if self._answer is None:
            self._answer = self._collect()
        ok, value = self._answer
        if ok:
            return value  # type: ignore[no-any-return]
        value = self._compute()
        self._answer = (True, value)
        return value

    def _collect(self) -> tuple[bool, Any]:
        if self._fd is None:
            return (False, None)
        pieces = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                pieces.append(chunk)
        finally:
            os.close(self._fd)
            self._fd = None
        data = b"".join(pieces)
        if not data:  # the child failed before it answered: wait for it, compute here
            self.join()
            return (False, None)
        try:
            return (True, pickle.loads(data))
        except Exception:  # a torn answer (the child was killed while writing)
            return (False, None)

    def join(self, work: bool = True) -> bool:
        """Wait for the child's end (its `then` done); True when the child did all its work.
        Without a child, the work is done here (`work=False`: not, the caller is failing). A
        child whose answer was never read is told so by the pipe's closing (its write fails)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._pid is None:
            if work:  # the child's work, done here: its answer, then its after-work
                if self._answer is None or not self._answer[0]:
                    self.result()
                then, self._then = self._then, None
                if then is not None:
                    then()
            return False
        pid, self._pid = self._pid, None
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                return False
        return os.waitstatus_to_exitcode(status) == 0

    def __enter__(self) -> Forked[T]:
        return self

    def __exit__(self, failed: type[BaseException] | None, *_exc: object) -> None:
        self.join(work=failed is None)


def _nothing() -> None:
    return None


def behind(work: Callable[[], Any]) -> None:
    """`work` done by a forked child while this process goes on; join_behind() waits for
    it. In a forked child, done by it once it has sent its answer (its parent waits for
    its end); where there is no fork, here and now."""
    if _in_child:
        _after_answer.append(work)
        return
    if not hasattr(os, "fork"):
        work()
        return
    _behind.append(Forked(_nothing, then=work))


def join_behind() -> None:
    """Wait for the work behind() started (or do it here, when no child could be forked)."""
    while _behind:
        child = _behind.pop()
        child.result()  # read before the pipe is closed: a child whose answer is unread stops
        child.join()
