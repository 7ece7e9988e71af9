"""The ``mixmonitor`` recording engine: MixMonitor on the caller's leg, started and stopped over AMI.

What the snoop engine (media/recorder.py) pays for, read in Asterisk 22's source: a snoop channel is a
channel with its own thread and 20 ms timer, recorded through a second channel driver. MixMonitor's
recorder has no channel and no timer: an audiohook on the leg, and a thread woken by its frames. ARI
cannot start it, AMI can, on a channel that stays in our application and its bridge
(docs/performance.md). The leg carries both parties and the notice played on the bridge, so the file
holds what the snoop recording holds.

ARI sends no event for it, so this part tells the call itself (``emit``), in ARI's words, so the call
flow is the same for every engine:

- ``RecordingStarted`` once AMI answered the ``MixMonitor`` action: the audiohook is attached by then
  (frames from that moment on are kept for the recorder's thread, which opens the file);
- ``RecordingFinished`` once the file is closed: ``StopMixMonitor`` closes it before it answers; a
  recorder whose leg went (the party hung up) is closed by its thread as the channel goes, which is
  seen in the file's header (Asterisk writes the WAV sizes only on close);
- ``RecordingFailed`` when no file was written; :class:`~callrec_ari.model.media.RecordingVoid` when
  none was written because the call ended as the recorder began (stopped within the overlap, while
  the segment before still ran: a roll that raced the hangup), which the flow counts as a segment
  never started.

MixMonitor ends with its leg and says nothing then, so the flow stops it when the call ends
(``reports_end`` is False: calls/steps.py). Each recorder is named by the channel variable
``CALLREC_MM_<segment>`` (MixMonitor's ``i()`` option), so a restarted app finds the one to stop.

**Stereo** (``interleaved``): a call whose copies want each party on its own channel, and whose
parties hear one notice, is recorded with MixMonitor's ``D`` option: the leg's two directions side by
side in a two-channel ``<segment>.raw`` (no header; Asterisk's sln, 8 kHz), the caller's voice first,
what it heard second, from the same audiohook as the mix, at the mix's cost (docs/performance.md,
"Stereo at the cost of mono"), where the per-leg engine needs a snoop channel on each leg. Without a
header the file cannot say it was closed: a recorder stopped by ``StopMixMonitor`` was (it closes
before it answers); one whose leg went is taken as closed once its file has stopped growing for
``RAW_SETTLE_S`` (no frames come once the leg is gone, and the recorder's thread closes the file as
the leg's audiohook is detached). A restarted app finds a running one by its ``i()`` variable.
"""

from __future__ import annotations

import asyncio
import logging
import re
import struct
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from callrec_ari.ami.client import AmiClient, AmiError
from callrec_ari.ari.events import AriEvent
from callrec_ari.model.call import now_utc
from callrec_ari.model.media import CallLegs, MediaFailed, RecordingVoid
from callrec_ari.rules.manifest import NoticeEntry
from callrec_ari.rules.segments import OVERLAP_S, RAW_SUFFIX

log = logging.getLogger(__name__)

CLOSE_WAIT_S = 3.0  # how long a recorder whose leg went may take to close its file
CLOSE_POLL_S = 0.02
# How long after a segment was counted void (no file: its leg went as it began) its file is looked for
# once more, and removed if it was written after all (MixMonitorRecorder._void_file_removed).
LATE_FILE_S = 10.0
RAW_SETTLE_S = 0.5  # a raw file whose leg went is closed once it stopped growing for this long
RAW_POLL_S = 0.1


def id_variable(media_id: str) -> str:
    """The channel variable MixMonitor's ``i()`` puts the recorder's id in, for one segment."""
    return "CALLREC_MM_" + re.sub(r"[^A-Za-z0-9_]", "_", media_id.rsplit("/", 1)[-1])


def mixmonitor_file(media_id: str, fmt: str) -> str:
    """The file as MixMonitor is given it: relative paths are taken from Asterisk's monitor folder,
    so ``../recording/`` puts it where ARI's recordings go (wherever Asterisk's spool is), and the
    rest of the app finds it as it finds a snoop recording."""
    return f"../recording/{media_id}.{fmt}"


def ari_timestamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + at.strftime("%z")


def wav_closed(path: Path) -> bool | None:
    """Whether Asterisk closed this WAV file (its RIFF size says the file's length: written on close
    only); None when there is no file."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            size = fh.seek(0, 2)
    except FileNotFoundError:
        return None
    if len(head) < 8 or head[:4] != b"RIFF":
        return False
    return size >= 44 and struct.unpack("<I", head[4:8])[0] == size - 8


def _unlink_if_there(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


async def recorder_id(ami: AmiClient, leg: str, name: str) -> str:
    """The id MixMonitor gave the recorder of segment ``name`` on ``leg`` (its ``i()`` variable), or
    "" when there is none (or the leg is gone)."""
    try:
        answer = await ami.action("Getvar", Channel=leg, Variable=id_variable(name))
    except AmiError:
        return ""
    return answer.get("Value", "")


def file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


async def is_live(ami: AmiClient, leg: str, name: str, fmt: str, folder: Path | None) -> bool:
    """For a restarted app (calls/reconcile.py): whether segment ``name``'s MixMonitor still runs:
    its WAV still open when Asterisk's folder is here, else (a remote Asterisk, or a stereo recorder's
    raw file, which has no header to tell) its id still on the leg."""
    if folder is not None:
        state = await asyncio.to_thread(wav_closed, folder / f"{name}.{fmt}")
        if state is not None:
            return not state
        if await asyncio.to_thread(file_size, folder / f"{name}{RAW_SUFFIX}") is None:
            return False
    return bool(await recorder_id(ami, leg, name))


class MixMonitorRecorder:
    """One MixMonitor per segment on the caller's leg, both directions mixed, or, ``interleaved``, side
    by side (stereo, one notice for both; a notice per party keeps a snoop channel on each leg:
    media/__init__.py ``recorder_for``)."""

    reports_end = False  # MixMonitor ends with its leg without a word: the flow stops it
    on_legs = True  # an audiohook on the caller's leg: may start before it is bridged (calls/steps.py)

    def __init__(self, ami: AmiClient, legs: CallLegs, fmt: str,
                 emit: Callable[[AriEvent | RecordingVoid], None],
                 folder: Path | None, interleaved: bool = False) -> None:
        self.ami = ami
        self.leg = legs.caller
        self.fmt = fmt
        self.interleaved = interleaved
        self.suffix = RAW_SUFFIX if interleaved else f".{fmt}"  # the file MixMonitor writes
        self.options = "D" if interleaved else ""
        self.emit = emit
        self.folder = folder  # Asterisk's recording folder as seen from here (None: remote)
        self._ids: dict[str, str] = {}  # segment -> MixMonitor's id
        self._over: set[str] = set()
        self._began: dict[str, float] = {}  # segment -> when its MixMonitor was attached (loop time)
        self._telling: set[asyncio.Task[None]] = set()

    def channels(self, media_id: str) -> tuple[str, ...]:
        return ()

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        try:
            answer = await self.ami.action("MixMonitor", Channel=self.leg,
                                           File=mixmonitor_file(media_id, self.suffix[1:]),
                                           Options=f"{self.options}i({id_variable(media_id)})")
        except AmiError as exc:
            # "No such channel": the leg went (a roll that raced the hangup), nothing failed
            raise MediaFailed(exc.error_id, str(exc), gone="No such channel" in exc.message) from None
        self._ids[media_id] = answer.get("MixMonitorID", "")
        self._began[media_id] = asyncio.get_running_loop().time()
        self.emit(AriEvent(type="RecordingStarted", timestamp=ari_timestamp(now_utc()), application="",
                           recording_name=media_id))

    async def stop(self, media_id: str, reason: str) -> None:
        """Stops the segment's recorder; its end is told once its file is closed, without holding up
        the call's next actions (the other party's hangup) while a recorder whose leg went closes."""
        if media_id in self._over:
            return
        self._over.add(media_id)
        await self._over_from(media_id, await self._stop(media_id))

    async def leg_gone(self, media_id: str) -> None:
        """As :meth:`stop`, for a leg known to be gone (its hangup handler said so, or it is missing
        from Asterisk): the recorder closes with its leg, so Asterisk is asked nothing (a lookup of the
        recorder's id on a channel that no longer exists, once per call, was all the stop did)."""
        self._ids.pop(media_id, None)
        if media_id in self._over:
            return
        self._over.add(media_id)
        await self._over_from(media_id, False)

    async def _over_from(self, media_id: str, stopped: bool) -> None:
        ran = asyncio.get_running_loop().time() - self._began.pop(media_id, float("-inf"))
        telling = asyncio.create_task(self._told_over(media_id, stopped, ran))
        self._telling.add(telling)
        telling.add_done_callback(self._telling.discard)

    async def _told_over(self, media_id: str, stopped: bool, ran: float) -> None:
        written = await self._closed(media_id, stopped)
        if written is False and ran < OVERLAP_S:
            # No file, and stopped before the segment before it would have been (it runs on OVERLAP_S
            # past this one's start): the call ended as this recorder began (a roll that raced the
            # hangup; seen in `make soak`). Nothing is missing: the segment never started.
            self.emit(RecordingVoid(media_id))
            await self._void_file_removed(media_id)
            return
        kind = "RecordingFinished" if written is not False else "RecordingFailed"
        self.emit(AriEvent(type=kind, timestamp=ari_timestamp(now_utc()), application="",
                           recording_name=media_id))

    async def _void_file_removed(self, name: str) -> bool:
        """A void segment's file, should MixMonitor write it after it was looked for (its recorder's
        thread opens the file as it starts, after the action's answer), is removed once it shows: it
        holds at most the moment its leg went, which the segment before it holds too (that one runs
        on OVERLAP_S past this one's start), and nothing else would ever deliver or remove it (a
        `make test` soak smoke found one left in Asterisk's folder). True when there was one."""
        if self.folder is None:
            return False
        await asyncio.sleep(LATE_FILE_S)
        path = self.folder / f"{name}{self.suffix}"
        removed = await asyncio.to_thread(_unlink_if_there, path)
        if removed:
            log.warning("recording %s: MixMonitor wrote its file after the segment was counted void: "
                        "removed (the segment before holds that moment)", name)
        return removed

    async def stop_late(self, name: str) -> bool:
        """Stops a MixMonitor of segment ``name`` that Asterisk attached after its action went
        unanswered (media/fallback.py), if there is one; tells the flow nothing (the segment was never
        counted as started). True when one was stopped."""
        return await self._stop(name)

    async def _stop(self, name: str) -> bool:
        """Whether StopMixMonitor stopped it (and closed its file: it does before it answers)."""
        recorder = self._ids.pop(name, "") or await recorder_id(self.ami, self.leg, name)
        if not recorder:
            return False
        try:
            await self.ami.action("StopMixMonitor", Channel=self.leg, MixMonitorID=recorder)
        except AmiError as exc:
            log.debug("StopMixMonitor %s: %s (its leg went: the recorder closes with it)", name, exc)
            return False
        return True

    async def is_live(self, media_id: str) -> bool:
        return await is_live(self.ami, self.leg, media_id, self.fmt, self.folder)

    async def _closed(self, name: str, waited: bool) -> bool | None:
        """True once the file is closed, None if that cannot be known here (a remote Asterisk), False
        when there is no file at all."""
        if self.folder is None:
            return None
        path = self.folder / f"{name}{self.suffix}"
        if self.interleaved:
            return await self._raw_closed(path, waited)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (0 if waited else CLOSE_WAIT_S)
        while True:
            state = await asyncio.to_thread(wav_closed, path)  # a file operation: off the event loop
            if state or loop.time() >= deadline:
                if state is None:
                    log.error("recording %s: MixMonitor wrote no file %s", name, path)
                    return False
                if not state:
                    log.warning("recording %s: its file is still open after %.0fs", name, CLOSE_WAIT_S)
                return True
            await asyncio.sleep(CLOSE_POLL_S)

    async def _raw_closed(self, path: Path, waited: bool) -> bool:
        """A raw file (no header to say it): closed when stopped (``waited``), else once it has not
        grown over a whole ``RAW_SETTLE_S`` (see the module; two looks at its size, mostly), bounded by
        ``CLOSE_WAIT_S`` as a WAV's wait is; False when there is none."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (0 if waited else CLOSE_WAIT_S)
        size = await asyncio.to_thread(file_size, path)
        while loop.time() < deadline:
            await asyncio.sleep(RAW_SETTLE_S if size is not None else RAW_POLL_S)
            now = await asyncio.to_thread(file_size, path)
            if now is not None and now == size:
                break
            size = now
        else:
            if not waited and size is not None:
                log.warning("recording %s: its file still grows %.0fs after its leg went", path.name,
                            CLOSE_WAIT_S)
        if size is None:
            log.error("recording %s: MixMonitor wrote no file %s", path.stem, path)
            return False
        return True
