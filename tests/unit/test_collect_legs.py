"""A per-leg call's callee leg is packaged only once Asterisk has closed it (recording/collect.py).
The call ends when the caller's leg recording has finished; `make bench` under load found the callee's
still being written then: packaged too early, its header said fewer frames than its audio, and the
copy failed ("position not in range"), or would have lost its last moments."""

from __future__ import annotations

import asyncio
import struct
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.model.call import RecordedSegment
from callrec_ari.recording.collect import collect_segments
from callrec_ari.rules.segments import callee_leg_name
from tests.support.fake_ari import FakeAri

CALL = "20261202T141442-27002a9660e339bb"
NAME = f"callrec/{CALL}/{CALL}-001"


def wav(path: Path, frames: int, header_frames: int) -> None:
    """16-bit mono 8 kHz; the header says ``header_frames`` (what Asterisk wrote before closing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = header_frames * 2
    header = (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", data))
    path.write_bytes(header + b"\x01\x00" * frames)


async def test_the_callee_leg_is_taken_once_asterisk_has_closed_it(tmp_path: Path) -> None:
    recordings = tmp_path / "recording"
    wav(recordings / f"{NAME}.wav", 8000, 8000)
    callee = recordings / f"{callee_leg_name(NAME)}.wav"
    wav(callee, 4000, 0)  # still being written: its header not written yet
    live = f"/recordings/live/{quote(callee_leg_name(NAME), safe='')}"
    async with FakeAri() as fake:
        fake.reply("GET", live, json={"name": callee_leg_name(NAME), "state": "recording"})
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))

        async def asterisk_closes_it() -> None:
            await asyncio.sleep(0.35)
            wav(callee, 8000, 8000)  # the rest of the audio, and the header, as Asterisk closes it
            fake.reply("GET", live, 404, json={"message": "Recording not found"})

        try:
            closing = asyncio.create_task(asterisk_closes_it())
            segments = (RecordedSegment(NAME, 1, datetime(2026, 12, 2, 14, 14, 50, tzinfo=UTC)),)
            files = await collect_segments(segments, "wav", str(recordings), tmp_path / "spool", ari,
                                           per_leg=True)
            await closing
        finally:
            await ari.close()
    assert len(fake.requests_to("GET", live)) >= 3  # it asked until Asterisk had closed the file
    assert files[0].callee_heard == callee
    assert callee.stat().st_size == 44 + 16000  # taken whole, after the close


async def test_a_leg_asterisk_cannot_tell_about_is_taken_as_it_is(tmp_path: Path) -> None:
    recordings = tmp_path / "recording"
    wav(recordings / f"{NAME}.wav", 800, 800)
    callee = recordings / f"{callee_leg_name(NAME)}.wav"
    wav(callee, 800, 0)
    live = f"/recordings/live/{quote(callee_leg_name(NAME), safe='')}"
    async with FakeAri() as fake:
        fake.reply("GET", live, 500, json={"message": "Internal Server Error"})  # a busy Asterisk
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        try:
            segments = (RecordedSegment(NAME, 1, datetime(2026, 12, 2, 14, 14, 50, tzinfo=UTC)),)
            files = await asyncio.wait_for(collect_segments(segments, "wav", str(recordings),
                                                            tmp_path / "spool", ari, per_leg=True), 10)
        finally:
            await ari.close()
    assert fake.requests_to("GET", live)
    assert files[0].callee_heard == callee
    assert struct.unpack_from("<I", callee.read_bytes(), 40)[0] == 1600  # header repaired from its length


async def test_a_failed_segment_that_left_no_file_does_not_hold_back_the_others(tmp_path: Path) -> None:
    from callrec_ari.recording.collect import SegmentMissing

    recordings = tmp_path / "recording"
    wav(recordings / f"{NAME}.wav", 8000, 8000)
    second = NAME[:-3] + "002"
    t0 = datetime(2026, 12, 2, 14, 14, 42, tzinfo=UTC)
    failed = RecordedSegment(second, 2, t0, failed=True)
    ari = AriClient(AriSettings("http://127.0.0.1:9/ari", "u", "p"))
    try:
        got = await collect_segments((RecordedSegment(NAME, 1, t0), failed), "wav", str(recordings),
                                     tmp_path / "spool", ari)
        assert [s.path.name for s in got] == [f"{CALL}-001.wav"]
        # a segment that did not fail and is missing still holds the call for an operator
        try:
            await collect_segments((RecordedSegment(NAME, 1, t0), RecordedSegment(second, 2, t0)), "wav",
                                   str(recordings), tmp_path / "spool", ari)
        except SegmentMissing:
            pass
        else:
            raise AssertionError("a missing segment that did not fail was not reported")
    finally:
        await ari.close()
