"""What the application and each request carry: the database runner, the settings (the portal's and
the ``[delivery]`` ones a test file is sent with), the caller's :class:`~callrec_ari.portal.tenancy.Scope`
and CSRF token (set by :mod:`.middleware`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.portal.errors import LoginRequired
from callrec_ari.portal.settings import PortalSettings
from callrec_ari.portal.tenancy import Scope

T = TypeVar("T")


class Db:
    """Runs blocking SQLAlchemy work in a thread, one transaction per call (commit or roll back)."""

    def __init__(self, maker: sessionmaker[Session]) -> None:
        self._maker = maker

    def _run(self, fn: Callable[[Session], T]) -> T:
        with self._maker.begin() as session:
            return fn(session)

    async def run(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self._run, fn)


DB_KEY = web.AppKey("db", Db)
SETTINGS_KEY = web.AppKey("settings", PortalSettings)
DELIVERY_KEY = web.AppKey("delivery", DeliverySettings)
SCOPE_KEY = web.RequestKey("scope", Scope)
CSRF_KEY = web.RequestKey("csrf", str)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def scope_of(request: web.Request) -> Scope:
    found: Scope | None = request.get(SCOPE_KEY)
    if found is None:
        raise LoginRequired()
    return found


def operator_scope(request: web.Request) -> Scope:
    """The caller's scope, refused (403) unless an operator: checked before anything else is read."""
    scope = scope_of(request)
    scope.require_operator()
    return scope


__all__ = ["CSRF_KEY", "DB_KEY", "DELIVERY_KEY", "SCOPE_KEY", "SETTINGS_KEY", "Db", "is_api",
           "operator_scope", "scope_of"]
