"""The pure call flow, what test_call_flow_steps.py leaves open (found by `make mutation`, docs/mutation.md):
the times each step stamps (the manifest and billing read them, R2.4), the event log story the flow
tells (levels and the facts each line carries), who ended the call and why, and events that are not
the call's."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from callrec_ari.ari.events import AriEvent
from callrec_ari.calls.actions import (
    Action,
    ActionFailed,
    Begin,
    CancelRoll,
    Hangup,
    Note,
    Originate,
    Resume,
    Shutdown,
    StartMedia,
    StopMedia,
    Unmute,
)
from callrec_ari.calls.flow import CallSetup, Flow, adopted, step
from callrec_ari.calls.state import CallState
from callrec_ari.model.call import CallTimes, RecordedSegment
from callrec_ari.rules import causes
from tests.support.flow import recorded_outgoing

S = CallState
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CALL = "20261201T090000-0badcafe"
SETUP = recorded_outgoing(CALL, "1700000000.7")
LEGS, PLAN = SETUP.legs, SETUP.plan
SEG = [f"callrec/{CALL}/{CALL}-{i:03d}" for i in range(1, 4)]
UNRECORDED = replace(SETUP, plan=replace(PLAN, record=False, reason="excluded-1xx", to_caller=(),
                                          to_callee=()))
TWO_NOTICES = replace(SETUP, plan=replace(PLAN, to_callee=("sound:b",)))
SILENT = replace(SETUP, plan=replace(PLAN, to_caller=(), to_callee=()))
STREAMS = (f"{CALL}-stream-c1", f"{CALL}-stream-c2")  # two contracts that take the call as a stream
STREAMING = replace(SETUP, streams=STREAMS, files=False)


def at(second: int) -> datetime:
    return T0 + timedelta(seconds=second)


def channel_event(type_: str, channel: str, *, state: str = "Up", cause: int | None = None) -> AriEvent:
    data: dict[str, object] = {"type": type_, "timestamp": "2026-12-01T09:00:05.000+0000",
                               "channel": {"id": channel, "name": f"PJSIP/{channel}", "state": state}}
    if cause is not None:
        data["cause"] = cause
    return AriEvent.from_json(data)


def dial(status: str, peer: str = LEGS.callee) -> AriEvent:
    return AriEvent.from_json({"type": "Dial", "dialstatus": status, "peer": {"id": peer}})


def recording(type_: str, name: str = SEG[0]) -> AriEvent:
    return AriEvent.from_json({"type": type_, "timestamp": "2026-12-01T09:00:03.000+0000",
                               "recording": {"name": name, "target_uri": f"bridge:{CALL}"}})


def playback_finished(playback: str = f"{CALL}-notice-1", failed: bool = False) -> AriEvent:
    return AriEvent.from_json({"type": "PlaybackFinished", "playback": {
        "id": playback, "state": "failed" if failed else "done", "target_uri": f"bridge:{CALL}"}})


def feed(flow: Flow, *timed: tuple[int, object], setup: CallSetup = SETUP) -> tuple[Flow, list[Action]]:
    """Step the flow through (second, input) pairs; every action, notes included."""
    out: list[Action] = []
    for second, event in timed:
        flow, actions = step(setup, flow, event, at(second))  # type: ignore[arg-type]
        out += actions
    return flow, out


def notes(actions: list[Action]) -> list[tuple[int, str]]:
    return [(a.level, a.text) for a in actions if isinstance(a, Note)]


def ringing(setup: CallSetup = SETUP) -> Flow:
    flow, _ = feed(Flow(), (0, Begin()), (1, channel_event("StasisStart", LEGS.callee)), setup=setup)
    assert flow.phase is S.RINGING
    return flow


def in_notice(setup: CallSetup = SETUP) -> Flow:
    flow, _ = feed(ringing(setup), (2, dial("ANSWER")), (3, recording("RecordingStarted")), setup=setup)
    assert flow.phase is S.NOTICE
    return flow


def talking() -> Flow:
    flow, _ = feed(in_notice(), (4, playback_finished()), (4, playback_finished(f"{CALL}-notice-2")))
    assert flow.phase is S.TALKING
    return flow


def test_note_levels() -> None:
    assert Note.info("a") == Note(logging.INFO, "a")
    assert Note.warning("b") == Note(logging.WARNING, "b")
    assert Note.error("c") == Note(logging.ERROR, "c")


# ---- the story of a whole call: its times and its log ------------------------------------------------
def test_a_recorded_call_stamps_each_moment_and_tells_its_story() -> None:
    flow, actions = feed(
        Flow(times=CallTimes(started=T0)),
        (0, Begin()),
        (1, channel_event("StasisStart", LEGS.callee)),
        (2, dial("ANSWER")),
        (3, recording("RecordingStarted")),
        (4, playback_finished()), (4, playback_finished(f"{CALL}-notice-2")),
        (5, channel_event("ChannelHangupRequest", LEGS.caller, cause=16)),
        (6, recording("RecordingFinished")),
    )
    assert flow.times == CallTimes(started=T0, answered=at(2), notice_started=at(3), talk_started=at(4),
                                   ended=at(5))
    assert (flow.hangup_by, flow.end_cause, flow.dialstatus) == ("caller", 16, "ANSWER")
    assert notes(actions) == [
        (logging.INFO, "start direction=outgoing line=1001 caller=09000001001 callee=0312345678 "
                       "record=True reason=recorded"),
        (logging.INFO, f"recording started name={SEG[0]}"),
        (logging.INFO, "notice to bridge: sound:a, sound:beep"),  # every sound, one line
        (logging.INFO, "talking"),
        (logging.INFO, "ending hangup_by=caller cause=16 dialstatus=ANSWER"),
        (logging.INFO, f"recording finished name={SEG[0]}"),
    ]
    assert flow.segments[0].live is False and flow.segments[0].failed is False


def test_an_unrecorded_call_talks_from_the_answer() -> None:
    flow, _ = feed(ringing(UNRECORDED), (2, dial("ANSWER")), setup=UNRECORDED)
    assert flow.phase is S.TALKING and flow.times.talk_started == at(2)


def test_a_recorded_call_without_notice_talks_once_the_recording_runs() -> None:
    flow, _ = feed(ringing(SILENT), (2, dial("ANSWER")), (3, recording("RecordingStarted")), setup=SILENT)
    assert flow.phase is S.TALKING and flow.times.talk_started == at(3)
    assert flow.times.notice_started is None


def test_a_streamed_call_plays_the_notice_from_the_answer() -> None:
    flow, actions = feed(ringing(STREAMING), (2, dial("ANSWER")), setup=STREAMING)
    assert flow.phase is S.NOTICE and flow.times.notice_started == at(2) and not flow.segments
    assert actions[-2:] == [StartMedia("notice", f"{CALL}-notice-1"),
                            StartMedia("notice", f"{CALL}-notice-2")]


def test_a_stream_that_cannot_start_does_not_stop_the_next_contracts_stream() -> None:
    flow, _ = feed(ringing(STREAMING), (2, dial("ANSWER")), setup=STREAMING)
    flow, actions = feed(flow, (3, playback_finished()),
        (3, playback_finished(f"{CALL}-notice-2")), setup=STREAMING)
    first, second = (StartMedia("stream", stream) for stream in STREAMS)
    assert flow.legs == {LEGS.caller, LEGS.callee, *STREAMS} and actions[-3:-1] == [first, second]
    rest = tuple(actions[actions.index(first) + 1:])  # the batch the executor skipped: the second stream...
    flow, actions = feed(flow, (3, ActionFailed(first, "unreachable", not_found=False, skipped=rest)),
                         setup=STREAMING)
    assert actions == list(rest)  # ...is done after all
    assert flow.legs == {LEGS.caller, LEGS.callee, STREAMS[1]} and flow.phase is S.TALKING


def test_the_callee_hanging_up_stamps_the_end() -> None:
    flow, _ = feed(talking(), (9, channel_event("StasisEnd", LEGS.callee)))
    assert (flow.phase, flow.hangup_by, flow.times.ended) == (S.ENDING, "callee", at(9))


# ---- events that are not the call's, or not what they seem ---------------------------------------------
def test_a_dial_event_about_another_channel_is_not_the_callee_answering() -> None:
    flow = ringing()
    assert feed(flow, (2, dial("ANSWER", peer="1700000000.99")))[0] == flow


def test_another_event_on_the_ringing_callee_is_not_an_answer() -> None:
    flow = ringing()
    assert feed(flow, (2, channel_event("ChannelVarset", LEGS.callee, state="Up")))[0] == flow


def test_the_dial_status_decides_what_the_caller_hears_when_the_callee_never_answered() -> None:
    # Our own dial timeout: Asterisk says NOANSWER and then tears the callee down with cause 16.
    flow, actions = feed(ringing(), (31, dial("NOANSWER")),
                         (32, channel_event("ChannelDestroyed", LEGS.callee, cause=16)))
    assert flow.dialstatus == "NOANSWER" and flow.callee_cause == 16
    assert [a for a in actions if isinstance(a, Hangup)] == [Hangup(LEGS.caller, causes.NO_ANSWER)]
    assert flow.end_cause == causes.NO_ANSWER and flow.times.ended == at(32)


def test_the_callers_destroyed_channel_is_not_the_callees_cause() -> None:
    flow, _ = feed(talking(), (9, channel_event("ChannelDestroyed", LEGS.caller, cause=16)))
    assert flow.callee_cause is None and flow.hangup_by == "caller"


def test_a_recording_that_fails_is_marked_failed_and_logged_as_an_error() -> None:
    flow, actions = feed(talking(), (9, recording("RecordingFailed")))
    assert (flow.segments[0].live, flow.segments[0].failed, flow.recording_failed) == (False, True, True)
    assert notes(actions) == [(logging.ERROR, f"recording failed name={SEG[0]}")]


def test_a_notice_playback_that_failed_is_logged_and_the_parties_still_talk() -> None:
    flow, actions = feed(in_notice(), (4, playback_finished(failed=True)))
    assert flow.phase is S.TALKING
    assert notes(actions)[0] == (logging.ERROR, f"notice playback {CALL}-notice-1 failed: the call goes on "
                                                "unrecorded (notice-failed)")
    assert [a for a in actions if isinstance(a, Unmute)] == [Unmute(LEGS.caller), Unmute(LEGS.callee)]


# ---- the executor's failures: who ends the call, when, and what the log says -----------------------------
def test_an_unreachable_callee_is_a_warning_naming_the_endpoint_and_the_error() -> None:
    flow, actions = feed(Flow(), (0, Begin()))
    originate = next(a for a in actions if isinstance(a, Originate))
    flow, actions = feed(flow, (1, ActionFailed(originate, "no contact", not_found=False)))
    level, text = notes(actions)[0]
    assert level == logging.WARNING and PLAN.callee_endpoint in text and "no contact" in text
    assert (flow.hangup_by, flow.end_cause, flow.times.ended) == ("app", causes.SUBSCRIBER_ABSENT, at(1))


def test_a_recording_that_cannot_start_at_answer_is_an_error_and_the_notice_starts_then() -> None:
    flow, _ = feed(ringing(), (2, dial("ANSWER")))
    failure = ActionFailed(StartMedia("recording", SEG[0]), "409 busy", not_found=False)
    flow, actions = feed(flow, (3, failure))
    level, text = notes(actions)[0]
    assert level == logging.ERROR and "409 busy" in text
    assert flow.phase is S.NOTICE and flow.times.notice_started == at(3)


def test_a_next_segment_that_cannot_start_is_an_error() -> None:
    _flow, actions = feed(talking(), (60, ActionFailed(StartMedia("recording", SEG[1]), "disk full",
                                                       not_found=False)))
    level, text = notes(actions)[0]
    assert level == logging.ERROR and "disk full" in text


def test_a_notice_that_cannot_play_is_an_error_and_talk_starts_then() -> None:
    flow, actions = feed(in_notice(), (4, ActionFailed(StartMedia("notice", f"{CALL}-notice-1"), "no sound",
                                                       not_found=False)))
    level, text = notes(actions)[0]
    assert level == logging.ERROR and "no sound" in text
    assert flow.phase is S.TALKING and flow.times.talk_started == at(4) and flow.playbacks == frozenset()


def test_when_the_second_notice_cannot_play_no_notice_is_awaited_any_more() -> None:
    flow, _ = feed(ringing(TWO_NOTICES), (2, dial("ANSWER")), (3, recording("RecordingStarted")),
                   setup=TWO_NOTICES)
    # both parties' notices and tones queued at once, the first sound of each first
    assert flow.playbacks == {f"{CALL}-notice-caller-1", f"{CALL}-notice-callee-1", f"{CALL}-notice-caller-2",
                              f"{CALL}-notice-callee-2"}
    queued_after = (StartMedia("notice", f"{CALL}-notice-caller-2"),
                    StartMedia("notice", f"{CALL}-notice-callee-2"))
    flow, _ = feed(flow, (4, ActionFailed(StartMedia("notice", f"{CALL}-notice-callee-1"), "no sound",
                                          not_found=False, skipped=queued_after)), setup=TWO_NOTICES)
    assert flow.phase is S.TALKING and flow.notice_failed and flow.playbacks == frozenset()


def test_a_notice_whose_channel_vanished_is_no_longer_awaited() -> None:
    flow, _ = feed(in_notice(), (4, ActionFailed(StartMedia("notice", f"{CALL}-notice-1"), "gone",
                                                 not_found=True,
                                                 skipped=(StartMedia("notice", f"{CALL}-notice-2"),))))
    assert flow.phase is S.ENDING and flow.playbacks == frozenset()


def test_the_caller_gone_before_the_start_ends_normally_and_says_why() -> None:
    flow, actions = feed(Flow(), (0, Begin()))
    failure = ActionFailed(actions[2], "Channel not found", not_found=True, skipped=tuple(actions[3:]))
    flow, actions = feed(flow, (1, failure))
    assert (flow.hangup_by, flow.end_cause, flow.times.ended) == ("caller", causes.NORMAL_CLEARING, at(1))
    level, text = notes(actions)[0]
    assert level == logging.INFO and "Channel not found" in text


def test_a_leg_gone_under_a_request_is_logged_with_the_error() -> None:
    failure = ActionFailed(Unmute(LEGS.caller), "Channel not found", not_found=True)
    flow, actions = feed(talking(), (7, failure))
    level, text = notes(actions)[0]
    assert level == logging.INFO and "Channel not found" in text and "leg gone" in text
    assert flow.times.ended == at(7)


def test_an_unexpected_failure_is_an_error_with_the_error() -> None:
    _flow, actions = feed(talking(), (7, ActionFailed(Unmute(LEGS.caller), "ARI down", not_found=False)))
    level, text = notes(actions)[0]
    assert level == logging.ERROR and "ARI down" in text


def test_a_failure_while_ending_is_an_error_with_the_error() -> None:
    flow, _ = feed(talking(), (7, channel_event("StasisEnd", LEGS.caller)))
    _flow, actions = feed(flow, (8, ActionFailed(Hangup(LEGS.callee, 16), "ARI down", not_found=False)))
    assert notes(actions) == [(logging.ERROR, "while ending: ARI down")]


def test_shutdown_stops_the_running_recording_and_stamps_the_end() -> None:
    flow, actions = feed(talking(), (20, Shutdown()))
    assert flow.times.ended == at(20) and flow.hangup_by == "app"
    assert actions[-2:] == [CancelRoll(), StopMedia("recording", SEG[0])]


# ---- adoption after a restart ---------------------------------------------------------------------------
def journal(phase: CallState, legs: frozenset[str] = frozenset({LEGS.caller, LEGS.callee}),
            live: frozenset[str] = frozenset()) -> Flow:
    times = CallTimes(started=T0, answered=at(1), notice_started=at(2))
    segments = (RecordedSegment(SEG[0], 1, at(2)),)
    return adopted(phase, times, segments, legs, live, frozenset())


def test_adoption_keeps_the_journal_times() -> None:
    flow = journal(S.TALKING)
    assert flow.times == CallTimes(started=T0, answered=at(1), notice_started=at(2))


def test_adoption_is_logged_with_what_asterisk_still_has() -> None:
    _flow, actions = feed(journal(S.TALKING, live=frozenset({SEG[0]})), (30, Resume()))
    assert notes(actions) == [
        (logging.INFO, f"adopted in state talking: legs={sorted([LEGS.caller, LEGS.callee])} "
                       f"segments live={[SEG[0]]}"),
    ]


def test_an_adopted_call_that_cannot_go_on_is_ended_by_the_app_then() -> None:
    flow, _ = feed(journal(S.RINGING), (30, Resume()))
    assert (flow.hangup_by, flow.end_cause, flow.times.ended) == ("app", causes.TEMPORARY_FAILURE, at(30))


def test_an_adopted_call_whose_notice_is_over_talks_from_the_adoption_and_logs_it_first() -> None:
    flow, actions = feed(journal(S.NOTICE), (30, Resume()))
    assert flow.times.talk_started == at(30)
    assert isinstance(actions[0], Note) and actions[0].text.startswith("adopted in state notice")
    assert actions[1:3] == [Unmute(LEGS.caller), Unmute(LEGS.callee)]
