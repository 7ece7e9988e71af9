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
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from callrec_ari.portal.i18n import N_, gettext

log = logging.getLogger(__name__)

_MEANING = {
    "spool": N_(
        "the recording spool is nearly full or unwritable: new calls are connected WITHOUT recording"),
    "ari": N_("the call control link to Asterisk is down: calls are connected WITHOUT recording"),
    "database": N_("the database is not answering: line settings cannot be read"),
}


@dataclass(frozen=True, slots=True)
class Alert:
    """One failing check: a catalog message and the check's own detail (not translated: the app's
    words, for the operator). ``str()`` speaks the language of the request that shows it."""

    message: str
    detail: str = ""

    def __str__(self) -> str:
        return self.render(gettext(self.message))

    def english(self) -> str:
        return self.render(self.message)

    def render(self, text: str) -> str:
        return f"{text} ({self.detail})" if self.detail else text


ALERTS_KEY: web.AppKey[list[Alert]] = web.AppKey("service_alerts")


def alerts_from(body: object, status: int) -> list[Alert]:
    """The failing checks of a /readyz answer, for the operator."""
    checks = body.get("checks") if isinstance(body, dict) else None
    if not isinstance(checks, dict):
        return [] if status == 200 else [Alert(N_("the recording service is not ready"), f"HTTP {status}")]
    out = []
    for name, result in sorted(checks.items()):
        if isinstance(result, dict) and not result.get("ok", False):
            out.append(Alert(_MEANING.get(name) or str(name), str(result.get("detail", ""))))
    return out


async def poll(app: web.Application, url: str, interval: float) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        while True:
            try:
                async with http.get(url) as resp:
                    alerts = alerts_from(await resp.json(content_type=None), resp.status)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                alerts = [Alert(N_("the recording service does not answer its health check"),
                                type(exc).__name__)]
            if alerts != app[ALERTS_KEY]:
                log.warning("service health: %s", "; ".join(a.english() for a in alerts) or "all clear")
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
