"""Tenant isolation (R4.2): a customer of contract A walks EVERY route and API endpoint of the portal,
aimed at contract B's objects, with a valid session and CSRF token, and nothing of B is read or changed.

The walk is driven by the application's own route table, so a route added later is walked too (and a
route the walk cannot fill in fails the test).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.db.models import AuditRecord
from callrec_ari.notices.models import NoticeUpload
from callrec_ari.portal.app import make_app
from callrec_ari.portal.auth.models import LoginAttempt, PortalSession, PortalUser
from tests.portal.conftest import A_LOGIN, B_NUMBERS, B_SECRET, PASSWORD, World, api_login, make_wav

SESSION_ROUTES = {
    ("POST", "/login"),
    ("POST", "/api/v1/session"),
    ("POST", "/logout"),
    ("DELETE", "/api/v1/session"),
}


def snapshot(world: World) -> dict[str, Any]:
    """Everything of contract B, and every file an approval could write."""
    with world.session() as s:

        def rows(model: Any, *where: Any) -> list[tuple[Any, ...]]:
            cols = [c.key for c in model.__table__.columns]
            return [tuple(getattr(r, c) for c in cols) for r in s.scalars(select(model).where(*where))]

        notices = Path(world.settings.notices_dir)
        return {
            "contract": rows(Contract, Contract.id == world.b_id),
            "lines": rows(Line, Line.contract_id == world.b_id),
            "connections": rows(Connection, Connection.contract_id == world.b_id),
            "uploads": rows(NoticeUpload, NoticeUpload.contract_id == world.b_id),
            "audit": rows(AuditRecord, AuditRecord.subject == f"contract:{world.b_id}"),
            "files": sorted((p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in notices.glob("*")),
        }


def b_markers() -> list[str]:
    """What only B's data holds (A's own probes name B's numbers and sound; an echo of those is not a leak,
    and :func:`test_customer_a_cannot_read_or_change_anything_of_b` checks they answer like unknown ones)."""
    return [
        "Beta Corp",
        B_SECRET,
        B_SECRET[-8:],
        "B pending",
        "B approved",
        "beta-only",
        "127.0.0.1:9/recordings",
        "admin@b.example",
        "b.wav",
        "b2.wav",
    ]


def a_owned_ids(world: World) -> set[int]:
    with world.session() as s:
        return {
            world.a_id,
            *s.scalars(select(Connection.id).where(Connection.contract_id == world.a_id)),
            *s.scalars(select(NoticeUpload.id).where(NoticeUpload.contract_id == world.a_id)),
        }


def fill(path: str, candidate: int, world: World) -> str:
    return path.replace("{number}", B_NUMBERS[0]).replace("{id}", str(candidate))


def payloads(b_sound: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    body = {
        "numbers": B_NUMBERS,
        "recording_started": True,
        "consent": True,
        "notice": b_sound,
        "withhold_caller_id": True,
        "omit_notice": True,
        "reason": "probe",
        "lift": True,
        "type": "file",
        "endpoint": "http://127.0.0.1:9/x",
        "secret": "x" * 20,
        "login": A_LOGIN,
        "password": PASSWORD,
    }
    fields = [
        ("action", "start"),
        ("consent", "yes"),
        ("notice", b_sound),
        ("withhold_caller_id", "yes"),
        ("omit_notice", "yes"),
        ("reason", "x"),
        ("lift", "yes"),
        ("type", "file"),
        ("endpoint", "http://127.0.0.1:9/x"),
        ("secret", "x" * 20),
        ("label", "probe"),
        *(("numbers", n) for n in B_NUMBERS),
    ]
    return body, fields


def essence(text: str) -> str:
    """The error a response reports (JSON body or the error page), without the page around it."""
    try:
        body = json.loads(text)
        return f"{body.get('error_id')}: {body.get('message')}"
    except ValueError:
        found = re.search(r'id="error-message">(.*?)</span>.*?id="error-id">(.*?)</code>', text, re.S)
        return f"{found.group(2)}: {found.group(1)}" if found else text
    except AttributeError:
        return text


async def send(client: Any, method: str, url: str, csrf: str, b_sound: str) -> tuple[int, str]:
    body, fields = payloads(b_sound)
    headers = {"X-CSRF-Token": csrf}
    query = "?q=Beta&page=1&per_page=50&state=pending&month=2025-01"
    if method in ("GET", "DELETE"):
        resp = await client.request(method, url + query, headers=headers, allow_redirects=False)
    elif url.startswith("/api/") and not url.endswith("/notices"):
        resp = await client.request(method, url, headers=headers, json=body, allow_redirects=False)
    else:
        form = aiohttp.FormData([("csrf_token", csrf), *fields])
        form.add_field("file", make_wav(1.0), filename="probe.wav", content_type="audio/wav")
        resp = await client.request(method, url, headers=headers, data=form, allow_redirects=False)
    raw = await resp.read()
    return resp.status, raw.decode("utf-8", "replace") + resp.headers.get("Location", "")


async def test_customer_a_cannot_read_or_change_anything_of_b(world: World, make_client: Any) -> None:
    with world.session() as s:
        b_sound = str(s.get(NoticeUpload, world.b_approved).sound)  # type: ignore[union-attr]
        b_audio = s.get(NoticeUpload, world.b_pending).audio  # type: ignore[union-attr]
    before = snapshot(world)
    client = await make_client()
    csrf = await api_login(client, A_LOGIN)
    routes = [
        (r.method, r.resource.canonical)
        for r in make_app(world.settings).router.routes()
        if r.method != "HEAD" and r.resource is not None
    ]
    walked: set[tuple[str, str]] = set()
    markers = b_markers()
    ids = [world.b_id, world.b_connection, world.b_pending, world.b_approved]
    for method, path in sorted(routes, key=lambda r: (r in SESSION_ROUTES, r)):
        if (method, path) in SESSION_ROUTES:
            continue
        for candidate in ids if "{id}" in path else [0]:
            if "{id}" in path and candidate in a_owned_ids(world):
                continue  # the walk itself created an object of A's with this id (e.g. a connection)
            url = fill(path, candidate, world)
            status, text = await send(client, method, url, csrf, b_sound)
            assert status < 500, (method, url, status, text[:300])
            assert "csrf-" not in text, f"{method} {url}: stopped by CSRF, so the walk proves nothing"
            for marker in markers:
                assert marker not in text, f"{method} {url} ({status}) shows B's {marker!r}"
            if "{" in path:
                assert status in (403, 404), f"{method} {url}: {status} for B's object: {text[:300]}"
                # B's object answers exactly like one that does not exist: existence is not revealed.
                unknown = path.replace("{number}", "09999999999").replace("{id}", "999999")
                status_u, text_u = await send(client, method, unknown, csrf, b_sound)
                assert status_u == status, (method, url, status, status_u)
                assert essence(text_u).replace("09999999999", "X").replace("999999", "X") == essence(
                    text
                ).replace(B_NUMBERS[0], "X").replace(str(candidate), "X"), (text, text_u)
            assert b_audio[44:200] not in text.encode("utf-8", "replace")
        walked.add((method, path))
        assert snapshot(world) == before, f"{method} {path} changed contract B"
    # The session routes last (they replace or end A's session).
    status, text = await send(client, "POST", "/api/v1/session", csrf, b_sound)
    assert status == 200 and all(m not in text for m in markers)
    csrf = (await (await client.get("/api/v1/me")).json())["csrf_token"]
    page = await (await client.get("/login")).text()
    token = page.split('action="/login"', 1)[1].split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = await client.post(
        "/login", data={"csrf_token": token, "login": A_LOGIN, "password": PASSWORD}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == "/"
    csrf = (await (await client.get("/api/v1/me")).json())["csrf_token"]
    assert (await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)).status == 303
    csrf = await api_login(client, A_LOGIN)
    assert (await client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})).status == 200
    walked |= SESSION_ROUTES
    assert walked == set(routes), f"routes not walked: {set(routes) - walked}"
    assert snapshot(world) == before
    with world.session() as s:  # nothing happened to B's account either
        assert not s.scalars(select(LoginAttempt).where(LoginAttempt.login == "admin@b.example")).all()
        b_user = s.scalars(select(PortalUser.id).where(PortalUser.login == "admin@b.example")).one()
        assert not s.scalars(select(PortalSession).where(PortalSession.user_id == b_user)).all()
        assert not s.scalars(select(PortalSession)).all()  # every A session ended at logout or re-login
