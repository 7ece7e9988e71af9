"""Package one recorded call: its WAV segments plus manifest.json, in one ZIP.

Asterisk's recording files of a call overlap (each next one starts before the one before stops,
rules/segments.py): their heads' repeats are trimmed where the audio shows the join
(rules/splice.py), and the call's audio so joined is cut into segments of ``segment_seconds`` (R1.2).
A cut inside one recording file is exact by construction (``joined_by`` "continuous"); a join between
two files is exact where it was found in the audio ("audio"), else placed by the start times.

A call whose legs were recorded apart becomes one WAV per segment all the same: mixed, or one party
per channel (delivery/channels.py), as the copy's contract or line chose.

Written as ``<key>.zip.part``, fsynced, then renamed, so a ZIP in the outbox is always complete.
Deterministic: the same call packaged twice gives the same bytes (the receiver's idempotency and a
re-run after a crash rely on it).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from callrec_ari.delivery.channels import CalleeLeg, iter_legs, leg_offset, swap_frame
from callrec_ari.delivery.wavfile import (
    BadWav,
    WavInfo,
    channel_of,
    iter_trimmed,
    read_info,
    read_samples,
    wav_header,
)
from callrec_ari.model.call import SegmentFile
from callrec_ari.rules.manifest import (
    JOINED_BY_AUDIO,
    JOINED_BY_CONTINUOUS,
    JOINED_BY_START_TIMES,
    MANIFEST_NAME,
    CallRecord,
    InvalidCallRecord,
    SegmentEntry,
    build_manifest,
    idempotency_key,
    manifest_bytes,
    overlap_frames,
    parse_call_record,
    parse_utc,
    segment_name,
    zip_name,
)
from callrec_ari.rules.splice import matching_overlap, window_frames

READ_CHUNK = 1 << 20
OWN_CHANNEL, HEARD_CHANNEL = 1, 2  # of a file of MixMonitor's D: the leg's voice, what it heard


Segment = SegmentFile  # a WAV written by Asterisk and the UTC time its first frame was recorded


@dataclass(frozen=True, slots=True)
class Package:
    call: CallRecord
    key: str
    zip_path: Path
    size: int
    sha256: str
    wav_paths: tuple[Path, ...]
    manifest: dict[str, Any]


def as_segments(items: Sequence[Segment | tuple[str | Path, str | datetime]]) -> list[Segment]:
    out: list[Segment] = []
    for i, item in enumerate(items, start=1):
        if isinstance(item, Segment):
            out.append(item)
        else:
            path, started = item
            out.append(Segment(Path(path), parse_utc(started, f"segment {i} started_at")))
    return out


def file_digest(path: Path) -> tuple[int, str]:
    """Size and sha256 of a file, read in chunks (flat memory)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _zip_info(name: str, stamp: datetime, level: int) -> zipfile.ZipInfo:
    """``level`` 0 stores the entry (the default: PCM audio deflates by 5-20 % for 45-65 times the
    CPU, measured in docs/performance.md); 1-9 deflates at that level."""
    info = zipfile.ZipInfo(name, date_time=(max(stamp.year, 1980), stamp.month, stamp.day,
                                            stamp.hour, stamp.minute, stamp.second))
    info.compress_type = zipfile.ZIP_DEFLATED if level else zipfile.ZIP_STORED
    if level:
        # ZipFile.open(info, "w") reads the level from the ZipInfo (compress_level from 3.13 on).
        setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", level)
    info.external_attr = 0o644 << 16
    return info


def _legs(seg: Segment) -> tuple[WavInfo, WavInfo | None]:
    """A segment's file as the caller's leg (what it heard) and the second stream beside it: what the
    callee heard (None: not recorded apart, or its file lost), or the caller's own voice."""
    if seg.interleaved:
        both = read_info(seg.path)
        return channel_of(both, HEARD_CHANNEL), channel_of(both, OWN_CHANNEL)
    return read_info(seg.path), read_info(seg.callee_heard) if seg.callee_heard is not None else None


HEAD_SEARCH_S = 2  # how far past the timestamps' estimate the next segment's head is searched


def audio_overlap(prev: WavInfo, nxt: WavInfo, estimate: int) -> int | None:
    """The overlap of two segments found from their audio (rules/splice.py), or None when the audio
    cannot tell (N ends in silence, no match). Mono 16-bit PCM only (what Asterisk records as wav)."""
    if (prev.channels, prev.sample_width, nxt.channels, nxt.sample_width) != (1, 2, 1, 2):
        return None
    w = window_frames(prev.sample_rate)
    tail = read_samples(prev, max(0, prev.frames - w), w)
    head = read_samples(nxt, 0, min(nxt.frames, max(estimate, 0) + w + HEAD_SEARCH_S * nxt.sample_rate))
    found = matching_overlap(tail, head, estimate, prev.sample_rate)
    return None if found is None else min(found, nxt.frames)


@dataclass(frozen=True, slots=True)
class Take:
    """One recording file as it enters the call's audio, after the head it repeats was trimmed."""

    started_at: datetime  # UTC time of its first kept frame
    first: int  # its first kept frame's place in the call's audio
    frames: int
    trim: int  # frames dropped from its head (the previous recording had them)
    joined_by: str | None  # how it joins the previous recording; None for the first
    chunks: Callable[[], Iterator[bytes]]  # its kept PCM, no header


@dataclass(frozen=True, slots=True)
class Cut:
    """One delivered segment: ``frames`` frames of the call's audio from frame ``first`` on."""

    first: int
    frames: int


def cuts(takes: Sequence[Take], segment_frames: int | None) -> list[Cut]:
    """Where the call's audio is cut into segments: every ``segment_frames`` frames (R1.2), or, with
    None, where each recording file begins (one segment per file, as Asterisk wrote them)."""
    if segment_frames is None:
        return [Cut(t.first, t.frames) for t in takes]
    if segment_frames < 1:
        raise ValueError(f"a segment must hold at least one frame, not {segment_frames}")
    total = sum(t.frames for t in takes)
    return [Cut(at, min(segment_frames, total - at)) for at in range(0, total, segment_frames)] or [Cut(0, 0)]


def describe(cut: Cut, order: int, takes: Sequence[Take], rate: int) -> tuple[datetime, int, str | None]:
    """A segment's start time, the frames trimmed at the joins it holds, and how it joins the one
    before: the weakest of the joins between recordings at its start or inside it
    (``start_times`` < ``audio``), or ``continuous`` when it only continues one recording (None for the
    first segment, unless a join lies inside it)."""
    home = next((t for t in reversed(takes) if t.first <= cut.first and (t.frames or t.first == cut.first)),
                takes[0])
    start = home.started_at + timedelta(microseconds=(cut.first - home.first) * 1_000_000 // rate)
    joins = [t for t in takes[1:] if cut.first <= t.first < cut.first + max(cut.frames, 1)]
    if not joins:
        return start, 0, None if order == 1 else JOINED_BY_CONTINUOUS
    weak = any(t.joined_by == JOINED_BY_START_TIMES for t in joins)
    return start, sum(t.trim for t in joins), JOINED_BY_START_TIMES if weak else JOINED_BY_AUDIO


class PcmStream:
    """The takes' PCM back to back, read in exact byte counts (memory: one chunk at a time)."""

    def __init__(self, takes: Sequence[Take]) -> None:
        self._chunks = itertools.chain.from_iterable(t.chunks() for t in takes)
        self._held = b""

    def read(self, n: int) -> Iterator[bytes]:
        while n > 0:
            if not self._held:
                self._held = next(self._chunks, b"")
                if not self._held:
                    raise BadWav(f"the recordings hold {n} bytes fewer than their headers say")
            piece, self._held = self._held[:n], self._held[n:]
            n -= len(piece)
            yield piece


def package_call(record: Mapping[str, Any] | CallRecord,
                 segments: Sequence[Segment | tuple[str | Path, str | datetime]],
                 outbox: Path, zip_level: int = 0, segment_seconds: float | None = None) -> Package:
    """Build ``<outbox>/<key>.zip`` for one call. Raises InvalidCallRecord or BadWav on bad input.

    ``segments`` are the recording files of the call, in order (Asterisk's; each next one overlapping
    the one before). The call's audio joined from them is cut into segments of ``segment_seconds``
    (R1.2; None: one per file)."""
    call = record if isinstance(record, CallRecord) else parse_call_record(record)
    segs = as_segments(segments)
    if not segs:
        raise InvalidCallRecord(f"call {call.call_id}: no segments to package")
    per_leg = any(s.per_leg or s.interleaved for s in segs)
    # Each leg recorded apart: what the caller heard, and beside it what the callee heard (None: lost)
    # or, for a file of both directions of the caller's leg (MixMonitor's D), the caller's own voice.
    infos, legs_b = zip(*(_legs(s) for s in segs), strict=True)
    formats = {(i.sample_rate, i.channels, i.sample_width) for i in [*infos, *(b for b in legs_b if b)]}
    if len(formats) != 1:
        raise BadWav(f"call {call.call_id}: segments differ in sample rate, channels or width")
    stereo = per_leg and call.channels == "stereo"
    shared_notice = any(n.to == "both" for n in call.notices)
    rate = infos[0].sample_rate
    takes: list[Take] = []
    callee = CalleeLeg()  # the callee's leg, per leg: one stream of its own files (delivery/channels.py)
    for order, (seg, info) in enumerate(zip(segs, infos, strict=True), start=1):
        trim = trim_b = 0
        joined_by: str | None = None
        leg_b = legs_b[order - 1]
        if order > 1:
            prev, prev_info = segs[order - 2], infos[order - 2]
            estimate = overlap_frames(prev.started_at, prev_info.frames, seg.started_at,
                                      info.sample_rate, info.frames)
            found = audio_overlap(prev_info, info, estimate)
            prev_b = legs_b[order - 2]
            found_b = audio_overlap(prev_b, leg_b, estimate) if prev_b and leg_b else None
            # "audio": the end of N was found in N+1 (on each leg recorded), so nothing fell between.
            by_audio = found is not None and (found_b is not None or not (prev_b and leg_b))
            if prev.interleaved and seg.interleaved:
                # One recorder's two directions, paired alike within a frame or two: where one ends in
                # silence (no match), the other's join is nearer than the start times.
                found, found_b = (found if found is not None else found_b), (
                    found_b if found_b is not None else found)
            trim = estimate if found is None else found
            trim_b = estimate if found_b is None else found_b
            joined_by = JOINED_BY_AUDIO if by_audio else JOINED_BY_START_TIMES
        start = seg.started_at + timedelta(microseconds=trim * 1_000_000 // info.sample_rate)
        frames = info.frames - trim
        first = takes[-1].first + takes[-1].frames if takes else 0
        chunks: Callable[[], Iterator[bytes]]
        if per_leg:
            if order == 1 and not seg.interleaved:
                # The callee's recorder may have started later (or sooner) than the caller's.
                trim_b = leg_offset(info, leg_b, frames, start, call.heard_from("caller"),
                                    call.heard_from("callee"))
            # Its file from where its last one ended, to its own end (not the caller's file's): its
            # stream stays in step with the caller's leg, ``first`` frames into the call here.
            callee.add(leg_b, trim_b, frames)
            swap = swap_frame(info, callee, trim, first, frames, start, call.talk_from,
                              call.heard_from("caller"))
            chunks = functools.partial(iter_legs, info, callee, trim, first, frames, swap, stereo, call.side,
                                       shared_notice, header=False, own_voice=seg.interleaved)
        else:
            chunks = functools.partial(iter_trimmed, info, trim, header=False)
        takes.append(Take(start, first, frames, trim, joined_by, chunks))
    out = WavInfo(infos[0].path, 2 if stereo else infos[0].channels, infos[0].sample_width, rate, 0)
    segment_frames = None if segment_seconds is None else max(1, round(segment_seconds * rate))
    key = idempotency_key(call.call_id, call.contract)
    outbox.mkdir(parents=True, exist_ok=True)
    final = outbox / zip_name(key)
    part = final.with_name(final.name + ".part")
    entries: list[SegmentEntry] = []
    pcm = PcmStream(takes)
    with zipfile.ZipFile(part, "w", allowZip64=True) as zf:
        for order, cut in enumerate(cuts(takes, segment_frames), start=1):
            start, trimmed, joined = describe(cut, order, takes, rate)
            name = segment_name(order)
            header = wav_header(out, cut.frames)
            digest, size = hashlib.sha256(header), len(header)
            with zf.open(_zip_info(name, call.ended, zip_level), "w", force_zip64=True) as dest:
                dest.write(header)
                for chunk in pcm.read(cut.frames * out.frame_size):
                    digest.update(chunk)
                    size += len(chunk)
                    dest.write(chunk)
            entries.append(SegmentEntry(
                order=order, name=name, started_at=start,
                frames=cut.frames, sample_rate=rate, trimmed_frames=trimmed,
                size=size, sha256=digest.hexdigest(), joined_by=joined,
            ))
        manifest = build_manifest(call, key, entries)
        zf.writestr(_zip_info(MANIFEST_NAME, call.ended, zip_level), manifest_bytes(manifest))
    with part.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(part, final)
    fsync_dir(outbox)
    size, sha = file_digest(final)
    return Package(call=call, key=key, zip_path=final, size=size, sha256=sha,
                   wav_paths=tuple(p for s in segs for p in s.paths), manifest=manifest)


__all__ = ["Cut", "Package", "PcmStream", "Segment", "Take", "as_segments", "cuts", "describe", "file_digest",
           "fsync_dir", "package_call"]
