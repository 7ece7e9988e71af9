"""Closing contracts whose end date has passed (docs/privacy.md, "When a contract ends"), part of the
daily ``callrec privacy purge``. It lives with the portal because it ends the contract's accounts too
(the portal's); the contracts' own tables are the contracts package's.

From its end date a contract's lines record nothing (contracts/directory.py says so to the call flow
at once). Then, for each ended contract:

1. its lines still enrolled are removed as of the end date: they are charged up to it (rules/charges.py),
   so the month's invoice is its final one;
2. its portal accounts are disabled, their sessions ended;
3. once no copy of its calls waits for delivery (each was delivered, or purged at its 7-day deadline),
   its connections are removed and their secrets wiped: nothing of the customer is left but what the
   retention policy keeps of its call records. One audit record, ``contract-closed``, says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from callrec_ari.contracts.models import Contract, Line
from callrec_ari.db.models import AuditRecord, Delivery
from callrec_ari.portal.auth.models import PortalSession, PortalUser
from callrec_ari.rules.delivery import DeliveryState

WAITING = (DeliveryState.PENDING, DeliveryState.REJECTED)  # still on the platform, not yet purged


@dataclass(frozen=True, slots=True)
class ClosingReport:
    lines_removed: int
    users_disabled: int
    contracts_closed: int


def close_ended_contracts(session: Session, now: datetime, actor: str) -> ClosingReport:
    lines_removed = users_disabled = closed = 0
    ended = session.scalars(select(Contract).where(Contract.ends_at.is_not(None), Contract.ends_at <= now))
    for contract in ended:
        assert contract.ends_at is not None
        for line in contract.lines:
            if line.removed_at is None:
                line.removed_at = max(contract.ends_at, line.enrolled_at)
                lines_removed += 1
        users = session.scalars(select(PortalUser).where(PortalUser.contract_id == contract.id,
                                                         PortalUser.disabled.is_(False))).all()
        for user in users:
            user.disabled = True
            session.execute(delete(PortalSession).where(PortalSession.user_id == user.id))
            users_disabled += 1
        live = [c for c in contract.connections if c.removed_at is None]
        if not live:
            continue
        waiting = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.contract == str(contract.id), Delivery.state.in_([str(s) for s in WAITING])))
        if waiting:
            continue  # delivered (or purged at their deadline) first: its connections carry them
        for conn in live:
            # removed as of the end date (nothing is charged after it), its secret wiped
            conn.removed_at = max(contract.ends_at, conn.enrolled_at)
            conn.secret, conn.age_recipient = "", None
        session.add(AuditRecord(at=now, actor=actor, action="contract-closed",
                                subject=f"contract:{contract.id}", reason="contract-ended", details={
                                    "ended_at": contract.ends_at.isoformat(),
                                    "connections_removed": [c.id for c in live],
                                    "lines": session.scalar(select(func.count()).select_from(Line).where(
                                        Line.contract_id == contract.id))}))
        closed += 1
    session.flush()
    return ClosingReport(lines_removed, users_disabled, closed)


__all__ = ["ClosingReport", "close_ended_contracts"]
