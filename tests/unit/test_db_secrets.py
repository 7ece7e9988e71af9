"""Secrets around the database (issue 16): the SQLite file is created readable by its owner only,
and a database URL is shown with its password masked."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from callrec_ari.db.engine import make_engine, masked_url


def test_the_sqlite_file_is_created_for_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "callrec.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("create table t (x int)"))
    engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_database_url_never_shows_its_password() -> None:
    shown = masked_url("postgresql+psycopg://callrec:s3cret-pw@db.example:5432/callrec")
    assert "s3cret-pw" not in shown and "db.example" in shown and "callrec" in shown
    assert masked_url("sqlite:///var/callrec.db") == "sqlite:///var/callrec.db"
    assert "pw" not in masked_url("not a url with pw")
