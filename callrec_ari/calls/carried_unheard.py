"""recording_engine = dialplan: the ends of carried calls the app did not hear of (calls/carried.py).

The app learns of a carried call's end from the dialplan's ``ended`` user event. When that cannot
come (the manager connection was down, an event was lost, a manager user that may not read user
events, Asterisk gone), the call is found ended by other means and handed over from what was
recorded: its last write is its end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import replace
from datetime import datetime

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError
from callrec_ari.calls import carried_state
from callrec_ari.calls.carried_state import CarriedCall, CarryCheck, CarrySettings
from callrec_ari.calls.carry import CarriedEvent
from callrec_ari.calls.journal import last_write, unheard_start

log = logging.getLogger(__name__)


class UnheardEnds:
    """Part of :class:`callrec_ari.calls.carried.CarriedCalls`: what it does for calls whose end it
    did not hear."""

    calls: dict[str, CarriedCall]
    ari: AriClient
    settings: CarrySettings
    check: CarryCheck

    def _spawn(self, work: Awaitable[None]) -> None:
        raise NotImplementedError

    async def _end(self, call: CarriedCall, ended_at: datetime | None = None) -> None:
        raise NotImplementedError

    def on_ami_connect(self) -> None:
        """Events sent while the manager connection was down are lost: look for each call; and whether
        the dialplan can carry calls (the manager, or Asterisk, may have changed meanwhile)."""
        self.check.again.set()
        if self.calls:
            self._spawn(self._look_for_calls())

    async def _look_for_calls(self) -> None:
        try:
            up = {c.id for c in await self.ari.list_channels()}
        except AriError as exc:
            log.warning("carried calls not looked for after the manager came back: %s", exc)
            return
        for call in list(self.calls.values()):
            if call.caller not in up and not call.finishing:
                log.warning("call=%s ended while the manager connection was down", call.call_id)
                await self._end(call, ended_at=self._last_write(call))

    async def watch(self, every: float | None = None) -> None:
        """Never a call left followed once its leg is gone: a call whose caller's leg is missing from
        Asterisk at two looks in a row ended without its ``ended`` event reaching the app (a manager
        user that may not read user events, or an event lost on the way), and is handed over from what
        was recorded. Its ``ended`` comes within milliseconds of the leg's end: a whole period between
        the looks leaves it time to arrive."""
        missing: set[str] = set()
        while True:
            await asyncio.sleep(carried_state.WATCH_S if every is None else every)
            if not self.calls:
                missing.clear()
                continue
            try:
                up = {c.id for c in await self.ari.list_channels()}
            except AriError as exc:
                log.warning("carried calls not looked for: %s", exc)
                continue
            gone = {cid for cid, call in self.calls.items() if call.caller not in up and not call.finishing}
            for call_id in gone & missing:
                call = self.calls[call_id]
                self._answer_from_file(call)
                log.error("call=%s ended without the dialplan's end event (can the manager user read user "
                          "events? docs/deploy.md): handed over from what was recorded", call_id,
                          extra={"event": "CallEndedUnheard"})
                self._spawn(self._end(call, ended_at=self._last_write(call)))
            missing = gone - missing

    def _answer_from_file(self, call: CarriedCall) -> None:
        """A call none of whose events reached the app: its first recording started where its file
        says, and that was the answer (R2.4)."""
        if call.said is None and (started := unheard_start(
                call.segments, self.settings.folder, self.settings.recording_format)):
            call.segments[0] = replace(call.segments[0], started_at=started)
            call.said = CarriedEvent(call.call_id, "talking", marks=(started,))

    def asterisk_gone(self, since: datetime) -> int:
        """Asterisk's process is gone, found at ``since`` (app/__init__.py): the calls it carried
        ended with it, when their recordings stopped growing; each hands over what was recorded."""
        calls = [c for c in self.calls.values() if not c.finishing]
        for call in calls:
            last = self._last_write(call)
            self._spawn(self._end(call, ended_at=min(since, last) if last is not None else since))
        return len(calls)

    def _last_write(self, call: CarriedCall) -> datetime | None:
        folder = self.settings.folder
        if folder is None:
            return None
        return last_write((s.name for s in call.segments), folder, self.settings.recording_format)


__all__ = ["UnheardEnds"]
