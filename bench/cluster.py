"""`make bench` (and `python -m bench.cluster`): the cluster of issue 18 next to a single node, on
this machine, and what PostgreSQL does per recorded call.

The same load both times: SIPp places CALLS calls at CPS per second through Kamailio (the SIP edge,
cluster/kamailio.cfg) to one node, then to two nodes (tests/support/cluster.py), each node with
its `callrec run` and `callrec deliver`, on one PostgreSQL database, delivering to the reference
receiver. Measured: failed calls, recordings delivered, the machine's CPU-seconds per call
(everything together: on 2 cores a second node shares the same cores, so this shows the cluster's
overhead, not scaling), and from PostgreSQL's own statistics (pg_stat_database, read after every
process has ended, so every backend has reported) the transactions and rows per recorded call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.common import (
    QUICK,
    ROOT,
    asterisk_lock,
    free_port,
    log,
    machine_busy_seconds,
    stop_process,
    wait_until,
)
from bench.recordings import CALLEE_TONE, CALLER_TONE
from callrec_ari.contracts import service
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.rules.enrollment import LineRequest
from tests.support.cluster import CARRIER_PORT, EDGE, EDGE_PORT, Cluster
from tests.support.sipp import Sipp, tone_file, uac_scenario, uas_scenario

SERVER = os.environ.get("CALLREC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
CALLS = int(os.environ.get("BENCH_CLUSTER_CALLS", "12" if QUICK else "60"))
CPS = float(os.environ.get("BENCH_CLUSTER_CPS", "2"))
TALK_MS = 8_000
OUT = ROOT / "bench" / "cluster-results.json"
STATS = ("xact_commit", "tup_inserted", "tup_updated", "tup_deleted", "tup_fetched", "tup_returned")


def pg_stats(name: str) -> dict[str, int]:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        row = conn.execute(f"SELECT {', '.join(STATS)} FROM pg_stat_database WHERE datname = %s",
                           (name,)).fetchone()
    return dict(zip(STATS, row or (0,) * len(STATS), strict=True))


def measure(nodes: int, work: Path) -> dict[str, Any]:
    name = f"callrec_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{SERVER}/{name}"
    procs: list[subprocess.Popen[bytes]] = []
    cluster = Cluster(work / f"nodes-{nodes}", url)
    cluster.workdir.mkdir(parents=True)
    try:
        upgrade(url)
        engine = make_engine(url)
        port = free_port()
        with make_sessionmaker(engine).begin() as s:
            contract = service.create_contract(s, "Bench K.K.")
            service.enroll_line(s, contract.id, LineRequest("09000001001", "1001", "Bench K.K."),
                                recording_started=True, consent=True)
            service.enroll_connection(s, contract.id, "file", f"http://127.0.0.1:{port}/recordings",
                                      "secret-of-the-bench-customer")
        engine.dispose()
        inbox = cluster.workdir / "received"
        env = {**os.environ, "CALLREC_DEMO": "1", "CALLREC_DATABASE_URL": url}
        env.pop("CALLREC_CONFIG", None)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "callrec_ari", "receiver", "--dir", str(inbox), "--port", str(port)],
            env={**env, "CALLREC_RECEIVER_SECRET": "secret-of-the-bench-customer"}, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        cluster.start(nodes)
        for running in cluster.nodes:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "callrec_ari", "deliver", "--no-migrate"], cwd=ROOT, env={
                    **env, "CALLREC_DELIVERY_NODE": running.node.name,
                    "CALLREC_DELIVERY_SPOOL_DIR": str(cluster.workdir / running.node.name / "spool"),
                    "CALLREC_DELIVERY_CONNECTION_URL": "http://127.0.0.1:9/nowhere",
                    "CALLREC_DELIVERY_CONNECTION_SECRET": "the-configured-default",
                    "CALLREC_DELIVERY_ALLOW_DESTINATIONS": "127.0.0.0/8", "CALLREC_DELIVERY_HTTP_PORT": "0",
                    "CALLREC_DELIVERY_POLL_INTERVAL": "0.5"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        before, busy, began = pg_stats(name), machine_busy_seconds(), time.monotonic()
        uas = Sipp(uas_scenario(tone=tone_file(cluster.workdir, CALLEE_TONE, 30)), cluster.workdir,
                   CARRIER_PORT, 26080, target="", name="outside", calls=CALLS, timeout_s=600)
        uac = Sipp(uac_scenario(tone=tone_file(cluster.workdir, CALLER_TONE, 30), talk_ms=TALK_MS,
                                auth=False), cluster.workdir, 25070, 26070, target=f"{EDGE}:{EDGE_PORT}",
                   service="0312345678", user="1001", calls=CALLS, rate=CPS, timeout_s=600)
        uas.start()
        time.sleep(0.3)
        uac.start()
        assert uac.process is not None and uas.process is not None
        uac.process.wait(CALLS / CPS + 120)
        stats = _sipp_result(uac)
        delivered_ok = wait_until(lambda: len(list(inbox.glob("*.zip"))) >= stats["successful"], 120)
        busy_s, wall = machine_busy_seconds() - busy, time.monotonic() - began
        uas.stop()
    finally:
        for proc in procs:
            stop_process(proc)
        cluster.stop()
    time.sleep(1.5)  # every backend has ended and reported its counters
    after = pg_stats(name)
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    delivered = len(list(inbox.glob("*.zip")))
    per = max(delivered, 1)
    return {
        "nodes": nodes, "calls": CALLS, "cps": CPS, "talk_seconds": TALK_MS / 1000,
        "successful": stats["successful"], "failed": stats["failed"], "delivered": delivered,
        "all_delivered": delivered_ok, "seconds": round(wall, 1),
        "machine_cpu_seconds_per_call": round(busy_s / max(stats["successful"], 1), 3),
        "postgres_per_recorded_call": {k: round((after[k] - before[k]) / per, 1) for k in STATS},
    }


def _sipp_result(uac: Sipp) -> dict[str, int]:
    text = (uac.workdir / f"{uac.name}.out").read_text(errors="replace")
    return sipp_stats_from_text(text)


def sipp_stats_from_text(text: str) -> dict[str, int]:
    out = {"successful": 0, "failed": 0}
    for line in text.splitlines():
        for key, label in (("successful", "Successful call"), ("failed", "Failed call")):
            if line.strip().startswith(label):
                cells = [c.strip() for c in line.split("|")]
                try:
                    out[key] = int(cells[2])
                except (IndexError, ValueError):
                    pass
    return out


def run(work: Path | None = None) -> dict[str, Any]:
    work = work or Path(os.environ.get("TMPDIR", "/tmp")) / f"callrec-bench-cluster-{os.getpid()}"
    results = []
    with asterisk_lock():
        for nodes in (1, 2):
            log(f"cluster: {CALLS} calls at {CPS}/s through the edge to {nodes} node(s)")
            results.append(measure(nodes, work))
            log(f"cluster: {json.dumps(results[-1])}")
    out = {"runs": results, "note": "one 2-core machine: the second node shares the same cores, so "
                                    "this shows the cluster's overhead, not scaling"}
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
