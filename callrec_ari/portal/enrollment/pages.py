"""The operator console's enrollment forms (POST/redirect/GET): contracts, lines (one or a CSV
import with a line-by-line report), connections. Each handler checks the operator role before it
reads anything else; the work is :mod:`.actions` (audited, all or nothing)."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal.enrollment import actions
from callrec_ari.portal.enrollment.actions import ImportRefused, split_services
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.i18n import gettext as _
from callrec_ari.portal.i18n import ngettext
from callrec_ari.portal.params import done, form_data, form_field, int_param, legacy_choice
from callrec_ari.portal.state import DB_KEY, DELIVERY_KEY, operator_scope

routes = web.RouteTableDef()


def _decode_csv(data: bytes) -> str:
    if len(data) > actions.CSV_MAX_CHARS:
        raise BadInput("csv-too-large", f"the CSV file is at most {actions.CSV_MAX_CHARS} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput("csv-encoding-invalid", "the CSV file must be UTF-8 text") from exc


@routes.post("/operator/contracts")
async def create_contract_form(request: web.Request) -> web.Response:
    scope = operator_scope(request)
    form = await form_data(request)
    holder, reseller = form_field(form, "holder_name", 200), form_field(form, "reseller", 3) == "yes"
    cid = await request.app[DB_KEY].run(lambda s: actions.create_contract(s, scope, holder, reseller).id)
    raise done(f"/operator/contracts/{cid}", _("contract %(id)s created") % {"id": cid})


@routes.post("/operator/contracts/{id}/lines")
async def enroll_line_form(request: web.Request) -> web.Response:
    scope, cid = operator_scope(request), int_param(request, "id")
    form = await form_data(request)
    number, endpoint = form_field(form, "number", 40), form_field(form, "endpoint", 100)
    holder = form_field(form, "holder_name", 200)
    services = split_services(form_field(form, "services", 1000))
    await request.app[DB_KEY].run(
        lambda s: actions.enroll_line(s, scope, cid, number, endpoint, holder, services)
    )
    raise done(f"/operator/contracts/{cid}", _("line %(number)s enrolled") % {"number": number.strip()})


@routes.post("/operator/contracts/{id}/lines/import")
async def import_lines_form(request: web.Request) -> web.Response:
    scope, cid = operator_scope(request), int_param(request, "id")
    upload = (await form_data(request)).get("file")
    if not isinstance(upload, web.FileField):
        raise BadInput("csv-file-missing", "choose a CSV file to import")
    text = _decode_csv(upload.file.read(actions.CSV_MAX_CHARS + 1))
    try:
        count = await request.app[DB_KEY].run(lambda s: actions.import_lines(s, scope, cid, text))
    except ImportRefused as refused:
        context = {"contract_id": cid, "filename": upload.filename or "", "errors": refused.report()}
        return aiohttp_jinja2.render_template("op_import.html", request, context, status=400)
    said = ngettext("%(num)s line imported from %(file)s", "%(num)s lines imported from %(file)s", count)
    raise done(f"/operator/contracts/{cid}", said % {"num": count, "file": upload.filename or _("the file")})


@routes.post("/operator/lines/{number}/remove")
async def remove_line_form(request: web.Request) -> web.Response:
    scope, number = operator_scope(request), request.match_info["number"]
    cid = await request.app[DB_KEY].run(lambda s: actions.remove_line(s, scope, number).contract_id)
    raise done(f"/operator/contracts/{cid}", _("line %(number)s removed") % {"number": number})


@routes.post("/operator/contracts/{id}/connections")
async def add_connection_form(request: web.Request) -> web.Response:
    scope, cid = operator_scope(request), int_param(request, "id")
    form = await form_data(request)
    type_, endpoint, secret = (
        form_field(form, "type", 20),
        form_field(form, "endpoint", 500),
        form_field(form, "secret", 200),
    )
    delivery = request.app[DELIVERY_KEY]
    conn_id = await request.app[DB_KEY].run(
        lambda s: actions.add_connection(s, scope, cid, type_, endpoint, secret, delivery).id
    )
    raise done(f"/operator/contracts/{cid}", _("connection %(id)s added") % {"id": conn_id})


@routes.post("/operator/connections/{id}/edit")
async def edit_connection_form(request: web.Request) -> web.Response:
    scope, conn_id = operator_scope(request), int_param(request, "id")
    form, delivery = await form_data(request), request.app[DELIVERY_KEY]
    endpoint, secret = form_field(form, "endpoint", 500), form_field(form, "secret", 200)
    legacy = legacy_choice(form)
    age = form.get("age_recipient")  # the form shows the current key: what it sends is the new one
    age = age if isinstance(age, str) else None
    cid = await request.app[DB_KEY].run(
        lambda s: actions.edit_connection(
            s, scope, conn_id, endpoint, secret, delivery, legacy, age).contract_id
    )
    raise done(f"/operator/contracts/{cid}", _("connection %(id)s saved") % {"id": conn_id})


@routes.post("/operator/connections/{id}/remove")
async def remove_connection_form(request: web.Request) -> web.Response:
    scope, conn_id = operator_scope(request), int_param(request, "id")
    cid = await request.app[DB_KEY].run(lambda s: actions.remove_connection(s, scope, conn_id).contract_id)
    raise done(f"/operator/contracts/{cid}", _("connection %(id)s removed") % {"id": conn_id})


__all__ = ["routes"]
