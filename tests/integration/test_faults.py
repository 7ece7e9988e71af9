"""Faults that happen in real life, with real calls in progress (issue: operations).

The app is killed (SIGKILL) or asked to stop (SIGTERM) mid-call, Asterisk is restarted under it,
the spool is nearly full. Each time: calls are connected, recordings arrive whole and once, and
Asterisk is left clean.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.pbx.local import AsteriskTarget, LocalAsterisk, wait_for_ari
from tests.integration.conftest import CALLEE_TONE, CALLER_TONE, DeliveryEnv, assert_clean
from tests.integration.test_call_flow import DEFAULT_TALK_FROM_S, OUTSIDE, StartApp, run_parties, uac, uas
from tests.support.audio import Audio
from tests.support.sipp import Sipp, uas_scenario

pytestmark = pytest.mark.asterisk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppProcess:
    """`callrec run` as operators run it: its own process, config file, JSON event log."""

    def __init__(self, tmp_path: Path, asterisk: AsteriskTarget, env: DeliveryEnv, **extra: object) -> None:
        self.port = free_port()
        self.log = tmp_path / "app.log"
        cfg = {
            "ari_url": asterisk.ari_url, "ari_username": asterisk.username,
            "ari_password": asterisk.password,
            "asterisk_recording_dir": str(asterisk.recording_dir or ""),
            "http_port": self.port, "log_format": "json",
            "demo": True,  # the test Asterisk's ARI user has the shipped password (dialplan/ari.conf)
            # every raw ARI event, both runs appended (tests/transcripts/flow-adoption-*.jsonl came from here)
            "ari_transcript": str(tmp_path / "ari-events.jsonl"), **extra,
        }
        lines = [f"{k} = {json.dumps(v)}" for k, v in cfg.items()]
        c = env.settings.connection
        lines += ["[delivery]", f"spool_dir = {json.dumps(env.settings.spool_dir)}",
                  "[delivery.connection]", f"url = {json.dumps(c.url)}", f"secret = {json.dumps(c.secret)}"]
        self.config = tmp_path / "callrec.toml"
        self.config.write_text("\n".join(lines) + "\n")
        self.env = dict(os.environ, CALLREC_DATABASE_URL=env.settings.database_url)
        self.env.pop("CALLREC_CONFIG", None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AppProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "callrec_ari", "run", "--config", str(self.config), "--no-migrate"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),
        )
        return self

    async def ready(self, timeout: float = 20.0) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(int(timeout / 0.1)):
                assert self.process is not None and self.process.poll() is None, self.log.read_text()
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/readyz") as resp:
                        body = await resp.json()
                        if body["checks"]["ari"]["ok"]:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("the app did not become ready:\n" + self.log.read_text()[-3000:])

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    async def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        return await asyncio.wait_for(asyncio.to_thread(self.process.wait), timeout)

    def events(self, call_id: str | None = None) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if call_id is None or entry.get("call_id") == call_id:
                    out.append(entry)
        return out

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def app_process(
    tmp_path: Path, asterisk: AsteriskTarget, delivery_env: DeliveryEnv
) -> Iterator[list[AppProcess]]:
    made: list[AppProcess] = []
    yield made
    for p in made:
        p.stop()


def manifest_of(zip_path: Path) -> tuple[dict[str, object], Audio]:
    import io
    import wave

    import numpy as np

    with zipfile.ZipFile(zip_path) as z:
        manifest = json.loads(z.read("manifest.json"))
        pcm = b""
        for seg in sorted(manifest["segments"], key=lambda s: s["order"]):
            with wave.open(io.BytesIO(z.read(seg["name"]))) as w:
                pcm += w.readframes(w.getnframes())
    return manifest, Audio(np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0, 8000)


@pytest.mark.parametrize("engine", ["snoop", "mixmonitor", "dialplan"])  # media/recorder.py, calls/carry.py
async def test_app_killed_mid_call_finishes_and_delivers_after_restart(
    asterisk: AsteriskTarget, ari: AriClient, delivery_env: DeliveryEnv, app_process: list[AppProcess],
    tones, tmp_path: Path, engine: str,
):
    app = AppProcess(tmp_path, asterisk, delivery_env, recording_engine=engine)
    app_process.append(app)
    await app.start().ready()
    caller = uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=14_000)
    parties = asyncio.create_task(run_parties(caller, uas(tmp_path, tone=tones["callee"])))
    await asyncio.sleep(7.0)  # answered, notice over, talking
    app.signal(signal.SIGKILL)
    await app.wait(10)
    await asyncio.sleep(1.0)  # the call goes on in Asterisk with nobody watching
    await app.start().ready()
    assert await parties == (0, 0)  # both parties stayed connected to the end
    zips = await delivery_env.wait_for_zips(1)
    await asyncio.sleep(1.5)
    assert len(delivery_env.zips()) == 1, "delivered more than once"
    manifest, audio = manifest_of(zips[0])
    assert 12.5 < audio.duration < 15.5, audio.duration
    talk = slice(int(DEFAULT_TALK_FROM_S / 0.05), int((audio.duration - 0.5) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        assert audio.present(freq)[talk].mean() > 0.97, freq  # no hole where the app was dead
    call_id = str(manifest["call_id"])
    assert any(e.get("msg", "").startswith(f"call={call_id} adopted") for e in app.events(call_id))
    await assert_clean(ari)
    assert not list((Path(delivery_env.settings.spool_dir) / "active").glob("*.json"))


async def test_sigterm_drains_new_calls_go_through_plainly(
    asterisk: AsteriskTarget, ari: AriClient, delivery_env: DeliveryEnv, app_process: list[AppProcess],
    tones, tmp_path: Path,
):
    app = AppProcess(tmp_path, asterisk, delivery_env, drain_timeout=30)
    app_process.append(app)
    await app.start().ready()
    # One other party answering both calls.
    callee = Sipp(uas_scenario(tone=tones["callee"]), tmp_path, 5080, 6010, target="", calls=2,
                  name="uas-both").start()
    await asyncio.sleep(0.3)
    first = uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=9_000).start()
    await asyncio.sleep(5.0)
    app.signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    # A second call while draining: not taken into the app, connected by the dialplan, unrecorded.
    second = uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=2_000, port=5072, media=6040).start()
    try:
        assert await second.wait() == 0, second.diagnostics()
        assert await first.wait() == 0, first.diagnostics()
        assert await callee.wait(15) == 0, callee.diagnostics()
    finally:
        for party in (first, second, callee):
            party.stop()
    assert await app.wait(30) == 0  # exits by itself once the call in progress is over
    handed_back = [e for e in app.events() if "handed back to the dialplan" in str(e.get("msg"))]
    assert len(handed_back) == 1
    zips = await delivery_env.wait_for_zips(1)
    await asyncio.sleep(1.0)
    assert len(delivery_env.zips()) == 1  # only the call taken before the drain was recorded
    _, audio = manifest_of(zips[0])
    assert 7.5 < audio.duration < 10.5
    await assert_clean(ari)


async def asterisk_killed_8_s_into_a_call(local_asterisk: LocalAsterisk, tones, tmp_path: Path) -> None:
    """A 20-second call, Asterisk SIGKILLed 8 s into it; the parties are gone with it."""
    caller = uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=20_000)
    callee = uas(tmp_path, tone=tones["callee"])
    parties = asyncio.create_task(run_parties(caller, callee))
    await asyncio.sleep(8.0)
    os.killpg(local_asterisk.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
    local_asterisk.process.wait()  # type: ignore[union-attr]
    local_asterisk.process = None
    caller.stop()
    callee.stop()
    await asyncio.gather(parties, return_exceptions=True)


async def test_asterisk_restarted_under_the_app(
    start_app: StartApp, local_asterisk: LocalAsterisk, asterisk: AsteriskTarget, ari: AriClient,
    delivery_env: DeliveryEnv, tones, tmp_path: Path,
):
    from callrec_ari.delivery import RecordingSubmitter

    app = await start_app(asterisk_recording_dir=str(asterisk.recording_dir or ""),
                          submitter=RecordingSubmitter(delivery_env.settings),
                          spool_dir=Path(delivery_env.settings.spool_dir))
    await asterisk_killed_8_s_into_a_call(local_asterisk, tones, tmp_path)
    await local_asterisk.start(timeout=60)
    await wait_for_ari(asterisk)
    # The app reconnects by itself and learns the call is gone; what was recorded is kept.
    outcome = await app.outcome(timeout=40)
    assert app.app.stream is not None and app.app.stream.reconnects >= 1
    assert outcome.segments, "the recording of the first 8 seconds was lost"
    zips = await delivery_env.wait_for_zips(1)
    _, audio = manifest_of(zips[0])
    assert 5.0 < audio.duration < 9.5, audio.duration
    await assert_clean(ari)


async def test_asterisk_gone_for_good_the_call_ends_and_its_recording_is_delivered(
    start_app: StartApp, local_asterisk: LocalAsterisk, asterisk: AsteriskTarget, ari: AriClient,
    delivery_env: DeliveryEnv, tones, tmp_path: Path,
):
    """Asterisk crashes and does not come back (the soak saw one abort on heap corruption): the app
    does not wait for it to finish the calls it had. Once Asterisk has refused connections for
    `asterisk_gone_seconds`, each call ends when Asterisk went and what was recorded is delivered."""
    from callrec_ari.delivery import RecordingSubmitter

    app = await start_app(asterisk_recording_dir=str(asterisk.recording_dir or ""), asterisk_gone_seconds=3,
                          submitter=RecordingSubmitter(delivery_env.settings),
                          spool_dir=Path(delivery_env.settings.spool_dir))
    try:
        await asterisk_killed_8_s_into_a_call(local_asterisk, tones, tmp_path)
        # Asterisk stays down: the app ends the call by itself.
        outcome = await app.outcome(timeout=40)
        assert outcome.segments, "the recording of the first 8 seconds was lost"
        assert outcome.hangup_by == "app" and outcome.times.ended is not None
        assert outcome.times.answered is not None
        # It ended when Asterisk went, not when the app gave up on it (3 s later): no downtime billed.
        assert (outcome.times.ended - outcome.times.answered).total_seconds() < 9.5
        zips = await delivery_env.wait_for_zips(1)
        _, audio = manifest_of(zips[0])
        assert 5.0 < audio.duration < 9.5, audio.duration
        assert list((Path(delivery_env.settings.spool_dir) / "active").glob("*.json")) == []
    finally:
        if local_asterisk.process is None:  # the next tests need it
            await local_asterisk.start(timeout=60)
            await wait_for_ari(asterisk)
    await assert_clean(ari)


async def test_spool_nearly_full_calls_connect_unrecorded_and_alert(
    start_app: StartApp, ari: AriClient, tones, tmp_path: Path
):
    port = free_port()
    app = await start_app(spool_min_free_mb=1 << 40, http_port=port)  # no disk has that much free
    assert await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=2_000),
                             uas(tmp_path, tone=tones["callee"])) == (0, 0)
    outcome = await app.outcome()
    assert outcome.answered and not outcome.plan.record and outcome.plan.reason == "spool-low"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 503
            assert not (await resp.json())["checks"]["spool"]["ok"]
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            metrics = await resp.text()
    assert "callrec_spool_low 1.0" in metrics
    await assert_clean(ari)


async def test_database_down_calls_still_connect_unrecorded(
    start_app: StartApp, ari: AriClient, tones, tmp_path: Path
):
    """R3.4 (equipment fault): the lines cannot be read, so the app hands the call back to the
    dialplan, which connects it plainly; nothing is left in Asterisk."""
    from callrec_ari.db import make_engine, make_sessionmaker

    broken = make_sessionmaker(make_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}"))
    app = await start_app(lines_from="database", db=broken)
    assert await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=2_000),
                             uas(tmp_path, tone=tones["callee"])) == (0, 0)
    # No call entered the app's flow: no notice, no recording.
    assert app.events("PlaybackStarted", "RecordingStarted") == []
    assert app.outcomes.empty()
    await assert_clean(ari)


async def test_what_a_call_left_in_asterisk_is_swept_and_calls_in_progress_are_not_touched(
    start_app: StartApp, ari: AriClient, tones, tmp_path: Path
):
    """A call that gave up on a request an overloaded Asterisk answered too late left its bridge (and
    the other party's leg) up for good, in `make soak` (calls/reconcile.py OrphanSweeper). Here a
    bridge of ours that no call has is destroyed within two sweeps, while a call talking through
    many sweeps keeps its legs, its snoop channel and its recording."""
    app = await start_app(orphan_sweep_seconds=1.0)
    left = "20261202T000000-0123456789abcdef"  # a call id no call of this app has
    await ari.create_bridge(left, name=f"callrec {left}")
    rc = await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=8_000),
                           uas(tmp_path, tone=tones["callee"]))
    assert rc == (0, 0)  # the call went through to its end: nothing of it was hung up early
    outcome = await app.outcome()
    assert outcome.answered and outcome.plan.record and outcome.hangup_by == "caller"
    assert outcome.segments and outcome.times.ended is not None
    talked = (outcome.times.ended - outcome.times.answered).total_seconds()
    assert talked > 8  # talked to its end
    # Its recorder was never taken for an orphan: the recording lasts as long as the call.
    recorded = 0.0
    for segment in outcome.segments:
        recorded += Audio.from_wav_bytes(await ari.stored_recording_file(segment.name)).duration
    assert recorded > talked - 1.5, (recorded, talked)
    assert left not in {str(b["id"]) for b in await ari.list_bridges()}  # swept meanwhile
    await assert_clean(ari, outcome.recordings)
