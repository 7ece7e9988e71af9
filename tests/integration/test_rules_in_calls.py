"""The recording rules in real calls (R2.1-R2.3, R3.4): who hears which notice, what is not recorded.

Which notice reaches which party is read from Asterisk's own playback events: each carries the
media and the target (a channel, or the bridge for a notice both parties hear).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.config import DEMO_LINES
from tests.integration.conftest import assert_clean
from tests.integration.test_call_flow import (
    DEFAULT_NOTICE,
    OUTSIDE,
    StartApp,
    fetch_recording,
    run_parties,
    uac,
    uas,
)
from tests.support.sipp import Sipp, register_scenario, uas_scenario

pytestmark = pytest.mark.asterisk

NOTICE_1001 = "callrec/notice-en"
NOTICE_1002 = "callrec/notice-ja"


def lines(**line_1002: object) -> tuple:
    """Demo lines with distinct notices for 1001 and 1002, 1002 changed by ``line_1002``."""
    out = []
    for line in DEMO_LINES:
        if line.endpoint == "1001":
            line = replace(line, notice=NOTICE_1001)
        if line.endpoint == "1002":
            line = replace(line, notice=NOTICE_1002, **line_1002)  # type: ignore[arg-type]
        out.append(line)
    return tuple(out)


def playbacks(events: list[dict]) -> list[tuple[str, str]]:
    """(target_uri, media_uri) of every notice playback that started."""
    return [(e["playback"]["target_uri"], e["playback"]["media_uri"]) for e in events
            if e["type"] == "PlaybackStarted"]


def assert_both_heard(heard: dict[str, list[str]], *sounds: str) -> None:
    """A notice both parties hear plays on each party's leg (model/plan.py notice_playbacks), nothing
    on the bridge: each leg hears ``sounds`` in order (``RunningApp.heard``)."""
    assert len(heard) == 2 and all(t.startswith("channel:") for t in heard), heard
    assert all(media == list(sounds) for media in heard.values()), heard


async def register(tmp_path: Path, user: str, port: int, media: int) -> None:
    reg = Sipp(register_scenario(), tmp_path, port, media, user=user, password=f"callrec{user}",
               name=f"reg{user}").start()
    assert await reg.wait() == 0, reg.diagnostics()


async def test_excluded_number_connects_plainly(start_app: StartApp, ari: AriClient, tones, tmp_path):
    """R3.4: 117 (starts with 1) is connected with no notice and no recording."""
    app = await start_app()
    rc = await run_parties(uac(tmp_path, "117", tone=tones["caller"], talk_ms=3_000),
                           uas(tmp_path, tone=tones["callee"]))
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert outcome.answered and not outcome.plan.record
    assert outcome.plan.reason == "excluded-1xx"
    assert outcome.recordings == () and outcome.times.notice_started is None
    assert app.events("PlaybackStarted", "RecordingStarted") == []
    stored = [r["name"] for r in await ari.stored_recordings()]
    assert not [n for n in stored if outcome.plan.call_id in n]
    await assert_clean(ari)


async def test_withheld_caller_id_still_hears_the_notice(
    start_app: StartApp, ari: AriClient, tones, tmp_path
):
    """R2.2: 184 + number is recorded and announced like any other call."""
    app = await start_app()
    rc = await run_parties(uac(tmp_path, "1840312345678", tone=tones["caller"], talk_ms=6_000),
                           uas(tmp_path, tone=tones["callee"]))
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert outcome.plan.record and outcome.plan.callee_number == "0312345678"
    assert outcome.plan.caller_withheld
    assert_both_heard(app.heard(), f"sound:{DEFAULT_NOTICE}", "sound:beep")
    await assert_clean(ari, outcome.recordings)


async def test_two_subscribers_each_hear_the_other_lines_notice(
    start_app: StartApp, ari: AriClient, tones, tmp_path
):
    """R2.3: each line's notice plays only to the other party."""
    app = await start_app(lines=lines(), recording_engine="snoop")
    await register(tmp_path, "1002", 5090, 6020)
    rc = await run_parties(
        uac(tmp_path, "09000001002", tone=tones["caller"], talk_ms=8_000),
        Sipp(uas_scenario(tone=tones["callee"]), tmp_path, 5090, 6020, target="", name="line1002"),
    )
    assert rc == (0, 0)
    outcome = await app.outcome()
    caller, callee = outcome.plan.line, f"{outcome.plan.call_id}-callee"
    started = playbacks(app.events())
    caller_channel = [e for e in app.events("StasisStart") if e["channel"]["name"].startswith("PJSIP/1001")]
    caller_id = caller_channel[0]["channel"]["id"]
    to_caller = [m for t, m in started if t == f"channel:{caller_id}"]
    to_callee = [m for t, m in started if t == f"channel:{callee}"]
    assert caller == "1001"
    assert to_caller[0] == f"sound:{NOTICE_1002}", started
    assert to_callee[0] == f"sound:{NOTICE_1001}", started
    assert not [t for t, _ in started if t.startswith("bridge:")], "nothing may play to both"
    await assert_clean(ari, outcome.recordings)
    # A notice per party: each leg is recorded apart (media/recorder.py PerLegRecorder); the caller's
    # file holds the notice the caller heard (speech from its start, before any tone). The delivered
    # file, with the callee's notice too, is tests/integration/test_leg_recording.py's.
    audio = await fetch_recording(ari, outcome.recordings[0])
    speech = audio.rms() > 0.02
    assert speech[: int(1.0 / 0.05)].mean() > 0.5, "the caller's notice is not in the recording"


async def test_other_party_omits_so_caller_hears_its_own_notice(
    start_app: StartApp, ari: AriClient, tones, tmp_path
):
    """R2.3 exception: 1002's contract omits the notice, so 1001's notice plays to both parties."""
    app = await start_app(lines=lines(omit_notice=True))
    await register(tmp_path, "1002", 5090, 6020)
    rc = await run_parties(
        uac(tmp_path, "09000001002", tone=tones["caller"], talk_ms=7_000),
        Sipp(uas_scenario(tone=tones["callee"]), tmp_path, 5090, 6020, target="", name="line1002"),
    )
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert_both_heard(app.heard(), f"sound:{NOTICE_1001}", "sound:beep")
    assert outcome.recordings
    await assert_clean(ari, outcome.recordings)


@pytest.mark.parametrize(
    ("header", "reason"),
    [("X-Callrec-Roaming: 1", "roaming"), ("X-Callrec-VoIP: 1", "voip-app"),
     ("X-Callrec-Extension: 1", "extension-call")],
    ids=["roaming", "voip", "extension"],
)
async def test_access_context_from_the_network_edge_headers(
    start_app: StartApp, ari: AriClient, tones, tmp_path, header: str, reason: str
):
    """R3.2, R3.4: the edge marks roaming / VoIP / extension calls with a SIP header (dialplan/
    pjsip.conf); the dialplan passes it on and such a call is connected plainly, unrecorded."""
    app = await start_app()
    rc = await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=2_000, headers=header),
                           uas(tmp_path, tone=tones["callee"]))
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert outcome.answered and not outcome.plan.record and outcome.plan.reason == reason
    assert app.events("PlaybackStarted", "RecordingStarted") == []
    await assert_clean(ari)


async def test_a_header_that_is_not_exactly_1_changes_nothing(
    start_app: StartApp, ari: AriClient, tones, tmp_path
):
    """Only "1" counts: the dialplan normalises the edge's headers so no value can inject arguments."""
    app = await start_app()
    rc = await run_parties(
        uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=5_000, headers="X-Callrec-Roaming: 1,x=1"),
        uas(tmp_path, tone=tones["callee"]),
    )
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert outcome.plan.record and outcome.plan.reason == "recorded"
    await assert_clean(ari, outcome.recordings)
