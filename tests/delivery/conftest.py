"""Fixtures for the delivery component tests: WAV segments, a migrated database, the real receiver."""

from __future__ import annotations

import socket
import struct
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.model.clock import ManualClock
from callrec_ari.receiver.app import UPLOAD_PATH, Receiver
from tests.support.databases import database_copy, migrated
from tests.support.network import LOOPBACK

if TYPE_CHECKING:  # tests/delivery/customers.py imports this module
    from tests.delivery.customers import Customer, Platform

SECRET = "s3cret-for-tests"
RATE = 8000
ENDED = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_wav(path: Path, samples: list[int] | bytes, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = samples if isinstance(samples, bytes) else struct.pack(f"<{len(samples)}h", *samples)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data)
    return path


def ramp(start: int, count: int) -> list[int]:
    """Sample n holds (start + n) mod 30000: any lost or doubled frame shows in the sequence."""
    return [(start + n) % 30000 for n in range(count)]


def call_record(call_id: str, ended: datetime = ENDED) -> dict[str, Any]:
    return {"call_id": call_id, "direction": "outgoing", "line": "09000001001", "caller": "09000001001",
            "callee": "0312345678", "answered": (ended - timedelta(seconds=30)).isoformat(),
            "notice_started": (ended - timedelta(seconds=29)).isoformat(), "ended": ended.isoformat()}


def segments_for(spool: Path, call_id: str, seconds: tuple[float, ...] = (1.0, 1.0),
                 overlap: float = 0.25, noise: bool = False) -> list[tuple[Path, str]]:
    """Segments of one continuous ramp, each overlapping the previous by ``overlap`` seconds."""
    out: list[tuple[Path, str]] = []
    start = ENDED - timedelta(seconds=30)
    pos = 0
    for i, length in enumerate(seconds, start=1):
        frames = int(length * RATE)
        at = start + timedelta(seconds=pos / RATE)
        path = spool / call_id / f"seg{i}.wav"
        if noise:
            import random

            write_wav(path, random.Random(f"{call_id}{i}").randbytes(frames * 2))
        else:
            write_wav(path, ramp(pos, frames))
        out.append((path, at.isoformat()))
        pos += frames - int(overlap * RATE)
    return out


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A database at head: a copy of one migrated once per process (tests/support/databases.py)."""
    with database_copy(tmp_path, "migrated", migrated) as (url, _):
        yield url


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(ENDED + timedelta(seconds=5))


@pytest.fixture
def receiver_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, receiver_port: int) -> DeliverySettings:
    url = f"http://127.0.0.1:{receiver_port}{UPLOAD_PATH}"
    conn = ConnectionSettings(type="http", url=url, secret=SECRET)
    return DeliverySettings(database_url=db_url, spool_dir=str(tmp_path / "spool"), node="node-test",
                            burst_attempts=2, backoff_initial=0.01, backoff_max=0.02, backoff_jitter=0.0,
                            retry_interval=60.0, poll_interval=0.05, connect_timeout=2.0,
                            read_timeout=10.0, connection=conn, allow_destinations=LOOPBACK)


class RunningReceiver:
    def __init__(self, directory: Path, port: int, secret: str) -> None:
        self.directory, self.port, self.secret = directory, port, secret
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{UPLOAD_PATH}"

    async def start(self) -> None:
        self._runner = web.AppRunner(Receiver(self.directory, self.secret).app())
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stored(self) -> list[Path]:
        return sorted(self.directory.glob("*.zip"))


@pytest.fixture
async def receiver(tmp_path: Path, receiver_port: int) -> AsyncIterator[RunningReceiver]:
    """The real receiver, in this process, not started: each test decides when it is up."""
    r = RunningReceiver(tmp_path / "customer", receiver_port, SECRET)
    yield r
    await r.stop()


def with_connection(settings: DeliverySettings, **changes: Any) -> DeliverySettings:
    return replace(settings, connection=replace(settings.connection, **changes))


def spool_files(settings: DeliverySettings, spool: Path) -> list[Path]:
    return sorted(p for p in [*Path(settings.spool_dir).rglob("*"), *spool.rglob("*")] if p.is_file())


# ---- several customers of one platform (tests/delivery/customers.py) --------------------------------
@pytest.fixture
def stored_order() -> list[str]:
    return []


@pytest.fixture
async def customers(tmp_path: Path, stored_order: list[str]) -> AsyncIterator[dict[str, Customer]]:
    from tests.delivery.customers import Customer

    made = {name: Customer(tmp_path / f"customer-{name}", free_port(), f"secret-of-{name}", stored_order)
            for name in ("A", "B")}
    yield made
    for customer in made.values():
        customer.open()
        await customer.stop()


@pytest.fixture
def platform(settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock,
             tmp_path: Path) -> Platform:
    from tests.delivery.customers import Platform

    s = replace(settings, concurrency=4, per_connection=2, burst_attempts=2, drain_timeout=1.0)
    return Platform(s, sessions, clock, tmp_path / "asterisk")
