"""Stream delivery (R1.4) on the real Asterisk: the call's audio reaches the customer's receiver in
real time after the notice and the tone; nothing is kept on the platform; a customer endpoint that
is absent or dies mid-call never disturbs the call. Each test runs over both transports: RTP/UDP and
WebSocket (chan_websocket, connecting to the `callrec-test` entry of dialplan/websocket_client.conf,
hence the receiver's fixed HTTP port WS_PORT).
"""

from __future__ import annotations

import asyncio
import json
import socket
import wave
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.config import DEMO_LINES
from callrec_ari.pbx.local import AsteriskTarget
from callrec_ari.receiver.app import StreamOptions, serve
from callrec_ari.streaming.settings import StreamSettings
from tests.integration.conftest import CALLEE_TONE, CALLER_TONE, assert_clean
from tests.integration.test_call_flow import OUTSIDE, StartApp, run_parties, uac, uas
from tests.support.audio import Audio
from tests.support.network import LOOPBACK

pytestmark = pytest.mark.asterisk
SECRET = "stream-secret"
STREAM_LINES = tuple(replace(line, delivery="stream") for line in DEMO_LINES)
WS_CONNECTION = "callrec-test"  # dialplan/websocket_client.conf
WS_PORT = 18097  # its uri: ws://127.0.0.1:18097/media
TRANSPORTS = ["rtp", "websocket"]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings(http_port: int, rtp_port: int, transport: str = "rtp") -> StreamSettings:
    return StreamSettings(control_url=f"http://127.0.0.1:{http_port}/streams", rtp_host="127.0.0.1",
                          allow_destinations=LOOPBACK,
                          rtp_port=rtp_port, secret=SECRET, format="ulaw", heartbeat_seconds=1.0,
                          transport=transport, websocket_connection=WS_CONNECTION)


def ports(transport: str) -> tuple[int, int]:
    """(receiver HTTP port, RTP port): over WebSocket, Asterisk connects to the configured URI."""
    return (WS_PORT if transport == "websocket" else free_port()), free_port(socket.SOCK_DGRAM)


def read_wav(path: Path) -> Audio:
    with wave.open(str(path)) as w:
        pcm = w.readframes(w.getnframes())
        rate = w.getframerate()
    return Audio(np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0, rate)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_stream_reaches_the_receiver_after_the_notice(
    start_app: StartApp, ari: AriClient, asterisk: AsteriskTarget, tones, tmp_path: Path, transport: str
):
    http_port, rtp_port = ports(transport)
    received = tmp_path / "received"
    stop = asyncio.Event()
    receiver = asyncio.create_task(serve(received, SECRET, "127.0.0.1", http_port, stop,
                                         stream=StreamOptions(rtp_port, "127.0.0.1", 10.0)))
    await asyncio.sleep(0.3)
    spool = tmp_path / "spool"
    try:
        app = await start_app(lines=STREAM_LINES, stream_settings=settings(http_port, rtp_port, transport),
                              spool_dir=spool)
        assert await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=10_000),
                                 uas(tmp_path, tone=tones["callee"])) == (0, 0)
        outcome = await app.outcome()
        for _ in range(50):
            if list((received / "streams").glob("*.wav")):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await receiver
    assert outcome.plan.record and outcome.plan.delivery == "stream"
    assert outcome.recordings == (), "stream delivery must not record on the platform"
    wavs = list((received / "streams").glob("*.wav"))
    assert [w.stem for w in wavs] == [outcome.plan.call_id]
    meta = json.loads((received / "streams" / f"{outcome.plan.call_id}.json").read_text())
    described = meta["metadata"] if isinstance(meta["metadata"], dict) else json.loads(meta["metadata"])
    assert described["call_id"] == outcome.plan.call_id and described["callee"] == OUTSIDE
    assert described["direction"] == "outgoing" and described["format"] == "ulaw"
    assert described["transport"] == transport
    if transport == "websocket":
        assert described["channel_id"] == f"{outcome.plan.call_id}-stream"
    audio = read_wav(wavs[0])
    # Both parties, from the start of the stream (after the notice and tone), to the end of the call.
    assert 4.0 < audio.duration < 7.5, audio.duration
    body = slice(int(0.3 / 0.05), int((audio.duration - 0.3) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        assert audio.present(freq)[body].mean() > 0.95, freq
    assert audio.present(700)[: int(1.0 / 0.05)].mean() < 0.2, "the beep should be over when streaming starts"
    # Delay from the tone's end (talk start) to the first audio at the receiver, for the record.
    first = datetime.fromisoformat(str(meta["first_packet_at"]))
    assert outcome.times.talk_started is not None
    delay_ms = (first - outcome.times.talk_started).total_seconds() * 1000
    print(f"\ntone end -> first stream audio at the receiver ({transport}): {delay_ms:.1f} ms")
    assert not list(spool.rglob("*.wav")) and not list(spool.rglob("*.zip"))
    await assert_clean(ari)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("when", ["absent", "killed-mid-call"])
async def test_customer_down_the_call_goes_on(
    start_app: StartApp, ari: AriClient, tones, tmp_path: Path, when: str, transport: str
):
    http_port, rtp_port = ports(transport)
    stop = asyncio.Event()
    receiver = None
    if when == "killed-mid-call":
        receiver = asyncio.create_task(serve(tmp_path / "received", SECRET, "127.0.0.1", http_port, stop,
                                             stream=StreamOptions(rtp_port, "127.0.0.1", 10.0)))
        await asyncio.sleep(0.3)
    spool = tmp_path / "spool"
    app = await start_app(lines=STREAM_LINES, stream_settings=settings(http_port, rtp_port, transport),
                          spool_dir=spool)
    parties = asyncio.create_task(run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=10_000),
                                              uas(tmp_path, tone=tones["callee"])))
    if receiver is not None:
        await asyncio.sleep(6.5)  # streaming for a while
        stop.set()
        await receiver
    # The parties stay connected for the whole call (SIPp would fail on a dropped call).
    assert await parties == (0, 0)
    outcome = await app.outcome()
    assert outcome.answered and outcome.times.talk_started is not None and outcome.hangup_by == "caller"
    assert not list(spool.rglob("*.wav")), "nothing may be kept on the platform"
    assert app.events("PlaybackFinished"), "the notice still played"
    if transport == "websocket" and when == "absent":
        # chan_websocket could not connect: the channel never entered the app, Asterisk hung it up
        assert any(e.get("channel", {}).get("id", "").endswith("-stream") for e in app.events()), \
            "the stream channel was created"
    else:
        assert any(e["channel"]["id"].endswith("-stream") for e in app.events("StasisStart")), \
            "the stream channel was created"
    await assert_clean(ari)


async def test_contract_connection_chooses_its_stream_format(
    start_app: StartApp, ari: AriClient, tones, tmp_path: Path, fresh_db_url: str
):
    """R1.5: the contract's own stream connection (from the contracts database) decides where and in
    which format: here 16 kHz linear, though the [stream] defaults say 8 kHz µ-law."""
    from callrec_ari.contracts.service import create_contract, enroll_connection, enroll_line
    from callrec_ari.db import make_engine, make_sessionmaker
    from callrec_ari.db.migrate import upgrade
    from callrec_ari.rules.enrollment import LineRequest

    http_port, rtp_port = free_port(), free_port(socket.SOCK_DGRAM)
    upgrade(fresh_db_url)
    db = make_sessionmaker(make_engine(fresh_db_url))
    endpoint = f"rtp://127.0.0.1:{rtp_port}?control=http://127.0.0.1:{http_port}/streams&format=slin16"
    with db.begin() as session:
        contract = create_contract(session, "Streaming K.K.")
        enroll_line(session, contract.id, LineRequest("09000001001", "1001", "Streaming K.K."),
                    recording_started=True, consent=True)
        enroll_connection(session, contract.id, "stream", endpoint, SECRET)
    received = tmp_path / "received"
    stop = asyncio.Event()
    receiver = asyncio.create_task(serve(received, SECRET, "127.0.0.1", http_port, stop,
                                         stream=StreamOptions(rtp_port, "127.0.0.1", 10.0)))
    await asyncio.sleep(0.3)
    try:
        # The [stream] defaults point elsewhere (µ-law, a dead port): the connection must win.
        app = await start_app(lines_from="database", db=db, spool_dir=tmp_path / "spool",
                              stream_settings=settings(free_port(), free_port(socket.SOCK_DGRAM)))
        assert await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=9_000),
                                 uas(tmp_path, tone=tones["callee"])) == (0, 0)
        outcome = await app.outcome()
        for _ in range(50):
            if list((received / "streams").glob("*.wav")):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await receiver
    assert outcome.plan.delivery == "stream" and outcome.plan.stream_endpoint == endpoint
    (wav,) = list((received / "streams").glob("*.wav"))
    audio = read_wav(wav)
    assert audio.rate == 16000
    body = slice(int(0.3 / 0.05), int((audio.duration - 0.3) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        assert audio.present(freq)[body].mean() > 0.95, freq
    await assert_clean(ari)
