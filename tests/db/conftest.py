"""Fresh databases for the contracts and migration tests: SQLite in a temp dir, and a uniquely named
PostgreSQL database on the machine's server (created for the test, dropped after; never skipped)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.db import make_engine, make_sessionmaker
from tests.support.databases import database_copy, migrated

# The maintenance database we connect to in order to create and drop the per-test databases.
PG_ADMIN_URL = os.environ.get("CALLREC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def _admin_dsn() -> str:
    return PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"callrec_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'callrec.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(params=BACKENDS)
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database at the head revision on each backend (a copy of one migrated once per process)."""
    server = PG_ADMIN_URL if request.param == "postgresql" else ""
    with database_copy(tmp_path, "migrated", migrated, server=server) as (url, _):
        yield url


@pytest.fixture
def session(migrated_url: str) -> Iterator[Session]:
    engine = make_engine(migrated_url)
    with make_sessionmaker(engine)() as s:
        yield s
    engine.dispose()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A fresh database at head (SQLite, or PostgreSQL when CALLREC_DATABASE_URL names one)."""
    with database_copy(tmp_path, "migrated", migrated) as (url, _):
        engine = make_engine(url)
        yield make_sessionmaker(engine)
        engine.dispose()
