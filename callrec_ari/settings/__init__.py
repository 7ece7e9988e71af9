"""One settings loader for every capability: defaults < TOML file < environment < command line.

:func:`read_settings` parses the file once per command; :func:`load_table` builds each table's frozen
dataclass from it with one set of typing rules and one error format (see :mod:`.typed`). The tables'
own modules (``callrec_ari.config``, ``delivery.settings``, ``streaming.settings``,
``portal.settings``) keep their dataclasses, their checks across keys and their error classes.
"""

from callrec_ari.settings.source import (
    ENV_FILE,
    ENV_PREFIX,
    TABLES,
    SettingsError,
    SettingsSource,
    as_source,
    demo_mode,
    env_name,
    read_settings,
)
from callrec_ari.settings.typed import env_names, load_table

__all__ = [
    "ENV_FILE",
    "ENV_PREFIX",
    "TABLES",
    "SettingsError",
    "SettingsSource",
    "as_source",
    "demo_mode",
    "env_name",
    "env_names",
    "load_table",
    "read_settings",
]
