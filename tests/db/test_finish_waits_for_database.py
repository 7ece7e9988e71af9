"""A call that ends while PostgreSQL is restarting loses neither its record nor its delivery (issue
20: the soak restarts the database under load). A real PostgreSQL of the test's own is stopped, two
customers' calls end, the server comes back seconds later: both records and both queue entries are
there, each with its own contract. The same with the work in the app's threads and in its worker
processes (app/handover.py), whose failures cross a process boundary."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.app.finish import CallFinisher
from callrec_ari.app.handover import HandOver, InProcesses, InThreads
from callrec_ari.config import Config
from callrec_ari.contracts import service
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import Delivery
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.model.call import CallTimes, FinishedCall, RecordedSegment
from callrec_ari.model.plan import CallPlan, Recipient
from callrec_ari.rules.enrollment import LineRequest
from tests.support.private_postgres import PrivatePostgres

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs its own PostgreSQL (initdb): needs root")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres() -> PrivatePostgres:
    pg = PrivatePostgres(free_port(), name="test")
    pg.start()
    yield pg
    pg.stop()


def segment(recordings: Path, call_id: str) -> RecordedSegment:
    path = recordings / "callrec" / call_id / f"{call_id}-001.wav"
    path.parent.mkdir(parents=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\1\0" * 8000)
    return RecordedSegment(f"callrec/{call_id}/{call_id}-001", 1, datetime.now(UTC) - timedelta(seconds=2))


def two_customers(db: sessionmaker[Session]) -> dict[str, tuple[str, Recipient]]:
    recipients = {}
    with db.begin() as s:
        for name, endpoint, number in (("A", "1001", "09000001001"), ("B", "1002", "09000001002")):
            contract = service.create_contract(s, f"Customer {name} K.K.")
            service.enroll_line(s, contract.id, LineRequest(number, endpoint, f"Customer {name} K.K."),
                                recording_started=True, consent=True)
            conn = service.enroll_connection(s, contract.id, "file", f"https://{name.lower()}.example/rec",
                                             f"secret-of-customer-{name.lower()}")
            recipients[name] = (endpoint, Recipient(number, "file", contract=str(contract.id),
                                                    connection_id=conn.id))
    return recipients


def finished_calls(recipients: dict[str, tuple[str, Recipient]], recordings: Path,
                   tag: str) -> list[FinishedCall]:
    now = datetime.now(UTC)
    calls = []
    for name, (endpoint, recipient) in recipients.items():
        call_id = f"20261202T000000-{tag}{name.lower()}"
        plan = CallPlan(call_id=call_id, direction="outgoing", caller_number=recipient.line,
                        callee_number="0312345678", line=endpoint, callee_endpoint="PJSIP/0312345678@carrier",
                        record=True, reason="recorded", recipients=(recipient,))
        times = CallTimes(started=now - timedelta(seconds=5), answered=now - timedelta(seconds=4),
                          notice_started=now - timedelta(seconds=4), ended=now)
        calls.append(FinishedCall(plan=plan, times=times, end_cause=16, hangup_by="caller",
                                  segments=(segment(recordings, call_id),)))
    return calls


def assert_recorded_and_queued(db: sessionmaker[Session], calls: list[FinishedCall],
                               recipients: dict[str, tuple[str, Recipient]]) -> None:
    """Each call has its record and its copy queued for its own contract, and nothing else is there."""
    with db() as s:
        records = {r.call_id: r for r in s.scalars(select(CallRecord))}
        jobs = {j.call_id: j for j in s.scalars(select(Delivery))}
    assert sorted(records) == sorted(jobs) == sorted(c.call_id for c in calls)
    for call in calls:
        recipient = call.plan.recipients[0]
        assert records[call.call_id].recorded and records[call.call_id].line_endpoint == call.plan.line
        assert jobs[call.call_id].contract == recipient.contract
        assert jobs[call.call_id].connection_id == recipient.connection_id
        assert jobs[call.call_id].state == "pending"
    assert {c.plan.recipients[0].contract for c in calls} == {r.contract for _, r in recipients.values()}


def platform(postgres: PrivatePostgres, tmp_path: Path, where: str) -> tuple[
        sessionmaker[Session], dict[str, tuple[str, Recipient]], Path, HandOver, CallFinisher]:
    """Two customers in a migrated database, and a finisher whose work runs ``where``."""
    upgrade(postgres.url)
    db = make_sessionmaker(make_engine(postgres.url))
    recordings = tmp_path / "recordings"
    settings = DeliverySettings(database_url=postgres.url, spool_dir=str(tmp_path / "spool"),
                                connection=ConnectionSettings(type="http", url="https://nowhere.example/",
                                                              secret="the-configured-default"))
    submitter = RecordingSubmitter(settings, db)
    work: HandOver = (InThreads(db, submitter) if where == "threads"
                      else InProcesses(1, db, submitter, json_logs=False))
    finisher = CallFinisher(Config(asterisk_recording_dir=str(recordings)), None,  # type: ignore[arg-type]
                            db, submitter, tmp_path / "spool", work)
    return db, two_customers(db), recordings, work, finisher


@pytest.mark.parametrize("where", ["threads", "processes"])
async def test_calls_ending_while_the_database_restarts_are_recorded_and_queued(
    postgres: PrivatePostgres, tmp_path: Path, where: str
) -> None:
    db, recipients, recordings, work, finisher = platform(postgres, tmp_path, where)
    calls = finished_calls(recipients, recordings, "")
    try:
        # GIVEN the database stopped WHEN the calls end THEN they wait for it ...
        postgres.stop_server()
        finishing = [asyncio.create_task(finisher(call)) for call in calls]
        await asyncio.sleep(4.0)
        assert not any(t.done() for t in finishing)
        # ... AND once it is back, each call has its record and its copy queued for its own contract
        await asyncio.to_thread(postgres.start_server)
        await asyncio.wait_for(asyncio.gather(*finishing), 60)
    finally:
        work.close()
    assert_recorded_and_queued(db, calls, recipients)


async def test_a_hand_over_process_that_dies_is_replaced(postgres: PrivatePostgres, tmp_path: Path) -> None:
    """A worker process killed (out of memory, an operator's kill) between two calls' ends: the calls
    after it are recorded and queued, each for its own customer, by a new worker."""
    db, recipients, recordings, work, finisher = platform(postgres, tmp_path, "processes")
    try:
        first = finished_calls(recipients, recordings, "1")
        await asyncio.wait_for(asyncio.gather(*(finisher(c) for c in first)), 60)
        assert isinstance(work, InProcesses)
        workers = list(work.processes.values())
        assert len(workers) == 1 and workers[0].pid != os.getpid()
        os.kill(workers[0].pid, signal.SIGKILL)
        workers[0].join(10)
        second = finished_calls(recipients, recordings, "2")
        await asyncio.wait_for(asyncio.gather(*(finisher(c) for c in second)), 60)
        now = list(work.processes.values())
        assert [p.pid for p in now] != [workers[0].pid] and all(p.is_alive() for p in now)
    finally:
        work.close()
    assert_recorded_and_queued(db, first + second, recipients)


async def test_the_delivery_worker_rides_out_a_database_restart(postgres: PrivatePostgres,
                                                                tmp_path: Path) -> None:
    """Two customers' receivers; one copy delivered before the database stops, the worker keeps running
    while it is down, and the next copy, queued once it is back, reaches the other customer."""
    from callrec_ari.delivery.service import make_worker
    from callrec_ari.receiver.app import serve
    from callrec_ari.rules.manifest import CallRecord as ManifestCall

    upgrade(postgres.url)
    db = make_sessionmaker(make_engine(postgres.url))
    ports, inbox, connection = {}, {}, {}
    with db.begin() as s:
        for name in ("A", "B"):
            ports[name], inbox[name] = free_port(), tmp_path / f"rx-{name}"
            contract = service.create_contract(s, f"Customer {name} K.K.")
            conn = service.enroll_connection(s, contract.id, "file", f"http://127.0.0.1:{ports[name]}/recordings",
                                             f"secret-of-customer-{name.lower()}")
            connection[name] = (str(contract.id), conn.id)
    settings = DeliverySettings(database_url=postgres.url, spool_dir=str(tmp_path / "spool"),
                                poll_interval=0.2, allow_destinations=("127.0.0.0/8",),
                                connection=ConnectionSettings(type="http", url="https://nowhere.example/",
                                                              secret="the-configured-default"))
    stop = asyncio.Event()
    receivers = [asyncio.create_task(serve(inbox[n], f"secret-of-customer-{n.lower()}", "127.0.0.1", ports[n],
                                           stop)) for n in ports]
    worker = asyncio.create_task(make_worker(settings, db).run(stop))
    submitter = RecordingSubmitter(settings, db)
    recordings = tmp_path / "recordings"

    async def queue(name: str) -> None:
        call_id = f"20261202T000000-{name.lower()}"
        seg = segment(recordings, call_id)
        contract, conn_id = connection[name]
        call = ManifestCall(call_id=call_id, direction="outgoing", line=f"0900000100{ord(name) - 64}",
                            caller="09000001001", callee="0312345678", answered=seg.started_at,
                            notice_started=seg.started_at, ended=datetime.now(UTC), contract=contract)
        assert seg.started_at is not None
        path = recordings / f"{seg.name}.wav"
        await submitter.submit_async(call, [(path, seg.started_at)], conn_id)

    async def arrived(name: str) -> None:
        async with asyncio.timeout(60):
            while not list(inbox[name].glob("*.zip")):  # noqa: ASYNC110 - the receiver's folder
                await asyncio.sleep(0.1)

    try:
        await queue("A")
        await arrived("A")
        postgres.stop_server()
        await asyncio.sleep(4.0)  # the worker looks at the queue every 0.2 s meanwhile
        assert not worker.done(), worker
        await asyncio.to_thread(postgres.start_server)
        await queue("B")
        await arrived("B")
        assert not worker.done()
    finally:
        stop.set()
        await asyncio.gather(worker, *receivers, return_exceptions=True)
    assert [p.name for p in inbox["A"].glob("*.zip")] == [f"20261202T000000-a-c{connection['A'][0]}.zip"]
    assert [p.name for p in inbox["B"].glob("*.zip")] == [f"20261202T000000-b-c{connection['B'][0]}.zip"]
