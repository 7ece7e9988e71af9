"""Where a process's memory goes, for an operator who sees it grow.

Python's own allocation tracer does the work: start the process with ``PYTHONTRACEMALLOC=N``
(N frames per allocation; 3 names the caller), then send it SIGUSR2 whenever a snapshot is wanted.
Each one is written to ``CALLREC_MEMORY_DIR`` (default: the working directory) as
``tracemalloc-<pid>-<n>.snap``, with a line of totals beside it (``.txt``: resident and traced size).
Comparing two snapshots is left to another process, so that the service pauses only for the dump:
``python -m callrec_ari.observability.memory FIRST.snap LAST.snap`` names the allocation sites that
grew most. Two snapshots an hour apart tell a leak (one site keeps growing) from allocator warm-up
(the traced total stays flat while the resident size rises). Without the tracer, SIGUSR2 logs the
resident size, the C allocator's totals and the garbage collector's counts only, so the signal is
always harmless.

The tracer sees Python's allocations only. The C allocator's totals (glibc's ``mallinfo2``: what is
in use and what it holds free, over all its arenas) are in every line, with the process's thread
count: memory in use that grows is a leak in native code (an extension module); free memory the
allocator holds that grows is fragmentation: freed blocks between blocks still in use, which glibc
returns to the system only from the top of its heaps. ``MALLOC_ARENA_MAX`` bounds the number of heaps
(one per thread otherwise), and :func:`trim_periodically` hands the whole free pages inside them back
(``malloc_trim``) every ``CALLREC_MALLOC_TRIM_SECONDS`` (60; 0: never), measured under ``make soak``
(docs/deploy.md, "When a process's memory grows").
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import gc
import logging
import os
import pickle
import signal
import sys
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


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The process's C library, loaded once (None where it cannot be)."""
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def native() -> dict[str, float] | None:
    """The C allocator's totals over all its arenas, in MB (None where the C library is not glibc
    2.33 or later): ``in_use`` (allocated, including large blocks it mapped on its own), ``free_held``
    (freed, kept by the allocator for reuse, whether or not :func:`trim` handed its pages back: the
    resident size tells), ``mapped`` (the large blocks)."""
    mallinfo2 = getattr(_libc(), "mallinfo2", None)
    if mallinfo2 is None:
        return None
    mallinfo2.restype = _Mallinfo2
    mallinfo2.argtypes = []
    info = mallinfo2()
    mb = 1024 * 1024
    return {
        "in_use": (info.uordblks + info.hblkhd) / mb,
        "free_held": info.fordblks / mb,
        "mapped": info.hblkhd / mb,
    }


def trim() -> bool:
    """Hand the whole free pages the C allocator holds back to the system (glibc's ``malloc_trim``;
    it locks each heap in turn, so it runs off the event loop). False where there is none."""
    malloc_trim = getattr(_libc(), "malloc_trim", None)
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    malloc_trim(0)
    return True


TRIM_EVERY_S = 60.0


def trim_every() -> float:
    """``CALLREC_MALLOC_TRIM_SECONDS`` (default 60; 0: never); a value that is not a number is
    logged and the default kept."""
    raw = os.environ.get("CALLREC_MALLOC_TRIM_SECONDS", "")
    if not raw:
        return TRIM_EVERY_S
    try:
        every = float(raw)
    except ValueError:
        log.error("CALLREC_MALLOC_TRIM_SECONDS=%r is not a number of seconds: every %.0f s", raw,
                  TRIM_EVERY_S)
        return TRIM_EVERY_S
    return max(0.0, every)


async def trim_periodically(every: float) -> None:
    """:func:`trim` every ``every`` seconds, off the loop, for as long as the process runs."""
    while True:
        await asyncio.sleep(every)
        if not await asyncio.to_thread(trim):
            log.info("memory: no malloc_trim in this C library: freed memory stays with the allocator")
            return


def threads() -> int | None:
    try:
        return len(os.listdir(f"/proc/{os.getpid()}/task"))
    except OSError:
        return None


def totals() -> str:
    """One line: resident size, the C allocator's totals, threads."""
    rss = resident_mb()
    parts = ["resident unknown" if rss is None else f"resident {rss:.1f} MB"]
    if (n := native()) is not None:
        parts.append(f"native in use {n['in_use']:.1f} MB, free held {n['free_held']:.1f} MB "
                     f"(mapped {n['mapped']:.1f} MB)")
    if (t := threads()) is not None:
        parts.append(f"threads {t}")
    return "; ".join(parts)


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
    """Writes a snapshot and a line of totals each time it is called."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0
        self.trimmer: asyncio.Task[None] | None = None

    def dump(self) -> Path | None:
        process = totals()
        gc_counts = gc.get_count()
        if not tracemalloc.is_tracing():
            log.warning("memory: %s; gc counts %s; start with PYTHONTRACEMALLOC=3 for snapshots",
                        process, gc_counts)
            return None
        self.count += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"tracemalloc-{os.getpid()}-{self.count}.snap"
        tracemalloc.take_snapshot().dump(str(path))
        traced, peak = tracemalloc.get_traced_memory()
        line = (f"{process}; traced {traced / 1e6:.1f} MB (peak {peak / 1e6:.1f} MB); "
                f"gc counts {gc_counts}")
        path.with_suffix(".txt").write_text(line + "\n")
        log.warning("memory: snapshot %s: %s", path, line)
        return path


def install(loop: asyncio.AbstractEventLoop) -> MemoryDumper:
    """SIGUSR2 writes a snapshot (see the module's text), off the event loop; the allocator's free
    pages are handed back every ``CALLREC_MALLOC_TRIM_SECONDS``."""
    dumper = MemoryDumper(Path(os.environ.get("CALLREC_MEMORY_DIR") or "."))
    if (every := trim_every()) > 0:
        dumper.trimmer = loop.create_task(trim_periodically(every), name="malloc-trim")

    def on_signal() -> None:
        task = loop.create_task(asyncio.to_thread(dumper.dump), name="memory-snapshot")
        task.add_done_callback(_report_failure)

    loop.add_signal_handler(signal.SIGUSR2, on_signal)
    return dumper


def _report_failure(task: asyncio.Task[Path | None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("memory: snapshot failed: %s", exc)


def main(argv: list[str] | None = None) -> int:
    """``python -m callrec_ari.observability.memory FIRST.snap LAST.snap [TOP]``: what grew between them."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print("usage: python -m callrec_ari.observability.memory FIRST.snap LAST.snap [TOP]", file=sys.stderr)
        return 2
    try:
        first, last = (tracemalloc.Snapshot.load(a) for a in args[:2])
    except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        print(f"memory: cannot read the snapshots: {exc}", file=sys.stderr)
        return 2
    print("\n".join(growth(first, last, int(args[2]) if len(args) == 3 else TOP)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
