"""The notices' JSON API: the customer's uploads (R2.7) and the operator's approval."""

from __future__ import annotations

from aiohttp import web

from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.notices import actions, queries
from callrec_ari.portal.notices.handlers import accept_upload, notice_audio, notices_dir
from callrec_ari.portal.params import int_param, json_body, str_field
from callrec_ari.portal.state import DB_KEY, scope_of

routes = web.RouteTableDef()


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


@routes.post("/api/v1/operator/notices/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    scope, uid, target = scope_of(request), int_param(request, "id"), notices_dir(request)
    changed = await request.app[DB_KEY].run(lambda s: actions.approve_notice(s, scope, uid, target))
    return web.json_response({"status": "approved", "id": uid, "lines": changed})


@routes.post("/api/v1/operator/notices/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    scope, uid = scope_of(request), int_param(request, "id")
    reason = str_field(await json_body(request), "reason")
    row = await request.app[DB_KEY].run(
        lambda s: queries.upload_dict(actions.reject_notice(s, scope, uid, reason))
    )
    return web.json_response(row)


__all__ = ["routes"]
