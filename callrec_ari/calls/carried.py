"""recording_engine = dialplan: the calls the dialplan carries, followed by the app (calls/carry.py).

Per call: the journal first (so a restarted app finds it), then one variable and ``continue``; then
nothing until the dialplan's ``talking`` event, from which the segment timer runs; each roll starts
the next MixMonitor over AMI and stops the older one ``OVERLAP_S`` later, as the ``mixmonitor``
engine does (media/mixmonitor.py, whose recorder this uses); the ``ended`` event closes the call:
the recorders closed with the leg, and the call is handed over (packaging, delivery, charges) as
every call is.

The call does not depend on the app once it is in the dialplan: an app that stops or dies leaves it
talking and recording in Asterisk, and the next run adopts it from the journal (calls/reconcile.py).
Events sent while the manager connection was down are lost, so each time it is back every call
followed is looked for in Asterisk, and one that is gone is finished with what was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import TextIO

from callrec_ari.ami.client import AmiClient, Message
from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError, AriNotFound
from callrec_ari.ari.events import AriEvent, parse_ari_time
from callrec_ari.calls import carry
from callrec_ari.calls.carried_state import (
    CHECK_STATE,
    END_WAIT_S,
    RETRY_ROLL_S,
    STATE,
    AsteriskLimits,
    CarriedCall,
    CarryCheck,
    CarrySettings,
)
from callrec_ari.calls.carried_unheard import UnheardEnds
from callrec_ari.calls.carry import BadCarriedEvent, CarriedEvent
from callrec_ari.calls.journal import CallJournal, JournalEntry, finished_carried
from callrec_ari.media.mixmonitor import MixMonitorRecorder, id_variable, mixmonitor_file
from callrec_ari.media.recorder import LATE_START_S, clear_later, remove_uncounted
from callrec_ari.model.call import FinishedCall, RecordedSegment, now_utc
from callrec_ari.model.media import CallLegs, MediaFailed, RecordingVoid
from callrec_ari.model.plan import CallPlan
from callrec_ari.observability.context import bind_call
from callrec_ari.observability.metrics import ACTIVE_CALLS, NOTICE_LATENCY
from callrec_ari.rules import causes
from callrec_ari.rules.segments import OVERLAP_S, RAW_SUFFIX, RollReason, roll_delay, segment_name

log = logging.getLogger(__name__)

ENDED_EARLY_KEPT = 10_000  # end events of calls not (yet) followed, kept for their adoption

class CarriedCalls(UnheardEnds):
    def __init__(self, ari: AriClient, ami: AmiClient, settings: CarrySettings,
                 finish: Callable[[FinishedCall], Awaitable[None]],
                 journal: CallJournal | None = None, transcript: TextIO | None = None) -> None:
        self.ari = ari
        # The ARI transcript (config.py ari_transcript) also gets the dialplan's events, as
        # {"type": "UserEvent", "ami": <the event>}: what Asterisk told the app, in order.
        self.transcript = transcript
        self.ami = ami
        self.settings = settings
        self.finish = finish
        self.journal = journal
        self.calls: dict[str, CarriedCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.limits = AsteriskLimits(ari, ami)
        self.check = CarryCheck(ari)
        self.idle = asyncio.Event()  # no call followed (app/__init__.py drain)
        self.ended_early: OrderedDict[str, CarriedEvent] = OrderedDict()  # ends heard before adoption
        self.idle.set()

    # ---- which calls, and handing them over ---------------------------------------------------------
    def refusal(self, plan: CallPlan) -> str | None:
        why = carry.refusal(plan)
        if why is None and self._interleaved(plan) and self.settings.folder is None:
            return "stereo-remote"  # a raw stereo file is read from Asterisk's folder (media/mixmonitor.py)
        return why

    async def room(self, others: int) -> str | None:
        """Why Asterisk cannot take one more carried call now, or None; ``others``: the calls the app
        follows in its own bridge, one PBX thread each (calls/carried_state.py ``CarryCheck``,
        ``AsteriskLimits``)."""
        if (why := await self.check.ready()) is not None:
            return why
        notice = sum(1 for call in self.calls.values() if call.said is None)  # not talking yet: two each
        return await self.limits.room(others + len(self.calls) + notice * (carry.CARRIED_THREADS - 1), notice)

    def _interleaved(self, plan: CallPlan) -> bool:
        return plan.per_leg or (self.settings.directions == "all" and self.settings.folder is not None)

    async def carry(self, plan: CallPlan, channel: str) -> None:
        """Hands the call to ``[callrec-carry]``. Raises AriError when Asterisk refused it (the call
        is then not followed); a caller gone meanwhile (AriNotFound) is simply not followed."""
        call = self._follow(plan, channel, now_utc())
        first = RecordedSegment(segment_name(self.settings.recording_prefix, plan.call_id, 1), 1)
        call.segments.append(first)
        suffix = RAW_SUFFIX if call.recorder.interleaved else f".{self.settings.recording_format}"
        options = ("D" if call.recorder.interleaved else "") + f"i({id_variable(first.name)})"
        value = carry.carry_variable(plan, mixmonitor_file(first.name, suffix[1:]), options,
                                     self.settings.dial_timeout)
        await self._journal(call)  # on disk before Asterisk has it: a restarted app finds the call
        try:
            await self.ari.set_channel_var(channel, carry.VARIABLE, value)
        except AriError:
            self._unfollow(call)  # nothing of it done: the app's own engine records the call
            raise
        try:
            await self.ari.continue_in_dialplan(channel, carry.CONTEXT)
        except AriNotFound:
            self._unfollow(call)
            raise
        except AriError as exc:
            # Asterisk may still carry it out when it catches up (an unanswered request, under load):
            # the call stays followed, and is sent on again later if it is still in the application.
            log.warning("call=%s continue into %s: %s; looked at again in %.0fs", plan.call_id,
                        carry.CONTEXT, exc, LATE_START_S)
            clear_later(self._continue_late(call))
            return
        log.info("call=%s carried by the dialplan (%s): direction=%s line=%s caller=%s callee=%s record=%s "
                 "reason=%s", plan.call_id, carry.CONTEXT, plan.direction, plan.line, plan.caller_number,
                 plan.callee_number, plan.record, plan.reason,
                 extra={"call_id": plan.call_id, "event": "CallCarried"})

    def _follow(self, plan: CallPlan, channel: str, started: datetime) -> CarriedCall:
        legs = CallLegs.for_call(plan.call_id, channel)
        holder: list[CarriedCall] = []
        recorder = MixMonitorRecorder(self.ami, legs, self.settings.recording_format,
                                      lambda event: self._told(holder[0], event), self.settings.folder,
                                      interleaved=self._interleaved(plan))
        call = CarriedCall(plan, channel, recorder, started=started)
        holder.append(call)
        self.calls[plan.call_id] = call
        self.idle.clear()
        ACTIVE_CALLS.inc()
        return call

    def _unfollow(self, call: CarriedCall) -> None:
        if self.calls.pop(call.call_id, None) is not None:
            ACTIVE_CALLS.dec()
            if not self.calls:
                self.idle.set()
        if call.roll is not None:
            call.roll.cancel()
        if self.journal is not None:
            self.journal.remove(call.call_id)

    async def _journal(self, call: CarriedCall) -> None:
        """Writes the call's progress, while it is followed: a write after its hand-over (a roll's
        start heard as the call ended) would bring back the entry just removed, and the next run would
        hand the call over a second time."""
        if self.journal is not None and not call.finishing and self.calls.get(call.call_id) is call:
            await asyncio.wrap_future(self.journal.write(call.entry()))

    # ---- what the dialplan says ---------------------------------------------------------------------
    def on_ami_event(self, message: Message) -> None:
        if message.get("State") == CHECK_STATE:
            self.check.heard(message)
            return
        try:
            event = carry.parse_event(message)
        except BadCarriedEvent as exc:
            log.error("%s", exc)
            return
        if event is None:
            return
        if self.transcript is not None:
            self.transcript.write(json.dumps({"type": "UserEvent", "ami": message}) + "\n")
        call = self.calls.get(event.call_id)
        if call is None:
            if event.state == "ended":
                # A restarted app adopts the calls of its journal whose leg it found up (calls/reconcile.py):
                # one that ends before its adoption tells it here first. Kept for adopt().
                self.ended_early[event.call_id] = event
                while len(self.ended_early) > ENDED_EARLY_KEPT:
                    self.ended_early.popitem(last=False)
            log.warning("call=%s %s event for a call not followed here", event.call_id, event.state)
            return
        self._spawn(self._on_event(call, event))

    async def _on_event(self, call: CarriedCall, event: CarriedEvent) -> None:
        bind_call(call.call_id)  # every log line of the call's tasks (its rolls too) carries its id
        if call.finishing:
            return
        call.said = event
        first = call.segments[0]
        if first.started_at is None and event.answered is not None:
            # The first recorder started at the answer (the call may end before the talk: ``ended``
            # then says so first).
            call.segments[0] = replace(first, started_at=event.answered, live=True)
            log.info("call=%s recording started name=%s", call.call_id, first.name,
                     extra={"event": "RecordingStarted"})
        if event.state == "talking":
            if event.notice_failed:
                log.error("call=%s the notice could not play: the call goes on unrecorded (notice-failed)",
                          call.call_id, extra={"event": "NoticeFailed"})
            else:
                if event.notice_at is not None and event.answered is not None:
                    NOTICE_LATENCY.observe((event.notice_at - event.answered).total_seconds())
                log.info("call=%s talking: %s", call.call_id, carry.notice_story(call.plan, event),
                         extra={"event": "Talking"})
                self._schedule_roll(call, roll_delay(self.settings.roll_seconds, RollReason.ADOPTED,
                                                     event.answered, now_utc()))
            await self._journal(call)
        else:
            log.info("call=%s ended by the %s, cause %d, dial status %s", call.call_id, event.by, event.cause,
                     event.dial_status or "-", extra={"event": "CallEnded"})
            await self._end(call)

    # ---- segments -----------------------------------------------------------------------------------
    def _schedule_roll(self, call: CarriedCall, delay: float) -> None:
        if call.roll is not None:
            call.roll.cancel()
        call.roll = asyncio.get_running_loop().call_later(
            delay, lambda: self._spawn(self._roll(call)))

    async def _roll(self, call: CarriedCall) -> None:
        if call.finishing:
            return
        older = [s for s in call.segments if s.live]
        index = call.segments[-1].index + 1
        segment = RecordedSegment(segment_name(self.settings.recording_prefix, call.call_id, index), index)
        call.segments.append(segment)
        await self._journal(call)
        if call.finishing:  # ended while the journal was written: the end counted without this one
            call.segments.remove(segment)
            return
        call.starting = asyncio.ensure_future(call.recorder.start(segment.name, now_utc()))
        try:
            await call.starting  # tells RecordingStarted (``_told``)
        except MediaFailed as exc:
            if exc.gone:
                call.segments.remove(segment)
                return  # the leg went: the end event follows
            # Left as never started (no audio, not a failure: nothing is lost), its name never used
            # again (the next roll takes the next index): a start Asterisk did not answer
            # may still be carried out when it catches up (media/recorder.py LATE_START_S), and that
            # recorder is stopped and its file removed then (the running segment holds that time).
            log.warning("call=%s segment %d could not start (%s): the running one goes on", call.call_id,
                        index, exc)
            clear_later(self._clear_late_start(call, segment.name))
            self._schedule_roll(call, RETRY_ROLL_S)
            return
        if call.finishing:
            return  # the call ended while this recorder started: its end takes both (``_end``)
        self._schedule_roll(call, roll_delay(self.settings.roll_seconds, RollReason.STARTED))
        await asyncio.sleep(OVERLAP_S)  # the older runs on past the new one's start (rules/segments.py)
        for old in older:
            await call.recorder.stop(old.name, "segment-rolled")

    async def _continue_late(self, call: CarriedCall) -> None:
        await asyncio.sleep(LATE_START_S)
        try:
            there = await self.ari.request("GET", f"/channels/{call.caller}")
        except AriNotFound:
            return  # gone: its end event says so (or the manager's reconnection looks for it)
        except AriError as exc:
            log.error("call=%s cannot be looked at: %s", call.call_id, exc)
            return
        if (there or {}).get("dialplan", {}).get("app_name") == "Stasis":
            try:
                await self.ari.continue_in_dialplan(call.caller, carry.CONTEXT)
            except AriError as exc:
                log.error("call=%s still in the application and cannot be continued: %s (the orphan "
                          "sweep takes it down)", call.call_id, exc)

    async def _clear_late_start(self, call: CarriedCall, name: str) -> None:
        await asyncio.sleep(LATE_START_S)
        if await call.recorder.stop_late(name):
            log.warning("recording %s: MixMonitor started after its request had no answer: stopped", name)
        await remove_uncounted(self.ari, name)

    def _told(self, call: CarriedCall, event: AriEvent | RecordingVoid) -> None:
        """What the recorder says of a segment (media/mixmonitor.py, in ARI's words)."""
        name = event.name if isinstance(event, RecordingVoid) else event.recording_name
        at = None if isinstance(event, RecordingVoid) else event.type
        for n, segment in enumerate(call.segments):
            if segment.name != name:
                continue
            if at == "RecordingStarted":
                assert isinstance(event, AriEvent)
                call.segments[n] = replace(segment, started_at=parse_ari_time(event.timestamp), live=True)
                log.info("call=%s recording started name=%s", call.call_id, name, extra={"event": at})
                self._spawn(self._journal(call))
                return
            ended = "void" if at is None else ("failed" if at == "RecordingFailed" else "finished")
            log.log(logging.WARNING if ended == "failed" else logging.INFO, "call=%s recording %s name=%s",
                    call.call_id, ended, name, extra={"event": at or "RecordingVoid"})
            # A void segment never started (its leg went as it began): no audio of it is counted.
            call.segments[n] = replace(segment, live=False, failed=ended == "failed",
                                       started_at=None if ended == "void" else segment.started_at)
            future = call.over.setdefault(name, asyncio.get_running_loop().create_future())
            if not future.done():
                future.set_result(ended)

    # ---- the end ------------------------------------------------------------------------------------
    async def _end(self, call: CarriedCall, ended_at: datetime | None = None) -> None:
        """The call is over: ``ended`` said so, or (``ended_at``) it went unheard, with Asterisk or
        while the manager connection was down."""
        call.finishing = True
        if call.roll is not None:
            call.roll.cancel()
        if call.starting is not None:
            # A roll that raced the hangup: its recorder is counted once Asterisk has answered, then
            # ended with the others (void, if its leg went before MixMonitor wrote a frame). Counted
            # later, it would be delivered with a file that never was (a `make test` soak smoke).
            await asyncio.wait({call.starting}, timeout=END_WAIT_S)
        live = [s.name for s in call.segments if s.live]
        for name in live:
            call.over.setdefault(name, asyncio.get_running_loop().create_future())
            await call.recorder.leg_gone(name)  # (every way here, the caller's leg is gone)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(END_WAIT_S):
                await asyncio.gather(*(call.over[name] for name in live))
        said = call.said if call.said is not None and call.said.state == "ended" else None
        times = carry.call_times(call.plan, call.started, said or call.said)
        if times.ended is None:
            times = replace(times, ended=ended_at or now_utc())
        finished = FinishedCall(
            plan=call.plan, times=times,
            end_cause=said.cause if said is not None else causes.TEMPORARY_FAILURE,
            hangup_by=said.by if said is not None else "app",
            segments=tuple(replace(s, live=False) for s in call.segments if s.has_audio),
            recording_failed=any(s.failed for s in call.segments),
            notice_failed=call.said is not None and call.said.notice_failed,
            notices=carry.notice_entries(call.plan, said) or call.notices,
        )
        try:
            await self.finish(finished)
        finally:
            self._unfollow(call)

    # ---- a restarted app ----------------------------------------------------------------------------
    async def adopt(self, entry: JournalEntry) -> None:
        """Follows again a call a previous run handed to the dialplan, whose caller is still up: its
        running segment keeps its start, and the next is due when its period is over. A call that was
        answered after the previous run stopped has its answer read off the caller's leg."""
        if entry.times.answered is None:
            try:
                marks = await self.ari.get_channel_var(entry.caller_id, "CR_MARKS")
            except AriError:
                marks = ""
            if marks:
                answered = carry.parse_marks(marks)[0]
                first = replace(entry.segments[0], started_at=answered)
                entry = replace(entry, times=replace(entry.times, answered=answered),
                                segments=(first, *entry.segments[1:]))
        call = self._follow(entry.plan, entry.caller_id, entry.times.started)
        call.segments = [replace(s, live=s.has_audio) for s in entry.segments]
        call.notices = entry.notices
        if entry.times.answered is not None:
            call.said = CarriedEvent(entry.call_id, "talking", marks=(entry.times.answered,))
            running = max((s for s in call.segments if s.has_audio), key=lambda s: s.index, default=None)
            started = running.started_at if running is not None else entry.times.answered
            self._schedule_roll(call, roll_delay(self.settings.roll_seconds, RollReason.ADOPTED,
                                                 started, now_utc()))
        log.warning("call=%s adopted: the dialplan still carries it", entry.call_id,
                    extra={"call_id": entry.call_id, "event": "CallAdopted"})
        if (ended := self.ended_early.pop(entry.call_id, None)) is not None:
            log.info("call=%s ended before its adoption: handed over as its end event says", entry.call_id)
            self._spawn(self._on_event(call, ended))

    def finalized(self, entry: JournalEntry) -> FinishedCall:
        """A call handed to the dialplan that ended while no app followed it: what was recorded is
        handed over (journal.py ``finished_carried``)."""
        folder = str(self.settings.folder) if self.settings.folder is not None else ""
        return finished_carried(entry, folder, self.settings.recording_format)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("carried call: %r", task.exception(), exc_info=task.exception())

    async def close(self) -> None:
        """The app stops: the calls go on in Asterisk, and the next run adopts them from the journal."""
        for call in list(self.calls.values()):
            if call.roll is not None:
                call.roll.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


__all__ = ["STATE", "CarriedCalls", "CarrySettings"]
