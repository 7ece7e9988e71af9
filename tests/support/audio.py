"""Reading recorded WAVs and telling which tones are in them, window by window (Goertzel)."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

WINDOW_S = 0.05


@dataclass(frozen=True)
class Audio:
    samples: npt.NDArray[np.float64]  # -1.0 .. 1.0
    rate: int

    @classmethod
    def from_wav_bytes(cls, data: bytes) -> Audio:
        with wave.open(io.BytesIO(data)) as w:
            assert w.getsampwidth() == 2, "expected 16-bit PCM"
            frames = w.readframes(w.getnframes())
            rate = w.getframerate()
            channels = w.getnchannels()
        pcm = np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0
        if channels > 1:
            pcm = pcm.reshape(-1, channels).mean(axis=1)
        return cls(pcm, rate)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def windows(self) -> npt.NDArray[np.float64]:
        n = int(self.rate * WINDOW_S)
        usable = len(self.samples) // n * n
        return self.samples[:usable].reshape(-1, n)

    def tone_level(self, freq: float) -> npt.NDArray[np.float64]:
        """Amplitude of ``freq`` in each window (a full-scale sine reads 1.0)."""
        w = self.windows()
        n = w.shape[1]
        t = np.arange(n) / self.rate
        ref = np.exp(-2j * np.pi * freq * t)
        return np.asarray(2 * np.abs(w @ ref) / n)

    def rms(self) -> npt.NDArray[np.float64]:
        return np.asarray(np.sqrt((self.windows() ** 2).mean(axis=1)))

    def present(self, freq: float, threshold: float = 0.05) -> npt.NDArray[np.bool_]:
        return self.tone_level(freq) > threshold

    @staticmethod
    def time_of(index: int) -> float:
        return index * WINDOW_S
