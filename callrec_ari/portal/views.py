"""Server-rendered pages: login, and Customer Control (R4.1): lines, notices, settings, deliveries, audit.

Forms post to the same actions the JSON API uses and redirect back (POST/redirect/GET) with a short
message in the ``done`` query parameter; a refusal shows the error page with its reason.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal import audit, auth, contract_actions, line_actions, queries
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.handlers import accept_upload, notice_audio, run_test_send
from callrec_ari.portal.web import (
    DB_KEY,
    SESSION_COOKIE,
    SETTINGS_KEY,
    form_data,
    int_param,
    query_int,
    scope_of,
    set_session_cookie,
)

routes = web.RouteTableDef()
LOGIN_COOKIE = "callrec_login_csrf"


def done(path: str, message: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{path}{'&' if '?' in path else '?'}done={quote(message)}")


def _field(form: Any, name: str, limit: int = 1000) -> str:
    value = form.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise BadInput(f"{name.replace('_', '-')}-invalid", f"{name} is at most {limit} characters of text")
    return value


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
        secure=request.app[SETTINGS_KEY].cookie_secure,
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
    name, password = _field(form, "login", 128), _field(form, "password", 1024)
    settings = request.app[SETTINGS_KEY]
    policy = auth.LoginPolicy(
        settings.login_max_failures,
        timedelta(minutes=settings.login_window_minutes),
        timedelta(hours=settings.session_hours),
    )
    old = request.cookies.get(SESSION_COOKIE, "")
    result = await request.app[DB_KEY].run(lambda s: auth.login(s, name, password, policy, replaces=old))
    if result.token is None:
        return _login_page(request, f"{result.error_id}: {result.message}", result.status)
    response = web.HTTPSeeOther("/")
    set_session_cookie(response, request, result.token)
    response.del_cookie(LOGIN_COOKIE, path="/login")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    await request.app[DB_KEY].run(lambda s: auth.logout(s, token))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/operator" if scope_of(request).is_operator else "/lines")


@routes.get("/lines")
@aiohttp_jinja2.template("lines.html")
async def lines(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    cid, q, page = scope.require_customer(), request.query.get("q", "")[:40], query_int(request, "page", 1)
    per_page = request.app[SETTINGS_KEY].page_size
    return await request.app[DB_KEY].run(lambda s: queries.lines_page(s, scope, cid, q, page, per_page))


@routes.post("/lines/recording")
async def recording(request: web.Request) -> web.Response:
    scope, form = scope_of(request), await form_data(request)
    action = _field(form, "action", 10)
    if action not in ("start", "stop"):
        raise BadInput("action-invalid", "choose start or stop")
    numbers = [n for n in form.getall("numbers", []) if isinstance(n, str)]
    await request.app[DB_KEY].run(lambda s: line_actions.set_recording(s, scope, numbers, action == "start"))
    back = _field(form, "back", 200) or "/lines"
    raise done(
        back if back.startswith("/lines") else "/lines",
        f"recording {'started' if action == 'start' else 'stopped'} on {len(set(numbers))} line(s)",
    )


@routes.post("/lines/{number}/consent")
async def consent(request: web.Request) -> web.Response:
    scope, number, form = scope_of(request), request.match_info["number"], await form_data(request)
    given = _field(form, "consent", 3) == "yes"
    await request.app[DB_KEY].run(lambda s: line_actions.set_consent(s, scope, number, given))
    raise done("/lines", f"consent {'recorded' if given else 'withdrawn'} for {number}")


@routes.post("/lines/{number}/notice")
async def notice(request: web.Request) -> web.Response:
    scope, number, form = scope_of(request), request.match_info["number"], await form_data(request)
    chosen = _field(form, "notice", 200)
    await request.app[DB_KEY].run(lambda s: line_actions.set_notice(s, scope, number, chosen))
    raise done("/lines", f"notice of {number} set to {chosen}")


@routes.get("/notices")
@aiohttp_jinja2.template("notices.html")
async def notices(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    cid = scope.require_customer()
    return await request.app[DB_KEY].run(
        lambda s: {
            "uploads": queries.uploads(s, scope),
            "lines": queries.lines_page(s, scope, cid, per_page=1000)["lines"],
            "limits": request.app[SETTINGS_KEY].limits,
        }
    )


@routes.post("/notices")
async def upload(request: web.Request) -> web.Response:
    row = await accept_upload(request)
    raise done("/notices", f"notice {row['label']} uploaded; it waits for the operator's approval")


routes.get("/notices/{id}/audio")(notice_audio)


@routes.get("/settings")
@aiohttp_jinja2.template("settings.html")
async def settings(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    cid = scope.require_customer()
    return await request.app[DB_KEY].run(
        lambda s: {
            "contract": queries.contract_dict(scope.contract(s, cid)),
            "connections": queries.connections(s, scope, cid),
        }
    )


@routes.post("/settings/omit-notice")
async def omit_notice(request: web.Request) -> web.Response:
    scope, form = scope_of(request), await form_data(request)
    omit = _field(form, "omit_notice", 3) == "yes"
    await request.app[DB_KEY].run(lambda s: contract_actions.set_omit_notice(s, scope, omit))
    raise done("/settings", "notice omitted" if omit else "notice plays")


@routes.post("/connections")
async def add_connection(request: web.Request) -> web.Response:
    scope, form = scope_of(request), await form_data(request)
    type_, endpoint, secret = (
        _field(form, "type", 16),
        _field(form, "endpoint", 500),
        _field(form, "secret", 200),
    )
    await request.app[DB_KEY].run(
        lambda s: contract_actions.add_connection(s, scope, type_, endpoint, secret)
    )
    raise done("/settings", "connection added")


@routes.post("/connections/{id}/remove")
async def remove_connection(request: web.Request) -> web.Response:
    scope, conn_id = scope_of(request), int_param(request, "id")
    await request.app[DB_KEY].run(lambda s: contract_actions.remove_connection(s, scope, conn_id))
    raise done("/settings", f"connection {conn_id} removed")


@routes.post("/connections/{id}/test")
async def test_connection(request: web.Request) -> web.Response:
    result = await run_test_send(request, int_param(request, "id"))
    raise done(
        "/settings",
        ("test file accepted: " if result["ok"] else f"test file failed ({result['error_id']}): ")
        + result["message"],
    )


@routes.get("/deliveries")
@aiohttp_jinja2.template("deliveries.html")
async def deliveries(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    cid = scope.require_customer()
    return {"calls": await request.app[DB_KEY].run(lambda s: queries.deliveries(s, scope, cid))}


@routes.get("/audit")
@aiohttp_jinja2.template("audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    scope.require_customer()
    return {"entries": await request.app[DB_KEY].run(lambda s: audit.entries(s, scope))}


@routes.get("/invoice")
@aiohttp_jinja2.template("invoice.html")
async def invoice(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    cid, month = scope.require_customer(), request.query.get("month")
    return {"invoice": await request.app[DB_KEY].run(lambda s: queries.invoice(s, scope, cid, month))}
