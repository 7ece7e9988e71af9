"""Pure delivery rules: retry classification, retention deadline, when to try again (R1.1, R1.3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

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


__all__ = [
    "RETENTION",
    "DeliveryState",
    "FailureKind",
    "Outcome",
    "classify_failure",
    "classify_http_status",
    "is_expired",
    "next_attempt_at",
    "retention_deadline",
]
