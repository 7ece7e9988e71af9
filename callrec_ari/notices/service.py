"""Uploaded notices: store pending, approve (write where Asterisk plays it, set the lines), reject (R2.7).

Functions flush, never commit: the caller owns the transaction. The operator's approval writes the
file before the database changes, so a line never names a sound Asterisk does not have.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from callrec_ari.contracts.models import Line
from callrec_ari.notices.audio import AudioLimits, prepare_notice
from callrec_ari.notices.models import APPROVED, PENDING, REJECTED, NoticeUpload

SAMPLE_NOTICES = ("callrec/notice-en", "callrec/notice-ja")  # shipped in callrec_ari/sounds/ (R2.7 "samples")
CUSTOM_PREFIX = "callrec/custom/"
_LABEL = re.compile(r"^[\w .,()'-]{1,100}$")


class NoticeError(ValueError):
    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


def sound_name(upload: NoticeUpload) -> str:
    return f"{CUSTOM_PREFIX}c{upload.contract_id}-n{upload.id}"


def choices(session: Session, contract_id: int) -> list[str]:
    """The notices a contract's lines may use: the samples and its own approved uploads."""
    own = session.scalars(
        select(NoticeUpload.sound)
        .where(NoticeUpload.contract_id == contract_id, NoticeUpload.state == APPROVED)
        .order_by(NoticeUpload.id)
    )
    return [*SAMPLE_NOTICES, *(s for s in own if s)]


def _enrolled_numbers(session: Session, contract_id: int) -> set[str]:
    return set(
        session.scalars(select(Line.number).where(Line.contract_id == contract_id, Line.removed_at.is_(None)))
    )


def upload(
    session: Session,
    contract_id: int,
    data: bytes,
    *,
    label: str,
    original_name: str,
    numbers: Sequence[str],
    actor: str,
    limits: AudioLimits,
    now: datetime | None = None,
) -> NoticeUpload:
    """Validate and convert; the new row waits for the operator. Raises NoticeAudioError/NoticeError."""
    label = label.strip()
    if not _LABEL.match(label):
        raise NoticeError(
            "notice-label-invalid", "give the notice a name: 1-100 letters, digits, spaces or . , ( ) ' -"
        )
    unknown = sorted(set(numbers) - _enrolled_numbers(session, contract_id))
    if unknown:
        raise NoticeError("line-not-found", f"no such line in this contract: {', '.join(unknown)}")
    converted, info = prepare_notice(data, limits)
    row = NoticeUpload(
        contract_id=contract_id,
        label=label,
        original_name=original_name[:200] or "upload.wav",
        state=PENDING,
        numbers=sorted(set(numbers)),
        duration_ms=round(info.seconds * 1000),
        audio=converted,
        sha256=hashlib.sha256(converted).hexdigest(),
        uploaded_by=actor,
        uploaded_at=now or datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row


def _pending(upload_row: NoticeUpload) -> None:
    if upload_row.state != PENDING:
        raise NoticeError("notice-not-pending", f"notice {upload_row.id} is already {upload_row.state}")


def write_sound(notices_dir: Path, name: str, audio: bytes) -> Path:
    """Atomically place ``<name>.wav`` where Asterisk reads ``callrec/custom/<name>``."""
    notices_dir.mkdir(parents=True, exist_ok=True)
    final = notices_dir / f"{name}.wav"
    part = final.with_name(final.name + ".part")
    with part.open("wb") as fh:
        fh.write(audio)
        fh.flush()
        os.fsync(fh.fileno())
    part.chmod(0o644)  # Asterisk runs as its own user
    os.replace(part, final)
    return final


def approve(
    session: Session, upload_row: NoticeUpload, *, actor: str, notices_dir: Path, now: datetime | None = None
) -> list[str]:
    """Activate: the file goes live, then the chosen lines name it. Returns the numbers changed."""
    _pending(upload_row)
    upload_row.sound = sound_name(upload_row)
    write_sound(notices_dir, upload_row.sound.removeprefix(CUSTOM_PREFIX), upload_row.audio)
    upload_row.state, upload_row.decided_by = APPROVED, actor
    upload_row.decided_at = now or datetime.now(UTC)
    lines = session.scalars(
        select(Line).where(
            Line.contract_id == upload_row.contract_id,
            Line.removed_at.is_(None),
            Line.number.in_(upload_row.numbers or [""]),
        )
    ).all()
    for line in lines:
        line.notice = upload_row.sound
    session.flush()
    return sorted(line.number for line in lines)


def reject(
    session: Session, upload_row: NoticeUpload, *, actor: str, reason: str, now: datetime | None = None
) -> None:
    _pending(upload_row)
    if not reason.strip():
        raise NoticeError("reason-missing", "say why the notice is rejected")
    upload_row.state, upload_row.decided_by = REJECTED, actor
    upload_row.decided_at, upload_row.decision_reason = now or datetime.now(UTC), reason.strip()[:1000]
    session.flush()


__all__ = [
    "CUSTOM_PREFIX",
    "SAMPLE_NOTICES",
    "NoticeError",
    "approve",
    "choices",
    "reject",
    "sound_name",
    "upload",
    "write_sound",
]
