"""What the portal shows of lines: plain dicts (for templates and the JSON API alike), through a Scope."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from callrec_ari.contracts.directory import DEFAULT_NOTICE
from callrec_ari.contracts.models import Line
from callrec_ari.notices.service import choices
from callrec_ari.portal.contracts.queries import contract_dict
from callrec_ari.portal.tenancy import Scope


def line_dict(line: Line) -> dict[str, Any]:
    return {
        "number": line.number,
        "endpoint": line.endpoint,
        "holder_name": line.holder_name,
        "recording_started": line.recording_started,
        "consent": line.consent,
        "notice": line.notice,
        "withhold_caller_id": line.withhold_caller_id,
        "audio_channels": line.audio_channels,  # None: the contract's
        "suspended": line.suspended,
        "suspended_reason": line.suspended_reason,
        "contract_id": line.contract_id,
    }


def lines_page(
    session: Session, scope: Scope, contract_id: int, q: str = "", page: int = 1, per_page: int = 50
) -> dict[str, Any]:
    contract = scope.contract(session, contract_id)
    where = [Line.contract_id == contract.id, Line.removed_at.is_(None)]
    if q.strip():
        pattern = f"%{q.strip()[:40].replace('%', '').replace('_', '')}%"
        where.append(
            or_(Line.number.like(pattern), Line.endpoint.like(pattern), Line.holder_name.like(pattern))
        )
    total = session.scalar(select(func.count()).select_from(Line).where(*where)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = session.scalars(
        select(Line).where(*where).order_by(Line.number).offset((page - 1) * per_page).limit(per_page)
    )
    return {
        "contract": contract_dict(contract),
        "q": q,
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "total": total,
        "lines": [line_dict(r) for r in rows],
        "notices": choices(session, contract.id),
        # What a line without its own notice plays: the product's default, named in one place.
        "default_notice": DEFAULT_NOTICE,
    }


__all__ = ["line_dict", "lines_page"]
