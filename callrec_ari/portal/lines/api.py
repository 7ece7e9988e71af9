"""The lines' JSON API: list, read, and switch (consent, notice, recording, caller ID default), one
line or many; the operator's caller ID default of any line."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.lines import actions, queries
from callrec_ari.portal.params import bool_field, json_body, query_int, str_field
from callrec_ari.portal.state import DB_KEY, SETTINGS_KEY, operator_scope, scope_of

routes = web.RouteTableDef()


@routes.get("/api/v1/lines")
async def lines(request: web.Request) -> web.Response:
    scope = scope_of(request)
    cid = scope.require_customer()
    q, page = request.query.get("q", ""), query_int(request, "page", 1)
    per_page = query_int(request, "per_page", request.app[SETTINGS_KEY].page_size, top=500)
    return web.json_response(
        await request.app[DB_KEY].run(lambda s: queries.lines_page(s, scope, cid, q, page, per_page))
    )


@routes.get("/api/v1/lines/{number}")
async def line(request: web.Request) -> web.Response:
    scope, number = scope_of(request), request.match_info["number"]
    scope.require_customer()
    return web.json_response(
        await request.app[DB_KEY].run(lambda s: queries.line_dict(scope.line(s, number)))
    )


@routes.patch("/api/v1/lines/{number}")
async def patch_line(request: web.Request) -> web.Response:
    scope, number = scope_of(request), request.match_info["number"]
    body = await json_body(request)
    consent, started = bool_field(body, "consent", False), bool_field(body, "recording_started", False)
    notice = str_field(body, "notice", False, 200) if "notice" in body else None
    withhold = bool_field(body, "withhold_caller_id", False)
    # "mono" or "stereo"; null or "" follows the contract's choice again.
    layout = (body["audio_channels"] or "") if "audio_channels" in body else None
    if layout is not None and not isinstance(layout, str):
        raise BadInput("audio-channels-invalid", "audio_channels must be \"mono\", \"stereo\" or null")

    def change(s: Any) -> dict[str, Any]:
        # Consent first: a line may be given consent and started in one call (R5.4 before R4.1).
        if consent is not None:
            actions.set_consent(s, scope, number, consent)
        if notice is not None:
            actions.set_notice(s, scope, number, notice)
        if withhold is not None:
            actions.set_caller_id(s, scope, number, withhold)
        if layout is not None:
            actions.set_audio_channels(s, scope, number, layout)
        if started is not None:
            actions.set_recording(s, scope, [number], started)
        return queries.line_dict(scope.line(s, number))

    scope.require_customer()
    return web.json_response(await request.app[DB_KEY].run(change))


@routes.post("/api/v1/lines/recording")
async def bulk_recording(request: web.Request) -> web.Response:
    scope = scope_of(request)
    body = await json_body(request)
    numbers, started = body.get("numbers"), bool_field(body, "recording_started")
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise BadInput("numbers-invalid", "numbers must be a list of line numbers")
    changed = await request.app[DB_KEY].run(
        lambda s: [queries.line_dict(x) for x in actions.set_recording(s, scope, numbers, bool(started))]
    )
    return web.json_response({"lines": changed})


@routes.patch("/api/v1/operator/lines/{number}")
async def operator_patch_line(request: web.Request) -> web.Response:
    """The operator's line settings: whether it withholds its caller ID by default."""
    scope, number = operator_scope(request), request.match_info["number"]
    withhold = bool_field(await json_body(request), "withhold_caller_id")
    return web.json_response(
        await request.app[DB_KEY].run(
            lambda s: queries.line_dict(actions.set_caller_id(s, scope, number, bool(withhold)))
        )
    )


__all__ = ["routes"]
