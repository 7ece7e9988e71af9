"""HTTP(S) POST of the ZIP (from memory when small, else streamed from disk), signed with the
connection's secret: Standard Webhooks headers always, the legacy ``X-Callrec-Signature`` too unless
the connection turned it off (rules/signing.py, docs/delivery-protocol.md)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp

from callrec_ari.delivery.sealing import is_sealed
from callrec_ari.delivery.transport import DeliveryFailure, Receipt, Upload
from callrec_ari.net.destinations import GuardedResolver, check_url, refused_in
from callrec_ari.rules.delivery import FailureKind, Outcome
from callrec_ari.rules.destinations import REFUSED, DestinationRefused, IpNetwork
from callrec_ari.rules.signing import (
    HEADER_CALL_ID,
    HEADER_ENCRYPTION,
    HEADER_KEY,
    HEADER_SHA256,
    HEADER_SIGNATURE,
    format_signature,
    new_mac,
    webhook_digest,
    webhook_headers,
    webhook_mac,
)

log = logging.getLogger(__name__)
READ_CHUNK = 1 << 20
# A ZIP up to this size (a mono call of about a minute at 8 kHz, half a minute in stereo) is read
# once, signed and sent from memory: one trip to a thread instead of one per chunk read and one for
# the signature (measured: docs/performance.md); a larger one is streamed from disk in chunks (flat
# memory: ``concurrency`` uploads in flight hold at most this much each). aiohttp warns of a body
# given as bytes beyond 1 MiB.
IN_MEMORY_MAX = 1 << 20


def sign_upload(path: Path, secret: str, msg_id: str, timestamp: int, sha256: str,
                legacy: bool) -> dict[str, str]:
    """The signature headers of an upload, the file read once in chunks (flat memory)."""
    with path.open("rb") as fh:
        return _signatures(iter(lambda: fh.read(READ_CHUNK), b""), secret, msg_id, timestamp, sha256, legacy)


def read_and_sign(path: Path, secret: str, msg_id: str, timestamp: int, sha256: str,
                  legacy: bool) -> tuple[bytes | None, dict[str, str]]:
    """The body of a small upload (``IN_MEMORY_MAX``) and its signature headers, from one read; a
    larger one's headers only (None: stream it), read in chunks as :func:`sign_upload` does."""
    with path.open("rb") as fh:
        body = fh.read(IN_MEMORY_MAX + 1)
    if len(body) > IN_MEMORY_MAX:
        del body  # (flat memory: let it go before the chunked pass)
        return None, sign_upload(path, secret, msg_id, timestamp, sha256, legacy)
    return body, _signatures((body,), secret, msg_id, timestamp, sha256, legacy)


def _signatures(chunks: Iterable[bytes], secret: str, msg_id: str, timestamp: int, sha256: str,
                legacy: bool) -> dict[str, str]:
    """The signature headers of the body given in ``chunks``.

    ``webhook-signature`` carries two ``v1`` signatures: over the body, as the specification says,
    and over the body's SHA-256 in hex (``X-Callrec-Content-SHA256``), for the Standard Webhooks
    libraries that take the payload as text (a ZIP is not): verify that header's value with the
    library, then check that the body's SHA-256 is that value."""
    body_mac = webhook_mac(secret, msg_id, timestamp)
    legacy_mac = new_mac(secret) if legacy else None
    for chunk in chunks:
        body_mac.update(chunk)
        if legacy_mac is not None:
            legacy_mac.update(chunk)
    headers = webhook_headers(msg_id, timestamp, body_mac.digest(),
                              webhook_digest(secret, msg_id, timestamp, sha256.encode()))
    if legacy_mac is not None:
        headers[HEADER_SIGNATURE] = format_signature(legacy_mac.hexdigest())
    return headers


class HttpTransport:
    name = "http"

    def __init__(self, url: str, secret: str, connect_timeout: float = 10.0,
                 read_timeout: float = 300.0, legacy_signature: bool = True,
                 networks: tuple[IpNetwork, ...] = ()) -> None:
        self._url = url
        self._secret = secret
        self._legacy = legacy_signature
        self._networks = networks  # non-public networks the operator allows (rules/destinations.py)
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout,
                                              sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._networks))
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        return self._session

    async def send(self, upload: Upload) -> Receipt:
        try:
            check_url(self._url, self._networks)
        except DestinationRefused as exc:
            raise refused(exc) from exc
        try:
            # webhook-id: the idempotency key, the same at every attempt; the timestamp is this one's.
            body, signatures = await asyncio.to_thread(read_and_sign, upload.path, self._secret, upload.key,
                                                       int(time.time()), upload.sha256, self._legacy)
        except FileNotFoundError as exc:
            raise DeliveryFailure.from_kind(FailureKind.LOCAL_FILE, f"ZIP missing: {exc}") from exc
        sealed = is_sealed(upload.path)
        headers = {
            # a sealed copy is the age file itself (delivery/sealing.py)
            "Content-Type": "application/age" if sealed else "application/zip",
            **({HEADER_ENCRYPTION: "age"} if sealed else {}),
            **signatures,
            HEADER_KEY: upload.key,
            HEADER_CALL_ID: upload.call_id,
            HEADER_SHA256: upload.sha256,
        }
        try:
            if body is not None:
                text, status = await self._post(body, headers)
            else:
                with upload.path.open("rb") as stream:  # aiohttp streams an open file in chunks
                    text, status = await self._post(stream, headers)
        except FileNotFoundError as exc:
            raise DeliveryFailure.from_kind(FailureKind.LOCAL_FILE, f"ZIP missing: {exc}") from exc
        except TimeoutError as exc:
            raise DeliveryFailure.from_kind(FailureKind.TIMEOUT, f"timed out: {exc!r}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            if (why := refused_in(exc)) is not None:
                raise refused(why) from exc
            raise DeliveryFailure.from_kind(FailureKind.CONNECTION, f"{type(exc).__name__}: {exc}") from exc
        answer = _json(text)
        if not 200 <= status < 300:
            # The customer sees the status and the protocol's error id, never the body: whatever a
            # server answers (an internal page, another service's data) stays in the operator's log.
            error_id = answer.get("error_id")
            error_id = error_id if isinstance(error_id, str) and _TOKEN.fullmatch(error_id) else None
            log.warning("upload of %s refused by %s: HTTP %d, answer %r", upload.key, self._url, status,
                        text[:300])
            raise DeliveryFailure.from_status(status, f"HTTP {status}" + (f" {error_id}" if error_id else ""),
                                              error_id)
        acked = answer.get("sha256")
        if acked is not None and acked != upload.sha256:
            raise DeliveryFailure(Outcome.TRANSIENT, "ack-mismatch",
                                  f"receiver acknowledged sha256 {acked}, sent {upload.sha256}", status)
        return Receipt(self.name, {"status": status, "answer": answer})

    async def _post(self, data: Any, headers: dict[str, str]) -> tuple[str, int]:
        async with self._client().post(self._url, data=data, headers=headers, allow_redirects=False) as resp:
            return await resp.text(), resp.status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


_TOKEN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def refused(exc: DestinationRefused) -> DeliveryFailure:
    """Transient: the recording waits (up to its 7 days) for the operator to allow the network or the
    customer to give a public endpoint; nothing was sent."""
    return DeliveryFailure(Outcome.TRANSIENT, REFUSED, str(exc))


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


__all__ = ["HttpTransport", "refused"]
