"""Deleting recordings from the platform: after the customer's acknowledgement (R1.1), or when
still undelivered at the retention deadline (R1.3), the latter with an audit record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from callrec_ari.delivery.queue import DeliveryQueue, Job, Removal

log = logging.getLogger(__name__)


def remove_files(paths: tuple[Path, ...]) -> tuple[list[str], list[str]]:
    """Delete each file; returns (removed, already missing). Other OS errors propagate."""
    removed: list[str] = []
    missing: list[str] = []
    for path in paths:
        try:
            path.unlink()
            removed.append(str(path))
        except FileNotFoundError:
            missing.append(str(path))
    return removed, missing


def job_files(job: Job, with_wavs: bool = True) -> tuple[Path, ...]:
    wavs = job.wav_paths if with_wavs else ()
    return (job.zip_path, job.zip_path.with_name(job.zip_path.name + ".part"), *wavs)


async def _files_to_remove(queue: DeliveryQueue, job: Job, others: int | None = None) -> tuple[Path, ...]:
    """The copy's ZIP; the call's WAVs too unless another copy (another contract's) still waits
    (``others``: that count when the caller read it already). Every copy is marked done before this
    is asked, so the last one to finish removes them."""
    if others is None:
        others = await asyncio.to_thread(queue.copies_outstanding, job.call_id, job.id)
    return job_files(job, with_wavs=others == 0)


async def remove_delivered(queue: DeliveryQueue, job: Job, actor: str, others: int | None = None,
                           bell: Callable[[], int] | None = None,
                           heard: Callable[[int, int], None] | None = None,
                           later: Callable[[Removal], None] | None = None) -> int:
    """Remove a delivered copy's files and say so in the queue (one trip to a thread); returns how many
    files were removed. With ``bell`` (the worker's doorbell, the outbox folder's time, which removing
    the ZIP changes) and ``heard``: its value just before and just after the removal is handed to
    ``heard`` on the event loop at once, before the queue is written (the worker must know the change
    for its own before it next reads the bell). With ``later``: the queue is not written here; the
    removal is handed to ``later``, on the event loop, for the worker to record with its next
    transaction (DeliveryWorker: a removal not recorded yet is finished again by ``sweep_delivered``)."""
    paths = await _files_to_remove(queue, job, others)
    loop = asyncio.get_running_loop()

    def remove() -> Removal:
        before = bell() if bell is not None else 0
        removed = remove_files(paths)[0]
        if bell is not None and heard is not None:
            loop.call_soon_threadsafe(heard, before, bell())
        removal = Removal(job.id, queue.now(), (actor, "recording-delivered", job.call_id, "acknowledged",
                                             {"key": job.key, "sha256": job.zip_sha256, "removed": removed}))
        if later is None:
            queue.removals([removal])
        return removal

    removal = await asyncio.to_thread(remove)
    if later is not None:
        later(removal)
    assert removal.audit is not None
    return len(removal.audit[4]["removed"])


class HeldRemovals:
    """Delivered recordings' files removed and not recorded in the queue yet (DeliveryWorker): they go
    with the worker's next transaction (a claim, an acknowledgement: ``taken``), or on their own once
    the oldest has waited ``hold_s`` (``due``, ``record``), instead of a transaction each. One left
    unrecorded when the worker stops is finished again by the next start (:func:`sweep_delivered`).
    Used on the event loop only."""

    def __init__(self, hold_s: float) -> None:
        self._hold_s = hold_s
        self._held: list[Removal] = []
        self._since = 0.0

    def add(self, removal: Removal) -> None:
        if not self._held:
            self._since = asyncio.get_running_loop().time()
        self._held.append(removal)

    def due(self) -> bool:
        return bool(self._held) and asyncio.get_running_loop().time() - self._since >= self._hold_s

    @contextlib.contextmanager
    def taken(self) -> Iterator[list[Removal]]:
        """Those held, for one transaction to record; given back if it failed."""
        taken, self._held = self._held, []
        try:
            yield taken
        except BaseException:
            self._held[:0] = taken
            raise

    async def record(self, queue: DeliveryQueue) -> None:
        """Those held, in a transaction of their own."""
        if self._held:
            with self.taken() as taken:
                await asyncio.to_thread(queue.removals, taken)


async def sweep_delivered(queue: DeliveryQueue, actor: str, older_than: timedelta | None = None) -> int:
    """Finish deletions a stopped worker left undone after an acknowledgement (``older_than``: only
    those acknowledged that long ago; see DeliveryQueue.delivered_with_files)."""
    jobs = await asyncio.to_thread(queue.delivered_with_files, older_than)
    for job in jobs:
        removed = await remove_delivered(queue, job, actor)
        log.info("call %s: delivered, %d files removed from the platform", job.call_id, removed)
    return len(jobs)


PURGE_LEASE = timedelta(minutes=10)


async def purge_expired(queue: DeliveryQueue, actor: str, worker: str | None = None) -> int:
    """R1.3: recordings still undelivered at their deadline are deleted, and the deletion audited.
    Workers sharing the queue each take a recording's purge lease first (``worker``, its id): each
    recording is purged by one of them, once. Returns how many this worker purged."""
    owner = worker or actor
    purged = 0
    for job in await asyncio.to_thread(queue.expired):
        if not await asyncio.to_thread(queue.lease_for_purge, job.id, owner, PURGE_LEASE):
            continue  # another worker is purging it
        removed, missing = await asyncio.to_thread(remove_files, await _files_to_remove(queue, job))
        details = {"key": job.key, "state": job.state, "expires_at": job.expires_at.isoformat(),
                   "attempts": job.attempt_count, "last_error": job.last_error,
                   "removed": removed, "missing": missing, "sha256": job.zip_sha256}
        if await asyncio.to_thread(queue.purge, job.id, actor, "undelivered-at-retention-deadline", details,
                                   owner):
            purged += 1
            log.warning("call %s: undelivered at its retention deadline %s, purged (%d files; last error %s)",
                        job.call_id, job.expires_at.isoformat(), len(removed), job.last_error)
    return purged


__all__ = ["HeldRemovals", "job_files", "purge_expired", "remove_delivered", "remove_files",
           "sweep_delivered"]
