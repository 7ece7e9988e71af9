"""The multi-tenant delivery rig of the integration tests: three contracts, each with its own equipment
(A and B the reference receiver on their own ports with their own secrets, C a real OpenSSH server),
the platform's delivery worker, a server that hangs, and a real call of a customer's line. Used by
test_per_contract_delivery.py, test_sealed_delivery.py and test_leg_recording.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.contracts import service
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import Delivery
from callrec_ari.delivery.service import make_worker
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.pbx.local import AsteriskTarget
from callrec_ari.receiver.app import StreamOptions, serve
from callrec_ari.rules.enrollment import LineRequest
from tests.integration.test_call_flow import ANALYSED_NOTICE, StartApp, run_parties, uac, uas
from tests.support.network import LOOPBACK
from tests.support.sipp import Sipp, uas_scenario
from tests.support.sshd import Sshd, run_sshd

LINE = {"A": ("09000001001", "1001"), "B": ("09000001002", "1002"), "C": ("09000001003", "1003")}


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Customer:
    """One contract and its own equipment."""

    name: str
    contract_id: int = 0
    connection_id: int = 0
    secret: str = ""
    port: int = 0
    inbox: Path = Path()
    rtp_port: int = 0  # set: the receiver takes streams too (RTP on this port, notifications on /streams)
    identities: tuple[str, ...] = ()  # age private keys: sealed uploads are stored decrypted
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def zips(self) -> list[Path]:
        return sorted(self.inbox.glob("*.zip"))

    def streams(self) -> dict[str, dict[str, object]]:
        """Call id -> the stream's metadata, for each stream this customer received."""
        return {p.stem: json.loads(p.read_text()) for p in sorted((self.inbox / "streams").glob("*.json"))}

    def stream_endpoint(self) -> str:
        return f"rtp://127.0.0.1:{self.rtp_port}?control=http://127.0.0.1:{self.port}/streams"

    def manifests(self) -> list[dict[str, object]]:
        out = []
        for path in self.zips():
            with zipfile.ZipFile(path) as z:
                out.append(json.loads(z.read("manifest.json")))
        return out

    async def up(self) -> None:
        if self.port and self.task is None:
            self.stop = asyncio.Event()
            stream = StreamOptions(self.rtp_port, "127.0.0.1", 10.0) if self.rtp_port else None
            self.task = asyncio.create_task(serve(self.inbox, self.secret, "127.0.0.1", self.port, self.stop,
                                                  stream=stream, age_identities=self.identities))
            await asyncio.sleep(0.2)

    async def down(self) -> None:
        if self.task is not None:
            self.stop.set()
            await self.task
            self.task = None


@dataclass
class Platform:
    db: sessionmaker[Session]
    settings: DeliverySettings
    customers: dict[str, Customer]
    recording_dir: Path
    root: Path
    worker_stop: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None

    def start_worker(self) -> None:
        self.worker_stop = asyncio.Event()
        self.worker = asyncio.create_task(make_worker(self.settings, self.db).run(self.worker_stop))

    async def stop_worker(self) -> None:
        self.worker_stop.set()
        if self.worker is not None:
            await self.worker

    def outbox(self) -> list[Path]:
        return sorted(Path(self.settings.spool_dir).rglob("*.zip"))

    def wavs(self, call_id: str) -> list[Path]:
        """The call's recording files on the platform (WAVs, and MixMonitor's two-channel raw files):
        in Asterisk's folder, or fetched into the app's spool."""
        return sorted(p for folder in (self.recording_dir, self.root) for p in folder.rglob(f"{call_id}-*")
                      if p.suffix in (".wav", ".raw"))

    def jobs(self, call_id: str) -> list[Delivery]:
        with self.db() as s:
            return list(s.scalars(select(Delivery).where(Delivery.call_id == call_id).order_by(Delivery.id)))


async def wait_until(predicate, timeout: float = 40.0) -> None:  # type: ignore[no-untyped-def]
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


class Hanging:
    """A customer's server that hangs: it accepts connections and reads what comes, and never answers."""

    def __init__(self, port: int) -> None:
        self.port, self.held, self.received = port, 0, 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.held += 1
        self._writers.append(writer)
        try:
            while chunk := await reader.read(65536):
                self.received += len(chunk)
        finally:
            self.held -= 1

    async def __aenter__(self) -> Hanging:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


@pytest.fixture
async def platform(tmp_path: Path, fresh_db_url: str, asterisk: AsteriskTarget) -> AsyncIterator[Platform]:
    upgrade(fresh_db_url)
    db = make_sessionmaker(make_engine(fresh_db_url))
    with contextlib.ExitStack() as stack:
        sshd: Sshd = stack.enter_context(run_sshd(tmp_path))
        customers = {
            "A": Customer("A", secret="secret-of-customer-a", port=free_port(), inbox=tmp_path / "rx-a"),
            "B": Customer("B", secret="secret-of-customer-b", port=free_port(), inbox=tmp_path / "rx-b"),
            "C": Customer("C", inbox=sshd.inbox),
        }
        with db.begin() as s:
            for name, customer in customers.items():
                holder = f"Customer {name} K.K."
                contract = service.create_contract(s, holder)
                number, endpoint = LINE[name]
                service.enroll_line(s, contract.id, LineRequest(number, endpoint, holder),
                                    recording_started=True, consent=True, notice=ANALYSED_NOTICE)
                url = (f"sftp://root@127.0.0.1:{sshd.port}{sshd.inbox}" if name == "C"
                       else f"http://127.0.0.1:{customer.port}/recordings")
                secret = customer.secret or "not-used-by-sftp"
                conn = service.enroll_connection(s, contract.id, "file", url, secret)
                customer.contract_id, customer.connection_id = contract.id, conn.id
        settings = DeliverySettings(
            database_url=fresh_db_url, spool_dir=str(tmp_path / "spool"),
            poll_interval=0.1, retry_interval=1.0, backoff_initial=0.1, backoff_max=0.3, burst_attempts=2,
            sftp_key=str(sshd.key), sftp_known_hosts=str(sshd.known_hosts), allow_destinations=LOOPBACK,
            # Single-tenant only: with contracts, nothing may ever be sent here.
            connection=ConnectionSettings(type="http", url=f"http://127.0.0.1:{free_port()}/recordings",
                                          secret="the-configured-default"),
        )
        rig = Platform(db, settings, customers, Path(asterisk.recording_dir or tmp_path / "recordings"),
                       tmp_path)
        try:
            yield rig
        finally:
            await rig.stop_worker()
            for customer in customers.values():
                await customer.down()


async def call(start: StartApp | None, tmp_path: Path, tones, frm: str,  # type: ignore[no-untyped-def]
               to: str, talk_ms: int = 5_000, callee_line: str = "") -> None:
    caller = uac(tmp_path, to, user=LINE[frm][1], tone=tones["caller"], talk_ms=talk_ms)
    if callee_line:
        callee = Sipp(uas_scenario(tone=tones["callee"]), tmp_path, 5090, 6020, target="",
                      name=f"line{callee_line}")
    else:
        callee = uas(tmp_path, tone=tones["callee"])
    assert await run_parties(caller, callee) == (0, 0)


