"""Who a session cookie belongs to: the cookie's token is looked up by its sha256 (R4.2)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callrec_ari.portal.auth.models import PortalSession, PortalUser


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def resolve(
    session: Session, token: str, now: datetime | None = None
) -> tuple[PortalUser, PortalSession] | None:
    """The live session and its user for a cookie token, else None."""
    now = now or datetime.now(UTC)
    found = session.execute(
        select(PortalSession, PortalUser)
        .join(PortalUser, PortalUser.id == PortalSession.user_id)
        .where(PortalSession.token_hash == hash_token(token))
    ).first()
    if found is None or found[0].expires_at <= now or found[1].disabled:
        return None
    return found[1], found[0]


__all__ = ["hash_token", "resolve"]
