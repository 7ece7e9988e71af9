"""The recording service's health, as a banner on every portal page (operations: alert the operator).

The portal polls the ARI app's ``/readyz`` (``CALLREC_PORTAL_SERVICE_HEALTH_URL``, e.g.
http://127.0.0.1:8091/readyz) and keeps the failing checks: the spool nearly full (new calls are
connected unrecorded), ARI down (calls are connected without the app), the database unusable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

ALERTS_KEY: web.AppKey[list[str]] = web.AppKey("service_alerts")

_MEANING = {
    "spool": "the recording spool is nearly full or unwritable: new calls are connected WITHOUT recording",
    "ari": "the call control link to Asterisk is down: calls are connected WITHOUT recording",
    "database": "the database is not answering: line settings cannot be read",
}


def alerts_from(body: object, status: int) -> list[str]:
    """Operator-facing sentences for the failing checks of a /readyz answer."""
    checks = body.get("checks") if isinstance(body, dict) else None
    if not isinstance(checks, dict):
        return [] if status == 200 else [f"the recording service is not ready (HTTP {status})"]
    out = []
    for name, result in sorted(checks.items()):
        if isinstance(result, dict) and not result.get("ok", False):
            out.append(f"{_MEANING.get(name, name)} ({result.get('detail', '')})")
    return out


async def poll(app: web.Application, url: str, interval: float) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        while True:
            try:
                async with http.get(url) as resp:
                    alerts = alerts_from(await resp.json(content_type=None), resp.status)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                alerts = [f"the recording service does not answer its health check ({type(exc).__name__})"]
            if alerts != app[ALERTS_KEY]:
                log.warning("service health: %s", "; ".join(alerts) or "all clear")
            app[ALERTS_KEY][:] = alerts
            await asyncio.sleep(interval)


def install(app: web.Application, url: str, interval: float = 5.0) -> None:
    app[ALERTS_KEY] = []
    if not url:
        return

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(poll(app, url, interval))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(ctx)
