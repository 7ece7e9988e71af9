"""The delivery capability's entry points: hand over a finished call, build a worker."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection as DbConnection
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.contracts.models import Connection
from callrec_ari.db.engine import database_unreachable, make_engine, make_sessionmaker
from callrec_ari.delivery.packaging import Segment, package_call
from callrec_ari.delivery.queue import DeliveryQueue, Job, QueuedCopy
from callrec_ari.delivery.routing import (
    OneTransport,
    Transports,
    connection_name,
    make_route_transport,
    route_from_settings,
)
from callrec_ari.delivery.sealing import seal_package
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.delivery.transport import Transport
from callrec_ari.delivery.worker import DeliveryWorker
from callrec_ari.model.clock import Clock, utcnow
from callrec_ari.rules.manifest import CallRecord

log = logging.getLogger(__name__)
SegmentSpec = Segment | tuple[str | Path, str | datetime]


def make_transport(settings: DeliverySettings) -> Transport:
    """The single-tenant ``[delivery.connection]``'s transport."""
    return make_route_transport(route_from_settings(settings.connection), settings)


@dataclass(frozen=True)
class Packaged:
    """A call's copies packaged, not queued yet (RecordingSubmitter.package_copies): in the copies'
    order, None for a copy packaged (its job comes with the queueing) or the failure of one that was
    not; and each packaged copy with its place in that list."""

    results: list[Job | Exception | None]
    copies: list[tuple[int, QueuedCopy]]


class RecordingSubmitter:
    """What the call flow calls when a recorded call has ended (file delivery, R1.1/R1.2)."""

    def __init__(self, settings: DeliverySettings, sessions: sessionmaker[Session] | None = None,
                 clock: Clock = utcnow, *, segment_seconds: float | None = None) -> None:
        """``segment_seconds``: the length of the delivered segments (R1.2, the app's
        ``segment_seconds``), cut from the call's recording files; None: one segment per file."""
        self._settings = settings
        self._segment_seconds = segment_seconds
        self._sessions = sessions or make_sessionmaker(make_engine(settings.database_url))
        self._queue = DeliveryQueue(self._sessions, settings.node, clock)

    @property
    def settings(self) -> DeliverySettings:
        return self._settings

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sessions

    @property
    def segment_seconds(self) -> float | None:
        return self._segment_seconds

    def submit(self, call: Mapping[str, Any] | CallRecord, segments: Sequence[SegmentSpec],
               connection_id: int | None = None) -> Job:
        """Package one copy of the call into one ZIP in the outbox and queue it durably. Blocking.

        The copy is its contract's (``call.contract``, delivered through ``connection_id``, the
        contract's file connection) or, with no contract, the single-tenant ``[delivery.connection]``'s.
        Idempotent per copy (its idempotency key). Raises InvalidCallRecord / BadWav (both with
        ``error_id``) on bad input; the WAVs are then left untouched.
        """
        result = self.submit_copies([(call, connection_id)], segments)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def submit_copies(self, copies: Sequence[tuple[Mapping[str, Any] | CallRecord, int | None]],
                      segments: Sequence[SegmentSpec]) -> list[Job | Exception]:
        """Every copy of one call (its record for the copy, and the copy's connection id): each
        packaged, then all queued in one transaction. Blocking.

        A worker never sees one copy of a call without the others: the call's WAVs go with the last
        copy delivered, so a copy queued after another one was already delivered would find them gone.
        A copy that cannot be packaged is answered with its error (in its place in the list) and the
        others go on; a database that cannot be reached raises, for the whole call to be tried again.
        """
        return self.queue_packaged(self.package_copies(copies, segments))

    def package_copies(self, copies: Sequence[tuple[Mapping[str, Any] | CallRecord, int | None]],
                       segments: Sequence[SegmentSpec]) -> Packaged:
        """The first half of :meth:`submit_copies`: each copy packaged (or its failure), nothing queued."""
        results: list[Job | Exception | None] = []
        packaged: list[tuple[int, QueuedCopy]] = []
        for call, connection_id in copies:
            try:
                packaged.append((len(results), self._package(call, segments, connection_id)))
                results.append(None)  # its job, once queued
            except Exception as exc:
                if database_unreachable(exc):
                    raise
                results.append(exc)
        return Packaged(results, packaged)

    def queue_packaged(self, packaged: Packaged,
                       also: Callable[[DbConnection], object] | None = None) -> list[Job | Exception]:
        """The second half of :meth:`submit_copies`: the packaged copies queued in one transaction,
        with ``also`` (more of the call's writes: DeliveryQueue.enqueue_all) first in it. Idempotent
        (each copy is queued once per idempotency key): a failed transaction can be tried again."""
        results = list(packaged.results)
        queued = [c for _, c in packaged.copies]
        if packaged.copies and len(packaged.copies) < len(results):
            # A copy was refused: the call's WAVs stay where they are for it (for an operator), so the
            # copies queued do not take them along when they are delivered.
            queued = [(dataclasses.replace(pkg, wav_paths=()), name, keep, contract, conn)
                      for pkg, name, keep, contract, conn in queued]
            log.warning("call %s: %d of %d copies refused; its recording's files are kept for them",
                        queued[0][0].call.call_id, len(results) - len(queued), len(results))
        if queued or also is not None:
            jobs = self._queue.enqueue_all(queued, also=also)
            for (at, (pkg, *_)), job in zip(packaged.copies, jobs, strict=True):
                results[at] = job
                log.info("call %s: packaged %d segments into %s (%d bytes), queued for delivery",
                         pkg.call.call_id, len(pkg.wav_paths), pkg.zip_path, pkg.size)
        if queued:
            ring(self._settings.doorbell)  # after the commit: the worker finds the jobs when it looks
        done = [r for r in results if r is not None]
        assert len(done) == len(results)  # every copy queued or refused
        return done

    def _package(self, call: Mapping[str, Any] | CallRecord, segments: Sequence[SegmentSpec],
                 connection_id: int | None) -> QueuedCopy:
        pkg = package_call(call, segments, self._settings.outbox, self._settings.zip_level,
                           self._segment_seconds)
        contract = pkg.call.contract or None
        recipient = self._age_recipient(connection_id) if contract else None
        if recipient:
            pkg = seal_package(pkg, recipient)  # nothing readable waits in the queue
        name = connection_name(contract, connection_id) if contract else self._settings.connection.name
        return (pkg, name, timedelta(days=self._settings.retention_days), contract,
                connection_id if contract else None)

    def _age_recipient(self, connection_id: int | None) -> str | None:
        """The customer's age public key on the copy's file connection, read now."""
        if connection_id is None:
            return None
        with self._sessions() as session:
            conn = session.get(Connection, connection_id)
            return conn.age_recipient if conn is not None and conn.removed_at is None else None

    async def submit_async(self, call: Mapping[str, Any] | CallRecord,
                           segments: Sequence[SegmentSpec], connection_id: int | None = None) -> Job:
        """:meth:`submit` in a thread, for the asyncio call flow."""
        return await asyncio.to_thread(self.submit, call, segments, connection_id)


def ring(doorbell: Path) -> None:
    """Tell a worker on this node that the queue has something new (it would find it at its next
    poll anyway: a bell that cannot ring costs latency, never a recording)."""
    try:
        os.utime(doorbell)
    except OSError as exc:
        log.warning("delivery doorbell %s not rung: %s", doorbell, exc)


def make_worker(settings: DeliverySettings, sessions: sessionmaker[Session] | None = None,
                clock: Clock = utcnow, transport: Transport | None = None) -> DeliveryWorker:
    sessions = sessions or make_sessionmaker(make_engine(settings.database_url))
    queue = DeliveryQueue(sessions, settings.node, clock)
    transports = OneTransport(transport) if transport is not None else Transports(settings, sessions)
    return DeliveryWorker(settings, queue, transports, clock)


__all__ = ["Packaged", "RecordingSubmitter", "SegmentSpec", "make_transport", "make_worker"]
