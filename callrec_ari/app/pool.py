"""A pool of worker processes driven from the event loop, with no thread of the app's in between.

Each worker is a spawned process (nothing of the app's loop or threads is inherited) with a pipe of
its own: the loop writes a task to it and reads the answer back when the pipe is readable. A worker
takes one task at a time, so an idle one takes the next and a task never waits behind another
worker's long one.

``concurrent.futures.ProcessPoolExecutor`` did the same work through two threads of its own in the
app (its manager's and its queue's feeder) and one more in each worker, each task a wake-up of each
and the GIL passed between them and the event loop, for every call that ends (docs/performance.md:
"The hand-over without the executor's threads").

A worker that dies (killed, out of memory) is replaced, and its task given to another once more; a
second death on the same task fails it with ``BrokenProcessPool``, as the executor did.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Self, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
CLOSE_WAIT_S = 60.0  # a worker's last task, at the app's stop
_READY = "ready"  # a worker's first message: its start is done


class WorkFailed(Exception):
    """A worker's failure that could not be carried back as it was (it would not pickle)."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(error_id, message)
        self.error_id = error_id
        self.message = message

    def __str__(self) -> str:
        return self.message

    @classmethod
    def of(cls, exc: BaseException) -> Self:
        """``exc`` as this failure: its ``error_id`` (or its type's name) and its message."""
        return cls(getattr(exc, "error_id", type(exc).__name__), str(exc))


@dataclass(slots=True)
class _Task:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    done: asyncio.Future[Any]
    attempt: int = 1


@dataclass(slots=True, eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    task: _Task | None = None  # the one it works on


class ProcessPool:
    """``size`` workers, each started with ``initializer(*initargs)``; :meth:`run` from the event loop
    that started them, :meth:`close` from anywhere."""

    def __init__(self, size: int, initializer: Callable[..., None], initargs: tuple[Any, ...],
                 name: str = "callrec-worker", nice: int = 0) -> None:
        self.size = size
        # Each worker's CPU priority below this process's, from its first instruction: a worker's start
        # (a new interpreter importing the app, a second or two of CPU) would otherwise run at ours,
        # beside the calls of an app that starts, or restarts, while calls are up.
        self._nice = nice
        self._initializer = initializer
        self._initargs = initargs
        self._name = name
        self._workers: list[_Worker] = []
        self._waiting: deque[_Task] = deque()
        self._readiness = asyncio.Event()
        self._closed = False
        self._atexit = False

    @property
    def processes(self) -> dict[int, BaseProcess]:
        """The worker processes now, by pid."""
        return {w.process.pid: w.process for w in self._workers if w.process.pid is not None}

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker: its result, or what it raised."""
        self._top_up()
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Task(fn, args, done))
        self._dispatch()
        return await done

    async def start(self, timeout: float) -> int:
        """Start every worker now and wait, up to ``timeout`` seconds, until each is past its start: how
        many are. (A pool not started starts its workers at the first :meth:`run`.)"""
        self._top_up()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self._closed and sum(w.ready for w in self._workers) < self.size:
                    self._readiness.clear()
                    await self._readiness.wait()
        return sum(w.ready for w in self._workers)

    def close(self) -> None:
        """Each worker ends after its task, and is waited for (any thread; once no work is left)."""
        self._closed = True
        if self._atexit:
            atexit.unregister(self._let_go)  # nothing left to let go at exit: not kept alive for it
            self._atexit = False
        workers = list(self._workers)
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in workers:
            worker.process.join(CLOSE_WAIT_S)
            if worker.process.is_alive():
                log.error("%s: worker %s did not end in %.0fs: killed", self._name, worker.process.pid,
                          CLOSE_WAIT_S)
                worker.process.kill()
                worker.process.join()

    def _let_go(self) -> None:
        self._closed = True
        for worker in list(self._workers):
            with contextlib.suppress(OSError):
                worker.conn.close()  # end of file: the worker ends

    # ---- on the event loop ------------------------------------------------------------------------
    def _top_up(self) -> None:
        if not self._atexit:
            # A process that ends without close() (an error on the way out) still lets its workers go:
            # multiprocessing waits at exit for every child it started, and ours wait for their pipe.
            atexit.register(self._let_go)
            self._atexit = True
        while len(self._workers) < self.size and not self._closed:
            context = multiprocessing.get_context("spawn")
            ours, theirs = context.Pipe(duplex=True)
            process = context.Process(target=_serve, args=(theirs, self._initializer, self._initargs),
                                      name=self._name)
            process.start()
            if self._nice and process.pid is not None:
                with contextlib.suppress(OSError):  # already gone: its loss is told as any other
                    mine = os.getpriority(os.PRIO_PROCESS, 0)
                    os.setpriority(os.PRIO_PROCESS, process.pid, min(19, mine + self._nice))
            theirs.close()
            worker = _Worker(process, ours)
            self._workers.append(worker)
            asyncio.get_running_loop().add_reader(ours.fileno(), self._readable, worker)

    def _readable(self, worker: _Worker) -> None:
        try:
            answer = worker.conn.recv()
        except (EOFError, OSError):
            self._lost(worker)
            return
        except Exception as exc:  # an answer that cannot be read back here
            answer = (False, WorkFailed.of(exc))
        if answer == _READY:
            worker.ready = True
            self._readiness.set()
        else:
            task, worker.task = worker.task, None
            if task is not None and not task.done.done():
                ok, value = answer
                if ok:
                    task.done.set_result(value)
                else:
                    task.done.set_exception(value)
        self._dispatch()

    def _lost(self, worker: _Worker) -> None:
        """A worker's pipe closed: stopping, that is its end; otherwise it died, and a new one takes
        its place and its task, once more."""
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(worker.conn.fileno())
        worker.conn.close()
        if worker in self._workers:
            self._workers.remove(worker)
        self._readiness.set()
        if self._closed:
            return  # (close() waits for it: one thread reaps a process, never two)
        worker.process.join(0)  # reaped if it is gone already; never waited for here
        task, worker.task = worker.task, None
        if task is not None and not task.done.done():
            if task.attempt >= 2:
                task.done.set_exception(BrokenProcessPool(f"{self._name}: a worker died twice on this task"))
            else:
                task.attempt += 1
                self._waiting.appendleft(task)
        if worker.ready:
            log.error("%s: a worker process died; starting a new one", self._name,
                      extra={"alert": "hand-over-worker"})
            self._top_up()
        elif not self._workers:
            # None got past its start (its initializer failed: a database URL, an import): no new one
            # until the next task asks, and what waits now fails (its caller tries again).
            log.error("%s: a worker process ended before it was ready", self._name,
                      extra={"alert": "hand-over-worker"})
            while self._waiting:
                waiting = self._waiting.popleft()
                if not waiting.done.done():
                    waiting.done.set_exception(BrokenProcessPool(f"{self._name}: a worker could not start"))
        self._dispatch()

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not self._waiting:
                return
            if not worker.ready or worker.task is not None:
                continue
            while self._waiting:
                task = self._waiting.popleft()
                if task.done.done():  # given up by its caller meanwhile
                    continue
                try:
                    worker.conn.send((task.fn, task.args))
                except OSError:
                    pass  # its pipe broke: it is dying, and its end (read as such) hands the task on
                except Exception as exc:  # the task itself cannot be sent (pickled)
                    task.done.set_exception(WorkFailed.of(exc))
                    continue
                worker.task = task
                break


def _serve(conn: Connection, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    """A worker process: its start, then one task at a time from its pipe, each answered on it as
    ``(True, result)`` or ``(False, error)``, until the app says stop (None) or is gone."""
    initializer(*initargs)
    conn.send(_READY)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        fn, args = task
        try:
            answer: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:
            answer = (False, exc)
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return
        except Exception as exc:  # an answer that cannot be sent (pickled) as it is
            conn.send((False, WorkFailed.of(exc)))


__all__ = ["ProcessPool", "WorkFailed"]
