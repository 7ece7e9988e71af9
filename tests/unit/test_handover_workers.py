"""The hand-over's worker processes (app/handover.py) end with their app, however it ends: a worker
left behind by a killed app would hold its memory (and its database connection) for good."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

APP = """
import asyncio, time
from callrec_ari.app.handover import InProcesses
work = InProcesses(2, None, None, json_logs=False)
async def started():
    await work.start()  # both workers started
    print(" ".join(str(p) for p in work.processes), flush=True)
    await asyncio.sleep(120)
asyncio.run(started())
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rpartition(")")[2].split()[0] != "Z"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_end_when_their_app_is_killed(how: signal.Signals) -> None:
    app = subprocess.Popen([sys.executable, "-c", APP], stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout is not None
        workers = [int(p) for p in app.stdout.readline().split()]
        assert workers and all(alive(p) for p in workers)
        for pid in workers:  # what `systemctl kill -s USR2` (a memory snapshot of the app) sends them too
            os.kill(pid, signal.SIGUSR2)
        time.sleep(0.3)
        assert all(alive(p) for p in workers)
        app.send_signal(how)  # SIGTERM: the app's own default, not the drain `callrec run` does
        app.wait(10)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(p) for p in workers), "a worker outlived its app"
    finally:
        app.kill()
        app.wait()
