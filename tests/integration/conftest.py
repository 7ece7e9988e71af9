"""The integration tier: a real Asterisk 22, the real app, real SIP parties (SIPp).

Asterisk comes from scripts/asterisk-root.sh (a Debian sid root, built once and cached) or from
CALLREC_ARI_URL when one is already running. Every test starts from a clean Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from callrec_ari.app import CallrecApp
from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.ari.errors import AriError
from callrec_ari.config import Config, load_config
from callrec_ari.model.call import FinishedCall
from callrec_ari.pbx.local import AsteriskTarget, LocalAsterisk, external_target
from tests.support.network import LOOPBACK
from tests.support.sipp import tone_file

LOCAL: list[LocalAsterisk] = []  # the Asterisk this session started, for the fault tests
CALLER_TONE = 1200
CALLEE_TONE = 1800


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.asterisk)
    # The event-loop test times the app's callbacks by the wall clock: it runs last, once the soak's
    # smoke that `make test` starts beside this tier (its own Asterisk, PostgreSQL and disk traffic,
    # about 4 minutes) is over; beside it, a call's task was descheduled for 120-136 ms.
    items.sort(key=lambda item: item.fspath.basename == "test_event_loop.py")


@pytest.fixture(scope="session")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsteriskTarget]:
    target = external_target()
    if target is not None:
        yield target
        return
    # One local Asterisk (and its fixed SIP/ARI/RTP ports) per machine: concurrent test runs queue.
    lock = open("/tmp/callrec-asterisk.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        yield from _local_asterisk(tmp_path_factory)
    finally:
        lock.close()


def _local_asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsteriskTarget]:
    if os.geteuid() != 0:
        pytest.fail("the local Asterisk needs root (debootstrap, chroot); or set CALLREC_ARI_URL")
    if not shutil.which("sipp"):
        pytest.fail("sipp is not installed: run `make deps` (apt: sip-tester)")
    log = tmp_path_factory.mktemp("asterisk") / "asterisk.log"
    local = LocalAsterisk(log)
    LOCAL.append(local)
    try:
        target = asyncio.run(local.start(timeout=90))
    except Exception:
        local.stop()
        raise
    try:
        yield target
    finally:
        local.stop()


@pytest.fixture(scope="session")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tones")
    return {"caller": tone_file(d, CALLER_TONE), "callee": tone_file(d, CALLEE_TONE)}


@pytest.fixture
async def ari(asterisk: AsteriskTarget) -> AsyncIterator[AriClient]:
    client = AriClient(AriSettings(asterisk.ari_url, asterisk.username, asterisk.password))
    await reset_asterisk(client)
    try:
        yield client
    finally:
        await client.close()


async def reset_asterisk(client: AriClient) -> None:
    """No test depends on another's leftovers: hang up every channel, destroy every bridge."""
    for channel in await client.list_channels():
        with contextlib.suppress(AriError):
            await client.hangup(channel.id)
    for bridge in await client.list_bridges():
        with contextlib.suppress(AriError):
            await client.destroy_bridge(str(bridge["id"]))
    for _ in range(50):
        if not await client.list_channels():
            return
        await asyncio.sleep(0.1)


async def asterisk_leftovers(client: AriClient, recordings: tuple[str, ...] = ()) -> dict[str, Any]:
    """What of ours is still in Asterisk: channels, bridges and live recordings (should be none)."""
    live = []
    for name in recordings:
        with contextlib.suppress(AriError):
            live.append((await client.live_recording(name))["name"])
    return {
        "channels": [c.name for c in await client.list_channels()],
        "bridges": [b["id"] for b in await client.list_bridges()],
        "live_recordings": live,
    }


async def assert_clean(client: AriClient, recordings: tuple[str, ...] = (), wait: float = 5.0) -> None:
    left: dict[str, Any] = {}
    for _ in range(int(wait / 0.1)):
        left = await asterisk_leftovers(client, recordings)
        if not any(left.values()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"Asterisk is not clean after the call: {left}")


class RunningApp:
    def __init__(self, app: CallrecApp) -> None:
        self.app = app
        self.outcomes: asyncio.Queue[FinishedCall] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        """The app goes away (as if killed between calls): Asterisk keeps running without it."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def events(self, *types: str) -> list[dict[str, Any]]:
        """The raw ARI events Asterisk sent the app so far (from its transcript), optionally by type."""
        with open(self.app.config.ari_transcript) as fh:
            events = [json.loads(line) for line in fh if line.strip()]
        return [e for e in events if not types or e.get("type") in types]

    def heard(self) -> dict[str, list[str]]:
        """Where each sound of the notice started, in order: ``channel:<id>`` or ``bridge:<id>`` ->
        its media. From ARI's PlaybackStarted events; for a call the dialplan carried (calls/carry.py)
        from its user events, which say what each leg played (the same sounds on both legs; each mark
        after the answer is the end of one sound and the start of the next)."""
        out: dict[str, list[str]] = {}
        for e in self.events("PlaybackStarted"):
            out.setdefault(e["playback"]["target_uri"], []).append(e["playback"]["media_uri"])
        if out:
            return out
        for e in self.events("UserEvent"):
            said = e["ami"]
            sounds = [f"sound:{s}" for s in said.get("Sounds", "").split("&") if s]
            started = sounds[: len([m for m in said.get("Marks", "").split("/") if m])]
            if started:
                out = {f"channel:{said['Channel']}": started, "channel:callee": started}
        return out

    async def outcome(self, timeout: float = 60.0) -> FinishedCall:
        return await asyncio.wait_for(self.outcomes.get(), timeout)


@pytest.fixture
async def start_app(
    asterisk: AsteriskTarget, ari: AriClient, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[RunningApp]]]:
    tasks: list[asyncio.Task[None]] = []

    async def start(**overrides: Any) -> RunningApp:
        """The app with config ``overrides``; ``db``, ``submitter``, ``spool_dir`` go to CallrecApp."""
        app_kwargs = {k: overrides.pop(k) for k in ("db", "submitter", "spool_dir", "stream_settings",
                                                     "allow_destinations") if k in overrides}
        app_kwargs.setdefault("allow_destinations", LOOPBACK)  # the tests' customers are on loopback
        app_kwargs.setdefault("spool_dir", tmp_path / f"spool-{len(tasks)}")
        overrides.setdefault("http_port", 0)
        # The whole tier runs on any recording engine: CALLREC_TEST_ENGINE=snoop|bridge (the default:
        # MixMonitor, what "auto" records with where a manager user is set up, config.py engine_choice).
        overrides.setdefault("recording_engine", os.environ.get("CALLREC_TEST_ENGINE", "mixmonitor"))
        overrides.setdefault("ari_transcript", str(tmp_path / f"ari-events-{len(tasks)}.jsonl"))
        config: Config = load_config(
            env={}, ari_url=asterisk.ari_url, ari_username=asterisk.username,
            ari_password=asterisk.password, **overrides,
        )
        holder: list[RunningApp] = []

        async def finished(outcome: FinishedCall) -> None:
            holder[0].outcomes.put_nowait(outcome)

        app = CallrecApp(config, on_finished=finished, **app_kwargs)
        running = RunningApp(app)
        holder.append(running)
        tasks.append(asyncio.create_task(app.run()))
        running.task = tasks[-1]
        await asyncio.wait_for(app.ready.wait(), 15)
        return running

    yield start
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def local_asterisk(asterisk: AsteriskTarget) -> LocalAsterisk:
    """The project's own Asterisk, for tests that stop and start it (not one given by the environment)."""
    if not LOCAL:
        pytest.skip("Asterisk is external (CALLREC_ARI_URL): the restart test needs the local one")
    return LOCAL[0]


class DeliveryEnv:
    """The reference receiver and a delivery worker, in this process, on loopback."""

    def __init__(self, tmp_path: Path, database: str) -> None:
        from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.received = tmp_path / "received"
        self.secret = "integration-secret"
        self.settings = DeliverySettings(
            database_url=database,
            spool_dir=str(tmp_path / "spool"),
            poll_interval=0.2, retry_interval=1.0, backoff_initial=0.1, backoff_max=0.5,
            connection=ConnectionSettings(type="http", url=f"http://127.0.0.1:{self.port}/recordings",
                                          secret=self.secret),
            allow_destinations=LOOPBACK,
        )
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> DeliveryEnv:
        from callrec_ari.db.migrate import upgrade
        from callrec_ari.delivery.service import make_worker
        from callrec_ari.receiver.app import serve

        await asyncio.to_thread(upgrade, self.settings.database_url)
        self.tasks.append(asyncio.create_task(serve(self.received, self.secret, "127.0.0.1", self.port,
                                                    self.stop)))
        self.tasks.append(asyncio.create_task(make_worker(self.settings).run(self.stop)))
        return self

    def zips(self) -> list[Path]:
        return sorted(self.received.glob("*.zip"))

    async def wait_for_zips(self, count: int, timeout: float = 30.0) -> list[Path]:
        for _ in range(int(timeout / 0.1)):
            if len(self.zips()) >= count:
                return self.zips()
            await asyncio.sleep(0.1)
        raise AssertionError(f"{len(self.zips())} ZIPs arrived, expected {count}")

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def delivery_env(tmp_path: Path, fresh_db_url: str) -> AsyncIterator[DeliveryEnv]:
    env = await DeliveryEnv(tmp_path, fresh_db_url).start()
    try:
        yield env
    finally:
        await env.close()
