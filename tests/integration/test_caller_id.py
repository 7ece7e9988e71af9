"""The caller's number reaches the other party (issue 14, R2.2): shown by default, withheld for 184,
shown for 186 even from a line that withholds by default; toward the network the asserted identity
travels with ``Privacy: id`` when withheld, never toward a subscriber's phone. Read from the INVITE the
other party (SIPp) really received, on recorded and unrecorded calls alike."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace

import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.config import DEMO_LINES
from tests.integration.conftest import CALLEE_TONE, assert_clean
from tests.integration.test_call_flow import (
    DEFAULT_TALK_FROM_S,
    OUTSIDE,
    StartApp,
    fetch_recording,
    run_parties,
    uac,
)
from tests.integration.test_rules_in_calls import register
from tests.support.baresip import Baresip
from tests.support.baresip import usable as baresip_usable
from tests.support.sipp import Sipp, uas_scenario

pytestmark = pytest.mark.asterisk
CALLER = "09000001001"
LINE_1002 = "09000001002"

CASES = [
    # (dialled, line 1001 withholds by default, line 1001 records, shown in From, PAI, Privacy, recorded)
    pytest.param(LINE_1002, False, True, True, True, None, True, id="plain-to-a-line"),
    pytest.param("184" + LINE_1002, False, True, False, False, None, True, id="184-to-a-line"),
    pytest.param("186" + LINE_1002, True, True, True, True, None, True, id="186-from-a-withholding-line"),
    pytest.param(LINE_1002, True, True, False, False, None, True, id="withholding-line-to-a-line"),
    pytest.param(OUTSIDE, False, True, True, True, None, True, id="plain-to-the-network"),
    pytest.param("184" + OUTSIDE, False, True, False, True, "id", True, id="184-to-the-network"),
    pytest.param("117", False, True, True, True, None, False, id="excluded-number-unrecorded"),
    pytest.param(OUTSIDE, False, False, True, True, None, False, id="line-not-recording"),
]


@pytest.mark.parametrize(("dialled", "withholds", "records", "shown", "pai", "privacy", "recorded"), CASES)
async def test_the_callee_sees_what_the_call_presents(
    start_app: StartApp, ari: AriClient, tones, tmp_path,  # type: ignore[no-untyped-def]
    dialled: str, withholds: bool, records: bool, shown: bool, pai: bool, privacy: str | None, recorded: bool,
):
    lines = tuple(replace(line, withhold_caller_id=withholds, recording_started=records)
                  if line.endpoint == "1001" else line for line in DEMO_LINES)
    app = await start_app(lines=lines)
    if dialled.endswith(LINE_1002):
        await register(tmp_path, "1002", 5090, 6020)
        callee = Sipp(uas_scenario(tone=tones["callee"]), tmp_path, 5090, 6020, target="", name="line1002",
                      trace_messages=True)
    else:
        callee = Sipp(uas_scenario(tone=tones["callee"]), tmp_path, 5080, 6010, target="", name="network",
                      trace_messages=True)
    assert await run_parties(uac(tmp_path, dialled, tone=tones["caller"], talk_ms=1_000), callee) == (0, 0)
    outcome = await app.outcome()
    assert outcome.plan.record is recorded
    invite = callee.received_invite()
    if shown:
        assert f"sip:{CALLER}@" in invite["from"], invite
    else:
        assert "anonymous" in invite["from"].lower() and CALLER not in invite["from"], invite
    assert (f"sip:{CALLER}@" in invite.get("p-asserted-identity", "")) is pai, invite
    assert invite.get("privacy") == privacy, invite
    await assert_clean(ari, outcome.recordings)


PHONE_CASES = [
    pytest.param(LINE_1002, False, True, id="plain"),
    pytest.param("184" + LINE_1002, False, False, id="184"),
    pytest.param("186" + LINE_1002, True, True, id="186-from-a-withholding-line"),
]


@pytest.mark.skipif(not baresip_usable(), reason="needs baresip (make deps)")
@pytest.mark.parametrize(("dialled", "withholds", "shown"), PHONE_CASES)
async def test_a_real_softphone_sees_what_the_call_presents(
    start_app: StartApp, ari: AriClient, tones, tmp_path,  # type: ignore[no-untyped-def]
    dialled: str, withholds: bool, shown: bool,
):
    """Line 1002 is baresip, a real softphone: it answers, its microphone is a WAV tone."""
    lines = tuple(replace(line, withhold_caller_id=withholds) if line.endpoint == "1001" else line
                  for line in DEMO_LINES)
    app = await start_app(lines=lines)
    mic = tmp_path / "phone-mic.wav"
    sox = ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(mic), "synth", "60", "sine",
           str(CALLEE_TONE), "vol", "0.5"]
    await asyncio.to_thread(subprocess.run, sox, check=True)
    phone = Baresip(tmp_path, "1002", 5094, mic).start()
    try:
        await phone.registered()
        caller, _ = await run_parties(uac(tmp_path, dialled, tone=tones["caller"], talk_ms=8_000), None)
        assert caller == 0
        outcome = await app.outcome()
        invite = phone.received_invite()
    finally:
        phone.stop()
    if shown:
        assert f"sip:{CALLER}@" in invite["from"] and f"sip:{CALLER}@" in invite["p-asserted-identity"]
    else:
        assert "anonymous" in invite["from"].lower() and "p-asserted-identity" not in invite, invite
        assert CALLER not in str(invite)
    # a recorded call with real audio from the phone: the notice, then both parties
    assert outcome.plan.record and outcome.recordings
    audio = await fetch_recording(ari, outcome.recordings[0])
    talk = audio.present(CALLEE_TONE)[int(DEFAULT_TALK_FROM_S / 0.05):int((audio.duration - 0.5) / 0.05)]
    # (once, in a full run only, none of it was there: the phone's log says what it sent, next time)
    assert talk.mean() > 0.9, (f"the softphone's microphone is not in the recording ({talk.mean():.0%} of "
                               f"the talk, a file of {audio.duration:.2f} s); the phone's log ends:\n"
                               + phone.trace()[-4000:])
    await assert_clean(ari, outcome.recordings)
