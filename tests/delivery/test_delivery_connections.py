"""Several customers' connections through one worker (issue 13): no head-of-line blocking, a cap per
connection, fair turns, backoff per connection, and a stop that interrupts cleanly.

Two or more contracts, each with its own file connection enrolled in the contracts tables and its own
real reference receiver (its own port and secret). The receivers are watched by a middleware that
can hold uploads until the test lets them through, so concurrency is observed, never timed: every
assertion compares counts and orders (attempt rows, uploads seen, claim rounds)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from callrec_ari.db.models import Delivery, DeliveryAttempt
from callrec_ari.rules.delivery import DeliveryState
from tests.delivery.customers import Customer, Platform, rounds_pass, until


async def test_a_failing_customer_holds_up_no_one_and_spends_one_probe_per_backoff(
        platform: Platform, customers: dict[str, Customer], stored_order: list[str]) -> None:
    a, b = customers["A"], customers["B"]
    platform.enroll("A", a)
    platform.enroll("B", b)
    # GIVEN A's server answers 503, slowly (each upload held until the test lets it through); B's is up
    a.gate, a.answer = asyncio.Semaphore(0), 503
    await a.start()
    await b.start()
    a_keys = platform.record("A", 6)
    b_keys = platform.record("B", 4)
    worker = platform.worker()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        # THEN all of B's recordings arrive while A's first upload is still hanging
        await until(lambda: len(stored_order) == 4 and a.active == 1)
        assert sorted(stored_order) == sorted(b_keys)
        assert a.requests == 1  # A is unproven: one upload at a time
        # WHEN A's burst fails (503, then the quick retry: 503 again)
        a.gate.release()
        await until(lambda: a.requests == 2)
        a.gate.release()
        await until(lambda: platform.held_back("A") == 6)
        await rounds_pass(platform.queue)
        # THEN that was the one probe of this backoff period: one recording, two attempts, the others untried
        assert platform.attempts("A") == [("A-0", "transient")] * 2
        assert a.requests == 2
        # WHEN A's next try time comes, and A still fails
        platform.clock.advance(timedelta(seconds=platform.settings.retry_interval))
        await until(lambda: a.requests == 3)
        await rounds_pass(platform.queue)
        assert a.active == 1  # one probe, not the six of them
        a.gate.release()
        await until(lambda: a.requests == 4)
        a.gate.release()
        await until(lambda: platform.finished("A") == 4 and platform.held_back("A") == 6)
        await rounds_pass(platform.queue)
        # THEN one more probe only, by another recording (they take turns)
        assert platform.attempts("A")[2:] == [("A-1", "transient")] * 2
        # WHEN A is back and its next try time comes
        a.open()
        a.answer = None
        platform.clock.advance(timedelta(seconds=platform.settings.retry_interval))
        await until(lambda: len(stored_order) == 10)
    finally:
        stop.set()
        await running
    # THEN each of A's recordings arrived exactly once, after B's, and the platform keeps none
    assert sorted(stored_order[4:]) == sorted(a_keys)
    assert sorted(p.stem for p in a.stored()) == sorted(a_keys)
    delivered = [call for call, outcome in platform.attempts("A") if outcome == "delivered"]
    assert sorted(delivered) == [f"A-{i}" for i in range(6)]
    assert len(platform.attempts("A")) == 4 + 6  # two failed probes of two attempts, then one upload each
    assert set(platform.states("A") + platform.states("B")) == {DeliveryState.DELIVERED}
    assert sorted(platform.settings.outbox.glob("*.zip")) == []


async def test_a_dead_port_is_backed_off_as_a_whole_then_everything_arrives_once(
        platform: Platform, customers: dict[str, Customer], stored_order: list[str]) -> None:
    a, b = customers["A"], customers["B"]
    platform.enroll("A", a)
    platform.enroll("B", b)
    # GIVEN nothing listens on A's port; B is up
    await b.start()
    a_keys = platform.record("A", 5)
    platform.record("B", 3)
    worker = platform.worker()
    stats = await worker.run_once()
    # THEN B's arrive; A's connection spent one burst on one recording, the others wait, untried
    assert (stats.delivered, stats.retrying, stats.deferred) == (3, 1, 4)
    assert platform.attempts("A") == [("A-0", "transient")] * 2
    assert (await worker.run_once()).delivered == 0  # nothing of A's is due before its next try time
    assert len(platform.attempts("A")) == 2
    # WHEN A comes back and its next try time comes
    await a.start()
    platform.clock.advance(timedelta(seconds=platform.settings.retry_interval))
    stats = await worker.run_once()
    # THEN the probe succeeds and the rest follow, each exactly once
    assert (stats.delivered, stats.retrying) == (5, 0)
    assert sorted(stored_order[3:]) == sorted(a_keys)
    assert sorted(p.stem for p in a.stored()) == sorted(a_keys)
    assert [o for _, o in platform.attempts("A")] == ["transient"] * 2 + ["delivered"] * 5
    await worker._transports.close()


async def test_uploads_to_one_customer_never_exceed_its_cap(
        platform: Platform, customers: dict[str, Customer], stored_order: list[str]) -> None:
    a, b = customers["A"], customers["B"]
    platform.enroll("A", a)
    platform.enroll("B", b)
    # GIVEN A's server is slow (each upload held until let through), B's is fast; 4 slots, 2 per connection
    a.gate = asyncio.Semaphore(0)
    await a.start()
    await b.start()
    platform.record("A", 7)
    b_keys = platform.record("B", 5)
    stop = asyncio.Event()
    running = asyncio.create_task(platform.worker().run(stop))
    try:
        # THEN A gets one upload until it is proven, then two at a time; B's all arrive meanwhile
        for step, expected in enumerate((1, 2, 2, 2, 2, 2, 1)):
            # (``step`` uploads let through so far, all of them ended, ``expected`` held now)
            await until(lambda n=expected, k=step: (a.active, a.requests - a.active) == (n, k))  # type: ignore[misc]
            if step == 0:
                await until(lambda: sorted(stored_order) == sorted(b_keys))
            await rounds_pass(platform.queue)  # free slots, A's recordings due: a third would start now
            assert a.active == expected
            a.gate.release()
        await until(lambda: len(stored_order) == 12)
    finally:
        stop.set()
        await running
    assert (a.requests, a.peak) == (7, 2)


async def test_a_customer_with_one_recording_is_not_starved_by_one_with_many(
        platform: Platform, customers: dict[str, Customer]) -> None:
    a, b = customers["A"], customers["B"]
    platform.enroll("A", a)
    platform.enroll("B", b)
    await a.start()
    await b.start()
    settings = replace(platform.settings, concurrency=2, per_connection=2)
    worker = platform.worker(settings)
    # GIVEN A proven (one delivered), then 20 more of A's queued before B's one
    platform.record("A", 1)
    assert (await worker.run_once()).delivered == 1
    platform.record("A", 20, start=1)
    platform.clock.advance(timedelta(seconds=1))
    platform.record("B", 1)
    # WHEN the worker delivers them with two slots, each of which A alone could fill
    assert (await worker.run_once()).delivered == 21
    # THEN B's recording was among the first two started, not behind A's twenty older ones
    with platform.sessions() as s:
        started = list(s.scalars(select(Delivery.call_id).join(DeliveryAttempt).order_by(DeliveryAttempt.id)))
    assert started[0] == "A-0"
    assert "B-0" in started[1:3]
    await worker._transports.close()


async def test_stop_interrupts_an_upload_cleanly_and_a_new_worker_delivers_it_once(
        platform: Platform, customers: dict[str, Customer]) -> None:
    a = customers["A"]
    platform.enroll("A", a)
    a.gate = asyncio.Semaphore(0)  # the upload hangs
    await a.start()
    [key] = platform.record("A", 1)
    stop = asyncio.Event()
    settings = replace(platform.settings, drain_timeout=0.05)
    running = asyncio.create_task(platform.worker(settings).run(stop))
    await until(lambda: a.active == 1)
    # WHEN the worker is told to stop and the upload does not end within drain_timeout
    stop.set()
    await running
    # THEN the attempt is recorded as interrupted and the claim given back: the recording is due again
    assert platform.attempts("A") == [("A-0", "interrupted")]
    with platform.sessions() as s:
        row = s.scalars(select(Delivery)).one()
        assert (row.state, row.lease_owner, row.lease_until) == (DeliveryState.PENDING, None, None)
    assert a.stored() == []
    # WHEN the customer's server answers again and a new worker runs
    a.open()
    worker = platform.worker()
    assert (await worker.run_once()).delivered == 1
    assert [p.stem for p in a.stored()] == [key]
    assert [o for _, o in platform.attempts("A")] == ["interrupted", "delivered"]
    await worker._transports.close()
