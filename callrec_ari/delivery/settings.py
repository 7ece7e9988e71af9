"""Delivery settings: one frozen object from defaults < the TOML ``[delivery]`` table < environment.

Same file as :func:`callrec_ari.config.load_config` ($CALLREC_CONFIG). Keys of ``[delivery]`` map to
``CALLREC_DELIVERY_<KEY>``; keys of ``[delivery.connection]`` to ``CALLREC_DELIVERY_CONNECTION_<KEY>``;
the database URL is shared by the whole product: ``CALLREC_DATABASE_URL``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from callrec_ari.db.engine import database_url
from callrec_ari.settings_file import coerce_scalar, read_toml


class DeliveryConfigError(ValueError):
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


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    database_url: str = field(default_factory=database_url)
    spool_dir: str = "spool/delivery"  # ZIPs waiting for delivery live in <spool_dir>/outbox
    node: str = field(default_factory=socket.gethostname)  # a worker delivers its own node's spool
    retention_days: float = 7.0  # R1.3
    burst_attempts: int = 3  # quick tries in a row (tenacity) before waiting retry_interval
    backoff_initial: float = 1.0  # seconds, exponential between the quick tries
    backoff_max: float = 30.0
    backoff_jitter: float = 1.0
    retry_interval: float = 300.0  # seconds between bursts, until retention ends
    poll_interval: float = 5.0
    concurrency: int = 4  # uploads in flight
    lease_seconds: float = 3600.0  # a claim another worker on this node must not steal
    connect_timeout: float = 10.0
    read_timeout: float = 300.0  # waiting for the customer's answer after the body was sent
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)

    @property
    def outbox(self) -> Path:
        return Path(self.spool_dir) / "outbox"


def _coerce(cls: type[Any], key: str, value: Any, where: str) -> Any:
    kinds = {f.name: f.type for f in fields(cls)}
    if key not in kinds or key == "connection":
        raise DeliveryConfigError(f"{where}: unknown key {key!r}")
    try:
        return coerce_scalar(str(kinds[key]), value)
    except (TypeError, ValueError) as exc:
        raise DeliveryConfigError(f"{where}: key {key!r}: {exc}") from exc


def _env_values(cls: type[Any], env: Mapping[str, str], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in ("connection", "database_url"):
            continue
        raw = env.get(prefix + f.name.upper())
        if raw is not None:
            out[f.name] = _coerce(cls, f.name, raw, prefix + f.name.upper())
    return out


def validate(settings: DeliverySettings) -> DeliverySettings:
    conn = settings.connection
    if conn.type not in ("http", "sftp"):
        raise DeliveryConfigError(f"connection type must be 'http' or 'sftp', got {conn.type!r}")
    if conn.type == "http" and (not conn.url.startswith(("http://", "https://")) or not conn.secret):
        raise DeliveryConfigError("http connection needs an http(s):// url and a secret")
    if conn.type == "sftp" and not (conn.sftp_host and conn.sftp_user and conn.sftp_key):
        raise DeliveryConfigError("sftp connection needs sftp_host, sftp_user and sftp_key")
    if settings.retention_days <= 0 or settings.burst_attempts < 1 or settings.concurrency < 1:
        raise DeliveryConfigError("retention_days > 0, burst_attempts >= 1 and concurrency >= 1")
    return settings


def load_delivery_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                           **overrides: Any) -> DeliverySettings:
    """Defaults < TOML ``[delivery]`` (``path`` or $CALLREC_CONFIG) < environment < overrides."""
    env = os.environ if env is None else env
    top: dict[str, Any] = {"database_url": database_url(env)}
    conn: dict[str, Any] = {}
    path = path or env.get("CALLREC_CONFIG")
    if path:
        table = read_toml(path, DeliveryConfigError, "delivery")
        for key, value in table.items():
            if key == "connection":
                for ckey, cvalue in dict(value).items():
                    conn[ckey] = _coerce(ConnectionSettings, ckey, cvalue, f"{path} [delivery.connection]")
            else:
                top[key] = _coerce(DeliverySettings, key, value, f"{path} [delivery]")
    top.update(_env_values(DeliverySettings, env, "CALLREC_DELIVERY_"))
    conn.update(_env_values(ConnectionSettings, env, "CALLREC_DELIVERY_CONNECTION_"))
    top.update(overrides)
    if "connection" not in overrides:
        top["connection"] = replace(ConnectionSettings(), **conn)
    return validate(replace(DeliverySettings(), **top))


__all__ = ["ConnectionSettings", "DeliveryConfigError", "DeliverySettings", "load_delivery_settings",
           "validate"]
