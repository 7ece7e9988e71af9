"""The pure call flow (calls/flow.py) driven by ARI event transcripts recorded from the real Asterisk
22.10 during the integration runs (tests/transcripts/flow-*.jsonl), asserting the actions it asks for.

These are in addition to the real-call tests of tests/integration/test_call_flow.py, not instead of
them: the same calls, replayed without Asterisk, so that every step of the story is checked at once.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callrec_ari.ari.events import AriEvent, parse_ari_time
from callrec_ari.calls.actions import (
    Action,
    ActionFailed,
    AddToBridge,
    Answer,
    Begin,
    CancelRoll,
    Closed,
    CreateBridge,
    Dial,
    Hangup,
    Input,
    Mute,
    Note,
    Originate,
    Resume,
    Ring,
    ScheduleRoll,
    ScheduleStop,
    SegmentDue,
    Shutdown,
    StartMedia,
    StopDue,
    StopMedia,
    Unmute,
)
from callrec_ari.calls.flow import CallSetup, Flow, adopted, step
from callrec_ari.calls.journal import JournalEntry
from callrec_ari.calls.state import CallState
from callrec_ari.model.call import RecordedSegment
from callrec_ari.model.media import CallLegs
from callrec_ari.model.plan import CallPlan
from callrec_ari.rules import causes
from callrec_ari.rules.segments import OVERLAP_S

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "transcripts"
S = CallState
NOTICE = ("sound:callrec/notice-a",)


def load(name: str) -> list[AriEvent]:
    lines = (TRANSCRIPTS / f"flow-{name}.jsonl").read_text().splitlines()
    return [AriEvent.from_json(json.loads(line)) for line in lines if line.strip()]


def plan_for(events: list[AriEvent], record: bool = True, **changes: object) -> tuple[CallPlan, str]:
    """The plan of the recorded call: its id from our callee leg's id, its parties from StasisStart."""
    first = events[0]
    assert first.type == "StasisStart" and first.channel is not None
    args = dict(a.split("=", 1) for a in first.args)
    callee_leg = next(
        e.channel.id
        for e in events
        if e.type == "StasisStart" and e.channel and e.channel.id.endswith("-callee")
    )
    plan = CallPlan(
        call_id=callee_leg.removesuffix("-callee"),
        direction=args["direction"],  # type: ignore[arg-type]
        caller_number=args["caller"],
        callee_number=args["dialled"],
        line=args.get("line", "1002"),
        callee_endpoint=f"PJSIP/{args['dialled']}@carrier",
        record=record,
        reason="recorded",
        to_caller=NOTICE if record else (),
        to_callee=NOTICE if record else (),
    )
    for key, value in changes.items():
        plan = CallPlan(**{**{f: getattr(plan, f) for f in plan.__dataclass_fields__}, key: value})
    return plan, first.channel.id


@dataclass
class Replay:
    """The flow fed one input at a time, keeping every step for the assertions."""

    setup: CallSetup
    flow: Flow = field(default_factory=Flow)
    steps: list[tuple[Input, CallState, tuple[Action, ...]]] = field(default_factory=list)

    def feed(self, event: Input, now: datetime | None = None) -> tuple[Action, ...]:
        stamp = now or (parse_ari_time(event.timestamp) if isinstance(event, AriEvent) else None)
        self.flow, actions = step(self.setup, self.flow, event, stamp or datetime.now(UTC))
        self.steps.append((event, self.flow.phase, actions))
        return tuple(a for a in actions if not isinstance(a, Note))

    @property
    def actions(self) -> list[Action]:
        return [a for _, _, actions in self.steps for a in actions if not isinstance(a, Note)]

    @property
    def phases(self) -> list[CallState]:
        out: list[CallState] = []
        for _, phase, _ in self.steps:
            if not out or out[-1] is not phase:
                out.append(phase)
        return out


def replay(name: str, *, segment_due_before: bool = True, **plan_changes: object) -> Replay:
    events = load(name)
    plan, caller = plan_for(events, **plan_changes)
    r = Replay(CallSetup(plan=plan, legs=CallLegs.for_call(plan.call_id, caller), roll_seconds=3.0))
    r.feed(Begin())
    for event in events[1:]:
        if (
            segment_due_before
            and event.type == "RecordingStarted"
            and not (event.recording_name or "").endswith("-001")
        ):
            r.feed(SegmentDue())  # the executor's timer fired just before Asterisk began the next one
        name = event.recording_name or ""
        if event.type == "RecordingFinished" and ScheduleStop(name, OVERLAP_S) in r.actions:
            r.feed(StopDue(name))  # the overlap timer fired: the executor stopped it
        r.feed(event)
    return r


def test_answered_call_tells_its_story_in_order() -> None:
    r = replay("callee-hangs-up")
    legs, call_id = r.setup.legs, r.setup.plan.call_id
    seg1 = f"callrec/{call_id}/{call_id}-001"
    assert r.phases == [S.DIALING, S.RINGING, S.CONNECTING, S.NOTICE, S.TALKING, S.ENDING]
    assert r.actions[:4] == [
        Mute(legs.caller),
        Ring(legs.caller),
        CreateBridge(legs.bridge, f"callrec {call_id}"),
        Originate(legs.callee, r.setup.plan.callee_endpoint, ("leg=callee", f"call={call_id}"), None, False),
    ]
    assert Dial(legs.callee, 60) in r.actions
    i_answer = r.actions.index(Answer(legs.caller))
    assert r.actions[i_answer - 1] == Mute(legs.callee)
    assert r.actions[i_answer + 1 : i_answer + 3] == [
        StartMedia("recording", seg1),
        AddToBridge(legs.bridge, (legs.caller, legs.callee)),
    ]
    # the notice only once the recorder runs, so that the file proves it (R2.1)
    i_notice = r.actions.index(StartMedia("notice", f"{call_id}-notice-1"))
    started = next(
        i for i, (e, _, _) in enumerate(r.steps) if isinstance(e, AriEvent) and e.type == "RecordingStarted"
    )
    # the tone is its own playback, queued right behind the notice (Asterisk plays them back to back)
    notice, tone = StartMedia("notice", f"{call_id}-notice-1"), StartMedia("notice", f"{call_id}-notice-2")
    assert r.steps[started][2][-2:] == (notice, tone)
    notice_done = next(i for i, (e, _, _) in enumerate(r.steps)
                       if isinstance(e, AriEvent) and e.type == "PlaybackFinished"
                       and e.playback_id == f"{call_id}-notice-1")
    assert r.steps[notice_done][2] == ()  # nothing to ask: the tone is already queued
    # nobody hears the other before the notice and tone are over (R2.6)
    finished = next(i for i, (e, _, _) in enumerate(r.steps)
                    if isinstance(e, AriEvent) and e.type == "PlaybackFinished"
                    and e.playback_id == f"{call_id}-notice-2")
    unmutes = [i for i, (_, _, actions) in enumerate(r.steps) for a in actions if isinstance(a, Unmute)]
    assert unmutes and min(unmutes) == finished and i_notice < r.actions.index(Unmute(legs.caller))
    # the callee hung up: the caller is hung up with normal clearing, the billing start is the notice's
    assert r.flow.hangup_by == "callee" and r.flow.end_cause == causes.NORMAL_CLEARING
    assert Hangup(legs.caller, causes.NORMAL_CLEARING) in r.actions
    assert r.flow.times.notice_started is not None and r.flow.times.answered is not None
    assert r.flow.done and r.flow.segments[0].started_at is not None and not r.flow.recording_failed


def test_incoming_call_is_the_same_story() -> None:
    r = replay("incoming")
    assert r.setup.plan.direction == "incoming"
    assert r.phases == [S.DIALING, S.RINGING, S.CONNECTING, S.NOTICE, S.TALKING, S.ENDING]
    assert r.flow.hangup_by == "caller" and r.flow.done


@pytest.mark.parametrize(("name", "cause"), [("busy", causes.USER_BUSY), ("no-answer", causes.NO_ANSWER)])
def test_unanswered_calls_give_the_caller_the_matching_cause(name: str, cause: int) -> None:
    r = replay(name)
    legs = r.setup.legs
    assert r.phases == [S.DIALING, S.RINGING, S.ENDING]
    # HangupRequest and StasisEnd of the callee are not enough before answer: only ChannelDestroyed
    # carries the final cause.
    ending = next(i for i, (_, phase, _) in enumerate(r.steps) if phase is S.ENDING)
    event = r.steps[ending][0]
    assert isinstance(event, AriEvent) and event.type == "ChannelDestroyed"
    assert r.steps[ending][2][-1] == Hangup(legs.caller, cause)
    assert r.flow.end_cause == cause and r.flow.hangup_by == "callee"
    assert not any(isinstance(a, (StartMedia, Answer)) for a in r.actions)


def test_caller_cancels_while_ringing() -> None:
    r = replay("cancel-while-ringing")
    assert r.phases == [S.DIALING, S.RINGING, S.ENDING]
    assert r.flow.hangup_by == "caller" and r.flow.end_cause == 127
    assert Hangup(r.setup.legs.callee, 127) in r.actions and r.flow.done


def test_caller_hangs_up_during_the_notice() -> None:
    r = replay("hangup-during-notice")
    legs = r.setup.legs
    assert r.phases == [S.DIALING, S.RINGING, S.CONNECTING, S.NOTICE, S.ENDING]
    assert not any(isinstance(a, Unmute) for a in r.actions)  # they never talked
    assert Hangup(legs.callee, causes.NORMAL_CLEARING) in r.actions
    assert r.flow.hangup_by == "caller" and r.flow.times.talk_started is None and r.flow.done


def test_segment_roll_starts_the_next_before_stopping_the_last() -> None:
    r = replay("segment-roll")
    call_id = r.setup.plan.call_id
    names = [f"callrec/{call_id}/{call_id}-{i:03d}" for i in range(1, 5)]
    assert [a.media_id for a in r.actions if isinstance(a, StartMedia) and a.kind == "recording"] == names
    # N stops only once N+1 has begun (RecordingStarted), never at the SegmentDue itself
    for before, after in itertools.pairwise(names):
        began = next(
            i
            for i, (e, _, _) in enumerate(r.steps)
            if isinstance(e, AriEvent) and e.type == "RecordingStarted" and e.recording_name == after
        )
        assert ScheduleStop(before, OVERLAP_S) in r.steps[began][2]
        assert StopMedia("recording", before) not in r.steps[began][2]
        stopped = next(i for i, (e, _, _) in enumerate(r.steps) if e == StopDue(before))
        assert stopped > began and StopMedia("recording", before) in r.steps[stopped][2]
        due = next(
            i
            for i, (e, _, acts) in enumerate(r.steps)
            if isinstance(e, SegmentDue) and StartMedia("recording", after) in acts
        )
        assert StopMedia("recording", before) not in r.steps[due][2]
    assert sum(isinstance(a, ScheduleRoll) and a.seconds == 3.0 for a in r.actions) == 4
    assert [s.index for s in r.flow.segments] == [1, 2, 3, 4]
    assert all(s.started_at and not s.live and not s.failed for s in r.flow.segments) and r.flow.done


def test_unreachable_callee_ends_with_subscriber_absent() -> None:
    events = load("unreachable")
    plan, caller = plan_for(
        [*events[:1], AriEvent.from_json({"type": "StasisStart", "channel": {"id": "x-callee"}})]
    )
    r = Replay(CallSetup(plan=plan, legs=CallLegs.for_call(plan.call_id, caller)))
    begin = r.feed(Begin())
    originate = begin[-1]
    assert isinstance(originate, Originate)
    # Asterisk refused /channels/create (no contact for the endpoint): the executor says so
    after = r.feed(ActionFailed(originate, "Allocation failed", not_found=False))
    assert after == (Hangup(caller, causes.SUBSCRIBER_ABSENT),)
    assert r.flow.legs == frozenset({caller})  # the callee leg never existed
    for event in events[1:]:
        r.feed(event)
    assert r.flow.done and r.flow.end_cause == causes.SUBSCRIBER_ABSENT and r.flow.hangup_by == "app"


def test_shutdown_then_closed_ends_and_cleans_up() -> None:
    r = replay("segment-roll")
    assert r.feed(Shutdown()) == (CancelRoll(),)  # already ended: nothing live to stop
    r.feed(Closed())
    assert r.flow.phase is S.ENDED


def test_restart_adoption_carries_on_with_the_running_recorder() -> None:
    """tests/transcripts/flow-adoption-*.jsonl: `callrec run` SIGKILLed 7 s into a talking call and
    restarted (tests/integration/test_faults.py); the events before the kill, then those after."""
    before = load("adoption-before")
    plan, caller = plan_for(before)
    setup = CallSetup(plan=plan, legs=CallLegs.for_call(plan.call_id, caller))
    first = Replay(setup)
    first.feed(Begin())
    for event in before[1:]:
        first.feed(event)
    assert first.flow.phase is S.TALKING and first.flow.recording_live
    # what the killed app had journaled, read back by the new one
    entry = JournalEntry(
        plan=plan, state=str(first.flow.phase), caller_id=caller, callee_id=setup.legs.callee,
        bridge_id=setup.legs.bridge, times=first.flow.times,
        segments=tuple(RecordedSegment(s.name, s.index, s.started_at) for s in first.flow.segments),
        playbacks=tuple(sorted(first.flow.playbacks)),
    )
    entry = JournalEntry.from_json(entry.to_json())
    # reconciliation found both legs, the bridge and the recording still up in Asterisk
    live = frozenset({s.name for s in entry.segments})
    second = Replay(setup, adopted(CallState(entry.state), entry.times, entry.segments,
                                   frozenset({caller, setup.legs.callee}), live, frozenset(entry.playbacks)))
    after = load("adoption-after")
    restarted = parse_ari_time(after[0].timestamp) - timedelta(seconds=1)  # before its first event
    resumed = second.feed(Resume(), restarted)
    started = entry.segments[0].started_at
    assert started is not None
    # the running segment keeps its own start: the next one is due when its period ends
    assert resumed == (Unmute(setup.legs.caller), Unmute(setup.legs.callee),
                       ScheduleRoll(3600.0 - (restarted - started).total_seconds()))
    for event in after:
        second.feed(event)
    assert not any(isinstance(a, StartMedia) for a in second.actions)  # the recorder survived: no new one
    assert second.flow.hangup_by == "caller" and second.flow.done
    assert [(s.name, s.started_at, s.live) for s in second.flow.segments] == [
        (entry.segments[0].name, started, False)
    ]
    assert second.flow.times.answered == first.flow.times.answered  # billing starts where it did


def test_a_caller_gone_silent_ends_normally_and_the_callee_is_not_told_unallocated_number() -> None:
    """Recorded on the real Asterisk 22: a SIPp caller stopped mid-call (no RTP, no BYE), which
    Asterisk hangs up after `rtp_timeout` (dialplan/pjsip.conf). It tells so with a soft
    ChannelHangupRequest whose ``cause`` is its soft-hangup reason (1, the channel driver), not a
    Q.850 cause: read as one, the call was recorded as ended with 1 "unallocated number", and the
    callee hung up with it (its ChannelDestroyed in the transcript says 1)."""
    r = replay("rtp-timeout")
    legs = r.setup.legs
    gone = next(e for e, _, _ in r.steps if isinstance(e, AriEvent) and e.type == "ChannelHangupRequest"
                and e.channel is not None and e.channel.id == legs.caller)
    assert gone.raw["soft"] is True and gone.cause == 1  # what Asterisk 22 says
    assert gone.hangup_cause is None
    assert r.flow.hangup_by == "caller" and r.flow.end_cause == causes.NORMAL_CLEARING
    assert Hangup(legs.callee, causes.NORMAL_CLEARING) in r.actions
    assert not any(isinstance(a, Hangup) and a.cause == causes.UNALLOCATED for a in r.actions)
    assert r.flow.segments[0].started_at is not None and not r.flow.recording_failed
