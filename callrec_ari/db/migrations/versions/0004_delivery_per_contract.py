"""deliveries per contract: each copy of a call names its contract and connection (issue 13)

A call between two subscriber lines of different contracts is delivered once to each: the call id is
no longer unique in the queue, the idempotency key (one per copy) is.

Revision ID: 0004_delivery_per_contract
Revises: 0003_portal
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_delivery_per_contract"
down_revision = "0003_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_deliveries_call_id", type_="unique")
        batch_op.add_column(sa.Column("contract", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("connection_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_deliveries_call_id", ["call_id"], unique=False)
        batch_op.create_index("ix_deliveries_connection_id", ["connection_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_connection_id")
        batch_op.drop_index("ix_deliveries_call_id")
        batch_op.drop_column("connection_id")
        batch_op.drop_column("contract")
        batch_op.create_unique_constraint("uq_deliveries_call_id", ["call_id"])
