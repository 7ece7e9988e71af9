"""EventStream against a fake ARI events socket replaying recorded Asterisk 22 transcripts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from callrec_ari.ari.client import AriSettings
from callrec_ari.ari.events import AriEvent
from callrec_ari.ari.stream import Backoff, EventStream
from tests.support.fake_ari import FakeAri, transcript_lines

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "transcripts"
ANSWERED = transcript_lines(TRANSCRIPTS / "outgoing-answered.jsonl")
BUSY = transcript_lines(TRANSCRIPTS / "outgoing-busy.jsonl")
TINY = Backoff(initial=0.001, maximum=0.005)


def types(lines: list[str]) -> list[str]:
    return [json.loads(line)["type"] for line in lines]


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    step = 0.005
    for _ in range(int(timeout / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise TimeoutError("condition not met in time")


class Recorder:
    """The stream's owner: collects what it is told."""

    def __init__(self, fail_on: Callable[[AriEvent], bool] = lambda e: False) -> None:
        self.events: list[AriEvent] = []
        self.connects: list[bool] = []
        self.disconnects = 0
        self.fail_on = fail_on

    async def on_event(self, event: AriEvent) -> None:
        self.events.append(event)
        if self.fail_on(event):
            raise RuntimeError(f"handler failed on {event.type}")

    async def on_connect(self, reconnect: bool) -> None:
        self.connects.append(reconnect)

    async def on_disconnect(self) -> None:
        self.disconnects += 1


@contextlib.asynccontextmanager
async def running(stream: EventStream) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make_stream(fake: FakeAri, owner: Recorder, password: str = "callrec", **kwargs: object) -> EventStream:
    settings = AriSettings(url=fake.url, username="callrec", password=password)
    return EventStream(settings, owner.on_event, on_connect=owner.on_connect,
                       on_disconnect=owner.on_disconnect, backoff=TINY, **kwargs)  # type: ignore[arg-type]


async def test_events_are_delivered_in_transcript_order(fake: FakeAri) -> None:
    fake.add_ws_session(ANSWERED, close=False)
    owner = Recorder()
    stream = make_stream(fake, owner)
    async with running(stream):
        await until(lambda: len(owner.events) == len(ANSWERED))
        assert stream.connected.is_set()
    assert [e.type for e in owner.events] == types(ANSWERED)
    assert [e.raw for e in owner.events] == [json.loads(line) for line in ANSWERED]
    assert owner.connects == [False]
    assert stream.connections == 1 and stream.reconnects == 0


async def test_the_socket_is_opened_for_our_app_with_basic_auth(fake: FakeAri) -> None:
    owner = Recorder()
    async with running(make_stream(fake, owner)):
        await until(lambda: owner.connects == [False])
    (connection,) = fake.ws_connections
    assert connection.accepted
    assert connection.query == {"app": "callrec", "subscribeAll": "false"}
    assert connection.headers["Authorization"] == "Basic Y2FsbHJlYzpjYWxscmVj"


async def test_reconnects_after_the_server_closes_the_socket(fake: FakeAri) -> None:
    fake.add_ws_session(ANSWERED, close=True)
    fake.add_ws_session(BUSY, close=False)
    owner = Recorder()
    stream = make_stream(fake, owner)
    async with running(stream):
        await until(lambda: len(owner.events) == len(ANSWERED) + len(BUSY))
        await until(lambda: stream.connected.is_set())
    assert owner.connects == [False, True]
    assert owner.disconnects == 1
    assert stream.connections == 2 and stream.reconnects == 1
    assert [e.type for e in owner.events] == types(ANSWERED) + types(BUSY)
    assert fake.accepted_connections == 2


async def test_reconnect_counter_counts_every_reconnection(fake: FakeAri) -> None:
    for _ in range(3):
        fake.add_ws_session(BUSY[:1], close=True)
    owner = Recorder()
    stream = make_stream(fake, owner)
    async with running(stream):
        await until(lambda: len(owner.connects) == 4)
    assert owner.connects == [False, True, True, True]
    assert stream.reconnects == 3
    assert len(owner.events) == 3


async def test_undecodable_messages_are_skipped(fake: FakeAri) -> None:
    fake.add_ws_session([ANSWERED[0], "this is not json {", '["a", "list"]', "42", ANSWERED[1]], close=False)
    owner = Recorder()
    stream = make_stream(fake, owner)
    async with running(stream) as task:
        await until(lambda: len(owner.events) == 2)
        await asyncio.sleep(0.02)
        assert not task.done()
    assert [e.type for e in owner.events] == types(ANSWERED[:2])
    assert stream.connections == 1  # the socket was not dropped for it


async def test_a_failing_handler_does_not_kill_the_stream(fake: FakeAri) -> None:
    fake.add_ws_session(BUSY, close=False)
    owner = Recorder(fail_on=lambda e: e.type in ("StasisStart", "Dial"))
    stream = make_stream(fake, owner)
    async with running(stream) as task:
        await until(lambda: len(owner.events) == len(BUSY))
        assert not task.done()
    assert [e.type for e in owner.events] == types(BUSY)
    assert stream.connections == 1


async def test_transcript_gets_one_line_per_event(fake: FakeAri, tmp_path: Path) -> None:
    fake.add_ws_session(ANSWERED, close=True)
    fake.add_ws_session(BUSY, close=False)
    owner = Recorder()
    path = tmp_path / "events.jsonl"
    with path.open("w", encoding="utf-8", buffering=1) as transcript:
        stream = make_stream(fake, owner, transcript=transcript)
        async with running(stream):
            await until(lambda: len(owner.events) == len(ANSWERED) + len(BUSY))
    written = path.read_text(encoding="utf-8").splitlines()
    assert len(written) == len(ANSWERED) + len(BUSY)
    assert [json.loads(line) for line in written] == [json.loads(line) for line in ANSWERED + BUSY]


async def test_multi_line_message_stays_one_transcript_line(fake: FakeAri, tmp_path: Path) -> None:
    pretty = json.dumps(json.loads(BUSY[0]), indent=2)
    fake.add_ws_session([pretty], close=False)
    owner = Recorder()
    path = tmp_path / "events.jsonl"
    with path.open("w", encoding="utf-8", buffering=1) as transcript:
        async with running(make_stream(fake, owner, transcript=transcript)):
            await until(lambda: len(owner.events) == 1)
    (line,) = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == json.loads(BUSY[0])


async def test_wrong_credentials_keep_retrying_without_connecting(fake: FakeAri) -> None:
    owner = Recorder()
    stream = make_stream(fake, owner, password="wrong")
    async with running(stream) as task:
        await until(lambda: fake.refused_connections >= 3)
        assert not task.done()
    assert owner.connects == [] and owner.disconnects == 0
    assert stream.connections == 0 and not stream.connected.is_set()
    assert fake.accepted_connections == 0


async def test_wrong_app_is_refused(fake: FakeAri) -> None:
    owner = Recorder()
    settings = AriSettings(url=fake.url, username="callrec", password="callrec", app="other")
    stream = EventStream(settings, owner.on_event, on_connect=owner.on_connect, backoff=TINY)
    async with running(stream):
        await until(lambda: fake.refused_connections >= 2)
    assert owner.connects == []


@pytest.mark.parametrize(
    ("url", "ws"),
    [("http://127.0.0.1:8088/ari", "ws://127.0.0.1:8088/ari/events"),
     ("https://pbx.example:8089/ari/", "wss://pbx.example:8089/ari/events")],
)
def test_ws_url(url: str, ws: str) -> None:
    stream = EventStream(AriSettings(url=url, username="u", password="p"), Recorder().on_event)
    assert stream._ws_url() == ws


# --- Backoff ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 42])
def test_backoff_delay_bounds(seed: int) -> None:
    backoff = Backoff(initial=0.25, maximum=10.0, factor=2.0)
    rng = random.Random(seed)
    for attempt in range(30):
        ceiling = min(10.0, 0.25 * 2.0**attempt)
        for _ in range(20):
            delay = backoff.delay(attempt, rng)
            assert ceiling / 2 <= delay <= ceiling
            assert delay <= backoff.maximum


def test_backoff_is_capped_at_the_maximum() -> None:
    rng = random.Random(7)
    delays = [Backoff(initial=1.0, maximum=3.0).delay(attempt, rng) for attempt in range(5, 50)]
    assert all(1.5 <= d <= 3.0 for d in delays)


def test_backoff_grows_then_stays() -> None:
    backoff = Backoff(initial=0.25, maximum=10.0)
    rng = random.Random(3)
    assert backoff.delay(0, rng) <= 0.25
    assert backoff.delay(3, rng) >= 1.0  # ceiling 2.0
    assert backoff.delay(100, rng) >= 5.0


def test_backoff_negative_attempt_is_the_first() -> None:
    rng = random.Random(5)
    assert 0.125 <= Backoff().delay(-3, rng) <= 0.25


def test_backoff_is_reproducible_with_a_seed() -> None:
    backoff = Backoff()
    first = [backoff.delay(a, random.Random(9)) for a in range(10)]
    second = [backoff.delay(a, random.Random(9)) for a in range(10)]
    assert first == second


def test_backoff_without_rng_uses_the_module_random() -> None:
    assert 5.0 <= Backoff().delay(10) <= 10.0


async def test_application_replaced_lets_go_and_waits_before_trying_again(fake: FakeAri) -> None:
    """Another ARI client took our application name: no fighting over it; retried after a long pause."""
    replaced = json.dumps({"type": "ApplicationReplaced", "application": "callrec",
                           "timestamp": "2026-11-28T19:00:00.000+0000"})
    fake.add_ws_session([ANSWERED[0], replaced, ANSWERED[1]], close=False)
    fake.add_ws_session([ANSWERED[2]], close=False)
    owner = Recorder()
    stream = make_stream(fake, owner, replaced_pause=0.5)
    async with running(stream):
        await until(lambda: stream.replaced)
        await asyncio.sleep(0.2)
        assert [e.raw for e in owner.events] == [json.loads(ANSWERED[0])]  # nothing after it
        assert len(fake.ws_connections) == 1  # not straight back
        await until(lambda: len(owner.events) == 2, timeout=3.0)
    assert owner.connects == [False, True] and not stream.replaced
