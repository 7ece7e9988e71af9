"""The dashboards (issue 19): ``/dashboard`` for a customer administrator (its own contract) and
``/operator/dashboard`` for the carrier's operators (the whole platform, the service's health, the
contracts whose deliveries wait or fail). Figures come from :mod:`.queries`, charts from :mod:`.charts`;
every chart's numbers are in a table beside it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal.dashboard import charts, queries
from callrec_ari.portal.i18n import N_, format_date
from callrec_ari.portal.i18n import gettext as _
from callrec_ari.portal.reasons import reason_label
from callrec_ari.portal.service_health import ALERTS_KEY
from callrec_ari.portal.state import DB_KEY, SETTINGS_KEY, operator_scope, scope_of

routes = web.RouteTableDef()

STATE_LABELS = {
    "delivered": N_("Delivered"),
    "pending": N_("Waiting"),
    "rejected": N_("Refused"),
    "purged": N_("Deleted undelivered"),
}
STATE_MEANINGS = {
    "delivered": N_("Received by your server."),
    "pending": N_("Not delivered yet: the platform keeps trying until the retention deadline."),
    "rejected": N_("Refused by your server: kept until the retention deadline, then deleted."),
    "purged": N_("Not delivered before the retention deadline, so deleted."),
}
MAX_SERIES = len(charts.PALETTE)


def utcnow() -> datetime:
    """The dashboards' clock (tests set it)."""
    return datetime.now(UTC)


def day_label(day: date) -> str:
    """A chart's day: ``12/01``."""
    return f"{day.month:02d}/{day.day:02d}"


def call_series(fig: queries.Figures) -> list[charts.Series]:
    """Recorded calls first (the bottom of the stack), then the unrecorded ones by reason label, the
    most frequent first; beyond the palette, the rarest reasons are put together as "Other"."""
    days = len(fig.window.days)
    recorded_name, other_name = _("Recorded"), _("Other")
    recorded = [0] * days
    unrecorded: dict[str, list[int]] = {}
    for (day, was_recorded, reason), count in fig.calls.items():
        if was_recorded:
            recorded[day] += count
            continue
        label = reason_label(reason)
        unrecorded.setdefault(other_name if label == recorded_name else label, [0] * days)[day] += count
    ranked = sorted(unrecorded.items(), key=lambda item: (-sum(item[1]), item[0]))
    if len(ranked) > MAX_SERIES - 1:
        keep = [item for item in ranked if item[0] != other_name][: MAX_SERIES - 2]
        kept = {name for name, _values in keep}
        rest = [values for name, values in ranked if name not in kept]
        ranked = [*keep, (other_name, [sum(column) for column in zip(*rest, strict=True)])]
    return [charts.Series(recorded_name, recorded), *(charts.Series(n, v) for n, v in ranked)]


def calls_view(fig: queries.Figures) -> dict[str, Any]:
    series = call_series(fig)
    totals = charts.stack(series, len(fig.window.days))
    recorded, total = sum(series[0].values), sum(totals)
    first, last = fig.window.days[0], fig.window.days[-1]
    desc = _("Calls per day from %(first)s to %(last)s, Japan time: %(recorded)s recorded and "
             "%(unrecorded)s not recorded, stacked by reason. The table gives the numbers.") % {
        "first": format_date(first), "last": format_date(last),
        "recorded": f"{recorded:,}", "unrecorded": f"{total - recorded:,}"}
    chart = charts.stacked_bars(
        "calls-chart", _("Calls per day"), desc, [day_label(d) for d in fig.window.days], series,
        x_label=_("Day (Japan time)"), y_label=_("Number of calls"),
        empty_text=_("No calls in the last 30 days."),
    )
    return {
        "first": first,
        "last": last,
        "days": len(fig.window.days),
        "calls_chart": chart,
        "calls_total": total,
        "recorded_total": recorded,
        "unrecorded_total": total - recorded,
        "recorded_share": round(100 * recorded / total) if total else None,
        "by_reason": [{"label": s.name, "count": sum(s.values)} for s in series],
        "table": {
            "columns": [s.name for s in series],
            "rows": [
                {"day": day, "counts": [s.values[i] for s in series], "total": totals[i]}
                for i, day in reversed(list(enumerate(fig.window.days)))
            ],
            "totals": [sum(s.values) for s in series],
            "total": total,
        },
    }


def states_view(fig: queries.Figures) -> dict[str, Any]:
    states: list[dict[str, Any]] = [
        {"state": state, "label": _(STATE_LABELS[state]) if state in STATE_LABELS else state,
         "meaning": _(STATE_MEANINGS[state]) if state in STATE_MEANINGS else "", "count": count}
        for state, count in fig.states.items()
    ]
    total = sum(s["count"] for s in states)
    desc = _("Recordings of the last 30 days by delivery state, %(total)s in all: %(states)s.") % {
        "total": f"{total:,}", "states": ", ".join(f"{s['label']} {s['count']:,}" for s in states)}
    chart = charts.bar_list("states-chart", _("Deliveries by state"), desc,
                            [(s["label"], s["count"]) for s in states],
                            empty_text=_("No recordings to deliver in the last 30 days."))
    return {"states": states, "states_total": total, "states_chart": chart}


def view(fig: queries.Figures) -> dict[str, Any]:
    return {
        **calls_view(fig),
        **states_view(fig),
        "pending": fig.pending,
        "oldest": fig.oldest_pending,
        "failing": fig.failing,
    }


@routes.get("/dashboard")
@aiohttp_jinja2.template("dashboard.html")
async def dashboard(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    contract_id = scope.require_customer()
    now = utcnow()
    fig = await request.app[DB_KEY].run(lambda s: queries.figures(s, scope, contract_id, now))
    return view(fig)


@routes.get("/operator/dashboard")
@aiohttp_jinja2.template("op_dashboard.html")
async def operator_dashboard(request: web.Request) -> dict[str, Any]:
    scope = operator_scope(request)
    now = utcnow()
    fig = await request.app[DB_KEY].run(lambda s: queries.figures(s, scope, None, now))
    return {
        **view(fig),
        "alerts": list(request.app.get(ALERTS_KEY) or ()),
        "health_monitored": bool(request.app[SETTINGS_KEY].service_health_url),
        "contracts": fig.contracts,
    }


__all__ = ["call_series", "routes", "utcnow", "view"]
