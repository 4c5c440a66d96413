"""reporting-year settings (GB/T 32150 edition, GWP set) and the edition recorded in each snapshot

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reporting_year_setting",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("gbt32150_edition", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("gwp_set", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_reporting_year_setting_org_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["user_account.id"], name=op.f("fk_reporting_year_setting_updated_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reporting_year_setting")),
        sa.UniqueConstraint("org_id", "year", name=op.f("uq_reporting_year_setting_org_id_year")),
    )
    op.create_index(
        op.f("ix_reporting_year_setting_org_id"), "reporting_year_setting", ["org_id"], unique=False
    )
    # A plain ALTER TABLE, never batch mode: rebuilding the table on SQLite would drop the triggers that keep
    # snapshots frozen. Adding a nullable column updates no row (earlier snapshots: GB/T 32150-2015).
    op.add_column(
        "inventory_snapshot",
        sa.Column("gbt32150_edition", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("inventory_snapshot", "gbt32150_edition")
    op.drop_index(op.f("ix_reporting_year_setting_org_id"), table_name="reporting_year_setting")
    op.drop_table("reporting_year_setting")
