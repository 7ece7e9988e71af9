"""The reference customer receiver (aiohttp): the protocol in docs/delivery-protocol.md, server side.

Checks the Standard Webhooks headers first (present, well formed, timestamp within the tolerance
window: a replay outside it is refused before a byte of its body is read); streams the body to a
temporary file while computing its HMAC and sha256; checks the signature, then the ZIP and every
checksum in its manifest; stores ``<key>.zip`` atomically (fsync + rename); answers 200 only then.
A request signed only with the legacy ``X-Callrec-Signature`` is taken only with ``accept_legacy``
(it has no timestamp: a captured one could be replayed). The same key with the same bytes again is
a harmless 200 (``duplicate``); the same key with other bytes is a 409 ``replayed-upload``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from callrec_ari.delivery.packaging import file_digest, fsync_dir
from callrec_ari.delivery.sealing import MAGIC as AGE_MAGIC
from callrec_ari.receiver.stream import StreamReceiver
from callrec_ari.receiver.verify import UploadRejected, verify_zip
from callrec_ari.rules.manifest import is_safe_key, zip_name
from callrec_ari.rules.signing import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    TOLERANCE_SECONDS,
    SignatureError,
    WebhookSigned,
    new_mac,
    read_webhook_headers,
    signature_matches,
    webhook_digest,
)

log = logging.getLogger(__name__)
UPLOAD_PATH = "/recordings"
# The receiver is the customer's: its metrics are its own registry, not the platform's.
REGISTRY = CollectorRegistry(auto_describe=True)
UPLOADS = Counter("callrec_receiver_uploads_total", "Uploads answered, by result (stored, duplicate, or the "
                  "error id of a refusal)", ["result"], registry=REGISTRY)
CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Stream delivery on the reference receiver (docs/stream-protocol.md)."""

    port: int | None  # UDP port for RTP; None: no RTP (the WebSocket transport only)
    host: str = ""  # UDP address; empty = the HTTP listen address
    idle_timeout: float = 10.0  # seconds without packets nor notifications before a call is finalized


class Receiver:
    """``max_bytes``: the largest upload taken (a longer Content-Length is refused before a byte is
    read); ``idle_timeout``: seconds a body may go without sending anything; ``min_rate``: bytes
    per second a body must average after its first ``idle_timeout`` (a trickle is cut off)."""

    def __init__(self, directory: Path, secret: str, max_bytes: int = 4 << 30, idle_timeout: float = 30.0,
                 min_rate: float = 16 * 1024, accept_legacy: bool = False,
                 tolerance: float = TOLERANCE_SECONDS, clock: Callable[[], float] = time.time,
                 age_identities: tuple[str, ...] = ()) -> None:
        self.directory = directory
        # The customer's age private keys (AGE-SECRET-KEY-1…): a sealed upload is decrypted, checked
        # and stored as its ZIP; without one it is stored as it came (<key>.zip.age).
        self._identities = age_identities
        self._secret = secret
        self._accept_legacy = accept_legacy
        self._tolerance = tolerance
        self._clock = clock  # Unix seconds, for the signature's window
        self._max_bytes = max_bytes
        self._idle_timeout = idle_timeout
        self._min_rate = min_rate
        self._incoming = directory / ".incoming"
        self._locks: dict[str, asyncio.Lock] = {}

    def app(self) -> web.Application:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._incoming.mkdir(exist_ok=True)
        app = web.Application()
        app.router.add_post(UPLOAD_PATH, self.upload)
        app.router.add_get("/health", self.health)  # kept: the first name it had
        app.router.add_get("/healthz", self.health)
        app.router.add_get("/readyz", self.ready)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(self, _request: web.Request) -> web.Response:
        """Ready when its folder takes files (a full or read-only disk answers 503)."""
        ok, detail = await asyncio.to_thread(_writable, self._incoming)
        return web.json_response({"ready": ok, "checks": {"storage": {"ok": ok, "detail": detail}}},
                                 status=200 if ok else 503)

    async def metrics(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def upload(self, request: web.Request) -> web.Response:
        try:
            response = await self._upload(request)
        except UploadRejected as exc:
            UPLOADS.labels(exc.error_id).inc()
            log.warning("upload refused: %s %s", exc.error_id, exc)
            return web.json_response(exc.to_json(), status=exc.status)
        UPLOADS.labels("stored").inc()
        return response

    async def _upload(self, request: web.Request) -> web.Response:
        key = request.headers.get(HEADER_KEY, "")
        if not is_safe_key(key):
            raise UploadRejected(400, "idempotency-key-invalid",
                                 f"header {HEADER_KEY} missing or not [A-Za-z0-9._-]{{1,128}}")
        signed = self._signed(request)
        if request.content_length is not None and request.content_length > self._max_bytes:
            # Refused before a byte is read or written: a claimed 10 GiB costs nothing.
            raise UploadRejected(413, "too-large", f"Content-Length over {self._max_bytes} bytes")
        fd, tmp_name = tempfile.mkstemp(dir=self._incoming, suffix=".part")
        tmp = Path(tmp_name)
        try:
            mac = signed.mac(self._secret) if signed is not None else new_mac(self._secret)
            sha, size = hashlib.sha256(), 0
            began = time.monotonic()
            with os.fdopen(fd, "wb") as out:
                while chunk := await self._next_chunk(request, began, size):
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise UploadRejected(413, "too-large", f"body over {self._max_bytes} bytes")
                    mac.update(chunk)
                    sha.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if request.content_length is not None and size != request.content_length:
                raise UploadRejected(400, "body-truncated", f"got {size} of {request.content_length} bytes")
            if signed is not None:
                # v1 over the body, or over its SHA-256 in hex (docs/delivery-protocol.md)
                over_digest = webhook_digest(self._secret, signed.msg_id, signed.timestamp,
                                             sha.hexdigest().encode())
                if not signed.matches(mac.digest(), over_digest):
                    raise UploadRejected(401, "signature-invalid", "webhook-signature does not match")
            elif not signature_matches(request.headers.get(HEADER_SIGNATURE), mac.hexdigest()):
                raise UploadRejected(401, "signature-invalid", "HMAC-SHA256 of the body does not match")
            body_sha = sha.hexdigest()
            if await asyncio.to_thread(_is_age, tmp):
                if not self._identities:
                    # Only the customer's key opens it: kept as it came, its signature checked.
                    return await self._store(tmp, key, body_sha, size, "", suffix=".age")
                plain = tmp.with_name(tmp.name + ".zip")
                try:
                    await asyncio.to_thread(_decrypt, tmp, plain, self._identities)
                    manifest = await asyncio.to_thread(verify_zip, plain)
                    if manifest.idempotency_key != key:
                        raise UploadRejected(422, "idempotency-key-mismatch",
                                             f"header key {key!r} differs from the manifest's")
                    stored_sha = (await asyncio.to_thread(file_digest, plain))[1]
                    return await self._store(plain, key, body_sha, size, manifest.call_id,
                                             stored_sha=stored_sha)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(plain)
            manifest = await asyncio.to_thread(verify_zip, tmp)
            if manifest.idempotency_key != key:
                raise UploadRejected(422, "idempotency-key-mismatch",
                                     f"header key {key!r} differs from the manifest's")
            return await self._store(tmp, key, body_sha, size, manifest.call_id)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _signed(self, request: web.Request) -> WebhookSigned | None:
        """The request's Standard Webhooks headers, checked before the body is read; None for a
        legacy-only request this receiver accepts."""
        try:
            signed = read_webhook_headers(request.headers, self._clock(), self._tolerance)
        except SignatureError as exc:
            raise UploadRejected(401, exc.error_id, str(exc)) from exc
        if signed is None:
            if not self._accept_legacy:
                raise UploadRejected(401, "signature-missing",
                                     "the Standard Webhooks headers (webhook-id, webhook-timestamp, "
                                     "webhook-signature) are required")
            if not request.headers.get(HEADER_SIGNATURE):
                raise UploadRejected(401, "signature-missing", f"header {HEADER_SIGNATURE} is required")
        return signed

    async def _next_chunk(self, request: web.Request, began: float, size: int) -> bytes:
        """The next piece of the body; a body that stalls or trickles is cut off (408)."""
        elapsed = time.monotonic() - began
        if elapsed > self._idle_timeout and size < self._min_rate * (elapsed - self._idle_timeout):
            raise UploadRejected(408, "body-too-slow",
                                 f"{size} bytes in {elapsed:.0f} s: under {self._min_rate:.0f} bytes/s")
        try:
            async with asyncio.timeout(self._idle_timeout):
                return await request.content.read(CHUNK)
        except TimeoutError:
            raise UploadRejected(408, "body-timeout",
                                 f"nothing received for {self._idle_timeout:.0f} s") from None

    async def _store(self, tmp: Path, key: str, sha256: str, size: int, call_id: str, suffix: str = "",
                     stored_sha: str | None = None) -> web.Response:
        """``sha256``: the body's, acknowledged; ``stored_sha``: the file kept, when it is not the body
        (a sealed upload stored decrypted)."""
        final = self.directory / (zip_name(key) + suffix)
        kept = stored_sha or sha256
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            stored = await asyncio.to_thread(_stored_digest, final)
            if stored is not None:
                if stored != kept and not suffix:
                    raise UploadRejected(409, "replayed-upload",
                                         f"key {key!r} is already stored with different content")
                duplicate = True
            else:
                os.replace(tmp, final)
                await asyncio.to_thread(fsync_dir, self.directory)
                duplicate = False
        log.info("stored %s (call %s, %d bytes, duplicate=%s)", final.name, call_id, size, duplicate)
        return web.json_response({"status": "stored", "key": key, "call_id": call_id, "sha256": sha256,
                                  "size": size, "duplicate": duplicate})


def _writable(folder: Path) -> tuple[bool, str]:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ready-"):
            pass
    except OSError as exc:
        return False, f"{folder}: {exc.strerror}"
    return True, str(folder)


def _is_age(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(len(AGE_MAGIC)) == AGE_MAGIC


def _decrypt(source: Path, target: Path, identities: tuple[str, ...]) -> None:
    import pyrage

    try:
        keys = [pyrage.x25519.Identity.from_str(i) for i in identities]
        with source.open("rb") as src, target.open("wb") as dst:
            pyrage.decrypt_io(src, dst, keys)
    except (pyrage.DecryptError, pyrage.IdentityError) as exc:
        raise UploadRejected(422, "cannot-decrypt", f"the sealed upload does not open with this "
                                                    f"receiver's key: {exc}") from None


def _stored_digest(path: Path) -> str | None:
    try:
        return file_digest(path)[1]
    except FileNotFoundError:
        return None


async def serve(directory: Path, secret: str, host: str, port: int, stop: asyncio.Event,
                stream: StreamOptions | None = None, accept_legacy: bool = False,
                age_identities: tuple[str, ...] = ()) -> None:
    """File delivery on ``POST /recordings``; with ``stream``, also stream delivery: RTP on its UDP
    port, the control notifications on ``POST /streams`` and Asterisk's WebSocket streams on
    ``GET /media`` of the same HTTP port. ``accept_legacy``: also take requests signed only with
    ``X-Callrec-Signature``."""
    app = Receiver(directory, secret, accept_legacy=accept_legacy, age_identities=age_identities).app()
    streams: StreamReceiver | None = None
    if stream is not None:
        streams = StreamReceiver(directory / "streams", secret, idle_timeout=stream.idle_timeout,
                                 accept_legacy=accept_legacy)
        streams.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        if streams is not None and stream is not None:
            await streams.start(stream.host or host, stream.port)
        await web.TCPSite(runner, host, port).start()
        log.info("receiver listening on http://%s:%d%s, storing into %s", host, port, UPLOAD_PATH, directory)
        await stop.wait()
    finally:
        await runner.cleanup()
        if streams is not None:
            await streams.stop()  # finalizes the calls still open


__all__ = ["UPLOAD_PATH", "Receiver", "StreamOptions", "serve"]
