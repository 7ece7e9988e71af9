"""A MixMonitor segment counted void (no file when its leg went as it began) whose file is written
after all is removed, so that nothing is left in Asterisk's folder (media/mixmonitor.py); a segment
that ran is never removed here, and a void one with no file stays void. The manager is not asked:
these are the recorder's own decisions once StopMixMonitor has answered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from callrec_ari.ami.client import AmiClient
from callrec_ari.ari.events import AriEvent
from callrec_ari.media import mixmonitor
from callrec_ari.media.mixmonitor import MixMonitorRecorder
from callrec_ari.model.media import CallLegs, RecordingVoid

NAME = "callrec/c1/c1-002"
WAV_HEADER = b"RIFF" + (36).to_bytes(4, "little") + b"WAVEfmt " + bytes(28)  # closed, no audio


def recorder(folder: Path, told: list[Any], heard: asyncio.Event | None = None) -> MixMonitorRecorder:
    def emit(event: Any) -> None:
        told.append(event)
        if heard is not None:
            heard.set()
    return MixMonitorRecorder(cast(AmiClient, None), CallLegs("c1-caller", "c1-callee", "c1"), "wav", emit,
                              folder)


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mixmonitor, "LATE_FILE_S", 0.3)


async def test_a_void_segments_file_written_late_is_removed(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    told: list[Any] = []
    (tmp_path / "callrec/c1").mkdir(parents=True)
    before = tmp_path / "callrec/c1/c1-001.wav"
    before.write_bytes(WAV_HEADER)  # the segment before, delivered as usual: never touched here
    heard = asyncio.Event()
    over = asyncio.create_task(recorder(tmp_path, told, heard)._told_over(NAME, True, 0.2))
    await asyncio.wait_for(heard.wait(), 5)
    assert told == [RecordingVoid(NAME)]
    late = tmp_path / f"{NAME}.wav"
    late.write_bytes(WAV_HEADER)  # MixMonitor's thread opens it after the segment was looked for
    await over
    assert not late.exists() and before.exists()
    assert "MixMonitor wrote its file after the segment was counted void" in caplog.text


async def test_a_void_segment_without_a_file_and_a_failed_one_are_left_as_they_are(tmp_path: Path) -> None:
    told: list[Any] = []
    (tmp_path / "callrec/c1").mkdir(parents=True)
    await recorder(tmp_path, told)._told_over(NAME, True, 0.2)
    assert told == [RecordingVoid(NAME)] and not any(tmp_path.rglob("*.wav"))
    # Ran past the overlap with the segment before: not void, its end told as failed, and a file
    # written later is not this code's to remove (it may hold audio no other segment has).
    told.clear()
    other = "callrec/c1/c1-003"
    await recorder(tmp_path, told)._told_over(other, True, 5.0)
    assert [type(t) for t in told] == [AriEvent] and told[0].type == "RecordingFailed"
    late = tmp_path / f"{other}.wav"
    late.write_bytes(WAV_HEADER)
    await asyncio.sleep(0.5)
    assert late.exists()
