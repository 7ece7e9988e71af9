"""The event loop's lag is measured (observability/loop_lag.py): a callback that blocks the loop shows
as a timer run that much late; an idle loop shows none."""

from __future__ import annotations

import asyncio
import time

from callrec_ari.observability import loop_lag
from callrec_ari.observability.metrics import REGISTRY


def _count(le: str = "+Inf") -> float:
    return REGISTRY.get_sample_value("callrec_event_loop_lag_seconds_bucket", {"le": le}) or 0.0


async def test_a_blocked_loop_shows_as_lag_and_an_idle_one_does_not() -> None:
    watch = asyncio.create_task(loop_lag.watch(0.05))
    try:
        idle_before, late_before = _count(), _count("0.2")
        await asyncio.sleep(0.3)
        idle = _count() - idle_before
        assert idle >= 3 and _count("0.2") - late_before == idle  # none later than 200 ms
        late_before, all_before = _count("0.2"), _count()
        time.sleep(0.4)  # noqa: ASYNC251  (the point: a blocking call on the loop)
        await asyncio.sleep(0.15)
        assert _count() - all_before >= 1 and _count("0.2") - late_before < _count() - all_before
    finally:
        watch.cancel()
