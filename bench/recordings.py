"""Whether a recording of a bench call is good: its length and both parties' tones after the notice."""

from __future__ import annotations

import io
import json
import sys
import wave
import zipfile
from pathlib import Path

import numpy as np

from bench.common import ROOT
from bench.notice import notice_seconds

sys.path.insert(0, str(ROOT))
from tests.support.audio import Audio

CALLER_TONE, CALLEE_TONE = 1200, 1800
# Both parties' tones must be heard from this long after the recording's start: the notice and the
# tone (bench/notice.py; 4.9 + 0.44 s for the Japanese notice) and a second's margin for the unmute.
TALK_MARGIN_S = 1.0
# The baseline's file starts at its Dial, before the answer: half a second for the ringing (the margin
# it had, 1.5 s, before both played the same notice). Its caller is answered with the callee, its
# notice played after that answer (bench/asterisk/extensions-local.conf), so its file is as long as the
# app's: the call's length, and at most the ringing more.
RINGING_S = 0.5


def talk_from_s() -> float:
    return notice_seconds() + TALK_MARGIN_S


def check_audio(pcm_audio: Audio, talk_s: float, slack_after: float,
                before_answer_s: float = 0.0) -> str | None:
    """None if the recording is complete and correct, else why not. ``before_answer_s``: how much
    of the file may come before the answer (the baseline's MixMonitor starts before its Dial)."""
    d = pcm_audio.duration
    if not (talk_s - 1.5 <= d <= talk_s + slack_after):
        return f"duration {d:.2f}s (call {talk_s:.0f}s)"
    talk = slice(int((talk_from_s() + before_answer_s) / 0.05), int((d - 0.5) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        present = pcm_audio.present(freq)[talk]
        if present.size == 0 or present.mean() < 0.9:
            return f"tone {freq} Hz in {present.mean() if present.size else 0:.0%} of the talk"
    return None


def check_zip(path: Path, talk_s: float) -> str | None:
    """A stereo copy (the per-leg bench mode) is checked as its two channels mixed, and each party's
    tone must be on its own channel only (the caller's left, the callee's right)."""
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("manifest.json"))
            names = [s["name"] for s in sorted(manifest["segments"], key=lambda s: s["order"])]
            pcm, channels = b"", 1
            for n in names:
                with wave.open(io.BytesIO(z.read(n))) as w:
                    channels = w.getnchannels()
                    pcm += w.readframes(w.getnframes())
    except Exception as exc:
        return f"unreadable: {exc!r}"
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64).reshape(-1, channels) / 32768.0
    return check_channels(samples, talk_s, 1.0)


def check_channels(samples: np.ndarray, talk_s: float, slack_after: float,
                   before_answer_s: float = 0.0) -> str | None:
    """``samples`` (frames x channels, -1.0 .. 1.0): the channels mixed are checked as a mono
    recording is, and on two channels each party's tone must be on its own only (the caller's first,
    the other party's second)."""
    audio = Audio(np.ascontiguousarray(samples.sum(axis=1).clip(-1, 1)), 8000)
    wrong = check_audio(audio, talk_s, slack_after, before_answer_s)
    if wrong or samples.shape[1] == 1:
        return wrong
    for ch, other in ((0, CALLEE_TONE), (1, CALLER_TONE)):
        side = Audio(np.ascontiguousarray(samples[:, ch]), 8000)
        talk = slice(int((talk_from_s() + before_answer_s) / 0.05), int((side.duration - 0.5) / 0.05))
        if side.present(other)[talk].mean() > 0.02:
            return f"tone {other} Hz on channel {ch + 1}, the other party's"
    return None


def check_raw_stereo(path: Path, talk_s: float) -> str | None:
    """A baseline file of MixMonitor's ``D`` option (bench/stereo_cost.py): 16-bit samples of the
    caller's leg, what it says and what it hears side by side, no header."""
    try:
        pcm = path.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc!r}"
    if len(pcm) % 4:
        return f"{len(pcm)} bytes: not whole 2-channel frames"
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64).reshape(-1, 2) / 32768.0
    return check_channels(samples, talk_s, 1.0 + RINGING_S, RINGING_S)


def check_wav(path: Path, talk_s: float) -> str | None:
    try:
        audio = Audio.from_wav_bytes(path.read_bytes())
    except Exception as exc:
        return f"unreadable: {exc!r}"
    # The baseline's MixMonitor starts before Dial: its file holds the ringing and the announcement
    # Dial's A() plays before it connects the parties, then the rest of the call's length.
    return check_audio(audio, talk_s, 1.0 + RINGING_S, RINGING_S)
