"""The end of a soak's load: wait until the platform is quiet (no call left in Asterisk, the call records
no longer growing, every copy but D's delivered, the last streams closed by their receiver)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from bench.common import log
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.media.mixmonitor import LATE_FILE_S

if TYPE_CHECKING:
    from bench.soak.platform import Soak


def asterisk_has(soak: Soak, what: str) -> list[dict[str, object]] | None:
    """The node's Asterisk's channels or bridges (ARI), or None when it does not answer."""
    import requests

    try:
        resp = requests.get(f"{soak.node().node.ari_url}/{what}", auth=("callrec", "callrec"), timeout=5)
        found = resp.json()
    except (requests.RequestException, ValueError):
        return None
    return found if isinstance(found, list) else None


def channels(soak: Soak) -> int:
    found = asterisk_has(soak, "channels")
    return -1 if found is None else len(found)


def records(soak: Soak) -> int:
    assert soak.db is not None
    with soak.db() as s:
        return len(s.scalars(select(CallRecord.id)).all())


async def drain(soak: Soak, timeout: float = 300.0) -> None:
    """Until no call is left in Asterisk, the call records stop growing, and every copy but D's is
    delivered, twice in a row (or the timeout: what is left then shows in the accounting)."""
    deadline = time.monotonic() + timeout
    quiet, last = 0, -1
    while time.monotonic() < deadline and quiet < 2:
        await asyncio.sleep(3.0)
        up = await asyncio.to_thread(channels, soak)
        count = await asyncio.to_thread(records, soak)
        pending = await asyncio.to_thread(soak.jobs_in, "pending")
        left = [j for j in pending if j.contract != str(soak.d_contract)]
        quiet = quiet + 1 if up == 0 and count == last and not left else 0
        last = count
    if quiet < 2:
        log("soak: the calls or the queue did not drain in time")
    # A recorder that raced its call's hangup (a roll at the moment the caller hung up) can have its
    # file written after the app counted the segment void; the app looks for it LATE_FILE_S later and
    # removes it (media/mixmonitor.py). What is left after that is left behind for good.
    await asyncio.sleep(LATE_FILE_S + 2.0)
    # The receiver writes a stream's record when it ends it: on the `end` notification, or after
    # its idle timeout (10 s) when that was lost. Give the last streams that long.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if set(await asyncio.to_thread(stream_calls, soak)) <= set(soak.customers["C"].streams()):
            break
        await asyncio.sleep(1.0)


def stream_calls(soak: Soak) -> list[str]:
    assert soak.db is not None
    with soak.db() as s:
        return list(
            s.scalars(
                select(CallRecord.call_id).where(
                    CallRecord.delivery_type == "stream",
                    CallRecord.recorded.is_(True),
                    CallRecord.answered_at.is_not(None),
                )
            )
        )
