"""The bench's check of a stereo baseline file (bench/recordings.py ``check_raw_stereo``, used by
bench/stereo_cost.py): MixMonitor's ``D`` file of the caller's leg, what it says on the first channel
and what it hears on the second, 16-bit samples side by side with no header."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.notice import notice_seconds
from bench.recordings import CALLEE_TONE, CALLER_TONE, RINGING_S, check_raw_stereo

RATE = 8000


def stereo_raw(path: Path, seconds: float, first: int, second: int) -> Path:
    """A call's file: silence through the ringing and the notice, then ``first`` Hz on the first
    channel and ``second`` Hz on the second (0: silence)."""
    t = np.arange(int(seconds * RATE)) / RATE
    talking = t >= RINGING_S + notice_seconds()

    def side(freq: int) -> np.ndarray:
        return np.where(talking, 0.3 * np.sin(2 * np.pi * freq * t), 0.0) if freq else np.zeros_like(t)

    frames = np.stack([side(first), side(second)], axis=1)
    path.write_bytes((frames * 32767).astype("<i2").tobytes())
    return path


def test_each_party_on_its_own_channel_is_good(tmp_path: Path) -> None:
    good = stereo_raw(tmp_path / "a.raw", 20 + RINGING_S, CALLER_TONE, CALLEE_TONE)
    assert check_raw_stereo(good, 20) is None


def test_parties_on_the_wrong_channels_are_bad(tmp_path: Path) -> None:
    swapped = stereo_raw(tmp_path / "a.raw", 20 + RINGING_S, CALLEE_TONE, CALLER_TONE)
    assert check_raw_stereo(swapped, 20) == f"tone {CALLEE_TONE} Hz on channel 1, the other party's"


def test_a_missing_party_a_short_file_and_torn_frames_are_bad(tmp_path: Path) -> None:
    silent = stereo_raw(tmp_path / "a.raw", 20 + RINGING_S, CALLER_TONE, 0)
    assert (check_raw_stereo(silent, 20) or "").startswith(f"tone {CALLEE_TONE} Hz in 0%")
    short = stereo_raw(tmp_path / "b.raw", 12, CALLER_TONE, CALLEE_TONE)
    assert (check_raw_stereo(short, 20) or "").startswith("duration 12.00s")
    whole = stereo_raw(tmp_path / "c.raw", 20 + RINGING_S, CALLER_TONE, CALLEE_TONE).read_bytes()
    torn = tmp_path / "d.raw"
    torn.write_bytes(whole[:-2])
    assert check_raw_stereo(torn, 20) == f"{torn.stat().st_size} bytes: not whole 2-channel frames"


def test_a_baseline_call_a_notice_longer_than_the_apps_is_bad(tmp_path: Path) -> None:
    """The baseline's call is as long as the app's (bench/capacity.py ``run_load``): a file a
    notice longer is a longer call than the app's, as every baseline call was until 2026-12-05 (25.3 s
    of media for the app's 20), and is refused."""
    seconds = 20 + notice_seconds() + RINGING_S
    longer = stereo_raw(tmp_path / "a.raw", seconds, CALLER_TONE, CALLEE_TONE)
    assert (check_raw_stereo(longer, 20) or "").startswith(f"duration {seconds:.2f}s")
