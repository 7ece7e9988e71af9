"""The operator's memory snapshots (callrec_ari/observability/memory.py): SIGUSR2 writes a tracemalloc
snapshot and names what grew since the first one; without the tracer it only logs."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import tracemalloc
from pathlib import Path

import pytest

from callrec_ari.observability import memory

kept: list[bytes] = []


def grow() -> None:  # the allocation site the summary must name
    kept.extend(bytes(1000) + bytes([i % 256]) for i in range(3000))


@pytest.fixture
def tracing():
    tracemalloc.start(5)
    try:
        yield
    finally:
        tracemalloc.stop()
        kept.clear()


def test_the_growth_names_the_site_that_grew(tmp_path: Path, tracing: None,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    dumper = memory.MemoryDumper(tmp_path)
    first = dumper.dump()
    grow()
    second = dumper.dump()
    assert first is not None and second is not None and first != second
    totals = second.with_suffix(".txt").read_text()
    assert totals.startswith("resident ") and "traced " in totals
    # Compared in another process (here: main), from the files alone.
    assert memory.main([str(first), str(second)]) == 0
    summary = capsys.readouterr().out.splitlines()
    traced = summary[0].split("(")[1]
    assert traced.startswith("+") and float(traced.split()[0]) >= 2.5  # 3 MB kept, in MB
    top = summary[1]
    assert "test_memory_snapshots.py" in top and float(top.split()[0]) >= 2500  # kB, the first line


def test_a_comparison_of_unreadable_files_is_refused_clearly(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.snap"
    bad.write_bytes(b"not a snapshot")
    assert memory.main([str(bad), str(bad)]) == 2
    assert "cannot read the snapshots" in capsys.readouterr().err
    assert memory.main([str(bad)]) == 2


def test_without_the_tracer_it_only_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert not tracemalloc.is_tracing()
    with caplog.at_level(logging.WARNING):
        assert memory.MemoryDumper(tmp_path / "m").dump() is None
    assert "PYTHONTRACEMALLOC" in caplog.text
    assert not (tmp_path / "m").exists()


def test_sigusr2_writes_a_snapshot_off_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                tracing: None) -> None:
    monkeypatch.setenv("CALLREC_MEMORY_DIR", str(tmp_path / "dumps"))

    async def main() -> list[Path]:
        loop = asyncio.get_running_loop()
        memory.install(loop)
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
            for _ in range(200):
                await asyncio.sleep(0.02)
                found = sorted((tmp_path / "dumps").glob("*.snap")) if (tmp_path / "dumps").exists() else []
                if found and found[0].with_suffix(".txt").exists():
                    return found
            return []
        finally:
            loop.remove_signal_handler(signal.SIGUSR2)

    found = asyncio.run(main())
    assert [p.name for p in found] == [f"tracemalloc-{os.getpid()}-1.snap"]


def test_the_c_allocators_totals_see_memory_the_tracer_cannot() -> None:
    """What Python allocates through malloc shows in the allocator's totals, tracer or not: a leak in
    native code is told from allocator fragmentation by them (in use vs free held)."""
    before = memory.native()
    assert before is not None  # Debian's glibc has mallinfo2
    block = bytearray(48 * 1024 * 1024)  # a large block: malloc maps it on its own
    during = memory.native()
    assert during is not None
    assert during["in_use"] - before["in_use"] >= 47
    assert during["mapped"] - before["mapped"] >= 47
    del block
    after = memory.native()
    assert after is not None and during["in_use"] - after["in_use"] >= 47
    line = memory.totals()
    assert line.startswith("resident ") and "native in use " in line and "free held " in line
    assert "threads " in line


def test_trimming_hands_back_the_free_pages_between_blocks_still_in_use() -> None:
    """The soak's growth (the C allocator's free memory rising while what is in use stays flat) is
    what a fragmented heap looks like: freed blocks between live ones, never returned by free().
    malloc_trim returns their whole pages."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    memory.trim()
    blocks = [libc.malloc(1024) for _ in range(96 * 1024)]  # 96 MB below the mmap threshold
    for i, block in enumerate(blocks):
        ctypes.memset(block, 1, 1024)  # resident
        if i % 64:
            libc.free(block)  # one block in 64 stays: the heap cannot shrink from its top
    fragmented = memory.resident_mb()
    native = memory.native()
    assert fragmented is not None and native is not None and native["free_held"] >= 80
    assert memory.trim()
    trimmed = memory.resident_mb()
    assert trimmed is not None and fragmented - trimmed >= 60, (fragmented, trimmed)
    for block in blocks[::64]:
        libc.free(block)


def test_the_trim_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("CALLREC_MALLOC_TRIM_SECONDS", raising=False)
    assert memory.trim_every() == memory.TRIM_EVERY_S
    monkeypatch.setenv("CALLREC_MALLOC_TRIM_SECONDS", "0")
    assert memory.trim_every() == 0.0
    monkeypatch.setenv("CALLREC_MALLOC_TRIM_SECONDS", "often")
    with caplog.at_level(logging.ERROR):
        assert memory.trim_every() == memory.TRIM_EVERY_S
    assert "not a number of seconds" in caplog.text
