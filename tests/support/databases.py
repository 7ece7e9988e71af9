"""Fresh databases for tests: SQLite in the test's folder by default; with CALLREC_DATABASE_URL naming
a PostgreSQL server, a uniquely named database created on it for the test and dropped after. So the
whole suite runs against PostgreSQL with one variable, as production does."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from callrec_ari.db.engine import database_url


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


@contextlib.contextmanager
def fresh_database(tmp_path: Path, stem: str = "callrec") -> Iterator[str]:
    server = os.environ.get("CALLREC_DATABASE_URL", "")
    if not _is_postgres(server):
        yield f"sqlite:///{tmp_path / f'{stem}.db'}"
        return
    admin = database_url({"CALLREC_DATABASE_URL": server})  # postgresql+psycopg://…/<maintenance db>
    dsn = admin.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"callrec_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
