"""A carried call whose segment roll races its hangup (calls/carried.py ``_roll``, ``_end``).

Seen in `make test`'s soak smoke: the app asked MixMonitor for segment 2 over the manager; the
dialplan's end event came while that request was out; the answer came after the end had counted the
call's live recorders. Segment 2 was then counted as started, handed over with the call, and its file,
which MixMonitor never wrote (its leg went before a frame), was "not found for delivery": the
whole call, segment 1 too, stayed undelivered.

The dialplan's events are those recorded from the real Asterisk 22 (tests/transcripts/
carried-talk.jsonl); Asterisk's manager is a stand-in that holds its answer to ``MixMonitor`` until
the test lets it go, as a loaded Asterisk does."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any, cast

import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.calls.carried import CarriedCalls, CarrySettings
from callrec_ari.calls.journal import CallJournal, JournalEntry
from callrec_ari.media import mixmonitor
from callrec_ari.model.call import FinishedCall, RecordedSegment
from callrec_ari.rules.segments import segment_name
from tests.unit.test_carried_end_asks_nothing import close_wav, open_wav
from tests.unit.test_carry import at, plan, said


class SlowManager:
    """Answers ``MixMonitor`` once ``release`` is set; what it was asked is kept."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.release = asyncio.Event()

    async def action(self, action: str, **headers: str) -> dict[str, Any]:
        self.asked.append(action)
        if action == "MixMonitor":
            await self.release.wait()
            return {"Response": "Success", "MixMonitorID": "0x55d0"}
        return {"Response": "Success"}


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mixmonitor, "CLOSE_WAIT_S", 0.3)  # a missing file is looked for this long
    monkeypatch.setattr(mixmonitor, "LATE_FILE_S", 0.05)


async def test_a_roll_answered_after_the_end_is_void_and_the_call_keeps_its_first_segment(
        tmp_path: Path) -> None:
    events = said("talk")
    talking, ended = events[0], events[-1]
    finished: list[FinishedCall] = []

    async def finish(call: FinishedCall) -> None:
        finished.append(call)

    manager = SlowManager()
    calls = CarriedCalls(cast(AriClient, None), manager,  # type: ignore[arg-type]
                         CarrySettings(folder=tmp_path, roll_seconds=1e9), finish)
    call = calls._follow(plan(call_id=ended.call_id), "1796524568.2", at("1796524568.0"))
    first = segment_name("callrec", ended.call_id, 1)
    call.segments.append(RecordedSegment(first, 1))
    wav = open_wav(tmp_path, first)  # MixMonitor's file of segment 1, still open
    await calls._on_event(call, talking)
    assert call.segments[0].live
    if call.roll is not None:
        call.roll.cancel()

    roll = asyncio.create_task(calls._roll(call))  # segment 2 asked for; Asterisk slow to answer
    for _ in range(50):
        if manager.asked:
            break
        await asyncio.sleep(0.01)
    assert manager.asked == ["MixMonitor"]
    end = asyncio.create_task(calls._on_event(call, ended))  # the caller hung up meanwhile
    await asyncio.sleep(0.05)
    manager.release.set()  # MixMonitor attached to a leg already going: it writes no file
    await asyncio.sleep(0.05)
    close_wav(wav)  # segment 1's recorder closes its file as its leg goes
    await asyncio.wait_for(asyncio.gather(roll, end), 5)

    assert len(finished) == 1
    assert [s.name for s in finished[0].segments] == [first]  # delivered with what it has
    assert not finished[0].recording_failed
    assert not (tmp_path / f"{segment_name('callrec', ended.call_id, 2)}.wav").exists()
    assert call.roll is None or call.roll.cancelled()  # no roll after the end


class HeldJournal(CallJournal):
    """The real call journal, whose writes are held while ``hold`` is set (a disk slow for a moment)."""

    hold = False

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.held: list[concurrent.futures.Future[None]] = []

    def write(self, entry: JournalEntry) -> concurrent.futures.Future[None]:
        if not self.hold:
            return super().write(entry)
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.held.append(done)
        return done


async def test_a_roll_whose_journal_write_outlasts_the_call_starts_no_recorder(tmp_path: Path) -> None:
    """The roll writes its new segment to the journal before it asks for the recorder; the call ends
    during that write. The end has counted the live recorders without the new one, so the roll asks
    for nothing: a recorder started then would be counted after the end, with no file."""
    events = said("talk")
    talking, ended = events[0], events[-1]
    finished: list[FinishedCall] = []

    async def finish(call: FinishedCall) -> None:
        finished.append(call)

    manager, journal = SlowManager(), HeldJournal(tmp_path / "journal")
    manager.release.set()  # Asterisk would answer at once
    calls = CarriedCalls(cast(AriClient, None), manager,  # type: ignore[arg-type]
                         CarrySettings(folder=tmp_path, roll_seconds=1e9), finish, journal)
    call = calls._follow(plan(call_id=ended.call_id), "1796524568.2", at("1796524568.0"))
    first = segment_name("callrec", ended.call_id, 1)
    call.segments.append(RecordedSegment(first, 1))
    wav = open_wav(tmp_path, first)
    await calls._on_event(call, talking)
    if call.roll is not None:
        call.roll.cancel()

    journal.hold = True
    roll = asyncio.create_task(calls._roll(call))
    for _ in range(50):
        if journal.held:
            break
        await asyncio.sleep(0.01)
    assert len(journal.held) == 1  # segment 2 being written down
    end = asyncio.create_task(calls._on_event(call, ended))
    await asyncio.sleep(0.05)
    journal.held[0].set_result(None)
    await asyncio.sleep(0.05)
    close_wav(wav)
    await asyncio.wait_for(asyncio.gather(roll, end), 5)

    assert manager.asked == []  # no recorder asked for after the end
    assert len(finished) == 1 and [s.name for s in finished[0].segments] == [first]
    journal.flush()
    assert journal.load_all() == []  # handed over: nothing left for a restart to finish
