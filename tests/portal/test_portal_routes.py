"""Every route of the portal does its job for the role it is for (pages and JSON API)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from callrec_ari.contracts.models import Contract, Line
from callrec_ari.db.models import AuditRecord
from callrec_ari.notices.models import NoticeUpload
from tests.portal.conftest import A_LOGIN, A_NUMBERS, OP_LOGIN, World, api_login, form_login, make_wav


async def test_pages_render_for_a_customer(world: World, make_client: Any) -> None:
    client = await make_client()
    await form_login(client, A_LOGIN)
    for path, needle in [
        ("/lines", A_NUMBERS[0]),
        ("/lines?q=1003&page=1", A_NUMBERS[2]),
        ("/notices", "A pending"),
        ("/settings", "Alpha Corp"),
        ("/deliveries", "No calls yet"),
        ("/audit", "Notice uploaded"),
        ("/invoice", "invoice-total"),
        ("/invoice?month=2025-01", "2025-01"),
    ]:
        resp = await client.get(path)
        assert resp.status == 200, (path, await resp.text())
        assert needle in await resp.text(), path
    resp = await client.get("/", allow_redirects=False)
    assert resp.headers["Location"] == "/dashboard"
    resp = await client.get(f"/notices/{world.a_pending}/audio")
    assert resp.status == 200 and (await resp.read())[:4] == b"RIFF"


async def test_forms_change_lines_and_are_audited(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)
    post = lambda path, **data: client.post(path, data={"csrf_token": csrf, **data}, allow_redirects=False)  # noqa: E731
    assert (await post(f"/lines/{A_NUMBERS[1]}/consent", consent="yes")).status == 303
    resp = await client.post(
        "/lines/recording",
        data=[
            ("csrf_token", csrf),
            ("action", "start"),
            ("numbers", A_NUMBERS[0]),
            ("numbers", A_NUMBERS[1]),
        ],
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert (await post(f"/lines/{A_NUMBERS[0]}/notice", notice="callrec/notice-ja")).status == 303
    assert (await post("/settings/omit-notice", omit_notice="yes")).status == 303
    assert (
        await post(
            "/connections",
            type="file",
            endpoint="https://rec.a.example/recordings",
            secret="a-secret-0123456789",
        )
    ).status == 303
    with world.session() as s:
        lines = {ln.number: ln for ln in s.scalars(select(Line))}
        assert lines[A_NUMBERS[0]].recording_started and lines[A_NUMBERS[1]].recording_started
        assert lines[A_NUMBERS[0]].notice == "callrec/notice-ja"
        assert s.get(Contract, world.a_id).omit_notice  # type: ignore[union-attr]
        actions = [
            r.action
            for r in s.scalars(select(AuditRecord).where(AuditRecord.actor == f"customer_admin:{A_LOGIN}"))
        ]
        assert {
            "consent-recorded",
            "recording-started",
            "notice-chosen",
            "notice-omitted",
            "connection-added",
        } <= set(actions)
    # Withdrawing consent stops the recording (R5.4).
    assert (await post(f"/lines/{A_NUMBERS[0]}/consent", consent="no")).status == 303
    with world.session() as s:
        line = s.scalars(select(Line).where(Line.number == A_NUMBERS[0])).one()
        assert not line.consent and not line.recording_started
    resp = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert (await client.get("/lines", allow_redirects=False)).status == 303


async def test_starting_without_consent_is_refused_and_changes_nothing(
    world: World, make_client: Any
) -> None:
    client = await make_client()
    csrf = await api_login(client, A_LOGIN)
    resp = await client.post(
        "/api/v1/lines/recording",
        headers={"X-CSRF-Token": csrf},
        json={"numbers": A_NUMBERS[:2], "recording_started": True},
    )
    body = await resp.json()
    assert resp.status == 400 and body["error_id"] == "consent-missing", body
    assert A_NUMBERS[1] in body["message"]
    with world.session() as s:
        assert not any(
            ln.recording_started for ln in s.scalars(select(Line).where(Line.contract_id == world.a_id))
        )


async def test_api_customer_endpoints(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await api_login(client, A_LOGIN)
    h = {"X-CSRF-Token": csrf}
    me = await (await client.get("/api/v1/me")).json()
    assert me["contract_id"] == world.a_id and me["role"] == "customer_admin"
    page = await (await client.get("/api/v1/lines?per_page=2&page=2")).json()
    assert page["total"] == 4 and [ln["number"] for ln in page["lines"]] == A_NUMBERS[2:]
    assert (await (await client.get(f"/api/v1/lines/{A_NUMBERS[0]}")).json())["consent"] is True
    resp = await client.patch(
        f"/api/v1/lines/{A_NUMBERS[2]}",
        headers=h,
        json={"consent": True, "recording_started": True, "notice": "callrec/notice-ja"},
    )
    assert resp.status == 200 and (await resp.json())["recording_started"] is True
    resp = await client.post(
        "/api/v1/lines/recording", headers=h, json={"numbers": [A_NUMBERS[2]], "recording_started": False}
    )
    assert resp.status == 200
    assert (await (await client.patch("/api/v1/contract", headers=h, json={"omit_notice": True})).json())[
        "omit_notice"
    ]
    contract = await (await client.get("/api/v1/contract")).json()
    assert contract["holder_name"] == "Alpha Corp"
    resp = await client.post(
        "/api/v1/connections",
        headers=h,
        json={"type": "file", "endpoint": "http://127.0.0.1:9/recordings", "secret": "a-secret-0123456789"},
    )
    assert resp.status == 201, await resp.text()
    conn = await resp.json()
    assert conn["secret_hint"] == "…6789" and "a-secret" not in await resp.text()
    assert len(await (await client.get("/api/v1/connections")).json()) == 1
    test = await (await client.post(f"/api/v1/connections/{conn['id']}/test", headers=h)).json()
    assert test["ok"] is False and test["error_id"], test  # nothing listens on port 9
    assert (await client.delete(f"/api/v1/connections/{conn['id']}", headers=h)).status == 200
    assert await (await client.get("/api/v1/deliveries")).json() == []
    notices = await (await client.get("/api/v1/notices?state=pending")).json()
    assert [n["label"] for n in notices] == ["A pending"]
    audit = await (await client.get("/api/v1/audit")).json()
    assert {"recording-started", "connection-removed", "test-file-sent"} <= {e["action"] for e in audit}
    invoice = await (await client.get("/api/v1/invoice")).json()
    assert invoice["contract_id"] == world.a_id and invoice["currency"] == "JPY"
    assert (await client.delete("/api/v1/session", headers=h)).status == 200
    assert (await client.get("/api/v1/me")).status == 401


async def test_upload_then_operator_approves_and_line_uses_it(world: World, make_client: Any) -> None:
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)
    form = {"csrf_token": csrf, "label": "Our notice", "numbers": A_NUMBERS[3]}
    import aiohttp

    data = aiohttp.FormData(form)
    data.add_field(
        "file", make_wav(2.0, rate=44100, channels=2), filename="ours.wav", content_type="audio/wav"
    )
    resp = await client.post("/notices", data=data, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    with world.session() as s:
        row = s.scalars(select(NoticeUpload).where(NoticeUpload.label == "Our notice")).one()
        assert row.state == "pending" and 1900 < row.duration_ms < 2100
    op = await make_client()
    op_csrf = await form_login(op, OP_LOGIN)
    for path in ("/operator", f"/operator/contracts/{world.a_id}", "/operator/notices", "/operator/audit"):
        r = await op.get(path)
        assert r.status == 200, (path, await r.text())
    assert (await op.get("/", allow_redirects=False)).headers["Location"] == "/operator/dashboard"
    resp = await op.post(
        f"/operator/notices/{row.id}/approve", data={"csrf_token": op_csrf}, allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    sound = f"callrec/custom/c{world.a_id}-n{row.id}"
    wav = world.settings.notices_dir + f"/c{world.a_id}-n{row.id}.wav"
    import wave as wave_mod

    with wave_mod.open(wav) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    with world.session() as s:
        assert s.scalars(select(Line.notice).where(Line.number == A_NUMBERS[3])).one() == sound
    # Approved: the customer may now choose it for other lines too.
    resp = await client.post(
        f"/lines/{A_NUMBERS[0]}/notice", data={"csrf_token": csrf, "notice": sound}, allow_redirects=False
    )
    assert resp.status == 303
    # Reject the other pending one with a reason; approving twice is refused.
    resp = await op.post(
        f"/operator/notices/{world.a_pending}/reject",
        data={"csrf_token": op_csrf, "reason": "noisy"},
        allow_redirects=False,
    )
    assert resp.status == 303
    again = await op.post(f"/operator/notices/{world.a_pending}/approve", data={"csrf_token": op_csrf})
    assert again.status == 409 and "notice-not-pending" in await again.text()


async def test_operator_suspends_and_lifts(world: World, make_client: Any) -> None:
    op = await make_client()
    csrf = await form_login(op, OP_LOGIN)
    resp = await op.post(
        f"/operator/contracts/{world.a_id}/suspension",
        data={"csrf_token": csrf, "reason": "privacy"},
        allow_redirects=False,
    )
    assert resp.status == 303
    resp = await op.post(
        f"/operator/lines/{A_NUMBERS[0]}/suspension",
        data={"csrf_token": csrf, "reason": "complaint"},
        allow_redirects=False,
    )
    assert resp.status == 303
    customer = await make_client()
    c_csrf = await api_login(customer, A_LOGIN)
    resp = await customer.post(
        "/api/v1/lines/recording",
        headers={"X-CSRF-Token": c_csrf},
        json={"numbers": [A_NUMBERS[0]], "recording_started": True},
    )
    assert resp.status == 400 and (await resp.json())["error_id"] == "recording-refused"
    h = {"X-CSRF-Token": csrf}
    resp = await op.post(
        f"/api/v1/operator/contracts/{world.a_id}/suspension", headers=h, json={"lift": True}
    )
    assert resp.status == 200 and (await resp.json())["suspended"] is False
    resp = await op.post(f"/api/v1/operator/lines/{A_NUMBERS[0]}/suspension", headers=h, json={"lift": True})
    assert resp.status == 200 and (await resp.json())["suspended"] is False
    resp = await op.post(
        f"/api/v1/operator/lines/{A_NUMBERS[0]}/suspension", headers=h, json={"reason": "  "}
    )
    assert resp.status == 400 and (await resp.json())["error_id"] == "reason-missing"
    for path in (
        "/api/v1/operator/contracts",
        f"/api/v1/operator/contracts/{world.a_id}",
        "/api/v1/operator/audit",
        "/api/v1/notices",
    ):
        assert (await op.get(path)).status == 200, path
    resp = await op.post(
        f"/api/v1/operator/notices/{world.a_pending}/reject", headers=h, json={"reason": "bad"}
    )
    assert resp.status == 200 and (await resp.json())["state"] == "rejected"
    resp = await op.post(f"/api/v1/operator/notices/{world.b_pending}/approve", headers=h)
    assert resp.status == 200


async def test_roles_are_kept_apart(world: World, make_client: Any) -> None:
    customer = await make_client()
    await form_login(customer, A_LOGIN)
    assert (await customer.get("/operator")).status == 403
    op = await make_client()
    await api_login(op, OP_LOGIN)
    resp = await op.get("/api/v1/lines")
    assert resp.status == 403 and (await resp.json())["error_id"] == "customer-only"


async def test_public_routes(make_client: Any) -> None:
    client = await make_client()
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/static/portal.css")).status == 200
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert (await client.get("/lines", allow_redirects=False)).headers["Location"] == "/login"
    assert (await client.get("/api/v1/lines")).status == 401


async def test_a_done_message_shows_only_when_the_portal_wrote_it(world: World, make_client: Any) -> None:
    """The green box says what the portal did, never what a link from elsewhere puts in the URL."""
    client = await make_client()
    await form_login(client, A_LOGIN)
    forged = await (await client.get("/lines?done=Your%20contract%20is%20suspended:%20call%200120")).text()
    assert "Your contract is suspended" not in forged and 'class="done"' not in forged
    forged = await (await client.get("/lines?done=hello&ds=" + "0" * 32)).text()
    assert "hello" not in forged
    csrf = (await (await client.get("/api/v1/me")).json())["csrf_token"]
    resp = await client.post(f"/lines/{A_NUMBERS[0]}/consent", data={"csrf_token": csrf, "consent": "yes"})
    page = await resp.text()  # followed the redirect: the portal's own message, signed
    assert 'class="done"' in page and f"consent recorded for {A_NUMBERS[0]}" in page
