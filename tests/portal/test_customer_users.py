"""The customer administrator's users page: the accounts of their own contract only, added and disabled
through the users CLI's own functions, audited without the password, isolated from other contracts."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlalchemy import select

from callrec_ari.db.models import AuditRecord
from callrec_ari.portal.auth.models import CUSTOMER_ADMIN, PortalSession, PortalUser
from tests.portal.conftest import A_LOGIN, B_LOGIN, World, api_login, form_login

NEW_LOGIN, NEW_PASSWORD = "clerk@a.example", "an-initial-pass-7731"


async def login_status(make_client: Any, login: str, password: str) -> int:
    client = await make_client()
    resp = await client.post("/api/v1/session", json={"login": login, "password": password})
    return int(resp.status)


async def add(client: Any, csrf: str, login: str = NEW_LOGIN, password: str = NEW_PASSWORD) -> Any:
    return await client.post(
        "/users",
        data={"csrf_token": csrf, "login": login, "name": "Carla Clerk", "password": password},
        allow_redirects=False,
    )


async def test_admin_sees_only_their_own_contracts_users(world: World, make_client: Any) -> None:
    # GIVEN contracts A and B, each with its administrator
    client = await make_client()
    await form_login(client, A_LOGIN)
    # WHEN A opens the users page
    resp = await client.get("/users")
    text = await resp.text()
    # THEN A's account is listed, B's is not, and the page is in the navigation
    assert resp.status == 200
    assert f'id="user-{A_LOGIN}"' in text and "enabled" in text
    assert B_LOGIN not in text and "Beta Corp" not in text
    assert re.search(r'<a href="/users"[^>]*>Users</a>', text)


async def test_admin_adds_a_user_who_can_log_in_and_the_password_is_kept_secret(
    world: World, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # GIVEN A's administrator, logged in through the form
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)
    # WHEN they add a user with an initial password
    resp = await add(client, csrf)
    # THEN the user is listed as an administrator of contract A and can log in
    assert resp.status == 303, await resp.text()
    page = await (await client.get(resp.headers["Location"])).text()
    assert f'id="user-{NEW_LOGIN}"' in page and "Carla Clerk" in page and "added" in page
    with world.session() as s:
        user = s.scalars(select(PortalUser).where(PortalUser.login == NEW_LOGIN)).one()
        assert (user.role, user.contract_id, user.disabled) == (CUSTOMER_ADMIN, world.a_id, False)
        records = s.scalars(select(AuditRecord).where(AuditRecord.action == "user-added")).all()
        assert [(r.actor, r.subject, r.details["login"]) for r in records] == [
            (f"{CUSTOMER_ADMIN}:{A_LOGIN}", f"contract:{world.a_id}", NEW_LOGIN)
        ]
        every_record = repr([(r.actor, r.action, r.subject, r.reason, r.details)
                             for r in s.scalars(select(AuditRecord))])
    assert await login_status(make_client, NEW_LOGIN, NEW_PASSWORD) == 200
    # AND the password is nowhere: not in the answers, the audit log or the logs
    assert NEW_PASSWORD not in resp.headers.get("Location", "") + await resp.text() + page
    assert NEW_PASSWORD not in every_record
    assert NEW_PASSWORD not in caplog.text
    assert all(NEW_PASSWORD not in str(r.args) for r in caplog.records)


async def test_a_short_password_is_refused_without_echoing_it(world: World, make_client: Any) -> None:
    # GIVEN A's administrator
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)
    # WHEN they add a user with a 9-character password (the users CLI's rule is 10)
    resp = await add(client, csrf, password="short-pw9")
    text = await resp.text()
    # THEN it is refused with the reason, the password is not shown, and no account is made
    assert resp.status == 400 and "password-too-short" in text and "short-pw9" not in text
    with world.session() as s:
        assert s.scalars(select(PortalUser).where(PortalUser.login == NEW_LOGIN)).first() is None


async def test_a_disabled_user_cannot_log_in_and_their_session_ends(world: World, make_client: Any) -> None:
    # GIVEN a user A added, logged in on their own client
    admin = await make_client()
    csrf = await form_login(admin, A_LOGIN)
    assert (await add(admin, csrf)).status == 303
    clerk = await make_client()
    await api_login(clerk, NEW_LOGIN, NEW_PASSWORD)
    assert (await clerk.get("/api/v1/me")).status == 200
    # WHEN A disables them
    resp = await admin.post("/users/disable", data={"csrf_token": csrf, "login": NEW_LOGIN},
                            allow_redirects=False)
    # THEN their session stops working, they cannot log in again, and the change is audited
    assert resp.status == 303, await resp.text()
    page = await (await admin.get("/users")).text()
    assert "disabled" in page.split(f'id="user-{NEW_LOGIN}"', 1)[1].split("</tr>", 1)[0]
    assert (await clerk.get("/api/v1/me")).status == 401
    assert await login_status(make_client, NEW_LOGIN, NEW_PASSWORD) == 401
    with world.session() as s:
        user = s.scalars(select(PortalUser).where(PortalUser.login == NEW_LOGIN)).one()
        assert user.disabled
        assert not s.scalars(select(PortalSession).where(PortalSession.user_id == user.id)).all()
        record = s.scalars(select(AuditRecord).where(AuditRecord.action == "user-disabled")).one()
        assert (record.subject, record.details) == (f"contract:{world.a_id}", {"login": NEW_LOGIN})


async def test_an_admin_cannot_disable_themselves(world: World, make_client: Any) -> None:
    # GIVEN A's administrator
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)
    # WHEN they try to disable their own account
    resp = await client.post("/users/disable", data={"csrf_token": csrf, "login": A_LOGIN})
    # THEN it is refused with a clear reason, and they stay logged in
    assert resp.status == 400 and "user-is-self" in await resp.text()
    assert (await client.get("/api/v1/me")).status == 200


async def test_another_contracts_user_is_not_found_like_a_missing_one(world: World, make_client: Any) -> None:
    # GIVEN A's administrator, and B's administrator logged in on another client
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)
    b_client = await make_client()
    await api_login(b_client, B_LOGIN)
    # WHEN A tries to disable B's administrator, and a login that does not exist
    forged = await client.post("/users/disable", data={"csrf_token": csrf, "login": B_LOGIN})
    missing = await client.post("/users/disable", data={"csrf_token": csrf, "login": "nobody@b.example"})
    # THEN both are "not found", alike, and B's administrator is untouched
    forged_text, missing_text = await forged.text(), await missing.text()
    assert forged.status == missing.status == 404
    assert "user-not-found" in forged_text
    assert forged_text.replace(B_LOGIN, "X") == missing_text.replace("nobody@b.example", "X")
    assert (await b_client.get("/api/v1/me")).status == 200
    assert await login_status(make_client, B_LOGIN, "correct horse battery") == 200
    with world.session() as s:
        assert not s.scalars(select(AuditRecord).where(AuditRecord.action == "user-disabled")).all()


async def test_the_forms_refuse_a_post_without_the_csrf_token(world: World, make_client: Any) -> None:
    # GIVEN A's administrator, logged in
    client = await make_client()
    await form_login(client, A_LOGIN)
    # WHEN they (or another site) post the forms without the session's CSRF token
    added = await client.post("/users", data={"login": NEW_LOGIN, "name": "x", "password": NEW_PASSWORD})
    disabled = await client.post("/users/disable", data={"login": B_LOGIN})
    # THEN both are refused and nothing changes
    assert added.status == disabled.status == 403
    assert "csrf-missing" in await added.text() and "csrf-missing" in await disabled.text()
    with world.session() as s:
        assert s.scalars(select(PortalUser).where(PortalUser.login == NEW_LOGIN)).first() is None
        assert not s.scalars(select(PortalUser).where(PortalUser.login == B_LOGIN)).one().disabled


async def test_operators_are_sent_to_their_console(world: World, make_client: Any) -> None:
    # GIVEN an operator (accounts are theirs through `callrec users`)
    client = await make_client()
    await form_login(client, "op@carrier.example")
    # WHEN they open the customer's users page
    resp = await client.get("/users")
    # THEN it is refused as a customer page
    assert resp.status == 403 and "customer-only" in await resp.text()


async def test_an_admin_removes_a_user_of_their_contract_only(world: World, make_client: Any) -> None:
    # GIVEN a user of A, logged in, and B's administrator logged in elsewhere
    admin = await make_client()
    csrf = await form_login(admin, A_LOGIN)
    assert (await add(admin, csrf)).status == 303
    clerk = await make_client()
    await api_login(clerk, NEW_LOGIN, NEW_PASSWORD)
    b_client = await make_client()
    await api_login(b_client, B_LOGIN)
    # WHEN A removes B's administrator (refused as not found), themselves (refused), then the clerk
    forged = await admin.post("/users/remove", data={"csrf_token": csrf, "login": B_LOGIN})
    assert forged.status == 404 and "user-not-found" in await forged.text()
    self_ = await admin.post("/users/remove", data={"csrf_token": csrf, "login": A_LOGIN})
    assert self_.status == 400 and "user-is-self" in await self_.text()
    resp = await admin.post("/users/remove", data={"csrf_token": csrf, "login": NEW_LOGIN},
                            allow_redirects=False)
    # THEN the clerk's account and session are gone, audited; B and A untouched
    assert resp.status == 303, await resp.text()
    assert (await clerk.get("/api/v1/me")).status == 401
    assert await login_status(make_client, NEW_LOGIN, NEW_PASSWORD) == 401
    assert (await b_client.get("/api/v1/me")).status == 200 and (await admin.get("/api/v1/me")).status == 200
    assert f'id="user-{NEW_LOGIN}"' not in await (await admin.get("/users")).text()
    with world.session() as s:
        assert not s.scalars(select(PortalUser).where(PortalUser.login == NEW_LOGIN)).all()
        record = s.scalars(select(AuditRecord).where(AuditRecord.action == "user-removed")).one()
        assert (record.subject, record.details) == (f"contract:{world.a_id}", {"login": NEW_LOGIN})
