"""The ARI client's own HTTP (callrec_ari/ari/http.py): keep-alive reuse, the bound on connections,
and what happens to a connection whose answer never came, against a fake ARI server (the ``fake`` and
``client`` fixtures of tests/unit/conftest.py) and, for answers that are not HTTP, bare socket servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from callrec_ari.ari import http
from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.ari.errors import AriUnavailable
from callrec_ari.ari.http import HttpPool, query_string
from tests.support.fake_ari import FakeAri


def peers(fake: FakeAri) -> set[object]:
    return {r.peer for r in fake.requests}


async def test_query_values_arrive_as_sent(fake: FakeAri, client: AriClient) -> None:
    """What Asterisk decodes is what the app meant: commas of a media list, an endpoint's / and @,
    and the characters that would otherwise cut the query (&, =, +, #, space, non-ASCII)."""
    fake.reply("POST", "/channels/create", 200, {"id": "c1", "name": "n", "state": "Down"})
    odd = "a&b=c+d #e%f/ü"
    await client.request("POST", "/channels/create", {
        "endpoint": "PJSIP/0312345678@carrier", "appArgs": "leg=callee,call=c1", "odd": odd, "flag": True})
    (sent,) = fake.requests
    assert sent.query == {"endpoint": "PJSIP/0312345678@carrier", "appArgs": "leg=callee,call=c1",
                          "odd": odd, "flag": "true"}
    assert query_string({"media": "sound:a,sound:b"}) == "media=sound:a,sound:b"  # as aiohttp sent it


async def test_a_connection_is_kept_and_reused(fake: FakeAri, client: AriClient) -> None:
    fake.reply("POST", "/channels/c1/ring", 204)
    for _ in range(5):
        await client.ring("c1")
    assert len(fake.requests) == 5 and len(peers(fake)) == 1
    assert client.http.connections == 1


async def test_requests_at_once_never_open_more_than_the_limit(fake: FakeAri) -> None:
    fake.reply("POST", "/channels/c1/ring", 204, delay=0.05)
    pool = HttpPool(fake.url, {"Authorization": fake.expected_auth}, limit=3, timeout=5.0)
    try:
        answers = await asyncio.gather(*(pool.request("POST", "/channels/c1/ring") for _ in range(12)))
    finally:
        await pool.close()
    assert [a.status for a in answers] == [204] * 12
    assert len(fake.requests) == 12 and len(peers(fake)) == 3


async def test_a_timed_out_request_takes_its_connection_with_it(fake: FakeAri) -> None:
    """The late answer must never be read as the next request's: the connection is closed.

    The timeout leaves the request ample time to reach the fake even on a loaded machine (at 0.2 s a
    CI run once timed out before the request was sent, and there was no late answer to test)."""
    fake.reply("GET", "/asterisk/variable", 200, {"value": "late"}, delay=2.0)
    fake.reply("GET", "/asterisk/info", 200, {"system": {"version": "22"}})
    ari = AriClient(AriSettings(url=fake.url, username="callrec", password="callrec", request_timeout=1.0))
    try:
        with pytest.raises(AriUnavailable):
            await ari.get_global("X")
        assert await ari.asterisk_info() == {"system": {"version": "22"}}
        await asyncio.sleep(1.2)  # the late answer arrives (to a closed socket)
        assert await ari.asterisk_info() == {"system": {"version": "22"}}
    finally:
        await ari.close()
    [timed_out] = fake.requests_to("GET", "/asterisk/variable")
    assert len(fake.requests_to("GET", "/asterisk/info")) == 2
    assert all(r.peer != timed_out.peer for r in fake.requests_to("GET", "/asterisk/info"))


async def test_a_cancelled_request_frees_its_place(fake: FakeAri) -> None:
    fake.reply("POST", "/channels/c1/ring", 204, delay=5.0)
    fake.reply("POST", "/channels/c2/ring", 204)
    pool = HttpPool(fake.url, {"Authorization": fake.expected_auth}, limit=1, timeout=10.0)
    try:
        slow = asyncio.create_task(pool.request("POST", "/channels/c1/ring"))
        waiting = asyncio.create_task(pool.request("POST", "/channels/c2/ring"))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # behind the slow one: the pool holds one connection
        slow.cancel()
        answer = await asyncio.wait_for(waiting, 2.0)
    finally:
        await pool.close()
    assert answer.status == 204


async def test_a_connection_in_use_as_the_client_closes_goes_with_its_answer(fake: FakeAri) -> None:
    fake.reply("POST", "/channels/c1/ring", 204, delay=0.2)
    pool = HttpPool(fake.url, {"Authorization": fake.expected_auth}, limit=2, timeout=5.0)
    request = asyncio.create_task(pool.request("POST", "/channels/c1/ring"))
    await asyncio.sleep(0.05)
    await pool.close()
    assert (await request).status == 204  # answered all the same
    await asyncio.sleep(0.05)
    assert pool.connections == 0  # and its connection closed, not left idle


async def test_an_idle_connection_past_the_keep_alive_is_not_reused(
        fake: FakeAri, client: AriClient, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.reply("POST", "/channels/c1/ring", 204)
    await client.ring("c1")
    monkeypatch.setattr(http, "IDLE_S", 0.0)
    await client.ring("c1")
    assert len(peers(fake)) == 2


async def serve(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
                ) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/ari"


async def test_an_answer_that_is_not_http_is_unavailable() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()

    server, url = await serve(garbage)
    ari = AriClient(AriSettings(url=url, username="u", password="p", request_timeout=2.0))
    try:
        with pytest.raises(AriUnavailable, match="not an HTTP answer"):
            await ari.asterisk_info()
    finally:
        await ari.close()
        server.close()


async def test_a_server_that_hangs_up_without_answering_is_unavailable() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server, url = await serve(hang_up)
    ari = AriClient(AriSettings(url=url, username="u", password="p", request_timeout=2.0))
    try:
        with pytest.raises(AriUnavailable, match="connection closed") as info:
            await ari.asterisk_info()
        assert not info.value.refused
        assert ari.http.connections == 0
    finally:
        await ari.close()
        server.close()


async def test_connection_close_from_the_server_is_honoured() -> None:
    """An answer with ``Connection: close``: the next request opens a new connection."""
    seen: list[int] = []

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peername")[1])
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server, url = await serve(once)
    ari = AriClient(AriSettings(url=url, username="u", password="p", request_timeout=2.0))
    try:
        assert await ari.asterisk_info() == {}
        assert await ari.asterisk_info() == {}
    finally:
        await ari.close()
        server.close()
    assert len(seen) == 2 and seen[0] != seen[1]


def test_on_uvloop_as_callrec_run_runs() -> None:
    """`callrec run` runs on uvloop (cli/loop.py), whose transports are not asyncio's classes."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[int, int]:
        async with FakeAri() as fake:
            fake.reply("POST", "/channels/c1/ring", 204, delay=0.01)
            ari = AriClient(AriSettings(url=fake.url, username="callrec", password="callrec"))
            try:
                await asyncio.gather(*(ari.ring("c1") for _ in range(20)))
                await ari.ring("c1")
            finally:
                await ari.close()
            return len(fake.requests), len(peers(fake))

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        requests, connections = runner.run(scenario())
    assert requests == 21 and connections == 20


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        HttpPool("ws://127.0.0.1:8088/ari", {}, limit=1, timeout=1.0)
