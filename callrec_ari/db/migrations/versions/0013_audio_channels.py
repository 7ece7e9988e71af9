"""a contract chooses mono or stereo files, and a line may choose otherwise (issue 15)

Revision ID: 0013_audio_channels
Revises: 0012_call_record_notices
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_audio_channels"
down_revision = "0012_call_record_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audio_channels", sa.String(8), nullable=False,
                                      server_default=sa.text("'mono'")))
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audio_channels", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.drop_column("audio_channels")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_column("audio_channels")
