"""The operator console: contracts and lines, suspension for privacy (R5.5), notice approval (R2.7)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal import audit, contract_actions, line_actions, queries
from callrec_ari.portal.handlers import notices_dir
from callrec_ari.portal.views import _field, done
from callrec_ari.portal.web import DB_KEY, form_data, int_param, query_int, scope_of

routes = web.RouteTableDef()


@routes.get("/operator")
@aiohttp_jinja2.template("op_contracts.html")
async def contracts(request: web.Request) -> dict[str, Any]:
    scope, q = scope_of(request), request.query.get("q", "")[:80]
    return {"contracts": await request.app[DB_KEY].run(lambda s: queries.contracts(s, scope, q)), "q": q}


@routes.get("/operator/contracts/{id}")
@aiohttp_jinja2.template("op_contract.html")
async def contract(request: web.Request) -> dict[str, Any]:
    scope, cid = scope_of(request), int_param(request, "id")
    scope.require_operator()
    q, page = request.query.get("q", "")[:40], query_int(request, "page", 1)
    return await request.app[DB_KEY].run(
        lambda s: {
            **queries.lines_page(s, scope, cid, q, page),
            "connections": queries.connections(s, scope, cid),
            "entries": audit.entries(s, scope, cid, 50),
        }
    )


def _suspension(form: Any) -> tuple[str, bool]:
    return _field(form, "reason", 1000), _field(form, "lift", 3) == "yes"


@routes.post("/operator/contracts/{id}/suspension")
async def suspend_contract(request: web.Request) -> web.Response:
    scope, cid = scope_of(request), int_param(request, "id")
    reason, lift = _suspension(await form_data(request))
    await request.app[DB_KEY].run(lambda s: contract_actions.suspend_contract(s, scope, cid, reason, lift))
    raise done(f"/operator/contracts/{cid}", f"contract {cid} {'resumed' if lift else 'suspended'}")


@routes.post("/operator/lines/{number}/suspension")
async def suspend_line(request: web.Request) -> web.Response:
    scope, number = scope_of(request), request.match_info["number"]
    reason, lift = _suspension(await form_data(request))
    line = await request.app[DB_KEY].run(
        lambda s: queries.line_dict(line_actions.suspend_line(s, scope, number, reason, lift))
    )
    raise done(
        f"/operator/contracts/{line['contract_id']}", f"line {number} {'resumed' if lift else 'suspended'}"
    )


@routes.get("/operator/notices")
@aiohttp_jinja2.template("op_notices.html")
async def notices(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    scope.require_operator()
    return {"uploads": await request.app[DB_KEY].run(lambda s: queries.uploads(s, scope))}


@routes.post("/operator/notices/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    scope, uid, target = scope_of(request), int_param(request, "id"), notices_dir(request)
    changed = await request.app[DB_KEY].run(lambda s: contract_actions.approve_notice(s, scope, uid, target))
    raise done("/operator/notices", f"notice {uid} approved; now on {', '.join(changed) or 'no line yet'}")


@routes.post("/operator/notices/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    scope, uid = scope_of(request), int_param(request, "id")
    reason = _field(await form_data(request), "reason", 1000)
    await request.app[DB_KEY].run(lambda s: contract_actions.reject_notice(s, scope, uid, reason))
    raise done("/operator/notices", f"notice {uid} rejected")


@routes.get("/operator/audit")
@aiohttp_jinja2.template("audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    scope.require_operator()
    return {"entries": await request.app[DB_KEY].run(lambda s: audit.entries(s, scope))}
