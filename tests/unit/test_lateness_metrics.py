"""Where a late call is late, for operators and the bench (observability/metrics.py): how long
Asterisk took to carry out each of a call's steps, and how late the call handled Asterisk's events."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.ari.events import AriEvent, Channel
from callrec_ari.calls.session import CallSession, SessionSettings
from callrec_ari.media import parts_for_call
from callrec_ari.model.call import now_utc
from callrec_ari.observability.metrics import REGISTRY
from tests.support.fake_ari import FakeAri
from tests.support.flow import recorded_outgoing

CALL = "20261203T100000-0badbeef"


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_slow_step_and_a_late_event_are_measured() -> None:
    setup = recorded_outgoing(CALL, "caller-1")
    ring_before = _sample("callrec_call_action_seconds_sum", action="Ring")
    rings_before = _sample("callrec_call_action_seconds_count", action="Ring")
    notes_before = _sample("callrec_call_action_seconds_count", action="Note")
    late_before = _sample("callrec_ari_event_lag_seconds_bucket", le="0.5")
    lags_before = _sample("callrec_ari_event_lag_seconds_count")
    async with FakeAri() as fake:
        fake.reply("POST", "/channels/caller-1/mute", 204)
        fake.reply("POST", "/channels/caller-1/ring", 204, delay=0.3)  # Asterisk slow to ring
        fake.reply("POST", "/bridges", 204)
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        parts = parts_for_call(ari, setup.plan, setup.legs, "wav", None)
        session = CallSession(setup.plan, "caller-1", ari, parts, claim=lambda _id: None,
                              settings=SessionSettings(cleanup_timeout=0.3))
        try:
            running = asyncio.create_task(session.run())
            await asyncio.sleep(0.6)
            # The caller's hangup, stamped by Asterisk two seconds before the call reads it.
            sent = (now_utc() - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
            session.queue.put_nowait(AriEvent(type="ChannelDestroyed", timestamp=sent, application="",
                                              cause=16, channel=Channel(id="caller-1", name="", state="Up")))
            await asyncio.wait_for(running, 10)
        finally:
            await ari.close()
    assert _sample("callrec_call_action_seconds_count", action="Ring") == rings_before + 1
    assert _sample("callrec_call_action_seconds_sum", action="Ring") - ring_before >= 0.3
    # What the executor does itself (a log line) is no step of Asterisk's.
    assert _sample("callrec_call_action_seconds_count", action="Note") == notes_before == 0
    assert _sample("callrec_ari_event_lag_seconds_count") == lags_before + 1
    assert _sample("callrec_ari_event_lag_seconds_bucket", le="0.5") == late_before  # 2 s late: above
