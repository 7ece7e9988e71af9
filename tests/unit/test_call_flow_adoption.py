"""The pure call flow after a restart (docs/architecture.md step 7): a call read back from the journal
and found in Asterisk carries on, or ends cleanly. The shared set-up is test_call_flow_steps.py's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callrec_ari.calls.actions import (
    AddToBridge,
    AsteriskGone,
    CancelRoll,
    Hangup,
    Resume,
    ScheduleRoll,
    StartMedia,
    StopMedia,
    Unmute,
)
from callrec_ari.calls.flow import Flow, adopted
from callrec_ari.calls.state import CallState
from callrec_ari.model.call import CallTimes, RecordedSegment
from callrec_ari.rules import causes
from tests.unit.test_call_flow_steps import CALL, LEGS, SEG, STREAMING, T0, S, run


def journal_flow(
    phase: CallState,
    legs: frozenset[str] = frozenset({LEGS.caller, LEGS.callee}),
    live: frozenset[str] = frozenset(),
    playbacks: frozenset[str] = frozenset(),
) -> Flow:
    times = CallTimes(started=T0, answered=T0 + timedelta(seconds=1))
    segments = (RecordedSegment(SEG[0], 1, T0 - timedelta(seconds=50)),)
    return adopted(phase, times, segments, legs, live, playbacks)


def test_adopted_call_talking_with_its_recorder_running_rolls_when_its_period_ends() -> None:
    flow, actions = run(journal_flow(S.TALKING, live=frozenset({SEG[0]})), Resume())
    assert flow.phase is S.TALKING and flow.segments[0].live
    # the talk's unmutes again (the killed app may not have sent them), nothing else for the parties
    # (Asterisk has them in the bridge), and the roll when 50 s of its 60 s period were recorded
    assert actions == [Unmute(LEGS.caller), Unmute(LEGS.callee), ScheduleRoll(10.0)]


def test_adopted_call_whose_recorder_died_starts_a_new_segment() -> None:
    _flow, actions = run(journal_flow(S.TALKING), Resume())
    assert actions == [Unmute(LEGS.caller), Unmute(LEGS.callee), StartMedia("recording", SEG[1])]


def test_adopted_talking_with_its_parties_out_of_the_bridge_has_them_bridged() -> None:
    """Killed between the talk's journal entry and its requests: the parties were never bridged."""
    flow, actions = run(journal_flow(S.TALKING, live=frozenset({SEG[0]})), Resume(bridged=False))
    assert flow.phase is S.TALKING
    assert actions[:3] == [Unmute(LEGS.caller), Unmute(LEGS.callee),
                           AddToBridge(LEGS.bridge, (LEGS.caller, LEGS.callee))]


def test_adopted_stream_call_is_not_recorded_on_the_platform() -> None:
    _flow, actions = run(journal_flow(S.TALKING), Resume(), setup=STREAMING)
    assert not any(isinstance(a, StartMedia) and a.kind == "recording" for a in actions)


def test_adopted_during_the_notice_whose_playback_ended_talks() -> None:
    flow, actions = run(journal_flow(S.NOTICE), Resume())
    assert flow.phase is S.TALKING and actions[:2] == [Unmute(LEGS.caller), Unmute(LEGS.callee)]


def test_adopted_during_the_notice_still_playing_waits_for_it() -> None:
    flow, actions = run(journal_flow(S.NOTICE, playbacks=frozenset({f"{CALL}-notice-1"})), Resume())
    assert flow.phase is S.NOTICE and actions == [StartMedia("recording", SEG[1])]


@pytest.mark.parametrize(
    ("phase", "legs"),
    [(S.RINGING, frozenset({LEGS.caller, LEGS.callee})), (S.TALKING, frozenset({LEGS.caller}))],
)
def test_adopted_call_not_connected_or_half_gone_ends_with_a_temporary_failure(
    phase: CallState, legs: frozenset[str]
) -> None:
    flow, actions = run(journal_flow(phase, legs=legs), Resume())
    assert flow.phase is S.ENDING and flow.end_cause == causes.TEMPORARY_FAILURE
    assert set(actions) == {Hangup(leg, causes.TEMPORARY_FAILURE) for leg in legs}


@pytest.mark.parametrize("legs", [frozenset({LEGS.callee}), frozenset({LEGS.caller, LEGS.callee})])
def test_adopted_while_ending_hangs_up_what_is_left(legs: frozenset[str]) -> None:
    """Killed after the caller hung up and before the other party was gone (seen in `make soak` under
    load: the hangup request timed out): the adopted call asks again, or that leg stayed up for good."""
    flow, actions = run(journal_flow(S.ENDING, legs=legs), Resume())
    assert flow.phase is S.ENDING
    assert set(actions) == {Hangup(leg, causes.NORMAL_CLEARING) for leg in legs}


def test_adopted_stream_call_keeps_its_running_stream_as_a_leg() -> None:
    """The stream channel a previous run started is still up: the call carries on with it (it is
    hung up with the parties at the end), and no second stream is started."""
    stream = f"{CALL}-stream"
    flow, actions = run(journal_flow(S.TALKING, legs=frozenset({LEGS.caller, LEGS.callee, stream})), Resume(),
                        setup=STREAMING)
    assert flow.phase is S.TALKING and stream in flow.legs
    assert not any(isinstance(a, StartMedia) for a in actions)


def test_adopted_call_with_one_party_gone_ends_even_with_its_stream_still_up() -> None:
    stream = f"{CALL}-stream"
    flow, actions = run(journal_flow(S.TALKING, legs=frozenset({LEGS.caller, stream})), Resume(),
                        setup=STREAMING)
    assert flow.phase is S.ENDING and flow.end_cause == causes.TEMPORARY_FAILURE
    assert set(actions) == {Hangup(leg, causes.TEMPORARY_FAILURE) for leg in (LEGS.caller, stream)}


@pytest.mark.parametrize("phase", [S.RINGING, S.NOTICE, S.TALKING, S.ENDING])
def test_a_call_whose_asterisk_is_gone_ends_when_asterisk_went_and_hands_over_what_was_recorded(
    phase: CallState,
) -> None:
    """Asterisk's process is gone (app/__init__.py: it refused connections for a while): nothing of the
    call is left to hang up, stop or wait for, and no downtime is billed."""
    went = T0 + timedelta(seconds=30)
    before = journal_flow(phase, live=frozenset({SEG[0]}), playbacks=frozenset({f"{CALL}-notice-1"}))
    flow, actions = run(before, AsteriskGone(went))
    assert flow.done and not flow.legs and not flow.playbacks and not flow.recording_live
    assert [s.name for s in flow.segments] == [SEG[0]]  # its file is handed over
    assert not any(isinstance(a, (Hangup, StartMedia, StopMedia)) for a in actions)  # nobody to ask
    assert CancelRoll() in actions
    if phase is not S.ENDING:  # (an ending call keeps the end it had)
        assert flow.times.ended == went and flow.hangup_by == "app"
        assert flow.end_cause == causes.TEMPORARY_FAILURE
