"""The delivered segments are cut from the call's audio at ``segment_seconds`` (R1.2), whatever the
recording files Asterisk wrote (delivery/packaging.py): back to back they are the call, sample for
sample; a cut inside one file is "continuous"; a segment holding a join between two files says how
that join was found, and what it trimmed there."""

from __future__ import annotations

import io
import itertools
import json
import random
import wave
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callrec_ari.delivery.packaging import Take, cuts, describe, package_call
from callrec_ari.delivery.wavfile import BadWav
from callrec_ari.model.call import SegmentFile
from tests.delivery.conftest import ENDED, RATE, call_record, ramp, segments_for, write_wav
from tests.delivery.test_leg_packaging import Legs, _record


def unpack(zip_path: Path) -> tuple[list[dict[str, Any]], list[bytes]]:
    """The manifest's segments and each segment's PCM (frames, interleaved)."""
    with zipfile.ZipFile(zip_path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        pcm = []
        for seg in manifest["segments"]:
            with wave.open(io.BytesIO(zf.read(seg["name"]))) as w:
                assert w.getnframes() == seg["frames"]
                pcm.append(w.readframes(w.getnframes()))
    return manifest["segments"], pcm


def test_one_recording_cut_into_segments_is_the_call_sample_for_sample(tmp_path: Path) -> None:
    samples = ramp(7, int(3.3 * RATE))
    start = ENDED - timedelta(seconds=30)
    wav = write_wav(tmp_path / "spool" / "one.wav", samples)
    pkg = package_call(call_record("c-cut"), [(wav, start.isoformat())], tmp_path / "outbox",
                       segment_seconds=1)
    segs, pcm = unpack(pkg.zip_path)
    assert [s["frames"] for s in segs] == [RATE, RATE, RATE, int(0.3 * RATE)]
    assert b"".join(pcm) == wav.read_bytes()[44:]
    assert [s["joined_by"] for s in segs] == [None, "continuous", "continuous", "continuous"]
    assert all(s["trimmed_head_frames"] == 0 for s in segs)
    assert [datetime.fromisoformat(s["started_at"].replace("Z", "+00:00")) for s in segs] == [
        start + timedelta(seconds=k) for k in range(4)]


def test_a_call_exactly_n_segments_long_has_no_empty_last_segment(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "one.wav", ramp(0, 2 * RATE))
    pkg = package_call(call_record("c-even"), [(wav, ENDED.isoformat())], tmp_path / "outbox",
                       segment_seconds=1)
    segs, _ = unpack(pkg.zip_path)
    assert [s["frames"] for s in segs] == [RATE, RATE]


@pytest.mark.parametrize("segment_seconds", [0.37, 0.5, 1.0, 1.6, 2.5, 10.0])
def test_files_joined_by_the_audio_then_cut_hold_each_frame_once(tmp_path: Path,
                                                                 segment_seconds: float) -> None:
    # Three files of one ramp, each overlapping the one before by 0.25 s (Asterisk's rolls).
    files = segments_for(tmp_path / "spool", "c-roll", seconds=(1.0, 1.2, 0.9), overlap=0.25)
    pkg = package_call(call_record("c-roll"), files, tmp_path / "outbox", segment_seconds=segment_seconds)
    segs, pcm = unpack(pkg.zip_path)
    total = int((1.0 + 1.2 + 0.9 - 0.5) * RATE)
    expected = write_wav(tmp_path / "expected.wav", ramp(0, total)).read_bytes()[44:]
    assert b"".join(pcm) == expected  # nothing lost, nothing twice
    step = round(segment_seconds * RATE)
    assert [s["frames"] for s in segs] == [min(step, total - at) for at in range(0, total, step)]
    # The joins between files are at frames 8000 and 15600 of the call: the segments holding them say
    # "audio" and what was trimmed there; the others continue one recording.
    joins = {8000: int(0.25 * RATE), 15600: int(0.25 * RATE)}
    for order, seg in enumerate(segs, start=1):
        first = (order - 1) * step
        held = [at for at in joins if first <= at < first + seg["frames"]]
        assert seg["joined_by"] == ("audio" if held else None if order == 1 else "continuous")
        assert seg["trimmed_head_frames"] == sum(joins[at] for at in held)


def test_without_a_segment_length_each_file_is_one_segment(tmp_path: Path) -> None:
    files = segments_for(tmp_path / "spool", "c-files", seconds=(1.0, 1.0), overlap=0.25)
    pkg = package_call(call_record("c-files"), files, tmp_path / "outbox")
    segs, _ = unpack(pkg.zip_path)
    assert [(s["frames"], s["joined_by"]) for s in segs] == [(RATE, None), (int(0.75 * RATE), "audio")]


def test_a_segment_holding_a_join_the_audio_could_not_tell_says_so(tmp_path: Path) -> None:
    start = ENDED - timedelta(seconds=30)
    first = write_wav(tmp_path / "s1.wav", ramp(0, RATE // 2) + [0] * (RATE // 2))  # ends in silence
    second = write_wav(tmp_path / "s2.wav", [0] * (RATE // 4) + ramp(5000, 2 * RATE))
    files = [(first, start.isoformat()), (second, (start + timedelta(seconds=0.75)).isoformat())]
    pkg = package_call(call_record("c-weak"), files, tmp_path / "outbox", segment_seconds=0.8)
    segs, _ = unpack(pkg.zip_path)
    # The second file joins at 1.0 s of the call (its 0.25 s head trimmed by the start times): inside
    # the second segment (0.8-1.6 s).
    assert [s["joined_by"] for s in segs] == [None, "start_times", "continuous", "continuous"]
    assert [s["trimmed_head_frames"] for s in segs] == [0, RATE // 4, 0, 0]


@pytest.mark.parametrize("layout", ["stereo", "mono"])
def test_legs_recorded_apart_cut_anywhere_give_the_same_audio_as_cut_per_file(tmp_path: Path,
                                                                              layout: str) -> None:
    legs = Legs(notice_caller=1.2, notice_callee=0.8, gap=0.2, talk=4.0)
    files = legs.segments(tmp_path / "spool", [0.0, 2.5])
    record = _record(legs, same=False, layout=layout, side="caller")
    per_file, per_file_pcm = unpack(package_call(record, files, tmp_path / "a").zip_path)
    whole = b"".join(per_file_pcm)
    segs, pcm = unpack(package_call(record, files, tmp_path / "b", segment_seconds=0.7).zip_path)
    assert b"".join(pcm) == whole
    assert sum(s["frames"] for s in segs) == sum(s["frames"] for s in per_file)
    assert {s["frames"] for s in segs[:-1]} == {int(0.7 * RATE)}
    width = (2 if layout == "stereo" else 1) * 2
    assert all(len(p) == s["frames"] * width for s, p in zip(segs, pcm, strict=True))


def test_a_file_shorter_than_its_header_says_is_refused_clearly(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "short.wav", random.Random(3).randbytes(RATE * 2))
    with wav.open("r+b") as fh:
        fh.truncate(44 + RATE)  # half the data gone; the header still says a second
    with pytest.raises(BadWav):
        package_call(call_record("c-short"), [SegmentFile(wav, ENDED)], tmp_path / "outbox",
                     segment_seconds=0.3)
    assert not list((tmp_path / "outbox").glob("*.zip"))  # no ZIP half written


@given(lengths=st.lists(st.integers(1, 5000), min_size=1, max_size=6),
       trims=st.lists(st.integers(0, 800), min_size=6, max_size=6),
       weak=st.lists(st.booleans(), min_size=6, max_size=6),
       step=st.one_of(st.none(), st.integers(1, 9000)))
def test_the_cuts_cover_the_call_once_and_count_every_join_once(
    lengths: list[int], trims: list[int], weak: list[bool], step: int | None,
) -> None:
    t0 = ENDED - timedelta(seconds=60)
    takes, at = [], 0
    for k, frames in enumerate(lengths):
        joined = None if k == 0 else ("start_times" if weak[k] else "audio")
        takes.append(Take(t0 + timedelta(seconds=at / RATE), at, frames, trims[k] if k else 0, joined,
                          lambda: iter(())))
        at += frames
    pieces = cuts(takes, step)
    assert [c.first for c in pieces] == list(itertools.accumulate([0, *(c.frames for c in pieces[:-1])]))
    assert sum(c.frames for c in pieces) == at
    described = [describe(c, order, takes, RATE) for order, c in enumerate(pieces, start=1)]
    assert sum(trimmed for _, trimmed, _ in described) == sum(t.trim for t in takes[1:])
    for (start, _, joined), c in zip(described, pieces, strict=True):
        assert start == t0 + timedelta(microseconds=c.first * 1_000_000 // RATE)  # one clock here
        inside = [t for t in takes[1:] if c.first <= t.first < c.first + c.frames]
        if not inside:
            assert joined == (None if c.first == 0 else "continuous")
        else:
            assert joined == ("start_times" if any(t.joined_by == "start_times" for t in inside) else "audio")
