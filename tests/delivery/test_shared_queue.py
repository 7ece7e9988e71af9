"""Many delivery workers on one queue (issue 18): each recording delivered once, each expired one
purged and audited once, a killed worker's claims taken over when their lease expires.

Several workers share a queue on PostgreSQL (``FOR UPDATE SKIP LOCKED``; docs/scaling.md): the
three-process test runs in `make test`'s PostgreSQL pass. The purge race runs on both databases.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.models import AuditRecord, Delivery, DeliveryAttempt
from callrec_ari.delivery.queue import DeliveryQueue
from callrec_ari.delivery.retention import purge_expired
from callrec_ari.delivery.service import RecordingSubmitter
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.model.clock import ManualClock
from tests.delivery.conftest import ENDED, SECRET, RunningReceiver, call_record, segments_for
from tests.support.network import LOOPBACK

ROOT = Path(__file__).resolve().parents[2]


def queue_many(settings: DeliverySettings, sessions: sessionmaker[Session], spool: Path, n: int,
               ended: datetime = ENDED) -> list[str]:
    submitter = RecordingSubmitter(settings, sessions)
    ids = [f"shared-{i:03d}" for i in range(n)]
    for call_id in ids:
        submitter.submit(call_record(call_id, ended), segments_for(spool, call_id, (0.2,), overlap=0.0))
    return ids


async def test_an_expired_recording_is_purged_and_audited_once_however_many_workers_race(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ids = queue_many(settings, sessions, tmp_path / "asterisk", 20)
    later = ManualClock(ENDED + timedelta(days=8))  # past every recording's 7-day deadline
    engines = [make_engine(settings.database_url) for _ in range(3)]
    try:
        queues = [DeliveryQueue(make_sessionmaker(e), settings.node, later) for e in engines]
        counts = await asyncio.gather(*(purge_expired(q, f"delivery-worker@w{i}", f"w{i}")
                                        for i, q in enumerate(queues)))
    finally:
        for engine in engines:
            engine.dispose()
    assert sum(counts) == 20
    with sessions() as s:
        audited = Counter(s.scalars(select(AuditRecord.subject).where(
            AuditRecord.action == "recording-purged")).all())
        states = set(s.scalars(select(Delivery.state)).all())
    assert audited == Counter({call_id: 1 for call_id in ids})  # once each, by whichever worker
    assert states == {"purged"}
    assert not list(Path(settings.spool_dir).rglob("*.zip"))


async def test_a_refusal_that_comes_after_another_worker_purged_the_recording_changes_nothing(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """Found by `make soak`: a worker mid-attempt (its lease ran out meanwhile) found the ZIP gone,
    because another worker had purged the recording at its deadline, and marked it refused: the purge
    (audited) was undone and the recording counted lost. The late refusal now changes nothing."""
    (call_id,) = queue_many(settings, sessions, tmp_path / "asterisk", 1, ended=datetime.now(UTC))
    slow = DeliveryQueue(sessions, settings.node, ManualClock(datetime.now(UTC) + timedelta(seconds=5)))
    (job,) = slow.claim("slow", [(c.key, 1) for c in slow.due_connections(10)], timedelta(seconds=30))
    # The other worker's clock is past the deadline, and past the slow one's lease.
    later = DeliveryQueue(sessions, settings.node, ManualClock(datetime.now(UTC) + timedelta(days=8)))
    assert await purge_expired(later, "delivery-worker@late", "late") == 1
    assert slow.reject(job.id, "local-file: ZIP missing") is False
    assert slow.reschedule(job.id, ENDED + timedelta(days=9), "late") is False
    with sessions() as s:
        row = s.scalars(select(Delivery).where(Delivery.call_id == call_id)).one()
        audited = s.scalars(select(AuditRecord.subject).where(AuditRecord.action == "recording-purged")).all()
    assert row.state == "purged" and row.last_error is None
    assert audited == [call_id]
    # A recording still waiting is refused as before.
    other = RecordingSubmitter(settings, sessions).submit(
        call_record("shared-other", datetime.now(UTC)),
        segments_for(tmp_path / "asterisk", "shared-other", (0.2,), overlap=0.0))
    assert slow.reject(other.id, "http-4xx: 400") is True


def worker_env(settings: DeliverySettings, url: str) -> dict[str, str]:
    env = {**os.environ, "CALLREC_DATABASE_URL": settings.database_url,
           "CALLREC_DELIVERY_SPOOL_DIR": settings.spool_dir, "CALLREC_DELIVERY_NODE": settings.node,
           "CALLREC_DELIVERY_CONNECTION_URL": url, "CALLREC_DELIVERY_CONNECTION_SECRET": SECRET,
           "CALLREC_DELIVERY_POLL_INTERVAL": "0.1", "CALLREC_DELIVERY_BACKOFF_INITIAL": "0.05",
           "CALLREC_DELIVERY_RETRY_INTERVAL": "0.2", "CALLREC_DELIVERY_CONCURRENCY": "4",
           # A killed worker's claims come free this long after it took them (docs/scaling.md).
           "CALLREC_DELIVERY_LEASE_SECONDS": "3", "CALLREC_DELIVERY_PURGE_INTERVAL": "1",
           "CALLREC_DELIVERY_ALLOW_DESTINATIONS": ",".join(LOOPBACK)}
    env.pop("CALLREC_CONFIG", None)
    return env


@pytest.mark.skipif(not os.environ.get("CALLREC_DATABASE_URL", "").startswith("postgres"),
                    reason="workers share a queue on PostgreSQL (FOR UPDATE SKIP LOCKED)")
async def test_three_workers_deliver_300_recordings_once_with_one_killed_midway(
        settings: DeliverySettings, sessions: sessionmaker[Session], receiver: RunningReceiver,
        tmp_path: Path) -> None:
    ids = queue_many(settings, sessions, tmp_path / "asterisk", 300, ended=datetime.now(UTC))
    await receiver.start()
    env = worker_env(settings, receiver.url)
    workers = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callrec_ari", "deliver", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL) for _ in range(3)]

    def delivered() -> int:
        with sessions() as s:
            return int(s.scalar(select(func.count(Delivery.id)).where(
                Delivery.state == "delivered", Delivery.files_removed_at.is_not(None))) or 0)

    try:
        async with asyncio.timeout(120):
            while delivered() < 60:  # noqa: ASYNC110 - polling the database
                await asyncio.sleep(0.05)
            workers[0].send_signal(signal.SIGKILL)  # midway, with claims and uploads in flight
            await workers[0].wait()
            while delivered() < 300:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    finally:
        for w in workers:
            if w.returncode is None:
                w.send_signal(signal.SIGTERM)
                await w.wait()
    # Each recording is at the customer once, and the queue says each was delivered by one attempt.
    assert sorted(p.stem for p in receiver.stored()) == ids
    with sessions() as s:
        won = Counter(s.scalars(select(DeliveryAttempt.delivery_id).where(
            DeliveryAttempt.outcome == "delivered")).all())
        by_worker = Counter(s.scalars(select(DeliveryAttempt.worker).where(
            DeliveryAttempt.outcome == "delivered")).all())
        still_open = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.finished_at.is_(None))).all()
        interrupted = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.outcome == "interrupted")).all()
    assert len(won) == 300 and set(won.values()) == {1}
    assert len(by_worker) == 3  # all three took part (the killed one before it died)
    # No attempt is left open: the killed worker's uploads in flight (if any at that instant) are on
    # record as interrupted, closed by the worker that took its claims over.
    assert still_open == [] and all("taken over" in (a.detail or "") for a in interrupted)
    assert not list(Path(settings.spool_dir).rglob("*.zip"))
