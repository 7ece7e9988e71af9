"""The callrec ARI application: the events stream, the call manager and their lifetimes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.ami.client import AmiClient, AmiError, AmiSettings, Message
from callrec_ari.app.finish import CallFinisher
from callrec_ari.app.handover import InProcesses
from callrec_ari.app.linemap import LineMap
from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.ari.errors import AriError, AriUnavailable
from callrec_ari.ari.stream import EventStream
from callrec_ari.calls.actions import CONSUMED_EVENTS
from callrec_ari.calls.carried import CarriedCalls, CarrySettings
from callrec_ari.calls.journal import CallJournal
from callrec_ari.calls.manager import CallManager
from callrec_ari.calls.reconcile import OrphanSweeper, reconcile
from callrec_ari.config import Config, engine_choice
from callrec_ari.contracts.directory import DatabaseLines
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.model.call import FinishedCall, now_utc
from callrec_ari.observability.checks import check_database, check_spool, spool_state
from callrec_ari.observability.http import Check
from callrec_ari.observability.http import serve as serve_http
from callrec_ari.observability.metrics import ARI_CONNECTED, ARI_RECONNECTS
from callrec_ari.streaming.settings import StreamSettings

log = logging.getLogger(__name__)


def ari_settings(config: Config) -> AriSettings:
    return AriSettings(
        url=config.ari_url, username=config.ari_username, password=config.ari_password, app=config.ari_app
    )


def ami_settings(config: Config) -> AmiSettings:
    host, _, port = config.ami_address.rpartition(":")
    return AmiSettings(host=host, port=int(port), username=config.ami_username, secret=config.ami_password)


class CallrecApp:
    """Runs until cancelled. ``ready`` is set once the events socket is connected."""

    def __init__(
        self,
        config: Config,
        on_finished: Callable[[FinishedCall], Awaitable[None]] | None = None,
        submitter: RecordingSubmitter | None = None,
        spool_dir: Path = Path("spool"),
        db: sessionmaker[Session] | None = None,
        stream_settings: StreamSettings | None = None,
        allow_destinations: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.db = db
        self.stream_settings = stream_settings
        # Non-public networks streams may reach ([delivery] allow_destinations; rules/destinations.py).
        self.allow_destinations = allow_destinations
        self.ari = AriClient(ari_settings(config))
        # The manager interface, only for the engines that need it (media/mixmonitor.py), and its user
        # events of the calls the dialplan carries (calls/carried.py).
        self.carried: CarriedCalls | None = None
        carries = config.carries_calls
        self.ami = (AmiClient(ami_settings(config), on_event=self._ami_event if carries else None,
                              on_connect=self._ami_connected if carries else None)
                    if config.engine == "mixmonitor" else None)
        work = None
        if config.hand_over_processes > 0 and (db is not None or submitter is not None):
            work = InProcesses(config.hand_over_processes, db, submitter,
                               json_logs=config.log_format == "json")
        self.finisher = CallFinisher(config, self.ari, db, submitter, spool_dir, work)
        # Where recordings are written: Asterisk's directory when on this host, else our spool.
        self.recording_dir = Path(config.asterisk_recording_dir or spool_dir)
        self.http: web.AppRunner | None = None
        # Calls in progress, on disk, so a restarted app finishes what a killed one started.
        self.journal = CallJournal(spool_dir / "active")
        self._calls: asyncio.TaskGroup | None = None
        self.reconciled = asyncio.Event()
        self._reconciling: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None
        self._extra_on_finished = on_finished
        self.manager: CallManager | None = None
        self.line_map: LineMap | None = None
        self.stream: EventStream | None = None
        self.ready = asyncio.Event()

    def _ami_event(self, message: Message) -> None:
        if self.carried is not None:
            self.carried.on_ami_event(message)

    def _ami_connected(self) -> None:
        if self.carried is not None:
            self.carried.on_ami_connect()

    async def _finished(self, outcome: FinishedCall) -> None:
        await self.finisher(outcome)
        if self._extra_on_finished is not None:
            await self._extra_on_finished(outcome)

    async def run(self) -> None:
        engine, why = engine_choice(self.config)
        log.info("recording engine: %s (%s)", engine, why)
        stream_task: asyncio.Task[None] | None = None
        stack = contextlib.ExitStack()
        try:
            # The events stream outlives the calls: a call being cancelled still needs its events
            # (legs destroyed, recording finished) to clean up in Asterisk.
            async with asyncio.TaskGroup() as calls:
                lines = DatabaseLines(self.db) if self.config.lines_from == "database" and self.db else None
                self._calls = calls
                # The hand-over's workers start beside the events stream, not before it: the app takes
                # calls at once (a restart under load must not send calls to the fallback meanwhile).
                calls.create_task(self.finisher.work.start(), name="hand-over-start")
                self.manager = CallManager(
                    self.ari, self.config, calls, on_finished=self._finished, lines=lines,
                    spool_has_room=self._spool_has_room, journal=self.journal,
                    stream_settings=self.stream_settings, allow_destinations=self.allow_destinations,
                    ami=self.ami,
                )
                manager = self.manager
                self.line_map = LineMap(self.ari, self.config, lambda: manager.lines)
                refresh = calls.create_task(self.line_map.run(self.config.line_map_seconds), name="line-map")
                if self.config.orphan_sweep_seconds > 0:
                    calls.create_task(self._sweep_orphans(OrphanSweeper(manager)), name="orphan-sweep")
                if self.config.http_port:
                    self.http = await serve_http(self._checks(), self.config.http_host, self.config.http_port)
                transcript = (
                    stack.enter_context(open(self.config.ari_transcript, "a", buffering=1))  # noqa: ASYNC230
                    if self.config.ari_transcript else None
                )
                watches: list[asyncio.Task[None]] = []
                if self.config.carries_calls and self.ami is not None:
                    self.carried = manager.carrier = CarriedCalls(
                        self.ari, self.ami, CarrySettings(
                            recording_prefix=self.config.recording_prefix,
                            recording_format=self.config.recording_format,
                            roll_seconds=self.config.recording_roll_seconds,
                            directions=self.config.mixmonitor_directions,
                            folder=manager.recording_folder, dial_timeout=self.config.dial_timeout),
                        self._finished, self.journal, transcript)
                    calls.create_task(self.ami.listen(), name="ami-events")
                    watches = [calls.create_task(self.carried.watch(), name="carried-watch"),
                               calls.create_task(self.carried.check.keep(), name="carry-check")]
                self.stream = EventStream(
                    ari_settings(self.config), self.manager.on_event, on_connect=self._connected,
                    on_disconnect=self._disconnected, transcript=transcript,
                )
                stream_task = asyncio.create_task(self.stream.run(), name="ari-events")
                try:
                    await asyncio.shield(stream_task)
                finally:
                    refresh.cancel()  # the calls' task group waits for its tasks: this one never ends
                    for watch in watches:
                        watch.cancel()  # (nor these)
        finally:
            if stream_task is not None and not stream_task.done():
                stream_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stream_task
            await self.ari.close()
            await asyncio.to_thread(self.finisher.work.close)  # the calls, and so their hand-overs, are done
            if self.carried is not None:
                await self.carried.close()  # its calls go on in Asterisk: the next run adopts them
            if self.ami is not None:
                await self.ami.close()
            if self.http is not None:
                await self.http.cleanup()
            stack.close()

    async def drain(self, timeout: float | None = None) -> bool:
        """SIGTERM: take no new calls, let those in progress finish for up to ``timeout``; True when
        they all did. The caller then cancels run(), which ends what is left (recordings finalized)."""
        if self.manager is None:
            return True
        self.manager.accepting = False
        carried = self.carried
        log.info("draining: no new calls; %d in progress", self._in_progress())
        try:
            # The calls the dialplan carries too: they go on without the app, but each is handed over
            # (its file delivered) as it ends, and a drain for a restart should leave none to adopt.
            await asyncio.wait_for(asyncio.gather(self.manager.idle.wait(),
                                                  *((carried.idle.wait(),) if carried is not None else ())),
                                   timeout or self.config.drain_timeout)
            return True
        except TimeoutError:
            log.warning("drain: %d calls still in progress after %.0fs: ending them (those the dialplan "
                        "carries go on in Asterisk, and the next run adopts them)",
                        self._in_progress(), timeout or self.config.drain_timeout)
            return False

    def _in_progress(self) -> int:
        assert self.manager is not None
        return len(self.manager.sessions) + (len(self.carried.calls) if self.carried is not None else 0)

    def _spool_has_room(self) -> bool:
        room, _ = spool_state(self.recording_dir, self.config.spool_min_free_mb << 20)
        return room

    def _checks(self) -> dict[str, Check]:
        async def ari() -> tuple[bool, str]:
            up = self.stream is not None and self.stream.connected.is_set()
            if self.stream is not None and self.stream.replaced:
                return False, "application taken over by another ARI client"
            return up, "events socket connected" if up else "events socket down"

        async def calls() -> tuple[bool, str]:
            # Draining for a restart: new calls go to the dialplan, so a load balancer must not count
            # this node as ready (issue 17).
            if self.manager is not None and not self.manager.accepting:
                left = self._in_progress()
                return False, f"draining: new calls are handed to the dialplan ({left} left)"
            return True, "taking calls"

        checks: dict[str, Check] = {
            "ari": ari,
            "calls": calls,
            "spool": lambda: check_spool(self.recording_dir, self.config.spool_min_free_mb << 20),
        }
        if self.db is not None:
            db = self.db
            checks["database"] = lambda: check_database(db)
        if self.ami is not None:
            ami = self.ami

            async def manager() -> tuple[bool, str]:
                # The mixmonitor engine records through the manager: without it every recording
                # would fail to start (the calls would go on, unrecorded).
                try:
                    await ami.action("Ping")
                except AmiError as exc:
                    return False, str(exc)
                return True, "manager answers"

            checks["ami"] = manager
        return checks

    async def _connected(self, reconnect: bool) -> None:
        ARI_CONNECTED.set(1)
        if reconnect:
            ARI_RECONNECTS.inc()
        self.ready.set()
        if self._calls is not None:
            self._calls.create_task(self._filter_events(), name="event-filter")
        if self._calls is not None and self.manager is not None:
            # In its own task: the events of new calls must keep flowing meanwhile.
            self.reconciled.clear()
            if self._reconciling is not None:
                self._reconciling.cancel()  # one reconciliation at a time: the newest connection's
            self._reconciling = self._calls.create_task(self._reconcile(), name="reconcile")
            if self.line_map is not None:
                # Asterisk may have restarted (its globals gone): write the whole map again.
                self._calls.create_task(self.line_map.publish(everything=True), name="line-map-publish")

    async def _sweep_orphans(self, sweeper: OrphanSweeper) -> None:
        """Now and then, what calls left in Asterisk is cleared (calls/reconcile.py OrphanSweeper): only
        while connected and reconciled, since a reconciliation decides about the same resources."""
        while True:
            await asyncio.sleep(self.config.orphan_sweep_seconds)
            if not (self.ready.is_set() and self.reconciled.is_set()):
                sweeper.suspects.clear()  # what was seen before the outage proves nothing now
                continue
            try:
                await sweeper.sweep()
            except AriError as exc:  # a busy or restarting Asterisk: the next sweep
                log.warning("orphan sweep skipped: %s", exc)

    async def _filter_events(self) -> None:
        """Ask Asterisk for the events the app reads and no others (calls/actions.py)."""
        assert self.ari is not None
        try:
            await self.ari.set_event_filter(CONSUMED_EVENTS)
        except AriError as exc:  # every event still arrives: correct, only dearer
            log.warning("ARI event filter not set (%s): Asterisk sends the application every event", exc)

    async def _reconcile(self) -> None:
        """Reconcile, again a moment later when Asterisk could not answer (a busy Asterisk times out):
        until it is done, a call the killed app left is neither adopted nor finalized."""
        assert self.manager is not None
        try:
            for attempt, pause in enumerate((1.0, 2.0, 4.0, 8.0, 15.0, 30.0, None), start=1):
                try:
                    await reconcile(self.manager, self.journal)
                    return
                except AriError as exc:
                    if pause is None or not self.ready.is_set():
                        log.error("reconcile failed (%s); will try again at the next connection", exc)
                        return
                    log.warning("reconcile failed (%s), attempt %d; again in %.0f s", exc, attempt, pause)
                    await asyncio.sleep(pause)
        finally:
            if asyncio.current_task() is self._reconciling:  # not one a newer connection replaced
                self.reconciled.set()

    async def _disconnected(self) -> None:
        ARI_CONNECTED.set(0)
        log.error("ARI events socket down: new calls cannot enter the app until it is back")
        self.ready.clear()
        if self._calls is not None and self.manager is not None and self.config.asterisk_recording_dir:
            if self._watching is None or self._watching.done():
                watch = self._watch_asterisk(now_utc())
                self._watching = self._calls.create_task(watch, name="asterisk-gone")

    async def _watch_asterisk(self, since: datetime) -> None:
        """While the events socket is down: once Asterisk has refused connections for
        ``asterisk_gone_seconds`` its process is gone (a crash, a stop), and the calls with it. They
        are ended and what was recorded of them handed over now, not whenever Asterisk comes back (the
        soak found 66 recordings waiting on an Asterisk that had crashed). A hung Asterisk that accepts
        and does not answer is not taken for gone. Only with the recordings on this host: a remote
        Asterisk's are fetched over ARI."""
        assert self.manager is not None
        gone_for = 0.0
        while not self.ready.is_set():
            await asyncio.sleep(1.0)
            try:
                await self.ari.asterisk_info()
                gone_for = 0.0  # it answers: only the events socket is down
            except AriUnavailable as exc:
                gone_for = gone_for + 1.0 if exc.refused else 0.0
            except AriError:
                gone_for = 0.0
            if gone_for >= self.config.asterisk_gone_seconds and not self.ready.is_set():
                ended = self.manager.asterisk_gone(since)
                if self.carried is not None:
                    ended += self.carried.asterisk_gone(since)
                if ended:
                    log.error("Asterisk refuses connections for %.0f s: its %d calls in progress ended "
                              "with it (at %s); what was recorded of them is delivered", gone_for, ended,
                              since.isoformat(timespec="seconds"), extra={"alert": "asterisk-gone"})
                return
