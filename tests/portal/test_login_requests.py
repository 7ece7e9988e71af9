"""What another site can make a browser send (issue 16): the JSON login takes only JSON from the
portal's own pages (a cross-site form can post a JSON-looking text/plain body without a preflight,
logging the victim into the attacker's account), and the error page's Back link stays on the site."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from callrec_ari.portal.app import make_app
from tests.portal.conftest import A_LOGIN, PASSWORD, World, api_login

BODY = json.dumps({"login": A_LOGIN, "password": PASSWORD})


async def _post(client: TestClient[Any, Any], headers: dict[str, str], data: Any = BODY) -> tuple[int, str]:
    resp = await client.post("/api/v1/session", data=data, headers=headers)
    body = await resp.json()
    if resp.status != 200:
        assert "set-cookie" not in {k.lower() for k in resp.headers}, headers
        assert body["message"]
    return resp.status, body.get("error_id", "ok")


def _origin(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("/")).rstrip("/")


async def test_the_json_login_takes_json_only(world: World, make_client: Any) -> None:
    client = await make_client()
    for content_type in ("text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/jsonx"):
        assert await _post(client, {"Content-Type": content_type}) == (415, "json-required"), content_type
    assert await _post(client, {}, data=BODY.encode()) == (415, "json-required")  # octet-stream
    assert await _post(client, {"Content-Type": "application/json; charset=utf-8"}) == (200, "ok")


async def test_the_json_login_is_refused_from_another_origin(world: World, make_client: Any) -> None:
    client = await make_client()
    own = _origin(client)
    port = int(own.rsplit(":", 1)[1])
    json_type = {"Content-Type": "application/json"}
    refused = [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, a data: URL
        {"Origin": f"http://127.0.0.1:{port + 1}"},  # same site (the port does not count), other origin
        {"Origin": own.replace("http://", "https://")},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
    ]
    for headers in refused:
        assert await _post(client, {**json_type, **headers}) == (403, "origin-refused"), headers
    allowed = [
        {},  # not a browser (curl, a script): no CSRF to fear
        {"Origin": own},
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": own, "Sec-Fetch-Site": "same-origin"},
    ]
    for headers in allowed:
        assert await _post(client, {**json_type, **headers}) == (200, "ok"), headers


async def test_behind_a_proxy_the_origin_is_the_proxys(world: World) -> None:
    settings = dataclasses.replace(world.settings, behind_proxy=True)
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(settings)))
    await client.start_server()
    try:
        json_type = {"Content-Type": "application/json"}
        forwarded = {**json_type, "Host": "portal.example", "X-Forwarded-Proto": "https"}
        assert await _post(client, {**forwarded, "Origin": "https://portal.example"}) == (200, "ok")
        assert await _post(client, {**forwarded, "Origin": "https://portal.example:443"}) == (200, "ok")
        refused = (403, "origin-refused")
        assert await _post(client, {**forwarded, "Origin": "http://portal.example"}) == refused
        rfc7239 = {**json_type, "Forwarded": 'for=192.0.2.60;proto=https;host="cc.example:8443"'}
        assert await _post(client, {**rfc7239, "Origin": "https://cc.example:8443"}) == (200, "ok")
        assert await _post(client, {**rfc7239, "Origin": "https://cc.example"}) == refused
    finally:
        await client.close()


def _back(page: str) -> str:
    found = re.search(r'<a href="([^"]*)">Back</a>', page)
    assert found, page
    return found.group(1).replace("&amp;", "&")


async def test_the_error_pages_back_link_stays_on_the_site(world: World, make_client: Any) -> None:
    client = await make_client()
    await api_login(client, A_LOGIN)
    own = _origin(client)
    cases = {
        "https://evil.example/phish": "/",
        "http://evil.example/lines": "/",
        "//evil.example/lines": "/",
        "/\\evil.example/lines": "/",
        "\\\\evil.example": "/",
        "javascript:alert(1)": "/",
        " https://evil.example/": "/",
        f"{own}/lines?q=100&page=2": "/lines?q=100&page=2",
        f"{own}/notices": "/notices",
        f"{own.replace('http://', 'https://')}/notices": "/",  # another origin (scheme)
        "/settings": "/settings",
        "": "/",
    }
    for referer, expected in cases.items():
        resp = await client.get("/invoice?month=soon", headers={"Referer": referer} if referer else {})
        assert resp.status == 400
        page = await resp.text()
        assert "month-invalid" in page
        assert _back(page) == expected, referer
