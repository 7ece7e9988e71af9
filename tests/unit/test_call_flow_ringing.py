"""A recorder that gets no frames before the answer (MixMonitor, model/media.py RingingRecorder) starts
while the other party rings: the notice starts with the answer, the segment's start is the answer, and
an unanswered call keeps nothing (calls/steps.py ``records_while_ringing``; docs/performance.md, "What
the app's bad recordings at saturation are"). The recorder's events are in ARI's shape, as the
MixMonitor engine tells them (media/mixmonitor.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from callrec_ari.ari.events import AriEvent
from callrec_ari.calls.actions import (
    ActionFailed,
    Answer,
    Begin,
    Dial,
    Mute,
    ScheduleRoll,
    StartMedia,
    StopMedia,
)
from callrec_ari.calls.flow import Flow
from callrec_ari.calls.journal import JournalEntry, finished_from
from callrec_ari.calls.state import CallState
from callrec_ari.model.call import CallTimes, RecordedSegment
from tests.unit.test_call_flow_steps import ANSWER, LEGS, SEG, SETUP, T0, ev, run

S = CallState
# MixMonitor's recorder: on the caller's leg, stopped by the flow at the end, ready before the answer.
RINGING = replace(SETUP, recorder_reports_end=False, recorder_on_legs=True, recorder_while_ringing=True)


def started(name: str, at: str = "2026-12-01T09:00:01.500+0000") -> AriEvent:
    return ev("RecordingStarted", recording={"name": name}, timestamp=at)


def test_the_recorder_starts_with_the_dial_and_the_notice_with_the_answer() -> None:
    flow, actions = run(replace_flow(), Begin(), ev("StasisStart", LEGS.callee), setup=RINGING)
    assert flow.phase is S.RINGING
    assert actions[-2:] == [Dial(LEGS.callee, 30), StartMedia("recording", SEG[0], ringing=True)]
    flow, actions = run(flow, started(SEG[0]), setup=RINGING)
    assert actions == []  # no roll, no notice while it rings: there is nothing in the file yet
    assert flow.segments[0].started_at is not None and flow.phase is S.RINGING
    flow, actions = run(flow, ANSWER, setup=RINGING)
    # The answer's preparations, the roll counted from the answer, and the notice: no recorder's
    # request between the answer and the notice.
    roll = next(i for i, a in enumerate(actions) if isinstance(a, ScheduleRoll))
    assert Answer(LEGS.caller) in actions[:roll]
    assert actions[roll] == ScheduleRoll(RINGING.roll_seconds)
    notices = [a for a in actions[roll:] if isinstance(a, StartMedia)]
    assert notices and all(a.kind == "notice" for a in notices)
    assert not any(isinstance(a, StartMedia) and a.kind == "recording" for a in actions)
    assert flow.phase is S.NOTICE
    assert flow.segments[0].started_at == flow.times.answered == T0  # the file begins with the answer


def test_a_recorder_that_answers_after_the_answer_starts_the_notice_then() -> None:
    flow, _ = run(replace_flow(), Begin(), ev("StasisStart", LEGS.callee), setup=RINGING)
    flow, actions = run(flow, ANSWER, setup=RINGING)
    assert Answer(LEGS.caller) in actions and not any(isinstance(a, StartMedia) for a in actions)
    assert flow.phase is S.CONNECTING
    # Its start was stamped before the answer reached us: the file still begins with the answer.
    flow, actions = run(flow, started(SEG[0], "2026-12-01T08:59:59.000+0000"), setup=RINGING)
    assert flow.segments[0].started_at == flow.times.answered
    assert flow.phase is S.NOTICE and any(isinstance(a, StartMedia) and a.kind == "notice" for a in actions)
    assert any(isinstance(a, ScheduleRoll) for a in actions)


def test_a_recorder_that_cannot_start_while_ringing_starts_at_the_answer_and_nothing_failed() -> None:
    flow, actions = run(replace_flow(), Begin(), ev("StasisStart", LEGS.callee), setup=RINGING)
    flow, actions = run(flow, ActionFailed(actions[-1], "the manager is away", not_found=False),
                        setup=RINGING)
    assert actions == [] and not flow.recording_failed and not flow.recording_live
    flow, actions = run(flow, ANSWER, setup=RINGING)
    assert StartMedia("recording", SEG[1]) in actions  # by whatever records at the answer (a snoop)
    assert flow.phase is S.CONNECTING  # the notice waits for that one's start, as without ringing


def test_an_unanswered_call_stops_its_recorder_and_hands_nothing_over() -> None:
    flow, _ = run(replace_flow(), Begin(), ev("StasisStart", LEGS.callee), started(SEG[0]), setup=RINGING)
    flow, actions = run(flow, ev("ChannelDestroyed", LEGS.callee, cause=17), setup=RINGING)
    assert flow.phase is S.ENDING and flow.times.answered is None
    assert StopMedia("recording", SEG[0], "call-ended") in actions
    # No frames came, so MixMonitor may have written no file: over, and no recording failure.
    flow, _ = run(flow, ev("RecordingFailed", recording={"name": SEG[0]}), setup=RINGING)
    assert not flow.recording_failed and not flow.recording_live
    # A restarted app that finds it in its journal, unanswered with a recorder that had started:
    # nothing to deliver, the file (if any) discarded with the unconfirmed segments.
    entry = JournalEntry(plan=RINGING.plan, state=S.RINGING.value, caller_id=LEGS.caller,
                         callee_id=LEGS.callee, bridge_id=LEGS.bridge, times=CallTimes(started=T0),
                         segments=(RecordedSegment(SEG[0], 1, started_at=T0 + timedelta(seconds=1)),))
    finished = finished_from(entry, "", "wav")
    assert finished.segments == () and [s.name for s in finished.unconfirmed] == [SEG[0]]
    assert finished.file_copies == ()


def test_without_a_ringing_recorder_the_segment_starts_at_the_answer_as_before() -> None:
    flow, actions = run(replace_flow(), Begin(), ev("StasisStart", LEGS.callee), setup=SETUP)
    assert not any(isinstance(a, StartMedia) for a in actions)
    flow, actions = run(flow, ANSWER, setup=SETUP)
    assert StartMedia("recording", SEG[0]) in actions and Mute(LEGS.caller) not in actions


def replace_flow() -> Flow:
    return Flow()
