"""/metrics, /healthz and /readyz for the app and the delivery worker.

/healthz: the process answers. /readyz: 200 only when every dependency is usable (ARI connected,
database answering, spool writable with room); otherwise 503 with which check failed, so a load
balancer or an operator sees the service say it is not ready instead of pretending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from callrec_ari.observability.metrics import REGISTRY

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[tuple[bool, str]]]


def make_app(checks: Mapping[str, Check]) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        results: dict[str, dict[str, object]] = {}
        for name, check in checks.items():
            try:
                ok, detail = await asyncio.wait_for(check(), 5.0)
            except Exception as exc:  # a check that breaks is a check that fails
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            results[name] = {"ok": ok, "detail": detail}
        ready = all(r["ok"] for r in results.values())
        return web.json_response({"ready": ready, "checks": results}, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve(checks: Mapping[str, Check], host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(make_app(checks), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("health and metrics on http://%s:%d (/metrics /healthz /readyz)", host, port)
    return runner
