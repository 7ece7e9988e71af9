"""The middlewares every request passes: sessions, CSRF, and one error handler.

A session cookie gives the request its :class:`~callrec_ari.portal.tenancy.Scope`; a state-changing
request (not GET/HEAD/OPTIONS) must carry the session's CSRF token (form field ``csrf_token`` or
header ``X-CSRF-Token``); any refusal becomes ``{"error_id", "message"}`` (API) or the error page
(forms) with the right status, never a stack trace.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from callrec_ari.portal import i18n
from callrec_ari.portal.auth.queries import resolve
from callrec_ari.portal.error_text import error_text
from callrec_ari.portal.errors import LoginRequired, PortalError, translate
from callrec_ari.portal.network import same_origin
from callrec_ari.portal.params import form_data
from callrec_ari.portal.state import CSRF_KEY, DB_KEY, SCOPE_KEY, SETTINGS_KEY, is_api
from callrec_ari.portal.tenancy import Scope

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "callrec_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reachable without a session (the login form has its own double-submit token).
PUBLIC_PATHS = frozenset(
    {"/login", "/language", "/healthz", "/api/openapi.json", "/api/v1/session", "/static/portal.css",
     "/favicon.ico"}
)


def back_link(request: web.Request) -> str:
    """Where the error page's Back link goes: the page the browser came from when it is one of ours
    (its path and query), else ``/``. Never another site: not an absolute URL of another origin, not a
    scheme-relative ``//host`` or ``/\\host`` (browsers read a backslash as a slash)."""
    referer = request.headers.get("Referer", "").strip()
    if referer.startswith("/"):
        path = referer
    elif same_origin(referer, request):
        path = URL(referer).raw_path_qs
    else:
        return "/"
    if path.startswith("//") or "\\" in path or not path.isprintable():
        return "/"
    return path


def error_response(request: web.Request, error: PortalError) -> web.StreamResponse:
    if is_api(request):
        body = {"error_id": error.error_id, "message": error_text(error)}
        return web.json_response(body, status=error.status)
    context = {
        "error_id": error.error_id,
        "message": error_text(error),
        "status": error.status,
        "back": back_link(request),
        # The error may stop a request before aiohttp_jinja2's context processors ran.
        "scope": request.get(SCOPE_KEY),
        "csrf": request.get(CSRF_KEY, ""),
        "done": "",
        "path": request.path,
        "service_alerts": [],
        "lang": i18n.current(),
        "languages": i18n.LANGUAGE_NAMES,
    }
    return aiohttp_jinja2.render_template("error.html", request, context, status=error.status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    i18n.set_current(request_locale(request))  # before anything can fail; the session may refine it
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


def request_locale(request: web.Request) -> str:
    """The language before the user is known: the language cookie; else, for pages, Japanese; for
    API clients (programs, which send no cookie) the first of ``Accept-Language`` we speak, else
    English (docs/portal.md)."""
    chosen = i18n.normalize(request.cookies.get(i18n.LANG_COOKIE))
    if chosen:
        return chosen
    if not is_api(request):
        return i18n.DEFAULT_LOCALE
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = i18n.normalize(part.split(";")[0].strip().lower()[:2])
        if tag:
            return tag
    return "en"


async def check_csrf(request: web.Request, expected: str) -> None:
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
        found = await request.app[DB_KEY].run(lambda s: resolve(s, token))
        if found is not None:
            user, sess = found
            request[SCOPE_KEY] = Scope(user.id, user.login, user.role, user.contract_id, user.locale)
            request[CSRF_KEY] = sess.csrf_token
            if user.locale:
                i18n.set_current(user.locale)
    public = request.path in PUBLIC_PATHS
    if SCOPE_KEY not in request and not public:
        if is_api(request) or request.method not in SAFE_METHODS:
            raise LoginRequired()
        raise web.HTTPSeeOther("/login")
    if request.method not in SAFE_METHODS and not public:
        await check_csrf(request, request[CSRF_KEY])
    response = await handler(request)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def cookie_secure(request: web.Request) -> bool:
    """Cookies are Secure when the settings say so (always on a public address: ``callrec portal``
    sets it) and whenever the browser came over https (directly, or as a trusted proxy says)."""
    return request.app[SETTINGS_KEY].cookie_secure or request.secure


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    settings = request.app[SETTINGS_KEY]
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request),
        path="/",
        max_age=int(settings.session_hours * 3600),
    )


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "PUBLIC_PATHS",
    "SESSION_COOKIE",
    "back_link",
    "check_csrf",
    "cookie_secure",
    "error_response",
    "errors_middleware",
    "request_locale",
    "session_middleware",
    "set_session_cookie",
]
