"""What the portal shows of uploaded notices: plain dicts, through a Scope (a customer sees its own)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callrec_ari.notices.models import NoticeUpload
from callrec_ari.portal.tenancy import Scope


def _iso(stamp: datetime | None) -> str | None:
    return None if stamp is None else stamp.isoformat()


def upload_dict(row: NoticeUpload) -> dict[str, Any]:
    return {
        "id": row.id,
        "contract_id": row.contract_id,
        "label": row.label,
        "state": row.state,
        "numbers": list(row.numbers),
        "duration_ms": row.duration_ms,
        "sound": row.sound,
        "original_name": row.original_name,
        "uploaded_by": row.uploaded_by,
        "uploaded_at": _iso(row.uploaded_at),
        "decided_by": row.decided_by,
        "decided_at": _iso(row.decided_at),
        "decision_reason": row.decision_reason,
    }


def uploads(session: Session, scope: Scope, state: str | None = None) -> list[dict[str, Any]]:
    query = select(NoticeUpload).where(scope.owns(NoticeUpload.contract_id)).order_by(NoticeUpload.id.desc())
    if state:
        query = query.where(NoticeUpload.state == state)
    return [upload_dict(r) for r in session.scalars(query.limit(500))]


__all__ = ["upload_dict", "uploads"]
