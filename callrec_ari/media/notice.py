"""The notice and the tone of one call (R2.1-R2.3), as a media part.

Which sounds play where (on the bridge, or per channel) and in which order is the plan's
(:func:`callrec_ari.model.plan.notice_playbacks`); this part plays the one the flow names.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriNotFound, AriServerError
from callrec_ari.model.media import CallLegs
from callrec_ari.model.plan import CallPlan, NoticePlayback, notice_playbacks
from callrec_ari.rules.manifest import NoticeEntry

log = logging.getLogger(__name__)
RETRY_DELAY_S = 0.05


class NoticePlayer:
    def __init__(self, ari: AriClient, plan: CallPlan, legs: CallLegs) -> None:
        self.ari = ari
        self.plan = plan
        self.legs = legs
        self._playbacks = {p.id: p for p in notice_playbacks(plan)}

    def channels(self, media_id: str) -> tuple[str, ...]:
        return ()

    def target_of(self, media_id: str) -> str:
        """Where this playback plays ("bridge", "caller", "callee"); "" for none of ours."""
        playback = self._playbacks.get(media_id)
        return playback.target if playback is not None else ""

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        playback = self._playbacks[media_id]
        try:
            await self._play(playback)
        except AriServerError as exc:
            # Under load Asterisk 22 sometimes answers a bridge playback 500 "Allocation failed" (its
            # announcer channel; seen in `make soak` at 5.6 calls/s). Once more, a moment later,
            # before the call goes on unrecorded for want of its notice (R2.1).
            log.warning("call=%s notice %s: %s; trying once more", self.plan.call_id, playback.id, exc)
            await asyncio.sleep(RETRY_DELAY_S)
            await self._play(playback)
        # (at DEBUG: the notice's one line at INFO names every sound, calls/steps.py notice_story)
        log.debug("call=%s notice %s started to %s: %s", self.plan.call_id, playback.id, playback.target,
                  playback.media)

    async def _play(self, playback: NoticePlayback) -> None:
        if playback.target == "bridge":
            await self.ari.play_on_bridge(self.legs.bridge, (playback.media,), playback.id)
        else:
            leg = self.legs.caller if playback.target == "caller" else self.legs.callee
            await self.ari.play_on_channel(leg, (playback.media,), playback.id)

    async def stop(self, media_id: str, reason: str) -> None:
        try:
            await self.ari.stop_playback(media_id)
        except AriNotFound:
            pass
