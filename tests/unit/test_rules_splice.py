"""rules/splice.py: the join of two overlapping segments, from the audio."""

from __future__ import annotations

import random
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from callrec_ari.rules.splice import matching_overlap


def noise(n: int, seed: int) -> list[int]:
    return [s // 4 for s in array("h", random.Random(seed).randbytes(2 * n))]


@settings(max_examples=60)
@given(overlap=st.integers(min_value=160, max_value=2000),
       estimate=st.integers(min_value=-800, max_value=2800), seed=st.integers(min_value=0, max_value=10_000))
def test_the_overlap_is_found_from_the_audio_whatever_the_timestamps_said(overlap: int, estimate: int,
                                                                          seed: int) -> None:
    # GIVEN one stretch of sound recorded by two recorders, the second starting `overlap` frames
    # (at least the 20 ms window looked for) before the first stopped
    sound = noise(8000 + 6000, seed)
    prev, nxt = sound[:8000], sound[8000 - overlap:]
    # THEN the join is exact, however wrong the timestamps' estimate
    assert matching_overlap(prev[-400:], nxt[:overlap + 800], estimate) == overlap


def test_a_mix_that_differs_in_the_last_bits_still_joins() -> None:
    sound = noise(12000, 7)
    prev = sound[:8000]
    nxt = [s + random.Random(i).choice((-16, -8, 0, 8, 16)) for i, s in enumerate(sound[7600:])]
    assert matching_overlap(prev, nxt[:3000], estimate=0) == 400


def test_silence_and_missing_audio_leave_the_estimate_to_the_caller() -> None:
    quiet = [0, 3, -2] * 1000
    assert matching_overlap(quiet, quiet, estimate=100) is None
    # the end of N is nowhere in N+1 (a real hole, or an overlap shorter than the window)
    assert matching_overlap(noise(4000, 1), noise(4000, 2), estimate=100) is None
    assert matching_overlap(noise(100, 1), noise(4000, 2), estimate=100) is None


def test_a_periodic_sound_joins_at_the_match_nearest_the_estimate() -> None:
    period = [0, 5000, 8000, 5000, 0, -5000, -8000, -5000] * 40  # 1 kHz at 8 kHz: repeats every 8
    tone = period * 30
    prev, nxt = tone[:4000], tone[4000 - 296:]  # truly 296 frames of overlap
    assert matching_overlap(prev, nxt[:2000], estimate=299) == 296  # nearest match of many
