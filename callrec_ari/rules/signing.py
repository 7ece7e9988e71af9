"""The upload protocol's headers and its HMAC-SHA256 signature (docs/delivery-protocol.md).

Shared by the sender and the reference receiver so both sides agree byte for byte. Pure: the
callers feed the bytes.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER_SIGNATURE = "X-Callrec-Signature"  # "sha256=<hex HMAC-SHA256(secret, body)>"
HEADER_KEY = "Idempotency-Key"
HEADER_CALL_ID = "X-Callrec-Call-Id"
HEADER_SHA256 = "X-Callrec-Content-SHA256"  # hex sha256 of the body
SIGNATURE_PREFIX = "sha256="


def new_mac(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def format_signature(mac_hex: str) -> str:
    return SIGNATURE_PREFIX + mac_hex


def signature_matches(header: str | None, mac_hex: str) -> bool:
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(header[len(SIGNATURE_PREFIX):].strip().lower(), mac_hex)


__all__ = [
    "HEADER_CALL_ID",
    "HEADER_KEY",
    "HEADER_SHA256",
    "HEADER_SIGNATURE",
    "format_signature",
    "new_mac",
    "signature_matches",
]
