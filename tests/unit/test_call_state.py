"""The call state machine (habit 3): every pair of states is either a flow transition or refused."""

from __future__ import annotations

import itertools

import pytest

from callrec_ari.calls.state import CallState, IllegalTransition, transition

S = CallState

# The call flow, written out independently of the product's table: a regression in either shows.
ALLOWED = {
    (S.STARTING, S.DIALING),
    (S.STARTING, S.ENDING),  # refused or caller hung up before we dialled
    (S.DIALING, S.RINGING),
    (S.DIALING, S.ENDING),  # callee unreachable
    (S.RINGING, S.CONNECTING),
    (S.RINGING, S.ENDING),  # busy, no answer, caller gave up
    (S.CONNECTING, S.NOTICE),
    (S.CONNECTING, S.TALKING),  # recorded without notice, or not recorded
    (S.CONNECTING, S.ENDING),
    (S.NOTICE, S.TALKING),
    (S.NOTICE, S.ENDING),
    (S.TALKING, S.ENDING),
    (S.ENDING, S.ENDED),
}
ILLEGAL = sorted(set(itertools.product(CallState, CallState)) - ALLOWED)


@pytest.mark.parametrize(("current", "new"), sorted(ALLOWED))
def test_allowed_transition_returns_the_new_state(current: CallState, new: CallState) -> None:
    assert transition(current, new) is new


@pytest.mark.parametrize(("current", "new"), ILLEGAL)
def test_illegal_transition_is_refused(current: CallState, new: CallState) -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(current, new)
    assert str(current) in str(info.value) and str(new) in str(info.value)
    assert info.value.error_id == "call-illegal-transition"


def test_table_covers_every_pair() -> None:
    assert len(ALLOWED) + len(ILLEGAL) == len(CallState) ** 2


def test_ended_is_final() -> None:
    for new in CallState:
        with pytest.raises(IllegalTransition):
            transition(S.ENDED, new)


def test_state_values_are_stable_log_ids() -> None:
    assert [s.value for s in CallState] == [
        "starting", "dialing", "ringing", "connecting", "notice", "talking", "ending", "ended",
    ]
