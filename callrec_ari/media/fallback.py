"""The ``mixmonitor`` engine's recorder, with a snoop channel for a segment MixMonitor cannot start.

MixMonitor is started over AMI, a second interface to Asterisk beside ARI (media/mixmonitor.py). A
manager that refuses the login, is not listening or does not answer would otherwise leave every call
unrecorded ("recording could not start") while ARI and the calls themselves work. Here a segment whose
MixMonitor fails for any reason but its leg being gone is recorded by a snoop channel instead: the
snoop engine's recorder (media/recorder.py), the same file name, the audiohook path MixMonitor takes,
both parties and the notice in the file as on either engine. The operator's log says so, once per
outage (``alert``: ``mixmonitor-unavailable``).

After a failure of the manager itself (:class:`~callrec_ari.ami.client.AmiUnavailable`: refused,
closed, silent) the segments of every call go straight to snoop channels for ``RETRY_AFTER_S``
(:class:`ManagerHealth`, one per app), so that a manager that hangs costs no call its timeout before
the notice; then MixMonitor is tried again.

An action the manager did not answer may still be carried out once Asterisk catches up: seen in
`make test`'s soak smoke, where Asterisk stalled for some 14 s, both the MixMonitor and the snoop of a
segment went unanswered, and MixMonitor wrote the segment's file afterwards, which nothing would
deliver or remove. So ``LATE_START_S`` after such a failure a MixMonitor of that segment is stopped,
and, where the segment was not recorded by a snoop channel either, its file is removed: the segment
before it ran on meanwhile and holds that time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from callrec_ari.ami.client import AmiUnavailable
from callrec_ari.media.mixmonitor import MixMonitorRecorder
from callrec_ari.media.recorder import LATE_START_S, SnoopRecorder, clear_later, remove_uncounted
from callrec_ari.model.media import MediaFailed
from callrec_ari.rules.manifest import NoticeEntry

log = logging.getLogger(__name__)

RETRY_AFTER_S = 30.0


class ManagerHealth:
    """Whether AMI is worth asking now (shared by every call of an app)."""

    def __init__(self, retry_after: float = RETRY_AFTER_S) -> None:
        self.retry_after = retry_after
        self._down_until = float("-inf")
        self._said = False  # the outage is in the log already

    def usable(self) -> bool:
        return asyncio.get_running_loop().time() >= self._down_until

    def failed(self, media_id: str, exc: MediaFailed) -> None:
        if exc.error_id == AmiUnavailable.error_id:
            self._down_until = asyncio.get_running_loop().time() + self.retry_after
        level, self._said = (logging.WARNING if self._said else logging.ERROR), True
        log.log(level, "recording %s: MixMonitor could not start (%s); recording with a snoop channel "
                "instead", media_id, exc, extra={"alert": "mixmonitor-unavailable"})

    def worked(self) -> None:
        if self._said:
            log.info("MixMonitor starts again over AMI")
        self._said = False


class MixMonitorOrSnoop:
    """MixMonitor for each segment, a snoop channel where it could not start (see the module)."""

    reports_end = False  # MixMonitor's: the flow stops the recorder as the call ends (a snoop too)
    on_legs = True

    def __init__(self, mixmonitor: MixMonitorRecorder, snoop: SnoopRecorder, health: ManagerHealth,
                 late_start_s: float = LATE_START_S) -> None:
        self.mixmonitor = mixmonitor
        self.snoop = snoop
        self.health = health
        self.late_start_s = late_start_s
        self._mixed: set[str] = set()  # segments MixMonitor records
        self._snooped: set[str] = set()  # segments a snoop channel records

    def channels(self, media_id: str) -> tuple[str, ...]:
        # Claimed before the start whichever records it: a snoop's events must reach its call.
        return self.snoop.channels(media_id)

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        unanswered = False  # MixMonitor's action had no answer: it may yet be carried out
        if self.health.usable():
            try:
                await self.mixmonitor.start(media_id, at, notices)
            except MediaFailed as exc:
                if exc.gone:  # the leg went: nothing would record it
                    raise
                self.health.failed(media_id, exc)
                unanswered = exc.error_id == AmiUnavailable.error_id
            else:
                self.health.worked()
                self._mixed.add(media_id)
                return
        try:
            await self.snoop.start(media_id, at, notices)
        except Exception:
            if unanswered:
                clear_later(self._clear_late_mixmonitor(media_id, remove_file=True))
            raise
        if unanswered:
            clear_later(self._clear_late_mixmonitor(media_id, remove_file=False))
        self._snooped.add(media_id)

    async def _clear_late_mixmonitor(self, media_id: str, remove_file: bool) -> None:
        await asyncio.sleep(self.late_start_s)
        if await self.mixmonitor.stop_late(media_id):
            log.warning("recording %s: MixMonitor started after its action had no answer: stopped",
                        media_id)
        if remove_file:
            await remove_uncounted(self.snoop.ari, media_id)

    async def stop(self, media_id: str, reason: str) -> None:
        if media_id in self._snooped:
            await self.snoop.stop(media_id, reason)
        elif media_id in self._mixed:
            await self.mixmonitor.stop(media_id, reason)
        else:
            # Started before a restart (an adopted call): whichever records it. The snoop's stop asks
            # ARI first (quiet when there is none), so a MixMonitor's file is found closed after it.
            await self.snoop.stop(media_id, reason)
            await self.mixmonitor.stop(media_id, reason)


__all__ = ["RETRY_AFTER_S", "ManagerHealth", "MixMonitorOrSnoop"]
