"""login attempts record the client address: the login limit also counts per address (issue 16)

Revision ID: 0006_login_attempt_address
Revises: 0005_line_withholds_caller_id
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_login_attempt_address"
down_revision = "0005_line_withholds_caller_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_login_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=64), nullable=False, server_default=""))
        batch_op.create_index("ix_portal_login_attempts_address_at", ["address", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portal_login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_login_attempts_address_at")
        batch_op.drop_column("address")
