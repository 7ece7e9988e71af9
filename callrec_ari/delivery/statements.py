"""The SQL every delivery runs (delivery/queue.py), built once and on the tables (SQLAlchemy Core):
building a statement again for every call, and running it through the ORM's unit of work, cost more
CPU than the database's own work (docs/performance.md). Parameters are bound at each execution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Select, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from callrec_ari.db.models import AuditRecord, Delivery, DeliveryAttempt
from callrec_ari.rules.delivery import DeliveryState

INTERRUPTED = "interrupted"  # the outcome of an attempt its worker did not live to finish

# A customer connection, as the worker paces it: (contract, its connection id, "") for a contract's
# copy; (None, None, the configured connection's name) in a single-tenant setup.
ConnectionKey = tuple[str | None, int | None, str]

_DT, _AT = cast(Table, Delivery.__table__), cast(Table, DeliveryAttempt.__table__)
_D, _A = _DT.c, _AT.c
_WAITING = (DeliveryState.PENDING.value, DeliveryState.REJECTED.value)
QUEUED_AS = select(*_DT.c).where(_D.idempotency_key == bindparam("key"))
QUEUE = insert(_DT).returning(_D.id)
_DUE = (_D.node == bindparam("node"), _D.state == DeliveryState.PENDING.value,
        _D.next_attempt_at <= bindparam("now"), _D.expires_at > bindparam("now"),
        or_(_D.lease_owner.is_(None), _D.lease_until < bindparam("now")))
DUE_CONNECTIONS = (
    select(_D.contract, _D.connection_id, _D.connection, func.min(_D.next_attempt_at))
    .where(*_DUE)
    .group_by(_D.contract, _D.connection_id, _D.connection)
    .order_by(func.min(_D.next_attempt_at), func.min(_D.id))
    .limit(bindparam("limit"))
)
_CLAIMABLE = {  # by the shape of the connection's key: single tenant, a contract's without an id, with one
    shape: select(*_DT.c).where(*_DUE, *where).order_by(_D.next_attempt_at, _D.attempt_count, _D.id)
    .limit(bindparam("n")).with_for_update(skip_locked=True)
    for shape, where in {
        "name": (_D.contract.is_(None), _D.connection == bindparam("name")),
        "contract": (_D.contract == bindparam("contract"), _D.connection_id.is_(None)),
        "connection": (_D.contract == bindparam("contract"), _D.connection_id == bindparam("connection_id")),
    }.items()
}
LEASE = (update(_DT).where(_D.id.in_(bindparam("ids", expanding=True)))
          .values(lease_owner=bindparam("owner"), lease_until=bindparam("until")))
INTERRUPT = (update(_AT).where(_A.delivery_id == bindparam("job_id"), _A.finished_at.is_(None))
              .values(finished_at=bindparam("at"), outcome=INTERRUPTED, detail=bindparam("why")))
COUNT_ATTEMPT = (update(_DT).where(_D.id == bindparam("job_id"))
                  .values(attempt_count=_D.attempt_count + 1).returning(_D.attempt_count))
OPEN_ATTEMPT = insert(_AT).returning(_A.id)
FINISH_ATTEMPT = update(_AT).where(_A.id == bindparam("attempt_id"))  # SET: the parameters given
DELIVERED = update(_DT).where(_D.id == bindparam("job_id")).values(
    state=DeliveryState.DELIVERED.value, delivered_at=bindparam("at"), receipt=bindparam("receipt"),
    lease_owner=None, lease_until=None, last_error=None)
OUTSTANDING = select(func.count(_D.id)).where(
    _D.call_id == bindparam("call_id"), _D.id != bindparam("job_id"), _D.state.in_(_WAITING))
AUDIT = insert(cast(Table, AuditRecord.__table__))
FILES_REMOVED = (update(_DT).where(_D.id == bindparam("job_id"), _D.files_removed_at.is_(None))
                  .values(files_removed_at=bindparam("at")))


@dataclass(frozen=True, slots=True)
class Removal:
    """A delivered recording's files removed from the platform (at ``at``), for the queue to record,
    with its audit record (actor, action, subject, reason, details) when given."""

    job_id: int
    at: datetime
    audit: tuple[str, str, str, str, dict[str, Any]] | None = None


def record_removals(s: Connection | Session, removals: Sequence[Removal]) -> None:
    """FILES_REMOVED for each, and its audit record (DeliveryQueue.removals and the transactions that
    carry them)."""
    for removal in removals:
        # Once: when two workers finish the same deletion, only the first records it.
        done = s.execute(FILES_REMOVED, {"job_id": removal.job_id, "at": removal.at})
        if removal.audit is not None and int(getattr(done, "rowcount", 0) or 0) == 1:
            actor, action, subject, reason, details = removal.audit
            s.execute(AUDIT, {"at": removal.at, "actor": actor, "action": action, "subject": subject,
                              "reason": reason, "details": details})


def outstanding(s: Connection | Session, call_id: str, job_id: int) -> int:
    """The call's other copies still waiting for their customer (DeliveryQueue.copies_outstanding)."""
    return int(s.execute(OUTSTANDING, {"call_id": call_id, "job_id": job_id}).scalar_one())


def claimable(key: ConnectionKey) -> tuple[Select[Any], dict[str, Any]]:
    contract, connection_id, name = key
    if contract is None:
        return _CLAIMABLE["name"], {"name": name}
    if connection_id is None:
        return _CLAIMABLE["contract"], {"contract": contract}
    return _CLAIMABLE["connection"], {"contract": contract, "connection_id": connection_id}


__all__ = [
    "AUDIT", "COUNT_ATTEMPT", "DELIVERED", "DUE_CONNECTIONS", "FILES_REMOVED", "FINISH_ATTEMPT", "INTERRUPT",
    "INTERRUPTED", "LEASE", "OPEN_ATTEMPT", "OUTSTANDING", "QUEUE", "QUEUED_AS", "ConnectionKey", "Removal",
    "claimable", "outstanding", "record_removals",
]
