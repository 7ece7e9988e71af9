"""R6 charges and R2.4 billable seconds (rules/charges.py), what test_charges.py leaves open (found by
`make mutation`, docs/mutation.md): every field of an invoice line, months at the ends of the year,
notes at the exact month boundaries of docs/charges.md, and calls longer than a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callrec_ari.rules.charges import (
    JST,
    Charge,
    ChargeKind,
    Enrollment,
    InvalidMonth,
    Month,
    billable_seconds,
    connection_charges,
    line_charges,
)

APRIL = Month(2025, 4)


def jst(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=JST)


@pytest.mark.parametrize("text", ["2025-01", "2025-12", "2000-01"])
def test_the_first_and_last_months_of_a_year_and_the_year_2000_parse(text: str) -> None:
    assert str(Month.parse(text)) == text


def test_a_bad_month_says_what_is_expected() -> None:
    with pytest.raises(InvalidMonth, match=r"^month '2025-13' is not YYYY-MM \(e\.g\. 2025-04\)$"):
        Month.parse("2025-13")


def test_the_month_before_is_in_the_same_year_except_in_january() -> None:
    assert APRIL.previous() == Month(2025, 3)
    assert Month(2025, 12).previous() == Month(2025, 11)
    assert Month(2025, 1).previous() == Month(2024, 12)


def test_a_line_charge_is_one_line_at_400_yen() -> None:
    charges = line_charges(APRIL, [Enrollment("09012345678", jst(2025, 1, 1), None, "acme-001")])
    assert charges == (Charge(ChargeKind.LINE_USAGE, "09012345678", "acme-001", 400, 1, 400, "full-month"),)


def test_a_connection_enrolled_this_month_has_two_full_invoice_lines() -> None:
    conn = Enrollment("connection-1", jst(2025, 4, 10), None, "file https://example.test/recordings")
    assert connection_charges(APRIL, [conn]) == (
        Charge(ChargeKind.NETWORK_REGISTRATION, "connection-1", conn.label, 10_000, 1, 10_000,
               "enrolled-this-month"),
        Charge(ChargeKind.NETWORK_USAGE, "connection-1", conn.label, 10_000, 1, 10_000,
               "enrolled-this-month"),
    )


def test_a_connection_removed_before_the_month_does_not_hide_a_later_one() -> None:
    conns = [Enrollment("connection-1", jst(2024, 1, 1), jst(2025, 1, 1)),
             Enrollment("connection-2", jst(2025, 1, 1))]
    assert [(c.kind, c.subject) for c in connection_charges(APRIL, conns)] == [
        (ChargeKind.NETWORK_USAGE, "connection-2")]


def test_notes_at_the_exact_month_boundaries() -> None:
    # enrolled at 00:00 JST on the 1st: it joined this month; removed at 00:00 JST on the 1st of the next
    # month: it was enrolled the whole month (removal takes effect at the instant recorded).
    joined = Enrollment("09000000001", jst(2025, 4, 1))
    whole = Enrollment("09000000002", jst(2025, 1, 1), jst(2025, 5, 1))
    assert {c.subject: c.note for c in line_charges(APRIL, [joined, whole])} == {
        "09000000001": "enrolled-this-month", "09000000002": "full-month"}


def test_a_call_longer_than_a_day_counts_every_second() -> None:
    start = datetime(2025, 4, 1, tzinfo=UTC)
    assert billable_seconds(start, None, start + timedelta(days=1, seconds=5)) == 86_405
