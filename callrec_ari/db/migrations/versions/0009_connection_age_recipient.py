"""a file connection may hold the customer's age public key: its copies are encrypted as packaged (issue 16)

Revision ID: 0009_connection_age_recipient
Revises: 0008_connection_secret_sealed
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_connection_age_recipient"
down_revision = "0008_connection_secret_sealed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("age_recipient", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("age_recipient")
