"""Alembic migrations on SQLite and PostgreSQL: from empty, from every earlier revision, and back down.

The models are the reference: after ``upgrade head`` the schema must equal what they declare."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

import callrec_ari.contracts  # noqa: F401  (registers the contracts tables on Base.metadata)
from callrec_ari.db import Base, make_engine
from callrec_ari.db.migrate import alembic_config, upgrade

CONTRACT_TABLES = {"contracts", "lines", "connections", "call_records"}
SCRIPTS = ScriptDirectory.from_config(alembic_config("sqlite://"))
# Oldest first: None stands for the empty database (base).
REVISIONS: list[str | None] = [None, *reversed([s.revision for s in SCRIPTS.walk_revisions()])]
HEAD = SCRIPTS.get_current_head()
T0 = datetime(2025, 1, 31, 15, 0, tzinfo=UTC)


def current(url: str) -> str | None:
    engine = make_engine(url)
    with engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return rev


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    return names


def schema_diff(url: str) -> list[object]:
    """Differences between the migrated schema and the models, for the contracts tables."""
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()

    def table_of(item: object) -> str:
        entry = item[0] if isinstance(item, list) else item
        assert isinstance(entry, tuple)
        for part in entry[1:]:
            name = getattr(part, "name", None) if not hasattr(part, "table") else part.table.name
            if isinstance(name, str):
                return name
            if isinstance(part, str):
                return part
        return ""

    return [d for d in diff if table_of(d) in CONTRACT_TABLES]


def seed(url: str, revision: str | None) -> None:
    """Rows an operator would have at ``revision``: they must survive every later upgrade."""
    engine = make_engine(url)
    with engine.begin() as conn:
        if revision is not None and revision >= "0001":
            conn.execute(text(
                "INSERT INTO audit_log (at, actor, action, subject, reason, details) "
                "VALUES (:at, 'test', 'seeded', 'call-1', 'migration test', '{}')"), {"at": T0})
        if revision is not None and revision >= "0002":
            conn.execute(text(
                "INSERT INTO contracts (holder_name, reseller, omit_notice, suspended, created_at) "
                "VALUES ('ACME', false, false, false, :at)"), {"at": T0})
    engine.dispose()


def test_the_chain_is_linear_and_ends_with_contracts() -> None:
    assert len(SCRIPTS.get_heads()) == 1
    assert "0002" in REVISIONS
    assert SCRIPTS.get_revision("0002").down_revision == "0001"


def test_upgrade_from_empty_matches_the_models(empty_url: str) -> None:
    upgrade(empty_url)
    assert current(empty_url) == HEAD
    assert CONTRACT_TABLES <= tables(empty_url)
    assert schema_diff(empty_url) == []


@pytest.mark.parametrize("start", REVISIONS[1:-1] or [None], ids=str)
def test_upgrade_from_every_earlier_revision_keeps_data(empty_url: str, start: str | None) -> None:
    # GIVEN a database at an earlier revision with data in it
    if start is not None:
        upgrade(empty_url, start)
    seed(empty_url, start)
    # WHEN it is upgraded to head
    upgrade(empty_url)
    # THEN it is at head, its data is still there, and the schema is the models'
    assert current(empty_url) == HEAD
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        audit = conn.execute(text("SELECT count(*) FROM audit_log WHERE actor = 'test'")).scalar_one()
    engine.dispose()
    assert audit == (0 if start is None else 1)
    assert schema_diff(empty_url) == []


def test_downgrade_step_by_step_to_empty_and_up_again(empty_url: str) -> None:
    upgrade(empty_url)
    seed(empty_url, HEAD)
    cfg = alembic_config(empty_url)
    for expected in reversed(REVISIONS[:-1]):
        command.downgrade(cfg, "-1")
        assert current(empty_url) == expected
        if expected == "0001":
            # Going below the contracts revision drops only its tables: delivery data survives.
            assert not CONTRACT_TABLES & tables(empty_url)
            assert {"audit_log", "deliveries", "delivery_attempts"} <= tables(empty_url)
    assert tables(empty_url) == set()
    upgrade(empty_url)
    assert current(empty_url) == HEAD
    assert schema_diff(empty_url) == []
