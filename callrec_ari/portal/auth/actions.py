"""Accounts, passwords (argon2id), login with a failure limit, and server-side sessions (R4.2).

A login that failed ``max_failures`` times within the window is refused, even with the right
password, until the oldest of those failures leaves the window: guessing is capped per login, and
the limit applies to unknown logins too (their existence is not revealed).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from callrec_ari.portal.auth.models import CUSTOMER_ADMIN, ROLES, LoginAttempt, PortalSession, PortalUser
from callrec_ari.portal.auth.queries import hash_token
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.settings import PortalSettings

MIN_PASSWORD = 10
_hasher = PasswordHasher()
# Verified against when the login is unknown, so both cases cost the same time.
_DUMMY_HASH = _hasher.hash("callrec-no-such-user")


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    session_ttl: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """``token`` is set on success; otherwise ``error_id``/``message`` say why (and nothing else changed
    but the recorded attempt)."""

    token: str | None = None
    csrf_token: str | None = None
    error_id: str = ""
    message: str = ""
    status: int = 200


def login_policy(settings: PortalSettings) -> LoginPolicy:
    return LoginPolicy(
        settings.login_max_failures,
        timedelta(minutes=settings.login_window_minutes),
        timedelta(hours=settings.session_hours),
    )


def create_user(
    session: Session,
    login: str,
    password: str,
    *,
    role: str,
    contract_id: int | None,
    display_name: str = "",
    now: datetime | None = None,
) -> PortalUser:
    login = login.strip().lower()
    if not login or len(login) > 128:
        raise BadInput("login-invalid", "a login is 1-128 characters")
    if role not in ROLES:
        raise BadInput("role-invalid", f"role must be one of {', '.join(ROLES)}")
    if (role == CUSTOMER_ADMIN) != (contract_id is not None):
        raise BadInput("role-invalid", "a customer administrator has one contract; an operator has none")
    if len(password) < MIN_PASSWORD:
        raise BadInput("password-too-short", f"a password has at least {MIN_PASSWORD} characters")
    if session.scalars(select(PortalUser).where(PortalUser.login == login)).first() is not None:
        raise BadInput("login-taken", f"login {login} exists")
    user = PortalUser(
        login=login,
        display_name=display_name or login,
        password_hash=_hasher.hash(password),
        role=role,
        contract_id=contract_id,
        disabled=False,
        created_at=now or datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    return user


def _recent_failures(session: Session, login: str, since: datetime) -> tuple[int, datetime | None]:
    row = session.execute(
        select(func.count(), func.min(LoginAttempt.at)).where(
            LoginAttempt.login == login, LoginAttempt.success.is_(False), LoginAttempt.at > since
        )
    ).one()
    return int(row[0]), row[1]


def login(
    session: Session,
    login_name: str,
    password: str,
    policy: LoginPolicy,
    now: datetime | None = None,
    replaces: str = "",
) -> LoginResult:
    """Check the limit, then the password; record the attempt; on success open a session (ending the
    one whose token ``replaces`` names, so a login never keeps a session id chosen before it)."""
    now = now or datetime.now(UTC)
    key = login_name.strip().lower()[:128]
    if not key or not password:
        return LoginResult(error_id="login-invalid", message="enter your login and password", status=400)
    failures, oldest = _recent_failures(session, key, now - policy.window)
    if failures >= policy.max_failures and oldest is not None:
        until = oldest + policy.window
        return LoginResult(
            error_id="login-locked",
            status=429,
            message=(
                f"too many failed logins for {key}: try again after {until:%H:%M} UTC, "
                "or ask your administrator to reset your password"
            ),
        )
    user = session.scalars(select(PortalUser).where(PortalUser.login == key)).first()
    try:
        ok: bool = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password[:1024])
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or user.disabled:
        session.add(LoginAttempt(login=key, at=now, success=False))
        left = policy.max_failures - failures - 1
        hint = (
            f"{left} attempt(s) left before this login is locked for "
            f"{int(policy.window.total_seconds() // 60)} minutes"
            if left > 0
            else "this login is now locked"
        )
        return LoginResult(error_id="login-failed", status=401, message=f"wrong login or password ({hint})")
    session.add(LoginAttempt(login=key, at=now, success=True))
    if replaces:
        logout(session, replaces)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        PortalSession(
            token_hash=hash_token(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + policy.session_ttl,
        )
    )
    session.flush()
    return LoginResult(token=token, csrf_token=csrf)


def logout(session: Session, token: str) -> None:
    session.execute(delete(PortalSession).where(PortalSession.token_hash == hash_token(token)))


__all__ = [
    "MIN_PASSWORD",
    "LoginPolicy",
    "LoginResult",
    "create_user",
    "login",
    "login_policy",
    "logout",
]
