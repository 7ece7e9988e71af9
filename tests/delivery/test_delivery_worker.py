"""The worker against the real receiver over loopback HTTP, with a moved clock (R1.1, R1.3, R7.1)."""

from __future__ import annotations

import asyncio
import time
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.db.models import AuditRecord, Delivery, DeliveryAttempt
from callrec_ari.delivery.queue import DeliveryQueue
from callrec_ari.delivery.service import RecordingSubmitter, make_worker
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.model.clock import ManualClock, utcnow
from callrec_ari.observability.metrics import REGISTRY
from callrec_ari.receiver.verify import verify_zip
from callrec_ari.rules.delivery import ClaimPlan, DeliveryState
from tests.delivery.conftest import RunningReceiver, call_record, segments_for, spool_files, with_connection


def submit_calls(settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock,
                 spool: Path, n: int) -> None:
    submitter = RecordingSubmitter(settings, sessions, clock)
    for i in range(n):
        call_id = f"call-{i}"
        submitter.submit(call_record(call_id), segments_for(spool, call_id))


def outbox_zips(settings: DeliverySettings) -> list[Path]:
    return sorted(settings.outbox.glob("*.zip"))


def states(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as s:
        return {d.call_id: d.state for d in s.scalars(select(Delivery))}


async def test_receiver_down_then_up_everything_arrives_once(
        settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock,
        receiver: RunningReceiver, tmp_path: Path) -> None:
    # GIVEN three recorded calls queued while the customer equipment is down
    spool = tmp_path / "asterisk"
    submit_calls(settings, sessions, clock, spool, 3)
    worker = make_worker(settings, sessions, clock)
    await worker.recover()
    stats = await worker.run_once()
    # THEN one recording probed the connection (one burst); the other two wait with it, untried
    assert (stats.delivered, stats.retrying, stats.deferred) == (0, 1, 2)
    # THEN every attempt is on record, nothing is deleted, nothing is due before the retry interval
    with sessions() as s:
        attempts = s.scalars(select(DeliveryAttempt)).all()
        assert len(attempts) == settings.burst_attempts
        assert {a.outcome for a in attempts} == {"transient"}
        assert {a.error_id for a in attempts} == {"connection"}
    assert len(outbox_zips(settings)) == 3
    assert (await worker.run_once()).retrying == 0
    # WHEN the receiver comes back and the retry interval has passed
    await receiver.start()
    clock.advance(timedelta(seconds=settings.retry_interval))
    stats = await worker.run_once()
    # THEN each call arrives exactly once, intact, and the platform keeps nothing
    assert stats.delivered == 3
    assert [p.name for p in receiver.stored()] == ["call-0.zip", "call-1.zip", "call-2.zip"]
    for path in receiver.stored():
        verify_zip(path)
    assert set(states(sessions).values()) == {DeliveryState.DELIVERED}
    assert spool_files(settings, spool) == []
    clock.advance(timedelta(days=1))
    assert (await worker.run_once()).delivered == 0
    assert len(receiver.stored()) == 3
    await worker._transports.close()


async def test_receiver_down_past_seven_days_purged_and_audited(
        settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock,
        receiver: RunningReceiver, tmp_path: Path) -> None:
    spool = tmp_path / "asterisk"
    submit_calls(settings, sessions, clock, spool, 2)
    worker = make_worker(settings, sessions, clock)
    assert (await worker.run_once()).retrying == 1  # one probe; the other waits with its connection
    # one minute before the deadline it is still kept and retried
    clock.now = clock.now.replace() + timedelta(days=7) - timedelta(minutes=1)
    stats = await worker.run_once()
    assert (stats.purged, stats.retrying) == (0, 1)
    assert len(spool_files(settings, spool)) == 2 + 4
    # WHEN the clock passes 7 days after the call ended
    clock.advance(timedelta(minutes=2))
    stats = await worker.run_once()
    # THEN both are purged, with an audit record each, and nothing is left on the platform
    assert stats.purged == 2
    assert spool_files(settings, spool) == []
    assert set(states(sessions).values()) == {DeliveryState.PURGED}
    with sessions() as s:
        audit = s.scalars(select(AuditRecord).order_by(AuditRecord.subject)).all()
    assert [(a.action, a.subject, a.reason) for a in audit] == [
        ("recording-purged", "call-0", "undelivered-at-retention-deadline"),
        ("recording-purged", "call-1", "undelivered-at-retention-deadline"),
    ]
    assert len(audit[0].details["removed"]) == 3  # the ZIP and its two WAVs
    # two failed bursts of the connection, one probe each: the recordings took turns
    assert [a.details["attempts"] for a in audit] == [settings.burst_attempts] * 2
    # a receiver coming back later gets nothing
    await receiver.start()
    clock.advance(timedelta(days=1))
    assert (await worker.run_once()).delivered == 0
    assert receiver.stored() == []
    await worker._transports.close()


async def test_wrong_secret_is_refused_and_nothing_is_deleted_until_a_good_ack(
        settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock,
        receiver: RunningReceiver, tmp_path: Path) -> None:
    spool = tmp_path / "asterisk"
    bad = with_connection(settings, secret="not-the-customers-secret")
    submit_calls(bad, sessions, clock, spool, 1)
    await receiver.start()
    worker = make_worker(bad, sessions, clock)
    stats = await worker.run_once()
    # THEN the 401 is permanent: one attempt, rejected, files kept, nothing stored
    assert stats.rejected == 1
    with sessions() as s:
        row = s.scalars(select(Delivery)).one()
        assert row.state == DeliveryState.REJECTED
        assert row.attempt_count == 1
        assert row.last_error is not None and row.last_error.startswith("signature-invalid")
    assert receiver.stored() == []
    assert len(spool_files(settings, spool)) == 3
    await worker._transports.close()


async def test_segments_play_back_to_back_without_loss_or_doubling(
        settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock,
        receiver: RunningReceiver, tmp_path: Path) -> None:
    import struct

    spool = tmp_path / "asterisk"
    submitter = RecordingSubmitter(settings, sessions, clock)
    submitter.submit(call_record("long"), segments_for(spool, "long", (1.0, 1.5, 0.5), overlap=0.3))
    await receiver.start()
    worker = make_worker(settings, sessions, clock)
    assert (await worker.run_once()).delivered == 1
    with zipfile.ZipFile(receiver.stored()[0]) as zf:
        pcm = b"".join(zf.read(f"segment-00{i}.wav")[44:] for i in (1, 2, 3))
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    assert list(samples) == [n % 30000 for n in range(len(samples))]
    assert len(samples) == 8000 + 12000 + 4000 - 2 * 2400
    await worker._transports.close()


async def test_a_queued_recording_rings_the_worker_long_before_its_next_poll(
        settings: DeliverySettings, sessions: sessionmaker[Session], receiver: RunningReceiver,
        tmp_path: Path) -> None:
    # GIVEN a running worker that looks at the queue only once a minute, with nothing queued yet
    settings = replace(settings, poll_interval=60.0, wake_interval=0.05)
    await receiver.start()
    worker = make_worker(settings, sessions)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.3)  # its first look found nothing; the next poll is a minute away
        # WHEN the app queues a finished call (two customers' copies would ring the same bell)
        RecordingSubmitter(settings, sessions, utcnow).submit(call_record("rung", datetime.now(UTC)),
                                                              segments_for(tmp_path / "asterisk", "rung"))
        # THEN it is delivered within seconds, not at the next poll
        async with asyncio.timeout(5):
            while states(sessions).get("rung") != DeliveryState.DELIVERED:  # noqa: ASYNC110 - the database
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    assert [p.name for p in receiver.stored()] == ["rung.zip"]
    assert not outbox_zips(settings)


async def test_an_upload_ending_reads_the_queue_again_only_when_something_may_be_left(
        settings: DeliverySettings, sessions: sessionmaker[Session], receiver: RunningReceiver,
        tmp_path: Path) -> None:
    """A look that took all that was due leaves nothing for the next one: an upload ending then costs
    no database round trip (one recording queued, one look). A connection held to two uploads at a
    time, with five queued, does leave some, and gets the next as soon as an upload ends, not at the
    next poll."""
    settings = replace(settings, poll_interval=60.0, wake_interval=0.05, per_connection=2)
    await receiver.start()
    worker = make_worker(settings, sessions)

    def looks() -> float:  # what an operator sees of the worker's reads of its queue
        return REGISTRY.get_sample_value("callrec_delivery_queue_looks_total") or 0.0

    # A database slow to record a removal (a busy machine; it failed so once in CI): the worker's own
    # removal of a ZIP changed the bell long before the queue says it is done, and is no ring.
    removals = worker._queue.removals

    def slowly(*args):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        return removals(*args)

    worker._queue.removals = slowly  # type: ignore[method-assign]
    submit = RecordingSubmitter(settings, sessions, utcnow).submit
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))

    async def delivered(*calls: str) -> None:
        async with asyncio.timeout(5):  # the next poll is a minute away
            while any(states(sessions).get(c) != DeliveryState.DELIVERED for c in calls):  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    try:
        await asyncio.sleep(0.3)
        submit(call_record("first", datetime.now(UTC)), segments_for(tmp_path / "asterisk", "first"))
        await delivered("first")  # the connection is proven: its width is now per_connection
        await asyncio.sleep(0.3)
        before = looks()
        submit(call_record("alone", datetime.now(UTC)), segments_for(tmp_path / "asterisk", "alone"))
        await delivered("alone")
        await asyncio.sleep(0.3)
        assert looks() - before == 1  # the doorbell's; the upload's end found the queue drained
        # Five at once for a connection that takes two at a time: an upload's end looks again.
        held = [f"held-{n}" for n in range(1, 6)]
        for name in held:
            submit(call_record(name, datetime.now(UTC)), segments_for(tmp_path / "asterisk", name))
        await delivered(*held)
    finally:
        stop.set()
        await running
    assert sorted(p.name for p in receiver.stored()) == sorted(f"{c}.zip" for c in ["first", "alone", *held])


async def test_the_claim_opens_each_first_attempt_and_a_burst_numbers_the_rest(
        settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock,
        receiver: RunningReceiver, tmp_path: Path) -> None:
    # GIVEN two recorded calls queued
    spool = tmp_path / "asterisk"
    submit_calls(settings, sessions, clock, spool, 2)
    queue = DeliveryQueue(sessions, settings.node, clock)
    # WHEN a worker claims them: each one's attempt is open from the claim on, before any upload
    _due, _plan, _deferred, jobs = queue.claim_due(
        10, lambda due: ClaimPlan(tuple((d.key, 5) for d in due), ()), "w:1", timedelta(seconds=30))
    assert len(jobs) == 2 and all(j.attempt_id is not None and j.attempt_count == 1 for j in jobs)
    with sessions() as s:
        opened = s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)).all()
        assert [(a.id, a.number, a.worker, a.finished_at) for a in opened] == [
            (j.attempt_id, 1, "w:1", None) for j in sorted(jobs, key=lambda j: j.attempt_id or 0)]
    # WHEN that worker is gone and the customer's server is down: a new worker takes both over
    worker = make_worker(settings, sessions, clock)
    await worker.recover()
    stats = await worker.run_once()
    # THEN the claimed attempts were closed as interrupted, and one burst ran on the connection,
    # numbered on from there
    assert (stats.delivered, stats.retrying, stats.deferred) == (0, 1, 1)
    with sessions() as s:
        attempts = s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)).all()
        assert [a.outcome for a in attempts[:2]] == ["interrupted", "interrupted"]
        burst = attempts[2:]
        assert len(burst) == settings.burst_attempts
        assert {a.outcome for a in burst} == {"transient"} and all(a.finished_at for a in burst)
        assert [a.number for a in burst] == list(range(2, 2 + settings.burst_attempts))
    # WHEN the server is back: each recording is delivered in one more attempt, the claim's own
    await receiver.start()
    clock.advance(timedelta(seconds=settings.retry_interval))
    assert (await worker.run_once()).delivered == 2
    with sessions() as s:
        for row in s.scalars(select(Delivery)):
            mine = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == row.id)
                             .order_by(DeliveryAttempt.number)).all()
            assert mine[-1].outcome == "delivered" and mine[-1].finished_at is not None
            assert row.attempt_count == mine[-1].number and all(a.finished_at for a in mine)
    await worker._transports.close()
