"""Asterisk's side of the WebSocket transport (chan_websocket, 22.10), played over loopback, and a fake
ARI for the platform's StreamTap.

For each call Asterisk connects to the websocket_client.conf URI, with the call's media credentials
appended by the ``v()`` dial option (rules/media_credentials.py; subprotocol ``media`` when configured),
sends one TEXT message ``MEDIA_START`` (JSON with ``f(json)``, which the platform asks for; plain text
otherwise) naming the channel id and format, then one BINARY message per 20 ms frame of raw audio in
the channel's format (µ-law: 160 bytes; slin16: 640 bytes, host order = little-endian), and closes the
connection when the channel hangs up. It expects no answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from callrec_ari.ari.errors import AriConflict, AriNotFound
from callrec_ari.ari.events import Channel
from callrec_ari.model.plan import CallPlan, Recipient
from callrec_ari.receiver.stream import MEDIA_PATH
from callrec_ari.rules import media_credentials
from callrec_ari.rules.media_credentials import MediaCredentials
from callrec_ari.rules.stream import ulaw_encode
from callrec_ari.streaming.metadata import StreamMetadata, build_metadata
from callrec_ari.streaming.settings import StreamSettings
from tests.streaming.conftest import SECRET, STARTED, Rig
from tests.support.audio import Audio

FRAME = {"ulaw": 160, "slin16": 640}  # bytes per 20 ms, chan_websocket's optimal_frame_size


def frames(pcm16le: bytes, fmt: str) -> list[bytes]:
    """The binary messages Asterisk sends for this audio: one 20 ms frame each."""
    wire = ulaw_encode(pcm16le) if fmt == "ulaw" else pcm16le
    size = FRAME[fmt]
    return [wire[i: i + size] for i in range(0, len(wire), size)]


def media_start(channel_id: str, fmt: str = "ulaw", *, json_format: bool = True) -> str:
    if json_format:
        return json.dumps({"event": "MEDIA_START", "connection_id": "callrec",
                           "channel": "WebSocket/callrec/0x7f3a2c001234", "channel_id": channel_id,
                           "format": fmt, "optimal_frame_size": FRAME[fmt], "ptime": 20,
                           "channel_variables": {"CALLREC_CALL_ID": channel_id.removesuffix("-stream"),
                                                 "MEDIA_WEBSOCKET_CONNECTION_ID": "callrec"}},
                          separators=(",", ":"))
    return (f"MEDIA_START connection_id:callrec channel:WebSocket/callrec/0x7f3a2c001234 "
            f"channel_id:{channel_id} format:{fmt} optimal_frame_size:{FRAME[fmt]} ptime:20")


def nonce_for(channel_id: str) -> str:
    """The tests' nonce of a channel (the platform draws 128 random bits)."""
    return "n-" + channel_id.replace(".", "-")


def credentials_for(channel_id: str, secret: str = SECRET, *, now: float | None = None) -> MediaCredentials:
    """What the platform's tap issues for the channel, as Asterisk appends them to the URL."""
    return media_credentials.issue(secret, channel_id, time.time() if now is None else now,
                                   nonce=nonce_for(channel_id))


@dataclass
class FakeAsterisk:
    """chan_websocket's client side of one stream channel. ``credentials`` None: a URL without them."""

    url: str
    channel_id: str
    fmt: str = "ulaw"
    json_format: bool = True
    credentials: MediaCredentials | None = None
    session: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)
    ws: aiohttp.ClientWebSocketResponse | None = None

    @property
    def full_url(self) -> str:
        return self.url + ("?" + urlencode(self.credentials.params()) if self.credentials else "")

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(self.full_url, protocols=("media",))
        await self.ws.send_str(media_start(self.channel_id, self.fmt, json_format=self.json_format))

    async def send(self, messages: list[bytes]) -> None:
        assert self.ws is not None
        for m in messages:
            await self.ws.send_bytes(m)

    async def hangup(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()


def fake_asterisk(http_port: int, channel_id: str, **kwargs: Any) -> FakeAsterisk:
    kwargs.setdefault("credentials", credentials_for(channel_id))
    return FakeAsterisk(f"http://127.0.0.1:{http_port}{MEDIA_PATH}", channel_id, **kwargs)


def ws_settings(rig: Rig, **changes: Any) -> StreamSettings:
    return rig.settings(transport="websocket", websocket_connection="callrec", **changes)


def ws_metadata(rig: Rig, call_id: str, fmt: str = "ulaw") -> StreamMetadata:
    channel_id = f"{call_id}-stream"
    return build_metadata(call_id=call_id, line="09000001001", caller="09000001001", callee="0312345678",
                          direction="outgoing", started_at=STARTED, channel_id=channel_id,
                          settings=ws_settings(rig, format=fmt), media_nonce=nonce_for(channel_id))


def read(path: Path) -> tuple[Audio, dict[str, Any]]:
    return Audio.from_wav_bytes(path.read_bytes()), json.loads(path.with_suffix(".json").read_text())


class FakeAri:
    """Answers like Asterisk 22.10: the WebSocket channel joins our app only once connected."""

    class settings:  # mimics AriClient.settings
        app = "callrec"

    def __init__(self, not_in_stasis_for: int = 3, gone: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.not_in_stasis_for = not_in_stasis_for
        self.gone = gone

    async def request(self, method: str, path: str, params: Any = None, json: Any = None) -> Any:
        self.calls.append(("request", (method, path, params, json)))
        return {"id": params["channelId"], "channelvars": {"MEDIA_WEBSOCKET_CONNECTION_ID": "callrec",
                                                           "UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1",
                                                           "UNICASTRTP_LOCAL_PORT": "10000"}}

    async def external_media(self, channel_id: str, fmt: str, params: Any,
                             variables: Any = None) -> Channel:
        """AriClient.external_media, recorded as the request it sends."""
        query = {"channelId": channel_id, "app": self.settings.app, "format": fmt, **params}
        body = {"variables": variables} if variables else None
        return Channel.from_json(await self.request("POST", "/channels/externalMedia", query, body))

    async def mute(self, channel_id: str, direction: str = "in") -> None:
        self.calls.append(("mute", channel_id))
        if self.gone:
            raise AriNotFound("POST", f"/channels/{channel_id}/mute", 404, "Channel not found")
        if self.not_in_stasis_for > 0:
            self.not_in_stasis_for -= 1
            raise AriConflict("POST", f"/channels/{channel_id}/mute", 409,
                              "Channel not in Stasis application")

    async def add_to_bridge(self, bridge_id: str, channel_ids: Any) -> None:
        self.calls.append(("add", tuple(channel_ids)))

    async def hangup(self, channel_id: str, cause: int | None = None) -> None:
        self.calls.append(("hangup", channel_id))


PLAN = CallPlan(call_id="1700000000.9", direction="outgoing", caller_number="09000001001",
                callee_number="0312345678", line="1001", callee_endpoint="PJSIP/0312345678@carrier",
                record=True, reason="recorded",
                recipients=(Recipient("09000001001", delivery="stream"),))
