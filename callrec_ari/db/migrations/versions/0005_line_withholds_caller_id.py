"""a line may withhold its caller ID by default (186 shows it per call; issue 14)

Revision ID: 0005_line_withholds_caller_id
Revises: 0004_delivery_per_contract
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_line_withholds_caller_id"
down_revision = "0004_delivery_per_contract"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withhold_caller_id", sa.Boolean(), nullable=False,
                                      server_default=sa.text("false")))


def downgrade() -> None:
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.drop_column("withhold_caller_id")
