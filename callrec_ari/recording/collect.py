"""Where a finished call's segment files are, for packaging.

With Asterisk on this host (the usual deployment, or a shared volume) the files are read in place
from its recording directory. With a remote Asterisk they are fetched over ARI into our own spool
and removed from Asterisk, so the platform keeps exactly one copy.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from callrec_ari.ari.client import AriClient
from callrec_ari.ari.errors import AriError
from callrec_ari.calls.session import RecordedSegment

log = logging.getLogger(__name__)


class SegmentMissing(RuntimeError):
    error_id = "segment-missing"


async def collect_segments(
    segments: tuple[RecordedSegment, ...], fmt: str, recording_dir: str, spool_dir: Path, ari: AriClient
) -> list[tuple[Path, datetime]]:
    out: list[tuple[Path, datetime]] = []
    for segment in segments:
        if segment.started_at is None:
            continue
        if recording_dir:
            path = Path(recording_dir) / f"{segment.name}.{fmt}"
            if not path.is_file():
                raise SegmentMissing(f"{path} is not there: is asterisk_recording_dir right?")
        else:
            path = spool_dir / "incoming" / f"{segment.name}.{fmt}"
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                data = await ari.stored_recording_file(segment.name)
            except AriError as exc:
                raise SegmentMissing(f"recording {segment.name} could not be fetched: {exc}") from exc
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            try:
                await ari.delete_stored_recording(segment.name)
            except AriError as exc:
                log.warning("recording %s fetched but not removed from Asterisk: %s", segment.name, exc)
        out.append((path, segment.started_at))
    return out
