"""CPU per call of the work that follows a call's end, each part alone, without Asterisk or SIPp (where
the capacity bench's figures move by a tenth between runs, these move by a few percent):

- ``handover``: what the app's hand-over workers do for a 20-second one-segment call (app/handover.py:
  the call record, then packaging and queueing its copy), in this process, CPU per call;
- ``delivery``: `callrec deliver` as a process, delivering to the reference receiver (its own process)
  one such call queued every 0.15 s (calls ending at about 6 cps), CPU of the worker per call.

    .venv/bin/python -m bench.percall [--calls 200] [--only handover|delivery] [--profile]

``--profile``: cProfile of the hand-over (top 30, cumulative), py-spy of the worker (raw stacks, in the
work folder). Figures for where the CPU goes and how a change moves it; the bench's own figures come
from `make bench`.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import tempfile
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import VENV_BIN, cpu_seconds, free_port, stop_process, wait_until
from bench.delivery import SECRET, settings_for, worker_env
from callrec_ari.app import handover
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.model.call import CallTimes, FinishedCall, RecordedSegment, SegmentFile
from callrec_ari.model.plan import CallPlan

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TALK_S = 20
PAUSE_S = 0.15  # between two calls' ends


def a_call(work: Path, i: int, pcm: bytes) -> tuple[FinishedCall, list[SegmentFile]]:
    """A finished one-segment call of ``TALK_S`` seconds, its WAV written as Asterisk would."""
    call_id = f"percall-{i:05d}"
    path = work / "rec" / f"{call_id}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    plan = CallPlan(call_id=call_id, direction="outgoing", caller_number="09000001001",
                    callee_number="0312345678", line="1001", callee_endpoint="PJSIP/bench", record=True,
                    reason="recorded")
    times = CallTimes(started=T0, answered=T0 + timedelta(seconds=2),
                      notice_started=T0 + timedelta(seconds=2.1), ended=T0 + timedelta(seconds=2 + TALK_S))
    call = FinishedCall(plan=plan, times=times, end_cause=16, hangup_by="caller",
                        segments=(RecordedSegment(f"callrec/{call_id}", 1, T0 + timedelta(seconds=2)),))
    return call, [SegmentFile(path, T0 + timedelta(seconds=2))]


def hand_over(submitter: RecordingSubmitter, call: FinishedCall, segments: list[SegmentFile]) -> None:
    """What a hand-over worker does for the call (app/handover.py), here in this process."""
    copies = [(call.manifest_call(c), c.connection_id) for c in call.file_copies]
    not_stored, results = handover._finish(submitter.sessions, submitter, call, copies, segments)
    failed = [r for r in [not_stored, *results] if isinstance(r, Exception)]
    if failed:
        raise SystemExit(f"{call.call_id}: {failed[0]}")


def setup(work: Path, port: int) -> tuple[DeliverySettings, RecordingSubmitter]:
    settings = settings_for(work, port)
    upgrade(settings.database_url)
    return settings, RecordingSubmitter(settings, make_sessionmaker(make_engine(settings.database_url)))


def run_handover(work: Path, calls: int, profile: bool) -> dict[str, float]:
    _, submitter = setup(work, free_port())
    pcm = os.urandom(8000 * 2 * TALK_S)
    made = [a_call(work, i, pcm) for i in range(calls + 10)]
    for call, segments in made[:10]:  # warm: imports, the statement cache, the connection pool
        hand_over(submitter, call, segments)
    prof = cProfile.Profile() if profile else None
    began, wall = time.process_time(), time.perf_counter()
    if prof:
        prof.enable()
    for call, segments in made[10:]:
        hand_over(submitter, call, segments)
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    return {"cpu_ms_per_call": 1000 * (time.process_time() - began) / calls,
            "wall_ms_per_call": 1000 * (time.perf_counter() - wall) / calls}


def run_delivery(work: Path, calls: int, profile: bool) -> dict[str, float]:
    port = free_port()
    received = work / "received"
    env = dict(os.environ, CALLREC_RECEIVER_SECRET=SECRET)
    receiver = subprocess.Popen([str(VENV_BIN / "callrec"), "receiver", "--dir", str(received),
                                 "--port", str(port)], stdout=open(work / "receiver.log", "wb"),
                                stderr=subprocess.STDOUT, env=env)
    settings, submitter = setup(work, port)
    worker = subprocess.Popen([str(VENV_BIN / "callrec"), "deliver"], env=worker_env(work, settings),
                              stdout=open(work / "worker.log", "wb"), stderr=subprocess.STDOUT)
    spy = None
    try:
        pcm = os.urandom(8000 * 2 * TALK_S)
        made = [a_call(work, i, pcm) for i in range(calls)]
        if not wait_until(lambda: "delivery worker" in (work / "worker.log").read_text(errors="replace"), 30):
            time.sleep(3)  # its start-up line not found: give it the time it usually takes
        began = cpu_seconds(worker.pid)
        if profile:
            spy = subprocess.Popen([str(VENV_BIN / "py-spy"), "record", "--pid", str(worker.pid), "--format",
                                    "raw", "--output", str(work / "deliver-profile.txt"), "--rate", "200",
                                    "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for call, segments in made:
            hand_over(submitter, call, segments)  # queued, and the worker's doorbell rung
            time.sleep(PAUSE_S)
        wait_until(lambda: len(list(received.glob("*.zip"))) >= calls, 60, step=0.05)
        spent = cpu_seconds(worker.pid) - began
        delivered = len(list(received.glob("*.zip")))
    finally:
        if spy is not None:
            stop_process(spy, 2)
        stop_process(worker)
        stop_process(receiver)
    if delivered < calls:
        raise SystemExit(f"only {delivered} of {calls} delivered (worker.log in {work})")
    return {"cpu_ms_per_call": 1000 * spent / calls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--only", choices=("handover", "delivery"))
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="callrec-percall-"))
    try:
        for part, run in (("handover", run_handover), ("delivery", run_delivery)):
            if args.only in (None, part):
                (work / part).mkdir()
                print(part, {k: round(v, 2) for k, v in run(work / part, args.calls, args.profile).items()},
                      flush=True)
    finally:
        if not args.profile:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("profiles in", work)


if __name__ == "__main__":
    main()
