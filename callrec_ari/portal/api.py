"""The JSON API under /api/v1 (described by :mod:`.openapi`, served at /api/openapi.json).

Log in with ``POST /api/v1/session``; it sets the session cookie and returns the CSRF token that
every state-changing call sends as ``X-CSRF-Token``. Errors are ``{"error_id", "message"}``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from callrec_ari.portal import audit, auth, contract_actions, line_actions, queries
from callrec_ari.portal.errors import BadInput, PortalError
from callrec_ari.portal.handlers import accept_upload, bool_field, notice_audio, run_test_send, str_field
from callrec_ari.portal.web import (
    CSRF_KEY,
    DB_KEY,
    SESSION_COOKIE,
    SETTINGS_KEY,
    int_param,
    json_body,
    query_int,
    scope_of,
    set_session_cookie,
)

routes = web.RouteTableDef()


@routes.post("/api/v1/session")
async def login(request: web.Request) -> web.Response:
    body = await json_body(request)
    name, password = str_field(body, "login", limit=128), str_field(body, "password", limit=1024)
    settings = request.app[SETTINGS_KEY]

    policy = auth.LoginPolicy(
        settings.login_max_failures,
        timedelta(minutes=settings.login_window_minutes),
        timedelta(hours=settings.session_hours),
    )
    old = request.cookies.get(SESSION_COOKIE, "")
    result = await request.app[DB_KEY].run(lambda s: auth.login(s, name, password, policy, replaces=old))
    if result.token is None:
        raise PortalError(result.error_id, result.message, result.status)
    response = web.json_response({"csrf_token": result.csrf_token})
    set_session_cookie(response, request, result.token)
    return response


@routes.delete("/api/v1/session")
async def logout(request: web.Request) -> web.Response:
    scope_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    await request.app[DB_KEY].run(lambda s: auth.logout(s, token))
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


@routes.get("/api/v1/lines")
async def lines(request: web.Request) -> web.Response:
    scope = scope_of(request)
    cid = scope.require_customer()
    q, page = request.query.get("q", ""), query_int(request, "page", 1)
    per_page = query_int(request, "per_page", request.app[SETTINGS_KEY].page_size, top=500)
    return web.json_response(
        await request.app[DB_KEY].run(lambda s: queries.lines_page(s, scope, cid, q, page, per_page))
    )


@routes.get("/api/v1/lines/{number}")
async def line(request: web.Request) -> web.Response:
    scope, number = scope_of(request), request.match_info["number"]
    scope.require_customer()
    return web.json_response(
        await request.app[DB_KEY].run(lambda s: queries.line_dict(scope.line(s, number)))
    )


@routes.patch("/api/v1/lines/{number}")
async def patch_line(request: web.Request) -> web.Response:
    scope, number = scope_of(request), request.match_info["number"]
    body = await json_body(request)
    consent, started = bool_field(body, "consent", False), bool_field(body, "recording_started", False)
    notice = str_field(body, "notice", False, 200) if "notice" in body else None

    def change(s: Any) -> dict[str, Any]:
        # Consent first: a line may be given consent and started in one call (R5.4 before R4.1).
        if consent is not None:
            line_actions.set_consent(s, scope, number, consent)
        if notice is not None:
            line_actions.set_notice(s, scope, number, notice)
        if started is not None:
            line_actions.set_recording(s, scope, [number], started)
        return queries.line_dict(scope.line(s, number))

    scope.require_customer()
    return web.json_response(await request.app[DB_KEY].run(change))


@routes.post("/api/v1/lines/recording")
async def bulk_recording(request: web.Request) -> web.Response:
    scope = scope_of(request)
    body = await json_body(request)
    numbers, started = body.get("numbers"), bool_field(body, "recording_started")
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise BadInput("numbers-invalid", "numbers must be a list of line numbers")
    changed = await request.app[DB_KEY].run(
        lambda s: [queries.line_dict(x) for x in line_actions.set_recording(s, scope, numbers, bool(started))]
    )
    return web.json_response({"lines": changed})


@routes.get("/api/v1/contract")
async def contract(request: web.Request) -> web.Response:
    scope = scope_of(request)
    cid = scope.require_customer()
    return web.json_response(
        await request.app[DB_KEY].run(
            lambda s: {
                **queries.contract_dict(scope.contract(s, cid)),
                "connections": queries.connections(s, scope, cid),
            }
        )
    )


@routes.patch("/api/v1/contract")
async def patch_contract(request: web.Request) -> web.Response:
    scope = scope_of(request)
    omit = bool_field(await json_body(request), "omit_notice")
    return web.json_response(
        await request.app[DB_KEY].run(
            lambda s: queries.contract_dict(contract_actions.set_omit_notice(s, scope, bool(omit)))
        )
    )


@routes.get("/api/v1/connections")
async def connections(request: web.Request) -> web.Response:
    scope = scope_of(request)
    cid = scope.require_customer()
    return web.json_response(await request.app[DB_KEY].run(lambda s: queries.connections(s, scope, cid)))


@routes.post("/api/v1/connections")
async def add_connection(request: web.Request) -> web.Response:
    scope = scope_of(request)
    body = await json_body(request)
    type_, endpoint, secret = (
        str_field(body, "type", limit=16),
        str_field(body, "endpoint", limit=500),
        str_field(body, "secret", limit=200),
    )
    return web.json_response(
        await request.app[DB_KEY].run(
            lambda s: queries.connection_dict(
                contract_actions.add_connection(s, scope, type_, endpoint, secret)
            )
        ),
        status=201,
    )


@routes.delete("/api/v1/connections/{id}")
async def remove_connection(request: web.Request) -> web.Response:
    scope, cid = scope_of(request), int_param(request, "id")
    await request.app[DB_KEY].run(lambda s: contract_actions.remove_connection(s, scope, cid))
    return web.json_response({"status": "removed", "id": cid})


@routes.post("/api/v1/connections/{id}/test")
async def test_connection(request: web.Request) -> web.Response:
    return web.json_response(await run_test_send(request, int_param(request, "id")))


@routes.get("/api/v1/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    scope = scope_of(request)
    cid = scope.require_customer()
    return web.json_response(await request.app[DB_KEY].run(lambda s: queries.deliveries(s, scope, cid)))


@routes.get("/api/v1/notices")
async def notices(request: web.Request) -> web.Response:
    scope = scope_of(request)
    state = request.query.get("state") or None
    if state not in (None, "pending", "approved", "rejected"):
        raise BadInput("state-invalid", "state is pending, approved or rejected")
    return web.json_response(await request.app[DB_KEY].run(lambda s: queries.uploads(s, scope, state)))


@routes.post("/api/v1/notices")
async def upload_notice(request: web.Request) -> web.Response:
    return web.json_response(await accept_upload(request), status=201)


routes.get("/api/v1/notices/{id}/audio")(notice_audio)


@routes.get("/api/v1/audit")
async def audit_log(request: web.Request) -> web.Response:
    scope = scope_of(request)
    return web.json_response(await request.app[DB_KEY].run(lambda s: audit.entries(s, scope)))


@routes.get("/api/v1/invoice")
async def invoice(request: web.Request) -> web.Response:
    scope = scope_of(request)
    cid, month = scope.require_customer(), request.query.get("month")
    return web.json_response(await request.app[DB_KEY].run(lambda s: queries.invoice(s, scope, cid, month)))
