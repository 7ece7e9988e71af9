"""The platform under soak, in the production shape on one machine (see bench/soak/__init__.py): set
up, loaded, broken on schedule, drained, accounted for, torn down."""

from __future__ import annotations

import argparse
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.common import ROOT, log
from bench.soak.accounting import account
from bench.soak.customers import Customer, Gate, free_port
from bench.soak.plan import (
    ASTERISK_RESTART_S,
    CALLEE_TONE,
    CALLER_TONE,
    CARRIER_MEDIA,
    CARRIER_PORT,
    EDGE,
    EDGE_PORT,
    LINES,
    NETWORK,
    NODE_INDEX,
    OUT_JSON,
    OUTSIDE,
    PG_PORT,
    SECRET,
    SEGMENT_SECONDS,
    STREAMS,
    UAC_MEDIA,
    UAC_PORT,
    CallStream,
    Fault,
    schedule,
)
from bench.soak.report import render_md
from bench.soak.resources import find_child, rounded, rss_and_fds, slope_per_hour

sys.path.insert(0, str(ROOT))
from callrec_ari.contracts import service
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import Delivery
from callrec_ari.delivery.service import make_worker
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
        return env

    def start_worker(self) -> None:
        log_file = (self.work / "worker.log").open("ab")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "callrec_ari", "deliver", "--no-migrate"],
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
            "CALLREC_DELIVERY_SPOOL_DIR": str(self.spool),
            "CALLREC_SPOOL_MIN_FREE_MB": "24" if self.smoke else "64",
            "CALLREC_LOG_FORMAT": "json",
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
        period_ms = 10_000
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

    def sample(self) -> None:
        now = time.monotonic() - self.t0
        node = self.node()
        pids = {
            "callrec-run": node.app.pid if node.app else 0,
            "callrec-deliver": self.worker.pid if self.worker else 0,
            "asterisk": find_child(node.asterisk.pid, "asterisk") if node.asterisk else 0,
            "kamailio": self.cluster.edge.pid if self.cluster and self.cluster.edge else 0,
            "receivers (this process)": os.getpid(),
        }
        for name, pid in pids.items():
            got = rss_and_fds(pid) if pid else None
            if got is not None:
                self.samples[(name, pid)].append((now, got[0], got[1]))

    async def sampler(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 10)

    async def supervise_asterisk(self, stop: asyncio.Event) -> None:
        """Asterisk dying on its own (the first soak on this code saw it abort on heap corruption) is a
        fault of its own, noted with the last line it wrote, and Asterisk is started again as an
        operator's supervisor would: after ASTERISK_RESTART_S, longer than the app's
        `asterisk_gone_seconds`, so that the app must not wait for it to finish its calls."""
        node = self.node()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)
            if self.restarting_asterisk or node.asterisk is None or node.asterisk.poll() is None:
                continue
            tail = (self.work / "cluster" / f"{node.node.name}-asterisk.log").read_text(errors="replace")
            last = tail.strip().splitlines()[-1:] or [""]
            self.note("asterisk-crashed", exit=node.asterisk.returncode, last_line=last[0][:200])
            await asyncio.sleep(ASTERISK_RESTART_S)
            assert self.cluster is not None
            await asyncio.to_thread(self.cluster.start_asterisk, node)
            self.note("asterisk-restarted", after_crash=True)

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
            while self.gate.in_flight == 0 and time.monotonic() < deadline:  # noqa: ASYNC110 (polling what another process does)
                await asyncio.sleep(0.02)
            mid = self.gate.in_flight > 0
            assert self.worker is not None
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(10)
            self.note(
                "worker-killed", signal="SIGKILL", uploads_in_flight=self.gate.in_flight, mid_upload=mid
            )
            await asyncio.sleep(2.0)
            self.start_worker()
            self.note("worker-restarted")
        elif fault.what == "asterisk-restarted":
            from tests.support.cluster import _group_kill

            assert node.asterisk is not None
            self.restarting_asterisk = True
            try:
                await asyncio.to_thread(_group_kill, node.asterisk)
                self.note("asterisk-stopped")
                await asyncio.to_thread(self.cluster.start_asterisk, node)
                self.note("asterisk-restarted")
            finally:
                self.restarting_asterisk = False
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
            self.note("spool-nearly-full", free_mb=keep, for_s=fault.duration_s)
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
        log(f"soak: {self.minutes:g} min at {self.cps:g} calls/s, seed {self.seed}; "
            "faults (seconds into the load):")
        for f in plan:
            log(f"  {f.at_s:8.1f}  {f.what}" + (f" for {f.duration_s:g} s" if f.duration_s else ""))
        await self.start()
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(self.sampler(stop_sampling))
        supervisor = asyncio.create_task(self.supervise_asterisk(stop_sampling))
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
            while proc.poll() is None:  # noqa: ASYNC110 (polling what another process does)
                await asyncio.sleep(1.0)
        self.load_s = time.monotonic() - self.load_t0
        log("soak: load over; waiting for the calls to end and the queue to drain")
        await self.drain()
        await self.clock_jump()
        stop_sampling.set()
        await sampler
        await supervisor
        return account(self, plan)

    def pending(self) -> list[Delivery]:
        assert self.db is not None
        with self.db() as s:
            return list(s.scalars(select(Delivery).where(Delivery.state == "pending")))

    def channels(self) -> int:
        import requests

        try:
            resp = requests.get(
                f"{self.node().node.ari_url}/channels", auth=("callrec", "callrec"), timeout=5
            )
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
        while time.monotonic() < deadline:
            if set(await asyncio.to_thread(self.stream_calls)) <= set(self.customers["C"].streams()):
                break
            await asyncio.sleep(1.0)

    def stream_calls(self) -> list[str]:
        assert self.db is not None
        with self.db() as s:
            return list(
                s.scalars(
                    select(CallRecord.call_id).where(
                        CallRecord.delivery_type == "stream",
                        CallRecord.recorded.is_(True),
                        CallRecord.answered_at.is_not(None),
                    )
                )
            )

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

    def leftovers(self, call_ids: set[str]) -> dict[str, list[str]]:
        node = self.node()
        rec = [str(p) for p in node.recording_dir.rglob("*.wav")]
        spool = [
            str(p.relative_to(self.spool))
            for p in self.spool.rglob("*")
            if p.is_file() and p.suffix in (".zip", ".wav", ".json", ".part", ".age")
        ]
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
                "pid": pid,
                "samples": len(points),
                "seconds": round(points[-1][0] - points[0][0], 1),
                "rss_mb_first": round(points[0][1], 1),
                "rss_mb_last": round(points[-1][1], 1),
                "fds_first": points[0][2],
                "fds_last": points[-1][2],
                "rss_mb_per_hour": rounded(slope_per_hour([(t, r) for t, r, _ in points])),
                "fds_per_hour": rounded(slope_per_hour([(t, float(f)) for t, _, f in points])),
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
            await asyncio.to_thread(subprocess.run, ["umount", "-l", str(self.spool)], check=False)
        node_rec = self.cluster.nodes[0].recording_dir if self.cluster and self.cluster.nodes else None
        if node_rec is not None and node_rec.exists():
            shutil.rmtree(node_rec, ignore_errors=True)


def default_cps() -> float:
    """About 70 % of the app's highest clean rate in the last `make bench` (bench/results.json)."""
    try:
        best = json.loads((ROOT / "bench" / "results.json").read_text())["max_clean_cps"]
        return round(0.7 * float(best), 1)
    except (OSError, KeyError, ValueError, TypeError):
        return 4.0


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
    log(
        f"soak: results in {out}: lost={res['lost']} doubled={res['doubled']} "
        f"misdelivered={res['misdelivered']} accounted={res['accounted']}/{res['recorded']}"
    )
    clean = not any(res["leftovers"].values())
    return 0 if res["lost"] == res["doubled"] == res["misdelivered"] == 0 and clean else 1
