"""The contracts' JSON API: the customer's contract, connections (R1.5), deliveries, charges (R6) and
audit log; the operator's contracts, suspensions (R5.5) and whole audit log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callrec_ari.portal import audit
from callrec_ari.portal.contracts import actions, queries
from callrec_ari.portal.contracts.testsend import run_test_send
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.lines.queries import line_dict, lines_page
from callrec_ari.portal.params import bool_field, edit_fields, int_param, json_body, query_int, str_field
from callrec_ari.portal.state import DB_KEY, DELIVERY_KEY, scope_of

routes = web.RouteTableDef()


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
    body = await json_body(request)
    omit = bool_field(body, "omit_notice", False)
    layout = str_field(body, "audio_channels", False, 8) if "audio_channels" in body else None
    if omit is None and layout is None:
        raise BadInput("contract-change-empty", "give omit_notice and/or audio_channels")

    def change(s: Any) -> dict[str, Any]:
        contract = scope.contract(s, scope.require_customer())
        if omit is not None:
            contract = actions.set_omit_notice(s, scope, omit)
        if layout is not None:
            contract = actions.set_audio_channels(s, scope, layout)
        return queries.contract_dict(contract)

    return web.json_response(await request.app[DB_KEY].run(change))


@routes.get("/api/v1/connections")
async def connections(request: web.Request) -> web.Response:
    scope = scope_of(request)
    cid = scope.require_customer()
    return web.json_response(await request.app[DB_KEY].run(lambda s: queries.connections(s, scope, cid)))


@routes.post("/api/v1/connections")
async def add_connection(request: web.Request) -> web.Response:
    scope, delivery = scope_of(request), request.app[DELIVERY_KEY]
    body = await json_body(request)
    type_, endpoint, secret = (
        str_field(body, "type", limit=16),
        str_field(body, "endpoint", limit=500),
        str_field(body, "secret", required=False, limit=200),  # none for sftp://
    )
    return web.json_response(
        await request.app[DB_KEY].run(
            lambda s: queries.connection_dict(
                actions.add_connection(s, scope, type_, endpoint, secret, delivery)
            )
        ),
        status=201,
    )


@routes.patch("/api/v1/connections/{id}")
async def edit_connection(request: web.Request) -> web.Response:
    scope, conn_id, delivery = scope_of(request), int_param(request, "id"), request.app[DELIVERY_KEY]
    endpoint, secret, legacy, age = edit_fields(await json_body(request))
    return web.json_response(
        await request.app[DB_KEY].run(
            lambda s: queries.connection_dict(
                actions.edit_connection(s, scope, conn_id, endpoint, secret, delivery, legacy, age)
            )
        )
    )


@routes.delete("/api/v1/connections/{id}")
async def remove_connection(request: web.Request) -> web.Response:
    scope, cid = scope_of(request), int_param(request, "id")
    await request.app[DB_KEY].run(lambda s: actions.remove_connection(s, scope, cid))
    return web.json_response({"status": "removed", "id": cid})


@routes.post("/api/v1/connections/{id}/test")
async def test_connection(request: web.Request) -> web.Response:
    return web.json_response(await run_test_send(request, int_param(request, "id")))


@routes.get("/api/v1/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    scope = scope_of(request)
    cid = scope.require_customer()
    return web.json_response(await request.app[DB_KEY].run(lambda s: queries.deliveries(s, scope, cid)))


@routes.get("/api/v1/audit")
async def audit_log(request: web.Request) -> web.Response:
    scope = scope_of(request)
    return web.json_response(await request.app[DB_KEY].run(lambda s: audit.entries(s, scope)))


@routes.get("/api/v1/invoice")
async def invoice(request: web.Request) -> web.Response:
    scope = scope_of(request)
    cid, month = scope.require_customer(), request.query.get("month")
    return web.json_response(await request.app[DB_KEY].run(lambda s: queries.invoice(s, scope, cid, month)))


@routes.get("/api/v1/operator/contracts")
async def operator_contracts(request: web.Request) -> web.Response:
    scope, q = scope_of(request), request.query.get("q", "")
    return web.json_response(await request.app[DB_KEY].run(lambda s: queries.contracts(s, scope, q)))


@routes.get("/api/v1/operator/contracts/{id}")
async def operator_contract(request: web.Request) -> web.Response:
    scope, cid = scope_of(request), int_param(request, "id")
    scope.require_operator()
    page = query_int(request, "page", 1)

    def read(s: Any) -> dict[str, Any]:
        return {
            **lines_page(s, scope, cid, request.query.get("q", ""), page),
            "connections": queries.connections(s, scope, cid),
            "audit": audit.entries(s, scope, cid, 50),
        }

    return web.json_response(await request.app[DB_KEY].run(read))


@routes.post("/api/v1/operator/contracts/{id}/suspension")
async def suspend_contract(request: web.Request) -> web.Response:
    scope, cid = scope_of(request), int_param(request, "id")
    body = await json_body(request)
    lift, reason = bool_field(body, "lift", False) or False, str_field(body, "reason", False)
    return web.json_response(
        await request.app[DB_KEY].run(
            lambda s: queries.contract_dict(actions.suspend_contract(s, scope, cid, reason, lift))
        )
    )


@routes.post("/api/v1/operator/lines/{number}/suspension")
async def suspend_line(request: web.Request) -> web.Response:
    scope, number = scope_of(request), request.match_info["number"]
    body = await json_body(request)
    lift, reason = bool_field(body, "lift", False) or False, str_field(body, "reason", False)
    return web.json_response(
        await request.app[DB_KEY].run(
            lambda s: line_dict(actions.suspend_line(s, scope, number, reason, lift))
        )
    )


@routes.get("/api/v1/operator/audit")
async def operator_audit(request: web.Request) -> web.Response:
    scope = scope_of(request)
    scope.require_operator()
    return web.json_response(await request.app[DB_KEY].run(lambda s: audit.entries(s, scope)))


__all__ = ["routes"]
