"""The media parts of a call, each behind :class:`callrec_ari.model.media.MediaPart`:

- :mod:`~callrec_ari.media.notice`: the notice and tone (R2.1-R2.3), on the bridge or per channel;
- :mod:`~callrec_ari.media.recorder`: the recording engine, one Asterisk recording per segment (R1.2);
- :mod:`~callrec_ari.media.stream`: stream delivery (R1.4), over ``streaming.tap``.

:func:`parts_for_call` builds the parts one call needs.
"""

from __future__ import annotations

from callrec_ari.ari.client import AriClient
from callrec_ari.media.notice import NoticePlayer
from callrec_ari.media.recorder import BridgeRecorder
from callrec_ari.media.stream import StreamPart
from callrec_ari.model.media import CallLegs, MediaKind, MediaPart
from callrec_ari.model.plan import CallPlan
from callrec_ari.streaming.settings import StreamSettings
from callrec_ari.streaming.tap import make_tap


def parts_for_call(ari: AriClient, plan: CallPlan, legs: CallLegs, recording_format: str,
                   stream_settings: StreamSettings | None) -> dict[MediaKind, MediaPart]:
    """The notice and recorder always; the stream only when the call records by stream delivery and
    its connection is usable (otherwise the call is recorded to file, as before)."""
    parts: dict[MediaKind, MediaPart] = {
        "notice": NoticePlayer(ari, plan, legs),
        "recording": BridgeRecorder(ari, legs.bridge, recording_format),
    }
    tap = make_tap(ari, plan, stream_settings, legs.bridge) if plan.record else None
    if tap is not None:
        parts["stream"] = StreamPart(tap)
    return parts


__all__ = ["BridgeRecorder", "NoticePlayer", "StreamPart", "parts_for_call"]
