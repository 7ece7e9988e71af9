"""The call's story, steps 1-6 of calls/flow.py: each function takes where the call stands and one
fact, and answers where it stands next and what to do. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from callrec_ari.ari.events import AriEvent, parse_ari_time
from callrec_ari.calls.actions import (
    Action,
    AddToBridge,
    Answer,
    CancelRoll,
    CreateBridge,
    Dial,
    Hangup,
    Mute,
    Note,
    Originate,
    Ring,
    ScheduleRoll,
    ScheduleStop,
    StartMedia,
    StopMedia,
    Unmute,
)
from callrec_ari.calls.flow_state import CallSetup, Flow
from callrec_ari.calls.state import CallState, transition
from callrec_ari.model.call import CallTimes, HangupBy, RecordedSegment
from callrec_ari.model.plan import NoticePlayback, first_playbacks, next_playback, notice_playbacks
from callrec_ari.rules import causes
from callrec_ari.rules.manifest import NoticeEntry
from callrec_ari.rules.segments import OVERLAP_S, RollReason, roll_delay, segment_name

S = CallState
Actions = tuple[Action, ...]
GONE = frozenset({"StasisEnd", "ChannelDestroyed"})


def move(flow: Flow, phase: CallState, **changes: object) -> Flow:
    return replace(flow, phase=transition(flow.phase, phase), **changes)  # type: ignore[arg-type]


def stamped(flow: Flow, **stamps: datetime) -> CallTimes:
    return replace(flow.times, **stamps)


# Once every leg of an ending call is gone, how long a recording still called live may take to say it
# finished. Asterisk sends nothing at all for a recording whose snoop channel went as it began (a roll
# that raced the hangup; measured in `make soak`, 2 calls in 7,470): without a bound the call would
# wait forever and its other segments would never be handed over.
RECORDING_GRACE_S = 5.0


def ari_event(setup: CallSetup, flow: Flow, event: AriEvent, now: datetime) -> tuple[Flow, Actions]:
    legs, channel = setup.legs, event.channel
    if event.type in GONE or event.type == "ChannelHangupRequest":
        after, actions = leg_gone(setup, flow, event, now)
        if after.phase is S.ENDING and flow.legs and not after.legs and after.recording_live:
            actions += tuple(ScheduleStop(s.name, RECORDING_GRACE_S) for s in after.segments if s.live)
        return after, actions
    if event.type == "StasisStart" and channel is not None and channel.id == legs.callee:
        return callee_in_stasis(setup, flow)
    if event.type == "Dial" and event.peer is not None and event.peer.id == legs.callee:
        if event.dialstatus:
            flow = replace(flow, dialstatus=event.dialstatus)
        return answered(setup, flow, now) if event.dialstatus == "ANSWER" else (flow, ())
    if event.type == "RecordingStarted" and flow.segment(event.recording_name):
        return recording_began(setup, flow, event, now)
    if event.type in ("RecordingFinished", "RecordingFailed") and flow.segment(event.recording_name):
        return recording_ended(flow, event)
    if event.type == "PlaybackStarted" and event.playback_id in flow.playbacks:
        return noted(setup, flow, event.playback_id or "", started=parse_ari_time(event.timestamp)), ()
    if event.type == "PlaybackFinished" and event.playback_id in flow.playbacks:
        return playback_finished(setup, flow, event, now)
    return flow, ()


# ---- 1-2: the caller in, the other party originated and dialled ------------------------------------
def begin(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    plan, legs = setup.plan, setup.legs
    story = Note.info(f"start direction={plan.direction} line={plan.line} caller={plan.caller_number} "
                      f"callee={plan.callee_number} record={plan.record} reason={plan.reason}")
    # Nothing the caller says may reach the other party before the tone has ended (R2.6).
    mute: Actions = (Mute(legs.caller),) if plan.record else ()
    flow = move(flow, S.DIALING, legs=flow.legs | {legs.caller, legs.callee})
    return flow, (story, *mute, Ring(legs.caller), CreateBridge(legs.bridge, f"callrec {plan.call_id}"),
                  Originate(legs.callee, plan.callee_endpoint, ("leg=callee", f"call={plan.call_id}"),
                            plan.caller_id, plan.caller_withheld))


def callee_in_stasis(setup: CallSetup, flow: Flow) -> tuple[Flow, Actions]:
    # Dial only now: right after it is created the channel may not be in Stasis yet (ARI 409).
    if flow.phase is not S.DIALING:
        return flow, ()
    return move(flow, S.RINGING), (Dial(setup.legs.callee, setup.dial_timeout),)


# ---- 3: answer, bridge, recording, notice ------------------------------------------------------------
def answered(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    if flow.phase is not S.RINGING:
        return flow, ()  # a repeated Dial ANSWER (an adopted call's, say) changes nothing
    plan, legs = setup.plan, setup.legs
    flow = move(flow, S.CONNECTING, times=stamped(flow, answered=now))
    # The other party muted (where it must be), the caller answered and the recorder started at once
    # (calls/actions.py ``together``: none waits for another), so the notice waits for one request.
    prepare: Actions = (*((Mute(legs.callee),) if callee_muted(setup) else ()), Answer(legs.caller))
    bridge = _bridge(setup) if bridged_before_notice(setup) else ()
    if not plan.record:
        flow, talking = talk(setup, flow, now)
        return flow, prepare + talking
    if not setup.files:
        # Stream delivery only: nothing is recorded on the platform; the streams start after the tone.
        flow, notice = play_notice(setup, flow, now)
        return flow, prepare + bridge + notice
    # The recording starts at answer so that the file itself proves the notice was played: the
    # notice waits for its RecordingStarted. A recorder of the bridge itself starts once the parties
    # are in it: started on the bridge before they joined, its RecordingStarted never came
    # (tests/integration/test_call_flow.py, bridge).
    flow, record = next_segment(setup, flow)
    if not setup.recorder_on_legs:
        return flow, prepare + bridge + record
    return flow, prepare + record + bridge


def bridged_before_notice(setup: CallSetup) -> bool:
    """Whether the parties join their bridge before the notice (at answer) rather than at the talk.
    Only what needs the bridge during the notice brings it forward: a recorder of the bridge, or a
    notice played on the bridge. Otherwise the parties stay apart until the tone has ended: each hears
    its notice on its own leg, neither hears the other (R2.6), the recorder of the legs has what it
    records, and the bridge is no request on the way to the notice (docs/performance.md)."""
    if not setup.plan.record:
        return False  # they talk at once
    on_bridge = any(p.target == "bridge" for p in first_playbacks(setup.plan))
    return on_bridge or (setup.files and not setup.recorder_on_legs)


def callee_muted(setup: CallSetup) -> bool:
    """Whether the other party is muted from the answer to the tone's end, as the caller is from the
    start. Only when the parties are bridged before the notice: then its voice would reach the caller
    (R2.6) and the bridge's recorder. Kept apart until the talk, its voice reaches nothing: no bridge,
    and the recorders of the legs hear the caller's leg (MixMonitor, a snoop of both directions) or
    what each party hears (per-leg), never the other party's own voice. Two requests a call fewer."""
    return bridged_before_notice(setup)


def _bridge(setup: CallSetup) -> Actions:
    return (AddToBridge(setup.legs.bridge, (setup.legs.caller, setup.legs.callee)),)


def next_segment(setup: CallSetup, flow: Flow) -> tuple[Flow, Actions]:
    index = len(flow.segments) + 1
    segment = RecordedSegment(segment_name(setup.recording_prefix, setup.plan.call_id, index), index,
                              live=True)
    return replace(flow, segments=(*flow.segments, segment)), (StartMedia("recording", segment.name),)


def recording_began(setup: CallSetup, flow: Flow, event: AriEvent,
                     now: datetime) -> tuple[Flow, Actions]:
    began = flow.segment(event.recording_name)
    assert began is not None
    began = replace(began, started_at=parse_ari_time(event.timestamp))
    flow = replace(flow, segments=tuple(began if s.name == began.name else s for s in flow.segments))
    # Segment N stops only once N+1 has begun, and some time after (rules/segments.OVERLAP_S): N+1's
    # first frame comes after its RecordingStarted, and nothing may be lost at the boundary (R1.2).
    older = tuple(ScheduleStop(s.name, OVERLAP_S) for s in flow.segments if s.index < began.index and s.live)
    actions: Actions = (Note.info(f"recording started name={began.name}", "RecordingStarted"), *older,
                        ScheduleRoll(roll_delay(setup.roll_seconds, RollReason.STARTED)))
    if flow.phase is S.CONNECTING:
        flow, notice = play_notice(setup, flow, now)
        actions += notice
    return flow, actions


def recording_ended(flow: Flow, event: AriEvent) -> tuple[Flow, Actions]:
    failed = event.type == "RecordingFailed"
    ended = flow.segment(event.recording_name)
    assert ended is not None
    ended = replace(ended, live=False, failed=ended.failed or failed)
    flow = replace(flow, segments=tuple(ended if s.name == ended.name else s for s in flow.segments),
                   recording_failed=flow.recording_failed or failed)
    if failed:
        return flow, (Note.error(f"recording failed name={ended.name}", "RecordingFailed"),)
    return flow, (Note.info(f"recording finished name={ended.name}", "RecordingFinished"),)


def recording_void(flow: Flow, name: str) -> tuple[Flow, Actions]:
    """The recorder wrote no file: its leg went as it began (model/media.py RecordingVoid). Counted as
    never started (no file is looked for, nothing was missed: the segment before covers the time)."""
    void = flow.segment(name)
    if void is None:
        return flow, ()
    void = replace(void, started_at=None, live=False, failed=True)
    flow = replace(flow, segments=tuple(void if s.name == name else s for s in flow.segments))
    return flow, (Note.info(f"recording {name} wrote no file: its leg went as it began"),)


def stop_due(flow: Flow, name: str) -> tuple[Flow, Actions]:
    segment = flow.segment(name)
    if segment is None or not segment.live:
        return flow, ()  # over already (the call ended meanwhile)
    if flow.phase is S.ENDING and not flow.legs:
        # Every leg is gone and this recording has said nothing since (RECORDING_GRACE_S): stop what
        # may be left of it and count it over; its file, if any, is what there is. Counted as failed:
        # with no file (a roll that raced the hangup: `make test`'s soak smoke), the call's other
        # segments are still delivered (recording/collect.py), not held back for want of this one.
        over = replace(segment, live=False, failed=True)
        flow = replace(flow, segments=tuple(over if s.name == name else s for s in flow.segments))
        return flow, (Note.warning(f"recording {name} never reported its end: counted over"),
                      StopMedia("recording", name))
    return flow, (StopMedia("recording", name),)


def segment_due(setup: CallSetup, flow: Flow) -> tuple[Flow, Actions]:
    if flow.phase in (S.ENDING, S.ENDED) or flow.notice_failed:
        return flow, ()
    return next_segment(setup, flow)  # the current one stops once this one has started


def play_notice(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    if not first_playbacks(setup.plan):
        return talk(setup, flow, now)
    # Every sound at once, each target's in order (the first of each target first): Asterisk queues
    # the playbacks of one bridge or channel and plays them back to back, so the tone follows the
    # notice without a round trip through the app (under load that round trip was most of a second
    # of silence). Each is still its own playback, with its own events and its own failure (R2.1).
    playbacks = sorted(notice_playbacks(setup.plan), key=lambda p: p.order)
    flow = move(flow, S.NOTICE, times=stamped(flow, notice_started=now),
                 playbacks=frozenset(p.id for p in playbacks))
    return flow, (Note.info(notice_story(playbacks), "NoticeStarted"),
                  *(StartMedia("notice", p.id) for p in playbacks))


def notice_story(playbacks: Sequence[NoticePlayback]) -> str:
    """The notice's one line in the event log, every sound of each target in order (one line per call,
    not one per sound): "notice to caller: sound:callrec/notice-ja, sound:beep; to callee: ..."."""
    targets: dict[str, list[str]] = {}
    for p in sorted(playbacks, key=lambda p: p.order):
        targets.setdefault(p.target, []).append(p.media)
    return "notice " + "; ".join(f"to {target}: {', '.join(media)}" for target, media in targets.items())


def playback_finished(setup: CallSetup, flow: Flow, event: AriEvent,
                       now: datetime) -> tuple[Flow, Actions]:
    done = event.playback_id or ""
    flow = replace(flow, playbacks=flow.playbacks - {done})
    parties_there = {setup.legs.caller, setup.legs.callee} <= flow.legs and not flow.hanging_up
    could_not_play = event.playback_failed and flow.phase is S.NOTICE and parties_there
    outcome = "played" if not event.playback_failed else "failed" if could_not_play else "cut"
    flow = noted(setup, flow, done, ended=parse_ari_time(event.timestamp), outcome=outcome)
    if could_not_play:
        # Both parties are still there, so the sound itself could not play (Asterisk fails a
        # playback at once when its file is missing or unreadable); a hangup also fails the one
        # playing, which is no notice failure.
        return notice_failed(setup, flow, f"notice playback {done} failed", now)
    if event.playback_failed:
        return flow, ()
    following = next_playback(setup.plan, done)
    if following is not None and following.id not in flow.playbacks and flow.phase is S.NOTICE:
        # The next sound was not queued with the first (a call adopted from an app that played one
        # sound at a time): the tone after the notice, now.
        return replace(flow, playbacks=flow.playbacks | {following.id}), (StartMedia("notice", following.id),)
    if not flow.playbacks and flow.phase is S.NOTICE:
        return talk(setup, flow, now)
    return flow, ()


def noted(setup: CallSetup, flow: Flow, playback_id: str, started: datetime | None = None,
           ended: datetime | None = None, outcome: str = "playing") -> Flow:
    """The record of what the parties heard (the manifest's and the stream's ``notices``)."""
    sound = next((p for p in notice_playbacks(setup.plan) if p.id == playback_id), None)
    if sound is None or (not sound.noted and outcome != "failed"):
        return flow
    # A notice both hear is one record, the caller's copy's; its twin on the other leg is recorded
    # only when it failed, as that party's.
    to = sound.to if sound.noted else sound.target
    entries = list(flow.notices)
    mine = [i for i, n in enumerate(entries) if n.sound == sound.media and n.to == to and n.ended_at is None
            and n.outcome == "playing"]
    if mine and started is None:
        i = mine[-1]
        entries[i] = replace(entries[i], ended_at=ended, outcome=outcome)
    else:
        entries.append(NoticeEntry(to, sound.media, started, ended, outcome))
    return replace(flow, notices=tuple(entries))


def notice_failed(setup: CallSetup, flow: Flow, why: str, now: datetime) -> tuple[Flow, Actions]:
    """Nothing is recorded without its notice (R2.1): the call goes on, connected and unrecorded; what
    was recorded of it is discarded at the hand-over, and no stream starts."""
    stops: Actions = (*(StopMedia("notice", p) for p in sorted(flow.playbacks)),
                      *(StopMedia("recording", s.name) for s in flow.segments if s.live), CancelRoll())
    flow = replace(flow, notice_failed=True, playbacks=frozenset())
    actions: Actions = (Note.error(f"{why}: the call goes on unrecorded (notice-failed)"), *stops)
    if flow.phase is S.NOTICE:
        flow, talking = talk(setup, flow, now)
        actions += talking
    return flow, actions


# ---- 4: talk ----------------------------------------------------------------------------------------
def talk(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    legs = setup.legs
    flow = move(flow, S.TALKING, times=stamped(flow, talk_started=now))
    actions: Actions = (Unmute(legs.caller),) if setup.plan.record else ()
    actions += (Unmute(legs.callee),) if callee_muted(setup) else ()
    if not bridged_before_notice(setup):
        actions += _bridge(setup)  # with the unmutes (calls/actions.py ``together``)
    if setup.streams and not flow.notice_failed:
        flow = replace(flow, legs=flow.legs | set(setup.streams))
        actions += tuple(StartMedia("stream", stream) for stream in setup.streams)
    return flow, (*actions, Note.info("talking"))


# ---- 6: a leg is gone ---------------------------------------------------------------------------------
def leg_gone(setup: CallSetup, flow: Flow, event: AriEvent, now: datetime) -> tuple[Flow, Actions]:
    if event.channel is None:
        return flow, ()
    leg, legs = event.channel.id, setup.legs
    if event.type in GONE:
        flow = replace(flow, legs=flow.legs - {leg})
    elif event.type == "ChannelHangupRequest" and leg in (legs.caller, legs.callee):
        flow = replace(flow, hanging_up=flow.hanging_up | {leg})
    if leg != legs.caller and not _callee_gone_for_sure(flow, event):
        return flow, ()
    if leg == legs.callee and event.cause is not None and event.type == "ChannelDestroyed":
        flow = replace(flow, callee_cause=event.cause)
    if leg == legs.caller:
        return end(flow, "caller", event.hangup_cause or causes.NORMAL_CLEARING, now)
    if leg == legs.callee:
        cause = causes.cause_for_caller(flow.dialstatus, flow.callee_cause, flow.times.answered is not None)
        return end(flow, "callee", cause, now)
    return flow, ()


def _callee_gone_for_sure(flow: Flow, event: AriEvent) -> bool:
    """Before answer, wait for ChannelDestroyed: only it carries the final cause (17 busy, 19 no
    answer...), after HangupRequest and StasisEnd. Once answered, StasisEnd is enough (Asterisk may
    not send ChannelDestroyed after the channel left our application)."""
    if event.type == "ChannelDestroyed":
        return True
    return event.type == "StasisEnd" and flow.times.answered is not None


def end(flow: Flow, by: HangupBy, cause: int, now: datetime) -> tuple[Flow, Actions]:
    if flow.phase in (S.ENDING, S.ENDED):
        return flow, ()
    flow = move(flow, S.ENDING, hangup_by=by, end_cause=cause, times=stamped(flow, ended=now))
    story = Note.info(f"ending hangup_by={by} cause={cause} dialstatus={flow.dialstatus}")
    # A party whose hangup Asterisk announced (ChannelHangupRequest: it hung up, or was hung up) is
    # going already: asked again, Asterisk would only do nothing, one request a call.
    return flow, (story, *(Hangup(leg, cause) for leg in sorted(flow.legs - flow.hanging_up)))
