"""The WebSocket transport of the reference stream receiver (Asterisk's chan_websocket).

One connection per call, opened by Asterisk on ``GET /media``: its first TEXT message, ``MEDIA_START``,
names the channel (``channel_id``), which the signed ``start`` notification names too; then BINARY
messages carry the raw audio (µ-law, or 16-bit little-endian linear for slin16), in order, over TCP:
no loss, no reordering, no timestamps. Audio before its ``start`` is held, as for RTP.
:class:`WebSocketMedia` is mixed into :class:`~callrec_ari.receiver.stream.StreamReceiver`, which owns
the calls, the notifications and the files.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import WSMsgType, web

from callrec_ari.receiver.stream_file import StreamCall
from callrec_ari.rules.manifest import format_utc
from callrec_ari.rules.stream import FORMATS, decode_payload

log = logging.getLogger(__name__)

MEDIA_PATH: Final = "/media"  # where Asterisk's chan_websocket connects (websocket_client.conf uri)
MAX_PENDING_PACKETS: Final = 500  # per source or connection: 10 s of 20 ms packets
MAX_MEDIA_CONNECTIONS: Final = 1024
MAX_MEDIA_MESSAGE: Final = 1 << 20
MAX_CONTROL_MESSAGE: Final = 64 * 1024


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class MediaConnection:
    """One WebSocket from Asterisk: one stream channel, hence one call once ``start`` names it."""

    channel_id: str
    format: str  # what MEDIA_START says Asterisk sends
    control: dict[str, Any]  # the MEDIA_START message, decoded
    call: StreamCall | None = None
    held: deque[tuple[float, datetime, bytes]] = field(
        default_factory=lambda: deque(maxlen=MAX_PENDING_PACKETS))
    odd_byte: bytes = b""  # slin16: a message that split a sample (Asterisk never does; be safe)


def parse_control(text: str) -> dict[str, Any]:
    """A chan_websocket control message: JSON (``f(json)``, what the platform asks for) or the legacy
    plain text ``EVENT key:value key:value…``. Returns at least ``{"event": …}``."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return {"event": ""}
        return data if isinstance(data, dict) else {"event": ""}
    event, _, rest = text.partition(" ")
    out: dict[str, Any] = {"event": event}
    for item in rest.split():
        key, sep, value = item.partition(":")
        if sep:
            out[key] = value
    return out



class WebSocketMedia:
    """The ``/media`` endpoint and its connections; the state it shares with the receiver is below."""

    _media: dict[str, MediaConnection]  # websocket connections, by channel_id
    _by_channel: dict[str, StreamCall]  # MEDIA_START channel_id -> call (set by the start notification)
    _sockets: set[web.WebSocketResponse]
    unattributed_packets: int

    async def media(self, request: web.Request) -> web.StreamResponse:
        """One stream from Asterisk: MEDIA_START, then binary audio until Asterisk closes it (hangup).
        Nothing needs answering; the reference receiver sends nothing."""
        ws = web.WebSocketResponse(protocols=("media",), max_msg_size=MAX_MEDIA_MESSAGE, autoping=True)
        await ws.prepare(request)
        conn: MediaConnection | None = None
        self._sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    if conn is None:
                        self.unattributed_packets += 1  # audio before MEDIA_START: not attributable
                        continue
                    try:
                        self._media_message(conn, msg.data, time.monotonic(), now_utc())
                    except Exception:
                        log.exception("call of channel %s: media message not handled", conn.channel_id)
                elif msg.type == WSMsgType.TEXT:
                    control = parse_control(msg.data[:MAX_CONTROL_MESSAGE])
                    if control.get("event") == "MEDIA_START" and conn is None:
                        conn = self._media_start(control, request.remote)
                        if conn is None:
                            await ws.close(code=1008, message=b"channel_id missing or in use")
                            break
                    else:
                        log.info("stream WebSocket %s: %s", conn.channel_id if conn else "?",
                                 msg.data[:200])
                elif msg.type == WSMsgType.ERROR:
                    log.warning("stream WebSocket error: %s", ws.exception())
                    break
        finally:
            self._sockets.discard(ws)
            if conn is not None:
                self._media_closed(conn)
        return ws

    def _media_start(self, control: dict[str, Any], remote: str | None) -> MediaConnection | None:
        channel_id = control.get("channel_id")
        if not isinstance(channel_id, str) or not channel_id or channel_id in self._media \
                or len(self._media) >= MAX_MEDIA_CONNECTIONS:
            log.warning("stream WebSocket from %s refused: MEDIA_START %r", remote, control)
            return None
        conn = MediaConnection(channel_id, str(control.get("format", "")), control)
        self._media[channel_id] = conn
        call = self._by_channel.get(channel_id)
        log.info("stream WebSocket from %s: channel %s, format %s, %s", remote, channel_id, conn.format,
                 f"call {call.metadata.call_id}" if call else "call not announced yet, holding its audio")
        if call is not None:
            self._attach(conn, call)
        return conn

    def _attach(self, conn: MediaConnection, call: StreamCall) -> None:
        conn.call = call
        if conn.format != call.metadata.format:
            log.error("call %s: Asterisk sends %s, the metadata says %s: audio not written",
                      call.metadata.call_id, conn.format, call.metadata.format)
        held, conn.held = list(conn.held), deque(maxlen=MAX_PENDING_PACKETS)
        for mono, wall, data in held:
            self._media_message(conn, data, mono, wall)

    def _media_message(self, conn: MediaConnection, data: bytes, mono: float, wall: datetime) -> None:
        call = conn.call
        if call is None:
            if len(conn.held) == conn.held.maxlen:
                self.unattributed_packets += 1
            conn.held.append((mono, wall, data))
            return
        stats = call.stats
        call.last_activity = mono
        if conn.format != call.metadata.format or call.file.closed:
            stats.unexpected_payload += 1
            return
        stats.packets += 1
        if stats.first_packet_at is None:
            stats.first_packet_at = wall
            log.info("call %s: first WebSocket audio at %s", call.metadata.call_id, format_utc(wall))
        stats.last_packet_at = wall
        fmt = FORMATS[call.metadata.format]
        if fmt.wire_bytes_per_sample == 1:
            call.file.write_pcm(decode_payload(fmt, data))
            return
        data = conn.odd_byte + data  # slin: Asterisk's native order, little-endian, as the WAV wants
        whole = len(data) - len(data) % 2
        conn.odd_byte = data[whole:]
        call.file.write_pcm(data[:whole])

    def _media_closed(self, conn: MediaConnection) -> None:
        if self._media.get(conn.channel_id) is conn:
            del self._media[conn.channel_id]
        if conn.call is not None:
            conn.call.last_activity = time.monotonic()
            log.info("call %s: stream WebSocket closed by Asterisk (the stream channel hung up)",
                     conn.call.metadata.call_id)
        elif conn.held:
            self.unattributed_packets += len(conn.held)
            log.warning("stream WebSocket of channel %s closed, never announced: %d messages dropped",
                        conn.channel_id, len(conn.held))
