"""Where two overlapping segments of a recording join, found from the audio itself (R1.2).

Segment N+1 starts before segment N stops (rules/segments.py), so the head of N+1 repeats the end
of N. How much it repeats is first estimated from Asterisk's RecordingStarted times
(``rules.manifest.overlap_frames``), but those times are when each recorder *started*, not when it
wrote its first frame: measured on Asterisk 22, a recorder's first frame comes some milliseconds to
tens of milliseconds after, and differently for each segment, so the estimate alone left stretches
of up to ~70 ms doubled at a join (or showed a "hole" where none was).

Both recorders heard the same audio, so the end of N is in the head of N+1, sample for sample (give
or take the last bit of a mix): the overlap is where N's last 20 ms sit in N+1. Silence matches
anywhere and a pure tone every period: when the end of N is too quiet to tell, or nothing matches
(also an overlap shorter than the 20 ms looked for), the estimate stands; among several matches (a
periodic sound) the one nearest the estimate wins.
Pure: lists of 16-bit samples in, a frame count out.
"""

from __future__ import annotations

from collections.abc import Sequence

WINDOW_MS = 20  # how much of the end of N is looked for in N+1
# Per sample, in 16-bit units: two mixes of the same frames differ by a few units here and there
# (measured up to 16 between two snoop channels on one leg); noise-like audio never comes that close
# for 160 samples in a row anywhere else.
TOLERANCE = 24
MIN_LEVEL = 512  # below this peak (about -36 dBFS) the end of N is near silence: it would match anywhere


def window_frames(sample_rate: int) -> int:
    return max(1, sample_rate * WINDOW_MS // 1000)


def matching_overlap(prev_tail: Sequence[int], next_head: Sequence[int], estimate: int,
                     sample_rate: int = 8000) -> int | None:
    """Frames at the head of the next segment that repeat the end of the previous one, or None.

    ``prev_tail``: the last samples of the previous segment (at least one window); ``next_head``: the
    first samples of the next one (as many as the overlap could be, and a window more); ``estimate``:
    the overlap the timestamps give. Mono 16-bit samples.
    """
    w = window_frames(sample_rate)
    if len(prev_tail) < w or len(next_head) < w:
        return None
    tail = list(prev_tail[-w:])
    if max(abs(s) for s in tail) < MIN_LEVEL:
        return None
    first, found = tail[0], []
    head = next_head
    for start in range(len(head) - w + 1):
        if abs(head[start] - first) > TOLERANCE:
            continue
        if all(abs(head[start + i] - tail[i]) <= TOLERANCE for i in range(1, w)):
            found.append(start + w)
    if not found:
        return None
    return min(found, key=lambda overlap: (abs(overlap - estimate), overlap))


SPLIT_STEP_MS = 5  # the resolution at which the quiet point between notice and talk is looked for


def quiet_point(a: Sequence[int], b: Sequence[int], step: int) -> int:
    """Where, in two equally long stretches of the legs' audio, both are quietest: the offset (a
    multiple of ``step``) of the ``step`` samples with the least summed level; the earliest on a tie.

    Used for the moment the parties' legs swap roles (delivery/channels.py): before it each leg's file
    holds its own notice and tone, after it the other party's voice. The timestamps put that moment
    within tens of milliseconds (a recorder's first frame lags its RecordingStarted); the gap between
    the tone's end and the first word, where both legs are silent, is where it is exactly.
    """
    n = min(len(a), len(b))
    if n <= step:
        return 0
    best, best_level = 0, None
    for start in range(0, n - step + 1, step):
        level = sum(abs(x) for x in a[start:start + step]) + sum(abs(x) for x in b[start:start + step])
        if best_level is None or level < best_level:
            best, best_level = start, level
    return best


__all__ = ["MIN_LEVEL", "SPLIT_STEP_MS", "TOLERANCE", "WINDOW_MS", "matching_overlap", "quiet_point",
           "window_frames"]
