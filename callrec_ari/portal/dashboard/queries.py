"""The dashboards' figures (issue 19): calls per Japan-time day, deliveries by state, the oldest
delivery still waiting, the connections whose deliveries keep failing, for one contract or (operators)
the whole platform.

Tenancy: a customer's figures count its own lines' call records (``Line.contract_id``) and its own
delivery copies (``Delivery.contract``, the contract id as text) only; the contract is looked up
through the caller's :class:`~callrec_ari.portal.tenancy.Scope` first. The counting is done by the
database (GROUP BY); the Japan-time day of a call is a CASE over the window's 30 day boundaries, given
as parameters, so the same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, true
from sqlalchemy.orm import Session

from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.db.models import Delivery, DeliveryAttempt
from callrec_ari.portal.i18n import JST
from callrec_ari.portal.tenancy import Scope
from callrec_ari.rules.delivery import DeliveryState, Outcome

WINDOW_DAYS = 30
STATES = tuple(str(s) for s in (DeliveryState.DELIVERED, DeliveryState.PENDING, DeliveryState.REJECTED,
                                DeliveryState.PURGED))
DELIVERED = str(Outcome.DELIVERED)


@dataclass(frozen=True, slots=True)
class Window:
    """The last ``len(days)`` Japan-time days, today included: [start, end) in UTC."""

    days: tuple[date, ...]
    start: datetime
    end: datetime

    def day_start(self, index: int) -> datetime:
        return self.start + timedelta(days=index)


def window(now: datetime, days: int = WINDOW_DAYS) -> Window:
    today = now.astimezone(JST).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), JST).astimezone(UTC)
    return Window(tuple(first + timedelta(days=i) for i in range(days)), start, start + timedelta(days=days))


@dataclass
class Figures:
    window: Window
    calls: dict[tuple[int, bool, str], int]  # (day index, recorded, reason id) -> calls
    states: dict[str, int]  # delivery copies created in the window, by state
    pending: int  # copies waiting now (whenever made)
    oldest_pending: dict[str, Any] | None
    failing: list[dict[str, Any]]
    contracts: list[dict[str, Any]] = field(default_factory=list)  # operators: per contract


def _day_index(column: Any, win: Window) -> ColumnElement[int]:
    """The window day (0 = the oldest) of an instant inside the window."""
    last = len(win.days) - 1
    if last == 0:
        return case((true(), 0))
    return case(*((column < win.day_start(i + 1), i) for i in range(last)), else_=last)


def call_counts(session: Session, win: Window, contract_id: int | None) -> dict[tuple[int, bool, str], int]:
    inner = select(
        _day_index(CallRecord.ended_at, win).label("day"),
        CallRecord.recorded.label("recorded"),
        CallRecord.reason.label("reason"),
    ).where(CallRecord.ended_at >= win.start, CallRecord.ended_at < win.end)
    if contract_id is not None:
        inner = inner.join(Line, Line.id == CallRecord.line_id).where(Line.contract_id == contract_id)
    # Grouped outside: PostgreSQL cannot tell that two copies of the CASE with parameters are one.
    sub = inner.subquery()
    rows = session.execute(
        select(sub.c.day, sub.c.recorded, sub.c.reason, func.count())
        .group_by(sub.c.day, sub.c.recorded, sub.c.reason)
    ).all()
    return {(int(day), bool(recorded), str(reason)): int(n) for day, recorded, reason, n in rows}


def _own(contract_id: int | None) -> tuple[ColumnElement[bool], ...]:
    """A customer's delivery copies; an operator's: all of them."""
    return () if contract_id is None else (Delivery.contract == str(contract_id),)


def delivery_states(session: Session, win: Window, contract_id: int | None) -> dict[str, int]:
    rows = session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.created_at >= win.start, Delivery.created_at < win.end, *_own(contract_id))
        .group_by(Delivery.state)
    ).all()
    found = {str(state): int(n) for state, n in rows}
    return {state: found.get(state, 0) for state in (*STATES, *sorted(set(found) - set(STATES)))}


def _pending(contract_id: int | None) -> tuple[ColumnElement[bool], ...]:
    return (Delivery.state == str(DeliveryState.PENDING), *_own(contract_id))


def oldest_pending(session: Session, contract_id: int | None) -> tuple[int, dict[str, Any] | None]:
    """How many copies wait now, and the oldest of them (when its call ended, its deadline)."""
    count = session.scalar(select(func.count()).select_from(Delivery).where(*_pending(contract_id))) or 0
    row = session.scalars(
        select(Delivery).where(*_pending(contract_id)).order_by(Delivery.created_at, Delivery.id).limit(1)
    ).first()
    if row is None:
        return int(count), None
    return int(count), {
        "call_ended_at": row.call_ended_at,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "attempts": row.attempt_count,
        "contract": row.contract,
        "connection_id": row.connection_id,
    }


def failing_connections(session: Session, contract_id: int | None) -> list[dict[str, Any]]:
    """The (enrolled) connections whose latest finished delivery attempts all failed: since when, how
    many attempts failed since the last success, how many copies wait for them."""
    own = (Delivery.connection_id.is_not(None), *_own(contract_id))
    attempt = DeliveryAttempt
    last_ok = (
        select(Delivery.connection_id.label("connection_id"), func.max(attempt.started_at).label("ok_at"))
        .join(Delivery, Delivery.id == attempt.delivery_id)
        .where(attempt.outcome == DELIVERED, *own)
        .group_by(Delivery.connection_id)
        .subquery()
    )
    failed = (
        select(Delivery.connection_id, func.min(attempt.started_at), func.max(attempt.started_at),
               func.count(attempt.id))
        .join(Delivery, Delivery.id == attempt.delivery_id)
        .outerjoin(last_ok, last_ok.c.connection_id == Delivery.connection_id)
        .where(attempt.outcome.is_not(None), attempt.outcome != DELIVERED,
               or_(last_ok.c.ok_at.is_(None), attempt.started_at > last_ok.c.ok_at), *own)
        .group_by(Delivery.connection_id)
    )
    failures = {cid: (since, latest, int(n)) for cid, since, latest, n in session.execute(failed)
                if cid is not None}
    if not failures:
        return []
    conns = session.scalars(
        select(Connection).where(Connection.id.in_(failures), Connection.removed_at.is_(None),
                                 true() if contract_id is None else Connection.contract_id == contract_id)
        .order_by(Connection.contract_id, Connection.id)
    ).all()
    waiting = dict(
        session.execute(
            select(Delivery.connection_id, func.count())
            .where(Delivery.connection_id.in_(failures), *_pending(contract_id))
            .group_by(Delivery.connection_id)
        ).all()
    )
    out = []
    for conn in conns:
        since, latest, n = failures[conn.id]
        last = session.scalars(
            select(attempt).join(Delivery, Delivery.id == attempt.delivery_id)
            .where(Delivery.connection_id == conn.id, attempt.started_at == latest, *own)
            .order_by(attempt.id.desc()).limit(1)
        ).first()
        out.append({
            "connection_id": conn.id,
            "contract_id": conn.contract_id,
            "type": conn.type,
            "endpoint": conn.endpoint,
            "since": since,
            "latest": latest,
            "failed_attempts": n,
            "pending": int(waiting.get(conn.id, 0)),
            "last_error": _error_of(last),
        })
    return out


def _error_of(attempt: DeliveryAttempt | None) -> str | None:
    if attempt is None:
        return None
    return attempt.error_id or (f"HTTP {attempt.status_code}" if attempt.status_code else None)


def per_contract(session: Session, failing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Operators: each contract with copies waiting or a failing connection (most waiting first)."""
    rows = session.execute(
        select(Delivery.contract, func.count(), func.min(Delivery.expires_at))
        .where(*_pending(None)).group_by(Delivery.contract)
    ).all()
    table: dict[int | None, dict[str, Any]] = {}
    for contract, n, deadline in rows:
        key = int(contract) if contract is not None and str(contract).isdigit() else None
        entry = table.setdefault(key, {"contract_id": key, "pending": 0, "deadline": None, "failing": []})
        entry["pending"] += int(n)
        entry["deadline"] = deadline if entry["deadline"] is None else min(entry["deadline"], deadline)
    for conn in failing:
        table.setdefault(conn["contract_id"], {"contract_id": conn["contract_id"], "pending": 0,
                                               "deadline": None, "failing": []})["failing"].append(conn)
    ids = [key for key in table if key is not None]
    names = dict(session.execute(select(Contract.id, Contract.holder_name).where(Contract.id.in_(ids))).all()
                 ) if ids else {}
    for key, entry in table.items():
        entry["holder_name"] = names.get(key) if key is not None else None
    return sorted(table.values(), key=lambda e: (-len(e["failing"]), -e["pending"], e["contract_id"] or 0))


def figures(session: Session, scope: Scope, contract_id: int | None, now: datetime) -> Figures:
    """A customer's figures (``contract_id``: its own, checked through the scope) or, with None, the
    platform's (operators only)."""
    if contract_id is None:
        scope.require_operator()
    else:
        contract_id = scope.contract(session, contract_id).id
    win = window(now)
    pending, oldest = oldest_pending(session, contract_id)
    failing = failing_connections(session, contract_id)
    return Figures(
        window=win,
        calls=call_counts(session, win, contract_id),
        states=delivery_states(session, win, contract_id),
        pending=pending,
        oldest_pending=oldest,
        failing=failing,
        contracts=per_contract(session, failing) if contract_id is None else [],
    )


__all__ = ["STATES", "WINDOW_DAYS", "Figures", "Window", "call_counts", "delivery_states",
           "failing_connections", "figures", "oldest_pending", "per_contract", "window"]
