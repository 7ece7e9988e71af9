"""Delivery at the hand-over (delivery/in_place.py, ``deliver_at_hand_over``): the process that queues a
call's copies uploads them once, each to its own customer's real receiver; a copy whose customer is
down is given back to the queue and the delivery worker delivers it; a hand-over's worker process
delivers without the delivery worker."""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from callrec_ari.app.handover import InProcesses
from callrec_ari.db.models import Delivery, DeliveryAttempt
from callrec_ari.delivery.in_place import InPlace
from callrec_ari.delivery.queue import Job
from callrec_ari.delivery.service import RecordingSubmitter
from callrec_ari.rules.manifest import parse_call_record
from tests.delivery.conftest import call_record, segments_for
from tests.delivery.customers import Customer, Platform, until
from tests.delivery.test_handover_processes import files, finished_call


@pytest.fixture
def in_place(platform: Platform) -> Iterator[InPlace]:
    made = InPlace(replace(platform.settings, deliver_at_hand_over=True), platform.sessions, platform.clock)
    yield made
    made.close(timeout=1.0)


def submitter(platform: Platform, in_place: InPlace | None) -> RecordingSubmitter:
    made = RecordingSubmitter(platform.settings, platform.sessions, platform.clock)
    made.in_place = in_place
    return made


def between_a_and_b(platform: Platform, sub: RecordingSubmitter,
                    call_id: str) -> tuple[list[Job], list[Path]]:
    """One call between A's line and B's: a copy for each customer, queued together."""
    record = call_record(call_id)
    copies = [(parse_call_record({**record, "contract": platform.contracts[n][0]}), platform.contracts[n][1])
              for n in ("A", "B")]
    segments = segments_for(platform.spool, call_id, (0.3, 0.3))
    jobs = sub.submit_copies(copies, segments)
    assert all(isinstance(j, Job) for j in jobs)
    return [j for j in jobs if isinstance(j, Job)], [p for p, _ in segments]


Row = tuple[str, str | None, list[tuple[int, str | None, str]]]


def rows(platform: Platform, call_id: str) -> dict[str, Row]:
    """By contract: the copy's state, its lease owner, and its attempts (number, outcome, worker)."""
    out = {}
    with platform.sessions() as s:
        for d in s.scalars(select(Delivery).where(Delivery.call_id == call_id)):
            a = DeliveryAttempt
            attempts = s.execute(select(a.number, a.outcome, a.worker).where(a.delivery_id == d.id)
                                 .order_by(a.number)).all()
            out[str(d.contract)] = (d.state, d.lease_owner, [(int(n), o, str(w)) for n, o, w in attempts])
    return out


def contract_of(stored: Path) -> str:
    with zipfile.ZipFile(stored) as z:
        return str(json.loads(z.read("manifest.json"))["contract"])


async def test_each_copy_is_delivered_at_the_hand_over_to_its_own_customer_only(
        platform: Platform, customers: dict[str, Customer], in_place: InPlace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from callrec_ari.delivery import service

    rung: list[Path] = []
    monkeypatch.setattr(service, "ring", rung.append)
    a, b = customers["A"], customers["B"]
    platform.enroll("A", a)
    platform.enroll("B", b)
    await a.start()
    await b.start()
    jobs, wavs = between_a_and_b(platform, submitter(platform, in_place), "ab-1")
    # Queued already taken by this process, each with its first attempt open: no worker could claim them.
    assert all(j.attempt_id is not None and j.attempt_count == 1 for j in jobs)
    await until(lambda: len(a.stored()) == 1 and len(b.stored()) == 1)
    await until(lambda: all(state == "delivered" for state, *_ in rows(platform, "ab-1").values()))
    # Each customer's server holds its own copy, none of the other's.
    assert contract_of(a.stored()[0]) == platform.contracts["A"][0]
    assert contract_of(b.stored()[0]) == platform.contracts["B"][0]
    assert a.requests == 1 and b.requests == 1
    got = rows(platform, "ab-1")
    assert {c: (state, owner) for c, (state, owner, _) in got.items()} == {
        platform.contracts[n][0]: ("delivered", None) for n in ("A", "B")}
    assert all(attempts == [(1, "delivered", in_place.worker_id)] for *_, attempts in got.values())
    # Delivered, then removed from the platform (R1.1): both ZIPs, and the call's WAVs with the last.
    await until(lambda: not any(p.exists() for p in (*wavs, *(j.zip_path for j in jobs))))
    # The delivery worker was not told: nothing waits for it.
    assert rung == []
    in_place.close(timeout=1.0)  # records the removals still held
    with platform.sessions() as s:
        assert all(d.files_removed_at is not None for d in s.scalars(select(Delivery)))


async def test_a_customer_down_gets_its_copy_from_the_worker_and_the_other_is_not_held_up(
        platform: Platform, customers: dict[str, Customer], in_place: InPlace) -> None:
    a, b = customers["A"], customers["B"]
    platform.enroll("A", a)
    platform.enroll("B", b)
    await a.start()  # B's server is down
    sub = submitter(platform, in_place)
    jobs, wavs = between_a_and_b(platform, sub, "ab-2")
    a_contract, b_contract = platform.contracts["A"][0], platform.contracts["B"][0]
    await until(lambda: rows(platform, "ab-2")[b_contract][2][:1] != [(1, None, in_place.worker_id)])
    await until(lambda: rows(platform, "ab-2")[a_contract][0] == "delivered")
    got = rows(platform, "ab-2")
    # B's copy: its attempt closed as failed, given back (no lease), waiting; A's delivered.
    assert got[b_contract][0] == "pending" and got[b_contract][1] is None
    assert got[b_contract][2] == [(1, "transient", in_place.worker_id)]
    assert [p.name for p in a.stored()] == [next(j.key for j in jobs if j.contract == a_contract) + ".zip"]
    # The call's WAVs stay for B's copy.
    assert all(p.exists() for p in wavs)
    # The next call's copy for B is not tried here again (B failed lately): it waits for the worker.
    more, _ = between_a_and_b(platform, sub, "ab-3")
    assert {j.contract: j.attempt_id is not None for j in more} == {a_contract: True, b_contract: False}
    # B's server comes back: the delivery worker delivers both of B's copies, once each.
    await b.start()
    await platform.worker().run_once()
    assert sorted(p.name for p in b.stored()) == sorted(
        j.key + ".zip" for j in (*jobs, *more) if j.contract == b_contract)
    assert rows(platform, "ab-2")[b_contract][0] == "delivered"
    await until(lambda: len(a.stored()) == 2)
    assert not any(p.exists() for p in wavs)
    # Nothing of one customer reached the other.
    assert {contract_of(p) for p in a.stored()} == {a_contract}
    assert {contract_of(p) for p in b.stored()} == {b_contract}


async def test_a_hand_over_worker_process_delivers_the_copies_it_queues(
        platform: Platform, customers: dict[str, Customer], tmp_path: Path) -> None:
    """The hand-over's worker process (app/handover.py) with ``deliver_at_hand_over``: the call record
    stored, each customer's copy delivered to it, no delivery worker running."""
    a, b = customers["A"], customers["B"]
    platform.enroll("A", a)
    platform.enroll("B", b)
    await a.start()
    await b.start()
    settings = replace(platform.settings, deliver_at_hand_over=True)
    work = InProcesses(1, platform.sessions, RecordingSubmitter(settings, platform.sessions), json_logs=False)
    record = call_record("ab-p")
    copies = [(parse_call_record({**record, "contract": platform.contracts[n][0]}), platform.contracts[n][1])
              for n in ("A", "B")]
    segments = segments_for(platform.spool, "ab-p", (0.3,))
    try:
        failed, jobs = await work.finish(finished_call("ab-p"), copies, files(platform.spool, "ab-p"))
        assert failed is None and all(isinstance(j, Job) and j.attempt_id is not None for j in jobs)
        await until(lambda: len(a.stored()) == 1 and len(b.stored()) == 1)
        await until(lambda: not any(p.exists() for p, _ in segments))
    finally:
        await asyncio.to_thread(work.close)
    assert contract_of(a.stored()[0]) == platform.contracts["A"][0]
    assert contract_of(b.stored()[0]) == platform.contracts["B"][0]
    with platform.sessions() as s:
        assert sorted(d.state for d in s.scalars(select(Delivery))) == ["delivered", "delivered"]
        # Its removals recorded as the process ended (the pool's close: delivery/in_place.py close).
        assert all(d.files_removed_at is not None for d in s.scalars(select(Delivery)))
