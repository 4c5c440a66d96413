"""measured parameters: where the values come from (laboratory, accreditation, report, sample date)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 15:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("laboratory", sa.String(200)),
    ("accreditation", sa.String(80)),
    ("report_no", sa.String(80)),
    ("sampled_on", sa.Date()),
)


def upgrade() -> None:
    with op.batch_alter_table("measured_parameter") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("measured_parameter") as batch:
        for name, _type in reversed(COLUMNS):
            batch.drop_column(name)
