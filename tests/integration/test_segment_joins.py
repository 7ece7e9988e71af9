"""R1.2 on real calls: the segments of a long call join without a hole and without a doubled stretch,
proven from the audio itself (rules/splice.py), on every recording engine, and per leg in stereo.

The caller sends noise, so every 20 ms of the call is unlike any other: the end of segment N is
found in segment N+1 at exactly one place (a tone would match every period). Then:
- nothing was lost at the roll: N's last 20 ms are in N+1 (N+1 was recording before N stopped);
- the ZIP joins them sample-exact: played back to back, N's last 20 ms appear once, and what
  follows them is what followed them in N+1.
"""

from __future__ import annotations

import io
import itertools
import subprocess
import wave
import zipfile
from array import array
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.delivery.packaging import package_call
from callrec_ari.model.call import SegmentFile
from callrec_ari.pbx.local import AsteriskTarget
from callrec_ari.rules.segments import callee_leg_name
from callrec_ari.rules.splice import matching_overlap
from tests.integration.conftest import CALLEE_TONE
from tests.integration.test_call_flow import (
    ANALYSED_LINES,
    ENGINES,
    OUTSIDE,
    StartApp,
    assert_clean,
    run_parties,
    uac,
    uas,
)
from tests.support.audio import Audio

pytestmark = pytest.mark.asterisk
RATE, W = 8000, 160  # 20 ms windows


def noise_file(directory: Path, seconds: int = 60, kind: str = "whitenoise") -> Path:
    path = directory / f"{kind}.ulaw"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(path),
                    "synth", str(seconds), kind, "vol", "0.3"], check=True)
    return path


def samples(wav_bytes: bytes, channel: int | None = None) -> array[int]:
    """A mono WAV's samples, or one channel's of a stereo WAV."""
    with wave.open(io.BytesIO(wav_bytes)) as w:
        channels = 1 if channel is None else 2
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (channels, 2, RATE)
        pcm = array("h", w.readframes(w.getnframes()))
    return pcm if channel is None else pcm[channel::2]


def overlaps_of(raw: list[array[int]], leg: str) -> list[int]:
    """Where the end of each file of a leg is in the next one's head (asserting it is there, once)."""
    found = []
    for n, (prev, nxt) in enumerate(itertools.pairwise(raw), start=1):
        assert max(abs(s) for s in prev[-W:]) > 1000, f"{leg}: segment {n} ends in silence: it needs talk"
        overlap = matching_overlap(prev[-W:], nxt[:2 * RATE], estimate=0)
        assert overlap is not None, f"{leg}: segment {n}'s last 20 ms are not in segment {n + 1}: audio lost"
        assert len(occurrences(nxt[:2 * RATE], prev[-W:])) <= 1
        found.append(overlap)
    return found


def caller_noise(audio: Audio) -> npt.NDArray[np.float64]:
    """The caller's noise in each window: what is left once the callee's tone is taken out (a tone
    alone, or silence, leaves next to nothing; the caller's noise about 0.07 of full scale)."""
    w = audio.windows()
    t = np.arange(w.shape[1]) / audio.rate
    basis = np.stack([np.cos(2 * np.pi * CALLEE_TONE * t), np.sin(2 * np.pi * CALLEE_TONE * t)])
    residual = w - (w @ basis.T) @ basis / (w.shape[1] / 2)
    return np.asarray(np.sqrt((residual ** 2).mean(axis=1)))


def occurrences(haystack: array[int], needle: array[int]) -> list[int]:
    found, first = [], needle[0]
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i] == first and haystack[i:i + len(needle)] == needle:
            found.append(i)
    return found


@ENGINES
async def test_segments_join_without_a_hole_or_a_doubled_stretch(
    start_app: StartApp, ari: AriClient, tones: dict[str, Path], tmp_path: Path, engine: str
) -> None:
    app = await start_app(recording_roll_seconds=5, lines=ANALYSED_LINES, recording_engine=engine)
    rc = await run_parties(uac(tmp_path, OUTSIDE, tone=noise_file(tmp_path), talk_ms=14_000),
                           uas(tmp_path, tone=tones["callee"]))
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert len(outcome.segments) >= 3, outcome.segments
    await assert_clean(ari, outcome.recordings)
    raw, files = [], []
    for seg in outcome.segments:
        data = await ari.stored_recording_file(seg.name)
        raw.append(samples(data))
        path = tmp_path / f"{seg.index:03d}.wav"
        path.write_bytes(data)
        assert seg.started_at is not None
        files.append(SegmentFile(path, seg.started_at))

    # R1.2 by the recorders' own clocks: the segments in order, each about a roll apart, each running
    # on past the next one's start (an overlap, never a hole), both parties in each middle segment.
    assert [s.index for s in outcome.segments] == list(range(1, len(outcome.segments) + 1))
    for n, (seg, nxt) in enumerate(itertools.pairwise(outcome.segments)):
        assert seg.started_at is not None and nxt.started_at is not None
        gap = (nxt.started_at - seg.started_at).total_seconds()
        assert 4.5 < gap < 6.0, (seg.name, gap)
        assert len(raw[n]) / RATE >= gap - 0.02, (seg.name, len(raw[n]) / RATE, gap)
    for path in [f.path for f in files][1:-1]:
        audio = Audio.from_wav_bytes(path.read_bytes())
        assert audio.present(CALLEE_TONE).mean() > 0.9, path.name
        assert (caller_noise(audio) > 0.02).mean() > 0.9, path.name

    # Nothing lost at a roll: the end of N is in the head of N+1, once.
    overlaps = overlaps_of(raw, "the call")

    # The ZIP joins them sample-exact.
    pkg = package_call(outcome.manifest_call(), files, tmp_path / "outbox")
    with zipfile.ZipFile(pkg.zip_path) as z:
        entries = sorted(pkg.manifest["segments"], key=lambda s: s["order"])
        assert [e["trimmed_head_frames"] for e in entries[1:]] == overlaps
        assert [e["joined_by"] for e in entries] == [None] + ["audio"] * len(overlaps)
        played = [samples(z.read(e["name"])) for e in entries]
    stream, joins = array("h"), []
    for seg in played:
        joins.append(len(stream))
        stream.extend(seg)
    for n, join in enumerate(joins[1:]):
        after = played[n + 1][:W]
        tail = raw[n][-W:]
        near = stream[join - 2 * RATE: join + 2 * RATE]
        # N's last 20 ms once (no doubled stretch), right before the join; then what followed them.
        assert len(occurrences(near, tail)) == 1, f"join {n + 1}: the end of segment {n + 1} is doubled"
        assert stream[join - W: join] == tail
        assert after == raw[n + 1][overlaps[n]: overlaps[n] + W]
    total = len(stream) / RATE
    assert 13.0 < total < 16.0, total

    # Cut at 2 s (segment_seconds) instead of per file: the same audio, sample for sample, in
    # segments of exactly 2 s; the cuts inside a file continuous, a roll held where it fell.
    cut = package_call(outcome.manifest_call(), files, tmp_path / "cut", segment_seconds=2)
    with zipfile.ZipFile(cut.zip_path) as z:
        entries = sorted(cut.manifest["segments"], key=lambda s: s["order"])
        pieces = [samples(z.read(e["name"])) for e in entries]
    assert [len(p) for p in pieces[:-1]] == [2 * RATE] * (len(pieces) - 1)
    assert array("h", itertools.chain.from_iterable(pieces)) == stream
    kinds = [e["joined_by"] for e in entries]
    assert kinds[0] is None and kinds.count("audio") == len(overlaps)
    assert set(kinds[1:]) == {"continuous", "audio"}


@pytest.mark.parametrize("recorder", ["per-leg", "mixmonitor-d"])
async def test_stereo_legs_join_without_a_hole_on_either_channel(
    start_app: StartApp, ari: AriClient, asterisk: AsteriskTarget, tmp_path: Path, recorder: str
) -> None:
    """Per leg (a stereo line): each party's leg is its own recorder, started and stopped by its own
    request, so the two legs roll some milliseconds apart. Both parties send noise (each its own), so
    each channel of the ZIP shows, at every roll, its leg's last 20 ms once, followed by what followed
    them in that leg's next file. (Mostly the legs roll within the same 20 ms frame; at some rolls the
    callee's next file begins a frame apart, and a packaging that cut the callee's leg where the
    caller's file ended failed here in one run of seven. tests/delivery/test_leg_packaging.py checks
    that case every time.)

    ``mixmonitor-d``: the mixmonitor engine records both directions of the caller's leg in one raw
    file (MixMonitor's D, one notice for both): each direction is joined on its own audio, the
    caller's voice (its first channel) standing for what the callee heard, what the caller heard
    (its second) for the caller's leg."""
    lines = tuple(replace(line, audio_channels="stereo") for line in ANALYSED_LINES)
    folder = Path(asterisk.recording_dir or "/nonexistent")
    if recorder == "mixmonitor-d" and not asterisk.recording_dir:
        pytest.skip("MixMonitor's D files are read in Asterisk's folder: this Asterisk's is not here")
    engine = {"per-leg": "snoop", "mixmonitor-d": "mixmonitor"}[recorder]
    app = await start_app(recording_roll_seconds=5, lines=lines, recording_engine=engine,
                          asterisk_recording_dir=str(asterisk.recording_dir or ""))
    rc = await run_parties(uac(tmp_path, OUTSIDE, tone=noise_file(tmp_path), talk_ms=14_000),
                           uas(tmp_path, tone=noise_file(tmp_path, kind="pinknoise")))
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert outcome.plan.per_leg and len(outcome.segments) >= 3, outcome.segments
    await assert_clean(ari, outcome.recordings)
    heard: dict[str, list[array[int]]] = {"caller": [], "callee": []}  # what each party heard, per file
    files = []
    for seg in outcome.segments:
        assert seg.started_at is not None
        if recorder == "mixmonitor-d":
            both = folder / f"{seg.name}.raw"
            pcm = array("h", both.read_bytes())
            heard["caller"].append(pcm[1::2])
            heard["callee"].append(pcm[0::2])  # the caller's voice: what the callee heard of it
            files.append(SegmentFile(both, seg.started_at, True, None, interleaved=True))
            continue
        paths = []
        for leg, name in (("caller", seg.name), ("callee", callee_leg_name(seg.name))):
            data = await ari.stored_recording_file(name)
            heard[leg].append(samples(data))
            paths.append(tmp_path / f"{seg.index:03d}-{leg}.wav")
            paths[-1].write_bytes(data)
        files.append(SegmentFile(paths[0], seg.started_at, True, paths[1]))
    # Nothing lost at a roll, on either leg.
    overlaps = {leg: overlaps_of(raw, leg) for leg, raw in heard.items()}

    record = replace(outcome.manifest_call(), channels="stereo")
    pkg = package_call(record, files, tmp_path / "outbox")
    with zipfile.ZipFile(pkg.zip_path) as z:
        entries = sorted(pkg.manifest["segments"], key=lambda s: s["order"])
        assert [e["joined_by"] for e in entries] == [None] + ["audio"] * (len(entries) - 1)
        assert pkg.manifest["audio"] == {"layout": "stereo", "channels": ["caller", "callee"]}
        wavs = [z.read(e["name"]) for e in entries]
        parts = [(samples(wav, 0), samples(wav, 1)) for wav in wavs]
    # In the talk, the left channel (the caller) is its voice as the callee heard it, the right one
    # (the callee) its voice as the caller heard it.
    channel = {"callee": array("h"), "caller": array("h")}
    joins = []
    for left, right in parts:
        joins.append(len(channel["callee"]))
        channel["callee"].extend(left)
        channel["caller"].extend(right)
    for leg, stream in channel.items():
        raw = heard[leg]
        for n, join in enumerate(joins[1:]):
            tail, near = raw[n][-W:], stream[join - 2 * RATE: join + 2 * RATE]
            at = occurrences(near, tail)
            assert len(at) == 1, f"{leg}'s leg at roll {n + 1}: its last 20 ms {len(at)} times, not once"
            after = near[at[0] + W: at[0] + 2 * W]
            assert after == raw[n + 1][overlaps[leg][n]: overlaps[leg][n] + W], (
                f"{leg}'s leg at roll {n + 1}: not what followed in its next file (a hole or a repeat)")
    if recorder == "mixmonitor-d":
        assert not list(folder.rglob(f"{outcome.plan.call_id}-*.wav"))  # one file per segment, no leg apart
        for file in files:
            file.path.unlink()
