"""One login, for the form and the JSON API alike (R4.2): count the attempt against the limits (one
transaction, :mod:`.limits`), then test the password (argon2id, in a worker thread, no transaction
open), then, when it is right, open the session (a second transaction)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from callrec_ari.portal.auth import actions, limits
from callrec_ari.portal.state import Db


async def log_in(db: Db, login: str, password: str, *, address: str, policy: actions.LoginPolicy,
                 replaces: str = "") -> actions.LoginResult:
    """``address``: the client's, as the limit counts it (:func:`callrec_ari.portal.network.address_key`);
    ``replaces``: the session token the browser had, ended on success."""
    key = login.strip().lower()[:128]
    if not key or not password:
        return actions.LoginResult(error_id="login-invalid", message="enter your login and password",
                                   status=400)
    now = datetime.now(UTC)
    reserved = await db.run(lambda s: limits.reserve(s, key, address, policy, now))
    if isinstance(reserved, actions.LoginResult):
        return reserved
    right = await asyncio.to_thread(actions.password_matches, reserved.password_hash, password)
    user_id = reserved.user_id
    if not right or user_id is None:
        return actions.failed(reserved.failures, policy)
    return await db.run(
        lambda s: actions.open_session(s, reserved.attempt_id, user_id, policy, datetime.now(UTC), replaces)
    )


__all__ = ["log_in"]
