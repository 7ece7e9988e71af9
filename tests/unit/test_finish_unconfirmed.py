"""What a recorder wrote for a call that delivers nothing is not left behind (app/finish.py). `make
soak` found WAVs left in Asterisk's recording folder for calls whose app was killed just as their
recording started: the restarted app never heard the start, adopted the call (its caller gone) and
ended it, with nothing to deliver and the file forgotten."""

from __future__ import annotations

import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callrec_ari.app.finish import CallFinisher
from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.config import Config
from callrec_ari.model.call import CallTimes, FinishedCall, RecordedSegment
from callrec_ari.model.plan import CallPlan, Recipient

NOW = datetime(2026, 12, 2, 14, 28, 15, tzinfo=UTC)


def written(recordings: Path, name: str) -> Path:
    path = recordings / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\1\0" * 800)
    return path


def plan(call_id: str, record: bool = True) -> CallPlan:
    return CallPlan(call_id=call_id, direction="outgoing", caller_number="09000001001",
                    callee_number="0312345678", line="1001", callee_endpoint="PJSIP/0312345678@carrier",
                    record=record, reason="recorded" if record else "excluded-1xx",
                    recipients=(Recipient("09000001001", contract="1"),))


async def test_a_file_whose_start_was_never_heard_is_removed_when_nothing_is_delivered(
        tmp_path: Path) -> None:
    recordings = tmp_path / "recording"
    call_a, call_b = "20261202T142754-b24ef5ab88ffc05c", "20261202T142754-45c02c9cd906a4b9"
    # A: adopted while connecting, its caller gone: ended before the notice, nothing to deliver.
    left = written(recordings, f"callrec/{call_a}/{call_a}-001")
    a = FinishedCall(plan=plan(call_a), times=CallTimes(started=NOW - timedelta(seconds=20),
                                                       answered=NOW - timedelta(seconds=18), ended=NOW),
                     end_cause=41, hangup_by="app",
                     unconfirmed=(RecordedSegment(f"callrec/{call_a}/{call_a}-001", 1),))
    # B (another customer's call): delivered as usual; its files are none of this test's business.
    kept = written(recordings, f"callrec/{call_b}/{call_b}-001")
    ari = AriClient(AriSettings("http://127.0.0.1:9/ari", "callrec", "callrec"))
    try:
        finisher = CallFinisher(Config(asterisk_recording_dir=str(recordings)), ari, None, None, tmp_path)
        await finisher(a)
    finally:
        await ari.close()
    assert not left.exists()
    assert kept.exists()
    assert a.file_copies == () and a.recorded  # (the rules said record; nothing was there to deliver)
