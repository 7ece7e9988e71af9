"""The JSON API's session (described by :mod:`callrec_ari.portal.openapi`).

Log in with ``POST /api/v1/session``; it sets the session cookie and returns the CSRF token that
every state-changing call sends as ``X-CSRF-Token``. Errors are ``{"error_id", "message"}``.

The login has no session to hold a CSRF token yet, so it takes only what another site cannot make a
browser send: a body typed ``application/json`` (which a cross-site page can send only after a CORS
preflight the portal never grants; a form can post JSON-looking ``text/plain``) and, from a browser,
the portal's own origin (``Origin``, else ``Sec-Fetch-Site``). A client that sends neither header is
not a browser, and has no victim's cookies to abuse.
"""

from __future__ import annotations

from aiohttp import web

from callrec_ari.portal.auth import actions
from callrec_ari.portal.auth.login import log_in
from callrec_ari.portal.errors import PortalError
from callrec_ari.portal.middleware import SESSION_COOKIE, set_session_cookie
from callrec_ari.portal.network import address_key, same_origin
from callrec_ari.portal.params import json_body, str_field
from callrec_ari.portal.state import CSRF_KEY, DB_KEY, SETTINGS_KEY, scope_of

routes = web.RouteTableDef()
# Sec-Fetch-Site values a page of another origin cannot cause ("none": the user's own action).
OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def check_login_request(request: web.Request) -> None:
    """Refuse a login another site could have made the browser send (see the module's docstring)."""
    if request.content_type != "application/json":
        raise PortalError("json-required", "a login is a JSON body (Content-Type: application/json)", 415)
    origin, site = request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site")
    if (origin is not None and not same_origin(origin, request)) or (
        site is not None and site.strip().lower() not in OWN_FETCH_SITES
    ):
        raise PortalError("origin-refused", "a login is accepted from the portal's own pages only", 403)


@routes.post("/api/v1/session")
async def login(request: web.Request) -> web.Response:
    check_login_request(request)
    body = await json_body(request)
    name, password = str_field(body, "login", limit=128), str_field(body, "password", limit=1024)
    policy = actions.login_policy(request.app[SETTINGS_KEY])
    old = request.cookies.get(SESSION_COOKIE, "")
    result = await log_in(request.app[DB_KEY], name, password, address=address_key(request.remote),
                          policy=policy, replaces=old)
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


__all__ = ["check_login_request", "routes"]
