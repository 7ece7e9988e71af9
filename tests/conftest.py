"""Fixtures every tier shares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import fresh_database


@pytest.fixture
def fresh_db_url(tmp_path: Path) -> Iterator[str]:
    """An empty database: SQLite, or PostgreSQL when CALLREC_DATABASE_URL names a server."""
    with fresh_database(tmp_path) as url:
        yield url
