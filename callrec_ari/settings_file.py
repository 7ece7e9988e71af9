"""Reading the one TOML configuration file every capability shares, and typing its scalar values.

The call flow reads the top level (callrec_ari/config.py); file delivery its ``[delivery]`` table;
stream delivery its ``[stream]`` table. Each turns a problem into its own error class with a clear
message naming the file (and the key).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: str | Path, error: type[Exception], table: str | None = None) -> dict[str, Any]:
    """The whole file, or one of its tables (empty when absent)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise error(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"config file {path}: {exc}") from exc
    if table is None:
        return data
    section = data.get(table, {})
    if not isinstance(section, dict):
        raise error(f"config file {path}: [{table}] must be a table")
    return section


def coerce_scalar(kind: str, value: Any) -> Any:
    """A TOML or environment value as the field's type ("int", "float", else str).

    A boolean is not a number here, though Python would take it as 0 or 1. ValueError/TypeError on
    a bad value, for the caller to wrap with the key's name."""
    if kind in ("int", "float"):
        if isinstance(value, bool):
            raise ValueError("a number is expected, not a boolean")
        return int(value) if kind == "int" else float(value)
    return str(value)
