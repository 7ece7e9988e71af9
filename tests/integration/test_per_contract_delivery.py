"""Every recording reaches its own customer, and only its own customer (R1.5, R3.1; issue 13).

Real calls through the real Asterisk 22 and the app with lines from the contracts database; three
contracts, each with its own equipment: A and B the reference receiver on their own ports with their
own secrets (HTTP), C a real OpenSSH server (SFTP). The configured ``[delivery.connection]`` points
at a port where nothing listens: in a multi-tenant setup nothing may ever go there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.contracts import service
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import AuditRecord, Delivery
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.service import make_worker
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.pbx.local import AsteriskTarget
from callrec_ari.receiver.app import StreamOptions, serve
from callrec_ari.receiver.verify import verify_zip
from callrec_ari.rules.enrollment import LineRequest
from tests.integration.conftest import CALLEE_TONE, CALLER_TONE, assert_clean
from tests.integration.test_call_flow import (
    ANALYSED_NOTICE,
    OUTSIDE,
    TALK_FROM_S,
    StartApp,
    run_parties,
    uac,
    uas,
)
from tests.integration.test_faults import manifest_of
from tests.integration.test_rules_in_calls import register
from tests.integration.test_stream_delivery import read_wav as read_stream
from tests.support.network import LOOPBACK
from tests.support.sipp import Sipp, uas_scenario
from tests.support.sshd import SSHD_USABLE, Sshd, run_sshd

pytestmark = [pytest.mark.asterisk,
              pytest.mark.skipif(not SSHD_USABLE, reason="needs openssh-server and root")]
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
        """The call's WAVs on the platform: in Asterisk's folder, or fetched into the app's spool."""
        return sorted({*self.recording_dir.rglob(f"{call_id}-*.wav"), *self.root.rglob(f"{call_id}-*.wav")})

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


async def test_each_customer_gets_its_own_calls_and_a_call_between_two_reaches_both(
    start_app: StartApp, ari, tones, tmp_path: Path, platform: Platform  # type: ignore[no-untyped-def]
):
    a, b, c = (platform.customers[n] for n in "ABC")
    await a.up()  # B's equipment is down at first: A's copy of the A-B call must not wait for it
    platform.start_worker()
    app = await start_app(lines_from="database", db=platform.db,
                          submitter=RecordingSubmitter(platform.settings, platform.db))
    await register(tmp_path, "1002", 5090, 6020)

    # GIVEN a call of each customer's line to the outside world, and a call from A's line to B's
    await call(start_app, tmp_path, tones, "A", OUTSIDE)
    only_a = (await app.outcome()).plan.call_id
    await call(start_app, tmp_path, tones, "C", OUTSIDE)
    only_c = (await app.outcome()).plan.call_id
    await call(start_app, tmp_path, tones, "A", LINE["B"][0], talk_ms=9_000, callee_line="1002")
    both = await app.outcome()
    assert [r.contract for r in both.plan.recipients] == [str(a.contract_id), str(b.contract_id)]

    # THEN A's equipment gets A's two calls, C's SFTP server C's call ...
    await wait_until(lambda: len(a.zips()) == 2 and len(c.zips()) == 1)
    assert sorted(m["call_id"] for m in a.manifests()) == sorted([only_a, both.plan.call_id])
    assert [m["call_id"] for m in c.manifests()] == [only_c]
    # ... while B's copy of the A-B call waits, and so do the call's WAVs: they go with the last copy
    await wait_until(lambda: [j.state for j in platform.jobs(both.plan.call_id)] == ["delivered", "pending"]
                     and platform.jobs(both.plan.call_id)[0].files_removed_at is not None)
    assert platform.wavs(both.plan.call_id), "the WAVs went before B's copy was delivered"
    assert len(platform.outbox()) == 1

    # WHEN B's equipment comes up THEN its copy arrives there, and only then is the platform empty
    await b.up()
    # (the worker removes a copy's ZIP, then the WAVs, then records that it has: wait for that record)
    await wait_until(lambda: len(b.zips()) == 1 and not platform.outbox()
                     and all(j.files_removed_at is not None for j in platform.jobs(both.plan.call_id)))
    assert [m["call_id"] for m in b.manifests()] == [both.plan.call_id]
    assert not platform.wavs(both.plan.call_id) and not platform.wavs(only_a) and not platform.wavs(only_c)

    # Each copy: its own contract, its own line, the parties as they were, verified by its own receiver
    # (the reference receiver checks the HMAC with its own customer's secret; SFTP checks the files).
    for customer, line in ((a, LINE["A"][0]), (b, LINE["B"][0]), (c, LINE["C"][0])):
        for manifest in customer.manifests():
            assert manifest["contract"] == str(customer.contract_id)
            assert manifest["line"] == line
    for zip_path in c.zips():
        verify_zip(zip_path)
    copy_a = next(z for z in a.zips() if manifest_of(z)[0]["call_id"] == both.plan.call_id)
    (manifest_a, audio_a), (manifest_b, audio_b) = manifest_of(copy_a), manifest_of(b.zips()[0])
    assert (manifest_a["caller"], manifest_a["callee"]) == (manifest_b["caller"], manifest_b["callee"])
    assert manifest_a["idempotency_key"] != manifest_b["idempotency_key"]
    # the notice in the record: what both parties heard, when, and that it played
    for manifest in (manifest_a, manifest_b):
        heard = manifest["notices"]
        assert [(n["to"], n["sound"], n["outcome"]) for n in heard] == [  # type: ignore[union-attr]
            ("both", f"sound:{ANALYSED_NOTICE}", "played"), ("both", "sound:beep", "played")]
        assert all(n["started_at"] and n["ended_at"] for n in heard)  # type: ignore[union-attr]
    # both copies hold the whole call: the same audio, both parties' tones after the notice
    assert abs(audio_a.duration - audio_b.duration) < 0.01 and audio_a.duration > 6
    talk = slice(int(TALK_FROM_S / 0.05), int((audio_a.duration - 0.5) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        assert audio_a.present(freq)[talk].mean() > 0.9 and audio_b.present(freq)[talk].mean() > 0.9
    # nothing of one customer at another's: every ZIP is where its manifest says it belongs
    assert len(a.zips()) + len(b.zips()) + len(c.zips()) == 4
    await assert_clean(ari)


async def test_a_dead_customer_never_slows_another_and_edits_and_removals_apply_to_queued_copies(
    start_app: StartApp, ari, tones, tmp_path: Path, platform: Platform  # type: ignore[no-untyped-def]
):
    a, b = platform.customers["A"], platform.customers["B"]
    await a.up()
    await b.up()
    platform.start_worker()
    app = await start_app(lines_from="database", db=platform.db,
                          submitter=RecordingSubmitter(platform.settings, platform.db))

    # GIVEN A's equipment hanging: it takes the connection and the upload, and never answers
    await a.down()
    async with Hanging(a.port) as hang:
        await call(start_app, tmp_path, tones, "A", OUTSIDE, talk_ms=2_000)
        stuck = (await app.outcome()).plan.call_id
        await wait_until(lambda: hang.held == 1)
        # WHEN B's call ends THEN its copy arrives while A's upload is still held open, unanswered:
        # nothing of B waits behind A (no clock: the order of what happened is the proof)
        await call(start_app, tmp_path, tones, "B", OUTSIDE, talk_ms=2_000)
        second = await app.outcome()
        await wait_until(lambda: len(b.zips()) == 1)
        assert hang.held == 1 and hang.received > 0, "A's upload ended before B's copy arrived"
        assert [m["call_id"] for m in b.manifests()] == [second.plan.call_id]
        held = platform.jobs(stuck)
        assert [(j.state, j.lease_owner is not None) for j in held] == [("pending", True)] and not a.zips()
    # WHEN A's equipment drops the connection THEN A's copy stays queued for a retry
    await wait_until(lambda: platform.jobs(stuck)[0].state == "pending"
                     and platform.jobs(stuck)[0].last_error is not None)
    assert not a.zips()

    # WHEN A's customer moves its equipment (edits the connection) THEN the retries go to the new place
    moved = Customer("A2", secret="secret-of-customer-a-new", port=free_port(), inbox=tmp_path / "rx-a2")
    await moved.up()
    try:
        with platform.db.begin() as s:  # what the portal's edit does (contracts.service.edit_connection)
            service.edit_connection(s, a.connection_id, endpoint=f"http://127.0.0.1:{moved.port}/recordings",
                                    secret=moved.secret)
        await wait_until(lambda: len(moved.zips()) == 1)
        assert [m["call_id"] for m in moved.manifests()] == [stuck] and not a.zips()
    finally:
        await moved.down()

    # WHEN B removes its connection while a copy is queued THEN the copy is never sent anywhere else:
    # it waits, failing with connection-removed, and is purged with an audit record at its deadline.
    await b.down()
    await call(start_app, tmp_path, tones, "B", OUTSIDE, talk_ms=2_000)
    orphan = (await app.outcome()).plan.call_id
    await wait_until(lambda: bool(platform.jobs(orphan)))
    with platform.db.begin() as s:
        service.remove_connection(s, b.connection_id)
    await wait_until(lambda: "connection-removed" in (platform.jobs(orphan)[0].last_error or ""))
    await platform.stop_worker()
    late = datetime.now(UTC) + timedelta(days=8)
    await make_worker(platform.settings, platform.db, clock=lambda: late).run_once()
    assert [j.state for j in platform.jobs(orphan)] == ["purged"]
    with platform.db() as s:
        audits = s.scalars(select(AuditRecord).where(AuditRecord.subject == orphan,
                                                     AuditRecord.action == "recording-purged")).all()
    assert len(audits) == 1 and not platform.outbox() and not platform.wavs(orphan)
    await b.up()
    await asyncio.sleep(0.5)
    assert [m["call_id"] for m in b.manifests()] == [second.plan.call_id]
    await assert_clean(ari)


async def test_a_call_between_a_file_and_a_stream_customer_reaches_each_its_own_way(
    start_app: StartApp, ari, tones, tmp_path: Path, platform: Platform  # type: ignore[no-untyped-def]
):
    a, b = platform.customers["A"], platform.customers["B"]
    b.rtp_port = free_port(socket.SOCK_DGRAM)
    with platform.db.begin() as s:  # B takes its calls as a stream (R1.4), A as files (R1.1)
        service.enroll_connection(s, b.contract_id, "stream", b.stream_endpoint(), b.secret)
    await a.up()
    await b.up()
    platform.start_worker()
    app = await start_app(lines_from="database", db=platform.db,
                          submitter=RecordingSubmitter(platform.settings, platform.db))
    await register(tmp_path, "1002", 5090, 6020)

    # GIVEN a call from A's line to B's: A records to file, B streams
    await call(start_app, tmp_path, tones, "A", LINE["B"][0], talk_ms=7_000, callee_line="1002")
    mixed = await app.outcome()
    assert [(r.contract, r.delivery) for r in mixed.plan.recipients] == [
        (str(a.contract_id), "file"), (str(b.contract_id), "stream")]
    # THEN A gets its ZIP, B its stream, and neither the other's
    await wait_until(lambda: len(a.zips()) == 1 and mixed.plan.call_id in b.streams())
    assert [m["call_id"] for m in a.manifests()] == [mixed.plan.call_id] and not b.zips()
    assert not (a.inbox / "streams").exists() or not a.streams()
    assert b.streams()[mixed.plan.call_id]["metadata"]["line"] == LINE["B"][0]  # type: ignore[index]
    heard = b.streams()[mixed.plan.call_id]["metadata"]["notices"]  # type: ignore[index]
    assert [(n["sound"], n["outcome"]) for n in heard] == [  # type: ignore[union-attr]
        (f"sound:{ANALYSED_NOTICE}", "played"), ("sound:beep", "played")]
    audio = read_stream(b.inbox / "streams" / f"{mixed.plan.call_id}.wav")
    body = slice(int(0.3 / 0.05), int((audio.duration - 0.3) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        assert audio.present(freq)[body].mean() > 0.9, freq
    await wait_until(lambda: not platform.outbox() and not platform.wavs(mixed.plan.call_id))

    # WHEN A streams too THEN the next call between them is two streams, each to its own customer
    a.rtp_port = free_port(socket.SOCK_DGRAM)
    await a.down()
    await a.up()
    with platform.db.begin() as s:
        service.enroll_connection(s, a.contract_id, "stream", a.stream_endpoint(), a.secret)
    await call(start_app, tmp_path, tones, "A", LINE["B"][0], talk_ms=6_000, callee_line="1002")
    streams = await app.outcome()
    assert [r.delivery for r in streams.plan.recipients] == ["stream", "stream"]
    assert streams.recordings == (), "stream delivery keeps nothing on the platform"
    await wait_until(lambda: streams.plan.call_id in a.streams() and streams.plan.call_id in b.streams())
    assert a.streams()[streams.plan.call_id]["metadata"]["line"] == LINE["A"][0]  # type: ignore[index]
    assert b.streams()[streams.plan.call_id]["metadata"]["line"] == LINE["B"][0]  # type: ignore[index]
    for customer in (a, b):
        heard = read_stream(customer.inbox / "streams" / f"{streams.plan.call_id}.wav")
        body = slice(int(0.3 / 0.05), int((heard.duration - 0.3) / 0.05))
        for freq in (CALLER_TONE, CALLEE_TONE):
            assert heard.present(freq)[body].mean() > 0.9, (customer.name, freq)
    assert len(a.zips()) == 1 and not b.zips()
    # the call records say how the call's own line (A's, the caller's) was delivered
    with platform.db() as s:
        rows = s.execute(select(CallRecord.call_id, CallRecord.delivery_type)).all()
    kinds = {call_id: kind for call_id, kind in rows}
    assert kinds == {mixed.plan.call_id: "file", streams.plan.call_id: "stream"}
    await assert_clean(ari)
