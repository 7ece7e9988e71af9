"""Delivery to many customers (issue 13): upload throughput with 20 file connections, one of them down,
next to one connection, on the same recordings, with the same worker and its default settings.

Each connection is a contract's file connection in the contracts tables (so every attempt reads its
route from the database, as in production), served by the reference receiver with its own port and
secret: one receiver process hosts the 19 live ones (and the single-connection run's). The down one
accepts TCP and never answers: the worst case for a worker, each upload to it holds a slot until
read_timeout. The recordings are packaged first (RecordingSubmitter, as the app does at call end),
then `callrec deliver` is started and timed until the receivers hold every recording of the live
connections. MB = 10^6 bytes of WAV delivered; packaging is outside the timing (it is the same in both).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import QUICK, ROOT, VENV_BIN, free_ports, log, stop_process, wait_until
from bench.delivery import copy_segments, make_calls

sys.path.insert(0, str(ROOT))
from sqlalchemy import func, select

from callrec_ari.contracts.service import create_contract, enroll_connection
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import Delivery, DeliveryAttempt
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings

CONNECTIONS = 20
ROUNDS = 1 if QUICK else 3  # each configuration's best round is reported (a shared 2-CPU machine drifts)


def serve(spec: dict[str, Any]) -> None:
    """The receivers' process: one reference receiver per live port, and the hung port."""
    from aiohttp import web

    from callrec_ari.receiver.app import Receiver

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1 << 16):  # take the upload, never answer
            pass
        writer.close()

    async def main() -> None:
        runners = []
        for port, secret, directory in spec["live"]:
            runner = web.AppRunner(Receiver(Path(directory), secret).app())
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            runners.append(runner)
        if spec.get("hung"):
            await asyncio.start_server(hang, "127.0.0.1", spec["hung"])
        await asyncio.to_thread(Path(spec["ready"]).touch)
        await asyncio.Event().wait()

    asyncio.run(main())


def _worker_config(work: Path, spool: Path, extra: str) -> Path:
    cfg = work / f"{spool.name}.toml"
    # [delivery.connection] is the single-tenant fallback, unused here: every recording is a contract's.
    cfg.write_text(f"""
[delivery]
{extra}
spool_dir = "{spool}"
allow_destinations = ["127.0.0.0/8", "::1/128"]  # the bench's receivers are on loopback
poll_interval = 0.2
retry_interval = 5.0
backoff_initial = 0.2
backoff_max = 1.0
drain_timeout = 1.0

[delivery.connection]
url = "http://127.0.0.1:9/unused"
secret = "unused"
""")
    return cfg


def _phase(work: Path, name: str, calls: list[dict[str, Any]], routes: Sequence[tuple[str, str, Path | None]],
           extra: str = "") -> dict[str, Any]:
    """Package ``calls`` round-robin over ``routes`` (url, secret, receiver folder or None when down),
    then time `callrec deliver` (``extra``: more [delivery] keys) from its start-up line until every
    live route's recordings are stored (the interpreter's start-up is not the worker's throughput)."""
    db_url = f"sqlite:///{work / f'{name}.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    ids: list[tuple[str, int]] = []
    with sessions.begin() as s:
        for i, (url, secret, _) in enumerate(routes):
            contract = create_contract(s, f"Bench customer {i:02d}")
            ids.append((str(contract.id), enroll_connection(s, contract.id, "file", url, secret).id))
    spool = work / f"spool-{name}"
    settings = DeliverySettings(database_url=db_url, spool_dir=str(spool),
                                connection=ConnectionSettings(url="http://127.0.0.1:9/unused", secret="x"))
    submitter = RecordingSubmitter(settings, sessions)
    expected: dict[Path, int] = {}
    wav_bytes = 0
    for n, call in enumerate(copy_segments(calls, work / f"src-{name}")):
        contract_id, connection_id = ids[n % len(routes)]
        folder = routes[n % len(routes)][2]
        size = sum(p.stat().st_size for p, _ in call["segments"])
        submitter.submit({**call["record"], "contract": contract_id}, call["segments"], connection_id)
        if folder is not None:
            expected[folder] = expected.get(folder, 0) + 1
            wav_bytes += size
    want = sum(expected.values())

    def stored() -> int:
        return sum(min(len(list(d.glob("*.zip"))), k) for d, k in expected.items())

    env = dict(os.environ, CALLREC_CONFIG=str(_worker_config(work, spool, extra)),
               CALLREC_DATABASE_URL=db_url)
    subprocess.run(["sync"], check=False)
    worker_log = work / f"worker-{name}.log"
    worker = subprocess.Popen([str(VENV_BIN / "callrec"), "deliver", "--no-migrate"], env=env, cwd=ROOT,
                              stdout=open(worker_log, "wb"), stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    if not wait_until(lambda: b"delivery worker" in worker_log.read_bytes(), 60, step=0.005):
        stop_process(worker)
        raise RuntimeError(f"{name}: the worker did not start: see {worker_log}")
    t0 = time.monotonic()
    ok = wait_until(lambda: stored() >= want, 600, step=0.02)
    elapsed = time.monotonic() - t0
    stop_process(worker)
    if not ok:
        raise RuntimeError(f"{name}: {stored()}/{want} delivered: see {work / f'worker-{name}.log'}")
    with sessions() as s:
        down = [str(c) for (c, _), r in zip(ids, routes, strict=True) if r[2] is None]
        down_attempts = s.scalar(select(func.count()).select_from(DeliveryAttempt).join(Delivery)
                                 .where(Delivery.contract.in_(down))) or 0
        down_queued = s.scalar(select(func.count()).select_from(Delivery)
                               .where(Delivery.contract.in_(down))) or 0
    engine.dispose()
    for folder in expected:  # the next phase starts with empty customers
        for z in folder.glob("*.zip"):
            z.unlink()
    mb = wav_bytes / 1e6
    log(f"delivery {name}: {want} recordings ({mb:.1f} MB WAV) to {len(expected)} live connections in "
        f"{elapsed:.2f}s = {mb / elapsed:.2f} MB/s; down connection: {down_queued} queued, "
        f"{down_attempts} attempts")
    return {"recordings": want, "wav_mb": round(mb, 1), "seconds": round(elapsed, 2),
            "mb_per_s": round(mb / elapsed, 2), "down_queued": down_queued, "down_attempts": down_attempts}


def run_connections(work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    per_conn, seg_s = (3, 20.0) if QUICK else (10, 120.0)
    calls = make_calls(work / "src", CONNECTIONS * per_conn, 1, seg_s)
    *ports, hung = free_ports(CONNECTIONS + 1)
    live = [(port, f"bench-secret-{i:02d}", work / f"customer-{i:02d}") for i, port in enumerate(ports)]
    ready = work / "receivers.ready"
    spec = {"live": [[p, s, str(d)] for p, s, d in live], "hung": hung, "ready": str(ready)}
    receivers = subprocess.Popen(
        [sys.executable, "-m", "bench.delivery_connections", "serve", json.dumps(spec)], cwd=ROOT,
        stdout=open(work / "receivers.log", "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        if not wait_until(ready.exists, 30, step=0.05):
            raise RuntimeError(f"receivers did not start: see {work / 'receivers.log'}")

        def url(port: int) -> str:
            return f"http://127.0.0.1:{port}/recordings"

        # One connection: every recording to customer 00 (default settings: 2 uploads in flight to it).
        one = [(url(live[0][0]), live[0][1], live[0][2])]
        # 20 connections, the recordings spread evenly; customer 19's server hangs.
        routes: list[tuple[str, str, Path | None]] = [(url(p), s, d) for p, s, d in live[:CONNECTIONS - 1]]
        routes.append((url(hung), "bench-secret-down", None))
        runs: dict[str, list[dict[str, Any]]] = {"single": [], "many": [], "single-wide": []}
        for r in range(ROUNDS):  # interleaved, so that the machine's other load spreads over all three
            runs["single"].append(_phase(work, f"single-{r}", calls, one))
            runs["many"].append(_phase(work, f"many-{r}", calls, routes))
            # One connection allowed all 4 slots (what the worker did before per_connection).
            runs["single-wide"].append(_phase(work, f"single-wide-{r}", calls, one,
                                              extra="per_connection = 4"))
        single, many, wide = (max(runs[k], key=lambda x: x["mb_per_s"])
                              for k in ("single", "many", "single-wide"))
    finally:
        stop_process(receivers)
        for path in work.iterdir():
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
    settings = DeliverySettings(database_url="sqlite://")
    return {
        "connections": CONNECTIONS, "down": 1,
        "mb_per_s": many["mb_per_s"], "single_mb_per_s": single["mb_per_s"],
        "ratio": round(many["mb_per_s"] / single["mb_per_s"], 3),
        "single_all_slots_mb_per_s": wide["mb_per_s"],
        "details": {"single": single, "many": many, "single_all_slots": wide, "rounds": ROUNDS,
                    "all_mb_per_s": {k: [x["mb_per_s"] for x in v] for k, v in runs.items()},
                    "recordings_per_connection": per_conn,
                    "segment_seconds": seg_s, "concurrency": settings.concurrency,
                    "per_connection": settings.per_connection, "read_timeout": settings.read_timeout},
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(json.loads(sys.argv[2]))
    else:
        print(json.dumps(run_connections(Path(sys.argv[1] if len(sys.argv) > 1
                                              else "/tmp/callrec-bench-connections")), indent=2))
