"""A migrated SQLite database with two customers (A and B) and an operator, and a portal client.

Contract B is fully populated (lines, a connection, uploads pending and approved, audit entries) so
the isolation test has something of B's to try to read or change.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import Session

from callrec_ari.contracts import service
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.notices.audio import AudioLimits
from callrec_ari.portal import audit
from callrec_ari.portal.app import make_app
from callrec_ari.portal.auth import actions as auth
from callrec_ari.portal.auth.models import CUSTOMER_ADMIN, OPERATOR
from callrec_ari.portal.i18n import LANG_COOKIE
from callrec_ari.portal.notices import actions as notice_actions
from callrec_ari.portal.settings import PortalSettings
from callrec_ari.portal.tenancy import Scope
from callrec_ari.rules.enrollment import LineRequest
from tests.support.databases import database_copy

PASSWORD = "correct horse battery"
A_LOGIN, B_LOGIN, OP_LOGIN = "admin@a.example", "admin@b.example", "op@carrier.example"
A_NUMBERS = [f"0900000100{i}" for i in range(1, 5)]
B_NUMBERS = [f"0900000200{i}" for i in range(1, 4)]
B_SECRET = "b-secret-0123456789abcdef"


def make_wav(
    seconds: float = 1.0, rate: int = 16000, channels: int = 1, width: int = 2, hz: float = 440.0
) -> bytes:
    frames = int(seconds * rate)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        amp = 0.3 * (2 ** (8 * width - 1) - 1)
        if width == 2:
            samples = [int(amp * math.sin(2 * math.pi * hz * i / rate)) for i in range(frames)]
            wav.writeframes(b"".join(struct.pack("<h", s) * channels for s in samples))
        else:
            wav.writeframes(b"\x80" * frames * channels * width)
    return out.getvalue()


@dataclass
class World:
    url: str
    settings: PortalSettings
    a_id: int
    b_id: int
    b_connection: int
    b_pending: int
    b_approved: int
    a_pending: int

    def session(self) -> Session:
        return make_sessionmaker(make_engine(self.url))()


def _populate(s: Session, tmp: Path, limits: AudioLimits) -> dict[str, int]:
    a = service.create_contract(s, "Alpha Corp")
    b = service.create_contract(s, "Beta Corp")
    for i, number in enumerate(A_NUMBERS, start=1):
        service.enroll_line(s, a.id, LineRequest(number, f"a{i}", "Alpha Corp"), consent=i == 1)
    for i, number in enumerate(B_NUMBERS, start=1):
        service.enroll_line(
            s, b.id, LineRequest(number, f"b{i}", "Beta Corp"), consent=True, recording_started=i == 1
        )
    conn = service.enroll_connection(s, b.id, "file", "http://127.0.0.1:9/recordings", B_SECRET)
    a_user = auth.create_user(s, A_LOGIN, PASSWORD, role=CUSTOMER_ADMIN, contract_id=a.id)
    b_user = auth.create_user(s, B_LOGIN, PASSWORD, role=CUSTOMER_ADMIN, contract_id=b.id)
    op_user = auth.create_user(s, OP_LOGIN, PASSWORD, role=OPERATOR, contract_id=None)
    a_scope = Scope(a_user.id, A_LOGIN, CUSTOMER_ADMIN, a.id)
    b_scope = Scope(b_user.id, B_LOGIN, CUSTOMER_ADMIN, b.id)
    op_scope = Scope(op_user.id, OP_LOGIN, OPERATOR, None)
    wav = make_wav(1.0)
    b_pending = notice_actions.upload_notice(
        s, b_scope, wav, label="B pending", filename="b.wav", numbers=[B_NUMBERS[0]], limits=limits
    )
    b_approved = notice_actions.upload_notice(
        s, b_scope, wav, label="B approved", filename="b2.wav", numbers=[B_NUMBERS[1]], limits=limits
    )
    notice_actions.approve_notice(s, op_scope, b_approved.id, tmp / "notices")
    a_pending = notice_actions.upload_notice(
        s, a_scope, wav, label="A pending", filename="a.wav", numbers=[A_NUMBERS[0]], limits=limits
    )
    audit.record(s, b_scope, "test-marker", b.id, secret_marker="beta-only")
    return {
        "a_id": a.id,
        "b_id": b.id,
        "b_connection": conn.id,
        "b_pending": b_pending.id,
        "b_approved": b_approved.id,
        "a_pending": a_pending.id,
    }


def _settings(url: str, files: Path) -> PortalSettings:
    return PortalSettings(database_url=url, notices_dir=str(files / "notices"), test_send_timeout=2.0)


def _build_world(url: str, files: Path) -> dict[str, int]:
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        ids = _populate(s, files, _settings(url, files).limits)
    engine.dispose()
    return ids


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The world, copied for this test from one built once per test process (the three users'
    password hashes alone take most of a second to make)."""
    with database_copy(tmp_path, "portal-world", _build_world) as (url, ids):
        yield World(url=url, settings=_settings(url, tmp_path), **ids)


@pytest.fixture
async def make_client(world: World) -> AsyncIterator[Callable[[], Any]]:
    clients: list[TestClient[Any, Any]] = []

    async def make(delivery: DeliverySettings | None = None, lang: str | None = "en") -> TestClient[Any, Any]:
        """A client of the portal; ``delivery``: its ``[delivery]`` settings (default: the defaults);
        ``lang``: the language cookie it sends (English, which these tests read; None: the default)."""
        client: TestClient[Any, Any] = TestClient(TestServer(make_app(world.settings, delivery)))
        await client.start_server()
        if lang is not None:
            client.session.cookie_jar.update_cookies({LANG_COOKIE: lang})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def api_login(client: TestClient[Any, Any], login: str, password: str = PASSWORD) -> str:
    resp = await client.post("/api/v1/session", json={"login": login, "password": password})
    assert resp.status == 200, await resp.text()
    token: str = (await resp.json())["csrf_token"]
    return token


async def form_login(client: TestClient[Any, Any], login: str, password: str = PASSWORD) -> str:
    """Log in through the HTML form; returns the session's CSRF token (from /api/v1/me)."""
    page = await client.get("/login")
    text = await page.text()
    token = text.split('action="/login"', 1)[1].split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = await client.post(
        "/login", data={"csrf_token": token, "login": login, "password": password}, allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    me = await client.get("/api/v1/me")
    csrf: str = (await me.json())["csrf_token"]
    return csrf
