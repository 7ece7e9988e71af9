"""A customer's server on loopback that keeps every request as it came (headers, body) and answers
what the test says: for checking what the platform's senders put on the wire, or that nothing came."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CustomerServer:
    status: int = 200
    body: str = '{"status": "ok"}'
    port: int = field(default_factory=_free_port)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/in"

    @property
    def hits(self) -> int:
        return len(self.requests)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status, text=self.body, content_type="application/json")


@contextlib.asynccontextmanager
async def serving(server: CustomerServer) -> AsyncIterator[CustomerServer]:
    """``server`` listening on 127.0.0.1 (any path, any method) while the block runs."""
    app = web.Application(client_max_size=1 << 26)
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", server.port).start()
    try:
        yield server
    finally:
        await runner.cleanup()
