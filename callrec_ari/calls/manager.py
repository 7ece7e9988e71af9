"""Routes ARI events to the CallSession that owns the resource they concern.

Every resource a call creates is claimed by id before the request that creates it, because
Asterisk may send the resource's first event before it answers the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import cast

from callrec_ari.ami.client import AmiClient
from callrec_ari.ari.arrivals import StasisArrivals
from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError, AriNotFound
from callrec_ari.ari.events import AriEvent
from callrec_ari.calls.actions import AsteriskGone, Resume
from callrec_ari.calls.args import BadStasisArgs, StasisArgs, parse_args
from callrec_ari.calls.carried import CarriedCalls
from callrec_ari.calls.flow import Flow, adopted
from callrec_ari.calls.journal import CallJournal, JournalEntry, last_write
from callrec_ari.calls.lines import ConfigLines, LineDirectory
from callrec_ari.calls.planner import CallRefused, HandBack, new_call_id, plan_call
from callrec_ari.calls.session import CallSession, SessionSettings
from callrec_ari.calls.state import CallState
from callrec_ari.config import Config
from callrec_ari.media import ManagerHealth, MixMonitorSeam, parts_for_call
from callrec_ari.media.mixmonitor import is_live as mixmonitor_is_live
from callrec_ari.media.recorder import RecordingEngine
from callrec_ari.model.call import FinishedCall
from callrec_ari.model.media import CallLegs, RecordingVoid
from callrec_ari.model.plan import CallPlan
from callrec_ari.observability.context import bind_call
from callrec_ari.observability.metrics import ACTIVE_CALLS, CALLS
from callrec_ari.streaming.settings import StreamSettings

log = logging.getLogger(__name__)


# Planning a call runs on threads of its own: on the shared default executor it waited behind the
# hand-over of finished calls (the call record, packaging), up to 1.3 s at 10 calls/s, with the
# caller's leg waiting in silence (docs/performance.md).
PLANNING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="callrec-plan")


class CallManager:
    def __init__(
        self,
        ari: AriClient,
        config: Config,
        tasks: asyncio.TaskGroup,
        on_finished: Callable[[FinishedCall], Awaitable[None]] | None = None,
        lines: LineDirectory | None = None,
        spool_has_room: Callable[[], bool] | None = None,
        journal: CallJournal | None = None,
        stream_settings: StreamSettings | None = None,
        allow_destinations: tuple[str, ...] = (),
        ami: AmiClient | None = None,
    ) -> None:
        self.ari = ari
        self.ami = ami  # the mixmonitor engine's manager connection (media/mixmonitor.py)
        self._manager_health = ManagerHealth()  # whether AMI is worth asking now (media/fallback.py)
        self.allow_destinations = allow_destinations
        self.config = config
        self.lines: LineDirectory = lines or ConfigLines(config)
        self._spool_has_room = spool_has_room
        self.journal = journal
        self.stream_settings = stream_settings
        self._tasks = tasks
        self._on_finished = on_finished
        self._owners: dict[str, CallSession] = {}
        # ... and by call, what each call owns: forgotten at its end without a walk over every call's
        # (44 us a call with 250 calls up, growing with them).
        self._owned: dict[str, set[str]] = {}
        self._planning: dict[str, list[AriEvent]] = {}
        self._held: dict[str, list[AriEvent]] = {}  # a journaled call's resources -> its events meanwhile
        self.sessions: dict[str, CallSession] = {}
        self.arrivals = StasisArrivals()  # channels a media part waits for (see ari/arrivals.py)
        self.accepting = True
        self.idle = asyncio.Event()
        self.idle.set()
        # recording_engine = dialplan: the calls the dialplan carries once planned (calls/carried.py).
        self.carrier: CarriedCalls | None = None

    def _owner(self, event: AriEvent) -> CallSession | None:
        return next((self._owners[k] for k in _resources(event) if k in self._owners), None)

    async def on_event(self, event: AriEvent) -> None:
        self.arrivals.seen(event)
        session = self._owner(event)
        if session is not None:
            session.queue.put_nowait(event)
            return
        if self._held:  # calls a previous run left, being reconciled: their events are kept (reconcile.py)
            held = next((self._held[k] for k in _resources(event) if k in self._held), None)
            if held is not None:
                held.append(event)
                return
        for channel_id in event.channel_ids:
            if channel_id in self._planning:
                # The call is being planned: keep its events, in order, for the session to come.
                self._planning[channel_id].append(event)
                return
        if event.type == "StasisStart" and event.channel is not None:
            # Planning may read the database: never hold the events of other calls behind it.
            self._planning[event.channel.id] = []
            self._tasks.create_task(self._new_call(event), name=f"plan-{event.channel.id}")
        else:
            log.debug("event %s for nothing of ours: %s", event.type, event.channel_ids or event.bridge_ids)

    async def _new_call(self, event: AriEvent) -> None:
        assert event.channel is not None
        channel_id = event.channel.id
        try:
            await self._plan_and_start(event, channel_id)
        finally:
            self._planning.pop(channel_id, None)

    async def _plan_and_start(self, event: AriEvent, channel_id: str) -> None:
        call_id = new_call_id()
        bind_call(call_id)
        log.info("call=%s ari StasisStart %s args=%s", call_id, channel_id, ",".join(event.args),
                 extra={"event": "StasisStart"})
        try:
            args = parse_args(event.args)
            if args.leg:
                # One of our own legs whose call has already ended: do not leave it behind.
                log.warning("call=%s orphan %s leg %s: hanging up", args.call, args.leg, channel_id)
                await self._hangup_quietly(channel_id, 16)
                return
            if not self.accepting:
                # Draining: the call is not taken into the app; the dialplan connects it plainly.
                log.warning("call=%s draining: handed back to the dialplan, unrecorded", call_id)
                await self._hand_back(channel_id)
                return
            # The line lookup may hit the database: off the event loop, so other calls' events flow.
            plan = await asyncio.get_running_loop().run_in_executor(
                PLANNING, contextvars.copy_context().run, self._plan, args, call_id)
        except BadStasisArgs as exc:
            CALLS.labels("refused").inc()
            log.error("call=%s refused channel=%s: %s", call_id, channel_id, exc)
            await self._hangup_quietly(channel_id, 38)
            return
        except HandBack as exc:
            CALLS.labels("handed-back").inc()
            log.warning("call=%s handed back to the dialplan, unrecorded (%s): %s", call_id, exc.reason, exc)
            await self._hand_back(channel_id)
            return
        except CallRefused as exc:
            CALLS.labels("refused").inc()
            log.warning("call=%s refused channel=%s reason=%s: %s", call_id, channel_id, exc.error_id, exc)
            await self._hangup_quietly(channel_id, exc.cause)
            return
        except Exception as exc:
            # Our fault (database down, a bug): telephony goes on without us. R3.4: calls during an
            # equipment fault are not recorded; the dialplan connects this one plainly.
            CALLS.labels("fault").inc()
            log.error("call=%s cannot be planned (%s: %s): handed back to the dialplan, unrecorded",
                      call_id, type(exc).__name__, exc, extra={"alert": "call-planning-failed"})
            await self._hand_back(channel_id)
            return
        if self.carrier is not None and await self._carried(plan, channel_id):
            return
        session = self._session(plan, channel_id)
        for early in self._planning.get(channel_id, ()):
            session.queue.put_nowait(early)
        self._launch(session)

    def _session(self, plan: CallPlan, caller_channel: str, flow: Flow | None = None) -> CallSession:
        legs = CallLegs.for_call(plan.call_id, caller_channel)
        session: CallSession | None = None

        def claim(resource: str) -> None:
            assert session is not None
            self._own(resource, session)

        def emit(event: AriEvent | RecordingVoid) -> None:
            assert session is not None
            session.queue.put_nowait(event)

        seam = (MixMonitorSeam(self.ami, emit, self._recording_folder, self._manager_health,
                               directions=self.config.mixmonitor_directions)
                if self.ami is not None else None)
        parts = parts_for_call(self.ari, plan, legs, self.config.recording_format, self.stream_settings,
                               cast(RecordingEngine, self.config.engine), self.arrivals,
                               self.allow_destinations, seam)

        session = CallSession(
            plan, caller_channel, self.ari, parts, claim,
            settings=SessionSettings(
                recording_prefix=self.config.recording_prefix, dial_timeout=self.config.dial_timeout,
                cleanup_timeout=self.config.cleanup_timeout, roll_seconds=self.config.recording_roll_seconds,
            ),
            on_finished=self._on_finished,
            journal=self.journal.write if self.journal is not None else None,
            flow=flow,
        )
        return session

    @property
    def recording_folder(self) -> Path | None:
        return self._recording_folder

    @property
    def _recording_folder(self) -> Path | None:
        return Path(self.config.asterisk_recording_dir) if self.config.asterisk_recording_dir else None

    async def recording_is_live(self, caller_channel: str, name: str) -> bool:
        """Whether a journaled call's segment is still being recorded (reconcile.py), asked of the
        engine that records it: MixMonitor is no ARI recording."""
        if self.ami is not None and self.config.engine == "mixmonitor":
            if await mixmonitor_is_live(self.ami, caller_channel, name, self.config.recording_format,
                                        self._recording_folder):
                return True
        return await self.ari.recording_is_live(name)

    def asterisk_gone(self, since: datetime) -> int:
        """Asterisk's process is gone, found at ``since`` (app/__init__.py): every call in progress
        ended with it; each hands over what was recorded. A call ended when its recording stopped
        growing, which is when Asterisk went (the app may hear of it seconds later: a child of
        Asterisk's can hold its sockets open). How many calls that was."""
        folder = Path(self.config.asterisk_recording_dir)
        for session in self.sessions.values():
            last = last_write((s.name for s in session.flow.segments), folder, self.config.recording_format)
            session.queue.put_nowait(AsteriskGone(min(since, last) if last is not None else since))
        return len(self.sessions)

    def owned_channels(self) -> list[str]:
        # A call's legs are its parties and, once they talk, its stream channels (steps.talk).
        return [key for key, s in self._owners.items()
                if key in (s.caller_id, s.callee_id) or key in s.legs_alive or key in s.media_channels]

    def is_planning(self, channel_id: str) -> bool:
        return channel_id in self._planning

    def is_held(self, resource: str) -> bool:
        """Whether reconciliation keeps this resource's events for a journaled call (``hold``)."""
        return resource in self._held

    async def finish(self, finished: FinishedCall) -> None:
        if self._on_finished is not None:
            await self._on_finished(finished)

    def _own(self, resource: str, session: CallSession) -> None:
        self._owners[resource] = session
        self._owned.setdefault(session.call_id, set()).add(resource)

    def _launch(self, session: CallSession) -> None:
        for resource in session.resources:
            self._own(resource, session)
        self.sessions[session.call_id] = session
        self.idle.clear()
        self._tasks.create_task(self._run(session), name=f"call-{session.call_id}")

    def hold(self, resources: Iterable[str]) -> list[AriEvent]:
        """From now on keep the events of these resources (a journaled call's legs, bridge,
        recordings, playbacks) instead of dropping them as nobody's, until ``release``: reconciliation
        looks at Asterisk after this, so an event that happens meanwhile (the caller hangs up) is
        not lost between what it saw and the adoption (an adopted call waited for it forever)."""
        events: list[AriEvent] = []
        for resource in resources:
            if resource:
                self._held[resource] = events
        return events

    def release(self, events: list[AriEvent]) -> None:
        for key in [k for k, held in self._held.items() if held is events]:
            del self._held[key]

    def adopt(self, entry: JournalEntry, live_legs: set[str], live_segments: set[str],
              live_playbacks: set[str], held: list[AriEvent] | None = None,
              bridged: bool = True) -> CallSession:
        """Carry on with a call a previous run left in Asterisk (reconcile.py), with the events
        kept for it since reconciliation began (``hold``), after what Asterisk then had (``bridged``:
        both parties in the call's bridge)."""
        flow = adopted(CallState(entry.state), entry.times, entry.segments, frozenset(live_legs),
                       frozenset(live_segments), frozenset(live_playbacks), entry.notices)
        session = self._session(entry.plan, entry.caller_id, flow)
        session.resumed = Resume(bridged=bridged)
        for name in (*(s.name for s in entry.segments), *live_playbacks, *live_legs):
            self._own(name, session)
        if held is not None:
            for event in held:
                session.queue.put_nowait(event)
            self.release(held)
        self._launch(session)
        return session

    def _plan(self, args: StasisArgs, call_id: str) -> CallPlan:
        plan = plan_call(args, self.config, call_id, self.lines)
        if plan.record and self._spool_has_room is not None and not self._spool_has_room():
            # Telephony first: the call goes through, unrecorded, and the operator is alerted.
            log.error("call=%s spool nearly full: connecting without recording", call_id,
                      extra={"call_id": call_id, "alert": "spool-low"})
            plan = replace(plan, record=False, reason="spool-low", to_caller=(), to_callee=(),
                           recipients=())
        return plan

    async def _run(self, session: CallSession) -> None:
        ACTIVE_CALLS.inc()
        try:
            await session.run()
            if self.journal is not None:
                self.journal.remove(session.call_id)  # handed over: nothing left to finish
        except Exception:
            # One call's failure is that call's: never the other calls' (they share the task group).
            # Its journal stays, so the next reconciliation finalizes it.
            log.exception("call=%s session failed", session.call_id)
        finally:
            ACTIVE_CALLS.dec()
            for key in self._owned.pop(session.call_id, ()):
                if self._owners.get(key) is session:
                    del self._owners[key]
            self.sessions.pop(session.call_id, None)
            if not self.sessions:
                self.idle.set()
        if session.bridge_left:  # the call is over and handed over; Asterisk was too busy to take it down
            await session.destroy_bridge_late()

    async def _carried(self, plan: CallPlan, channel_id: str) -> bool:
        """recording_engine = dialplan: hands the call to the dialplan if it can carry it (calls/carry.py);
        False when the app's own engine is to record it."""
        assert self.carrier is not None
        why = self.carrier.refusal(plan) or await self.carrier.room(len(self.sessions))
        if why is not None:
            if plan.record:
                log.info("call=%s recorded in the app's bridge: the dialplan does not carry it (%s)",
                         plan.call_id, why)
            return False
        try:
            await self.carrier.carry(plan, channel_id)
        except AriNotFound:
            log.warning("call=%s the caller hung up before the dialplan took the call", plan.call_id)
        except AriError as exc:
            # Refused, or no answer in time: the app's own engine takes it, as it would have.
            log.error("call=%s the dialplan could not take the call (%s): the app records it",
                      plan.call_id, exc)
            return False
        return True

    async def _hand_back(self, channel_id: str) -> None:
        try:
            await self.ari.set_channel_var(channel_id, "CALLREC_FALLBACK", "1")
            await self.ari.continue_in_dialplan(channel_id)
        except AriError as exc:
            log.error("channel %s could not be handed back to the dialplan: %s", channel_id, exc)
            await self._hangup_quietly(channel_id, 34)

    async def _hangup_quietly(self, channel_id: str, cause: int) -> None:
        with contextlib.suppress(AriError):
            await self.ari.hangup(channel_id, cause)


def _resources(event: AriEvent) -> tuple[str, ...]:
    """The ids an event concerns (its channels, bridges, playback, recording)."""
    keys = (*event.channel_ids, *event.bridge_ids, event.playback_id, event.recording_name)
    return tuple(k for k in keys if k)
