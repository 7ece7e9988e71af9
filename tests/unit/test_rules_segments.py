"""Segment policy (R1.2, rules/segments.py): names sort in play order, and when the next one is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callrec_ari.rules.segments import RollReason, roll_delay, segment_name

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_segment_names_are_per_call_folders_sorting_in_play_order() -> None:
    names = [segment_name("callrec", "c1", i) for i in (1, 2, 10, 999)]
    assert names[0] == "callrec/c1/c1-001"
    assert names == sorted(names)


def test_segment_index_starts_at_one() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        segment_name("callrec", "c1", 0)


@pytest.mark.parametrize("reason", [RollReason.STARTED, RollReason.RETRY])
def test_a_new_or_retried_segment_is_due_a_full_period_later(reason: RollReason) -> None:
    assert roll_delay(3600.0, reason, T0, T0 + timedelta(seconds=5)) == 3600.0


def test_after_adoption_the_running_segment_keeps_its_own_start() -> None:
    assert roll_delay(60.0, RollReason.ADOPTED, T0, T0 + timedelta(seconds=45)) == 15.0
    assert roll_delay(60.0, RollReason.ADOPTED, T0, T0 + timedelta(seconds=75)) == 0.0  # overdue: at once
    assert roll_delay(60.0, RollReason.ADOPTED, None, T0) == 60.0  # start unknown: a full period


def test_a_start_after_now_clock_skew_never_stretches_a_segment() -> None:
    assert roll_delay(60.0, RollReason.ADOPTED, T0 + timedelta(seconds=3), T0) == 60.0


@pytest.mark.parametrize("period", [0.0, -1.0])
def test_the_period_must_be_positive(period: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        roll_delay(period, RollReason.STARTED)


@given(period=st.floats(0.1, 86_400), elapsed=st.floats(-3600, 200_000))
def test_the_delay_is_always_within_one_period(period: float, elapsed: float) -> None:
    delay = roll_delay(period, RollReason.ADOPTED, T0, T0 + timedelta(seconds=elapsed))
    assert 0.0 <= delay <= period
