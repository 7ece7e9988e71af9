"""Applying the retention policy (rules/privacy.py) to the contracts database: ``callrec privacy
purge``, run daily (deploy/systemd/callrec-privacy.timer). Each run that changes anything leaves one
audit record with what it did and the cut-off dates; running it again changes nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.db.models import AuditRecord
from callrec_ari.rules.privacy import MASK, RetentionPolicy, mask_number, mask_numbers_in

ACTION = "privacy-retention"
BATCH = 500


@dataclass(frozen=True, slots=True)
class RetentionReport:
    records_masked: int
    records_removed: int
    audit_masked: int
    numbers_cutoff: datetime
    records_cutoff: datetime

    def to_json(self) -> dict[str, Any]:
        return {"records_masked": self.records_masked, "records_removed": self.records_removed,
                "audit_masked": self.audit_masked, "numbers_cutoff": self.numbers_cutoff.isoformat(),
                "records_cutoff": self.records_cutoff.isoformat()}


def apply_retention(session: Session, policy: RetentionPolicy, now: datetime, actor: str,
                    dry_run: bool = False) -> RetentionReport:
    policy.check()
    numbers_before, records_before = policy.numbers_cutoff(now), policy.records_cutoff(now)
    removed = len(session.scalars(select(CallRecord.id).where(CallRecord.ended_at < records_before)).all())
    if not dry_run and removed:
        session.execute(delete(CallRecord).where(CallRecord.ended_at < records_before))
    masked = 0
    rows = session.scalars(select(CallRecord).where(
        CallRecord.ended_at < numbers_before,
        CallRecord.ended_at >= records_before,  # those go (a dry run counts them once)
        ~(CallRecord.caller.contains(MASK) & CallRecord.callee.contains(MASK)),
    ).execution_options(yield_per=BATCH))
    for row in rows:
        caller, callee = mask_number(row.caller), mask_number(row.callee)
        if (caller, callee) == (row.caller, row.callee):
            continue  # empty (withheld) and masked: nothing to do
        masked += 1
        if not dry_run:
            row.caller, row.callee = caller, callee
            row.detail = mask_numbers_in(row.detail) if row.detail else row.detail
    audit_masked = 0
    for record in session.scalars(select(AuditRecord).where(AuditRecord.at < numbers_before,
                                                            AuditRecord.action != ACTION)):
        details = mask_numbers_in(record.details)
        subject = mask_numbers_in(record.subject)
        if details != record.details or subject != record.subject:
            audit_masked += 1
            if not dry_run:
                record.details, record.subject = details, subject
    report = RetentionReport(masked, removed, audit_masked, numbers_before, records_before)
    if not dry_run and (masked or removed or audit_masked):
        session.add(AuditRecord(at=now, actor=actor, action=ACTION, subject="call-records",
                                reason="retention-policy", details=report.to_json()))
    session.flush()
    return report


__all__ = ["ACTION", "RetentionReport", "apply_retention"]
