"""A call recorded per leg (each file what one party heard) packaged as stereo or mono.

The legs are built the way Asterisk records them: each file starts some milliseconds after its
RecordingStarted, holds its party's own notice, then silence until the parties are connected, then
the other party's voice (noise, so that any misplaced sample shows). The expected channels are built
sample by sample from the same pieces; the package must equal them exactly, across a segment roll.
"""

from __future__ import annotations

import io
import json
import tempfile
import wave
import zipfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callrec_ari.delivery.channels import CalleeLeg
from callrec_ari.delivery.packaging import package_call
from callrec_ari.delivery.wavfile import read_info
from callrec_ari.model.call import SegmentFile
from callrec_ari.rules.manifest import CallRecord, NoticeEntry, parse_call_record
from callrec_ari.rules.segments import OVERLAP_S
from tests.delivery.conftest import ENDED, RATE, call_record, write_wav

LAG_S = 0.03  # a recorder's first frame after its RecordingStarted
CALL_START = ENDED - timedelta(seconds=30)


def tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def noise(seed: int, seconds: float) -> np.ndarray:
    return np.random.default_rng(seed).integers(-9000, 9000, int(seconds * RATE)).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


class Legs:
    """One call's two legs, as heard, on the true timeline (sample 0 = the first frame recorded)."""

    def __init__(self, notice_caller: float, notice_callee: float, gap: float, talk: float,
                 lead: float = 0.0) -> None:
        """``lead``: silence in the files before the notices begin."""
        self.lead = lead
        self.talk_at = lead + max(notice_caller, notice_callee)  # when the last notice ended
        connect = self.talk_at + gap  # the parties unmuted: the voices cross from here
        self.caller_voice = noise(1, talk)
        self.callee_voice = noise(2, talk)
        self.caller_notice = np.concatenate([silence(lead), tone(440, notice_caller),
                                             silence(connect - lead - notice_caller)])
        self.callee_notice = np.concatenate([silence(lead), tone(1300, notice_callee),
                                             silence(connect - lead - notice_callee)])
        # What each party heard: its own notice, then the other party's voice.
        self.caller_heard = np.concatenate([self.caller_notice, self.callee_voice])
        self.callee_heard = np.concatenate([self.callee_notice, self.caller_voice])
        # What each party is, in the file a customer expects.
        self.caller_side = np.concatenate([self.caller_notice, self.caller_voice])
        self.callee_side = np.concatenate([self.callee_notice, self.callee_voice])

    def notices(self, same: bool, late: float = 0.0) -> tuple[NoticeEntry, ...]:
        """``late``: how much later than the recorder's first frame + LAG_S Asterisk's timestamps put
        the notice (a recorder whose head lagged, or lost frames, under load)."""
        start = CALL_START + timedelta(seconds=LAG_S + late + self.lead)
        end = start + timedelta(seconds=self.talk_at - self.lead)
        if same:
            return (NoticeEntry("both", "sound:callrec/notice-ja", start, end, "played"),)
        return (NoticeEntry("caller", "sound:callrec/notice-ja", start, end, "played"),
                NoticeEntry("callee", "sound:callrec/notice-en", start, end, "played"))

    def segments(self, tmp: Path, cuts: list[float], caller_late: float = 0.0, callee_late: float = 0.0,
                 callee_roll: tuple[float, float] = (0.0, 0.0)) -> list[SegmentFile]:
        """Segments starting at ``cuts`` (seconds), each running ``OVERLAP_S`` into the next.
        ``caller_late``/``callee_late``: that leg's first recorder started so many seconds late (its
        file lacks them: under load one recorder's head can lag the other's by a second).
        ``callee_roll``: at each roll, how much later (negative: sooner) the callee's next recorder
        started and its old one stopped than the caller's (each leg's recorder is its own request)."""
        out = []
        total = len(self.caller_heard) / RATE
        began, stopped = (round(x * RATE) for x in callee_roll)
        for i, start in enumerate(cuts):
            end = cuts[i + 1] + OVERLAP_S if i + 1 < len(cuts) else total
            a, b = round(start * RATE), round(min(end, total) * RATE)
            a_late, b_late = (round(caller_late * RATE), round(callee_late * RATE)) if i == 0 else (began, 0)
            b_end = b + stopped if i + 1 < len(cuts) else b
            caller = write_wav(tmp / f"seg{i}.wav", self.caller_heard[a + a_late:b].tobytes())
            callee = write_wav(tmp / f"seg{i}-callee.wav", self.callee_heard[a + b_late:b_end].tobytes())
            # Asterisk's RecordingStarted comes LAG_S before the file's first frame.
            started = CALL_START + timedelta(seconds=start)
            out.append(SegmentFile(caller, started, True, callee))
        return out


def channels(zip_path: Path) -> tuple[dict[str, object], list[np.ndarray]]:
    """The manifest and the WAVs' channels, segments played back to back."""
    with zipfile.ZipFile(zip_path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        parts: list[np.ndarray] = []
        for seg in manifest["segments"]:
            with wave.open(io.BytesIO(zf.read(seg["name"]))) as w:
                pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
                parts.append(pcm.reshape(-1, w.getnchannels()))
    joined = np.concatenate(parts)
    return manifest, [joined[:, c] for c in range(joined.shape[1])]


def _record(legs: Legs, same: bool, layout: str, side: str, late: float = 0.0) -> CallRecord:
    base = parse_call_record({**call_record("legs-1"), "channels": layout, "side": side})
    return replace(base, notices=legs.notices(same, late))


@pytest.mark.parametrize("side", ["caller", "callee"])
@pytest.mark.parametrize("same", [False, True], ids=["a-notice-per-party", "one-notice"])
def test_stereo_puts_each_party_on_its_channel_with_the_notice_it_heard(tmp_path: Path, side: str,
                                                                          same: bool) -> None:
    legs = Legs(notice_caller=1.2, notice_callee=1.2 if same else 1.9, gap=0.02, talk=6.0)
    if same:
        legs.callee_notice = legs.caller_notice.copy()  # the bridge played one notice to both
        legs.callee_heard = np.concatenate([legs.callee_notice, legs.caller_voice])
        legs.callee_side = np.concatenate([legs.callee_notice, legs.callee_voice])
    pkg = package_call(_record(legs, same, "stereo", side), legs.segments(tmp_path, [0.0, 4.0]),
                       tmp_path / "out")
    manifest, (left, right) = channels(pkg.zip_path)
    parties = ["caller", "callee"] if side == "caller" else ["callee", "caller"]
    mine, theirs = (legs.caller_side, legs.callee_side)[:: 1 if side == "caller" else -1]
    assert manifest["audio"] == {"layout": "stereo", "channels": parties}
    assert len(left) == len(mine)
    assert np.array_equal(left, mine)  # sample-exact, across the swap and the roll at 4 s
    assert np.array_equal(right, theirs)
    # The WAVs go with the package: both legs of both segments.
    assert len(pkg.wav_paths) == 4


@pytest.mark.parametrize("late", [0.0, 0.4, 1.5])
def test_stereo_finds_the_swap_in_a_leg_whose_head_came_late(tmp_path: Path, late: float) -> None:
    """Under load a recorder's head lags its RecordingStarted by a second and more (or frames are lost
    there): the timestamps then put the end of the notice that much too late in the file, inside the
    other party's voice. The caller's leg itself shows where its notice began."""
    legs = Legs(notice_caller=1.2, notice_callee=1.9, gap=0.05, talk=6.0, lead=0.3)
    pkg = package_call(_record(legs, False, "stereo", "caller", late), legs.segments(tmp_path, [0.0, 4.0]),
                       tmp_path / "out")
    _, (left, right) = channels(pkg.zip_path)
    assert np.array_equal(left, legs.caller_side)  # not one sample of the callee's voice on the left
    assert np.array_equal(right, legs.callee_side)


@pytest.mark.parametrize(("caller_late", "callee_late"), [(0.0, 0.25), (0.0, 1.0), (0.4, 0.9), (0.8, 0.1)])
@pytest.mark.parametrize("same", [False, True], ids=["a-notice-per-party", "one-notice"])
def test_stereo_lines_up_legs_whose_recorders_started_apart(tmp_path: Path, caller_late: float,
                                                            callee_late: float, same: bool) -> None:
    """Each leg's recorder starts on its own: under load one can lag the other by a second. Each
    leg's notice shows how late its head came, and the callee's leg is moved to line up with the
    caller's, for the whole call (across the roll at 4 s, where the next files join leg by leg)."""
    legs = Legs(notice_caller=1.2, notice_callee=1.2 if same else 1.9, gap=0.05, talk=6.0, lead=1.2)
    if same:
        legs.callee_notice = legs.caller_notice.copy()
        legs.callee_heard = np.concatenate([legs.callee_notice, legs.caller_voice])
        legs.callee_side = np.concatenate([legs.callee_notice, legs.callee_voice])
    segments = legs.segments(tmp_path, [0.0, 4.0], caller_late, callee_late)
    pkg = package_call(_record(legs, same, "stereo", "caller"), segments, tmp_path / "out")
    _, (left, right) = channels(pkg.zip_path)
    # The caller's leg sets the call's timeline: what its recorder missed is not in the file.
    skip = round(caller_late * RATE)
    assert len(left) == len(legs.caller_side) - skip
    assert np.array_equal(left, legs.caller_side[skip:])
    # The callee's side on the same timeline, sample-exact: what its recorder missed was silence.
    assert np.array_equal(right, legs.callee_side[skip:])


@pytest.mark.parametrize("callee_roll", [(0.0, 0.013), (0.0, -0.017), (0.007, 0.021), (-0.004, -0.009)])
@pytest.mark.parametrize("layout", ["stereo", "mono"])
def test_legs_that_roll_apart_join_without_a_hole_or_a_doubled_stretch(
        tmp_path: Path, callee_roll: tuple[float, float], layout: str) -> None:
    """Each leg's recorder of a segment starts and stops with its own request, so the callee's files
    begin and end some milliseconds apart from the caller's. Each leg is joined on its own audio, and
    the two stay on one timeline: sample-exact on both channels, across both rolls."""
    legs = Legs(notice_caller=1.2, notice_callee=1.9, gap=0.05, talk=9.0)
    segments = legs.segments(tmp_path, [0.0, 4.0, 7.5], callee_roll=callee_roll)
    pkg = package_call(_record(legs, False, layout, "caller"), segments, tmp_path / "out")
    manifest, out = channels(pkg.zip_path)
    assert [s["joined_by"] for s in manifest["segments"]] == [None, "audio", "audio"]  # type: ignore[attr-defined]
    if layout == "stereo":
        left, right = out
        assert len(left) == len(legs.caller_side)
        assert np.array_equal(left, legs.caller_side)
        assert np.array_equal(right, legs.callee_side)
    else:
        (mono,) = out
        both = legs.caller_side.astype(np.int32) + legs.callee_side.astype(np.int32)
        assert np.array_equal(mono, np.clip(both, -32768, 32767).astype(np.int16))


def test_mono_mixes_both_legs_with_each_notice_once(tmp_path: Path) -> None:
    legs = Legs(notice_caller=1.0, notice_callee=1.5, gap=0.02, talk=5.0)
    pkg = package_call(_record(legs, False, "mono", "caller"), legs.segments(tmp_path, [0.0, 3.0]),
                       tmp_path / "out")
    manifest, (mono,) = channels(pkg.zip_path)
    expected = np.clip(legs.caller_side.astype(np.int32) + legs.callee_side.astype(np.int32), -32768, 32767)
    assert manifest["audio"] == {"layout": "mono", "channels": ["both"]}
    assert np.array_equal(mono, expected.astype(np.int16))


def test_mono_takes_a_notice_played_to_both_once(tmp_path: Path) -> None:
    legs = Legs(notice_caller=1.0, notice_callee=1.0, gap=0.02, talk=3.0)
    legs.callee_heard = np.concatenate([legs.caller_notice, legs.caller_voice])
    pkg = package_call(_record(legs, True, "mono", "caller"), legs.segments(tmp_path, [0.0]),
                       tmp_path / "out")
    _, (mono,) = channels(pkg.zip_path)
    notice_len = len(legs.caller_notice)
    assert np.array_equal(mono[:notice_len - 80], legs.caller_notice[:notice_len - 80])  # not doubled
    talk = np.clip(legs.caller_voice.astype(np.int32) + legs.callee_voice.astype(np.int32), -32768, 32767)
    after = mono[notice_len + 80:]
    assert len(after) >= len(talk) - 81
    assert np.array_equal(after, talk[80:80 + len(after)].astype(np.int16))


def test_a_lost_leg_is_silence_not_a_lost_call(tmp_path: Path) -> None:
    legs = Legs(notice_caller=1.0, notice_callee=1.0, gap=0.02, talk=3.0)
    seg = legs.segments(tmp_path, [0.0])[0]
    lost = SegmentFile(seg.path, seg.started_at, True, None)
    pkg = package_call(_record(legs, False, "stereo", "caller"), [lost], tmp_path / "out")
    _, (left, right) = channels(pkg.zip_path)
    n = len(legs.caller_notice)
    assert np.array_equal(left[:n - 80], legs.caller_notice[:n - 80])  # the caller's notice is there
    assert not left[n + 80:].any()  # its voice was in the lost leg
    after = right[n + 80:]
    assert len(after) >= len(legs.callee_voice) - 81
    assert np.array_equal(after, legs.callee_voice[80:80 + len(after)])  # the callee's voice is whole


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.tuples(st.integers(0, 400), st.integers(-50, 450), st.booleans()), min_size=1,
                      max_size=5),
       offset=st.integers(0, 2500), blocks=st.lists(st.integers(1, 300), min_size=1, max_size=8))
def test_the_callee_leg_reads_its_files_back_to_back_from_any_offset(
        parts: list[tuple[int, int, bool]], offset: int, blocks: list[int]) -> None:
    """Each file from its skip (silence before it for a negative one) to its end, a lost one as its
    frames of silence, then silence for good: read from any offset, in any blocks."""
    with tempfile.TemporaryDirectory() as tmp:
        leg, expected = CalleeLeg(), []
        for i, (length, skip, lost) in enumerate(parts):
            data = [(1000 * (i + 1) + n) % 30000 for n in range(length)]  # every sample says where it is from
            if lost:
                leg.add(None, 0, length)
                expected += [0] * length
                continue
            leg.add(read_info(write_wav(Path(tmp) / f"{i}.wav", data)), skip, length)
            expected += [0] * max(0, -skip) + data[max(0, skip):]
        reader = leg.reader(offset)
        try:
            got = b"".join(reader.read(n) for n in blocks)
        finally:
            reader.close()
        first = leg.samples(offset, blocks[0])
    want = (expected[offset:] + [0] * sum(blocks))[:sum(blocks)]
    assert np.frombuffer(got, dtype="<i2").tolist() == want
    assert first == want[:blocks[0]]
