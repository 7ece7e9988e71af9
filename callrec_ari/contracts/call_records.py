"""One row per finished call: who, when billing started (R2.4), whether it was recorded and why.

The call flow hands :func:`record_call` the typed :class:`~callrec_ari.model.call.FinishedCall`.
Recording the same ``call_id`` again updates the row (the delivery outcome arrives after the call, by
:func:`set_delivery_outcome`, and is kept).
The caller owns the transaction: this module flushes, never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    case,
    insert,
    or_,
    select,
    update,
)
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
# hand-over's worker; SQLAlchemy keeps the compiled form by the statement's key). Core, not the ORM's
# unit of work: the row is written, never loaded (docs/performance.md).
_LINE_FOR = (
    select(Line.id).where(or_(Line.endpoint == bindparam("endpoint"), Line.number == bindparam("endpoint")))
    .order_by(case((Line.endpoint == bindparam("endpoint"), 0), else_=1), Line.removed_at.is_not(None),
              Line.id.desc())
    .limit(1)
)
_TABLE = cast(Table, CallRecord.__table__)
_RECORD_OF = select(_TABLE.c.id).where(_TABLE.c.call_id == bindparam("call_id"))
_INSERT = insert(_TABLE).returning(_TABLE.c.id)
_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("record_id"))  # SET: the values given


def store_call(session: Connection | Session, call: FinishedCall, delivery_type: str | None = None) -> int:
    """Store (or update) the record of one finished call; its row id. ``delivery_type`` is "file" or
    "stream" for a recorded call, None otherwise; a delivery outcome already stored is kept."""
    if delivery_type is not None and delivery_type not in DELIVERY_TYPES:
        raise InvalidCallRecord(f"call record: delivery_type must be one of {', '.join(DELIVERY_TYPES)}, "
                                f"not {delivery_type!r}")
    plan, times = call.plan, call.times
    values = {
        "line_id": session.scalar(_LINE_FOR, {"endpoint": plan.line}) if plan.line else None,
        "line_endpoint": plan.line,
        "direction": plan.direction,
        "caller": "" if plan.caller_withheld else plan.caller_number,  # R2.2: what customers are shown
        "callee": plan.callee_number,
        "answered_at": times.answered,
        "notice_started_at": times.notice_started,
        "ended_at": call.ended,
        "billing_started_at": call.billing_start,
        "billable_seconds": billable_seconds(times.answered, times.notice_started, call.ended),
        "recorded": call.recorded,
        "reason": call.reason,
        "delivery_type": delivery_type,
        "notices": [n.to_json() for n in call.notices],
    }
    existing = session.scalar(_RECORD_OF, {"call_id": call.call_id})
    if existing is None:
        return int(session.execute(_INSERT, {"call_id": call.call_id, **values}).scalar_one())
    session.execute(_UPDATE, {"record_id": existing, **values})
    return int(existing)


def record_call(session: Session, call: FinishedCall, delivery_type: str | None = None) -> CallRecord:
    """:func:`store_call`, and the row as stored."""
    row = session.get(CallRecord, store_call(session, call, delivery_type), populate_existing=True)
    assert row is not None
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
           "set_delivery_outcome", "store_call"]
