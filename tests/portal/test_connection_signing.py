"""Whether a connection still gets the legacy X-Callrec-Signature beside the Standard Webhooks headers
(issue 16): the customer's own choice, per connection, in the settings page and the API, audited;
another contract can neither see nor change it; the delivery worker's route follows it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from callrec_ari.contracts import service
from callrec_ari.contracts.models import Connection
from callrec_ari.db.models import AuditRecord
from callrec_ari.delivery.routing import route_for_connection
from callrec_ari.delivery.settings import DeliverySettings
from tests.portal.conftest import A_LOGIN, B_LOGIN, OP_LOGIN, World, api_login, form_login

A_SECRET = "alpha-connection-secret-0123"


def legacy(world: World, conn_id: int) -> bool:
    with world.session() as s:
        conn = s.get(Connection, conn_id)
        assert conn is not None
        return conn.legacy_signature


def route_legacy(world: World, contract: int, conn_id: int) -> bool:
    with world.session() as s:
        return route_for_connection(s, str(contract), conn_id, DeliverySettings()).legacy_signature


async def test_each_customer_chooses_for_its_own_connection(world: World, make_client: Any) -> None:
    with world.session() as s:
        a_conn = service.enroll_connection(s, world.a_id, "file", "https://rec.alpha.example/in", A_SECRET).id
        s.commit()
    # GIVEN both connections start with the legacy header (what existing receivers verify)
    assert legacy(world, a_conn) and legacy(world, world.b_connection)
    client = await make_client()
    csrf = await form_login(client, B_LOGIN)
    page = await (await client.get("/settings")).text()
    assert 'name="legacy_signature"' in page and "Standard Webhooks" in page
    # WHEN customer B turns it off in the settings page
    resp = await client.post(f"/connections/{world.b_connection}/edit",
                             data={"csrf_token": csrf, "legacy_signature": "no"},
                             allow_redirects=False)
    assert resp.status == 303 and "saved" in resp.headers["Location"], await resp.text()
    # THEN B's connection and the worker's route for it have it off; A's is untouched
    assert not legacy(world, world.b_connection) and legacy(world, a_conn)
    assert not route_legacy(world, world.b_id, world.b_connection) and route_legacy(world, world.a_id, a_conn)
    listed = await (await client.get("/api/v1/connections")).json()
    assert [c["legacy_signature"] for c in listed] == [False]
    # B cannot change A's (not found, like a connection that does not exist)
    resp = await client.patch(f"/api/v1/connections/{a_conn}", headers={"X-CSRF-Token": csrf},
                              json={"legacy_signature": False})
    assert (resp.status, (await resp.json())["error_id"]) == (404, "connection-not-found")
    assert legacy(world, a_conn)
    # A turns its own back on and off through the API; a non-boolean is refused
    client_a = await make_client()
    h = {"X-CSRF-Token": await api_login(client_a, A_LOGIN)}
    resp = await client_a.patch(f"/api/v1/connections/{a_conn}", headers=h, json={"legacy_signature": "no"})
    assert (resp.status, (await resp.json())["error_id"]) == (400, "legacy_signature-invalid")
    resp = await client_a.patch(f"/api/v1/connections/{a_conn}", headers=h, json={"legacy_signature": False})
    assert resp.status == 200 and (await resp.json())["legacy_signature"] is False
    assert not legacy(world, a_conn)
    with world.session() as s:
        records = list(s.scalars(select(AuditRecord).where(AuditRecord.action == "connection-edited")))
    assert [(r.subject, r.details["legacy_signature"], r.details["secret_changed"]) for r in records] == [
        (f"contract:{world.b_id}", False, False), (f"contract:{world.a_id}", False, False)]


async def test_an_operator_sets_it_for_a_customer(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await form_login(client, OP_LOGIN)
    page = await (await client.get(f"/operator/contracts/{world.b_id}")).text()
    assert 'name="legacy_signature"' in page
    resp = await client.post(f"/operator/connections/{world.b_connection}/edit",
                             data={"csrf_token": csrf, "legacy_signature": "no"},
                             allow_redirects=False)
    assert resp.status == 303
    assert not legacy(world, world.b_connection)
    resp = await client.post(f"/operator/connections/{world.b_connection}/edit",
                             data={"csrf_token": csrf, "legacy_signature": "maybe"})
    assert resp.status == 400 and not legacy(world, world.b_connection)
