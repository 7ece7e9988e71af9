"""A call's progress on disk, so a restarted app can finish what a killed one started.

One small JSON file per call in progress (``<spool>/active/<call id>.json``), replaced atomically at
each step that matters (dialing, answer, notice, each segment, ending) and removed once the call
has been handed over. After a crash, reconciliation reads them: calls still up in Asterisk are
adopted; the others have their recordings finalized and delivered.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from callrec_ari.model.call import CallTimes, RecordedSegment
from callrec_ari.model.plan import CallPlan, Recipient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    plan: CallPlan
    state: str
    caller_id: str
    callee_id: str
    bridge_id: str
    times: CallTimes
    segments: tuple[RecordedSegment, ...]
    playbacks: tuple[str, ...] = ()

    @property
    def call_id(self) -> str:
        return self.plan.call_id

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))

    @classmethod
    def from_json(cls, text: str) -> JournalEntry:
        data: dict[str, Any] = json.loads(text)
        plan = dict(data["plan"])
        plan["to_caller"] = tuple(plan.get("to_caller", ()))
        plan["to_callee"] = tuple(plan.get("to_callee", ()))
        plan["recipients"] = tuple(Recipient(**r) for r in plan.get("recipients", ()))
        times = {k: datetime.fromisoformat(v) if v else None for k, v in data["times"].items()}
        segments = tuple(
            RecordedSegment(s["name"], int(s["index"]),
                            datetime.fromisoformat(s["started_at"]) if s.get("started_at") else None)
            for s in data.get("segments", ())
        )
        return cls(
            plan=CallPlan(**plan), state=str(data["state"]), caller_id=str(data["caller_id"]),
            callee_id=str(data["callee_id"]), bridge_id=str(data["bridge_id"]),
            times=CallTimes(**{k: v for k, v in times.items() if v is not None}),
            segments=segments, playbacks=tuple(data.get("playbacks", ())),
        )


class CallJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, call_id: str) -> Path:
        return self.directory / f"{call_id}.json"

    def write(self, entry: JournalEntry) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(entry.call_id)
        tmp = path.with_suffix(".json.part")
        tmp.write_text(entry.to_json())
        os.replace(tmp, path)

    def remove(self, call_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(call_id).unlink()

    def load_all(self) -> list[JournalEntry]:
        entries = []
        for path in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else ():
            try:
                entries.append(JournalEntry.from_json(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # Never delete what we cannot read: an operator looks at it.
                log.error("journal %s unreadable (%s): left in place", path, exc)
        return entries
