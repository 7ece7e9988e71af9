"""The OpenAPI document covers every /api/v1 route, and a schemathesis run over it finds no 5xx.

The fuzz run logs in as a customer administrator and as an operator (session cookie + CSRF header),
so requests get past authentication and reach the handlers.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings

from callrec_ari.portal.app import make_app
from callrec_ari.portal.openapi import document
from tests.portal.conftest import A_LOGIN, OP_LOGIN, PASSWORD, World


def test_every_api_route_is_documented(world: World) -> None:
    app = make_app(world.settings)
    served = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/v1") and r.method != "HEAD"
    }
    documented = {(m, p) for p, ops in document()["paths"].items() for m in ops}
    assert served == documented


@pytest.fixture
def server(world: World) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(world.settings))
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def _session(base: str, login: str) -> tuple[requests.Session, dict[str, str]]:
    http = requests.Session()
    resp = http.post(f"{base}/api/v1/session", json={"login": login, "password": PASSWORD}, timeout=10)
    resp.raise_for_status()
    return http, {"X-CSRF-Token": resp.json()["csrf_token"]}


@pytest.mark.parametrize("login", [A_LOGIN, OP_LOGIN])
def test_schemathesis_finds_no_server_errors(server: str, login: str) -> None:
    schema = schemathesis.openapi.from_dict(document())
    http, headers = _session(server, login)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/session":
            continue  # logging out (or in again) would end the fuzzing session; covered in test_bad_input

        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            resp = case.call(base_url=server, session=http, headers=headers, timeout=10)
            if resp.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {resp.status_code}: {resp.text[:200]}"
                )

        fuzz()
    assert not failures, "\n".join(failures[:20])
    # The session survived the fuzzing: it was really authenticated the whole time.
    assert http.get(f"{server}/api/v1/me", timeout=10).status_code == 200


JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")  # kana and kanji
TEXT_KEYS = ("title", "summary", "description")


def _texts(node: Any) -> list[str]:
    """Every human-readable text of a document (what the catalogs translate)."""
    if isinstance(node, dict):
        return [
            text
            for key, value in node.items()
            for text in ([value] if key in TEXT_KEYS and isinstance(value, str) else _texts(value))
        ]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def _without_texts(node: Any) -> Any:
    """The document's structure: its texts blanked, everything else as it is."""
    if isinstance(node, dict):
        return {
            key: None if key in TEXT_KEYS and isinstance(value, str) else _without_texts(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_without_texts(v) for v in node]
    return node


def _operation_ids(doc: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return sorted((p, m, op.get("operationId")) for p, ops in doc["paths"].items() for m, op in ops.items())


async def test_the_document_speaks_the_clients_language(make_client: Any) -> None:
    """Issue 19: the descriptions come from the catalogs, in the request's language (an API client
    without the language cookie: Accept-Language, else English); only the words change."""
    client = await make_client(lang=None)
    english = await (await client.get("/api/openapi.json")).json()
    japanese = await (await client.get("/api/openapi.json", headers={"Accept-Language": "ja"})).json()

    assert english == document("en")  # the English document is the source, unchanged
    assert not any(JAPANESE.search(text) for text in _texts(english))
    assert english["info"]["description"].startswith("Session cookie")
    assert JAPANESE.search(japanese["info"]["description"])
    untranslated = [text for text in _texts(japanese) if not JAPANESE.search(text)]
    assert untranslated == []  # every text has its Japanese
    assert japanese == document("ja")

    assert japanese["paths"].keys() == english["paths"].keys()
    assert _operation_ids(japanese) == _operation_ids(english)
    assert japanese["components"]["schemas"].keys() == english["components"]["schemas"].keys()
    assert _without_texts(japanese) == _without_texts(english)

    again = await client.get("/api/openapi.json", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert await again.json() == english
