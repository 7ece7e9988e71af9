"""The notice and the tone of one call (R2.1-R2.3), as a media part.

Which sounds play where (on the bridge, or per channel) and in which order is the plan's
(:func:`callrec_ari.model.plan.notice_playbacks`); this part plays the one the flow names.
"""

from __future__ import annotations

import logging
from datetime import datetime

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriNotFound
from callrec_ari.model.media import CallLegs
from callrec_ari.model.plan import CallPlan, notice_playbacks
from callrec_ari.rules.manifest import NoticeEntry

log = logging.getLogger(__name__)


class NoticePlayer:
    def __init__(self, ari: AriClient, plan: CallPlan, legs: CallLegs) -> None:
        self.ari = ari
        self.plan = plan
        self.legs = legs
        self._playbacks = {p.id: p for p in notice_playbacks(plan)}

    def channels(self, media_id: str) -> tuple[str, ...]:
        return ()

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        playback = self._playbacks[media_id]
        if playback.target == "bridge":
            await self.ari.play_on_bridge(self.legs.bridge, (playback.media,), playback.id)
        else:
            leg = self.legs.caller if playback.target == "caller" else self.legs.callee
            await self.ari.play_on_channel(leg, (playback.media,), playback.id)
        log.info("call=%s notice %s started to %s: %s", self.plan.call_id, playback.id, playback.target,
                 playback.media)

    async def stop(self, media_id: str, reason: str) -> None:
        try:
            await self.ari.stop_playback(media_id)
        except AriNotFound:
            pass
