"""Delivery settings: ``[delivery]`` and ``[delivery.connection]`` of the settings file.

Defaults < file < environment < overrides, through the one loader (:mod:`callrec_ari.settings`).
Keys of ``[delivery]`` map to ``CALLREC_DELIVERY_<KEY>``; keys of ``[delivery.connection]`` to
``CALLREC_DELIVERY_CONNECTION_<KEY>``; the database URL is shared by the whole product:
``CALLREC_DATABASE_URL``.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from callrec_ari.db.engine import DEFAULT_DATABASE_URL, ENV_DATABASE_URL, database_url
from callrec_ari.rules.destinations import InvalidAllowList, IpNetwork, parse_networks
from callrec_ari.settings import SettingsError, SettingsSource, as_source, load_table


class DeliveryConfigError(SettingsError):
    error_id = "delivery-config-invalid"


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """The link to one customer's equipment (R1.5: file delivery on this connection)."""

    name: str = "default"
    type: str = "http"  # "http" (HTTP or HTTPS POST) or "sftp"
    url: str = "http://127.0.0.1:8089/recordings"
    secret: str = ""  # HMAC-SHA256 key of this connection (http)
    sftp_host: str = ""
    sftp_port: int = 22
    sftp_user: str = ""
    sftp_key: str = ""  # path of the private key
    sftp_known_hosts: str = ""  # path of a known_hosts file; empty = ~/.ssh/known_hosts
    sftp_path: str = "."  # remote folder
    legacy_signature: bool = True  # http: also send X-Callrec-Signature beside Standard Webhooks


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    database_url: str = field(default_factory=database_url, metadata={"env": ENV_DATABASE_URL})
    spool_dir: str = "spool/delivery"  # ZIPs waiting for delivery live in <spool_dir>/outbox
    node: str = field(default_factory=socket.gethostname)  # a worker delivers its own node's spool
    retention_days: float = 7.0  # R1.3
    burst_attempts: int = 3  # quick tries in a row (tenacity) before waiting retry_interval
    backoff_initial: float = 1.0  # seconds, exponential between the quick tries
    backoff_max: float = 30.0
    backoff_jitter: float = 1.0
    retry_interval: float = 300.0  # seconds between bursts, until retention ends
    # The worker looks at the queue every poll_interval (retries that fell due, other writers), and
    # at once when the app rings the doorbell (the outbox folder's time, set once a recording is
    # queued): it checks the bell, one stat(), every wake_interval. What it finds then is claimed in
    # one transaction: at 0.5 s, calls ending a few a second are claimed two or three together, and
    # the worker spends about a sixth less CPU per recording than at 0.2 s (docs/performance.md).
    # Expired recordings are purged every purge_interval.
    poll_interval: float = 5.0
    wake_interval: float = 0.5
    purge_interval: float = 60.0
    concurrency: int = 4  # uploads in flight, all connections together
    # Uploads in flight to one customer connection (a contract's file connection, or the single-tenant
    # [delivery.connection]), once one has been acknowledged; until then, and after a failure, one.
    per_connection: int = 2
    drain_timeout: float = 30.0  # on SIGTERM, how long uploads in flight may go on before being interrupted
    lease_seconds: float = 3600.0  # a claim another worker on this node must not steal
    connect_timeout: float = 10.0
    read_timeout: float = 300.0  # waiting for the customer's answer after the body was sent
    zip_level: int = 0  # 0: ZIP entries stored (PCM barely deflates); 1-9: deflated at that level
    http_host: str = "127.0.0.1"  # the worker's /metrics, /healthz, /readyz
    http_port: int = 8093  # 0: none
    # The platform's SSH identity for customers' sftp:// file connections (they authorize its public key).
    sftp_key: str = ""  # path of the private key; empty: [delivery.connection] sftp_key
    sftp_known_hosts: str = ""  # path of a known_hosts file; empty: [delivery.connection] sftp_known_hosts
    # Networks deliveries may reach although they are not public (loopback, private, link-local...):
    # CIDRs, e.g. ["10.20.0.0/16"] for customers' VPN ranges; empty: public addresses only
    # (rules/destinations.py: no server-side request forgery through a customer's endpoint).
    allow_destinations: tuple[str, ...] = ()
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)

    @property
    def networks(self) -> tuple[IpNetwork, ...]:
        return parse_networks(self.allow_destinations)

    @property
    def doorbell(self) -> Path:
        """The outbox folder itself: its time is set after each recording is queued (delivery/service.py)
        and the worker watches it; no file of its own is left on the platform."""
        return self.outbox

    @property
    def outbox(self) -> Path:
        return Path(self.spool_dir) / "outbox"


def validate(settings: DeliverySettings) -> DeliverySettings:
    """Checks across keys, once every layer is in (messages name the table and the key)."""
    conn = settings.connection
    if conn.type not in ("http", "sftp"):
        raise DeliveryConfigError(f"[delivery.connection] type = {conn.type!r}: expected 'http' or 'sftp'")
    if conn.type == "http" and (not conn.url.startswith(("http://", "https://")) or not conn.secret):
        raise DeliveryConfigError("[delivery.connection]: an http connection needs an http(s):// url "
                                  "and a secret")
    if conn.type == "sftp" and not (conn.sftp_host and conn.sftp_user and conn.sftp_key):
        raise DeliveryConfigError("[delivery.connection]: an sftp connection needs sftp_host, sftp_user "
                                  "and sftp_key")
    try:
        settings.networks  # noqa: B018 (parsed to be checked)
    except InvalidAllowList as exc:
        raise DeliveryConfigError(f"[delivery] {exc}") from None
    if not 0 <= settings.zip_level <= 9:
        raise DeliveryConfigError(f"[delivery] zip_level = {settings.zip_level!r}: expected 0 (stored) to 9")
    if settings.retention_days <= 0:
        raise DeliveryConfigError(f"[delivery] retention_days = {settings.retention_days!r}: "
                                  "expected a number > 0")
    for key in ("burst_attempts", "concurrency", "per_connection"):
        if getattr(settings, key) < 1:
            raise DeliveryConfigError(f"[delivery] {key} = {getattr(settings, key)!r}: expected at least 1")
    return settings


def load_delivery_settings(source: SettingsSource | str | Path | None = None,
                           env: Mapping[str, str] | None = None, **overrides: Any) -> DeliverySettings:
    """Defaults < ``[delivery]`` of the file < ``CALLREC_DELIVERY_<KEY>`` < ``overrides``.

    ``source``: a file already read (:func:`callrec_ari.settings.read_settings`), or a path, or None
    for $CALLREC_CONFIG."""
    settings = as_source(source, env, DeliveryConfigError)
    loaded = load_table(DeliverySettings, settings, ("delivery",), DeliveryConfigError, overrides=overrides,
                        defaults={"database_url": DEFAULT_DATABASE_URL})
    # postgresql:// however it was given (file, environment, override) means psycopg 3.
    loaded = replace(loaded, database_url=database_url({ENV_DATABASE_URL: loaded.database_url}))
    return validate(loaded)


__all__ = ["ConnectionSettings", "DeliveryConfigError", "DeliverySettings", "load_delivery_settings",
           "validate"]
