"""connection secrets may be sealed (Fernet, db/sealed.py): the column holds the longer ciphertext (issue 16)

Revision ID: 0008_connection_secret_sealed
Revises: 0007_connection_legacy_signature
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_connection_secret_sealed"
down_revision = "0007_connection_legacy_signature"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Values already there stay readable as they are; `callrec db seal-secrets` seals them.
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=200), type_=sa.Text(),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.Text(), type_=sa.String(length=200),
                              existing_nullable=False)
