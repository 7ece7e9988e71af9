"""The durable delivery queue: every state change and every attempt is a committed row.

Blocking SQLAlchemy calls; the async worker runs them with ``asyncio.to_thread``. On PostgreSQL,
claims use ``FOR UPDATE SKIP LOCKED`` so several workers can share a node's queue. Claiming is per
customer connection (the worker shares its slots among them, rules.delivery.plan_claims): first the
connections with due recordings, then so many of each one's oldest.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.db.models import AuditRecord, Delivery
from callrec_ari.delivery import statements as sql
from callrec_ari.delivery.packaging import Package
from callrec_ari.delivery.statements import INTERRUPTED, ConnectionKey, Removal
from callrec_ari.model.clock import Clock
from callrec_ari.observability.metrics import DELIVERY_LOOKS
from callrec_ari.rules.delivery import ClaimPlan, DeliveryState, Outcome, retention_deadline


def connection_key(contract: str | None, connection_id: int | None, connection: str) -> ConnectionKey:
    return (contract, connection_id, "") if contract is not None else (None, None, connection)


def _of_connection(key: ConnectionKey) -> ColumnElement[bool]:
    contract, connection_id, name = key
    if contract is None:
        return and_(Delivery.contract.is_(None), Delivery.connection == name)
    return and_(Delivery.contract == contract,
                Delivery.connection_id.is_(None) if connection_id is None
                else Delivery.connection_id == connection_id)


# One packaged copy to queue: the package, its connection's name, the retention, its contract and
# connection id.
QueuedCopy = tuple["Package", str, timedelta, str | None, int | None]


@dataclass(frozen=True, slots=True)
class DueConnection:
    key: ConnectionKey
    oldest_due: datetime  # the try time of its oldest due recording


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    call_id: str
    key: str
    connection: str
    state: str
    zip_path: Path
    zip_size: int
    zip_sha256: str
    wav_paths: tuple[Path, ...]
    expires_at: datetime
    attempt_count: int
    last_error: str | None
    contract: str | None = None  # the copy's owner; None: single tenant ([delivery.connection])
    connection_id: int | None = None  # the contract's file connection when the copy was queued
    # The attempt the worker's claim opened for it (DeliveryQueue.claim_due), for its first upload.
    attempt_id: int | None = None

    @classmethod
    def of(cls, row: Any) -> Job:
        """From a ``Delivery`` row, or a result row of the deliveries table's columns."""
        return cls(row.id, row.call_id, row.idempotency_key, row.connection, row.state, Path(row.zip_path),
                   row.zip_size, row.zip_sha256, tuple(Path(p) for p in row.wav_paths), row.expires_at,
                   row.attempt_count, row.last_error, row.contract, row.connection_id)

    @property
    def connection_key(self) -> ConnectionKey:
        return connection_key(self.contract, self.connection_id, self.connection)


def _pid_alive(owner: str, node: str) -> bool:
    owner_node, _, pid = owner.rpartition(":")
    if owner_node != node or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _close_open_attempts(row: Delivery, now: datetime, detail: str) -> int:
    """Attempts a dead worker left open end as ``interrupted``; returns how many."""
    count = 0
    for attempt in row.attempts:
        if attempt.finished_at is None:
            attempt.finished_at, attempt.outcome, attempt.detail = now, INTERRUPTED, detail
            count += 1
    return count


class DeliveryQueue:
    def __init__(self, sessions: sessionmaker[Session], node: str, clock: Clock) -> None:
        self._sessions = sessions
        # The every-call transactions (enqueue_all, claim_due, delivered...) run on a Connection: a
        # Session's bookkeeping cost as much CPU as SQLite's own work (docs/performance.md).
        self._engine: Engine = sessions.kw["bind"]
        self.node = node
        self._clock = clock

    def enqueue(self, pkg: Package, connection: str, retention: timedelta, contract: str | None = None,
                connection_id: int | None = None) -> Job:
        """Queue a packaged copy of a call; queuing the same copy (its idempotency key) again returns
        the existing row."""
        return self.enqueue_all([(pkg, connection, retention, contract, connection_id)])[0]

    def enqueue_all(self, copies: Sequence[QueuedCopy],
                    also: Callable[[Connection], object] | None = None) -> list[Job]:
        """Queue the packaged copies of one call (package, connection, retention, contract, connection
        id) in one transaction: a worker sees all of them or none (the call's WAVs go with the last
        copy delivered: delivery/retention.py). ``also``: more of the call's writes (its call record,
        app/handover.py), first in the same transaction."""
        now = self._clock()
        jobs: list[Job] = []
        with self._engine.begin() as s:
            if also is not None:
                also(s)
            for pkg, connection, retention, contract, connection_id in copies:
                existing = s.execute(sql.QUEUED_AS, {"key": pkg.key}).first()
                if existing is not None:
                    jobs.append(Job.of(existing))
                    continue
                # One INSERT ... RETURNING, not the ORM's unit of work: this runs for every call.
                job = Job(0, pkg.call.call_id, pkg.key, connection, DeliveryState.PENDING, pkg.zip_path,
                          pkg.size, pkg.sha256, pkg.wav_paths, retention_deadline(pkg.call.ended, retention),
                          0, None, contract, connection_id)
                row_id = s.execute(sql.QUEUE, dict(
                    call_id=job.call_id, idempotency_key=job.key, node=self.node, connection=connection,
                    contract=contract, connection_id=connection_id, state=job.state,
                    zip_path=str(job.zip_path), zip_size=job.zip_size, zip_sha256=job.zip_sha256,
                    wav_paths=[str(p) for p in job.wav_paths], call_ended_at=pkg.call.ended, created_at=now,
                    expires_at=job.expires_at, next_attempt_at=now, attempt_count=0,
                )).scalar_one()
                jobs.append(dataclasses.replace(job, id=int(row_id)))
        return jobs

    def recover(self, worker: str) -> int:
        """After a crash: close attempts left open by dead workers of this node, free their claims."""
        now = self._clock()
        count = 0
        with self._sessions.begin() as s:
            rows = s.scalars(select(Delivery).where(Delivery.node == self.node,
                                                    Delivery.lease_owner.is_not(None))).all()
            for row in rows:
                owner = row.lease_owner or ""
                if owner != worker and _pid_alive(owner, self.node) and (row.lease_until or now) > now:
                    continue
                count += _close_open_attempts(row, now, f"worker {owner} stopped during the attempt")
                row.lease_owner = row.lease_until = None
        return count

    def due_connections(self, limit: int) -> list[DueConnection]:
        """The connections with due, unclaimed recordings, the longest waiting first; one row each,
        however many recordings a connection has queued."""
        with self._engine.begin() as s:
            return self._due_connections(s, limit, self._clock())

    def claim(self, worker: str, wants: Sequence[tuple[ConnectionKey, int]], lease: timedelta) -> list[Job]:
        """Lease up to ``n`` due recordings of each connection, its oldest first (among recordings due
        at the same time, the least tried: a backed-off connection's probe takes turns among them)."""
        with self._engine.begin() as s:
            return self._claim(s, worker, wants, lease, self._clock())

    def claim_due(self, limit: int, decide: Callable[[list[DueConnection]], ClaimPlan[ConnectionKey]],
                  worker: str, lease: timedelta, removed: Sequence[Removal] = ()
                  ) -> tuple[list[DueConnection], ClaimPlan[ConnectionKey], int, list[Job]]:
        """:meth:`due_connections`, what to take of them (``decide``: the worker's plan,
        rules.delivery.plan_claims), the backed-off connections deferred (:meth:`defer_connection`) and
        the rest claimed (:meth:`claim`), in one transaction, which also opens each claimed recording's
        next attempt (:meth:`start_attempt`, ``Job.attempt_id``): one transaction fewer per delivery
        for the worker, which uploads what it claims at once. Returns the due connections, the plan,
        how many recordings were deferred, and the jobs claimed. ``removed``: files the worker removed
        since it last wrote to the queue, recorded in the same transaction (as :meth:`removals`)."""
        now = self._clock()
        with self._engine.begin() as s:
            sql.record_removals(s, removed)
            due = self._due_connections(s, limit, now)
            if not due:
                return due, ClaimPlan((), ()), 0, []
            plan = decide(due)
            deferred = sum(self._defer(s, key, until, now) for key, until in plan.defer)
            jobs = self._claim(s, worker, plan.take, lease, now) if plan.take else []
            return due, plan, deferred, [self._opened(s, job, worker, now) for job in jobs]

    def _due_connections(self, s: Connection, limit: int, now: datetime) -> list[DueConnection]:
        DELIVERY_LOOKS.inc()
        rows = s.execute(sql.DUE_CONNECTIONS, {"node": self.node, "now": now, "limit": limit}).all()
        found: dict[ConnectionKey, datetime] = {}
        for contract, connection_id, name, due in rows:
            key = connection_key(contract, connection_id, name)
            found[key] = min(due, found.get(key, due))
        return [DueConnection(key, due) for key, due in found.items()]

    def _claim(self, s: Connection, worker: str, wants: Sequence[tuple[ConnectionKey, int]], lease: timedelta,
               now: datetime) -> list[Job]:
        jobs: list[Job] = []
        for key, n in wants:
            statement, params = sql.claimable(key)
            rows = s.execute(statement, {"node": self.node, "now": now, "n": n, **params}).all()
            for row in rows:
                if row.lease_owner is not None:  # taken over: its lease ran out (a worker died)
                    s.execute(sql.INTERRUPT, {"job_id": row.id, "at": now, "why": (
                        f"worker {row.lease_owner} stopped during the attempt (its lease ran out; "
                        f"taken over by {worker})")})
            if rows:
                s.execute(sql.LEASE, {"ids": [r.id for r in rows], "owner": worker, "until": now + lease})
            jobs.extend(Job.of(r) for r in rows)
        return jobs

    def release(self, job_id: int, worker: str) -> None:
        """Give back a claim whose delivery was stopped (the worker is shutting down)."""
        with self._sessions.begin() as s:
            s.execute(update(Delivery).where(Delivery.id == job_id, Delivery.lease_owner == worker)
                      .values(lease_owner=None, lease_until=None))

    def defer_connection(self, key: ConnectionKey, until: datetime) -> int:
        """A connection's transient failure holds back its other queued recordings, unclaimed ones,
        until its next try time, so they spend no attempts meanwhile. Returns how many."""
        with self._engine.begin() as s:
            return self._defer(s, key, until, self._clock())

    def _defer(self, s: Connection, key: ConnectionKey, until: datetime, now: datetime) -> int:
        result = s.execute(
            update(Delivery)
            .where(Delivery.node == self.node, Delivery.state == DeliveryState.PENDING,
                   Delivery.next_attempt_at < until, _of_connection(key),
                   or_(Delivery.lease_owner.is_(None), Delivery.lease_until < now))
            .values(next_attempt_at=until)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def start_attempt(self, job_id: int, worker: str) -> int:
        with self._engine.begin() as s:
            return self._open_attempt(s, job_id, worker, self._clock())[1]

    def _open_attempt(self, s: Connection, job_id: int, worker: str, now: datetime) -> tuple[int, int]:
        """The recording's next attempt, open (no ``finished_at``): its number and its id. One whose
        worker went away is closed as interrupted by :meth:`recover` at the next start, or by the
        worker that claims the recording once its lease ran out (``_claim``)."""
        number = int(s.execute(sql.COUNT_ATTEMPT, {"job_id": job_id}).scalar_one())
        opened = s.execute(sql.OPEN_ATTEMPT, {"delivery_id": job_id, "number": number, "worker": worker,
                                              "started_at": now})
        return number, int(opened.scalar_one())

    def _opened(self, s: Connection, job: Job, worker: str, now: datetime) -> Job:
        number, attempt_id = self._open_attempt(s, job.id, worker, now)
        return dataclasses.replace(job, attempt_count=number, attempt_id=attempt_id)

    def finish_attempt(self, attempt_id: int, outcome: str, status: int | None = None,
                       error_id: str | None = None, detail: str | None = None) -> None:
        with self._engine.begin() as s:
            s.execute(sql.FINISH_ATTEMPT, {"attempt_id": attempt_id, "finished_at": self._clock(),
                                        "outcome": outcome, "status_code": status, "error_id": error_id,
                                        "detail": detail})

    def _set(self, job_id: int, **values: Any) -> None:
        with self._sessions.begin() as s:
            s.execute(update(Delivery).where(Delivery.id == job_id).values(**values))

    def _set_open(self, job_id: int, **values: Any) -> bool:
        """Like :meth:`_set`, but only while the recording is still waiting (pending or rejected):
        a worker whose attempt outlived its lease must not undo what another did meanwhile (purged
        it at 7 days, delivered it). False when it changed nothing."""
        with self._sessions.begin() as s:
            result = s.execute(update(Delivery)
                               .where(Delivery.id == job_id,
                                      Delivery.state.in_([DeliveryState.PENDING, DeliveryState.REJECTED]))
                               .values(**values).execution_options(synchronize_session=False))
            return int(getattr(result, "rowcount", 0) or 0) == 1

    def reschedule(self, job_id: int, next_at: datetime, error: str) -> bool:
        return self._set_open(job_id, next_attempt_at=next_at, last_error=error, lease_owner=None,
                              lease_until=None)

    def reject(self, job_id: int, error: str) -> bool:
        """Refused for good (kept until its deadline); False when it was no longer waiting."""
        return self._set_open(job_id, state=DeliveryState.REJECTED, last_error=error, lease_owner=None,
                              lease_until=None)

    def delivered(self, job: Job, attempt_id: int, status: int | None, receipt: dict[str, Any],
                  removed: Sequence[Removal] = ()) -> int:
        """The customer acknowledged: the attempt and the recording say so, in one transaction. Returns
        the call's other copies still waiting (``copies_outstanding``), read in the same transaction.
        ``removed``: as for :meth:`claim_due`."""
        now = self._clock()
        with self._engine.begin() as s:
            sql.record_removals(s, removed)
            s.execute(sql.FINISH_ATTEMPT, {"attempt_id": attempt_id, "finished_at": now,
                                        "outcome": str(Outcome.DELIVERED), "status_code": status})
            s.execute(sql.DELIVERED, {"job_id": job.id, "at": now, "receipt": receipt})
            return sql.outstanding(s, job.call_id, job.id)

    def now(self) -> datetime:
        """The queue's clock (the time its records are written with)."""
        return self._clock()

    def removals(self, removals: Sequence[Removal]) -> None:
        """Delivered recordings' files are gone from the platform: recorded, each with its audit record
        when it has one, in one transaction."""
        with self._engine.begin() as s:
            sql.record_removals(s, removals)

    def copies_outstanding(self, call_id: str, job_id: int) -> int:
        """The other copies of the call still waiting for their customer (pending or refused): the
        call's WAVs stay until the last copy is acknowledged or purged."""
        with self._engine.begin() as s:
            return sql.outstanding(s, call_id, job_id)

    def backlog(self) -> tuple[int, datetime | None]:
        """How many recordings of this node wait for their customer, and since when the oldest."""
        with self._sessions.begin() as s:
            count, oldest = s.execute(select(func.count(Delivery.id), func.min(Delivery.created_at)).where(
                Delivery.node == self.node,
                Delivery.state.in_([DeliveryState.PENDING, DeliveryState.REJECTED]))).one()
            return int(count), oldest

    def delivered_with_files(self, older_than: timedelta | None = None) -> list[Job]:
        """Acknowledged, but the worker stopped before deleting the files. ``older_than``: only
        those acknowledged that long ago (a live worker deletes right after the acknowledgement:
        older ones were left by a worker that died, and another worker finishes them)."""
        query = select(Delivery).where(Delivery.node == self.node, Delivery.state == DeliveryState.DELIVERED,
                                       Delivery.files_removed_at.is_(None))
        if older_than is not None:
            query = query.where(Delivery.delivered_at < self._clock() - older_than)
        with self._sessions.begin() as s:
            return [Job.of(r) for r in s.scalars(query).all()]

    def expired(self) -> list[Job]:
        now = self._clock()
        with self._sessions.begin() as s:
            rows = s.scalars(select(Delivery).where(
                Delivery.node == self.node,
                Delivery.state.in_([DeliveryState.PENDING, DeliveryState.REJECTED]),
                Delivery.expires_at <= now,
                or_(Delivery.lease_owner.is_(None), Delivery.lease_until < now))).all()
            return [Job.of(r) for r in rows]

    def lease_for_purge(self, job_id: int, worker: str, lease: timedelta) -> bool:
        """Take the expired recording for purging; False when another worker has it (or purged it).

        One conditional UPDATE: on PostgreSQL a second worker's UPDATE of the same row waits for the
        first to commit, then finds the lease taken and changes nothing; so however many workers share
        the queue, each recording is purged, and audited, once. A worker killed between this and
        :meth:`purge` leaves a lease that expires; then another worker purges it."""
        now = self._clock()
        with self._sessions.begin() as s:
            result = s.execute(
                update(Delivery)
                .where(Delivery.id == job_id,
                       Delivery.state.in_([DeliveryState.PENDING, DeliveryState.REJECTED]),
                       or_(Delivery.lease_owner.is_(None), Delivery.lease_until < now,
                           Delivery.lease_owner == worker))
                .values(lease_owner=worker, lease_until=now + lease)
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0) == 1

    def purge(self, job_id: int, actor: str, reason: str, details: dict[str, Any],
              worker: str | None = None) -> bool:
        """Mark purged and write the audit record in one transaction; with ``worker``, only while
        that worker holds the purge lease (:meth:`lease_for_purge`). False when it did nothing."""
        now = self._clock()
        with self._sessions.begin() as s:
            row = s.get_one(Delivery, job_id)
            if row.state not in (DeliveryState.PENDING, DeliveryState.REJECTED) or (
                    worker is not None and row.lease_owner != worker):
                return False
            row.state, row.files_removed_at = DeliveryState.PURGED, now
            row.lease_owner = row.lease_until = None
            s.add(AuditRecord(at=now, actor=actor, action="recording-purged", subject=row.call_id,
                              reason=reason, details=details))
            return True

    def audit(self, actor: str, action: str, subject: str, reason: str, details: dict[str, Any]) -> None:
        with self._sessions.begin() as s:
            s.add(AuditRecord(at=self._clock(), actor=actor, action=action, subject=subject,
                              reason=reason, details=details))


__all__ = ["INTERRUPTED", "ConnectionKey", "DeliveryQueue", "DueConnection", "Job", "Removal",
           "connection_key"]
