"""a contract may have an end date: its lines stop recording then, and it is closed (issue 16)

Revision ID: 0010_contract_ends_at
Revises: 0009_connection_age_recipient
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_contract_ends_at"
down_revision = "0009_connection_age_recipient"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_column("ends_at")
