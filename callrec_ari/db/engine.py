"""Engine and session factory. SQLite by default, PostgreSQL in production (psycopg 3)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_DATABASE_URL = "sqlite:///callrec.db"
ENV_DATABASE_URL = "CALLREC_DATABASE_URL"


def database_url(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    url = env.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL
    # "postgresql://" would pick psycopg2, which we do not ship.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # the call flow and the worker write concurrently
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def masked_url(url: str) -> str:
    """The URL with its password hidden, for every message and log line that shows one."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: show nothing of it that could be a secret
        return url.split("://", 1)[0] + "://…" if "://" in url else "…"


def unavailable(url: str, exc: Exception) -> str:
    """The one line every command prints when the database cannot be used: the error id, the URL
    with its password masked, the error's kind and its first line (masked too), never a traceback."""
    detail = str(exc).splitlines()[0].replace(url, masked_url(url)) if str(exc) else ""
    return f"database-unavailable: {masked_url(url)}: {type(exc).__name__}: {detail}"


def _owner_only(path: Path) -> None:
    """Call records and credentials live in this file: created readable by its owner only (SQLite
    would use the process umask; its -wal and -shm files take the database file's mode)."""
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)  # whatever the umask


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _owner_only(Path(path))
        # hide_parameters: an SQL error (logged, or shown as one line) never carries the values bound
        # to the statement: connection secrets, phone numbers, password hashes.
        engine = create_engine(url, connect_args={"timeout": 10}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class DatabaseUnreachable(RuntimeError):
    """What a worker process reports for a connection-level failure (app/handover.py): the
    driver's own exception may not survive the trip between processes."""


def database_unreachable(exc: BaseException) -> bool:
    """A connection-level failure (refused, reset, the server restarting or failing over), which a
    retry after a moment cures; not a bad statement or a constraint."""
    if isinstance(exc, DatabaseUnreachable):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    return exc.connection_invalidated or type(exc.orig).__name__ in ("OperationalError", "InterfaceError")


__all__ = ["DEFAULT_DATABASE_URL", "ENV_DATABASE_URL", "DatabaseUnreachable", "database_unreachable",
           "database_url", "make_engine", "make_sessionmaker", "masked_url", "unavailable"]
