"""Fixtures every tier shares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.databases import fresh_database
from tests.support.network import dead_port

# No wall-clock deadline per example: `make test` runs these tests at nice 19 beside real calls, where
# one example of a 2 ms test took 278 ms and failed as "flaky". Speed is measured by `make bench`,
# never asserted in a test.
settings.register_profile("callrec", deadline=None)
settings.load_profile("callrec")


@pytest.fixture
def fresh_db_url(tmp_path: Path) -> Iterator[str]:
    """An empty database: SQLite, or PostgreSQL when CALLREC_DATABASE_URL names a server."""
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def down_port() -> Iterator[int]:
    """A customer's server that is down for the whole test (tests/support/network.py ``dead_port``)."""
    with dead_port() as port:
        yield port
