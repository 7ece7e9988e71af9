"""Run the Alembic migrations shipped with the package (``callrec_ari/db/migrations``, package data,
found through importlib.resources: the same from a checkout and from an installed wheel)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

# A package installed from a wheel is unpacked on disk: Alembic reads the scripts by path.
HERE = Path(str(files("callrec_ari.db")))


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


__all__ = ["alembic_config", "upgrade"]
