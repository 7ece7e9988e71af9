"""Two small pieces of bookkeeping that decide when work is done, not what: the delivery worker's
removals held for its next transaction (delivery/retention.py ``HeldRemovals``) and whether the
mixmonitor engine asks AMI at all (media/fallback.py ``ManagerHealth``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from callrec_ari.ami.client import AmiError, AmiUnavailable
from callrec_ari.delivery.retention import HeldRemovals
from callrec_ari.delivery.statements import Removal
from callrec_ari.media.fallback import ManagerHealth
from callrec_ari.model.media import MediaFailed

AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


async def test_held_removals_go_with_one_transaction_and_come_back_if_it_fails() -> None:
    held = HeldRemovals(hold_s=0.05)
    assert not held.due()
    held.add(Removal(1, AT))
    held.add(Removal(2, AT))
    assert not held.due()  # not held long enough yet
    with pytest.raises(RuntimeError), held.taken() as taken:
        assert [r.job_id for r in taken] == [1, 2]
        held.add(Removal(3, AT))  # removed while that transaction ran
        raise RuntimeError("the transaction failed")
    # Given back, in order, ahead of the one that came meanwhile: nothing is lost or recorded twice.
    with held.taken() as taken:
        assert [r.job_id for r in taken] == [1, 2, 3]
    with held.taken() as taken:
        assert taken == []
    held.add(Removal(4, AT))
    await asyncio.sleep(0.06)
    assert held.due()


async def test_the_manager_away_is_skipped_for_a_while_and_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    health = ManagerHealth(retry_after=0.05)
    away = MediaFailed(AmiUnavailable.error_id, "AMI Login: Authentication failed")
    refused = MediaFailed(AmiError.error_id, "AMI MixMonitor: Could not start")
    with caplog.at_level(logging.INFO, logger="callrec_ari.media.fallback"):
        assert health.usable()
        health.failed("seg-1", away)
        assert not health.usable()  # the next calls' segments go straight to a snoop channel
        await asyncio.sleep(0.06)
        assert health.usable()  # then MixMonitor is tried again
        health.failed("seg-2", away)  # still away: said again, more quietly
        await asyncio.sleep(0.06)
        health.worked()  # back: said
        health.failed("seg-3", refused)  # the manager answered: asked again at the next segment
        assert health.usable()
    said = [(r.levelname, getattr(r, "alert", None)) for r in caplog.records]
    assert said == [("ERROR", "mixmonitor-unavailable"), ("WARNING", "mixmonitor-unavailable"),
                    ("INFO", None), ("ERROR", "mixmonitor-unavailable")]
