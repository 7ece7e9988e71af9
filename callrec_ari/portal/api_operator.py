"""The operator's JSON API under /api/v1/operator: contracts, suspensions (R5.5), notice approval (R2.7)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callrec_ari.portal import audit, contract_actions, line_actions, queries
from callrec_ari.portal.handlers import bool_field, notices_dir, str_field
from callrec_ari.portal.web import DB_KEY, int_param, json_body, query_int, scope_of

routes = web.RouteTableDef()


@routes.get("/api/v1/operator/contracts")
async def contracts(request: web.Request) -> web.Response:
    scope, q = scope_of(request), request.query.get("q", "")
    return web.json_response(await request.app[DB_KEY].run(lambda s: queries.contracts(s, scope, q)))


@routes.get("/api/v1/operator/contracts/{id}")
async def contract(request: web.Request) -> web.Response:
    scope, cid = scope_of(request), int_param(request, "id")
    scope.require_operator()
    page = query_int(request, "page", 1)

    def read(s: Any) -> dict[str, Any]:
        return {
            **queries.lines_page(s, scope, cid, request.query.get("q", ""), page),
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
            lambda s: queries.contract_dict(contract_actions.suspend_contract(s, scope, cid, reason, lift))
        )
    )


@routes.post("/api/v1/operator/lines/{number}/suspension")
async def suspend_line(request: web.Request) -> web.Response:
    scope, number = scope_of(request), request.match_info["number"]
    body = await json_body(request)
    lift, reason = bool_field(body, "lift", False) or False, str_field(body, "reason", False)
    return web.json_response(
        await request.app[DB_KEY].run(
            lambda s: queries.line_dict(line_actions.suspend_line(s, scope, number, reason, lift))
        )
    )


@routes.post("/api/v1/operator/notices/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    scope, uid, target = scope_of(request), int_param(request, "id"), notices_dir(request)
    changed = await request.app[DB_KEY].run(lambda s: contract_actions.approve_notice(s, scope, uid, target))
    return web.json_response({"status": "approved", "id": uid, "lines": changed})


@routes.post("/api/v1/operator/notices/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    scope, uid = scope_of(request), int_param(request, "id")
    reason = str_field(await json_body(request), "reason")
    row = await request.app[DB_KEY].run(
        lambda s: queries.upload_dict(contract_actions.reject_notice(s, scope, uid, reason))
    )
    return web.json_response(row)


@routes.get("/api/v1/operator/audit")
async def operator_audit(request: web.Request) -> web.Response:
    scope = scope_of(request)
    scope.require_operator()
    return web.json_response(await request.app[DB_KEY].run(lambda s: audit.entries(s, scope)))
