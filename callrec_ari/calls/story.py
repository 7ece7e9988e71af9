"""Which ARI events tell a call's story in the event log, at INFO (the rest only at DEBUG): the
milestones an operator follows a call by, one line per moment, and no formatted line per event when
busy (calls/actions.py LOGGED_EVENTS). Pure: the call's state as the event finds it."""

from __future__ import annotations

from collections.abc import Collection

from callrec_ari.ari.events import AriEvent
from callrec_ari.calls.actions import DIAL_UNDER_WAY, LOGGED_EVENTS
from callrec_ari.calls.flow_state import Flow
from callrec_ari.calls.state import CallState

ENDED = (CallState.ENDING, CallState.ENDED)


def in_story(event: AriEvent, flow: Flow, caller: str, recorder_channels: Collection[str]) -> bool:
    """``event``'s line at INFO? ``flow`` as the event finds it, ``caller`` the caller's leg, and
    ``recorder_channels`` the recorders' own channels (a snoop coming and going is no part of it)."""
    if event.type not in LOGGED_EVENTS:
        return False
    if (event.channel_ids and not event.recording_name and not event.playback_id
            and all(c in recorder_channels for c in event.channel_ids)):
        return False
    match event.type:
        case "Dial":  # when it ends (answered, busy...): the ringing and progress are no milestone
            return (event.dialstatus or "") not in DIAL_UNDER_WAY
        case "PlaybackFinished":
            # The notice's end: its last sound, or a sound that failed (each, with its state); its
            # start is one line naming every sound (calls/steps.py notice_story).
            return event.playback_failed or flow.playbacks <= {event.playback_id}
        case "ChannelHangupRequest" | "StasisEnd":
            # A leg going before the call ends, and the caller's leg leaving; once the call ends
            # ("ending ... hangup_by"), the rest is the app's own cleanup, told by "ended".
            return flow.phase not in ENDED or (event.type == "StasisEnd" and caller in event.channel_ids)
    return True
