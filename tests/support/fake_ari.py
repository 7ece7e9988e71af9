"""A fake Asterisk ARI server for component tests: REST answers and an events WebSocket.

It binds 127.0.0.1 on an ephemeral port (a real Asterisk may be using 8088 next door) and plays
only what a test scripts: canned REST answers, and recorded event transcripts over the WebSocket.
It checks what Asterisk checks (Basic auth, the ``app`` query of the events socket) and records
every request so tests can assert what the client sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web

ARI_PREFIX = "/ari"


def transcript_lines(path: str | Path) -> list[str]:
    """The raw events of a JSON-lines transcript, one WebSocket text message each."""
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # below /ari, as sent on the wire (still percent-encoded: %2F stays %2F)
    decoded_path: str  # below /ari, percent-decoded
    query: dict[str, str]
    json: Any
    body: bytes
    headers: dict[str, str]
    peer: tuple[str, int] | None = None  # the client's address: which of its connections carried it


@dataclass(slots=True)
class Reply:
    status: int = 200
    json: Any = None
    text: str | None = None
    body: bytes | None = None
    content_type: str | None = None
    delay: float = 0.0  # seconds before answering (to provoke client timeouts)


@dataclass(slots=True)
class WsSession:
    """What one events-socket connection receives: ``messages`` in order, then close (or stay open)."""

    messages: Sequence[str]
    close: bool = True


@dataclass(slots=True)
class WsConnection:
    query: dict[str, str]
    headers: dict[str, str]
    accepted: bool
    sent: list[str] = field(default_factory=list)


class FakeAri:
    """``async with FakeAri() as ari:`` then point an AriSettings at ``ari.url``."""

    def __init__(self, username: str = "callrec", password: str = "callrec", app: str = "callrec") -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self.expected_auth = f"Basic {token}"
        self.app_name = app
        self.replies: dict[tuple[str, str], Reply] = {}
        self.requests: list[RecordedRequest] = []
        self.ws_sessions: deque[WsSession] = deque()
        self.ws_connections: list[WsConnection] = []
        self._open_sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- scripting --------------------------------------------------------------------------------
    def reply(self, method: str, path: str, status: int = 200, json: Any = None, *, text: str | None = None,
              body: bytes | None = None, content_type: str | None = None, delay: float = 0.0) -> None:
        """Answer ``method path`` (below /ari, percent-encoded as on the wire) like this from now on."""
        self.replies[(method.upper(), path)] = Reply(status, json, text, body, content_type, delay)

    def add_ws_session(self, messages: Iterable[str], close: bool = True) -> None:
        """The next events-socket connection sends ``messages``, then closes unless ``close`` is False.

        A connection with no scripted session left stays open and silent until the client leaves.
        """
        self.ws_sessions.append(WsSession(list(messages), close))

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    @property
    def accepted_connections(self) -> int:
        return sum(1 for c in self.ws_connections if c.accepted)

    @property
    def refused_connections(self) -> int:
        return sum(1 for c in self.ws_connections if not c.accepted)

    # --- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{ARI_PREFIX}"

    async def start(self) -> FakeAri:
        app = web.Application()
        app.router.add_get(f"{ARI_PREFIX}/events", self._events)
        app.router.add_route("*", ARI_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        for ws in list(self._open_sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeAri:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- handlers ---------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == self.expected_auth

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        raw = request.rel_url.raw_path.removeprefix(ARI_PREFIX)
        body = await request.read()
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        self.requests.append(RecordedRequest(
            method=request.method, path=raw, decoded_path=request.rel_url.path.removeprefix(ARI_PREFIX),
            query=dict(request.query), json=payload, body=body, headers=dict(request.headers),
            peer=request.transport.get_extra_info("peername") if request.transport else None,
        ))
        if not self._authorized(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        reply = self.replies.get((request.method, raw))
        if reply is None:
            return web.json_response({"message": "Resource not found"}, status=404)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.body is not None:
            return web.Response(status=reply.status, body=reply.body,
                                content_type=reply.content_type or "application/octet-stream")
        if reply.text is not None:
            return web.Response(status=reply.status, text=reply.text,
                                content_type=reply.content_type or "text/plain")
        if reply.json is None:
            return web.Response(status=reply.status)
        return web.json_response(reply.json, status=reply.status)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        query, headers = dict(request.query), dict(request.headers)
        if not self._authorized(request):
            self.ws_connections.append(WsConnection(query, headers, accepted=False))
            return web.json_response({"message": "Authentication required"}, status=401)
        if query.get("app") != self.app_name:
            self.ws_connections.append(WsConnection(query, headers, accepted=False))
            return web.json_response({"message": "Invalid application provided in param [app]."}, status=400)
        connection = WsConnection(query, headers, accepted=True)
        self.ws_connections.append(connection)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._open_sockets.add(ws)
        try:
            session = self.ws_sessions.popleft() if self.ws_sessions else WsSession((), close=False)
            for message in session.messages:
                await ws.send_str(message)
                connection.sent.append(message)
            if session.close:
                await ws.close()
            else:
                async for _ in ws:  # idle until the client leaves or the server closes
                    pass
        finally:
            self._open_sockets.discard(ws)
        return ws
