"""The portal's request plumbing: the database runner, sessions, CSRF, and one error handler.

Every request passes the same middlewares: a session cookie gives the request its :class:`Scope`;
a state-changing request (not GET/HEAD/OPTIONS) must carry the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``); any refusal becomes ``{"error_id", "message"}`` (API) or
the error page (forms) with the right status, never a stack trace.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.portal import auth
from callrec_ari.portal.errors import BadInput, LoginRequired, PortalError, translate
from callrec_ari.portal.settings import PortalSettings
from callrec_ari.portal.tenancy import Scope

log = logging.getLogger(__name__)
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "callrec_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reachable without a session (the login form has its own double-submit token).
PUBLIC_PATHS = frozenset(
    {"/login", "/healthz", "/api/openapi.json", "/api/v1/session", "/static/portal.css", "/favicon.ico"}
)


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
SCOPE_KEY = web.RequestKey("scope", Scope)
CSRF_KEY = web.RequestKey("csrf", str)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def scope_of(request: web.Request) -> Scope:
    found: Scope | None = request.get(SCOPE_KEY)
    if found is None:
        raise LoginRequired()
    return found


def error_response(request: web.Request, error: PortalError) -> web.StreamResponse:
    if is_api(request):
        return web.json_response({"error_id": error.error_id, "message": error.message}, status=error.status)
    context = {
        "error_id": error.error_id,
        "message": error.message,
        "status": error.status,
        "back": request.headers.get("Referer", "/"),
        # The error may stop a request before aiohttp_jinja2's context processors ran.
        "scope": request.get(SCOPE_KEY),
        "csrf": request.get(CSRF_KEY, ""),
        "done": "",
        "path": request.path,
        "service_alerts": [],
    }
    return aiohttp_jinja2.render_template("error.html", request, context, status=error.status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return error_response(
            request,
            PortalError(
                "request-too-large",
                (
                    "the request is too large: a notice file is at most "
                    f"{request.app[SETTINGS_KEY].limits.max_bytes} bytes"
                ),
                413,
            ),
        )
    except web.HTTPException as exc:
        if exc.status >= 400 and is_api(request):
            return web.json_response(
                {"error_id": f"http-{exc.status}", "message": exc.reason},
                status=exc.status,
                headers={k: v for k, v in exc.headers.items() if k == "Allow"},
            )
        raise
    except Exception as exc:
        error = translate(exc)
        if error is None:
            log.exception("portal: unexpected error on %s %s", request.method, request.path)
            error = PortalError(
                "internal-error", "something went wrong on our side; nothing was changed", 500
            )
        elif error.status >= 500:
            log.error("portal: %s on %s %s: %s", error.error_id, request.method, request.path, error)
        return error_response(request, error)


async def form_data(request: web.Request) -> MultiDictProxy[Any]:
    try:
        return await request.post()
    except ValueError as exc:  # malformed multipart or urlencoded body
        raise BadInput("body-invalid", f"the form could not be read: {exc}") from exc


async def _check_csrf(request: web.Request, expected: str) -> None:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await form_data(request)).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not given:
        raise PortalError("csrf-missing", "the request has no CSRF token: reload the page and try again", 403)
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise PortalError("csrf-invalid", "the CSRF token does not match your session: reload the page", 403)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        found = await request.app[DB_KEY].run(lambda s: auth.resolve(s, token))
        if found is not None:
            user, sess = found
            request[SCOPE_KEY] = Scope(user.id, user.login, user.role, user.contract_id)
            request[CSRF_KEY] = sess.csrf_token
    public = request.path in PUBLIC_PATHS
    if SCOPE_KEY not in request and not public:
        if is_api(request) or request.method not in SAFE_METHODS:
            raise LoginRequired()
        raise web.HTTPSeeOther("/login")
    if request.method not in SAFE_METHODS and not public:
        await _check_csrf(request, request[CSRF_KEY])
    response = await handler(request)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    settings = request.app[SETTINGS_KEY]
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=settings.cookie_secure,
        path="/",
        max_age=int(settings.session_hours * 3600),
    )


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise BadInput("body-invalid", "the body must be a JSON object") from exc
    if not isinstance(data, dict):
        raise BadInput("body-invalid", "the body must be a JSON object")
    return data


def int_param(request: web.Request, name: str) -> int:
    text = request.match_info.get(name, "")
    if not text.isdigit() or len(text) > 12:
        raise BadInput(f"{name}-invalid", f"{name} must be a positive integer")
    return int(text)


def query_int(request: web.Request, name: str, default: int, top: int = 1_000_000) -> int:
    text = request.query.get(name, "")
    if not text:
        return default
    if not text.isdigit() or int(text) < 1 or len(text) > 9:
        raise BadInput(f"{name}-invalid", f"{name} must be a positive integer")
    return min(int(text), top)


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CSRF_KEY",
    "DB_KEY",
    "PUBLIC_PATHS",
    "SCOPE_KEY",
    "SESSION_COOKIE",
    "SETTINGS_KEY",
    "Db",
    "error_response",
    "errors_middleware",
    "form_data",
    "int_param",
    "is_api",
    "json_body",
    "query_int",
    "scope_of",
    "session_middleware",
    "set_session_cookie",
]
