"""Where a finished call's blocking work runs: its call record, and packaging and queueing each copy
of its recording (app/finish.py decides what is done; this module only where).

Packaging reads, cuts and zips a call's WAVs and syncs them to disk; the rows are SQL through
SQLAlchemy. In threads of the call-control process that work competes for the interpreter lock with
the event loop that serves every call in progress, and it comes in bursts, when calls end together;
a crash or a leak in it would take call control down with it (measured: docs/performance.md).
:class:`InProcesses` (``hand_over_processes`` > 0, the default) runs it in worker processes, each
with an interpreter and a database connection of its own; :class:`InThreads` keeps it in the app's
threads (``hand_over_processes = 0``, and ``callrec cluster recover``).

The work is the same either way, and idempotent (a call record is updated in place, a copy is queued
once per idempotency key). A worker process that dies is replaced and the work done again; until the
hand-over returns, the call's journal entry and its files stay where they are.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.app.pool import ProcessPool, WorkFailed
from callrec_ari.contracts import store_call
from callrec_ari.db.engine import DatabaseUnreachable, database_unreachable, make_engine, make_sessionmaker
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.queue import Job
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.model.call import FinishedCall, SegmentFile
from callrec_ari.observability.gc_pauses import settle_after_start
from callrec_ari.observability.logs import setup_logging
from callrec_ari.rules.manifest import CallRecord

log = logging.getLogger(__name__)
T = TypeVar("T")
Copy = tuple[CallRecord, int | None]  # one copy of a call: its record, and its contract's file connection
# A call handed over: its record's failure (None: stored), and each copy's job or failure.
Outcome = tuple[Exception | None, list[Job | Exception]]
PARENT_WATCH_S = 1.0  # how often a worker looks whether its app is still there
# A worker's CPU priority below the app's (nice): the hand-over can wait, the calls being set up
# cannot. When calls end in a burst while others start, the workers take what Asterisk and the app's
# event loop leave (measured: docs/performance.md); the shipped delivery worker's unit does the same.
WORKER_NICE = 10
START_TIMEOUT_S = 120.0  # the workers' start (imports, on a machine maybe busy with calls)


class HandOverFailed(WorkFailed):
    """A worker process's failure, carried back whole (its ``error_id`` and message): the original
    exception may not survive the trip between processes."""


class HandOver(Protocol):
    async def start(self) -> None:
        """Be ready before the first call ends (the app awaits it beside taking calls)."""

    async def record(self, finished: FinishedCall) -> None:
        """Store (or update) the call's record."""

    async def submit(self, copies: Sequence[Copy], segments: Sequence[SegmentFile]) -> list[Job | Exception]:
        """Package every copy of the call and queue them together (RecordingSubmitter.submit_copies)."""

    async def finish(self, finished: FinishedCall, copies: Sequence[Copy],
                     segments: Sequence[SegmentFile]) -> Outcome:
        """:meth:`record` and :meth:`submit` in one trip (the copies packaged first, then the record and
        the copies in one transaction when they share a database): the call record's failure (None
        when stored, or with no database for records) beside each copy's job or failure. A database
        that cannot be reached raises, whichever of the two met it (both are idempotent: do it again)."""

    def close(self) -> None:
        """Once no call is left to hand over."""


def _store(db: sessionmaker[Session], finished: FinishedCall) -> None:
    with db.begin() as session:
        store_call(session, finished, delivery_type=finished.delivery_type)


def _finish(db: sessionmaker[Session] | None, submitter: RecordingSubmitter, finished: FinishedCall,
            copies: Sequence[Copy], segments: Sequence[SegmentFile]) -> Outcome:
    packaged = submitter.package_copies(copies, segments)
    if db is not None and _one_database(db, submitter.sessions):
        # The call record and the copies in one transaction (one commit per call fewer: each is a
        # disk sync, docs/performance.md) ...
        try:
            return None, submitter.queue_packaged(
                packaged, also=lambda s: store_call(s, finished, delivery_type=finished.delivery_type))
        except Exception as exc:
            if database_unreachable(exc):
                raise
            # ... unless it failed, which queued nothing: then each in its own, as below.
    failed: Exception | None = None
    if db is not None:
        try:
            _store(db, finished)
        except Exception as exc:
            if database_unreachable(exc):
                raise
            failed = exc  # the copies are queued all the same: a recording is never held back for it
    return failed, submitter.queue_packaged(packaged)


def _one_database(a: sessionmaker[Session], b: sessionmaker[Session]) -> bool:
    return a is b or a.kw.get("bind") is b.kw.get("bind")


class InThreads:
    """The work in the app's own threads, with the app's own database and submitter."""

    def __init__(self, db: sessionmaker[Session] | None, submitter: RecordingSubmitter | None) -> None:
        self.db = db
        self.submitter = submitter

    async def record(self, finished: FinishedCall) -> None:
        assert self.db is not None
        await asyncio.to_thread(_store, self.db, finished)

    async def submit(self, copies: Sequence[Copy], segments: Sequence[SegmentFile]) -> list[Job | Exception]:
        assert self.submitter is not None
        return await asyncio.to_thread(self.submitter.submit_copies, copies, segments)

    async def finish(self, finished: FinishedCall, copies: Sequence[Copy],
                     segments: Sequence[SegmentFile]) -> Outcome:
        assert self.submitter is not None
        return await asyncio.to_thread(_finish, self.db, self.submitter, finished, copies, segments)

    async def start(self) -> None:
        pass

    def close(self) -> None:
        pass


# --- in a worker process -------------------------------------------------------------------------
_db: sessionmaker[Session] | None = None
_submitter: RecordingSubmitter | None = None


def _start(db_url: str | None, delivery: DeliverySettings | None, submit_url: str | None,
           segment_seconds: float | None, json_logs: bool, level: int) -> None:
    """A worker process's start: its own engines, from the same URLs as the app's."""
    global _db, _submitter
    # The app decides when its workers end (it shuts the pool down once its calls are handed over);
    # a Ctrl-C or a service manager's SIGTERM to the whole group must not cut a hand-over short.
    # (SIGUSR2 too: `systemctl kill -s USR2` asks the app for a memory snapshot, and reaches every
    # process of the unit.)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    # ... but an app that is killed cannot: a worker whose app is gone ends too (the restarted app
    # hands the unfinished call over again, from its journal). The pool's queue gives no end-of-file
    # (each worker holds a copy of its writing end), hence a watch on the parent.
    threading.Thread(target=_end_with, args=(os.getppid(),), name="callrec-handover-parent",
                     daemon=True).start()
    setup_logging(json_lines=json_logs, level=level)
    _db = make_sessionmaker(make_engine(db_url)) if db_url else None
    if delivery is not None:
        # One engine (one connection pool) when the call records and the queue share a database.
        sessions = _db
        if submit_url != db_url:
            sessions = make_sessionmaker(make_engine(submit_url)) if submit_url else None
        _submitter = RecordingSubmitter(delivery, sessions, segment_seconds=segment_seconds)
    settle_after_start()  # what the start imported and built, out of the cycle collector's walks


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_WATCH_S)
    os._exit(0)


def _carried(work: Callable[[], T]) -> T:
    try:
        return work()
    except Exception as exc:
        if database_unreachable(exc):
            raise DatabaseUnreachable(str(exc)) from None
        raise HandOverFailed.of(exc) from None


def _record_here(finished: FinishedCall) -> None:
    assert _db is not None
    db = _db
    _carried(lambda: _store(db, finished))


def _submit_here(copies: Sequence[Copy], segments: Sequence[SegmentFile]) -> list[Job | Exception]:
    assert _submitter is not None
    submitter = _submitter
    results = _carried(lambda: submitter.submit_copies(copies, segments))
    return [r if isinstance(r, Job) else HandOverFailed.of(r) for r in results]


def _finish_here(finished: FinishedCall, copies: Sequence[Copy],
                 segments: Sequence[SegmentFile]) -> tuple[HandOverFailed | None, list[Job | Exception]]:
    assert _submitter is not None
    submitter, db = _submitter, _db
    failed, results = _carried(lambda: _finish(db, submitter, finished, copies, segments))
    return (None if failed is None else HandOverFailed.of(failed),
            [r if isinstance(r, Job) else HandOverFailed.of(r) for r in results])


class InProcesses:
    """The work in ``processes`` worker processes (app/pool.py: spawned, nothing of the app's loop or
    threads is inherited; no thread of the app's passes the work on)."""

    def __init__(self, processes: int, db: sessionmaker[Session] | None, submitter: RecordingSubmitter | None,
                 json_logs: bool) -> None:
        self._pool = ProcessPool(processes, _start, (
            _url_of(db), submitter.settings if submitter else None,
            _url_of(submitter.sessions) if submitter else None,
            submitter.segment_seconds if submitter else None, json_logs,
            logging.getLogger().getEffectiveLevel(),
        ), name="callrec-handover", nice=WORKER_NICE)

    @property
    def processes(self) -> dict[int, BaseProcess]:
        return self._pool.processes

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._pool.run(fn, *args)

    async def start(self) -> None:
        """Start every worker now (see ProcessPool.start)."""
        began = time.monotonic()
        try:
            ready = await self._pool.start(START_TIMEOUT_S)
        except Exception as exc:  # the first hand-over will try again (and say why)
            log.warning("hand-over: worker processes did not start: %s", exc)
            return
        if ready < self._pool.size:
            log.warning("hand-over: %d of %d worker processes ready after %.0fs", ready, self._pool.size,
                        time.monotonic() - began)
            return
        log.info("hand-over: %d worker processes ready in %.1fs", ready, time.monotonic() - began)

    async def record(self, finished: FinishedCall) -> None:
        await self._run(_record_here, finished)

    async def submit(self, copies: Sequence[Copy], segments: Sequence[SegmentFile]) -> list[Job | Exception]:
        return await self._run(_submit_here, tuple(copies), tuple(segments))

    async def finish(self, finished: FinishedCall, copies: Sequence[Copy],
                     segments: Sequence[SegmentFile]) -> Outcome:
        failed, results = await self._run(_finish_here, finished, tuple(copies), tuple(segments))
        return failed, list(results)

    def close(self) -> None:
        self._pool.close()


def _url_of(db: sessionmaker[Session] | None) -> str | None:
    if db is None:
        return None
    return str(db.kw["bind"].url.render_as_string(hide_password=False))


__all__ = ["HandOver", "HandOverFailed", "InProcesses", "InThreads"]
