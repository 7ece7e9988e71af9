"""Where the CPU goes during a capacity run (issue 15): Linux perf on Asterisk (BENCH_PERF=1) and py-spy on
`callrec run` (`bench.run --profile`). Both are for where, never for how much: the CPU figures of the
bench come from runs without them (perf -g costs Asterisk about as much as a call does)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from bench.common import VENV_BIN, stop_process

# BENCH_PERF=1: perf samples Asterisk during every run (call graphs), and the report of where its CPU
# went is written beside the run's files (perf-<run>.txt): how the app's calls and the dialplan's
# differ inside Asterisk.
PERF = os.environ.get("BENCH_PERF", "") not in ("", "0") and shutil.which("perf") is not None
PY_SPY = VENV_BIN / "py-spy"


def start_perf(pid: int, work: Path, tag: str) -> subprocess.Popen[bytes] | None:
    if not PERF:
        return None
    return subprocess.Popen(
        ["perf", "record", "-q", "-F", "499", "-g", "-p", str(pid), "-o", str(work / f"perf-{tag}.data")],
        stdout=subprocess.DEVNULL, stderr=open(work / f"perf-{tag}.log", "wb"))


def stop_perf(perf: subprocess.Popen[bytes] | None, work: Path, tag: str) -> None:
    if perf is None:
        return
    stop_process(perf, signal.SIGINT)
    with open(work / f"perf-{tag}.txt", "wb") as out:
        for sort in ("comm,dso", "dso,sym"):
            subprocess.run(["perf", "report", "-i", str(work / f"perf-{tag}.data"), "--stdio",
                            "--no-children", "--sort", sort, "--percent-limit", "0.5"],
                           stdout=out, stderr=subprocess.DEVNULL, check=False)


def start_py_spy(pid: int, work: Path, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy on ``pid`` for ``seconds``, into work/app-profile.txt (collapsed stacks)."""
    if not shutil.which(str(PY_SPY)):
        return None
    return subprocess.Popen([
        str(PY_SPY), "record", "--pid", str(pid), "--format", "raw",
        "--output", str(work / "app-profile.txt"), "--rate", "50", "--nonblocking", "--subprocesses",
        "--duration", str(int(seconds)),
    ], stdout=open(work / "py-spy.log", "wb"), stderr=subprocess.STDOUT)


def stop_py_spy(spy: subprocess.Popen[bytes]) -> None:
    try:
        spy.wait(60)
    except subprocess.TimeoutExpired:
        stop_process(spy, signal.SIGINT)


def summarize_profile(raw: Path, top: int = 15) -> str | None:
    """py-spy raw (collapsed stacks) -> the functions with the most samples (self and inclusive)."""
    if not raw.exists():
        return None
    incl: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        for f in set(frames):
            incl[f] = incl.get(f, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    if not total:
        return None
    lines = [f"{total} samples (all threads; py-spy leaves out idle samples by default). Self time:"]
    for f, c in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * c / total:5.1f}%  {f[:150]}")
    lines.append("Inclusive (callrec_ari frames):")
    ours = [(f, c) for f, c in incl.items() if "callrec_ari" in f]
    for f, c in sorted(ours, key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * c / total:5.1f}%  {f[:150]}")
    return "\n".join(lines)
