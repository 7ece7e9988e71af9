"""recording_engine = dialplan (calls/carry.py, dialplan/extensions.conf ``[callrec-carry]``): what only
a call the dialplan carries has to get right, on the real Asterisk 22 with real SIP parties. The rest of
the call flow runs on this engine beside the others: test_call_flow.py (notice, tone and talk; rolls),
test_faults.py (the app SIGKILLed mid-call), test_notice_failure.py, and the whole tier with
CALLREC_TEST_ENGINE=dialplan."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from callrec_ari.ami.client import AmiClient
from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.calls import carried_state, carry
from callrec_ari.pbx.local import AsteriskTarget
from callrec_ari.rules import causes
from tests.integration.conftest import CALLEE_TONE, CALLER_TONE, DeliveryEnv, assert_clean
from tests.integration.test_call_flow import (
    ANALYSED_LINES,
    BEEP_S,
    DEFAULT_TALK_FROM_S,
    NOTICE_S,
    OUTSIDE,
    StartApp,
    assert_notice_then_both_parties,
    fetch_recording,
    run_parties,
    uac,
    uas,
)
from tests.integration.test_faults import AppProcess, app_process, manifest_of
from tests.integration.test_mixmonitor_engine import ami_settings

__all__ = ["app_process"]  # the fixture, used by name

pytestmark = pytest.mark.asterisk


async def test_callee_hanging_up_during_the_notice_takes_the_caller_down_at_once(
    start_app: StartApp, ari: AriClient, tones, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    """Each party hears its notice on its own leg until the caller's leg connects them: a callee that
    hangs up meanwhile must not leave the caller listening to the rest of its notice."""
    app = await start_app(lines=ANALYSED_LINES, recording_engine="dialplan")
    rc = await run_parties(
        uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=0, hangup=False),
        uas(tmp_path, tone=tones["callee"], talk_ms=1_000, hangup=True),
    )
    assert rc == (0, 0)
    outcome = await app.outcome()
    # By Asterisk's own clock: the caller's leg went before its notice could have played to its end.
    assert outcome.times.answered is not None and outcome.times.ended is not None
    stayed = (outcome.times.ended - outcome.times.answered).total_seconds()
    assert stayed < NOTICE_S, f"the caller stayed {stayed:.1f}s: it heard the notice to its end"
    assert outcome.answered and outcome.hangup_by == "callee"
    assert outcome.times.talk_started is None  # the talk never began
    assert [n.outcome for n in outcome.notices][:1] == ["cut"]
    assert [e["ami"]["By"] for e in app.events("UserEvent")] == ["callee"]
    await assert_clean(ari, outcome.recordings)


@pytest.mark.parametrize("lost", [("ended",), ("talking", "ended")], ids=["end-lost", "both-lost"])
async def test_a_call_whose_events_are_lost_is_handed_over_from_its_leg_being_gone(
    start_app: StartApp, ari: AriClient, asterisk: AsteriskTarget, tones, tmp_path,  # type: ignore[no-untyped-def]
    monkeypatch, caplog, lost: tuple[str, ...],
) -> None:
    """The app learns of a carried call's end from the dialplan's ``ended`` user event. Lost (an event
    lost on the way; or every event, to a manager user that may not read user events), the call must
    not stay followed for ever with its recording never delivered: the app's look at Asterisk's
    channels finds the leg gone twice in a row and hands the call over from what was recorded
    (calls/carried.py ``watch``), its answer read off the file when ``talking`` was lost too."""
    monkeypatch.setattr(carried_state, "WATCH_S", 1.0)
    # Asterisk's recording folder as the app sees it (a node's own Asterisk: docs/deploy.md), where
    # a call's end and first start are read off its files
    app = await start_app(lines=ANALYSED_LINES, recording_engine="dialplan",
                          asterisk_recording_dir=str(asterisk.recording_dir or ""))
    carried = app.app.carried
    assert carried is not None
    heard = carried.on_ami_event

    dropped: list[str] = []

    def lossy(message: dict[str, str]) -> None:
        if message.get("State") in lost:
            dropped.append(message["State"])
        else:
            heard(message)

    monkeypatch.setattr(carried, "on_ami_event", lossy)
    talk_ms = 8_000
    rc = await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=talk_ms),
                           uas(tmp_path, tone=tones["callee"]))
    assert rc == (0, 0)
    outcome = await app.outcome(timeout=30)
    assert dropped == list(lost)  # Asterisk sent them, and they never reached the app
    assert outcome.answered and outcome.hangup_by == "app"  # unheard: nobody said who hung up
    assert outcome.times.answered is not None and outcome.times.ended is not None
    assert "ended without the dialplan's end event" in caplog.text
    await assert_clean(ari, outcome.recordings)
    audio = await fetch_recording(ari, outcome.recordings[0])
    # The end is the recording's last write (the call's length), not when the look found it gone.
    lasted = (outcome.times.ended - outcome.times.answered).total_seconds()
    assert abs(lasted - audio.duration) < 0.5, (lasted, audio.duration)
    assert_notice_then_both_parties(audio, talk_s=talk_ms / 1000 - NOTICE_S - BEEP_S)


async def test_asterisks_call_limit_is_read_from_it(ari: AriClient) -> None:
    """The room for one more carried call is counted against the node's own maxcalls (asterisk.conf),
    read over ARI, unless the dialplan lets in so few calls that their threads always fit: a limit not
    read would leave Dial's G() to meet it (calls/carry.py ``pbx_room``)."""
    limits = carried_state.AsteriskLimits(ari)
    assert await limits.room(threads=0) is None
    assert limits.read is not None
    max_calls, max_load, let_in = limits.read
    # the shipped configuration: no maxload, and maxcalls twice the calls the dialplan lets in
    assert max_calls > 0 and max_load == 0.0 and max_calls == 2 * let_in
    assert await limits.room(threads=10 * max_calls) is None  # nothing to count: the node keeps within it
    # A dialplan that lets every call in (CALLREC_MAX_CALLS empty, as an operator's own may): the app
    # counts the threads its calls hold, and Asterisk's own count, against 90 % of maxcalls.
    await ari.set_global(carried_state.LET_IN, "")
    ami = AmiClient(ami_settings())
    try:
        limits = carried_state.AsteriskLimits(ari)
        assert await limits.room(threads=0) is None and limits.read == (max_calls, 0.0, 0)
        share = int(max_calls * carry.PBX_SHARE)  # the threads the app's calls may hold, a new one's two
        assert await limits.room(threads=share - 2) is None
        assert await limits.room(threads=share - 1) == "pbx-limit"
        # Asterisk's own count of its calls (the manager's CoreStatus) stands above the app's when it
        # is higher: calls the app cannot see (connected while it was down, or not its own) count too.
        seen = carried_state.AsteriskLimits(ari, ami)
        assert await seen.room(threads=0) is None
        assert seen.current == 0  # nothing up on the tests' Asterisk between tests
        seen.current = share - 2  # as if that many calls were up beside the app's
        assert await seen.room(threads=0) is None
        assert await seen.room(threads=0, pending=1) == "pbx-limit"  # and one carried call may add one
        seen.current = share - 1
        assert await seen.room(threads=0) == "pbx-limit"
        seen.current_at -= carried_state.CURRENT_S  # time to read again: Asterisk says what it has
        assert await seen.room(threads=0) is None and seen.current == 0
    finally:
        await ari.set_global(carried_state.LET_IN, str(let_in))
        await ami.close()


async def test_the_dialplan_lets_in_no_more_calls_than_its_limit(
    start_app: StartApp, ari: AriClient, tones, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    """Calls past CALLREC_MAX_CALLS are refused by the dialplan (503) before Asterisk's own maxcalls,
    which is twice it: the PBX threads that Dial's G() starts for carried calls are never refused
    (Asterisk 22 crashes when they are; dialplan/asterisk.conf)."""
    info = (await ari.asterisk_info()).get("config") or {}
    limit = await ari.get_global("CALLREC_MAX_CALLS")
    assert int(limit) > 0 and int(info["max_channels"]) == 2 * int(limit)  # the shipped configuration
    app = await start_app(recording_engine="dialplan")
    await ari.set_global("CALLREC_MAX_CALLS", "0")  # as if the node were full
    try:
        assert await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=0, expect=503),
                                 None) == (0, None)
    finally:
        await ari.set_global("CALLREC_MAX_CALLS", limit)
    assert app.events("StasisStart") == []  # refused before the app heard of it
    # The limit back, the next call goes through and is carried.
    rc = await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=4_000),
                           uas(tmp_path, tone=tones["callee"]))
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert outcome.answered and outcome.recordings
    await assert_clean(ari, outcome.recordings)


async def test_the_app_hears_the_dialplan_say_it_can_carry_its_calls(ari: AriClient) -> None:
    """Before the dialplan is given a call, the app has heard ``[callrec-carry-check]`` over its manager
    user: a dialplan without callrec's contexts would drop the calls, a manager user that may not read
    user events would leave them unheard (calls/carried_state.py ``CarryCheck``)."""
    check = carried_state.CarryCheck(ari)
    ami = AmiClient(ami_settings(), on_event=check.heard)
    listening = asyncio.create_task(ami.listen())
    try:
        await ami.action("Ping")
        assert await check.look() is None  # the shipped dialplan, the shipped manager user
        # No check context (an extensions.conf without callrec's): nothing is heard.
        elsewhere = carried_state.CarryCheck(ari, context="callrec-carry-nowhere")
        ami.on_event = elsewhere.heard
        assert await elsewhere.look() == "dialplan-unheard"
        # A dialplan that lacks a place a carried call goes through: the check names it.
        await ami.action("DialplanExtensionAdd", Context="callrec-carry-check-test", Extension="_X.",
                         Priority="1", Application="UserEvent",
                         ApplicationData="CallrecCarried,Call: ${EXTEN},State: check,"
                                         "Found: 1${DIALPLAN_EXISTS(callrec-carry-gone,s,1)}111")
        lacking = carried_state.CarryCheck(ari, context="callrec-carry-check-test")
        ami.on_event = lacking.heard
        assert await lacking.look() == "no-dialplan"
        # A manager user that does not pass the events on: nothing is heard either.
        ami.on_event = None
        assert await check.look() == "dialplan-unheard"
        # ARI refusing the look says nothing of the dialplan: one that carried calls goes on (looked at
        # again soon); one never heard of carries nothing.
        refused = AriClient(AriSettings(ari.settings.url, ari.settings.username, "not-the-password"))
        try:
            carrying = carried_state.CarryCheck(refused)
            carrying.why = None
            assert await carrying.look() is None and carrying.unsure
            assert await carried_state.CarryCheck(refused).look() == "dialplan-unknown"
        finally:
            await refused.close()
    finally:
        await ami.action("DialplanExtensionRemove", Context="callrec-carry-check-test", Extension="_X.")
        listening.cancel()
        await ami.close()


async def test_a_busy_callee_gives_the_caller_the_apps_cause(
    start_app: StartApp, ari: AriClient, tones, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    app = await start_app(dial_timeout=3, recording_engine="dialplan")
    rc = await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=0, expect=486),
                           uas(tmp_path, answer="486"))
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert not outcome.answered and outcome.end_cause == causes.USER_BUSY and outcome.recordings == ()
    ended = app.events("UserEvent")[-1]["ami"]
    assert (ended["State"], ended["DialStatus"], ended["Marks"]) == ("ended", "BUSY", "")
    await assert_clean(ari)


async def test_a_call_that_ends_while_the_app_is_dead_is_handed_over_whole_once(
    asterisk: AsteriskTarget, ari: AriClient, delivery_env: DeliveryEnv, app_process: list[AppProcess],
    tones, tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """The dialplan carries the call without the app: killed before the parties talk, the app misses
    the whole call, and the next run finds it in its journal and hands over what was recorded, its
    first recording's start read off its file (calls/carried.py ``finalized``)."""
    app = AppProcess(tmp_path, asterisk, delivery_env, recording_engine="dialplan")
    app_process.append(app)
    await app.start().ready()
    parties = asyncio.create_task(run_parties(
        uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=14_000), uas(tmp_path, tone=tones["callee"])))
    await asyncio.sleep(1.5)  # answered, the notice playing: the app has not heard "talking"
    app.signal(signal.SIGKILL)
    await app.wait(10)
    assert await parties == (0, 0)  # the call went on to its end with no app at all
    await app.start().ready()
    zips = await delivery_env.wait_for_zips(1)
    await asyncio.sleep(1.5)
    assert len(delivery_env.zips()) == 1, "delivered more than once"
    manifest, audio = manifest_of(zips[0])
    assert 12.5 < audio.duration < 15.5, audio.duration  # as long as test_faults.py's killed call
    talk = slice(int(DEFAULT_TALK_FROM_S / 0.05), int((audio.duration - 0.5) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        assert audio.present(freq)[talk].mean() > 0.97, freq
    call_id = str(manifest["call_id"])
    assert any("finalized after a restart: the dialplan carried it" in e.get("msg", "")
               for e in app.events(call_id))
    await assert_clean(ari)
    assert not list((Path(delivery_env.settings.spool_dir) / "active").glob("*.json"))


async def test_both_lines_omitting_the_notice_are_recorded_with_none(
    start_app: StartApp, ari: AriClient, tones, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    """R2.3: a line whose contract omits the notice plays none of its own; when both parties' lines
    omit it, the call is recorded with no notice at all, the parties connected from the answer (the
    callee's leg has nothing to play, and must not be hung up for it)."""
    from dataclasses import replace

    from callrec_ari.config import DEMO_LINES
    from tests.integration.test_rules_in_calls import register
    from tests.support.sipp import Sipp, uas_scenario

    omitting = tuple(replace(line, omit_notice=True) for line in DEMO_LINES)
    app = await start_app(lines=omitting, recording_engine="dialplan")
    await register(tmp_path, "1002", 5090, 6020)
    rc = await run_parties(
        uac(tmp_path, "09000001002", tone=tones["caller"], talk_ms=5_000),
        Sipp(uas_scenario(tone=tones["callee"]), tmp_path, 5090, 6020, target="", name="line1002"),
    )
    assert rc == (0, 0)
    outcome = await app.outcome()
    assert outcome.plan.record and not outcome.plan.plays_notice
    assert [e["type"] for e in app.events()] == ["StasisStart", "StasisEnd", "UserEvent", "UserEvent"]
    assert outcome.notices == () and app.heard() == {}
    assert outcome.times.talk_started == outcome.times.answered is not None
    assert outcome.hangup_by == "caller" and outcome.recordings
    await assert_clean(ari, outcome.recordings)
