"""Where a process's memory goes, for an operator who sees it grow.

Python's own allocation tracer does the work: start the process with ``PYTHONTRACEMALLOC=N``
(N frames per allocation; 1 is cheap enough for production load, 10+ finds the caller), then send
it SIGUSR2 whenever a snapshot is wanted. Each one is written to ``CALLREC_MEMORY_DIR`` (default:
the working directory) as ``tracemalloc-<pid>-<n>.snap``, next to a short text summary of what grew
since the first. Two snapshots an hour apart tell a leak (one line keeps growing) from allocator
warm-up (Python's own total stays flat while the resident size rises). Without the tracer, SIGUSR2
logs the resident size and the garbage collector's counts only, so the signal is always harmless.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import tracemalloc
from pathlib import Path

log = logging.getLogger(__name__)

TOP = 15


def resident_mb() -> float | None:
    try:
        with open(f"/proc/{os.getpid()}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration, ValueError):
        return None


def growth(first: tracemalloc.Snapshot, last: tracemalloc.Snapshot, top: int = TOP) -> list[str]:
    """The ``top`` allocation sites that grew most from ``first`` to ``last``, one line each, after a
    line with both totals. Allocations of the tracer itself and of import machinery are left out."""
    ignore = (
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        tracemalloc.Filter(False, "<unknown>"),
    )
    first, last = first.filter_traces(ignore), last.filter_traces(ignore)
    total_first = sum(s.size for s in first.statistics("filename"))
    total_last = sum(s.size for s in last.statistics("filename"))
    lines = [f"traced {total_first / 1e6:.1f} MB -> {total_last / 1e6:.1f} MB "
             f"({(total_last - total_first) / 1e6:+.1f} MB)"]
    diffs = sorted(last.compare_to(first, "traceback"), key=lambda d: d.size_diff, reverse=True)[:top]
    for diff in diffs:
        newest_first = list(diff.traceback)[::-1][:4]  # a traceback runs from the oldest frame
        frames = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in newest_first)
        lines.append(f"{diff.size_diff / 1e3:+10.1f} kB {diff.count_diff:+8d} blocks  {frames}")
    return lines


class MemoryDumper:
    """Writes a snapshot (and its growth since the first) each time it is called."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0
        self.first: tracemalloc.Snapshot | None = None

    def dump(self) -> Path | None:
        rss = resident_mb()
        gc_counts = gc.get_count()
        if not tracemalloc.is_tracing():
            log.warning("memory: resident %s MB, gc counts %s; start with PYTHONTRACEMALLOC=1 (or more "
                        "frames) for snapshots", None if rss is None else round(rss, 1), gc_counts)
            return None
        self.count += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        snapshot = tracemalloc.take_snapshot()
        path = self.directory / f"tracemalloc-{os.getpid()}-{self.count}.snap"
        snapshot.dump(str(path))
        if self.first is None:
            self.first = snapshot
            summary = [f"first snapshot; traced {tracemalloc.get_traced_memory()[0] / 1e6:.1f} MB"]
        else:
            summary = growth(self.first, snapshot)
        summary.insert(0, f"resident {rss if rss is None else round(rss, 1)} MB; gc counts {gc_counts}")
        path.with_suffix(".txt").write_text("\n".join(summary) + "\n")
        log.warning("memory: snapshot %s: %s", path, summary[1] if len(summary) > 1 else summary[0])
        return path


def install(loop: asyncio.AbstractEventLoop) -> MemoryDumper:
    """SIGUSR2 writes a snapshot (see the module's text), off the event loop."""
    dumper = MemoryDumper(Path(os.environ.get("CALLREC_MEMORY_DIR") or "."))

    def on_signal() -> None:
        task = loop.create_task(asyncio.to_thread(dumper.dump), name="memory-snapshot")
        task.add_done_callback(_report_failure)

    loop.add_signal_handler(signal.SIGUSR2, on_signal)
    return dumper


def _report_failure(task: asyncio.Task[Path | None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("memory: snapshot failed: %s", exc)
