"""Tables: portal accounts, their sessions, and login attempts (R4.2).

A customer administrator belongs to exactly one contract; an operator to none (the carrier's staff).
Sessions are server-side rows keyed by the sha256 of the cookie token, so a stolen database does not
hold usable cookies and a logout or a disabled account ends the session at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callrec_ari.contracts.models import Contract  # noqa: F401  (the foreign key's table)
from callrec_ari.db.base import Base, UTCDateTime

CUSTOMER_ADMIN, OPERATOR = "customer_admin", "operator"
ROLES = (CUSTOMER_ADMIN, OPERATOR)


class PortalUser(Base):
    __tablename__ = "portal_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id (argon2-cffi encoded form)
    role: Mapped[str] = mapped_column(String(32))  # one of ROLES
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"), index=True, default=None)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locale: Mapped[str | None] = mapped_column(String(8), default=None)  # "ja" / "en"; None: Japanese


class PortalSession(Base):
    __tablename__ = "portal_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginAttempt(Base):
    __tablename__ = "portal_login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(128))
    # The client's address as the limit counts it (network.address_key): IPv4, or an IPv6 /64.
    address: Mapped[str] = mapped_column(String(64), default="", server_default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    success: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_portal_login_attempts_login_at", "login", "at"),
        Index("ix_portal_login_attempts_address_at", "address", "at"),
    )


__all__ = ["CUSTOMER_ADMIN", "OPERATOR", "ROLES", "LoginAttempt", "PortalSession", "PortalUser"]
