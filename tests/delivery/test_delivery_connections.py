"""Several customers' connections through one worker (issue 13): no head-of-line blocking, a cap per
connection, fair turns, backoff per connection, and a stop that interrupts cleanly.

Two or more contracts, each with its own file connection enrolled in the contracts tables and its own
real reference receiver (its own port and secret). The receivers are watched by a middleware that
can hold uploads until the test lets them through, so concurrency is observed, never timed: every
assertion compares counts and orders (attempt rows, uploads seen, claim rounds)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.contracts.service import create_contract, enroll_connection
from callrec_ari.db.models import AuditRecord, Delivery, DeliveryAttempt
from callrec_ari.delivery import worker as worker_module
from callrec_ari.delivery.queue import DeliveryQueue, Removal
from callrec_ari.delivery.routing import Transports
from callrec_ari.delivery.service import RecordingSubmitter
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.delivery.worker import DeliveryWorker
from callrec_ari.model.clock import ManualClock
from callrec_ari.observability.metrics import REGISTRY
from callrec_ari.receiver.app import Receiver
from callrec_ari.rules.delivery import DeliveryState
from callrec_ari.rules.signing import HEADER_KEY
from tests.delivery.conftest import RunningReceiver, call_record, free_port, segments_for


class Customer(RunningReceiver):
    """The reference receiver of one customer, watched: uploads seen, in progress, most at once."""

    def __init__(self, directory: Path, port: int, secret: str, stored_order: list[str]) -> None:
        super().__init__(directory, port, secret)
        self.stored_order = stored_order  # shared by every customer of a test: keys in storing order
        self.requests = self.active = self.peak = 0
        self.gate: asyncio.Semaphore | None = None  # when set, each upload waits for a permit
        self.answer: int | None = None  # when set, every upload is answered with this status

    @web.middleware
    async def _watch(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        self.requests += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.gate is not None:
                await self.gate.acquire()
            if self.answer is not None:
                await request.read()
                return web.json_response({"status": "unavailable"}, status=self.answer)
            response = await handler(request)
            if response.status == 200:
                self.stored_order.append(request.headers[HEADER_KEY])
            return response
        finally:
            self.active -= 1

    def open(self) -> None:
        """Let every held upload through, and hold none from now on."""
        if self.gate is not None:
            for _ in range(1000):
                self.gate.release()
        self.gate = None

    async def start(self) -> None:
        app = Receiver(self.directory, self.secret).app()
        app.middlewares.append(self._watch)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()


class CountingQueue(DeliveryQueue):
    """The queue, and the worker's looks at it as an operator counts them
    (callrec_delivery_queue_looks_total): a point in the worker's life to wait for."""

    @property
    def rounds(self) -> float:
        return REGISTRY.get_sample_value("callrec_delivery_queue_looks_total") or 0.0


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for a state (the bound only turns a hang into a failure; nothing is timed)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling the receivers and the database
            await asyncio.sleep(0.01)


async def rounds_pass(queue: CountingQueue, n: int = 3) -> None:
    """Let the worker claim ``n`` more times: had it wanted to start another upload, it would have."""
    target = queue.rounds + n
    await until(lambda: queue.rounds >= target)


@pytest.fixture
def stored_order() -> list[str]:
    return []


@pytest.fixture
async def customers(tmp_path: Path, stored_order: list[str]) -> AsyncIterator[dict[str, Customer]]:
    made = {name: Customer(tmp_path / f"customer-{name}", free_port(), f"secret-of-{name}", stored_order)
            for name in ("A", "B")}
    yield made
    for customer in made.values():
        customer.open()
        await customer.stop()


class Platform:
    """Contracts with their file connections, the calls they record, and a worker."""

    def __init__(self, settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock,
                 spool: Path) -> None:
        self.settings, self.sessions, self.clock, self.spool = settings, sessions, clock, spool
        self.contracts: dict[str, tuple[str, int]] = {}  # customer -> (contract id, connection id)
        self.queue = CountingQueue(sessions, settings.node, clock)

    def enroll(self, name: str, customer: Customer) -> None:
        with self.sessions.begin() as s:
            contract = create_contract(s, f"Customer {name}")
            conn = enroll_connection(s, contract.id, "file", customer.url, customer.secret)
            self.contracts[name] = (str(contract.id), conn.id)

    def record(self, name: str, count: int, start: int = 0) -> list[str]:
        """``count`` calls recorded for the customer; their idempotency keys."""
        contract, connection_id = self.contracts[name]
        submitter = RecordingSubmitter(self.settings, self.sessions, self.clock)
        keys = []
        for i in range(start, start + count):
            call_id = f"{name}-{i}"
            job = submitter.submit({**call_record(call_id), "contract": contract},
                                   segments_for(self.spool, call_id, (0.2,)), connection_id)
            keys.append(job.key)
        return keys

    def worker(self, settings: DeliverySettings | None = None) -> DeliveryWorker:
        s = settings or self.settings
        return DeliveryWorker(s, self.queue, Transports(s, self.sessions), self.clock, sleep=no_wait)

    def attempts(self, name: str) -> list[tuple[str, str | None]]:
        """(call id, outcome) of every attempt at the customer's recordings, in order."""
        contract, _ = self.contracts[name]
        with self.sessions() as s:
            rows = s.execute(select(Delivery.call_id, DeliveryAttempt.outcome)
                             .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
                             .where(Delivery.contract == contract).order_by(DeliveryAttempt.id)).all()
        return [(r[0], r[1]) for r in rows]

    def finished(self, name: str) -> int:
        return sum(1 for _, outcome in self.attempts(name) if outcome is not None)

    def held_back(self, name: str) -> int:
        """The customer's pending recordings not due before a later try time."""
        contract, _ = self.contracts[name]
        with self.sessions() as s:
            return len(s.scalars(select(Delivery.id).where(
                Delivery.contract == contract, Delivery.state == DeliveryState.PENDING,
                Delivery.next_attempt_at > self.clock.now, Delivery.lease_owner.is_(None))).all())

    def states(self, name: str) -> list[str]:
        contract, _ = self.contracts[name]
        with self.sessions() as s:
            return list(s.scalars(select(Delivery.state).where(Delivery.contract == contract)))


@pytest.fixture
def platform(settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock,
             tmp_path: Path) -> Platform:
    s = replace(settings, concurrency=4, per_connection=2, burst_attempts=2, drain_timeout=1.0)
    return Platform(s, sessions, clock, tmp_path / "asterisk")


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


async def test_a_deliverys_files_removal_is_recorded_with_the_next_transaction(
        platform: Platform, customers: dict[str, Customer], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two customers' recordings delivered one after another by a running worker: each one's files are
    gone and recorded as gone, with an audit record naming them, without a transaction of their own
    (the claim or acknowledgement that follows carries them; the last waits REMOVALS_HELD_S, then goes
    alone). Each customer receives its own recordings only."""
    a, b = customers["A"], customers["B"]
    platform.enroll("A", a)
    platform.enroll("B", b)
    await a.start()
    await b.start()
    alone: list[int] = []  # the removals recorded in a transaction of their own, how many each time
    removals = platform.queue.removals

    def recorded_alone(held: Sequence[Removal]) -> None:
        alone.append(len(held))
        removals(held)

    platform.queue.removals = recorded_alone  # type: ignore[method-assign]
    # (held long enough that a slow step of the test cannot send one alone before the next delivery)
    monkeypatch.setattr(worker_module, "REMOVALS_HELD_S", 3.0)
    stop = asyncio.Event()
    settings = replace(platform.settings, wake_interval=0.05, poll_interval=60.0)
    running = asyncio.create_task(platform.worker(settings).run(stop))
    keys: dict[str, list[str]] = {"A": [], "B": []}
    try:
        for i in range(3):
            for name, customer in (("A", a), ("B", b)):
                keys[name] += platform.record(name, 1, start=i)
                await until(lambda c=customer, n=name: len(c.stored()) == len(keys[n]))
        await until(lambda: all(d.files_removed_at is not None for d in deliveries(platform.sessions)))
    finally:
        stop.set()
        await running
    assert alone == [1]  # the last one; the five before it went with the claims and acknowledgements
    assert sorted(p.stem for p in a.stored()) == sorted(keys["A"])
    assert sorted(p.stem for p in b.stored()) == sorted(keys["B"])
    with platform.sessions() as s:
        audits = {r.subject: r.details for r in s.scalars(
            select(AuditRecord).where(AuditRecord.action == "recording-delivered"))}
    assert sorted(audits) == sorted(d.call_id for d in deliveries(platform.sessions))
    for d in deliveries(platform.sessions):
        assert d.zip_path in audits[d.call_id]["removed"] and not Path(d.zip_path).exists()


def deliveries(sessions: sessionmaker[Session]) -> list[Delivery]:
    with sessions() as s:
        return list(s.scalars(select(Delivery)))
