"""A call recorded by MixMonitor's ``D`` on the caller's leg, packaged as stereo or mono.

Each segment is one headerless two-channel file (``.raw``), as Asterisk writes it: the caller's own
voice on the first channel (silent through the notice: the caller is muted), what the caller heard on
the second (the notice, then the other party's voice). One notice for both parties, so the callee
heard what the caller heard before the talk. The expected channels are built sample by sample from
the same pieces; the package must equal them exactly, across the rolls, where each direction is joined
on its own audio (one recorder may pair the two directions a frame or two apart from the last).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from callrec_ari.delivery.packaging import package_call
from callrec_ari.delivery.wavfile import BadWav, PcmReader, channel_of, read_info
from callrec_ari.model.call import SegmentFile
from callrec_ari.rules.manifest import CallRecord, NoticeEntry, parse_call_record
from callrec_ari.rules.segments import OVERLAP_S
from tests.delivery.conftest import ENDED, RATE, call_record, write_wav
from tests.delivery.test_leg_packaging import channels, noise, silence, tone

CALL_START = ENDED - timedelta(seconds=30)
LAG_S = 0.03


class CallerLeg:
    """Both directions of the caller's leg on the true timeline (sample 0: the first frame recorded)."""

    def __init__(self, notice: float, gap: float, talk: float,
                 caller_pause: tuple[float, float] | None = None) -> None:
        self.notice_s = notice
        connect = notice + gap
        self.notice = np.concatenate([tone(440, notice), silence(gap)])
        self.caller_voice = noise(1, talk)
        self.callee_voice = noise(2, talk)
        if caller_pause is not None:  # the caller says nothing for a while (its direction is silent)
            a, b = (round(x * RATE) for x in caller_pause)
            self.caller_voice[a:b] = 0
        self.own = np.concatenate([silence(connect), self.caller_voice])
        self.heard = np.concatenate([self.notice, self.callee_voice])
        self.caller_side = np.concatenate([self.notice, self.caller_voice])
        self.callee_side = np.concatenate([self.notice, self.callee_voice])  # the same notice, heard too

    def record(self, layout: str, side: str) -> CallRecord:
        base = parse_call_record({**call_record("d-1"), "channels": layout, "side": side})
        start = CALL_START + timedelta(seconds=LAG_S)
        end = start + timedelta(seconds=self.notice_s)
        return replace(base, notices=(NoticeEntry("both", "sound:callrec/notice-ja", start, end, "played"),))

    def segments(self, tmp: Path, cuts: list[float], shifts: list[int] | None = None) -> list[SegmentFile]:
        """Files starting at ``cuts`` (seconds), each running ``OVERLAP_S`` into the next; in file i the
        caller's direction is paired ``shifts[i]`` samples later than the heard one (a recorder pairs
        the leg's directions as their frames come)."""
        out = []
        total = len(self.heard)
        own = np.concatenate([self.own, silence(1.0)])
        for i, start in enumerate(cuts):
            end = cuts[i + 1] + OVERLAP_S if i + 1 < len(cuts) else total / RATE
            a, b = round(start * RATE), min(round(end * RATE), total)
            shift = shifts[i] if shifts else 0
            mine = np.zeros(b - a, dtype=np.int16)
            lo = max(0, a + shift)
            piece = own[lo:b + shift]
            mine[lo - (a + shift):lo - (a + shift) + len(piece)] = piece
            path = write_raw(tmp / f"seg{i}.raw", mine, self.heard[a:b])
            out.append(SegmentFile(path, CALL_START + timedelta(seconds=start), True, None, interleaved=True))
        return out


def write_raw(path: Path, own: np.ndarray, heard: np.ndarray) -> Path:
    path.write_bytes(np.column_stack([own, heard]).astype("<i2").tobytes())
    return path


@pytest.mark.parametrize("side", ["caller", "callee"])
def test_stereo_puts_each_party_on_its_channel_with_the_notice(tmp_path: Path, side: str) -> None:
    leg = CallerLeg(notice=1.2, gap=0.03, talk=6.0)
    pkg = package_call(leg.record("stereo", side), leg.segments(tmp_path, [0.0, 4.0]), tmp_path / "out")
    manifest, (left, right) = channels(pkg.zip_path)
    mine, theirs = (leg.caller_side, leg.callee_side)[:: 1 if side == "caller" else -1]
    assert manifest["audio"] == {"layout": "stereo",
                                 "channels": ["caller", "callee"][:: 1 if side == "caller" else -1]}
    assert len(left) == len(mine)
    assert np.array_equal(left, mine)  # sample-exact: the notice, then this party's voice only
    assert np.array_equal(right, theirs)
    assert [s["joined_by"] for s in manifest["segments"]] == [None, "audio"]  # type: ignore[attr-defined]
    assert pkg.wav_paths == tuple(tmp_path / f"seg{i}.raw" for i in range(2))  # removed once delivered


@pytest.mark.parametrize("shifts", [[0, 160], [0, -160, 320], [80, 240, -160]])
@pytest.mark.parametrize("layout", ["stereo", "mono"])
def test_each_direction_joins_on_its_own_across_rolls(tmp_path: Path, shifts: list[int], layout: str) -> None:
    """A roll's recorder pairs the leg's two directions a frame or two apart from the one before: each
    direction is joined on its own audio, sample-exact on both parties' channels (a mix would match
    for one party only)."""
    leg = CallerLeg(notice=1.0, gap=0.05, talk=9.0)
    cuts = [0.0, 4.0, 7.5][:len(shifts)]
    pkg = package_call(leg.record(layout, "caller"), leg.segments(tmp_path, cuts, shifts), tmp_path / "out")
    manifest, out = channels(pkg.zip_path)
    assert [s["joined_by"] for s in manifest["segments"]][1:] == ["audio"] * (len(cuts) - 1)  # type: ignore[attr-defined]
    # The caller's direction as the first file paired it, continuous through every join; it ends where
    # the last file ends, so a last file paired sooner than the first holds that much less of it.
    total, first, last = len(leg.heard), shifts[0], shifts[-1]
    voice = np.concatenate([leg.own, silence(1.0)])[first:first + total].copy()
    voice[total + min(0, last - first):] = 0
    notice = np.concatenate([leg.notice, np.zeros(total - len(leg.notice), dtype=np.int16)])
    callee = np.concatenate([leg.notice, leg.callee_voice])
    if layout == "stereo":
        left, right = out
        assert len(left) == total
        assert np.array_equal(left, notice + voice)  # sample-exact, across every roll
        assert np.array_equal(right, callee)
    else:
        (mono,) = out
        both = np.clip(callee.astype(np.int32) + voice.astype(np.int32), -32768, 32767).astype(np.int16)
        assert np.array_equal(mono, both)  # the notice once, both voices exact


def test_a_direction_silent_at_a_roll_takes_the_other_directions_join(tmp_path: Path) -> None:
    """The caller says nothing around the roll at 4 s: its direction's end matches anywhere, so the
    join comes from the other direction of the same recorder (within a frame or two), not the start
    times (tens of milliseconds off): here paired alike, so exact."""
    leg = CallerLeg(notice=1.0, gap=0.05, talk=8.0, caller_pause=(2.0, 4.0))
    segments = leg.segments(tmp_path, [0.0, 4.0])
    # Asterisk's start time for the second file 30 ms off: the start times alone would be 240 samples out.
    segments[1] = replace(segments[1], started_at=segments[1].started_at + timedelta(milliseconds=30))
    pkg = package_call(leg.record("stereo", "caller"), segments, tmp_path / "out")
    manifest, (left, right) = channels(pkg.zip_path)
    assert np.array_equal(left, leg.caller_side)
    assert np.array_equal(right, leg.callee_side)
    # Not proven on both directions from the audio: the manifest does not claim it.
    assert manifest["segments"][1]["joined_by"] == "start_times"  # type: ignore[index]


def test_a_raw_file_reads_as_two_channels_and_each_alone(tmp_path: Path) -> None:
    own, heard = np.arange(0, 2000, 2, dtype=np.int16), np.arange(1, 2001, 2, dtype=np.int16)
    path = write_raw(tmp_path / "x.raw", own, heard)
    with path.open("ab") as fh:
        fh.write(b"\x01\x02")  # a torn last frame: a recorder killed mid-write
    both = read_info(path)
    assert (both.channels, both.sample_rate, both.frames) == (2, 8000, 1000)
    for pick, want in ((1, own), (2, heard)):
        with PcmReader(channel_of(both, pick)) as reader:
            reader.setpos(10)
            got = np.frombuffer(reader.readframes(100), dtype="<i2")
            assert np.array_equal(got, want[10:110])
            reader.setpos(995)
            assert np.array_equal(np.frombuffer(reader.readframes(100), dtype="<i2"), want[995:])
    with pytest.raises(BadWav):
        channel_of(both, 3)
    with pytest.raises(BadWav, match="cannot read raw recording"):
        read_info(tmp_path / "missing.raw")


@pytest.mark.parametrize("layout", ["stereo", "mono"])
def test_a_call_whose_recorder_fell_back_to_both_legs_mid_call_joins_across_the_change(
        tmp_path: Path, layout: str) -> None:
    """The manager went away mid-call: the first file is MixMonitor's D, the next ones a snoop
    channel on each leg (media/fallback.py), each leg's file what that party heard (after the
    notice, the callee heard the caller's voice). Packaged as one call, sample-exact on both sides."""
    leg = CallerLeg(notice=1.0, gap=0.05, talk=9.0)
    first = leg.segments(tmp_path, [0.0, 4.0])[0]
    total = len(leg.heard)
    later = []
    for i, start in enumerate([4.0, 7.5], start=1):
        end = 7.5 + OVERLAP_S if i == 1 else total / RATE
        a, b = round(start * RATE), min(round(end * RATE), total)
        caller = write_wav(tmp_path / f"leg{i}.wav", leg.heard[a:b].tobytes())
        callee = write_wav(tmp_path / f"leg{i}-callee.wav", leg.own[a:b].tobytes())
        later.append(SegmentFile(caller, CALL_START + timedelta(seconds=start), True, callee))
    pkg = package_call(leg.record(layout, "caller"), [first, *later], tmp_path / "out")
    manifest, out = channels(pkg.zip_path)
    assert [s["joined_by"] for s in manifest["segments"]][1:] == ["audio", "audio"]  # type: ignore[attr-defined]
    if layout == "stereo":
        left, right = out
        assert np.array_equal(left, leg.caller_side) and np.array_equal(right, leg.callee_side)
    else:
        (mono,) = out
        both = leg.caller_side.astype(np.int32) + leg.callee_side.astype(np.int32) - np.concatenate(
            [leg.notice, np.zeros(len(leg.caller_voice), dtype=np.int16)]).astype(np.int32)
        assert np.array_equal(mono, np.clip(both, -32768, 32767).astype(np.int16))  # the notice once
