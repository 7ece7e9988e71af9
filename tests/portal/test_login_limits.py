"""The login limit under parallel attempts (issue 16): per login and per client address, it never lets
more passwords be tested than it allows, however many requests arrive at once. Runs over the real app
(aiohttp test server) on the suite's database: SQLite, and PostgreSQL when CALLREC_DATABASE_URL names
one (`make test` runs tests/portal again on PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from callrec_ari.portal.app import make_app
from callrec_ari.portal.auth.models import LoginAttempt, PortalSession
from callrec_ari.portal.settings import PortalSettings
from tests.portal.conftest import A_LOGIN, B_LOGIN, PASSWORD, World

WRONG = "wrong-password!"


async def _client(settings: PortalSettings) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(settings)))
    await client.start_server()
    return client


async def _attempt(client: TestClient[Any, Any], login: str, password: str,
                   headers: dict[str, str] | None = None) -> tuple[int, str]:
    resp = await client.post("/api/v1/session", json={"login": login, "password": password},
                             headers=headers or {})
    body = await resp.json()
    return resp.status, body.get("error_id", "ok")


def _failures(world: World, **where: str) -> int:
    with world.session() as s:
        query = select(LoginAttempt).where(LoginAttempt.success.is_(False))
        for key, value in where.items():
            query = query.where(getattr(LoginAttempt, key) == value)
        return len(s.scalars(query).all())


async def test_parallel_wrong_passwords_test_no_more_than_the_limit(world: World) -> None:
    # GIVEN a login limit of 5 and 16 wrong passwords for one login sent at once
    client = await _client(world.settings)
    try:
        seen = Counter(await asyncio.gather(*(_attempt(client, A_LOGIN, WRONG) for _ in range(16))))
        # THEN exactly 5 were tested (and recorded), every other one refused untested
        assert seen == {(401, "login-failed"): 5, (429, "login-locked"): 11}, seen
        assert _failures(world, login=A_LOGIN) == 5
        # ... and the right password is refused too now
        assert await _attempt(client, A_LOGIN, PASSWORD) == (429, "login-locked")
    finally:
        await client.close()
    with world.session() as s:
        assert not s.scalars(select(PortalSession)).all()


async def test_parallel_right_and_wrong_passwords(world: World) -> None:
    """The right password among wrong ones at the limit: at most the limit is tested in all."""
    client = await _client(world.settings)
    try:
        for _ in range(4):
            assert await _attempt(client, A_LOGIN, WRONG) == (401, "login-failed")
        results = await asyncio.gather(*(_attempt(client, A_LOGIN, p) for p in [WRONG] * 6 + [PASSWORD]))
        tested = [r for r in results if r[0] != 429]
        assert len(tested) == 1, results  # one slot was left: one password, right or wrong, tested
        assert all(r == (429, "login-locked") for r in results if r not in tested)
    finally:
        await client.close()


async def test_each_client_address_has_its_own_limit(world: World) -> None:
    # GIVEN 8 failures per address, and 20 different logins tried at once from one address
    settings = dataclasses.replace(world.settings, login_max_failures_per_address=8)
    client = await _client(settings)
    try:
        logins = [f"guess{i}@a.example" for i in range(20)]
        seen = Counter(await asyncio.gather(*(_attempt(client, login, WRONG) for login in logins)))
        # THEN 8 passwords were tested, the others refused untested
        assert seen == {(401, "login-failed"): 8, (429, "address-locked"): 12}, seen
        assert _failures(world, address="127.0.0.1") == 8
        # ... and from that address even a good login with its right password is refused for now
        status, error_id = await _attempt(client, B_LOGIN, PASSWORD)
        assert (status, error_id) == (429, "address-locked")
        # A forwarded address means nothing unless the portal was told it is behind a proxy.
        assert await _attempt(client, B_LOGIN, PASSWORD, {"X-Forwarded-For": "203.0.113.9"}) == (
            429, "address-locked")
    finally:
        await client.close()


async def test_behind_a_proxy_the_forwarded_address_is_limited(world: World) -> None:
    settings = dataclasses.replace(world.settings, login_max_failures_per_address=3, behind_proxy=True)
    client = await _client(settings)
    try:
        attacker = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
        seen = Counter(await asyncio.gather(*(_attempt(client, f"g{i}@x.example", WRONG, attacker)
                                              for i in range(9))))
        assert seen == {(401, "login-failed"): 3, (429, "address-locked"): 6}, seen
        assert _failures(world, address="198.51.100.7") == 3
        # The same proxy forwards another customer: not locked out by the attacker's failures.
        other = {"Forwarded": 'for="[2001:db8:7::1]:4711";proto=https'}
        assert await _attempt(client, A_LOGIN, PASSWORD, other) == (200, "ok")
        # An IPv6 client is limited by its /64: its neighbours share its count.
        for i in range(3):
            await _attempt(client, B_LOGIN + "x", WRONG, {"X-Forwarded-For": f"2001:db8:7::{i + 10}"})
        neighbour = {"X-Forwarded-For": "2001:db8:7::99"}
        assert await _attempt(client, A_LOGIN, PASSWORD, neighbour) == (429, "address-locked")
    finally:
        await client.close()
