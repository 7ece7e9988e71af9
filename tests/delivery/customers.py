"""Several customers of one platform for the delivery worker's tests (tests/delivery/conftest.py
``customers``, ``platform``): each customer's reference receiver, watched (uploads seen, in progress,
held until the test lets them through), and the contracts with their file connections, the calls they
record and a worker over them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.contracts.service import create_contract, enroll_connection
from callrec_ari.db.models import Delivery, DeliveryAttempt
from callrec_ari.delivery.queue import DeliveryQueue
from callrec_ari.delivery.routing import Transports
from callrec_ari.delivery.service import RecordingSubmitter
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.delivery.worker import DeliveryWorker
from callrec_ari.model.clock import ManualClock
from callrec_ari.observability.metrics import REGISTRY
from callrec_ari.receiver.app import Receiver
from callrec_ari.rules.delivery import DeliveryState
from callrec_ari.rules.signing import HEADER_KEY
from tests.delivery.conftest import RunningReceiver, call_record, segments_for


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
