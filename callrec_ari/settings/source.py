"""The settings file, parsed once per command, and the environment read beside it.

Every command that has settings reads ONE TOML file (``--config`` or ``$CALLREC_CONFIG``) into a
:class:`SettingsSource`, then hands that source to each table's loader: the call flow reads the top
level, file delivery ``[delivery]``, stream delivery ``[stream]``, the portal ``[portal]``.

Environment names: a key of the top table is ``CALLREC_<KEY>``; a key of a table is
``CALLREC_<TABLE>_<KEY>`` (a sub-table adds its name: ``CALLREC_DELIVERY_CONNECTION_SECRET``). A
field may name its variable itself (``metadata={"env": ...}``): the database URL, shared by the whole
product, is ``CALLREC_DATABASE_URL`` wherever it is read.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callrec_ari.rules.secrets import DEMO_ENV, truthy

ENV_PREFIX = "CALLREC_"
ENV_FILE = "CALLREC_CONFIG"  # the file's path, when --config does not name one
# The tables beside the call flow's top-level keys.
TABLES = ("delivery", "stream", "portal", "privacy", "receiver")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names where it came from, the key and what was expected."""

    error_id = "config-invalid"


def parse_toml(path: str | Path) -> dict[str, Any]:
    """The one place the settings file is parsed (tests count calls to it)."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True, slots=True)
class SettingsSource:
    """A parsed settings file (or none) and the environment: everything but the command line."""

    path: str | None = None  # None: no file, only defaults and the environment
    document: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"config file {self.path}" if self.path else "config"

    def has_table(self, name: str) -> bool:
        return name in self.document


def read_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                  error: type[SettingsError] = SettingsError) -> SettingsSource:
    """Parse ``path`` (else ``$CALLREC_CONFIG``; else no file) once; ``env`` defaults to os.environ."""
    env = os.environ if env is None else env
    chosen = path or env.get(ENV_FILE) or None
    if not chosen:
        return SettingsSource(None, {}, env)
    try:
        document = parse_toml(chosen)
    except OSError as exc:
        raise error(f"cannot read config file {chosen}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"config file {chosen}: not valid TOML: {exc}") from exc
    return SettingsSource(str(chosen), document, env)


def demo_mode(source: SettingsSource) -> bool:
    """Demo mode: ``demo = true`` at the file's top level, or ``CALLREC_DEMO`` set true. Only then do
    the services start with the secrets published with the demo (rules/secrets.py)."""
    return truthy(source.document.get("demo")) or truthy(source.env.get(DEMO_ENV, ""))


def as_source(source: SettingsSource | str | Path | None, env: Mapping[str, str] | None,
              error: type[SettingsError]) -> SettingsSource:
    """A source already read is used as it is (its environment with it); a path is read now."""
    if isinstance(source, SettingsSource):
        if env is not None:
            raise TypeError("a SettingsSource carries its environment; do not pass env as well")
        return source
    return read_settings(source, env, error)


def env_name(table: tuple[str, ...], key: str) -> str:
    """``CALLREC_<KEY>`` for the top table, ``CALLREC_<TABLE>[_<SUBTABLE>]_<KEY>`` for the others."""
    return ENV_PREFIX + "_".join((*table, key)).upper()


__all__ = ["ENV_FILE", "ENV_PREFIX", "TABLES", "SettingsError", "SettingsSource", "as_source", "env_name",
           "parse_toml", "read_settings"]
