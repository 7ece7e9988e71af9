"""Where the call flow finds subscriber lines: the configuration file, or the contracts database.

The database directory is ``contracts.directory.DatabaseLines`` (a service the app hands in). It is
read on every call, so what a customer or operator changes in the portal (start,
stop, consent, notice, suspension) takes effect on the next call without restarting anything.
"""

from __future__ import annotations

from typing import Protocol

from callrec_ari.config import Config, LineConfig


class LineDirectory(Protocol):
    def by_endpoint(self, endpoint: str) -> LineConfig | None: ...

    def by_number(self, number: str) -> LineConfig | None: ...

    def all_lines(self) -> list[LineConfig]: ...


class ConfigLines:
    """The ``[[lines]]`` of the configuration (the demo, tests, small static deployments)."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def by_endpoint(self, endpoint: str) -> LineConfig | None:
        return self._config.line_by_endpoint(endpoint)

    def by_number(self, number: str) -> LineConfig | None:
        return self._config.line_by_number(number)

    def all_lines(self) -> list[LineConfig]:
        return list(self._config.lines)
