"""Build the portal's aiohttp application: routes, templates, middlewares, the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.portal import (
    api,
    api_operator,
    enrollment_routes,
    openapi,
    service_health,
    views,
    views_operator,
)
from callrec_ari.portal.service_health import ALERTS_KEY
from callrec_ari.portal.settings import PortalSettings
from callrec_ari.portal.web import (
    CSRF_KEY,
    DB_KEY,
    SCOPE_KEY,
    SETTINGS_KEY,
    Db,
    errors_middleware,
    session_middleware,
)

HERE = Path(__file__).parent
UPLOAD_OVERHEAD = 64 * 1024  # multipart headers and the other form fields


async def _context(request: web.Request) -> dict[str, Any]:
    return {
        "scope": request.get(SCOPE_KEY),
        "csrf": request.get(CSRF_KEY, ""),
        "done": request.query.get("done", ""),
        "path": request.path,
        "service_alerts": list(request.app.get(ALERTS_KEY) or ()),
    }


async def openapi_json(_request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def favicon(_request: web.Request) -> web.Response:
    return web.Response(status=204)


async def css(_request: web.Request) -> web.Response:
    return web.Response(text=(HERE / "templates" / "portal.css").read_text(), content_type="text/css")


def make_app(settings: PortalSettings) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware, session_middleware],
        client_max_size=settings.limits.max_bytes + UPLOAD_OVERHEAD,
    )
    app[SETTINGS_KEY] = settings
    service_health.install(app, settings.service_health_url, settings.service_health_interval)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        context_processors=[_context],
        undefined=jinja2.StrictUndefined,
    )
    env.globals["none"] = None

    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app[DB_KEY] = Db(make_sessionmaker(engine))
        yield
        engine.dispose()

    app.cleanup_ctx.append(database)
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/static/portal.css", css)
    for table in (
        views.routes,
        views_operator.routes,
        enrollment_routes.routes,
        api.routes,
        api_operator.routes,
    ):
        app.router.add_routes(table)
    return app


__all__ = ["make_app"]
