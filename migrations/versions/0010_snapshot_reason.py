"""why a snapshot was frozen with an earlier year's grid factor

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A plain ALTER TABLE on both databases, never batch mode: rebuilding the table on SQLite would drop the
# triggers that keep snapshots frozen. Adding a nullable column updates no row.
def upgrade() -> None:
    op.add_column(
        'inventory_snapshot',
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    )


def downgrade() -> None:
    op.drop_column('inventory_snapshot', 'reason')
