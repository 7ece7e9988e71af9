"""Contract-level changes: notice omission (R2.3), the customer's connections (R1.5), and the
operator's suspension of a contract or one of its lines (R5.5). Each change is audited; the caller
commits."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from callrec_ari.contracts import service
from callrec_ari.contracts.models import CONNECTION_TYPES, Connection, Contract, Line
from callrec_ari.portal import audit
from callrec_ari.portal.errors import BadInput, PortalError
from callrec_ari.portal.tenancy import Scope


def set_omit_notice(session: Session, scope: Scope, omit: bool) -> Contract:
    contract = scope.contract(session, scope.require_customer())
    if contract.omit_notice != omit:
        contract.omit_notice = omit
        audit.record(session, scope, "notice-omitted" if omit else "notice-restored", contract.id)
    session.flush()
    return contract


def check_endpoint(type_: str, endpoint: str) -> None:
    """A file connection posts to an http(s) URL; a stream connection names a host (URL or host:port)."""
    if type_ not in CONNECTION_TYPES:
        raise BadInput(
            "connection-type-invalid", f"delivery type must be one of {', '.join(CONNECTION_TYPES)}"
        )
    text = endpoint.strip()
    if not text or len(text) > 500 or any(c.isspace() or ord(c) < 32 for c in text):
        raise BadInput("connection-endpoint-invalid", "give the customer equipment's address (no spaces)")
    if type_ == "file":
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(
                "connection-endpoint-invalid",
                "a file connection needs an http:// or https:// URL, e.g. https://rec.example.com/recordings",
            )


def add_connection(session: Session, scope: Scope, type_: str, endpoint: str, secret: str) -> Connection:
    contract_id = scope.require_customer()
    check_endpoint(type_, endpoint)
    if not 16 <= len(secret) <= 200:
        raise BadInput("connection-secret-invalid", "the shared secret is 16-200 characters")
    conn = service.enroll_connection(session, contract_id, type_, endpoint, secret)
    audit.record(
        session,
        scope,
        "connection-added",
        contract_id,
        connection=conn.id,
        type=type_,
        endpoint=conn.endpoint,
    )
    return conn


def remove_connection(session: Session, scope: Scope, connection_id: int) -> Connection:
    scope.require_customer()
    conn = scope.connection(session, connection_id)
    service.remove_connection(session, conn.id)
    audit.record(session, scope, "connection-removed", conn.contract_id, connection=conn.id)
    return conn


def suspend_contract(session: Session, scope: Scope, contract_id: int, reason: str, lift: bool) -> Contract:
    scope.require_operator()
    contract = scope.contract(session, contract_id)
    reason = reason.strip()
    if not lift and not reason:
        raise BadInput("reason-missing", "a suspension needs a reason (R5.5)")
    if not lift and contract.suspended:
        raise PortalError("already-suspended", f"contract {contract_id} is already suspended", 409)
    service.suspend(session, contract_id=contract.id, reason=reason[:1000] or None, lift=lift)
    audit.record(
        session,
        scope,
        "contract-resumed" if lift else "contract-suspended",
        contract.id,
        reason=(reason or "lifted")[:128],
    )
    return contract


def suspend_line(session: Session, scope: Scope, number: str, reason: str, lift: bool) -> Line:
    """R5.5: the operator stops (or restarts) one line's service for privacy reasons."""
    scope.require_operator()
    line = scope.line(session, number)
    reason = reason.strip()
    if not lift and not reason:
        raise BadInput("reason-missing", "a suspension needs a reason (R5.5)")
    if not lift and line.suspended:
        raise PortalError("already-suspended", f"line {number} is already suspended", 409)
    line.suspended, line.suspended_reason = not lift, None if lift else reason[:1000]
    audit.record(
        session,
        scope,
        "line-resumed" if lift else "line-suspended",
        line.contract_id,
        reason=(reason or "lifted")[:128],
        number=line.number,
    )
    session.flush()
    return line


__all__ = [
    "add_connection",
    "check_endpoint",
    "remove_connection",
    "set_omit_notice",
    "suspend_contract",
    "suspend_line",
]
