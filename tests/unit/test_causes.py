"""Which Q.850 cause the caller hears when the other party could not be reached."""

from __future__ import annotations

import pytest

from callrec_ari.rules import causes
from callrec_ari.rules.causes import cause_for_caller


@pytest.mark.parametrize(
    ("dialstatus", "callee_cause", "answered", "expected"),
    [
        # Once answered the call simply ends, whatever Dial said.
        ("ANSWER", 16, True, 16),
        ("BUSY", 17, True, 16),
        (None, None, True, 16),
        # Before answer: the dial status decides.
        ("BUSY", 17, False, 17),
        ("busy", None, False, 17),  # case does not matter
        ("NOANSWER", 16, False, 19),  # our dial timeout: the callee is torn down with another cause
        ("NOANSWER", None, False, 19),
        ("CONGESTION", 34, False, 34),
        ("CONGESTION", None, False, 34),
        ("CHANUNAVAIL", 20, False, 20),
        ("CHANUNAVAIL", None, False, 20),
        # Unknown or uninformative dial status: the callee's own cause.
        ("RINGING", 21, False, 21),
        ("", 21, False, 21),
        (None, 1, False, 1),
        ("PROGRESS", 27, False, 27),
        # CANCEL is not a reason to give the caller; the callee cause (if any) is.
        ("CANCEL", 21, False, 21),
        # Nothing useful at all: a failure.
        (None, None, False, 38),
        ("", 0, False, 38),
        (None, 16, False, 38),  # normal clearing of an unanswered callee says nothing
        ("CANCEL", None, False, 38),
        ("RINGING", 16, False, 38),
    ],
)
def test_cause_for_caller(
    dialstatus: str | None, callee_cause: int | None, answered: bool, expected: int
) -> None:
    assert cause_for_caller(dialstatus, callee_cause, answered) == expected


def test_named_causes_are_q850() -> None:
    assert (causes.NORMAL_CLEARING, causes.USER_BUSY, causes.NO_ANSWER) == (16, 17, 19)
    assert (causes.SUBSCRIBER_ABSENT, causes.UNALLOCATED) == (20, 1)
    assert (causes.CONGESTION, causes.FAILURE) == (34, 38)
