"""The stream metadata document: which call a stream carries (docs/stream-protocol.md).

Built by the platform at stream start and sent in the signed ``start`` notification; validated by the
reference receiver. Over RTP the receiver ties packets to the call by their source, ``rtp_source``: the
local address and port of Asterisk's externalMedia channel (channel variables
``UNICASTRTP_LOCAL_ADDRESS`` and ``UNICASTRTP_LOCAL_PORT``). Over WebSocket it ties the connection to
the call by ``channel_id``: the externalMedia channel's id, which Asterisk's first message on the
connection (``MEDIA_START``) names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callrec_ari.rules.manifest import DIRECTIONS, InvalidCallRecord, NoticeEntry, format_utc, parse_utc
from callrec_ari.rules.stream import FORMATS, stream_format
from callrec_ari.streaming.settings import StreamSettings

METADATA_VERSION = 1
MAX_CALL_ID = 256


class InvalidStreamMetadata(ValueError):
    error_id = "metadata-invalid"


@dataclass(frozen=True, slots=True)
class StreamMetadata:
    call_id: str
    line: str  # the subscriber line whose call this is
    caller: str  # empty when withheld (R2.2)
    callee: str
    direction: str  # "outgoing" | "incoming", seen from the line
    started_at: datetime  # UTC, when the stream joined the bridge (after the notice and tone)
    format: str  # "ulaw" | "slin16"
    sample_rate: int
    payload_type: int
    rtp_source: str  # rtp: "ip:port" the RTP comes from (Asterisk's side); websocket: ""
    rtp_destination: str  # rtp: "host:port" it goes to (the customer's RTP listener); websocket: ""
    version: int = METADATA_VERSION
    transport: str = "rtp"  # "rtp" | "websocket"
    channel_id: str = ""  # websocket: the channel_id of the connection's MEDIA_START
    websocket_connection: str = ""  # websocket: Asterisk's websocket_client.conf entry, for your logs
    # websocket: the nonce of the connection's credentials (rules/media_credentials.py); it ties the
    # WebSocket Asterisk opened to this signed notification.
    media_nonce: str = ""
    # What the parties heard before the stream started: each sound of the notice and tone (R2.1).
    notices: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "version": self.version, "call_id": self.call_id, "line": self.line, "caller": self.caller,
            "callee": self.callee, "direction": self.direction, "started_at": format_utc(self.started_at),
            "format": self.format, "sample_rate": self.sample_rate, "payload_type": self.payload_type,
            "transport": self.transport, "notices": [dict(n) for n in self.notices]}
        if self.transport == "websocket":
            doc.update(channel_id=self.channel_id, websocket_connection=self.websocket_connection)
            if self.media_nonce:
                doc["media_nonce"] = self.media_nonce
        else:
            doc.update(rtp_source=self.rtp_source, rtp_destination=self.rtp_destination)
        return doc

    @property
    def source(self) -> tuple[str, int]:
        return split_host_port(self.rtp_source, "rtp_source", numeric=True)


def split_host_port(value: str, field: str, *, numeric: bool = False) -> tuple[str, int]:
    """``"1.2.3.4:5"`` or ``"[::1]:5"`` → (host, port). ``numeric``: the host must be an IP address
    (what the receiver sees as a packet's source), written in its canonical form."""
    host, sep, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidStreamMetadata(f"{field}: expected host:port, got {value!r}")
    if numeric:
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            raise InvalidStreamMetadata(f"{field}: {host!r} is not an IP address") from None
    return host, int(port_text)


def build_metadata(*, call_id: str, line: str, caller: str, callee: str, direction: str,
                   started_at: datetime, settings: StreamSettings, rtp_source: str = "",
                   channel_id: str = "", notices: tuple[NoticeEntry, ...] = (),
                   media_nonce: str = "") -> StreamMetadata:
    """The metadata of one call's stream, from the call and the connection's settings: ``rtp_source``
    for the RTP transport, ``channel_id`` for the WebSocket one. Validated: a bad field raises
    :class:`InvalidStreamMetadata` here, on the platform, not at the customer."""
    fmt = stream_format(settings.format)
    websocket = settings.transport == "websocket"
    meta = StreamMetadata(call_id=call_id, line=line, caller=caller, callee=callee, direction=direction,
                          started_at=started_at, format=fmt.name, sample_rate=fmt.sample_rate,
                          payload_type=fmt.payload_type, rtp_source="" if websocket else rtp_source,
                          rtp_destination="" if websocket else settings.external_host,
                          transport=settings.transport, channel_id=channel_id if websocket else "",
                          websocket_connection=settings.websocket_connection if websocket else "",
                          media_nonce=media_nonce if websocket else "",
                          notices=tuple(n.to_json() for n in notices))
    return parse_metadata(meta.to_json())


def _text(data: Mapping[str, Any], field: str, *, allow_empty: bool = False) -> str:
    value = data.get(field)
    if not isinstance(value, str) or (not allow_empty and not value):
        raise InvalidStreamMetadata(f"{field}: expected a non-empty string, got {value!r}")
    return value


def _int(data: Mapping[str, Any], field: str) -> int:
    value = data.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidStreamMetadata(f"{field}: expected an integer, got {value!r}")
    return value


_NOTICE_KEYS = {"to": str, "sound": str, "outcome": str}


def _notices(data: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """``notices``: a list of {to, sound, started_at, ended_at, outcome} (optional: older senders
    leave it out). Bounded, each field checked, so a receiver keeps nothing it did not understand."""
    value = data.get("notices", [])
    if not isinstance(value, list) or len(value) > 16:
        raise InvalidStreamMetadata("notices: expected a list of at most 16 objects")
    out = []
    for i, entry in enumerate(value, start=1):
        if not isinstance(entry, Mapping):
            raise InvalidStreamMetadata(f"notices: entry {i} is not an object")
        for key, kind in _NOTICE_KEYS.items():
            if not isinstance(entry.get(key), kind) or len(entry[key]) > 200:
                raise InvalidStreamMetadata(f"notices: entry {i}: {key} must be a short string")
        stamps: dict[str, str | None] = {}
        for key in ("started_at", "ended_at"):
            stamp = entry.get(key)
            if stamp is not None:
                try:
                    stamps[key] = format_utc(parse_utc(stamp, f"notices {i} {key}"))
                except InvalidCallRecord as exc:
                    raise InvalidStreamMetadata(str(exc)) from exc
            else:
                stamps[key] = None
        out.append({"to": entry["to"], "sound": entry["sound"], **stamps, "outcome": entry["outcome"]})
    return tuple(out)


def parse_metadata(data: object) -> StreamMetadata:
    """Validate a metadata document (a decoded JSON object)."""
    if not isinstance(data, Mapping):
        raise InvalidStreamMetadata(f"metadata: expected a JSON object, got {type(data).__name__}")
    if (version := data.get("version")) != METADATA_VERSION:
        raise InvalidStreamMetadata(f"version: expected {METADATA_VERSION}, got {version!r}")
    call_id = _text(data, "call_id")
    if len(call_id) > MAX_CALL_ID or not call_id.isprintable():
        raise InvalidStreamMetadata(f"call_id: printable, at most {MAX_CALL_ID} characters")
    direction = _text(data, "direction")
    if direction not in DIRECTIONS:
        raise InvalidStreamMetadata(f"direction: expected one of {DIRECTIONS}, got {direction!r}")
    fmt_name = _text(data, "format")
    if fmt_name not in FORMATS:
        raise InvalidStreamMetadata(f"format: expected one of {tuple(FORMATS)}, got {fmt_name!r}")
    fmt = FORMATS[fmt_name]
    if (rate := _int(data, "sample_rate")) != fmt.sample_rate:
        raise InvalidStreamMetadata(f"sample_rate: {fmt_name} is {fmt.sample_rate} Hz, got {rate}")
    payload_type = _int(data, "payload_type")
    if not 0 <= payload_type < 128:
        raise InvalidStreamMetadata(f"payload_type: expected 0..127, got {payload_type}")
    try:
        started_at = parse_utc(data.get("started_at"), "started_at")
    except InvalidCallRecord as exc:
        raise InvalidStreamMetadata(str(exc)) from exc
    common: dict[str, Any] = dict(
        call_id=call_id, line=_text(data, "line"), caller=_text(data, "caller", allow_empty=True),
        callee=_text(data, "callee", allow_empty=True), direction=direction, started_at=started_at,
        format=fmt_name, sample_rate=rate, payload_type=payload_type, notices=_notices(data))
    transport = data.get("transport", "rtp")
    if transport == "websocket":
        channel_id = _text(data, "channel_id")
        if len(channel_id) > MAX_CALL_ID or not channel_id.isprintable() or " " in channel_id:
            raise InvalidStreamMetadata(f"channel_id: printable without spaces, at most {MAX_CALL_ID}")
        nonce = data.get("media_nonce", "")
        if not isinstance(nonce, str) or len(nonce) > 64 or not nonce.isascii() or not nonce.isprintable():
            raise InvalidStreamMetadata("media_nonce: a short printable ASCII string")
        return StreamMetadata(**common, rtp_source="", rtp_destination="", transport="websocket",
                              channel_id=channel_id,
                              websocket_connection=_text(data, "websocket_connection", allow_empty=True),
                              media_nonce=nonce)
    if transport != "rtp":
        raise InvalidStreamMetadata(f"transport: expected 'rtp' or 'websocket', got {transport!r}")
    source_host, source_port = split_host_port(_text(data, "rtp_source"), "rtp_source", numeric=True)
    split_host_port(_text(data, "rtp_destination"), "rtp_destination")
    return StreamMetadata(**common, rtp_source=format_host_port(source_host, source_port),
                          rtp_destination=_text(data, "rtp_destination"))


def format_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


__all__ = ["METADATA_VERSION", "InvalidStreamMetadata", "StreamMetadata", "build_metadata",
           "format_host_port", "parse_metadata", "split_host_port"]
