"""Many Asterisk nodes behind Kamailio, one database (issue 18): real calls through the SIP edge
(cluster/kamailio.cfg) to two nodes of the real Asterisk 22, each with its own `callrec run`
(tests/support/cluster.py). Calls of several lines are spread over both nodes and every one is
recorded and delivered once, to its own customer; a line registered through the edge receives a call
whichever node the call is on; a node killed under load: new calls go to the other node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.calls.carried_state import STATE as CARRIED
from callrec_ari.calls.journal import JournalEntry
from callrec_ari.contracts import service
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import Delivery
from callrec_ari.delivery.service import make_worker
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.pbx.cluster import RTP_PORTS_PER_NODE, max_calls
from callrec_ari.pbx.local import AsteriskTarget
from callrec_ari.receiver.app import serve
from callrec_ari.rules.enrollment import LineRequest
from tests.integration.test_call_flow import ANALYSED_NOTICE, OUTSIDE
from tests.support.cluster import CARRIER_PORT, EDGE, EDGE_PORT, Cluster
from tests.support.databases import fresh_database
from tests.support.network import LOOPBACK
from tests.support.sipp import Sipp, uac_scenario, uas_scenario
from tests.support.sipp_scenarios import register_scenario

pytestmark = pytest.mark.asterisk
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/test"  # the machine's PostgreSQL (Makefile PG_URL)
LINES = {"1001": ("A", "09000001001"), "1003": ("A", "09000001003"), "1002": ("B", "09000001002")}
TARGET = f"{EDGE}:{EDGE_PORT}"


def call_ids(inbox: Path) -> list[str]:
    """The call of each ZIP a customer's receiver stored, from its manifest."""
    out = []
    for path in sorted(inbox.glob("*.zip")):
        with zipfile.ZipFile(path) as z:
            out.append(json.loads(z.read("manifest.json"))["call_id"])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Rig:
    cluster: Cluster
    db: sessionmaker[Session]
    inbox: dict[str, Path]
    tones: dict[str, Path]
    tmp: Path

    def deliveries(self) -> list[Delivery]:
        with self.db() as s:
            return list(s.scalars(select(Delivery).order_by(Delivery.id)))

    def records(self) -> list[CallRecord]:
        with self.db() as s:
            return list(s.scalars(select(CallRecord).order_by(CallRecord.id)))

    async def call(self, user: str, to: str, talk_ms: int = 3_000, port: int = 25070,
                   callee: Sipp | None = None) -> tuple[int, int | None]:
        caller = Sipp(uac_scenario(tone=self.tones["caller"], talk_ms=talk_ms, auth=False), self.tmp, port,
                      port + 1000, target=TARGET, service=to, user=user, name=f"uac{user}-{port}")
        callee = callee or Sipp(uas_scenario(tone=self.tones["callee"]), self.tmp, CARRIER_PORT, 26080,
                                target="", name="outside")
        callee.start()
        await asyncio.sleep(0.3)
        caller.start()
        try:
            return await caller.wait(), await callee.wait(20)
        finally:
            caller.stop()
            callee.stop()


@contextlib.contextmanager
def pg_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every node shares one PostgreSQL database, whichever database the rest of the run uses."""
    with monkeypatch.context() as m:
        m.setenv("CALLREC_DATABASE_URL", PG_SERVER)
        with fresh_database(tmp_path, "cluster") as url:
            m.undo()
            yield url


@pytest.fixture
async def rig(asterisk: AsteriskTarget, tones: dict[str, Path], tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    # (`asterisk`: the single-node Asterisk's lock, so no other Asterisk test runs meanwhile.)
    async with running_rig(tones, tmp_path, monkeypatch, nodes=2) as r:
        yield r


@contextlib.asynccontextmanager
async def running_rig(tones: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nodes: int,
                      rtp_ports: int = RTP_PORTS_PER_NODE) -> AsyncIterator[Rig]:
    if not shutil.which("kamailio"):
        pytest.fail("kamailio is not installed: run `make deps` (apt: kamailio)")
    with pg_database(tmp_path, monkeypatch) as url:
        upgrade(url)
        engine = make_engine(url)
        db = make_sessionmaker(engine)
        ports = {"A": free_port(), "B": free_port()}
        inbox = {name: tmp_path / f"rx-{name}" for name in ports}
        with db.begin() as s:
            contracts = {name: service.create_contract(s, f"Customer {name} K.K.") for name in ports}
            for endpoint, (name, number) in LINES.items():
                holder = f"Customer {name} K.K."
                service.enroll_line(s, contracts[name].id, LineRequest(number, endpoint, holder),
                                    recording_started=True, consent=True, notice=ANALYSED_NOTICE)
            for name, port in ports.items():
                service.enroll_connection(s, contracts[name].id, "file", f"http://127.0.0.1:{port}/recordings",
                                          f"secret-of-customer-{name.lower()}")
        cluster = Cluster(tmp_path / "cluster", url, rtp_ports=rtp_ports)
        cluster.workdir.mkdir()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(serve(inbox[n], f"secret-of-customer-{n.lower()}", "127.0.0.1", p, stop))
                 for n, p in ports.items()]
        try:
            await asyncio.to_thread(cluster.start, nodes)
            # One delivery worker per node (each delivers its own node's spool), on the one queue.
            for running in cluster.nodes:
                settings = DeliverySettings(
                    database_url=url, spool_dir=str(cluster.workdir / running.node.name / "spool"),
                    node=running.node.name, poll_interval=0.1, retry_interval=1.0, backoff_initial=0.1,
                    backoff_max=0.3, allow_destinations=LOOPBACK,
                    connection=ConnectionSettings(type="http", url=f"http://127.0.0.1:{free_port()}/nowhere",
                                                  secret="the-configured-default"))
                tasks.append(asyncio.create_task(make_worker(settings, db).run(stop)))
            yield Rig(cluster, db, inbox, tones, tmp_path)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(cluster.stop)
            engine.dispose()


async def wait_until(predicate, timeout: float = 40.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling the database and the receivers' folders
            await asyncio.sleep(0.1)


async def test_calls_spread_over_two_nodes_each_recorded_and_delivered_once(rig: Rig) -> None:
    # Four calls of A's two lines to the outside world, one after the other (round robin).
    for i, user in enumerate(("1001", "1003", "1001", "1003")):
        assert await rig.call(user, OUTSIDE, port=25070 + 2 * i) == (0, 0)
    # The receiver stores a ZIP before the worker records its acknowledgement: wait for both.
    await wait_until(lambda: len(list(rig.inbox["A"].glob("*.zip"))) == 4
                     and [j.state for j in rig.deliveries()] == ["delivered"] * 4, timeout=60)
    jobs = rig.deliveries()
    assert len(jobs) == 4 and {j.state for j in jobs} == {"delivered"}
    assert Counter(j.node for j in jobs) == Counter({"node1": 2, "node2": 2})  # round robin, both nodes
    assert sorted(call_ids(rig.inbox["A"])) == sorted(j.call_id for j in jobs)  # each once
    assert not list(rig.inbox["B"].glob("*.zip"))  # nothing of A's at B
    records = rig.records()
    assert len(records) == 4 and all(r.recorded for r in records)
    assert len({r.call_id for r in records}) == 4


async def test_a_line_registered_through_the_edge_receives_a_call_from_either_node(rig: Rig) -> None:
    reg = Sipp(register_scenario(auth=False), rig.tmp, 25090, 26090, target=TARGET, user="1002",
               name="reg1002")
    reg.start()
    assert await reg.wait() == 0, reg.diagnostics()
    for i in range(2):  # two calls: one on each node (round robin), both reach the phone
        phone = Sipp(uas_scenario(tone=rig.tones["callee"]), rig.tmp, 25090, 26090, target="",
                     name=f"line1002-{i}", trace_messages=True)
        assert await rig.call("1001", LINES["1002"][1], port=25100 + 2 * i, callee=phone) == (0, 0)
    await wait_until(lambda: len(list(rig.inbox["A"].glob("*.zip"))) == 2
                     and len(list(rig.inbox["B"].glob("*.zip"))) == 2)
    jobs = rig.deliveries()
    assert {j.node for j in jobs} == {"node1", "node2"}
    by_contract = Counter(j.contract for j in jobs)
    assert sorted(by_contract.values()) == [2, 2]  # each call: one copy for A, one for B
    assert sorted(call_ids(rig.inbox["A"])) == sorted(call_ids(rig.inbox["B"]))  # the same two calls


def node_of_live_call(rig: Rig) -> int:
    """The index of the node whose Asterisk has channels now."""
    for i, running in enumerate(rig.cluster.nodes):
        try:
            channels = requests.get(f"{running.node.ari_url}/channels", auth=("callrec", "callrec"),
                                    timeout=2)
            if channels.json():
                return i
        except requests.RequestException:
            continue
    raise AssertionError("no node has the call")


async def test_a_node_killed_under_load_new_calls_go_on_and_its_recording_comes_back(rig: Rig) -> None:
    outside = Sipp(uas_scenario(tone=rig.tones["callee"]), rig.tmp, CARRIER_PORT, 26080, target="",
                   name="outside-many")
    outside.calls = 4
    outside.start()
    long_call = Sipp(uac_scenario(tone=rig.tones["caller"], talk_ms=30_000, auth=False), rig.tmp, 25200,
                     26200, target=TARGET, service=OUTSIDE, user="1001", name="long")
    try:
        await asyncio.sleep(0.3)
        long_call.start()
        await asyncio.sleep(8)  # answered, the notice played, talking: segments are on the node's disk
        dead = node_of_live_call(rig)
        await asyncio.to_thread(rig.cluster.kill_node, dead)
        # New calls keep succeeding: the first may wait for the edge to skip the dead node (4 s),
        # the next go straight to the other node once the probe marked it down.
        for i, user in enumerate(("1003", "1003")):
            caller = Sipp(uac_scenario(tone=rig.tones["caller"], talk_ms=5_000, auth=False), rig.tmp,
                          25210 + 2 * i, 26210 + 2 * i, target=TARGET, service=OUTSIDE, user=user,
                          name=f"after-{i}")
            caller.start()
            assert await caller.wait() == 0, caller.diagnostics()
            await asyncio.sleep(1.5)
        survivors = {j.node for j in rig.deliveries()}
        assert survivors == {rig.cluster.nodes[1 - dead].node.name}
        # The dead node comes back: what it recorded of the long call is delivered, once.
        long_call.stop()
        running = rig.cluster.nodes[dead]
        await asyncio.to_thread(rig.cluster.start_asterisk, running)
        await asyncio.to_thread(rig.cluster.start_app, running)
        await wait_until(lambda: len(call_ids(rig.inbox["A"])) == 3, timeout=60)
    finally:
        long_call.stop()
        outside.stop()
    ids = call_ids(rig.inbox["A"])
    assert len(set(ids)) == 3  # nothing doubled
    jobs = rig.deliveries()
    assert Counter(j.node for j in jobs) == Counter({rig.cluster.nodes[dead].node.name: 1,
                                                     rig.cluster.nodes[1 - dead].node.name: 2})


def node_dialling(rig: Rig) -> int | None:
    """The node whose dialplan has dialled the other party (the caller's channel and the callee's)."""
    for i, running in enumerate(rig.cluster.nodes):
        with contextlib.suppress(requests.RequestException):
            url = f"{running.node.ari_url}/channels"
            if len(requests.get(url, auth=("callrec", "callrec"), timeout=2).json()) >= 2:
                return i
    return None


@pytest.mark.parametrize("app", ["following", "stalled"])
async def test_a_node_that_does_not_come_back_is_recovered_from_another_machine(rig: Rig, app: str) -> None:
    """`callrec cluster recover`, run elsewhere with the lost node's disks (here: its folders), queues
    what it recorded under its name; a worker for that node delivers it; the call ends when its
    recording stopped, not when it was recovered.

    ``stalled``: the node's app stops (SIGSTOP) once it has handed the call to the dialplan, while the
    other party still rings, so it never hears the answer; the dialplan records and plays the notice
    without it. The journal then does not say when the recording started, and the recording is still
    recovered whole (app/rescue.py, journal.py ``finished_carried``)."""
    outside = Sipp(uas_scenario(tone=rig.tones["callee"], ring_ms=2_000 if app == "stalled" else 0),
                   rig.tmp, CARRIER_PORT, 26080, target="", name="outside-lost")
    outside.start()
    call = Sipp(uac_scenario(tone=rig.tones["caller"], talk_ms=30_000, auth=False), rig.tmp, 25300, 26300,
                target=TARGET, service=OUTSIDE, user="1001", name="lost")
    stopped: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.sleep(0.3)
        call.start()
        if app == "stalled":
            async with asyncio.timeout(10):
                while (ringing := await asyncio.to_thread(node_dialling, rig)) is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            stopped = rig.cluster.nodes[ringing].app
            assert stopped is not None
            stopped.send_signal(signal.SIGSTOP)
        await asyncio.sleep(8)
        lost = node_of_live_call(rig)
        if app == "stalled":
            assert rig.cluster.nodes[lost].app is stopped
            # The path under test: a carried call whose first segment's start the journal never heard.
            spool = rig.cluster.workdir / rig.cluster.nodes[lost].node.name / "spool"
            (path,) = (spool / "active").glob("*.json")
            entry = JournalEntry.from_json(path.read_text())
            assert entry.state == CARRIED and entry.segments[0].started_at is None, entry
        await asyncio.to_thread(rig.cluster.kill_node, lost)
        died = datetime.now(UTC)
        await asyncio.sleep(3)
    finally:
        call.stop()
        outside.stop()
        if stopped is not None and stopped.poll() is None:
            stopped.send_signal(signal.SIGCONT)  # the rig's teardown ends it
    running = rig.cluster.nodes[lost]
    env = {**os.environ, "CALLREC_DEMO": "1", "CALLREC_DATABASE_URL": rig.cluster.database_url,
           "CALLREC_DELIVERY_CONNECTION_URL": "http://127.0.0.1:9/nowhere",
           "CALLREC_DELIVERY_CONNECTION_SECRET": "the-configured-default",
           "CALLREC_DELIVERY_ALLOW_DESTINATIONS": "127.0.0.0/8"}
    env.pop("CALLREC_CONFIG", None)
    cmd = [sys.executable, "-m", "callrec_ari", "cluster", "recover", "--node", running.node.name,
           "--spool", str(rig.cluster.workdir / running.node.name / "spool"),
           "--recording-dir", str(running.recording_dir)]
    refused = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "--node-is-down" in refused.stderr  # not without saying so
    done = await asyncio.to_thread(subprocess.run, [*cmd, "--node-is-down"], env=env, capture_output=True,
                                   text=True)
    assert done.returncode == 0, done.stderr
    assert "1 calls of node" in done.stderr
    segments = int(done.stdout.split(": ", 1)[1].split(" segments", 1)[0])
    # A stalled app rolled nothing: the dialplan's first recorder ran to the end (without the fix
    # the recovery saw none, deleted its file, and delivered nothing).
    assert segments == 1 if app == "stalled" else segments >= 2, done.stdout
    # The worker for the lost node's name and spool (here: the rig's) delivers it, once.
    await wait_until(lambda: len(call_ids(rig.inbox["A"])) == 1, timeout=30)
    (record,) = rig.records()
    assert record.recorded and record.ended_at < died + timedelta(seconds=2)  # not the recovery's hour
    assert [j.node for j in rig.deliveries()] == [running.node.name]
    # Run again: nothing left to recover, nothing doubled.
    again = await asyncio.to_thread(subprocess.run, [*cmd, "--node-is-down"], env=env, capture_output=True,
                                    text=True)
    assert again.returncode == 0 and "0 calls of node" in again.stderr
    await asyncio.sleep(1)
    assert len(call_ids(rig.inbox["A"])) == 1


async def test_a_node_whose_rtp_range_would_run_out_refuses_the_call_and_stays_up(
        asterisk: AsteriskTarget, tones: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Asterisk 22 crashes when its RTP range runs out (docs/deploy.md). A node with 8 ports (4 RTP
    instances: two calls' legs, and only one call let in) gets three calls at once: one is recorded
    and delivered, the others are refused, and the node takes the next call as if nothing happened."""
    async with running_rig(tones, tmp_path, monkeypatch, nodes=1, rtp_ports=8) as rig:
        node = rig.cluster.nodes[0]
        assert max_calls(node.node.rtp) == 1
        outside = Sipp(uas_scenario(tone=rig.tones["callee"]), rig.tmp, CARRIER_PORT, 26080, target="",
                       name="outside-many", calls=4)
        outside.start()
        callers = [Sipp(uac_scenario(tone=rig.tones["caller"], talk_ms=6_000, auth=False), rig.tmp,
                        25300 + 2 * i, 26300 + 2 * i, target=TARGET, service=OUTSIDE, user="1001",
                        name=f"burst-{i}") for i in range(3)]
        try:
            await asyncio.sleep(0.3)
            for caller in callers:
                caller.start()
                await asyncio.sleep(1.0)  # the first is answered before the others arrive
            codes = [await caller.wait() for caller in callers]
            assert codes[0] == 0, callers[0].diagnostics()
            assert all(code != 0 for code in codes[1:])  # refused: there was no room for them
            assert node.asterisk is not None and node.asterisk.poll() is None  # Asterisk is still up
            log = (rig.cluster.workdir / f"{node.node.name}-asterisk.log").read_text(errors="replace")
            assert "couldn't allocate a port" not in log
            await asyncio.sleep(3.0)  # the edge's probe finds the node up again
            after = Sipp(uac_scenario(tone=rig.tones["caller"], talk_ms=3_000, auth=False), rig.tmp, 25320,
                         26320, target=TARGET, service=OUTSIDE, user="1001", name="after")
            after.start()
            assert await after.wait() == 0, after.diagnostics()
            await wait_until(lambda: len(call_ids(rig.inbox["A"])) == 2, timeout=60)
        finally:
            for party in (*callers, outside):
                party.stop()
        records = rig.records()
        assert len(records) == 2 and all(r.recorded for r in records)
        assert sorted(call_ids(rig.inbox["A"])) == sorted(r.call_id for r in records)
        assert not list(rig.inbox["B"].glob("*.zip"))
