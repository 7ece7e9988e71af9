"""Stream delivery for one call (R1.4): an externalMedia channel on the call's bridge, sending the
call's audio as RTP to the customer, announced and kept alive by signed notifications.

Nothing is written on the platform. When the customer is down the audio is dropped, the loss is
logged and counted, and the call goes on untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError
from callrec_ari.calls.plan import CallPlan
from callrec_ari.observability.metrics import STREAM_LOSSES
from callrec_ari.streaming.metadata import build_metadata
from callrec_ari.streaming.notify import StreamNotifier
from callrec_ari.streaming.settings import StreamSettings

log = logging.getLogger(__name__)


class StreamTap:
    def __init__(self, ari: AriClient, settings: StreamSettings, plan: CallPlan, bridge_id: str) -> None:
        self.ari = ari
        self.settings = settings
        self.plan = plan
        self.bridge_id = bridge_id
        self.channel_id = f"{plan.call_id}-stream"
        self.started_at: datetime | None = None
        self._notifier: StreamNotifier | None = None
        self._heartbeats: asyncio.Task[None] | None = None

    async def begin(self, started_at: datetime) -> bool:
        """Create the externalMedia channel, join it to the bridge, announce the stream. The channel id
        must be claimed by the caller first (its events belong to the call)."""
        self.started_at = started_at
        try:
            channel = await self.ari.request("POST", "/channels/externalMedia", {
                "channelId": self.channel_id, "app": self.ari.settings.app,
                "external_host": self.settings.external_host, "format": self.settings.format,
                "encapsulation": "rtp", "transport": "udp", "direction": "both",
            })
            # The customer must never be heard in the call: nothing it sends enters the bridge.
            await self.ari.mute(self.channel_id, "in")
            await self.ari.add_to_bridge(self.bridge_id, (self.channel_id,))
        except AriError as exc:
            STREAM_LOSSES.labels("stream-channel-failed").inc()
            log.error("call=%s stream channel could not start: %s; the call goes on unstreamed",
                      self.plan.call_id, exc)
            return False
        variables = (channel or {}).get("channelvars") or {}
        address = variables.get("UNICASTRTP_LOCAL_ADDRESS", "")
        port = variables.get("UNICASTRTP_LOCAL_PORT", "")
        source = f"{address}:{port}"
        meta = build_metadata(
            call_id=self.plan.call_id,
            line=self.plan.caller_number if self.plan.direction == "outgoing" else self.plan.callee_number,
            caller="" if self.plan.caller_withheld else self.plan.caller_number,
            callee=self.plan.callee_number, direction=self.plan.direction, started_at=started_at,
            rtp_source=source, settings=self.settings,
        )
        self._notifier = await StreamNotifier(self.settings).__aenter__()
        result = await self._notifier.start(meta)
        if not result:
            STREAM_LOSSES.labels(result.error_id or "stream-start-failed").inc()
        self._heartbeats = asyncio.create_task(self._beat(), name=f"stream-heartbeat-{self.plan.call_id}")
        log.info("call=%s streaming to %s from %s (customer %s)", self.plan.call_id,
                 self.settings.external_host, source, "acknowledged" if result else "NOT reachable")
        return True

    async def _beat(self) -> None:
        assert self._notifier is not None
        before = self._notifier.counters.streams_interrupted
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            result = await self._notifier.heartbeat(self.plan.call_id)
            if not result and self._notifier.counters.streams_interrupted > before:
                before = self._notifier.counters.streams_interrupted
                STREAM_LOSSES.labels(result.error_id or "stream-interrupted").inc()

    async def finish(self, reason: str) -> None:
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeats
        if self._notifier is not None:
            await self._notifier.end(self.plan.call_id, reason=reason)
            await self._notifier.__aexit__(None, None, None)
            self._notifier = None
