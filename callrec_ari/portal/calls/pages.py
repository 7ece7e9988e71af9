"""The calls pages: the customer's call list with its filters, its CSV export, one call's page with its
timeline, and the operator's list of every contract's calls."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal.calls import queries
from callrec_ari.portal.calls.filters import DELIVERY_VALUES, DIRECTION_VALUES, CallFilter, parse_filter
from callrec_ari.portal.calls.timeline import call_timeline
from callrec_ari.portal.errors import NotFound
from callrec_ari.portal.i18n import JST, as_jst
from callrec_ari.portal.params import query_int
from callrec_ari.portal.reasons import delivery_state_text, direction_text
from callrec_ari.portal.state import DB_KEY, scope_of
from callrec_ari.portal.tenancy import Scope

routes = web.RouteTableDef()

CSV_COLUMNS = (
    "call_id", "started_at", "answered_at", "ended_at", "line", "direction", "caller", "callee",
    "duration_seconds", "recorded", "reason", "reason_text", "delivery_state",
)
CSV_BATCH = 2000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula
_SAFETY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _options() -> dict[str, Any]:
    """The filter form's choices, translated for this request."""
    return {
        "direction_options": [(v, direction_text(v)) for v in DIRECTION_VALUES],
        "delivery_options": [(v, delivery_state_text(v)) for v in DELIVERY_VALUES],
    }


async def _list(request: web.Request, scope: Scope, operator: bool) -> dict[str, Any]:
    wanted, page = parse_filter(request.query), query_int(request, "page", 1)
    found = await request.app[DB_KEY].run(lambda s: queries.calls_page(s, scope, wanted, page))
    return {**found, **_options(), "operator_view": operator, "base": request.path}


@routes.get("/calls")
@aiohttp_jinja2.template("calls.html")
async def calls(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    scope.require_customer()
    return await _list(request, scope, operator=False)


@routes.get("/operator/calls")
@aiohttp_jinja2.template("calls.html")
async def operator_calls(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    scope.require_operator()
    return await _list(request, scope, operator=True)


def csv_cell(value: object) -> str:
    """A cell as text, with a leading ' where a spreadsheet would read a formula (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        local = as_jst(value)
        return local.isoformat(timespec="seconds") if local is not None else ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(call: dict[str, Any]) -> list[str]:
    values = {**call, "started_at": call["when"]}
    return [csv_cell(values[column]) for column in CSV_COLUMNS]


def csv_text(rows: Iterable[Iterable[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


@routes.get("/calls.csv")
async def calls_csv(request: web.Request) -> web.StreamResponse:
    """Every matching call (up to :data:`~callrec_ari.portal.calls.queries.CSV_LIMIT`), newest first,
    read and sent in batches: UTF-8 with a BOM, so Excel in Japan opens it as UTF-8."""
    scope = scope_of(request)
    scope.require_customer()
    wanted: CallFilter = parse_filter(request.query)
    db = request.app[DB_KEY]

    async def fetch(after: tuple[datetime, int] | None) -> list[dict[str, Any]]:
        return await db.run(lambda s: queries.calls_batch(s, scope, wanted, after, CSV_BATCH))

    first = await fetch(None)  # a bad filter (an unknown line) is refused before anything is sent
    response = web.StreamResponse(headers={
        **_SAFETY_HEADERS,
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="calls-{datetime.now(JST):%Y%m%d}.csv"',
    })
    await response.prepare(request)
    await response.write(("\ufeff" + csv_text([CSV_COLUMNS])).encode("utf-8"))
    batch, sent = first, 0
    while batch:
        batch = batch[: queries.CSV_LIMIT - sent]
        await response.write(csv_text(csv_row(c) for c in batch).encode("utf-8"))
        sent += len(batch)
        if sent >= queries.CSV_LIMIT or len(batch) < CSV_BATCH:
            break
        batch = await fetch((batch[-1]["when"], batch[-1]["row_id"]))
    await response.write_eof()
    return response


# ``{id}`` is the call id (text, such as ``1733011200.42``): the name the tenant-isolation walk fills in.
@routes.get("/calls/{id}")
@aiohttp_jinja2.template("call.html")
async def call_page(request: web.Request) -> dict[str, Any]:
    """One call (a customer's own, or any for an operator) and its timeline."""
    scope, call_id = scope_of(request), request.match_info["id"]
    if not scope.is_operator:
        scope.require_customer()
    if len(call_id) > 128:
        raise NotFound("call", call_id[:128])
    found = await request.app[DB_KEY].run(lambda s: queries.call_detail(s, scope, call_id))
    return {**found, "timeline": call_timeline(found["call"], found["deliveries"]),
            "operator_view": scope.is_operator}


__all__ = ["CSV_COLUMNS", "csv_cell", "csv_row", "routes"]
