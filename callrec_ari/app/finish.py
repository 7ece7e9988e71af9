"""What happens once a call has ended: its call record, and its recording handed to file delivery.

The call flow hands over one typed :class:`~callrec_ari.model.call.FinishedCall`; nothing here parses
it again. Nothing here may lose a recording: a database that is restarting or briefly unreachable
is waited for (``DB_RETRY_SECONDS``, the call record and the queueing retried); on any other failure
the files stay where they are and the error is logged with the call id, for an operator to pick up.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from callrec_ari.app.handover import HandOver, InThreads
from callrec_ari.ari.client import AriClient
from callrec_ari.config import Config
from callrec_ari.db.engine import database_unreachable
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.packaging import as_segments
from callrec_ari.delivery.retention import remove_files
from callrec_ari.delivery.sealing import is_sealed
from callrec_ari.model.call import FinishedCall, RecordedSegment
from callrec_ari.observability.metrics import CALLS
from callrec_ari.recording.collect import collect_segments, discard_segments

log = logging.getLogger(__name__)

# How long a finished call waits for the database to come back (a PostgreSQL restart or fail-over
# takes seconds): its record and its queue entry are written then, not dropped.
DB_RETRY_SECONDS = 120.0


def _retrying(call_id: str, what: str) -> AsyncRetrying:
    def said(state: object) -> None:
        outcome = getattr(state, "outcome", None)
        log.warning("call=%s %s: the database is unreachable, retrying: %s", call_id, what,
                    outcome.exception() if outcome is not None else "")

    wait = wait_exponential(multiplier=0.5, max=10)
    retry = retry_if_exception(database_unreachable)
    return AsyncRetrying(retry=retry, stop=stop_after_delay(DB_RETRY_SECONDS), wait=wait, before_sleep=said,
                         reraise=True)


class CallFinisher:
    """``work``: where the blocking part runs (app/handover.py); by default the app's own threads."""

    def __init__(self, config: Config, ari: AriClient, db: sessionmaker[Session] | None,
                 submitter: RecordingSubmitter | None, spool_dir: Path, work: HandOver | None = None) -> None:
        self.config = config
        self.ari = ari
        self.db = db
        self.submitter = submitter
        self.spool_dir = spool_dir
        self.work = work if work is not None else InThreads(db, submitter)

    async def __call__(self, finished: FinishedCall) -> None:
        CALLS.labels(finished.label).inc()
        log.info("call=%s finished %s", finished.call_id, json.dumps(finished.log_record()),
                 extra={"call_id": finished.call_id, "event": "CallFinished"})
        if self.submitter is not None and finished.file_copies:
            await self._hand_over(finished)  # the call record with it, in one trip
            return
        if self.db is not None:
            await self._store_call_record(finished)
        if finished.segments and not finished.recorded:
            await self._discard(finished, finished.segments + finished.unconfirmed)
        elif finished.unconfirmed and not finished.segments:
            # Nothing to deliver (no recorder's start was ever heard: the app died as it started, or
            # the call ended first), but a file may have been written: nothing is left behind for it.
            await self._discard(finished, finished.unconfirmed)

    async def _store_call_record(self, finished: FinishedCall) -> None:
        """The call record (R2.4 billing start, R6) in the contracts database."""
        try:
            async for attempt in _retrying(finished.call_id, "call record"):
                with attempt:
                    await self.work.record(finished)
        except Exception as exc:
            log.error("call=%s call record not stored: %s", finished.call_id, exc)

    async def _discard(self, finished: FinishedCall, segments: tuple[RecordedSegment, ...]) -> None:
        """What was recorded of a call whose notice did not play is never delivered (R2.1)."""
        try:
            removed = await discard_segments(segments, self.config.recording_format,
                                             self.config.asterisk_recording_dir, self.ari,
                                             finished.plan.per_leg)
        except Exception as exc:
            log.error("call=%s recording of a call without its notice not discarded: %s",
                      finished.call_id, exc, extra={"alert": "discard-failed"})
            return
        log.warning("call=%s %s: %d recorded segments discarded, nothing delivered", finished.call_id,
                    finished.reason, removed, extra={"event": "RecordingDiscarded"})

    async def _hand_over(self, finished: FinishedCall) -> None:
        """File delivery (R1.1): package the segments and queue them. On any failure the files stay
        where they are (never lost) and the error is logged with the call id."""
        assert self.submitter is not None
        try:
            segments = await collect_segments(
                finished.segments, self.config.recording_format, self.config.asterisk_recording_dir,
                self.spool_dir, self.ari, finished.plan.per_leg,
            )
        except Exception as exc:  # keep the app up; the recording stays on disk for an operator
            log.error("call=%s segments not found for delivery (%s): %s", finished.call_id,
                      getattr(exc, "error_id", type(exc).__name__), exc)
            if self.db is not None:
                await self._store_call_record(finished)
            return
        # Each contract that records the call gets its own copy: its own ZIP and manifest, queue
        # entry, retries and 7-day clock (R1.5, R3.1), all queued together. The WAVs go with the last
        # copy done. The call record first, in the same trip to the hand-over's worker.
        copies = finished.file_copies
        try:
            async for attempt in _retrying(finished.call_id, "call record and copies"):
                with attempt:
                    not_stored, results = await self.work.finish(
                        finished, [(finished.manifest_call(copy), copy.connection_id) for copy in copies],
                        segments)
        except Exception as exc:
            log.error("call=%s copies could not be queued (%s): %s", finished.call_id,
                      getattr(exc, "error_id", type(exc).__name__), exc)
            if self.db is not None:
                await self._store_call_record(finished)  # what can still be kept of the call
            return
        if not_stored is not None:
            log.error("call=%s call record not stored: %s", finished.call_id, not_stored)
        sealed: list[bool] = []
        for copy, job in zip(copies, results, strict=True):
            if isinstance(job, Exception):
                log.error("call=%s copy for contract %s could not be queued (%s): %s", finished.call_id,
                          copy.contract or "-", getattr(job, "error_id", type(job).__name__), job)
                sealed.append(False)
                continue
            sealed.append(is_sealed(Path(job.zip_path)))
            log.info("call=%s queued for delivery job=%s contract=%s", finished.call_id, job.key,
                     copy.contract or "-")
        if sealed and all(sealed):
            # Every copy is queued encrypted to its customer's key: the plain WAVs are not kept for
            # the days a delivery may wait (delivery/sealing.py).
            wavs = tuple(p for s in as_segments(segments) for p in s.paths)
            removed, _ = await asyncio.to_thread(remove_files, wavs)
            log.info("call=%s every copy sealed: %d WAVs removed after packaging", finished.call_id,
                     len(removed))
