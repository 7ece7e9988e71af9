"""Reading Asterisk's PCM WAVs and writing a (head-trimmed) copy as a stream, chunk by chunk."""

from __future__ import annotations

import struct
import sys
import wave
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK_FRAMES = 32_768


class BadWav(ValueError):
    error_id = "segment-unreadable"


@dataclass(frozen=True, slots=True)
class WavInfo:
    path: Path
    channels: int
    sample_width: int  # bytes per sample
    sample_rate: int
    frames: int

    @property
    def frame_size(self) -> int:
        return self.channels * self.sample_width


def read_info(path: Path) -> WavInfo:
    try:
        with wave.open(str(path), "rb") as wav:
            return WavInfo(path, wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise BadWav(f"cannot read WAV {path}: {exc}") from exc


def wav_header(info: WavInfo, frames: int) -> bytes:
    """Canonical 44-byte PCM header: written first, so the copy never needs a seek."""
    data_len = frames * info.frame_size
    byte_rate = info.sample_rate * info.frame_size
    return (
        b"RIFF" + struct.pack("<I", 36 + data_len) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, info.channels, info.sample_rate, byte_rate,
                                info.frame_size, info.sample_width * 8)
        + b"data" + struct.pack("<I", data_len)
    )


def iter_trimmed(info: WavInfo, skip_frames: int, header: bool = True) -> Iterator[bytes]:
    """The WAV without its first ``skip_frames`` frames: header (unless ``header`` is false), then the
    PCM data in chunks."""
    keep = info.frames - skip_frames
    if header:
        yield wav_header(info, keep)
    with wave.open(str(info.path), "rb") as wav:
        wav.setpos(skip_frames)
        left = keep
        while left > 0:
            data = wav.readframes(min(CHUNK_FRAMES, left))
            if not data:
                raise BadWav(f"{info.path}: file shorter than its header says")
            left -= len(data) // info.frame_size
            yield data


def read_samples(info: WavInfo, start: int, frames: int) -> array[int]:
    """``frames`` 16-bit samples from frame ``start`` (mono 16-bit PCM); fewer (or none) where the file
    ends first: a leg recorded apart can be shorter than the other (its recorder started later)."""
    with wave.open(str(info.path), "rb") as wav:
        wav.setpos(max(0, min(start, wav.getnframes())))
        samples = array("h", wav.readframes(frames))
    if sys.byteorder == "big":
        samples.byteswap()  # WAV is little-endian
    return samples


__all__ = ["BadWav", "WavInfo", "iter_trimmed", "read_info", "read_samples", "wav_header"]
