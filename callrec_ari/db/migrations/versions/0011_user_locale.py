"""each portal user's language, Japanese or English (issue 19)

Revision ID: 0011_user_locale
Revises: 0010_contract_ends_at
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_user_locale"
down_revision = "0010_contract_ends_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_users", schema=None) as batch_op:
        batch_op.drop_column("locale")
