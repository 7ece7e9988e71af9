"""Every recording reaches its own customer, and only its own customer (R1.5, R3.1; issue 13).

Real calls through the real Asterisk 22 and the app with lines from the contracts database; three
contracts, each with its own equipment: A and B the reference receiver on their own ports with their
own secrets (HTTP), C a real OpenSSH server (SFTP). The configured ``[delivery.connection]`` points
at a port where nothing listens: in a multi-tenant setup nothing may ever go there.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callrec_ari.contracts import service
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.db.models import AuditRecord
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.service import make_worker
from callrec_ari.receiver.verify import verify_zip
from tests.integration.conftest import CALLEE_TONE, CALLER_TONE, assert_clean
from tests.integration.delivery_rig import (
    LINE,
    Customer,
    Hanging,
    Platform,
    call,
    free_port,
    platform,
    wait_until,
)
from tests.integration.test_call_flow import (
    ANALYSED_NOTICE,
    OUTSIDE,
    TALK_FROM_S,
    StartApp,
)
from tests.integration.test_faults import manifest_of
from tests.integration.test_rules_in_calls import register
from tests.integration.test_stream_delivery import read_wav as read_stream
from tests.support.sshd import SSHD_USABLE

__all__ = ["platform"]  # the fixture, used by name

pytestmark = [pytest.mark.asterisk,
              pytest.mark.skipif(not SSHD_USABLE, reason="needs openssh-server and root")]


async def test_each_customer_gets_its_own_calls_and_a_call_between_two_reaches_both(
    start_app: StartApp, ari, tones, tmp_path: Path, platform: Platform  # type: ignore[no-untyped-def]
):
    a, b, c = (platform.customers[n] for n in "ABC")
    await a.up()  # B's equipment is down at first: A's copy of the A-B call must not wait for it
    platform.start_worker()
    app = await start_app(lines_from="database", db=platform.db,
                          submitter=RecordingSubmitter(platform.settings, platform.db))
    await register(tmp_path, "1002", 5090, 6020)

    # GIVEN a call of each customer's line to the outside world, and a call from A's line to B's
    await call(start_app, tmp_path, tones, "A", OUTSIDE)
    only_a = (await app.outcome()).plan.call_id
    await call(start_app, tmp_path, tones, "C", OUTSIDE)
    only_c = (await app.outcome()).plan.call_id
    await call(start_app, tmp_path, tones, "A", LINE["B"][0], talk_ms=9_000, callee_line="1002")
    both = await app.outcome()
    assert [r.contract for r in both.plan.recipients] == [str(a.contract_id), str(b.contract_id)]

    # THEN A's equipment gets A's two calls, C's SFTP server C's call ...
    await wait_until(lambda: len(a.zips()) == 2 and len(c.zips()) == 1)
    assert sorted(m["call_id"] for m in a.manifests()) == sorted([only_a, both.plan.call_id])
    assert [m["call_id"] for m in c.manifests()] == [only_c]
    # ... while B's copy of the A-B call waits, and so do the call's WAVs: they go with the last copy
    await wait_until(lambda: [j.state for j in platform.jobs(both.plan.call_id)] == ["delivered", "pending"]
                     and platform.jobs(both.plan.call_id)[0].files_removed_at is not None)
    assert platform.wavs(both.plan.call_id), "the WAVs went before B's copy was delivered"
    assert len(platform.outbox()) == 1

    # WHEN B's equipment comes up THEN its copy arrives there, and only then is the platform empty
    await b.up()
    # (the worker removes a copy's ZIP, then the WAVs, then records that it has: wait for that record)
    await wait_until(lambda: len(b.zips()) == 1 and not platform.outbox()
                     and all(j.files_removed_at is not None for j in platform.jobs(both.plan.call_id)))
    assert [m["call_id"] for m in b.manifests()] == [both.plan.call_id]
    assert not platform.wavs(both.plan.call_id) and not platform.wavs(only_a) and not platform.wavs(only_c)

    # Each copy: its own contract, its own line, the parties as they were, verified by its own receiver
    # (the reference receiver checks the HMAC with its own customer's secret; SFTP checks the files).
    for customer, line in ((a, LINE["A"][0]), (b, LINE["B"][0]), (c, LINE["C"][0])):
        for manifest in customer.manifests():
            assert manifest["contract"] == str(customer.contract_id)
            assert manifest["line"] == line
    for zip_path in c.zips():
        verify_zip(zip_path)
    copy_a = next(z for z in a.zips() if manifest_of(z)[0]["call_id"] == both.plan.call_id)
    (manifest_a, audio_a), (manifest_b, audio_b) = manifest_of(copy_a), manifest_of(b.zips()[0])
    assert (manifest_a["caller"], manifest_a["callee"]) == (manifest_b["caller"], manifest_b["callee"])
    assert manifest_a["idempotency_key"] != manifest_b["idempotency_key"]
    # the notice in the record: what both parties heard, when, and that it played
    for manifest in (manifest_a, manifest_b):
        heard = manifest["notices"]
        assert [(n["to"], n["sound"], n["outcome"]) for n in heard] == [  # type: ignore[union-attr]
            ("both", f"sound:{ANALYSED_NOTICE}", "played"), ("both", "sound:beep", "played")]
        assert all(n["started_at"] and n["ended_at"] for n in heard)  # type: ignore[union-attr]
    # both copies hold the whole call: the same audio, both parties' tones after the notice
    assert abs(audio_a.duration - audio_b.duration) < 0.01 and audio_a.duration > 6
    talk = slice(int(TALK_FROM_S / 0.05), int((audio_a.duration - 0.5) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        assert audio_a.present(freq)[talk].mean() > 0.9 and audio_b.present(freq)[talk].mean() > 0.9
    # nothing of one customer at another's: every ZIP is where its manifest says it belongs
    assert len(a.zips()) + len(b.zips()) + len(c.zips()) == 4
    await assert_clean(ari)


async def test_a_dead_customer_never_slows_another_and_edits_and_removals_apply_to_queued_copies(
    start_app: StartApp, ari, tones, tmp_path: Path, platform: Platform  # type: ignore[no-untyped-def]
):
    a, b = platform.customers["A"], platform.customers["B"]
    await a.up()
    await b.up()
    platform.start_worker()
    app = await start_app(lines_from="database", db=platform.db,
                          submitter=RecordingSubmitter(platform.settings, platform.db))

    # GIVEN A's equipment hanging: it takes the connection and the upload, and never answers
    await a.down()
    async with Hanging(a.port) as hang:
        await call(start_app, tmp_path, tones, "A", OUTSIDE, talk_ms=2_000)
        stuck = (await app.outcome()).plan.call_id
        await wait_until(lambda: hang.held == 1)
        # WHEN B's call ends THEN its copy arrives while A's upload is still held open, unanswered:
        # nothing of B waits behind A (no clock: the order of what happened is the proof)
        await call(start_app, tmp_path, tones, "B", OUTSIDE, talk_ms=2_000)
        second = await app.outcome()
        await wait_until(lambda: len(b.zips()) == 1)
        assert hang.held == 1 and hang.received > 0, "A's upload ended before B's copy arrived"
        assert [m["call_id"] for m in b.manifests()] == [second.plan.call_id]
        held = platform.jobs(stuck)
        assert [(j.state, j.lease_owner is not None) for j in held] == [("pending", True)] and not a.zips()
    # WHEN A's equipment drops the connection THEN A's copy stays queued for a retry
    await wait_until(lambda: platform.jobs(stuck)[0].state == "pending"
                     and platform.jobs(stuck)[0].last_error is not None)
    assert not a.zips()

    # WHEN A's customer moves its equipment (edits the connection) THEN the retries go to the new place
    moved = Customer("A2", secret="secret-of-customer-a-new", port=free_port(), inbox=tmp_path / "rx-a2")
    await moved.up()
    try:
        with platform.db.begin() as s:  # what the portal's edit does (contracts.service.edit_connection)
            service.edit_connection(s, a.connection_id, endpoint=f"http://127.0.0.1:{moved.port}/recordings",
                                    secret=moved.secret)
        await wait_until(lambda: len(moved.zips()) == 1)
        assert [m["call_id"] for m in moved.manifests()] == [stuck] and not a.zips()
    finally:
        await moved.down()

    # WHEN B removes its connection while a copy is queued THEN the copy is never sent anywhere else:
    # it waits, failing with connection-removed, and is purged with an audit record at its deadline.
    await b.down()
    await call(start_app, tmp_path, tones, "B", OUTSIDE, talk_ms=2_000)
    orphan = (await app.outcome()).plan.call_id
    await wait_until(lambda: bool(platform.jobs(orphan)))
    with platform.db.begin() as s:
        service.remove_connection(s, b.connection_id)
    await wait_until(lambda: "connection-removed" in (platform.jobs(orphan)[0].last_error or ""))
    await platform.stop_worker()
    late = datetime.now(UTC) + timedelta(days=8)
    await make_worker(platform.settings, platform.db, clock=lambda: late).run_once()
    assert [j.state for j in platform.jobs(orphan)] == ["purged"]
    with platform.db() as s:
        audits = s.scalars(select(AuditRecord).where(AuditRecord.subject == orphan,
                                                     AuditRecord.action == "recording-purged")).all()
    assert len(audits) == 1 and not platform.outbox() and not platform.wavs(orphan)
    await b.up()
    await asyncio.sleep(0.5)
    assert [m["call_id"] for m in b.manifests()] == [second.plan.call_id]
    await assert_clean(ari)


async def test_a_call_between_a_file_and_a_stream_customer_reaches_each_its_own_way(
    start_app: StartApp, ari, tones, tmp_path: Path, platform: Platform  # type: ignore[no-untyped-def]
):
    a, b = platform.customers["A"], platform.customers["B"]
    b.rtp_port = free_port(socket.SOCK_DGRAM)
    with platform.db.begin() as s:  # B takes its calls as a stream (R1.4), A as files (R1.1)
        service.enroll_connection(s, b.contract_id, "stream", b.stream_endpoint(), b.secret)
    await a.up()
    await b.up()
    platform.start_worker()
    app = await start_app(lines_from="database", db=platform.db,
                          submitter=RecordingSubmitter(platform.settings, platform.db))
    await register(tmp_path, "1002", 5090, 6020)

    # GIVEN a call from A's line to B's: A records to file, B streams
    await call(start_app, tmp_path, tones, "A", LINE["B"][0], talk_ms=7_000, callee_line="1002")
    mixed = await app.outcome()
    assert [(r.contract, r.delivery) for r in mixed.plan.recipients] == [
        (str(a.contract_id), "file"), (str(b.contract_id), "stream")]
    # THEN A gets its ZIP, B its stream, and neither the other's
    await wait_until(lambda: len(a.zips()) == 1 and mixed.plan.call_id in b.streams())
    assert [m["call_id"] for m in a.manifests()] == [mixed.plan.call_id] and not b.zips()
    assert not (a.inbox / "streams").exists() or not a.streams()
    assert b.streams()[mixed.plan.call_id]["metadata"]["line"] == LINE["B"][0]  # type: ignore[index]
    heard = b.streams()[mixed.plan.call_id]["metadata"]["notices"]  # type: ignore[index]
    assert [(n["sound"], n["outcome"]) for n in heard] == [  # type: ignore[union-attr]
        (f"sound:{ANALYSED_NOTICE}", "played"), ("sound:beep", "played")]
    audio = read_stream(b.inbox / "streams" / f"{mixed.plan.call_id}.wav")
    body = slice(int(0.3 / 0.05), int((audio.duration - 0.3) / 0.05))
    for freq in (CALLER_TONE, CALLEE_TONE):
        assert audio.present(freq)[body].mean() > 0.9, freq
    await wait_until(lambda: not platform.outbox() and not platform.wavs(mixed.plan.call_id))

    # WHEN A streams too THEN the next call between them is two streams, each to its own customer
    a.rtp_port = free_port(socket.SOCK_DGRAM)
    await a.down()
    await a.up()
    with platform.db.begin() as s:
        service.enroll_connection(s, a.contract_id, "stream", a.stream_endpoint(), a.secret)
    await call(start_app, tmp_path, tones, "A", LINE["B"][0], talk_ms=6_000, callee_line="1002")
    streams = await app.outcome()
    assert [r.delivery for r in streams.plan.recipients] == ["stream", "stream"]
    assert streams.recordings == (), "stream delivery keeps nothing on the platform"
    await wait_until(lambda: streams.plan.call_id in a.streams() and streams.plan.call_id in b.streams())
    assert a.streams()[streams.plan.call_id]["metadata"]["line"] == LINE["A"][0]  # type: ignore[index]
    assert b.streams()[streams.plan.call_id]["metadata"]["line"] == LINE["B"][0]  # type: ignore[index]
    for customer in (a, b):
        heard = read_stream(customer.inbox / "streams" / f"{streams.plan.call_id}.wav")
        body = slice(int(0.3 / 0.05), int((heard.duration - 0.3) / 0.05))
        for freq in (CALLER_TONE, CALLEE_TONE):
            assert heard.present(freq)[body].mean() > 0.9, (customer.name, freq)
    assert len(a.zips()) == 1 and not b.zips()
    # the call records say how the call's own line (A's, the caller's) was delivered
    with platform.db() as s:
        rows = s.execute(select(CallRecord.call_id, CallRecord.delivery_type)).all()
    kinds = {call_id: kind for call_id, kind in rows}
    assert kinds == {mixed.plan.call_id: "file", streams.plan.call_id: "stream"}
    await assert_clean(ari)
