"""R6 and R2.4: every charge line, month boundaries in Japan time, billing start and billable seconds."""

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
    active_in,
    billable_seconds,
    billing_start,
    connection_charges,
    line_charges,
    month_charges,
    totals,
)

APRIL = Month(2025, 4)


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=JST)


def kinds(charges: tuple[Charge, ...]) -> list[tuple[str, str, int]]:
    return [(str(c.kind), c.subject, c.amount) for c in charges]


# --- months -------------------------------------------------------------------------------------

def test_month_parse_and_boundaries_are_japan_time() -> None:
    m = Month.parse("2025-04")
    assert (m, str(m)) == (APRIL, "2025-04")
    assert m.start == jst(2025, 4, 1) and m.start.astimezone(UTC) == datetime(2025, 3, 31, 15, tzinfo=UTC)
    assert m.end == jst(2025, 5, 1)
    assert Month(2025, 12).next() == Month(2026, 1) and Month(2026, 1).previous() == Month(2025, 12)
    # 23:30 UTC on 31 March is already 1 April in Japan.
    assert Month.of(datetime(2025, 3, 31, 23, 30, tzinfo=UTC)) == APRIL


@pytest.mark.parametrize("text", ["2025-4", "2025-13", "2025-00", "25-04", "2025/04", "", "1999-12", "april"])
def test_bad_months_are_refused(text: str) -> None:
    with pytest.raises(InvalidMonth) as info:
        Month.parse(text)
    assert info.value.error_id == "month-invalid"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        active_in(APRIL, datetime(2025, 4, 1), None)


# --- R6.1 line usage fee: 400 yen per line per month, in full for any part of the month ------------

@pytest.mark.parametrize(
    ("enrolled", "removed", "charged"),
    [
        (jst(2025, 1, 10), None, True),  # enrolled before, still enrolled
        (jst(2025, 4, 1), None, True),  # enrolled at the first instant of the month
        (jst(2025, 4, 30, 23, 59, 59), None, True),  # enrolled in the last second: full month
        (jst(2025, 5, 1), None, False),  # enrolled at the first instant of the next month
        (jst(2025, 1, 10), jst(2025, 4, 1, 0, 0, 1), True),  # removed one second into the month
        (jst(2025, 1, 10), jst(2025, 4, 1), False),  # removed exactly at the month's start
        (jst(2025, 1, 10), jst(2025, 3, 31, 23, 59), False),  # removed the month before
        (jst(2025, 4, 10, 9), jst(2025, 4, 10, 17), True),  # enrolled and removed the same day
        (jst(2025, 4, 10, 9), jst(2025, 4, 10, 9), False),  # removed at the instant it was made
        (jst(2025, 1, 10), jst(2025, 6, 1), True),  # removed after the month
    ],
)
def test_line_usage_fee_at_month_boundaries(enrolled: datetime, removed: datetime | None,
                                            charged: bool) -> None:
    charges = line_charges(APRIL, [Enrollment("09012345678", enrolled, removed, "ep1")])
    assert kinds(charges) == ([("line-usage-fee", "09012345678", 400)] if charged else [])


def test_notes_say_why_a_line_was_charged() -> None:
    notes = {
        "full": Enrollment("09000000001", jst(2025, 3, 1)),
        "joined": Enrollment("09000000002", jst(2025, 4, 15)),
        "left": Enrollment("09000000003", jst(2025, 3, 1), jst(2025, 4, 15)),
        "both": Enrollment("09000000004", jst(2025, 4, 2), jst(2025, 4, 15)),
    }
    by_number = {c.subject: c.note for c in line_charges(APRIL, notes.values())}
    assert by_number == {"09000000001": "full-month", "09000000002": "enrolled-this-month",
                         "09000000003": "removed-this-month", "09000000004": "enrolled-and-removed"}


def test_a_number_removed_and_enrolled_again_in_one_month_is_charged_once() -> None:
    periods = [Enrollment("09012345678", jst(2025, 1, 1), jst(2025, 4, 5), "old"),
               Enrollment("09012345678", jst(2025, 4, 20), None, "new")]
    charges = line_charges(APRIL, periods)
    assert kinds(charges) == [("line-usage-fee", "09012345678", 400)]
    assert charges[0].label == "new"


def test_usage_fee_does_not_depend_on_recording_or_suspension() -> None:
    # R6.1: the rules see only the enrollment period; recording state and suspension are not inputs.
    assert totals(line_charges(APRIL, [Enrollment(f"0900000{n:04d}", jst(2025, 1, 1)) for n in range(3)])) \
        ["line-usage-fee"] == 1200


# --- R6 connections: 10,000 registration once, 10,000 per month ------------------------------------

def test_connection_enrolled_this_month_pays_registration_and_usage() -> None:
    conn = Enrollment("connection-1", jst(2025, 4, 30, 23, 59), None, "file")
    assert kinds(connection_charges(APRIL, [conn])) == [
        ("network-registration-fee", "connection-1", 10_000), ("network-usage-fee", "connection-1", 10_000)]


def test_registration_is_charged_once_only() -> None:
    conn = Enrollment("connection-1", jst(2025, 3, 31, 23, 59), None, "stream")
    assert kinds(connection_charges(APRIL, [conn])) == [("network-usage-fee", "connection-1", 10_000)]
    assert [c.kind for c in connection_charges(Month(2025, 3), [conn])] == [
        ChargeKind.NETWORK_REGISTRATION, ChargeKind.NETWORK_USAGE]


def test_registration_month_is_japan_time() -> None:
    # 15:00 UTC on 31 March is 00:00 JST on 1 April: registered in April.
    conn = Enrollment("connection-1", datetime(2025, 3, 31, 15, 0, tzinfo=UTC))
    assert [c.kind for c in connection_charges(APRIL, [conn])] == [
        ChargeKind.NETWORK_REGISTRATION, ChargeKind.NETWORK_USAGE]
    assert connection_charges(Month(2025, 3), [conn]) == ()


@pytest.mark.parametrize(
    ("removed", "expected"),
    [(jst(2025, 4, 1), []), (jst(2025, 4, 1, 0, 0, 1), [("network-usage-fee", "connection-1", 10_000)])],
)
def test_connection_removed_at_the_boundary(removed: datetime, expected: list[tuple[str, str, int]]) -> None:
    conn = Enrollment("connection-1", jst(2025, 2, 1), removed)
    assert kinds(connection_charges(APRIL, [conn])) == expected


def test_connection_enrolled_and_removed_in_the_month_pays_both() -> None:
    conn = Enrollment("connection-1", jst(2025, 4, 3), jst(2025, 4, 4))
    assert totals(connection_charges(APRIL, [conn]))["total"] == 20_000


def test_a_connection_enrolled_again_is_a_new_registration() -> None:
    conns = [Enrollment("connection-1", jst(2025, 1, 1), jst(2025, 4, 10)),
             Enrollment("connection-2", jst(2025, 4, 10))]
    assert totals(connection_charges(APRIL, conns)) == {
        "line-usage-fee": 0, "network-registration-fee": 10_000, "network-usage-fee": 20_000, "total": 30_000}


def test_month_charges_lists_connections_then_lines_by_number() -> None:
    lines = [Enrollment("09000000002", jst(2025, 1, 1)), Enrollment("09000000001", jst(2025, 1, 1))]
    conns = [Enrollment("connection-1", jst(2025, 1, 1))]
    assert [c.subject for c in month_charges(APRIL, lines, conns)] == [
        "connection-1", "09000000001", "09000000002"]


def test_totals_of_nothing_are_zero() -> None:
    assert totals(()) == {"line-usage-fee": 0, "network-registration-fee": 0, "network-usage-fee": 0,
                          "total": 0}


# --- R2.4 billing start and billable seconds ------------------------------------------------------

T = datetime(2025, 4, 1, 3, 0, tzinfo=UTC)


def test_billing_starts_at_the_notice() -> None:
    assert billing_start(T, T + timedelta(seconds=1)) == T + timedelta(seconds=1)


def test_billing_starts_at_the_answer_where_no_notice_plays() -> None:
    assert billing_start(T, None) == T


def test_an_unanswered_call_has_no_billing_start_and_no_seconds() -> None:
    assert billing_start(None, None) is None
    assert billable_seconds(None, None, T) == 0


@pytest.mark.parametrize(
    ("notice", "end", "seconds"),
    [(1.0, 31.0, 30), (1.0, 31.2, 31), (1.0, 1.0, 0), (1.0, 0.5, 0), (0.5, 3600.5, 3600)],
)
def test_billable_seconds_round_a_started_second_up(notice: float, end: float, seconds: int) -> None:
    assert billable_seconds(T, T + timedelta(seconds=notice), T + timedelta(seconds=end)) == seconds


def test_billable_seconds_without_notice_count_from_the_answer() -> None:
    assert billable_seconds(T, None, T + timedelta(seconds=42)) == 42
