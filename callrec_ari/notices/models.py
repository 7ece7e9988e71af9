"""Table: customer-uploaded notices waiting for (or done with) the operator's decision (R2.7).

The converted audio (8 kHz 16-bit mono WAV, at most a few hundred KB) lives in the row, so a pending
notice needs no shared disk; only an approved one is written where Asterisk plays it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callrec_ari.contracts.models import Contract  # noqa: F401  (the foreign key's table)
from callrec_ari.db.base import Base, UTCDateTime

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
UPLOAD_STATES = (PENDING, APPROVED, REJECTED)


class NoticeUpload(Base):
    __tablename__ = "notice_uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    original_name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # one of UPLOAD_STATES
    numbers: Mapped[list[str]] = mapped_column(JSON, default=list)  # lines that get it once approved
    duration_ms: Mapped[int] = mapped_column(Integer)
    audio: Mapped[bytes] = mapped_column(LargeBinary)  # converted: 8 kHz, 16-bit, mono WAV
    sha256: Mapped[str] = mapped_column(String(64))
    sound: Mapped[str | None] = mapped_column(String(200), default=None)  # "callrec/custom/<name>"
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(128), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    decision_reason: Mapped[str | None] = mapped_column(Text, default=None)


__all__ = ["APPROVED", "PENDING", "REJECTED", "UPLOAD_STATES", "NoticeUpload"]
