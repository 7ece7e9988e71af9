"""Mono or stereo recording files (issue 15): the contract chooses for its lines, a line may choose
otherwise; set by the customer's administrator with the forms and the API, audited, refused for
another contract, checked, and what the call flow then reads (contracts.directory)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from callrec_ari.contracts.directory import line_by_number
from callrec_ari.db.models import AuditRecord
from tests.portal.conftest import A_LOGIN, A_NUMBERS, B_LOGIN, B_NUMBERS, World, form_login


def layouts(world: World, numbers: list[str]) -> list[str]:
    """What the call flow reads for each line."""
    with world.session() as s:
        found = [line_by_number(s, n) for n in numbers]
    return [f.audio_channels if f is not None else "?" for f in found]


def audits(world: World) -> list[tuple[str, str, Any]]:
    with world.session() as s:
        rows = s.scalars(select(AuditRecord).where(AuditRecord.action == "audio-channels-set")
                         .order_by(AuditRecord.id))
        return [(r.actor, r.subject, r.details) for r in rows]


async def test_the_contract_chooses_a_line_may_differ_and_the_other_customer_is_untouched(
    world: World, make_client: Any
) -> None:
    a_numbers, b_numbers = list(A_NUMBERS), list(B_NUMBERS)
    assert set(layouts(world, a_numbers + b_numbers)) == {"mono"}  # the default
    client = await make_client()
    csrf = await form_login(client, A_LOGIN)

    # The settings page: stereo for every line of A's contract
    page = await (await client.get("/settings")).text()
    assert 'action="/settings/audio-channels"' in page
    resp = await client.post("/settings/audio-channels",
                             data={"csrf_token": csrf, "audio_channels": "stereo"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/settings?done="), await resp.text()
    assert layouts(world, a_numbers) == ["stereo"] * len(a_numbers)
    assert set(layouts(world, b_numbers)) == {"mono"}  # B's contract did not change

    # One line back to mono with the lines page's form, another with the API, then back to the contract's
    resp = await client.post(f"/lines/{a_numbers[0]}/audio-channels",
                             data={"csrf_token": csrf, "audio_channels": "mono"}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    h = {"X-CSRF-Token": csrf}
    resp = await client.patch(f"/api/v1/lines/{a_numbers[1]}", headers=h, json={"audio_channels": "mono"})
    assert resp.status == 200 and (await resp.json())["audio_channels"] == "mono"
    assert layouts(world, a_numbers[:2]) == ["mono", "mono"]
    resp = await client.patch(f"/api/v1/lines/{a_numbers[1]}", headers=h, json={"audio_channels": None})
    assert resp.status == 200 and (await resp.json())["audio_channels"] is None
    assert layouts(world, a_numbers[:2]) == ["mono", "stereo"]
    page = await (await client.get("/lines")).text()
    row = page.split(f'id="line-{a_numbers[0]}"', 1)[1].split("</tr>", 1)[0]
    assert 'value="mono" selected' in row

    # The contract through the API: mono again; the line that chose mono keeps it either way
    resp = await client.patch("/api/v1/contract", headers=h, json={"audio_channels": "mono"})
    assert resp.status == 200 and (await resp.json())["audio_channels"] == "mono"
    assert set(layouts(world, a_numbers)) == {"mono"}

    # Bad input: a clear error, nothing changed
    for body in ({"audio_channels": "surround"}, {"audio_channels": 2}):
        resp = await client.patch(f"/api/v1/lines/{a_numbers[2]}", headers=h, json=body)
        assert resp.status == 400 and (await resp.json())["error_id"] == "audio-channels-invalid"
    resp = await client.patch("/api/v1/contract", headers=h, json={"audio_channels": "5.1"})
    assert resp.status == 400 and (await resp.json())["error_id"] == "audio-channels-invalid"
    resp = await client.patch("/api/v1/contract", headers=h, json={})
    assert resp.status == 400 and (await resp.json())["error_id"] == "contract-change-empty"
    # Another customer's line is not found, and stays as it was
    resp = await client.patch(f"/api/v1/lines/{b_numbers[0]}", headers=h, json={"audio_channels": "stereo"})
    assert resp.status == 404
    assert set(layouts(world, b_numbers)) == {"mono"}

    subject = f"contract:{world.a_id}"
    actor = f"customer_admin:{A_LOGIN}"
    assert audits(world) == [
        (actor, subject, {"before": "mono", "after": "stereo"}),
        (actor, subject, {"number": a_numbers[0], "before": None, "after": "mono"}),
        (actor, subject, {"number": a_numbers[1], "before": None, "after": "mono"}),
        (actor, subject, {"number": a_numbers[1], "before": "mono", "after": None}),
        (actor, subject, {"before": "stereo", "after": "mono"}),
    ]

    # B's administrator sees none of it in B's audit log
    other = await make_client()
    await form_login(other, B_LOGIN)
    entries = await (await other.get("/api/v1/audit")).json()
    assert not [e for e in entries if e["action"] == "audio-channels-set"]
