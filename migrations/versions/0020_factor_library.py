"""the organization's factor library: grid factors published after the release, versioned

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "published_grid_factor",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=20), nullable=False),
        sa.Column("data_year", sa.Integer(), nullable=False),
        sa.Column("caliber", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        sa.Column("document", sa.String(length=300), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("entered_by", sa.Integer(), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence_file.id"]),
        sa.ForeignKeyConstraint(["entered_by"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["superseded_by"], ["published_grid_factor.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "caliber", "region", "data_year", "version"),
    )
    op.create_index("ix_published_grid_factor_org_id", "published_grid_factor", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_published_grid_factor_org_id", table_name="published_grid_factor")
    op.drop_table("published_grid_factor")
