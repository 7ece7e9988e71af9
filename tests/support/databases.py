"""Fresh databases for tests: SQLite in the test's folder by default; with CALLREC_DATABASE_URL naming
a PostgreSQL server, a uniquely named database created on it for the test and dropped after. So the
whole suite runs against PostgreSQL with one variable, as production does. A test that needs a
database already migrated (and filled) takes a copy of one built once per process: ``database_copy``."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from callrec_ari.db.engine import database_url
from callrec_ari.db.migrate import upgrade

T = TypeVar("T")


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


def _pg_dsn(admin_url: str) -> str:
    return admin_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _create(server: str, name: str, template: str = "") -> str:
    """Database ``name`` created on ``server`` (a copy of ``template``, if named): its URL."""
    with psycopg.connect(_pg_dsn(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return server.rsplit("/", 1)[0] + f"/{name}"


def _drop(server: str, name: str) -> None:
    with psycopg.connect(_pg_dsn(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(tmp_path: Path, stem: str = "callrec") -> Iterator[str]:
    server = os.environ.get("CALLREC_DATABASE_URL", "")
    if not _is_postgres(server):
        yield f"sqlite:///{tmp_path / f'{stem}.db'}"
        return
    admin = database_url({"CALLREC_DATABASE_URL": server})  # postgresql+psycopg://…/<maintenance db>
    name = f"callrec_test_{uuid.uuid4().hex[:16]}"
    url = _create(admin, name)
    try:
        yield url
    finally:
        _drop(admin, name)


# Databases built once per test process and copied for each test that asks: a test starts from the
# same state as if it had built it itself (migrated, or migrated and filled), without paying for the
# migrations and the password hashing every time. A copy is SQLite's online backup of the template
# file (whole even in WAL mode), or on PostgreSQL a database created from the template
# (CREATE DATABASE … TEMPLATE, a copy of its files). Tests of the migrations themselves still run
# them on an empty database.
_TEMPLATES: dict[tuple[str, str], tuple[str, Path, Any]] = {}  # (key, server) -> (db, its files, value)


def _drop_templates() -> None:
    for (_key, server), (name, files, _value) in _TEMPLATES.items():
        shutil.rmtree(files.parent, ignore_errors=True)
        if server:
            with contextlib.suppress(psycopg.Error):
                _drop(server, name)


atexit.register(_drop_templates)


def _template(key: str, server: str, build: Callable[[str, Path], T]) -> tuple[str, Path, T]:
    """The template named ``key`` on ``server`` ("" for SQLite), built on first use: ``build(url,
    files)`` migrates and fills the database at ``url`` and may write files under ``files``."""
    if (key, server) not in _TEMPLATES:
        files = Path(tempfile.mkdtemp(prefix=f"callrec-template-{key}-")) / "files"
        files.mkdir()
        if server:
            name = f"callrec_template_{uuid.uuid4().hex[:16]}"
            url = _create(server, name)
        else:
            name = str(files.parent / "template.db")
            url = f"sqlite:///{name}"
        try:
            value = build(url, files)
        except BaseException:  # a template half built is not kept, here or on the server
            shutil.rmtree(files.parent, ignore_errors=True)
            if server:
                _drop(server, name)
            raise
        _TEMPLATES[(key, server)] = (name, files, value)
    return _TEMPLATES[(key, server)]


@contextlib.contextmanager
def database_copy(
    tmp_path: Path, key: str, build: Callable[[str, Path], T], *, server: str | None = None,
    stem: str = "callrec",
) -> Iterator[tuple[str, T]]:
    """A copy of the template ``key`` for one test: its URL, and what ``build`` returned. The template's
    files are copied into ``tmp_path``. ``server``: a PostgreSQL admin URL, or "" for SQLite; by default
    CALLREC_DATABASE_URL decides, as for :func:`fresh_database`. ``build`` must close every connection it
    opens (PostgreSQL copies only a database nobody is connected to)."""
    if server is None:
        env = os.environ.get("CALLREC_DATABASE_URL", "")
        server = database_url({"CALLREC_DATABASE_URL": env}) if _is_postgres(env) else ""
    name, files, value = _template(key, server, build)
    shutil.copytree(files, tmp_path, dirs_exist_ok=True)
    if not server:
        dest = tmp_path / f"{stem}.db"
        src, dst = sqlite3.connect(name), sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        yield f"sqlite:///{dest}", value
        return
    copy = f"callrec_test_{uuid.uuid4().hex[:16]}"
    url = _create(server, copy, template=name)
    try:
        yield url, value
    finally:
        _drop(server, copy)


def migrated(url: str, _files: Path) -> None:
    """The build of a database at the head revision, and nothing in it."""
    upgrade(url)
