"""The customers' equipment: reference receivers (the project's own, as a customer would run it), and
B's gate in front of its receiver."""

from __future__ import annotations

import asyncio
import json
import socket
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from bench.soak.plan import SECRET
from callrec_ari.receiver.app import StreamOptions, serve


class Gate:
    """B's equipment: its reference receiver behind a gate that holds every upload a moment (so that a
    worker can be killed mid-upload) and, during the fault, answers 500."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.failing = False
        self.in_flight = 0
        self.answered_500 = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        try:
            body = await request.read()
            await asyncio.sleep(0.3)
            if self.failing:
                self.answered_500 += 1
                return web.json_response({"status": "error", "error_id": "soak-fault"}, status=500)
            headers = {
                k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
            }
            async with (
                ClientSession(timeout=ClientTimeout(total=60)) as http,
                http.post(self.target + request.path, data=body, headers=headers) as resp,
            ):
                return web.Response(
                    body=await resp.read(), status=resp.status, content_type=resp.content_type
                )
        finally:
            self.in_flight -= 1


@dataclass
class Customer:
    name: str
    port: int
    inbox: Path
    contract_id: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    stream_port: int | None = None

    async def up(self) -> None:
        if self.task is None:
            self.stop = asyncio.Event()
            stream = StreamOptions(self.stream_port, "127.0.0.1", 10.0) if self.stream_port else None
            self.task = asyncio.create_task(
                serve(self.inbox, SECRET[self.name], "127.0.0.1", self.port, self.stop, stream=stream)
            )
            await asyncio.sleep(0.3)

    async def down(self) -> None:
        if self.task is not None:
            self.stop.set()
            await self.task
            self.task = None

    def manifests(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.inbox.glob("*.zip")):
            with zipfile.ZipFile(path) as z:
                out.append(json.loads(z.read("manifest.json")))
        return out

    def streams(self) -> list[str]:
        return sorted(p.stem for p in (self.inbox / "streams").glob("*.json"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
