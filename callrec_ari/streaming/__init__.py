"""Stream delivery (R1.4): the call's audio in real time to the customer equipment.

The call flow adds an externalMedia channel (RTP/UDP) to the call bridge; this package builds the
metadata that tells the customer which call the RTP carries and sends the signed start / heartbeat /
end notifications (docs/stream-protocol.md).
"""

from callrec_ari.streaming.metadata import (
    InvalidStreamMetadata,
    StreamMetadata,
    build_metadata,
    parse_metadata,
)
from callrec_ari.streaming.notify import REJECTED, UNREACHABLE, NotifierCounters, NotifyResult, StreamNotifier
from callrec_ari.streaming.settings import StreamConfigError, StreamSettings, load_stream_settings

__all__ = [
    "REJECTED",
    "UNREACHABLE",
    "InvalidStreamMetadata",
    "NotifierCounters",
    "NotifyResult",
    "StreamConfigError",
    "StreamMetadata",
    "StreamNotifier",
    "StreamSettings",
    "build_metadata",
    "load_stream_settings",
    "parse_metadata",
]
