"""The delivery worker records a delivered recording's files' removal with its next transaction
(delivery/retention.py ``HeldRemovals``), two customers delivered through one worker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.db.models import AuditRecord, Delivery
from callrec_ari.delivery import worker as worker_module
from callrec_ari.delivery.queue import Removal
from tests.delivery.customers import Customer, Platform, until


async def test_a_deliverys_files_removal_is_recorded_with_the_next_transaction(
        platform: Platform, customers: dict[str, Customer], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two customers' recordings delivered one after another by a running worker: each one's files are
    gone and recorded as gone, with an audit record naming them, without a transaction of their own
    (the claim or acknowledgement that follows carries them; the last waits REMOVALS_HELD_S, then goes
    alone). Each customer receives its own recordings only."""
    a, b = customers["A"], customers["B"]
    platform.enroll("A", a)
    platform.enroll("B", b)
    await a.start()
    await b.start()
    alone: list[int] = []  # the removals recorded in a transaction of their own, how many each time
    removals = platform.queue.removals

    def recorded_alone(held: Sequence[Removal]) -> None:
        alone.append(len(held))
        removals(held)

    platform.queue.removals = recorded_alone  # type: ignore[method-assign]
    # (held long enough that a slow step of the test cannot send one alone before the next delivery)
    monkeypatch.setattr(worker_module, "REMOVALS_HELD_S", 3.0)
    stop = asyncio.Event()
    settings = replace(platform.settings, wake_interval=0.05, poll_interval=60.0)
    running = asyncio.create_task(platform.worker(settings).run(stop))
    keys: dict[str, list[str]] = {"A": [], "B": []}
    try:
        for i in range(3):
            for name, customer in (("A", a), ("B", b)):
                keys[name] += platform.record(name, 1, start=i)
                await until(lambda c=customer, n=name: len(c.stored()) == len(keys[n]))
        await until(lambda: all(d.files_removed_at is not None for d in deliveries(platform.sessions)))
    finally:
        stop.set()
        await running
    assert alone == [1]  # the last one; the five before it went with the claims and acknowledgements
    assert sorted(p.stem for p in a.stored()) == sorted(keys["A"])
    assert sorted(p.stem for p in b.stored()) == sorted(keys["B"])
    with platform.sessions() as s:
        audits = {r.subject: r.details for r in s.scalars(
            select(AuditRecord).where(AuditRecord.action == "recording-delivered"))}
    assert sorted(audits) == sorted(d.call_id for d in deliveries(platform.sessions))
    for d in deliveries(platform.sessions):
        assert d.zip_path in audits[d.call_id]["removed"] and not Path(d.zip_path).exists()


def deliveries(sessions: sessionmaker[Session]) -> list[Delivery]:
    with sessions() as s:
        return list(s.scalars(select(Delivery)))
