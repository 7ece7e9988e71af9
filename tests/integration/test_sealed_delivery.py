"""Recordings sealed to the customer's age key (issue 16; delivery/sealing.py), on real calls: the copy
waits in the queue as ciphertext only (the plain WAVs gone at packaging), reaches the customer, opens
with its key and not with another; a customer without a key gets its plain ZIP as before."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pyrage
import pytest

from callrec_ari.contracts.models import Connection
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.sealing import MAGIC
from callrec_ari.receiver.verify import verify_zip
from tests.integration.delivery_rig import Platform, call, platform, wait_until
from tests.integration.test_call_flow import OUTSIDE, StartApp

__all__ = ["platform"]  # the fixture, used by name

pytestmark = pytest.mark.asterisk


async def test_a_sealed_customer_gets_ciphertext_only_its_key_opens(
    start_app: StartApp, ari, tones, tmp_path: Path, platform: Platform  # type: ignore[no-untyped-def]
) -> None:
    a, b = platform.customers["A"], platform.customers["B"]
    key_a, someone_else = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    with platform.db.begin() as s:
        conn = s.get(Connection, a.connection_id)
        assert conn is not None
        conn.age_recipient = str(key_a.to_public())
    platform.start_worker()
    app = await start_app(lines_from="database", db=platform.db,
                          submitter=RecordingSubmitter(platform.settings, platform.db))
    # GIVEN A's equipment is down, a call of A's line waits in the queue
    await call(start_app, tmp_path, tones, "A", OUTSIDE)
    only_a = (await app.outcome()).plan.call_id
    await wait_until(lambda: bool(platform.jobs(only_a)))
    [job] = platform.jobs(only_a)
    queued = Path(job.zip_path)
    # THEN what waits is ciphertext only: the age file, no plaintext ZIP, no WAV left on the platform
    assert queued.name.endswith(".zip.age") and queued.read_bytes().startswith(MAGIC)
    assert not zipfile.is_zipfile(queued) and b"manifest.json" not in queued.read_bytes()
    assert platform.outbox() == [] and not platform.wavs(only_a)
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(queued.read_bytes(), [someone_else])
    # WHEN A's equipment comes up with A's key THEN the call arrives, decrypted, whole and checked
    a.identities = (str(key_a),)
    await a.up()
    await wait_until(lambda: len(a.zips()) == 1 and not queued.exists())
    [stored] = a.zips()
    assert verify_zip(stored).call_id == only_a
    assert [m["call_id"] for m in a.manifests()] == [only_a]
    # AND B, who registered no key, gets its plain ZIP as before, and nothing of A's
    await b.up()
    await call(start_app, tmp_path, tones, "B", OUTSIDE)
    only_b = (await app.outcome()).plan.call_id
    await wait_until(lambda: len(b.zips()) == 1)
    assert [m["call_id"] for m in b.manifests()] == [only_b]
    assert Path(platform.jobs(only_b)[0].zip_path).name.endswith(".zip")
    assert [m["call_id"] for m in a.manifests()] == [only_a]
