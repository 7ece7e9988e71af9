"""The delivery worker: keep up to ``concurrency`` uploads in flight, claiming more as each one ends;
upload with quick retries, then delete (acknowledged), reschedule (transient failure) or keep rejected
(permanent failure) until the retention purge. Every attempt is a row written before the upload starts.

One customer's dead or slow server must not hold up the others (issue 13). The slots are shared among
the connections with due recordings round-robin (rules.delivery.plan_claims), each connection has its
own width (``per_connection`` once proven, else one), and a connection whose burst failed is backed
off as a whole: its other recordings wait, spending no attempts, until its next try time, when one of
them probes. These paces live in this worker only, a bounded table; the backoff is also written to
the queue (their next try time), so another worker and a restart respect it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential, wait_random

from callrec_ari.db.engine import database_unreachable
from callrec_ari.delivery.queue import INTERRUPTED, ConnectionKey, DeliveryQueue, DueConnection, Job
from callrec_ari.delivery.retention import HeldRemovals, purge_expired, remove_delivered, sweep_delivered
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.delivery.transport import DeliveryFailure, Receipt, Transport, Upload
from callrec_ari.model.clock import Clock
from callrec_ari.observability.context import bind_call
from callrec_ari.observability.metrics import DELIVERIES, DELIVERY_FAILURES
from callrec_ari.rules.delivery import (
    ClaimPlan,
    ConnectionLoad,
    Outcome,
    Pace,
    next_attempt_at,
    next_pace,
    plan_claims,
)

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]
def loop_time() -> float:
    return asyncio.get_running_loop().time()


DUE_CONNECTIONS = 1000  # connections looked at per claim: round-robin among the longest waiting ones
PACES_KEPT = 1024  # idle connections beyond this are forgotten (the least recently used): back to PROBE
# How long the files' removal of a delivered recording may wait to be recorded with the worker's next
# transaction before it gets one of its own (DeliveryWorker._removals; docs/performance.md).
REMOVALS_HELD_S = 1.0


@dataclass(slots=True)
class RunStats:
    delivered: int = 0
    retrying: int = 0
    rejected: int = 0
    purged: int = 0
    deferred: int = 0  # recordings held back because their connection is backed off


@dataclass(slots=True)
class _Connection:
    """This worker's pace of one customer connection."""

    pace: Pace = Pace.PROBE
    retry_at: datetime | None = None
    in_flight: int = 0
    turn: int = -1


def _pace_of(c: _Connection) -> tuple[Pace, datetime | None, int, int]:
    return c.pace, c.retry_at, c.in_flight, c.turn


class TransportSource(Protocol):
    """The transport of each job (delivery/routing.py: its contract's connection)."""

    async def for_job(self, job: Job) -> Transport: ...

    async def close(self) -> None: ...


class _stop_at_deadline(stop_base):
    """No quick retry past the retention deadline: the purge owns the recording from then on."""

    def __init__(self, clock: Clock, deadline: datetime) -> None:
        self._clock, self._deadline = clock, deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._clock() >= self._deadline


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryFailure) and exc.transient


class DeliveryWorker:
    def __init__(self, settings: DeliverySettings, queue: DeliveryQueue, transports: TransportSource,
                 clock: Clock, sleep: Sleep = asyncio.sleep, worker_id: str | None = None) -> None:
        self._settings = settings
        self._queue = queue
        self._transports = transports
        self._clock = clock
        self._sleep = sleep
        self.worker_id = worker_id or f"{settings.node}:{os.getpid()}"
        self._actor = f"delivery-worker@{self.worker_id}"
        self._connections: OrderedDict[ConnectionKey, _Connection] = OrderedDict()  # least recent first
        self._turns = itertools.count()
        self._drained = False  # the last look at the queue took all that was due (_claim)
        self._seen_bell = 0  # the doorbell's time when last looked at (_schedule)
        self._removals = HeldRemovals(REMOVALS_HELD_S)

    async def recover(self) -> int:
        """Close attempts a killed worker left open; finish deletions it left undone."""
        await self._removals.record(self._queue)  # its own first (the database is back): as they were
        closed = await asyncio.to_thread(self._queue.recover, self.worker_id)
        if closed:
            log.warning("closed %d attempts interrupted by a stopped worker", closed)
        await sweep_delivered(self._queue, self._actor)
        return closed

    async def run_once(self) -> RunStats:
        """Purge, then deliver until nothing in flight and nothing more to claim now."""
        stats = RunStats(purged=await purge_expired(self._queue, self._actor, self.worker_id))
        await self._schedule(stats, None)
        return stats

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop``; then uploads in flight get ``drain_timeout`` to end before they are
        interrupted (their attempt recorded as such, their claim given back)."""
        try:
            pause = 1.0
            while True:
                began = loop_time()
                try:
                    await self.recover()
                    await self._schedule(RunStats(), stop)
                    return
                except Exception as exc:
                    # The database restarting (or failing over): ride it out, then carry on where the
                    # queue says. Uploads in flight were interrupted; their claims come back at recover.
                    if not database_unreachable(exc) or stop.is_set():
                        raise
                    pause = pause if loop_time() - began < 60 else 1.0  # a new outage starts short
                    log.warning("the database is unreachable, delivering again in %.0f s: %s", pause, exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), pause)
                    if stop.is_set():
                        return
                    pause = min(pause * 2, 30.0)
        finally:
            await self._transports.close()

    async def _schedule(self, stats: RunStats, stop: asyncio.Event | None) -> None:
        """Keep the slots full: claim whenever one is free, wait for one to end, the stop, or (slots
        free, nothing claimable) the poll interval. Without ``stop``: until idle."""
        s = self._settings
        tasks: set[asyncio.Task[None]] = set()
        stopping = asyncio.ensure_future(stop.wait()) if stop is not None else None
        purge_at = self._clock()
        # The queue is read when there may be something to claim: a slot came free, the doorbell
        # rang (a recording was queued on this node), or poll_interval passed. Idle, the worker costs
        # a stat() per wake_interval, not a database round trip.
        look_at, look = 0.0, True
        self._seen_bell = self._bell()
        grace = 0.0
        try:
            while stop is None or not stop.is_set():
                if stop is not None and self._clock() >= purge_at:
                    purged = await purge_expired(self._queue, self._actor, self.worker_id)
                    # A worker of this node that died between an acknowledgement and the deletion:
                    # its lease is long over, so finish the deletion for it.
                    await sweep_delivered(self._queue, self._actor, timedelta(seconds=s.lease_seconds))
                    stats.purged += purged  # (not `+= await`: uploads in flight count into stats meanwhile)
                    purge_at = self._clock() + timedelta(seconds=s.purge_interval)
                free = s.concurrency - len(tasks)
                rung = self._bell()
                if rung != self._seen_bell or loop_time() >= look_at:
                    self._seen_bell, look = rung, True
                claimed: list[Job] = []
                if free > 0 and (look or stopping is None):
                    claimed = await self._claim(free, stats)
                    look, look_at = False, loop_time() + s.poll_interval
                for job in claimed:
                    tasks.add(asyncio.create_task(self._deliver_job(job, stats), name=f"deliver {job.key}"))
                if not tasks and stopping is None:
                    return
                idle = len(claimed) < free  # nothing more claimable now: wait for the bell or the poll
                waiting: set[asyncio.Future[Any]] = {*tasks, *([stopping] if stopping else [])}
                done, _ = await asyncio.wait(waiting, timeout=s.wake_interval if idle and stopping else None,
                                             return_when=asyncio.FIRST_COMPLETED)
                if self._removals.due():
                    await self._removals.record(self._queue)
                for task in done & tasks:
                    tasks.discard(task)
                    # A slot came free: there may be more waiting, unless the last look took all that
                    # was due (then only the doorbell, a retry time or a lease running out brings more).
                    look = look or not self._drained
                    task.result()  # a failure of the worker's own (the database) stops it, as it always has
            grace = s.drain_timeout
        finally:
            if stopping is not None:
                stopping.cancel()
            await self._settle(tasks, grace)
            try:
                await self._removals.record(self._queue)
            except Exception as exc:  # the next start's sweep records them (retention.sweep_delivered)
                log.warning("removals of delivered files not recorded yet: %s", exc)

    def _removed_zip(self, before: int, after: int) -> None:
        """The bell is the outbox folder's time: removing a delivered ZIP changed it. Not a ring,
        unless one came between the two looks at it (a stat() apart), or before, unseen yet (kept)."""
        if before == self._seen_bell:
            self._seen_bell = after

    def _bell(self) -> int:
        try:
            return os.stat(self._settings.doorbell).st_mtime_ns
        except OSError:
            return 0

    async def _settle(self, tasks: set[asyncio.Task[None]], grace: float) -> None:
        if not tasks:
            return
        if grace > 0:
            log.info("stopping: waiting up to %g s for %d uploads in flight", grace, len(tasks))
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("delivery task failed while stopping: %r", result)

    def _pace(self, key: ConnectionKey) -> _Connection:
        state = self._connections.pop(key, None) or _Connection()
        self._connections[key] = state  # most recently used last
        while len(self._connections) > PACES_KEPT:
            idle = next((k for k, c in self._connections.items() if c.in_flight == 0), None)
            if idle is None:
                break
            del self._connections[idle]
        return state

    async def _claim(self, free: int, stats: RunStats) -> list[Job]:
        s = self._settings
        self._drained = False
        # The paces as they stand now (read on the loop: its uploads change them meanwhile); the plan is
        # made between reading what is due and claiming it, in the queue's one transaction.
        known = {key: _pace_of(c) for key, c in self._connections.items()}
        new = _pace_of(_Connection())
        now = self._clock()

        def decide(due: list[DueConnection]) -> ClaimPlan[ConnectionKey]:
            loads = [ConnectionLoad(d.key, d.oldest_due, *known.get(d.key, new)) for d in due]
            return plan_claims(loads, free, s.per_connection, now)

        lease = timedelta(seconds=s.lease_seconds)
        with self._removals.taken() as held:
            due, plan, deferred, jobs = await asyncio.to_thread(
                self._queue.claim_due, DUE_CONNECTIONS, decide, self.worker_id, lease, held)
        stats.deferred += deferred  # recordings queued for a backed-off connection meanwhile
        if not due:
            self._drained = True
            return []
        # Drained: every due connection was served, each with fewer recordings than it was asked for
        # (so none left). A DUE_CONNECTIONS-long answer may have left connections out: not drained.
        got = Counter(job.connection_key for job in jobs)
        self._drained = (len(due) < DUE_CONNECTIONS and len(plan.take) == len(due)
                         and all(got[key] < n for key, n in plan.take))
        for job in jobs:
            state = self._pace(job.connection_key)
            state.in_flight += 1
            state.turn = next(self._turns)
        return jobs

    async def _deliver_job(self, job: Job, stats: RunStats) -> None:
        state = self._pace(job.connection_key)
        try:
            await self._deliver(job, state, stats)
        except asyncio.CancelledError:
            # Stopped: the attempt is already recorded as interrupted; give the claim back at once.
            await asyncio.shield(asyncio.to_thread(self._queue.release, job.id, self.worker_id))
            raise
        finally:
            state.in_flight -= 1

    async def _deliver(self, job: Job, connection: _Connection, stats: RunStats) -> None:
        bind_call(job.call_id)  # this task's log lines carry the call id
        s = self._settings

        def retrying_soon(_state: RetryCallState) -> None:
            connection.pace = next_pace(connection.pace, Outcome.TRANSIENT, final=False)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(s.burst_attempts) | _stop_at_deadline(self._clock, job.expires_at),
            wait=(wait_exponential(multiplier=s.backoff_initial, max=s.backoff_max)
                  + wait_random(0, s.backoff_jitter)),
            retry=retry_if_exception(_is_transient),
            before_sleep=retrying_soon,
            sleep=self._sleep,
            reraise=True,
        )
        opened = job.attempt_id  # the first attempt, opened with the claim (DeliveryQueue.claim_due)
        try:
            async for attempt in retrying:
                with attempt:
                    first, opened = opened, None
                    receipt, attempt_id = await self._attempt(job, first)
        except DeliveryFailure as exc:
            connection.pace = next_pace(connection.pace, exc.outcome, final=True)
            if exc.transient:
                await self._back_off(job, connection, exc, stats)
                return
            if not await asyncio.to_thread(self._queue.reject, job.id, f"{exc.error_id}: {exc}"):
                # Its lease ran out during the attempt and another worker ended it meanwhile (purged
                # at its deadline, delivered): that stands.
                log.warning("call %s: %s, but the recording was no longer waiting: left as it is",
                            job.call_id, exc)
                return
            log.error("call %s: delivery refused permanently (%s); kept until %s", job.call_id, exc,
                      job.expires_at.isoformat(),
                      extra={"event": "DeliveryRefused", "error_id": exc.error_id})
            DELIVERIES.labels("refused").inc()
            DELIVERY_FAILURES.labels(exc.error_id).inc()
            stats.rejected += 1
            return
        connection.pace = next_pace(connection.pace, Outcome.DELIVERED, final=True)
        status = receipt.detail.get("status")
        with self._removals.taken() as held:
            others = await asyncio.to_thread(self._queue.delivered, job, attempt_id,
                                             status if isinstance(status, int) else None,
                                             {"transport": receipt.transport, **receipt.detail}, held)
        removed = await remove_delivered(self._queue, job, self._actor, others, self._bell, self._removed_zip,
                                         later=self._removals.add)
        DELIVERIES.labels("delivered").inc()
        log.info("call %s: delivered via %s, %d files removed from the platform", job.call_id,
                 receipt.transport, removed, extra={"event": "Delivered"})
        stats.delivered += 1

    async def _back_off(self, job: Job, connection: _Connection, exc: DeliveryFailure,
                        stats: RunStats) -> None:
        """A failed burst: this recording and every other one queued for its connection wait for the
        connection's next try time."""
        interval = timedelta(seconds=self._settings.retry_interval)
        when = next_attempt_at(self._clock(), interval, job.expires_at)
        connection.retry_at = when
        await asyncio.to_thread(self._queue.reschedule, job.id, when, f"{exc.error_id}: {exc}")
        held = await asyncio.to_thread(self._queue.defer_connection, job.connection_key, when)
        stats.retrying += 1
        stats.deferred += held
        log.info("call %s: delivery failed (%s), next try at %s; %s backed off with %d more recordings",
                 job.call_id, exc, when.isoformat(), job.connection, held,
                 extra={"event": "DeliveryRetrying", "error_id": exc.error_id})
        DELIVERIES.labels("retrying").inc()
        DELIVERY_FAILURES.labels(exc.error_id).inc()

    async def _attempt(self, job: Job, attempt_id: int | None) -> tuple[Receipt, int]:
        """One upload, in ``attempt_id`` (the one the claim opened) or in a new attempt; a failure
        closes its attempt, a success leaves it to :meth:`DeliveryQueue.delivered` (one transaction
        for the attempt and the recording)."""
        if attempt_id is None:
            attempt_id = await asyncio.to_thread(self._queue.start_attempt, job.id, self.worker_id)
        upload = Upload(job.call_id, job.key, job.zip_path, job.zip_size, job.zip_sha256)
        try:
            # The copy's own contract's connection, as it is now (delivery/routing.py).
            transport = await self._transports.for_job(job)
            receipt = await transport.send(upload)
        except DeliveryFailure as exc:
            await asyncio.to_thread(self._queue.finish_attempt, attempt_id, str(exc.outcome), exc.status,
                                    exc.error_id, str(exc))
            raise
        except asyncio.CancelledError:
            await asyncio.shield(asyncio.to_thread(self._queue.finish_attempt, attempt_id, INTERRUPTED))
            raise
        except Exception as exc:  # a bug must not lose the recording: retry it later
            log.exception("call %s: unexpected error during delivery", job.call_id)
            await asyncio.to_thread(self._queue.finish_attempt, attempt_id, str(Outcome.TRANSIENT), None,
                                    "internal-error", repr(exc))
            raise DeliveryFailure(Outcome.TRANSIENT, "internal-error", repr(exc)) from exc
        return receipt, attempt_id


__all__ = ["DeliveryWorker", "RunStats", "TransportSource"]
