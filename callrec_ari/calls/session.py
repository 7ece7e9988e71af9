"""One CallSession per call: the executor of the pure call flow (calls/flow.py).

Events for the call arrive on ``queue`` in the order Asterisk sent them and are handled one at a
time: the flow decides, this class performs the actions against ARI and the media parts, writes the
journal when the call's progress changes, and owns cleanup. Cleanup always runs, shielded and
bounded, so no channel, bridge or recording of ours is left behind in Asterisk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError, AriNotFound
from callrec_ari.ari.events import AriEvent, parse_ari_time
from callrec_ari.calls import flow as call_flow
from callrec_ari.calls.actions import (
    LOCAL_ACTIONS,
    LOGGED_EVENTS,
    TOLERATES_GONE,
    Action,
    ActionFailed,
    AddToBridge,
    Answer,
    Begin,
    CancelRoll,
    Closed,
    CreateBridge,
    Dial,
    Hangup,
    Input,
    Mute,
    Note,
    Originate,
    Resume,
    Ring,
    ScheduleRoll,
    ScheduleStop,
    SegmentDue,
    Shutdown,
    StartMedia,
    StopDue,
    StopMedia,
    Unmute,
    action_label,
    together,
)
from callrec_ari.calls.flow import CallSetup, Flow
from callrec_ari.calls.journal import JournalEntry, worth_writing
from callrec_ari.calls.state import TOLD, CallState, IllegalTransition
from callrec_ari.calls.story import in_story
from callrec_ari.calls.teardown import BridgeTeardown
from callrec_ari.model.call import FinishedCall, RecordedSegment, now_utc
from callrec_ari.model.media import CallLegs, MediaFailed, MediaKind, MediaPart
from callrec_ari.model.plan import CallPlan
from callrec_ari.observability.context import bind_call
from callrec_ari.observability.metrics import (
    ARI_EVENT_LAG,
    CALL_ACTION_SECONDS,
    NOTICE_LATENCY,
    RECORDINGS_IN_PROGRESS,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    recording_prefix: str = "callrec"
    dial_timeout: int = 60
    cleanup_timeout: float = 5.0
    roll_seconds: float = 3600.0  # how long one recording file runs before the next takes over


class CallSession:
    def __init__(
        self,
        plan: CallPlan,
        caller_channel_id: str,
        ari: AriClient,
        parts: Mapping[MediaKind, MediaPart],
        claim: Callable[[str], None],
        settings: SessionSettings = SessionSettings(),
        on_finished: Callable[[FinishedCall], Awaitable[None]] | None = None,
        journal: Callable[[JournalEntry], object] | None = None,
        flow: Flow | None = None,
    ) -> None:
        self.plan = plan
        self.call_id = plan.call_id
        self.ari = ari
        self.parts = parts
        self.legs = CallLegs.for_call(plan.call_id, caller_channel_id)
        stream, recorder = parts.get("stream"), parts.get("recording")
        self.setup = CallSetup(
            plan=plan, legs=self.legs, streams=tuple(getattr(stream, "channel_ids", ())),
            # Recorded on the platform: a file copy for a contract, or a hand-made plan naming nobody.
            files=bool(plan.file_recipients) or not plan.recipients,
            recording_prefix=settings.recording_prefix, roll_seconds=settings.roll_seconds,
            dial_timeout=settings.dial_timeout,
            recorder_reports_end=getattr(recorder, "reports_end", True),
            recorder_on_legs=getattr(recorder, "on_legs", False),
        )
        self.cleanup_timeout = settings.cleanup_timeout
        self.flow = flow or Flow()
        self.adopted, self.resumed = flow is not None, Resume()  # the manager says what Asterisk had
        self.queue: asyncio.Queue[Input] = asyncio.Queue()
        self._claim = claim
        self._on_finished = on_finished
        self._journal = journal
        self._journal_write: concurrent.futures.Future[None] | None = None
        self._roll_timer: asyncio.TimerHandle | None = None
        self._stop_timers: list[asyncio.TimerHandle] = []
        self._bridge = BridgeTeardown(ari, self.legs.bridge, self.call_id, may_exist=self.adopted)

    # ---- what the manager and reconciliation read -------------------------------------------------
    @property
    def caller_id(self) -> str:
        return self.legs.caller

    @property
    def callee_id(self) -> str:
        return self.legs.callee

    @property
    def bridge_id(self) -> str:
        return self.legs.bridge

    @property
    def state(self) -> CallState:
        return self.flow.phase

    @property
    def legs_alive(self) -> frozenset[str]:
        return self.flow.legs

    @property
    def live_segments(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.flow.segments if s.live)

    @property
    def media_channels(self) -> tuple[str, ...]:
        """The channels the running recording has in Asterisk (a snoop channel per live segment)."""
        recorder = self.parts.get("recording")
        if recorder is None:
            return ()
        return tuple(c for name in self.live_segments for c in recorder.channels(name))

    @property
    def resources(self) -> tuple[str, ...]:
        """The ids this call owns from the start (claimed by the manager before it runs)."""
        return (self.legs.caller, self.legs.callee, self.legs.bridge, *self.media_channels)

    # ---- the loop ---------------------------------------------------------------------------------
    async def _resume_streams(self) -> None:
        """An adopted call's streams that survived the restart: their notifications go on (heartbeats,
        then the end), without a second start (docs/stream-protocol.md)."""
        stream = self.parts.get("stream")
        resume = getattr(stream, "resume", None)
        if resume is None:
            return
        for channel in self.setup.streams:
            if channel in self.flow.legs:
                await resume(channel, self.flow.times.talk_started or now_utc(), self.flow.notices)

    async def run(self) -> FinishedCall:
        bind_call(self.call_id)  # every log line of this task carries the call id
        cancelled = False
        try:
            if self.adopted:
                await self._resume_streams()
            await self._feed(self.resumed if self.adopted else Begin())
            while not self.flow.done:
                await self._feed(await self.queue.get())
        except asyncio.CancelledError:
            # Shutdown: the call is ended below, and its recording still handed over.
            log.warning("call=%s cancelled in state %s", self.call_id, self.flow.phase)
            cancelled = True
        except Exception:
            log.exception("call=%s failed in state %s", self.call_id, self.flow.phase)
        finally:
            await asyncio.shield(self._cleanup())
        finished = self.finished()
        if self._on_finished is not None:
            await asyncio.shield(self._on_finished(finished))
        if cancelled:
            raise asyncio.CancelledError
        return finished

    def finished(self) -> FinishedCall:
        flow = self.flow
        return FinishedCall(
            plan=self.plan, times=flow.times, end_cause=flow.end_cause, hangup_by=flow.hangup_by,
            segments=tuple(replace(s, live=False) for s in flow.segments if s.has_audio),
            recording_failed=flow.recording_failed, notice_failed=flow.notice_failed,
            notices=flow.notices,
            unconfirmed=tuple(replace(s, live=False) for s in flow.segments if not s.has_audio),
        )

    async def _feed(self, event: Input, tolerant: bool = False) -> None:
        """One input through the flow, then its actions; a failed action is the flow's next input."""
        pending: Input | None = event
        while pending is not None:
            if isinstance(pending, AriEvent):
                # The call's story for operators at INFO (calls/actions.py LOGGED_EVENTS, beside the
                # call's own lines); every other event only at DEBUG: no formatted line per event when
                # busy. A recorder's own channel (a snoop) coming and going is no part of the story.
                level = logging.INFO if self._story(pending) else logging.DEBUG
                if log.isEnabledFor(level):
                    log.log(level, "call=%s ari %s %s", self.call_id, pending.type,
                            ",".join(pending.channel_ids),
                            extra={"event": pending.type, "state": str(self.flow.phase)})
            before, now = self.flow, now_utc()
            if isinstance(pending, AriEvent):
                _observe_lag(pending, now)
            try:
                self.flow, actions = call_flow.step(self.setup, before, pending, now)
            except IllegalTransition as exc:
                log.warning("call=%s ignored %s: %s", self.call_id, type(pending).__name__, exc)
                return
            self._observe(before, self.flow)
            if self._journal_write is not None:
                # Where the call stands is on disk before it acts on it (a restarted app adopts it).
                written, self._journal_write = self._journal_write, None
                await asyncio.wrap_future(written)
            pending = await self._perform(actions, tolerant)

    def _story(self, event: AriEvent) -> bool:
        recorder = self.parts.get("recording")
        if event.type not in LOGGED_EVENTS:
            return False
        mine = ({c for s in self.flow.segments for c in recorder.channels(s.name)}
                if recorder is not None and event.channel_ids else set())
        return in_story(event, self.flow, self.legs.caller, mine)

    async def _perform(self, actions: tuple[Action, ...], tolerant: bool) -> ActionFailed | None:
        i = 0
        while i < len(actions):
            batch = together(actions, i, getattr(self.parts.get("notice"), "target_of", None))
            if len(batch) == 1:
                outcomes: list[BaseException | None] = [await self._attempt(batch[0])]
            else:
                outcomes = list(await asyncio.gather(*(self._attempt(a) for a in batch)))
            i += len(batch)
            for action, exc in zip(batch, outcomes, strict=True):
                if exc is None or (isinstance(exc, AriNotFound) and isinstance(action, TOLERATES_GONE)):
                    continue
                if tolerant:
                    log.error("call=%s cleanup: %s: %s", self.call_id, type(action).__name__, exc)
                    continue
                gone = isinstance(exc, AriNotFound) or (isinstance(exc, MediaFailed) and exc.gone)
                return ActionFailed(action, str(exc), gone, actions[i:])
        return None

    async def _attempt(self, action: Action) -> AriError | MediaFailed | None:
        local = isinstance(action, LOCAL_ACTIONS)
        began = 0.0 if local else time.monotonic()
        try:
            await self._do(action)
        except (AriError, MediaFailed) as exc:
            return exc
        finally:
            if not local:
                CALL_ACTION_SECONDS.labels(action_label(action)).observe(time.monotonic() - began)
        return None

    async def _do(self, action: Action) -> None:
        ari = self.ari
        match action:
            case Note(level=level, text=text, event=event):
                log.log(level, "call=%s %s", self.call_id, text, extra={"event": event} if event else None)
            case Mute(channel=channel):
                await ari.mute(channel, "in")
            case Unmute(channel=channel):
                await ari.unmute(channel, "in")
            case Ring(channel=channel):
                await ari.ring(channel)
            case Answer(channel=channel):
                await ari.answer(channel)
            case CreateBridge(bridge=bridge, name=name):
                self._claim(bridge)
                self._bridge.requested()
                await ari.create_bridge(bridge, name=name)
            case Originate():
                self._claim(action.channel)
                await ari.create_channel(action.endpoint, action.channel, app_args=action.app_args,
                                         caller_id=action.caller_id, withheld=action.withheld)
            case Dial(channel=channel, timeout=timeout):
                await ari.dial(channel, timeout=timeout)
            case AddToBridge(bridge=bridge, channels=channels):
                await ari.add_to_bridge(bridge, channels)
            case Hangup(channel=channel, cause=cause):
                await ari.hangup(channel, cause)
            case StartMedia(kind=kind, media_id=media_id):
                self._claim(media_id)  # its events may beat the answer to the request
                for channel in self.parts[kind].channels(media_id):
                    self._claim(channel)
                await self.parts[kind].start(media_id, self.flow.times.talk_started or now_utc(),
                                             self.flow.notices)
            case StopMedia(kind=kind, media_id=media_id, reason=reason):
                if kind in self.parts:
                    await self.parts[kind].stop(media_id, reason)
            case ScheduleRoll(seconds=seconds):
                self._cancel_roll()
                self._roll_timer = asyncio.get_running_loop().call_later(
                    seconds, self.queue.put_nowait, SegmentDue())
            case ScheduleStop(name=name, seconds=seconds):
                self._stop_timers.append(asyncio.get_running_loop().call_later(
                    seconds, self.queue.put_nowait, StopDue(name)))
            case CancelRoll():
                self._cancel_roll()

    def _cancel_roll(self) -> None:
        if self._roll_timer is not None:
            self._roll_timer.cancel()
            self._roll_timer = None

    def _observe(self, before: Flow, after: Flow) -> None:
        """State changes: logged, counted, and written to the journal for a restarted app."""
        if before.phase is not after.phase:
            level = logging.DEBUG if after.phase in TOLD else logging.INFO  # said by the call's own lines
            log.log(level, "call=%s state %s -> %s", self.call_id, before.phase, after.phase)
        times = after.times
        if before.times.notice_started is None and times.notice_started and times.answered:
            NOTICE_LATENCY.observe((times.notice_started - times.answered).total_seconds())
        recording = sum(1 for s in after.segments if s.live and s.has_audio)
        recording -= sum(1 for s in before.segments if s.live and s.has_audio)
        if recording:
            RECORDINGS_IN_PROGRESS.inc(recording)
        if worth_writing(before, after):
            self.checkpoint()

    def checkpoint(self) -> None:
        """Write where the call stands, for a restarted app (see journal.py)."""
        if self._journal is None:
            return
        flow = self.flow
        try:
            written = self._journal(JournalEntry(
                plan=self.plan, state=str(flow.phase), caller_id=self.legs.caller,
                callee_id=self.legs.callee, bridge_id=self.legs.bridge, times=flow.times,
                segments=tuple(RecordedSegment(s.name, s.index, s.started_at) for s in flow.segments),
                playbacks=tuple(sorted(flow.playbacks)), notices=flow.notices,
            ))
            if isinstance(written, concurrent.futures.Future):
                self._journal_write = written
        except OSError as exc:
            log.error("call=%s journal not written: %s", self.call_id, exc)

    # ---- cleanup: always, shielded, bounded ---------------------------------------------------------
    async def _cleanup(self) -> None:
        deadline = time.monotonic() + self.cleanup_timeout
        try:
            async with asyncio.timeout(self.cleanup_timeout):
                await self._feed(Shutdown(), tolerant=True)
                # Let the remaining events (legs destroyed, recording finished) drain.
                while self.flow.legs or self.flow.recording_live:
                    await self._feed(await self.queue.get(), tolerant=True)
        except TimeoutError:
            log.error("call=%s cleanup did not finish in %.1fs: legs=%s recording_live=%s", self.call_id,
                      self.cleanup_timeout, sorted(self.flow.legs), self.flow.recording_live)
        finally:
            self._cancel_roll()
            for timer in self._stop_timers:
                timer.cancel()
            # Bounded: an overloaded Asterisk that answers late must not hold (or, by the timeout,
            # break) the hand-over of what was recorded.
            await self._bridge.at_end(max(0.5, deadline - time.monotonic()))
            await self._feed(Closed(), tolerant=True)
            stale = sum(1 for s in self.flow.segments if s.live and s.has_audio)
            if stale:  # their end never came (the cleanup gave up): no longer counted as running
                RECORDINGS_IN_PROGRESS.dec(stale)
            log.info("call=%s ended", self.call_id)

    @property
    def bridge_left(self) -> bool:
        """The call is over but its bridge could not be destroyed (``destroy_bridge_late``)."""
        return self._bridge.left

    async def destroy_bridge_late(self) -> None:
        await self._bridge.later()


def _observe_lag(event: AriEvent, now: datetime) -> None:
    sent = parse_ari_time(event.timestamp)
    if sent is not None:  # none: the executor's own inputs made up as events
        ARI_EVENT_LAG.observe(max(0.0, (now - sent).total_seconds()))
