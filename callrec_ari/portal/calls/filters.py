"""The call list's filters, read from the query string (the list, the CSV export and the operator's list
share them). Anything malformed is a 400 that says what to write instead, never a crash.

Dates are Japan-time days, both ends included: ``from=2026-12-01&to=2026-12-01`` is the calls of
1 December from 00:00 to 24:00 JST.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.i18n import JST
from callrec_ari.portal.i18n import gettext as _

FIELDS = ("line", "from", "to", "direction", "recorded", "delivery")
DIRECTION_VALUES = ("outgoing", "incoming")
RECORDED_VALUES = ("yes", "no")
DELIVERY_VALUES = ("pending", "delivered", "rejected", "purged")  # rules.delivery.DeliveryState
_LINE = re.compile(r"[0-9+*#]{1,32}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_LONGEST = 40


@dataclass(frozen=True, slots=True)
class CallFilter:
    line: str = ""  # a line's number: calls of that line (or with it as the other party)
    start: datetime | None = None  # UTC, included: 00:00 Japan time of the ``from`` day
    end: datetime | None = None  # UTC, excluded: 00:00 Japan time of the day after ``to``
    direction: str = ""
    recorded: bool | None = None
    delivery: str = ""  # a delivery state (rules.delivery.DeliveryState)
    values: tuple[tuple[str, str], ...] = ()  # the fields as given, for the form and the links

    @property
    def form(self) -> dict[str, str]:
        given = dict(self.values)
        return {name: given.get(name, "") for name in FIELDS}

    @property
    def query_string(self) -> str:
        """The filters as a query string (without paging), for the pages' and the export's links."""
        return urlencode([(k, v) for k, v in self.values if v])

    @property
    def active(self) -> bool:
        return any(v for _k, v in self.values)


def _day(text: str, error_id: str, message: str) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if _DAY.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None or not 1970 <= day.year <= 2999:
        raise BadInput(error_id, message)
    return day


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), JST).astimezone(UTC)


def parse_filter(query: Mapping[str, str]) -> CallFilter:
    """The filters of a query string; unknown parameters (``page``) are left to the caller."""
    raw = {name: str(query.get(name, "")).strip() for name in FIELDS}
    for name, value in raw.items():
        if len(value) > _LONGEST:
            message = _("The filter %(field)s is too long (at most %(n)s characters).")
            raise BadInput(f"{name}-invalid", message % {"field": name, "n": _LONGEST})
    if raw["line"] and not _LINE.fullmatch(raw["line"]):
        raise BadInput("line-invalid", _("Line: enter the phone number of one of your lines, digits only "
                                         "(such as 0312345678)."))
    first = _day(raw["from"], "from-invalid",
                 _("From: enter a date as YYYY-MM-DD (such as 2026-12-01)."))
    last = _day(raw["to"], "to-invalid", _("To: enter a date as YYYY-MM-DD (such as 2026-12-31)."))
    if first and last and first > last:
        raise BadInput("date-range-invalid", _("The From date is after the To date."))
    if raw["direction"] not in ("", *DIRECTION_VALUES):
        raise BadInput("direction-invalid", _("Direction must be outgoing or incoming."))
    if raw["recorded"] not in ("", *RECORDED_VALUES):
        raise BadInput("recorded-invalid", _("Recorded must be yes or no."))
    if raw["delivery"] not in ("", *DELIVERY_VALUES):
        raise BadInput("delivery-invalid", _("Delivery must be one of: %(states)s.")
                       % {"states": ", ".join(DELIVERY_VALUES)})
    return CallFilter(
        line=raw["line"],
        start=_utc_midnight(first) if first else None,
        end=_utc_midnight(last + timedelta(days=1)) if last else None,
        direction=raw["direction"],
        recorded=None if not raw["recorded"] else raw["recorded"] == "yes",
        delivery=raw["delivery"],
        values=tuple((name, raw[name]) for name in FIELDS),
    )


__all__ = ["DELIVERY_VALUES", "DIRECTION_VALUES", "FIELDS", "RECORDED_VALUES", "CallFilter", "parse_filter"]
