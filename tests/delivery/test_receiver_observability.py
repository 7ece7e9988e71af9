"""The reference receiver is observable like the platform's services (issue 17): /healthz, /readyz
(503 when its folder takes no file) and /metrics with its uploads counted by result, scraped."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from callrec_ari.delivery.packaging import package_call
from tests.delivery.conftest import RunningReceiver, call_record, segments_for
from tests.delivery.test_delivery_receiver import post, sign


def uploads(text: str) -> dict[str, float]:
    return {s.labels["result"]: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "callrec_receiver_uploads_total"}


async def test_health_readiness_and_upload_counts(receiver: RunningReceiver, tmp_path: Path) -> None:
    await receiver.start()
    base = receiver.url.removesuffix("/recordings")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/metrics") as resp:
            before = uploads(await resp.text())
        pkg = package_call(call_record("c-obs"), segments_for(tmp_path / "wav", "c-obs"), tmp_path / "outbox")
        body = pkg.zip_path.read_bytes()
        assert (await post(receiver, body, pkg.key))[0] == 200
        assert (await post(receiver, body, pkg.key, sign(body, "not-the-secret", pkg.key)))[0] == 401
        async with s.get(f"{base}/metrics") as resp:
            assert resp.status == 200
            after = uploads(await resp.text())
        assert after.get("stored", 0) - before.get("stored", 0) == 1
        assert after.get("signature-invalid", 0) - before.get("signature-invalid", 0) == 1
        async with s.get(f"{base}/healthz") as resp:
            assert resp.status == 200
        async with s.get(f"{base}/readyz") as resp:
            assert resp.status == 200 and (await resp.json())["ready"] is True
        # its folder gone (a disk unmounted): not ready, and it says why
        shutil.rmtree(receiver.directory / ".incoming")
        (receiver.directory / ".incoming").write_text("not a folder")
        async with s.get(f"{base}/readyz") as resp:
            answer = await resp.json()
            assert resp.status == 503 and answer["checks"]["storage"]["ok"] is False
