"""Fixtures for the stream delivery tests: the real reference receiver over loopback, RTP senders."""

from __future__ import annotations

import asyncio
import math
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callrec_ari.receiver.app import Receiver
from callrec_ari.receiver.stream import StreamReceiver
from callrec_ari.rules.stream import FORMATS, build_rtp, ulaw_encode
from callrec_ari.streaming import protocol
from callrec_ari.streaming.metadata import StreamMetadata, build_metadata
from callrec_ari.streaming.settings import StreamSettings
from tests.support.network import LOOPBACK

SECRET = "stream-secret-for-tests"
PACKET_MS = 20
STARTED = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> bytes:
    """16-bit little-endian PCM of a sine."""
    count = round(seconds * rate)
    return struct.pack(f"<{count}h", *(round(amplitude * 32767 * math.sin(2 * math.pi * freq * n / rate))
                                       for n in range(count)))


def rtp_packets(pcm16le: bytes, fmt_name: str, *, ssrc: int = 0x1234, first_seq: int = 1000,
                first_ts: int = 50_000) -> list[bytes]:
    """The packets Asterisk would send for this audio: 20 ms each, µ-law or big-endian L16."""
    fmt = FORMATS[fmt_name]
    per_packet = fmt.sample_rate * PACKET_MS // 1000
    out = []
    for i, pos in enumerate(range(0, len(pcm16le) // 2, per_packet)):
        chunk = pcm16le[2 * pos: 2 * (pos + per_packet)]
        if fmt_name == "ulaw":
            payload = ulaw_encode(chunk)
        else:
            n = len(chunk) // 2
            payload = struct.pack(f">{n}h", *struct.unpack(f"<{n}h", chunk))
        out.append(build_rtp(payload, payload_type=fmt.payload_type, sequence=first_seq + i,
                             timestamp=first_ts + pos, ssrc=ssrc))
    return out


class RtpSender:
    """A UDP socket on 127.0.0.1 with its own port: one externalMedia channel's source."""

    def __init__(self, destination: tuple[str, int]) -> None:
        self.destination = destination
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    @property
    def source(self) -> str:
        host, port = self.sock.getsockname()
        return f"{host}:{port}"

    async def send(self, packets: list[bytes]) -> None:
        for i, packet in enumerate(packets):
            self.sock.sendto(packet, self.destination)
            if i % 10 == 9:
                await asyncio.sleep(0.001)  # let the receiver drain: loopback drops bursts past its buffer

    def close(self) -> None:
        self.sock.close()


@dataclass
class Rig:
    streams: StreamReceiver
    directory: Path
    rtp: tuple[str, int]
    http_port: int

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}{protocol.CONTROL_PATH}"

    def settings(self, **changes: Any) -> StreamSettings:
        values: dict[str, Any] = {"control_url": self.control_url, "rtp_host": self.rtp[0],
                                  "rtp_port": self.rtp[1], "secret": SECRET, "heartbeat_seconds": 0.1,
                                  "timeout_seconds": 1.0, "allow_destinations": LOOPBACK, **changes}
        return StreamSettings(**values)

    def metadata(self, call_id: str, sender: RtpSender, fmt: str = "ulaw") -> StreamMetadata:
        return build_metadata(call_id=call_id, line="09000001001", caller="09000001001", callee="0312345678",
                              direction="outgoing", started_at=STARTED, rtp_source=sender.source,
                              settings=self.settings(format=fmt))

    def wavs(self) -> list[Path]:
        return sorted(self.directory.glob("*.wav"))

    async def settle(self, seconds: float = 0.05) -> None:
        """Let queued datagrams reach the receiver's protocol (same event loop)."""
        await asyncio.sleep(seconds)


async def start_rig(directory: Path, **kwargs: Any) -> tuple[Rig, web.AppRunner]:
    streams = StreamReceiver(directory / "streams", SECRET, **kwargs)
    app = Receiver(directory, SECRET).app()  # the file delivery receiver, as `callrec receiver` runs it
    streams.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rtp = await streams.start("127.0.0.1", 0)
    assert rtp is not None
    port = runner.addresses[0][1]
    return Rig(streams, directory / "streams", rtp, port), runner


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r, runner = await start_rig(tmp_path / "customer")
    try:
        yield r
    finally:
        await runner.cleanup()
        await r.streams.stop()


@pytest.fixture
def senders(rig: Rig) -> Iterator[list[RtpSender]]:
    made: list[RtpSender] = []
    yield made
    for s in made:
        s.close()


@pytest.fixture
def new_sender(rig: Rig, senders: list[RtpSender]) -> Any:
    def make() -> RtpSender:
        s = RtpSender(rig.rtp)
        senders.append(s)
        return s
    return make


@pytest.fixture
async def asterisk(rig: Rig) -> AsyncIterator[Any]:
    """``asterisk(channel_id, fmt="ulaw", json_format=True, credentials=…)``: Asterisk's side of one
    WebSocket stream (tests/streaming/websocket_fakes.py), with the channel's credentials by default."""
    from tests.streaming.websocket_fakes import FakeAsterisk, fake_asterisk

    made: list[FakeAsterisk] = []

    def make(channel_id: str, fmt: str = "ulaw", json_format: bool = True, **kwargs: Any) -> FakeAsterisk:
        a = fake_asterisk(rig.http_port, channel_id, fmt=fmt, json_format=json_format, **kwargs)
        made.append(a)
        return a

    yield make
    for a in made:
        await a.hangup()
