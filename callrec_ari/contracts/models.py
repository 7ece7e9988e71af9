"""Tables: contracts, their subscriber lines and their connections (R1.5, R5, R6).

Lines and connections are never deleted: removal sets ``removed_at`` so past months can still be
invoiced. A number or endpoint may be enrolled again later as a new row; at most one row per number
and per endpoint is enrolled at a time (enforced by the service, checked by the enrollment rules).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callrec_ari.db.base import Base, UTCDateTime
from callrec_ari.db.sealed import SealedText


class Contract(Base):
    """A corporate customer: one holder name for all its lines (R5.1)."""

    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder_name: Mapped[str] = mapped_column(String(200))
    reseller: Mapped[bool] = mapped_column(Boolean, default=False)  # R5.3: enrolls nothing when set
    omit_notice: Mapped[bool] = mapped_column(Boolean, default=False)  # R2.3
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)  # R5.5
    suspended_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # When the contract ends (docs/privacy.md): from then its lines record nothing; the daily close
    # removes them (charged to that date), and its connections once nothing of it waits for delivery.
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Its file copies: "mono" (both parties mixed) or "stereo" (its line's party left, the other right).
    audio_channels: Mapped[str] = mapped_column(String(8), default="mono", server_default=text("'mono'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    lines: Mapped[list[Line]] = relationship(back_populates="contract", order_by="Line.id")
    connections: Mapped[list[Connection]] = relationship(back_populates="contract", order_by="Connection.id")


class Line(Base):
    """A subscriber line (a contracted mobile phone) and its recording state."""

    __tablename__ = "lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    number: Mapped[str] = mapped_column(String(20), index=True)
    endpoint: Mapped[str] = mapped_column(String(80), index=True)  # its SIP endpoint in Asterisk
    holder_name: Mapped[str] = mapped_column(String(200))
    services: Mapped[list[str]] = mapped_column(JSON, default=list)  # canonical ids (rules.enrollment)
    recording_started: Mapped[bool] = mapped_column(Boolean, default=False)  # R3.1, R4.1
    consent: Mapped[bool] = mapped_column(Boolean, default=False)  # R5.4
    notice: Mapped[str | None] = mapped_column(String(200), default=None)  # None: the default notice
    # The line withholds its number by default; 186 shows it for one call, 184 withholds it.
    withhold_caller_id: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    audio_channels: Mapped[str | None] = mapped_column(String(8), default=None)  # None: the contract's
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)  # R5.5
    suspended_reason: Mapped[str | None] = mapped_column(Text, default=None)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    contract: Mapped[Contract] = relationship(back_populates="lines")

    __table_args__ = (
        Index("ix_lines_contract_period", "contract_id", "enrolled_at", "removed_at"),
        # At most one enrolled line per number and per endpoint, even under concurrent enrollment.
        Index("uq_lines_enrolled_number", "number", unique=True,
              sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL")),
        Index("uq_lines_enrolled_endpoint", "endpoint", unique=True,
              sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL")),
    )


class Connection(Base):
    """A network link to the customer equipment and its delivery type (R1.5)."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # "file" (R1.1) or "stream" (R1.4)
    endpoint: Mapped[str] = mapped_column(Text)  # where the customer equipment listens (URL)
    # Shared signing secret: the platform must read it to sign, so it is stored sealed with a key the
    # database does not hold (db/sealed.py; as given when no key is set: the demo, the tests).
    secret: Mapped[str] = mapped_column(SealedText())
    # Also sign with the legacy X-Callrec-Signature, beside Standard Webhooks (docs/delivery-protocol.md):
    # on for the receivers that have not moved yet; the customer turns it off once theirs has.
    legacy_signature: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # file: an age public key (age1…); each copy is then encrypted to it as it is packaged
    # (delivery/sealing.py): nothing readable waits in the queue. None: ZIPs as they are.
    age_recipient: Mapped[str | None] = mapped_column(Text, default=None)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    contract: Mapped[Contract] = relationship(back_populates="connections")


CONNECTION_TYPES = ("file", "stream")

__all__ = ["CONNECTION_TYPES", "Connection", "Contract", "Line"]
