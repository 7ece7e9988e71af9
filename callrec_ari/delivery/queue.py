"""The durable delivery queue: every state change and every attempt is a committed row.

Blocking SQLAlchemy calls; the async worker runs them with ``asyncio.to_thread``. On PostgreSQL,
claims use ``FOR UPDATE SKIP LOCKED`` so several workers can share a node's queue.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.db.models import AuditRecord, Delivery, DeliveryAttempt
from callrec_ari.delivery.packaging import Package
from callrec_ari.model.clock import Clock
from callrec_ari.rules.delivery import DeliveryState, retention_deadline

INTERRUPTED = "interrupted"


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

    @classmethod
    def of(cls, row: Delivery) -> Job:
        return cls(row.id, row.call_id, row.idempotency_key, row.connection, row.state, Path(row.zip_path),
                   row.zip_size, row.zip_sha256, tuple(Path(p) for p in row.wav_paths), row.expires_at,
                   row.attempt_count, row.last_error, row.contract, row.connection_id)


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


class DeliveryQueue:
    def __init__(self, sessions: sessionmaker[Session], node: str, clock: Clock) -> None:
        self._sessions = sessions
        self.node = node
        self._clock = clock

    def enqueue(self, pkg: Package, connection: str, retention: timedelta, contract: str | None = None,
                connection_id: int | None = None) -> Job:
        """Queue a packaged copy of a call; queuing the same copy (its idempotency key) again returns
        the existing row."""
        now = self._clock()
        with self._sessions.begin() as s:
            existing = s.scalar(select(Delivery).where(Delivery.idempotency_key == pkg.key))
            if existing is not None:
                return Job.of(existing)
            row = Delivery(
                call_id=pkg.call.call_id, idempotency_key=pkg.key, node=self.node, connection=connection,
                contract=contract, connection_id=connection_id,
                state=DeliveryState.PENDING, zip_path=str(pkg.zip_path), zip_size=pkg.size,
                zip_sha256=pkg.sha256, wav_paths=[str(p) for p in pkg.wav_paths],
                call_ended_at=pkg.call.ended, created_at=now,
                expires_at=retention_deadline(pkg.call.ended, retention), next_attempt_at=now,
                attempt_count=0,
            )
            s.add(row)
            s.flush()
            return Job.of(row)

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
                for attempt in row.attempts:
                    if attempt.finished_at is None:
                        attempt.finished_at, attempt.outcome = now, INTERRUPTED
                        attempt.detail = f"worker {owner} stopped during the attempt"
                        count += 1
                row.lease_owner = row.lease_until = None
        return count

    def claim_due(self, worker: str, limit: int, lease: timedelta) -> list[Job]:
        now = self._clock()
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(Delivery)
                .where(Delivery.node == self.node, Delivery.state == DeliveryState.PENDING,
                       Delivery.next_attempt_at <= now, Delivery.expires_at > now,
                       or_(Delivery.lease_owner.is_(None), Delivery.lease_until < now))
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                row.lease_owner, row.lease_until = worker, now + lease
            return [Job.of(r) for r in rows]

    def start_attempt(self, job_id: int, worker: str) -> int:
        with self._sessions.begin() as s:
            row = s.get_one(Delivery, job_id)
            row.attempt_count += 1
            attempt = DeliveryAttempt(delivery_id=job_id, number=row.attempt_count, worker=worker,
                                      started_at=self._clock())
            s.add(attempt)
            s.flush()
            return attempt.id

    def finish_attempt(self, attempt_id: int, outcome: str, status: int | None = None,
                       error_id: str | None = None, detail: str | None = None) -> None:
        with self._sessions.begin() as s:
            s.execute(update(DeliveryAttempt).where(DeliveryAttempt.id == attempt_id).values(
                finished_at=self._clock(), outcome=outcome, status_code=status, error_id=error_id,
                detail=detail))

    def _set(self, job_id: int, **values: Any) -> None:
        with self._sessions.begin() as s:
            s.execute(update(Delivery).where(Delivery.id == job_id).values(**values))

    def mark_delivered(self, job_id: int, receipt: dict[str, Any]) -> None:
        self._set(job_id, state=DeliveryState.DELIVERED, delivered_at=self._clock(), receipt=receipt,
                  lease_owner=None, lease_until=None, last_error=None)

    def reschedule(self, job_id: int, next_at: datetime, error: str) -> None:
        self._set(job_id, next_attempt_at=next_at, last_error=error, lease_owner=None, lease_until=None)

    def reject(self, job_id: int, error: str) -> None:
        self._set(job_id, state=DeliveryState.REJECTED, last_error=error, lease_owner=None, lease_until=None)

    def files_removed(self, job_id: int) -> None:
        self._set(job_id, files_removed_at=self._clock())

    def copies_outstanding(self, call_id: str, job_id: int) -> int:
        """The other copies of the call still waiting for their customer (pending or refused): the
        call's WAVs stay until the last copy is acknowledged or purged."""
        with self._sessions.begin() as s:
            rows = s.scalars(select(Delivery.id).where(
                Delivery.call_id == call_id, Delivery.id != job_id,
                Delivery.state.in_([DeliveryState.PENDING, DeliveryState.REJECTED]))).all()
            return len(rows)

    def delivered_with_files(self) -> list[Job]:
        """Acknowledged, but the worker stopped before deleting the files."""
        with self._sessions.begin() as s:
            rows = s.scalars(select(Delivery).where(
                Delivery.node == self.node, Delivery.state == DeliveryState.DELIVERED,
                Delivery.files_removed_at.is_(None))).all()
            return [Job.of(r) for r in rows]

    def expired(self) -> list[Job]:
        now = self._clock()
        with self._sessions.begin() as s:
            rows = s.scalars(select(Delivery).where(
                Delivery.node == self.node,
                Delivery.state.in_([DeliveryState.PENDING, DeliveryState.REJECTED]),
                Delivery.expires_at <= now,
                or_(Delivery.lease_owner.is_(None), Delivery.lease_until < now))).all()
            return [Job.of(r) for r in rows]

    def purge(self, job_id: int, actor: str, reason: str, details: dict[str, Any]) -> None:
        """Mark purged and write the audit record in one transaction."""
        now = self._clock()
        with self._sessions.begin() as s:
            row = s.get_one(Delivery, job_id)
            row.state, row.files_removed_at = DeliveryState.PURGED, now
            row.lease_owner = row.lease_until = None
            s.add(AuditRecord(at=now, actor=actor, action="recording-purged", subject=row.call_id,
                              reason=reason, details=details))

    def audit(self, actor: str, action: str, subject: str, reason: str, details: dict[str, Any]) -> None:
        with self._sessions.begin() as s:
            s.add(AuditRecord(at=self._clock(), actor=actor, action=action, subject=subject,
                              reason=reason, details=details))


__all__ = ["INTERRUPTED", "DeliveryQueue", "Job"]
