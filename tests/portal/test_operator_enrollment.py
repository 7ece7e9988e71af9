"""The operator enrolls through the console and the JSON API (issue 6): contracts, lines (one or a CSV
import, all or nothing), connections. Every change is audited with who made it; every refusal names
its stable reason id and changes nothing; a customer administrator can do none of it."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import func, select

from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.db.models import AuditRecord
from tests.portal.conftest import A_LOGIN, A_NUMBERS, B_NUMBERS, OP_LOGIN, World, api_login, form_login

OP_ACTOR = f"operator:{OP_LOGIN}"
GOOD_CSV = (
    "number,endpoint,holder_name,services\n"
    "09000009001,imp1,Alpha Corp,call-waiting\n"
    "09000009002,imp2,ALPHA  CORP,\n"
    "09000009003,imp3,Alpha Corp,\n"
)
BAD_CSV = (
    "number,endpoint,holder_name,services\n"
    "09000009001,imp1,Alpha Corp,\n"  # line 2: fine, but the file is refused as a whole
    f"{A_NUMBERS[0]},imp2,Alpha Corp,\n"  # line 3: already enrolled
    "09000009003,imp3,Someone Else,\n"  # line 4: R5.1
    "09000009004,imp4,Alpha Corp,White Office\n"  # line 5: R5.2
    "09000009001,imp5,Alpha Corp,\n"  # line 6: twice in the file
)
BAD_ROWS = {
    3: "line-number-taken",
    4: "holder-name-mismatch",
    5: "incompatible-service",
    6: "line-number-taken",
}


def state(world: World) -> dict[str, Any]:
    """Everything enrollment can change: contracts, lines, connections, the audit log."""
    with world.session() as s:
        return {
            "contracts": [(c.id, c.holder_name, c.reseller) for c in s.scalars(select(Contract))],
            "lines": [(ln.number, ln.contract_id, ln.removed_at) for ln in s.scalars(select(Line))],
            "connections": [
                (c.id, c.endpoint, c.secret, c.removed_at) for c in s.scalars(select(Connection))
            ],
            "audit": s.scalar(select(func.count(AuditRecord.id))),
        }


def operator_audit(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """The operator's changes made by the tests (the fixture's notice approval left out)."""
    with world.session() as s:
        rows = s.scalars(
            select(AuditRecord)
            .where(AuditRecord.actor == OP_ACTOR, AuditRecord.action != "notice-approved")
            .order_by(AuditRecord.id)
        )
        return [(r.action, r.subject, dict(r.details or {})) for r in rows]


def csv_form(csrf: str, text: str, name: str = "lines.csv") -> aiohttp.FormData:
    form = aiohttp.FormData([("csrf_token", csrf)])
    form.add_field("file", text.encode(), filename=name, content_type="text/csv")
    return form


async def test_console_forms_enroll_and_are_audited(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await form_login(client, OP_LOGIN)
    page = await (await client.get("/operator")).text()
    assert 'action="/operator/contracts"' in page and 'name="reseller"' in page

    def post(path: str, **data: str) -> Any:
        return client.post(path, data={"csrf_token": csrf, **data}, allow_redirects=False)

    resp = await post("/operator/contracts", holder_name="Gamma Ltd")
    assert resp.status == 303, await resp.text()
    with world.session() as s:
        gamma = s.scalars(select(Contract).where(Contract.holder_name == "Gamma Ltd")).one()
    assert resp.headers["Location"].startswith(f"/operator/contracts/{gamma.id}?done=")
    page = await (await client.get(f"/operator/contracts/{gamma.id}")).text()
    for form_id in ("enroll-line", "import-lines", "add-connection"):
        assert f'id="{form_id}"' in page

    resp = await post(
        f"/operator/contracts/{gamma.id}/lines",
        number="09000003001",
        endpoint="g1",
        holder_name="Gamma Ltd",
        services="call-waiting, voicemail",
    )
    assert resp.status == 303, await resp.text()
    resp = await client.post(
        f"/operator/contracts/{gamma.id}/lines/import",
        data=csv_form(csrf, GOOD_CSV.replace("Alpha Corp", "Gamma Ltd").replace("ALPHA  CORP", "gamma ltd")),
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert "done=3%20lines%20imported" in resp.headers["Location"]
    page = await (await client.get(resp.headers["Location"])).text()
    assert "3 lines imported" in page and "09000009002" in page
    assert (await post("/operator/lines/09000009003/remove")).status == 303
    resp = await post(
        f"/operator/contracts/{gamma.id}/connections",
        type="stream",
        endpoint="rec.gamma.example:7000",
        secret="gamma-secret-0123456789",
    )
    assert resp.status == 303, await resp.text()
    with world.session() as s:
        conn = s.scalars(select(Connection).where(Connection.contract_id == gamma.id)).one()
        lines = {ln.number: ln for ln in s.scalars(select(Line).where(Line.contract_id == gamma.id))}
    assert (await post(f"/operator/connections/{conn.id}/remove")).status == 303

    assert set(lines) == {"09000003001", "09000009001", "09000009002", "09000009003"}
    assert lines["09000003001"].services == ["call-waiting", "voicemail"]
    assert lines["09000009003"].removed_at is not None and lines["09000009001"].removed_at is None
    with world.session() as s:
        assert s.get(Connection, conn.id).removed_at is not None  # type: ignore[union-attr]
    subject = f"contract:{gamma.id}"
    assert [(a, subj) for a, subj, _ in operator_audit(world)] == [
        ("contract-created", subject),
        ("line-enrolled", subject),
        ("lines-imported", subject),
        ("line-removed", subject),
        ("connection-added", subject),
        ("connection-removed", subject),
    ]
    details = dict((a, d) for a, _, d in operator_audit(world))
    assert details["lines-imported"]["count"] == 3 and details["line-removed"]["number"] == "09000009003"
    page = await (await client.get(f"/operator/contracts/{gamma.id}")).text()
    assert "lines-imported" in page and OP_ACTOR in page


async def test_console_refusals_show_the_reason_and_change_nothing(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await form_login(client, OP_LOGIN)
    before = state(world)

    async def refused(path: str, reason: str, **data: str) -> str:
        resp = await client.post(path, data={"csrf_token": csrf, **data}, allow_redirects=False)
        text = await resp.text()
        assert resp.status == 400, (path, resp.status, text[:300])
        assert f'id="error-id">{reason}</code>' in text, text
        assert state(world) == before, path
        return text

    text = await refused("/operator/contracts", "reseller", holder_name="Reseller KK", reseller="yes")
    assert "R5.3" in text
    await refused("/operator/contracts", "holder-name-empty", holder_name="  ")
    lines = f"/operator/contracts/{world.a_id}/lines"
    await refused(lines, "holder-name-mismatch", number="09000005001", endpoint="x1", holder_name="Beta Corp")
    await refused(
        lines,
        "incompatible-service",
        number="09000005001",
        endpoint="x1",
        holder_name="Alpha Corp",
        services="voicemail, White Office",
    )
    await refused(lines, "line-number-taken", number=B_NUMBERS[0], endpoint="x1", holder_name="Alpha Corp")
    await refused(lines, "line-endpoint-taken", number="09000005001", endpoint="b1", holder_name="Alpha Corp")
    await refused(
        f"/operator/contracts/{world.a_id}/connections",
        "connection-endpoint-invalid",
        type="file",
        endpoint="ftp://x",
        secret="s" * 20,
    )
    await refused(
        f"/operator/contracts/{world.a_id}/connections",
        "connection-secret-invalid",
        type="file",
        endpoint="https://rec.a.example/r",
        secret="short",
    )

    resp = await client.post(
        f"/operator/contracts/{world.a_id}/lines/import", data=csv_form(csrf, BAD_CSV), allow_redirects=False
    )
    text = await resp.text()
    assert resp.status == 400, text
    assert 'id="error-id">import-refused</code>' in text and "nothing was imported" in text
    report = text.split('id="import-errors"', 1)[1]
    for line_no, reason in BAD_ROWS.items():
        assert f"<tr><td>{line_no}</td><td><code>{reason}</code>" in report, (line_no, reason)
    assert "<tr><td>2</td>" not in report
    assert state(world) == before
    # Unknown objects answer 404 and change nothing.
    resp = await client.post("/operator/lines/09999999999/remove", data={"csrf_token": csrf})
    assert resp.status == 404
    resp = await client.post("/operator/contracts/999999/lines/import", data=csv_form(csrf, GOOD_CSV))
    assert resp.status == 404
    assert state(world) == before


async def test_api_enrolls_and_refuses(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await api_login(client, OP_LOGIN)
    h = {"X-CSRF-Token": csrf}
    before = state(world)

    async def call(method: str, path: str, status: int, body: Any = None) -> Any:
        resp = await client.request(method, path, headers=h, json=body)
        data = await resp.json()
        assert resp.status == status, (path, resp.status, data)
        return data

    assert (await call("POST", "/api/v1/operator/contracts", 400, {"holder_name": "R", "reseller": True}))[
        "error_id"
    ] == "reseller"
    base = f"/api/v1/operator/contracts/{world.a_id}"
    line = {"number": "09000006001", "endpoint": "api1", "holder_name": "Alpha Corp"}
    refusals = [
        ({**line, "holder_name": "Other"}, "holder-name-mismatch"),
        ({**line, "services": ["apple-watch-mobile"]}, "incompatible-service"),
        ({**line, "number": A_NUMBERS[1]}, "line-number-taken"),
        ({**line, "services": "voicemail"}, "services-invalid"),
    ]
    for body, reason in refusals:
        assert (await call("POST", f"{base}/lines", 400, body))["error_id"] == reason
    refused = await call("POST", f"{base}/lines/import", 400, {"csv": BAD_CSV})
    assert refused["error_id"] == "import-refused"
    assert {(e["line"], e["reason"]) for e in refused["errors"]} == set(BAD_ROWS.items())
    assert state(world) == before

    created = await call("POST", "/api/v1/operator/contracts", 201, {"holder_name": "Delta"})
    assert created["holder_name"] == "Delta"
    added = await call("POST", f"{base}/lines", 201, {**line, "services": ["voicemail"]})
    assert added["contract_id"] == world.a_id
    assert (await call("POST", f"{base}/lines/import", 200, {"csv": GOOD_CSV}))["imported"] == 3
    assert (await call("DELETE", "/api/v1/operator/lines/09000009002", 200))["removed"] is True
    conn = await call(
        "POST",
        f"{base}/connections",
        201,
        {"type": "file", "endpoint": "https://rec.a.example/r", "secret": "a-secret-0123456789"},
    )
    assert conn["endpoint"] == "https://rec.a.example/r" and "a-secret-0123456789" not in str(conn)
    assert (await call("DELETE", f"/api/v1/operator/connections/{conn['id']}", 200))["removed"] is True
    assert (await call("DELETE", f"/api/v1/operator/connections/{conn['id']}", 404))[
        "error_id"
    ] == "connection-not-found"
    assert [a for a, _, _ in operator_audit(world)] == [
        "contract-created",
        "line-enrolled",
        "lines-imported",
        "line-removed",
        "connection-added",
        "connection-removed",
    ]
    with world.session() as s:
        numbers = set(s.scalars(select(Line.number).where(Line.removed_at.is_(None))))
    assert {"09000006001", "09000009001", "09000009003"} <= numbers and "09000009002" not in numbers


def enrollment_calls(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    line = {"number": "09000007001", "endpoint": "c1", "holder_name": "Alpha Corp", "services": ""}
    conn = {"type": "file", "endpoint": "https://rec.a.example/r", "secret": "c-secret-0123456789"}
    return [
        ("POST", "/operator/contracts", {"holder_name": "Sneaky"}),
        ("POST", f"/operator/contracts/{world.a_id}/lines", line),
        ("POST", f"/operator/contracts/{world.a_id}/lines/import", {"csv": GOOD_CSV}),
        ("POST", f"/operator/lines/{A_NUMBERS[0]}/remove", {}),
        ("POST", f"/operator/contracts/{world.a_id}/connections", conn),
        ("POST", f"/operator/connections/{world.b_connection}/edit", {"endpoint": "https://rec.x.example/"}),
        ("POST", f"/operator/connections/{world.b_connection}/remove", {}),
        ("POST", "/api/v1/operator/contracts", {"holder_name": "Sneaky"}),
        ("POST", f"/api/v1/operator/contracts/{world.a_id}/lines", {**line, "services": []}),
        ("POST", f"/api/v1/operator/contracts/{world.a_id}/lines/import", {"csv": GOOD_CSV}),
        ("DELETE", f"/api/v1/operator/lines/{A_NUMBERS[0]}", {}),
        ("POST", f"/api/v1/operator/contracts/{world.a_id}/connections", conn),
        ("PATCH", f"/api/v1/operator/connections/{world.b_connection}", {"secret": "c-secret-0123456789"}),
        ("DELETE", f"/api/v1/operator/connections/{world.b_connection}", {}),
    ]


async def send(client: Any, method: str, path: str, data: dict[str, Any], csrf: str | None) -> Any:
    headers = {"X-CSRF-Token": csrf} if csrf and path.startswith("/api/") else {}
    if path.startswith("/api/"):
        return await client.request(method, path, headers=headers, json=data, allow_redirects=False)
    fields: list[tuple[str, Any]] = [("csrf_token", csrf)] if csrf else []
    form = aiohttp.FormData([*fields, *data.items()])
    if path.endswith("/import"):
        form = aiohttp.FormData(fields)
        form.add_field("file", GOOD_CSV.encode(), filename="lines.csv", content_type="text/csv")
    return await client.request(method, path, data=form, allow_redirects=False)


async def test_a_customer_administrator_can_do_none_of_it(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)
    before = state(world)
    for method, path, data in enrollment_calls(world):
        resp = await send(client, method, path, data, csrf)
        text = await resp.text()
        assert resp.status in (403, 404), (method, path, resp.status, text[:300])
        assert "operator-only" in text or "not-found" in text, text[:300]
        assert "csrf-" not in text
    assert state(world) == before


async def test_missing_or_wrong_csrf_is_refused(world: World, make_client: Any) -> None:
    client = await make_client()
    await form_login(client, OP_LOGIN)
    before = state(world)
    for method, path, data in enrollment_calls(world):
        resp = await send(client, method, path, data, None)
        text = await resp.text()
        assert resp.status == 403 and "csrf-missing" in text, (method, path, resp.status, text[:300])
        resp = await send(client, method, path, data, "not-the-token")
        assert resp.status == 403 and "csrf-invalid" in await resp.text(), (method, path)
    assert state(world) == before
    # Without any session the API answers 401 and the forms do not change anything either.
    anonymous = await make_client()
    for method, path, data in enrollment_calls(world):
        assert (await send(anonymous, method, path, data, None)).status == 401, path
    assert state(world) == before
