"""What happens once a call has ended: its call record, and its recording handed to file delivery.

Nothing here may lose a recording: on any failure the files stay where they are and the error is
logged with the call id, for an operator (and the next reconciliation) to pick up.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.ari.client import AriClient
from callrec_ari.calls.outcome import CallOutcome
from callrec_ari.config import Config
from callrec_ari.contracts import record_call
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.observability.metrics import CALLS
from callrec_ari.recording.collect import collect_segments

log = logging.getLogger(__name__)


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



def outcome_label(outcome: CallOutcome) -> str:
    if not outcome.answered:
        return "unanswered"
    return "recorded" if outcome.segments else "unrecorded"


class CallFinisher:
    def __init__(self, config: Config, ari: AriClient, db: sessionmaker[Session] | None,
                 submitter: RecordingSubmitter | None, spool_dir: Path) -> None:
        self.config = config
        self.ari = ari
        self.db = db
        self.submitter = submitter
        self.spool_dir = spool_dir

    async def __call__(self, outcome: CallOutcome) -> None:
        record = outcome_record(outcome)
        CALLS.labels(outcome_label(outcome)).inc()
        log.info("call=%s finished %s", outcome.plan.call_id, json.dumps(record),
                 extra={"call_id": outcome.plan.call_id, "event": "CallFinished"})
        if self.db is not None:
            await self._store_call_record(outcome, record)
        if self.submitter is not None and outcome.segments:
            await self._hand_over(outcome, record)

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

