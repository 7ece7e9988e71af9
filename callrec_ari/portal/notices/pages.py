"""The notices pages: the customer's uploads (R2.7) and the operator's list to approve or reject."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal.i18n import gettext as _
from callrec_ari.portal.lines.queries import lines_page
from callrec_ari.portal.notices import actions, queries
from callrec_ari.portal.notices.handlers import accept_upload, notice_audio, notices_dir
from callrec_ari.portal.params import done, form_data, form_field, int_param
from callrec_ari.portal.state import DB_KEY, SETTINGS_KEY, scope_of

routes = web.RouteTableDef()


@routes.get("/notices")
@aiohttp_jinja2.template("notices.html")
async def notices(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    cid = scope.require_customer()
    return await request.app[DB_KEY].run(
        lambda s: {
            "uploads": queries.uploads(s, scope),
            "lines": lines_page(s, scope, cid, per_page=1000)["lines"],
            "limits": request.app[SETTINGS_KEY].limits,
        }
    )


@routes.post("/notices")
async def upload(request: web.Request) -> web.Response:
    row = await accept_upload(request)
    said = _("notice %(name)s uploaded; it waits for the operator's approval")
    raise done("/notices", said % {"name": row["label"]})


routes.get("/notices/{id}/audio")(notice_audio)


@routes.get("/operator/notices")
@aiohttp_jinja2.template("op_notices.html")
async def operator_notices(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    scope.require_operator()
    return {"uploads": await request.app[DB_KEY].run(lambda s: queries.uploads(s, scope))}


@routes.post("/operator/notices/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    scope, uid, target = scope_of(request), int_param(request, "id"), notices_dir(request)
    changed = await request.app[DB_KEY].run(lambda s: actions.approve_notice(s, scope, uid, target))
    said = (_("notice %(id)s approved; now on %(lines)s") if changed
            else _("notice %(id)s approved; on no line yet"))
    raise done("/operator/notices", said % {"id": uid, "lines": ", ".join(changed)})


@routes.post("/operator/notices/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    scope, uid = scope_of(request), int_param(request, "id")
    reason = form_field(await form_data(request), "reason", 1000)
    await request.app[DB_KEY].run(lambda s: actions.reject_notice(s, scope, uid, reason))
    raise done("/operator/notices", _("notice %(id)s rejected") % {"id": uid})


__all__ = ["routes"]
