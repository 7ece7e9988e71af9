"""Numbers as dialled in Japan, on real calls (issue 14; docs/rules.md): a # short code is connected
and recorded; a dial string outside the numbering plan is connected, unrecorded, never refused; an
outside party hears the notice even from a line whose contract omits it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.config import DEMO_LINES
from tests.integration.conftest import assert_clean
from tests.integration.test_call_flow import DEFAULT_NOTICE, StartApp, run_parties, uac, uas
from tests.integration.test_rules_in_calls import assert_both_heard

pytestmark = pytest.mark.asterisk


@pytest.mark.parametrize(("dialled", "recorded", "reason"), [
    ("#7119", True, "short-code"),
    ("184#9110", True, "short-code"),
    ("*31#", False, "number-unclassifiable"),
])
async def test_short_codes_and_numbers_outside_the_plan_are_connected(
    start_app: StartApp, ari: AriClient, tones, tmp_path,  # type: ignore[no-untyped-def]
    dialled: str, recorded: bool, reason: str,
):
    app = await start_app()
    assert await run_parties(uac(tmp_path, dialled, tone=tones["caller"], talk_ms=2_000),
                             uas(tmp_path, tone=tones["callee"])) == (0, 0)
    outcome = await app.outcome()
    assert outcome.answered and outcome.plan.record is recorded and outcome.plan.reason == reason
    assert bool(outcome.recordings) is recorded
    assert bool(app.heard()) is recorded
    await assert_clean(ari, outcome.recordings)


async def test_an_omitting_line_calling_outside_the_service_still_plays_its_notice(
    start_app: StartApp, ari: AriClient, tones, tmp_path  # type: ignore[no-untyped-def]
):
    lines = tuple(replace(line, omit_notice=True) if line.endpoint == "1001" else line for line in DEMO_LINES)
    app = await start_app(lines=lines)
    assert await run_parties(uac(tmp_path, "0312345678", tone=tones["caller"], talk_ms=7_000),
                             uas(tmp_path, tone=tones["callee"])) == (0, 0)
    outcome = await app.outcome()
    assert outcome.plan.record and outcome.plan.notice_reason == "notice-to-both"
    assert_both_heard(app.heard(), f"sound:{DEFAULT_NOTICE}", "sound:beep")
    assert outcome.recordings and outcome.times.notice_started is not None
    await assert_clean(ari, outcome.recordings)
