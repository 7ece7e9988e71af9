"""Real calls through the real Asterisk 22 and the app (docs/architecture.md, the call flow steps 1-7).

GIVEN two SIPp parties each sending its own tone, THEN the bridge recording starts with the notice
and the tone, neither party is heard before the tone has ended, and both are after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.config import DEMO_LINES, LineConfig
from callrec_ari.observability.metrics import REGISTRY
from callrec_ari.pbx.local import PROJECT_ROOT
from callrec_ari.rules import causes
from tests.integration.conftest import CALLEE_TONE, CALLER_TONE, RunningApp, assert_clean
from tests.support.audio import Audio
from tests.support.sipp import Sipp, register_scenario, uac_scenario, uas_scenario

pytestmark = pytest.mark.asterisk

BEEP_HZ = 700  # Asterisk's sound:beep
# The default notice is the Japanese one (a Japanese service speaks Japanese first). The tests that
# find the parties' tones in the recording play the English one: its speech never reads as a tone to
# tests/support/audio.py's detector, while the Japanese one's does for a window or two.
DEFAULT_NOTICE = LineConfig("", "").notice
ANALYSED_NOTICE = "callrec/notice-en"
ANALYSED_LINES = tuple(replace(line, notice=ANALYSED_NOTICE) for line in DEMO_LINES)
SOUNDS = PROJECT_ROOT / "callrec_ari" / "sounds"
NOTICE_S = Audio.from_wav_bytes((SOUNDS / "notice-en.wav").read_bytes()).duration
BEEP_S = 0.44
TALK_FROM_S = NOTICE_S + BEEP_S + 0.3  # into the call, both parties are surely heard from here
# The same for calls that play the default notice.
DEFAULT_NOTICE_S = Audio.from_wav_bytes(
    (SOUNDS / f"{DEFAULT_NOTICE.rsplit('/', 1)[-1]}.wav").read_bytes()).duration
DEFAULT_TALK_FROM_S = DEFAULT_NOTICE_S + BEEP_S + 0.3
OUTSIDE = "0312345678"

StartApp = Callable[..., Awaitable[RunningApp]]


def uas(tmp_path: Path, port: int = 5080, media: int = 6010, **kw: object) -> Sipp:
    return Sipp(uas_scenario(**kw), tmp_path, port, media, target="", name=f"uas{port}")  # type: ignore[arg-type]


def uac(tmp_path: Path, service: str, *, user: str = "1001", port: int = 5070, media: int = 6000,
        **kw: object) -> Sipp:
    return Sipp(uac_scenario(**kw), tmp_path, port, media, service=service, user=user,  # type: ignore[arg-type]
                password=f"callrec{user}", name=f"uac{port}")


async def run_parties(caller: Sipp, callee: Sipp | None) -> tuple[int, int | None]:
    if callee is not None:
        callee.start()
        await asyncio.sleep(0.3)
    caller.start()
    try:
        rc_caller = await caller.wait()
        rc_callee = await callee.wait(15) if callee is not None else None
    finally:
        caller.stop()
        if callee is not None:
            callee.stop()
    return rc_caller, rc_callee


def party_heard(audio: Audio, freq: float) -> np.ndarray:
    """The windows where a party's tone (a pure sine from SIPp) is heard: its frequency present and a
    good share of the window's power (at least a fifth; a party's tone alone is all of it, both tones
    mixed half each). The notice's own speech has single windows with some energy at any frequency
    (0.05 of full scale at 1,200 Hz, 8 % of that window's power, in the English notice played on the
    caller's leg): that is no party talking."""
    level = audio.tone_level(freq)
    share = level**2 / 2 / np.maximum(audio.rms() ** 2, 1e-12)
    return np.asarray(audio.present(freq) & (share > 0.2))


def assert_notice_then_both_parties(audio: Audio, talk_s: float) -> None:
    beep = audio.present(BEEP_HZ)
    caller = party_heard(audio, CALLER_TONE)
    callee = party_heard(audio, CALLEE_TONE)
    speech = audio.rms() > 0.02
    # The notice is at the start: speech in its first second, before any party's tone.
    assert speech[: int(1.0 / 0.05)].mean() > 0.5, "no notice at the start of the recording"
    beep_idx = np.flatnonzero(beep[: int((NOTICE_S + BEEP_S + 2.0) / 0.05)])
    assert beep_idx.size >= 4, "the tone (sound:beep) is not in the recording after the notice"
    beep_end = Audio.time_of(int(beep_idx[-1]) + 1)
    assert NOTICE_S - 0.2 < beep_end < NOTICE_S + BEEP_S + 1.0, f"tone ends at {beep_end:.2f}s"
    for name, present in (("caller", caller), ("callee", callee)):
        first = np.flatnonzero(present)
        assert first.size, f"the {name}'s tone is never in the recording"
        first_s = Audio.time_of(int(first[0]))
        # One window of slack for the unmute racing the window edge.
        assert first_s >= beep_end - 0.05, (
            f"{name} heard at {first_s:.2f}s, before the tone ended at {beep_end:.2f}s"
        )
        after = present[int((beep_end + 0.5) / 0.05): int((beep_end + talk_s - 1.5) / 0.05)]
        assert after.size > 20 and after.mean() > 0.9, f"{name} missing after the tone ({after.mean():.2f})"


async def fetch_recording(ari: AriClient, name: str) -> Audio:
    data = await ari.stored_recording_file(name)
    return Audio.from_wav_bytes(data)


# media/recorder.py; "dialplan": the dialplan carries the call (calls/carry.py)
ENGINES = pytest.mark.parametrize("engine", ["snoop", "bridge", "mixmonitor", "dialplan"])


@ENGINES
async def test_outgoing_call_notice_tone_then_talk(start_app: StartApp, ari: AriClient, tones, tmp_path,
                                                   engine: str):
    app = await start_app(lines=ANALYSED_LINES, recording_engine=engine)
    latencies = REGISTRY.get_sample_value("callrec_notice_latency_seconds_count") or 0.0
    rc = await run_parties(
        uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=10_000),
        uas(tmp_path, tone=tones["callee"]),
    )
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert outcome.answered and outcome.plan.record and not outcome.recording_failed
    # the answer-to-notice latency is measured on every engine (`make bench` reads it off /metrics)
    assert REGISTRY.get_sample_value("callrec_notice_latency_seconds_count") == latencies + 1
    assert outcome.hangup_by == "caller"
    assert outcome.times.notice_started is not None
    assert outcome.recordings
    await assert_clean(ari, outcome.recordings)
    audio = await fetch_recording(ari, outcome.recordings[0])
    assert 9.0 < audio.duration < 12.0
    assert_notice_then_both_parties(audio, talk_s=10.0 - NOTICE_S - BEEP_S)
    if engine == "dialplan":
        # Carried by the dialplan once planned (calls/carry.py): the app saw the call enter and leave
        # its application, and the dialplan's two user events (talking, ended).
        assert [e["type"] for e in app.events()] == ["StasisStart", "StasisEnd", "UserEvent", "UserEvent"]
        assert [e["ami"]["State"] for e in app.events("UserEvent")] == ["talking", "ended"]
        assert outcome.times.talk_started is not None and outcome.times.notice_started is not None
        notice_s = (outcome.times.talk_started - outcome.times.notice_started).total_seconds()
        assert NOTICE_S < notice_s < NOTICE_S + BEEP_S + 0.3
        assert [n.sound for n in outcome.notices] == [f"sound:{ANALYSED_NOTICE}", "sound:beep"]
        assert all(n.outcome == "played" and n.to == "both" for n in outcome.notices)


async def test_incoming_call_to_a_line(start_app: StartApp, ari: AriClient, tones, tmp_path):
    app = await start_app(lines=ANALYSED_LINES)
    reg = Sipp(register_scenario(), tmp_path, 5090, 6020, user="1002", password="callrec1002",
               name="reg").start()
    assert await reg.wait() == 0, reg.diagnostics()
    line = Sipp(uas_scenario(tone=tones["callee"]), tmp_path, 5090, 6020, target="", name="line")
    network = Sipp(uac_scenario(tone=tones["caller"], talk_ms=9_000, auth=False), tmp_path, 5080, 6010,
                   service="09000001002", user=OUTSIDE, name="network")
    rc = await run_parties(network, line)
    assert rc == (0, 0), network.diagnostics() + line.diagnostics()
    outcome = await app.outcome()
    assert outcome.plan.direction == "incoming" and outcome.plan.line == "1002"
    assert outcome.answered and outcome.recordings
    await assert_clean(ari, outcome.recordings)
    audio = await fetch_recording(ari, outcome.recordings[0])
    assert_notice_then_both_parties(audio, talk_s=9.0 - NOTICE_S - BEEP_S)


async def test_callee_hangs_up_after_talking(start_app: StartApp, ari: AriClient, tones, tmp_path):
    app = await start_app(lines=ANALYSED_LINES)
    rc = await run_parties(
        uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=0, hangup=False),
        uas(tmp_path, tone=tones["callee"], talk_ms=7_000, hangup=True),
    )
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert outcome.hangup_by == "callee" and outcome.answered
    await assert_clean(ari, outcome.recordings)


@pytest.mark.parametrize(
    ("answer", "expect", "cause"),
    [("486", 486, causes.USER_BUSY), ("none", 480, causes.NO_ANSWER)],
    ids=["busy", "no-answer"],
)
async def test_unanswered_calls_end_with_a_matching_cause(
    start_app: StartApp, ari: AriClient, tones, tmp_path, answer, expect, cause
):
    app = await start_app(dial_timeout=3)
    rc = await run_parties(
        uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=0, expect=expect),
        uas(tmp_path, answer=answer),
    )
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert not outcome.answered and outcome.end_cause == cause
    assert outcome.recordings == ()
    await assert_clean(ari)


async def test_unreachable_line(start_app: StartApp, ari: AriClient, tones, tmp_path):
    """Line 1004 has no registered contact: the caller hears 480, nothing is left behind."""
    app = await start_app(lines=ANALYSED_LINES)
    rc = await run_parties(uac(tmp_path, "09000001004", tone=tones["caller"], talk_ms=0, expect=480), None)
    assert rc[0] == 0
    outcome = await app.outcome()
    assert not outcome.answered and outcome.end_cause == causes.SUBSCRIBER_ABSENT
    await assert_clean(ari)


async def test_caller_hangs_up_during_the_notice(start_app: StartApp, ari: AriClient, tones, tmp_path):
    app = await start_app(lines=ANALYSED_LINES)
    rc = await run_parties(
        uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=1_500),
        uas(tmp_path, tone=tones["callee"]),
    )
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert outcome.answered and outcome.times.talk_started is None and outcome.hangup_by == "caller"
    await assert_clean(ari, outcome.recordings)


async def test_caller_cancels_while_ringing(start_app: StartApp, ari: AriClient, tones, tmp_path):
    app = await start_app(lines=ANALYSED_LINES)
    rc = await run_parties(
        uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=0, cancel_after_ms=1_500),
        uas(tmp_path, answer="none"),
    )
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert not outcome.answered and outcome.hangup_by == "caller"
    await assert_clean(ari)
