"""Every service takes ``--config`` and ``--database-url``; the option stands for $CALLREC_DATABASE_URL
only while the command runs; a database that cannot be reached is one line and exit 1."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from callrec_ari.cli import build_parser, main


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """main() sets up logging for the process; later tests must not inherit its handler."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("command", [["run"], ["deliver"], ["portal"], ["db", "upgrade"]])
def test_every_service_takes_the_database_url(command: list[str]) -> None:
    args = build_parser().parse_args([*command, "--database-url", "sqlite:////tmp/x.db"])
    assert args.database_url == "sqlite:////tmp/x.db"
    if command[0] != "db":
        assert hasattr(args, "config")


def test_db_upgrade_migrates_the_database_named_on_the_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLREC_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert main(["db", "upgrade", "--database-url", f"sqlite:///{tmp_path / 'named.db'}"]) == 0
    with sqlite3.connect(tmp_path / "named.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert not (tmp_path / "other.db").exists()
    assert os.environ["CALLREC_DATABASE_URL"] == f"sqlite:///{tmp_path / 'other.db'}"  # restored


def test_the_worker_with_its_database_down_is_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CALLREC_CONFIG", raising=False)
    monkeypatch.setenv("CALLREC_DELIVERY_CONNECTION_URL", "http://127.0.0.1:9/recordings")
    monkeypatch.setenv("CALLREC_DELIVERY_CONNECTION_SECRET", "a-secret-long-enough-for-tests")
    down = "postgresql+psycopg://callrec:pw-never-shown@127.0.0.1:1/none"
    assert main(["deliver", "--once", "--database-url", down]) == 1
    err = capsys.readouterr().err
    assert err.startswith("callrec: error: database-unavailable: ") and err.count("\n") == 1
    assert "pw-never-shown" not in err
