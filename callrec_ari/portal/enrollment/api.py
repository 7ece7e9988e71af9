"""The operator's enrollment in the JSON API under /api/v1/operator: contracts, lines (one or CSV
text, all or nothing; a refusal lists every bad row), connections. Operator role checked first."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callrec_ari.portal.contracts.queries import connection_dict, contract_dict
from callrec_ari.portal.enrollment import actions
from callrec_ari.portal.enrollment.actions import ImportRefused
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.lines.queries import line_dict
from callrec_ari.portal.params import bool_field, edit_fields, int_param, json_body, str_field
from callrec_ari.portal.state import DB_KEY, DELIVERY_KEY, operator_scope

routes = web.RouteTableDef()


def _services(body: dict[str, Any]) -> list[str]:
    value = body.get("services", [])
    if not isinstance(value, list) or len(value) > 50 or not all(isinstance(v, str) for v in value):
        raise BadInput("services-invalid", "services must be a list of at most 50 strings")
    return value


@routes.post("/api/v1/operator/contracts")
async def create_contract_api(request: web.Request) -> web.Response:
    scope = operator_scope(request)
    body = await json_body(request)
    holder, reseller = str_field(body, "holder_name", limit=200), bool_field(body, "reseller", False) or False
    row = await request.app[DB_KEY].run(
        lambda s: contract_dict(actions.create_contract(s, scope, holder, reseller))
    )
    return web.json_response(row, status=201)


@routes.post("/api/v1/operator/contracts/{id}/lines")
async def enroll_line_api(request: web.Request) -> web.Response:
    scope, cid = operator_scope(request), int_param(request, "id")
    body = await json_body(request)
    number, endpoint = str_field(body, "number", limit=40), str_field(body, "endpoint", limit=100)
    holder, services = str_field(body, "holder_name", limit=200), _services(body)
    row = await request.app[DB_KEY].run(
        lambda s: line_dict(actions.enroll_line(s, scope, cid, number, endpoint, holder, services))
    )
    return web.json_response(row, status=201)


@routes.post("/api/v1/operator/contracts/{id}/lines/import")
async def import_lines_api(request: web.Request) -> web.Response:
    scope, cid = operator_scope(request), int_param(request, "id")
    text = str_field(await json_body(request), "csv", limit=actions.CSV_MAX_CHARS)
    try:
        count = await request.app[DB_KEY].run(lambda s: actions.import_lines(s, scope, cid, text))
    except ImportRefused as refused:
        return web.json_response(
            {"error_id": refused.error_id, "message": refused.message, "errors": refused.report()},
            status=refused.status,
        )
    return web.json_response({"imported": count, "contract_id": cid})


@routes.delete("/api/v1/operator/lines/{number}")
async def remove_line_api(request: web.Request) -> web.Response:
    scope, number = operator_scope(request), request.match_info["number"]
    row = await request.app[DB_KEY].run(lambda s: line_dict(actions.remove_line(s, scope, number)))
    return web.json_response({**row, "removed": True})


@routes.post("/api/v1/operator/contracts/{id}/connections")
async def add_connection_api(request: web.Request) -> web.Response:
    scope, cid = operator_scope(request), int_param(request, "id")
    delivery = request.app[DELIVERY_KEY]
    body = await json_body(request)
    type_, endpoint = str_field(body, "type", limit=20), str_field(body, "endpoint", limit=500)
    secret = str_field(body, "secret", required=False, limit=200)  # none for sftp://
    row = await request.app[DB_KEY].run(
        lambda s: connection_dict(actions.add_connection(s, scope, cid, type_, endpoint, secret, delivery))
    )
    return web.json_response(row, status=201)


@routes.patch("/api/v1/operator/connections/{id}")
async def edit_connection_api(request: web.Request) -> web.Response:
    scope, conn_id = operator_scope(request), int_param(request, "id")
    delivery = request.app[DELIVERY_KEY]
    endpoint, secret, legacy, age = edit_fields(await json_body(request))
    row = await request.app[DB_KEY].run(
        lambda s: connection_dict(
            actions.edit_connection(s, scope, conn_id, endpoint, secret, delivery, legacy, age))
    )
    return web.json_response(row)


@routes.delete("/api/v1/operator/connections/{id}")
async def remove_connection_api(request: web.Request) -> web.Response:
    scope, conn_id = operator_scope(request), int_param(request, "id")
    row = await request.app[DB_KEY].run(
        lambda s: connection_dict(actions.remove_connection(s, scope, conn_id))
    )
    return web.json_response({**row, "removed": True})


__all__ = ["routes"]
