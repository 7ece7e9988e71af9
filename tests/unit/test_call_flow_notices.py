"""The notice in the call's record: each sound the parties heard, with its times and outcome (the
shared set-up is test_call_flow_steps.py's)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from callrec_ari.ari.events import AriEvent
from callrec_ari.calls.actions import (
    ActionFailed,
    AddToBridge,
    Answer,
    StartMedia,
    StopMedia,
    Unmute,
    together,
)
from tests.unit.test_call_flow_steps import (
    ANSWER,
    CALL,
    LEGS,
    PLAN,
    SEG,
    SETUP,
    S,
    answered,
    ev,
    playback_finished,
    recording_started,
    ringing,
    run,
)


# ---- the notice in the record ------------------------------------------------------------------------
def playback_started(playback: str, at: str) -> AriEvent:
    return AriEvent.from_json({"type": "PlaybackStarted", "timestamp": at, "playback": {
        "id": playback, "state": "playing", "target_uri": f"bridge:{CALL}"}})


def finished_at(playback: str, at: str, failed: bool = False) -> AriEvent:
    return AriEvent.from_json({"type": "PlaybackFinished", "timestamp": at, "playback": {
        "id": playback, "state": "failed" if failed else "done", "target_uri": f"bridge:{CALL}"}})


def test_each_sound_the_parties_heard_is_recorded_with_its_times_and_outcome() -> None:
    flow, _ = run(answered(), recording_started(),
                  playback_started(f"{CALL}-notice-1", "2026-12-01T09:00:02.100+0000"),
                  finished_at(f"{CALL}-notice-1", "2026-12-01T09:00:07.000+0000"),
                  playback_started(f"{CALL}-notice-2", "2026-12-01T09:00:07.010+0000"),
                  finished_at(f"{CALL}-notice-2", "2026-12-01T09:00:07.450+0000"))
    assert flow.phase is S.TALKING
    assert [(n.to, n.sound, n.outcome) for n in flow.notices] == [
        ("both", "sound:a", "played"), ("both", "sound:beep", "played")]
    assert flow.notices[0].started_at == datetime(2026, 12, 1, 9, 0, 2, 100000, tzinfo=UTC)
    assert flow.notices[1].ended_at == datetime(2026, 12, 1, 9, 0, 7, 450000, tzinfo=UTC)


def test_a_sound_that_could_not_play_or_was_cut_says_so() -> None:
    flow, _ = run(answered(), recording_started(),
                  playback_started(f"{CALL}-notice-1", "2026-12-01T09:00:02.100+0000"),
                  finished_at(f"{CALL}-notice-1", "2026-12-01T09:00:02.100+0000", failed=True))
    assert [(n.sound, n.outcome) for n in flow.notices] == [("sound:a", "failed")] and flow.notice_failed
    cut, _ = run(answered(), recording_started(),
                 playback_started(f"{CALL}-notice-1", "2026-12-01T09:00:02.100+0000"),
                 ev("ChannelHangupRequest", LEGS.caller, cause=16),
                 finished_at(f"{CALL}-notice-1", "2026-12-01T09:00:03.000+0000", failed=True))
    assert [(n.sound, n.outcome) for n in cut.notices] == [("sound:a", "cut")] and not cut.notice_failed
    refused, _ = run(answered(), recording_started(),
                     ActionFailed(StartMedia("notice", f"{CALL}-notice-1"), "no sound", not_found=False))
    assert [(n.sound, n.started_at, n.outcome) for n in refused.notices] == [("sound:a", None, "failed")]


def test_per_channel_notices_are_recorded_per_party() -> None:
    setup = replace(SETUP, plan=replace(PLAN, to_callee=("sound:b",)))
    flow, _ = run(answered(setup), recording_started(),
                  playback_started(f"{CALL}-notice-caller-1", "2026-12-01T09:00:02.100+0000"),
                  playback_started(f"{CALL}-notice-callee-1", "2026-12-01T09:00:02.110+0000"),
                  setup=setup)
    assert [(n.to, n.sound, n.outcome) for n in flow.notices] == [
        ("caller", "sound:a", "playing"), ("callee", "sound:b", "playing")]


def test_a_notice_failure_stops_the_other_partys_notice_still_playing() -> None:
    setup = replace(SETUP, plan=replace(PLAN, to_callee=("sound:b",)))
    flow, _ = run(answered(setup), recording_started(), setup=setup)
    flow, actions = run(flow, playback_finished(f"{CALL}-notice-caller-1", failed=True), setup=setup)
    assert StopMedia("notice", f"{CALL}-notice-callee-1") in actions and flow.notice_failed
    assert flow.phase is S.TALKING and not flow.playbacks


# ---- a notice both hear, played on each leg (shared_notice = "channels") -------------------------------
ON_LEGS = replace(SETUP, plan=replace(PLAN, shared_notice="channels"))


def test_a_notice_both_hear_plays_on_each_leg_and_is_one_record() -> None:
    """The bridge keeps its two parties (no announcer joins it, docs/performance.md); the record says
    what the file holds, the caller's copy, heard by both."""
    flow, actions = run(answered(ON_LEGS), recording_started(), setup=ON_LEGS)
    assert actions[-4:] == [StartMedia("notice", f"{CALL}-notice-caller-1"),
                            StartMedia("notice", f"{CALL}-notice-callee-1"),
                            StartMedia("notice", f"{CALL}-notice-caller-2"),
                            StartMedia("notice", f"{CALL}-notice-callee-2")]
    flow, _ = run(flow,
                  playback_started(f"{CALL}-notice-caller-1", "2026-12-01T09:00:02.100+0000"),
                  playback_started(f"{CALL}-notice-callee-1", "2026-12-01T09:00:02.104+0000"),
                  finished_at(f"{CALL}-notice-caller-1", "2026-12-01T09:00:07.000+0000"),
                  playback_started(f"{CALL}-notice-caller-2", "2026-12-01T09:00:07.000+0000"),
                  finished_at(f"{CALL}-notice-callee-1", "2026-12-01T09:00:07.004+0000"),
                  playback_started(f"{CALL}-notice-callee-2", "2026-12-01T09:00:07.004+0000"),
                  finished_at(f"{CALL}-notice-caller-2", "2026-12-01T09:00:07.440+0000"),
                  setup=ON_LEGS)
    assert flow.phase is S.NOTICE  # the callee still hears its tone: nobody talks yet (R2.6)
    flow, actions = run(flow, finished_at(f"{CALL}-notice-callee-2", "2026-12-01T09:00:07.444+0000"),
                        setup=ON_LEGS)
    # kept apart during the notice (each heard it on its own leg), the parties are bridged with the
    # caller's unmute (the other party, in no bridge, was never muted)
    bridge = AddToBridge(LEGS.bridge, (LEGS.caller, LEGS.callee))
    assert flow.phase is S.TALKING and actions == [Unmute(LEGS.caller), bridge]
    assert together(tuple(actions), 0, None) == tuple(actions)
    assert [(n.to, n.sound, n.outcome) for n in flow.notices] == [
        ("both", "sound:a", "played"), ("both", "sound:beep", "played")]
    assert flow.notices[0].started_at == datetime(2026, 12, 1, 9, 0, 2, 100000, tzinfo=UTC)
    assert flow.notices[1].ended_at == datetime(2026, 12, 1, 9, 0, 7, 440000, tzinfo=UTC)


def test_a_notice_that_fails_on_the_other_leg_fails_the_call_and_says_whose() -> None:
    flow, _ = run(answered(ON_LEGS), recording_started(),
                  playback_started(f"{CALL}-notice-caller-1", "2026-12-01T09:00:02.100+0000"),
                  finished_at(f"{CALL}-notice-callee-1", "2026-12-01T09:00:02.101+0000", failed=True),
                  setup=ON_LEGS)
    assert flow.notice_failed and flow.phase is S.TALKING  # connected, unrecorded (R2.1)
    assert [(n.to, n.sound, n.outcome) for n in flow.notices] == [
        ("both", "sound:a", "playing"), ("callee", "sound:a", "failed")]
    twin = StartMedia("notice", f"{CALL}-notice-callee-1")
    refused, actions = run(answered(ON_LEGS), recording_started(), ActionFailed(twin, "no", not_found=False),
                           setup=ON_LEGS)
    assert refused.notice_failed and StopMedia("notice", f"{CALL}-notice-caller-1") in actions
    assert AddToBridge(LEGS.bridge, (LEGS.caller, LEGS.callee)) in actions  # connected all the same


def test_parties_heard_on_their_legs_are_kept_apart_until_the_tone_and_the_notice_waits_for_one_request(
) -> None:
    """The bridge is no step on the way to the notice when nothing in the notice needs it: the answer's
    three requests go at once, the notice follows the recorder's start, and the parties are bridged
    with their unmutes; a recorder that cannot start leaves them apart until the talk as well."""
    flow, actions = run(ringing(ON_LEGS), ANSWER, setup=ON_LEGS)
    assert actions == [Answer(LEGS.caller), StartMedia("recording", SEG[0])]  # the other party: no mute
    assert together(tuple(actions), 0, None) == tuple(actions)
    flow, actions = run(flow, recording_started(), setup=ON_LEGS)
    assert flow.phase is S.NOTICE and not any(isinstance(a, AddToBridge) for a in actions)
    failed, actions = run(answered(ON_LEGS), ActionFailed(StartMedia("recording", SEG[0]), "no", False),
                          setup=ON_LEGS)
    assert failed.phase is S.NOTICE and not any(isinstance(a, AddToBridge) for a in actions)
    # the bridge waits for nothing else at the talk, and is no preparation elsewhere
    bridge = AddToBridge(LEGS.bridge, (LEGS.caller, LEGS.callee))
    assert together((Answer(LEGS.caller), bridge), 0, None) == (Answer(LEGS.caller),)
    assert together((Unmute(LEGS.caller), bridge), 0, None) == (Unmute(LEGS.caller), bridge)
    assert together((Unmute("another-call's-leg"), bridge), 0, None) == (Unmute("another-call's-leg"),)
    assert together((Unmute(LEGS.caller), Answer(LEGS.callee), bridge), 0, None) == (
        Unmute(LEGS.caller), Answer(LEGS.callee))
