"""Stream delivery settings: the ``[stream]`` table of the settings file.

Defaults < file < environment < overrides, through the one loader (:mod:`callrec_ari.settings`).
Keys of ``[stream]`` map to ``CALLREC_STREAM_<KEY>`` (for example ``CALLREC_STREAM_CONTROL_URL``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from callrec_ari.rules.destinations import InvalidAllowList, IpNetwork, parse_networks
from callrec_ari.rules.stream import FORMAT_NAMES, stream_format
from callrec_ari.settings import SettingsError, SettingsSource, as_source, load_table

MAX_TIMEOUT = 2.0  # a notification must never hold the call flow longer than this
TRANSPORTS = ("rtp", "websocket")
_CONNECTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class StreamConfigError(SettingsError):
    error_id = "stream-config-invalid"


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """One stream connection (R1.4, R1.5): where the audio and the notifications go.

    ``transport = "rtp"``: the audio goes as RTP/UDP to ``rtp_host:rtp_port``. ``transport =
    "websocket"`` (Asterisk 22.6+, chan_websocket): Asterisk opens a WebSocket per call to the URI of
    the ``websocket_client.conf`` entry named ``websocket_connection`` (dialplan/websocket_client.conf);
    the customer's URL lives there, in Asterisk's configuration, not here.
    """

    control_url: str = "http://127.0.0.1:8089/streams"  # signed start/heartbeat/end notifications
    rtp_host: str = "127.0.0.1"  # the customer's RTP listener (externalMedia external_host)
    rtp_port: int = 8090
    secret: str = ""  # HMAC-SHA256 key of this connection
    format: str = "ulaw"  # "ulaw" (8 kHz µ-law, PT 0) or "slin16" (16 kHz L16, PT 118)
    heartbeat_seconds: float = 5.0  # a dead customer endpoint shows within this (ICMP is not reported)
    timeout_seconds: float = 2.0  # per notification, connect included
    transport: str = "rtp"  # "rtp" (RTP over UDP) or "websocket" (chan_websocket, Asterisk 22.6+)
    websocket_connection: str = "callrec"  # websocket: the websocket_client.conf entry (its id)
    websocket_ready_seconds: float = 2.0  # how long the stream channel may take to be up (connected)
    # Also sign the notifications with the legacy X-Callrec-Signature (beside Standard Webhooks), for
    # a receiver that has not moved yet (docs/stream-protocol.md, Signatures).
    legacy_signature: bool = True
    # Non-public networks the notifications and the RTP may reach (rules/destinations.py), CIDRs; empty:
    # public addresses only. A contract's connection cannot point the platform at its own network.
    allow_destinations: tuple[str, ...] = ()

    @property
    def external_host(self) -> str:
        """``host:port`` as ARI's externalMedia ``external_host`` wants it (IPv6 in brackets)."""
        host = f"[{self.rtp_host}]" if ":" in self.rtp_host else self.rtp_host
        return f"{host}:{self.rtp_port}"

    @property
    def networks(self) -> tuple[IpNetwork, ...]:
        return parse_networks(self.allow_destinations)

    @property
    def sample_rate(self) -> int:
        return stream_format(self.format).sample_rate

    @property
    def payload_type(self) -> int:
        return stream_format(self.format).payload_type


def validate(settings: StreamSettings) -> StreamSettings:
    if not settings.control_url.startswith(("http://", "https://")):
        raise StreamConfigError(f"control_url must be http(s)://…, got {settings.control_url!r}")
    if not settings.secret:
        raise StreamConfigError("secret is required (HMAC-SHA256 key of the connection)")
    if settings.format not in FORMAT_NAMES:
        raise StreamConfigError(f"format must be one of {FORMAT_NAMES}, got {settings.format!r}")
    if settings.transport not in TRANSPORTS:
        raise StreamConfigError(f"transport must be one of {TRANSPORTS}, got {settings.transport!r}")
    if settings.transport == "rtp" and (not settings.rtp_host or not 0 < settings.rtp_port < 65536):
        raise StreamConfigError("rtp_host must be set and rtp_port in 1..65535")
    if settings.transport == "websocket" and not _CONNECTION_ID.fullmatch(settings.websocket_connection):
        raise StreamConfigError("websocket_connection must be the id of a websocket_client.conf entry "
                                f"([A-Za-z0-9._-], at most 64), got {settings.websocket_connection!r}")
    if not 0 < settings.websocket_ready_seconds <= 10:
        raise StreamConfigError("websocket_ready_seconds must be in (0, 10]")
    try:
        settings.networks  # noqa: B018 (parsed to be checked)
    except InvalidAllowList as exc:
        raise StreamConfigError(str(exc)) from None
    if settings.heartbeat_seconds <= 0:
        raise StreamConfigError("heartbeat_seconds must be > 0")
    if not 0 < settings.timeout_seconds <= MAX_TIMEOUT:
        raise StreamConfigError(f"timeout_seconds must be in (0, {MAX_TIMEOUT}]")
    return settings


def load_stream_settings(source: SettingsSource | str | Path | None = None,
                         env: Mapping[str, str] | None = None, **overrides: Any) -> StreamSettings:
    """Defaults < ``[stream]`` of the file < ``CALLREC_STREAM_<KEY>`` < ``overrides``.

    ``source``: a file already read (:func:`callrec_ari.settings.read_settings`), or a path, or None
    for $CALLREC_CONFIG."""
    settings = as_source(source, env, StreamConfigError)
    return validate(load_table(StreamSettings, settings, ("stream",), StreamConfigError, overrides=overrides))


def configured(source: SettingsSource) -> bool:
    """Stream delivery is configured when the file has a [stream] table or a CALLREC_STREAM_* is set."""
    return source.has_table("stream") or any(
        var.startswith("CALLREC_STREAM_") and value for var, value in source.env.items())


__all__ = ["MAX_TIMEOUT", "TRANSPORTS", "StreamConfigError", "StreamSettings", "configured",
           "for_connection", "load_stream_settings", "validate"]


def for_connection(base: StreamSettings, endpoint: str, secret: str,
                   legacy_signature: bool | None = None) -> StreamSettings:
    """The settings of one contract's stream connection (R1.5), from its endpoint URL:

    - ``rtp://HOST:PORT?control=URL[&format=ulaw|slin16]``: RTP over UDP to HOST:PORT;
    - ``websocket:CONNECTION_ID?control=URL[&format=…]``: chan_websocket through that
      websocket_client.conf entry.

    ``control`` is where the signed start/heartbeat/end notifications go. Anything the URL leaves
    out comes from ``base`` (the ``[stream]`` table). StreamConfigError on a malformed endpoint."""
    parts = urlsplit(endpoint.strip())
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(query) - {"control", "format"}
    if unknown:
        raise StreamConfigError(f"stream endpoint {endpoint!r}: unknown parameter(s) {sorted(unknown)}")
    values: dict[str, Any] = {"secret": secret or base.secret}
    if legacy_signature is not None:
        values["legacy_signature"] = legacy_signature
    if "control" in query:
        values["control_url"] = query["control"]
    if "format" in query:
        values["format"] = query["format"]
    try:
        if parts.scheme == "rtp":
            if not parts.hostname or parts.port is None:
                raise StreamConfigError(f"stream endpoint {endpoint!r}: rtp://HOST:PORT is required")
            values.update(transport="rtp", rtp_host=parts.hostname, rtp_port=parts.port)
        elif parts.scheme == "websocket":
            values.update(transport="websocket", websocket_connection=parts.path or parts.netloc)
        else:
            raise StreamConfigError(f"stream endpoint {endpoint!r}: scheme must be rtp:// or websocket:")
    except ValueError as exc:  # a port that is not a number
        raise StreamConfigError(f"stream endpoint {endpoint!r}: {exc}") from exc
    return validate(replace(base, **values))
