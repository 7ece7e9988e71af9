"""Before the answer only MixMonitor may start a segment: a snoop channel started then would record
the ringing (media/fallback.py ``start_ringing``); where MixMonitor cannot, the answer starts it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import pytest

from callrec_ari.media.fallback import ManagerHealth, MixMonitorOrSnoop
from callrec_ari.media.mixmonitor import MixMonitorRecorder
from callrec_ari.media.recorder import SnoopRecorder
from callrec_ari.model.media import MediaFailed, RingingRecorder


class Recorder:
    def __init__(self, fails: MediaFailed | None = None) -> None:
        self.fails = fails
        self.started: list[str] = []

    async def start_ringing(self, media_id: str) -> None:
        if self.fails is not None:
            raise self.fails
        self.started.append(media_id)

    async def start(self, media_id: str, at: datetime, notices: Any = ()) -> None:
        self.started.append(media_id)


def both(mixmonitor: Recorder, snoop: Recorder, health: ManagerHealth) -> MixMonitorOrSnoop:
    return MixMonitorOrSnoop(cast(MixMonitorRecorder, mixmonitor), cast(SnoopRecorder, snoop), health)


async def test_mixmonitor_starts_while_ringing_and_its_stop_goes_to_it() -> None:
    mixmonitor, snoop = Recorder(), Recorder()
    recorder = both(mixmonitor, snoop, ManagerHealth())
    assert isinstance(recorder, RingingRecorder)
    await recorder.start_ringing("callrec/c1/c1-001")
    assert mixmonitor.started == ["callrec/c1/c1-001"] and snoop.started == []
    assert recorder._mixed == {"callrec/c1/c1-001"}


async def test_no_snoop_channel_while_ringing_when_mixmonitor_fails_or_the_manager_is_away() -> None:
    mixmonitor, snoop = Recorder(MediaFailed("ami-unavailable", "refused")), Recorder()
    health = ManagerHealth()
    recorder = both(mixmonitor, snoop, health)
    with pytest.raises(MediaFailed):
        await recorder.start_ringing("callrec/c1/c1-001")
    assert snoop.started == [] and mixmonitor.started == []
    # At the answer the segment starts by a snoop channel instead, and the manager is given a rest.
    mixmonitor.start = failing  # type: ignore[method-assign]
    await recorder.start("callrec/c1/c1-002", datetime.now())
    assert snoop.started == ["callrec/c1/c1-002"] and not health.usable()
    with pytest.raises(MediaFailed, match="manager is away"):
        await recorder.start_ringing("callrec/c2/c2-001")
    assert snoop.started == ["callrec/c1/c1-002"]


async def failing(media_id: str, at: datetime, notices: Any = ()) -> None:
    raise MediaFailed("ami-unavailable", "refused")
