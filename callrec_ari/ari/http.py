"""The ARI client's HTTP/1.1: a bounded pool of keep-alive connections to Asterisk, one request at a
time on each, responses read by httptools' parser (the C parser of uvloop's authors).

Why not aiohttp's client, which the events WebSocket still uses: a call makes some twenty requests,
and aiohttp's client spent 144-155 µs of the app's CPU on each where the ARI client over this pool
spends 72-73 µs (one request in flight against the real Asterisk 22, `python -m bench.ari_transport`;
docs/performance.md "The ARI requests' own HTTP"). What it leaves out, on purpose, because Asterisk's
HTTP server never needs it: cookies, redirects, proxies, compression, request bodies other than JSON.

A connection idle longer than Asterisk keeps one open (http.conf ``session_keep_alive``, 15 s by
default) is dropped rather than reused, so a request is never written into a socket the server is
closing. A request that fails or is cancelled midway closes its connection: the answer still on
its way could otherwise be read as the next request's.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urlsplit

import httptools

IDLE_S = 10.0  # a connection unused this long is closed, not reused (Asterisk closes it at 15 s)
# What a query value may keep unescaped: the characters yarl (aiohttp) also leaves as they are, so
# Asterisk reads what it always read (a media list's commas, an endpoint's "/" and "@").
QUERY_SAFE = "/:@!$'()*,;"


class HttpError(Exception):
    """No answer: the connection could not be made, broke, or the answer was not HTTP."""


class ConnectFailed(HttpError):
    """No connection could be made (refused, unreachable): nothing was sent."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str  # without its parameters ("application/json")
    body: bytes


def query_string(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe=QUERY_SAFE)}" for k, v in params.items())


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request on it at a time."""

    def __init__(self, pool: HttpPool) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[tuple[Answer, bool]] | None = None
        self._body: list[bytes] = []
        self._content_type = ""

    # asyncio's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # (uvloop's is not a subclass of asyncio's)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(HttpError(f"connection closed: {exc}" if exc else "connection closed by the server"))
        self._pool._lost(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"not an HTTP answer: {exc}"))
            self.close()

    # httptools' side
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self._content_type = value.split(b";", 1)[0].strip().decode("latin-1").lower()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        answer = Answer(self._parser.get_status_code(), self._content_type, b"".join(self._body))
        self._body, self._content_type = [], ""
        waiting, self._answer = self._answer, None
        if waiting is not None and not waiting.done():
            waiting.set_result((answer, self._parser.should_keep_alive()))
        else:  # an answer nobody asked for: the connection can no longer be trusted
            self.close()

    # the pool's side
    def send(self, request: bytes) -> asyncio.Future[tuple[Answer, bool]]:
        assert self.transport is not None and self._answer is None
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._answer

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: HttpError) -> None:
        waiting, self._answer = self._answer, None
        if waiting is not None and not waiting.done():
            waiting.set_exception(exc)


class HttpPool:
    """Requests to one server (``base_url``: scheme, host, port and the path every request starts with)."""

    def __init__(self, base_url: str, headers: dict[str, str], limit: int, timeout: float) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        self._prefix = url.path.rstrip("/")
        self._limit = limit
        self._timeout = timeout
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{self._port}", **headers}.items())
        self._idle: collections.deque[_Connection] = collections.deque()
        self._open = 0
        self._waiting: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self._closed = False

    @property
    def connections(self) -> int:
        return self._open

    async def request(self, method: str, path: str, params: dict[str, str] | None = None,
                      body: bytes | None = None) -> Answer:
        """One request, answered; raises HttpError (or TimeoutError) when there is no answer."""
        target = self._prefix + path
        if params:
            target += "?" + query_string(params)
        head = f"{method} {target} HTTP/1.1\r\n{self._head}"
        if body is None:
            request = f"{head}Content-Length: 0\r\n\r\n".encode()
        else:
            json_head = f"{head}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            request = json_head.encode() + body
        async with asyncio.timeout(self._timeout):
            connection = await self._take()
            done = False
            try:
                answer, keep = await connection.send(request)
                done = True
            finally:
                if not done:  # failed, timed out or cancelled with the answer unread
                    connection.close()
        if keep and not connection.closed:
            self._give_back(connection)
        else:
            connection.close()
        return answer

    async def close(self) -> None:
        """Idle connections closed now, those in use as their answer comes."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(HttpError("the client is closed"))

    async def _take(self) -> _Connection:
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the likeliest to be warm
            if not connection.closed and now - connection.idle_since < IDLE_S:
                return connection
            connection.close()
        if self._open >= self._limit:
            waiter: asyncio.Future[_Connection | None] = loop.create_future()
            self._waiting.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed over just as we gave up: pass it on
                    handed = waiter.result()
                    if handed is None:
                        self._wake(None)
                    else:
                        self._give_back(handed)
                raise
            if handed is not None:
                return handed
            # a connection closed meanwhile: its place is ours
        self._open += 1
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(self), self._host, self._port, ssl=self._ssl)
        except BaseException as exc:
            self._open -= 1
            self._wake(None)
            if isinstance(exc, OSError):
                raise ConnectFailed(str(exc) or type(exc).__name__) from exc
            raise
        return connection

    def _give_back(self, connection: _Connection) -> None:
        if self._closed:
            connection.close()
        if connection.closed:
            return
        if not self._wake(connection):
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.append(connection)

    def _wake(self, connection: _Connection | None) -> bool:
        """Hand ``connection`` (or, None, a free place for a new one) to the first request waiting."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    def _lost(self, connection: _Connection) -> None:
        self._open -= 1
        try:
            self._idle.remove(connection)
        except ValueError:
            pass
        self._wake(None)
