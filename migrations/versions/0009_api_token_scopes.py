"""api token scopes and expiry

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tokens issued before scopes existed could do everything the API offered; they keep that on the API
# (an integration keeps working) and lose the pages, which tokens no longer open at all.
EVERY_API_SCOPE = '["read", "records:write", "meter:write"]'


def upgrade() -> None:
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(f"UPDATE api_token SET scopes = '{EVERY_API_SCOPE}'")
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scopes')
