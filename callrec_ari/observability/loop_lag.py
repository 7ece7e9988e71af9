"""How late the event loop runs what is due: a task that sleeps a known time and measures how much
longer it took (``callrec_event_loop_lag_seconds``). When the calls' steps and events are late
(``callrec_call_action_seconds``, ``callrec_ari_event_lag_seconds``), this says whether the app's own
loop was behind, or Asterisk (docs/performance.md)."""

from __future__ import annotations

import asyncio

from callrec_ari.observability.metrics import EVENT_LOOP_LAG

INTERVAL_S = 0.1


async def watch(interval: float = INTERVAL_S) -> None:
    loop = asyncio.get_running_loop()
    while True:
        began = loop.time()
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG.observe(max(0.0, loop.time() - began - interval))


def install(loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
    return loop.create_task(watch(), name="loop-lag")
