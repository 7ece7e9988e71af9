"""Retention of call records and the audit log (issue 16; rules/privacy.py, docs/privacy.md): two
contracts' records of different ages; old numbers masked (records and audit details), older records
removed, recent ones untouched, one audit record per run, a second run changes nothing; the command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.cli import main
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.contracts.privacy import ACTION, apply_retention
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import AuditRecord
from callrec_ari.rules.privacy import RetentionPolicy, mask_number, mask_numbers_in

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy(numbers_days=90, records_days=365)


def test_masking_keeps_the_kind_of_number_and_its_length() -> None:
    assert mask_number("09012345678") == "090********"
    assert mask_number("+819012345678") == "+819*********"
    assert mask_number("") == "" and mask_number("090********") == "090********"
    text = {"number": "09012345678", "note": "line 0312345678 moved", "ids": [42, "c-1"]}
    assert mask_numbers_in(text) == {"number": "090********", "note": "line 031******* moved",
                                     "ids": [42, "c-1"]}


@given(st.text(alphabet="0123456789", min_size=6, max_size=15))
def test_a_masked_number_shows_only_its_prefix(number: str) -> None:
    masked = mask_number(number)
    assert len(masked) == len(number) and masked[:3] == number[:3] and set(masked[3:]) == {"*"}
    assert mask_number(masked) == masked



def add(s: Session, call_id: str, days_ago: int, caller: str, callee: str) -> None:
    ended = NOW - timedelta(days=days_ago)
    s.add(CallRecord(call_id=call_id, line_endpoint=caller[-4:] or "x", direction="outgoing", caller=caller,
                     callee=callee, ended_at=ended, recorded=True, reason="recorded"))
    s.add(AuditRecord(at=ended, actor="delivery-worker@n1", action="recording-delivered", subject=call_id,
                      reason="acknowledged", details={"line": caller, "to": callee, "key": f"{call_id}-c1"}))


def test_old_numbers_are_masked_older_records_removed_and_each_run_audited(
        sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        add(s, "a-recent", 10, "09000001001", "0312345678")  # contract A, this month
        add(s, "b-recent", 30, "09000001002", "08011112222")  # contract B
        add(s, "a-old", 120, "09000001001", "0312345678")  # past the numbers period
        add(s, "b-withheld", 200, "", "09000001002")  # a withheld caller, past it too
        add(s, "a-ancient", 400, "09000001001", "0312345678")  # past the records period
    with sessions.begin() as s:
        report = apply_retention(s, POLICY, NOW, "test")
    assert (report.records_masked, report.records_removed) == (2, 1)
    with sessions() as s:
        rows = {r.call_id: (r.caller, r.callee) for r in s.scalars(select(CallRecord))}
        others = select(AuditRecord).where(AuditRecord.action != ACTION)
        audit = {r.subject: r.details for r in s.scalars(others)}
        runs = list(s.scalars(select(AuditRecord).where(AuditRecord.action == ACTION)))
    assert rows == {"a-recent": ("09000001001", "0312345678"), "b-recent": ("09000001002", "08011112222"),
                    "a-old": ("090********", "031*******"), "b-withheld": ("", "090********")}
    # audit records stay (they prove what was done), their numbers masked past the period
    assert audit["a-recent"]["line"] == "09000001001" and audit["a-old"]["line"] == "090********"
    assert audit["a-ancient"]["to"] == "031*******" and audit["a-old"]["key"] == "a-old-c1"
    assert len(runs) == 1 and runs[0].details["records_removed"] == 1 and runs[0].actor == "test"
    assert "09000001001" not in json.dumps(runs[0].details)
    # a second run finds nothing more to do and writes no audit record
    with sessions.begin() as s:
        again = apply_retention(s, POLICY, NOW, "test")
    assert (again.records_masked, again.records_removed, again.audit_masked) == (0, 0, 0)
    with sessions() as s:
        assert len(list(s.scalars(select(AuditRecord).where(AuditRecord.action == ACTION)))) == 1


def test_a_dry_run_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        add(s, "old", 120, "09000001001", "0312345678")
        add(s, "ancient", 400, "09000001001", "0312345678")
    with sessions.begin() as s:
        report = apply_retention(s, POLICY, NOW, "test", dry_run=True)
    assert (report.records_masked, report.records_removed) == (1, 1)
    with sessions() as s:
        assert sorted(r.caller for r in s.scalars(select(CallRecord))) == ["09000001001", "09000001001"]
        assert not list(s.scalars(select(AuditRecord).where(AuditRecord.action == ACTION)))


def test_the_command_reads_its_policy_and_refuses_a_bad_one(fresh_db_url: str, tmp_path: object,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    upgrade(fresh_db_url)
    monkeypatch.setenv("CALLREC_DATABASE_URL", fresh_db_url)
    monkeypatch.delenv("CALLREC_CONFIG", raising=False)
    monkeypatch.setenv("CALLREC_PRIVACY_NUMBERS_DAYS", "30")
    assert main(["privacy", "purge", "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dry_run"] is True and out["records_masked"] == 0
    monkeypatch.setenv("CALLREC_PRIVACY_RECORDS_DAYS", "10")  # shorter than the numbers period
    assert main(["privacy", "purge"]) == 2
    assert "records_days" in capsys.readouterr().err
