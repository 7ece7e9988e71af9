"""Operator enrollment routes: the console's forms (POST/redirect/GET) and the JSON API under
/api/v1/operator. Each handler checks the operator role before it reads anything else; the work is
:mod:`callrec_ari.portal.enrollment` (audited, all or nothing)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal import enrollment, queries
from callrec_ari.portal.enrollment import ImportRefused, split_services
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.handlers import bool_field, str_field
from callrec_ari.portal.tenancy import Scope
from callrec_ari.portal.views import _field, done
from callrec_ari.portal.web import DB_KEY, form_data, int_param, json_body, scope_of

routes = web.RouteTableDef()


def _operator(request: web.Request) -> Scope:
    scope = scope_of(request)
    scope.require_operator()
    return scope


def _decode_csv(data: bytes) -> str:
    if len(data) > enrollment.CSV_MAX_CHARS:
        raise BadInput("csv-too-large", f"the CSV file is at most {enrollment.CSV_MAX_CHARS} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput("csv-encoding-invalid", "the CSV file must be UTF-8 text") from exc


# --- console forms -------------------------------------------------------------------------------


@routes.post("/operator/contracts")
async def create_contract_form(request: web.Request) -> web.Response:
    scope = _operator(request)
    form = await form_data(request)
    holder, reseller = _field(form, "holder_name", 200), _field(form, "reseller", 3) == "yes"
    cid = await request.app[DB_KEY].run(lambda s: enrollment.create_contract(s, scope, holder, reseller).id)
    raise done(f"/operator/contracts/{cid}", f"contract {cid} created")


@routes.post("/operator/contracts/{id}/lines")
async def enroll_line_form(request: web.Request) -> web.Response:
    scope, cid = _operator(request), int_param(request, "id")
    form = await form_data(request)
    number, endpoint = _field(form, "number", 40), _field(form, "endpoint", 100)
    holder, services = _field(form, "holder_name", 200), split_services(_field(form, "services", 1000))
    await request.app[DB_KEY].run(
        lambda s: enrollment.enroll_line(s, scope, cid, number, endpoint, holder, services)
    )
    raise done(f"/operator/contracts/{cid}", f"line {number.strip()} enrolled")


@routes.post("/operator/contracts/{id}/lines/import")
async def import_lines_form(request: web.Request) -> web.Response:
    scope, cid = _operator(request), int_param(request, "id")
    upload = (await form_data(request)).get("file")
    if not isinstance(upload, web.FileField):
        raise BadInput("csv-file-missing", "choose a CSV file to import")
    text = _decode_csv(upload.file.read(enrollment.CSV_MAX_CHARS + 1))
    try:
        count = await request.app[DB_KEY].run(lambda s: enrollment.import_lines(s, scope, cid, text))
    except ImportRefused as refused:
        context = {"contract_id": cid, "filename": upload.filename or "", "errors": refused.report()}
        return aiohttp_jinja2.render_template("op_import.html", request, context, status=400)
    raise done(f"/operator/contracts/{cid}", f"{count} line(s) imported from {upload.filename or 'the file'}")


@routes.post("/operator/lines/{number}/remove")
async def remove_line_form(request: web.Request) -> web.Response:
    scope, number = _operator(request), request.match_info["number"]
    cid = await request.app[DB_KEY].run(lambda s: enrollment.remove_line(s, scope, number).contract_id)
    raise done(f"/operator/contracts/{cid}", f"line {number} removed")


@routes.post("/operator/contracts/{id}/connections")
async def add_connection_form(request: web.Request) -> web.Response:
    scope, cid = _operator(request), int_param(request, "id")
    form = await form_data(request)
    type_, endpoint, secret = (
        _field(form, "type", 20),
        _field(form, "endpoint", 500),
        _field(form, "secret", 200),
    )
    conn_id = await request.app[DB_KEY].run(
        lambda s: enrollment.add_connection(s, scope, cid, type_, endpoint, secret).id
    )
    raise done(f"/operator/contracts/{cid}", f"connection {conn_id} added")


@routes.post("/operator/connections/{id}/remove")
async def remove_connection_form(request: web.Request) -> web.Response:
    scope, conn_id = _operator(request), int_param(request, "id")
    cid = await request.app[DB_KEY].run(lambda s: enrollment.remove_connection(s, scope, conn_id).contract_id)
    raise done(f"/operator/contracts/{cid}", f"connection {conn_id} removed")


# --- JSON API ------------------------------------------------------------------------------------


def _services(body: dict[str, Any]) -> list[str]:
    value = body.get("services", [])
    if not isinstance(value, list) or len(value) > 50 or not all(isinstance(v, str) for v in value):
        raise BadInput("services-invalid", "services must be a list of at most 50 strings")
    return value


@routes.post("/api/v1/operator/contracts")
async def create_contract_api(request: web.Request) -> web.Response:
    scope = _operator(request)
    body = await json_body(request)
    holder, reseller = str_field(body, "holder_name", limit=200), bool_field(body, "reseller", False) or False
    row = await request.app[DB_KEY].run(
        lambda s: queries.contract_dict(enrollment.create_contract(s, scope, holder, reseller))
    )
    return web.json_response(row, status=201)


@routes.post("/api/v1/operator/contracts/{id}/lines")
async def enroll_line_api(request: web.Request) -> web.Response:
    scope, cid = _operator(request), int_param(request, "id")
    body = await json_body(request)
    number, endpoint = str_field(body, "number", limit=40), str_field(body, "endpoint", limit=100)
    holder, services = str_field(body, "holder_name", limit=200), _services(body)
    row = await request.app[DB_KEY].run(
        lambda s: queries.line_dict(enrollment.enroll_line(s, scope, cid, number, endpoint, holder, services))
    )
    return web.json_response(row, status=201)


@routes.post("/api/v1/operator/contracts/{id}/lines/import")
async def import_lines_api(request: web.Request) -> web.Response:
    scope, cid = _operator(request), int_param(request, "id")
    text = str_field(await json_body(request), "csv", limit=enrollment.CSV_MAX_CHARS)
    try:
        count = await request.app[DB_KEY].run(lambda s: enrollment.import_lines(s, scope, cid, text))
    except ImportRefused as refused:
        return web.json_response(
            {"error_id": refused.error_id, "message": refused.message, "errors": refused.report()},
            status=refused.status,
        )
    return web.json_response({"imported": count, "contract_id": cid})


@routes.delete("/api/v1/operator/lines/{number}")
async def remove_line_api(request: web.Request) -> web.Response:
    scope, number = _operator(request), request.match_info["number"]
    row = await request.app[DB_KEY].run(lambda s: queries.line_dict(enrollment.remove_line(s, scope, number)))
    return web.json_response({**row, "removed": True})


@routes.post("/api/v1/operator/contracts/{id}/connections")
async def add_connection_api(request: web.Request) -> web.Response:
    scope, cid = _operator(request), int_param(request, "id")
    body = await json_body(request)
    type_, endpoint = str_field(body, "type", limit=20), str_field(body, "endpoint", limit=500)
    secret = str_field(body, "secret", limit=200)
    row = await request.app[DB_KEY].run(
        lambda s: queries.connection_dict(enrollment.add_connection(s, scope, cid, type_, endpoint, secret))
    )
    return web.json_response(row, status=201)


@routes.delete("/api/v1/operator/connections/{id}")
async def remove_connection_api(request: web.Request) -> web.Response:
    scope, conn_id = _operator(request), int_param(request, "id")
    row = await request.app[DB_KEY].run(
        lambda s: queries.connection_dict(enrollment.remove_connection(s, scope, conn_id))
    )
    return web.json_response({**row, "removed": True})


__all__ = ["routes"]
