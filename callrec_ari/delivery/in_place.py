"""Delivery at the hand-over (``[delivery] deliver_at_hand_over``): the process that has just packaged
and queued a call's copy uploads it, once, instead of the delivery worker claiming it and reading it
again (docs/performance.md, "Delivery at the hand-over").

The copy is queued already leased to this process, its first attempt open
(DeliveryQueue.enqueue_all ``claim``): the same state the worker's claim leaves a copy in, so
everything after it is the worker's: the customer's acknowledgement is written as the worker writes it
(DeliveryQueue.delivered), the files are removed as it removes them (delivery/retention.py), and the
removals are recorded with the next transaction (HeldRemovals). Only the first upload is made here.
Any failure closes its attempt and gives the copy back to the queue, due at once, for
``callrec deliver`` with its bursts, backoff and pacing per connection (delivery/worker.py); a
connection that failed here is not tried here again for ``retry_interval``. A process that dies
mid-upload leaves its lease (``lease_s``: the upload's own time limits, and a minute) to run out; then
the worker takes the copy and closes the attempt as interrupted (DeliveryQueue._claim).

The uploads run on an event loop of their own, in a thread of the hand-over's worker process
(app/handover.py): the hand-over answers the app as soon as the copy is queued, and a customer's slow
server delays only its own copies, never another customer's hand-over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.delivery.queue import DeliveryQueue, Job, QueuedCopy, connection_key
from callrec_ari.delivery.retention import HeldRemovals, remove_delivered
from callrec_ari.delivery.routing import Transports
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.delivery.statements import ConnectionKey
from callrec_ari.delivery.transport import DeliveryFailure, Upload
from callrec_ari.model.clock import Clock, utcnow
from callrec_ari.observability.context import bind_call
from callrec_ari.rules.delivery import Outcome

log = logging.getLogger(__name__)
REMOVALS_HELD_S = 1.0  # as the worker's (delivery/worker.py)
LEASE_MARGIN_S = 60.0


class InPlace:
    """One per hand-over worker process: :meth:`claim` (in the queue's transaction) says which new
    copies this process takes, :meth:`settle` starts their uploads once that transaction committed."""

    def __init__(self, settings: DeliverySettings, sessions: sessionmaker[Session], clock: Clock = utcnow,
                 ring: Callable[[], None] | None = None) -> None:
        self._settings = settings
        self._queue = DeliveryQueue(sessions, settings.node, clock)
        self._transports = Transports(settings, sessions)
        self._clock = clock
        self._ring = ring or (lambda: None)
        self.worker_id = f"{settings.node}:{os.getpid()}"  # DeliveryQueue.recover knows a dead one by it
        self._actor = f"hand-over@{self.worker_id}"
        self.lease = timedelta(seconds=settings.connect_timeout + settings.read_timeout + LEASE_MARGIN_S)
        self._in_flight: Counter[ConnectionKey] = Counter()  # read and written under _lock
        self._down_until: dict[ConnectionKey, datetime] = {}
        self._claimed: list[ConnectionKey] = []  # in the queue's transaction now
        self._lock = threading.Lock()
        self._removals = HeldRemovals(REMOVALS_HELD_S)
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._keeper: asyncio.Task[None]
        self._thread = threading.Thread(target=self._run, name="callrec-in-place", daemon=True)
        self._thread.start()

    # ---- in the hand-over's thread ---------------------------------------------------------------
    def claim(self, copy: QueuedCopy) -> tuple[str, timedelta] | None:
        """For DeliveryQueue.enqueue_all: this process takes the copy (its lease) unless its connection
        failed here lately, or has as many uploads in flight as the worker would give it. Then
        :meth:`settle`, once the transaction is over."""
        _, name, _, contract, connection_id = copy
        key = connection_key(contract, connection_id, name)
        with self._lock:
            down = self._down_until.get(key)
            if down is not None and self._clock() < down:
                return None
            if (self._in_flight[key] >= self._settings.per_connection
                    or sum(self._in_flight.values()) >= self._settings.concurrency):
                return None
            self._in_flight[key] += 1
            self._claimed.append(key)
        return self.worker_id, self.lease

    def settle(self, jobs: list[Job] | None) -> None:
        """The queue's transaction is over: ``jobs`` committed (this process's own, those with an
        attempt open, are uploaded now), or None: it failed, and nothing was claimed."""
        with self._lock:
            claimed, self._claimed = self._claimed, []
            if jobs is None:
                for key in claimed:
                    self._in_flight[key] -= 1
                return
        for job in jobs:
            if job.attempt_id is not None:
                self._loop.call_soon_threadsafe(self._start, job)

    def close(self, timeout: float | None = None) -> None:
        """Uploads in flight get ``timeout`` (the worker's ``drain_timeout``) to end; the others are
        given back to the queue."""
        if not self._thread.is_alive():
            return
        wait = self._settings.drain_timeout if timeout is None else timeout
        done = asyncio.run_coroutine_threadsafe(self._drain(wait), self._loop)
        try:
            done.result(wait + 30)
        except Exception as exc:  # the leases run out; the worker takes the copies then
            log.warning("delivery at hand-over: stopping: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # ---- on its own loop -------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._keeper = self._loop.create_task(self._keep_removals())
        self._loop.run_forever()

    def _start(self, job: Job) -> None:
        task = self._loop.create_task(self._deliver(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep_removals(self) -> None:
        while True:
            await asyncio.sleep(REMOVALS_HELD_S)
            if self._removals.due():
                try:
                    await self._removals.record(self._queue)
                except Exception as exc:  # kept, and tried again with the next transaction
                    log.warning("delivery at hand-over: removals not recorded yet: %s", exc)

    async def _deliver(self, job: Job) -> None:
        bind_call(job.call_id)
        assert job.attempt_id is not None
        try:
            try:
                transport = await self._transports.for_job(job)
                receipt = await transport.send(Upload(job.call_id, job.key, job.zip_path, job.zip_size,
                                                      job.zip_sha256))
            except DeliveryFailure as exc:
                await self._give_back(job, exc.outcome, exc.status, exc.error_id, str(exc))
                return
            except asyncio.CancelledError:
                await asyncio.shield(self._give_back(job, None, None, "interrupted", "the app stopped"))
                raise
            except Exception as exc:  # a bug must not lose the recording: the worker tries it again
                log.exception("call %s: unexpected error delivering at the hand-over", job.call_id)
                await self._give_back(job, Outcome.TRANSIENT, None, "internal-error", repr(exc))
                return
            status = receipt.detail.get("status")
            with self._removals.taken() as held:
                others = await asyncio.to_thread(self._queue.delivered, job, job.attempt_id,
                                                 status if isinstance(status, int) else None,
                                                 {"transport": receipt.transport, **receipt.detail}, held)
            removed = await remove_delivered(self._queue, job, self._actor, others, later=self._removals.add)
            log.info("call %s: delivered via %s at the hand-over, %d files removed from the platform",
                     job.call_id, receipt.transport, removed, extra={"event": "Delivered"})
        finally:
            with self._lock:
                self._in_flight[job.connection_key] -= 1

    async def _give_back(self, job: Job, outcome: Outcome | None, status: int | None, error_id: str,
                         detail: str) -> None:
        """The attempt closed, the copy due at once for the worker (and its connection left to it here
        for ``retry_interval``)."""
        assert job.attempt_id is not None
        if outcome is not None:
            with self._lock:
                self._down_until[job.connection_key] = (
                    self._clock() + timedelta(seconds=self._settings.retry_interval))
        try:
            await asyncio.to_thread(self._queue.finish_attempt, job.attempt_id,
                                    str(outcome) if outcome is not None else "interrupted", status, error_id,
                                    detail)
            await asyncio.to_thread(self._queue.reschedule, job.id, self._clock(), f"{error_id}: {detail}")
        except Exception as exc:  # its lease runs out; the worker takes it then
            log.warning("call %s: not given back to the delivery worker (%s): its lease runs out at the "
                        "latest in %.0f s", job.call_id, exc, self.lease.total_seconds())
            return
        self._ring()
        log.info("call %s: delivery at the hand-over failed (%s: %s): left to the delivery worker",
                 job.call_id, error_id, detail, extra={"event": "DeliveryRetrying", "error_id": error_id})

    async def _drain(self, wait: float) -> None:
        self._keeper.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=wait)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._removals.record(self._queue)
        await self._transports.close()


__all__ = ["InPlace"]
