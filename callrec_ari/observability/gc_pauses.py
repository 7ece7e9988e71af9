"""The cycle collector's pauses, kept short on the services' event loops.

Python's cycle collector stops the process while it runs, and its oldest generation's collection
walks every object that has lived long enough, the imported modules' (SQLAlchemy's, aiohttp's,
prometheus_client's...) included: about 100,000 objects in ``callrec run``, 50-90 ms a collection,
measured at 6 calls/s on the event loop between two calls' events (docs/performance.md, "The cycle
collector's pauses"). What the modules create as they are imported lives as long as the process; a service
freezes it (:func:`gc.freeze`) once its imports are done, before it serves: the collector no longer
walks it, and a collection of what the calls left behind takes a few milliseconds. The frozen objects
are still freed when nothing refers to them; only a reference cycle among them would no longer be
found, and nothing imported at start is meant to die.

``callrec_gc_pause_seconds`` (by generation) shows the pauses to an operator beside the event loop's
lag (observability/loop_lag.py).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

from callrec_ari.observability.metrics import REGISTRY

GC_PAUSE = Histogram(
    "callrec_gc_pause_seconds", "One collection of the cycle collector (the process stops meanwhile)",
    ["generation"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
    registry=REGISTRY,  # the app's own, the one /metrics serves
)
_BY_GENERATION = tuple(GC_PAUSE.labels(str(g)) for g in range(3))


class _Timer:
    """A :data:`gc.callbacks` entry: each collection's length into :data:`GC_PAUSE`."""

    def __init__(self) -> None:
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            _BY_GENERATION[min(int(info.get("generation", 0)), 2)].observe(time.perf_counter() - self._began)


def settle_after_start() -> int:
    """Collect what the start left behind, then freeze what is left, so that no later collection walks
    it; times every collection from now on (once per process). Returns the objects frozen."""
    gc.collect()
    gc.freeze()
    if not any(isinstance(cb, _Timer) for cb in gc.callbacks):
        gc.callbacks.append(_Timer())
    return gc.get_freeze_count()


__all__ = ["GC_PAUSE", "settle_after_start"]
