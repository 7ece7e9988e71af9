"""Customer Control's lines page (R4.1): search, start/stop recording, consent (R5.4), the notice,
whether the line withholds its caller ID by default (also the operator's form for any line).

Forms post to the same actions the JSON API uses and redirect back (POST/redirect/GET) with a short
message in the ``done`` query parameter; a refusal shows the error page with its reason.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.i18n import gettext as _
from callrec_ari.portal.i18n import ngettext
from callrec_ari.portal.lines import actions, queries
from callrec_ari.portal.params import done, form_data, form_field, query_int
from callrec_ari.portal.reasons import audio_text
from callrec_ari.portal.state import DB_KEY, SETTINGS_KEY, operator_scope, scope_of

routes = web.RouteTableDef()


@routes.get("/lines")
@aiohttp_jinja2.template("lines.html")
async def lines(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    cid, q, page = scope.require_customer(), request.query.get("q", "")[:40], query_int(request, "page", 1)
    per_page = request.app[SETTINGS_KEY].page_size
    return await request.app[DB_KEY].run(lambda s: queries.lines_page(s, scope, cid, q, page, per_page))


@routes.post("/lines/recording")
async def recording(request: web.Request) -> web.Response:
    scope, form = scope_of(request), await form_data(request)
    action = form_field(form, "action", 10)
    if action not in ("start", "stop"):
        raise BadInput("action-invalid", "choose start or stop")
    numbers = [n for n in form.getall("numbers", []) if isinstance(n, str)]
    await request.app[DB_KEY].run(lambda s: actions.set_recording(s, scope, numbers, action == "start"))
    back = form_field(form, "back", 200) or "/lines"
    count = len(set(numbers))
    raise done(
        back if back.startswith("/lines") else "/lines",
        (ngettext("recording started on %(num)s line", "recording started on %(num)s lines", count)
         if action == "start" else
         ngettext("recording stopped on %(num)s line", "recording stopped on %(num)s lines", count))
        % {"num": count},
    )


@routes.post("/lines/{number}/consent")
async def consent(request: web.Request) -> web.Response:
    scope, number, form = scope_of(request), request.match_info["number"], await form_data(request)
    given = form_field(form, "consent", 3) == "yes"
    await request.app[DB_KEY].run(lambda s: actions.set_consent(s, scope, number, given))
    said = _("consent recorded for %(number)s") if given else _("consent withdrawn for %(number)s")
    raise done("/lines", said % {"number": number})


@routes.post("/lines/{number}/notice")
async def notice(request: web.Request) -> web.Response:
    scope, number, form = scope_of(request), request.match_info["number"], await form_data(request)
    chosen = form_field(form, "notice", 200)
    await request.app[DB_KEY].run(lambda s: actions.set_notice(s, scope, number, chosen))
    raise done("/lines", _("notice of %(number)s set to %(notice)s") % {"number": number, "notice": chosen})


def _withhold(form: Any) -> bool:
    return form_field(form, "withhold_caller_id", 3) == "yes"


def _caller_id_done(number: str, withhold: bool) -> str:
    said = (_("caller ID of %(number)s withheld by default (186 shows it for one call)") if withhold
            else _("caller ID of %(number)s shown by default (184 withholds it for one call)"))
    return said % {"number": number}


@routes.post("/lines/{number}/audio-channels")
async def audio_channels(request: web.Request) -> web.Response:
    scope, number, form = scope_of(request), request.match_info["number"], await form_data(request)
    layout = form_field(form, "audio_channels", 8)
    await request.app[DB_KEY].run(lambda s: actions.set_audio_channels(s, scope, number, layout or None))
    if layout:
        said = _("recording files of %(number)s set to %(layout)s") % {"number": number,
                                                                         "layout": audio_text(layout)}
    else:
        said = _("recording files of %(number)s follow the contract") % {"number": number}
    raise done("/lines", said)


@routes.post("/lines/{number}/caller-id")
async def caller_id(request: web.Request) -> web.Response:
    scope, number, form = scope_of(request), request.match_info["number"], await form_data(request)
    scope.require_customer()
    withhold = _withhold(form)
    await request.app[DB_KEY].run(lambda s: actions.set_caller_id(s, scope, number, withhold))
    raise done("/lines", _caller_id_done(number, withhold))


@routes.post("/operator/lines/{number}/caller-id")
async def operator_caller_id(request: web.Request) -> web.Response:
    scope, number = operator_scope(request), request.match_info["number"]
    withhold = _withhold(await form_data(request))
    cid = await request.app[DB_KEY].run(
        lambda s: actions.set_caller_id(s, scope, number, withhold).contract_id
    )
    raise done(f"/operator/contracts/{cid}", _caller_id_done(number, withhold))


__all__ = ["routes"]
