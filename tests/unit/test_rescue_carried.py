"""`callrec cluster recover` (app/rescue.py) finalizes a lost node's carried calls as a restarted node
does (calls/carried.py ``finalized``): a first segment whose start the node died before hearing is
still the file Asterisk wrote, not a recording to discard.

Seen once under load in tests/integration/test_cluster.py: the node's app was starved, so it never
heard the answer of a call it had handed to the dialplan, and the node was killed 4 s later. The
recovery then found a journal entry whose first segment had no start. It took that segment for one
that never started and deleted its file, so nothing reached the customer.
"""

from __future__ import annotations

import asyncio
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callrec_ari.app.rescue import rescue_node
from callrec_ari.calls.carried_state import STATE as CARRIED
from callrec_ari.calls.journal import CallJournal, JournalEntry
from callrec_ari.config import Config
from callrec_ari.model.call import CallTimes, RecordedSegment
from callrec_ari.model.plan import CallPlan, Recipient

A = Recipient("09000001001", "file", contract="7", connection_id=31)
B = Recipient("09000001002", "file", contract="9", connection_id=44)


def _entry(call_id: str, state: str = CARRIED) -> JournalEntry:
    plan = CallPlan(call_id=call_id, direction="outgoing", caller_number=A.line, callee_number=B.line,
                    line="1001", callee_endpoint="PJSIP/1002", record=True, reason="recorded",
                    recipients=(A, B))
    # Handed to the dialplan, and nothing heard since: no answer, the first segment's start unknown.
    return JournalEntry(plan=plan, state=state, caller_id=f"{call_id}-caller", callee_id="", bridge_id="",
                        times=CallTimes(started=datetime.now(UTC) - timedelta(seconds=12)),
                        segments=(RecordedSegment(f"callrec/{call_id}/{call_id}-001", 1),))


def _wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * int(8000 * seconds))


def test_a_carried_call_whose_answer_the_node_never_heard_keeps_its_recording(tmp_path: Path) -> None:
    spool, recordings = tmp_path / "spool", tmp_path / "recording"
    journal = CallJournal(spool / "active")
    for call_id in ("heard-file", "no-file"):
        journal.write(_entry(call_id)).result()
    kept = recordings / "callrec/heard-file/heard-file-001.wav"
    _wav(kept, 6.0)  # what Asterisk wrote before the node died
    config = Config(asterisk_recording_dir=str(recordings))

    rescued = {r.call_id: r for r in asyncio.run(rescue_node(config, spool, None, None))}

    # Its file is its first segment: it starts where the file says (its last write less 6 s of audio).
    assert rescued["heard-file"].segments == 1
    assert kept.exists()
    written = datetime.fromtimestamp(kept.stat().st_mtime, UTC)
    assert abs((rescued["heard-file"].ended - written).total_seconds()) < 0.01
    # A segment with no file never started: nothing to keep (as before).
    assert rescued["no-file"].segments == 0


def test_a_call_the_app_recorded_itself_is_rescued_as_before(tmp_path: Path) -> None:
    """Only a carried call's unheard first segment is read from its file. When the app records a call
    itself, its notice waits for the recorder's RecordingStarted (calls/steps.py). So if that segment's
    start was never heard, the parties heard no notice, and nothing of the call is kept (R2.1), as
    before."""
    spool, recordings = tmp_path / "spool", tmp_path / "recording"
    CallJournal(spool / "active").write(_entry("app-call", state="talking")).result()
    _wav(recordings / "callrec/app-call/app-call-001.wav", 6.0)
    rescued = asyncio.run(rescue_node(Config(asterisk_recording_dir=str(recordings)), spool, None, None))
    assert [(r.call_id, r.segments) for r in rescued] == [("app-call", 0)]
