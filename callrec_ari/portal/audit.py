"""Every change made in the portal, with who made it, in the shared ``audit_log`` table.

``subject`` is ``contract:<id>`` so a customer's audit page is one indexed lookup; what changed
(line number, before/after) is in ``details``; ``reason`` is "portal" or the operator's reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callrec_ari.db.models import AuditRecord
from callrec_ari.portal.tenancy import Scope


def subject(contract_id: int) -> str:
    return f"contract:{contract_id}"


def record(
    session: Session, scope: Scope, action: str, contract_id: int, reason: str = "portal", **details: Any
) -> None:
    session.add(
        AuditRecord(
            at=datetime.now(UTC),
            actor=scope.actor,
            action=action,
            subject=subject(contract_id),
            reason=reason[:128],
            details=details,
        )
    )


def entries(
    session: Session, scope: Scope, contract_id: int | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Newest first. A customer sees its own contract's entries only."""
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if not scope.is_operator:
        query = query.where(AuditRecord.subject == subject(scope.require_customer()))
    elif contract_id is not None:
        query = query.where(AuditRecord.subject == subject(contract_id))
    return [
        {
            "id": r.id,
            "at": r.at.isoformat(),
            "actor": r.actor,
            "action": r.action,
            "subject": r.subject,
            "reason": r.reason,
            "details": r.details,
        }
        for r in session.scalars(query)
    ]


__all__ = ["entries", "record", "subject"]
