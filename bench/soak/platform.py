"""The platform under soak, in the production shape on one machine (see bench/soak/__init__.py): set
up, loaded, broken on schedule, drained, accounted for, torn down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.common import AS_DELIVERY_UNIT, ROOT, log
from bench.soak.accounting import account
from bench.soak.customers import Customer, Gate, free_port
from bench.soak.faults import clock_jump, run_faults, supervise_asterisk
from bench.soak.plan import (
    CALLEE_TONE,
    CALLER_TONE,
    CARRIER_MEDIA,
    CARRIER_PORT,
    EDGE,
    EDGE_PORT,
    LINES,
    NETWORK,
    NODE_INDEX,
    OUTSIDE,
    PG_PORT,
    ROLL_SECONDS,
    SECRET,
    SEGMENT_SECONDS,
    STREAMS,
    UAC_MEDIA,
    UAC_PORT,
    CallStream,
    schedule,
)
from bench.soak.resources import memory_lines, sampler, traced_growth
from bench.soak.settle import drain

sys.path.insert(0, str(ROOT))
from callrec_ari.contracts import service
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import Delivery
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.rules.enrollment import LineRequest
from tests.support.cluster import Cluster, RunningNode
from tests.support.private_postgres import PrivatePostgres
from tests.support.sipp_scenarios import tone_file, uac_scenario, uas_scenario


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
        self.restarting_asterisk = False
        # SOAK_TRACEMALLOC=N: the app and the worker trace allocations (N frames) and are asked for
        # snapshots during the run (callrec_ari/observability/memory.py); the growth goes in the results.
        self.trace_frames = int(os.environ.get("SOAK_TRACEMALLOC", "0") or 0)
        self.memory_dir = work / "memory"
        # The app and the worker run with the C allocator's arenas bounded, as the shipped units do
        # (deploy/systemd; docs/deploy.md "When a process's memory grows"); SOAK_MALLOC_ARENA_MAX=""
        # runs them with glibc's default (8 per core).
        arenas = os.environ.get("SOAK_MALLOC_ARENA_MAX", "2")
        self.allocator = {"MALLOC_ARENA_MAX": arenas} if arenas else {}

    @property
    def app_log(self) -> Path:
        """The node's app's JSON event log, every run's (a restarted app appends)."""
        return self.work / "cluster" / f"{self.node().node.name}-app.log"

    # -- set up -------------------------------------------------------------------------------------------
    def node(self) -> RunningNode:
        assert self.cluster is not None
        return self.cluster.nodes[0]

    def settings(self) -> DeliverySettings:
        return DeliverySettings(
            database_url=self.pg.url,
            spool_dir=str(self.spool),
            node=self.node().node.name,
            allow_destinations=("127.0.0.0/8",),
            connection=ConnectionSettings(
                type="http", url="http://127.0.0.1:9/nowhere", secret="the-configured-default"
            ),
        )

    def worker_env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "CALLREC_DEMO": "1",
            "CALLREC_DATABASE_URL": self.pg.url,
            "CALLREC_DELIVERY_SPOOL_DIR": str(self.spool),
            "CALLREC_DELIVERY_NODE": self.node().node.name,
            "CALLREC_DELIVERY_CONNECTION_URL": "http://127.0.0.1:9/nowhere",
            "CALLREC_DELIVERY_CONNECTION_SECRET": "the-configured-default",
            "CALLREC_DELIVERY_ALLOW_DESTINATIONS": "127.0.0.0/8",
            # Retries every 10 s instead of 5 minutes: an outage of minutes is retried many times.
            "CALLREC_DELIVERY_RETRY_INTERVAL": "10",
            "CALLREC_DELIVERY_BACKOFF_MAX": "2",
            "CALLREC_DELIVERY_POLL_INTERVAL": "1",
        }
        env.pop("CALLREC_CONFIG", None)
        return {**env, **self.allocator, **self.tracing("worker")}

    def tracing(self, name: str) -> dict[str, str]:
        if not self.trace_frames:
            return {}
        return {
            "PYTHONTRACEMALLOC": str(self.trace_frames),
            "CALLREC_MEMORY_DIR": str(self.memory_dir / name),
        }

    def start_worker(self) -> None:
        log_file = (self.work / "worker.log").open("ab")
        self.worker = subprocess.Popen(
            [*AS_DELIVERY_UNIT, sys.executable, "-m", "callrec_ari", "deliver", "--no-migrate"],
            cwd=ROOT,
            env=self.worker_env(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def enroll(self) -> None:
        assert self.db is not None
        with self.db.begin() as s:
            for name, (endpoint, number) in LINES.items():
                holder = f"Soak customer {name} K.K."
                contract = service.create_contract(s, holder)
                service.enroll_line(
                    s,
                    contract.id,
                    LineRequest(number, endpoint, holder),
                    recording_started=True,
                    consent=True,
                    notice="callrec/notice-en",
                )
                if name == "C":
                    c = self.customers["C"]
                    url = f"rtp://127.0.0.1:{c.stream_port}?control=http://127.0.0.1:{c.port}/streams"
                    service.enroll_connection(s, contract.id, "stream", url, SECRET[name])
                else:
                    port = {"A": self.customers["A"].port, "B": self.gate_port, "D": self.dead_port}[name]
                    service.enroll_connection(
                        s, contract.id, "file", f"http://127.0.0.1:{port}/recordings", SECRET[name]
                    )
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
        mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "soak-spool", str(self.spool)]
        await asyncio.to_thread(subprocess.run, mount, check=True)
        self.mounted = True
        for c in self.customers.values():
            await c.up()
        gate = web.Application(client_max_size=1 << 30)
        gate.router.add_post("/recordings", self.gate.handle)
        self.gate_runner = web.AppRunner(gate)
        await self.gate_runner.setup()
        await web.TCPSite(self.gate_runner, "127.0.0.1", self.gate_port).start()
        cluster = Cluster(
            self.work / "cluster",
            self.pg.url,
            edge_address=EDGE,
            edge_port=EDGE_PORT,
            node_network=NETWORK,
            first_index=NODE_INDEX,
            carrier_port=CARRIER_PORT,
            app_port_base=29300,
        )
        cluster.workdir.mkdir(parents=True, exist_ok=True)
        cluster.env = {
            "CALLREC_SEGMENT_SECONDS": str(SEGMENT_SECONDS),
            "CALLREC_RECORDING_ROLL_SECONDS": str(ROLL_SECONDS),
            "CALLREC_DELIVERY_SPOOL_DIR": str(self.spool),
            "CALLREC_SPOOL_MIN_FREE_MB": "24" if self.smoke else "64",
            "CALLREC_LOG_FORMAT": "json",
            **self.allocator,
            **self.tracing("callrec-run"),
        }
        self.cluster = cluster
        await asyncio.to_thread(cluster.start, 1)
        self.start_worker()
        tones = {
            "caller": tone_file(self.work, CALLER_TONE, 200),
            "callee": tone_file(self.work, CALLEE_TONE, 200),
        }
        self.tones = tones
        uas = self.work / "uas.xml"
        uas.write_text(uas_scenario(tone=tones["callee"]))
        self.uas = subprocess.Popen(  # noqa: ASYNC220 (started, not waited for)
            [
                "sipp",
                "-sf",
                str(uas),
                "-i",
                "127.0.0.1",
                "-p",
                str(CARRIER_PORT),
                "-mi",
                "127.0.0.1",
                "-mp",
                str(CARRIER_MEDIA),
                "-nostdin",
                "-l",
                "5000",
                "-trace_err",
                "-error_file",
                str(self.work / "uas.errors.log"),
            ],
            cwd=self.work,
            stdin=subprocess.DEVNULL,
            stdout=(self.work / "uas.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        await asyncio.sleep(1.0)

    # -- load ---------------------------------------------------------------------------------------------
    def start_uac(self, stream: CallStream, calls: int, rate: float, index: int) -> None:
        endpoint = LINES[stream.customer][0]
        scenario = self.work / f"uac-{stream.name}.xml"
        scenario.write_text(
            uac_scenario(tone=self.tones["caller"], talk_ms=int(stream.talk_s * 1000), auth=False)
        )
        # SIPp takes whole calls per period: over 100 s a share of 0.45 calls/s is 45 (over 10 s it
        # rounded to 4, and the run took a ninth longer than planned).
        period_ms = 100_000
        per_period = max(1, round(rate * period_ms / 1000))
        proc = subprocess.Popen(
            [
                "sipp",
                "-sf",
                str(scenario),
                "-i",
                "127.0.0.1",
                "-p",
                str(UAC_PORT + 2 * index),
                "-mi",
                "127.0.0.1",
                "-mp",
                str(UAC_MEDIA + 50 * index),
                "-nostdin",
                "-m",
                str(calls),
                "-r",
                str(per_period),
                "-rp",
                str(period_ms),
                "-l",
                "2000",
                "-s",
                stream.service,
                "-key",
                "user",
                endpoint,
                "-recv_timeout",
                "60000",
                "-trace_stat",
                "-stf",
                str(self.work / f"uac-{stream.name}.csv"),
                "-fd",
                "5",
                "-trace_err",
                "-error_file",
                str(self.work / f"uac-{stream.name}.errors.log"),
                f"{EDGE}:{EDGE_PORT}",
            ],
            cwd=self.work,
            stdin=subprocess.DEVNULL,
            stdout=(self.work / f"uac-{stream.name}.out").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.uacs.append((stream, proc, self.work / f"uac-{stream.name}.csv"))

    # -- faults -------------------------------------------------------------------------------------------
    def note(self, what: str, **details: Any) -> None:
        at = round(time.monotonic() - self.load_t0, 1)
        entry = {"what": what, "at_s": at, "utc": datetime.now(UTC).isoformat(timespec="seconds"), **details}
        self.faults_done.append(entry)
        log(f"fault: {json.dumps(entry)}")

    # -- run ----------------------------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        plan = schedule(self.minutes, self.seed, self.smoke)
        log(
            f"soak: {self.minutes:g} min at {self.cps:g} calls/s, seed {self.seed}; "
            "faults (seconds into the load):"
        )
        for f in plan:
            log(f"  {f.at_s:8.1f}  {f.what}" + (f" for {f.duration_s:g} s" if f.duration_s else ""))
        await self.start()
        stop_sampling = asyncio.Event()
        sampling = asyncio.create_task(sampler(self, stop_sampling))
        supervisor = asyncio.create_task(supervise_asterisk(self, stop_sampling))
        load_s = self.minutes * 60
        self.load_t0 = time.monotonic()
        # D's one call, first: it waits for its equipment (which never answers) until its deadline.
        self.start_uac(CallStream("d", "D", OUTSIDE, 5, 0.0), 1, 1.0, len(STREAMS))
        for i, stream in enumerate(STREAMS):
            rate = self.cps * stream.share
            self.start_uac(stream, max(1, round(rate * load_s)), rate, i)
        await run_faults(self, plan)
        # The load ends when every SIPp caller has placed its calls (and they have ended).
        for _, proc, _ in self.uacs:
            while proc.poll() is None:  # noqa: ASYNC110 (polling what another process does)
                await asyncio.sleep(1.0)
        self.load_s = time.monotonic() - self.load_t0
        log("soak: load over; waiting for the calls to end and the queue to drain")
        await drain(self)
        await clock_jump(self)
        stop_sampling.set()
        await sampling
        await supervisor
        res = account(self, plan)
        if self.trace_frames:
            res["memory_growth"] = traced_growth(self.memory_dir)
        res["malloc_arena_max"] = self.allocator.get("MALLOC_ARENA_MAX")
        if not self.smoke:
            res["memory_totals"] = memory_lines({"callrec-run": self.app_log,
                                                 "callrec-deliver": self.work / "worker.log"})
        return res

    def jobs_in(self, state: str) -> list[Delivery]:
        assert self.db is not None
        with self.db() as s:
            return list(s.scalars(select(Delivery).where(Delivery.state == state)))

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
            await asyncio.to_thread(subprocess.run, ["umount", "-l", str(self.spool)], check=False)
        node_rec = self.cluster.nodes[0].recording_dir if self.cluster and self.cluster.nodes else None
        if node_rec is not None and node_rec.exists():
            shutil.rmtree(node_rec, ignore_errors=True)


async def soak(work: Path, minutes: float, seed: int, cps: float, smoke: bool) -> dict[str, Any]:
    s = Soak(work, minutes, seed, cps, smoke)
    try:
        return await s.run()
    finally:
        await s.stop()
