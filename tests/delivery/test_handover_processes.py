"""A copy packaged and queued in the app's hand-over worker process (app/handover.py) is the copy the
app's own threads would queue; a broken file comes back as a clear error with its id, the files left
where they are, and nothing queued."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.app.handover import WORKER_NICE, HandOverFailed, InProcesses, InThreads
from callrec_ari.contracts.call_records import CallRecord as StoredCall
from callrec_ari.contracts.call_records import store_call
from callrec_ari.db.models import Delivery
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.queue import Job
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.model.call import CallTimes, FinishedCall, RecordedSegment, SegmentFile
from callrec_ari.model.plan import CallPlan
from callrec_ari.rules.manifest import CallRecord as ManifestCall
from callrec_ari.rules.manifest import parse_call_record
from tests.delivery.conftest import call_record, segments_for


def files(spool: Path, call_id: str) -> list[SegmentFile]:
    return [SegmentFile(Path(p), datetime.fromisoformat(at)) for p, at in segments_for(spool, call_id)]


async def test_a_copy_queued_by_a_worker_process_and_a_broken_file_refused(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    work = InProcesses(1, None, RecordingSubmitter(settings, sessions), json_logs=False)
    spool = tmp_path / "rec"
    try:
        good_call = parse_call_record(call_record("hp-good"))
        [good] = await work.submit([(good_call, None)], files(spool, "hp-good"))
        broken = files(spool, "hp-broken")
        broken[1].path.write_bytes(b"RIFF-not-a-wav")
        [refused] = await work.submit([(parse_call_record(call_record("hp-broken")), None)], broken)
    finally:
        work.close()
    assert isinstance(good, Job) and isinstance(refused, HandOverFailed)
    assert good.call_id == "hp-good" and good.zip_path.exists() and good.state == "pending"
    assert refused.error_id == "segment-unreadable" and "seg2.wav" in str(refused)
    assert all(f.path.exists() for f in broken)  # never lost
    with sessions() as s:
        assert [d.call_id for d in s.scalars(select(Delivery))] == ["hp-good"]


def test_the_copies_of_a_call_are_queued_together_and_a_bad_one_alone_refused(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two customers record one call. A delivery worker must never see one customer's copy before the
    other's is queued: it removes the call's WAVs with the last copy it delivers, and the second copy,
    packaged afterwards, found them gone (a real call, in CI). A third copy that cannot be packaged
    is refused on its own."""
    from callrec_ari.delivery import service

    queued_while_packaging: list[int] = []
    package = service.package_call

    def watched(call, *args, **kwargs):  # type: ignore[no-untyped-def]
        with sessions() as s:
            queued_while_packaging.append(len(s.scalars(select(Delivery)).all()))
        return package(call, *args, **kwargs)

    monkeypatch.setattr(service, "package_call", watched)
    segments = [(f.path, f.started_at.isoformat()) for f in files(tmp_path / "rec", "hp-two")]
    record = call_record("hp-two")
    results = RecordingSubmitter(settings, sessions).submit_copies(
        [({**record, "contract": "1"}, None), ({**record, "contract": "3", "direction": "sideways"}, None),
         ({**record, "contract": "2"}, None)], segments)
    assert queued_while_packaging == [0, 0, 0]
    first, bad, second = results
    assert isinstance(first, Job) and isinstance(second, Job)
    assert (first.contract, second.contract) == ("1", "2")
    assert isinstance(bad, Exception) and getattr(bad, "error_id", "") == "invalid-call-record"
    with sessions() as s:
        assert sorted(d.contract for d in s.scalars(select(Delivery))) == ["1", "2"]
    # The refused copy keeps the call's WAVs: the copies queued do not take them along when delivered.
    assert first.wav_paths == second.wav_paths == ()
    assert all(Path(p).exists() for p, _ in segments)


def test_copies_all_queued_take_the_wavs_along(settings: DeliverySettings, sessions: sessionmaker[Session],
                                               tmp_path: Path) -> None:
    segments = [(f.path, f.started_at.isoformat()) for f in files(tmp_path / "rec", "hp-all")]
    record = call_record("hp-all")
    jobs = RecordingSubmitter(settings, sessions).submit_copies(
        [({**record, "contract": "1"}, None), ({**record, "contract": "2"}, None)], segments)
    assert [sorted(j.wav_paths) for j in jobs if isinstance(j, Job)] == [sorted(p for p, _ in segments)] * 2


async def test_every_worker_is_started_before_the_first_call_ends(
        settings: DeliverySettings, sessions: sessionmaker[Session]) -> None:
    """start() leaves every worker up, its imports done: the first calls to end do not pay for them."""
    work = InProcesses(2, None, RecordingSubmitter(settings, sessions), json_logs=False)
    try:
        await work.start()
        processes = work.processes
        assert len(processes) == 2 and all(p.is_alive() for p in processes.values())
        # Both are past their start: each answers at once, from a process of its own.
        pids = await asyncio.gather(*(work._run(os.getpid) for _ in range(8)))
        assert set(pids) <= set(processes) and os.getpid() not in pids
        # ... and below the app's CPU priority: calls being set up come first.
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in processes} == {min(19, mine + WORKER_NICE)}
    finally:
        work.close()


def finished_call(call_id: str) -> FinishedCall:
    t0 = datetime.now(UTC)
    plan = CallPlan(call_id=call_id, direction="outgoing", caller_number="09000001001",
                    callee_number="0312345678", line="1001", callee_endpoint="PJSIP/0312345678@carrier",
                    record=True, reason="recorded")
    answered = t0 + timedelta(seconds=1)
    times = CallTimes(started=t0, answered=answered, notice_started=answered,
                      ended=t0 + timedelta(seconds=30))
    return FinishedCall(plan=plan, times=times, end_cause=16, hangup_by="caller",
                        segments=(RecordedSegment(f"callrec/{call_id}", 1, t0),))


def stored(sessions: sessionmaker[Session]) -> tuple[list[str], list[str]]:
    with sessions() as s:
        return (sorted(r.call_id for r in s.scalars(select(StoredCall))),
                sorted(d.call_id for d in s.scalars(select(Delivery))))


async def test_a_call_is_recorded_and_its_copy_queued_in_one_trip_to_a_worker(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """The call record and the copies go to the worker together (one task, not two: each trip between
    processes costs both sides CPU); both are there after it, and a second hand-over of the same call
    (a retry after the database came back) changes nothing."""
    work = InProcesses(1, sessions, RecordingSubmitter(settings, sessions), json_logs=False)
    call = finished_call("hp-trip")
    copies = [(parse_call_record(call_record("hp-trip")), None)]
    try:
        failed, [job] = await work.finish(call, copies, files(tmp_path / "rec", "hp-trip"))
        again, [same] = await work.finish(call, copies, files(tmp_path / "rec", "hp-trip"))
    finally:
        work.close()
    assert failed is None and again is None
    assert isinstance(job, Job) and isinstance(same, Job) and job.id == same.id and job.zip_path.exists()
    assert stored(sessions) == (["hp-trip"], ["hp-trip"])


async def test_a_call_record_that_cannot_be_stored_holds_back_no_copy(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A record refused for a reason of its own (not the database being away, which is waited for)
    is reported; the recording is queued for its customer all the same."""
    from callrec_ari.app import handover

    def refuse(*args: object, **kwargs: object) -> None:
        raise ValueError("call record refused")

    monkeypatch.setattr(handover, "store_call", refuse)
    work = InThreads(sessions, RecordingSubmitter(settings, sessions))
    failed, [job] = await work.finish(finished_call("hp-refused"),
                                      [(parse_call_record(call_record("hp-refused")), None)],
                                      files(tmp_path / "rec", "hp-refused"))
    assert isinstance(failed, ValueError) and "refused" in str(failed)
    assert isinstance(job, Job)
    assert stored(sessions) == ([], ["hp-refused"])


def two_copies(call_id: str) -> list[tuple[ManifestCall, int | None]]:
    record = call_record(call_id)
    return [(parse_call_record({**record, "contract": "1"}), None),
            (parse_call_record({**record, "contract": "2"}), None)]


async def test_the_call_record_and_its_copies_are_one_commit(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """Two customers' copies of one call and its record, in the database they share: one transaction
    (each commit is a disk sync, for every call), and all three there after it."""
    commits: list[int] = []
    engine = sessions.kw["bind"]
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    work = InThreads(sessions, RecordingSubmitter(settings, sessions))
    failed, jobs = await work.finish(finished_call("hp-one"), two_copies("hp-one"),
                                     files(tmp_path / "rec", "hp-one"))
    assert failed is None and len(commits) == 1
    assert sorted(j.contract for j in jobs if isinstance(j, Job)) == ["1", "2"]
    assert stored(sessions) == (["hp-one"], ["hp-one", "hp-one"])


async def test_a_call_record_failing_half_written_leaves_nothing_of_it_and_queues_every_copy(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The record is written, then refused (a constraint, a bug) inside the shared transaction: none of
    it stays, and both customers' copies are queued all the same, each once."""
    from callrec_ari.app import handover

    def half_then_refuse(session: Session, call: FinishedCall, **kwargs: object) -> None:
        store_call(session, call, **kwargs)  # type: ignore[arg-type]
        session.flush()
        raise ValueError("call record refused after its row was written")

    monkeypatch.setattr(handover, "store_call", half_then_refuse)
    work = InThreads(sessions, RecordingSubmitter(settings, sessions))
    failed, jobs = await work.finish(finished_call("hp-half"), two_copies("hp-half"),
                                     files(tmp_path / "rec", "hp-half"))
    assert isinstance(failed, ValueError) and "refused" in str(failed)
    assert sorted(j.contract for j in jobs if isinstance(j, Job)) == ["1", "2"]
    assert stored(sessions) == ([], ["hp-half", "hp-half"])
