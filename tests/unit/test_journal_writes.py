"""The call journal writes off the event loop, in order (calls/journal.py): a removal asked for after
a write is never undone by it, the last write wins, a disk error is logged, not raised into the call,
and an entry is written over in one piece that a killed process cannot tear."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callrec_ari.calls.journal import IN_PLACE_MAX, CallJournal, JournalEntry
from callrec_ari.model.call import CallTimes, RecordedSegment
from callrec_ari.model.plan import CallPlan, Recipient

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


def test_an_entry_is_written_over_in_place_and_a_shorter_one_reads_back_as_itself(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "active")
    journal.write(entry("talking", segments=8))
    journal.flush()
    file = tmp_path / "active" / "c1.json"
    inode, long = file.stat().st_ino, file.stat().st_size
    journal.write(entry("ending", segments=1))
    journal.flush()
    (loaded,) = journal.load_all()
    assert loaded.state == "ending" and len(loaded.segments) == 1
    # Written over, not replaced by a new file; padded to what was there (a shorter write would have
    # left the longer entry's tail behind it).
    assert file.stat().st_ino == inode and file.stat().st_size == long
    assert not list((tmp_path / "active").glob("*.part"))


def test_an_entry_past_a_page_is_replaced_whole_and_reads_back(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "active")
    big = entry("talking", segments=60)
    assert len(big.to_json()) > IN_PLACE_MAX
    journal.write(entry("talking", segments=1))
    journal.write(big)
    journal.flush()
    (loaded,) = journal.load_all()
    assert len(loaded.segments) == 60
    journal.write(entry("ending", segments=2))  # shorter again: padded past a page, so replaced too
    journal.flush()
    (loaded,) = journal.load_all()
    assert loaded.state == "ending" and len(loaded.segments) == 2


def test_an_empty_entry_left_by_a_kill_before_the_first_write_is_cleared(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    journal = CallJournal(tmp_path / "active")
    journal.write(entry("talking"))
    journal.flush()
    (tmp_path / "active" / "c2.json").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        assert [e.call_id for e in journal.load_all()] == ["c1"]
    assert not (tmp_path / "active" / "c2.json").exists()
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


WRITER = """
import sys
from pathlib import Path
from tests.unit.test_journal_writes import entry
from callrec_ari.calls.journal import CallJournal
journal = CallJournal(Path(sys.argv[1]))
journal.write(entry("talking", segments=0)); journal.flush()
print("ready", flush=True)
i = 0
while True:
    i += 1
    journal.write(entry("talking", segments=(i * 7) % 13)); journal.flush()
"""


def test_a_process_killed_while_writing_leaves_a_whole_entry(tmp_path: Path) -> None:
    """SIGKILL at random moments of a writer alternating long and short entries: the file always
    reads back as one whole entry (the old one or the new one)."""
    folder = tmp_path / "active"
    for attempt in range(12):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE,
                                  cwd=Path(__file__).parents[2])
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
        time.sleep(0.01 + random.random() * 0.05)
        writer.kill()
        writer.wait()
        text = (folder / "c1.json").read_text()
        loaded = JournalEntry.from_json(text)  # raises if torn
        assert loaded.state == "talking" and len(loaded.segments) < 13, attempt


def test_the_plan_is_encoded_as_asdict_encoded_it_two_customers_recipients_included() -> None:
    """The journal encodes the plan with its own dataclass fallback instead of ``asdict`` (a deep copy
    of every value): the text must be the very same, so that entries written before read back."""
    plan = replace(
        PLAN, call_id="c2", to_caller=("sound:callrec/notice-ja", "sound:beep"), to_callee=("sound:beep",),
        recipients=(Recipient("09000001001", contract="K-1", connection_id=7, channels="stereo"),
                    Recipient("09000002002", delivery="stream", contract="K-2",
                              stream_endpoint="wss://b.example/s", stream_secret="s" * 20, side="callee")))
    entry_ = JournalEntry(plan=plan, state="talking", caller_id="chan-1", callee_id="c2-callee",
                          bridge_id="c2", times=CallTimes(started=datetime(2026, 12, 2, tzinfo=UTC)),
                          segments=())
    text = entry_.to_json()
    assert text.startswith('{"plan": ' + json.dumps(asdict(plan), default=str) + ", ")
    again = JournalEntry.from_json(text)
    assert again.plan == plan
    assert [(r.contract, r.delivery) for r in again.plan.recipients] == [("K-1", "file"), ("K-2", "stream")]
