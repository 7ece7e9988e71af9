"""Monthly charges (R6), tax excluded. Pure: enrollment periods in, invoice lines out (docs/charges.md).

- Billing months are calendar months in Japan time (JST, UTC+9, no daylight saving): the service is
  billed with the Japanese mobile charges (R6.2). Timestamps in the database are UTC.
- No proration: a line or connection is charged the whole month if it was enrolled at any moment of it
  (enrolled before the month ends and not removed before it starts). Removal takes effect at the instant
  recorded, so a line removed at 00:00 JST on the 1st is not charged for that month.
- A subscriber line (its number) is charged once per month within a contract, even if it was removed
  and enrolled again in the same month (R6.1: "per subscriber line"). Suspension does not stop charges:
  the line is still enrolled (R6.1: "whatever the recording setting").
- A connection pays its registration fee once, in the month it was enrolled, and the monthly network
  usage fee like a line. A connection removed and enrolled again is a new connection: a new registration.
- An enrollment removed at the very instant it was made (removed_at <= enrolled_at) never existed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Final

JST: Final = timezone(timedelta(hours=9), "JST")

LINE_USAGE_FEE: Final = 400  # yen per subscriber line per month (R6, R6.1)
NETWORK_REGISTRATION_FEE: Final = 10_000  # yen per connection, once (R6)
NETWORK_USAGE_FEE: Final = 10_000  # yen per connection per month (R6)

_MONTH_RE: Final = re.compile(r"^(\d{4})-(\d{2})$")


class ChargeKind(StrEnum):
    """Stable ids of the invoice lines (CSV ``charge`` column)."""

    LINE_USAGE = "line-usage-fee"
    NETWORK_REGISTRATION = "network-registration-fee"
    NETWORK_USAGE = "network-usage-fee"


class InvalidMonth(ValueError):
    error_id = "month-invalid"


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM`` (e.g. ``2025-04``); anything else raises :class:`InvalidMonth`."""
        match = _MONTH_RE.match(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
            raise InvalidMonth(f"month {text!r} is not YYYY-MM (e.g. 2025-04)")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    @property
    def start(self) -> datetime:
        """00:00 JST on the 1st, as an aware datetime."""
        return datetime(self.year, self.month, 1, tzinfo=JST)

    @property
    def end(self) -> datetime:
        """The start of the next month (exclusive)."""
        return self.next().start

    @classmethod
    def of(cls, instant: datetime) -> Month:
        """The billing month an aware instant falls in."""
        local = _aware(instant).astimezone(JST)
        return cls(local.year, local.month)


@dataclass(frozen=True, slots=True)
class Enrollment:
    """One enrollment period of a line (``key`` = its number) or a connection (``key`` = its id)."""

    key: str
    enrolled_at: datetime
    removed_at: datetime | None = None
    label: str = ""  # shown on the invoice line: the endpoint, the delivery type...


@dataclass(frozen=True, slots=True)
class Charge:
    kind: ChargeKind
    subject: str  # the line's number or the connection's id
    label: str
    unit_price: int
    quantity: int
    amount: int
    note: str  # "full-month", "enrolled-this-month", "removed-this-month", "enrolled-and-removed"


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime given to the charge rules")
    return instant


def active_in(month: Month, enrolled_at: datetime, removed_at: datetime | None) -> bool:
    """Was the enrollment in force at any moment of ``month``?"""
    start = _aware(enrolled_at)
    if removed_at is not None and _aware(removed_at) <= start:
        return False
    return start < month.end and (removed_at is None or removed_at > month.start)


def _note(month: Month, periods: Iterable[Enrollment]) -> str:
    items = list(periods)
    joined = any(month.start <= p.enrolled_at < month.end for p in items)
    left = all(p.removed_at is not None and p.removed_at < month.end for p in items)
    if joined and left:
        return "enrolled-and-removed"
    if joined:
        return "enrolled-this-month"
    if left:
        return "removed-this-month"
    return "full-month"


def line_charges(month: Month, lines: Iterable[Enrollment]) -> tuple[Charge, ...]:
    """R6.1: 400 yen per line enrolled at any moment of the month, once per number, by number."""
    by_number: dict[str, list[Enrollment]] = {}
    for line in lines:
        if active_in(month, line.enrolled_at, line.removed_at):
            by_number.setdefault(line.key, []).append(line)
    return tuple(
        Charge(ChargeKind.LINE_USAGE, number, periods[-1].label, LINE_USAGE_FEE, 1, LINE_USAGE_FEE,
               _note(month, periods))
        for number, periods in sorted(by_number.items())
    )


def connection_charges(month: Month, connections: Iterable[Enrollment]) -> tuple[Charge, ...]:
    """R6: registration in the month of enrollment, then 10,000 yen for each month enrolled."""
    out: list[Charge] = []
    for conn in sorted(connections, key=lambda c: (c.enrolled_at, c.key)):
        if not active_in(month, conn.enrolled_at, conn.removed_at):
            continue
        note = _note(month, (conn,))
        if Month.of(conn.enrolled_at) == month:
            out.append(Charge(ChargeKind.NETWORK_REGISTRATION, conn.key, conn.label,
                              NETWORK_REGISTRATION_FEE, 1, NETWORK_REGISTRATION_FEE, note))
        out.append(Charge(ChargeKind.NETWORK_USAGE, conn.key, conn.label, NETWORK_USAGE_FEE, 1,
                          NETWORK_USAGE_FEE, note))
    return tuple(out)


def month_charges(month: Month, lines: Iterable[Enrollment],
                  connections: Iterable[Enrollment]) -> tuple[Charge, ...]:
    """Every invoice line of one contract for one month: connections first, then lines by number."""
    return connection_charges(month, connections) + line_charges(month, lines)


def totals(charges: Iterable[Charge]) -> dict[str, int]:
    """Amount per charge kind (every kind present, 0 when none) and ``total``."""
    out = {str(kind): 0 for kind in ChargeKind}
    for charge in charges:
        out[str(charge.kind)] += charge.amount
    out["total"] = sum(out[str(kind)] for kind in ChargeKind)
    return out




def billing_start(answered: datetime | None, notice_started: datetime | None) -> datetime | None:
    """R2.4: call charges start when the notice starts, or at the answer where no notice plays."""
    return notice_started if notice_started is not None else answered


def billable_seconds(answered: datetime | None, notice_started: datetime | None, ended: datetime) -> int:
    """Whole seconds from the billing start to the end, a started second counting in full; 0 unanswered."""
    start = billing_start(answered, notice_started)
    if start is None or ended <= start:
        return 0
    delta = ended - start
    whole = delta.days * 86_400 + delta.seconds
    return whole + (1 if delta.microseconds else 0)


__all__ = [
    "JST",
    "LINE_USAGE_FEE",
    "NETWORK_REGISTRATION_FEE",
    "NETWORK_USAGE_FEE",
    "Charge",
    "ChargeKind",
    "Enrollment",
    "InvalidMonth",
    "Month",
    "active_in",
    "billable_seconds",
    "billing_start",
    "connection_charges",
    "line_charges",
    "month_charges",
    "totals",
]
