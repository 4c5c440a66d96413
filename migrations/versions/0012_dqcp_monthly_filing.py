"""the data-quality control plan's monthly filing: one row per (plan row, month)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dqcp_monthly_filing",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("row_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("proof_evidence_id", sa.Integer(), nullable=True),
        sa.Column("filed_by", sa.Integer(), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("substitution_rule", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("substituted_value", sa.String(length=40), nullable=True),
        sa.Column("substitution_reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("substituted_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"]),
        sa.ForeignKeyConstraint(["proof_evidence_id"], ["evidence_file.id"]),
        sa.ForeignKeyConstraint(["filed_by"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["substituted_by"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "row_code", "period", name="uq_dqcp_filing_row_period"),
    )
    op.create_index("ix_dqcp_monthly_filing_org_id", "dqcp_monthly_filing", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_dqcp_monthly_filing_org_id", table_name="dqcp_monthly_filing")
    op.drop_table("dqcp_monthly_filing")
