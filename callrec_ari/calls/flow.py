"""One call's flow as pure steps: ``step(setup, flow, input, now) -> (flow, actions)``.

No I/O, no asyncio: the executor (calls/session.py) feeds Asterisk's events and its own inputs in
order and performs the actions. Read top to bottom, this is the call's story (docs/architecture.md):

1. begin: the caller is muted inbound (recorded calls), hears ringing; the bridge is created and the
   other party's channel originated;
2. the other party's channel enters our application: it is dialled;
3. answer: the other party is muted inbound, the caller answered, and the recording starts (file
   delivery), all at once; then both are bridged and, once Asterisk confirms the recording, the notice
   and tone play (R2.1) so the file itself proves the notice; stream delivery plays the notice at once
   after the bridge (nothing is recorded on the platform);
4. the notice is over: both parties are unmuted and talk (R2.6); the stream, if any, starts now;
5. a segment is due: the next one starts, and the older stops once the new one has begun (R1.2);
6. a leg is gone: the other is hung up with the cause the caller should hear;
7. adoption: a restarted app carries on with a call it finds in its journal and in Asterisk; a call
   whose Asterisk is gone for good ends with it, what was recorded handed over.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from callrec_ari.ari.events import AriEvent
from callrec_ari.calls import recovery, steps
from callrec_ari.calls.actions import (
    ActionFailed,
    AsteriskGone,
    Begin,
    Closed,
    Input,
    Resume,
    SegmentDue,
    Shutdown,
    StopDue,
    StopMedia,
)
from callrec_ari.calls.flow_state import CallSetup, Flow
from callrec_ari.calls.state import CallState
from callrec_ari.calls.steps import Actions
from callrec_ari.model.call import CallTimes, RecordedSegment
from callrec_ari.model.media import RecordingVoid
from callrec_ari.rules.manifest import NoticeEntry

S = CallState
__all__ = ["CallSetup", "Flow", "adopted", "step"]


def adopted(phase: CallState, times: CallTimes, segments: tuple[RecordedSegment, ...],
            live_legs: frozenset[str], live_segments: frozenset[str], live_playbacks: frozenset[str],
            notices: tuple[NoticeEntry, ...] = ()) -> Flow:
    """Where a call a previous run of the app left in Asterisk stands, from its journal and from what
    Asterisk still has (legs up, recordings running, playbacks playing)."""
    return Flow(phase=phase, legs=live_legs, times=times, playbacks=live_playbacks, notices=notices,
                segments=tuple(replace(s, live=s.name in live_segments) for s in segments))


def step(setup: CallSetup, flow: Flow, event: Input, now: datetime) -> tuple[Flow, Actions]:
    """The next state and what to do. Raises IllegalTransition for an event the flow refuses."""
    after, actions = _step(setup, flow, event, now)
    if not setup.recorder_reports_end and after.phase is S.ENDING and flow.phase is not S.ENDING:
        # A recorder that ends with its leg without a word is stopped first, while the legs are up.
        stops = tuple(StopMedia("recording", s.name, "call-ended") for s in after.segments if s.live)
        actions = (*stops, *(a for a in actions if not (isinstance(a, StopMedia) and a.kind == "recording")))
    return after, actions


def _step(setup: CallSetup, flow: Flow, event: Input, now: datetime) -> tuple[Flow, Actions]:
    match event:
        case Begin():
            return steps.begin(setup, flow, now)
        case Resume(bridged=bridged):
            return recovery.resume(setup, flow, now, bridged)
        case SegmentDue():
            return steps.segment_due(setup, flow)
        case StopDue(name=name):
            return steps.stop_due(flow, name)
        case ActionFailed():
            return recovery.failed(setup, flow, event, now)
        case Shutdown():
            return recovery.shutdown(setup, flow, now)
        case AsteriskGone():
            return recovery.asterisk_gone(flow, event)
        case Closed():
            return (steps.move(flow, S.ENDED), ()) if flow.phase is S.ENDING else (flow, ())
        case AriEvent():
            return steps.ari_event(setup, flow, event, now)
        case RecordingVoid(name=name):
            return steps.recording_void(flow, name)
    return flow, ()
