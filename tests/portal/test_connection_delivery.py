"""A connection edited in the portal is where the next delivery goes, and "send a test file" is a real
delivery: the portal's API and the delivery worker on one database, with real reference receivers
(callrec_ari.receiver) on loopback (issue 13)."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncssh
from sqlalchemy import select

from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.models import AuditRecord, Delivery, DeliveryAttempt
from callrec_ari.delivery.service import RecordingSubmitter, make_worker
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.model.clock import ManualClock
from callrec_ari.receiver.verify import verify_zip
from callrec_ari.rules.delivery import DeliveryState
from tests.delivery.conftest import ENDED, RunningReceiver, call_record, free_port, segments_for
from tests.portal.conftest import A_LOGIN, A_NUMBERS, World, api_login
from tests.support.network import LOOPBACK

FIRST_SECRET = "first-receiver-secret-0123"
SECOND_SECRET = "second-receiver-secret-4567"


def manifest(path: Path) -> dict[str, Any]:
    verify_zip(path)  # what the receiver checked: manifest, checksums, segments
    with zipfile.ZipFile(path) as zf:
        data: dict[str, Any] = json.loads(zf.read("manifest.json"))
        return data


def delivery_settings(world: World, tmp_path: Path) -> DeliverySettings:
    return DeliverySettings(database_url=world.url, spool_dir=str(tmp_path / "spool"), node="node-test",
                            burst_attempts=2, backoff_initial=0.01, backoff_max=0.02, backoff_jitter=0.0,
                            retry_interval=60.0, poll_interval=0.05, connect_timeout=2.0, read_timeout=10.0,
                            allow_destinations=LOOPBACK)


async def test_retries_after_an_edit_reach_the_new_endpoint(
    world: World, make_client: Any, tmp_path: Path
) -> None:
    first = RunningReceiver(tmp_path / "first", free_port(), FIRST_SECRET)
    second = RunningReceiver(tmp_path / "second", free_port(), SECOND_SECRET)
    await first.start()
    await second.start()
    settings = delivery_settings(world, tmp_path)
    engine = make_engine(world.url)
    sessions = make_sessionmaker(engine)
    clock = ManualClock(ENDED + timedelta(seconds=5))
    client = await make_client(settings)
    h = {"X-CSRF-Token": await api_login(client, A_LOGIN)}
    worker = make_worker(settings, sessions, clock)
    try:
        # GIVEN contract A's file connection to the first receiver, and one call delivered there
        resp = await client.post("/api/v1/connections", headers=h,
                                 json={"type": "file", "endpoint": first.url, "secret": FIRST_SECRET})
        assert resp.status == 201, await resp.text()
        conn_id = (await resp.json())["id"]
        submitter = RecordingSubmitter(settings, sessions, clock)
        spool = tmp_path / "asterisk"
        for call_id in ("call-before", "call-after"):
            record = {**call_record(call_id), "contract": str(world.a_id)}
            submitter.submit(record, segments_for(spool, call_id), connection_id=conn_id)
            if call_id == "call-before":
                assert (await worker.run_once()).delivered == 1
                # WHEN the first receiver goes away, the next call waits for a retry
                await first.stop()
                clock.advance(timedelta(seconds=1))
        stats = await worker.run_once()
        assert (stats.delivered, stats.retrying) == (0, 1)
        # ... and the customer points the SAME connection at the second receiver, with its secret
        resp = await client.patch(f"/api/v1/connections/{conn_id}", headers=h,
                                  json={"endpoint": second.url, "secret": SECOND_SECRET})
        assert resp.status == 200 and (await resp.json())["id"] == conn_id
        clock.advance(timedelta(seconds=settings.retry_interval))
        stats = await worker.run_once()
        # THEN the retry reaches the second receiver, signed with the new secret
        assert stats.delivered == 1
        assert [p.name for p in first.stored()] == [f"call-before-c{world.a_id}.zip"]
        assert [p.name for p in second.stored()] == [f"call-after-c{world.a_id}.zip"]
        shown = manifest(second.stored()[0])
        assert (shown["contract"], shown["line"], shown["call_id"]) == (
            str(world.a_id), A_NUMBERS[0], "call-after")
        with sessions() as s:
            job = s.scalars(select(Delivery).where(Delivery.call_id == "call-after")).one()
            assert (job.state, job.contract, job.connection_id) == (
                DeliveryState.DELIVERED, str(world.a_id), conn_id)
            attempts = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == job.id)
                                 .order_by(DeliveryAttempt.number)).all()
            assert [a.outcome for a in attempts] == ["transient"] * settings.burst_attempts + ["delivered"]
            assert {a.error_id for a in attempts[:-1]} == {"connection"}
    finally:
        await worker._transports.close()
        await first.stop()
        await second.stop()
        engine.dispose()


async def test_a_test_file_arrives_like_a_real_delivery_naming_the_contract(
    world: World, make_client: Any, tmp_path: Path
) -> None:
    receiver = RunningReceiver(tmp_path / "customer", free_port(), FIRST_SECRET)
    await receiver.start()
    try:
        client = await make_client(delivery_settings(world, tmp_path))
        h = {"X-CSRF-Token": await api_login(client, A_LOGIN)}
        resp = await client.post("/api/v1/connections", headers=h,
                                 json={"type": "file", "endpoint": receiver.url, "secret": FIRST_SECRET})
        conn_id = (await resp.json())["id"]
        result = await (await client.post(f"/api/v1/connections/{conn_id}/test", headers=h)).json()
        assert result["ok"] is True and result["status"] == 200, result
        assert "stored" in result["message"]
        [stored] = receiver.stored()
        assert stored.name == f"{result['call_id']}-c{world.a_id}.zip"  # the contract's copy's key
        shown = manifest(stored)
        assert (shown["contract"], shown["line"]) == (str(world.a_id), A_NUMBERS[0])
        assert shown["idempotency_key"] == stored.name.removesuffix(".zip")
        assert len(shown["segments"]) == 1 and shown["segments"][0]["duration_seconds"] == 1.0
        # A wrong secret is the receiver's refusal, shown as it answered, and audited.
        resp = await client.patch(f"/api/v1/connections/{conn_id}", headers=h,
                                  json={"secret": "not-the-receivers-one"})
        assert resp.status == 200
        result = await (await client.post(f"/api/v1/connections/{conn_id}/test", headers=h)).json()
        assert (result["ok"], result["status"], result["error_id"]) == (
            False, 401, "signature-invalid"), result
        assert len(receiver.stored()) == 1
        with world.session() as s:
            sent = s.scalars(select(AuditRecord).where(AuditRecord.action == "test-file-sent")
                             .order_by(AuditRecord.id)).all()
        assert [(a.details["ok"], a.details["error_id"]) for a in sent] == [
            (True, None), (False, "signature-invalid")]
    finally:
        await receiver.stop()


async def test_a_test_file_to_an_sftp_connection_uses_the_platforms_key(
    world: World, make_client: Any, tmp_path: Path
) -> None:
    # GIVEN an SFTP server (asyncssh's, in this process) that trusts only the platform's key
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    platform_key = asyncssh.generate_private_key("ssh-ed25519")
    platform_key.write_private_key(str(tmp_path / "platform_key"))
    platform_key.write_public_key(str(tmp_path / "platform_key.pub"))
    inbox = tmp_path / "sftp-root"
    (inbox / "incoming").mkdir(parents=True)
    port = free_port()
    (tmp_path / "known_hosts").write_bytes(f"[127.0.0.1]:{port} ".encode() + host_key.export_public_key())

    class RecordingsServer(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

    server = await asyncssh.listen(
        "127.0.0.1", port, server_host_keys=[host_key], server_factory=RecordingsServer,
        authorized_client_keys=asyncssh.read_authorized_keys(str(tmp_path / "platform_key.pub")),
        sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(inbox).encode()),
    )
    try:
        settings = replace(delivery_settings(world, tmp_path), sftp_key=str(tmp_path / "platform_key"),
                           sftp_known_hosts=str(tmp_path / "known_hosts"))
        client = await make_client(settings)
        h = {"X-CSRF-Token": await api_login(client, A_LOGIN)}
        # WHEN the customer adds its sftp:// connection (no secret) and sends a test file
        resp = await client.post("/api/v1/connections", headers=h,
                                 json={"type": "file", "endpoint": f"sftp://alpha@127.0.0.1:{port}/incoming"})
        assert resp.status == 201, await resp.text()
        conn_id = (await resp.json())["id"]
        result = await (await client.post(f"/api/v1/connections/{conn_id}/test", headers=h)).json()
        # THEN the ZIP is in the customer's folder, complete, naming the contract
        assert result["ok"] is True, result
        [stored] = sorted((inbox / "incoming").iterdir())
        assert stored.name == f"{result['call_id']}-c{world.a_id}.zip"
        assert manifest(stored)["contract"] == str(world.a_id)
        assert "SFTP" in result["message"]
        # A folder that is not there is the SFTP server's refusal, shown and audited.
        resp = await client.patch(f"/api/v1/connections/{conn_id}", headers=h,
                                  json={"endpoint": f"sftp://alpha@127.0.0.1:{port}/missing"})
        result = await (await client.post(f"/api/v1/connections/{conn_id}/test", headers=h)).json()
        assert (result["ok"], result["error_id"]) == (False, "remote-path"), result
    finally:
        server.close()
        await server.wait_closed()
