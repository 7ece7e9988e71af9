"""A call's cleanup is bounded and never loses the hand-over, however late Asterisk answers (issue 15:
under overload a `DELETE /bridges` that outlived the cleanup's bound raised out of the call's task and
took the whole app, and every call in it, down)."""

from __future__ import annotations

import asyncio

import pytest

from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.ari.events import AriEvent, Channel
from callrec_ari.calls import teardown
from callrec_ari.calls.session import CallSession, SessionSettings
from callrec_ari.media import parts_for_call
from callrec_ari.model.call import FinishedCall
from tests.support.fake_ari import FakeAri
from tests.support.flow import recorded_outgoing

CALL = "20261201T090000-0badbeef"
SETUP = recorded_outgoing(CALL, "caller-1")


def _set_up_to_the_bridge(fake: FakeAri, bridge: bool = True) -> None:
    """Asterisk answers the call's first requests (and the bridge's creation, unless told not to)."""
    requests = [("POST", "/channels/caller-1/mute"), ("POST", "/channels/caller-1/ring")]
    for method, path in requests + ([("POST", "/bridges")] if bridge else []):
        fake.reply(method, path, 204)


def _session(ari: AriClient, handed_over: list[FinishedCall]) -> CallSession:
    """The call's session, with a short cleanup bound; what it hands over goes to ``handed_over``."""

    async def finished(call: FinishedCall) -> None:
        handed_over.append(call)

    parts = parts_for_call(ari, SETUP.plan, SETUP.legs, "wav", None)
    return CallSession(SETUP.plan, "caller-1", ari, parts, claim=lambda _id: None,
                       settings=SessionSettings(cleanup_timeout=0.3), on_finished=finished)


async def test_a_bridge_that_asterisk_destroys_too_late_still_hands_the_call_over() -> None:
    async with FakeAri() as fake:
        # Every request answers but one: destroying the bridge takes longer than the cleanup may.
        _set_up_to_the_bridge(fake)
        fake.reply("DELETE", f"/bridges/{CALL}", 204, delay=3.0)
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        handed_over: list[FinishedCall] = []
        session = _session(ari, handed_over)
        try:
            # The other party cannot be created (404): the call ends; Asterisk never confirms the legs
            # gone, and the app shuts down (the call's task is cancelled) meanwhile.
            task = asyncio.create_task(session.run())
            await asyncio.sleep(0.5)
            task.cancel()
            try:
                await asyncio.wait_for(task, 10)
                raise AssertionError("a cancelled call's task must end cancelled")
            except asyncio.CancelledError:
                pass
        finally:
            await ari.close()
    assert len(handed_over) == 1  # what there is of the call is handed over all the same
    assert handed_over[0].plan.call_id == CALL and handed_over[0].times.ended is not None
    assert [r.method for r in fake.requests if r.path == f"/bridges/{CALL}"] == ["DELETE"]


async def _run_to_the_end(session: CallSession) -> None:
    await asyncio.wait_for(session.run(), 10)


async def test_a_bridge_whose_creation_failed_is_destroyed_all_the_same() -> None:
    """A `POST /bridges` that failed (a timeout, a 500 from a busy Asterisk) may still have been
    carried out: the call's end destroys the bridge anyway (a 404 then is no error), where it used to
    leave it in Asterisk for the orphan sweep (or, near the end of a soak, for good)."""
    async with FakeAri() as fake:
        _set_up_to_the_bridge(fake, bridge=False)
        fake.reply("POST", "/bridges", 500, json={"message": "Internal Server Error"})
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        session = _session(ari, [])
        try:
            await _run_to_the_end(session)
        finally:
            await ari.close()
    assert fake.requests_to("POST", "/bridges")
    assert [r.method for r in fake.requests if r.path == f"/bridges/{CALL}"] == ["DELETE"]
    assert not session.bridge_left  # Asterisk said it was not there: nothing left to try


async def test_a_bridge_the_cleanup_could_not_destroy_is_tried_again_after_the_hand_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(teardown, "RETRY_PAUSES_S", (0.05, 0.05))
    async with FakeAri() as fake:
        _set_up_to_the_bridge(fake)
        fake.reply("DELETE", f"/bridges/{CALL}", 204, delay=3.0)  # Asterisk too busy to answer in time
        ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
        handed_over: list[FinishedCall] = []
        session = _session(ari, handed_over)
        try:
            running = asyncio.create_task(session.run())
            await asyncio.sleep(0.3)  # the other party could not be reached (404): the caller hangs up
            session.queue.put_nowait(AriEvent(type="ChannelDestroyed", timestamp="", application="",
                                              cause=16, channel=Channel(id="caller-1", name="", state="Up")))
            await asyncio.wait_for(running, 10)
            assert len(handed_over) == 1  # the hand-over did not wait for Asterisk
            assert session.bridge_left
            fake.reply("DELETE", f"/bridges/{CALL}", 204)  # Asterisk answers again
            await asyncio.wait_for(session.destroy_bridge_late(), 10)
        finally:
            await ari.close()
    assert [r.method for r in fake.requests if r.path == f"/bridges/{CALL}"] == ["DELETE", "DELETE"]
