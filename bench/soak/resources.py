"""Memory and descriptors of the platform's processes, and their growth per hour."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import children
from callrec_ari.observability.memory import growth

if TYPE_CHECKING:
    from bench.soak.platform import Soak


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


def hand_over_workers(app: int) -> list[int]:
    """The app's hand-over worker processes (app/handover.py: spawned children), oldest first."""
    found = []
    for pid in children(app):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return sorted(found)


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def sample(soak: Soak) -> None:
    now = time.monotonic() - soak.t0
    node = soak.node()
    pids = {
        "callrec-run": node.app.pid if node.app else 0,
        "callrec-deliver": soak.worker.pid if soak.worker else 0,
        "asterisk": find_child(node.asterisk.pid, "asterisk") if node.asterisk else 0,
        "kamailio": soak.cluster.edge.pid if soak.cluster and soak.cluster.edge else 0,
        "receivers (this process)": os.getpid(),
    }
    # The hand-over's workers by their place (a worker replaced after a kill is a new instance of its
    # place): they hold the call records' and the packaging's memory, apart from the app's.
    for place, pid in enumerate(hand_over_workers(node.app.pid) if node.app else [], start=1):
        pids[f"callrec-run hand-over worker {place}"] = pid
    for name, pid in pids.items():
        got = rss_and_fds(pid) if pid else None
        if got is not None:
            soak.samples[(name, pid)].append((now, got[0], got[1]))


def ask_for_snapshots(soak: Soak) -> None:
    """SIGUSR2 to the app and the worker: each writes a tracemalloc snapshot and its growth since its
    first (callrec_ari/observability/memory.py)."""
    app = soak.node().app
    for pid in (app.pid if app else 0, soak.worker.pid if soak.worker else 0):
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR2)


async def sampler(soak: Soak, stop: asyncio.Event) -> None:
    """Samples every 10 s; asks the app and the worker for their memory totals (with tracing, a
    snapshot) at the end of the warm-up (a quarter of the run), four times more during the load, and
    once at the end. The smoke run does not ask."""
    warm = soak.minutes * 60 * 0.25
    snapshots = [] if soak.smoke else [warm + i * warm * 0.75 for i in range(5)]
    while not stop.is_set():
        await asyncio.to_thread(sample, soak)
        if snapshots and time.monotonic() - soak.t0 >= snapshots[0]:
            snapshots.pop(0)
            await asyncio.to_thread(ask_for_snapshots, soak)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 10)
    if not soak.smoke:
        await asyncio.to_thread(ask_for_snapshots, soak)
        await asyncio.sleep(5.0)


def memory_lines(logs: dict[str, Path]) -> dict[str, list[str]]:
    """Per process, the memory totals it logged when asked (callrec_ari/observability/memory.py):
    resident size, the C allocator's in use and free held, threads; JSON or text log lines."""
    out: dict[str, list[str]] = {}
    for name, path in logs.items():
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        found = []
        for line in text.splitlines():
            if "memory: " not in line:
                continue
            with contextlib.suppress(ValueError):
                line = json.loads(line).get("msg", line)
            found.append(line[line.index("memory: ") + len("memory: "):].split("; gc counts")[0])
        out[name] = found
    return out


def traced_growth(memory_dir: Path) -> dict[str, list[str]]:
    """Per process, what grew between the first and the last snapshot of its longest-traced instance
    (compared here, after the run: the service only wrote them), with each snapshot's totals."""
    out: dict[str, list[str]] = {}
    for folder in sorted(p for p in memory_dir.glob("*") if p.is_dir()):
        by_pid: dict[str, list[Path]] = defaultdict(list)
        for snap in folder.glob("tracemalloc-*.snap"):
            by_pid[snap.stem.split("-")[1]].append(snap)
        if not by_pid:
            continue
        longest: list[Path] = max(by_pid.values(), key=lambda snaps: len(snaps))
        snaps = sorted(longest, key=lambda p: int(p.stem.split("-")[2]))
        totals = [t.read_text().strip() for s in snaps if (t := s.with_suffix(".txt")).exists()]
        first, last = (tracemalloc.Snapshot.load(str(p)) for p in (snaps[0], snaps[-1]))
        out[folder.name] = [f"{len(snaps)} snapshots; totals at each:", *totals,
                            "growth from the first to the last:", *growth(first, last)]
    return out


def slopes(soak: Soak) -> dict[str, dict[str, Any]]:
    """Per process, the longest-lived instance's growth per hour (a restarted process is a new one),
    over its samples after the first quarter of the run (start-up and warm-up are not growth)."""
    out: dict[str, dict[str, Any]] = {}
    warm = soak.minutes * 60 * 0.25
    for (name, pid), all_points in soak.samples.items():
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
            # Over the second half only: a slope that falls from the whole run's is levelling off.
            "rss_mb_per_hour_last_half": rounded(slope_per_hour(
                [(t, r) for t, r, _ in points if t >= (points[0][0] + points[-1][0]) / 2])),
            "fds_per_hour": rounded(slope_per_hour([(t, float(f)) for t, _, f in points])),
        }
    return out
