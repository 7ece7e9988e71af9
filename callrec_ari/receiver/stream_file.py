"""One streamed call on the customer's disk: ``<name>.wav.part`` grows as packets arrive, then is
finalized (header fixed, fsync, renamed to ``<name>.wav``) with ``<name>.json`` beside it.

Blocking but small (one packet's PCM at a time); called from the receiver's event loop.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

from callrec_ari.delivery.packaging import fsync_dir
from callrec_ari.delivery.wavfile import WavInfo, wav_header
from callrec_ari.rules.manifest import format_utc, idempotency_key
from callrec_ari.rules.stream import Timeline
from callrec_ari.streaming.metadata import StreamMetadata

HEADER_SIZE: Final = 44
SAMPLE_WIDTH: Final = 2  # 16-bit PCM, whatever the wire format
SILENCE_CHUNK: Final = 1 << 16  # frames


def free_stem(directory: Path, call_id: str) -> str:
    """``<call_id>``, or ``<call_id>.2``, ``.3``… when the call was already (partly) written: a stream
    announced again after a receiver restart goes on in a new file, never over the old one."""
    key = idempotency_key(call_id)
    for n in range(1, 1000):
        stem = key if n == 1 else f"{key}.{n}"
        if not any((directory / f"{stem}{ext}").exists() for ext in (".wav", ".wav.part", ".json")):
            return stem
    raise FileExistsError(f"too many files for call {call_id!r} in {directory}")


class StreamFile:
    def __init__(self, directory: Path, stem: str, sample_rate: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.stem = stem
        self.sample_rate = sample_rate
        self.frames = 0
        self.silence_frames = 0
        self.part = directory / f"{stem}.wav.part"
        self.wav = directory / f"{stem}.wav"
        self.meta = directory / f"{stem}.json"
        self._fh: BinaryIO | None = self.part.open("xb")
        self._fh.write(wav_header(self._info(), 0))  # placeholder, fixed at finalize

    def _info(self) -> WavInfo:
        return WavInfo(self.wav, 1, SAMPLE_WIDTH, self.sample_rate, self.frames)

    @property
    def closed(self) -> bool:
        return self._fh is None

    def write_pcm(self, pcm16le: bytes) -> None:
        if self._fh is not None:
            self._fh.write(pcm16le)
            self.frames += len(pcm16le) // SAMPLE_WIDTH

    def write_silence(self, frames: int) -> None:
        self.silence_frames += frames
        while frames > 0:
            n = min(frames, SILENCE_CHUNK)
            self.write_pcm(bytes(n * SAMPLE_WIDTH))
            frames -= n

    def finalize(self, document: dict[str, Any]) -> None:
        """Fix the header, make it durable, rename; then write the JSON beside it (also atomically)."""
        if self._fh is None:
            return
        fh, self._fh = self._fh, None
        try:
            fh.seek(0)
            fh.write(wav_header(self._info(), self.frames))
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fh.close()
        os.replace(self.part, self.wav)
        tmp = self.meta.with_suffix(".json.part")
        with tmp.open("w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, ensure_ascii=False)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.meta)
        fsync_dir(self.directory)


@dataclass(slots=True)
class StreamStats:
    packets: int = 0
    lost: int = 0  # packets never received (their time is silence in the WAV)
    duplicates: int = 0
    late: int = 0
    discontinuities: int = 0
    unexpected_payload: int = 0
    first_packet_at: datetime | None = None
    last_packet_at: datetime | None = None


@dataclass(slots=True)
class StreamCall:
    metadata: StreamMetadata
    file: StreamFile
    start_received_at: datetime
    stats: StreamStats = field(default_factory=StreamStats)
    timeline: Timeline | None = None
    last_activity: float = field(default_factory=time.monotonic)
    end_reason: str = ""
    ended_at: datetime | None = None

    def document(self) -> dict[str, Any]:
        s = self.stats

        def stamp(value: datetime | None) -> str | None:
            return None if value is None else format_utc(value)

        return {"version": 1, "call_id": self.metadata.call_id, "file": self.file.wav.name,
                "metadata": self.metadata.to_json(), "start_received_at": stamp(self.start_received_at),
                "first_packet_at": stamp(s.first_packet_at), "last_packet_at": stamp(s.last_packet_at),
                "ended_at": stamp(self.ended_at), "end_reason": self.end_reason,
                "sample_rate": self.file.sample_rate, "frames": self.file.frames,
                "duration_seconds": round(self.file.frames / self.file.sample_rate, 6),
                "silence_frames": self.file.silence_frames, "packets": s.packets, "lost": s.lost,
                "duplicates": s.duplicates, "late": s.late, "discontinuities": s.discontinuities,
                "unexpected_payload": s.unexpected_payload}


__all__ = ["StreamCall", "StreamFile", "StreamStats", "free_stem"]
