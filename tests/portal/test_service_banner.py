"""Operations: when the recording service is degraded (spool nearly full, ARI down), every portal page
says so, to operators and customers alike (their calls are being connected unrecorded)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callrec_ari.portal.app import make_app
from callrec_ari.portal.i18n import LANG_COOKIE, gettext, speaking
from callrec_ari.portal.service_health import alerts_from
from tests.portal.conftest import A_LOGIN, OP_LOGIN, World, form_login


def test_alerts_name_each_failing_check() -> None:
    body = {"ready": False, "checks": {"ari": {"ok": True, "detail": "up"},
                                       "spool": {"ok": False, "detail": "3 MiB free"}}}
    alerts = alerts_from(body, 503)
    assert len(alerts) == 1 and "spool" in alerts[0].english() and "WITHOUT recording" in alerts[0].english()
    assert "3 MiB free" in alerts[0].english()
    assert alerts_from({"ready": True, "checks": {"ari": {"ok": True}}}, 200) == []
    not_ready = alerts_from("garbage", 502)
    assert [a.english() for a in not_ready] == ["the recording service is not ready (HTTP 502)"]
    with speaking("ja"):  # shown in the page's language, the check's own detail as it is
        shown = str(alerts_from("garbage", 502)[0])
        assert shown != "the recording service is not ready (HTTP 502)" and shown.endswith("(HTTP 502)")


async def test_banner_shows_while_the_spool_is_low_and_goes_away(world: World) -> None:
    state = {"spool_ok": False}

    async def readyz(_: web.Request) -> web.Response:
        ok = state["spool_ok"]
        return web.json_response({"ready": ok, "checks": {"spool": {"ok": ok, "detail": "1 MiB free"}}},
                                 status=200 if ok else 503)

    health = web.Application()
    health.router.add_get("/readyz", readyz)
    health_server = TestServer(health)
    await health_server.start_server()
    settings = replace(world.settings, service_health_url=str(health_server.make_url("/readyz")),
                       service_health_interval=0.1)
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(settings)))
    await client.start_server()
    try:
        await asyncio.sleep(0.3)
        spool = "the recording spool is nearly full or unwritable: new calls are connected WITHOUT recording"
        for login, page, lang in ((A_LOGIN, "/lines", "ja"), (OP_LOGIN, "/operator", "en")):
            client.session.cookie_jar.update_cookies({LANG_COOKIE: lang})
            await form_login(client, login)
            text = await (await client.get(page)).text()
            with speaking(lang):
                assert 'role="alert"' in text and f"{gettext(spool)} (1 MiB free)" in text, login
        state["spool_ok"] = True
        await asyncio.sleep(0.3)
        assert 'role="alert"' not in await (await client.get("/operator")).text()
    finally:
        await client.close()
        await health_server.close()
