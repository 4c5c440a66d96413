"""signature hash scheme: which content a signature's hash covers (ADR 0012)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every signature made before this revision hashed the record only: scheme 1.
    with op.batch_alter_table('signature', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hash_scheme', sa.Integer(), server_default='1', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('signature', schema=None) as batch_op:
        batch_op.drop_column('hash_scheme')
