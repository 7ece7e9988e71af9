"""Stream delivery for one call (R1.4): an externalMedia channel on the call's bridge, sending the
call's audio to the customer, announced and kept alive by signed notifications.

Two transports (``StreamSettings.transport``):

- ``rtp``: RTP over UDP to the customer's host:port. The channel is up as soon as ARI answers.
- ``websocket`` (Asterisk 22.6+, chan_websocket): ARI ``externalMedia`` with ``transport=websocket``,
  ``connection_type=client`` and ``external_host`` = the id of a ``websocket_client.conf`` entry, whose
  URI is the customer's server. Asterisk connects to it when it dials the channel (in a thread of its
  own, after ARI answered), sends ``MEDIA_START`` (JSON control messages, ``f(json)``) naming the
  channel id, then the audio as binary messages. The channel enters our application only once
  connected, so :meth:`StreamTap.begin` waits for that, bounded by ``websocket_ready_seconds``; when
  the connection fails Asterisk hangs the channel up and the call goes on unstreamed.

Nothing is written on the platform. When the customer is down the audio is dropped, the loss is
logged and counted, and the call goes on untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriConflict, AriError, AriNotFound, AriUnprocessable
from callrec_ari.ari.events import Channel
from callrec_ari.model.plan import CallPlan, Recipient
from callrec_ari.net.destinations import resolve_checked
from callrec_ari.observability.metrics import STREAM_LOSSES
from callrec_ari.rules import media_credentials
from callrec_ari.rules.destinations import REFUSED, DestinationRefused
from callrec_ari.rules.manifest import NoticeEntry
from callrec_ari.streaming.metadata import StreamMetadata, build_metadata
from callrec_ari.streaming.notify import UNREACHABLE, StreamNotifier
from callrec_ari.streaming.settings import StreamConfigError, StreamSettings, for_connection

log = logging.getLogger(__name__)

READY_POLL_SECONDS = 0.01
# chan_websocket options appended to the dial string (ARI ``transport_data``): JSON control messages,
# so that MEDIA_START carries the channel variables (our call metadata) and parses unambiguously;
# then ``v(…)``, the call's media credentials as URI parameters (rules/media_credentials.py).
WEBSOCKET_TRANSPORT_DATA = "f(json)"


class StreamTap:
    def __init__(self, ari: AriClient, settings: StreamSettings, plan: CallPlan, bridge_id: str,
                 line: str | None = None, channel_id: str | None = None) -> None:
        self.ari = ari
        self.settings = settings
        self.plan = plan
        self.bridge_id = bridge_id
        # Whose stream this is: the recording line of the contract it goes to (R1.5).
        self.line = line or (plan.caller_number if plan.direction == "outgoing" else plan.callee_number)
        self.channel_id = channel_id or f"{plan.call_id}-stream"
        self.started_at: datetime | None = None
        self.notices: tuple[NoticeEntry, ...] = ()  # what the parties heard before the stream
        self._notifier: StreamNotifier | None = None
        self._heartbeats: asyncio.Task[None] | None = None
        self._credentials: media_credentials.MediaCredentials | None = None

    def _metadata(self, started_at: datetime, rtp_source: str = "") -> StreamMetadata:
        return build_metadata(
            notices=self.notices,
            call_id=self.plan.call_id,
            line=self.line,
            caller="" if self.plan.caller_withheld else self.plan.caller_number,
            callee=self.plan.callee_number, direction=self.plan.direction, started_at=started_at,
            rtp_source=rtp_source, channel_id=self.channel_id, settings=self.settings,
            media_nonce=self._credentials.nonce if self._credentials is not None else "",
        )

    @property
    def destination(self) -> str:
        if self.settings.transport == "websocket":
            return f"websocket connection {self.settings.websocket_connection!r}"
        return self.settings.external_host

    async def begin(self, started_at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> bool:
        """Create the externalMedia channel, join it to the bridge, announce the stream. The channel id
        must be claimed by the caller first (its events belong to the call). False: no stream (the
        loss is logged and counted); the channel, if it was created, is gone or going."""
        self.started_at = started_at
        self.notices = notices
        if self.settings.transport == "websocket":
            # Per-call credentials in the URL Asterisk connects to; their nonce is in the signed start.
            self._credentials = media_credentials.issue(self.settings.secret, self.channel_id, time.time())
            meta = self._metadata(started_at)
            if not await self._begin_websocket():
                return False
            source = self.channel_id
        else:
            try:
                await resolve_checked(self.settings.rtp_host, self.settings.rtp_port, self.settings.networks)
            except DestinationRefused as exc:
                return self._failed(REFUSED, str(exc))
            except OSError as exc:  # the name does not resolve
                return self._failed(UNREACHABLE, f"{self.settings.rtp_host}: {exc}")
            try:
                channel = await self._external_media({
                    "external_host": self.settings.external_host, "encapsulation": "rtp",
                    "transport": "udp", "direction": "both"})
            except AriError as exc:
                return self._failed("stream-channel-failed", str(exc))
            if not await self._join_when_ready():
                return False
            variables = channel.variables if channel is not None else {}
            address = variables.get("UNICASTRTP_LOCAL_ADDRESS", "")
            port = variables.get("UNICASTRTP_LOCAL_PORT", "")
            source = f"{address}:{port}"
            meta = self._metadata(started_at, rtp_source=source)
        self._notifier = await StreamNotifier(self.settings).__aenter__()
        result = await self._notifier.start(meta)
        if not result:
            STREAM_LOSSES.labels(result.error_id or "stream-start-failed").inc()
        self._heartbeats = asyncio.create_task(self._beat(), name=f"stream-heartbeat-{self.plan.call_id}")
        log.info("call=%s streaming over %s to %s from %s (customer %s)", self.plan.call_id,
                 self.settings.transport, self.destination, source,
                 "acknowledged" if result else "NOT reachable")
        return True

    async def resume(self, started_at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        """Take over a stream a previous run of the app started (adopted after a restart): its channel
        is up and bridged and the customer has its start; heartbeats and the end notification go on."""
        self.started_at = started_at
        self.notices = notices
        self._notifier = await StreamNotifier(self.settings).__aenter__()
        self._heartbeats = asyncio.create_task(self._beat(), name=f"stream-heartbeat-{self.plan.call_id}")
        log.info("call=%s stream %s to %s taken over after a restart", self.plan.call_id, self.channel_id,
                 self.destination)

    async def _external_media(self, params: dict[str, str]) -> Channel | None:
        return await self.ari.external_media(self.channel_id, self.settings.format, params,
                                             variables=self._variables())

    def _variables(self) -> dict[str, Any] | None:
        if self.settings.transport != "websocket":
            return None
        # Readable by the customer in MEDIA_START's channel_variables (unsigned: informative only;
        # the signed start notification is what attributes the stream).
        return {"CALLREC_CALL_ID": self.plan.call_id}

    async def _join(self) -> None:
        # The customer must never be heard in the call: nothing it sends enters the bridge.
        await self.ari.mute(self.channel_id, "in")
        await self.ari.add_to_bridge(self.bridge_id, (self.channel_id,))

    async def _begin_websocket(self) -> bool:
        assert self._credentials is not None
        try:
            await self._external_media({
                "external_host": self.settings.websocket_connection, "encapsulation": "none",
                "transport": "websocket", "connection_type": "client",
                "transport_data": WEBSOCKET_TRANSPORT_DATA + self._credentials.dial_option(),
                "direction": "in"})
        except AriError as exc:
            # 400 "external_host must be a valid websocket_client connection id": not configured.
            return self._failed("stream-channel-failed", str(exc))
        # Asterisk connects to the customer in the dial thread; the channel is answered and enters our
        # application only once the WebSocket is up (or is hung up when it cannot connect).
        return await self._join_when_ready()

    async def _join_when_ready(self) -> bool:
        """Mute and bridge the channel as soon as it is in our application. externalMedia answers
        before its dial thread has run: even the RTP channel may not be in Stasis yet (409); the
        WebSocket one only enters once connected to the customer, or is hung up (404) if it cannot."""
        deadline = time.monotonic() + self.settings.websocket_ready_seconds
        began = time.monotonic()
        while True:
            try:
                await self._join()
                break
            except AriNotFound as exc:
                # chan_websocket could not connect (refused, timeout, HTTP error): the channel is gone.
                return self._failed(UNREACHABLE, f"the stream channel is gone: {exc}")
            except (AriConflict, AriUnprocessable) as exc:  # not in our application yet
                if time.monotonic() >= deadline:
                    with contextlib.suppress(AriError):
                        await self.ari.hangup(self.channel_id)
                    websocket = self.settings.transport == "websocket"
                    detail = f"not up within {self.settings.websocket_ready_seconds:.1f}s: {exc}"
                    return self._failed(UNREACHABLE if websocket else "stream-channel-failed", detail)
                await asyncio.sleep(READY_POLL_SECONDS)
            except AriError as exc:
                with contextlib.suppress(AriError):
                    await self.ari.hangup(self.channel_id)
                return self._failed("stream-channel-failed", str(exc))
        log.info("call=%s stream channel %s up and bridged in %.0f ms", self.plan.call_id, self.channel_id,
                 (time.monotonic() - began) * 1000)
        return True

    def _failed(self, error_id: str, detail: str) -> bool:
        STREAM_LOSSES.labels(error_id).inc()
        log.error("call=%s stream over %s to %s could not start [%s]: %s; the call goes on unstreamed, "
                  "its audio is not kept (R1.4)", self.plan.call_id, self.settings.transport,
                  self.destination, error_id, detail)
        return False

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


def stream_channel_id(call_id: str, n: int) -> str:
    """The n-th stream of a call (1-based): one per contract that delivers by stream."""
    return f"{call_id}-stream" if n == 1 else f"{call_id}-stream-{n}"


def make_tap(ari: AriClient, plan: CallPlan, recipient: Recipient, base: StreamSettings | None,
             bridge_id: str, channel_id: str, allow_destinations: tuple[str, ...] = ()) -> StreamTap | None:
    """The stream of one contract that delivers by stream (R1.5): its own connection (endpoint and
    format) over the ``[stream]`` defaults, which alone serve a single-tenant setup. None, logged and
    counted, when it cannot be set up: the call goes on, that contract's audio is not kept (R1.4)."""
    settings = base if recipient.single_tenant else None
    if recipient.stream_endpoint:
        try:
            settings = for_connection(base or StreamSettings(), recipient.stream_endpoint,
                                      recipient.stream_secret, recipient.stream_legacy_signature)
        except StreamConfigError as exc:
            STREAM_LOSSES.labels(exc.error_id).inc()
            log.error("call=%s stream connection of contract %s unusable: %s; not streamed",
                      plan.call_id, recipient.contract or "-", exc)
            return None
    if settings is None:
        STREAM_LOSSES.labels("stream-no-connection").inc()
        log.error("call=%s line %s delivers by stream but has no stream connection; not streamed",
                  plan.call_id, recipient.line)
        return None
    if allow_destinations:  # the operator's list ([delivery] allow_destinations) adds to [stream]'s
        settings = replace(settings, allow_destinations=settings.allow_destinations + allow_destinations)
    return StreamTap(ari, settings, plan, bridge_id, line=recipient.line, channel_id=channel_id)
