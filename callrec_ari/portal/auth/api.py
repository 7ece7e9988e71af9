"""The JSON API's session (described by :mod:`callrec_ari.portal.openapi`).

Log in with ``POST /api/v1/session``; it sets the session cookie and returns the CSRF token that
every state-changing call sends as ``X-CSRF-Token``. Errors are ``{"error_id", "message"}``.
"""

from __future__ import annotations

from aiohttp import web

from callrec_ari.portal.auth import actions
from callrec_ari.portal.errors import PortalError
from callrec_ari.portal.middleware import SESSION_COOKIE, set_session_cookie
from callrec_ari.portal.params import json_body, str_field
from callrec_ari.portal.state import CSRF_KEY, DB_KEY, SETTINGS_KEY, scope_of

routes = web.RouteTableDef()


@routes.post("/api/v1/session")
async def login(request: web.Request) -> web.Response:
    body = await json_body(request)
    name, password = str_field(body, "login", limit=128), str_field(body, "password", limit=1024)
    policy = actions.login_policy(request.app[SETTINGS_KEY])
    old = request.cookies.get(SESSION_COOKIE, "")
    result = await request.app[DB_KEY].run(lambda s: actions.login(s, name, password, policy, replaces=old))
    if result.token is None:
        raise PortalError(result.error_id, result.message, result.status)
    response = web.json_response({"csrf_token": result.csrf_token})
    set_session_cookie(response, request, result.token)
    return response


@routes.delete("/api/v1/session")
async def logout(request: web.Request) -> web.Response:
    scope_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    await request.app[DB_KEY].run(lambda s: actions.logout(s, token))
    response = web.json_response({"status": "logged-out"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    scope = scope_of(request)
    return web.json_response(
        {
            "login": scope.login,
            "role": scope.role,
            "contract_id": scope.contract_id,
            "csrf_token": request[CSRF_KEY],
        }
    )


__all__ = ["routes"]
