"""The call's executor sends the notice's playbacks of different legs at once (calls/actions.py
``together``): one after the other, the second party's notice started a request later than the
first's, and the talk waited for it, a gap in the recording under load (make bench, 2026-12-03). A
leg's own sounds keep their order: its next sound goes only once its first was accepted, since
Asterisk queues a channel's playbacks in the order they arrive. At answer, the other party's mute, the
caller's answer and the recorder's start go at once, and the bridge after them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.ari.events import AriEvent
from callrec_ari.calls.actions import ActionFailed, AddToBridge, Answer, Mute, Note, StartMedia
from callrec_ari.calls.flow import step
from callrec_ari.calls.flow_state import Flow
from callrec_ari.calls.session import CallSession
from callrec_ari.calls.state import CallState
from callrec_ari.model.call import CallTimes, now_utc
from callrec_ari.model.media import MediaFailed
from callrec_ari.model.plan import notice_playbacks
from callrec_ari.rules.manifest import NoticeEntry
from tests.support.flow import recorded_outgoing

CALL = "20261203T090000-0badbeef"
SETUP = recorded_outgoing(CALL, "caller-1")
PLAN = replace(SETUP.plan, shared_notice="channels")


class Legs:
    """A notice part whose playbacks take as long as the test says; it logs what it was asked and
    when each request began and ended, and fails the ones it is told to."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.targets = {p.id: p.target for p in notice_playbacks(PLAN)}
        self.log: list[tuple[str, str]] = []
        self.in_flight: set[str] = set()
        self.together: list[set[str]] = []
        self.failing = failing
        self.release = asyncio.Event()

    def channels(self, media_id: str) -> tuple[str, ...]:
        return ()

    def target_of(self, media_id: str) -> str:
        return self.targets.get(media_id, "")

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        self.log.append(("begin", media_id))
        self.in_flight.add(media_id)
        self.together.append(set(self.in_flight))
        if len(self.in_flight) == 2:
            self.release.set()
        try:
            # Held until a second request is in flight too (or a while: then it was sent alone).
            await asyncio.wait_for(self.release.wait(), 0.5)
        except TimeoutError:
            pass
        finally:
            self.in_flight.discard(media_id)
            self.log.append(("end", media_id))
            if not self.in_flight:
                self.release.clear()
        if media_id in self.failing:
            raise MediaFailed("no-sound", f"{media_id}: no such sound")

    async def stop(self, media_id: str, reason: str = "") -> None:
        pass


def session(part: Legs) -> CallSession:
    ari = AriClient(AriSettings("http://127.0.0.1:9/ari", "callrec", "callrec"))
    return CallSession(PLAN, "caller-1", ari, {"notice": part}, claim=lambda _id: None)  # type: ignore[dict-item]


def notice_actions() -> tuple[StartMedia, ...]:
    ids = [p.id for p in sorted(notice_playbacks(PLAN), key=lambda p: p.order)]
    assert ids == [f"{CALL}-notice-caller-1", f"{CALL}-notice-callee-1", f"{CALL}-notice-caller-2",
                   f"{CALL}-notice-callee-2"]
    return tuple(StartMedia("notice", i) for i in ids)


async def test_both_legs_notices_go_at_once_and_each_legs_tone_after_its_notice() -> None:
    part = Legs()
    actions = notice_actions()
    assert await session(part)._perform((Note.info("x"), *actions), tolerant=False) is None
    caller_1, callee_1, caller_2, callee_2 = (a.media_id for a in actions)
    assert {caller_1, callee_1} in part.together and {caller_2, callee_2} in part.together
    order = [f"{kind} {media}" for kind, media in part.log]
    # each leg's tone is asked for only after its notice was accepted
    assert order.index(f"begin {caller_2}") > order.index(f"end {caller_1}")
    assert order.index(f"begin {callee_2}") > order.index(f"end {callee_1}")


async def test_a_failed_playback_stops_what_follows_the_pair() -> None:
    actions = notice_actions()
    part = Legs(failing=frozenset({actions[1].media_id}))
    failed = await session(part)._perform(actions, tolerant=False)
    assert isinstance(failed, ActionFailed) and failed.action == actions[1]
    assert failed.skipped == actions[2:]  # the tones were never asked for
    assert [m for kind, m in part.log if kind == "begin"] == [a.media_id for a in actions[:2]]


class Asterisk:
    """Stands in for ARI's requests at answer (the recorder is a part like the notice's): each request
    is held until another is in flight too, or a while; what was in flight together is kept."""

    def __init__(self) -> None:
        self.in_flight: set[str] = set()
        self.together: list[set[str]] = []
        self.done: list[str] = []

    async def request(self, what: str) -> None:
        self.in_flight.add(what)
        self.together.append(set(self.in_flight))
        await asyncio.sleep(0.05)
        self.in_flight.discard(what)
        self.done.append(what)

    async def mute(self, channel: str, direction: str) -> None:
        await self.request(f"mute {channel}")

    async def answer(self, channel: str) -> None:
        await self.request(f"answer {channel}")

    async def add_to_bridge(self, bridge: str, channels: tuple[str, ...]) -> None:
        await self.request(f"bridge {bridge}")


class Recorder(Legs):
    def __init__(self, asterisk: Asterisk) -> None:
        super().__init__()
        self.asterisk = asterisk

    async def start(self, media_id: str, at: datetime, notices: tuple[NoticeEntry, ...] = ()) -> None:
        await self.asterisk.request(f"record {media_id}")


async def test_the_answers_preparations_go_at_once_and_the_bridge_after_them() -> None:
    legs = SETUP.legs
    ringing = Flow(phase=CallState.RINGING, legs=frozenset({legs.caller, legs.callee}),
                   times=CallTimes(started=now_utc()))
    answer = AriEvent.from_json({"type": "Dial", "dialstatus": "ANSWER", "peer": {"id": legs.callee}})
    _flow, actions = step(SETUP, ringing, answer, now_utc())
    assert [type(a) for a in actions] == [Mute, Answer, StartMedia, AddToBridge]
    asterisk = Asterisk()
    call = session(Legs())
    call.ari = asterisk  # type: ignore[assignment]
    call.parts["recording"] = Recorder(asterisk)  # type: ignore[assignment]
    assert await call._perform(actions, tolerant=False) is None
    segment = actions[2].media_id  # type: ignore[attr-defined]
    prepared = {f"mute {legs.callee}", f"answer {legs.caller}", f"record {segment}"}
    assert prepared in asterisk.together  # all three in flight at once
    # the bridge only once the other party is muted and the caller answered
    assert asterisk.done[-1] == f"bridge {legs.bridge}" and set(asterisk.done[:3]) == prepared
    assert {f"bridge {legs.bridge}"} in asterisk.together
