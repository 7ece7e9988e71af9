"""Editing a connection in place (issue 13): by its own customer administrator or an operator, pages and
API, audited without the secret; refused for another contract exactly like an unknown connection; the
same checks as on add, sftp:// file endpoints included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callrec_ari.contracts import service
from callrec_ari.contracts.models import Connection
from callrec_ari.db.models import AuditRecord
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.portal.contracts.connections import checked_endpoint
from callrec_ari.portal.errors import BadInput
from tests.portal.conftest import A_LOGIN, B_LOGIN, B_SECRET, OP_LOGIN, World, api_login, form_login

NEW_SECRET = "b-new-secret-9876543210"
SFTP_KEY_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample platform"


def row(world: World, conn_id: int) -> tuple[Any, ...]:
    with world.session() as s:
        c = s.get(Connection, conn_id)
        assert c is not None
        return (c.id, c.contract_id, c.type, c.endpoint, c.secret, c.enrolled_at, c.removed_at)


def edits(world: World) -> list[AuditRecord]:
    with world.session() as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action == "connection-edited")))


def sftp_delivery(tmp_path: Path) -> DeliverySettings:
    key = tmp_path / "platform_key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n(not read by the portal)\n")
    (tmp_path / "platform_key.pub").write_text(SFTP_KEY_LINE + "\n")
    return DeliverySettings(sftp_key=str(key))


async def test_the_owner_edits_in_place_and_the_audit_never_holds_the_secret(
    world: World, make_client: Any
) -> None:
    client = await make_client()
    h = {"X-CSRF-Token": await api_login(client, B_LOGIN)}
    before = row(world, world.b_connection)
    resp = await client.patch(
        f"/api/v1/connections/{world.b_connection}",
        headers=h,
        json={"endpoint": " https://rec.beta.example/v2/recordings ", "secret": NEW_SECRET},
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["id"], body["endpoint"], body["secret_hint"]) == (
        world.b_connection, "https://rec.beta.example/v2/recordings", "…3210")
    assert NEW_SECRET not in json.dumps(body)
    after = row(world, world.b_connection)
    # Same row, same id, type, contract and enrollment date (billing is unchanged): only the two values.
    assert after == (*before[:3], "https://rec.beta.example/v2/recordings", NEW_SECRET, *before[5:])
    # The endpoint alone, through the settings page's form: the secret stays.
    csrf = await form_login(client, B_LOGIN)
    resp = await client.post(
        f"/connections/{world.b_connection}/edit",
        data={"csrf_token": csrf, "endpoint": "https://rec.beta.example/v3", "secret": ""},
        allow_redirects=False,
    )
    assert resp.status == 303 and "saved" in resp.headers["Location"], await resp.text()
    assert row(world, world.b_connection)[3:5] == ("https://rec.beta.example/v3", NEW_SECRET)
    # The secret alone, through the API (null keeps the endpoint).
    h = {"X-CSRF-Token": csrf}
    resp = await client.patch(
        f"/api/v1/connections/{world.b_connection}", headers=h, json={"endpoint": None, "secret": B_SECRET}
    )
    assert resp.status == 200
    assert row(world, world.b_connection)[3:5] == ("https://rec.beta.example/v3", B_SECRET)
    records = edits(world)
    assert [(r.actor, r.subject) for r in records] == [
        (f"customer_admin:{B_LOGIN}", f"contract:{world.b_id}")] * 3
    assert [(r.details["endpoint_before"], r.details["secret_changed"]) for r in records] == [
        ("http://127.0.0.1:9/recordings", True),
        ("https://rec.beta.example/v2/recordings", False),
        (None, True),
    ]
    for record in records:
        text = json.dumps(record.details)
        assert NEW_SECRET not in text and B_SECRET not in text and B_SECRET[-4:] not in text
        assert record.details["connection"] == world.b_connection
    audit_page = await (await client.get("/audit")).text()
    assert "Connection changed" in audit_page and NEW_SECRET not in audit_page
    page = await (await client.get("/settings")).text()
    assert f'action="/connections/{world.b_connection}/edit"' in page
    assert "https://rec.beta.example/v3" in page and B_SECRET not in page


async def test_another_contract_edits_nothing_and_learns_nothing(world: World, make_client: Any) -> None:
    before = row(world, world.b_connection)
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)
    h = {"X-CSRF-Token": csrf}
    body = {"endpoint": "https://evil.example/steal", "secret": "x" * 20}
    answers = []
    for conn_id in (world.b_connection, 999999):
        resp = await client.patch(f"/api/v1/connections/{conn_id}", headers=h, json=body)
        answers.append((resp.status, (await resp.json())["error_id"]))
        resp = await client.post(f"/connections/{conn_id}/edit", data={"csrf_token": csrf, **body})
        shown = "connection-not-found" if 'id="error-id">connection-not-found<' in await resp.text() else ""
        answers.append((resp.status, shown))
    assert answers == [(404, "connection-not-found")] * 4
    # The operator's routes are the operator's.
    resp = await client.patch(f"/api/v1/operator/connections/{world.b_connection}", headers=h, json=body)
    assert resp.status == 403 and (await resp.json())["error_id"] == "operator-only"
    resp = await client.post(
        f"/operator/connections/{world.b_connection}/edit", data={"csrf_token": csrf, **body}
    )
    assert resp.status == 403
    assert row(world, world.b_connection) == before and edits(world) == []


async def test_an_operator_edits_any_contracts_connection(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await form_login(client, OP_LOGIN)
    resp = await client.patch(
        f"/api/v1/operator/connections/{world.b_connection}",
        headers={"X-CSRF-Token": csrf},
        json={"endpoint": "https://rec.beta.example/op"},
    )
    assert resp.status == 200, await resp.text()
    resp = await client.post(
        f"/operator/connections/{world.b_connection}/edit",
        data={"csrf_token": csrf, "endpoint": "https://rec.beta.example/op", "secret": NEW_SECRET},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"].startswith(f"/operator/contracts/{world.b_id}?")
    assert row(world, world.b_connection)[3:5] == ("https://rec.beta.example/op", NEW_SECRET)
    assert [(r.actor, r.details["secret_changed"]) for r in edits(world)] == [
        (f"operator:{OP_LOGIN}", False),
        (f"operator:{OP_LOGIN}", True),
    ]
    page = await (await client.get(f"/operator/contracts/{world.b_id}")).text()
    assert f'action="/operator/connections/{world.b_connection}/edit"' in page


async def test_edits_are_checked_like_additions(world: World, make_client: Any, tmp_path: Path) -> None:
    client = await make_client(sftp_delivery(tmp_path))
    h = {"X-CSRF-Token": await api_login(client, B_LOGIN)}
    before = row(world, world.b_connection)

    async def refused(body: dict[str, Any], error_id: str, status: int = 400, conn: int | None = None) -> str:
        resp = await client.patch(f"/api/v1/connections/{conn or world.b_connection}", headers=h, json=body)
        answer = await resp.json()
        assert (resp.status, answer["error_id"]) == (status, error_id), answer
        return str(answer["message"])

    assert "new endpoint" in await refused({}, "connection-unchanged")
    assert "new endpoint" in await refused({"endpoint": "  ", "secret": ""}, "connection-unchanged")
    await refused({"endpoint": "ftp://rec.beta.example/"}, "connection-endpoint-invalid")
    await refused({"endpoint": "https://rec.beta.example/x y"}, "connection-endpoint-invalid")
    await refused({"secret": "short"}, "connection-secret-invalid")
    await refused({"secret": "x" * 15 + "\x00"}, "connection-secret-invalid")
    await refused({"endpoint": 7}, "endpoint-invalid")
    assert row(world, world.b_connection) == before and edits(world) == []
    # From https:// to sftp:// and back: sftp:// needs no secret, https:// needs one again.
    with world.session() as s:
        sftp = service.enroll_connection(s, world.b_id, "file", "sftp://beta@sftp.beta.example/in", "")
        s.commit()
        sftp_id = sftp.id
    message = await refused(
        {"endpoint": "https://rec.beta.example/"}, "connection-secret-invalid", conn=sftp_id
    )
    assert "https:// connection needs a shared secret" in message
    resp = await client.patch(
        f"/api/v1/connections/{sftp_id}",
        headers=h,
        json={"endpoint": "https://rec.beta.example/", "secret": NEW_SECRET},
    )
    assert resp.status == 200 and (await resp.json())["secret_hint"] == "…3210"
    # A removed connection cannot be edited (the same 404 as an unknown one).
    assert (await client.delete(f"/api/v1/connections/{sftp_id}", headers=h)).status == 200
    await refused({"endpoint": "https://rec.beta.example/z"}, "connection-not-found", 404, conn=sftp_id)
    with world.session() as s, pytest.raises(service.NotFound):
        service.edit_connection(s, sftp_id, endpoint="https://rec.beta.example/z")


DELIVERY_WITH_KEY = DeliverySettings(sftp_key="/etc/callrec/platform_key")
NO_KEY = DeliverySettings()


@pytest.mark.parametrize(
    ("endpoint", "secret", "delivery", "expected"),
    [
        ("https://rec.example.com/recordings", "s" * 16, NO_KEY, "https://rec.example.com/recordings"),
        ("http://127.0.0.1:8089/recordings", "s" * 16, NO_KEY, "http://127.0.0.1:8089/recordings"),
        ("sftp://rec@sftp.example.com/incoming", "", DELIVERY_WITH_KEY, "sftp://rec@sftp.example.com/incoming"),
        ("sftp://rec@sftp.example.com:2222/in/calls", "", DELIVERY_WITH_KEY, None),
        ("sftp://rec@sftp.example.com", "", DELIVERY_WITH_KEY, None),  # the account's home folder
        ("sftp://rec@sftp.example.com/in", "s" * 16, DELIVERY_WITH_KEY, None),  # a secret is allowed, unused
        ("SFTP://rec@sftp.example.com/in", "", DELIVERY_WITH_KEY, None),
        ("sftp://rec@sftp.example.com/in", "", NO_KEY, "connection-sftp-unavailable"),
        ("sftp://sftp.example.com/in", "", DELIVERY_WITH_KEY, "connection-endpoint-invalid"),  # no account
        ("sftp://rec:pw@sftp.example.com/in", "", DELIVERY_WITH_KEY, "connection-endpoint-invalid"),
        ("sftp://rec@sftp.example.com:99999/in", "", DELIVERY_WITH_KEY, "connection-endpoint-invalid"),
        ("sftp://rec@sftp.example.com:0/in", "", DELIVERY_WITH_KEY, "connection-endpoint-invalid"),
        ("sftp://rec@sftp.example.com/in?x=1", "", DELIVERY_WITH_KEY, "connection-endpoint-invalid"),
        ("sftp://rec@/in", "", DELIVERY_WITH_KEY, "connection-endpoint-invalid"),
        ("https://rec.example.com:http/x", "s" * 16, NO_KEY, "connection-endpoint-invalid"),
        ("https:///recordings", "s" * 16, NO_KEY, "connection-endpoint-invalid"),
        ("ftp://rec.example.com/", "s" * 16, DELIVERY_WITH_KEY, "connection-endpoint-invalid"),
        ("rec.example.com/recordings", "s" * 16, NO_KEY, "connection-endpoint-invalid"),
        ("https://rec.example.com/", "", NO_KEY, "connection-secret-invalid"),
        ("https://rec.example.com/", "short", NO_KEY, "connection-secret-invalid"),
        ("sftp://rec@sftp.example.com/in", "short", DELIVERY_WITH_KEY, "connection-secret-invalid"),
    ],
)
def test_file_endpoints_the_worker_can_deliver_to(
    endpoint: str, secret: str, delivery: DeliverySettings, expected: str | None
) -> None:
    if expected is None or "://" in expected:
        assert checked_endpoint("file", endpoint, secret, delivery) == (expected or endpoint)
    else:
        with pytest.raises(BadInput) as refused:
            checked_endpoint("file", endpoint, secret, delivery)
        assert refused.value.error_id == expected
        assert refused.value.message  # every refusal says what to do


def test_stream_connections_keep_their_rules() -> None:
    assert checked_endpoint("stream", "rec.example.com:7000", "s" * 16, NO_KEY) == "rec.example.com:7000"
    with pytest.raises(BadInput) as refused:
        checked_endpoint("stream", "sftp://rec@sftp.example.com/in", "", DELIVERY_WITH_KEY)
    assert refused.value.error_id == "connection-secret-invalid"
    with pytest.raises(BadInput) as refused:
        checked_endpoint("fax", "x", "s" * 16, NO_KEY)
    assert refused.value.error_id == "connection-type-invalid"


async def test_an_sftp_connection_is_added_without_a_secret(
    world: World, make_client: Any, tmp_path: Path
) -> None:
    client = await make_client(sftp_delivery(tmp_path))
    csrf = await form_login(client, A_LOGIN)
    page = await (await client.get("/settings")).text()
    assert SFTP_KEY_LINE in page  # the key the customer authorizes on its SFTP server
    resp = await client.post(
        "/connections",
        data={"csrf_token": csrf, "type": "file", "endpoint": "sftp://alpha@sftp.alpha.example:2222/incoming"},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    listed = await (await client.get("/api/v1/connections")).json()
    assert [(c["endpoint"], c["secret_hint"]) for c in listed] == [
        ("sftp://alpha@sftp.alpha.example:2222/incoming", "")]
    assert "none (SSH key)" in await (await client.get("/settings")).text()
    # The operator's API takes the same.
    op = await make_client(sftp_delivery(tmp_path))
    resp = await op.post(
        f"/api/v1/operator/contracts/{world.a_id}/connections",
        headers={"X-CSRF-Token": await api_login(op, OP_LOGIN)},
        json={"type": "file", "endpoint": "sftp://alpha@sftp2.alpha.example/in"},
    )
    assert resp.status == 201, await resp.text()
    # A platform without an SSH key refuses sftp:// with its reason; the page asks for the carrier's key.
    plain = await make_client()
    h = {"X-CSRF-Token": await api_login(plain, A_LOGIN)}
    resp = await plain.post(
        "/api/v1/connections", headers=h, json={"type": "file", "endpoint": "sftp://alpha@sftp.alpha.example/in"}
    )
    answer = await resp.json()
    assert resp.status == 400 and answer["error_id"] == "connection-sftp-unavailable", answer
    assert "https://" in answer["message"]
    assert "Ask your carrier" in await (await plain.get("/settings")).text()
