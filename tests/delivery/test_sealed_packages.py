"""Copies sealed to their customer's age key as they are packaged (issue 16; delivery/sealing.py):
two contracts, one with a key, one without, through the real submitter, worker and receivers."""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path

import pyrage
import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.contracts.models import Connection
from callrec_ari.contracts.service import create_contract, enroll_connection
from callrec_ari.db.models import Delivery
from callrec_ari.delivery.sealing import MAGIC, InvalidRecipient, check_recipient
from callrec_ari.delivery.service import RecordingSubmitter, make_worker
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.model.clock import ManualClock
from callrec_ari.receiver.app import Receiver
from callrec_ari.receiver.verify import verify_zip
from tests.delivery.conftest import call_record, free_port, segments_for

A_SECRET, B_SECRET = "customer-a-secret-0000111", "customer-b-secret-2222333"


async def serve_receiver(directory: Path, secret: str,
                         identities: tuple[str, ...] = ()) -> tuple[str, web.AppRunner]:
    port = free_port()
    runner = web.AppRunner(Receiver(directory, secret, age_identities=identities).app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return f"http://127.0.0.1:{port}/recordings", runner


def test_only_age_public_keys_are_taken() -> None:
    key = pyrage.x25519.Identity.generate()
    assert check_recipient(f" {key.to_public()} ") == str(key.to_public())
    for bad in ("", "ssh-ed25519 AAAA", "age1notakey", str(key), "age1" + "q" * 120):
        with pytest.raises(InvalidRecipient):
            check_recipient(bad)


async def test_a_sealed_copy_waits_as_ciphertext_and_opens_only_with_its_key(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path,
        clock: ManualClock) -> None:
    key_a, other = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    url_a, run_a = await serve_receiver(tmp_path / "rx-a", A_SECRET, (str(key_a),))
    url_b, run_b = await serve_receiver(tmp_path / "rx-b", B_SECRET)
    try:
        with sessions.begin() as s:
            a, b = create_contract(s, "Alpha"), create_contract(s, "Beta")
            conn_a = enroll_connection(s, a.id, "file", url_a, A_SECRET)
            conn_a.age_recipient = str(key_a.to_public())
            conn_b = enroll_connection(s, b.id, "file", url_b, B_SECRET)
            ids = (str(a.id), conn_a.id, str(b.id), conn_b.id)
        segments = segments_for(tmp_path / "wav", "c-seal")
        submitter = RecordingSubmitter(settings, sessions, clock)
        job_a = submitter.submit({**call_record("c-seal"), "contract": ids[0]}, segments, ids[1])
        job_b = submitter.submit({**call_record("c-seal"), "contract": ids[2]}, segments, ids[3])
        # A's copy waits as the age file only; B's as its ZIP
        sealed = Path(job_a.zip_path)
        assert sealed.name.endswith(".zip.age") and sealed.read_bytes().startswith(MAGIC)
        assert not sealed.with_name(sealed.name.removesuffix(".age")).exists()
        assert not zipfile.is_zipfile(sealed) and zipfile.is_zipfile(job_b.zip_path)
        with pytest.raises(pyrage.DecryptError):
            pyrage.decrypt(sealed.read_bytes(), [other])
        # the worker delivers both; A's receiver decrypts with A's key and checks the ZIP
        stop = asyncio.Event()
        worker = asyncio.create_task(make_worker(settings, sessions, clock).run(stop))
        async with asyncio.timeout(20):
            while not (list((tmp_path / "rx-a").glob("*.zip"))  # noqa: ASYNC110 - polling folders
                       and list((tmp_path / "rx-b").glob("*.zip"))):
                await asyncio.sleep(0.05)
        stop.set()
        await worker
        [got_a] = list((tmp_path / "rx-a").glob("*.zip"))
        [got_b] = list((tmp_path / "rx-b").glob("*.zip"))
        assert verify_zip(got_a).call_id == verify_zip(got_b).call_id == "c-seal"
        for got, contract in ((got_a, ids[0]), (got_b, ids[2])):
            with zipfile.ZipFile(got) as z:
                assert json.loads(z.read("manifest.json"))["contract"] == contract
        with sessions() as s:
            states = [d.state for d in s.scalars(select(Delivery).order_by(Delivery.id))]
        assert states == ["delivered", "delivered"] and not sealed.exists()
    finally:
        await run_a.cleanup()
        await run_b.cleanup()


async def test_a_receiver_with_the_wrong_key_refuses_and_one_without_keeps_the_age_file(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    key = pyrage.x25519.Identity.generate()
    with sessions.begin() as s:
        a = create_contract(s, "Alpha")
        conn = enroll_connection(s, a.id, "file", "http://127.0.0.1:9/x", A_SECRET)
        conn.age_recipient = str(key.to_public())
        ids = (str(a.id), conn.id)
    job = RecordingSubmitter(settings, sessions).submit({**call_record("c-seal2"), "contract": ids[0]},
                                                        segments_for(tmp_path / "wav", "c-seal2"), ids[1])
    body = Path(job.zip_path).read_bytes()
    from tests.delivery.test_delivery_receiver import sign

    for identities, expected in (((str(pyrage.x25519.Identity.generate()),), (422, "cannot-decrypt")),
                                 ((), (200, None))):
        directory = tmp_path / f"rx-{len(identities)}"
        url, runner = await serve_receiver(directory, A_SECRET, identities)
        try:
            import aiohttp

            headers = {"Idempotency-Key": job.key, **sign(body, A_SECRET, job.key)}
            async with aiohttp.ClientSession() as client, \
                    client.post(url, data=body, headers=headers) as resp:
                answer = await resp.json()
                assert (resp.status, answer.get("error_id")) == expected, answer
        finally:
            await runner.cleanup()
        stored = sorted(p.name for p in directory.glob("*") if p.is_file())
        assert stored == ([] if expected[0] == 422 else [f"{job.key}.zip.age"])
    with sessions() as s:
        assert s.get(Connection, ids[1]) is not None
