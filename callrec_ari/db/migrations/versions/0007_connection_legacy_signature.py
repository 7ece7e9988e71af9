"""connections choose whether the legacy X-Callrec-Signature is sent beside Standard Webhooks (issue 16)

Revision ID: 0007_connection_legacy_signature
Revises: 0006_login_attempt_address
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_connection_legacy_signature"
down_revision = "0006_login_attempt_address"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing connections keep receiving the header they verify today.
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legacy_signature", sa.Boolean(), nullable=False,
                                      server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("legacy_signature")
