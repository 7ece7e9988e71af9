"""The call id of the code running now, carried by contextvars.

Each call runs in its own asyncio task (and each delivery in its own), and a task copies the
context it was created in, so setting the call id once at the top of the task tags every log line
the call produces, in any module, without passing it around.
"""

from __future__ import annotations

import contextvars

current_call_id: contextvars.ContextVar[str] = contextvars.ContextVar("callrec_call_id", default="")


def bind_call(call_id: str) -> None:
    current_call_id.set(call_id)
