"""The end of a call's bridge: destroyed whenever it may exist, bounded so that a late Asterisk never
holds the hand-over of what was recorded, and tried again after the hand-over when Asterisk was too
busy to take it down (calls/session.py creates it, calls/manager.py asks for the later tries)."""

from __future__ import annotations

import asyncio
import logging

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError, AriNotFound

log = logging.getLogger(__name__)

RETRY_PAUSES_S = (1.0, 4.0, 10.0)
RETRY_TIMEOUT_S = 10.0


class BridgeTeardown:
    def __init__(self, ari: AriClient, bridge: str, call_id: str, may_exist: bool = False) -> None:
        self.ari = ari
        self.bridge = bridge
        self.call_id = call_id
        self.may_exist = may_exist  # an adopted call's bridge exists; a new call's once it was asked for
        self.left = False  # the call's end could not destroy it: tried again after the hand-over

    def requested(self) -> None:
        """Its creation was asked for: destroyed at the end even if that request fails, since one
        that timed out may still have been carried out by a busy Asterisk (a 404 then is harmless)."""
        self.may_exist = True

    async def at_end(self, timeout: float) -> None:
        if self.may_exist:
            self.left = not await self._destroy(timeout)

    async def later(self) -> None:
        """After the hand-over, a bridge the call's end could not destroy is tried again a few times:
        an empty bridge left in Asterisk belongs to no call (the orphan sweep would find it only a
        minute or so later, calls/reconcile.py)."""
        for pause in RETRY_PAUSES_S:
            await asyncio.sleep(pause)
            if await self._destroy(RETRY_TIMEOUT_S):
                log.info("call=%s bridge destroyed on a later try", self.call_id)
                self.left = False
                return
        log.error("call=%s bridge still not destroyed: left to the orphan sweep", self.call_id)

    async def _destroy(self, timeout: float) -> bool:
        """Whether the bridge is gone (destroyed now, or never there)."""
        try:
            await asyncio.wait_for(self.ari.destroy_bridge(self.bridge), timeout)
        except AriNotFound:
            return True
        except (AriError, TimeoutError) as exc:
            log.warning("call=%s bridge not destroyed: %s", self.call_id, str(exc) or "timed out")
            return False
        return True
