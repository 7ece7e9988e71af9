"""The portal's frozen settings: the ``[portal]`` table of the settings file.

Defaults < file < ``CALLREC_PORTAL_<KEY>`` (``[portal.limits]``: ``CALLREC_PORTAL_LIMITS_<KEY>``) <
command line (``callrec portal``), through the one loader (:mod:`callrec_ari.settings`). The database
URL is the product's ``CALLREC_DATABASE_URL``; the notices folder defaults to the local Asterisk root's
(``CALLREC_ASTERISK_ROOT``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from callrec_ari.db.engine import DEFAULT_DATABASE_URL, ENV_DATABASE_URL, database_url
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
    cookie_secure: bool = False  # set behind TLS (CALLREC_PORTAL_COOKIE_SECURE=1)
    session_hours: float = 12.0
    login_max_failures: int = 5  # failures per login within the window before it is refused
    login_window_minutes: float = 15.0
    limits: AudioLimits = field(default_factory=AudioLimits)
    page_size: int = 50
    test_send_timeout: float = 10.0  # "send a test file": seconds to connect and to get the answer
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


__all__ = ["DEFAULT_ASTERISK_ROOT", "PortalConfigError", "PortalSettings", "default_notices_dir",
           "load_portal_settings"]
