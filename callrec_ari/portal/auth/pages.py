"""Login and logout pages (R4.2), and ``/`` sending each role to its start page.

The login form has its own double-submit CSRF token (a cookie scoped to /login), since there is no
session yet to hold one.
"""

from __future__ import annotations

import secrets

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal import i18n
from callrec_ari.portal.auth import actions
from callrec_ari.portal.auth.login import log_in
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.middleware import SESSION_COOKIE, check_csrf, cookie_secure, set_session_cookie
from callrec_ari.portal.network import address_key
from callrec_ari.portal.params import form_data, form_field
from callrec_ari.portal.state import CSRF_KEY, DB_KEY, SCOPE_KEY, SETTINGS_KEY, scope_of

routes = web.RouteTableDef()
LOGIN_COOKIE = "callrec_login_csrf"


def _login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    # Reuse the browser's token: a second GET (another tab, a favicon redirect) must not void the first form.
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not (20 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()):
        token = secrets.token_urlsafe(24)
    response = aiohttp_jinja2.render_template(
        "login.html", request, {"login_csrf": token, "error": error}, status=status
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request),
        path="/login",
    )
    return response


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request)


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    form = await form_data(request)
    given, expected = form.get("csrf_token"), request.cookies.get(LOGIN_COOKIE, "")
    if not isinstance(given, str) or not expected or not secrets.compare_digest(given, expected):
        return _login_page(request, "csrf-missing: the login form expired; please try again", 403)
    name, password = form_field(form, "login", 128), form_field(form, "password", 1024)
    policy = actions.login_policy(request.app[SETTINGS_KEY])
    old = request.cookies.get(SESSION_COOKIE, "")
    result = await log_in(request.app[DB_KEY], name, password, address=address_key(request.remote),
                          policy=policy, replaces=old)
    if result.token is None:
        return _login_page(request, f"{result.error_id}: {result.message}", result.status)
    response = web.HTTPSeeOther("/")
    set_session_cookie(response, request, result.token)
    response.del_cookie(LOGIN_COOKIE, path="/login")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    await request.app[DB_KEY].run(lambda s: actions.logout(s, token))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.post("/language")
async def language(request: web.Request) -> web.Response:
    """Switch the portal's language: remembered with the user when logged in, and in a cookie (so
    the login page speaks it too). Back to the page the switch was on."""
    form = await form_data(request)
    chosen = i18n.normalize(form_field(form, "lang", 8))
    if chosen is None:
        raise BadInput("language-unknown", i18n.gettext("choose Japanese (ja) or English (en)"))
    scope = request.get(SCOPE_KEY)
    if scope is not None:  # a public path: the session's CSRF check is this handler's
        await check_csrf(request, request[CSRF_KEY])
        await request.app[DB_KEY].run(lambda s: actions.set_locale(s, scope, chosen))
    back = form_field(form, "back", 500) or "/"
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    response = web.HTTPSeeOther(back)
    response.set_cookie(i18n.LANG_COOKIE, chosen, samesite="Lax", secure=cookie_secure(request), path="/",
                        max_age=400 * 86400)
    raise response


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/operator/dashboard" if scope_of(request).is_operator else "/dashboard")


__all__ = ["LOGIN_COOKIE", "routes"]
