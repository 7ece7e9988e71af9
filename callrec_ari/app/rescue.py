"""Recovering the calls of a node that does not come back (issue 18, docs/scaling.md "Failure of a
node"), from another machine that has its disks: ``callrec cluster recover``.

The dead node's `callrec run` journaled each call in progress (``<spool>/active``); Asterisk wrote
the segments to its recording folder. This finalizes each journaled call as the node itself would on
a restart (calls/reconcile.py): the call record, the WAV headers Asterisk could not finish repaired,
one ZIP per contract queued under the dead node's name in its spool, the journal entry removed
(so the node, should it come back after all, does not finalize them again). A worker started with
that node's name and spool delivers them (and whatever that node had queued before it died).

A call's end is when its recording stopped growing (the newest segment file's time), not the hour
of the recovery: the call record bills what was talked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.app.finish import CallFinisher
from callrec_ari.calls.carried_state import STATE as CARRIED
from callrec_ari.calls.journal import CallJournal, finished_carried, finished_from
from callrec_ari.config import Config
from callrec_ari.delivery import RecordingSubmitter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rescued:
    call_id: str
    segments: int
    ended: datetime


async def rescue_node(config: Config, spool: Path, db: sessionmaker[Session] | None,
                      submitter: RecordingSubmitter | None) -> list[Rescued]:
    """Finalize every call the dead node's journal holds (``config.asterisk_recording_dir``: that
    node's recording folder, as mounted here)."""
    journal = CallJournal(spool / "active")
    # No ARI: the recordings are read from the folder (recording/collect.py never calls ARI then).
    finisher = CallFinisher(config, None, db, submitter, spool)  # type: ignore[arg-type]
    done: list[Rescued] = []
    for entry in journal.load_all():
        # A call the dialplan carried is finalized as a restarted node finalizes it (calls/carried.py
        # ``finalized``): a first segment the node died before hearing start of is still its file.
        finish = finished_carried if entry.state == CARRIED else finished_from
        finished = finish(entry, config.asterisk_recording_dir, config.recording_format)
        await finisher(finished)
        journal.remove(entry.call_id)
        log.warning("call=%s of a lost node finalized: %d segments, ended %s", entry.call_id,
                    len(finished.segments), finished.ended.isoformat(),
                    extra={"call_id": entry.call_id, "event": "CallRescued"})
        done.append(Rescued(entry.call_id, len(finished.segments), finished.ended))
    return done


__all__ = ["Rescued", "rescue_node"]
