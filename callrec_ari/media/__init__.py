"""The media parts of a call, each behind :class:`callrec_ari.model.media.MediaPart`:

- :mod:`~callrec_ari.media.notice`: the notice and tone (R2.1-R2.3), on the bridge or per channel;
- :mod:`~callrec_ari.media.recorder`: the recording engine, one Asterisk recording per segment (R1.2);
- :mod:`~callrec_ari.media.stream`: stream delivery (R1.4), over ``streaming.tap``.

:func:`parts_for_call` builds the parts one call needs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from callrec_ari.ami.client import AmiClient
from callrec_ari.ari.arrivals import StasisArrivals
from callrec_ari.ari.client import AriClient
from callrec_ari.ari.events import AriEvent
from callrec_ari.media.fallback import ManagerHealth, MixMonitorOrSnoop
from callrec_ari.media.mixmonitor import MixMonitorRecorder
from callrec_ari.media.notice import NoticePlayer
from callrec_ari.media.recorder import ENGINES, BridgeRecorder, PerLegRecorder, RecordingEngine, SnoopRecorder
from callrec_ari.media.stream import StreamPart
from callrec_ari.model.media import CallLegs, MediaKind, MediaPart, RecordingVoid
from callrec_ari.model.plan import CallPlan
from callrec_ari.streaming.settings import StreamSettings
from callrec_ari.streaming.tap import make_tap, stream_channel_id


def parts_for_call(ari: AriClient, plan: CallPlan, legs: CallLegs, recording_format: str,
                   stream_settings: StreamSettings | None, engine: RecordingEngine = "bridge",
                   arrivals: StasisArrivals | None = None,
                   allow_destinations: tuple[str, ...] = (), mixmonitor: MixMonitorSeam | None = None,
                   ) -> dict[MediaKind, MediaPart]:
    """The notice and recorder always; one stream per contract that delivers by stream and whose
    connection is usable (the others are logged and counted: nothing of theirs is kept, R1.4)."""
    parts: dict[MediaKind, MediaPart] = {
        "notice": NoticePlayer(ari, plan, legs),
        "recording": recorder_for(ari, plan, legs, recording_format, engine, arrivals, mixmonitor),
    }
    taps = []
    for n, recipient in enumerate(plan.stream_recipients, start=1):
        tap = make_tap(ari, plan, recipient, stream_settings, legs.bridge, stream_channel_id(plan.call_id, n),
                       allow_destinations)
        if tap is not None:
            taps.append(tap)
    if taps:
        parts["stream"] = StreamPart(tuple(taps))
    return parts


class MixMonitorSeam:
    """What the ``mixmonitor`` engine needs beyond ARI: the manager connection, the way to tell the
    call of its recording's start and end (``emit``), Asterisk's recording folder if local, whether
    the manager is worth asking now (``health``: the app's one, shared by its calls), and which calls
    MixMonitor records with ``D``, both directions apart (``directions``: config.py
    ``mixmonitor_directions``; only where the folder is here, to read its raw files in)."""

    def __init__(self, ami: AmiClient, emit: Callable[[AriEvent | RecordingVoid], None],
                 folder: Path | None, health: ManagerHealth | None = None,
                 directions: str = "stereo") -> None:
        self.ami = ami
        self.emit = emit
        self.folder = folder
        self.health = health or ManagerHealth()
        self.directions = directions if folder is not None else "none"


def recorder_for(ari: AriClient, plan: CallPlan, legs: CallLegs, recording_format: str,
                 engine: RecordingEngine, arrivals: StasisArrivals | None,
                 mixmonitor: MixMonitorSeam | None = None) -> MediaPart:
    """The ``snoop`` engine needs to know when its channel is in our application (``arrivals``, fed
    by the event router); without it the bridge is recorded. A plan that needs each leg apart
    (``CallPlan.per_leg``: stereo copies, or a notice per party) is recorded per leg, a snoop channel
    on each, on every engine: the bridge recording and MixMonitor's mix hold neither, and a MixMonitor
    writing one direction of a leg (``t()``) leaves out the time that direction carried no frames
    (measured: the other party's file 0.6 s short before its tone; docs/performance.md). But on the
    ``mixmonitor`` engine a stereo call whose parties hear one notice is recorded by one MixMonitor
    with ``D`` (both directions of the caller's leg side by side: media/mixmonitor.py), per leg where
    it cannot start, and so is every call with ``mixmonitor_directions = "all"``."""
    directions = mixmonitor.directions if engine == "mixmonitor" and mixmonitor is not None else "none"
    if plan.per_leg and arrivals is not None:
        per_leg = PerLegRecorder(ari, legs, plan.call_id, recording_format, arrivals)
        if mixmonitor is not None and directions != "none" and not plan.notice_per_party:
            both = MixMonitorRecorder(mixmonitor.ami, legs, recording_format, mixmonitor.emit,
                                      mixmonitor.folder, interleaved=True)
            return MixMonitorOrSnoop(both, per_leg, mixmonitor.health)
        return per_leg
    if engine == "mixmonitor" and mixmonitor is not None:
        mixed = MixMonitorRecorder(mixmonitor.ami, legs, recording_format, mixmonitor.emit, mixmonitor.folder,
                                   interleaved=directions == "all")
        if arrivals is None:
            return mixed
        # A segment MixMonitor cannot start (the manager away) is recorded by a snoop channel instead.
        return MixMonitorOrSnoop(mixed, SnoopRecorder(ari, legs, plan.call_id, recording_format, arrivals),
                                 mixmonitor.health)
    if engine == "snoop" and arrivals is not None:
        return SnoopRecorder(ari, legs, plan.call_id, recording_format, arrivals)
    return BridgeRecorder(ari, legs.bridge, recording_format)


__all__ = ["ENGINES", "BridgeRecorder", "ManagerHealth", "MixMonitorOrSnoop", "MixMonitorRecorder",
           "MixMonitorSeam", "NoticePlayer", "PerLegRecorder", "SnoopRecorder", "StasisArrivals",
           "StreamPart", "parts_for_call", "recorder_for"]
