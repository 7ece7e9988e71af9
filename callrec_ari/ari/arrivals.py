"""Waiting for a channel the app created to enter our application.

A channel that ARI creates for us (a snoop channel, like one from ``/channels/create``) can be
reported created before it is in Stasis: a request on it answers 409 until its StasisStart. Whoever
needs it in Stasis registers here first (before the request that creates it, since the event may
beat the answer); the event router tells this object about every StasisStart.
"""

from __future__ import annotations

import asyncio

from callrec_ari.ari.events import AriEvent


class StasisArrivals:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[None]] = {}

    def expect(self, channel_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[channel_id] = future
        return future

    def forget(self, channel_id: str) -> None:
        future = self._waiting.pop(channel_id, None)
        if future is not None and not future.done():
            future.cancel()

    def seen(self, event: AriEvent) -> None:
        if event.type != "StasisStart" or event.channel is None or not self._waiting:
            return
        future = self._waiting.pop(event.channel.id, None)
        if future is not None and not future.done():
            future.set_result(None)

    def __len__(self) -> int:
        return len(self._waiting)
