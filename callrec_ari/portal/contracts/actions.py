"""Contract-level changes: notice omission (R2.3), the customer's connections (R1.5), and the
operator's suspension of a contract or one of its lines (R5.5). Each change is audited; the caller
commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from callrec_ari.contracts import service
from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.model.plan import AUDIO_LAYOUTS
from callrec_ari.portal import audit
from callrec_ari.portal.contracts import connections
from callrec_ari.portal.errors import BadInput, PortalError
from callrec_ari.portal.tenancy import Scope


def set_omit_notice(session: Session, scope: Scope, omit: bool) -> Contract:
    contract = scope.contract(session, scope.require_customer())
    if contract.omit_notice != omit:
        contract.omit_notice = omit
        audit.record(session, scope, "notice-omitted" if omit else "notice-restored", contract.id)
    session.flush()
    return contract


def set_audio_channels(session: Session, scope: Scope, layout: str) -> Contract:
    """Mono or stereo files for the contract's lines (a line may choose otherwise)."""
    contract = scope.contract(session, scope.require_customer())
    if layout not in AUDIO_LAYOUTS:
        raise BadInput("audio-channels-invalid", f"audio_channels must be one of: {', '.join(AUDIO_LAYOUTS)}")
    if contract.audio_channels != layout:
        audit.record(session, scope, "audio-channels-set", contract.id, before=contract.audio_channels,
                     after=layout)
        contract.audio_channels = layout
    session.flush()
    return contract


def add_connection(session: Session, scope: Scope, type_: str, endpoint: str, secret: str,
                   delivery: DeliverySettings) -> Connection:
    contract = scope.contract(session, scope.require_customer())
    return connections.add(session, scope, contract, type_, endpoint, secret, delivery)


def edit_connection(session: Session, scope: Scope, connection_id: int, endpoint: str, secret: str,
                    delivery: DeliverySettings, legacy_signature: bool | None = None,
                    age_recipient: str | None = None) -> Connection:
    """The customer's own connection only: another contract's is "not found" (404)."""
    scope.require_customer()
    conn = scope.connection(session, connection_id)
    return connections.edit(session, scope, conn, endpoint, secret, delivery, legacy_signature, age_recipient)


def remove_connection(session: Session, scope: Scope, connection_id: int) -> Connection:
    scope.require_customer()
    return connections.remove(session, scope, scope.connection(session, connection_id))


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
    "edit_connection",
    "remove_connection",
    "set_audio_channels",
    "set_omit_notice",
    "suspend_contract",
    "suspend_line",
]
