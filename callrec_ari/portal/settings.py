"""The portal's frozen settings: the ``[portal]`` table of the settings file.

Defaults < file < ``CALLREC_PORTAL_<KEY>`` (``[portal.limits]``: ``CALLREC_PORTAL_LIMITS_<KEY>``) <
command line (``callrec portal``), through the one loader (:mod:`callrec_ari.settings`). The database
URL is the product's ``CALLREC_DATABASE_URL``; the notices folder defaults to the local Asterisk root's
(``CALLREC_ASTERISK_ROOT``).

The portal also reads ``[delivery]`` (:func:`load_portal_delivery`): a connection's endpoint is checked,
and a test file is sent, with the settings the delivery worker uses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from callrec_ari.db.engine import DEFAULT_DATABASE_URL, ENV_DATABASE_URL, database_url
from callrec_ari.delivery.settings import DeliveryConfigError, DeliverySettings
from callrec_ari.notices.audio import AudioLimits
from callrec_ari.settings import SettingsError, SettingsSource, as_source, load_table

DEFAULT_ASTERISK_ROOT = "/var/cache/callrec/asterisk-sid"


class PortalConfigError(SettingsError):
    error_id = "portal-config-invalid"


def default_notices_dir(env: Mapping[str, str] | None = None) -> str:
    """Where the local Asterisk finds ``callrec/custom/<name>`` (scripts/asterisk-root.sh)."""
    env = os.environ if env is None else env
    root = env.get("CALLREC_ASTERISK_ROOT") or DEFAULT_ASTERISK_ROOT
    return str(Path(root) / "usr/share/asterisk/sounds/callrec/custom")


@dataclass(frozen=True, slots=True)
class PortalSettings:
    database_url: str = field(default_factory=database_url, metadata={"env": ENV_DATABASE_URL})
    notices_dir: str = field(default_factory=default_notices_dir)
    cookie_secure: bool = False  # Secure always (CALLREC_PORTAL_COOKIE_SECURE=1); else see cookie_secure()
    # A TLS-terminating proxy forwards to the portal: trust its Forwarded / X-Forwarded-* (network.py).
    behind_proxy: bool = False
    tls_cert: str = ""  # serve HTTPS with this PEM certificate chain (and tls_key, unless in the same file)
    tls_key: str = ""
    session_hours: float = 12.0
    login_max_failures: int = 5  # failures per login within the window before it is refused
    login_max_failures_per_address: int = 30  # failures from one client address (IPv6: its /64), any login
    login_window_minutes: float = 15.0
    limits: AudioLimits = field(default_factory=AudioLimits)
    page_size: int = 50
    test_send_timeout: float = 30.0  # "send a test file": seconds the whole send may take, at most
    service_health_url: str = ""  # the ARI app's /readyz: failing checks show as a banner on every page
    service_health_interval: float = 5.0


def load_portal_settings(source: SettingsSource | str | Path | None = None,
                         env: Mapping[str, str] | None = None, **overrides: Any) -> PortalSettings:
    """Defaults < ``[portal]`` of the file < ``CALLREC_PORTAL_<KEY>`` < ``overrides`` (None: not given).

    ``source``: a file already read (:func:`callrec_ari.settings.read_settings`), or a path, or None
    for $CALLREC_CONFIG."""
    settings = as_source(source, env, PortalConfigError)
    loaded = load_table(PortalSettings, settings, ("portal",), PortalConfigError, overrides=overrides,
                        defaults={"database_url": DEFAULT_DATABASE_URL,
                                  "notices_dir": default_notices_dir(settings.env)})
    # postgresql:// however it was given (file, environment, --database-url) means psycopg 3.
    return replace(loaded, database_url=database_url({ENV_DATABASE_URL: loaded.database_url}))


def load_portal_delivery(source: SettingsSource | str | Path | None = None,
                         env: Mapping[str, str] | None = None) -> DeliverySettings:
    """``[delivery]`` as the portal uses it: the transports' timeouts and the platform's SSH identity
    (``sftp_key``, ``sftp_known_hosts``) for customers' ``sftp://`` connections, read by the same loader
    (same keys, same ``CALLREC_DELIVERY_<KEY>`` variables, same messages) as ``callrec deliver``.

    Unlike the worker it does not require the single-tenant ``[delivery.connection]``: the portal
    never delivers there, and a portal with no ``[delivery]`` table at all starts with the defaults."""
    settings = as_source(source, env, DeliveryConfigError)
    return load_table(DeliverySettings, settings, ("delivery",), DeliveryConfigError,
                      defaults={"database_url": DEFAULT_DATABASE_URL})


__all__ = ["DEFAULT_ASTERISK_ROOT", "PortalConfigError", "PortalSettings", "default_notices_dir",
           "load_portal_delivery", "load_portal_settings"]
