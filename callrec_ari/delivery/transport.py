"""What a transport is given, what it answers, how it fails; and choosing one per connection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from callrec_ari.rules.delivery import FailureKind, Outcome, classify_failure, classify_http_status


@dataclass(frozen=True, slots=True)
class Upload:
    call_id: str
    key: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """The customer's acknowledgement: only after this are the platform's files deleted (R1.1)."""

    transport: str
    detail: dict[str, Any]


class DeliveryFailure(Exception):
    """One failed attempt, already classified as transient or permanent."""

    def __init__(self, outcome: Outcome, error_id: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.error_id = error_id
        self.status = status

    @classmethod
    def from_status(cls, status: int, message: str, error_id: str | None = None) -> DeliveryFailure:
        return cls(classify_http_status(status), error_id or f"http-{status}", message, status)

    @classmethod
    def from_kind(cls, kind: FailureKind, message: str) -> DeliveryFailure:
        return cls(classify_failure(kind), str(kind), message)

    @property
    def transient(self) -> bool:
        return self.outcome is Outcome.TRANSIENT


class Transport(Protocol):
    name: str

    async def send(self, upload: Upload) -> Receipt: ...

    async def close(self) -> None: ...


__all__ = ["DeliveryFailure", "Receipt", "Transport", "Upload"]
