"""The delivery worker serves its own metrics (issue 17): the deliveries are counted in that
process, and the queue gauges (depth, age of the oldest) are set from the queue. It honours
``log_format = "json"`` like the recording app: the call id and the event are fields."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.delivery.service import RecordingSubmitter
from callrec_ari.delivery.settings import DeliverySettings
from tests.delivery.conftest import SECRET, call_record, free_port, segments_for
from tests.support.network import LOOPBACK

ROOT = Path(__file__).resolve().parents[2]


def gauge(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


async def test_the_worker_serves_metrics_with_the_queue_gauges_set(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    # GIVEN two recordings queued an hour ago for a customer whose server is down
    submitter = RecordingSubmitter(settings, sessions, clock=lambda: datetime.now(UTC) - timedelta(hours=1))
    for call in ("m-1", "m-2"):
        submitter.submit(call_record(call, datetime.now(UTC)), segments_for(tmp_path / "wav", call))
    port, dead = free_port(), free_port()
    env = {**os.environ, "CALLREC_DATABASE_URL": settings.database_url,
           "CALLREC_DELIVERY_SPOOL_DIR": settings.spool_dir, "CALLREC_DELIVERY_NODE": settings.node,
           "CALLREC_DELIVERY_CONNECTION_URL": f"http://127.0.0.1:{dead}/recordings",
           "CALLREC_DELIVERY_CONNECTION_SECRET": SECRET, "CALLREC_DELIVERY_POLL_INTERVAL": "0.2",
           "CALLREC_DELIVERY_HTTP_PORT": str(port), "CALLREC_LOG_FORMAT": "json",
           "CALLREC_DELIVERY_ALLOW_DESTINATIONS": ",".join(LOOPBACK)}
    env.pop("CALLREC_CONFIG", None)
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callrec_ari", "deliver", "--no-migrate", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        # WHEN an operator's Prometheus scrapes the worker THEN it sees the backlog and the failures
        text = ""
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                        text = await resp.text()
                    if "callrec_delivery_failures_total{" in text:
                        break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                assert resp.status == 200
        assert gauge(text, "callrec_delivery_queue_depth") == 2
        assert gauge(text, "callrec_delivery_queue_oldest_seconds") >= 3500  # queued an hour ago
        assert 'callrec_delivery_failures_total{reason="connection"}' in text
    finally:
        worker.terminate()
        _, err = await worker.communicate()
    # AND its log is one JSON object per line, the call id and the event as fields
    records = [json.loads(line) for line in err.decode().splitlines() if line.strip()]
    retries = [r for r in records if r.get("event") == "DeliveryRetrying"]
    assert retries and {r["call_id"] for r in retries} <= {"m-1", "m-2"}  # the backed-off one waits
    assert all(r["error_id"] == "connection" for r in retries)
