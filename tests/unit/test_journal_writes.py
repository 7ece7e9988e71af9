"""The call journal writes off the event loop, in order (calls/journal.py): a removal asked for after
a write is never undone by it, the last write wins, and a disk error is logged, not raised into the
call."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callrec_ari.calls.journal import CallJournal, JournalEntry
from callrec_ari.model.call import CallTimes, RecordedSegment
from callrec_ari.model.plan import CallPlan

PLAN = CallPlan(call_id="c1", direction="outgoing", caller_number="09000001001", callee_number="0312345678",
                line="1001", callee_endpoint="PJSIP/0312345678@carrier", record=True, reason="recorded")


def entry(state: str, segments: int = 0) -> JournalEntry:
    recorded = tuple(RecordedSegment(f"callrec/c1/c1-{i:03d}", i) for i in range(1, segments + 1))
    return JournalEntry(plan=PLAN, state=state, caller_id="chan-1", callee_id="c1-callee", bridge_id="c1",
                        times=CallTimes(started=datetime(2026, 12, 2, tzinfo=UTC)), segments=recorded)


def test_the_last_write_wins_and_a_removal_is_never_undone_by_an_earlier_write(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "active")
    for i in range(50):
        journal.write(entry("talking", segments=i))
    journal.flush()
    (loaded,) = journal.load_all()
    assert len(loaded.segments) == 49
    for i in range(50):
        journal.write(entry("talking", segments=i))
    journal.remove("c1")
    journal.flush()
    assert journal.load_all() == [] and not list((tmp_path / "active").iterdir())


def test_a_disk_error_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "active"
    blocker.write_text("a file where the folder should be")
    journal = CallJournal(blocker)
    with caplog.at_level(logging.ERROR):
        journal.write(entry("talking"))  # does not raise
        journal.flush()
    assert any("journal c1 not written" in r.getMessage() for r in caplog.records)
