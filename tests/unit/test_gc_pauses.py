"""The services freeze what their start imported and built, so that the cycle collector's oldest
generation no longer walks it on the event loop (observability/gc_pauses.py). Each check runs in a
process of its own: a frozen test process would keep every earlier test's objects out of reach."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def in_a_process(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_services_loop_starts_with_the_imports_frozen_and_the_pauses_timed() -> None:
    out = in_a_process("""
        import asyncio, gc
        from callrec_ari.cli import run_cmd  # the app's imports, as `callrec run` has them
        from callrec_ari.cli.loop import run
        from prometheus_client import generate_latest
        from callrec_ari.observability.metrics import REGISTRY

        assert gc.get_freeze_count() == 0
        async def main():
            return gc.get_freeze_count()
        frozen = run(main(), None)
        print("frozen", frozen)

        def sample(gen):  # as an operator reads it: the app's /metrics page (its own registry)
            line = f'callrec_gc_pause_seconds_count{{generation="{gen}"}} '
            page = generate_latest(REGISTRY).decode()
            return next(float(l[len(line):]) for l in page.splitlines() if l.startswith(line))
        before = sample("2")
        cycle = []
        cycle.append(cycle)
        del cycle
        gc.collect()
        print("timed", sample("2") - before)
    """)
    frozen = int(out.split("frozen ")[1].split()[0])
    assert frozen > 20_000, out  # the imports' objects (about 100,000 with the app's)
    assert out.strip().endswith("timed 1.0"), out


def test_a_collection_after_the_freeze_walks_only_what_came_after() -> None:
    out = in_a_process("""
        import gc, time
        from callrec_ari.cli import run_cmd
        from callrec_ari.observability.gc_pauses import settle_after_start

        def full():
            began = time.perf_counter()
            gc.collect()
            return time.perf_counter() - began
        gc.collect()
        walked = min(full() for _ in range(3))
        settle_after_start()
        settle_after_start()  # twice: still one timer
        assert sum(type(cb).__name__ == "_Timer" for cb in gc.callbacks) == 1
        frozen = min(full() for _ in range(3))
        print(walked, frozen)
    """)
    walked, frozen = (float(x) for x in out.split())
    assert frozen < walked / 5, (walked, frozen)
