"""The reference receiver refuses bad uploads with clear errors and stores good ones once."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import aiohttp
import pytest

from callrec_ari.delivery.packaging import Package, package_call
from callrec_ari.rules.signing import HEADER_KEY, webhook_digest, webhook_headers
from tests.delivery.conftest import SECRET, RunningReceiver, call_record, segments_for


def sign(body: bytes, secret: str = SECRET, msg_id: str = "c1") -> dict[str, str]:
    """Standard Webhooks headers over the body (what the platform's first signature is)."""
    stamp = int(time.time())
    return webhook_headers(msg_id, stamp, webhook_digest(secret, msg_id, stamp, body))


async def post(r: RunningReceiver, body: bytes, key: str,
               signature: dict[str, str] | None = None) -> tuple[int, dict]:
    headers = {HEADER_KEY: key, **(signature or sign(body, msg_id=key)), "Content-Type": "application/zip"}
    async with aiohttp.ClientSession() as s, s.post(r.url, data=body, headers=headers) as resp:
        return resp.status, await resp.json()


@pytest.fixture
def package(tmp_path: Path) -> Package:
    return package_call(call_record("c1"), segments_for(tmp_path / "wav", "c1"), tmp_path / "outbox")


def rezip(original: bytes, change: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, change.get(name, src.read(name)))
    return out.getvalue()


async def test_good_upload_is_stored_and_a_repeat_is_idempotent(
        receiver: RunningReceiver, package: Package) -> None:
    await receiver.start()
    body = package.zip_path.read_bytes()
    status, answer = await post(receiver, body, "c1")
    assert (status, answer["status"], answer["duplicate"]) == (200, "stored", False)
    assert answer["sha256"] == hashlib.sha256(body).hexdigest()
    status, answer = await post(receiver, body, "c1")
    assert (status, answer["duplicate"]) == (200, True)
    assert [p.name for p in receiver.stored()] == ["c1.zip"]


@pytest.mark.parametrize(
    ("mutate", "status", "error_id"),
    [
        pytest.param("signature", 401, "signature-invalid", id="tampered-signature"),
        pytest.param("body-after-signing", 401, "signature-invalid", id="tampered-body"),
        pytest.param("truncate", 422, "corrupt-zip", id="truncated-zip"),
        pytest.param("flip-byte", 422, "corrupt-zip", id="corrupted-zip"),
        pytest.param("checksum", 422, "checksum-mismatch", id="wrong-checksum"),
        pytest.param("no-manifest", 422, "manifest-missing", id="no-manifest"),
        pytest.param("key", 422, "idempotency-key-mismatch", id="key-not-the-manifests"),
        pytest.param("bad-key", 400, "idempotency-key-invalid", id="unsafe-key"),
    ],
)
async def test_bad_uploads_are_refused_with_a_clear_error(
        receiver: RunningReceiver, package: Package, mutate: str, status: int, error_id: str) -> None:
    await receiver.start()
    body, key, signature = package.zip_path.read_bytes(), "c1", None
    if mutate == "signature":
        signature = sign(body, "wrong")
    elif mutate == "body-after-signing":
        signature, body = sign(body), body[:-1] + bytes([body[-1] ^ 1])
    elif mutate == "truncate":
        body = body[: len(body) // 2]
    elif mutate == "flip-byte":
        pos = 200  # inside segment-001's compressed data
        body = body[:pos] + bytes([body[pos] ^ 0xFF]) + body[pos + 1:]
    elif mutate == "checksum":
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            manifest = json.loads(zf.read("manifest.json"))
        manifest["segments"][0]["sha256"] = "0" * 64
        body = rezip(body, {"manifest.json": json.dumps(manifest).encode()})
    elif mutate == "no-manifest":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("segment-001.wav", b"RIFF")
        body = out.getvalue()
    elif mutate == "key":
        key = "someone-else"
    elif mutate == "bad-key":
        key = "../etc/passwd"
    got, answer = await post(receiver, body, key, signature)
    assert (got, answer["status"], answer["error_id"]) == (status, "rejected", error_id)
    assert answer["message"]
    assert receiver.stored() == []
    assert list((receiver.directory / ".incoming").iterdir()) == []


async def test_replayed_key_with_other_content_is_refused(
        receiver: RunningReceiver, package: Package, tmp_path: Path) -> None:
    await receiver.start()
    assert (await post(receiver, package.zip_path.read_bytes(), "c1"))[0] == 200
    other = package_call(call_record("c1"), segments_for(tmp_path / "wav2", "c1", (2.0,)), tmp_path / "o2")
    status, answer = await post(receiver, other.zip_path.read_bytes(), "c1")
    assert (status, answer["error_id"]) == (409, "replayed-upload")
    assert receiver.stored()[0].read_bytes() == package.zip_path.read_bytes()
