"""A call's progress on disk, so a restarted app can finish what a killed one started.

One small JSON file per call in progress (``<spool>/active/<call id>.json``), written over in one
piece (never torn by a killed process) at each step that matters (dialing, answer, notice, each
segment, ending) and removed once the call has been handed over. After a crash, reconciliation
reads them: calls still up in Asterisk are adopted; the others have their recordings finalized and
delivered.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callrec_ari.calls.flow_state import Flow
from callrec_ari.calls.state import CallState
from callrec_ari.model.call import CallTimes, FinishedCall, RecordedSegment, now_utc
from callrec_ari.model.plan import CallPlan, Recipient
from callrec_ari.rules import causes
from callrec_ari.rules.manifest import NoticeEntry
from callrec_ari.rules.segments import RAW_SUFFIX

log = logging.getLogger(__name__)

# The largest entry written in place (calls/journal.py CallJournal._write): one page.
IN_PLACE_MAX = mmap.PAGESIZE


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
    # The notice's sounds as they played: a restarted app's call record and packaging (which places
    # the end of the notice in a stereo file by them, delivery/channels.py) need them.
    notices: tuple[NoticeEntry, ...] = ()

    @property
    def call_id(self) -> str:
        return self.plan.call_id

    def to_json(self) -> str:
        # Written at every step that matters, so kept cheap: the plan (the bulk, unchanged during the
        # call) is encoded once per call; the rest is a handful of fields.
        rest = {
            "state": self.state, "caller_id": self.caller_id, "callee_id": self.callee_id,
            "bridge_id": self.bridge_id,
            "times": {f.name: _iso(getattr(self.times, f.name)) for f in fields(self.times)},
            "segments": [{"name": s.name, "index": s.index, "started_at": _iso(s.started_at),
                          "live": s.live, "failed": s.failed} for s in self.segments],
            "playbacks": list(self.playbacks),
        }
        if self.notices:
            rest["notices"] = [n.to_json() for n in self.notices]
        return '{"plan": ' + _plan_json(self.plan) + ", " + json.dumps(rest)[1:]

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
            notices=tuple(NoticeEntry.from_json(n) for n in data.get("notices", ())),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_PLANS: dict[str, tuple[CallPlan, str]] = {}  # call id -> (its plan, the plan encoded)


def _plan_json(plan: CallPlan) -> str:
    cached = _PLANS.get(plan.call_id)
    if cached is not None and cached[0] is plan:
        return cached[1]
    if len(_PLANS) >= 4096:
        _PLANS.clear()
    encoded = json.dumps(plan, default=_fields_or_str)
    _PLANS[plan.call_id] = (plan, encoded)
    return encoded


def _fields_or_str(value: object) -> object:
    """``json.dumps``' fallback: a dataclass as a dict of its fields, what ``asdict`` gives (the plan's
    recipients included) without ``asdict``'s deep copy of every value (a quarter of the journal's
    time on the event loop, profiled at 6 calls/s); anything else as its ``str``, as before."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return str(value)


def _journal_view(flow: Flow) -> tuple[object, ...]:
    return (flow.phase, flow.times, tuple((s.name, s.started_at) for s in flow.segments))


# Phases a restarted app takes as the one before them, so that moving to one, with nothing else new,
# is not written: RINGING as DIALING (either way the unanswered call is ended, calls/recovery.py), ENDED
# as ENDING (either way its legs are gone and it is finalized, calls/reconcile.py). Two of a call's
# seven writes, each a trip to the journal's thread (docs/performance.md).
UNWRITTEN_PHASES = frozenset({CallState.RINGING, CallState.ENDED})


def worth_writing(before: Flow, after: Flow) -> bool:
    """Whether the call's move from ``before`` to ``after`` is one a restarted app needs written: a
    change of what its entry says, or new playbacks (not their end: reconcile.py asks which still play)."""
    if not after.playbacks <= before.playbacks:
        return True
    was, now = _journal_view(before), _journal_view(after)
    return was != now and not (after.phase in UNWRITTEN_PHASES and was[1:] == now[1:])


def last_write(segments: Iterable[str], recording_dir: Path, fmt: str) -> datetime | None:
    """When the newest of these segment files was last written: when its recorder stopped (the call
    ended, or Asterisk went away). None when no file is there."""
    times = [p.stat().st_mtime for name in segments for suffix in (f".{fmt}", RAW_SUFFIX)
             if (p := recording_dir / f"{name}{suffix}").is_file()]
    return datetime.fromtimestamp(max(times), UTC) if times else None


WAV_HEADER = 44
BYTES_PER_SECOND = {".wav": 16000, RAW_SUFFIX: 32000}  # 8 kHz, 16-bit: mono WAV, two-channel raw


def file_start(folder: Path, name: str, fmt: str) -> datetime | None:
    """When a MixMonitor file's first frame was written: its last write less the audio it holds
    (8 kHz signed linear, the format the app records in); None without a file."""
    for suffix in (f".{fmt}", RAW_SUFFIX):
        try:
            st = (folder / f"{name}{suffix}").stat()
        except FileNotFoundError:
            continue
        audio = max(0, st.st_size - (WAV_HEADER if suffix != RAW_SUFFIX else 0))
        seconds = audio / BYTES_PER_SECOND.get(suffix, 16000)
        return datetime.fromtimestamp(st.st_mtime - seconds, UTC)
    return None


def finished_from(entry: JournalEntry, recording_dir: str, fmt: str) -> FinishedCall:
    """A journaled call that ended while nobody watched (a restart, a lost node). It ended when its
    recording stopped growing (Asterisk went away then), not when it is found: downtime is never
    billed. Recordings fetched over ARI (no ``recording_dir``) give no such time: now."""
    names = (s.name for s in entry.segments)
    last = last_write(names, Path(recording_dir), fmt) if recording_dir else None
    times = entry.times if entry.times.ended else replace(entry.times, ended=last or now_utc())
    return FinishedCall(plan=entry.plan, times=times, end_cause=causes.TEMPORARY_FAILURE, hangup_by="app",
                        notices=entry.notices,
                        segments=tuple(s for s in entry.segments if s.has_audio),
                        unconfirmed=tuple(s for s in entry.segments if not s.has_audio))


def unheard_start(segments: Sequence[RecordedSegment], folder: Path | None, fmt: str) -> datetime | None:
    """A carried call's first recording whose start the app never heard of (its events lost, or no
    app followed the call then): where its file says, its last write less the audio it holds; None
    when it is known, or there is no file to read."""
    first = segments[0] if segments else None
    if first is None or first.started_at is not None or folder is None:
        return None
    return file_start(folder, first.name, fmt)


def finished_carried(entry: JournalEntry, recording_dir: str, fmt: str) -> FinishedCall:
    """A call the dialplan carried (calls/carried.py) that ended while no app followed it, after a
    restart or on a lost node. A first segment whose start the journal never heard of (the app
    stopped, or its node died, before it heard the answer) starts where its file says
    (``unheard_start``). Without a file, it has no audio, as before."""
    if started := unheard_start(entry.segments, Path(recording_dir) if recording_dir else None, fmt):
        first = replace(entry.segments[0], started_at=started)
        entry = replace(entry, segments=(first, *entry.segments[1:]),
                        times=replace(entry.times, answered=entry.times.answered or started))
    return finished_from(entry, recording_dir, fmt)


class CallJournal:
    """Writes and removals go to one thread of their own, in the order they were asked for: a file
    operation on the event loop can stall for a hundred milliseconds when the disk is busy (measured
    with `make test`'s soak smoke beside the event-loop test), and the calls must not wait for it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callrec-journal")

    def _path(self, call_id: str) -> Path:
        return self.directory / f"{call_id}.json"

    def write(self, entry: JournalEntry) -> Future[None]:
        """Replace the call's entry (the old or the new one whole, ``_write``), on the journal's
        thread; the call awaits the returned future before it acts (calls/session.py), so what it does
        next is on disk first, as a restarted app needs (a SIGKILL between the two lost a call)."""
        return self._disk.submit(self._logged, self._write, entry.call_id, entry.to_json().encode())

    def remove(self, call_id: str) -> None:
        """Forget the call (after every write of it asked for before)."""
        _PLANS.pop(call_id, None)
        self._disk.submit(self._logged, self._remove, call_id)

    def flush(self) -> None:
        """Wait until every write and removal asked for so far is on disk."""
        self._disk.submit(lambda: None).result()

    @staticmethod
    def _logged(operation: Callable[[str, bytes], None] | Callable[[str], None], *args: Any) -> None:
        try:
            operation(*args)
        except OSError as exc:
            log.error("journal %s not written: %s", args[0], exc)

    def _write(self, call_id: str, data: bytes) -> None:
        """The entry written over the call's file in place, in one write of at most a page: a process
        killed meanwhile cannot tear it (the kernel checks for a fatal signal only between pages), so
        the file holds the old entry or the new one. Shorter than what is there, it is padded with
        spaces (still the same JSON). Creating a sibling and renaming it over cost 40 times the CPU
        (docs/performance.md); an entry past a page still goes that way."""
        path = os.path.join(self.directory, f"{call_id}.json")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        except FileNotFoundError:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            size = max(len(data), os.fstat(fd).st_size)
            if size <= IN_PLACE_MAX:
                os.pwrite(fd, data.ljust(size, b" "), 0)
                return
        finally:
            os.close(fd)
        self._replace(path, data)

    def _replace(self, path: str, data: bytes) -> None:
        """Write a sibling, rename it over: atomic at any size."""
        tmp = path + ".part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def _remove(self, call_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(call_id).unlink()

    def load_all(self) -> list[JournalEntry]:
        self.flush()
        entries = []
        for path in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else ():
            try:
                text = path.read_text()
                if not text:
                    # Killed between creating the call's file and its first write: the call had not
                    # acted yet (it waits for each write before it acts), nothing of it to finish.
                    log.warning("journal %s empty: the app stopped before the call's first step", path)
                    path.unlink()
                    continue
                entries.append(JournalEntry.from_json(text))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # Never delete what we cannot read: an operator looks at it.
                log.error("journal %s unreadable (%s): left in place", path, exc)
        return entries
