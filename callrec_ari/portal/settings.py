"""The portal's frozen settings: defaults < environment < command line (``callrec portal``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from callrec_ari.db.engine import database_url
from callrec_ari.notices.audio import AudioLimits

DEFAULT_ASTERISK_ROOT = "/var/cache/callrec/asterisk-sid"


def default_notices_dir(env: Mapping[str, str] | None = None) -> str:
    """Where the local Asterisk finds ``callrec/custom/<name>`` (scripts/asterisk-root.sh)."""
    env = os.environ if env is None else env
    root = env.get("CALLREC_ASTERISK_ROOT") or DEFAULT_ASTERISK_ROOT
    return str(Path(root) / "usr/share/asterisk/sounds/callrec/custom")


@dataclass(frozen=True, slots=True)
class PortalSettings:
    database_url: str = field(default_factory=database_url)
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> PortalSettings:
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "database_url": database_url(env),
            "notices_dir": default_notices_dir(env),
        }
        if env.get("CALLREC_PORTAL_NOTICES_DIR"):
            values["notices_dir"] = env["CALLREC_PORTAL_NOTICES_DIR"]
        if env.get("CALLREC_PORTAL_SERVICE_HEALTH_URL"):
            values["service_health_url"] = env["CALLREC_PORTAL_SERVICE_HEALTH_URL"]
        if env.get("CALLREC_PORTAL_COOKIE_SECURE"):
            values["cookie_secure"] = env["CALLREC_PORTAL_COOKIE_SECURE"].lower() in ("1", "true", "yes")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


__all__ = ["DEFAULT_ASTERISK_ROOT", "PortalSettings", "default_notices_dir"]
