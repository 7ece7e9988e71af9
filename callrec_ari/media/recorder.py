"""The recording engine: the call's bridge recorded by Asterisk, one recording per segment (R1.2).

Asterisk joins a recorder channel to the bridge and writes ``<name>.<format>`` in its recording
directory; RecordingStarted / RecordingFinished carry the name back to the call.
"""

from __future__ import annotations

from datetime import datetime

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriNotFound
from callrec_ari.rules.manifest import NoticeEntry


class BridgeRecorder:
    def __init__(self, ari: AriClient, bridge_id: str, fmt: str) -> None:
        self.ari = ari
        self.bridge_id = bridge_id
        self.fmt = fmt

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        await self.ari.record_bridge(self.bridge_id, media_id, self.fmt)

    async def stop(self, media_id: str, reason: str) -> None:
        try:
            await self.ari.stop_recording(media_id)
        except AriNotFound:
            pass  # already over (the bridge went, or it finished on its own)
