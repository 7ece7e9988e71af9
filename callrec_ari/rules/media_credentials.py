"""Per-call credentials of a WebSocket stream (docs/stream-protocol.md, "Authenticating the media").

Asterisk's chan_websocket opens the stream's WebSocket to the customer's URL; anyone who can reach
that URL can open one too, and the channel id alone is predictable. So every stream channel is
dialled with four URI parameters (chan_websocket's ``v()`` dial option appends them to the URL):

- ``callrec_channel``: the channel id its ``MEDIA_START`` will name;
- ``callrec_nonce``: 128 random bits, also in the signed ``start`` notification's metadata
  (``media_nonce``), which ties this connection to that notification;
- ``callrec_expires``: Unix seconds after which the credentials are void;
- ``callrec_signature``: hex HMAC-SHA256, with the connection's secret, of
  ``callrec-media.v1.<channel>.<nonce>.<expires>``.

The customer's server checks them at the HTTP upgrade, before it accepts the WebSocket: a client
without them never gets a connection, so it can neither claim a channel nor fill a connection cap.
Pure: the caller brings the secret, the clock and the randomness.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

PARAM_CHANNEL: Final = "callrec_channel"
PARAM_NONCE: Final = "callrec_nonce"
PARAM_EXPIRES: Final = "callrec_expires"
PARAM_SIGNATURE: Final = "callrec_signature"
PARAMS: Final = (PARAM_CHANNEL, PARAM_NONCE, PARAM_EXPIRES, PARAM_SIGNATURE)
LIFETIME_SECONDS: Final = 60  # Asterisk connects within the dial (seconds); a captured URL soon expires
MAX_LIFETIME_SECONDS: Final = 3600  # a receiver refuses credentials that claim to live longer
_DOMAIN: Final = "callrec-media.v1"


class InvalidMediaCredentials(ValueError):
    """``error_id``: ``media-credentials-missing``, ``-invalid`` or ``-expired``."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


@dataclass(frozen=True, slots=True)
class MediaCredentials:
    channel_id: str
    nonce: str
    expires: int  # Unix seconds
    signature: str  # hex

    def params(self) -> dict[str, str]:
        return {PARAM_CHANNEL: self.channel_id, PARAM_NONCE: self.nonce, PARAM_EXPIRES: str(self.expires),
                PARAM_SIGNATURE: self.signature}

    def dial_option(self) -> str:
        """chan_websocket's ``v(name=value,…)``: each name and value URL-encoded on its own (a comma
        or a parenthesis inside would end the option)."""
        pairs = (f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.params().items())
        return "v(" + ",".join(pairs) + ")"


def _mac(secret: str, channel_id: str, nonce: str, expires: int) -> str:
    message = f"{_DOMAIN}.{channel_id}.{nonce}.{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def issue(secret: str, channel_id: str, now: float, lifetime: int = LIFETIME_SECONDS,
          nonce: str | None = None) -> MediaCredentials:
    if not secret:
        raise ValueError("media credentials need the connection's secret")
    nonce = nonce if nonce is not None else secrets.token_urlsafe(16)
    expires = int(now) + lifetime
    return MediaCredentials(channel_id, nonce, expires, _mac(secret, channel_id, nonce, expires))


def verify(secret: str, query: Mapping[str, str], now: float) -> MediaCredentials:
    """The credentials of a WebSocket upgrade's query string, checked; raises
    :class:`InvalidMediaCredentials`."""
    missing = [p for p in PARAMS if not query.get(p)]
    if missing:
        raise InvalidMediaCredentials("media-credentials-missing",
                                      f"the WebSocket URL lacks {', '.join(missing)}")
    channel_id, nonce = query[PARAM_CHANNEL], query[PARAM_NONCE]
    try:
        expires = int(query[PARAM_EXPIRES])
    except ValueError:
        raise InvalidMediaCredentials("media-credentials-invalid",
                                      f"{PARAM_EXPIRES} is not a number") from None
    signature = query[PARAM_SIGNATURE].strip().lower()
    if not hmac.compare_digest(signature, _mac(secret, channel_id, nonce, expires)):
        raise InvalidMediaCredentials("media-credentials-invalid", f"{PARAM_SIGNATURE} does not match")
    if expires < now:
        raise InvalidMediaCredentials("media-credentials-expired", f"the credentials expired at {expires}")
    if expires > now + MAX_LIFETIME_SECONDS:
        raise InvalidMediaCredentials("media-credentials-invalid", "the credentials claim to live too long")
    return MediaCredentials(channel_id, nonce, expires, signature)


__all__ = ["LIFETIME_SECONDS", "PARAMS", "InvalidMediaCredentials", "MediaCredentials", "issue", "verify"]
