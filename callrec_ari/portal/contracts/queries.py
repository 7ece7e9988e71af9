"""What the portal shows of contracts: the contract, its connections, its calls' deliveries, its
charges (R6), and the operator's list of contracts. Plain dicts, always through a Scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from callrec_ari.billing.invoice import contract_invoice, invoice_dict
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.db.models import Delivery
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.tenancy import Scope
from callrec_ari.rules.charges import Month


def _iso(stamp: datetime | None) -> str | None:
    return None if stamp is None else stamp.isoformat()


def contract_dict(contract: Contract) -> dict[str, Any]:
    return {
        "id": contract.id,
        "holder_name": contract.holder_name,
        "omit_notice": contract.omit_notice,
        "audio_channels": contract.audio_channels,
        "suspended": contract.suspended,
        "suspended_reason": contract.suspended_reason,
    }


def connection_dict(conn: Connection) -> dict[str, Any]:
    # The secret is write-only: shown as its last 4 characters ("" when there is none: sftp://).
    return {
        "id": conn.id,
        "type": conn.type,
        "endpoint": conn.endpoint,
        "secret_hint": "…" + conn.secret[-4:] if conn.secret else "",
        "legacy_signature": conn.legacy_signature,  # X-Callrec-Signature sent beside Standard Webhooks
        "age_recipient": conn.age_recipient,  # file: copies sealed to this age public key (or None)
        "enrolled_at": _iso(conn.enrolled_at),
    }


def connections(session: Session, scope: Scope, contract_id: int) -> list[dict[str, Any]]:
    contract = scope.contract(session, contract_id)
    rows = session.scalars(
        select(Connection)
        .where(Connection.contract_id == contract.id, Connection.removed_at.is_(None))
        .order_by(Connection.id)
    )
    return [connection_dict(c) for c in rows]


def deliveries(session: Session, scope: Scope, contract_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """Recent calls of the contract's lines and where their delivery stands (R1.1-R1.4)."""
    contract = scope.contract(session, contract_id)
    rows = session.execute(
        select(CallRecord, Line.number, Delivery)
        .join(Line, Line.id == CallRecord.line_id)
        # This contract's copy only: a call between two customers' lines has one copy each.
        .outerjoin(Delivery, (Delivery.call_id == CallRecord.call_id)
                   & or_(Delivery.contract == str(contract.id), Delivery.contract.is_(None)))
        .where(Line.contract_id == contract.id)
        .order_by(CallRecord.ended_at.desc())
        .limit(limit)
    ).all()
    out = []
    for rec, number, dlv in rows:
        state = (
            dlv.state
            if dlv is not None
            else (rec.delivery_outcome or ("not-recorded" if not rec.recorded else "pending"))
        )
        out.append(
            {
                "call_id": rec.call_id,
                "line": number,
                "direction": rec.direction,
                "caller": rec.caller,
                "callee": rec.callee,
                "ended_at": _iso(rec.ended_at),
                "recorded": rec.recorded,
                "delivery_type": rec.delivery_type,
                "state": state,
                "attempts": dlv.attempt_count if dlv else 0,
                "next_attempt_at": _iso(dlv.next_attempt_at) if dlv and dlv.delivered_at is None else None,
                "expires_at": _iso(dlv.expires_at) if dlv else None,
                "delivered_at": _iso(dlv.delivered_at) if dlv else None,
                "files_removed_at": _iso(dlv.files_removed_at) if dlv else None,
                "last_error": dlv.last_error if dlv else None,
            }
        )
    return out


def contracts(session: Session, scope: Scope, q: str = "") -> list[dict[str, Any]]:
    scope.require_operator()
    query = (
        select(Contract, func.count(Line.id))
        .outerjoin(Line, (Line.contract_id == Contract.id) & Line.removed_at.is_(None))
        .group_by(Contract.id)
    )
    if q.strip():
        query = query.where(Contract.holder_name.like(f"%{q.strip()[:80]}%"))
    return [
        {**contract_dict(c), "lines": n} for c, n in session.execute(query.order_by(Contract.id).limit(500))
    ]


def parse_month(text: str | None) -> Month:
    now = datetime.now(UTC)
    if not text:
        return Month(now.year, now.month)
    try:
        return Month.parse(text[:20])
    except ValueError as exc:
        raise BadInput("month-invalid", str(exc)) from exc


def invoice(session: Session, scope: Scope, contract_id: int, month: str | None) -> dict[str, Any]:
    """The same figures as the billing export (billing.invoice.contract_invoice)."""
    contract = scope.contract(session, contract_id)
    return invoice_dict(contract_invoice(session, contract, parse_month(month)))


__all__ = [
    "connection_dict",
    "connections",
    "contract_dict",
    "contracts",
    "deliveries",
    "invoice",
    "parse_month",
]
