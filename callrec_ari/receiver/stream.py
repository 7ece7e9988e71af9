"""The reference receiver for stream delivery (docs/stream-protocol.md), the customer's side.

An asyncio UDP listener takes the RTP from Asterisk's externalMedia channels; signed ``start``
notifications on ``POST /streams`` say which call each RTP source (address:port) carries. Packets
from a source not announced yet are held briefly (the notification and the first packets race), then
attached. Each call is written live to ``<dir>/<call_id>.wav.part``: lost packets become silence of
their length (by RTP timestamp), duplicates and packets arriving after their place was written are
dropped. ``end``, or no packet nor notification for ``idle_timeout`` seconds, finalizes it:
``<call_id>.wav`` (8 kHz for ulaw, 16 kHz for slin16, 16-bit mono) and ``<call_id>.json``.

The WebSocket transport (Asterisk's chan_websocket, receiver/stream_media.py) arrives on ``GET /media``: one
connection per call, opened by Asterisk; its first TEXT message, ``MEDIA_START``, names the channel
(``channel_id``), which the ``start`` notification's metadata names too; then BINARY messages carry
the raw audio (µ-law, or 16-bit little-endian linear for slin16), in order, over TCP: no loss, no
reordering, no timestamps. Audio before its ``start`` is held the same way as RTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from callrec_ari.receiver.stream_file import StreamCall, StreamFile, free_stem
from callrec_ari.receiver.stream_media import (
    MAX_PENDING_PACKETS,
    MEDIA_PATH,
    MediaConnection,
    WebSocketMedia,
    now_utc,
    parse_control,
)
from callrec_ari.rules.manifest import format_utc
from callrec_ari.rules.signing import (
    HEADER_SIGNATURE,
    TOLERANCE_SECONDS,
    SignatureError,
    new_mac,
    read_webhook_headers,
    signature_matches,
    webhook_digest,
)
from callrec_ari.rules.stream import (
    FORMATS,
    InvalidRtp,
    RtpPacket,
    decode_payload,
    parse_rtp,
    payload_samples,
    place_packet,
)
from callrec_ari.streaming import protocol
from callrec_ari.streaming.metadata import StreamMetadata

log = logging.getLogger(__name__)

Source = tuple[str, int]
MAX_GAP_SECONDS: Final = 60.0  # a bigger RTP timestamp jump is a restart, not a loss
MAX_PENDING_SOURCES: Final = 256


def normalize(addr: Any) -> Source:
    """A datagram's source as (canonical IP, port); IPv4-mapped IPv6 as plain IPv4."""
    ip = ipaddress.ip_address(addr[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(addr[1])


class StreamReceiver(WebSocketMedia, asyncio.DatagramProtocol):
    def __init__(self, directory: Path, secret: str, idle_timeout: float = 10.0,
                 pending_seconds: float = 3.0, accept_legacy: bool = False,
                 tolerance: float = TOLERANCE_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._secret = secret
        self._accept_legacy = accept_legacy
        self._tolerance = tolerance
        self._clock = clock  # Unix seconds, for the signature's window
        self._seen_ids: dict[str, float] = {}  # webhook-id -> its timestamp: each notification once
        self.idle_timeout = idle_timeout
        self.pending_seconds = pending_seconds
        self.calls: dict[str, StreamCall] = {}  # active, by call id
        self.finished: dict[str, dict[str, Any]] = {}  # call id -> its JSON document (recent ones)
        self._by_source: dict[Source, StreamCall] = {}
        self._by_channel: dict[str, StreamCall] = {}  # websocket: MEDIA_START channel_id -> call
        self._media: dict[str, MediaConnection] = {}  # websocket connections, by channel_id
        self._sockets: set[web.WebSocketResponse] = set()
        self._used_credentials: dict[str, int] = {}
        self.refused_connections = 0
        self._pending: dict[Source, deque[tuple[float, datetime, bytes]]] = {}
        self.unattributed_packets = 0
        # A call's source for a while after its end: the last packets of a stream can follow its end
        # notification. They are held like any others (Asterisk may reuse the port for a call about to
        # be announced); when nobody claims them they are counted as after the end, not warned about.
        self._ended_sources: dict[Source, float] = {}
        self.after_end_packets = 0
        self.invalid_packets = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._janitor: asyncio.Task[None] | None = None

    # -- life cycle ---------------------------------------------------------------------------------
    async def start(self, host: str, port: int | None) -> Source | None:
        """Listen for RTP; returns the bound (host, port) (``port`` 0 picks a free one). ``port`` None:
        no RTP, only the WebSocket transport (the routes of :meth:`add_routes`)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._janitor = asyncio.create_task(self._sweep_forever(), name="stream-receiver-janitor")
        if port is None:
            log.info("stream receiver: WebSocket only, writing into %s", self.directory)
            return None
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport
        bound = transport.get_extra_info("sockname")
        log.info("stream receiver: RTP on udp %s:%d, writing into %s", bound[0], bound[1], self.directory)
        return str(bound[0]), int(bound[1])

    async def stop(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
            self._janitor = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for call in list(self.calls.values()):
            self._finish(call, "receiver-stopped")
        self._pending.clear()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(protocol.CONTROL_PATH, self.control)
        app.router.add_get(MEDIA_PATH, self.media)
        app.on_shutdown.append(self._close_sockets)

    async def _close_sockets(self, _app: web.Application) -> None:
        """Stopping: close Asterisk's WebSockets (aiohttp would wait for them); it hangs the stream
        channels up, the calls go on."""
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"receiver stopping")

    # -- RTP ----------------------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            self._packet(data, normalize(addr), time.monotonic(), now_utc())
        except Exception:  # one bad packet or disk error must not kill the listener
            log.exception("stream receiver: packet from %s not handled", addr)

    def _packet(self, data: bytes, source: Source, mono: float, wall: datetime) -> None:
        call = self._by_source.get(source)
        if call is None:
            self._hold(data, source, mono, wall)
            return
        try:
            packet = parse_rtp(data)
        except InvalidRtp as exc:
            self.invalid_packets += 1
            log.debug("call %s: %s", call.metadata.call_id, exc)
            return
        self._write(call, packet, mono, wall)

    def _hold(self, data: bytes, source: Source, mono: float, wall: datetime) -> None:
        queue = self._pending.get(source)
        if queue is None:
            if len(self._pending) >= MAX_PENDING_SOURCES:
                self.unattributed_packets += 1
                return
            queue = self._pending[source] = deque(maxlen=MAX_PENDING_PACKETS)
            log.info("stream receiver: RTP from %s:%d before its start notification, holding it", *source)
        if len(queue) == queue.maxlen:
            self.unattributed_packets += 1
        queue.append((mono, wall, data))

    def _write(self, call: StreamCall, packet: RtpPacket, mono: float, wall: datetime) -> None:
        stats, fmt = call.stats, FORMATS[call.metadata.format]
        call.last_activity = mono
        if packet.payload_type != call.metadata.payload_type:
            stats.unexpected_payload += 1  # comfort noise, DTMF events…: not audio of this format
            return
        stats.packets += 1
        if stats.first_packet_at is None:
            stats.first_packet_at = wall
            log.info("call %s: first RTP packet at %s", call.metadata.call_id, format_utc(wall))
        stats.last_packet_at = wall
        samples = payload_samples(fmt, packet.payload)
        placement, call.timeline = place_packet(call.timeline, packet.sequence, packet.timestamp,
                                                packet.ssrc, samples, int(MAX_GAP_SECONDS * fmt.sample_rate))
        if placement.action == "drop":
            if placement.reason == "duplicate":
                stats.duplicates += 1
            else:
                stats.late += 1
            return
        if placement.reason == "discontinuity":
            stats.discontinuities += 1
        stats.lost += placement.lost_packets
        if placement.silence:
            call.file.write_silence(placement.silence)
        pcm = decode_payload(fmt, packet.payload)
        call.file.write_pcm(pcm[2 * placement.trim:])

    # -- control ------------------------------------------------------------------------------------
    async def control(self, request: web.Request) -> web.Response:
        try:
            return await self._control(request)
        except protocol.InvalidNotification as exc:
            status = 401 if exc.error_id.startswith("signature") else (
                413 if exc.error_id == "too-large" else 422 if exc.error_id == "metadata-invalid" else 400)
            log.warning("stream notification refused: %s %s", exc.error_id, exc)
            return _error(status, exc.error_id, str(exc))

    async def _control(self, request: web.Request) -> web.Response:
        buffer = bytearray()
        async for chunk in request.content.iter_chunked(8192):
            buffer += chunk
            if len(buffer) > protocol.MAX_BODY:
                raise protocol.InvalidNotification("too-large", f"body over {protocol.MAX_BODY} bytes")
        body = bytes(buffer)
        self._check_signature(request, body)
        note = protocol.parse(body)
        if note.event == "start":
            assert note.metadata is not None
            return self._on_start(note.metadata)
        call = self.calls.get(note.call_id)
        if note.event == "end":
            if call is None:
                if note.call_id in self.finished:
                    return web.json_response({"status": "finalized", "duplicate": True,
                                              **self.finished[note.call_id]})
                return _error(404, "stream-unknown", f"no stream for call {note.call_id!r}")
            return web.json_response({"status": "finalized", "duplicate": False,
                                      **self._finish(call, note.reason or "end")})
        if call is None:  # heartbeat: 404 asks the platform to send start again
            return _error(404, "stream-unknown", f"no stream for call {note.call_id!r}")
        call.last_activity = time.monotonic()
        return web.json_response({"status": "ok", "call_id": note.call_id, "packets": call.stats.packets,
                                  "lost": call.stats.lost})

    def _on_start(self, meta: StreamMetadata) -> web.Response:
        existing = self.calls.get(meta.call_id)
        if existing is not None:
            if existing.metadata == meta:
                existing.last_activity = time.monotonic()
                return web.json_response({"status": "started", "call_id": meta.call_id, "duplicate": True,
                                          "file": existing.file.wav.name})
            return _error(409, "stream-conflict",
                          f"call {meta.call_id!r} is already streaming with other metadata")
        if meta.transport == "websocket":
            return self._on_websocket_start(meta)
        source = meta.source
        if (holder := self._by_source.get(source)) is not None:
            # Asterisk reuses RTP ports: the platform says this source is another call now.
            log.warning("call %s: source %s reused by call %s, finalizing", holder.metadata.call_id,
                        meta.rtp_source, meta.call_id)
            self._finish(holder, "source-reused")
        stream_file = StreamFile(self.directory, free_stem(self.directory, meta.call_id), meta.sample_rate)
        call = StreamCall(meta, stream_file, now_utc())
        self.calls[meta.call_id] = call
        self._by_source[source] = call
        self._ended_sources.pop(source, None)
        self.finished.pop(meta.call_id, None)
        held = self._pending.pop(source, None) or ()
        for mono, wall, data in held:
            self._packet(data, source, mono, wall)
        log.info("call %s: stream started from %s (%s, %d Hz) into %s, %d packets held before", meta.call_id,
                 meta.rtp_source, meta.format, meta.sample_rate, stream_file.wav.name, len(held))
        return web.json_response({"status": "started", "call_id": meta.call_id, "duplicate": False,
                                  "file": stream_file.wav.name})

    def _on_websocket_start(self, meta: StreamMetadata) -> web.Response:
        if (holder := self._by_channel.get(meta.channel_id)) is not None:
            log.warning("call %s: channel %s reused by call %s, finalizing", holder.metadata.call_id,
                        meta.channel_id, meta.call_id)
            self._finish(holder, "source-reused")
        stream_file = StreamFile(self.directory, free_stem(self.directory, meta.call_id), meta.sample_rate)
        call = StreamCall(meta, stream_file, now_utc())
        self.calls[meta.call_id] = call
        self._by_channel[meta.channel_id] = call
        self.finished.pop(meta.call_id, None)
        conn = self._media.get(meta.channel_id)
        held = len(conn.held) if conn is not None else 0
        if conn is not None and conn.call is None:
            self._attach(conn, call)
        log.info("call %s: stream started over WebSocket, channel %s (%s, %d Hz) into %s, %s",
                 meta.call_id, meta.channel_id, meta.format, meta.sample_rate, stream_file.wav.name,
                 f"connected, {held} messages held before" if conn else "not connected yet")
        return web.json_response({"status": "started", "call_id": meta.call_id, "duplicate": False,
                                  "file": stream_file.wav.name})

    def _check_signature(self, request: web.Request, body: bytes) -> None:
        """Standard Webhooks (within the window, each webhook-id once), or the legacy header when
        this receiver accepts it."""
        now = self._clock()
        try:
            signed = read_webhook_headers(request.headers, now, self._tolerance)
        except SignatureError as exc:
            raise protocol.InvalidNotification(exc.error_id, str(exc)) from exc
        if signed is not None:
            if not signed.matches(webhook_digest(self._secret, signed.msg_id, signed.timestamp, body)):
                raise protocol.InvalidNotification("signature-invalid", "webhook-signature does not match")
            for msg_id, stamp in list(self._seen_ids.items()):
                if stamp < now - 2 * self._tolerance:
                    del self._seen_ids[msg_id]
            if signed.msg_id in self._seen_ids:
                raise protocol.InvalidNotification("signature-replayed",
                                                   f"notification {signed.msg_id!r} was already received")
            self._seen_ids[signed.msg_id] = signed.timestamp
            return
        if not self._accept_legacy:
            raise protocol.InvalidNotification(
                "signature-missing", "the Standard Webhooks headers (webhook-id, webhook-timestamp, "
                                     "webhook-signature) are required")
        header = request.headers.get(HEADER_SIGNATURE)
        if not header:
            raise protocol.InvalidNotification("signature-missing", f"header {HEADER_SIGNATURE} is required")
        mac = new_mac(self._secret)
        mac.update(body)
        if not signature_matches(header, mac.hexdigest()):
            raise protocol.InvalidNotification("signature-invalid", "HMAC-SHA256 of the body does not match")

    # -- finishing ----------------------------------------------------------------------------------
    def _finish(self, call: StreamCall, reason: str) -> dict[str, Any]:
        call.end_reason, call.ended_at = reason, now_utc()
        self.calls.pop(call.metadata.call_id, None)
        if call.metadata.transport == "websocket":
            if self._by_channel.get(call.metadata.channel_id) is call:
                del self._by_channel[call.metadata.channel_id]
            conn = self._media.get(call.metadata.channel_id)
            if conn is not None and conn.call is call:
                conn.call = None  # what still comes on it (nothing, normally) is not this call's
                conn.held = deque(maxlen=0)
        elif self._by_source.get(call.metadata.source) is call:
            del self._by_source[call.metadata.source]
            self._ended_sources[call.metadata.source] = time.monotonic()
        document = call.document()
        call.file.finalize(document)
        self.finished[call.metadata.call_id] = document
        while len(self.finished) > 1000:
            self.finished.pop(next(iter(self.finished)))
        log.info("call %s: stream finalized (%s): %s, %.3f s, %d packets, %d lost", call.metadata.call_id,
                 reason, call.file.wav.name, document["duration_seconds"], call.stats.packets,
                 call.stats.lost)
        return document

    def sweep(self, now: float | None = None) -> None:
        """Finalize idle calls, drop held packets nobody announced in time."""
        now = time.monotonic() if now is None else now
        for call in list(self.calls.values()):
            if now - call.last_activity >= self.idle_timeout:
                self._finish(call, "idle-timeout")
        for source, queue in list(self._pending.items()):
            trailing = source in self._ended_sources
            while queue and now - queue[0][0] >= self.pending_seconds:
                queue.popleft()
                if trailing:
                    self.after_end_packets += 1
                else:
                    self.unattributed_packets += 1
            if not queue:
                del self._pending[source]
                if not trailing:
                    log.warning("stream receiver: RTP from %s:%d never announced, dropped", *source)
        for source, ended in list(self._ended_sources.items()):
            if now - ended >= 2 * self.pending_seconds and source not in self._pending:
                del self._ended_sources[source]
        for conn in self._media.values():
            while conn.call is None and conn.held and now - conn.held[0][0] >= self.pending_seconds:
                conn.held.popleft()
                self.unattributed_packets += 1

    async def _sweep_forever(self) -> None:
        interval = max(0.05, min(self.idle_timeout, self.pending_seconds) / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                self.sweep()
            except Exception:
                log.exception("stream receiver: sweep failed")


def _error(status: int, error_id: str, message: str) -> web.Response:
    return web.json_response({"status": "rejected", "error_id": error_id, "message": message}, status=status)


__all__ = ["MEDIA_PATH", "MediaConnection", "StreamReceiver", "normalize", "parse_control"]
