"""What the call flow is told (inputs) and what it asks for (actions): plain frozen data.

Inputs are Asterisk's events (:class:`~callrec_ari.ari.events.AriEvent`) and the executor's own:
the call begins or is resumed, a segment is due, an action failed, the executor shuts down. Actions
are performed by the executor (calls/session.py) in order; when one fails, the rest of its batch is
skipped and the flow hears :class:`ActionFailed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from callrec_ari.ari.events import AriEvent
from callrec_ari.model.media import MediaKind, RecordingVoid

# ---- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Begin:
    """The caller's channel is ours and the call is planned: start it."""


@dataclass(frozen=True, slots=True)
class Resume:
    """A restarted app adopted this call from its journal (calls/reconcile.py): carry on."""

    bridged: bool = True  # whether Asterisk had both parties in the call's bridge at adoption


@dataclass(frozen=True, slots=True)
class SegmentDue:
    """The executor's timer: the next recording segment is due (R1.2)."""


@dataclass(frozen=True, slots=True)
class StopDue:
    """The executor's timer: segment ``name`` has overlapped the next one long enough (R1.2)."""

    name: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The executor is leaving its loop (the call is over, or the app stops): end and clean up."""


@dataclass(frozen=True, slots=True)
class Closed:
    """Cleanup is over: nothing of the call is left in Asterisk."""


@dataclass(frozen=True, slots=True)
class AsteriskGone:
    """Asterisk has refused every connection for a while (its process is gone, and every channel,
    bridge and recording with it), since ``since``: the app's last contact with it."""

    since: datetime


# ---- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mute:
    channel: str  # inbound audio of this channel reaches nobody (R2.6)


@dataclass(frozen=True, slots=True)
class Unmute:
    channel: str


@dataclass(frozen=True, slots=True)
class Ring:
    channel: str  # the caller hears ringing


@dataclass(frozen=True, slots=True)
class Answer:
    channel: str


@dataclass(frozen=True, slots=True)
class CreateBridge:
    bridge: str
    name: str


@dataclass(frozen=True, slots=True)
class Originate:
    """Create the other party's channel in our application, without dialling it yet."""

    channel: str
    endpoint: str
    app_args: tuple[str, ...]
    caller_id: str | None
    withheld: bool


@dataclass(frozen=True, slots=True)
class Dial:
    channel: str
    timeout: int


@dataclass(frozen=True, slots=True)
class AddToBridge:
    bridge: str
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Hangup:
    channel: str
    cause: int


@dataclass(frozen=True, slots=True)
class StartMedia:
    kind: MediaKind
    media_id: str


@dataclass(frozen=True, slots=True)
class StopMedia:
    kind: MediaKind
    media_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ScheduleRoll:
    """Queue :class:`SegmentDue` in ``seconds`` (replacing any roll already scheduled)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class ScheduleStop:
    """Queue :class:`StopDue` for segment ``name`` in ``seconds``."""

    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelRoll:
    pass


@dataclass(frozen=True, slots=True)
class Note:
    """A line of the event log that tells the call's story (the executor adds the call id); ``event``:
    the ARI event it stands for, where its own line is not logged (LOGGED_EVENTS)."""

    level: int
    text: str
    event: str = ""

    @classmethod
    def info(cls, text: str, event: str = "") -> Note:
        return cls(logging.INFO, text, event)

    @classmethod
    def warning(cls, text: str) -> Note:
        return cls(logging.WARNING, text)

    @classmethod
    def error(cls, text: str, event: str = "") -> Note:
        return cls(logging.ERROR, text, event)


Action = (Mute | Unmute | Ring | Answer | CreateBridge | Originate | Dial | AddToBridge | Hangup
          | StartMedia | StopMedia | ScheduleRoll | ScheduleStop | CancelRoll | Note)

# What the executor does itself (logs, timers): not timed as a step Asterisk carries out.
LOCAL_ACTIONS = (Note, ScheduleRoll, ScheduleStop, CancelRoll)


def action_label(action: Action) -> str:
    """The action's name in metrics (callrec_call_action_seconds): its type, and the media's kind."""
    if isinstance(action, StartMedia | StopMedia):
        return f"{type(action).__name__}:{action.kind}"
    return type(action).__name__


# Actions whose target may already be gone without it mattering: the executor ignores "not found".
TOLERATES_GONE = (Hangup, StopMedia)


def together(actions: tuple[Action, ...], start: int,
             target_of: Callable[[str], str] | None) -> tuple[Action, ...]:
    """The actions from ``start`` that the executor sends to Asterisk at once: the notice's playbacks
    of different targets (each party's leg, ``target_of`` a playback's id), one per target, so that
    both parties' notices start together (one after the other, the second party's started a request
    later, and the talk waited for it); the next sound of a target only once its first was accepted
    (Asterisk queues a channel's playbacks in the order they come). The answer's preparations
    together too (``_preparations``). Everything else, one by one."""
    preparations = _preparations(actions, start)
    if len(preparations) > 1:
        return preparations
    if target_of is None:
        return actions[start:start + 1]
    batch: list[Action] = []
    targets: set[str] = set()
    for action in actions[start:]:
        if not (isinstance(action, StartMedia) and action.kind == "notice"):
            break
        target = target_of(action.media_id)
        if target in targets:
            break
        targets.add(target)
        batch.append(action)
    return tuple(batch) or actions[start:start + 1]


def _preparations(actions: tuple[Action, ...], start: int) -> tuple[Action, ...]:
    """From ``start``, the (un)mutes, answers and recorders' starts of different legs and recordings:
    none depends on another, so Asterisk carries them out at once. At answer the other party's mute,
    the caller's answer and the recorder's start (a bridge made before the notice follows them:
    calls/steps.py ``answered``); at the talk, the parties' unmutes and, when they were kept apart
    during the notice, their bridge: unmuted then bridged or bridged then unmuted, they hear each
    other once both are done, after the tone either way."""
    batch: list[Action] = []
    touched: set[str] = set()
    for action in actions[start:]:
        match action:
            case Mute(channel=key) | Unmute(channel=key) | Answer(channel=key):
                pass
            case StartMedia(kind="recording", media_id=key):
                pass
            case AddToBridge(bridge=key, channels=channels) if batch and all(
                    isinstance(a, Unmute) for a in batch) and touched <= set(channels):
                pass
            case _:
                break
        if key in touched:
            break
        touched.add(key)
        batch.append(action)
    return tuple(batch)


@dataclass(frozen=True, slots=True)
class ActionFailed:
    """An action failed: ``skipped`` are the actions of the same batch that were not performed."""

    action: Action
    error: str
    not_found: bool  # the resource is gone (ARI 404): a leg hung up meanwhile
    skipped: tuple[Action, ...] = ()


Input = (AriEvent | Begin | Resume | SegmentDue | StopDue | ActionFailed | Shutdown | Closed | AsteriskGone
         | RecordingVoid)

# The ARI events that tell a call's story in the event log (the rest only at DEBUG).
STORY_EVENTS = frozenset({
    "StasisStart", "StasisEnd", "Dial", "ChannelHangupRequest", "ChannelDestroyed", "RecordingStarted",
    "RecordingFinished", "RecordingFailed", "PlaybackStarted", "PlaybackFinished",
})
# Of those, the events logged at INFO as they come ("call=<id> ari <type>"): the milestones an
# operator follows a call by. A notice's start has its own line ("notice to caller: ..."), a leg's end
# is its StasisEnd, a recording's start and end the flow's own lines ("recording started name=...",
# which carry the event's name), and a Dial only when it ends (answered, busy...): the ringing and
# progress on the way are no milestone (calls/story.py, with the rest of what is left out).
LOGGED_EVENTS = STORY_EVENTS - {"PlaybackStarted", "ChannelDestroyed", "RecordingStarted",
                                "RecordingFinished", "RecordingFailed"}
DIAL_UNDER_WAY = frozenset({"", "RINGING", "PROGRESS"})
# Every event the app reads (calls/steps.py, calls/manager.py, ari/stream.py). Asterisk is asked to
# send our application only these (AriClient.set_event_filter, on each connection): the chatter (a
# ChannelVarset per variable, dialplan steps, bridge membership, connected line...) is then neither
# sent by Asterisk nor decoded by the app. A step that reads a new event type adds it here.
# The other party's answer is its Dial ANSWER, not its ChannelStateChange to Up: the two come in the
# same millisecond (every transcript in tests/transcripts/), and the state changes were three events
# per call that only this one was read of.
CONSUMED_EVENTS = STORY_EVENTS | {"ApplicationReplaced"}
