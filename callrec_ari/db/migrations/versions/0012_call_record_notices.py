"""each call record keeps the notice sounds its parties heard, for the call's timeline (issue 19)

Revision ID: 0012_call_record_notices
Revises: 0011_user_locale
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_call_record_notices"
down_revision = "0011_user_locale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notices", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_column("notices")
