"""Accounts, passwords (argon2id), login with a failure limit, and server-side sessions (R4.2).

A login that failed ``max_failures`` times within the window is refused, even with the right
password, until the oldest of those failures leaves the window: guessing is capped per login, and
the limit applies to unknown logins too (their existence is not revealed). A client address has its
own limit over all logins. :mod:`.limits` counts an attempt before its password is tested
(:func:`password_matches`); :mod:`.login` runs the steps.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from callrec_ari.portal.auth.models import CUSTOMER_ADMIN, ROLES, LoginAttempt, PortalSession, PortalUser
from callrec_ari.portal.auth.queries import hash_token
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.settings import PortalSettings
from callrec_ari.portal.tenancy import Scope

MIN_PASSWORD = 10
_hasher = PasswordHasher()
# Verified against when the login is unknown, so both cases cost the same time.
_DUMMY_HASH = _hasher.hash("callrec-no-such-user")


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    session_ttl: timedelta = timedelta(hours=12)
    max_address_failures: int = 30


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
        settings.login_max_failures_per_address,
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


def _user(session: Session, login: str) -> PortalUser:
    user = session.scalars(select(PortalUser).where(PortalUser.login == login.strip().lower())).first()
    if user is None:
        raise BadInput("user-not-found", f"no portal user {login.strip().lower()!r}")
    return user


def change_password(session: Session, login: str, password: str) -> PortalUser:
    """A new password; every session of the user ends (a stolen cookie stops working)."""
    if len(password) < MIN_PASSWORD:
        raise BadInput("password-too-short", f"a password has at least {MIN_PASSWORD} characters")
    user = _user(session, login)
    user.password_hash = _hasher.hash(password)
    session.execute(delete(PortalSession).where(PortalSession.user_id == user.id))
    session.flush()
    return user


def set_disabled(session: Session, login: str, disabled: bool) -> PortalUser:
    """A disabled user cannot log in, and is logged out everywhere at once."""
    user = _user(session, login)
    user.disabled = disabled
    if disabled:
        session.execute(delete(PortalSession).where(PortalSession.user_id == user.id))
    session.flush()
    return user


def set_locale(session: Session, scope: Scope, locale: str) -> None:
    """The logged-in user's own language (not audited: it changes nothing but their pages)."""
    user = session.get(PortalUser, scope.user_id)
    if user is not None:
        user.locale = locale


def password_matches(password_hash: str, password: str) -> bool:
    """argon2id verification; an unknown login is verified against a dummy hash, so it costs the same."""
    try:
        ok: bool = _hasher.verify(password_hash or _DUMMY_HASH, password[:1024])
    except (VerificationError, InvalidHashError):
        ok = False
    return ok


def failed(failures_before: int, policy: LoginPolicy) -> LoginResult:
    """The answer to a wrong password (its attempt is already recorded as a failure)."""
    left = policy.max_failures - failures_before - 1
    hint = (
        f"{left} attempt(s) left before this login is locked for "
        f"{int(policy.window.total_seconds() // 60)} minutes"
        if left > 0
        else "this login is now locked"
    )
    return LoginResult(error_id="login-failed", status=401, message=f"wrong login or password ({hint})")


def open_session(
    session: Session, attempt_id: int, user_id: int, policy: LoginPolicy, now: datetime, replaces: str = ""
) -> LoginResult:
    """The password was right: the attempt becomes a success and a session opens (ending the one whose
    token ``replaces`` names, so a login never keeps a session id chosen before it)."""
    session.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(success=True))
    if replaces:
        logout(session, replaces)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        PortalSession(
            token_hash=hash_token(token),
            user_id=user_id,
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
    "failed",
    "login_policy",
    "logout",
    "open_session",
    "password_matches",
]
