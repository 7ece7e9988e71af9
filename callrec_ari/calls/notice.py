"""The notice and the tone of one call (R2.1-R2.3): which playbacks to start, and when they are over.

One playback on the bridge when both parties hear the same notice (it is then in the bridge
recording, sample-exact); one per channel when R2.3 gives them different notices (each party hears
only the other line's notice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from callrec_ari.ari.client import AriClient
from callrec_ari.calls.plan import CallPlan

log = logging.getLogger(__name__)


class NoticePlayer:
    def __init__(self, ari: AriClient, plan: CallPlan, claim: Callable[[str], None]) -> None:
        self.ari = ari
        self.plan = plan
        self._claim = claim
        self.pending: set[str] = set()  # playback ids still playing
        self.failed = False

    def owns(self, playback_id: str | None) -> bool:
        return playback_id in self.pending

    async def start(self, bridge_id: str, caller_id: str, callee_id: str) -> None:
        """Start the playbacks (their ids claimed first: events may beat the answers). AriError on failure."""
        call_id, plan = self.plan.call_id, self.plan
        tone = (plan.tone,) if plan.tone else ()
        if plan.notice_same_for_both:
            playback_id = f"{call_id}-notice"
            self._claim_pending(playback_id)
            await self.ari.play_on_bridge(bridge_id, plan.to_caller + tone, playback_id)
        else:
            legs = (("caller", caller_id, plan.to_caller), ("callee", callee_id, plan.to_callee))
            for role, leg, media in legs:
                playback_id = f"{call_id}-notice-{role}"
                self._claim_pending(playback_id)
                await self.ari.play_on_channel(leg, media + tone, playback_id)
        log.info("call=%s notice started to_caller=%s to_callee=%s", call_id,
                 ",".join(plan.to_caller), ",".join(plan.to_callee))

    def _claim_pending(self, playback_id: str) -> None:
        self.pending.add(playback_id)
        self._claim(playback_id)

    def finished(self, playback_id: str, failed: bool) -> bool:
        """PlaybackFinished: True once every notice playback is over."""
        self.pending.discard(playback_id)
        if failed:
            log.error("call=%s notice playback %s failed", self.plan.call_id, playback_id)
        return not self.pending

    def abandon(self) -> None:
        self.failed = True
        self.pending.clear()
