"""One segment WAV from a call's two legs recorded apart (media/recorder.py ``PerLegRecorder``).

Each leg's file holds what that party *heard*: until the parties hear each other (``talk_from``, the
end of the notice's last sound), its own notice and tone; from then on, the other party's voice. So,
per sample ``t`` of the segment, with ``A`` what the caller heard and ``B`` what the callee heard:

- the caller's side is ``A`` before the swap and ``B`` after it (its notice as it heard it, then its
  voice as the callee heard it); the callee's side is ``B``, then ``A``;
- **stereo**: the copy's own line's side on the left channel, the other on the right;
- **mono**: both sides mixed, ``A + B`` (each voice is in one file only); before the swap, a notice
  played on the bridge is in both files, so only ``A`` is taken there (not the same notice twice).

A call whose leg was recorded by MixMonitor's ``D`` option (media/mixmonitor.py; one notice for both
parties) comes as one two-channel file per segment instead: ``A`` on its second channel, the caller's
own voice on its first, in step sample for sample. Its channels are read as two legs
(wavfile.py ``channel_of``), the second stream being the caller's voice (``iter_legs``'s
``own_voice``), and need no offset between them (``leg_offset``'s correction is for two recorders).

The swap's sample is first placed from the timestamps (the end of the notice's last sound, counted
from the segment's RecordingStarted). A recorder's first frame lags its RecordingStarted: by tens of
milliseconds on a quiet machine, by a second and more under load, or frames are missing from the
file's head. So the caller's own leg corrects it: where its notice begins in the file (the first
``ONSET_BLOCK_MS`` block at ``ONSET_LEVEL`` or more) against where the timestamps put the notice's
start; only an earlier onset moves the swap (a later one is the sound's own leading silence). Then
the swap goes to where both legs are quietest within ``SPLIT_SEARCH_MS`` before it (rules/splice.py
``quiet_point``). Streamed chunk by chunk: memory stays flat whatever the call's length.

Across a roll, each leg is joined on its own audio (the end of its file N found in its file N+1), and
the two legs' recorders start and stop with requests of their own, some milliseconds apart. So the
callee's leg is read as one stream of its own (``CalleeLeg``: each file from where the one before it
ended), in step with the caller's leg sample for sample, never cut where the caller's file was cut:
what one of its files held past the caller's is read from there, and what it lacked is read from the
next one (tests/delivery/test_leg_packaging.py, legs that roll apart).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from callrec_ari.delivery.wavfile import (
    CHUNK_FRAMES,
    BadWav,
    PcmReader,
    WavInfo,
    interleave,
    read_samples,
    wav_header,
)
from callrec_ari.rules.splice import SPLIT_STEP_MS, quiet_point

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # C speed for mixing; the audioop-lts package on Python 3.13+

SPLIT_SEARCH_MS = 80  # how far before the timestamps' swap sample the quiet point is looked for
SPLIT_AFTER_MS = 20  # and how far after
ONSET_LEVEL = 512  # a peak of about -36 dBFS: the notice has begun (a silent leg stays far below)
ONSET_BLOCK_MS = 5
ONSET_SEARCH_S = 3.0  # how much earlier than the timestamps say the notice's onset is looked for


class LegReader:
    """A leg's PCM from ``skip`` frames on, in blocks; silence past its end (or for a lost leg), and
    before its head for a negative ``skip`` (a leg whose recorder started late: ``leg_offset``)."""

    def __init__(self, info: WavInfo | None, skip: int) -> None:
        self._wav = None
        self._lead = max(0, -skip)  # frames of silence before the file's first frame
        if info is not None:
            self._wav = PcmReader(info)
            self._wav.setpos(max(0, min(skip, self._wav.getnframes())))

    def read(self, frames: int) -> bytes:
        lead = min(self._lead, frames)
        self._lead -= lead
        data = self._wav.readframes(frames - lead) if self._wav is not None and frames > lead else b""
        data = b"\0" * (lead * 2) + data
        return data + b"\0" * (frames * 2 - len(data))

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()


@dataclass(frozen=True, slots=True)
class LegPart:
    """One file of the callee's leg in its stream: from ``skip`` frames in (negative: that much
    silence before its head), ``frames`` frames; a lost file (``info`` None) is that much silence."""

    info: WavInfo | None
    skip: int
    frames: int


class CalleeLeg:
    """The callee's leg as one stream: its files' parts back to back. Past the last part: silence."""

    def __init__(self) -> None:
        self.parts: list[LegPart] = []

    def add(self, info: WavInfo | None, skip: int, frames: int) -> None:
        """A file from ``skip`` to its end (``frames``, that many of silence, for a lost file)."""
        self.parts.append(LegPart(info, skip, frames if info is None else max(0, info.frames - skip)))

    def reader(self, offset: int) -> StitchedReader:
        return StitchedReader(self.parts, offset)

    def samples(self, offset: int, frames: int) -> list[int]:
        reader = self.reader(offset)
        try:
            return list(memoryview(reader.read(frames)).cast("h"))
        finally:
            reader.close()


class StitchedReader:
    """A :class:`CalleeLeg` read from ``offset`` frames into its stream, in blocks."""

    def __init__(self, parts: Sequence[LegPart], offset: int) -> None:
        self._parts = list(parts)
        self._reader: LegReader | None = None
        self._index = self._left = 0
        while self._index < len(self._parts) and offset >= self._parts[self._index].frames:
            offset -= self._parts[self._index].frames
            self._index += 1
        self._open(offset)

    def read(self, frames: int) -> bytes:
        out = []
        while frames > 0 and self._reader is not None:
            n = min(frames, self._left)
            out.append(self._reader.read(n))
            frames -= n
            self._left -= n
            if self._left == 0:
                self.close()
                self._index += 1
                self._open(0)
        out.append(b"\0" * (2 * frames))
        return b"".join(out)

    def _open(self, into: int) -> None:
        """The current part, ``into`` frames in (none past the last)."""
        if self._index < len(self._parts):
            part = self._parts[self._index]
            self._reader, self._left = LegReader(part.info, part.skip + into), part.frames - into

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def onset_lag(leg: WavInfo, skip: int, frames: int, started_at: datetime,
              notice_from: datetime | None) -> int | None:
    """How many frames earlier in the leg (after ``skip``) its notice begins than the timestamps put it
    (``notice_from``, counted from ``started_at``): 0 when it begins there or later (a later onset is
    the sound's own leading silence), None when it cannot be told (no notice in this segment, none
    heard in the search)."""
    if notice_from is None:
        return None
    rate = leg.sample_rate
    expected = round((notice_from - started_at).total_seconds() * rate)
    if expected <= 0 or expected >= frames:
        return None
    search = round(ONSET_SEARCH_S * rate)
    lo = max(0, expected - search)
    earlier = _onset(read_samples(leg, skip + lo, expected - lo), rate)
    if earlier is not None:
        return expected - (lo + earlier)
    # Not before: heard where the timestamps put it, or after (0), or not at all (cannot be told).
    later = _onset(read_samples(leg, skip + expected, min(frames - expected, search)), rate)
    return None if later is None else 0


def _onset(samples: Sequence[int], rate: int) -> int | None:
    """The first ``ONSET_BLOCK_MS`` block at ``ONSET_LEVEL`` or more: its first sample, or None."""
    block = max(1, ONSET_BLOCK_MS * rate // 1000)
    return next((at for at in range(0, len(samples), block)
                 if max(map(abs, samples[at:at + block])) >= ONSET_LEVEL), None)


def head_lag(leg: WavInfo, skip: int, frames: int, started_at: datetime, notice_from: datetime | None) -> int:
    """``onset_lag``, 0 when it cannot be told."""
    return onset_lag(leg, skip, frames, started_at, notice_from) or 0


def leg_offset(caller_heard: WavInfo, callee_heard: WavInfo | None, frames: int, started_at: datetime,
               caller_from: datetime | None, callee_from: datetime | None) -> int:
    """Where the callee's leg starts against the caller's, in a call's first recording: the frames to
    skip at its head, or, negative, the frames of silence to put before it (its recorder started that
    much later). Each leg's own notice shows how late its head came (``onset_lag``); 0 when either
    cannot be told. Only the first recording needs it: the next ones are joined to it, leg by leg,
    by their audio (delivery/packaging.py)."""
    if callee_heard is None:
        return 0
    lag_a = onset_lag(caller_heard, 0, frames, started_at, caller_from)
    lag_b = onset_lag(callee_heard, 0, min(frames, callee_heard.frames), started_at, callee_from)
    if lag_a is None or lag_b is None:
        return 0
    return lag_a - lag_b


def swap_frame(caller_heard: WavInfo, callee: CalleeLeg, skip_a: int, offset_b: int, frames: int,
               started_at: datetime, talk_from: datetime | None, notice_from: datetime | None = None) -> int:
    """The segment's frame (after the trims) from which each leg holds the other party's voice; the
    callee's leg is read ``offset_b`` frames into its stream. ``notice_from``: when the first sound
    the caller heard began (corrects a recorder's late head)."""
    if talk_from is None:
        return 0
    rate = caller_heard.sample_rate
    estimate = round((talk_from - started_at).total_seconds() * rate)
    estimate -= head_lag(caller_heard, skip_a, min(frames, estimate), started_at, notice_from)
    if estimate <= 0 or estimate >= frames:
        return max(0, min(estimate, frames))
    lo = max(0, estimate - SPLIT_SEARCH_MS * rate // 1000)
    hi = min(frames, estimate + SPLIT_AFTER_MS * rate // 1000)
    a = read_samples(caller_heard, skip_a + lo, hi - lo)
    b = callee.samples(offset_b + lo, len(a))
    return lo + quiet_point(a, b, max(1, SPLIT_STEP_MS * rate // 1000))


def iter_legs(caller_heard: WavInfo, callee: CalleeLeg, skip_a: int, offset_b: int, frames: int,
              swap: int, stereo: bool, left: str = "caller", shared_notice: bool = False,
              header: bool = True, own_voice: bool = False) -> Iterator[bytes]:
    """The segment as a WAV (header unless ``header`` is false, then PCM in chunks): ``frames``
    frames of the caller's file from ``skip_a``, beside as many of the callee's leg from ``offset_b``
    into its stream, the legs swapping roles at ``swap``. Stereo: ``left`` ("caller" or "callee") on
    channel 1. 16-bit legs only.

    ``own_voice``: the second stream is the caller's own voice, not what the callee heard (both
    directions of the caller's leg in one file, MixMonitor's ``D``: the module's ``A`` and the
    caller's voice). Before the swap the caller is muted (R2.6) and the callee heard the notice the
    caller heard (one notice for both: the only case recorded so), so the callee's side is ``A``
    throughout, the caller's ``A`` then its own voice."""
    for leg in (caller_heard, *(p.info for p in callee.parts)):
        if leg is not None and (leg.channels, leg.sample_width) != (1, 2):
            raise BadWav(f"{leg.path}: a leg must be mono 16-bit PCM")
    out = WavInfo(caller_heard.path, 2 if stereo else 1, 2, caller_heard.sample_rate, frames)
    if header:
        yield wav_header(out, frames)
    a, b = LegReader(caller_heard, skip_a), callee.reader(offset_b)
    try:
        at = 0
        while at < frames:
            n = min(CHUNK_FRAMES, frames - at)
            pa, pb = a.read(n), b.read(n)
            k = 2 * max(0, min(swap - at, n))  # bytes of this block before the swap
            if stereo:
                caller_side, callee_side = pa[:k] + pb[k:], pa if own_voice else pb[:k] + pa[k:]
                lft, rgt = (caller_side, callee_side) if left == "caller" else (callee_side, caller_side)
                yield interleave(lft, rgt)
            else:
                mixed = audioop.add(pa, pb, 2)
                yield (pa[:k] + mixed[k:]) if shared_notice or own_voice else mixed
            at += n
    finally:
        a.close()
        b.close()


__all__ = ["CalleeLeg", "LegPart", "LegReader", "StitchedReader", "head_lag", "iter_legs", "leg_offset",
           "onset_lag", "swap_frame"]
