"""The platform's notifier when the customer is down, slow or refusing: it answers quickly, logs the
loss with the call id, counts it, and never raises into the call flow (R1.4)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from callrec_ari.streaming.notify import REJECTED, UNREACHABLE, StreamNotifier
from tests.streaming.conftest import Rig, RtpSender, start_rig
from tests.support.network import dead_port


@pytest.fixture
async def hanging_url() -> AsyncIterator[str]:
    """An endpoint that accepts the connection and never answers: its handler waits for the end of
    the test, so a request to it ends only when the client gives up."""
    released = asyncio.Event()

    async def hang(_request: web.Request) -> web.Response:
        await released.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/streams", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/streams"
    released.set()
    await runner.cleanup()


async def test_receiver_down_fails_fast_logs_counts_and_never_raises(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    sender = RtpSender(rig.rtp)
    meta = rig.metadata("1700000000.77", sender)
    sender.close()
    caplog.set_level(logging.INFO, logger="callrec_ari.streaming")
    with dead_port() as port:  # held: nothing else can listen there meanwhile
        settings = rig.settings(control_url=f"http://127.0.0.1:{port}/streams")
        async with StreamNotifier(settings) as notifier:
            start = await notifier.start(meta)
            beat = await notifier.heartbeat(meta.call_id)
            end = await notifier.end(meta.call_id, "hangup")
    # Fast because each notification is one refused connection, not retried: three sent, three failed
    # (counted below), each answered by the refusal itself.
    assert not start and not beat and not end
    assert {start.error_id, beat.error_id, end.error_id} == {UNREACHABLE}
    c = notifier.counters
    assert (c.notifications_sent, c.notifications_failed, c.endpoint_unreachable) == (3, 3, 3)
    assert c.streams_unannounced == 1 and not notifier.endpoint_up(meta.call_id)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("1700000000.77" in m and UNREACHABLE in m for m in warnings)


async def test_a_silent_endpoint_is_given_up_at_the_timeout(rig: Rig, hanging_url: str) -> None:
    sender = RtpSender(rig.rtp)
    meta = rig.metadata("c-hang", sender)
    sender.close()
    # The endpoint never answers, so the notification can only end by the notifier's own timeout: that
    # it ends at all, unreachable and as a timeout, is the property (the guard only stops a hang).
    async with StreamNotifier(rig.settings(control_url=hanging_url, timeout_seconds=0.3)) as notifier:
        async with asyncio.timeout(30):
            result = await notifier.start(meta)
    assert (result.ok, result.error_id) == (False, UNREACHABLE)
    assert "Timeout" in result.detail
    assert notifier.counters.endpoint_unreachable == 1 and not notifier.endpoint_up("c-hang")


async def test_endpoint_lost_mid_call_is_one_warning_and_one_interrupted_stream(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rig, runner = await start_rig(tmp_path)
    sender = RtpSender(rig.rtp)
    meta = rig.metadata("c-mid", sender)
    sender.close()
    caplog.set_level(logging.WARNING, logger="callrec_ari.streaming")
    try:
        async with StreamNotifier(rig.settings()) as notifier:
            assert await notifier.start(meta) and notifier.endpoint_up("c-mid")
            await runner.cleanup()  # the customer's equipment dies mid-call
            await rig.streams.stop()
            beats = [await notifier.heartbeat("c-mid") for _ in range(3)]
    finally:
        await runner.cleanup()
    assert not any(beats) and notifier.counters.streams_interrupted == 1
    lost = [r for r in caplog.records if "c-mid" in r.getMessage() and "lost" in r.getMessage()]
    assert len(lost) == 1


async def test_a_refusal_is_rejected_with_the_customers_reason(rig: Rig) -> None:
    sender = RtpSender(rig.rtp)
    meta = rig.metadata("c-refused", sender)
    sender.close()
    async with StreamNotifier(rig.settings(secret="not-the-customers")) as notifier:
        result = await notifier.start(meta)
        run = asyncio.create_task(notifier.run_heartbeats("c-refused"))
        # The heartbeats go on being refused, and each refusal is counted (the start's and two more).
        # Waited for, not timed: on a busy machine a heartbeat 0.1 s apart can come 0.2 s late.
        async with asyncio.timeout(10):
            while notifier.counters.endpoint_rejected < 3:  # noqa: ASYNC110 - the notifier's own counter
                await asyncio.sleep(0.02)
        assert not run.done()  # a refusal does not end the heartbeats
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert (result.error_id, result.status, result.remote_error_id) == (REJECTED, 401, "signature-invalid")
    assert notifier.counters.endpoint_rejected >= 3
    assert not list(rig.directory.iterdir())
