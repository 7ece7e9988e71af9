"""The callrec ARI application: the events stream, the call manager and their lifetimes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.ari.stream import EventStream
from callrec_ari.calls.lines import DatabaseLines
from callrec_ari.calls.manager import CallManager
from callrec_ari.calls.session import CallOutcome
from callrec_ari.config import Config
from callrec_ari.contracts import record_call
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.recording.collect import collect_segments

log = logging.getLogger(__name__)


def ari_settings(config: Config) -> AriSettings:
    return AriSettings(
        url=config.ari_url, username=config.ari_username, password=config.ari_password, app=config.ari_app
    )


def outcome_record(outcome: CallOutcome) -> dict[str, object]:
    """The finished call as one JSON-able record (logged; the call records table stores the same)."""
    plan, times = outcome.plan, outcome.times

    def iso(value: object) -> str | None:
        return value.isoformat() if hasattr(value, "isoformat") else None

    return {
        "call_id": plan.call_id,
        "direction": plan.direction,
        "line": plan.caller_number if plan.direction == "outgoing" else plan.callee_number,
        "line_endpoint": plan.line,
        "caller": plan.caller_number,
        "callee": plan.callee_number,
        "recorded": plan.record,
        "reason": plan.reason,
        "notice_reason": plan.notice_reason,
        "started": iso(times.started),
        "answered": iso(times.answered),
        "notice_started": iso(times.notice_started),
        "billing_start": iso(times.notice_started or times.answered),
        "ended": iso(times.ended),
        "end_cause": outcome.end_cause,
        "hangup_by": outcome.hangup_by,
        "recordings": list(outcome.recordings),
        "recording_failed": outcome.recording_failed,
        "notice_failed": outcome.notice_failed,
    }


class CallrecApp:
    """Runs until cancelled. ``ready`` is set once the events socket is connected."""

    def __init__(
        self,
        config: Config,
        on_finished: Callable[[CallOutcome], Awaitable[None]] | None = None,
        submitter: RecordingSubmitter | None = None,
        spool_dir: Path = Path("spool"),
        db: sessionmaker[Session] | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.submitter = submitter
        self.spool_dir = spool_dir
        self.ari = AriClient(ari_settings(config))
        self._extra_on_finished = on_finished
        self.manager: CallManager | None = None
        self.stream: EventStream | None = None
        self.ready = asyncio.Event()

    async def _finished(self, outcome: CallOutcome) -> None:
        record = outcome_record(outcome)
        log.info("call=%s finished %s", outcome.plan.call_id, json.dumps(record))
        if self.db is not None:
            await self._store_call_record(outcome, record)
        if self.submitter is not None and outcome.segments:
            await self._hand_over(outcome, record)
        if self._extra_on_finished is not None:
            await self._extra_on_finished(outcome)

    async def run(self) -> None:
        stream_task: asyncio.Task[None] | None = None
        stack = contextlib.ExitStack()
        try:
            # The events stream outlives the calls: a call being cancelled still needs its events
            # (legs destroyed, recording finished) to clean up in Asterisk.
            async with asyncio.TaskGroup() as calls:
                lines = DatabaseLines(self.db) if self.config.lines_from == "database" and self.db else None
                self.manager = CallManager(
                    self.ari, self.config, calls, on_finished=self._finished, lines=lines
                )
                transcript = (
                    stack.enter_context(open(self.config.ari_transcript, "a", buffering=1))  # noqa: ASYNC230
                    if self.config.ari_transcript else None
                )
                self.stream = EventStream(
                    ari_settings(self.config), self.manager.on_event, on_connect=self._connected,
                    on_disconnect=self._disconnected, transcript=transcript,
                )
                stream_task = asyncio.create_task(self.stream.run(), name="ari-events")
                await asyncio.shield(stream_task)
        finally:
            if stream_task is not None and not stream_task.done():
                stream_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stream_task
            await self.ari.close()
            stack.close()

    async def _store_call_record(self, outcome: CallOutcome, record: dict[str, object]) -> None:
        """The call record (R2.4 billing start, R6) in the contracts database."""
        assert self.db is not None
        row = dict(record, line=outcome.plan.line)
        if outcome.plan.record:
            row["delivery_type"] = "file"

        def store() -> None:
            assert self.db is not None
            with self.db.begin() as session:
                record_call(session, row)

        try:
            await asyncio.to_thread(store)
        except Exception as exc:
            log.error("call=%s call record not stored: %s", outcome.plan.call_id, exc)

    async def _hand_over(self, outcome: CallOutcome, record: dict[str, object]) -> None:
        """File delivery (R1.1): package the segments and queue them. On any failure the files stay
        where they are (never lost) and the error is logged with the call id."""
        assert self.submitter is not None
        call_id = outcome.plan.call_id
        try:
            segments = await collect_segments(
                outcome.segments, self.config.recording_format, self.config.asterisk_recording_dir,
                self.spool_dir, self.ari,
            )
            job = await self.submitter.submit_async(record, segments)
        except Exception as exc:  # keep the app up; the recording stays on disk for an operator
            log.error("call=%s could not be queued for delivery (%s): %s", call_id,
                      getattr(exc, "error_id", type(exc).__name__), exc)
            return
        log.info("call=%s queued for delivery job=%s", call_id, getattr(job, "key", job))

    async def _connected(self, reconnect: bool) -> None:
        self.ready.set()

    async def _disconnected(self) -> None:
        self.ready.clear()
