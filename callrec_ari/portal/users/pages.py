"""Customer Control's users page: the accounts of the administrator's own contract, a form to add one
and buttons to disable or remove one (POST/redirect/GET, CSRF-checked by the middleware like every form).

The password is read from the form and handed to the action only: it is never shown, logged or audited.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callrec_ari.portal.i18n import gettext as _
from callrec_ari.portal.params import done, form_data, form_field
from callrec_ari.portal.state import DB_KEY, scope_of
from callrec_ari.portal.users import actions, queries

routes = web.RouteTableDef()


@routes.get("/users")
@aiohttp_jinja2.template("users.html")
async def users(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    cid = scope.require_customer()
    return await request.app[DB_KEY].run(lambda s: queries.users_page(s, scope, cid))


@routes.post("/users")
async def add(request: web.Request) -> web.Response:
    scope, form = scope_of(request), await form_data(request)
    scope.require_customer()
    login, name = form_field(form, "login", 128), form_field(form, "name", 200)
    password = form_field(form, "password", 1024)
    added = await request.app[DB_KEY].run(
        lambda s: actions.add_user(s, scope, login, name, password).login
    )
    said = _("user %(login)s added: they can log in with the password you chose")
    raise done("/users", said % {"login": added})


@routes.post("/users/disable")
async def disable(request: web.Request) -> web.Response:
    scope, form = scope_of(request), await form_data(request)
    scope.require_customer()
    login = form_field(form, "login", 128)
    gone = await request.app[DB_KEY].run(lambda s: actions.disable_user(s, scope, login).login)
    raise done("/users", _("user %(login)s disabled and logged out") % {"login": gone})


@routes.post("/users/remove")
async def remove(request: web.Request) -> web.Response:
    scope, form = scope_of(request), await form_data(request)
    scope.require_customer()
    login = form_field(form, "login", 128)
    gone = await request.app[DB_KEY].run(lambda s: actions.remove_user(s, scope, login))
    raise done("/users", _("user %(login)s removed") % {"login": gone})


__all__ = ["routes"]
