"""The pure call flow's segment rolls (R1.2) and recordings that end late or never report
(the shared set-up is test_call_flow_steps.py's)."""

from __future__ import annotations

from callrec_ari.ari.events import AriEvent
from callrec_ari.calls.actions import (
    ActionFailed,
    AddToBridge,
    ScheduleRoll,
    ScheduleStop,
    SegmentDue,
    StartMedia,
    StopDue,
    StopMedia,
)
from callrec_ari.calls.steps import RECORDING_GRACE_S
from callrec_ari.rules.segments import OVERLAP_S
from tests.unit.test_call_flow_steps import (
    CALL,
    LEGS,
    SEG,
    S,
    answered,
    ev,
    playback_finished,
    recording_started,
    run,
    talking,
)


# ---- segments (R1.2) -------------------------------------------------------------------------------------
def test_a_due_segment_starts_the_next_and_the_older_stops_an_overlap_after_it_began() -> None:
    flow, actions = run(talking(), SegmentDue())
    assert actions == [StartMedia("recording", SEG[1])] and [s.live for s in flow.segments] == [True, True]
    # N+1's RecordingStarted comes before its first frame: N runs on for OVERLAP_S (R1.2)
    flow, actions = run(flow, recording_started(SEG[1]))
    assert actions == [ScheduleStop(SEG[0], OVERLAP_S), ScheduleRoll(60.0)]
    assert [s.live for s in flow.segments] == [True, True]
    flow, actions = run(flow, StopDue(SEG[0]))
    assert actions == [StopMedia("recording", SEG[0])]
    finished = {"type": "RecordingFinished", "timestamp": "2026-12-01T09:00:03.000+0000",
                "recording": {"name": SEG[0], "target_uri": f"bridge:{CALL}"}}
    flow, _ = run(flow, AriEvent.from_json(finished))
    assert run(flow, StopDue(SEG[0]))[1] == []  # over already: nothing to stop


def test_no_new_segment_once_the_call_is_ending() -> None:
    flow, _ = run(talking(), ev("StasisEnd", LEGS.caller))
    assert run(flow, SegmentDue())[1] == []


def test_a_segment_that_cannot_start_keeps_the_running_one_and_retries() -> None:
    flow, actions = run(talking(), SegmentDue())
    flow, actions = run(flow, ActionFailed(actions[0], "500 Internal", not_found=False))
    assert actions == [ScheduleRoll(60.0)] and flow.recording_failed
    assert [(s.live, s.failed) for s in flow.segments] == [(True, False), (False, True)]
    assert flow.phase is S.TALKING


def test_a_recording_that_cannot_start_at_answer_still_plays_the_notice() -> None:
    flow, actions = run(answered(), ActionFailed(StartMedia("recording", SEG[0]), "409", not_found=False))
    assert flow.phase is S.NOTICE and flow.recording_failed and not flow.recording_live
    assert actions == [StartMedia("notice", f"{CALL}-notice-1"), StartMedia("notice", f"{CALL}-notice-2")]


def test_a_recording_that_cannot_start_at_answer_is_bridged_before_the_notice() -> None:
    # The recorder's start goes with the mute and the answer; the bridge after them was skipped when it
    # failed, and is made before the notice plays on it.
    bridge = AddToBridge(LEGS.bridge, (LEGS.caller, LEGS.callee))
    failure = ActionFailed(StartMedia("recording", SEG[0]), "409", not_found=False, skipped=(bridge,))
    flow, actions = run(answered(), failure)
    assert flow.phase is S.NOTICE and flow.recording_failed
    notice = [StartMedia("notice", f"{CALL}-notice-1"), StartMedia("notice", f"{CALL}-notice-2")]
    assert actions == [bridge, *notice]


def test_unrelated_events_change_nothing() -> None:
    flow = talking()
    for event in (
        ev("ChannelVarset", LEGS.caller),
        AriEvent.from_json({"type": "RecordingStarted", "recording": {"name": "other"}}),
        playback_finished("someone-else"),
        AriEvent.from_json({"type": "RecordingFinished", "recording": {"name": "someone-elses-recording"}}),
        ev("ChannelHangupRequest", "stranger"),
    ):
        assert run(flow, event) == (flow, [])


def test_a_roll_that_raced_the_hangup_and_never_reports_does_not_hold_the_call_forever() -> None:
    """The roll's recorder started as the caller hung up and Asterisk says nothing of it (seen in the
    soak): once every leg is gone the call waits RECORDING_GRACE_S for it, then ends and hands over."""
    flow, _ = run(talking(), SegmentDue())
    assert [s.live for s in flow.segments] == [True, True]
    flow, actions = run(flow, ev("ChannelHangupRequest", LEGS.caller), ev("StasisEnd", LEGS.caller),
                        AriEvent.from_json({"type": "RecordingFinished", "recording": {"name": SEG[0]}}),
                        ev("StasisEnd", LEGS.callee))
    assert flow.phase is S.ENDING and not flow.legs and not flow.done  # SEG[1] still says it is live
    assert ScheduleStop(SEG[1], RECORDING_GRACE_S) in actions
    flow, actions = run(flow, StopDue(SEG[1]))
    assert flow.done and actions == [StopMedia("recording", SEG[1])]
    assert [s.live for s in flow.segments] == [False, False]
    # its file, if any, is what there is: without one, the first segment is still delivered
    # (recording/collect.py skips a failed segment's missing file) instead of the call held back
    assert [s.failed for s in flow.segments] == [False, True]


def test_a_recording_that_reports_its_end_in_time_is_not_stopped_twice() -> None:
    flow, _ = run(talking(), ev("ChannelHangupRequest", LEGS.caller), ev("StasisEnd", LEGS.caller),
                  ev("StasisEnd", LEGS.callee))
    flow, _ = run(flow, AriEvent.from_json({"type": "RecordingFinished", "recording": {"name": SEG[0]}}))
    assert flow.done
    flow, actions = run(flow, StopDue(SEG[0]))
    assert actions == []
