"""Stream delivery latency (issue 9): from the tone's end (the parties are connected and the stream
channel joins the bridge) to the first audio at the customer's receiver, per transport.

Real Asterisk 22, the app in this process, the reference receiver, SIPp calls one after another.
The tone's end is the app's talk start; the first audio is the receiver's arrival time of the first
packet (RTP) or binary message (WebSocket). Both clocks are this machine's.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import QUICK, log
from callrec_ari.app import CallrecApp
from callrec_ari.config import DEMO_LINES, load_config
from callrec_ari.model.call import FinishedCall
from callrec_ari.pbx.local import LocalAsterisk
from callrec_ari.receiver.app import StreamOptions, serve
from callrec_ari.streaming.settings import StreamSettings
from tests.support.sipp import Sipp, tone_file, uac_scenario, uas_scenario

SECRET = "bench-stream-secret"
WS_PORT = 18097  # the receiver's HTTP port the [callrec-test] websocket_client.conf entry points at
RTP_PORT = 18098
CALLS = 3 if QUICK else 8


async def _transport(work: Path, asterisk_url: str, transport: str) -> list[float]:
    received = work / f"received-{transport}"
    stop = asyncio.Event()
    receiver = asyncio.create_task(serve(received, SECRET, "127.0.0.1", WS_PORT, stop,
                                         stream=StreamOptions(RTP_PORT, "127.0.0.1", 5.0)))
    settings = StreamSettings(control_url=f"http://127.0.0.1:{WS_PORT}/streams", rtp_host="127.0.0.1",
                              rtp_port=RTP_PORT, secret=SECRET, transport=transport,
                              websocket_connection="callrec-test", heartbeat_seconds=2.0,
                              allow_destinations=("127.0.0.0/8",))  # the bench's receiver
    config = load_config(env={}, ari_url=asterisk_url, http_port=0,
                         lines=tuple(replace(line, delivery="stream") for line in DEMO_LINES))
    outcomes: asyncio.Queue[FinishedCall] = asyncio.Queue()

    async def finished(outcome: FinishedCall) -> None:
        outcomes.put_nowait(outcome)

    app = CallrecApp(config, on_finished=finished, spool_dir=work / "spool", stream_settings=settings)
    runner = asyncio.create_task(app.run())
    delays: list[float] = []
    try:
        await asyncio.wait_for(app.ready.wait(), 15)
        tone_a, tone_b = tone_file(work, 1200), tone_file(work, 1800)
        for _ in range(CALLS):
            callee = Sipp(uas_scenario(tone=tone_b), work, 5080, 6010, target="", name="uas").start()
            await asyncio.sleep(0.3)
            caller = Sipp(uac_scenario(tone=tone_a, talk_ms=6_000), work, 5070, 6000, service="0312345678",
                          user="1001", password="callrec1001", name="uac").start()
            await caller.wait()
            await callee.wait(15)
            outcome = await asyncio.wait_for(outcomes.get(), 30)
            meta_path = received / "streams" / f"{outcome.plan.call_id}.json"
            for _ in range(60):
                if meta_path.exists():
                    break
                await asyncio.sleep(0.1)
            meta: dict[str, Any] = json.loads(meta_path.read_text())
            first = datetime.fromisoformat(str(meta["first_packet_at"]))
            assert outcome.times.talk_started is not None
            delays.append((first - outcome.times.talk_started).total_seconds() * 1000)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        stop.set()
        await receiver
    return delays


async def _run(work: Path) -> dict[str, Any]:
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    asterisk = LocalAsterisk(work / "asterisk.log")
    target = await asterisk.start()
    try:
        out: dict[str, Any] = {}
        for transport in ("rtp", "websocket"):
            delays = await _transport(work, target.ari_url, transport)
            log(f"stream {transport}: tone end -> first audio {[round(d, 1) for d in delays]} ms")
            out[transport] = {"p50": round(statistics.median(delays), 1), "max": round(max(delays), 1),
                              "n": len(delays)}
        return out
    finally:
        asterisk.stop()


def run_stream(work: Path) -> dict[str, Any]:
    return asyncio.run(_run(work))
