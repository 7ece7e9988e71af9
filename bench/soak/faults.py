"""The faults of a soak: injected on the schedule (bench/soak/plan.py), Asterisk supervised as an operator
would, and the worker's clock moved past the 7-day deadline at the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bench.soak.plan import ASTERISK_RESTART_S, Fault
from callrec_ari.delivery.service import make_worker

if TYPE_CHECKING:
    from bench.soak.platform import Soak


async def run_faults(soak: Soak, plan: list[Fault]) -> None:
    for fault in plan:
        if fault.what == "clock-past-7-days":
            continue  # after the load (run)
        delay = soak.load_t0 + fault.at_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            await inject(soak, fault)
        except Exception as exc:  # a fault that could not be injected is reported, not hidden
            soak.note(f"{fault.what}-failed", error=repr(exc))


async def inject(soak: Soak, fault: Fault) -> None:
    assert soak.cluster is not None
    node = soak.node()
    if fault.what == "app-killed":
        assert node.app is not None
        os.killpg(node.app.pid, signal.SIGKILL)
        node.app.wait(10)
        soak.note("app-killed", signal="SIGKILL")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(soak.cluster.start_app, node)
        soak.note("app-restarted")
    elif fault.what == "receiver-down":
        await soak.customers["A"].down()
        soak.note("receiver-down", customer="A", for_s=fault.duration_s)
        await asyncio.sleep(fault.duration_s)
        await soak.customers["A"].up()
        soak.note("receiver-up", customer="A")
    elif fault.what == "receiver-500":
        soak.gate.failing = True
        soak.note("receiver-500", customer="B", for_s=fault.duration_s)
        await asyncio.sleep(fault.duration_s)
        soak.gate.failing = False
        soak.note("receiver-200", customer="B", answered_500=soak.gate.answered_500)
    elif fault.what == "worker-killed-mid-upload":
        deadline = time.monotonic() + 60
        while soak.gate.in_flight == 0 and time.monotonic() < deadline:  # noqa: ASYNC110 (polling what another process does)
            await asyncio.sleep(0.02)
        mid = soak.gate.in_flight > 0
        assert soak.worker is not None
        os.killpg(soak.worker.pid, signal.SIGKILL)
        soak.worker.wait(10)
        soak.note(
            "worker-killed", signal="SIGKILL", uploads_in_flight=soak.gate.in_flight, mid_upload=mid
        )
        await asyncio.sleep(2.0)
        soak.start_worker()
        soak.note("worker-restarted")
    elif fault.what == "asterisk-restarted":
        from tests.support.cluster import _group_kill

        assert node.asterisk is not None
        soak.restarting_asterisk = True
        try:
            await asyncio.to_thread(_group_kill, node.asterisk)
            soak.note("asterisk-stopped")
            await asyncio.to_thread(soak.cluster.start_asterisk, node)
            soak.note("asterisk-restarted")
        finally:
            soak.restarting_asterisk = False
    elif fault.what == "postgresql-restarted":
        await asyncio.to_thread(soak.pg.restart)
        soak.note("postgresql-restarted")
    elif fault.what == "spool-nearly-full":
        stat = os.statvfs(soak.spool)
        free_mb = stat.f_bavail * stat.f_frsize / 2**20
        keep = 16 if soak.smoke else 40  # under CALLREC_SPOOL_MIN_FREE_MB: new calls go unrecorded
        ballast = soak.spool / "soak-ballast"
        with ballast.open("wb") as fh:
            fh.truncate(0)
            chunk = b"\0" * (1 << 20)
            for _ in range(max(0, int(free_mb - keep))):
                fh.write(chunk)
        soak.note("spool-nearly-full", free_mb=keep, for_s=fault.duration_s)
        await asyncio.sleep(fault.duration_s)
        ballast.unlink()
        soak.note("spool-freed")


async def supervise_asterisk(soak: Soak, stop: asyncio.Event) -> None:
    """Asterisk dying on its own (the first soak on this code saw it abort on heap corruption) is a
    fault of its own, noted with the last line it wrote, and Asterisk is started again as an
    operator's supervisor would: after ASTERISK_RESTART_S, longer than the app's
    `asterisk_gone_seconds`, so that the app must not wait for it to finish its calls."""
    node = soak.node()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2)
        if soak.restarting_asterisk or node.asterisk is None or node.asterisk.poll() is None:
            continue
        tail = (soak.work / "cluster" / f"{node.node.name}-asterisk.log").read_text(errors="replace")
        last = tail.strip().splitlines()[-1:] or [""]
        soak.note("asterisk-crashed", exit=node.asterisk.returncode, last_line=last[0][:200])
        await asyncio.sleep(ASTERISK_RESTART_S)
        assert soak.cluster is not None
        await asyncio.to_thread(soak.cluster.start_asterisk, node)
        soak.note("asterisk-restarted", after_crash=True)


async def clock_jump(soak: Soak) -> None:
    """The delivery worker's clock past the 7-day deadline: D's copy is purged and audited."""
    late = datetime.now(UTC) + timedelta(days=8)
    worker = make_worker(soak.settings(), soak.db, clock=lambda: late)
    await worker.run_once()
    soak.note("clock-past-7-days", purged=[j.call_id for j in soak.jobs_in("purged")])
