"""The hand-over's pool of worker processes (app/pool.py), on real spawned processes: every worker
takes work, an error comes back as raised, a worker killed in the middle of a task is replaced and
the task done again by the new one, a task that kills its worker twice fails alone (the pool goes on),
and a worker whose start fails is not started again and again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from callrec_ari.app.pool import ProcessPool, WorkFailed
from tests.unit.test_handover_workers import alive


def nothing_to_start() -> None:
    pass


def failing_start() -> None:
    raise RuntimeError("no database here")


def pid_after(seconds: float, note: str | None = None) -> int:
    if note is not None:
        with open(note, "a") as fh:
            fh.write(f"{os.getpid()}\n")
    time.sleep(seconds)
    return os.getpid()


def begun(note: Path) -> None:
    while not note.exists():
        time.sleep(0.02)


def refuse(why: str) -> None:
    raise ValueError(why)


def unpicklable() -> object:
    return lambda: None


def die() -> None:
    os._exit(3)


async def test_every_worker_takes_work_and_errors_come_back_as_raised() -> None:
    pool = ProcessPool(2, nothing_to_start, ())
    try:
        assert await pool.start(60) == 2
        workers = set(pool.processes)
        assert len(workers) == 2 and os.getpid() not in workers
        # Two long tasks at once go to two workers (an idle worker takes the next).
        pids = await asyncio.gather(pool.run(pid_after, 0.5), pool.run(pid_after, 0.5))
        assert set(pids) == workers
        with pytest.raises(ValueError, match="customer B's file is broken"):
            await pool.run(refuse, "customer B's file is broken")
        with pytest.raises(WorkFailed):
            await pool.run(unpicklable)
        assert set(pool.processes) == workers  # none of that cost a worker
    finally:
        pool.close()
    assert not any(p.is_alive() for p in pool.processes.values())


async def test_a_worker_killed_in_the_middle_of_a_task_is_replaced_and_the_task_done_again(
        tmp_path: Path) -> None:
    note = tmp_path / "pids"
    pool = ProcessPool(1, nothing_to_start, ())
    try:
        await pool.start(60)
        (first,) = pool.processes
        task = asyncio.ensure_future(pool.run(pid_after, 1.0, str(note)))
        await asyncio.to_thread(begun, note)
        os.kill(first, signal.SIGKILL)
        done_by = await asyncio.wait_for(task, 60)
        assert done_by != first and done_by in pool.processes
        assert note.read_text().split() == [str(first), str(done_by)]  # begun twice, finished once
    finally:
        pool.close()


async def test_a_task_that_kills_its_worker_twice_fails_alone() -> None:
    pool = ProcessPool(1, nothing_to_start, ())
    try:
        await pool.start(60)
        with pytest.raises(BrokenProcessPool):
            await asyncio.wait_for(pool.run(die), 60)
        assert await asyncio.wait_for(pool.run(pid_after, 0), 60) in pool.processes  # the pool goes on
    finally:
        pool.close()


async def test_a_worker_whose_start_fails_is_not_started_over_and_over() -> None:
    pool = ProcessPool(1, failing_start, ())
    try:
        with pytest.raises(BrokenProcessPool):
            await asyncio.wait_for(pool.run(pid_after, 0), 60)
        await asyncio.sleep(0.5)
        assert pool.processes == {}  # none started again until work asks
        with pytest.raises(BrokenProcessPool):  # and the next task says so too
            await asyncio.wait_for(pool.run(pid_after, 0), 60)
    finally:
        pool.close()


EXITS = """
import asyncio, os
from callrec_ari.app.pool import ProcessPool
from tests.unit.test_process_pool import nothing_to_start, pid_after
pool = ProcessPool(2, nothing_to_start, ())
async def main():
    await pool.start(60)
    print(" ".join(str(p) for p in pool.processes), flush=True)
    await pool.run(pid_after, 0)
asyncio.run(main())  # and out, without close(): an error on the way out does that
"""


def test_a_process_that_ends_without_closing_its_pool_ends_and_so_do_its_workers() -> None:
    app = subprocess.run([sys.executable, "-c", EXITS], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parents[2])
    assert app.returncode == 0, app.stderr
    workers = [int(p) for p in app.stdout.split()]
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in workers)


def priority_at_start(note: Path) -> None:
    note.write_text(str(os.getpriority(os.PRIO_PROCESS, 0)))  # the worker's start, before anything


def own_priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


async def test_a_workers_priority_is_lowered_before_its_start_runs(tmp_path: Path) -> None:
    """A worker's start (a new interpreter importing the app) must not take CPU at the app's priority
    from the calls of an app that starts while calls are up: the pool lowers it as it starts it, so
    that even the worker's first instruction runs at the lower priority."""
    note = tmp_path / "priority"
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    pool = ProcessPool(1, priority_at_start, (note,), nice=10)
    try:
        assert await pool.start(60) == 1
        assert int(note.read_text()) == min(19, mine + 10)
        assert await pool.run(own_priority) == min(19, mine + 10)
    finally:
        pool.close()
    plain = ProcessPool(1, nothing_to_start, ())
    try:
        assert await plain.run(own_priority) == mine  # no nice asked: the app's own
    finally:
        plain.close()
