"""The executor sends a Together group at once and maps its failures (calls/actions.py, calls/session.py):
against a fake ARI whose answers take a while, both requests are in flight together; when one fails,
the batch's failure names it and counts the rest of the batch as not done."""

from __future__ import annotations

from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.calls.actions import ActionFailed, AddToBridge, Answer, Mute, Together
from callrec_ari.calls.session import CallSession
from callrec_ari.media import parts_for_call
from tests.support.fake_ari import FakeAri
from tests.support.flow import recorded_outgoing

CALL = "20261201T090000-0badbeef"


def session_for(ari: AriClient) -> CallSession:
    setup = recorded_outgoing(CALL, "caller-1")
    parts = parts_for_call(ari, setup.plan, setup.legs, "wav", None)
    return CallSession(setup.plan, "caller-1", ari, parts, claim=lambda _id: None)


async def test_a_group_is_sent_at_once_and_the_batch_goes_on_after_it() -> None:
    async with FakeAri() as fake:
        fake.reply("POST", f"/channels/{CALL}-callee/mute", 204, delay=0.3)
        fake.reply("POST", "/channels/caller-1/answer", 204, delay=0.3)
        fake.reply("POST", f"/bridges/{CALL}/addChannel", 204)
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        try:
            failed = await session_for(ari)._perform(
                (Together((Mute(f"{CALL}-callee"), Answer("caller-1"))),
                 AddToBridge(CALL, ("caller-1", f"{CALL}-callee"))), tolerant=False)
        finally:
            await ari.close()
    assert failed is None
    assert fake.peak_in_flight == 2  # both answers awaited together, not one after the other
    assert [r.path for r in fake.requests][-1] == f"/bridges/{CALL}/addChannel"  # after the group


async def test_a_failure_in_a_group_fails_the_batch_and_skips_what_follows() -> None:
    async with FakeAri() as fake:
        fake.reply("POST", f"/channels/{CALL}-callee/mute", 204)
        # /channels/caller-1/answer: not scripted, the fake answers 404 (the caller hung up)
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        bridge = AddToBridge(CALL, ("caller-1", f"{CALL}-callee"))
        try:
            failed = await session_for(ari)._perform(
                (Together((Mute(f"{CALL}-callee"), Answer("caller-1"))), bridge), tolerant=False)
        finally:
            await ari.close()
    assert isinstance(failed, ActionFailed)
    assert (failed.action, failed.not_found, failed.skipped) == (Answer("caller-1"), True, (bridge,))
    assert not any(r.path.endswith("/addChannel") for r in fake.requests)
