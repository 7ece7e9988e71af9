"""Stream delivery end to end over loopback: the platform's notifier, RTP as Asterisk sends it, and the
real reference receiver writing each call's WAV and metadata."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from callrec_ari.rules.signing import HEADER_SIGNATURE, webhook_digest, webhook_headers
from callrec_ari.rules.stream import build_rtp
from callrec_ari.streaming import protocol
from callrec_ari.streaming.notify import StreamNotifier
from tests.streaming.conftest import SECRET, STARTED, Rig, RtpSender, rtp_packets, sine, start_rig
from tests.support.audio import Audio

Sender = Callable[[], RtpSender]


def read(path: Path) -> tuple[Audio, dict[str, Any]]:
    return Audio.from_wav_bytes(path.read_bytes()), json.loads(path.with_suffix(".json").read_text())


async def test_ulaw_tone_arrives_whole_with_its_metadata(rig: Rig, new_sender: Sender) -> None:
    # GIVEN a call announced by the platform, then 1 s of a 1 kHz tone as 8 kHz µ-law RTP
    sender = new_sender()
    meta = rig.metadata("1700000000.1", sender)
    async with StreamNotifier(rig.settings()) as notifier:
        assert await notifier.start(meta)
        await sender.send(rtp_packets(sine(1000, 1.0, 8000), "ulaw"))
        await rig.settle()
        assert await notifier.heartbeat(meta.call_id)
        ended = await notifier.end(meta.call_id, "hangup")
    # THEN the WAV is 8 kHz, exactly 1 s, the tone throughout; the JSON holds the metadata and stats
    assert ended and notifier.counters.notifications_failed == 0
    assert [p.name for p in rig.wavs()] == ["1700000000.1.wav"]
    audio, doc = read(rig.wavs()[0])
    assert (audio.rate, len(audio.samples)) == (8000, 8000)
    assert audio.present(1000, threshold=0.4).all()
    assert doc["metadata"] == meta.to_json()
    assert (doc["packets"], doc["lost"], doc["end_reason"], doc["frames"]) == (50, 0, "hangup", 8000)
    assert doc["first_packet_at"] >= doc["start_received_at"]
    assert not list(rig.directory.glob("*.part"))


async def test_slin16_is_written_at_16_khz_sample_exact(rig: Rig, new_sender: Sender) -> None:
    sender = new_sender()
    meta = rig.metadata("c-slin", sender, fmt="slin16")
    pcm = sine(440, 0.6, 16000, amplitude=0.8)
    async with StreamNotifier(rig.settings(format="slin16")) as notifier:
        assert await notifier.start(meta)
        await sender.send(rtp_packets(pcm, "slin16"))
        await rig.settle()
        assert await notifier.end(meta.call_id)
    wav = rig.directory / "c-slin.wav"
    audio, doc = read(wav)
    assert audio.rate == 16000 and doc["metadata"]["payload_type"] == 118
    assert wav.read_bytes()[44:] == pcm  # L16 is lossless: big-endian on the wire, little-endian in the WAV


async def test_lost_packets_become_silence_and_late_or_doubled_ones_are_dropped(
        rig: Rig, new_sender: Sender) -> None:
    # GIVEN 1 s of tone where packets 10..14 (100 ms) never arrive, packet 20 comes twice
    # and packet 3 arrives again after packet 20 (reordered far too late)
    sender = new_sender()
    meta = rig.metadata("c-loss", sender)
    packets = rtp_packets(sine(1000, 1.0, 8000), "ulaw")
    wire = [p for i, p in enumerate(packets) if not 10 <= i <= 14]
    at20 = wire.index(packets[20])
    wire[at20 + 1: at20 + 1] = [packets[20], packets[3]]
    async with StreamNotifier(rig.settings()) as notifier:
        assert await notifier.start(meta)
        await sender.send(wire)
        await rig.settle()
        assert await notifier.end(meta.call_id)
    audio, doc = read(rig.directory / "c-loss.wav")
    # THEN the file keeps the call's real length, with 800 samples of digital silence in the hole
    assert len(audio.samples) == 8000
    assert not audio.samples[1600:2400].any()
    assert np.abs(audio.samples[1500:1600]).max() > 0.3 and np.abs(audio.samples[2400:2500]).max() > 0.3
    assert (doc["lost"], doc["duplicates"], doc["late"], doc["silence_frames"]) == (5, 1, 1, 800)


async def test_bad_signature_is_refused_and_nothing_is_written(rig: Rig, new_sender: Sender) -> None:
    sender = new_sender()
    meta = rig.metadata("c-forged", sender)
    body = protocol.encode("start", meta.call_id, STARTED, metadata=meta.to_json())
    now = int(time.time())
    async with aiohttp.ClientSession() as s:
        for headers, error_id in (
                (webhook_headers("m1", now, webhook_digest("not-the-secret", "m1", now, body)),
                 "signature-invalid"),
                (webhook_headers("m2", now - 3600, webhook_digest(SECRET, "m2", now - 3600, body)),
                 "signature-expired"),  # a captured notification, replayed an hour later
                ({HEADER_SIGNATURE: protocol.sign(body, SECRET)}, "signature-missing"),  # legacy only
                ({}, "signature-missing")):
            async with s.post(rig.control_url, data=body, headers=headers) as resp:
                assert (resp.status, (await resp.json())["error_id"]) == (401, error_id)
        garbage = b"{not json"
        signed = webhook_headers("m3", now, webhook_digest(SECRET, "m3", now, garbage))
        async with s.post(rig.control_url, data=garbage, headers=signed) as resp:
            answer = await resp.json()
            assert (resp.status, answer["error_id"]) == (400, "body-invalid") and answer["message"]
    # RTP from that source is never attributed to the forged call
    await sender.send(rtp_packets(sine(1000, 0.2, 8000), "ulaw"))
    await rig.settle()
    rig.streams.sweep(now=float("inf"))  # held packets expire
    assert not list(rig.directory.iterdir()) and not rig.streams.calls
    assert rig.streams.unattributed_packets == 10


async def test_invalid_metadata_gets_a_clear_422(rig: Rig, new_sender: Sender) -> None:
    meta = rig.metadata("c-bad", new_sender()).to_json()
    meta["sample_rate"] = 16000  # ulaw is 8 kHz
    async with StreamNotifier(rig.settings()) as notifier:
        result = await notifier._send("start", "c-bad", metadata=meta)
    assert (result.ok, result.status, result.remote_error_id) == (False, 422, "metadata-invalid")
    assert "sample_rate" in result.detail and not list(rig.directory.iterdir())


async def test_two_concurrent_streams_are_kept_apart_by_source_port(rig: Rig, new_sender: Sender) -> None:
    a, b = new_sender(), new_sender()
    meta_a, meta_b = rig.metadata("call-a", a), rig.metadata("call-b", b)
    pa = rtp_packets(sine(700, 0.8, 8000), "ulaw", ssrc=1)
    pb = rtp_packets(sine(2100, 0.8, 8000), "ulaw", ssrc=1)  # same SSRC and numbering: only the port differs
    async with StreamNotifier(rig.settings()) as notifier:
        assert await notifier.start(meta_a) and await notifier.start(meta_b)
        for x, y in zip(pa, pb, strict=True):
            await a.send([x])
            await b.send([y])
        await rig.settle()
        assert await notifier.end("call-a") and await notifier.end("call-b")
    audio_a, _ = read(rig.directory / "call-a.wav")
    audio_b, _ = read(rig.directory / "call-b.wav")
    assert audio_a.present(700, 0.4).all() and not audio_a.present(2100, 0.05).any()
    assert audio_b.present(2100, 0.4).all() and not audio_b.present(700, 0.05).any()


async def test_packets_before_the_start_notification_are_attached(rig: Rig, new_sender: Sender) -> None:
    sender = new_sender()
    meta = rig.metadata("c-early", sender)
    packets = rtp_packets(sine(1000, 0.5, 8000), "ulaw")
    await sender.send(packets[:5])  # the start notification lost the race with the first packets
    await rig.settle()
    async with StreamNotifier(rig.settings()) as notifier:
        assert await notifier.start(meta)
        await sender.send(packets[5:])
        await rig.settle()
        assert await notifier.end(meta.call_id)
    audio, doc = read(rig.directory / "c-early.wav")
    assert len(audio.samples) == 4000 and doc["packets"] == 25
    assert doc["first_packet_at"] < doc["start_received_at"]


async def test_packets_after_the_end_are_counted_and_a_call_reusing_the_port_gets_its_own(
        rig: Rig, new_sender: Sender, caplog: pytest.LogCaptureFixture) -> None:
    sender = new_sender()
    packets = rtp_packets(sine(1000, 0.4, 8000), "ulaw")
    first = rig.metadata("c-first", sender)
    async with StreamNotifier(rig.settings()) as notifier:
        assert await notifier.start(first)
        await sender.send(packets[:10])
        await rig.settle()
        assert await notifier.end(first.call_id)
        # The stream's last 3 packets come after its end notification: not the call's, not a warning.
        await sender.send(packets[10:13])
        await rig.settle()
        rig.streams.sweep(now=time.monotonic() + 2 * rig.streams.pending_seconds)
        assert (rig.streams.after_end_packets, rig.streams.unattributed_packets) == (3, 0)
        assert "never announced" not in caplog.text
        # Asterisk gives the port to the next call: its packets before its start are held for it.
        second = rig.metadata("c-second", sender)
        await sender.send(packets[13:18])
        await rig.settle()
        assert await notifier.start(second)
        await sender.send(packets[18:20])
        await rig.settle()
        assert await notifier.end(second.call_id)
    _, doc_first = read(rig.directory / "c-first.wav")
    _, doc_second = read(rig.directory / "c-second.wav")
    assert (doc_first["packets"], doc_second["packets"]) == (10, 7)
    assert rig.streams.after_end_packets == 3


async def test_idle_stream_is_finalized_and_a_later_heartbeat_restarts_it(tmp_path: Path) -> None:
    rig, runner = await start_rig(tmp_path, idle_timeout=0.2)
    sender = RtpSender(rig.rtp)
    try:
        meta = rig.metadata("c-idle", sender)
        async with StreamNotifier(rig.settings()) as notifier:
            assert await notifier.start(meta)
            await sender.send(rtp_packets(sine(1000, 0.2, 8000), "ulaw"))
            await rig.settle(0.5)
            # THEN the platform's silence (no end) did not leave a .part forever
            _, doc = read(rig.directory / "c-idle.wav")
            assert (doc["end_reason"], doc["frames"]) == ("idle-timeout", 1600)
            # a heartbeat the receiver no longer knows makes the notifier announce the call again
            assert await notifier.heartbeat(meta.call_id)
            assert "c-idle" in rig.streams.calls
            assert await notifier.end(meta.call_id)
        assert [p.name for p in rig.wavs()] == ["c-idle.2.wav", "c-idle.wav"]
    finally:
        sender.close()
        await runner.cleanup()
        await rig.streams.stop()


async def test_rtp_with_another_payload_type_is_not_mixed_in(rig: Rig, new_sender: Sender) -> None:
    sender = new_sender()
    meta = rig.metadata("c-pt", sender)
    async with StreamNotifier(rig.settings()) as notifier:
        assert await notifier.start(meta)
        await sender.send([build_rtp(struct.pack("!BBH", 1, 10, 160), payload_type=101, sequence=1,
                                     timestamp=0, ssrc=9)])  # an RFC 4733 DTMF event
        await sender.send(rtp_packets(sine(1000, 0.1, 8000), "ulaw"))
        await rig.settle()
        assert await notifier.end(meta.call_id)
    _, doc = read(rig.directory / "c-pt.wav")
    assert (doc["frames"], doc["unexpected_payload"]) == (800, 1)


@pytest.mark.parametrize("reason", ["hangup", "receiver-test"])
async def test_end_twice_is_harmless(rig: Rig, new_sender: Sender, reason: str) -> None:
    meta = rig.metadata("c-twice", new_sender())
    async with StreamNotifier(rig.settings()) as notifier:
        assert await notifier.start(meta)
        assert await notifier.end(meta.call_id, reason)
        assert await notifier.end(meta.call_id, reason)
    _, doc = read(rig.directory / "c-twice.wav")
    assert doc["end_reason"] == reason and doc["frames"] == 0


async def test_a_notification_replayed_within_the_window_is_refused(rig: Rig, new_sender: Sender) -> None:
    # a captured `end` (or `start`) sent again, even seconds later: each webhook-id counts once
    meta = rig.metadata("c-replay", new_sender())
    body = protocol.encode("start", meta.call_id, STARTED, metadata=meta.to_json())
    now = int(time.time())
    headers = webhook_headers("start-1", now, webhook_digest(SECRET, "start-1", now, body))
    async with aiohttp.ClientSession() as s:
        async with s.post(rig.control_url, data=body, headers=headers) as resp:
            assert resp.status == 200
        async with s.post(rig.control_url, data=body, headers=headers) as resp:
            assert (resp.status, (await resp.json())["error_id"]) == (401, "signature-replayed")
