"""One row per finished call: who, when billing started (R2.4), whether it was recorded and why.

The call flow hands :func:`record_call` the typed :class:`~callrec_ari.model.call.FinishedCall`.
Recording the same ``call_id`` again updates the row (the delivery outcome arrives after the call, by
:func:`set_delivery_outcome`, and is kept).
The caller owns the transaction: this module flushes, never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, bindparam, case, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from callrec_ari.contracts.models import Line
from callrec_ari.db.base import Base, UTCDateTime
from callrec_ari.model.call import FinishedCall
from callrec_ari.rules.charges import billable_seconds

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
    # Each sound of the notice and tone as played (rules.manifest.NoticeEntry.to_json): the timeline.
    notices: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)


# Built once: the statements of every call's end (building them is most of their cost in the
# hand-over's worker; SQLAlchemy keeps the compiled form by the statement's key).
_LINE_FOR = (
    select(Line).where(or_(Line.endpoint == bindparam("endpoint"), Line.number == bindparam("endpoint")))
    .order_by(case((Line.endpoint == bindparam("endpoint"), 0), else_=1), Line.removed_at.is_not(None),
              Line.id.desc())
    .limit(1)
)
_RECORD_OF = select(CallRecord).where(CallRecord.call_id == bindparam("call_id"))


def _line_for(session: Session, endpoint: str) -> Line | None:
    """The line with this endpoint, else with this number; the enrolled one, else the last one that
    had it. One query (it runs for every call that ends)."""
    return session.scalars(_LINE_FOR, {"endpoint": endpoint}).first()


def record_call(session: Session, call: FinishedCall, delivery_type: str | None = None) -> CallRecord:
    """Store (or update) the record of one finished call. ``delivery_type`` is "file" or "stream"
    for a recorded call, None otherwise; a delivery outcome already stored is kept."""
    if delivery_type is not None and delivery_type not in DELIVERY_TYPES:
        raise InvalidCallRecord(f"call record: delivery_type must be one of {', '.join(DELIVERY_TYPES)}, "
                                f"not {delivery_type!r}")
    plan, times = call.plan, call.times
    # Look everything up before adding the row: a query would autoflush a half-filled row.
    line = _line_for(session, plan.line) if plan.line else None
    row = session.scalars(_RECORD_OF, {"call_id": call.call_id}).first()
    if row is None:
        row = CallRecord(call_id=call.call_id)
        session.add(row)
    row.line_id = None if line is None else line.id
    row.line_endpoint = plan.line
    row.direction = plan.direction
    row.caller = "" if plan.caller_withheld else plan.caller_number  # R2.2: what customers are shown
    row.callee = plan.callee_number
    row.answered_at, row.notice_started_at, row.ended_at = times.answered, times.notice_started, call.ended
    row.billing_started_at = call.billing_start
    row.billable_seconds = billable_seconds(times.answered, times.notice_started, call.ended)
    row.recorded = call.recorded
    row.reason = call.reason
    row.delivery_type = delivery_type
    row.notices = [n.to_json() for n in call.notices]
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
