"""The executor sends order-free requests together (calls/actions.py ORDER_FREE): at a call's start the
caller's mute, its ringing and the bridge go out in one round trip, and the other party is created only
once they are answered (issue 15: the REST calls of a call ran one after another)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.calls.session import CallSession, SessionSettings
from callrec_ari.media import parts_for_call
from tests.support.fake_ari import FakeAri
from tests.support.flow import recorded_outgoing

CALL = "20261202T070000-0c0ffee0"


async def until(condition: object, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.01)):
        if callable(condition) and condition():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_the_calls_first_requests_go_out_together_and_the_other_party_after_them() -> None:
    setup = recorded_outgoing(CALL, "caller-1")
    callee = quote(setup.legs.callee)
    together = (("POST", "/channels/caller-1/mute"), ("POST", "/channels/caller-1/ring"),
                ("POST", "/bridges"))
    async with FakeAri() as fake:
        answered = asyncio.Event()
        for method, path in together:
            fake.reply(method, path, 204, gate=answered)  # none is answered before all three have come
        fake.reply("POST", f"/channels/{callee}", 200, json={"id": setup.legs.callee, "state": "Down"})
        fake.reply("POST", "/channels/create", 200, json={"id": setup.legs.callee, "state": "Down"})
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        parts = parts_for_call(ari, setup.plan, setup.legs, "wav", None)
        session = CallSession(setup.plan, "caller-1", ari, parts, claim=lambda _id: None,
                              settings=SessionSettings(cleanup_timeout=0.5))
        task = asyncio.create_task(session.run())
        try:
            def arrived() -> set[tuple[str, str]]:
                return {(r.method, r.path) for r in fake.requests}

            assert await until(lambda: set(together) <= arrived()), arrived()
            # The other party waits for them (the caller may have gone: then it is never created).
            assert not [r for r in fake.requests if r.path.startswith("/channels/create")
                        or r.path == f"/channels/{callee}"]
            answered.set()
            assert await until(lambda: any(r.path.startswith(("/channels/create", f"/channels/{callee}"))
                                           for r in fake.requests)), arrived()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await ari.close()


async def test_a_refused_order_free_request_skips_what_follows_it() -> None:
    """The caller is gone (404 on its mute): the other party is never created, the call ends."""
    setup = recorded_outgoing(CALL, "caller-1")
    async with FakeAri() as fake:
        fake.reply("POST", "/channels/caller-1/ring", 204)
        fake.reply("POST", "/bridges", 204)
        fake.reply("DELETE", f"/bridges/{CALL}", 204)
        # (no reply for the mute: the fake answers 404, as Asterisk does for a channel that is gone)
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        parts = parts_for_call(ari, setup.plan, setup.legs, "wav", None)
        session = CallSession(setup.plan, "caller-1", ari, parts, claim=lambda _id: None,
                              settings=SessionSettings(cleanup_timeout=0.5))
        try:
            finished = await asyncio.wait_for(session.run(), 10)
        finally:
            await ari.close()
    assert finished.hangup_by == "caller"
    assert not [r for r in fake.requests if r.path.startswith("/channels/create")
                or r.path.startswith(f"/channels/{quote(setup.legs.callee)}")]
