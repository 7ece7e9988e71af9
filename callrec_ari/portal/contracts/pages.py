"""The contracts pages: the customer's settings (notice omission R2.3, connections R1.5), deliveries,
charges (R6) and audit log; the operator's contracts, suspensions (R5.5) and whole audit log."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal import audit
from callrec_ari.portal.contracts import actions, connections, queries
from callrec_ari.portal.contracts.testsend import run_test_send
from callrec_ari.portal.i18n import gettext as _
from callrec_ari.portal.lines.queries import line_dict, lines_page
from callrec_ari.portal.params import done, form_data, form_field, int_param, legacy_choice, query_int
from callrec_ari.portal.reasons import audio_text
from callrec_ari.portal.state import DB_KEY, DELIVERY_KEY, scope_of

routes = web.RouteTableDef()


@routes.get("/settings")
@aiohttp_jinja2.template("settings.html")
async def settings(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    cid = scope.require_customer()
    public_key = await asyncio.to_thread(connections.platform_public_key, request.app[DELIVERY_KEY])
    return await request.app[DB_KEY].run(
        lambda s: {
            "contract": queries.contract_dict(scope.contract(s, cid)),
            "connections": queries.connections(s, scope, cid),
            "sftp_public_key": public_key,
        }
    )


@routes.post("/settings/omit-notice")
async def omit_notice(request: web.Request) -> web.Response:
    scope, form = scope_of(request), await form_data(request)
    omit = form_field(form, "omit_notice", 3) == "yes"
    await request.app[DB_KEY].run(lambda s: actions.set_omit_notice(s, scope, omit))
    raise done("/settings", _("notice omitted") if omit else _("notice plays"))


@routes.post("/settings/audio-channels")
async def audio_channels(request: web.Request) -> web.Response:
    scope, form = scope_of(request), await form_data(request)
    layout = form_field(form, "audio_channels", 8)
    await request.app[DB_KEY].run(lambda s: actions.set_audio_channels(s, scope, layout))
    raise done("/settings", _("recording files set to %(layout)s") % {"layout": audio_text(layout)})


@routes.post("/connections")
async def add_connection(request: web.Request) -> web.Response:
    scope, form, delivery = scope_of(request), await form_data(request), request.app[DELIVERY_KEY]
    type_, endpoint, secret = (
        form_field(form, "type", 16),
        form_field(form, "endpoint", 500),
        form_field(form, "secret", 200),
    )
    await request.app[DB_KEY].run(
        lambda s: actions.add_connection(s, scope, type_, endpoint, secret, delivery)
    )
    raise done("/settings", _("connection added"))


@routes.post("/connections/{id}/edit")
async def edit_connection(request: web.Request) -> web.Response:
    scope, conn_id, delivery = scope_of(request), int_param(request, "id"), request.app[DELIVERY_KEY]
    form = await form_data(request)
    endpoint, secret = form_field(form, "endpoint", 500), form_field(form, "secret", 200)
    legacy = legacy_choice(form)
    age = form.get("age_recipient")  # the form shows the current key: what it sends is the new one
    age = age if isinstance(age, str) else None
    await request.app[DB_KEY].run(
        lambda s: actions.edit_connection(s, scope, conn_id, endpoint, secret, delivery, legacy, age)
    )
    raise done("/settings", _("connection %(id)s saved") % {"id": conn_id})


@routes.post("/connections/{id}/remove")
async def remove_connection(request: web.Request) -> web.Response:
    scope, conn_id = scope_of(request), int_param(request, "id")
    await request.app[DB_KEY].run(lambda s: actions.remove_connection(s, scope, conn_id))
    raise done("/settings", _("connection %(id)s removed") % {"id": conn_id})


@routes.post("/connections/{id}/test")
async def test_connection(request: web.Request) -> web.Response:
    result = await run_test_send(request, int_param(request, "id"))
    said = (_("test file accepted: %(detail)s") if result["ok"]
            else _("test file failed (%(code)s): %(detail)s"))
    raise done("/settings", said % {"detail": result["message"], "code": result["error_id"]})


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


@routes.get("/operator")
@aiohttp_jinja2.template("op_contracts.html")
async def operator_contracts(request: web.Request) -> dict[str, Any]:
    scope, q = scope_of(request), request.query.get("q", "")[:80]
    return {"contracts": await request.app[DB_KEY].run(lambda s: queries.contracts(s, scope, q)), "q": q}


@routes.get("/operator/contracts/{id}")
@aiohttp_jinja2.template("op_contract.html")
async def operator_contract(request: web.Request) -> dict[str, Any]:
    scope, cid = scope_of(request), int_param(request, "id")
    scope.require_operator()
    q, page = request.query.get("q", "")[:40], query_int(request, "page", 1)
    return await request.app[DB_KEY].run(
        lambda s: {
            **lines_page(s, scope, cid, q, page),
            "connections": queries.connections(s, scope, cid),
            "entries": audit.entries(s, scope, cid, 50),
        }
    )


def _suspension(form: Any) -> tuple[str, bool]:
    return form_field(form, "reason", 1000), form_field(form, "lift", 3) == "yes"


@routes.post("/operator/contracts/{id}/suspension")
async def suspend_contract(request: web.Request) -> web.Response:
    scope, cid = scope_of(request), int_param(request, "id")
    reason, lift = _suspension(await form_data(request))
    await request.app[DB_KEY].run(lambda s: actions.suspend_contract(s, scope, cid, reason, lift))
    said = _("contract %(id)s resumed") if lift else _("contract %(id)s suspended")
    raise done(f"/operator/contracts/{cid}", said % {"id": cid})


@routes.post("/operator/lines/{number}/suspension")
async def suspend_line(request: web.Request) -> web.Response:
    scope, number = scope_of(request), request.match_info["number"]
    reason, lift = _suspension(await form_data(request))
    line = await request.app[DB_KEY].run(
        lambda s: line_dict(actions.suspend_line(s, scope, number, reason, lift))
    )
    said = _("line %(number)s resumed") if lift else _("line %(number)s suspended")
    raise done(f"/operator/contracts/{line['contract_id']}", said % {"number": number})


@routes.get("/operator/audit")
@aiohttp_jinja2.template("audit.html")
async def operator_audit(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    scope.require_operator()
    return {"entries": await request.app[DB_KEY].run(lambda s: audit.entries(s, scope))}


__all__ = ["routes"]
