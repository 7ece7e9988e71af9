"""Pure delivery rules: retry classification, retention deadline, when to try again (R1.1, R1.3), and
how a worker shares its uploads among the customers' connections (issue 13)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

RETENTION = timedelta(days=7)  # R1.3


class Outcome(StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"  # try again later
    PERMANENT = "permanent"  # trying again cannot help; keep the files until retention ends


class FailureKind(StrEnum):
    """Failures that are not an HTTP answer."""

    CONNECTION = "connection"  # refused, reset, DNS, TLS handshake, closed mid-upload
    TIMEOUT = "timeout"
    REMOTE_IO = "remote-io"  # SFTP server failed to write (disk full, I/O error)
    AUTH = "auth"  # SSH authentication refused: a configuration fault
    REMOTE_PATH = "remote-path"  # SFTP target folder missing or not writable
    LOCAL_FILE = "local-file"  # our ZIP is gone: nothing to send


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    REJECTED = "rejected"  # permanent failure; kept until the retention deadline, then purged
    PURGED = "purged"


_TRANSIENT_4XX = frozenset({408, 429})  # Request Timeout, Too Many Requests


def classify_http_status(status: int) -> Outcome:
    """2xx delivered; 408/429 and 5xx transient; every other answer (4xx, 3xx, 1xx) permanent.

    Redirects are not followed: a signed upload goes to exactly the configured URL.
    """
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in _TRANSIENT_4XX or 500 <= status < 600:
        return Outcome.TRANSIENT
    return Outcome.PERMANENT


def classify_failure(kind: FailureKind) -> Outcome:
    if kind in (FailureKind.CONNECTION, FailureKind.TIMEOUT, FailureKind.REMOTE_IO):
        return Outcome.TRANSIENT
    return Outcome.PERMANENT


def retention_deadline(ended: datetime, retention: timedelta = RETENTION) -> datetime:
    return ended + retention


def is_expired(deadline: datetime, now: datetime) -> bool:
    return now >= deadline


def next_attempt_at(now: datetime, interval: timedelta, deadline: datetime) -> datetime:
    """After a failed burst: try again after ``interval``, never later than the deadline."""
    return min(now + interval, deadline)


class Pace(StrEnum):
    """How hard one worker may push one customer connection right now."""

    PROBE = "probe"  # not proven (new, idle a while, or its backoff is over): one upload at a time
    OPEN = "open"  # its last upload was acknowledged: up to ``per_connection`` at once
    FAILING = "failing"  # an upload to it failed and is in its quick retries: nothing new meanwhile
    BACKOFF = "backoff"  # a burst failed: nothing until its next try time, then one probe


def next_pace(pace: Pace, outcome: Outcome, final: bool) -> Pace:
    """The connection's pace after one attempt; ``final`` is False when quick retries follow it.

    An acknowledgement proves the connection; a transient failure stops new uploads to it (its
    quick retries are the probe), and a failed burst backs the whole connection off. A permanent
    refusal concerns that recording (or a fault nothing but the customer can fix): the pace stays."""
    if outcome is Outcome.DELIVERED:
        return Pace.OPEN
    if outcome is Outcome.TRANSIENT:
        return Pace.BACKOFF if final else Pace.FAILING
    return Pace.PROBE if pace is Pace.FAILING else pace


def connection_width(pace: Pace, retry_at: datetime | None, in_flight: int, now: datetime,
                     per_connection: int) -> int:
    """How many uploads the connection may have in flight now."""
    if pace is Pace.OPEN:
        return per_connection
    if pace is Pace.FAILING and in_flight > 0:
        return 0  # (a FAILING connection with nothing in flight lost its retrying upload: probe again)
    if pace is Pace.BACKOFF and retry_at is not None and now < retry_at:
        return 0
    return 1


@dataclass(frozen=True, slots=True)
class ConnectionLoad(Generic[K]):
    """One connection with due recordings, as the worker sees it when it has free slots."""

    key: K
    oldest_due: datetime  # the try time of its oldest due recording
    pace: Pace = Pace.PROBE
    retry_at: datetime | None = None  # BACKOFF: its next try time
    in_flight: int = 0
    turn: int = -1  # when it was last given a slot (the worker's counter); -1: not lately


@dataclass(frozen=True, slots=True)
class ClaimPlan(Generic[K]):
    take: tuple[tuple[K, int], ...]  # how many due recordings to claim from which connection, in turn order
    defer: tuple[tuple[K, datetime], ...]  # backed-off connections with due recordings: push them to then


def plan_claims(loads: Sequence[ConnectionLoad[K]], free: int, per_connection: int,
                now: datetime) -> ClaimPlan[K]:
    """Share ``free`` upload slots among the connections with due recordings, round-robin.

    Connections take turns, one slot each per round: the one served longest ago first, then the one
    whose oldest recording has waited longest. So a customer with a thousand queued recordings gets
    no more turns than one with a single recording, and a dead or slow one holds at most its width
    (``connection_width``) of the slots, never the others' share."""
    order = sorted(loads, key=lambda c: (c.turn, c.oldest_due))
    room = [max(0, connection_width(c.pace, c.retry_at, c.in_flight, now, per_connection) - c.in_flight)
            for c in order]
    taken: dict[K, int] = {}
    while free > 0 and any(room):
        for i, c in enumerate(order):
            if free == 0:
                break
            if room[i]:
                room[i] -= 1
                taken[c.key] = taken.get(c.key, 0) + 1
                free -= 1
    defer = tuple((c.key, c.retry_at) for c in order
                  if c.pace is Pace.BACKOFF and c.retry_at is not None and now < c.retry_at)
    return ClaimPlan(tuple(taken.items()), defer)


__all__ = [
    "RETENTION",
    "ClaimPlan",
    "ConnectionLoad",
    "DeliveryState",
    "FailureKind",
    "Outcome",
    "Pace",
    "classify_failure",
    "classify_http_status",
    "connection_width",
    "is_expired",
    "next_attempt_at",
    "next_pace",
    "plan_claims",
    "retention_deadline",
]
