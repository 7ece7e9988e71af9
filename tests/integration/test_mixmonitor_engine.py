"""The ``mixmonitor`` engine's own parts against Asterisk 22's manager (dialplan/manager.conf): the AMI
client (callrec_ari/ami/client.py) and what the recorder makes of the manager's answers
(callrec_ari/media/mixmonitor.py). Real calls on this engine: test_call_flow.py (notice, tone and
talk; rolls) and test_faults.py (the app SIGKILLed mid-call) run it beside the others."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from callrec_ari.ami.client import AmiClient, AmiError, AmiSettings, AmiUnavailable
from callrec_ari.ari.client import AriClient
from callrec_ari.ari.events import AriEvent
from callrec_ari.media.mixmonitor import MixMonitorRecorder, wav_closed
from callrec_ari.model.media import CallLegs
from callrec_ari.pbx.local import AsteriskTarget
from tests.integration.conftest import assert_clean
from tests.integration.test_call_flow import (
    ANALYSED_LINES,
    BEEP_S,
    NOTICE_S,
    OUTSIDE,
    StartApp,
    assert_notice_then_both_parties,
    fetch_recording,
    run_parties,
    uac,
    uas,
)


def ami_settings(**changes: object) -> AmiSettings:
    host, _, port = os.environ.get("CALLREC_AMI_ADDRESS", "127.0.0.1:5038").rpartition(":")
    settings = {"host": host, "port": int(port), "username": "callrec", "secret": "callrec", "timeout": 3.0,
                **changes}
    return AmiSettings(**settings)  # type: ignore[arg-type]


async def test_the_manager_answers_our_actions_and_refuses_what_it_cannot_do(
    asterisk: AsteriskTarget,
) -> None:
    ami = AmiClient(ami_settings())
    try:
        pong = await ami.action("Ping")
        assert pong["Response"] == "Success"
        # many actions in flight on one connection, each answer matched to its action by its ActionID
        await asyncio.gather(*(ami.action("Setvar", Variable=f"CALLREC_AMI_T{i}", Value=str(i * 7))
                               for i in range(20)))
        answers = await asyncio.gather(*(ami.action("Getvar", Variable=f"CALLREC_AMI_T{i}")
                                         for i in range(20)))
        assert [a["Value"] for a in answers] == [str(i * 7) for i in range(20)]
        with pytest.raises(AmiError, match="No such channel"):
            await ami.action("MixMonitor", Channel="no-such-channel", File="../recording/x.wav")
        with pytest.raises(AmiError, match="No such channel"):
            await ami.action("StopMixMonitor", Channel="no-such-channel", MixMonitorID="0x1")
        # the user may start and stop recordings, nothing else (write = system,call)
        with pytest.raises(AmiError, match=r"[Pp]ermission"):
            await ami.action("Originate", Channel="Local/1@default", Application="Wait", Data="1")
    finally:
        await ami.close()


async def test_a_wrong_secret_and_a_manager_not_there_are_clear_errors(asterisk: AsteriskTarget) -> None:
    wrong = AmiClient(ami_settings(secret="not-the-secret"))
    with pytest.raises(AmiUnavailable, match="Authentication failed"):
        await wrong.action("Ping")
    await wrong.close()
    absent = AmiClient(ami_settings(port=1))  # nothing listens there
    with pytest.raises(AmiUnavailable, match="connect"):
        await absent.action("Ping")
    await absent.close()


async def test_a_recorder_that_cannot_start_fails_the_media_and_says_nothing(
    asterisk: AsteriskTarget, tmp_path: Path
) -> None:
    from callrec_ari.model.media import MediaFailed

    told: list[AriEvent] = []
    ami = AmiClient(ami_settings())
    recorder = MixMonitorRecorder(ami, CallLegs("no-such-leg", "x-callee", "x"), "wav", told.append, tmp_path)
    try:
        with pytest.raises(MediaFailed, match="No such channel") as failed:
            await recorder.start("callrec/x/x-001", at=None)  # type: ignore[arg-type]
        # the leg is gone: the call is ending (a roll that raced the hangup), no recording failed
        assert failed.value.gone
        assert told == []
        assert await recorder.is_live("callrec/x/x-001") is False
    finally:
        await ami.close()


def test_a_wav_file_counts_as_closed_only_once_asterisk_wrote_its_sizes(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    assert wav_closed(path) is None
    header = bytearray(b"RIFF" + bytes(4) + b"WAVEfmt " + bytes(28))  # sizes 0: as Asterisk opens it
    path.write_bytes(bytes(header) + bytes(3200))
    assert wav_closed(path) is False
    size = len(header) + 3200
    header[4:8] = (size - 8).to_bytes(4, "little")  # as Asterisk closes it (formats/format_wav.c)
    path.write_bytes(bytes(header) + bytes(3200))
    assert wav_closed(path) is True


async def test_readiness_says_whether_the_manager_answers_on_this_engine_only(
    asterisk: AsteriskTarget,
) -> None:
    from callrec_ari.app import CallrecApp
    from callrec_ari.config import Config

    s = ami_settings()
    address = f"{s.host}:{s.port}"
    for password, ok in (("callrec", True), ("not-the-secret", False)):
        app = CallrecApp(Config(recording_engine="mixmonitor", ami_address=address, ami_password=password))
        try:
            up, detail = await app._checks()["ami"]()
            assert up is ok, detail
            assert ok or "Authentication failed" in detail
        finally:
            await app.ari.close()
            assert app.ami is not None
            await app.ami.close()
    snoop = CallrecApp(Config(recording_engine="snoop"))
    assert "ami" not in snoop._checks() and snoop.ami is None  # no manager connection on the others
    await snoop.ari.close()


@pytest.mark.parametrize("manager", ["refuses the login", "is not listening"])
async def test_a_manager_away_costs_no_recording(start_app: StartApp, ari: AriClient, tones, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture, manager: str) -> None:
    """The manager interface refuses our secret, or nothing listens there: the calls are still recorded,
    each segment MixMonitor could not start by a snoop channel (media/fallback.py), notice, tone and
    both parties in the file; the operator's log says so once, as an alert."""
    away = ({"ami_password": "not-the-secret"} if manager == "refuses the login"
            else {"ami_address": "127.0.0.1:1"})
    app = await start_app(lines=ANALYSED_LINES, recording_engine="mixmonitor", **away)
    for call in (1, 2):  # the second while the manager is known to be away: straight to a snoop channel
        (tmp_path / f"c{call}").mkdir()
        rc = await run_parties(uac(tmp_path / f"c{call}", OUTSIDE, tone=tones["caller"], talk_ms=8_000),
                               uas(tmp_path / f"c{call}", tone=tones["callee"]))
        assert rc == (0, 0)
        outcome = await app.outcome()
        assert outcome.answered and outcome.recordings and not outcome.recording_failed, f"call {call}"
        await assert_clean(ari, outcome.recordings)
        audio = await fetch_recording(ari, outcome.recordings[0])
        assert_notice_then_both_parties(audio, talk_s=8.0 - NOTICE_S - BEEP_S)
    alerts = [r for r in caplog.records if getattr(r, "alert", None) == "mixmonitor-unavailable"]
    assert [r.levelname for r in alerts] == ["ERROR"]  # once per outage, not once per call
