"""delivery queue, attempts, audit log

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("audit_log",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(length=128), nullable=False),
    sa.Column("action", sa.String(length=64), nullable=False),
    sa.Column("subject", sa.String(length=128), nullable=False),
    sa.Column("reason", sa.String(length=128), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log"))
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_subject"), ["subject"], unique=False)

    op.create_table("deliveries",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("call_id", sa.String(length=128), nullable=False),
    sa.Column("idempotency_key", sa.String(length=128), nullable=False),
    sa.Column("node", sa.String(length=128), nullable=False),
    sa.Column("connection", sa.String(length=64), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("zip_path", sa.Text(), nullable=False),
    sa.Column("zip_size", sa.BigInteger(), nullable=False),
    sa.Column("zip_sha256", sa.String(length=64), nullable=False),
    sa.Column("wav_paths", sa.JSON(), nullable=False),
    sa.Column("call_ended_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempt_count", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("lease_owner", sa.String(length=128), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("receipt", sa.JSON(), nullable=True),
    sa.Column("files_removed_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    sa.UniqueConstraint("call_id", name=op.f("uq_deliveries_call_id")),
    sa.UniqueConstraint("idempotency_key", name=op.f("uq_deliveries_idempotency_key"))
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_due", ["node", "state", "next_attempt_at"], unique=False)

    op.create_table("delivery_attempts",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("delivery_id", sa.Integer(), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("worker", sa.String(length=128), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("outcome", sa.String(length=16), nullable=True),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("error_id", sa.String(length=64), nullable=True),
    sa.Column("detail", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"],
                            name=op.f("fk_delivery_attempts_delivery_id_deliveries"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts"))
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_attempts_delivery_id"), ["delivery_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_attempts_delivery_id"))

    op.drop_table("delivery_attempts")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_due")

    op.drop_table("deliveries")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_subject"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
