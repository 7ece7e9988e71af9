"""Where a finished call's segment files are, for packaging.

With Asterisk on this host (the usual deployment, or a shared volume) the files are read in place
from its recording directory. With a remote Asterisk they are fetched over ARI into our own spool
and removed from Asterisk, so the platform keeps exactly one copy.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from pathlib import Path

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError, AriNotFound
from callrec_ari.model.call import RecordedSegment, SegmentFile
from callrec_ari.rules.segments import RAW_SUFFIX, callee_leg_name

log = logging.getLogger(__name__)


class SegmentMissing(RuntimeError):
    error_id = "segment-missing"


def repair_wav_header(path: Path) -> bool:
    """Asterisk writes the sizes in a WAV header when it closes the file: after a crash they are
    stale. Rewrite them from the file's length so every sample written is kept. True if changed."""
    with open(path, "r+b") as fh:
        head = fh.read(44)
        if len(head) < 44 or head[:4] != b"RIFF" or head[8:12] != b"WAVE" or head[36:40] != b"data":
            return False  # not the canonical 44-byte PCM header Asterisk writes: leave it alone
        block_align = struct.unpack_from("<H", head, 32)[0] or 1
        size = os.fstat(fh.fileno()).st_size
        data = (size - 44) // block_align * block_align
        riff, data_len = struct.unpack_from("<I", head, 4)[0], struct.unpack_from("<I", head, 40)[0]
        if data_len == data and riff == 36 + data:
            return False
        fh.seek(4)
        fh.write(struct.pack("<I", 36 + data))
        fh.seek(40)
        fh.write(struct.pack("<I", data))
        return True


async def collect_segments(
    segments: tuple[RecordedSegment, ...], fmt: str, recording_dir: str, spool_dir: Path, ari: AriClient,
    per_leg: bool = False,
) -> list[SegmentFile]:
    """The segments' files; with ``per_leg``, each with the callee's leg beside the caller's (a leg
    whose file is missing is logged and packaged as silence: the other leg is still the call). A
    segment recorded as both directions of the caller's leg in one raw file (MixMonitor's D,
    media/mixmonitor.py: ``<name>.raw``, in Asterisk's folder on this host) is that file, whichever
    the plan."""
    out: list[SegmentFile] = []
    for segment in segments:
        if segment.started_at is None:
            continue
        try:
            path = await _segment_file(segment.name, fmt, recording_dir, spool_dir, ari)
        except SegmentMissing as exc:
            if not segment.failed:
                raise  # a file that should be there: the call waits for an operator, nothing is lost
            # Its recorder failed and left nothing: the call's other segments are still its recording
            # (delivered, the call marked recording-failed), not held back for want of this one.
            log.error("segment %s failed and left no file: delivered without it (%s)", segment.name, exc)
            continue
        if path.suffix == RAW_SUFFIX:
            out.append(SegmentFile(path, segment.started_at, True, None, interleaved=True))
            continue
        callee: Path | None = None
        if per_leg:
            try:
                # The call ended once the caller's leg recording had finished; the callee's may still
                # be closing: its file is complete (and its header right) only once it has.
                await _closed(ari, callee_leg_name(segment.name))
                callee = await _segment_file(callee_leg_name(segment.name), fmt, recording_dir, spool_dir,
                                             ari)
            except SegmentMissing as exc:
                log.error("segment %s: the callee's leg is missing, packaged as silence: %s", segment.name,
                          exc)
        out.append(SegmentFile(path, segment.started_at, per_leg, callee))
    return out


LEG_CLOSE_TIMEOUT_S = 10.0


async def _closed(ari: AriClient, name: str, timeout: float = LEG_CLOSE_TIMEOUT_S) -> None:
    """Until Asterisk no longer records ``name`` (bounded: past it the file is taken as it is, its
    header repaired from its length, and that is logged)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            if not await ari.recording_is_live(name):
                return
        except AriError as exc:  # Asterisk cannot say: the file is what there is
            log.warning("recording %s: whether it is still being written is unknown: %s", name, exc)
            return
        if asyncio.get_running_loop().time() >= deadline:
            log.error("recording %s still being written %.0f s after its call ended: packaged as it is",
                      name, timeout)
            return
        await asyncio.sleep(0.1)


def _local_segment(path: Path, fmt: str) -> Path:
    """The segment's file in Asterisk's folder: its WAV, or, without one, its two-channel raw file
    (MixMonitor's D, media/mixmonitor.py)."""
    if not path.is_file():
        both = path.with_suffix(RAW_SUFFIX)
        if both.is_file():
            return both
        raise SegmentMissing(f"{path} is not there: is asterisk_recording_dir right?")
    if fmt == "wav" and repair_wav_header(path):
        log.warning("segment %s: WAV header repaired (the recorder was stopped abruptly)", path)
    return path


async def _segment_file(name: str, fmt: str, recording_dir: str, spool_dir: Path, ari: AriClient) -> Path:
    if recording_dir:
        # Off the event loop: a busy disk can hold a file operation for a hundred milliseconds.
        return await asyncio.to_thread(_local_segment, Path(recording_dir) / f"{name}.{fmt}", fmt)
    path = spool_dir / "incoming" / f"{name}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = await ari.stored_recording_file(name)
    except AriError as exc:
        raise SegmentMissing(f"recording {name} could not be fetched: {exc}") from exc
    tmp = path.with_suffix(path.suffix + ".part")
    await asyncio.to_thread(tmp.write_bytes, data)
    await asyncio.to_thread(os.replace, tmp, path)
    try:
        await ari.delete_stored_recording(name)
    except AriError as exc:
        log.warning("recording %s fetched but not removed from Asterisk: %s", name, exc)
    return path


async def discard_segments(segments: tuple[RecordedSegment, ...], fmt: str, recording_dir: str,
                           ari: AriClient, per_leg: bool = False) -> int:
    """Delete a call's segment files wherever Asterisk wrote them (both legs' with ``per_leg``); the
    number removed."""
    removed = 0
    names = [n for s in segments for n in ((s.name, callee_leg_name(s.name)) if per_leg else (s.name,))]
    for name in names:
        if recording_dir:
            for path in (Path(recording_dir) / f"{name}.{fmt}", Path(recording_dir) / f"{name}{RAW_SUFFIX}"):
                if path.exists():
                    path.unlink()
                    removed += 1
            continue
        try:
            await ari.delete_stored_recording(name)
            removed += 1
        except AriNotFound:
            pass
    return removed
