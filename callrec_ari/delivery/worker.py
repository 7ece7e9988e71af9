"""The delivery worker: claim due recordings, upload them with quick retries, then either delete
them (acknowledged), reschedule them (transient failure), or keep them rejected (permanent failure)
until the retention purge. Every attempt is a row written before the upload starts."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential, wait_random

from callrec_ari.delivery.queue import INTERRUPTED, DeliveryQueue, Job
from callrec_ari.delivery.retention import purge_expired, remove_delivered, sweep_delivered
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.delivery.transport import DeliveryFailure, Receipt, Transport, Upload
from callrec_ari.model.clock import Clock
from callrec_ari.observability.context import bind_call
from callrec_ari.observability.metrics import DELIVERIES, DELIVERY_FAILURES
from callrec_ari.rules.delivery import Outcome, next_attempt_at

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class RunStats:
    delivered: int = 0
    retrying: int = 0
    rejected: int = 0
    purged: int = 0


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

    async def recover(self) -> int:
        """Close attempts a killed worker left open; finish deletions it left undone."""
        closed = await asyncio.to_thread(self._queue.recover, self.worker_id)
        if closed:
            log.warning("closed %d attempts interrupted by a stopped worker", closed)
        await sweep_delivered(self._queue, self._actor)
        return closed

    async def run_once(self) -> RunStats:
        stats = RunStats(purged=await purge_expired(self._queue, self._actor))
        lease = timedelta(seconds=self._settings.lease_seconds)
        jobs = await asyncio.to_thread(self._queue.claim_due, self.worker_id, self._settings.concurrency,
                                       lease)
        if jobs:
            results = await asyncio.gather(*(self._deliver(job) for job in jobs))
            for outcome in results:
                if outcome is Outcome.DELIVERED:
                    stats.delivered += 1
                elif outcome is Outcome.TRANSIENT:
                    stats.retrying += 1
                else:
                    stats.rejected += 1
        return stats

    async def run(self, stop: asyncio.Event) -> None:
        await self.recover()
        try:
            while not stop.is_set():
                stats = await self.run_once()
                if stats.delivered or stats.retrying or stats.rejected:
                    continue  # more may be due right now
                try:
                    await asyncio.wait_for(stop.wait(), self._settings.poll_interval)
                except TimeoutError:
                    pass
        finally:
            await self._transports.close()

    async def _deliver(self, job: Job) -> Outcome:
        bind_call(job.call_id)  # this task's log lines carry the call id
        s = self._settings

        retrying = AsyncRetrying(
            stop=stop_after_attempt(s.burst_attempts) | _stop_at_deadline(self._clock, job.expires_at),
            wait=(wait_exponential(multiplier=s.backoff_initial, max=s.backoff_max)
                  + wait_random(0, s.backoff_jitter)),
            retry=retry_if_exception(_is_transient),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    receipt = await self._attempt(job)
        except DeliveryFailure as exc:
            if exc.transient:
                when = next_attempt_at(self._clock(), timedelta(seconds=s.retry_interval), job.expires_at)
                await asyncio.to_thread(self._queue.reschedule, job.id, when, f"{exc.error_id}: {exc}")
                log.info("call %s: delivery failed (%s), next try at %s", job.call_id, exc, when.isoformat(),
                         extra={"event": "DeliveryRetrying", "error_id": exc.error_id})
                DELIVERIES.labels("retrying").inc()
                DELIVERY_FAILURES.labels(exc.error_id).inc()
                return Outcome.TRANSIENT
            await asyncio.to_thread(self._queue.reject, job.id, f"{exc.error_id}: {exc}")
            log.error("call %s: delivery refused permanently (%s); kept until %s", job.call_id, exc,
                      job.expires_at.isoformat(),
                      extra={"event": "DeliveryRefused", "error_id": exc.error_id})
            DELIVERIES.labels("refused").inc()
            DELIVERY_FAILURES.labels(exc.error_id).inc()
            return Outcome.PERMANENT
        await asyncio.to_thread(self._queue.mark_delivered, job.id,
                                {"transport": receipt.transport, **receipt.detail})
        await remove_delivered(self._queue, job, self._actor)
        DELIVERIES.labels("delivered").inc()
        log.info("call %s: delivered via %s and removed from the platform", job.call_id, receipt.transport,
                 extra={"event": "Delivered"})
        return Outcome.DELIVERED

    async def _attempt(self, job: Job) -> Receipt:
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
        await asyncio.to_thread(self._queue.finish_attempt, attempt_id, str(Outcome.DELIVERED),
                                receipt.detail.get("status"), None, None)
        return receipt


__all__ = ["DeliveryWorker", "RunStats"]
