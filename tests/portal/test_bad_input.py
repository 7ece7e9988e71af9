"""Bad input gets a clear error (stable error_id, a message) and changes nothing: malformed and
oversized uploads, a non-audio file named .wav, missing or wrong CSRF tokens, ten wrong passwords."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import wave
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.notices.audio import AudioLimits
from callrec_ari.notices.models import NoticeUpload
from callrec_ari.portal.app import make_app
from callrec_ari.portal.auth.models import LoginAttempt, PortalSession, PortalUser
from callrec_ari.portal.i18n import LANG_COOKIE
from tests.portal.conftest import A_LOGIN, A_NUMBERS, PASSWORD, World, api_login, form_login, make_wav

MAX = 200_000  # a small upload limit, so "oversized" stays fast


def state(world: World) -> dict[str, Any]:
    with world.session() as s:

        def rows(model: Any) -> list[tuple[Any, ...]]:
            cols = [c.key for c in model.__table__.columns]
            return [tuple(getattr(r, c) for c in cols) for r in s.scalars(select(model).order_by(model.id))]

        files = sorted(
            (p.name, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in Path(world.settings.notices_dir).glob("*")
        )
        return {
            "contracts": rows(Contract),
            "lines": rows(Line),
            "connections": rows(Connection),
            "uploads": rows(NoticeUpload),
            "users": rows(PortalUser),
            "files": files,
        }


@pytest.fixture
async def small_client(world: World) -> Any:
    settings = dataclasses.replace(world.settings, limits=AudioLimits(max_bytes=MAX))
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(settings)))
    await client.start_server()
    client.session.cookie_jar.update_cookies({LANG_COOKIE: "en"})  # the messages below are English
    yield client
    await client.close()


def ulaw_wav() -> bytes:
    data = bytearray(make_wav(1.0, rate=8000))
    data[20:22] = (7).to_bytes(2, "little")  # format tag 7: mu-law, not PCM
    return bytes(data)


def _wav(seconds: float, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(seconds * rate))
    return out.getvalue()


UPLOADS = [
    ("not-audio.wav", b"%PDF-1.7 this is not audio at all" * 20, 422, "notice-not-wav"),
    ("empty.wav", b"", 422, "notice-empty"),
    ("truncated.wav", make_wav(2.0)[:2000], 422, "notice-wav-invalid"),
    ("garbage-header.wav", b"RIFF\xff\xff\xff\xffWAVEfmt \x02\x00\x00\x00zz", 422, "notice-wav-invalid"),
    ("ulaw.wav", ulaw_wav(), 422, "notice-wav-invalid"),
    ("rate-2000.wav", _wav(1.0, 2000), 422, "notice-sample-rate"),
    ("header-only.wav", _wav(1.0, 8000)[:44], 422, "notice-empty"),
    ("odd-rate.wav", _wav(1.0, 12345), 422, "notice-sample-rate"),
    ("too-short.wav", _wav(0.1, 8000), 422, "notice-too-short"),
    ("big.wav", _wav(13.0, 8000), 413, "notice-too-large"),
]


@pytest.mark.parametrize(("name", "data", "status", "error_id"), UPLOADS, ids=[u[0] for u in UPLOADS])
async def test_bad_uploads_are_refused_clearly(
    world: World, small_client: Any, name: str, data: bytes, status: int, error_id: str
) -> None:
    if name == "big.wav":  # 208,044 bytes: over MAX but under the request limit (MAX + form overhead)
        assert MAX < len(data) < MAX + 64 * 1024
    csrf = await api_login(small_client, A_LOGIN)
    before = state(world)
    form = aiohttp.FormData([("label", "bad one"), ("numbers", A_NUMBERS[0])])
    form.add_field("file", data, filename=name, content_type="audio/wav")
    resp = await small_client.post("/api/v1/notices", data=form, headers={"X-CSRF-Token": csrf})
    body = await resp.json()
    assert (resp.status, body["error_id"]) == (status, error_id), body
    assert len(body["message"]) > 10
    assert state(world) == before


async def test_too_long_notice(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await api_login(client, A_LOGIN)
    before = state(world)
    form = aiohttp.FormData([("label", "long")])
    form.add_field("file", _wav(31.0, 8000), filename="long.wav", content_type="audio/wav")
    resp = await client.post("/api/v1/notices", data=form, headers={"X-CSRF-Token": csrf})
    body = await resp.json()
    assert resp.status == 422 and body["error_id"] == "notice-too-long" and "30 s" in body["message"]
    assert state(world) == before


async def test_oversized_request_is_refused_before_reading_it(world: World, small_client: Any) -> None:
    csrf = await form_login(small_client, A_LOGIN)
    before = state(world)
    form = aiohttp.FormData([("csrf_token", csrf), ("label", "huge")])
    form.add_field("file", b"RIFF" + b"\0" * (MAX + 100_000), filename="huge.wav", content_type="audio/wav")
    resp = await small_client.post("/notices", data=form, headers={"X-CSRF-Token": csrf})
    text = await resp.text()
    assert resp.status == 413 and "request-too-large" in text and f"{MAX} bytes" in text
    assert state(world) == before


async def test_malformed_multipart_and_json(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await api_login(client, A_LOGIN)
    before = state(world)
    resp = await client.post(
        "/api/v1/notices",
        data=b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
        headers={"X-CSRF-Token": csrf, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    body = await resp.json()
    assert resp.status in (400, 422) and body["error_id"] in (
        "body-invalid",
        "notice-file-missing",
        "notice-not-wav",
    )
    resp = await client.post(
        "/api/v1/notices",
        data=b"label=x",
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (await resp.json())["error_id"] == "notice-file-missing"
    for raw in (b"{not json", b"[1,2]", b'"x"'):
        resp = await client.patch(
            f"/api/v1/lines/{A_NUMBERS[0]}",
            data=raw,
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )
        assert resp.status == 400 and (await resp.json())["error_id"] == "body-invalid"
    resp = await client.patch(
        f"/api/v1/lines/{A_NUMBERS[0]}", json={"consent": "yes"}, headers={"X-CSRF-Token": csrf}
    )
    assert (await resp.json())["error_id"] == "consent-invalid"
    resp = await client.patch(
        f"/api/v1/lines/{A_NUMBERS[0]}", json={"notice": "../../etc/passwd"}, headers={"X-CSRF-Token": csrf}
    )
    assert (await resp.json())["error_id"] == "notice-invalid"
    resp = await client.post(
        "/api/v1/connections",
        json={"type": "file", "endpoint": "ftp://x", "secret": "s" * 20},
        headers={"X-CSRF-Token": csrf},
    )
    assert (await resp.json())["error_id"] == "connection-endpoint-invalid"
    assert state(world) == before


async def test_missing_or_wrong_csrf_token_changes_nothing(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)
    before = state(world)
    resp = await client.post(f"/lines/{A_NUMBERS[1]}/consent", data={"consent": "yes"})
    text = await resp.text()
    assert resp.status == 403 and "csrf-missing" in text and "reload the page" in text
    resp = await client.post(
        "/lines/recording", data={"csrf_token": csrf[:-2] + "xx", "action": "start", "numbers": A_NUMBERS[0]}
    )
    assert resp.status == 403 and "csrf-invalid" in await resp.text()
    resp = await client.patch(f"/api/v1/lines/{A_NUMBERS[1]}", json={"consent": True})
    assert resp.status == 403 and (await resp.json())["error_id"] == "csrf-missing"
    form = aiohttp.FormData([("label", "x")])
    form.add_field("file", make_wav(1.0), filename="ok.wav", content_type="audio/wav")
    resp = await client.post("/notices", data=form)
    assert resp.status == 403 and "csrf-missing" in await resp.text()
    # The login form's own token (double submit) is required too.
    resp = await client.post("/login", data={"login": A_LOGIN, "password": PASSWORD})
    assert resp.status == 403 and "csrf-missing" in await resp.text()
    assert state(world) == before


async def test_ten_wrong_passwords(world: World, make_client: Any) -> None:
    client = await make_client()
    before = state(world)
    seen = []
    for _ in range(10):
        resp = await client.post("/api/v1/session", json={"login": A_LOGIN, "password": "wrong-password!"})
        body = await resp.json()
        seen.append((resp.status, body["error_id"]))
        assert body["message"]
        assert "set-cookie" not in {k.lower() for k in resp.headers}
    assert seen == [(401, "login-failed")] * 5 + [(429, "login-locked")] * 5
    # Locked: even the right password is refused, with when to try again.
    resp = await client.post("/api/v1/session", json={"login": A_LOGIN, "password": PASSWORD})
    body = await resp.json()
    assert resp.status == 429 and "try again after" in body["message"]
    # The HTML form says the same.
    page = await (await client.get("/login")).text()
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = await client.post("/login", data={"csrf_token": token, "login": A_LOGIN, "password": PASSWORD})
    assert resp.status == 429 and "too many failed logins" in await resp.text()
    assert state(world) == before
    with world.session() as s:
        assert not s.scalars(select(PortalSession)).all()
        assert len(s.scalars(select(LoginAttempt).where(LoginAttempt.login == A_LOGIN)).all()) == 5
    # Another login is not affected.
    other = await make_client()
    assert await api_login(other, "admin@b.example")
