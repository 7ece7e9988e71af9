"""The stream control notifications (docs/stream-protocol.md), encoded and parsed the same way by
the platform's notifier and the reference receiver."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from callrec_ari.rules.manifest import format_utc
from callrec_ari.rules.signing import format_signature, new_mac
from callrec_ari.streaming.metadata import InvalidStreamMetadata, StreamMetadata, parse_metadata

CONTROL_PATH: Final = "/streams"  # where the reference receiver takes notifications
HEADER_EVENT: Final = "X-Callrec-Event"
PROTOCOL_VERSION: Final = 1
EVENTS: Final = ("start", "heartbeat", "end")
MAX_BODY: Final = 64 * 1024
MAX_REASON: Final = 200


class InvalidNotification(ValueError):
    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


@dataclass(frozen=True, slots=True)
class Notification:
    event: str
    call_id: str
    sent_at: str
    metadata: StreamMetadata | None = None  # start
    sequence: int = 0  # heartbeat: 1, 2, … per call
    reason: str = ""  # end


def encode(event: str, call_id: str, sent_at: datetime, **fields: Any) -> bytes:
    body = {"version": PROTOCOL_VERSION, "event": event, "call_id": call_id, "sent_at": format_utc(sent_at),
            **fields}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, secret: str) -> str:
    mac = new_mac(secret)
    mac.update(body)
    return format_signature(mac.hexdigest())


def parse(body: bytes) -> Notification:
    """A notification body, checked; raises :class:`InvalidNotification` with a stable error id."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidNotification("body-invalid", f"the body is not JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise InvalidNotification("body-invalid", "the body must be a JSON object")
    if data.get("version") != PROTOCOL_VERSION:
        raise InvalidNotification("version-unsupported",
                                  f"version: expected {PROTOCOL_VERSION}, got {data.get('version')!r}")
    event = data.get("event")
    if event not in EVENTS:
        raise InvalidNotification("event-unknown", f"event: expected one of {EVENTS}, got {event!r}")
    call_id, sent_at = data.get("call_id"), data.get("sent_at")
    if not isinstance(call_id, str) or not call_id or not isinstance(sent_at, str):
        raise InvalidNotification("body-invalid", "call_id and sent_at must be non-empty strings")
    if event == "start":
        try:
            meta = parse_metadata(data.get("metadata"))
        except InvalidStreamMetadata as exc:
            raise InvalidNotification(exc.error_id, str(exc)) from exc
        if meta.call_id != call_id:
            raise InvalidNotification("metadata-invalid", "metadata.call_id differs from call_id")
        return Notification(event, call_id, sent_at, metadata=meta)
    if event == "heartbeat":
        sequence = data.get("sequence", 0)
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
            raise InvalidNotification("body-invalid", "sequence must be a non-negative integer")
        return Notification(event, call_id, sent_at, sequence=sequence)
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise InvalidNotification("body-invalid", f"reason must be a string of at most {MAX_REASON}")
    return Notification(event, call_id, sent_at, reason=reason)


__all__ = ["CONTROL_PATH", "EVENTS", "HEADER_EVENT", "MAX_BODY", "PROTOCOL_VERSION", "InvalidNotification",
           "Notification", "encode", "parse", "sign"]
