"""The event loop of the long-running commands (``callrec run``, ``callrec deliver``): uvloop's, where
it is installed (the default install has it), else asyncio's own. ``CALLREC_EVENT_LOOP=asyncio``
chooses asyncio's. docs/performance.md has what each costs per call."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from callrec_ari.observability.gc_pauses import settle_after_start

T = TypeVar("T")
CHOICES = ("uvloop", "asyncio")


class EventLoopChoiceError(ValueError):
    pass


def loop_factory(env: dict[str, str] | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop to run on; None for asyncio's own."""
    choice = (os.environ if env is None else env).get("CALLREC_EVENT_LOOP", "") or "uvloop"
    if choice not in CHOICES:
        raise EventLoopChoiceError(f"CALLREC_EVENT_LOOP = {choice!r}: expected 'uvloop' or 'asyncio'")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # a platform without it (uvloop builds on Linux and macOS only)
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], factory: Callable[[], asyncio.AbstractEventLoop] | None) -> T:
    """``asyncio.run(main)`` on the loop ``factory`` makes (:func:`loop_factory`), the objects of the
    imports frozen first (observability/gc_pauses.py): the cycle collector no longer walks them."""
    settle_after_start()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
