"""The WebSocket transport (Asterisk 22.6+ chan_websocket) end to end over loopback, without Asterisk.

The tests play Asterisk's part as its source does it (channels/chan_websocket.c, 22.10): for each
call it connects to the websocket_client.conf URI (subprotocol ``media`` when configured), sends one
TEXT message ``MEDIA_START`` (JSON with ``f(json)``, which the platform asks for; plain text otherwise)
naming the channel id and format, then one BINARY message per 20 ms frame of raw audio in the
channel's format (µ-law: 160 bytes; slin16: 640 bytes, host order = little-endian), and closes the
connection when the channel hangs up. It expects no answer.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callrec_ari.ari.errors import AriConflict, AriNotFound
from callrec_ari.ari.events import Channel
from callrec_ari.model.plan import CallPlan, Recipient
from callrec_ari.receiver.app import StreamOptions, serve
from callrec_ari.receiver.stream import MEDIA_PATH, parse_control
from callrec_ari.rules.stream import ulaw_encode
from callrec_ari.streaming.metadata import StreamMetadata, build_metadata, parse_metadata
from callrec_ari.streaming.notify import StreamNotifier
from callrec_ari.streaming.settings import StreamConfigError, StreamSettings, load_stream_settings
from callrec_ari.streaming.tap import StreamTap
from tests.streaming.conftest import SECRET, STARTED, Rig, sine
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


@dataclass
class FakeAsterisk:
    """chan_websocket's client side of one stream channel."""

    url: str
    channel_id: str
    fmt: str = "ulaw"
    json_format: bool = True
    session: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)
    ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(self.url, protocols=("media",))
        await self.ws.send_str(media_start(self.channel_id, self.fmt, json_format=self.json_format))

    async def send(self, messages: list[bytes]) -> None:
        assert self.ws is not None
        for m in messages:
            await self.ws.send_bytes(m)

    async def hangup(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()


def ws_settings(rig: Rig, **changes: Any) -> StreamSettings:
    return rig.settings(transport="websocket", websocket_connection="callrec", **changes)


def ws_metadata(rig: Rig, call_id: str, fmt: str = "ulaw") -> StreamMetadata:
    return build_metadata(call_id=call_id, line="09000001001", caller="09000001001", callee="0312345678",
                          direction="outgoing", started_at=STARTED, channel_id=f"{call_id}-stream",
                          settings=ws_settings(rig, format=fmt))


@pytest.fixture
async def asterisk(rig: Rig) -> AsyncIterator[Any]:
    made: list[FakeAsterisk] = []

    def make(channel_id: str, fmt: str = "ulaw", json_format: bool = True) -> FakeAsterisk:
        a = FakeAsterisk(f"http://127.0.0.1:{rig.http_port}{MEDIA_PATH}", channel_id, fmt, json_format)
        made.append(a)
        return a

    yield make
    for a in made:
        await a.hangup()


def read(path: Path) -> tuple[Audio, dict[str, Any]]:
    return Audio.from_wav_bytes(path.read_bytes()), json.loads(path.with_suffix(".json").read_text())


async def test_ulaw_over_websocket_is_written_whole_with_its_metadata(rig: Rig, asterisk: Any) -> None:
    # GIVEN the platform announced the call, then Asterisk connects and streams 1 s of a 1 kHz tone
    meta = ws_metadata(rig, "1700000000.7")
    ast = asterisk(meta.channel_id)
    async with StreamNotifier(ws_settings(rig)) as notifier:
        assert await notifier.start(meta)
        await ast.connect()
        await ast.send(frames(sine(1000, 1.0, 8000), "ulaw"))
        await ast.hangup()  # the stream channel hung up: Asterisk closes the connection
        await rig.settle()
        assert await notifier.heartbeat(meta.call_id), "a closed WebSocket does not end the call"
        assert await notifier.end(meta.call_id, "hangup")
    # THEN one WAV, 8 kHz, exactly 1 s of the tone, and the metadata names the transport and channel
    assert [p.name for p in rig.wavs()] == ["1700000000.7.wav"]
    audio, doc = read(rig.wavs()[0])
    assert (audio.rate, len(audio.samples)) == (8000, 8000)
    assert audio.present(1000, threshold=0.4).all()
    assert doc["metadata"] == meta.to_json()
    described = doc["metadata"]
    assert (described["transport"], described["channel_id"]) == ("websocket", "1700000000.7-stream")
    assert "rtp_source" not in doc["metadata"]
    assert (doc["packets"], doc["lost"], doc["end_reason"], doc["frames"]) == (50, 0, "hangup", 8000)


async def test_slin16_over_websocket_is_little_endian_and_sample_exact(rig: Rig, asterisk: Any) -> None:
    meta = ws_metadata(rig, "c-ws-slin", fmt="slin16")
    pcm = sine(440, 0.6, 16000, amplitude=0.8)
    ast = asterisk(meta.channel_id, "slin16")
    async with StreamNotifier(ws_settings(rig, format="slin16")) as notifier:
        assert await notifier.start(meta)
        await ast.connect()
        await ast.send(frames(pcm, "slin16"))
        await rig.settle()
        assert await notifier.end(meta.call_id)
    wav = rig.directory / "c-ws-slin.wav"
    assert wav.read_bytes()[44:] == pcm  # Asterisk's native slin (little-endian) straight into the WAV
    assert read(wav)[0].rate == 16000


async def test_audio_before_the_start_notification_is_held_and_attached(rig: Rig, asterisk: Any) -> None:
    # Asterisk connects as soon as the channel is dialled; the signed start comes after it joined
    meta = ws_metadata(rig, "c-ws-early")
    ast = asterisk(meta.channel_id, json_format=False)  # the plain-text MEDIA_START parses too
    wire = frames(sine(1000, 0.5, 8000), "ulaw")
    await ast.connect()
    await ast.send(wire[:5])
    await rig.settle()
    assert not rig.streams.calls
    async with StreamNotifier(ws_settings(rig)) as notifier:
        assert await notifier.start(meta)
        await ast.send(wire[5:])
        await rig.settle()
        assert await notifier.end(meta.call_id)
    audio, doc = read(rig.directory / "c-ws-early.wav")
    assert len(audio.samples) == 4000 and doc["packets"] == 25
    assert doc["first_packet_at"] < doc["start_received_at"]


async def test_two_concurrent_calls_are_kept_apart_by_channel_id(rig: Rig, asterisk: Any) -> None:
    meta_a, meta_b = ws_metadata(rig, "call-a"), ws_metadata(rig, "call-b")
    a, b = asterisk(meta_a.channel_id), asterisk(meta_b.channel_id)
    fa, fb = frames(sine(700, 0.8, 8000), "ulaw"), frames(sine(2100, 0.8, 8000), "ulaw")
    async with StreamNotifier(ws_settings(rig)) as notifier:
        assert await notifier.start(meta_a) and await notifier.start(meta_b)
        await a.connect()
        await b.connect()
        for x, y in zip(fa, fb, strict=True):
            await a.send([x])
            await b.send([y])
        await rig.settle()
        assert await notifier.end("call-a") and await notifier.end("call-b")
    audio_a, _ = read(rig.directory / "call-a.wav")
    audio_b, _ = read(rig.directory / "call-b.wav")
    assert audio_a.present(700, 0.4).all() and not audio_a.present(2100, 0.05).any()
    assert audio_b.present(2100, 0.4).all() and not audio_b.present(700, 0.05).any()


async def test_a_stream_never_announced_is_dropped(rig: Rig, asterisk: Any) -> None:
    ast = asterisk("forged-stream")
    await ast.connect()
    await ast.send(frames(sine(1000, 0.2, 8000), "ulaw"))
    await rig.settle()
    rig.streams.sweep(now=float("inf"))  # held messages expire
    assert not list(rig.directory.iterdir()) and not rig.streams.calls
    assert rig.streams.unattributed_packets == 10
    # a second connection claiming a channel already connected is refused
    again = asterisk("forged-stream")
    await again.connect()
    assert again.ws is not None
    msg = await again.ws.receive(timeout=2)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and again.ws.close_code == 1008


async def test_receiver_without_udp_serves_the_websocket_transport(tmp_path: Path) -> None:
    # `callrec receiver --stream-websocket`: no UDP port, WebSocket streams on the HTTP port
    from tests.streaming.test_stream_cli import free_port
    http_port = free_port(socket.SOCK_STREAM)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(tmp_path, SECRET, "127.0.0.1", http_port, stop,
                                       StreamOptions(None, idle_timeout=5)))
    settings = StreamSettings(control_url=f"http://127.0.0.1:{http_port}/streams", secret=SECRET,
                              transport="websocket")
    meta = build_metadata(call_id="c-ws-only", line="1", caller="2", callee="3", direction="outgoing",
                          started_at=STARTED, channel_id="c-ws-only-stream", settings=settings)
    ast = FakeAsterisk(f"http://127.0.0.1:{http_port}{MEDIA_PATH}", meta.channel_id)
    try:
        async with StreamNotifier(settings) as notifier:
            for _ in range(50):
                if await notifier.start(meta):
                    break
                await asyncio.sleep(0.05)  # the server is still binding
            await ast.connect()
            await ast.send(frames(sine(1000, 0.2, 8000), "ulaw"))
            await asyncio.sleep(0.1)
            assert await notifier.end(meta.call_id)
    finally:
        await ast.hangup()
        stop.set()
        await server
    doc = json.loads((tmp_path / "streams" / "c-ws-only.json").read_text())
    assert (doc["end_reason"], doc["frames"]) == ("hangup", 1600)


def test_control_messages_parse_in_both_formats() -> None:
    plain = parse_control(media_start("c-1-stream", json_format=False))
    structured = parse_control(media_start("c-1-stream"))
    for c in (plain, structured):
        assert (c["event"], c["channel_id"], c["format"]) == ("MEDIA_START", "c-1-stream", "ulaw")
    assert parse_control("MEDIA_XOFF") == {"event": "MEDIA_XOFF"}
    assert parse_control("{not json")["event"] == ""


# -- settings and metadata -------------------------------------------------------------------------
def test_websocket_settings_and_metadata_shape() -> None:
    s = load_stream_settings(env={"CALLREC_STREAM_TRANSPORT": "websocket", "CALLREC_STREAM_SECRET": "x",
                                  "CALLREC_STREAM_WEBSOCKET_CONNECTION": "customer-acme"})
    assert (s.transport, s.websocket_connection) == ("websocket", "customer-acme")
    assert load_stream_settings(env={"CALLREC_STREAM_SECRET": "x"}).transport == "rtp"
    for bad in ({"transport": "sctp"}, {"transport": "websocket", "websocket_connection": "a b"},
                {"transport": "websocket", "websocket_connection": ""}):
        with pytest.raises(StreamConfigError):
            load_stream_settings(env={"CALLREC_STREAM_SECRET": "x"}, **bad)
    meta = build_metadata(call_id="c", line="1", caller="", callee="3", direction="incoming",
                          started_at=STARTED, channel_id="c-stream", settings=s)
    assert meta.to_json() == {
        "version": 1, "call_id": "c", "line": "1", "caller": "", "callee": "3", "direction": "incoming",
        "started_at": "2025-03-01T12:00:00.000000Z", "format": "ulaw", "sample_rate": 8000,
        "payload_type": 0, "transport": "websocket", "channel_id": "c-stream",
        "websocket_connection": "customer-acme", "notices": []}
    assert parse_metadata(meta.to_json()) == meta
    with pytest.raises(ValueError, match="channel_id"):
        parse_metadata({**meta.to_json(), "channel_id": "a b"})
    with pytest.raises(ValueError, match="transport"):
        parse_metadata({**meta.to_json(), "transport": "carrier-pigeon"})


# -- the platform side: StreamTap against a fake ARI ------------------------------------------------
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


async def test_tap_creates_a_websocket_channel_and_joins_once_connected(rig: Rig) -> None:
    ari = FakeAri(not_in_stasis_for=3)
    tap = StreamTap(ari, ws_settings(rig), PLAN, "bridge-1")  # type: ignore[arg-type]
    assert await tap.begin(datetime.now(STARTED.tzinfo))
    await tap.finish("hangup-caller")
    _, (method, path, params, body) = ari.calls[0]
    assert (method, path) == ("POST", "/channels/externalMedia")
    assert params == {"channelId": "1700000000.9-stream", "app": "callrec", "format": "ulaw",
                      "external_host": "callrec", "encapsulation": "none", "transport": "websocket",
                      "connection_type": "client", "transport_data": "f(json)", "direction": "in"}
    assert body == {"variables": {"CALLREC_CALL_ID": "1700000000.9"}}
    assert [c[0] for c in ari.calls[1:]] == ["mute"] * 4 + ["add"]
    assert ari.calls[-1] == ("add", ("1700000000.9-stream",))
    # the receiver was told which channel carries the call
    assert "1700000000.9" not in rig.streams.calls and "1700000000.9" in rig.streams.finished
    assert rig.streams.finished["1700000000.9"]["metadata"]["channel_id"] == "1700000000.9-stream"


async def test_tap_waits_for_the_rtp_channel_too(rig: Rig) -> None:
    # externalMedia answers before its dial thread ran: even UnicastRTP may not be in Stasis yet (409)
    ari = FakeAri(not_in_stasis_for=2)
    tap = StreamTap(ari, rig.settings(), PLAN, "bridge-1")  # type: ignore[arg-type]
    assert await tap.begin(datetime.now(STARTED.tzinfo))
    await tap.finish("hangup-caller")
    assert ari.calls[0][1][2]["transport"] == "udp" and ari.calls[0][1][3] is None
    assert [c[0] for c in ari.calls[1:]] == ["mute"] * 3 + ["add"]
    assert rig.streams.finished["1700000000.9"]["metadata"]["rtp_source"] == "127.0.0.1:10000"


@pytest.mark.parametrize("case", ["connect-failed", "never-ready"])
async def test_tap_gives_up_without_disturbing_the_call(rig: Rig, case: str) -> None:
    ari = FakeAri(not_in_stasis_for=10_000, gone=case == "connect-failed")
    tap = StreamTap(ari, ws_settings(rig, websocket_ready_seconds=0.1), PLAN, "b")  # type: ignore[arg-type]
    assert not await tap.begin(datetime.now(STARTED.tzinfo))
    await tap.finish("hangup-caller")  # harmless when nothing started
    assert not any(c[0] == "add" for c in ari.calls)
    assert (("hangup", "1700000000.9-stream") in ari.calls) == (case == "never-ready")
    assert not rig.streams.calls and not list(rig.directory.glob("*.wav"))


async def test_quick_hangup_sequence(rig: Rig, asterisk: Any) -> None:
    """end before Asterisk closed the socket: what still comes is not written to the finished call."""
    meta = ws_metadata(rig, "c-ws-late")
    ast = asterisk(meta.channel_id)
    async with StreamNotifier(ws_settings(rig)) as notifier:
        assert await notifier.start(meta)
        await ast.connect()
        await ast.send(frames(sine(1000, 0.2, 8000), "ulaw"))
        await rig.settle()
        assert await notifier.end(meta.call_id)
        await ast.send(frames(sine(1000, 0.2, 8000), "ulaw"))
        await rig.settle()
    _, doc = read(rig.directory / "c-ws-late.wav")
    assert doc["frames"] == 1600


async def test_stopping_the_receiver_closes_asterisks_sockets_at_once(tmp_path: Path) -> None:
    # A receiver killed mid-call: Asterisk's connection is closed (it then hangs up the stream channel
    # only), the open call is finalized, and stopping does not wait for Asterisk to hang up.
    from tests.streaming.test_stream_cli import free_port
    http_port = free_port(socket.SOCK_STREAM)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(tmp_path, SECRET, "127.0.0.1", http_port, stop,
                                       StreamOptions(None, idle_timeout=5)))
    settings = StreamSettings(control_url=f"http://127.0.0.1:{http_port}/streams", secret=SECRET,
                              transport="websocket")
    meta = build_metadata(call_id="c-ws-kill", line="1", caller="2", callee="3", direction="outgoing",
                          started_at=STARTED, channel_id="c-ws-kill-stream", settings=settings)
    ast = FakeAsterisk(f"http://127.0.0.1:{http_port}{MEDIA_PATH}", meta.channel_id)
    try:
        async with StreamNotifier(settings) as notifier:
            for _ in range(50):
                if await notifier.start(meta):
                    break
                await asyncio.sleep(0.05)
            await ast.connect()
            await ast.send(frames(sine(1000, 0.2, 8000), "ulaw"))
            await asyncio.sleep(0.1)
            stop.set()
            await asyncio.wait_for(server, 3)
            assert ast.ws is not None
            msg = await ast.ws.receive(timeout=2)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)  # going away
            assert not await notifier.heartbeat(meta.call_id)  # how the platform learns it
    finally:
        await ast.hangup()
        stop.set()
    doc = json.loads((tmp_path / "streams" / "c-ws-kill.json").read_text())
    assert (doc["end_reason"], doc["frames"]) == ("receiver-stopped", 1600)
