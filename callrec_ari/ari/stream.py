"""The ARI events WebSocket: connect, deliver events in order, reconnect with backoff.

While the socket is down, calls already in Stasis stay there, new ``Stasis()`` calls fail and
missed events are lost: the owner is told about each (re)connection so it can reconcile with
what Asterisk reports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

import aiohttp

from callrec_ari.ari.client import AriSettings, basic_auth_header
from callrec_ari.ari.events import AriEvent

log = logging.getLogger(__name__)

EventHandler = Callable[[AriEvent], Awaitable[None]]
ConnectHandler = Callable[[bool], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter, capped."""

    initial: float = 0.25
    maximum: float = 10.0
    factor: float = 2.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.maximum, self.initial * self.factor ** max(0, attempt))
        return (rng or random).uniform(ceiling / 2, ceiling)


class EventStream:
    """Runs until cancelled; ``on_event`` is awaited for each event, in the order Asterisk sent them."""

    def __init__(
        self,
        settings: AriSettings,
        on_event: EventHandler,
        on_connect: ConnectHandler | None = None,
        on_disconnect: Callable[[], Awaitable[None]] | None = None,
        backoff: Backoff = Backoff(),
        transcript: TextIO | None = None,
        replaced_pause: float = 30.0,
    ) -> None:
        self.settings = settings
        self.on_event = on_event
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.backoff = backoff
        self.replaced_pause = replaced_pause
        # Raw events, one JSON per line: what an operator or a component test replays.
        self.transcript = transcript
        self.connected = asyncio.Event()
        self.connections = 0
        self.reconnects = 0
        self.replaced = False  # another client took our application name (see _pump)

    def _ws_url(self) -> str:
        base = self.settings.url.rstrip("/")
        if base.startswith("https://"):
            base = "wss://" + base.removeprefix("https://")
        elif base.startswith("http://"):
            base = "ws://" + base.removeprefix("http://")
        return base + "/events"

    async def run(self) -> None:
        attempt = 0
        headers = basic_auth_header(self.settings.username, self.settings.password)
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                try:
                    async with session.ws_connect(
                        self._ws_url(),
                        params={"app": self.settings.app, "subscribeAll": "false"},
                        heartbeat=15.0,
                        max_msg_size=16 * 1024 * 1024,
                    ) as ws:
                        attempt = 0
                        self.replaced = False
                        reconnect = self.connections > 0
                        self.connections += 1
                        if reconnect:
                            self.reconnects += 1
                        log.info("ari events connected app=%s reconnect=%s", self.settings.app, reconnect)
                        self.connected.set()
                        if self.on_connect is not None:
                            try:
                                await self.on_connect(reconnect)
                            except Exception:  # reconciliation failing must not end the stream
                                log.exception("ari events: on_connect failed")
                        await self._pump(ws)
                    log.warning("ari events socket closed by Asterisk")
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    log.warning("ari events unavailable: %s", exc or type(exc).__name__)
                if self.connected.is_set():
                    self.connected.clear()
                    if self.on_disconnect is not None:
                        try:
                            await self.on_disconnect()
                        except Exception:
                            log.exception("ari events: on_disconnect failed")
                delay = self.backoff.delay(attempt)
                if self.replaced:
                    delay = max(delay, self.replaced_pause)
                attempt += 1
                log.info("ari events reconnecting in %.2fs (attempt %d)", delay, attempt)
                await asyncio.sleep(delay)

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                if self.transcript is not None:
                    self.transcript.write(message.data.replace("\n", " ") + "\n")
                try:
                    data = json.loads(message.data)
                except ValueError:
                    log.error("ari events: undecodable message dropped: %.200s", message.data)
                    continue
                if not isinstance(data, dict):
                    continue
                event = AriEvent.from_json(data)
                if event.type == "ApplicationReplaced":
                    # Another client registered our application name: Asterisk now sends it our
                    # events. Say so loudly, let go, and only try again after a long pause, so two
                    # instances configured alike do not fight over the calls.
                    self.replaced = True
                    log.error("ari events: application %r was taken over by another ARI client; "
                              "calls are not recorded by this instance", self.settings.app)
                    await ws.close()
                    break
                try:
                    await self.on_event(event)
                except Exception:  # one bad event must never kill the stream
                    log.exception("ari events: handler failed for %s", event.type)
            elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                break
