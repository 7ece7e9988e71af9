"""Uploads and stream notifications as a customer verifies them: with the ``standardwebhooks`` package
from PyPI (an implementation that is not ours), each customer with its own secret; the legacy
``X-Callrec-Signature`` as a per-connection choice; replays outside the window refused.

The platform's real senders (HttpTransport, StreamNotifier) post to a capturing server, so the test
sees the bytes on the wire; the reference receiver then gets those same bytes again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from callrec_ari.delivery import http_transport
from callrec_ari.delivery.http_transport import HttpTransport
from callrec_ari.delivery.packaging import Package, package_call
from callrec_ari.delivery.transport import Upload
from callrec_ari.receiver.app import Receiver
from callrec_ari.rules.destinations import parse_networks
from callrec_ari.rules.signing import HEADER_SHA256, HEADER_SIGNATURE, standard_webhooks_secret
from callrec_ari.streaming.metadata import build_metadata
from callrec_ari.streaming.notify import StreamNotifier
from callrec_ari.streaming.settings import StreamSettings
from tests.delivery.conftest import SECRET, call_record, free_port, segments_for
from tests.support.customer_server import CustomerServer, serving
from tests.support.network import LOOPBACK

OTHER_SECRET = "customer-b-has-a-secret-of-its-own"


@pytest.fixture
async def capture() -> AsyncIterator[CustomerServer]:
    async with serving(CustomerServer()) as server:
        yield server


@pytest.fixture
def package(tmp_path: Path) -> Package:
    return package_call(call_record("c-sw"), segments_for(tmp_path / "wav", "c-sw"), tmp_path / "outbox")


def upload_of(package: Package) -> Upload:
    return Upload("c-sw", package.key, package.zip_path, package.size, package.sha256)


async def send_upload(capture: CustomerServer, package: Package, secret: str = SECRET,
                      legacy: bool = True) -> tuple[dict[str, str], bytes]:
    transport = HttpTransport(capture.url, secret, legacy_signature=legacy,
                              networks=parse_networks(LOOPBACK))
    try:
        await transport.send(upload_of(package))
    finally:
        await transport.close()
    return capture.requests[-1]


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@pytest.fixture(params=["from memory", "streamed"])
def sent_as(request: pytest.FixtureRequest, package: Package, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a ZIP goes out: read once and sent from memory (a call's usual size), or streamed from
    disk in chunks (larger than ``IN_MEMORY_MAX``: here the same ZIP, with the limit below its size)."""
    assert package.size <= http_transport.IN_MEMORY_MAX
    if request.param == "streamed":
        monkeypatch.setattr(http_transport, "IN_MEMORY_MAX", package.size - 1)
    return str(request.param)


async def test_an_upload_verifies_with_the_standardwebhooks_package(capture: CustomerServer, package: Package,
                                                                    sent_as: str) -> None:
    headers, body = await send_upload(capture, package)
    assert body == package.zip_path.read_bytes()
    h = lower(headers)
    assert h["webhook-id"] == package.key and abs(int(h["webhook-timestamp"]) - time.time()) < 60
    # The library takes the payload as text, a ZIP is not: it verifies the body's SHA-256 (hex),
    # which the customer then checks against the body.
    digest = h[HEADER_SHA256.lower()]
    Webhook(standard_webhooks_secret(SECRET)).verify(digest, headers, json_parse=False)
    assert hashlib.sha256(body).hexdigest() == digest
    # The specification's own form, over the raw body, is there too (computed here independently)
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha256).digest()).decode()
    assert f"v1,{expected}" in h["webhook-signature"].split(" ")


async def test_another_customers_secret_does_not_verify(capture: CustomerServer, package: Package) -> None:
    headers, _ = await send_upload(capture, package, secret=OTHER_SECRET)
    with pytest.raises(WebhookVerificationError):
        Webhook(standard_webhooks_secret(SECRET)).verify(lower(headers)[HEADER_SHA256.lower()], headers,
                                                          json_parse=False)
    Webhook(standard_webhooks_secret(OTHER_SECRET)).verify(lower(headers)[HEADER_SHA256.lower()], headers,
                                                            json_parse=False)


async def test_stream_notifications_verify_with_the_standardwebhooks_package(capture: CustomerServer) -> None:
    settings = StreamSettings(control_url=capture.url, secret=SECRET, legacy_signature=False,
                              allow_destinations=LOOPBACK)
    meta = build_metadata(call_id="c-sw-stream", line="09000001001", caller="09000001001",
                          callee="0312345678", direction="outgoing",
                          started_at=datetime.now(UTC),
                          settings=settings, rtp_source="127.0.0.1:10000")
    async with StreamNotifier(settings) as notifier:
        assert await notifier.start(meta)
        assert await notifier.heartbeat(meta.call_id)
        assert await notifier.end(meta.call_id)
    events = []
    ids = set()
    for headers, body in capture.requests:
        payload: Any = Webhook(standard_webhooks_secret(SECRET)).verify(body, headers)
        events.append(payload["event"])
        ids.add(lower(headers)["webhook-id"])
        assert HEADER_SIGNATURE.lower() not in lower(headers)  # the connection turned legacy off
        with pytest.raises(WebhookVerificationError):
            Webhook(standard_webhooks_secret(OTHER_SECRET)).verify(body, headers)
    assert events == ["start", "heartbeat", "end"] and len(ids) == 3


@pytest.mark.parametrize("legacy", [True, False])
async def test_the_legacy_header_is_a_per_connection_choice(capture: CustomerServer, package: Package,
                                                            legacy: bool, sent_as: str) -> None:
    headers, body = await send_upload(capture, package, legacy=legacy)
    if legacy:
        mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert lower(headers)[HEADER_SIGNATURE.lower()] == f"sha256={mac}"
    else:
        assert HEADER_SIGNATURE.lower() not in lower(headers)
    assert "webhook-signature" in lower(headers)


async def post_to(receiver: Receiver, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
    port = free_port()
    runner = web.AppRunner(receiver.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length",
                                                                      "transfer-encoding")}
        async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{port}/recordings", data=body,
                                                        headers=keep) as resp:
            return resp.status, await resp.json()
    finally:
        await runner.cleanup()


async def test_a_captured_upload_replayed_after_the_window_is_refused(
        capture: CustomerServer, package: Package, tmp_path: Path) -> None:
    headers, body = await send_upload(capture, package)
    sent_at = int(lower(headers)["webhook-timestamp"])
    store = tmp_path / "customer"
    # within the window: stored (and a second time: the same bytes, a harmless duplicate)
    ok = Receiver(store, SECRET, clock=lambda: sent_at + 10)
    assert (await post_to(ok, headers, body))[0] == 200
    status, answer = await post_to(ok, headers, body)
    assert (status, answer["duplicate"]) == (200, True)
    # an hour later the same captured request is refused before its body is read
    late = Receiver(tmp_path / "elsewhere", SECRET, clock=lambda: sent_at + 3600)
    status, answer = await post_to(late, headers, body)
    assert (status, answer["error_id"]) == (401, "signature-expired")
    assert not list((tmp_path / "elsewhere").glob("*.zip"))


async def test_legacy_only_requests_are_taken_only_when_the_receiver_allows_them(
        capture: CustomerServer, package: Package, tmp_path: Path) -> None:
    headers, body = await send_upload(capture, package)
    legacy_only = {k: v for k, v in headers.items() if not k.lower().startswith("webhook-")}
    strict = Receiver(tmp_path / "strict", SECRET)
    status, answer = await post_to(strict, legacy_only, body)
    assert (status, answer["error_id"]) == (401, "signature-missing")
    lenient = Receiver(tmp_path / "lenient", SECRET, accept_legacy=True)
    assert (await post_to(lenient, legacy_only, body))[0] == 200
    tampered = body[:-1] + bytes([body[-1] ^ 1])
    status, answer = await post_to(Receiver(tmp_path / "lenient2", SECRET, accept_legacy=True), legacy_only,
                                   tampered)
    assert (status, answer["error_id"]) == (401, "signature-invalid")
