"""ARI requests over HTTP (aiohttp's client, keep-alive pool), through the app's own client
(callrec_ari/ari/client.py, its HTTP in ari/http.py), and over the events WebSocket (Asterisk 22.4+
"RESTRequest"): CPU per request of this process and of Asterisk, and the wall time, at a given
concurrency. Needs a running Asterisk with the project's ARI user. Runs on the loop `callrec run`
runs on (cli/loop.py: uvloop unless CALLREC_EVENT_LOOP=asyncio).

    .venv/bin/python -m bench.ari_transport [--requests 4000] [--concurrency 1,16] [--sockets 1,4]
        [--rounds 1]

The request is one the app makes on every call and that Asterisk answers without a channel
(a dialplan global), so that what is measured is the transport, not the channel's thread.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import subprocess
import time
from typing import Any

import aiohttp

from bench.common import ARI, ARI_AUTH, cpu_seconds
from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.cli.loop import loop_factory
from callrec_ari.cli.loop import run as run_loop

PATH = "asterisk/variable"


def asterisk_pid() -> int:
    out = subprocess.run(["pgrep", "-x", "asterisk"], capture_output=True, text=True).stdout.split()
    if not out:
        raise SystemExit("no asterisk running: start one (scripts/asterisk-root.sh run)")
    return int(out[0])


async def over_http(session: aiohttp.ClientSession, n: int, concurrency: int) -> None:
    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            async with session.post(f"{ARI}/{PATH}", params={"variable": "BENCH_T", "value": str(i)}) as r:
                await r.read()
                assert r.status < 300, r.status

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def over_client(client: AriClient, n: int, concurrency: int) -> None:
    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            await client.set_global("BENCH_T", str(i))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


class WsRest:
    """Requests over one events WebSocket each, round-robin over the sockets."""

    def __init__(self, sockets: list[aiohttp.ClientWebSocketResponse]) -> None:
        self.sockets = sockets
        self.next = itertools.cycle(sockets)
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.ids = itertools.count()
        self.readers = [asyncio.create_task(self.read(ws)) for ws in sockets]

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            data = json.loads(msg.data)
            if data.get("type") == "RESTResponse":
                fut = self.waiting.pop(data["request_id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(data)

    async def request(self, method: str, uri: str) -> dict[str, Any]:
        rid = str(next(self.ids))
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[rid] = fut
        await next(self.next).send_str(json.dumps(
            {"type": "RESTRequest", "request_id": rid, "method": method, "uri": uri}))
        return await fut


async def over_ws(rest: WsRest, n: int, concurrency: int) -> None:
    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            answer = await rest.request("POST", f"{PATH}?variable=BENCH_T&value={i}")
            assert answer["status_code"] < 300, answer

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(kind: str, run: Any, n: int, ast: int) -> dict[str, Any]:
    c0, a0, t0 = time.process_time(), cpu_seconds(ast), time.monotonic()
    await run
    c1, a1, t1 = time.process_time(), cpu_seconds(ast), time.monotonic()
    return {"transport": kind, "requests": n, "wall_s": round(t1 - t0, 2),
            "client_us_per_request": round((c1 - c0) / n * 1e6, 1),
            "asterisk_us_per_request": round((a1 - a0) / n * 1e6, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--sockets", default="1,4")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    ast = asterisk_pid()
    headers = {"Authorization": ARI_AUTH}
    rows = []
    client = AriClient(AriSettings(ARI, "callrec", "callrec"))
    async with aiohttp.ClientSession(headers=headers,
                                     connector=aiohttp.TCPConnector(limit=128, keepalive_timeout=30)) as s:
        for conc in [int(c) for c in args.concurrency.split(",")] * args.rounds:
            await over_http(s, 200, conc)  # warm the pool
            rows.append({"concurrency": conc, **await measure("http", over_http(s, args.requests, conc),
                                                               args.requests, ast)})
            await over_client(client, 200, conc)
            rows.append({"concurrency": conc, **await measure(
                "ari-client", over_client(client, args.requests, conc), args.requests, ast)})
            for count in (int(k) for k in args.sockets.split(",")):
                sockets = [await s.ws_connect(f"{ARI.replace('http', 'ws')}/events",
                                              params={"app": f"bench-rest-{k}", "subscribeAll": "false"})
                           for k in range(count)]
                rest = WsRest(sockets)
                await over_ws(rest, 200, conc)
                rows.append({"concurrency": conc, "sockets": count,
                             **await measure("websocket", over_ws(rest, args.requests, conc),
                                             args.requests, ast)})
                for ws in sockets:
                    await ws.close()
                for task in rest.readers:
                    task.cancel()
    await client.close()
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    run_loop(main(), loop_factory())
