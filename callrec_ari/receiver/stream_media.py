"""The WebSocket transport of the reference stream receiver (Asterisk's chan_websocket).

One connection per call, opened by Asterisk on ``GET /media?callrec_channel=…&callrec_signature=…``: the
call's media credentials (rules/media_credentials.py) are checked before the upgrade, so a client
without them gets a 401 and no WebSocket; its first TEXT message, ``MEDIA_START``, must name the
channel the credentials were issued for (``channel_id``), which the signed ``start`` notification
names too, with the same nonce; then BINARY
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
from callrec_ari.rules import media_credentials
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
    nonce: str = ""  # of the credentials it connected with; the start notification must carry it
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
    _secret: str
    _used_credentials: dict[str, int]  # signature -> expiry: each credential opens one connection
    unattributed_packets: int
    refused_connections: int

    def _check_credentials(self, request: web.Request) -> media_credentials.MediaCredentials:
        now = time.time()
        creds = media_credentials.verify(self._secret, request.query, now)
        for signature, expires in list(self._used_credentials.items()):
            if expires < now:
                del self._used_credentials[signature]
        if creds.signature in self._used_credentials:
            raise media_credentials.InvalidMediaCredentials(
                "media-credentials-used", "these credentials already opened a connection")
        self._used_credentials[creds.signature] = creds.expires
        return creds

    async def media(self, request: web.Request) -> web.StreamResponse:
        """One stream from Asterisk: MEDIA_START, then binary audio until Asterisk closes it (hangup).
        Nothing needs answering; the reference receiver sends nothing. Without valid credentials in
        the URL: 401 before the upgrade (nothing held, no connection counted)."""
        try:
            creds = self._check_credentials(request)
        except media_credentials.InvalidMediaCredentials as exc:
            self.refused_connections += 1
            log.warning("stream WebSocket from %s refused before the upgrade [%s]: %s", request.remote,
                        exc.error_id, exc)
            return web.json_response({"status": "rejected", "error_id": exc.error_id, "message": str(exc)},
                                     status=401)
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
                        conn = self._media_start(control, request.remote, creds)
                        if conn is None:
                            await ws.close(code=1008, message=b"channel_id not the credentials' or in use")
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

    def _media_start(self, control: dict[str, Any], remote: str | None,
                     creds: media_credentials.MediaCredentials) -> MediaConnection | None:
        channel_id = control.get("channel_id")
        if not isinstance(channel_id, str) or channel_id != creds.channel_id or channel_id in self._media \
                or len(self._media) >= MAX_MEDIA_CONNECTIONS:
            self.refused_connections += 1
            log.warning("stream WebSocket from %s refused: MEDIA_START %r (credentials of channel %s)",
                        remote, control, creds.channel_id)
            return None
        conn = MediaConnection(channel_id, str(control.get("format", "")), control, nonce=creds.nonce)
        self._media[channel_id] = conn
        call = self._by_channel.get(channel_id)
        log.info("stream WebSocket from %s: channel %s, format %s, %s", remote, channel_id, conn.format,
                 f"call {call.metadata.call_id}" if call else "call not announced yet, holding its audio")
        if call is not None:
            self._attach(conn, call)
        return conn

    def _attach(self, conn: MediaConnection, call: StreamCall) -> bool:
        if conn.nonce != call.metadata.media_nonce:
            # Valid credentials of another stream of the same channel id: not this call's audio.
            log.error("call %s: the WebSocket of channel %s connected with another nonce than the start "
                      "notification's: not attached", call.metadata.call_id, conn.channel_id)
            return False
        conn.call = call
        if conn.format != call.metadata.format:
            log.error("call %s: Asterisk sends %s, the metadata says %s: audio not written",
                      call.metadata.call_id, conn.format, call.metadata.format)
        held, conn.held = list(conn.held), deque(maxlen=MAX_PENDING_PACKETS)
        for mono, wall, data in held:
            self._media_message(conn, data, mono, wall)
        return True

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
