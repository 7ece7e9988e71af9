"""`make soak` (issue 20): load for SOAK_MINUTES with the faults carriers see, then every call accounted.

The platform under test is the production shape on one machine: Kamailio as the SIP edge, one Asterisk
22 node with its `callrec run`, a `callrec deliver` worker, all on a PostgreSQL of the soak's own
(initdb'd in the work folder, so that it can be restarted without touching the machine's), the app's
spool on a size-limited filesystem (tmpfs) so that it can be filled. SIPp places calls of four
customers' lines through the edge, with two-way audio (each party its own tone):

- A (file, its own reference receiver): short calls, and long ones that roll segments;
- B (file, its receiver behind a gate that can answer 500 and holds each upload a moment);
- C (stream: RTP to its receiver, nothing kept);
- D (file, to equipment that never answers): one call, purged at its 7-day deadline;
- calls to an excluded number (117, R3.4): connected, not recorded.

Faults come on a schedule printed at the start, reproducible from SOAK_SEED (see ``schedule``). At the
end, call by call, from the receivers' own stores and the platform's call records and queue:
delivered once to its own customer, or accounted for by a documented reason; nothing at a customer
that does not own it; nothing left in the spool or Asterisk's recording folder; and the growth per
hour of each process's memory and descriptors (least squares), and database rows per call.

Results: bench/soak-results.json and bench/soak-results.md (``--out`` elsewhere: the 3-minute smoke of
`make test`, tests/soak/). Usage: .venv/bin/python -m bench.soak [--minutes N] [--seed S] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.common import ROOT, log

sys.path.insert(0, str(ROOT))
from callrec_ari.contracts import service
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.contracts.models import Contract, Line
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import AuditRecord, Delivery
from callrec_ari.delivery.service import make_worker
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.receiver.app import StreamOptions, serve
from callrec_ari.rules.enrollment import LineRequest
from tests.support.cluster import Cluster, RunningNode
from tests.support.private_postgres import PrivatePostgres
from tests.support.sipp_scenarios import tone_file, uac_scenario, uas_scenario

OUT_JSON = ROOT / "bench" / "soak-results.json"
OUT_MD = ROOT / "bench" / "soak-results.md"
# Beside the tests' Asterisk (5060, 8088, 20000-20999) and the cluster tests' (127.0.2.x, 21000-22999,
# 25060-26110): its own edge and node addresses, RTP range (node index 8: 28000-28999) and SIPp ports.
EDGE, EDGE_PORT, NETWORK, NODE_INDEX = "127.0.3.1", 25060, "127.0.3", 8
CARRIER_PORT, CARRIER_MEDIA = 29080, 29180
UAC_PORT, UAC_MEDIA = 29200, 29600
PG_PORT = 29432
SECRET = {"A": "soak-secret-of-customer-a", "B": "soak-secret-of-customer-b", "C": "soak-secret-of-customer-c",
          "D": "soak-secret-of-customer-d"}
LINES = {"A": ("1001", "09000001001"), "B": ("1002", "09000001002"), "C": ("1003", "09000001003"),
         "D": ("1004", "09000001004")}
OUTSIDE = "0312345678"
EXCLUDED = "117"  # R3.4: numbers starting with 1 are connected unrecorded
CALLER_TONE, CALLEE_TONE = 1200, 1800
SEGMENT_SECONDS = 15


# ---- the plan ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallStream:
    """One SIPp caller: a line calling one number at a share of the total rate, each call ``talk_s``."""

    name: str
    customer: str
    service: str
    talk_s: float
    share: float


STREAMS = (
    CallStream("a-short", "A", OUTSIDE, 8, 0.35),
    CallStream("a-long", "A", OUTSIDE, 40, 0.10),  # rolls segments (SEGMENT_SECONDS)
    CallStream("b", "B", OUTSIDE, 15, 0.30),
    CallStream("c-stream", "C", OUTSIDE, 10, 0.10),
    CallStream("excluded", "B", EXCLUDED, 5, 0.15),
)


@dataclass(frozen=True)
class Fault:
    what: str
    at_s: float
    duration_s: float = 0.0


def schedule(minutes: float, seed: int, smoke: bool) -> list[Fault]:
    """The faults and when (seconds into the load), each placed in its own slice of the run with a
    seeded jitter, so that no two overlap. The smoke run has one app kill and one receiver outage."""
    rng = random.Random(seed)
    total = minutes * 60
    if smoke:
        kinds = [("app-killed", 0.0), ("receiver-down", min(45.0, total * 0.25))]
    else:
        kinds = [("app-killed", 0.0), ("receiver-down", max(120.0, total * 0.1)), ("receiver-500", max(60.0, total * 0.05)),
                 ("worker-killed-mid-upload", 0.0), ("asterisk-restarted", 0.0), ("postgresql-restarted", 0.0),
                 ("spool-nearly-full", 60.0)]
    slot = total * 0.8 / len(kinds)
    faults = []
    for i, (what, duration) in enumerate(kinds):
        start = total * 0.08 + i * slot
        jitter = rng.uniform(0, max(0.0, slot - duration) * 0.5)
        faults.append(Fault(what, round(start + jitter, 1), duration))
    # After the load, once the queue has drained: the worker's clock past D's 7-day deadline.
    faults.append(Fault("clock-past-7-days", round(total, 1)))
    return faults


# ---- the platform's pieces ---------------------------------------------------------------------------------
class Gate:
    """B's equipment: its reference receiver behind a gate that holds every upload a moment (so that a
    worker can be killed mid-upload) and, during the fault, answers 500."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.failing = False
        self.in_flight = 0
        self.answered_500 = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        try:
            body = await request.read()
            await asyncio.sleep(0.3)
            if self.failing:
                self.answered_500 += 1
                return web.json_response({"status": "error", "error_id": "soak-fault"}, status=500)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            async with ClientSession(timeout=ClientTimeout(total=60)) as http, \
                    http.post(self.target + request.path, data=body, headers=headers) as resp:
                return web.Response(body=await resp.read(), status=resp.status,
                                    content_type=resp.content_type)
        finally:
            self.in_flight -= 1


@dataclass
class Customer:
    name: str
    port: int
    inbox: Path
    contract_id: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    stream_port: int | None = None

    async def up(self) -> None:
        if self.task is None:
            self.stop = asyncio.Event()
            stream = StreamOptions(self.stream_port, "127.0.0.1", 10.0) if self.stream_port else None
            self.task = asyncio.create_task(serve(self.inbox, SECRET[self.name], "127.0.0.1", self.port, self.stop,
                                                  stream=stream))
            await asyncio.sleep(0.3)

    async def down(self) -> None:
        if self.task is not None:
            self.stop.set()
            await self.task
            self.task = None

    def manifests(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.inbox.glob("*.zip")):
            with zipfile.ZipFile(path) as z:
                out.append(json.loads(z.read("manifest.json")))
        return out

    def streams(self) -> list[str]:
        return sorted(p.stem for p in (self.inbox / "streams").glob("*.json"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- resources ----------------------------------------------------------------------------------------------
def rss_and_fds(pid: int) -> tuple[float, int] | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            rss = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, StopIteration, ProcessLookupError, PermissionError):
        return None


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value), per hour; None with fewer than 6 points."""
    if len(points) < 6:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    return sum((t - mx) * (v - my) for t, v in points) / sxx * 3600


def find_child(pid: int, name: str) -> int:
    """The first descendant of ``pid`` (or itself) whose command is ``name``; 0 if none."""
    try:
        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True).stdout
    except OSError:
        return 0
    children: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            children[int(parts[1])].append((int(parts[0]), parts[2]))
    todo = [pid]
    while todo:
        current = todo.pop()
        for child, comm in children.get(current, []):
            if comm == name:
                return child
            todo.append(child)
    return 0


# ---- the soak ----------------------------------------------------------------------------------------------
class Soak:
    def __init__(self, work: Path, minutes: float, seed: int, cps: float, smoke: bool) -> None:
        self.work, self.minutes, self.seed, self.cps, self.smoke = work, minutes, seed, cps, smoke
        self.pg = PrivatePostgres(PG_PORT)
        self.spool = work / "spool"
        self.customers = {n: Customer(n, free_port(), work / f"rx-{n.lower()}") for n in "ABC"}
        self.customers["C"].stream_port = free_port()
        self.gate = Gate(f"http://127.0.0.1:{self.customers['B'].port}")
        self.gate_port = free_port()
        self.dead_port = free_port()  # D's equipment: nothing ever listens here
        self.faults_done: list[dict[str, Any]] = []
        self.samples: dict[tuple[str, int], list[tuple[float, float, int]]] = defaultdict(list)
        self.t0 = time.monotonic()
        self.cluster: Cluster | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.uacs: list[tuple[CallStream, subprocess.Popen[bytes], Path]] = []
        self.uas: subprocess.Popen[bytes] | None = None
        self.db: sessionmaker[Session] | None = None
        self.mounted = False

    # -- set up -------------------------------------------------------------------------------------------
    def node(self) -> RunningNode:
        assert self.cluster is not None
        return self.cluster.nodes[0]

    def settings(self) -> DeliverySettings:
        return DeliverySettings(
            database_url=self.pg.url, spool_dir=str(self.spool), node=self.node().node.name,
            allow_destinations=("127.0.0.0/8",),
            connection=ConnectionSettings(type="http", url="http://127.0.0.1:9/nowhere",
                                          secret="the-configured-default"))

    def worker_env(self) -> dict[str, str]:
        env = {**os.environ, "CALLREC_DEMO": "1", "CALLREC_DATABASE_URL": self.pg.url,
               "CALLREC_DELIVERY_SPOOL_DIR": str(self.spool), "CALLREC_DELIVERY_NODE": self.node().node.name,
               "CALLREC_DELIVERY_CONNECTION_URL": "http://127.0.0.1:9/nowhere",
               "CALLREC_DELIVERY_CONNECTION_SECRET": "the-configured-default",
               "CALLREC_DELIVERY_ALLOW_DESTINATIONS": "127.0.0.0/8",
               # Retries every 10 s instead of 5 minutes: an outage of minutes is retried many times.
               "CALLREC_DELIVERY_RETRY_INTERVAL": "10", "CALLREC_DELIVERY_BACKOFF_MAX": "2",
               "CALLREC_DELIVERY_POLL_INTERVAL": "1"}
        env.pop("CALLREC_CONFIG", None)
        return env

    def start_worker(self) -> None:
        log_file = (self.work / "worker.log").open("ab")
        self.worker = subprocess.Popen([sys.executable, "-m", "callrec_ari", "deliver", "--no-migrate"],
                                       cwd=ROOT, env=self.worker_env(), stdin=subprocess.DEVNULL,
                                       stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def enroll(self) -> None:
        assert self.db is not None
        with self.db.begin() as s:
            for name, (endpoint, number) in LINES.items():
                holder = f"Soak customer {name} K.K."
                contract = service.create_contract(s, holder)
                service.enroll_line(s, contract.id, LineRequest(number, endpoint, holder), recording_started=True,
                                    consent=True, notice="callrec/notice-en")
                if name == "C":
                    c = self.customers["C"]
                    url = f"rtp://127.0.0.1:{c.stream_port}?control=http://127.0.0.1:{c.port}/streams"
                    service.enroll_connection(s, contract.id, "stream", url, SECRET[name])
                else:
                    port = {"A": self.customers["A"].port, "B": self.gate_port, "D": self.dead_port}[name]
                    service.enroll_connection(s, contract.id, "file", f"http://127.0.0.1:{port}/recordings",
                                              SECRET[name])
                if name in self.customers:
                    self.customers[name].contract_id = contract.id
                else:
                    self.d_contract = contract.id

    async def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        log(f"soak: work folder {self.work}")
        await asyncio.to_thread(self.pg.start)
        upgrade(self.pg.url)
        self.engine = make_engine(self.pg.url)
        self.db = make_sessionmaker(self.engine)
        self.enroll()
        self.spool.mkdir(parents=True, exist_ok=True)
        size = "64m" if self.smoke else "512m"
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "soak-spool", str(self.spool)], check=True)
        self.mounted = True
        for c in self.customers.values():
            await c.up()
        gate = web.Application(client_max_size=1 << 30)
        gate.router.add_post("/recordings", self.gate.handle)
        self.gate_runner = web.AppRunner(gate)
        await self.gate_runner.setup()
        await web.TCPSite(self.gate_runner, "127.0.0.1", self.gate_port).start()
        cluster = Cluster(self.work / "cluster", self.pg.url, edge_address=EDGE, edge_port=EDGE_PORT,
                          node_network=NETWORK, first_index=NODE_INDEX, carrier_port=CARRIER_PORT,
                          app_port_base=29300)
        cluster.workdir.mkdir(parents=True, exist_ok=True)
        cluster.env = {"CALLREC_SEGMENT_SECONDS": str(SEGMENT_SECONDS), "CALLREC_DELIVERY_SPOOL_DIR": str(self.spool),
                       "CALLREC_SPOOL_MIN_FREE_MB": "24" if self.smoke else "64", "CALLREC_LOG_FORMAT": "json"}
        self.cluster = cluster
        await asyncio.to_thread(cluster.start, 1)
        self.start_worker()
        tones = {"caller": tone_file(self.work, CALLER_TONE, 200), "callee": tone_file(self.work, CALLEE_TONE, 200)}
        self.tones = tones
        uas = self.work / "uas.xml"
        uas.write_text(uas_scenario(tone=tones["callee"]))
        self.uas = subprocess.Popen(
            ["sipp", "-sf", str(uas), "-i", "127.0.0.1", "-p", str(CARRIER_PORT), "-mi", "127.0.0.1",
             "-mp", str(CARRIER_MEDIA), "-nostdin", "-l", "5000", "-trace_err",
             "-error_file", str(self.work / "uas.errors.log")],
            cwd=self.work, stdin=subprocess.DEVNULL, stdout=(self.work / "uas.log").open("wb"),
            stderr=subprocess.STDOUT)
        await asyncio.sleep(1.0)

    # -- load ---------------------------------------------------------------------------------------------
    def start_uac(self, stream: CallStream, calls: int, rate: float, index: int) -> None:
        endpoint = LINES[stream.customer][0]
        scenario = self.work / f"uac-{stream.name}.xml"
        scenario.write_text(uac_scenario(tone=self.tones["caller"], talk_ms=int(stream.talk_s * 1000), auth=False))
        period_ms = 10_000
        per_period = max(1, round(rate * period_ms / 1000))
        proc = subprocess.Popen(
            ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(UAC_PORT + 2 * index), "-mi", "127.0.0.1",
             "-mp", str(UAC_MEDIA + 50 * index), "-nostdin", "-m", str(calls), "-r", str(per_period),
             "-rp", str(period_ms), "-l", "2000", "-s", stream.service, "-key", "user", endpoint,
             "-recv_timeout", "60000", "-trace_stat", "-stf", str(self.work / f"uac-{stream.name}.csv"), "-fd", "5",
             "-trace_err", "-error_file", str(self.work / f"uac-{stream.name}.errors.log"),
             f"{EDGE}:{EDGE_PORT}"],
            cwd=self.work, stdin=subprocess.DEVNULL, stdout=(self.work / f"uac-{stream.name}.out").open("wb"),
            stderr=subprocess.STDOUT)
        self.uacs.append((stream, proc, self.work / f"uac-{stream.name}.csv"))

    def sample(self) -> None:
        now = time.monotonic() - self.t0
        node = self.node()
        pids = {"callrec-run": node.app.pid if node.app else 0,
                "callrec-deliver": self.worker.pid if self.worker else 0,
                "asterisk": find_child(node.asterisk.pid, "asterisk") if node.asterisk else 0,
                "kamailio": self.cluster.edge.pid if self.cluster and self.cluster.edge else 0,
                "receivers (this process)": os.getpid()}
        for name, pid in pids.items():
            got = rss_and_fds(pid) if pid else None
            if got is not None:
                self.samples[(name, pid)].append((now, got[0], got[1]))

    async def sampler(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 10)

    # -- faults -------------------------------------------------------------------------------------------
    def note(self, what: str, **details: Any) -> None:
        at = round(time.monotonic() - self.load_t0, 1)
        entry = {"what": what, "at_s": at, "utc": datetime.now(UTC).isoformat(timespec="seconds"), **details}
        self.faults_done.append(entry)
        log(f"fault: {json.dumps(entry)}")

    async def inject(self, fault: Fault) -> None:
        assert self.cluster is not None
        node = self.node()
        if fault.what == "app-killed":
            assert node.app is not None
            os.killpg(node.app.pid, signal.SIGKILL)
            node.app.wait(10)
            self.note("app-killed", signal="SIGKILL")
            await asyncio.sleep(2.0)
            await asyncio.to_thread(self.cluster.start_app, node)
            self.note("app-restarted")
        elif fault.what == "receiver-down":
            await self.customers["A"].down()
            self.note("receiver-down", customer="A", for_s=fault.duration_s)
            await asyncio.sleep(fault.duration_s)
            await self.customers["A"].up()
            self.note("receiver-up", customer="A")
        elif fault.what == "receiver-500":
            self.gate.failing = True
            self.note("receiver-500", customer="B", for_s=fault.duration_s)
            await asyncio.sleep(fault.duration_s)
            self.gate.failing = False
            self.note("receiver-200", customer="B", answered_500=self.gate.answered_500)
        elif fault.what == "worker-killed-mid-upload":
            deadline = time.monotonic() + 60
            while self.gate.in_flight == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            mid = self.gate.in_flight > 0
            assert self.worker is not None
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(10)
            self.note("worker-killed", signal="SIGKILL", uploads_in_flight=self.gate.in_flight, mid_upload=mid)
            await asyncio.sleep(2.0)
            self.start_worker()
            self.note("worker-restarted")
        elif fault.what == "asterisk-restarted":
            from tests.support.cluster import _group_kill

            assert node.asterisk is not None
            await asyncio.to_thread(_group_kill, node.asterisk)
            self.note("asterisk-stopped")
            await asyncio.to_thread(self.cluster.start_asterisk, node)
            self.note("asterisk-restarted")
        elif fault.what == "postgresql-restarted":
            await asyncio.to_thread(self.pg.restart)
            self.note("postgresql-restarted")
        elif fault.what == "spool-nearly-full":
            stat = os.statvfs(self.spool)
            free_mb = stat.f_bavail * stat.f_frsize / 2**20
            keep = 16 if self.smoke else 40  # under CALLREC_SPOOL_MIN_FREE_MB: new calls go unrecorded
            ballast = self.spool / "soak-ballast"
            with ballast.open("wb") as fh:
                fh.truncate(0)
                chunk = b"\0" * (1 << 20)
                for _ in range(max(0, int(free_mb - keep))):
                    fh.write(chunk)
            self.note("spool-nearly-full", free_mb=round(keep, 1), for_s=fault.duration_s)
            await asyncio.sleep(fault.duration_s)
            ballast.unlink()
            self.note("spool-freed")

    async def faults(self, plan: list[Fault]) -> None:
        for fault in plan:
            if fault.what == "clock-past-7-days":
                continue  # after the load (run)
            delay = self.load_t0 + fault.at_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self.inject(fault)
            except Exception as exc:  # a fault that could not be injected is reported, not hidden
                self.note(f"{fault.what}-failed", error=repr(exc))

    # -- run ----------------------------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        plan = schedule(self.minutes, self.seed, self.smoke)
        log(f"soak: {self.minutes:g} min at {self.cps:g} calls/s, seed {self.seed}; faults (seconds into the load):")
        for f in plan:
            log(f"  {f.at_s:8.1f}  {f.what}" + (f" for {f.duration_s:g} s" if f.duration_s else ""))
        await self.start()
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(self.sampler(stop_sampling))
        load_s = self.minutes * 60
        self.load_t0 = time.monotonic()
        # D's one call, first: it waits for its equipment (which never answers) until its deadline.
        self.start_uac(CallStream("d", "D", OUTSIDE, 5, 0.0), 1, 1.0, len(STREAMS))
        for i, stream in enumerate(STREAMS):
            rate = self.cps * stream.share
            self.start_uac(stream, max(1, round(rate * load_s)), rate, i)
        await self.faults(plan)
        # The load ends when every SIPp caller has placed its calls (and they have ended).
        for _, proc, _ in self.uacs:
            while proc.poll() is None:
                await asyncio.sleep(1.0)
        self.load_s = time.monotonic() - self.load_t0
        log("soak: load over; waiting for the calls to end and the queue to drain")
        await self.drain()
        await self.clock_jump()
        stop_sampling.set()
        await sampler
        return self.account(plan)

    def pending(self) -> list[Delivery]:
        assert self.db is not None
        with self.db() as s:
            return list(s.scalars(select(Delivery).where(Delivery.state == "pending")))

    def channels(self) -> int:
        import requests

        try:
            resp = requests.get(f"{self.node().node.ari_url}/channels", auth=("callrec", "callrec"), timeout=5)
            return len(resp.json())
        except (requests.RequestException, ValueError):
            return -1

    def records(self) -> int:
        assert self.db is not None
        with self.db() as s:
            return len(s.scalars(select(CallRecord.id)).all())

    async def drain(self, timeout: float = 300.0) -> None:
        """Until no call is left in Asterisk, the call records stop growing, and every copy but D's is
        delivered, twice in a row (or the timeout: what is left then shows in the accounting)."""
        deadline = time.monotonic() + timeout
        quiet, last = 0, -1
        while time.monotonic() < deadline and quiet < 2:
            await asyncio.sleep(3.0)
            channels = await asyncio.to_thread(self.channels)
            count = await asyncio.to_thread(self.records)
            left = [j for j in await asyncio.to_thread(self.pending) if j.contract != str(self.d_contract)]
            quiet = quiet + 1 if channels == 0 and count == last and not left else 0
            last = count
        if quiet < 2:
            log("soak: the calls or the queue did not drain in time")
        # The receiver writes a stream's record when it ends it: on the `end` notification, or after
        # its idle timeout (10 s) when that was lost. Give the last streams that long.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not set(await asyncio.to_thread(self.stream_calls)) <= set(
                self.customers["C"].streams()):
            await asyncio.sleep(1.0)

    def stream_calls(self) -> list[str]:
        assert self.db is not None
        with self.db() as s:
            return list(s.scalars(select(CallRecord.call_id).where(
                CallRecord.delivery_type == "stream", CallRecord.recorded.is_(True),
                CallRecord.answered_at.is_not(None))))

    async def clock_jump(self) -> None:
        """The delivery worker's clock past the 7-day deadline: D's copy is purged and audited."""
        late = datetime.now(UTC) + timedelta(days=8)
        worker = make_worker(self.settings(), self.db, clock=lambda: late)
        await worker.run_once()
        self.note("clock-past-7-days", purged=[j.call_id for j in self.jobs_in("purged")])

    def jobs_in(self, state: str) -> list[Delivery]:
        assert self.db is not None
        with self.db() as s:
            return list(s.scalars(select(Delivery).where(Delivery.state == state)))

    # -- accounting ---------------------------------------------------------------------------------------
    def account(self, plan: list[Fault]) -> dict[str, Any]:
        assert self.db is not None
        with self.db() as s:
            records = list(s.scalars(select(CallRecord)))
            lines = {line.id: line for line in s.scalars(select(Line))}
            contract_of_line = {lid: str(line.contract_id) for lid, line in lines.items()}
            jobs = list(s.scalars(select(Delivery)))
            purge_audits = {a.subject for a in s.scalars(select(AuditRecord).where(
                AuditRecord.action == "recording-purged"))}  # subject: the call id
            rows = {t: s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("call_records", "deliveries", "delivery_attempts", "audit_log")}
            contracts = {str(c.id): c for c in s.scalars(select(Contract))}
        customer_of = {str(c.contract_id): n for n, c in self.customers.items()}
        customer_of[str(self.d_contract)] = "D"
        stored: dict[str, Counter[str]] = {n: Counter() for n in self.customers}
        misdelivered = []
        for name, customer in self.customers.items():
            for m in customer.manifests():
                stored[name][m["call_id"]] += 1
                if str(m.get("contract")) != str(customer.contract_id):
                    misdelivered.append({"at": name, "call_id": m["call_id"], "contract": m.get("contract")})
        # The app's own event log too (every run's, appended): a finished call whose record could not be
        # stored is accounted for all the same, and counted.
        in_log = self.finished_in_log()
        known = {r.call_id for r in records}
        line_by_endpoint = {line.endpoint: line for line in lines.values()}
        missing_records = []
        for call_id, entry in in_log.items():
            if call_id in known:
                continue
            line = line_by_endpoint.get(str(entry.get("line_endpoint", "")))
            stand_in = CallRecord(call_id=call_id, line_id=line.id if line else None,
                                  answered_at=datetime.now(UTC) if entry.get("answered") else None,
                                  recorded=bool(entry.get("recorded")), reason=str(entry.get("reason", "")),
                                  delivery_type="stream" if line and customer_of.get(str(line.contract_id)) == "C"
                                  else "file")
            records.append(stand_in)
            missing_records.append(call_id)
        copies: Counter[tuple[str, str]] = Counter((j.call_id, j.contract or "") for j in jobs)
        outcome: Counter[str] = Counter()
        lost: list[dict[str, Any]] = []
        doubled: list[str] = []
        reasons: Counter[str] = Counter()
        stream_calls = stream_received = 0
        recorded = 0
        for r in records:
            if r.answered_at is None:
                outcome["not answered"] += 1
                continue
            if not r.recorded:
                reasons[r.reason] += 1
                continue
            contract = contract_of_line.get(r.line_id or -1, "")
            owner = customer_of.get(contract, "?")
            if r.delivery_type == "stream":
                stream_calls += 1
                stream_received += r.call_id in set(self.customers["C"].streams())
                continue
            recorded += 1
            n = stored.get(owner, Counter())[r.call_id] if owner in stored else 0
            elsewhere = [x for x, c in stored.items() if x != owner and c[r.call_id]]
            if elsewhere:
                misdelivered.append({"call_id": r.call_id, "owner": owner, "at": elsewhere})
            if copies[(r.call_id, contract)] > 1 or n > 1:
                doubled.append(r.call_id)
            elif n == 1:
                outcome["delivered once"] += 1
            elif r.call_id in purge_audits and any(j.call_id == r.call_id and j.state == "purged" for j in jobs):
                outcome["purged at 7 days, audited"] += 1
            else:
                lost.append({"call_id": r.call_id, "owner": owner,
                             "queue": [(j.state, j.last_error) for j in jobs if j.call_id == r.call_id]})
        # Calls SIPp saw answered that the platform has no record of (none expected: the dialplan
        # connects calls the app cannot take, unrecorded, and says so in the record-less log).
        sipp = {stream.name: sipp_totals(csv) for stream, _, csv in self.uacs}
        answered_by_sipp = sum(t["successful"] for t in sipp.values())
        # Answered with no call record: connected by the dialplan while the app was down, unrecorded.
        leftovers = self.leftovers({r.call_id for r in records})
        received = set(self.customers["C"].streams())
        missing_streams = [r.call_id for r in records if r.delivery_type == "stream" and r.answered_at
                           and r.recorded and r.call_id not in received]
        slopes = self.slopes()
        calls_total = len(records)
        delivered_once = outcome["delivered once"]
        accounted = delivered_once + outcome["purged at 7 days, audited"]
        result = {
            "minutes": self.minutes, "seed": self.seed, "cps": self.cps, "smoke": self.smoke,
            "load_seconds": round(self.load_s, 1),
            "calls": calls_total, "answered_by_sipp": answered_by_sipp, "sipp": sipp,
            "answered_without_record": max(0, answered_by_sipp - sum(1 for r in records if r.answered_at)),
            "finished_without_call_record": missing_records[:50],
            "recorded": recorded, "delivered_once": delivered_once, "lost": len(lost), "doubled": len(doubled),
            "misdelivered": len(misdelivered), "accounted": accounted,
            "accounted_by_reason": dict(outcome),
            "not_recorded_by_reason": dict(reasons),
            "stream_calls": stream_calls, "streams_received": stream_received,
            "faults": self.faults_done, "schedule": [f.__dict__ for f in plan],
            "leftovers": leftovers,
            "rss_mb_per_hour": {k: v["rss_mb_per_hour"] for k, v in slopes.items()},
            "fds_per_hour": {k: v["fds_per_hour"] for k, v in slopes.items()},
            "resources": slopes,
            "db_rows": rows, "db_rows_per_call": {t: round(n / max(1, calls_total), 2) for t, n in rows.items()},
            "details": {"lost": lost[:50], "doubled": doubled[:50], "misdelivered": misdelivered[:50]},
            "contracts": len(contracts),
            "streams_missing": missing_streams[:50],
            # A stream that did not reach the customer and whose loss the platform did not log and count
            # (docs/stream-protocol.md: a failed notification is a counted loss, never retried later).
            "streams_missing_unexplained": [c for c in missing_streams if c not in self.stream_losses()][:50],
        }
        # What the app logged of every call that went wrong, for whoever reads a failed run's output
        # (a CI run's work folder is gone by then).
        wrong = [*(x["call_id"] for x in lost), *doubled, *result["streams_missing_unexplained"],
                 *(Path(p).stem for p in leftovers["spool"] if p.startswith("active/"))]
        result["stories"] = self.stories(dict.fromkeys(wrong))
        return result

    def stories(self, call_ids: Iterable[str], limit: int = 80) -> dict[str, list[str]]:
        """call id -> the app's log lines about it (time, level, message), every run's."""
        wanted: dict[str, list[str]] = {c: [] for c in list(call_ids)[:10]}
        if not wanted:
            return {}
        log_path = self.work / "cluster" / f"{self.node().node.name}-app.log"
        with contextlib.suppress(FileNotFoundError), log_path.open(errors="replace") as fh:
            for line in fh:
                for call_id, story in wanted.items():
                    if call_id in line and len(story) < limit:
                        try:
                            entry = json.loads(line)
                            story.append(f"{entry.get('ts', '')[11:23]} {entry.get('level', '')} {entry.get('msg', '')}"[:400])
                        except ValueError:
                            story.append(line.strip()[:400])
        return wanted

    def finished_in_log(self) -> dict[str, dict[str, Any]]:
        """call id -> the app's CallFinished record, from its JSON event log; a call whose recording
        started but that never finished (no CallFinished in any run) gets a stand-in record, so that it
        is accounted for (as lost, unless something of it was delivered)."""
        out: dict[str, dict[str, Any]] = {}
        recording: dict[str, str] = {}  # call id -> its line's endpoint, for calls whose recording ran
        endpoint: dict[str, str] = {}
        log_path = self.work / "cluster" / f"{self.node().node.name}-app.log"
        with contextlib.suppress(FileNotFoundError), log_path.open(errors="replace") as fh:
            for line in fh:
                if '"CallFinished"' in line:
                    with contextlib.suppress(ValueError, KeyError):
                        record = json.loads(json.loads(line)["msg"].split(" finished ", 1)[1])
                        out[record["call_id"]] = record
                elif " start direction=" in line and "record=True" in line:
                    with contextlib.suppress(ValueError, KeyError):
                        entry = json.loads(line)
                        endpoint[entry["call_id"]] = entry["msg"].split(" line=", 1)[1].split()[0]
                elif "recording started name=" in line:
                    with contextlib.suppress(ValueError, KeyError):
                        call_id = json.loads(line)["call_id"]
                        recording[call_id] = endpoint.get(call_id, "")
        for call_id, line_endpoint in recording.items():
            if call_id not in out:
                out[call_id] = {"call_id": call_id, "line_endpoint": line_endpoint, "answered": True,
                                "recorded": True, "reason": "never-finished"}
        return out

    def stream_losses(self) -> set[str]:
        """Calls whose stream the app logged as lost (not started, customer not reachable, interrupted)."""
        out: set[str] = set()
        log_path = self.work / "cluster" / f"{self.node().node.name}-app.log"
        marks = ("could not start", "NOT reachable", "interrupted", "stream-endpoint")
        with contextlib.suppress(FileNotFoundError), log_path.open(errors="replace") as fh:
            for line in fh:
                if "stream" in line and any(m in line for m in marks):
                    with contextlib.suppress(ValueError, KeyError):
                        out.add(json.loads(line)["call_id"])
        return out

    def leftovers(self, call_ids: set[str]) -> dict[str, list[str]]:
        node = self.node()
        rec = [str(p) for p in node.recording_dir.rglob("*.wav")]
        spool = [str(p.relative_to(self.spool)) for p in self.spool.rglob("*") if p.is_file()
                 and p.suffix in (".zip", ".wav", ".json", ".part", ".age")]
        return {"asterisk_recording_dir": rec[:50], "spool": spool[:50]}

    def slopes(self) -> dict[str, dict[str, Any]]:
        """Per process, the longest-lived instance's growth per hour (a restarted process is a new one),
        over its samples after the first quarter of the run (start-up and warm-up are not growth)."""
        out: dict[str, dict[str, Any]] = {}
        warm = self.minutes * 60 * 0.25
        for (name, pid), all_points in self.samples.items():
            points = [p for p in all_points if p[0] >= warm] or all_points
            if name in out and out[name]["samples"] >= len(points):
                continue
            out[name] = {
                "pid": pid, "samples": len(points), "seconds": round(points[-1][0] - points[0][0], 1),
                "rss_mb_first": round(points[0][1], 1), "rss_mb_last": round(points[-1][1], 1),
                "fds_first": points[0][2], "fds_last": points[-1][2],
                "rss_mb_per_hour": _round(slope_per_hour([(t, r) for t, r, _ in points])),
                "fds_per_hour": _round(slope_per_hour([(t, float(f)) for t, _, f in points])),
            }
        return out

    # -- tear down ----------------------------------------------------------------------------------------
    async def stop(self) -> None:
        for _, proc, _ in self.uacs:
            if proc.poll() is None:
                proc.kill()
        if self.uas is not None and self.uas.poll() is None:
            self.uas.kill()
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.worker.wait(15)
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.stop)
        for c in self.customers.values():
            await c.down()
        if getattr(self, "gate_runner", None) is not None:
            await self.gate_runner.cleanup()
        if getattr(self, "engine", None) is not None:
            self.engine.dispose()
        await asyncio.to_thread(self.pg.stop)
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.spool)], check=False)
        node_rec = self.cluster.nodes[0].recording_dir if self.cluster and self.cluster.nodes else None
        if node_rec is not None and node_rec.exists():
            shutil.rmtree(node_rec, ignore_errors=True)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def sipp_totals(csv: Path) -> dict[str, int]:
    """SIPp's cumulative counters from the last line of its -trace_stat file."""
    try:
        lines = csv.read_text().splitlines()
    except FileNotFoundError:
        return {"created": 0, "successful": 0, "failed": 0}
    if len(lines) < 2:
        return {"created": 0, "successful": 0, "failed": 0}
    head, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(head, last, strict=False))

    def num(key: str) -> int:
        with contextlib.suppress(ValueError):
            return int(row.get(key, "0") or 0)
        return 0

    return {"created": num("TotalCallCreated"), "successful": num("SuccessfulCall(C)"),
            "failed": num("FailedCall(C)")}


def default_cps() -> float:
    """About 70 % of the app's highest clean rate in the last `make bench` (bench/results.json)."""
    try:
        best = json.loads((ROOT / "bench" / "results.json").read_text())["max_clean_cps"]
        return round(0.7 * float(best), 1)
    except (OSError, KeyError, ValueError, TypeError):
        return 4.0


def render_md(res: dict[str, Any]) -> str:
    ok = res["lost"] == 0 and res["doubled"] == 0 and res["misdelivered"] == 0 and not any(res["leftovers"].values())
    lines = [
        "# Soak under faults (`make soak`)", "",
        f"{res['minutes']:g} minutes at {res['cps']:g} calls/s (seed {res['seed']}), "
        f"{res['calls']} calls: **{'nothing lost, doubled, misdelivered or left behind' if ok else 'FAILED'}**.",
        "",
        "| recorded (file) | delivered once | purged at 7 days (audited) | lost | doubled | misdelivered |",
        "|---|---|---|---|---|---|",
        f"| {res['recorded']} | {res['delivered_once']} | {res['accounted_by_reason'].get('purged at 7 days, audited', 0)} "
        f"| {res['lost']} | {res['doubled']} | {res['misdelivered']} |", "",
        f"Streams: {res['streams_received']} of {res['stream_calls']} stream calls reached the customer. "
        f"Not recorded, by reason: {json.dumps(res['not_recorded_by_reason'])}; answered with no call record "
        f"(connected plainly by the dialplan while the app was down): {res['answered_without_record']}.", "",
        "## Faults", "", "| at (s) | what | details |", "|---|---|---|",
    ]
    for f in res["faults"]:
        details = {k: v for k, v in f.items() if k not in ("what", "at_s", "utc")}
        lines.append(f"| {f['at_s']} | {f['what']} | {json.dumps(details) if details else ''} |")
    lines += ["", "## Resources (growth per hour, least squares over the longest-lived process)", "",
              "| process | samples | RSS MB first → last | MB/hour | fds first → last | fds/hour | a month at that rate |",
              "|---|---|---|---|---|---|---|"]
    for name, r in res["resources"].items():
        month = "" if r["rss_mb_per_hour"] is None else f"{r['rss_mb_per_hour'] * 720:+.0f} MB, {(r['fds_per_hour'] or 0) * 720:+.0f} fds"
        lines.append(f"| {name} | {r['samples']} | {r['rss_mb_first']} → {r['rss_mb_last']} | {r['rss_mb_per_hour']} "
                     f"| {r['fds_first']} → {r['fds_last']} | {r['fds_per_hour']} | {month} |")
    lines += ["", f"Database rows per call: {json.dumps(res['db_rows_per_call'])}.",
              f"Leftovers: {json.dumps(res['leftovers'])}.", "",
              "Command: `make soak` (`SOAK_MINUTES`, `SOAK_SEED`, `SOAK_CPS`).", ""]
    return "\n".join(lines)


async def soak(work: Path, minutes: float, seed: int, cps: float, smoke: bool) -> dict[str, Any]:
    s = Soak(work, minutes, seed, cps, smoke)
    try:
        return await s.run()
    finally:
        await s.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak")
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "30")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "20")))
    ap.add_argument("--cps", type=float, default=float(os.environ.get("SOAK_CPS", "0") or 0) or None)
    ap.add_argument("--smoke", action="store_true", help="one app kill and one receiver outage only")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "soak")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default bench/soak-results.json)")
    args = ap.parse_args(argv)
    if shutil.which("kamailio") is None or shutil.which("sipp") is None:
        print("soak: needs kamailio and sipp (make deps)", file=sys.stderr)
        return 2
    if args.work.exists():
        shutil.rmtree(args.work)
    cps = args.cps or default_cps()
    res = asyncio.run(soak(args.work, args.minutes, args.seed, cps, args.smoke))
    out = args.out or OUT_JSON
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(render_md(res))
    log(f"soak: results in {out}: lost={res['lost']} doubled={res['doubled']} "
        f"misdelivered={res['misdelivered']} accounted={res['accounted']}/{res['recorded']}")
    clean = not any(res["leftovers"].values())
    return 0 if res["lost"] == res["doubled"] == res["misdelivered"] == 0 and clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
