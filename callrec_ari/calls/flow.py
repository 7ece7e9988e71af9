"""One call's flow as pure steps: ``step(setup, flow, input, now) -> (flow, actions)``.

No I/O, no asyncio: the executor (calls/session.py) feeds Asterisk's events and its own inputs in
order and performs the actions. Read top to bottom, this is the call's story (docs/architecture.md):

1. begin: the caller is muted inbound (recorded calls), hears ringing; the bridge is created and the
   other party's channel originated;
2. the other party's channel enters our application: it is dialled;
3. answer: the other party is muted inbound, the caller answered, both bridged; the recording starts
   (file delivery) and, once Asterisk confirms it, the notice and tone play (R2.1) so the file itself
   proves the notice; stream delivery plays the notice at once (nothing is recorded on the platform);
4. the notice is over: both parties are unmuted and talk (R2.6); the stream, if any, starts now;
5. a segment is due: the next one starts, and the older stops once the new one has begun (R1.2);
6. a leg is gone: the other is hung up with the cause the caller should hear;
7. adoption: a restarted app carries on with a call it finds in its journal and in Asterisk.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

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
    SegmentDue,
    Shutdown,
    StartMedia,
    StopMedia,
    Unmute,
)
from callrec_ari.calls.state import CallState, transition
from callrec_ari.model.call import CallTimes, HangupBy, RecordedSegment
from callrec_ari.model.media import CallLegs
from callrec_ari.model.plan import CallPlan, notice_playbacks
from callrec_ari.rules import causes
from callrec_ari.rules.segments import RollReason, roll_delay, segment_name

S = CallState
Actions = tuple[Action, ...]
_GONE = frozenset({"StasisEnd", "ChannelDestroyed"})


@dataclass(frozen=True, slots=True)
class CallSetup:
    """What does not change during a call."""

    plan: CallPlan
    legs: CallLegs
    stream: str | None = None  # the stream channel's id when the call streams (R1.4)
    recording_prefix: str = "callrec"
    segment_seconds: float = 3600.0
    dial_timeout: int = 60


@dataclass(frozen=True, slots=True)
class Flow:
    """Where one call stands."""

    phase: CallState = S.STARTING
    legs: frozenset[str] = frozenset()  # channels of ours still up
    times: CallTimes = field(default_factory=CallTimes)
    dialstatus: str | None = None
    callee_cause: int | None = None
    end_cause: int = causes.NORMAL_CLEARING
    hangup_by: HangupBy = "app"
    playbacks: frozenset[str] = frozenset()  # notice playbacks still playing
    notice_failed: bool = False
    segments: tuple[RecordedSegment, ...] = ()
    recording_failed: bool = False
    aborted: bool = False  # something unexpected failed: leave the loop, clean up

    @property
    def recording_live(self) -> bool:
        return any(s.live for s in self.segments)

    @property
    def done(self) -> bool:
        """Nothing is left to wait for: every leg gone, every recording over."""
        if self.phase is S.ENDED or self.aborted:
            return True
        return self.phase is S.ENDING and not self.legs and not self.recording_live

    def segment(self, name: str | None) -> RecordedSegment | None:
        return next((s for s in self.segments if s.name == name), None)


def adopted(phase: CallState, times: CallTimes, segments: tuple[RecordedSegment, ...],
            live_legs: frozenset[str], live_segments: frozenset[str], live_playbacks: frozenset[str]) -> Flow:
    """Where a call a previous run of the app left in Asterisk stands, from its journal and from what
    Asterisk still has (legs up, recordings running, playbacks playing)."""
    return Flow(phase=phase, legs=live_legs, times=times, playbacks=live_playbacks, segments=tuple(
        replace(s, live=s.name in live_segments) for s in segments))


def step(setup: CallSetup, flow: Flow, event: Input, now: datetime) -> tuple[Flow, Actions]:
    """The next state and what to do. Raises IllegalTransition for an event the flow refuses."""
    match event:
        case Begin():
            return _begin(setup, flow, now)
        case Resume():
            return _resume(setup, flow, now)
        case SegmentDue():
            return _segment_due(setup, flow)
        case ActionFailed():
            return _failed(setup, flow, event, now)
        case Shutdown():
            return _shutdown(setup, flow, now)
        case Closed():
            return (_move(flow, S.ENDED), ()) if flow.phase is S.ENDING else (flow, ())
        case AriEvent():
            return _ari(setup, flow, event, now)
    return flow, ()


def _move(flow: Flow, phase: CallState, **changes: object) -> Flow:
    return replace(flow, phase=transition(flow.phase, phase), **changes)  # type: ignore[arg-type]


def _times(flow: Flow, **stamps: datetime) -> CallTimes:
    return replace(flow.times, **stamps)


def _ari(setup: CallSetup, flow: Flow, event: AriEvent, now: datetime) -> tuple[Flow, Actions]:
    legs, channel = setup.legs, event.channel
    if event.type in _GONE or event.type == "ChannelHangupRequest":
        return _leg_gone(setup, flow, event, now)
    if event.type == "StasisStart" and channel is not None and channel.id == legs.callee:
        return _callee_in_stasis(setup, flow)
    if event.type == "Dial" and event.peer is not None and event.peer.id == legs.callee:
        if event.dialstatus:
            flow = replace(flow, dialstatus=event.dialstatus)
        return _answered(setup, flow, now) if event.dialstatus == "ANSWER" else (flow, ())
    if event.type == "ChannelStateChange" and channel is not None and channel.id == legs.callee:
        return _answered(setup, flow, now) if channel.state == "Up" else (flow, ())
    if event.type == "RecordingStarted" and flow.segment(event.recording_name):
        return _recording_began(setup, flow, event, now)
    if event.type in ("RecordingFinished", "RecordingFailed") and flow.segment(event.recording_name):
        return _recording_ended(flow, event)
    if event.type == "PlaybackFinished" and event.playback_id in flow.playbacks:
        return _playback_finished(setup, flow, event, now)
    return flow, ()


# ---- 1-2: the caller in, the other party originated and dialled ------------------------------------
def _begin(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    plan, legs = setup.plan, setup.legs
    story = Note.info(f"start direction={plan.direction} line={plan.line} caller={plan.caller_number} "
                      f"callee={plan.callee_number} record={plan.record} reason={plan.reason}")
    # Nothing the caller says may reach the other party before the tone has ended (R2.6).
    mute: Actions = (Mute(legs.caller),) if plan.record else ()
    flow = _move(flow, S.DIALING, legs=flow.legs | {legs.caller, legs.callee})
    return flow, (story, *mute, Ring(legs.caller), CreateBridge(legs.bridge, f"callrec {plan.call_id}"),
                  Originate(legs.callee, plan.callee_endpoint, ("leg=callee", f"call={plan.call_id}"),
                            plan.caller_id, plan.caller_withheld))


def _callee_in_stasis(setup: CallSetup, flow: Flow) -> tuple[Flow, Actions]:
    # Dial only now: right after it is created the channel may not be in Stasis yet (ARI 409).
    if flow.phase is not S.DIALING:
        return flow, ()
    return _move(flow, S.RINGING), (Dial(setup.legs.callee, setup.dial_timeout),)


# ---- 3: answer, bridge, recording, notice ------------------------------------------------------------
def _answered(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    if flow.phase is not S.RINGING:
        return flow, ()  # Dial ANSWER and ChannelStateChange Up both announce it
    plan, legs = setup.plan, setup.legs
    flow = _move(flow, S.CONNECTING, times=_times(flow, answered=now))
    connect: Actions = (*((Mute(legs.callee),) if plan.record else ()), Answer(legs.caller),
                        AddToBridge(legs.bridge, (legs.caller, legs.callee)))
    if not plan.record:
        flow, talk = _talk(setup, flow, now)
        return flow, connect + talk
    if setup.stream is not None:
        # Stream delivery: nothing is recorded on the platform; the stream starts after the tone.
        flow, notice = _play_notice(setup, flow, now)
        return flow, connect + notice
    # The recording starts at answer so that the file itself proves the notice was played.
    flow, record = _next_segment(setup, flow)
    return flow, connect + record


def _next_segment(setup: CallSetup, flow: Flow) -> tuple[Flow, Actions]:
    index = len(flow.segments) + 1
    segment = RecordedSegment(segment_name(setup.recording_prefix, setup.plan.call_id, index), index,
                              live=True)
    return replace(flow, segments=(*flow.segments, segment)), (StartMedia("recording", segment.name),)


def _recording_began(setup: CallSetup, flow: Flow, event: AriEvent,
                     now: datetime) -> tuple[Flow, Actions]:
    began = flow.segment(event.recording_name)
    assert began is not None
    began = replace(began, started_at=parse_ari_time(event.timestamp))
    flow = replace(flow, segments=tuple(began if s.name == began.name else s for s in flow.segments))
    # Segment N stops only once N+1 has begun: nothing is lost at the boundary (R1.2).
    older = tuple(StopMedia("recording", s.name) for s in flow.segments if s.index < began.index and s.live)
    actions: Actions = (Note.info(f"recording started name={began.name}"), *older,
                        ScheduleRoll(roll_delay(setup.segment_seconds, RollReason.STARTED)))
    if flow.phase is S.CONNECTING:
        flow, notice = _play_notice(setup, flow, now)
        actions += notice
    return flow, actions


def _recording_ended(flow: Flow, event: AriEvent) -> tuple[Flow, Actions]:
    failed = event.type == "RecordingFailed"
    ended = flow.segment(event.recording_name)
    assert ended is not None
    ended = replace(ended, live=False, failed=ended.failed or failed)
    flow = replace(flow, segments=tuple(ended if s.name == ended.name else s for s in flow.segments),
                   recording_failed=flow.recording_failed or failed)
    if failed:
        return flow, (Note.error(f"recording failed name={ended.name}"),)
    return flow, (Note.info(f"recording finished name={ended.name}"),)


def _segment_due(setup: CallSetup, flow: Flow) -> tuple[Flow, Actions]:
    if flow.phase in (S.ENDING, S.ENDED):
        return flow, ()
    return _next_segment(setup, flow)  # the current one stops once this one has started


def _play_notice(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    playbacks = notice_playbacks(setup.plan)
    if not playbacks:
        return _talk(setup, flow, now)
    flow = _move(flow, S.NOTICE, times=_times(flow, notice_started=now),
                 playbacks=frozenset(p.id for p in playbacks))
    return flow, tuple(StartMedia("notice", p.id) for p in playbacks)


def _playback_finished(setup: CallSetup, flow: Flow, event: AriEvent,
                       now: datetime) -> tuple[Flow, Actions]:
    flow = replace(flow, playbacks=flow.playbacks - {event.playback_id or ""})
    actions: Actions = ()
    if event.playback_failed:
        actions = (Note.error(f"notice playback {event.playback_id} failed"),)
    if not flow.playbacks and flow.phase is S.NOTICE:
        flow, talk = _talk(setup, flow, now)
        actions += talk
    return flow, actions


# ---- 4: talk ----------------------------------------------------------------------------------------
def _talk(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    legs = setup.legs
    flow = _move(flow, S.TALKING, times=_times(flow, talk_started=now))
    actions: Actions = (Unmute(legs.caller), Unmute(legs.callee)) if setup.plan.record else ()
    if setup.stream is not None:
        flow = replace(flow, legs=flow.legs | {setup.stream})
        actions += (StartMedia("stream", setup.stream),)
    return flow, (*actions, Note.info("talking"))


# ---- 6: a leg is gone ---------------------------------------------------------------------------------
def _leg_gone(setup: CallSetup, flow: Flow, event: AriEvent, now: datetime) -> tuple[Flow, Actions]:
    if event.channel is None:
        return flow, ()
    leg, legs = event.channel.id, setup.legs
    if event.type in _GONE:
        flow = replace(flow, legs=flow.legs - {leg})
    if leg != legs.caller and not _callee_gone_for_sure(flow, event):
        return flow, ()
    if leg == legs.callee and event.cause is not None and event.type == "ChannelDestroyed":
        flow = replace(flow, callee_cause=event.cause)
    if leg == legs.caller:
        return _end(flow, "caller", event.cause or causes.NORMAL_CLEARING, now)
    if leg == legs.callee:
        cause = causes.cause_for_caller(flow.dialstatus, flow.callee_cause, flow.times.answered is not None)
        return _end(flow, "callee", cause, now)
    return flow, ()


def _callee_gone_for_sure(flow: Flow, event: AriEvent) -> bool:
    """Before answer, wait for ChannelDestroyed: only it carries the final cause (17 busy, 19 no
    answer...), after HangupRequest and StasisEnd. Once answered, StasisEnd is enough (Asterisk may
    not send ChannelDestroyed after the channel left our application)."""
    if event.type == "ChannelDestroyed":
        return True
    return event.type == "StasisEnd" and flow.times.answered is not None


def _end(flow: Flow, by: HangupBy, cause: int, now: datetime) -> tuple[Flow, Actions]:
    if flow.phase in (S.ENDING, S.ENDED):
        return flow, ()
    flow = _move(flow, S.ENDING, hangup_by=by, end_cause=cause, times=_times(flow, ended=now))
    story = Note.info(f"ending hangup_by={by} cause={cause} dialstatus={flow.dialstatus}")
    return flow, (story, *(Hangup(leg, cause) for leg in sorted(flow.legs)))


# ---- 7: adoption after a restart ----------------------------------------------------------------------
def _resume(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    live = [s.name for s in flow.segments if s.live]
    actions: Actions = (Note.info(f"adopted in state {flow.phase}: legs={sorted(flow.legs)} "
                                  f"segments live={live}"),)
    if len(flow.legs) < 2 or flow.phase not in (S.NOTICE, S.TALKING):
        # Not connected yet, or a leg is already gone: end it cleanly (cause 41, temporary failure).
        flow, end = _end(flow, "app", causes.TEMPORARY_FAILURE, now)
        return flow, actions + end
    if flow.phase is S.NOTICE and not flow.playbacks:
        flow, talk = _talk(setup, flow, now)
        actions += talk
    running = next((s for s in reversed(flow.segments) if s.live), None)
    if running is not None:
        return flow, (*actions, ScheduleRoll(roll_delay(setup.segment_seconds, RollReason.ADOPTED,
                                                         running.started_at, now)))
    if setup.plan.record and setup.stream is None and flow.phase is S.TALKING:
        # The recorder did not survive: start a new segment rather than lose the rest of the call.
        flow, record = _next_segment(setup, flow)
        actions += record
    return flow, actions


# ---- failures and the end of the executor ----------------------------------------------------------------
def _failed(setup: CallSetup, flow: Flow, failure: ActionFailed, now: datetime) -> tuple[Flow, Actions]:
    flow = _forget_undone(flow, (failure.action, *failure.skipped))
    match failure.action:
        case Originate():
            # No contact for the endpoint (an unregistered line), or no route: the other party is
            # unreachable, which the caller hears as such (cause 20 -> SIP 480).
            story = Note.warning(f"callee {setup.plan.callee_endpoint} unreachable: {failure.error}")
            flow, end = _end(flow, "app", causes.SUBSCRIBER_ABSENT, now)
            return flow, (story, *end)
        case StartMedia(kind="recording") if flow.phase is S.CONNECTING:
            flow = replace(flow, recording_failed=True)
            flow, notice = _play_notice(setup, flow, now)
            return flow, (Note.error(f"recording could not start: {failure.error}"), *notice)
        case StartMedia(kind="recording"):
            # Keep the running segment going rather than lose audio; try again a period later.
            flow = replace(flow, recording_failed=True)
            return flow, (Note.error(f"next segment could not start: {failure.error}"),
                          ScheduleRoll(roll_delay(setup.segment_seconds, RollReason.RETRY)))
        case StartMedia(kind="notice") if not failure.not_found and flow.phase is S.NOTICE:
            # The parties must not be left muted in silence: connect them, and say so loudly.
            flow = replace(flow, notice_failed=True, playbacks=frozenset())
            flow, talk = _talk(setup, flow, now)
            return flow, (Note.error(f"notice could not play: {failure.error}; connecting the parties"),
                          *talk)
        case StartMedia(kind="stream"):
            return flow, ()  # the stream part has logged and counted the loss; the call goes on
    if failure.not_found and any(isinstance(a, Originate) for a in failure.skipped):
        # The caller left before the call could start.
        flow, end = _end(replace(flow, legs=flow.legs - {setup.legs.caller}), "caller",
                         causes.NORMAL_CLEARING, now)
        return flow, (Note.info(f"caller gone before the call could start: {failure.error}"), *end)
    if flow.phase in (S.ENDING, S.ENDED):
        return replace(flow, aborted=True), (Note.error(f"while ending: {failure.error}"),)
    flow, end = _end(flow, "app", causes.NORMAL_CLEARING, now)
    if failure.not_found:  # a leg vanished between an event and our request: the call is ending
        return flow, (Note.info(f"{failure.error} while {flow.phase}: leg gone"), *end)
    return replace(flow, aborted=True), (Note.error(f"failed: {failure.error}"), *end)


def _forget_undone(flow: Flow, undone: Actions) -> Flow:
    """What the failed and skipped actions would have created does not exist."""
    channels = {a.channel for a in undone if isinstance(a, Originate)}
    channels |= {a.media_id for a in undone if isinstance(a, StartMedia) and a.kind == "stream"}
    playbacks = {a.media_id for a in undone if isinstance(a, StartMedia) and a.kind == "notice"}
    segments = {a.media_id for a in undone if isinstance(a, StartMedia) and a.kind == "recording"}
    return replace(flow, legs=flow.legs - channels, playbacks=flow.playbacks - playbacks, segments=tuple(
        replace(s, live=False, failed=True) if s.name in segments else s for s in flow.segments))


def _shutdown(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    flow, end = _end(flow, "app", causes.NORMAL_CLEARING, now)
    stops: Actions = (CancelRoll(), *(StopMedia("recording", s.name) for s in flow.segments if s.live))
    if setup.stream is not None:
        stops += (StopMedia("stream", setup.stream, f"hangup-{flow.hangup_by}"),)
    return flow, end + stops
