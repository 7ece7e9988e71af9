"""Segment policy of a call's recording (R1.2): names, and when the next segment is due.

The recording of a call is split into segments of ``period`` seconds. Segment N+1 is started before
N is stopped (the overlap is trimmed at packaging, rules/manifest.py), so nothing is lost at a
boundary. Pure: the call flow asks, the executor's timer acts.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

# How long segment N keeps recording after N+1 has begun. Asterisk reports a recording started
# (RecordingStarted) before it writes its first frame: measured on Asterisk 22, 9 to 47 ms later on
# an idle machine, longer under load. Stopping N at N+1's RecordingStarted therefore lost those
# milliseconds at every roll; N now runs on for this long, and packaging finds the exact join in the
# audio (rules/splice.py).
OVERLAP_S = 1.0


class RollReason(StrEnum):
    STARTED = "started"  # a segment has just begun: the next is due a full period later
    RETRY = "retry"  # the next segment could not start: keep the running one, try again later
    ADOPTED = "adopted"  # a restarted app took over a call whose segment was already running


def segment_name(prefix: str, call_id: str, index: int) -> str:
    """``<prefix>/<call id>/<call id>-NNN`` (1-based): sorted by name is sorted by time."""
    if index < 1:
        raise ValueError(f"segment index starts at 1, not {index}")
    return f"{prefix}/{call_id}/{call_id}-{index:03d}"


def callee_leg_name(name: str) -> str:
    """With each leg recorded apart (``CallPlan.per_leg``), segment ``name``'s file holds what the
    caller heard and this one what the callee heard (media/recorder.py): ``<call id>-callee-NNN``.
    Neither name may begin with the other: Asterisk 22 refuses a recording whose name is the
    beginning of one in progress ("already exists", measured with ``<name>-callee``)."""
    head, _, index = name.rpartition("-")
    return f"{head}-callee-{index}"


# A segment recorded as both directions of the caller's leg side by side (MixMonitor's D option,
# media/mixmonitor.py) is ``<name>.raw`` whatever the recording format: a headerless two-channel file
# (delivery/wavfile.py), the only kind Asterisk writes interleaved.
RAW_SUFFIX = ".raw"


def roll_delay(period: float, reason: RollReason, started_at: datetime | None = None,
               now: datetime | None = None) -> float:
    """Seconds until the next segment is due.

    After adoption the running segment keeps its own start: the next one is due when its period is
    over (at once if it already is), so a restart does not stretch a segment. Asterisk's clock and
    ours may differ slightly: the answer stays within [0, period].
    """
    if period <= 0:
        raise ValueError(f"the segment period must be positive, not {period}")
    if reason is RollReason.ADOPTED and started_at is not None and now is not None:
        elapsed = (now - started_at).total_seconds()
        return min(period, max(0.0, period - elapsed))
    return period
