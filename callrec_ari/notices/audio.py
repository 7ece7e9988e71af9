"""Validate an uploaded notice and convert it to what Asterisk plays (R2.7).

Accepted: a PCM WAV (RIFF/WAVE, 8-bit to 32-bit integer samples, 1 or 2 channels, 8-48 kHz),
between ``min_seconds`` and ``max_seconds`` long, at most ``max_bytes``. Output: 8 kHz, 16-bit, mono
PCM WAV (Asterisk's native ``.wav`` format for narrowband calls), converted by sox.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

SOX = "sox"
TARGET_RATE = 8000
RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)


class NoticeAudioError(ValueError):
    """Bad upload: nothing is stored. ``error_id`` is stable (docs/portal.md)."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


@dataclass(frozen=True, slots=True)
class AudioLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_seconds: float = 30.0
    min_seconds: float = 0.5


@dataclass(frozen=True, slots=True)
class WavInfo:
    channels: int
    sample_rate: int
    sample_width: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def inspect_wav(data: bytes, limits: AudioLimits) -> WavInfo:
    """The upload's format, or :class:`NoticeAudioError` saying exactly what is wrong."""
    if not data:
        raise NoticeAudioError("notice-empty", "the uploaded file is empty")
    if len(data) > limits.max_bytes:
        raise NoticeAudioError(
            "notice-too-large", f"the file is {len(data)} bytes; the limit is {limits.max_bytes} bytes"
        )
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise NoticeAudioError("notice-not-wav", "the file is not a WAV recording (no RIFF/WAVE header)")
    try:
        with wave.open(io.BytesIO(data)) as wav:
            info = WavInfo(wav.getnchannels(), wav.getframerate(), wav.getsampwidth(), wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise NoticeAudioError(
            "notice-wav-invalid", f"the WAV file cannot be read ({exc}); send uncompressed PCM WAV"
        ) from exc
    if info.channels not in (1, 2):
        raise NoticeAudioError("notice-channels", f"{info.channels} channels: send mono or stereo")
    if info.sample_rate not in RATES:
        raise NoticeAudioError(
            "notice-sample-rate",
            f"sample rate {info.sample_rate} Hz is not one of {', '.join(map(str, RATES))} Hz",
        )
    if info.sample_width not in (1, 2, 3, 4):
        raise NoticeAudioError("notice-wav-invalid", f"{8 * info.sample_width}-bit samples are not supported")
    header_frames = (len(data) - 44) // (info.channels * info.sample_width)
    if info.frames == 0 or header_frames <= 0:
        raise NoticeAudioError("notice-empty", "the WAV file holds no audio")
    if info.frames > header_frames + 1:
        raise NoticeAudioError(
            "notice-wav-invalid", "the WAV file is truncated (fewer samples than declared)"
        )
    if info.seconds > limits.max_seconds:
        raise NoticeAudioError(
            "notice-too-long", f"the notice lasts {info.seconds:.1f} s; the limit is {limits.max_seconds:g} s"
        )
    if info.seconds < limits.min_seconds:
        raise NoticeAudioError(
            "notice-too-short", f"the notice lasts {info.seconds:.2f} s; at least {limits.min_seconds:g} s"
        )
    return info


def convert_to_asterisk(data: bytes, timeout: float = 20.0) -> bytes:
    """8 kHz 16-bit mono PCM WAV, through sox (dithered, band-limited resampling)."""
    with tempfile.TemporaryDirectory(prefix="callrec-notice-") as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        src.write_bytes(data)
        try:
            proc = subprocess.run(
                [
                    SOX,
                    "-q",
                    str(src),
                    "-r",
                    str(TARGET_RATE),
                    "-b",
                    "16",
                    "-c",
                    "1",
                    "-e",
                    "signed-integer",
                    str(dst),
                ],
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NoticeAudioError("notice-conversion-failed", f"the conversion failed: {exc}") from exc
        if proc.returncode != 0 or not dst.exists():
            detail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise NoticeAudioError("notice-conversion-failed", f"the conversion failed: {detail[0]}")
        return dst.read_bytes()


def prepare_notice(data: bytes, limits: AudioLimits) -> tuple[bytes, WavInfo]:
    """Validate, convert, and check the result: the converted WAV and its format."""
    inspect_wav(data, limits)
    converted = convert_to_asterisk(data)
    out = inspect_wav(
        converted,
        AudioLimits(max_bytes=limits.max_bytes * 4, max_seconds=limits.max_seconds + 1, min_seconds=0.0),
    )
    if (out.sample_rate, out.channels, out.sample_width) != (TARGET_RATE, 1, 2):
        raise NoticeAudioError("notice-conversion-failed", "the converted notice is not 8 kHz 16-bit mono")
    return converted, out


__all__ = [
    "AudioLimits",
    "NoticeAudioError",
    "WavInfo",
    "convert_to_asterisk",
    "inspect_wav",
    "prepare_notice",
]
