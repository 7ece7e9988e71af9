"""Uploaded notices (R2.7): the customer uploads a WAV for some of its lines; the operator approves it
(it plays from the next call) or rejects it. Each change is audited; the caller commits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from callrec_ari.notices import service as notices
from callrec_ari.notices.audio import AudioLimits
from callrec_ari.notices.models import NoticeUpload
from callrec_ari.portal import audit
from callrec_ari.portal.tenancy import Scope


def upload_notice(
    session: Session,
    scope: Scope,
    data: bytes,
    *,
    label: str,
    filename: str,
    numbers: Sequence[str],
    limits: AudioLimits,
) -> NoticeUpload:
    contract_id = scope.require_customer()
    for number in numbers:
        scope.line(session, number)
    row = notices.upload(
        session,
        contract_id,
        data,
        label=label,
        original_name=filename,
        numbers=numbers,
        actor=scope.actor,
        limits=limits,
    )
    audit.record(
        session,
        scope,
        "notice-uploaded",
        contract_id,
        notice=row.id,
        label=row.label,
        numbers=row.numbers,
        duration_ms=row.duration_ms,
    )
    return row


def approve_notice(session: Session, scope: Scope, upload_id: int, notices_dir: Path) -> list[str]:
    scope.require_operator()
    row = scope.notice_upload(session, upload_id)
    changed = notices.approve(session, row, actor=scope.actor, notices_dir=notices_dir)
    audit.record(
        session, scope, "notice-approved", row.contract_id, notice=row.id, sound=row.sound, numbers=changed
    )
    return changed


def reject_notice(session: Session, scope: Scope, upload_id: int, reason: str) -> NoticeUpload:
    scope.require_operator()
    row = scope.notice_upload(session, upload_id)
    notices.reject(session, row, actor=scope.actor, reason=reason)
    audit.record(
        session, scope, "notice-rejected", row.contract_id, reason=reason.strip()[:128], notice=row.id
    )
    return row


__all__ = ["approve_notice", "reject_notice", "upload_notice"]
