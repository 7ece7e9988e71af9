"""The manifest says how each segment was joined to the one before (docs/delivery-protocol.md):
"audio" when the end of the previous segment was found in its head (so nothing fell between), or
"start_times" when the audio could not tell (the previous one ended in silence). `make bench` counts
them under load."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta
from pathlib import Path

from callrec_ari.delivery.packaging import package_call
from tests.delivery.conftest import ENDED, RATE, call_record, ramp, segments_for, write_wav


def joins(zip_path: Path) -> list[tuple[str | None, int]]:
    with zipfile.ZipFile(zip_path) as z:
        manifest = json.loads(z.read("manifest.json"))
    return [(s["joined_by"], s["trimmed_head_frames"]) for s in manifest["segments"]]


def test_segments_whose_audio_overlaps_are_joined_by_the_audio(tmp_path: Path) -> None:
    segments = segments_for(tmp_path / "spool", "c-audio", seconds=(1.0, 1.0, 1.0), overlap=0.3)
    pkg = package_call(call_record("c-audio"), segments, tmp_path / "outbox")
    assert joins(pkg.zip_path) == [(None, 0), ("audio", int(0.3 * RATE)), ("audio", int(0.3 * RATE))]


def test_a_segment_after_silence_is_joined_by_the_start_times(tmp_path: Path) -> None:
    start = ENDED - timedelta(seconds=30)
    first = write_wav(tmp_path / "s1.wav", ramp(0, RATE // 2) + [0] * (RATE // 2))  # ends in silence
    second = write_wav(tmp_path / "s2.wav", [0] * (RATE // 4) + ramp(5000, RATE))
    segments = [(first, start.isoformat()), (second, (start + timedelta(seconds=0.75)).isoformat())]
    pkg = package_call(call_record("c-quiet"), segments, tmp_path / "outbox")
    # The start times put the second 0.25 s before the first ended: that much is trimmed.
    assert joins(pkg.zip_path) == [(None, 0), ("start_times", RATE // 4)]


def test_a_hole_at_a_roll_cannot_pass_for_a_join_by_audio(tmp_path: Path) -> None:
    # The second recorder started after the first had stopped: 0.1 s of the call is in neither file.
    start = ENDED - timedelta(seconds=30)
    first = write_wav(tmp_path / "s1.wav", ramp(100, RATE))
    second = write_wav(tmp_path / "s2.wav", ramp(100 + RATE + RATE // 10, RATE))
    segments = [(first, start.isoformat()), (second, (start + timedelta(seconds=1.1)).isoformat())]
    pkg = package_call(call_record("c-hole"), segments, tmp_path / "outbox")
    assert joins(pkg.zip_path) == [(None, 0), ("start_times", 0)]
