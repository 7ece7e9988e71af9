"""Alembic environment: the URL from the config (set by callrec_ari.db.migrate) or CALLREC_DATABASE_URL.

The migrations are written by hand and need no models to run, so the database layer imports none of the
packages that declare tables (they import it). tests/db/test_migrations.py imports the models and checks
that the migrated schema equals what they declare."""

from __future__ import annotations

from alembic import context

from callrec_ari.db import Base, database_url, make_engine

config = context.config
target_metadata = Base.metadata  # the tables of whatever models the caller imported (autogenerate)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or database_url()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
