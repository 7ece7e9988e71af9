"""Each party's leg recorded apart, through the real Asterisk 22 and the app (issue 15).

A contract that wants stereo gets its line's party on the left channel and the other party on the
right; when the parties hear different notices (R2.3), each notice is in the file as that party heard
it. Two SIPp parties each send their own tone, so every second of each channel says whose it is.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update

from callrec_ari.contracts.models import Contract, Line
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.model.call import FinishedCall
from callrec_ari.pbx.local import AsteriskTarget
from tests.integration.conftest import CALLEE_TONE, CALLER_TONE, DeliveryEnv, assert_clean
from tests.integration.delivery_rig import LINE, Platform, call, platform, wait_until  # noqa: F401
from tests.integration.test_call_flow import (
    ANALYSED_NOTICE,
    BEEP_HZ,
    BEEP_S,
    DEFAULT_NOTICE,
    DEFAULT_NOTICE_S,
    NOTICE_S,
    OUTSIDE,
    StartApp,
    run_parties,
    uac,
    uas,
)
from tests.integration.test_faults import AppProcess, app_process  # noqa: F401 (fixture)
from tests.integration.test_rules_in_calls import register
from tests.support.audio import Audio

pytestmark = pytest.mark.asterisk


def channels_of(zip_path: Path) -> tuple[dict[str, object], list[Audio]]:
    """The manifest and each channel of the segments played back to back."""
    with zipfile.ZipFile(zip_path) as z:
        manifest = json.loads(z.read("manifest.json"))
        parts = []
        for seg in sorted(manifest["segments"], key=lambda s: s["order"]):
            with wave.open(io.BytesIO(z.read(seg["name"]))) as w:
                pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
                parts.append(pcm.reshape(-1, w.getnchannels()))
    joined = np.concatenate(parts).astype(np.float64) / 32768.0
    return manifest, [Audio(np.ascontiguousarray(joined[:, c]), 8000) for c in range(joined.shape[1])]


def beep_end(audio: Audio, within_s: float) -> float:
    beep = np.flatnonzero(audio.present(BEEP_HZ)[: int(within_s / 0.05)])
    assert beep.size >= 4, "no tone (sound:beep) after the notice"
    return Audio.time_of(int(beep[-1]) + 1)


def assert_party(channel: Audio, mine: int, theirs: int, notice_s: float, talk_from: float,
                 name: str) -> None:
    """One party's channel: its notice (speech from the start, then the tone ending where that
    notice's tone ends), then that party's own tone only, from when both notices were over."""
    speech = channel.rms() > 0.02
    assert speech[: int(1.0 / 0.05)].mean() > 0.5, f"{name}: no notice at the start"
    end = beep_end(channel, notice_s + BEEP_S + 1.5)
    assert notice_s - 0.2 < end < notice_s + BEEP_S + 0.6, f"{name}: tone ends at {end:.2f}s"
    present, other = channel.present(mine), channel.present(theirs)
    # Nobody talks before the last notice is over (R2.6): one window of slack for the unmute. (The
    # Japanese notice's speech reads as a tone to the detector for a window or two, never for three
    # in a row; a party's tone is continuous.)
    before = present[: int((talk_from - 0.05) / 0.05)]
    runs = np.convolve(before.astype(int), np.ones(3, dtype=int), mode="valid")
    assert not (runs == 3).any(), f"{name}: its party heard before {talk_from:.2f}s"
    talk = slice(int((talk_from + 0.3) / 0.05), int((channel.duration - 0.5) / 0.05))
    assert present[talk].mean() > 0.97, f"{name}: its party missing after the tone ({present[talk].mean()})"
    assert other[talk].mean() < 0.02, f"{name}: the other party on this channel ({other[talk].mean()})"


# A notice per party: a snoop channel on each leg whatever the engine (media/__init__.py
# recorder_for); one notice for both: MixMonitor's D on the mixmonitor engine, snoop channels on snoop.
ENGINES = pytest.mark.parametrize("engine", ["snoop", "mixmonitor"])
# ... and a call the dialplan carries (calls/carry.py): MixMonitor's D as on the mixmonitor engine.
ONE_NOTICE_ENGINES = pytest.mark.parametrize("engine", ["snoop", "mixmonitor", "dialplan"])
MIXMONITOR_D = ("mixmonitor", "dialplan")


async def a_calls_b(platform: Platform, start_app: StartApp, ari, tones,  # type: ignore[no-untyped-def]  # noqa: F811
                    tmp_path: Path, talk_ms: int = 10_000, **config) -> tuple[FinishedCall, set[str]]:
    """A's line calls B's line (both customers up, each recording), through an app on ``config``,
    with rolls every 4 s and 3-second segments; once both copies are delivered and nothing of the
    call is left on the platform or in Asterisk (C gets nothing): the call, and the kinds of
    recording file Asterisk wrote for it (".wav", ".raw")."""
    a, b, c = (platform.customers[n] for n in "ABC")
    platform.start_worker()
    app = await start_app(lines_from="database", db=platform.db, recording_roll_seconds=4, **config,
                          submitter=RecordingSubmitter(platform.settings, platform.db, segment_seconds=3))
    await register(tmp_path, "1002", 5090, 6020)
    before = set(platform.recording_dir.rglob("*"))
    seen: set[Path] = set()

    async def watch() -> None:  # which files Asterisk writes while the call runs
        while True:
            seen.update(set(platform.recording_dir.rglob("*")) - before)
            await asyncio.sleep(0.2)

    watching = asyncio.create_task(watch())
    try:
        await call(start_app, tmp_path, tones, "A", LINE["B"][0], talk_ms=talk_ms, callee_line="1002")
    finally:
        watching.cancel()
    outcome = await app.outcome()
    assert len(outcome.segments) >= 3
    # (a receiver stores a ZIP before the worker hears back and removes it: wait for the removal too)
    await wait_until(lambda: len(a.zips()) == 1 and len(b.zips()) == 1)
    await wait_until(lambda: not platform.outbox(), timeout=90)
    await wait_until(lambda: not platform.wavs(outcome.plan.call_id), timeout=90)
    await assert_clean(ari)
    assert not c.zips()
    return outcome, {p.suffix for p in seen if p.name.startswith(outcome.plan.call_id) and p.suffix}


async def one_notice(platform: Platform) -> None:  # noqa: F811
    """A and B up, their lines announcing with the same notice (one notice for both parties)."""
    for customer in (platform.customers["A"], platform.customers["B"]):
        await customer.up()
    with platform.db.begin() as s:
        both = Line.number.in_([LINE["A"][0], LINE["B"][0]])
        s.execute(update(Line).where(both).values(notice=DEFAULT_NOTICE))


@ENGINES
async def test_stereo_copy_has_each_party_and_its_own_notice_on_its_channel_and_mono_copy_both(
    start_app: StartApp, ari, tones, tmp_path: Path, platform: Platform,  # type: ignore[no-untyped-def]  # noqa: F811
    engine: str,
):
    a, b = platform.customers["A"], platform.customers["B"]
    for customer in (a, b):
        await customer.up()
    # GIVEN A's contract wants stereo and B's mono; A's line announces in Japanese, B's in English
    with platform.db.begin() as s:
        s.execute(update(Contract).where(Contract.id == a.contract_id).values(audio_channels="stereo"))
        s.execute(update(Line).where(Line.number == LINE["A"][0]).values(notice=DEFAULT_NOTICE))

    # WHEN A's line calls B's line: both record, so each party hears the other line's notice (R2.3)
    outcome, _ = await a_calls_b(platform, start_app, ari, tones, tmp_path, talk_ms=12_000,
                                 recording_engine=engine)
    assert outcome.plan.per_leg and outcome.plan.notice_per_party

    # THEN A's copy is stereo: A (the caller) left with the English notice it heard, B right with
    # the Japanese one, each party's voice on its own channel only, across every segment roll
    manifest_a, (left, right) = channels_of(a.zips()[0])
    assert manifest_a["audio"] == {"layout": "stereo", "channels": ["caller", "callee"]}
    assert manifest_a["contract"] == str(a.contract_id)
    notices = [(n["to"], n["sound"]) for n in manifest_a["notices"]]  # type: ignore[attr-defined]
    assert ("caller", f"sound:{ANALYSED_NOTICE}") in notices
    assert ("callee", f"sound:{DEFAULT_NOTICE}") in notices
    talk_from = max(NOTICE_S, DEFAULT_NOTICE_S) + BEEP_S
    assert_party(left, CALLER_TONE, CALLEE_TONE, NOTICE_S, talk_from, "left (A, the caller)")
    assert_party(right, CALLEE_TONE, CALLER_TONE, DEFAULT_NOTICE_S, talk_from, "right (B, the callee)")

    # ... and B's copy is mono: both notices and both parties in one channel
    manifest_b, channels_b = channels_of(b.zips()[0])
    assert manifest_b["audio"] == {"layout": "mono", "channels": ["both"]}
    assert manifest_b["contract"] == str(b.contract_id) and len(channels_b) == 1
    (mono,) = channels_b
    assert abs(mono.duration - left.duration) < 0.01
    beeps = np.flatnonzero(mono.present(BEEP_HZ)[: int((talk_from + 1.5) / 0.05)])
    ends = {round(Audio.time_of(int(i) + 1) * 2) / 2 for i in beeps}
    # the tone after each notice: the English one's, then the Japanese one's
    assert any(abs(t - (NOTICE_S + BEEP_S)) < 0.6 for t in ends), ends
    assert any(abs(t - (DEFAULT_NOTICE_S + BEEP_S)) < 0.6 for t in ends), ends
    talk = slice(int((talk_from + 0.3) / 0.05), int((mono.duration - 0.5) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        assert mono.present(freq)[talk].mean() > 0.97, freq


@ONE_NOTICE_ENGINES
async def test_one_notice_for_both_stereo_copy_and_mono_copy_of_one_call(
    start_app: StartApp, ari, tones, tmp_path: Path, platform: Platform,  # type: ignore[no-untyped-def]  # noqa: F811
    asterisk: AsteriskTarget, engine: str,
):
    """Both lines announce with the same notice, so both parties hear one notice: on the mixmonitor
    engine one MixMonitor records both directions of the caller's leg (its D option, a raw file per
    recording), on snoop a snoop channel on each leg. A's copy is stereo, B's mono, C gets nothing."""
    a, b = platform.customers["A"], platform.customers["B"]
    await one_notice(platform)
    with platform.db.begin() as s:
        s.execute(update(Contract).where(Contract.id == a.contract_id).values(audio_channels="stereo"))
    outcome, kinds = await a_calls_b(platform, start_app, ari, tones, tmp_path, recording_engine=engine,
                                     asterisk_recording_dir=str(asterisk.recording_dir or ""))
    assert outcome.plan.per_leg and not outcome.plan.notice_per_party
    if asterisk.recording_dir:
        assert kinds == ({".raw"} if engine in MIXMONITOR_D else {".wav"}), kinds

    # A's copy: the notice on both channels, then each party on its own, across every roll
    manifest_a, (left, right) = channels_of(a.zips()[0])
    assert manifest_a["audio"] == {"layout": "stereo", "channels": ["caller", "callee"]}
    assert [(n["to"], n["sound"]) for n in manifest_a["notices"]] == [  # type: ignore[attr-defined]
        ("both", f"sound:{DEFAULT_NOTICE}"), ("both", "sound:beep")]
    talk_from = DEFAULT_NOTICE_S + BEEP_S
    assert_party(left, CALLER_TONE, CALLEE_TONE, DEFAULT_NOTICE_S, talk_from, "left (A, the caller)")
    assert_party(right, CALLEE_TONE, CALLER_TONE, DEFAULT_NOTICE_S, talk_from, "right (B, the callee)")
    # B's copy: mono, the notice once, both parties after it
    manifest_b, (mono,) = channels_of(b.zips()[0])
    assert manifest_b["audio"] == {"layout": "mono", "channels": ["both"]}
    assert abs(mono.duration - left.duration) < 0.01
    assert abs(beep_end(mono, talk_from + 1.5) - talk_from) < 0.6
    talk = slice(int((talk_from + 0.3) / 0.05), int((mono.duration - 0.5) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        assert mono.present(freq)[talk].mean() > 0.97, freq
        assert mono.present(freq)[: int((talk_from - 0.1) / 0.05)].mean() < 0.1, freq  # not before (R2.6)


async def test_every_call_recorded_apart_a_mono_copy_is_the_two_directions_mixed(
    start_app: StartApp, ari, tones, tmp_path: Path, platform: Platform,  # type: ignore[no-untyped-def]  # noqa: F811
    asterisk: AsteriskTarget,
):
    """``mixmonitor_directions = "all"``: a mono call too is recorded as both directions of the
    caller's leg (MixMonitor's D), and its copies mix them at packaging: the notice once, then both
    parties, across the rolls; each customer gets its own copy."""
    if not asterisk.recording_dir:
        pytest.skip("MixMonitor's D files are read in Asterisk's folder: this Asterisk's is not here")
    a, b = platform.customers["A"], platform.customers["B"]
    await one_notice(platform)  # a mono plan: no leg recorded apart for a copy or a notice
    outcome, kinds = await a_calls_b(platform, start_app, ari, tones, tmp_path,
                                     recording_engine="mixmonitor", mixmonitor_directions="all",
                                     asterisk_recording_dir=str(asterisk.recording_dir))
    assert not outcome.plan.per_leg and kinds == {".raw"}, kinds
    for customer in (a, b):
        manifest, (mono,) = channels_of(customer.zips()[0])
        assert manifest["audio"] == {"layout": "mono", "channels": ["both"]}
        talk_from = DEFAULT_NOTICE_S + BEEP_S
        assert abs(beep_end(mono, talk_from + 1.5) - talk_from) < 0.6  # the notice and tone, once
        talk = slice(int((talk_from + 0.3) / 0.05), int((mono.duration - 0.5) / 0.05))
        for freq in (CALLER_TONE, CALLEE_TONE):
            assert mono.present(freq)[talk].mean() > 0.97, freq
        assert 9.0 < mono.duration < 11.0, mono.duration  # the whole call (talk_ms from the answer)
        assert len(manifest["segments"]) >= 3  # type: ignore[arg-type]


@ONE_NOTICE_ENGINES
async def test_app_killed_mid_call_a_stereo_recording_arrives_whole(
    asterisk: AsteriskTarget, ari, delivery_env: DeliveryEnv,  # type: ignore[no-untyped-def]
    app_process: list[AppProcess], tones, tmp_path: Path, engine: str,  # noqa: F811
):
    app = AppProcess(tmp_path, asterisk, delivery_env, segment_seconds=5,
                     recording_roll_seconds=5, recording_engine=engine)
    # Single tenant: the lines of the configuration file, 1001 in stereo.
    app.config.write_text(app.config.read_text() + "".join(
        f'[[lines]]\nendpoint = "{n}"\nnumber = "0900000{n}"\nnotice = "{ANALYSED_NOTICE}"\n'
        + ('audio_channels = "stereo"\n' if n == 1001 else "") for n in (1001, 1002, 1003, 1004)))
    app_process.append(app)
    await app.start().ready()
    folder = Path(asterisk.recording_dir or "/nonexistent")
    before = set(folder.rglob("*.raw"))
    parties = asyncio.create_task(run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=15_000),
                                              uas(tmp_path, tone=tones["callee"])))
    await asyncio.sleep(8.0)  # answered, notice over, talking, a segment rolled
    # One notice for both: MixMonitor records both directions of the caller's leg in one raw file
    # (media/mixmonitor.py), the snoop engine a snoop channel on each leg.
    assert bool(set(folder.rglob("*.raw")) - before) == (engine in MIXMONITOR_D)
    app.signal(signal.SIGKILL)
    await app.wait(10)
    await asyncio.sleep(1.0)  # the call goes on in Asterisk with nobody watching
    await app.start().ready()
    assert await parties == (0, 0)
    zips = await delivery_env.wait_for_zips(1)
    await asyncio.sleep(1.5)
    assert len(delivery_env.zips()) == 1, "delivered more than once"
    manifest, (left, right) = channels_of(zips[0])
    assert manifest["audio"] == {"layout": "stereo", "channels": ["caller", "callee"]}
    assert len(manifest["segments"]) >= 3  # type: ignore[arg-type]
    assert 13.5 < left.duration < 16.5, left.duration
    # One notice for both (an outside callee): on both channels, then each party on its own, with
    # no hole where the app was dead.
    talk_from = NOTICE_S + BEEP_S
    assert_party(left, CALLER_TONE, CALLEE_TONE, NOTICE_S, talk_from, "left (the caller)")
    assert_party(right, CALLEE_TONE, CALLER_TONE, NOTICE_S, talk_from, "right (the callee)")
    call_id = str(manifest["call_id"])
    assert any(e.get("msg", "").startswith(f"call={call_id} adopted") for e in app.events(call_id))
    await assert_clean(ari)
    assert not [p for p in folder.rglob(f"{call_id}-*") if p.suffix in (".wav", ".raw")]
    # The notices a restarted app read from the call's journal are in the record, as they played.
    assert [(n["to"], n["sound"], n["outcome"]) for n in manifest["notices"]] == [  # type: ignore[attr-defined]
        ("both", f"sound:{ANALYSED_NOTICE}", "played"), ("both", "sound:beep", "played")]
