"""Whether a line withholds its caller ID by default (issue 14): set by the line's own customer
administrator (form and API) and by operators (form and API), audited, refused for another contract's
line, and what the call flow then reads (contracts.directory). Also: the lines pages show the product's
default notice for a line without its own (contracts.directory.DEFAULT_NOTICE)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from callrec_ari.config import LineConfig
from callrec_ari.contracts.directory import DEFAULT_NOTICE, line_by_number
from callrec_ari.contracts.models import Line
from callrec_ari.db.models import AuditRecord
from tests.portal.conftest import (
    A_LOGIN,
    A_NUMBERS,
    B_NUMBERS,
    OP_LOGIN,
    World,
    api_login,
    form_login,
)


def withholds(world: World, number: str) -> bool:
    with world.session() as s:
        return s.scalars(select(Line.withhold_caller_id).where(Line.number == number)).one()


def caller_id_audit(world: World) -> list[tuple[str, str, str, Any]]:
    with world.session() as s:
        rows = s.scalars(
            select(AuditRecord).where(AuditRecord.action.like("caller-id-%")).order_by(AuditRecord.id)
        )
        return [(r.actor, r.action, r.subject, r.details) for r in rows]


async def test_the_owner_sets_it_with_the_form_and_the_api_and_each_change_is_audited(
    world: World, make_client: Any
) -> None:
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)
    number = A_NUMBERS[1]
    assert not withholds(world, number)  # a line shows its number until told otherwise

    resp = await client.post(
        f"/lines/{number}/caller-id",
        data={"csrf_token": csrf, "withhold_caller_id": "yes"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"].startswith("/lines?done="), await resp.text()
    assert withholds(world, number)
    page = await (await client.get("/lines")).text()
    row = page.split(f'id="line-{number}"', 1)[1].split("</tr>", 1)[0]
    assert "withheld" in row and 'value="no">Show by default' in row
    with world.session() as s:  # the call flow reads it per call: the next call withholds
        found = line_by_number(s, number)
    assert found is not None and found.withhold_caller_id

    # The same again changes nothing and is not audited twice.
    h = {"X-CSRF-Token": csrf}
    resp = await client.patch(f"/api/v1/lines/{number}", headers=h, json={"withhold_caller_id": True})
    assert resp.status == 200 and (await resp.json())["withhold_caller_id"] is True
    resp = await client.patch(f"/api/v1/lines/{number}", headers=h, json={"withhold_caller_id": False})
    body = await resp.json()
    assert resp.status == 200 and body["withhold_caller_id"] is False, body
    assert not withholds(world, number)
    assert (await (await client.get(f"/api/v1/lines/{number}")).json())["withhold_caller_id"] is False
    subject = f"contract:{world.a_id}"
    assert caller_id_audit(world) == [
        (f"customer_admin:{A_LOGIN}", "caller-id-withheld", subject, {"number": number}),
        (f"customer_admin:{A_LOGIN}", "caller-id-shown", subject, {"number": number}),
    ]
    audit = await (await client.get("/api/v1/audit")).json()
    assert {"caller-id-withheld", "caller-id-shown"} <= {e["action"] for e in audit}
    # The other lines kept theirs.
    assert not any(withholds(world, n) for n in A_NUMBERS if n != number)


async def test_another_contracts_line_is_not_found_and_unchanged(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await api_login(client, A_LOGIN)
    h = {"X-CSRF-Token": csrf}
    number = B_NUMBERS[0]
    resp = await client.patch(f"/api/v1/lines/{number}", headers=h, json={"withhold_caller_id": True})
    assert resp.status == 404 and (await resp.json())["error_id"] == "line-not-found"
    resp = await client.post(
        f"/lines/{number}/caller-id", data={"csrf_token": csrf, "withhold_caller_id": "yes"}
    )
    assert resp.status == 404 and "line-not-found" in await resp.text()
    # A customer cannot use the operator's routes, not even on its own line.
    resp = await client.patch(
        f"/api/v1/operator/lines/{A_NUMBERS[0]}", headers=h, json={"withhold_caller_id": True}
    )
    assert resp.status == 403 and (await resp.json())["error_id"] == "operator-only"
    resp = await client.post(
        f"/operator/lines/{A_NUMBERS[0]}/caller-id",
        data={"csrf_token": csrf, "withhold_caller_id": "yes"},
    )
    assert resp.status == 403
    assert not withholds(world, number) and not withholds(world, A_NUMBERS[0])
    assert caller_id_audit(world) == []


async def test_an_operator_sets_it_on_any_line(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await form_login(client, OP_LOGIN)
    number = B_NUMBERS[2]
    resp = await client.post(
        f"/operator/lines/{number}/caller-id",
        data={"csrf_token": csrf, "withhold_caller_id": "yes"},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"].startswith(f"/operator/contracts/{world.b_id}?done=")
    assert withholds(world, number)
    page = await (await client.get(f"/operator/contracts/{world.b_id}")).text()
    row = page.split(f'id="line-{number}"', 1)[1].split("</tr>", 1)[0]
    assert "withheld" in row and "Show by default" in row

    h = {"X-CSRF-Token": csrf}

    def patch(path: str, body: dict[str, Any]) -> Any:
        return client.patch(path, headers=h, json=body)

    resp = await patch(f"/api/v1/operator/lines/{number}", {"withhold_caller_id": False})
    assert resp.status == 200 and (await resp.json())["withhold_caller_id"] is False
    assert not withholds(world, number)
    subject = f"contract:{world.b_id}"
    assert caller_id_audit(world) == [
        (f"operator:{OP_LOGIN}", "caller-id-withheld", subject, {"number": number}),
        (f"operator:{OP_LOGIN}", "caller-id-shown", subject, {"number": number}),
    ]
    # Bad input is refused clearly; unknown lines are not found; the customer's routes are not an operator's.
    resp = await patch(f"/api/v1/operator/lines/{number}", {"withhold_caller_id": "yes"})
    assert resp.status == 400 and (await resp.json())["error_id"] == "withhold-caller-id-invalid"
    resp = await patch(f"/api/v1/operator/lines/{number}", {})
    assert resp.status == 400 and (await resp.json())["error_id"] == "withhold-caller-id-invalid"
    resp = await patch("/api/v1/operator/lines/09999999999", {"withhold_caller_id": True})
    assert resp.status == 404 and (await resp.json())["error_id"] == "line-not-found"
    resp = await patch(f"/api/v1/lines/{number}", {"withhold_caller_id": True})
    assert resp.status == 403 and (await resp.json())["error_id"] == "customer-only"
    assert not withholds(world, number)


async def test_a_bad_value_from_the_customer_changes_nothing(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await api_login(client, A_LOGIN)
    resp = await client.patch(
        f"/api/v1/lines/{A_NUMBERS[0]}",
        headers={"X-CSRF-Token": csrf},
        json={"consent": False, "withhold_caller_id": 1},
    )
    assert resp.status == 400 and (await resp.json())["error_id"] == "withhold-caller-id-invalid"
    with world.session() as s:
        line = s.scalars(select(Line).where(Line.number == A_NUMBERS[0])).one()
        assert line.consent and not line.withhold_caller_id  # nothing of the request was applied


async def test_the_pages_show_the_products_default_notice(world: World, make_client: Any) -> None:
    assert DEFAULT_NOTICE == LineConfig(endpoint="", number="").notice
    client = await make_client()
    await form_login(client, A_LOGIN)
    page = await (await client.get("/lines")).text()
    row = page.split(f'id="line-{A_NUMBERS[2]}"', 1)[1].split("</tr>", 1)[0]  # no notice of its own
    assert f'<option value="{DEFAULT_NOTICE}" selected>' in row
    assert (await (await client.get("/api/v1/lines")).json())["default_notice"] == DEFAULT_NOTICE

    op = await make_client()
    await form_login(op, OP_LOGIN)
    page = await (await op.get(f"/operator/contracts/{world.a_id}")).text()
    row = page.split(f'id="line-{A_NUMBERS[2]}"', 1)[1].split("</tr>", 1)[0]
    assert f'<td class="notice">{DEFAULT_NOTICE}</td>' in row
