"""The WebSocket transport (Asterisk 22.6+ chan_websocket) end to end over loopback, without Asterisk:
the reference receiver's ``/media`` fed by Asterisk's side as tests/streaming/websocket_fakes.py plays it.
The credentials that keep outsiders off ``/media``: test_stream_websocket_auth.py; the platform's tap:
test_stream_websocket_tap.py."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp

from callrec_ari.receiver.app import StreamOptions, serve
from callrec_ari.receiver.stream import parse_control
from callrec_ari.rules import media_credentials
from callrec_ari.streaming.metadata import build_metadata
from callrec_ari.streaming.notify import StreamNotifier
from callrec_ari.streaming.settings import StreamSettings
from tests.streaming.conftest import SECRET, STARTED, Rig, sine
from tests.streaming.websocket_fakes import (
    fake_asterisk,
    frames,
    media_start,
    nonce_for,
    read,
    ws_metadata,
    ws_settings,
)
from tests.support.network import LOOPBACK


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
    # a second connection claiming a channel already connected is refused (valid credentials of its
    # own: the outsider case is in test_stream_websocket_auth.py)
    own = media_credentials.issue(SECRET, "forged-stream", time.time(), nonce="another")
    again = asterisk("forged-stream", credentials=own)
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
                              allow_destinations=LOOPBACK,
                              transport="websocket")
    meta = build_metadata(call_id="c-ws-only", line="1", caller="2", callee="3", direction="outgoing",
                          started_at=STARTED, channel_id="c-ws-only-stream", settings=settings,
                          media_nonce=nonce_for("c-ws-only-stream"))
    ast = fake_asterisk(http_port, meta.channel_id)
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
                              allow_destinations=LOOPBACK,
                              transport="websocket")
    meta = build_metadata(call_id="c-ws-kill", line="1", caller="2", callee="3", direction="outgoing",
                          started_at=STARTED, channel_id="c-ws-kill-stream", settings=settings,
                          media_nonce=nonce_for("c-ws-kill-stream"))
    ast = fake_asterisk(http_port, meta.channel_id)
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
