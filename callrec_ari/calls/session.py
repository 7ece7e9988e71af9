"""One CallSession per call: the ARI call flow of architecture.md, steps 1-6.

Events for the call arrive on ``queue`` in the order Asterisk sent them and are handled one at a
time. Each handler is named after the domain event it reacts to. Cleanup always runs, shielded and
bounded, so no channel, bridge or recording of ours is left behind in Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError, AriNotFound
from callrec_ari.ari.events import AriEvent
from callrec_ari.calls import causes
from callrec_ari.calls.journal import JournalEntry
from callrec_ari.calls.notice import NoticePlayer
from callrec_ari.calls.outcome import CallOutcome, CallTimes, RecordedSegment, now_utc
from callrec_ari.calls.plan import CallPlan
from callrec_ari.calls.state import CallState, IllegalTransition, transition
from callrec_ari.observability.context import bind_call
from callrec_ari.observability.metrics import NOTICE_LATENCY, RECORDINGS_IN_PROGRESS
from callrec_ari.recording.segments import SegmentedRecording
from callrec_ari.streaming.settings import StreamSettings
from callrec_ari.streaming.tap import make_tap

log = logging.getLogger(__name__)

_GONE_EVENTS = frozenset({"StasisEnd", "ChannelDestroyed"})
_SEGMENT_DUE = "callrec.SegmentDue"  # our own timer, queued among the call's events


class CallSession:
    def __init__(
        self,
        plan: CallPlan,
        caller_channel_id: str,
        ari: AriClient,
        claim: Callable[[str], None],
        on_finished: Callable[[CallOutcome], Awaitable[None]] | None = None,
        recording_prefix: str = "callrec",
        recording_format: str = "wav",
        dial_timeout: int = 60,
        cleanup_timeout: float = 5.0,
        segment_seconds: float = 3600.0,
        journal: Callable[[JournalEntry], None] | None = None,
        stream_settings: StreamSettings | None = None,
    ) -> None:
        self.plan = plan
        self.call_id = plan.call_id
        self.ari = ari
        self._claim = claim
        self._on_finished = on_finished
        self.segment_seconds = segment_seconds
        self.dial_timeout = dial_timeout
        self.cleanup_timeout = cleanup_timeout
        self.queue: asyncio.Queue[AriEvent] = asyncio.Queue()
        self.state = CallState.STARTING
        self.times = CallTimes()
        self.caller_id = caller_channel_id
        self.callee_id = f"{self.call_id}-callee"
        self.bridge_id = self.call_id
        self.recording = SegmentedRecording(ari, self.bridge_id, self.call_id, recording_prefix,
                                            recording_format)
        self._roll_timer: asyncio.TimerHandle | None = None
        self._legs_alive: set[str] = {self.caller_id}
        self.notice = NoticePlayer(ari, plan, claim)
        self._bridge_created = False
        self._dialstatus: str | None = None
        self._callee_cause: int | None = None
        self._end_cause = causes.NORMAL_CLEARING
        self._hangup_by = "app"
        self._journal = journal
        self.tap = make_tap(ari, plan, stream_settings, self.bridge_id) if plan.record else None
        self._adopted = False

    @property
    def legs_alive(self) -> frozenset[str]:
        return frozenset(self._legs_alive)

    @property
    def resources(self) -> tuple[str, ...]:
        """The ids this call owns from the start (claimed by the manager before it runs)."""
        return (self.caller_id, self.callee_id, self.bridge_id, self.recording.next_name)

    @classmethod
    def adopt(
        cls, entry: JournalEntry, live_legs: set[str], live_segments: set[str], live_playbacks: set[str],
        **kwargs: Any,
    ) -> CallSession:
        """A call a previous run of the app left in Asterisk (killed, restarted): carry on with it."""
        session = cls(entry.plan, entry.caller_id, **kwargs)
        session.state = CallState(entry.state)
        session.times = entry.times
        session._legs_alive = set(live_legs)
        session.notice.pending = set(live_playbacks)
        session._bridge_created = True
        session._adopted = True
        session.recording.restore(entry.segments, live_segments)
        return session

    def checkpoint(self) -> None:
        """Write where the call stands, for a restarted app (see journal.py)."""
        if self._journal is None:
            return
        try:
            self._journal(JournalEntry(
                plan=self.plan, state=str(self.state), caller_id=self.caller_id, callee_id=self.callee_id,
                bridge_id=self.bridge_id, times=self.times,
                segments=tuple(RecordedSegment(s.name, s.index, s.started_at)
                               for s in self.recording.segments),
                playbacks=tuple(sorted(self.notice.pending)),
            ))
        except OSError as exc:
            log.error("call=%s journal not written: %s", self.call_id, exc)

    # ---- the loop --------------------------------------------------------------------------------
    async def run(self) -> CallOutcome:
        bind_call(self.call_id)  # every log line of this task carries the call id
        cancelled = False
        try:
            try:
                await (self._resume() if self._adopted else self._start())
            except AriNotFound as exc:
                log.info("call=%s caller gone before the call could start: %s", self.call_id, exc)
                self._legs_alive.discard(self.caller_id)
                await self._end("caller", causes.NORMAL_CLEARING)
            while self.state is not CallState.ENDED:
                if self.state is CallState.ENDING and self._nothing_left():
                    break
                event = await self.queue.get()
                await self._dispatch(event)
        except asyncio.CancelledError:
            # Shutdown: the call is ended below, and its recording still handed over.
            log.warning("call=%s cancelled in state %s", self.call_id, self.state)
            cancelled = True
        except Exception:
            log.exception("call=%s failed in state %s", self.call_id, self.state)
        finally:
            await asyncio.shield(self._cleanup())
        outcome = CallOutcome(
            plan=self.plan,
            times=self.times,
            answered=self.times.answered is not None,
            end_cause=self._end_cause,
            hangup_by=self._hangup_by,
            recordings=tuple(s.name for s in self.recording.started),
            segments=tuple(
                RecordedSegment(s.name, s.index, s.started_at) for s in self.recording.started
            ),
            recording_failed=self.recording.failed,
            notice_failed=self.notice.failed,
        )
        if self._on_finished is not None:
            await asyncio.shield(self._on_finished(outcome))
        if cancelled:
            raise asyncio.CancelledError
        return outcome

    def _move(self, new: CallState) -> None:
        old = self.state
        self.state = transition(old, new)
        log.info("call=%s state %s -> %s", self.call_id, old, new)
        self.checkpoint()

    async def _resume(self) -> None:
        log.info("call=%s adopted in state %s: legs=%s segments live=%s", self.call_id, self.state,
                 sorted(self._legs_alive), [s.name for s in self.recording.segments if s.live])
        if len(self._legs_alive) < 2 or self.state not in (CallState.NOTICE, CallState.TALKING):
            # Not connected yet, or a leg is already gone: end it cleanly (cause 41, temporary failure).
            await self._end("app", causes.TEMPORARY_FAILURE)
            return
        if self.state is CallState.NOTICE and not self.notice.pending:
            await self._talk()
        if self.plan.record and self.state is CallState.TALKING and not self.recording.live:
            # The recorder did not survive: start a new segment rather than lose the rest of the call.
            self._claim(self.recording.next_name)
            await self.recording.start_next()
        elif self.recording.live:
            self._schedule_roll()

    async def _dispatch(self, event: AriEvent) -> None:
        log.info("call=%s ari %s %s", self.call_id, event.type, ",".join(event.channel_ids),
                 extra={"event": event.type, "state": str(self.state)})
        try:
            if event.type in _GONE_EVENTS or event.type == "ChannelHangupRequest":
                await self._leg_gone(event)
            elif event.type == "StasisStart" and event.channel and event.channel.id == self.callee_id:
                await self._callee_entered_stasis()
            elif event.type == "Dial" and event.peer and event.peer.id == self.callee_id:
                await self._callee_dial_progress(event.dialstatus or "")
            elif event.type == "ChannelStateChange" and event.channel:
                if event.channel.id == self.callee_id and event.channel.state == "Up":
                    await self._callee_answered()
            elif event.type == "RecordingStarted" and self.recording.owns(event.recording_name):
                await self._recording_began(event)
            elif event.type in ("RecordingFinished", "RecordingFailed"):
                self._recording_ended(event)
            elif event.type == _SEGMENT_DUE:
                await self._segment_due()
            elif event.type == "PlaybackFinished" and self.notice.owns(event.playback_id):
                await self._playback_finished(event.playback_id or "", failed=event.playback_failed)
        except AriNotFound as exc:
            # A leg vanished between the event and our request: the call is ending.
            log.info("call=%s %s while %s: leg gone", self.call_id, exc, self.state)
            await self._end("app", causes.NORMAL_CLEARING)
        except IllegalTransition as exc:
            log.warning("call=%s ignored %s: %s", self.call_id, event.type, exc)

    # ---- steps 1-3: caller in, callee dialed ------------------------------------------------------
    async def _start(self) -> None:
        log.info(
            "call=%s start direction=%s line=%s caller=%s callee=%s record=%s reason=%s",
            self.call_id, self.plan.direction, self.plan.line, self.plan.caller_number,
            self.plan.callee_number, self.plan.record, self.plan.reason,
        )
        if self.plan.record:
            # Nothing the caller says may reach the callee before the tone has ended (R2.6).
            await self.ari.mute(self.caller_id, "in")
        await self.ari.ring(self.caller_id)
        await self.ari.create_bridge(self.bridge_id, name=f"callrec {self.call_id}")
        self._bridge_created = True
        self._move(CallState.DIALING)
        self._legs_alive.add(self.callee_id)
        try:
            await self.ari.create_channel(
                self.plan.callee_endpoint, self.callee_id,
                app_args=("leg=callee", f"call={self.call_id}"),
                caller_id=self.plan.caller_id,
                withheld=self.plan.caller_withheld,
            )
        except AriError as exc:
            # No contact for the endpoint (an unregistered line), or no route: the other party is
            # unreachable, which the caller hears as such (cause 20 -> SIP 480).
            log.warning("call=%s callee %s unreachable: %s", self.call_id, self.plan.callee_endpoint, exc)
            self._legs_alive.discard(self.callee_id)
            await self._end("app", causes.SUBSCRIBER_ABSENT)

    async def _callee_entered_stasis(self) -> None:
        # Dial only now: right after /channels/create the channel may not be in Stasis yet (409).
        if self.state is not CallState.DIALING:
            return
        self._move(CallState.RINGING)
        await self.ari.dial(self.callee_id, timeout=self.dial_timeout)

    async def _callee_dial_progress(self, dialstatus: str) -> None:
        if dialstatus:
            self._dialstatus = dialstatus
        if dialstatus == "ANSWER":
            await self._callee_answered()

    # ---- step 4: answer, bridge, recording, notice ------------------------------------------------
    async def _callee_answered(self) -> None:
        if self.state is not CallState.RINGING:
            return  # Dial ANSWER and ChannelStateChange Up both announce it
        self._move(CallState.CONNECTING)
        self.times.answered = now_utc()
        if self.plan.record:
            await self.ari.mute(self.callee_id, "in")
        await self.ari.answer(self.caller_id)
        await self.ari.add_to_bridge(self.bridge_id, (self.caller_id, self.callee_id))
        if not self.plan.record:
            await self._talk()
            return
        if self.tap is not None:
            # Stream delivery: nothing is recorded on the platform; the stream starts after the tone.
            await self._play_notice()
            return
        # The recording starts at answer so the file itself proves the notice was played.
        try:
            await self.recording.start_next()
        except AriError as exc:
            log.error("call=%s recording could not start: %s", self.call_id, exc)
            await self._play_notice()

    async def _recording_began(self, event: AriEvent) -> None:
        segment = await self.recording.began(event.recording_name or "", event.timestamp)
        if segment is None:
            return
        log.info("call=%s recording started name=%s", self.call_id, segment.name)
        RECORDINGS_IN_PROGRESS.inc()
        self.checkpoint()
        self._schedule_roll()
        if self.state is CallState.CONNECTING:
            await self._play_notice()

    def _schedule_roll(self) -> None:
        """R1.2: the next segment is due segment_seconds after this one began."""
        if self._roll_timer is not None:
            self._roll_timer.cancel()
        due = AriEvent(type=_SEGMENT_DUE, timestamp="", application="")
        self._roll_timer = asyncio.get_running_loop().call_later(
            self.segment_seconds, self.queue.put_nowait, due
        )

    async def _segment_due(self) -> None:
        if self.state in (CallState.ENDING, CallState.ENDED):
            return
        self._claim(self.recording.next_name)
        try:
            await self.recording.start_next()  # the current one stops once this one has started
        except AriError as exc:
            # Keep the running segment going rather than lose audio; try again a period later.
            log.error("call=%s next segment could not start: %s", self.call_id, exc)
            self._schedule_roll()

    async def _play_notice(self) -> None:
        if not self.plan.plays_notice:
            await self._talk()
            return
        self._move(CallState.NOTICE)
        self.times.notice_started = now_utc()
        if self.times.answered is not None:
            NOTICE_LATENCY.observe((self.times.notice_started - self.times.answered).total_seconds())
        try:
            await self.notice.start(self.bridge_id, self.caller_id, self.callee_id)
            self.checkpoint()
        except AriNotFound:
            raise
        except AriError as exc:
            # The parties must not be left muted in silence: connect them, and say so loudly.
            log.error("call=%s notice could not play: %s; connecting the parties", self.call_id, exc)
            self.notice.abandon()
            await self._talk()

    async def _playback_finished(self, playback_id: str, failed: bool) -> None:
        if self.notice.finished(playback_id, failed) and self.state is CallState.NOTICE:
            await self._talk()

    # ---- step 5: talk -------------------------------------------------------------------------------
    async def _talk(self) -> None:
        self._move(CallState.TALKING)
        self.times.talk_started = now_utc()
        if self.plan.record:
            for leg in (self.caller_id, self.callee_id):
                await self.ari.unmute(leg, "in")
        if self.tap is not None:
            self._claim(self.tap.channel_id)
            self._legs_alive.add(self.tap.channel_id)
            if not await self.tap.begin(self.times.talk_started):
                self._legs_alive.discard(self.tap.channel_id)
        log.info("call=%s talking", self.call_id)

    # ---- step 6: hangup of either leg --------------------------------------------------------------
    async def _leg_gone(self, event: AriEvent) -> None:
        channel = event.channel
        if channel is None:
            return
        leg = channel.id
        if event.type in _GONE_EVENTS:
            self._legs_alive.discard(leg)
        if leg != self.caller_id and not self._callee_gone_for_sure(event):
            return
        if leg == self.callee_id and event.cause is not None and event.type == "ChannelDestroyed":
            self._callee_cause = event.cause
        if self.state in (CallState.ENDING, CallState.ENDED):
            return
        if leg == self.caller_id:
            await self._end("caller", event.cause or causes.NORMAL_CLEARING)
        elif leg == self.callee_id:
            cause = causes.cause_for_caller(
                self._dialstatus, self._callee_cause, self.times.answered is not None
            )
            await self._end("callee", cause)

    def _callee_gone_for_sure(self, event: AriEvent) -> bool:
        """Before answer, wait for ChannelDestroyed: only it carries the final cause (17 busy, 19 no
        answer...), after HangupRequest and StasisEnd. Once answered, StasisEnd is enough (Asterisk
        may not send ChannelDestroyed after the channel left our application)."""
        if event.type == "ChannelDestroyed":
            return True
        return event.type == "StasisEnd" and self.times.answered is not None

    async def _end(self, by: str, cause: int) -> None:
        if self.state in (CallState.ENDING, CallState.ENDED):
            return
        self._hangup_by = by
        self._end_cause = cause
        self._move(CallState.ENDING)
        self.times.ended = now_utc()
        log.info("call=%s ending hangup_by=%s cause=%s dialstatus=%s", self.call_id, by, cause,
                 self._dialstatus)
        for leg in list(self._legs_alive):
            with contextlib.suppress(AriNotFound):
                await self.ari.hangup(leg, cause)

    def _recording_ended(self, event: AriEvent) -> None:
        failed = event.type == "RecordingFailed"
        was_live = bool((s := self.recording.owns(event.recording_name)) and s.live and s.started_at)
        segment = self.recording.ended(event.recording_name or "", failed)
        if segment is None:
            return
        if was_live:
            RECORDINGS_IN_PROGRESS.dec()
        if failed:
            log.error("call=%s recording failed name=%s", self.call_id, segment.name)
        else:
            log.info("call=%s recording finished name=%s", self.call_id, segment.name)

    def _nothing_left(self) -> bool:
        return not self._legs_alive and not self.recording.live

    # ---- cleanup: always, shielded, bounded ---------------------------------------------------------
    async def _cleanup(self) -> None:
        deadline = time.monotonic() + self.cleanup_timeout
        try:
            async with asyncio.timeout(self.cleanup_timeout):
                if self.state is not CallState.ENDING and self.state is not CallState.ENDED:
                    await self._end("app", causes.NORMAL_CLEARING)
                if self._roll_timer is not None:
                    self._roll_timer.cancel()
                await self.recording.stop_all()
                if self.tap is not None:
                    await self.tap.finish(reason=f"hangup-{self._hangup_by}")
                # Let the remaining events (legs destroyed, recording finished) drain.
                while not self._nothing_left():
                    event = await self.queue.get()
                    if event.type in _GONE_EVENTS and event.channel:
                        self._legs_alive.discard(event.channel.id)
                    elif event.type in ("RecordingFinished", "RecordingFailed"):
                        self._recording_ended(event)
        except TimeoutError:
            log.error("call=%s cleanup did not finish in %.1fs: legs=%s recording_live=%s",
                      self.call_id, self.cleanup_timeout, sorted(self._legs_alive), self.recording.live)
        except AriError as exc:
            log.error("call=%s cleanup: %s", self.call_id, exc)
        finally:
            if self._bridge_created:
                with contextlib.suppress(AriError):
                    await asyncio.wait_for(self.ari.destroy_bridge(self.bridge_id),
                                           max(0.5, deadline - time.monotonic()))
            if self.state is CallState.ENDING:
                self._move(CallState.ENDED)
            log.info("call=%s ended", self.call_id)
