"""Migrations upgrade from empty (and back) on SQLite and on the real PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from callrec_ari.db.engine import database_url
from callrec_ari.db.migrate import alembic_config, upgrade

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TABLES = {"alembic_version", "audit_log", "deliveries", "delivery_attempts"}


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"callrec_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server here: the SQLite tests still run
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def check_round_trip(url: str) -> None:
    upgrade(url)
    engine = create_engine(url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        command.downgrade(alembic_config(url), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(url)
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_upgrade_from_empty(tmp_path: Path) -> None:
    check_round_trip(f"sqlite:///{tmp_path / 'm.db'}")


def test_postgresql_upgrade_from_empty(pg_url: str) -> None:
    check_round_trip(pg_url)


def test_database_url_defaults_to_sqlite_and_maps_postgres_to_psycopg() -> None:
    assert database_url({}) == "sqlite:///callrec.db"
    assert database_url({"CALLREC_DATABASE_URL": "postgresql://u@h/db"}) == "postgresql+psycopg://u@h/db"
