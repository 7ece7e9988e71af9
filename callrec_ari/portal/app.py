"""Build the portal's aiohttp application: middlewares, templates, the database, the routing table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.portal import i18n, reasons, routing, service_health
from callrec_ari.portal.middleware import errors_middleware, session_middleware
from callrec_ari.portal.network import proxy_middleware
from callrec_ari.portal.params import done_message
from callrec_ari.portal.service_health import ALERTS_KEY
from callrec_ari.portal.settings import PortalSettings
from callrec_ari.portal.state import CSRF_KEY, DB_KEY, DELIVERY_KEY, SCOPE_KEY, SETTINGS_KEY, Db

UPLOAD_OVERHEAD = 64 * 1024  # multipart headers and the other form fields


async def _context(request: web.Request) -> dict[str, Any]:
    return {
        "scope": request.get(SCOPE_KEY),
        "csrf": request.get(CSRF_KEY, ""),
        "done": done_message(request),
        "path": request.path,
        "service_alerts": list(request.app.get(ALERTS_KEY) or ()),
        "lang": i18n.current(),
        "languages": i18n.LANGUAGE_NAMES,
    }


def make_app(settings: PortalSettings, delivery: DeliverySettings | None = None) -> web.Application:
    """``delivery``: the ``[delivery]`` settings the worker delivers with (timeouts, the platform's SSH
    key): the connections' checks and "send a test file" use them; defaults when not given."""
    app = web.Application(
        # The proxy's word first, so error pages and sessions alike see the browser's scheme and address.
        middlewares=[proxy_middleware, errors_middleware, session_middleware],
        client_max_size=settings.limits.max_bytes + UPLOAD_OVERHEAD,
    )
    app[SETTINGS_KEY] = settings
    app[DELIVERY_KEY] = delivery or DeliverySettings(database_url=settings.database_url)
    service_health.install(app, settings.service_health_url, settings.service_health_interval)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(routing.TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True),
        context_processors=[_context],
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.globals["none"] = None
    # newstyle: {{ _("%(n)s lines", n=3) }} formats after translating, and escapes the arguments.
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(i18n.FILTERS)
    env.globals.update(reasons.TEMPLATE_GLOBALS)

    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app[DB_KEY] = Db(make_sessionmaker(engine))
        yield
        engine.dispose()

    app.cleanup_ctx.append(database)
    routing.add_routes(app)
    return app


__all__ = ["make_app"]
