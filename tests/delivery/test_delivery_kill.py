"""R7.1: a worker killed with SIGKILL mid-upload; after a restart the recording arrives once, intact."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.db.models import Delivery, DeliveryAttempt
from callrec_ari.delivery.service import RecordingSubmitter
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.receiver.verify import verify_zip
from tests.delivery.conftest import SECRET, RunningReceiver, call_record, free_port, segments_for, spool_files
from tests.support.network import LOOPBACK

ROOT = Path(__file__).resolve().parents[2]


class SlowProxy:
    """TCP relay in front of the receiver that trickles the request so a kill lands mid-upload."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.forwarded = 0
        self.slow = True
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool) -> None:
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
                if count:
                    self.forwarded += len(data)
                    if self.slow:
                        await asyncio.sleep(0.02)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(reader, up_writer, True), self._pipe(up_reader, writer, False))


async def start_worker(settings: DeliverySettings, url: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "CALLREC_DATABASE_URL": settings.database_url,
           "CALLREC_DELIVERY_SPOOL_DIR": settings.spool_dir, "CALLREC_DELIVERY_NODE": settings.node,
           "CALLREC_DELIVERY_CONNECTION_URL": url, "CALLREC_DELIVERY_CONNECTION_SECRET": SECRET,
           "CALLREC_DELIVERY_POLL_INTERVAL": "0.1", "CALLREC_DELIVERY_BACKOFF_INITIAL": "0.05",
           "CALLREC_DELIVERY_RETRY_INTERVAL": "0.2",
           "CALLREC_DELIVERY_ALLOW_DESTINATIONS": ",".join(LOOPBACK)}
    env.pop("CALLREC_CONFIG", None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callrec_ari", "deliver", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def wait_for(predicate: object, timeout: float = 20.0) -> None:
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling the database and the receiver's folder
            await asyncio.sleep(0.05)


async def test_sigkill_mid_upload_then_restart_delivers_once_intact(
        settings: DeliverySettings, sessions: sessionmaker[Session], receiver: RunningReceiver,
        tmp_path: Path) -> None:
    # GIVEN a call of ~190 kB of incompressible audio queued, and a slow path to the receiver
    spool = tmp_path / "asterisk"
    record = call_record("killed", datetime.now(UTC))  # the subprocess runs on the real clock
    segments = segments_for(spool, "killed", (6.0, 6.0), noise=True)
    RecordingSubmitter(settings, sessions).submit(record, segments)
    await receiver.start()
    proxy = SlowProxy(receiver.port)
    await proxy.start()
    url = f"http://127.0.0.1:{proxy.port}/recordings"
    worker = await start_worker(settings, url)
    try:
        # WHEN the worker is killed once part of the body has gone out
        await wait_for(lambda: proxy.forwarded > 40_000)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        await asyncio.sleep(0.3)
        # THEN nothing partial is stored and the open attempt is on record
        assert receiver.stored() == []
        with sessions() as s:
            attempt = s.scalars(select(DeliveryAttempt)).one()
            assert (attempt.finished_at, attempt.outcome) == (None, None)
        # WHEN a new worker starts
        proxy.slow = False
        worker = await start_worker(settings, url)

        def delivered() -> bool:
            with sessions() as s:
                row = s.scalars(select(Delivery)).one()
                return row.files_removed_at is not None

        await wait_for(delivered)
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
            await worker.wait()
        await proxy.stop()
    # THEN the recording arrived once, intact, the killed attempt is marked, the platform is empty
    assert [p.name for p in receiver.stored()] == ["killed.zip"]
    verify_zip(receiver.stored()[0])
    with sessions() as s:
        outcomes = [a.outcome for a in s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))]
    assert outcomes == ["interrupted", "delivered"]
    assert spool_files(settings, spool) == []
