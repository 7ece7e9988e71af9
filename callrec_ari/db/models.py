"""Tables: the delivery queue, its attempts, and the audit log (shared by every capability)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callrec_ari.db.base import Base, UTCDateTime


class Delivery(Base):
    """One packaged call waiting for (or done with) delivery to the customer equipment."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), index=True)  # a call has one copy per contract
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)  # one per copy
    node: Mapped[str] = mapped_column(String(128))  # whose spool holds the files
    connection: Mapped[str] = mapped_column(String(64))  # a name for people: "contract 7 connection 3"
    # The copy's owner (None: a single-tenant setup, lines from the config file, [delivery.connection]).
    contract: Mapped[str | None] = mapped_column(String(64), default=None)
    connection_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    state: Mapped[str] = mapped_column(String(16))  # rules.delivery.DeliveryState
    zip_path: Mapped[str] = mapped_column(Text)
    zip_size: Mapped[int] = mapped_column(BigInteger)
    zip_sha256: Mapped[str] = mapped_column(String(64))
    wav_paths: Mapped[list[str]] = mapped_column(JSON)
    call_ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # R1.3 deadline
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    files_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    attempts: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="delivery", order_by="DeliveryAttempt.id", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_deliveries_due", "node", "state", "next_attempt_at"),)


class DeliveryAttempt(Base):
    """Every try, written before the upload starts and finished after: a SIGKILL leaves it open."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)  # Outcome or "interrupted"
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error_id: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)

    delivery: Mapped[Delivery] = relationship(back_populates="attempts")


class AuditRecord(Base):
    """Append-only: what the platform did to customer data and why (deletions above all)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128))  # e.g. "delivery-worker@node1"
    action: Mapped[str] = mapped_column(String(64))  # e.g. "recording-purged"
    subject: Mapped[str] = mapped_column(String(128), index=True)  # e.g. the call id
    reason: Mapped[str] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


__all__ = ["AuditRecord", "Delivery", "DeliveryAttempt"]
