"""ari/arrivals.py: a media part waits for its channel's StasisStart, which may come before the answer
to the request that created the channel (docs/architecture.md)."""

from __future__ import annotations

import asyncio

import pytest

from callrec_ari.ari.arrivals import StasisArrivals
from callrec_ari.ari.events import AriEvent, Channel
from callrec_ari.media.recorder import snoop_channel_id
from callrec_ari.rules.segments import segment_name


def stasis_start(channel_id: str, kind: str = "StasisStart") -> AriEvent:
    return AriEvent(type=kind, timestamp="", application="callrec",
                    channel=Channel(id=channel_id, name="Snoop/x", state="Up"))


async def test_the_awaited_channel_arrives_even_before_anyone_waits() -> None:
    arrivals = StasisArrivals()
    arrived = arrivals.expect("c1-001-snoop")
    arrivals.seen(stasis_start("c1-001-snoop"))  # the event beat the answer to the request
    await asyncio.wait_for(arrived, 1)
    assert len(arrivals) == 0


async def test_other_channels_and_other_events_do_not_resolve_it() -> None:
    arrivals = StasisArrivals()
    arrived = arrivals.expect("c1-001-snoop")
    arrivals.seen(stasis_start("c2-001-snoop"))
    arrivals.seen(stasis_start("c1-001-snoop", "ChannelStateChange"))
    arrivals.seen(AriEvent(type="StasisStart", timestamp="", application="callrec"))
    assert not arrived.done()
    arrivals.forget("c1-001-snoop")
    assert arrived.cancelled() and len(arrivals) == 0
    with pytest.raises(asyncio.CancelledError):
        await arrived


def test_each_segment_has_its_own_snoop_channel() -> None:
    names = [segment_name("callrec", "20261201-abc", i) for i in (1, 2, 10)]
    ids = [snoop_channel_id(n) for n in names]
    assert ids == ["20261201-abc-001-snoop", "20261201-abc-002-snoop", "20261201-abc-010-snoop"]
    assert all("/" not in i for i in ids)  # a channel id, not a path
