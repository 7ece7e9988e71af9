"""Pure rules sharing a worker's upload slots among customer connections (issue 13): round-robin
turns, each connection's width, backoff as a whole, and the pace after each attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callrec_ari.delivery.settings import DeliveryConfigError, load_delivery_settings
from callrec_ari.rules.delivery import (
    ClaimPlan,
    ConnectionLoad,
    Outcome,
    Pace,
    connection_width,
    next_pace,
    plan_claims,
)

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def load(key: str, waited: float, pace: Pace = Pace.OPEN, retry_at: datetime | None = None,
         in_flight: int = 0, turn: int = -1) -> ConnectionLoad[str]:
    return ConnectionLoad(key, ago(waited), pace, retry_at, in_flight, turn)


@pytest.mark.parametrize(
    ("pace", "retry_at", "in_flight", "width"),
    [(Pace.OPEN, None, 0, 3), (Pace.OPEN, None, 3, 3),
     (Pace.PROBE, None, 0, 1), (Pace.PROBE, None, 1, 1),
     (Pace.FAILING, None, 1, 0),
     (Pace.FAILING, None, 0, 1),  # its retrying upload was interrupted: probe again
     (Pace.BACKOFF, LATER, 0, 0),
     (Pace.BACKOFF, NOW, 0, 1),  # its next try time has come: one probe
     (Pace.BACKOFF, ago(1), 0, 1)],
)
def test_width_of_a_connection(pace: Pace, retry_at: datetime | None, in_flight: int, width: int) -> None:
    assert connection_width(pace, retry_at, in_flight, NOW, per_connection=3) == width


@pytest.mark.parametrize(
    ("pace", "outcome", "final", "after"),
    [(Pace.PROBE, Outcome.DELIVERED, True, Pace.OPEN),
     (Pace.BACKOFF, Outcome.DELIVERED, True, Pace.OPEN),
     (Pace.FAILING, Outcome.DELIVERED, True, Pace.OPEN),
     (Pace.OPEN, Outcome.TRANSIENT, False, Pace.FAILING),
     (Pace.PROBE, Outcome.TRANSIENT, False, Pace.FAILING),
     (Pace.FAILING, Outcome.TRANSIENT, True, Pace.BACKOFF),
     (Pace.OPEN, Outcome.TRANSIENT, True, Pace.BACKOFF),
     (Pace.FAILING, Outcome.PERMANENT, True, Pace.PROBE),  # the server answered after all
     (Pace.OPEN, Outcome.PERMANENT, True, Pace.OPEN),  # that recording's fault, not the connection's
     (Pace.PROBE, Outcome.PERMANENT, True, Pace.PROBE),
     (Pace.BACKOFF, Outcome.PERMANENT, True, Pace.BACKOFF)],
)
def test_pace_after_an_attempt(pace: Pace, outcome: Outcome, final: bool, after: Pace) -> None:
    assert next_pace(pace, outcome, final) is after


def test_many_queued_do_not_starve_one_queued() -> None:
    # GIVEN A served a moment ago and waiting longest, B never served
    plan = plan_claims([load("A", 60, turn=7), load("B", 1)], free=1, per_connection=4, now=NOW)
    # THEN the one free slot goes to B
    assert plan.take == (("B", 1),)


def test_slots_go_round_robin_one_per_connection_per_round() -> None:
    loads = [load("A", 60, turn=3), load("B", 30, turn=1), load("C", 10, turn=2)]
    plan = plan_claims(loads, free=5, per_connection=4, now=NOW)
    # B (served longest ago) first, then C, then A; the second round starts again with B
    assert plan.take == (("B", 2), ("C", 2), ("A", 1))


def test_never_served_ones_go_oldest_due_first() -> None:
    plan = plan_claims([load("new", 1), load("old", 90), load("mid", 30)], free=2, per_connection=2, now=NOW)
    assert plan.take == (("old", 1), ("mid", 1))


def test_the_width_is_never_exceeded_even_with_slots_left() -> None:
    loads = [load("A", 60, in_flight=1), load("B", 5, Pace.PROBE), load("C", 3, Pace.PROBE, in_flight=1)]
    plan = plan_claims(loads, free=10, per_connection=2, now=NOW)
    assert plan.take == (("A", 1), ("B", 1))


def test_a_backed_off_connection_gets_nothing_and_its_due_ones_are_deferred() -> None:
    loads = [load("down", 120, Pace.BACKOFF, retry_at=LATER), load("failing", 100, Pace.FAILING, in_flight=1),
             load("up", 1)]
    plan = plan_claims(loads, free=4, per_connection=2, now=NOW)
    assert plan == ClaimPlan(take=(("up", 2),), defer=(("down", LATER),))


def test_a_backoff_that_is_over_gives_one_probe_and_defers_nothing() -> None:
    plan = plan_claims([load("back", 120, Pace.BACKOFF, retry_at=NOW)], free=4, per_connection=2, now=NOW)
    assert plan == ClaimPlan(take=(("back", 1),), defer=())


def test_no_free_slot_no_claim() -> None:
    assert plan_claims([load("A", 1)], free=0, per_connection=2, now=NOW).take == ()
    assert plan_claims([], free=3, per_connection=2, now=NOW) == ClaimPlan((), ())


def test_the_per_connection_width_is_a_checked_setting() -> None:
    env = {"CALLREC_DELIVERY_CONNECTION_SECRET": "s", "CALLREC_DELIVERY_PER_CONNECTION": "3",
           "CALLREC_DELIVERY_DRAIN_TIMEOUT": "5"}
    s = load_delivery_settings(None, env)
    assert (s.per_connection, s.drain_timeout) == (3, 5.0)
    with pytest.raises(DeliveryConfigError, match=r"\[delivery\] per_connection = 0: expected at least 1"):
        load_delivery_settings(None, {**env, "CALLREC_DELIVERY_PER_CONNECTION": "0"})
