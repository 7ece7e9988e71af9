"""What the portal shows of calls: the list (a page of it, or batches for the CSV export) and one call.

Tenancy: a customer sees a call when its line belongs to the customer's contract, or when one of the
call's delivery copies is the customer's (a call between two customers' lines reaches both). The
customer whose copy it is but not the line sees the call from its own side: its line is the record's
other party and the direction is turned round. Only the customer's own delivery copy is shown. An
operator's scope sees every call (and every copy).
"""

from __future__ import annotations

from datetime import datetime
from math import ceil
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.contracts.models import Line
from callrec_ari.db.models import Delivery
from callrec_ari.portal.calls.filters import CallFilter
from callrec_ari.portal.errors import BadInput, NotFound
from callrec_ari.portal.i18n import gettext as _
from callrec_ari.portal.reasons import delivery_state_text, direction_text, reason_text
from callrec_ari.portal.tenancy import Scope

PER_PAGE = 50
CSV_LIMIT = 100_000
WHEN = func.coalesce(CallRecord.answered_at, CallRecord.ended_at)  # a call's time: its answer, else its end


def _key(scope: Scope) -> str | None:
    """The contract id a customer's delivery copies carry (None: an operator, who sees every copy)."""
    return None if scope.is_operator else str(scope.contract_id)


def _visible(scope: Scope) -> ColumnElement[bool]:
    if scope.is_operator:
        return true()
    copy = exists().where(Delivery.call_id == CallRecord.call_id, Delivery.contract == _key(scope))
    return or_(scope.owns(Line.contract_id), copy)


def _foreign(scope: Scope) -> ColumnElement[bool]:
    """The call's line is another contract's: this customer sees it through its own delivery copy."""
    if scope.is_operator:
        return false()
    return and_(Line.contract_id.is_not(None), Line.contract_id != scope.contract_id)


def _state(scope: Scope) -> ColumnElement[Any]:
    """Where the viewer's copy's delivery stands (an operator: the first copy's), else the outcome the
    call record keeps for its own line (a stream, say)."""
    copies = select(Delivery.state).where(Delivery.call_id == CallRecord.call_id)
    if not scope.is_operator:
        copies = copies.where(Delivery.contract == _key(scope))
    first = copies.order_by(Delivery.id).limit(1).scalar_subquery()
    return func.coalesce(first, case((_foreign(scope), null()), else_=CallRecord.delivery_outcome))


def _flip(column: Any) -> ColumnElement[str]:
    return case((column == "outgoing", literal("incoming")), else_=literal("outgoing"))


def _query(session: Session, scope: Scope, wanted: CallFilter) -> Select[Any]:
    foreign = _foreign(scope)
    query = (
        select(CallRecord, Line.number, Line.contract_id, foreign.label("foreign"),
               _state(scope).label("state"))
        .select_from(CallRecord)
        .outerjoin(Line, Line.id == CallRecord.line_id)
        .where(_visible(scope))
    )
    if wanted.line:
        known = session.scalar(
            select(Line.id).where(Line.number == wanted.line, scope.owns(Line.contract_id)).limit(1))
        if known is None:
            raise BadInput("line-unknown", _("%(line)s is not one of your lines.") % {"line": wanted.line})
        query = query.where(or_(Line.number == wanted.line, CallRecord.caller == wanted.line,
                                CallRecord.callee == wanted.line))
    if wanted.start is not None:
        query = query.where(WHEN >= wanted.start)
    if wanted.end is not None:
        query = query.where(WHEN < wanted.end)
    if wanted.direction:
        query = query.where(case((foreign, _flip(CallRecord.direction)), else_=CallRecord.direction)
                            == wanted.direction)
    if wanted.recorded is not None:
        query = query.where(CallRecord.recorded.is_(wanted.recorded))
    if wanted.delivery:
        query = query.where(_state(scope) == wanted.delivery)
    return query


def _seconds(rec: CallRecord) -> int:
    """How long the parties were connected, in whole seconds (a started second counts, as billed)."""
    if rec.answered_at is None:
        return 0
    return max(0, ceil((rec.ended_at - rec.answered_at).total_seconds()))


def call_dict(rec: CallRecord, number: str | None, contract_id: int | None, foreign: bool,
              state: str | None) -> dict[str, Any]:
    """One call as the viewer sees it (translated texts in the request's language)."""
    outgoing = rec.direction == "outgoing"
    own_side, other_side = (rec.caller, rec.callee) if outgoing else (rec.callee, rec.caller)
    direction = rec.direction
    line, other = number or own_side, other_side
    if foreign:
        direction, line, other = ("incoming" if outgoing else "outgoing"), other_side, own_side
    return {
        "call_id": rec.call_id,
        "when": rec.answered_at or rec.ended_at,
        "answered_at": rec.answered_at,
        "notice_started_at": rec.notice_started_at,
        "ended_at": rec.ended_at,
        "line": line,
        "direction": direction,
        "direction_text": direction_text(direction),
        "other": other,  # "" when withheld
        "caller": rec.caller,
        "callee": rec.callee,
        "duration_seconds": _seconds(rec),
        "billable_seconds": rec.billable_seconds,
        "recorded": rec.recorded,
        "reason": rec.reason,
        "reason_text": reason_text(rec.reason),
        "delivery_type": rec.delivery_type,
        "delivery_state": state or "",
        "delivery_state_text": delivery_state_text(state),
        "contract_id": contract_id,
        "notices": rec.notices,  # None: a call recorded before the notices were kept (not known)
    }


def _order(query: Select[Any]) -> Select[Any]:
    return query.order_by(WHEN.desc(), CallRecord.id.desc())


def calls_page(session: Session, scope: Scope, wanted: CallFilter, page: int = 1,
               per_page: int = PER_PAGE) -> dict[str, Any]:
    """A page of the viewer's calls matching ``wanted``, newest first."""
    query = _query(session, scope, wanted)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = session.execute(_order(query).offset((page - 1) * per_page).limit(per_page)).all()
    return {
        "calls": [call_dict(*row) for row in rows],
        "total": total,
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "filters": wanted.form,
        "query": wanted.query_string,
        "filtered": wanted.active,
    }


def calls_batch(session: Session, scope: Scope, wanted: CallFilter, after: tuple[datetime, int] | None,
                size: int) -> list[dict[str, Any]]:
    """The next ``size`` calls after ``after`` (the last one's time and row id), newest first: the
    export reads the list in batches, so calls arriving meanwhile neither repeat nor shift it."""
    query = _query(session, scope, wanted)
    if after is not None:
        when, row_id = after
        query = query.where(or_(WHEN < when, and_(WHEN == when, CallRecord.id < row_id)))
    rows = session.execute(_order(query).limit(size)).all()
    return [{**call_dict(*row), "row_id": row[0].id} for row in rows]


def call_detail(session: Session, scope: Scope, call_id: str) -> dict[str, Any]:
    """One call and the viewer's own delivery copies (an operator: every copy), with their attempts.
    Another customer's call is "not found", exactly as one that does not exist."""
    found = session.execute(
        _query(session, scope, CallFilter()).where(CallRecord.call_id == call_id).limit(1)).first()
    if found is None:
        raise NotFound("call", call_id)
    copies = select(Delivery).where(Delivery.call_id == call_id)
    if not scope.is_operator:
        copies = copies.where(Delivery.contract == _key(scope))
    deliveries = [
        {
            "contract": d.contract,
            "state": d.state,
            "state_text": delivery_state_text(d.state),
            "created_at": d.created_at,
            "delivered_at": d.delivered_at,
            "expires_at": d.expires_at,
            "files_removed_at": d.files_removed_at,
            "attempts": [
                {"number": a.number, "started_at": a.started_at, "finished_at": a.finished_at,
                 "outcome": a.outcome, "status_code": a.status_code, "error_id": a.error_id}
                for a in d.attempts
            ],
        }
        for d in session.scalars(copies.order_by(Delivery.id))
    ]
    return {"call": call_dict(*found), "deliveries": deliveries}


__all__ = ["CSV_LIMIT", "PER_PAGE", "call_detail", "call_dict", "calls_batch", "calls_page"]
