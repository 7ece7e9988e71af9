"""File delivery end to end (R1.1, R1.2): a real call through Asterisk, recorded in segments,
packaged, pushed by the worker to the real reference receiver, and gone from the platform after.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.db.migrate import upgrade
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.service import make_worker
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.observability.logs import CallIdFilter, JsonFormatter
from callrec_ari.pbx.local import AsteriskTarget
from callrec_ari.receiver.app import serve
from tests.integration.conftest import CALLEE_TONE, CALLER_TONE, assert_clean
from tests.integration.test_call_flow import DEFAULT_TALK_FROM_S, OUTSIDE, StartApp, run_parties, uac, uas
from tests.support.audio import Audio
from tests.support.network import LOOPBACK

pytestmark = pytest.mark.asterisk
SECRET = "integration-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_segmented_call_arrives_as_one_zip_and_leaves_nothing_behind(
    start_app: StartApp, ari: AriClient, asterisk: AsteriskTarget, tones, tmp_path: Path, fresh_db_url: str
):
    received = tmp_path / "received"
    port = free_port()
    settings = DeliverySettings(
        database_url=fresh_db_url,
        spool_dir=str(tmp_path / "spool"),
        poll_interval=0.2, retry_interval=1.0, backoff_initial=0.1, backoff_max=0.5,
        connection=ConnectionSettings(type="http", url=f"http://127.0.0.1:{port}/recordings", secret=SECRET),
        allow_destinations=LOOPBACK,
    )
    upgrade(settings.database_url)
    # The operators' event log: JSON lines, as `callrec run` writes them with log_format = "json".
    log_stream = io.StringIO()
    handler = logging.StreamHandler(log_stream)
    handler.addFilter(CallIdFilter())
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    stop = asyncio.Event()
    receiver = asyncio.create_task(serve(received, SECRET, "127.0.0.1", port, stop))
    worker = asyncio.create_task(make_worker(settings).run(stop))
    try:
        app = await start_app(
            # Asterisk's files roll every 5 s; the delivered segments are cut every 4 s (R1.2).
            recording_roll_seconds=5,
            asterisk_recording_dir=str(asterisk.recording_dir or ""),
            submitter=RecordingSubmitter(settings, segment_seconds=4),
            spool_dir=Path(settings.spool_dir),
        )
        rc = await run_parties(
            uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=13_000),
            uas(tmp_path, tone=tones["callee"]),
        )
        assert rc == (0, 0)
        outcome = await app.outcome()
        assert len(outcome.segments) >= 2  # recording files, rolled
        await assert_clean(ari, outcome.recordings)
        await wait_for(lambda: any(received.glob("*.zip")))
    finally:
        stop.set()
        await asyncio.gather(receiver, worker)
        logging.getLogger().removeHandler(handler)

    zips = list(received.glob("*.zip"))
    assert len(zips) == 1, zips
    with zipfile.ZipFile(zips[0]) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["call_id"] == outcome.plan.call_id
        assert manifest["direction"] == "outgoing" and manifest["callee"] == OUTSIDE
        assert manifest["billing_started_at"] and manifest["notice_started_at"]
        segments = sorted(manifest["segments"], key=lambda s: s["order"])
        names = [s["name"] for s in segments]
        # Every segment but the last is exactly 4 s; the cuts inside a file are continuous, the one
        # holding a roll says how it was joined.
        assert {s["frames"] for s in segments[:-1]} == {4 * 8000} and len(segments) >= 3
        assert segments[0]["joined_by"] is None
        assert "continuous" in {s["joined_by"] for s in segments[1:]}
        assert {s["joined_by"] for s in segments[1:]} <= {"continuous", "audio", "start_times"}
        pcm = b"".join(_frames(z.read(n)) for n in names)
    audio = Audio(np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0, 8000)
    # Back to back, the segments are the whole call: ~13 s, the tones continuous across boundaries
    # once the notice is over (no hole, no doubled stretch showing as a level jump).
    assert 12.0 < audio.duration < 14.5, audio.duration
    talk = slice(int(DEFAULT_TALK_FROM_S / 0.05), int((audio.duration - 0.5) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        present = audio.present(freq)[talk]
        assert present.mean() > 0.97, (freq, present.mean())
    # R1.1: delivered, so nothing of the call is kept on the platform.
    assert not list(Path(settings.spool_dir).rglob("*.zip")), "the ZIP is still in the outbox"
    if asterisk.recording_dir is not None:
        left = list((asterisk.recording_dir / "callrec" / outcome.plan.call_id).glob("*.wav"))
        assert left == [], left
    stored = [r["name"] for r in await ari.stored_recordings()]
    assert not [n for n in stored if outcome.plan.call_id in n]


    # An operator follows the call by its id, from StasisStart to delivery, in order.
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    mine = [line for line in lines if line.get("call_id") == outcome.plan.call_id]
    events = [line.get("event") or line["msg"] for line in mine]
    milestones = ["StasisStart", "Dial", "RecordingStarted", "PlaybackFinished", "StasisEnd",
                  "CallFinished", "Delivered"]
    if app.app.config.carries_calls:  # the dialplan carried it (calls/carried.py): its own milestones
        milestones = ["StasisStart", "CallCarried", "RecordingStarted", "Talking", "CallEnded",
                      "CallFinished", "Delivered"]
    assert events.count("RecordingFinished") == len(outcome.segments)
    positions = [next((i for i, e in enumerate(events) if e == m), -1) for m in milestones]
    assert -1 not in positions, dict(zip(milestones, positions, strict=True))
    assert positions == sorted(positions), dict(zip(milestones, positions, strict=True))
    decision = [line["msg"] for line in mine if "record=True reason=recorded" in line["msg"]]
    assert decision, "the recording decision is not in the event log"


def _frames(wav: bytes) -> bytes:
    import wave

    with wave.open(io.BytesIO(wav)) as w:
        return w.readframes(w.getnframes())
