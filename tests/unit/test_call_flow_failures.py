"""The pure call flow when something fails: a notice or stream that cannot play, and the failures the
executor reports (docs/architecture.md). The shared set-up is test_call_flow_steps.py's."""

from __future__ import annotations

from callrec_ari.ari.events import AriEvent
from callrec_ari.calls.actions import (
    ActionFailed,
    Begin,
    CancelRoll,
    Hangup,
    Ring,
    Shutdown,
    StartMedia,
    StopMedia,
    Unmute,
)
from callrec_ari.calls.flow import Flow
from callrec_ari.rules import causes
from tests.unit.test_call_flow_steps import (  # noqa: F401
    CALL,
    LEGS,
    SEG,
    SETUP,
    STREAMING,
    T0,
    S,
    answered,
    ev,
    notice_over,
    playback_finished,
    recording_started,
    ringing,
    run,
    talking,
)


# ---- notice and stream failures ---------------------------------------------------------------------------
def test_a_notice_that_cannot_play_connects_the_parties_and_says_so() -> None:
    flow, _ = run(answered(), recording_started())
    # the tone was to be queued after the notice: skipped, as the executor reports it
    flow, actions = run(
        flow, ActionFailed(StartMedia("notice", f"{CALL}-notice-1"), "sound missing", not_found=False,
                           skipped=(StartMedia("notice", f"{CALL}-notice-2"),))
    )
    assert flow.phase is S.TALKING and flow.notice_failed and not flow.playbacks
    assert actions == [StopMedia("recording", SEG[0]), CancelRoll(), Unmute(LEGS.caller), Unmute(LEGS.callee)]


def test_a_notice_whose_channel_vanished_ends_the_call() -> None:
    flow, _ = run(answered(), recording_started())
    flow, _actions = run(flow, ActionFailed(StartMedia("notice", f"{CALL}-notice-1"), "gone", not_found=True))
    assert flow.phase is S.ENDING and flow.hangup_by == "app" and not flow.aborted




def test_stream_delivery_plays_the_notice_at_once_and_streams_after_the_tone() -> None:
    flow, actions = run(
        ringing(STREAMING),
        AriEvent.from_json({"type": "Dial", "dialstatus": "ANSWER", "peer": {"id": LEGS.callee}}),
        setup=STREAMING,
    )
    assert flow.phase is S.NOTICE and not flow.segments  # nothing recorded on the platform (R1.4)
    # the notice and the tone queued at once (Asterisk plays them back to back)
    assert actions[-2:] == [StartMedia("notice", f"{CALL}-notice-1"),
                            StartMedia("notice", f"{CALL}-notice-2")]
    unheard, actions = run(flow, playback_finished(failed=True), setup=STREAMING)
    # the queued tone is stopped; no notice: no stream either
    assert StopMedia("notice", f"{CALL}-notice-2") in actions
    assert actions[-2:] == [Unmute(LEGS.caller), Unmute(LEGS.callee)]
    assert unheard.notice_failed and f"{CALL}-stream" not in unheard.legs
    flow, actions = run(flow, *notice_over(), setup=STREAMING)
    assert actions[-3:] == [Unmute(LEGS.caller), Unmute(LEGS.callee), StartMedia("stream", f"{CALL}-stream")]
    assert f"{CALL}-stream" in flow.legs
    failed, _ = run(flow, ActionFailed(actions[-1], "unreachable", not_found=False), setup=STREAMING)
    assert f"{CALL}-stream" not in failed.legs and failed.phase is S.TALKING
    flow, actions = run(flow, ev("StasisEnd", LEGS.caller), Shutdown(), setup=STREAMING)
    assert Hangup(f"{CALL}-stream", causes.NORMAL_CLEARING) in actions
    assert actions[-1] == StopMedia("stream", f"{CALL}-stream", "hangup-caller")


# ---- the executor's failures ----------------------------------------------------------------------
def test_the_caller_gone_before_the_call_started() -> None:
    flow, actions = run(Flow(), Begin())
    failure = ActionFailed(Ring(LEGS.caller), "Channel not found", not_found=True, skipped=tuple(actions[2:]))
    flow, actions = run(flow, failure)
    assert flow.phase is S.ENDING and flow.hangup_by == "caller" and flow.legs == frozenset()
    assert actions == [] and flow.done


def test_an_unexpected_failure_ends_the_call_and_leaves_the_loop() -> None:
    flow, actions = run(talking(), ActionFailed(Unmute(LEGS.caller), "ARI unavailable", not_found=False))
    assert flow.phase is S.ENDING and flow.aborted and flow.done
    assert Hangup(LEGS.callee, causes.NORMAL_CLEARING) in actions


def test_a_leg_gone_under_a_request_ends_the_call_normally() -> None:
    flow, _actions = run(talking(), ActionFailed(Unmute(LEGS.caller), "Channel not found", not_found=True))
    assert flow.phase is S.ENDING and not flow.aborted and flow.end_cause == causes.NORMAL_CLEARING


def test_a_failure_while_ending_gives_up_waiting() -> None:
    flow, _ = run(talking(), ev("StasisEnd", LEGS.caller))
    flow, actions = run(flow, ActionFailed(Hangup(LEGS.callee, 16), "ARI unavailable", not_found=False))
    assert flow.aborted and flow.done and actions == []


# ---- a segment that cannot start ---------------------------------------------------------------------------
def test_a_next_segment_that_cannot_start_keeps_the_running_one_and_marks_the_recording_failed() -> None:
    failure = ActionFailed(StartMedia("recording", SEG[1]), "500 Internal", not_found=False)
    flow, actions = run(talking(), failure)
    assert flow.recording_failed and flow.phase is S.TALKING
    assert any(type(a).__name__ == "ScheduleRoll" for a in actions)  # tried again a period later


def test_a_roll_that_races_the_hangup_is_no_recording_failure() -> None:
    """The roll's snoop request finds the caller gone (404) before its hangup event arrives."""
    flow, actions = run(talking(), ActionFailed(StartMedia("recording", SEG[1]), "Channel not found",
                                                not_found=True))
    assert not flow.recording_failed and flow.phase is S.TALKING
    assert not any(type(a).__name__ == "ScheduleRoll" for a in actions)
