"""Outsiders on the reference receiver's ``/media``: without the call's credentials
(rules/media_credentials.py) nobody gets a WebSocket, claims a call's channel, or holds a connection
that could shut out Asterisk's real stream. Asterisk's side is played as tests/streaming/websocket_fakes.py
plays it; the credentials are what the platform's tap issues."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from callrec_ari.rules import media_credentials
from callrec_ari.streaming.notify import StreamNotifier
from tests.streaming.conftest import Rig, sine
from tests.streaming.websocket_fakes import credentials_for, frames, read, ws_metadata, ws_settings

TONE = frames(sine(1000, 0.4, 8000), "ulaw")  # 20 frames


async def refused(ast: Any) -> int:
    """The HTTP status the upgrade was refused with (fails when a WebSocket was opened)."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await ast.connect()
    return info.value.status


async def stream_whole(rig: Rig, asterisk: Any, call_id: str,
                       credentials: media_credentials.MediaCredentials | None = None) -> dict[str, Any]:
    """The real stream of ``call_id``: announced, connected with its credentials, 0.4 s of tone."""
    meta = ws_metadata(rig, call_id)
    ast = asterisk(meta.channel_id, credentials=credentials or credentials_for(meta.channel_id))
    async with StreamNotifier(ws_settings(rig)) as notifier:
        assert await notifier.start(meta)
        await ast.connect()
        await ast.send(TONE)
        await rig.settle()
        assert await notifier.end(call_id)
    audio, doc = read(rig.directory / f"{call_id}.wav")
    assert len(audio.samples) == 3200 and audio.present(1000, threshold=0.4).all()
    return doc


async def test_without_credentials_no_websocket_and_the_real_stream_is_whole(rig: Rig, asterisk: Any) -> None:
    # GIVEN outsiders who know the predictable channel id open WebSockets without credentials, many at once
    outsiders = [asterisk("c-auth-1-stream", credentials=None) for _ in range(40)]
    statuses = await asyncio.gather(*(refused(o) for o in outsiders))
    # THEN each is refused before the upgrade: no connection held, nothing claimed, nothing written
    assert set(statuses) == {401}
    assert rig.streams.refused_connections == 40 and not rig.streams._media
    assert not list(rig.directory.iterdir())
    # AND Asterisk's real stream of that channel is recorded whole
    doc = await stream_whole(rig, asterisk, "c-auth-1")
    assert (doc["packets"], doc["frames"]) == (20, 3200)


@pytest.mark.parametrize("tamper", ["signature", "channel", "nonce", "expires"])
async def test_forged_or_altered_credentials_are_refused(rig: Rig, asterisk: Any, tamper: str) -> None:
    real = credentials_for("c-auth-2-stream")
    changed = {"signature": {"signature": "0" * 64}, "channel": {"channel_id": "c-other-stream"},
               "nonce": {"nonce": "guessed"}, "expires": {"expires": real.expires + 600}}[tamper]
    forged = media_credentials.MediaCredentials(**{**{"channel_id": real.channel_id, "nonce": real.nonce,
                                                      "expires": real.expires, "signature": real.signature},
                                                   **changed})
    assert await refused(asterisk(forged.channel_id, credentials=forged)) == 401
    assert not rig.streams._media
    await stream_whole(rig, asterisk, "c-auth-2")


async def test_another_customers_credentials_do_not_open_this_receiver(rig: Rig, asterisk: Any) -> None:
    # Two customers, two secrets: credentials the platform issued for customer B's connection are
    # worthless at customer A's receiver, even for a channel A is about to receive.
    theirs = credentials_for("c-auth-3-stream", secret="customer-b-secret-of-32-characters!!")
    assert await refused(asterisk("c-auth-3-stream", credentials=theirs)) == 401
    await stream_whole(rig, asterisk, "c-auth-3")


async def test_expired_and_replayed_credentials_are_refused(rig: Rig, asterisk: Any) -> None:
    old = credentials_for("c-auth-4-stream", now=time.time() - 3600)
    assert await refused(asterisk("c-auth-4-stream", credentials=old)) == 401
    # the real stream connects once; a replay of its captured URL, during the call or after, is refused
    used = credentials_for("c-auth-4-stream")
    doc = await stream_whole(rig, asterisk, "c-auth-4", used)
    assert doc["packets"] == 20
    replay = asterisk("c-auth-4-stream", credentials=used)  # the captured URL, exactly
    assert await refused(replay) == 401


async def test_credentials_of_one_channel_cannot_claim_another(rig: Rig, asterisk: Any) -> None:
    # valid credentials for channel X, but MEDIA_START names the real call's channel: closed at once
    meta = ws_metadata(rig, "c-auth-5")
    impostor = asterisk(meta.channel_id, credentials=credentials_for("c-impostor-stream"))
    await impostor.connect()
    assert impostor.ws is not None
    msg = await impostor.ws.receive(timeout=2)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and impostor.ws.close_code == 1008
    await stream_whole(rig, asterisk, "c-auth-5")


async def test_a_connection_with_another_nonce_is_not_the_announced_call(rig: Rig, asterisk: Any) -> None:
    # credentials valid for the channel id but issued for another stream (another nonce) than the one
    # the signed start announces: its audio is not written into the call
    meta = ws_metadata(rig, "c-auth-6")
    other = media_credentials.issue(ws_settings(rig).secret, meta.channel_id, time.time(),
                                    nonce="not-this-call")
    ast = asterisk(meta.channel_id, credentials=other)
    async with StreamNotifier(ws_settings(rig)) as notifier:
        await ast.connect()
        await ast.send(TONE)
        await rig.settle()
        assert await notifier.start(meta)
        await ast.send(TONE)
        await rig.settle()
        assert await notifier.end(meta.call_id)
    audio, doc = read(rig.directory / "c-auth-6.wav")
    assert len(audio.samples) == 0 and doc["packets"] == 0
