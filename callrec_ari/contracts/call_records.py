"""One row per finished call: who, when billing started (R2.4), whether it was recorded and why.

The call flow hands :func:`record_call` the same dict it logs (``callrec_ari.app.outcome_record``):
ISO-8601 strings or aware datetimes. Recording the same ``call_id`` again updates the row (the delivery
outcome arrives after the call). The caller owns the transaction: this module flushes, never commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from callrec_ari.contracts.models import Line
from callrec_ari.db.base import Base, UTCDateTime
from callrec_ari.rules.charges import billable_seconds, billing_start

DIRECTIONS = ("outgoing", "incoming")
DELIVERY_TYPES = ("file", "stream")


class InvalidCallRecord(ValueError):
    error_id = "call-record-invalid"


class CallRecord(Base):
    __tablename__ = "call_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), unique=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id"), index=True, default=None)
    line_endpoint: Mapped[str] = mapped_column(String(80))  # as the call flow named the line
    direction: Mapped[str] = mapped_column(String(16))
    caller: Mapped[str] = mapped_column(String(64))  # "" when withheld
    callee: Mapped[str] = mapped_column(String(64))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    notice_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    billing_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)  # R2.4
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    billable_seconds: Mapped[int] = mapped_column(Integer, default=0)
    recorded: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(64))  # rules.recording / rules.numbers reason id
    delivery_type: Mapped[str | None] = mapped_column(String(16), default=None)  # "file" / "stream"
    delivery_outcome: Mapped[str | None] = mapped_column(String(32), default=None)  # e.g. "delivered"
    detail: Mapped[str | None] = mapped_column(Text, default=None)


def _stamp(data: Mapping[str, Any], key: str, required: bool = False) -> datetime | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise InvalidCallRecord(f"call record: {key!r} is required")
        return None
    try:
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidCallRecord(f"call record: {key!r} is not an ISO-8601 time: {value!r}") from exc
    if stamp.tzinfo is None:
        raise InvalidCallRecord(f"call record: {key!r} has no time zone: {value!r}")
    return stamp


def _choice(data: Mapping[str, Any], key: str, allowed: tuple[str, ...], required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if value not in allowed:
        raise InvalidCallRecord(f"call record: {key!r} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _line_for(session: Session, endpoint: str) -> Line | None:
    """The enrolled line with this endpoint (or number), else the last one that had it."""
    for column in (Line.endpoint, Line.number):
        row = session.scalars(
            select(Line).where(column == endpoint).order_by(Line.removed_at.is_not(None), Line.id.desc())
        ).first()
        if row is not None:
            return row
    return None


def record_call(session: Session, record: Mapping[str, Any]) -> CallRecord:
    """Store (or update) the record of one finished call; raises :class:`InvalidCallRecord`."""
    call_id = str(record.get("call_id") or "")
    if not call_id:
        raise InvalidCallRecord("call record: 'call_id' is required")
    direction = _choice(record, "direction", DIRECTIONS, required=True)
    ended = _stamp(record, "ended", required=True)
    answered, notice = _stamp(record, "answered"), _stamp(record, "notice_started")
    assert direction is not None and ended is not None
    endpoint = str(record.get("line") or "")
    delivery_type = _choice(record, "delivery_type", DELIVERY_TYPES, required=False)
    # Look everything up before adding the row: a query would autoflush a half-filled row.
    line = _line_for(session, endpoint) if endpoint else None
    row = session.scalars(select(CallRecord).where(CallRecord.call_id == call_id)).first()
    if row is None:
        row = CallRecord(call_id=call_id)
        session.add(row)
    row.line_id = None if line is None else line.id
    row.line_endpoint = endpoint
    row.direction = direction
    row.caller = str(record.get("caller") or "")
    row.callee = str(record.get("callee") or "")
    row.answered_at, row.notice_started_at, row.ended_at = answered, notice, ended
    row.billing_started_at = billing_start(answered, notice)
    row.billable_seconds = billable_seconds(answered, notice, ended)
    row.recorded = bool(record.get("recorded", False))
    row.reason = str(record.get("reason") or "")
    # The delivery fields arrive later too: a key left out keeps what is stored.
    if "delivery_type" in record:
        row.delivery_type = delivery_type
    if "delivery_outcome" in record:
        outcome = record.get("delivery_outcome")
        row.delivery_outcome = None if outcome is None else str(outcome)
    row.detail = None if record.get("detail") is None else str(record.get("detail"))
    session.flush()
    return row


def set_delivery_outcome(session: Session, call_id: str, outcome: str) -> bool:
    """The delivery worker's verdict for a call; False when no such call record exists."""
    row = session.scalars(select(CallRecord).where(CallRecord.call_id == call_id)).first()
    if row is None:
        return False
    row.delivery_outcome = outcome
    session.flush()
    return True


__all__ = ["DELIVERY_TYPES", "DIRECTIONS", "CallRecord", "InvalidCallRecord", "record_call",
           "set_delivery_outcome"]
