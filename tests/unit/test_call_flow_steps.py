"""The pure call flow step by step: every transition of the state machine (segment rolls:
test_call_flow_segments.py; the notice in the record: test_call_flow_notices.py; failures:
test_call_flow_failures.py; adoption after a restart: test_call_flow_adoption.py). Events are shaped
like Asterisk 22's (see tests/transcripts/flow-*.jsonl for whole recorded calls, replayed in
test_call_flow_transcripts.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from callrec_ari.ari.events import AriEvent
from callrec_ari.calls.actions import (
    Action,
    AddToBridge,
    Answer,
    Begin,
    CancelRoll,
    Closed,
    CreateBridge,
    Dial,
    Hangup,
    Mute,
    Note,
    Originate,
    Ring,
    ScheduleRoll,
    SegmentDue,
    Shutdown,
    StartMedia,
    StopMedia,
    Unmute,
    together,
)
from callrec_ari.calls.flow import CallSetup, Flow, step
from callrec_ari.calls.state import CallState
from callrec_ari.model.plan import Recipient
from callrec_ari.rules import causes
from tests.support.flow import recorded_outgoing

S = CallState
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CALL = "20261201T090000-abcdef01"
SETUP = recorded_outgoing(CALL, "1700000000.1")
LEGS, PLAN = SETUP.legs, SETUP.plan
STREAMING = replace(
    SETUP, plan=replace(PLAN, recipients=(Recipient("09000001001", delivery="stream"),)),
    streams=(f"{CALL}-stream",), files=False,
)
SEG = [f"callrec/{CALL}/{CALL}-{i:03d}" for i in range(1, 4)]


def ev(type_: str, channel: str | None = None, **fields: object) -> AriEvent:
    data: dict[str, object] = {"type": type_, "timestamp": "2026-12-01T09:00:05.000+0000", **fields}
    if channel is not None:
        data["channel"] = {"id": channel, "state": fields.pop("state", "Up") if "state" in fields else "Up"}
    return AriEvent.from_json(data)


def run(flow: Flow, *inputs: object, setup: CallSetup = SETUP) -> tuple[Flow, list[Action]]:
    out: list[Action] = []
    for i, event in enumerate(inputs):
        flow, actions = step(setup, flow, event, T0 + timedelta(seconds=i))  # type: ignore[arg-type]
        out += [a for a in actions if not isinstance(a, Note)]
    return flow, out


def ringing(setup: CallSetup = SETUP) -> Flow:
    flow, _ = run(Flow(), Begin(), ev("StasisStart", LEGS.callee), setup=setup)
    assert flow.phase is S.RINGING
    return flow


ANSWER = AriEvent.from_json({"type": "Dial", "dialstatus": "ANSWER", "peer": {"id": LEGS.callee}})


def answered(setup: CallSetup = SETUP) -> Flow:
    flow, _ = run(ringing(setup), ANSWER, setup=setup)
    return flow


def recording_started(name: str = SEG[0]) -> AriEvent:
    return AriEvent.from_json(
        {
            "type": "RecordingStarted",
            "timestamp": "2026-12-01T09:00:02.000+0000",
            "recording": {"name": name, "target_uri": f"bridge:{CALL}"},
        }
    )


def playback_finished(playback: str = f"{CALL}-notice-1", failed: bool = False) -> AriEvent:
    return AriEvent.from_json(
        {
            "type": "PlaybackFinished",
            "playback": {
                "id": playback,
                "state": "failed" if failed else "done",
                "target_uri": f"bridge:{CALL}",
            },
        }
    )


def notice_over() -> tuple[AriEvent, AriEvent]:
    """The notice, then the tone: two playbacks on the bridge."""
    return playback_finished(f"{CALL}-notice-1"), playback_finished(f"{CALL}-notice-2")


def talking() -> Flow:
    flow, _ = run(answered(), recording_started(), *notice_over())
    assert flow.phase is S.TALKING
    return flow


# ---- each transition of the state machine ---------------------------------------------------------------
def test_starting_to_dialing_mutes_rings_bridges_and_originates() -> None:
    flow, actions = run(Flow(), Begin())
    assert flow.phase is S.DIALING and flow.legs == {LEGS.caller, LEGS.callee}
    assert actions == [
        Mute(LEGS.caller),
        Ring(LEGS.caller),
        CreateBridge(LEGS.bridge, f"callrec {CALL}"),
        Originate(LEGS.callee, PLAN.callee_endpoint, ("leg=callee", f"call={CALL}"), "09000001001", False),
    ]


def test_an_unrecorded_call_does_not_mute_the_caller_and_a_withheld_one_says_so() -> None:
    setup = replace(SETUP, plan=replace(PLAN, record=False, to_caller=(), to_callee=(), caller_withheld=True))
    _, actions = run(Flow(), Begin(), setup=setup)
    assert Mute(LEGS.caller) not in actions
    originate = actions[-1]
    assert isinstance(originate, Originate) and originate.withheld


def test_starting_to_ending_when_the_executor_stops_before_anything_began() -> None:
    flow, actions = run(Flow(legs=frozenset({LEGS.caller})), Shutdown())
    assert flow.phase is S.ENDING and flow.hangup_by == "app"
    assert actions == [Hangup(LEGS.caller, causes.NORMAL_CLEARING), CancelRoll()]


def test_dialing_to_ringing_dials_only_once_the_callee_is_in_stasis() -> None:
    flow, actions = run(Flow(), Begin(), ev("StasisStart", LEGS.callee))
    assert flow.phase is S.RINGING and actions[-1] == Dial(LEGS.callee, 30)
    again, more = run(flow, ev("StasisStart", LEGS.callee))
    assert again == flow and more == []


def test_dialing_to_ending_when_the_caller_hangs_up() -> None:
    flow, _ = run(Flow(), Begin())
    flow, actions = run(flow, ev("ChannelHangupRequest", LEGS.caller, cause=16), ev("StasisEnd", LEGS.caller))
    assert flow.phase is S.ENDING and flow.hangup_by == "caller"
    assert Hangup(LEGS.callee, 16) in actions and flow.legs == {LEGS.callee}


def test_ringing_to_connecting_on_answer_mutes_the_callee_answers_and_records_then_bridges() -> None:
    answer = AriEvent.from_json({"type": "Dial", "dialstatus": "ANSWER", "peer": {"id": LEGS.callee}})
    flow, actions = run(ringing(), answer)
    assert flow.phase is S.CONNECTING and flow.times.answered is not None
    assert actions == [
        Mute(LEGS.callee),
        Answer(LEGS.caller),
        StartMedia("recording", SEG[0]),
        AddToBridge(LEGS.bridge, (LEGS.caller, LEGS.callee)),
    ]
    # the executor sends the first three at once, the bridge once they are done
    assert together(tuple(actions), 0, None) == tuple(actions[:3])
    assert together(tuple(actions), 3, None) == (actions[3],)
    # The same answer again (an adopted call's, say): nothing more happens
    again, more = run(flow, answer)
    assert more == [] and again.phase is S.CONNECTING


def test_the_other_partys_ringing_and_state_changes_are_not_an_answer() -> None:
    ringing_dial = AriEvent.from_json({"type": "Dial", "dialstatus": "RINGING", "peer": {"id": LEGS.callee}})
    flow, actions = run(ringing(), ringing_dial, ev("ChannelStateChange", LEGS.callee, state="Ringing"))
    assert flow.phase is S.RINGING and actions == []
    # The answer is its Dial ANSWER (calls/actions.py CONSUMED_EVENTS): a state change to Up, were it
    # sent, is no second announcement of it.
    flow, actions = run(flow, ev("ChannelStateChange", LEGS.callee, state="Up"))
    assert flow.phase is S.RINGING and actions == []


def test_ringing_to_ending_waits_for_the_destroyed_callee_and_its_cause() -> None:
    flow, actions = run(
        ringing(),
        AriEvent.from_json({"type": "Dial", "dialstatus": "BUSY", "peer": {"id": LEGS.callee}}),
        ev("ChannelHangupRequest", LEGS.callee, cause=17),
        ev("StasisEnd", LEGS.callee),
    )
    assert flow.phase is S.RINGING and actions == []
    flow, actions = run(flow, ev("ChannelDestroyed", LEGS.callee, cause=17))
    assert flow.phase is S.ENDING and actions == [Hangup(LEGS.caller, causes.USER_BUSY)]


def test_connecting_to_notice_once_the_recording_runs() -> None:
    flow, actions = run(answered(), recording_started())
    # the notice and the tone at once: Asterisk queues them and plays them back to back
    assert flow.phase is S.NOTICE and flow.playbacks == {f"{CALL}-notice-1", f"{CALL}-notice-2"}
    assert actions == [ScheduleRoll(60.0), StartMedia("notice", f"{CALL}-notice-1"),
                       StartMedia("notice", f"{CALL}-notice-2")]
    assert flow.segments[0].started_at == datetime(2026, 12, 1, 9, 0, 2, tzinfo=UTC)
    assert flow.times.notice_started is not None and not any(isinstance(a, Unmute) for a in actions)


def test_different_notices_play_one_per_channel() -> None:
    setup = replace(SETUP, plan=replace(PLAN, to_callee=("sound:b",)))
    flow, actions = run(answered(setup), recording_started(), setup=setup)
    # each party's notice, then the tone on the same channel: every first sound first, all at once
    assert actions[-4:] == [
        StartMedia("notice", f"{CALL}-notice-caller-1"),
        StartMedia("notice", f"{CALL}-notice-callee-1"),
        StartMedia("notice", f"{CALL}-notice-caller-2"),
        StartMedia("notice", f"{CALL}-notice-callee-2"),
    ]
    flow, actions = run(flow, playback_finished(f"{CALL}-notice-caller-1"), setup=setup)
    assert flow.phase is S.NOTICE and actions == []  # its tone was queued behind it
    flow, actions = run(flow, playback_finished(f"{CALL}-notice-caller-2"), setup=setup)
    assert flow.phase is S.NOTICE and actions == []  # the other party still hears its notice
    flow, _ = run(flow, playback_finished(f"{CALL}-notice-callee-1"), setup=setup)
    flow, actions = run(flow, playback_finished(f"{CALL}-notice-callee-2"), setup=setup)
    assert flow.phase is S.TALKING
    bridge = AddToBridge(LEGS.bridge, (LEGS.caller, LEGS.callee))
    # the other party was never muted: in no bridge until now, its voice reached nobody (R2.6)
    assert actions == [Unmute(LEGS.caller), bridge]
    assert not any(isinstance(a, Mute) for a in run(ringing(setup), ANSWER, setup=setup)[1])


def test_connecting_to_talking_for_an_unrecorded_call() -> None:
    setup = replace(SETUP, plan=replace(PLAN, record=False, to_caller=(), to_callee=()))
    flow, actions = run(ringing(setup), ANSWER, setup=setup)
    assert flow.phase is S.TALKING and not any(isinstance(a, (StartMedia, Unmute, Mute)) for a in actions)
    assert actions[-1] == AddToBridge(LEGS.bridge, (LEGS.caller, LEGS.callee))


def test_connecting_to_talking_for_a_recorded_call_without_notice() -> None:
    setup = replace(SETUP, plan=replace(PLAN, to_caller=(), to_callee=()))
    flow, actions = run(answered(setup), recording_started(), setup=setup)
    assert flow.phase is S.TALKING and flow.times.notice_started is None
    assert actions == [ScheduleRoll(60.0), Unmute(LEGS.caller),
                       AddToBridge(LEGS.bridge, (LEGS.caller, LEGS.callee))]


def test_connecting_to_ending_when_the_caller_hangs_up_before_the_recorder_runs() -> None:
    flow, actions = run(answered(), ev("StasisEnd", LEGS.caller))
    assert flow.phase is S.ENDING and actions == [Hangup(LEGS.callee, causes.NORMAL_CLEARING)]
    assert not flow.done  # the recording has not said it is over yet
    flow, _ = run(
        flow,
        ev("StasisEnd", LEGS.callee),
        AriEvent.from_json({"type": "RecordingFailed", "recording": {"name": SEG[0]}}),
    )
    assert flow.done and flow.recording_failed


def test_notice_to_talking_unmutes_only_after_the_tone() -> None:
    flow, actions = run(answered(), recording_started())
    assert not any(isinstance(a, Unmute) for a in actions)
    flow, actions = run(flow, playback_finished())  # the notice is over: the tone (queued) follows
    assert flow.phase is S.NOTICE and actions == []
    flow, actions = run(flow, playback_finished(f"{CALL}-notice-2"))
    assert flow.phase is S.TALKING and actions == [Unmute(LEGS.caller), Unmute(LEGS.callee)]
    assert flow.times.talk_started is not None and not flow.notice_failed


def test_a_call_adopted_with_only_its_notice_playing_still_gets_its_tone() -> None:
    # journaled by an app that played one sound at a time: the tone was never queued
    flow, _ = run(answered(), recording_started())
    flow = replace(flow, playbacks=frozenset({f"{CALL}-notice-1"}))
    flow, actions = run(flow, playback_finished())
    assert flow.phase is S.NOTICE and actions == [StartMedia("notice", f"{CALL}-notice-2")]
    flow, actions = run(flow, playback_finished(f"{CALL}-notice-2"))
    assert flow.phase is S.TALKING and actions == [Unmute(LEGS.caller), Unmute(LEGS.callee)]


def test_a_notice_that_fails_to_play_is_not_recorded_but_the_call_goes_on() -> None:
    # Asterisk fails a playback at once when its sound file is missing (measured on 22.10)
    flow, _ = run(answered(), recording_started())
    flow, actions = run(flow, playback_finished(failed=True))
    assert flow.phase is S.TALKING and flow.notice_failed and not flow.playbacks
    # the tone queued behind it is stopped too: no tone without its notice
    assert actions == [StopMedia("notice", f"{CALL}-notice-2"), StopMedia("recording", SEG[0]), CancelRoll(),
                       Unmute(LEGS.caller), Unmute(LEGS.callee)]
    assert run(flow, SegmentDue())[1] == []  # nothing more is recorded


def test_a_playback_cut_by_a_hangup_is_no_notice_failure() -> None:
    flow, _ = run(answered(), recording_started(), ev("ChannelHangupRequest", LEGS.callee, cause=16))
    flow, actions = run(flow, playback_finished(failed=True))
    assert not flow.notice_failed and actions == []
    flow, _ = run(answered(), recording_started(), ev("StasisEnd", LEGS.caller))
    assert not run(flow, playback_finished(failed=True))[0].notice_failed


def test_notice_to_ending_when_a_party_hangs_up() -> None:
    flow, actions = run(answered(), recording_started(), ev("StasisEnd", LEGS.callee))
    assert flow.phase is S.ENDING and flow.hangup_by == "callee"
    assert actions[-1] == Hangup(LEGS.caller, causes.NORMAL_CLEARING)


def test_talking_to_ending_to_ended() -> None:
    flow, actions = run(talking(), ev("ChannelHangupRequest", LEGS.caller, cause=16))
    # the other party is hung up; the caller, whose hangup Asterisk announced, is not asked again
    hangups = [a for a in actions if isinstance(a, Hangup)]
    assert flow.phase is S.ENDING and hangups == [Hangup(LEGS.callee, 16)]
    assert flow.legs == {LEGS.caller, LEGS.callee}  # both still counted until they are gone
    flow, _ = run(flow, ev("StasisEnd", LEGS.caller), ev("StasisEnd", LEGS.callee))
    assert not flow.done
    flow, _ = run(flow, AriEvent.from_json({"type": "RecordingFinished", "recording": {"name": SEG[0]}}))
    assert flow.done
    flow, actions = run(flow, Shutdown(), Closed())
    assert flow.phase is S.ENDED and actions == [CancelRoll()]
    assert run(flow, Closed())[0] is flow  # ended is final


def test_closed_before_ending_changes_nothing() -> None:
    flow = talking()
    assert run(flow, Closed()) == (flow, [])


# ---- a recorder that ends with its leg without a word (MixMonitor: media/mixmonitor.py) ---------------
QUIET = replace(SETUP, recorder_reports_end=False)


def test_a_quiet_recorder_is_stopped_as_the_call_ends_before_the_legs_are_hung_up() -> None:
    flow, _ = run(answered(QUIET), recording_started(), *notice_over(), setup=QUIET)
    assert flow.phase is S.TALKING
    flow, actions = run(flow, ev("ChannelHangupRequest", LEGS.caller, cause=16), setup=QUIET)
    assert flow.phase is S.ENDING
    # first the recording (while its leg is up, so its file is closed at once), then the hangups
    assert actions[0] == StopMedia("recording", SEG[0], "call-ended")
    assert actions[1:] == [Hangup(LEGS.callee, 16)]
    # the stop's RecordingFinished (the part tells it) ends the recording; nothing is stopped twice
    flow, actions = run(flow, ev("StasisEnd", LEGS.caller), ev("StasisEnd", LEGS.callee),
                        AriEvent.from_json({"type": "RecordingFinished", "recording": {"name": SEG[0]}}),
                        setup=QUIET)
    assert flow.done and not any(isinstance(a, StopMedia) for a in actions)


def test_a_quiet_recorder_is_stopped_once_when_the_executor_shuts_down() -> None:
    flow, _ = run(answered(QUIET), recording_started(), *notice_over(), setup=QUIET)
    flow, actions = run(flow, Shutdown(), setup=QUIET)
    stops = [a for a in actions if isinstance(a, StopMedia) and a.kind == "recording"]
    assert flow.phase is S.ENDING and [s.media_id for s in stops] == [SEG[0]]
    assert actions.index(stops[0]) < min(actions.index(a) for a in actions if isinstance(a, Hangup))


def test_a_recorder_that_reports_its_end_is_not_stopped_as_the_call_ends() -> None:
    _, actions = run(talking(), ev("ChannelHangupRequest", LEGS.caller, cause=16))
    assert not any(isinstance(a, StopMedia) for a in actions)


def test_a_recording_that_wrote_no_file_as_the_call_ended_is_counted_as_never_started() -> None:
    from callrec_ari.model.media import RecordingVoid

    flow, _ = run(answered(QUIET), recording_started(), *notice_over(), setup=QUIET)
    # a roll: segment 2 starts, and the caller hangs up as it begins
    flow, _ = run(flow, SegmentDue(), recording_started(SEG[1]), setup=QUIET)
    flow, actions = run(flow, ev("ChannelHangupRequest", LEGS.caller, cause=16), setup=QUIET)
    assert {a.media_id for a in actions if isinstance(a, StopMedia)} == {SEG[0], SEG[1]}
    flow, _ = run(flow, ev("StasisEnd", LEGS.caller), ev("StasisEnd", LEGS.callee),
                  AriEvent.from_json({"type": "RecordingFinished", "recording": {"name": SEG[0]}}),
                  RecordingVoid(SEG[1]), setup=QUIET)
    assert flow.done and not flow.recording_failed  # nothing of the call is missing
    void = flow.segment(SEG[1])
    assert void is not None and not void.has_audio and not void.live  # no file is looked for
    assert flow.segment(SEG[0]).has_audio  # type: ignore[union-attr]


def test_a_recorder_of_the_bridge_starts_once_the_parties_are_in_it() -> None:
    setup = replace(SETUP, recorder_on_legs=False)
    flow, actions = run(ringing(setup), ANSWER, setup=setup)
    assert flow.phase is S.CONNECTING
    assert actions == [
        Mute(LEGS.callee),
        Answer(LEGS.caller),
        AddToBridge(LEGS.bridge, (LEGS.caller, LEGS.callee)),
        StartMedia("recording", SEG[0]),
    ]
    assert together(tuple(actions), 0, None) == tuple(actions[:2])
    assert together(tuple(actions), 3, None) == (actions[3],)


def test_requests_on_one_leg_keep_their_order() -> None:
    # A leg's mute and unmute (or a second answer) are never sent at once: Asterisk could run them in
    # either order.
    actions = (Mute(LEGS.caller), Unmute(LEGS.caller), Answer(LEGS.callee))
    assert together(actions, 0, None) == (Mute(LEGS.caller),)
    assert together(actions, 1, None) == (Unmute(LEGS.caller), Answer(LEGS.callee))
    # the talk's unmutes go together; what follows them waits
    talking = (Unmute(LEGS.caller), Unmute(LEGS.callee), Note.info("talking"))
    assert together(talking, 0, None) == talking[:2]
