"""contracts, lines, connections, call records

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ENROLLED = sa.text("removed_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("reseller", sa.Boolean(), nullable=False),
        sa.Column("omit_notice", sa.Boolean(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("suspended_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
    )
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"],
                                name=op.f("fk_connections_contract_id_contracts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
    )
    op.create_index(op.f("ix_connections_contract_id"), "connections", ["contract_id"], unique=False)
    op.create_table(
        "lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("endpoint", sa.String(length=80), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("recording_started", sa.Boolean(), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("notice", sa.String(length=200), nullable=True),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("suspended_reason", sa.Text(), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"],
                                name=op.f("fk_lines_contract_id_contracts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lines")),
    )
    op.create_index(op.f("ix_lines_contract_id"), "lines", ["contract_id"], unique=False)
    op.create_index(op.f("ix_lines_number"), "lines", ["number"], unique=False)
    op.create_index(op.f("ix_lines_endpoint"), "lines", ["endpoint"], unique=False)
    op.create_index("ix_lines_contract_period", "lines", ["contract_id", "enrolled_at", "removed_at"],
                    unique=False)
    op.create_index("uq_lines_enrolled_number", "lines", ["number"], unique=True,
                    sqlite_where=_ENROLLED, postgresql_where=_ENROLLED)
    op.create_index("uq_lines_enrolled_endpoint", "lines", ["endpoint"], unique=True,
                    sqlite_where=_ENROLLED, postgresql_where=_ENROLLED)
    op.create_table(
        "call_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=True),
        sa.Column("line_endpoint", sa.String(length=80), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("callee", sa.String(length=64), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notice_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("billing_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("billable_seconds", sa.Integer(), nullable=False),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("delivery_type", sa.String(length=16), nullable=True),
        sa.Column("delivery_outcome", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name=op.f("fk_call_records_line_id_lines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_records")),
        sa.UniqueConstraint("call_id", name=op.f("uq_call_records_call_id")),
    )
    op.create_index(op.f("ix_call_records_line_id"), "call_records", ["line_id"], unique=False)
    op.create_index(op.f("ix_call_records_ended_at"), "call_records", ["ended_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_call_records_ended_at"), table_name="call_records")
    op.drop_index(op.f("ix_call_records_line_id"), table_name="call_records")
    op.drop_table("call_records")
    for name in ("uq_lines_enrolled_endpoint", "uq_lines_enrolled_number", "ix_lines_contract_period"):
        op.drop_index(name, table_name="lines")
    for name in ("ix_lines_endpoint", "ix_lines_number", "ix_lines_contract_id"):
        op.drop_index(op.f(name), table_name="lines")
    op.drop_table("lines")
    op.drop_index(op.f("ix_connections_contract_id"), table_name="connections")
    op.drop_table("connections")
    op.drop_table("contracts")
