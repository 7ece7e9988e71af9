"""The number -> line map the dialplan falls back on when the app cannot take an incoming call.

Telephony never waits on the recorder (R3.4): when the application is down, draining for a restart
or cannot plan a call, the dialplan connects it plainly. An outgoing call knows its destination; an
incoming one only knows the dialled number, so the app keeps one dialplan global per subscriber line
in Asterisk, ``CALLREC_LINE_<number>`` = the line's dial string (``PJSIP/1002``), written at every
(re)connection and refreshed every ``line_map_seconds``. dialplan/extensions.conf ``[from-carrier]``
dials it. When the lines cannot be read (the database is down), the map last written stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError
from callrec_ari.calls.lines import LineDirectory
from callrec_ari.config import Config

log = logging.getLogger(__name__)
PREFIX = "CALLREC_LINE_"


def line_variable(number: str) -> str:
    return PREFIX + "".join(ch for ch in number if ch.isdigit())


class LineMap:
    def __init__(self, ari: AriClient, config: Config, lines: Callable[[], LineDirectory]) -> None:
        self._ari = ari
        self._config = config
        self._lines = lines
        self._published: dict[str, str] = {}

    def wanted(self) -> dict[str, str]:
        """Blocking (the lines may come from the database)."""
        return {line_variable(line.number): self._config.line_endpoint.format(endpoint=line.endpoint)
                for line in self._lines().all_lines()}

    async def publish(self, everything: bool = False) -> int:
        """Write what changed (everything after a reconnection: Asterisk may have restarted);
        the number of variables written."""
        try:
            wanted = await asyncio.to_thread(self.wanted)
        except Exception as exc:  # the database is down: keep the map Asterisk has
            log.warning("line map not refreshed, lines unreadable (%s): Asterisk keeps the last one", exc)
            return 0
        changes = {k: v for k, v in wanted.items() if everything or self._published.get(k) != v}
        changes |= {k: "" for k in self._published if k not in wanted}  # a removed line: no fallback
        written = 0
        try:
            for variable, value in changes.items():
                await self._ari.set_global(variable, value)
                written += 1
        except AriError as exc:
            log.warning("line map partly written (%d of %d): %s", written, len(changes), exc)
            self._published = {}  # write everything next time
            return written
        self._published = wanted
        if written:
            log.info("line map: %d dialplan fallbacks written for %d lines", written, len(wanted))
        return written

    async def run(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self.publish()
