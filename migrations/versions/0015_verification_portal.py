"""the external verifier's portal: grants, verified values, returns and year locks

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "verification_grant",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("clauses", sa.JSON(), nullable=False),
        sa.Column("valid_from", Moment, nullable=False),
        sa.Column("valid_until", Moment, nullable=False),
        sa.Column("body", String(length=200), nullable=False),
        sa.Column("granted_by", sa.Integer(), nullable=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("coi_declared_at", Moment, nullable=True),
        sa.Column("coi_statement", String(length=2000), nullable=True),
        sa.Column("closed_at", Moment, nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["granted_by"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_verification_grant_org_id", "verification_grant", ["org_id"])
    op.create_index("ix_verification_grant_user_id", "verification_grant", ["user_id"])
    for table, who, when in (
        ("verified_value", "recorded_by", "recorded_at"),
        ("verification_return", "returned_by", "returned_at"),
    ):
        extra = (
            [sa.Column("reported_tco2e", String(length=40), nullable=False),
             sa.Column("verified_tco2e", String(length=40), nullable=False)]
            if table == "verified_value"
            else []
        )  # fmt: skip
        op.create_table(
            table,
            sa.Column("org_id", sa.Integer(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("grant_id", sa.Integer(), nullable=False),
            sa.Column("period", String(length=7), nullable=False),
            sa.Column("record_id", sa.Integer(), nullable=True),
            *extra,
            sa.Column("comment", String(length=2000), nullable=False),
            sa.Column(who, sa.Integer(), nullable=False),
            sa.Column(when, Moment, nullable=False),
            sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
            sa.ForeignKeyConstraint(["grant_id"], ["verification_grant.id"]),
            sa.ForeignKeyConstraint(["record_id"], ["record.id"]),
            sa.ForeignKeyConstraint([who], ["user_account.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(f"ix_{table}_org_id", table, ["org_id"])
        op.create_index(f"ix_{table}_grant_id", table, ["grant_id"])
    op.create_table(
        "year_lock",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("locked_by", sa.Integer(), nullable=False),
        sa.Column("locked_at", Moment, nullable=False),
        sa.Column("unlock_reason", String(length=2000), nullable=True),
        sa.Column("unlock_requested_by", sa.Integer(), nullable=True),
        sa.Column("unlock_requested_at", Moment, nullable=True),
        sa.Column("unlocked_by", sa.Integer(), nullable=True),
        sa.Column("unlocked_at", Moment, nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["grant_id"], ["verification_grant.id"]),
        sa.ForeignKeyConstraint(["locked_by"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["unlock_requested_by"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["unlocked_by"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_year_lock_org_id", "year_lock", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_year_lock_org_id", table_name="year_lock")
    op.drop_table("year_lock")
    for table in ("verification_return", "verified_value"):
        op.drop_index(f"ix_{table}_grant_id", table_name=table)
        op.drop_index(f"ix_{table}_org_id", table_name=table)
        op.drop_table(table)
    op.drop_index("ix_verification_grant_user_id", table_name="verification_grant")
    op.drop_index("ix_verification_grant_org_id", table_name="verification_grant")
    op.drop_table("verification_grant")
