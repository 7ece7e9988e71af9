"""What the app keeps of a call the dialplan carries (calls/carried.py), and the engine's settings."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from callrec_ari.ami.client import AmiClient, AmiError, Message
from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError
from callrec_ari.calls import carry
from callrec_ari.calls.carry import CarriedEvent
from callrec_ari.calls.journal import JournalEntry
from callrec_ari.media.mixmonitor import MixMonitorRecorder
from callrec_ari.model.call import RecordedSegment, now_utc
from callrec_ari.model.plan import CallPlan
from callrec_ari.rules.manifest import NoticeEntry

log = logging.getLogger(__name__)

STATE = "carried"  # the journal's state of a call the dialplan carries
RETRY_ROLL_S = 5.0  # a roll MixMonitor refused is tried again this much later
END_WAIT_S = 10.0  # bound on waiting for the last recorders' files to close at the end
CURRENT_S = 1.0  # how long Asterisk's count of its calls is trusted once read (AsteriskLimits)
CURRENT_WAIT_S = 0.5  # how long a call's decision waits for that count
CURRENT_STALE_S = 5.0  # an older count is not used: the app's own count of its calls stands alone
LET_IN = "CALLREC_MAX_CALLS"  # the calls the dialplan lets in ([globals], dialplan/extensions.conf)
LIMITS_S = 60.0  # how long Asterisk's limits and dialplan are trusted once read (calls/carried.py room)
WATCH_S = 30.0  # how often the followed calls' legs are looked for in Asterisk (calls/carried.py watch)


@dataclass(frozen=True, slots=True)
class CarrySettings:
    recording_prefix: str = "callrec"
    recording_format: str = "wav"
    roll_seconds: float = 3600.0
    directions: str = "stereo"  # config.py mixmonitor_directions: "all" records every call in stereo
    folder: Path | None = None  # Asterisk's recording folder as seen from here (None: remote)
    dial_timeout: int = 60


@dataclass
class CarriedCall:
    plan: CallPlan
    caller: str  # the caller's channel id
    recorder: MixMonitorRecorder
    started: datetime = field(default_factory=now_utc)
    segments: list[RecordedSegment] = field(default_factory=list)
    said: CarriedEvent | None = None  # the latest the dialplan said
    roll: asyncio.TimerHandle | None = None
    starting: asyncio.Future[None] | None = None  # a roll's recorder start, while it is asked for
    over: dict[str, asyncio.Future[str]] = field(default_factory=dict)  # segment -> how it ended
    finishing: bool = False
    notices: tuple[NoticeEntry, ...] = ()  # an adopted call's, as its journal had them

    @property
    def call_id(self) -> str:
        return self.plan.call_id

    def entry(self) -> JournalEntry:
        times = carry.call_times(self.plan, self.started, self.said)
        return JournalEntry(plan=self.plan, state=STATE, caller_id=self.caller, callee_id="", bridge_id="",
                            times=times, segments=tuple(self.segments),
                            notices=carry.notice_entries(self.plan, self.said) or self.notices)


class AsteriskLimits:
    """Asterisk's ``maxcalls`` and ``maxload`` (asterisk.conf), read from ``/asterisk/info`` once a
    minute with the calls its dialplan lets in (``CALLREC_MAX_CALLS``); and, where those do not keep
    the node within ``maxcalls`` by themselves, the PBX threads it counts against it now (the manager's
    ``CoreStatus``, ``CoreCurrentCalls``), read at most once every ``CURRENT_S``: against them a call is
    carried or not (calls/carry.py ``pbx_room``). Asterisk's own count covers what the app cannot see:
    calls the dialplan connected while the app was down, calls a restarted app has not met yet, calls
    Asterisk carries for others."""

    def __init__(self, ari: AriClient, ami: AmiClient | None = None) -> None:
        self.ari = ari
        self.ami = ami
        self.read: tuple[int, float, int] | None = None  # maxcalls, maxload, the calls the dialplan lets in
        self.until = 0.0
        self.current: int | None = None  # Asterisk's count of PBX threads, as last read
        self.current_at = -CURRENT_STALE_S

    async def room(self, threads: int, pending: int = 0) -> str | None:
        """None when one more call may be carried beside the app's calls holding ``threads`` of
        Asterisk's PBX threads, ``pending`` of them carried calls that may still start their callee's;
        else why not (and when the limits cannot be read: the app's bridge then records the call)."""
        now = asyncio.get_running_loop().time()
        if self.read is None or now >= self.until:
            try:
                config = (await self.ari.asterisk_info()).get("config") or {}
            except AriError as exc:
                log.warning("Asterisk's call limits not read (%s): the app's bridge records the call", exc)
                return "limits-unknown"
            if not isinstance(config, dict):
                config = {}
            try:
                let_in = int(await self.ari.get_global(LET_IN))
            except (AriError, ValueError):
                let_in = 0  # not set (an operator's own dialplan): Asterisk's own limits only
            self.read = (int(config.get("max_channels") or 0), float(config.get("max_load") or 0.0), let_in)
            self.until = now + LIMITS_S
        max_calls, max_load, let_in = self.read
        if carry.counted(max_calls, let_in) and (current := await self._current_calls(now)) is not None:
            threads = max(threads, current + pending)
        return carry.pbx_room(max_calls, max_load, threads, let_in)

    async def _current_calls(self, now: float) -> int | None:
        if self.ami is not None and now - self.current_at >= CURRENT_S:
            try:
                answer = await asyncio.wait_for(self.ami.action("CoreStatus"), CURRENT_WAIT_S)
                self.current, self.current_at = int(answer["CoreCurrentCalls"]), now
            except (AmiError, TimeoutError, KeyError, ValueError) as exc:
                log.debug("Asterisk's current calls not read: %s", exc)
        return self.current if now - self.current_at < CURRENT_STALE_S else None


# Where the dialplan takes a carried call (dialplan/extensions.conf), in the order ``[callrec-carry-check]``
# reports them: a context missing from Asterisk's dialplan would drop every call handed to it.
CARRY_PLACES = (f"{carry.CONTEXT},s,1", "callrec-carry-answered,s,caller", "callrec-carry-answered,s,callee",
                "callrec-carry-callee-gone,s,1", "callrec-carry-end,s,1")
CHECK_CONTEXT = "callrec-carry-check"
CHECK_STATE = "check"  # the State of the check's user event (the calls' are talking and ended)
CHECK_WAIT_S = 5.0  # how long the check's user event is waited for
CHECK_RETRY_S = 10.0  # the next look, while the last said the dialplan cannot carry calls


def absent_places(found: str) -> tuple[str, ...]:
    """The places of :data:`CARRY_PLACES` the check's ``Found`` (one ``DIALPLAN_EXISTS`` each: ``11111``)
    says are not in the dialplan."""
    return tuple(place for i, place in enumerate(CARRY_PLACES) if found[i:i + 1] != "1")


class CarryCheck:
    """Whether this Asterisk can carry the app's calls, looked at when the manager connects and once a
    minute: a Local channel sent to ``[callrec-carry-check]`` sends the user event the app must be able
    to read (a manager user without ``read = user`` would leave every carried call unheard: no segments
    rolled, its end found late), saying whether each context a carried call goes through is there (an
    ``extensions.conf`` without callrec's, or a reload that lost them, would drop the calls). Until it
    has been heard with every context there, the app's bridge records every call."""

    def __init__(self, ari: AriClient, context: str = CHECK_CONTEXT) -> None:
        self.ari = ari
        self.context = context
        self.why: str | None = "unchecked"  # None: the dialplan carries calls
        self.checked = asyncio.Event()  # a first check is over
        self.again = asyncio.Event()  # look now (the manager connected)
        self.unsure = False  # the last look could not be made: the next one is soon
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._tokens = itertools.count(1)

    def heard(self, message: Message) -> None:
        """The check's user event (calls/carried.py ``on_ami_event``)."""
        waiting = self._waiting.get(message.get("Call", ""))
        if waiting is not None and not waiting.done():
            waiting.set_result(message.get("Found", ""))

    async def keep(self, every: float = LIMITS_S, retry: float = CHECK_RETRY_S) -> None:
        """Looks each time the manager connects (``again``), and at least every ``every`` seconds, or
        ``retry`` while the dialplan cannot carry calls (an Asterisk just restarted may not answer the
        first look)."""
        while True:
            settled = self.why is None and not self.unsure
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.again.wait(), every if settled else retry)
            self.again.clear()
            await self.look()

    async def look(self) -> str | None:
        """One look; None when the dialplan can carry calls, else why not."""
        token = f"{time.time_ns() // 1_000_000}{next(self._tokens)}"  # digits: the context matches _X.
        why: str | None
        waiting: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[token] = waiting
        try:
            await self.ari.originate_to(f"Local/{token}@{self.context}", self.context)
            found = await asyncio.wait_for(waiting, CHECK_WAIT_S)
        except AriError as exc:
            if self.why is None:
                # Asterisk busy or going away: nothing said of the dialplan, which carried calls a minute
                # ago. It goes on carrying them, and is looked at again soon.
                log.warning("the dialplan could not be looked at (%s): looked at again in %.0fs", exc,
                            CHECK_RETRY_S)
                self.unsure = True
                return None
            why, said = "dialplan-unknown", f"the dialplan could not be looked at ({exc})"
        except TimeoutError:
            why, said = "dialplan-unheard", (
                f"no word from [{self.context}] within {CHECK_WAIT_S:.0f}s: the manager user may not read "
                "user events (manager.conf: read = user, eventfilter = UserEvent: CallrecCarried), or the "
                "dialplan lacks callrec's contexts")
        else:
            absent = absent_places(found)
            why = "no-dialplan" if absent else None
            said = f"Asterisk's dialplan has no {', '.join(absent)}"
        finally:
            self._waiting.pop(token, None)
        if why != self.why:
            if why is None:
                log.info("the dialplan carries the calls it can (every context of a carried call is there, "
                         "and its user events reach the app)", extra={"event": "CarryReady"})
            else:
                log.error("%s: the app's bridge records every call until it can (docs/deploy.md)", said,
                          extra={"event": "CarryUnready"})
        self.why, self.unsure = why, False
        self.checked.set()
        return why

    async def ready(self) -> str | None:
        """None when the dialplan may carry a call; the first call after the start waits for the first
        look (a few milliseconds once the manager is connected), no call after it."""
        if not self.checked.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.checked.wait(), CHECK_WAIT_S + 1)
            self.checked.set()
        return self.why
