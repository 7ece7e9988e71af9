"""The routing table: the plumbing's own routes, then each feature's pages and JSON API.

Every URL is served by exactly one feature folder; ``tests/portal/test_openapi.py`` checks that the
/api/v1 routes registered here are the ones :mod:`.openapi` documents.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from callrec_ari.portal import openapi
from callrec_ari.portal.auth import api as auth_api
from callrec_ari.portal.auth import pages as auth_pages
from callrec_ari.portal.calls import pages as calls_pages
from callrec_ari.portal.contracts import api as contracts_api
from callrec_ari.portal.contracts import pages as contracts_pages
from callrec_ari.portal.dashboard import pages as dashboard_pages
from callrec_ari.portal.enrollment import api as enrollment_api
from callrec_ari.portal.enrollment import pages as enrollment_pages
from callrec_ari.portal.lines import api as lines_api
from callrec_ari.portal.lines import pages as lines_pages
from callrec_ari.portal.notices import api as notices_api
from callrec_ari.portal.notices import pages as notices_pages
from callrec_ari.portal.users import pages as users_pages

TEMPLATES = Path(__file__).parent / "templates"

FEATURE_ROUTES = (
    auth_pages.routes,
    lines_pages.routes,
    notices_pages.routes,
    contracts_pages.routes,
    enrollment_pages.routes,
    users_pages.routes,
    calls_pages.routes,
    dashboard_pages.routes,
    auth_api.routes,
    lines_api.routes,
    notices_api.routes,
    contracts_api.routes,
    enrollment_api.routes,
)


async def openapi_json(_request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def favicon(_request: web.Request) -> web.Response:
    return web.Response(status=204)


async def css(_request: web.Request) -> web.Response:
    return web.Response(text=(TEMPLATES / "portal.css").read_text(), content_type="text/css")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/static/portal.css", css)
    for table in FEATURE_ROUTES:
        app.router.add_routes(table)


__all__ = ["FEATURE_ROUTES", "TEMPLATES", "add_routes"]
