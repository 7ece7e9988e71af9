"""HTTP(S) POST of the ZIP, streamed from disk, signed with the connection's secret."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp

from callrec_ari.delivery.transport import DeliveryFailure, Receipt, Upload
from callrec_ari.rules.delivery import FailureKind, Outcome
from callrec_ari.rules.signing import (
    HEADER_CALL_ID,
    HEADER_KEY,
    HEADER_SHA256,
    HEADER_SIGNATURE,
    format_signature,
    new_mac,
)

log = logging.getLogger(__name__)
READ_CHUNK = 1 << 20


def sign_file(path: Path, secret: str) -> str:
    """The signature header value for a file, read in chunks (flat memory)."""
    mac = new_mac(secret)
    with path.open("rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            mac.update(chunk)
    return format_signature(mac.hexdigest())


class HttpTransport:
    name = "http"

    def __init__(self, url: str, secret: str, connect_timeout: float = 10.0,
                 read_timeout: float = 300.0) -> None:
        self._url = url
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout,
                                              sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def send(self, upload: Upload) -> Receipt:
        try:
            signature = await asyncio.to_thread(sign_file, upload.path, self._secret)
        except FileNotFoundError as exc:
            raise DeliveryFailure.from_kind(FailureKind.LOCAL_FILE, f"ZIP missing: {exc}") from exc
        headers = {
            "Content-Type": "application/zip",
            HEADER_SIGNATURE: signature,
            HEADER_KEY: upload.key,
            HEADER_CALL_ID: upload.call_id,
            HEADER_SHA256: upload.sha256,
        }
        try:
            with upload.path.open("rb") as body:  # aiohttp streams an open file in chunks
                async with self._client().post(self._url, data=body, headers=headers,
                                               allow_redirects=False) as resp:
                    text = await resp.text()
                    status = resp.status
        except TimeoutError as exc:
            raise DeliveryFailure.from_kind(FailureKind.TIMEOUT, f"timed out: {exc!r}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryFailure.from_kind(FailureKind.CONNECTION, f"{type(exc).__name__}: {exc}") from exc
        answer = _json(text)
        if not 200 <= status < 300:
            error_id = answer.get("error_id") if isinstance(answer.get("error_id"), str) else None
            message = str(answer.get("message") or text[:300])
            raise DeliveryFailure.from_status(status, f"HTTP {status}: {message}", error_id)
        acked = answer.get("sha256")
        if acked is not None and acked != upload.sha256:
            raise DeliveryFailure(Outcome.TRANSIENT, "ack-mismatch",
                                  f"receiver acknowledged sha256 {acked}, sent {upload.sha256}", status)
        return Receipt(self.name, {"status": status, "answer": answer})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


__all__ = ["HttpTransport"]
