"""Lines read from the contracts database on every call: a change applies to the next call, with no
restart (R3.1, R4.1, R5.4); each call leaves a call record with its billing start (R2.4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from callrec_ari.ari.client import AriClient
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.contracts.service import create_contract, enroll_line
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.portal.auth.models import CUSTOMER_ADMIN
from callrec_ari.portal.lines.actions import set_recording
from callrec_ari.portal.tenancy import Scope
from callrec_ari.rules.enrollment import LineRequest
from tests.integration.conftest import assert_clean
from tests.integration.test_call_flow import OUTSIDE, StartApp, run_parties, uac, uas

pytestmark = pytest.mark.asterisk


async def test_portal_changes_apply_to_the_next_call(
    start_app: StartApp, ari: AriClient, tones, tmp_path: Path, fresh_db_url: str
):
    url = fresh_db_url
    upgrade(url)
    db = make_sessionmaker(make_engine(url))
    with db.begin() as session:
        contract = create_contract(session, "Example Trading K.K.")
        contract_id = contract.id
        enroll_line(session, contract.id, LineRequest("09000001001", "1001", "Example Trading K.K."),
                    recording_started=False, consent=True)

    app = await start_app(lines_from="database", db=db)

    # GIVEN the line's recording function is stopped THEN the call connects, unrecorded.
    assert await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=2_000),
                             uas(tmp_path, tone=tones["callee"])) == (0, 0)
    first = await app.outcome()
    assert not first.plan.record and first.plan.reason == "line-not-started"

    # WHEN the customer starts it (the portal's audited action) THEN the very next call is recorded.
    with db.begin() as session:
        admin = Scope(0, "admin@example.test", CUSTOMER_ADMIN, contract_id)
        set_recording(session, admin, ["09000001001"], True)
    assert await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=6_000),
                             uas(tmp_path, tone=tones["callee"])) == (0, 0)
    second = await app.outcome()
    assert second.plan.record and second.recordings
    await assert_clean(ari, second.recordings)

    with db() as session:
        rows = {r.call_id: r for r in session.scalars(select(CallRecord))}
    assert set(rows) == {first.plan.call_id, second.plan.call_id}
    plain, recorded = rows[first.plan.call_id], rows[second.plan.call_id]
    assert not plain.recorded and plain.reason == "line-not-started"
    assert plain.billing_started_at == plain.answered_at  # no notice: billing starts at answer
    assert recorded.recorded and recorded.notice_started_at is not None
    assert recorded.billing_started_at == recorded.notice_started_at  # R2.4
    assert recorded.billable_seconds >= 4
