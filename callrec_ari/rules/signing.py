"""The signatures of uploads and stream notifications (docs/delivery-protocol.md, docs/stream-protocol.md).

Two schemes, shared by the sender and the reference receiver so both sides agree byte for byte:

- **Standard Webhooks** (https://www.standardwebhooks.com): ``webhook-id`` (the message's id, the
  same on a retry), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``
  (space-separated ``v1,<base64 HMAC-SHA256>`` over ``<id>.<timestamp>.<body>``). The key is the
  connection's secret as UTF-8 bytes; in a Standard Webhooks library it is
  ``whsec_<base64 of those bytes>`` (:func:`standard_webhooks_secret`). A receiver refuses a
  timestamp outside its tolerance window, so a captured request cannot be replayed later.
- **Legacy** ``X-Callrec-Signature: sha256=<hex HMAC-SHA256(secret, body)>``: no timestamp, kept for
  receivers that have not moved yet (a per-connection setting on the platform).

Pure: the callers feed the bytes and the clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

HEADER_SIGNATURE = "X-Callrec-Signature"  # "sha256=<hex HMAC-SHA256(secret, body)>"
HEADER_KEY = "Idempotency-Key"
HEADER_CALL_ID = "X-Callrec-Call-Id"
HEADER_SHA256 = "X-Callrec-Content-SHA256"  # hex sha256 of the body
HEADER_ENCRYPTION = "X-Callrec-Encryption"  # "age": the body is the ZIP encrypted to the customer's key
SIGNATURE_PREFIX = "sha256="
HEADER_WEBHOOK_ID = "webhook-id"
HEADER_WEBHOOK_TIMESTAMP = "webhook-timestamp"
HEADER_WEBHOOK_SIGNATURE = "webhook-signature"
TOLERANCE_SECONDS = 300  # the Standard Webhooks libraries' default window, each way
MAX_WEBHOOK_ID = 256
MAX_SIGNATURES = 8


def new_mac(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def format_signature(mac_hex: str) -> str:
    return SIGNATURE_PREFIX + mac_hex


def signature_matches(header: str | None, mac_hex: str) -> bool:
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(header[len(SIGNATURE_PREFIX):].strip().lower(), mac_hex)


class SignatureError(ValueError):
    """A request whose signature headers are missing, malformed, outside the window or wrong.
    ``error_id``: ``signature-missing``, ``signature-invalid`` or ``signature-expired``."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


def standard_webhooks_secret(secret: str) -> str:
    """The connection's secret as a Standard Webhooks library takes it."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def webhook_mac(secret: str, msg_id: str, timestamp: int) -> hmac.HMAC:
    """The Standard Webhooks MAC with ``<id>.<timestamp>.`` fed: feed the body (in chunks) next."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    mac.update(f"{msg_id}.{timestamp}.".encode())
    return mac


def webhook_digest(secret: str, msg_id: str, timestamp: int, body: bytes) -> bytes:
    mac = webhook_mac(secret, msg_id, timestamp)
    mac.update(body)
    return mac.digest()


def webhook_headers(msg_id: str, timestamp: int, *digests: bytes) -> dict[str, str]:
    return {HEADER_WEBHOOK_ID: msg_id, HEADER_WEBHOOK_TIMESTAMP: str(timestamp),
            HEADER_WEBHOOK_SIGNATURE: " ".join("v1," + base64.b64encode(d).decode() for d in digests)}


@dataclass(frozen=True, slots=True)
class WebhookSigned:
    """The Standard Webhooks headers of a request, read and within the window."""

    msg_id: str
    timestamp: int
    signatures: tuple[bytes, ...]

    def mac(self, secret: str) -> hmac.HMAC:
        return webhook_mac(secret, self.msg_id, self.timestamp)

    def matches(self, *digests: bytes) -> bool:
        """Whether any ``v1`` signature is any of ``digests`` (each compared in constant time)."""
        found = False
        for sig in self.signatures:
            for digest in digests:
                found |= hmac.compare_digest(sig, digest)
        return found


def read_webhook_headers(headers: Mapping[str, str], now: float,
                         tolerance: float = TOLERANCE_SECONDS) -> WebhookSigned | None:
    """The request's Standard Webhooks headers; None when it has none of them. Raises
    :class:`SignatureError` when they are incomplete, malformed, or the timestamp is outside
    ``now ± tolerance`` (checked before the body is read: a replay costs nothing)."""
    msg_id = headers.get(HEADER_WEBHOOK_ID)
    stamp = headers.get(HEADER_WEBHOOK_TIMESTAMP)
    signature = headers.get(HEADER_WEBHOOK_SIGNATURE)
    if msg_id is None and stamp is None and signature is None:
        return None
    if not msg_id or not stamp or not signature:
        raise SignatureError("signature-missing", f"{HEADER_WEBHOOK_ID}, {HEADER_WEBHOOK_TIMESTAMP} and "
                                                  f"{HEADER_WEBHOOK_SIGNATURE} go together")
    if len(msg_id) > MAX_WEBHOOK_ID or not msg_id.isprintable():
        raise SignatureError("signature-invalid", f"{HEADER_WEBHOOK_ID}: printable, at most {MAX_WEBHOOK_ID}")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise SignatureError("signature-invalid", f"{HEADER_WEBHOOK_TIMESTAMP}: Unix seconds")
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance:
        raise SignatureError("signature-expired", f"{HEADER_WEBHOOK_TIMESTAMP} {timestamp} is outside the "
                                                  f"{tolerance:.0f} s window around {now:.0f}")
    signatures = []
    for item in signature.split(" ")[:MAX_SIGNATURES]:
        version, _, encoded = item.partition(",")
        if version != "v1":
            continue
        try:
            signatures.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not signatures:
        raise SignatureError("signature-invalid", f"{HEADER_WEBHOOK_SIGNATURE} has no v1 signature")
    return WebhookSigned(msg_id, timestamp, tuple(signatures))


__all__ = [
    "HEADER_CALL_ID",
    "HEADER_ENCRYPTION",
    "HEADER_KEY",
    "HEADER_SHA256",
    "HEADER_SIGNATURE",
    "HEADER_WEBHOOK_ID",
    "HEADER_WEBHOOK_SIGNATURE",
    "HEADER_WEBHOOK_TIMESTAMP",
    "TOLERANCE_SECONDS",
    "SignatureError",
    "WebhookSigned",
    "format_signature",
    "new_mac",
    "read_webhook_headers",
    "signature_matches",
    "standard_webhooks_secret",
    "webhook_digest",
    "webhook_headers",
    "webhook_mac",
]
