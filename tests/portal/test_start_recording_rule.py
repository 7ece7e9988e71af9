"""Starting a line's recording in the portal asks the call flow's own rule (rules.recording.line_refusal):
the portal refuses exactly what the rule would refuse on the next call, and what it accepts records."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from callrec_ari.contracts.models import Contract, Line
from callrec_ari.db.models import AuditRecord
from callrec_ari.rules.recording import LineState, RecordingReason, line_refusal
from tests.portal.conftest import A_LOGIN, A_NUMBERS, World, api_login

NUMBER = A_NUMBERS[1]  # contract A's line, enrolled stopped
# Every line state the operator and the customer can set, as (consent, contract suspended, line suspended).
STATES = list(itertools.product((True, False), repeat=3))


def _rule(consent: bool, contract_suspended: bool, line_suspended: bool) -> RecordingReason | None:
    """What the call flow decides for the line once it is started."""
    return line_refusal(LineState(True, consent, contract_suspended, line_suspended))


def _id(state: tuple[bool, bool, bool]) -> str:
    return str(_rule(*state) or "recorded") + "-" + "-".join("yn"[not flag] for flag in state)


def test_the_states_cover_every_reason_the_rule_gives_a_started_line() -> None:
    reasons = {_rule(*state) for state in STATES}
    assert reasons == {
        None,
        RecordingReason.CONTRACT_SUSPENDED,
        RecordingReason.LINE_SUSPENDED,
        RecordingReason.NO_CONSENT,
    }


@pytest.mark.parametrize("state", STATES, ids=[_id(s) for s in STATES])
async def test_the_portal_refuses_exactly_what_the_rule_refuses(
    world: World, make_client: Any, state: tuple[bool, bool, bool]
) -> None:
    consent, contract_suspended, line_suspended = state
    with world.session() as s:  # GIVEN the line's state as the customer and the operator left it
        line = s.scalars(select(Line).where(Line.number == NUMBER)).one()
        line.consent, line.suspended = consent, line_suspended
        line.suspended_reason = "privacy complaint 42" if line_suspended else None
        contract = s.get(Contract, world.a_id)
        assert contract is not None
        contract.suspended = contract_suspended
        contract.suspended_reason = "court order 7" if contract_suspended else None
        s.commit()
    expected = _rule(*state)

    client = await make_client()
    csrf = await api_login(client, A_LOGIN)
    resp = await client.post(  # WHEN the customer starts the line
        "/api/v1/lines/recording",
        json={"numbers": [NUMBER], "recording_started": True},
        headers={"X-CSRF-Token": csrf},
    )
    body = await resp.json()

    with world.session() as s:
        line = s.scalars(select(Line).where(Line.number == NUMBER)).one()
        started = line.recording_started
        audited = s.scalars(select(AuditRecord).where(AuditRecord.action == "recording-started")).all()
        after = LineState(line.recording_started, line.consent, line.contract.suspended, line.suspended)
    if expected is None:  # THEN it starts, audited, and the next call is recorded
        assert resp.status == 200, body
        assert started and [a.details["number"] for a in audited] == [NUMBER]
        assert line_refusal(after) is None
    else:  # THEN it is refused with the rule's reason, and nothing changed
        assert resp.status == 400, body
        assert body["error_id"] == (
            "consent-missing" if expected is RecordingReason.NO_CONSENT else "recording-refused"
        )
        assert body["message"].startswith(f"recording not started on any line: {NUMBER}: ")
        reason_text = {
            RecordingReason.CONTRACT_SUSPENDED: "suspended for this contract (R5.5): court order 7",
            RecordingReason.LINE_SUSPENDED: "suspended for this line (R5.5): privacy complaint 42",
            RecordingReason.NO_CONSENT: "consent first (R5.4)",
        }[expected]
        assert reason_text in body["message"]
        assert not started and not audited
