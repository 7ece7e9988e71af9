"""The login limit (R4.2, issue 16): failures per login and per client address, counted atomically.

An attempt is recorded as a failure *before* its password is tested, and counted in the same
transaction, under a lock every other attempt for the same login or address waits for: an attempt
that would go over either limit is taken back and refused, untested. So however many requests
arrive at once, no more passwords are tested than the limits allow; a right password turns its
attempt into a success afterwards (:func:`~callrec_ari.portal.auth.actions.open_session`).

The lock: on PostgreSQL a transaction-scoped advisory lock per login and per address (taken in one
order, so two attempts never wait for each other); on SQLite the INSERT that opens the transaction
takes the database's write lock, held until the commit, so the count after it sees every earlier
attempt and no later one can be added before this one is decided.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from callrec_ari.portal.auth.actions import LoginPolicy, LoginResult
from callrec_ari.portal.auth.models import LoginAttempt, PortalUser


@dataclass(frozen=True, slots=True)
class Reservation:
    """An attempt counted as a failure until its password proves right."""

    attempt_id: int
    login: str
    user_id: int | None  # None: no such login, or disabled (the password is tested all the same)
    password_hash: str
    failures: int  # this login's failures within the window before this attempt


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _lock(session: Session, keys: tuple[str, ...]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        for lock_id in sorted({_lock_id(k) for k in keys}):
            session.execute(select(func.pg_advisory_xact_lock(lock_id)))


def _failures(session: Session, where: ColumnElement[bool], since: datetime,
              besides: int) -> tuple[int, datetime | None]:
    row = session.execute(
        select(func.count(), func.min(LoginAttempt.at)).where(
            where, LoginAttempt.success.is_(False), LoginAttempt.at > since, LoginAttempt.id != besides
        )
    ).one()
    return int(row[0]), row[1]


def _locked(error_id: str, what: str, until: datetime) -> LoginResult:
    return LoginResult(
        error_id=error_id,
        status=429,
        message=(
            f"too many failed logins {what}: try again after {until:%H:%M} UTC, "
            "or ask your administrator to reset your password"
        ),
    )


def reserve(session: Session, login: str, address: str, policy: LoginPolicy,
            now: datetime) -> Reservation | LoginResult:
    """Record and count one attempt of ``login`` from ``address`` (:func:`network.address_key`); a
    :class:`Reservation` to test its password with, or the refusal (nothing recorded)."""
    _lock(session, (f"login:{login}", f"address:{address}"))
    attempt = LoginAttempt(login=login, address=address, at=now, success=False)
    session.add(attempt)
    session.flush()  # SQLite: the write lock from here on
    since = now - policy.window
    failures, oldest = _failures(session, LoginAttempt.login == login, since, attempt.id)
    refusal = None
    if failures >= policy.max_failures and oldest is not None:
        refusal = _locked("login-locked", f"for {login}", oldest + policy.window)
    else:
        near, first = _failures(session, LoginAttempt.address == address, since, attempt.id)
        if near >= policy.max_address_failures and first is not None:
            refusal = _locked("address-locked", "from your network address", first + policy.window)
    if refusal is not None:
        session.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt.id))
        return refusal
    user = session.scalars(select(PortalUser).where(PortalUser.login == login)).first()
    usable = user is not None and not user.disabled
    return Reservation(attempt.id, login, user.id if user and usable else None,
                       user.password_hash if user else "", failures)


__all__ = ["Reservation", "reserve"]
