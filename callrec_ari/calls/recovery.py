"""Step 7 and the executor's own news (calls/flow.py): adoption after a restart, an action that
failed, the executor shutting down. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from callrec_ari.calls.actions import (
    ActionFailed,
    AddToBridge,
    AsteriskGone,
    CancelRoll,
    Hangup,
    Note,
    Originate,
    ScheduleRoll,
    ScheduleStop,
    StartMedia,
    StopMedia,
    Unmute,
)
from callrec_ari.calls.flow_state import CallSetup, Flow
from callrec_ari.calls.state import CallState
from callrec_ari.calls.steps import Actions, end, next_segment, noted, notice_failed, play_notice, talk
from callrec_ari.rules import causes
from callrec_ari.rules.segments import OVERLAP_S, RollReason, roll_delay

S = CallState


# ---- 7: adoption after a restart ----------------------------------------------------------------------
def resume(setup: CallSetup, flow: Flow, now: datetime, bridged: bool = True) -> tuple[Flow, Actions]:
    live = [s.name for s in flow.segments if s.live]
    actions: Actions = (Note.info(f"adopted in state {flow.phase}: legs={sorted(flow.legs)} "
                                  f"segments live={live}"),)
    if flow.phase is S.ENDING:
        # Killed while ending: the hangups the dead executor asked for may never have reached Asterisk
        # (it was slow, or the app died first). Ask again, or the legs left would be up for good.
        cause = flow.end_cause or causes.NORMAL_CLEARING
        return flow, (*actions, *(Hangup(leg, cause) for leg in sorted(flow.legs)))
    parties = {setup.legs.caller, setup.legs.callee}
    if not parties <= flow.legs or flow.phase not in (S.NOTICE, S.TALKING):
        # Not connected yet, or a leg is already gone: end it cleanly (cause 41, temporary failure).
        flow, ending = end(flow, "app", causes.TEMPORARY_FAILURE, now)
        return flow, actions + ending
    if flow.phase is S.NOTICE and not flow.playbacks:
        flow, talking = talk(setup, flow, now)
        actions += talking
    elif flow.phase is S.TALKING:
        # The talk's requests were journaled before they were sent (calls/session.py): the app may have
        # died in between. An unmute twice does nothing, so both parties are unmuted whether or not this
        # call muted the other (steps.callee_muted; a call of an earlier version did); the bridge is
        # asked for only when Asterisk did not have both parties in it (steps.bridged_before_notice).
        pair = (setup.legs.caller, setup.legs.callee)
        actions += tuple(Unmute(leg) for leg in pair) if setup.plan.record else ()
        actions += () if bridged else (AddToBridge(setup.legs.bridge, pair),)
    running = next((s for s in reversed(flow.segments) if s.live), None)
    if running is not None:
        # Killed during an overlap: the older segment's stop was the dead executor's timer.
        older = tuple(ScheduleStop(s.name, OVERLAP_S) for s in flow.segments if s.live and s is not running)
        return flow, (*actions, *older, ScheduleRoll(roll_delay(setup.roll_seconds, RollReason.ADOPTED,
                                                                  running.started_at, now)))
    if setup.plan.record and setup.files:
        # The recorder did not survive: start a new segment rather than lose the rest of the call.
        flow, record = next_segment(setup, flow)
        actions += record
    return flow, actions


def asterisk_gone(flow: Flow, gone: AsteriskGone) -> tuple[Flow, Actions]:
    """Asterisk's process is gone (app/__init__.py watches for it) and the call with it: nothing of
    it is left to hang up, stop or wait for. It ended when Asterisk went, not when the app noticed
    (no downtime is billed); what was recorded up to then is handed over, as after a restart."""
    story = Note.error(f"Asterisk gone since {gone.since.isoformat(timespec='seconds')}: "
                       f"the call ended with it (in state {flow.phase})")
    flow = replace(flow, legs=frozenset(), playbacks=frozenset(), hanging_up=frozenset(),
                   segments=tuple(replace(s, live=False) for s in flow.segments))
    flow, ending = end(flow, "app", causes.TEMPORARY_FAILURE, max(gone.since, flow.times.started))
    return flow, (story, CancelRoll(), *ending)


# ---- failures and the end of the executor ----------------------------------------------------------------
def failed(setup: CallSetup, flow: Flow, failure: ActionFailed, now: datetime) -> tuple[Flow, Actions]:
    flow = _forget_undone(flow, (failure.action, *failure.skipped))
    match failure.action:
        case Originate():
            # No contact for the endpoint (an unregistered line), or no route: the other party is
            # unreachable, which the caller hears as such (cause 20 -> SIP 480).
            story = Note.warning(f"callee {setup.plan.callee_endpoint} unreachable: {failure.error}")
            flow, ending = end(flow, "app", causes.SUBSCRIBER_ABSENT, now)
            return flow, (story, *ending)
        case StartMedia(kind="recording") if flow.phase is S.CONNECTING:
            # Sent with the answer's other preparations; a bridge made before the notice came after it
            # and is not made yet (it is in failure.skipped).
            flow = replace(flow, recording_failed=True)
            flow, notice = play_notice(setup, flow, now)
            why = Note.error(f"recording could not start: {failure.error}")
            return flow, (why, *failure.skipped, *notice)
        case StartMedia(kind="recording") if failure.not_found:
            # The leg to record is gone: the call is ending (its hangup is on its way), the roll raced
            # it. Nothing failed; the running segment ends with the call.
            return flow, (Note.info(f"next segment not started, the call is ending: {failure.error}"),)
        case StartMedia(kind="recording"):
            # Keep the running segment going rather than lose audio; try again a period later.
            flow = replace(flow, recording_failed=True)
            return flow, (Note.error(f"next segment could not start: {failure.error}"),
                          ScheduleRoll(roll_delay(setup.roll_seconds, RollReason.RETRY)))
        case StartMedia(kind="notice", media_id=media_id) if not failure.not_found and flow.phase is S.NOTICE:
            # The parties must not be left muted in silence: connect them, unrecorded.
            flow = noted(setup, flow, media_id, outcome="failed")
            return notice_failed(setup, flow, f"notice could not play: {failure.error}", now)
        case StartMedia(kind="stream"):
            # That contract's stream part has logged and counted the loss; the call goes on, and so
            # does whatever followed in the batch (another contract's stream).
            later = {a.media_id for a in failure.skipped if isinstance(a, StartMedia) and a.kind == "stream"}
            return replace(flow, legs=flow.legs | later), failure.skipped
    if failure.not_found and any(isinstance(a, Originate) for a in failure.skipped):
        # The caller left before the call could start.
        flow, ending = end(replace(flow, legs=flow.legs - {setup.legs.caller}), "caller",
                         causes.NORMAL_CLEARING, now)
        return flow, (Note.info(f"caller gone before the call could start: {failure.error}"), *ending)
    if flow.phase in (S.ENDING, S.ENDED):
        return replace(flow, aborted=True), (Note.error(f"while ending: {failure.error}"),)
    flow, ending = end(flow, "app", causes.NORMAL_CLEARING, now)
    if failure.not_found:  # a leg vanished between an event and our request: the call is ending
        return flow, (Note.info(f"{failure.error} while {flow.phase}: leg gone"), *ending)
    return replace(flow, aborted=True), (Note.error(f"failed: {failure.error}"), *ending)


def _forget_undone(flow: Flow, undone: Actions) -> Flow:
    """What the failed and skipped actions would have created does not exist."""
    channels = {a.channel for a in undone if isinstance(a, Originate)}
    channels |= {a.media_id for a in undone if isinstance(a, StartMedia) and a.kind == "stream"}
    playbacks = {a.media_id for a in undone if isinstance(a, StartMedia) and a.kind == "notice"}
    segments = {a.media_id for a in undone if isinstance(a, StartMedia) and a.kind == "recording"}
    return replace(flow, legs=flow.legs - channels, playbacks=flow.playbacks - playbacks, segments=tuple(
        replace(s, live=False, failed=True) if s.name in segments else s for s in flow.segments))


def shutdown(setup: CallSetup, flow: Flow, now: datetime) -> tuple[Flow, Actions]:
    flow, ending = end(flow, "app", causes.NORMAL_CLEARING, now)
    stops: Actions = (CancelRoll(), *(StopMedia("recording", s.name) for s in flow.segments if s.live))
    stops += tuple(StopMedia("stream", stream, f"hangup-{flow.hangup_by}") for stream in setup.streams)
    return flow, ending + stops
